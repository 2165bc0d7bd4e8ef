//! The worker: apalis consumers of the job queue, the outbox dispatcher, the handlers
//! that talk to the acquirer, and the upkeep of the queue's tables.
//!
//! Retry policy: a handler never asks apalis to retry. The outbox row is the truth: a job
//! whose handler failed or whose process died stays DISPATCHED and is handed out again when
//! its lease runs out; an inconclusive acquirer call is rescheduled explicitly as a
//! resolve job. Every call reuses the operation id as the acquirer's idempotency key, so
//! running a job twice has one effect.
mod dispatcher;
mod handlers;
mod housekeeping;
mod watchdog;
mod webhooks;

use std::time::Duration;

use apalis::prelude::*;
use service::Gateway;
use service::queue::{JobQueue, Wakeups};
use tokio_util::sync::CancellationToken;

pub use dispatcher::{fan_out, run_dispatcher};
pub use handlers::run_job;
pub use housekeeping::purge_job_history;

/// Runs the queue consumer, the dispatcher and the housekeeping until `shutdown` is
/// cancelled; in-flight jobs are finished or left to their lease. A consumer that stops on a queue error (Redis away),
/// or that the watchdog finds stalled, is started again after a pause, so the worker
/// outlives outages.
pub async fn run(gw: Gateway, shutdown: CancellationToken) -> Result<(), String> {
    let dispatcher = tokio::spawn(run_dispatcher(gw.clone(), shutdown.clone()));
    let housekeeping = tokio::spawn(housekeeping::run_housekeeping(gw.clone(), shutdown.clone()));
    let wakeups = gw.queue.wakeups();
    while !shutdown.is_cancelled() {
        if let Err(e) = consume(&gw, shutdown.clone(), wakeups.clone()).await {
            tracing::warn!(error = %e, "queue consumer stopped; starting it again");
        }
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
    let _ = dispatcher.await;
    let _ = housekeeping.await;
    Ok(())
}

/// How often a consumer on Redis that found the queue empty looks again, when no push was
/// heard (one small Lua call each time).
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// The longest a consumer may go without a heartbeat or a finished job before the watchdog
/// deems it stalled: twice the longest a job's call may take, and at least the 30 s after
/// which the queue itself deems a consumer dead. A consumer whose every slot holds a job
/// waiting on a slow acquirer or receiver still finishes one within a call's timeout.
fn stall_after(gw: &Gateway) -> Duration {
    let longest_call = gw
        .settings
        .acquirer_timeout
        .max(gw.settings.webhook_timeout);
    (longest_call * 2).max(Duration::from_secs(30))
}

/// Runs one queue consumer under the watchdog.
async fn consume(
    gw: &Gateway,
    shutdown: CancellationToken,
    wakeups: Option<Wakeups>,
) -> Result<(), String> {
    let liveness = watchdog::Liveness::new();
    watchdog::supervise(
        run_consumer(gw, shutdown, liveness.clone(), wakeups),
        &liveness,
        stall_after(gw),
    )
    .await
}

async fn run_consumer(
    gw: &Gateway,
    shutdown: CancellationToken,
    liveness: watchdog::Liveness,
    wakeups: Option<Wakeups>,
) -> Result<(), String> {
    let name = format!("paygate-worker-{}", uuid::Uuid::now_v7());
    let concurrency = gw.settings.worker_concurrency.max(1);
    let signal = async move {
        shutdown.cancelled().await;
        Ok::<(), std::io::Error>(())
    };
    // Signs of life: the backend's heartbeat (which apalis emits after each one it sends
    // to the queue), and every job that finishes.
    let on_event = move |_: &WorkerContext, event: &Event| {
        if matches!(
            event,
            Event::Start | Event::HeartBeat | Event::Success(_) | Event::Error(_)
        ) {
            liveness.beat();
        }
    };
    let result = match gw.queue.clone() {
        JobQueue::Redis { storage, .. } => {
            // A consumer that found the queue empty fetches again when a push is heard, or at
            // the latest after the poll interval: a job's wait for its worker was up to the
            // interval (10 ms, half of it on average) when only polled. The poll stays for
            // what is not announced (a lost announcement, a listener reconnecting).
            let mut strategy = Strategy::new();
            if let Some(wakeups) = wakeups {
                strategy = strategy.stream(wakeups);
            }
            let strategy = strategy.interval(POLL_INTERVAL);
            WorkerBuilder::new(name)
                .backend(storage.poll_with_strategy(strategy))
                .data(gw.clone())
                .concurrency(concurrency)
                .on_event(on_event)
                .build(handlers::handle)
                .run_until(signal)
                .await
        }
        JobQueue::Sqlite { storage } => {
            WorkerBuilder::new(name)
                .backend(storage.poll_with_interval(Duration::from_millis(20)))
                .data(gw.clone())
                .concurrency(concurrency)
                .on_event(on_event)
                .build(handlers::handle)
                .run_until(signal)
                .await
        }
    };
    result.map_err(|e| e.to_string())
}
