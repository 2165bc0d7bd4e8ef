//! The outbox dispatcher: fans new events out (webhook deliveries, subscribers), hands due
//! jobs (new, rescheduled, or whose lease ran out) to the queue, runs the schedules,
//! and sweeps expired idempotency keys and the queue's records of finished jobs. (The
//! outbox's tables are vacuumed beside it, by `housekeeping`.)
use std::time::{Duration, Instant};

use service::Gateway;
use service::jobs;
use tokio_util::sync::CancellationToken;

const BATCH: u64 = 500;
/// Full batches of events fanned out in one tick before the dispatcher's other work.
const FAN_OUT_ROUNDS: usize = 20;
const SWEEP_EVERY: Duration = Duration::from_secs(60);

pub async fn run_dispatcher(gw: Gateway, shutdown: CancellationToken) {
    let mut last_sweep = Instant::now();
    let mut last_schedule = Instant::now();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(gw.settings.dispatch_interval) => {}
        }
        fan_out(&gw).await;
        match jobs::due(&gw.db, gw.settings.job_lease, BATCH).await {
            Ok(rows) => gw.hand_out(&rows).await,
            Err(e) => tracing::warn!(error = %e, "dispatcher could not read the outbox"),
        }
        if last_schedule.elapsed() >= gw.settings.schedule_interval {
            last_schedule = Instant::now();
            match service::paylinks::expire_due(&gw).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(expired = n, "paylinks expired"),
                Err(e) => tracing::warn!(error = %e, "could not expire paylinks"),
            }
            match service::payments::run_schedules(&gw).await {
                Ok(swept) if swept.total() == 0 => {}
                Ok(swept) => tracing::info!(?swept, "scheduled payment moves"),
                Err(e) => tracing::warn!(error = %e, "could not run the payment schedules"),
            }
        }
        if last_sweep.elapsed() >= SWEEP_EVERY {
            last_sweep = Instant::now();
            if let Err(e) = service::idempotency::sweep(&gw.db).await {
                tracing::warn!(error = %e, "could not sweep expired idempotency keys");
            }
            match gw.queue.sweep_done(gw.settings.queue_done_retention).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(swept = n, "finished jobs swept from the queue"),
                Err(e) => {
                    tracing::warn!(error = %e, "could not sweep finished jobs from the queue")
                }
            }
        }
    }
}

/// One tick's fan-out: the events not yet fanned out get their deliveries, whose jobs are
/// pushed at once, a batch's in one call to the queue. While batches come back full it goes on (up to `FAN_OUT_ROUNDS`), so a
/// burst of events (3,000 payments a second make 3,000) is not held to one batch per tick.
/// Returns how many events it read.
pub async fn fan_out(gw: &Gateway) -> usize {
    let mut read = 0;
    for _ in 0..FAN_OUT_ROUNDS {
        match service::webhooks::fan_out_pending(gw, BATCH).await {
            Ok(round) => {
                read += round.events;
                gw.push_all(&round.deliveries).await;
                if (round.events as u64) < BATCH {
                    break;
                }
            }
            // Left as they were: the next tick tries again.
            Err(e) => {
                tracing::warn!(error = %e, "could not fan out events");
                break;
            }
        }
    }
    read
}
