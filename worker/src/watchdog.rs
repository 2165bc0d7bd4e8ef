//! A watchdog over the queue consumer. apalis's consumer can stop without ending: in one
//! benchmark run it stopped heartbeating and fetching while its process stayed up and idle,
//! and jobs waited until a restart. A consumer that shows no sign of life (no heartbeat, no
//! finished job) for longer than any job can take is dropped and started again; its jobs
//! are safe, because the outbox rows are the truth and are handed out again.
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// How often the watchdog looks.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// When a consumer last showed it was alive. Cheap to clone and to beat from any thread.
#[derive(Clone)]
pub struct Liveness {
    start: Instant,
    /// Milliseconds from `start` to the last sign of life.
    last: Arc<AtomicU64>,
}

impl Liveness {
    pub fn new() -> Self {
        Liveness {
            start: Instant::now(),
            last: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Records a sign of life.
    pub fn beat(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.fetch_max(ms, Ordering::Relaxed);
    }

    /// How long since the last sign of life.
    pub fn quiet_for(&self) -> Duration {
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

/// Runs `consumer` until it ends, or until `liveness` has been quiet for `stall_after`; then
/// the consumer is dropped (its in-flight jobs with it) and an error says so.
pub async fn supervise<F>(
    consumer: F,
    liveness: &Liveness,
    stall_after: Duration,
) -> Result<(), String>
where
    F: Future<Output = Result<(), String>>,
{
    let watch = async {
        loop {
            tokio::time::sleep(CHECK_EVERY).await;
            let quiet = liveness.quiet_for();
            if quiet >= stall_after {
                return quiet;
            }
        }
    };
    tokio::select! {
        ended = consumer => ended,
        quiet = watch => Err(format!(
            "no heartbeat and no finished job for {} s",
            quiet.as_secs()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_consumer_that_goes_quiet_is_stopped() {
        let liveness = Liveness::new();
        let beats = liveness.clone();
        let started = Instant::now();
        // Alive for 10 s, then silent for ever without ending.
        let consumer = async move {
            for _ in 0..10 {
                beats.beat();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            std::future::pending::<()>().await;
            Ok(())
        };
        let ended = tokio::time::timeout(
            Duration::from_secs(3600),
            supervise(consumer, &liveness, Duration::from_secs(30)),
        )
        .await
        .expect("the watchdog must stop a silent consumer within the hour");
        let error = ended.expect_err("a silent consumer must be stopped");
        assert!(
            error.starts_with("no heartbeat and no finished job for 3"),
            "{error}"
        );
        let after = started.elapsed();
        assert!(
            after >= Duration::from_secs(39) && after <= Duration::from_secs(41),
            "stopped after {after:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_consumer_that_keeps_beating_is_left_alone() {
        let liveness = Liveness::new();
        let beats = liveness.clone();
        // Beats every 20 s for 10 minutes, under a 30 s limit, then ends by itself.
        let consumer = async move {
            for _ in 0..30 {
                beats.beat();
                tokio::time::sleep(Duration::from_secs(20)).await;
            }
            Err("ended by itself".to_string())
        };
        let ended = supervise(consumer, &liveness, Duration::from_secs(30)).await;
        assert_eq!(ended, Err("ended by itself".to_string()));
    }
}
