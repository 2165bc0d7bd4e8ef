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

use std::time::Duration;

use apalis::prelude::*;
use service::Gateway;
use service::queue::JobQueue;
use tokio_util::sync::CancellationToken;

pub use dispatcher::run_dispatcher;
pub use handlers::run_job;

/// Runs the queue consumer and the dispatcher until `shutdown` is cancelled; in-flight jobs
/// are finished or left to their lease.
pub async fn run(gw: Gateway, shutdown: CancellationToken) -> Result<(), String> {
    let dispatcher = tokio::spawn(run_dispatcher(gw.clone(), shutdown.clone()));
    let name = format!("paygate-worker-{}", uuid::Uuid::now_v7());
    let concurrency = gw.settings.worker_concurrency.max(1);
    let signal = {
        let shutdown = shutdown.clone();
        async move {
            shutdown.cancelled().await;
            Ok::<(), std::io::Error>(())
        }
    };
    let result = match gw.queue.clone() {
        JobQueue::Redis { storage, .. } => {
            WorkerBuilder::new(name)
                .backend(storage)
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
    shutdown.cancel();
    let _ = dispatcher.await;
    result.map_err(|e| e.to_string())
}
