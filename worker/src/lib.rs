//! The worker: apalis consumers of the job queue, the outbox dispatcher, and the handlers
//! that talk to the acquirer.
//!
//! Retry policy: a handler never asks apalis to retry. The outbox row is the truth: a job
//! whose handler failed or whose process died stays DISPATCHED and is handed out again when
//! its lease runs out; an inconclusive acquirer call is rescheduled explicitly as a
//! resolve job. Every call reuses the operation id as the acquirer's idempotency key, so
//! running a job twice has one effect.
mod dispatcher;
mod handlers;
mod webhooks;

use std::time::Duration;

use apalis::prelude::*;
use service::Gateway;
use service::queue::JobQueue;
use tokio_util::sync::CancellationToken;

pub use dispatcher::run_dispatcher;
pub use handlers::run_job;

/// Runs the queue consumer and the dispatcher until `shutdown` is cancelled; in-flight jobs
/// are finished or left to their lease. A consumer that stops on a queue error (Redis away)
/// is started again after a pause, so the worker outlives outages.
pub async fn run(gw: Gateway, shutdown: CancellationToken) -> Result<(), String> {
    let dispatcher = tokio::spawn(run_dispatcher(gw.clone(), shutdown.clone()));
    while !shutdown.is_cancelled() {
        if let Err(e) = consume(&gw, shutdown.clone()).await {
            tracing::warn!(error = %e, "queue consumer stopped; starting it again");
        }
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
    let _ = dispatcher.await;
    Ok(())
}

async fn consume(gw: &Gateway, shutdown: CancellationToken) -> Result<(), String> {
    let name = format!("paygate-worker-{}", uuid::Uuid::now_v7());
    let concurrency = gw.settings.worker_concurrency.max(1);
    let signal = async move {
        shutdown.cancelled().await;
        Ok::<(), std::io::Error>(())
    };
    let result = match gw.queue.clone() {
        JobQueue::Redis { storage, .. } => {
            // Polled often (one small Lua call on an idle queue): a job's wait for its worker
            // is at most this, and a job handed out again (a retry, a lease that ran out)
            // does not wait for the backend's next heartbeat.
            WorkerBuilder::new(name)
                .backend(storage.poll_with_interval(Duration::from_millis(10)))
                .data(gw.clone())
                .concurrency(concurrency)
                .build(handlers::handle)
                .run_until(signal)
                .await
        }
        JobQueue::Sqlite { storage } => {
            WorkerBuilder::new(name)
                .backend(storage.poll_with_interval(Duration::from_millis(20)))
                .data(gw.clone())
                .concurrency(concurrency)
                .build(handlers::handle)
                .run_until(signal)
                .await
        }
    };
    result.map_err(|e| e.to_string())
}
