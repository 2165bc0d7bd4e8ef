//! The worker's reads of the operations it sends to the acquirer, batched on PostgreSQL.
//!
//! Every acquirer call begins by reading its operation (it must still be pending, and the
//! call needs the card's token). Jobs fetched from the queue together start together, so
//! under load many such reads wait at once, and each was a round trip of its own: the
//! statement, the server's wakeup and answer, the worker's wakeup. Now one task takes every
//! read waiting when it is free, runs them as one statement (each id still probes the
//! primary key, see `outcome::operation_requests`) and hands each its row. A read that
//! comes while a batch runs waits for the next: a lone read goes at once, a burst costs one
//! round trip. No timer holds a read back.
//!
//! Only reads batch: each call is still settled by its own guarded statement.
use std::collections::HashMap;
use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::outcome::{PendingCall, operation_requests};
use crate::autocommit::Connections;
use crate::error::{Result, ServiceError};

/// The most reads one statement carries: the worker's default concurrency.
const MAX_BATCH: usize = 64;

/// A read waiting for its batch.
struct Waiting {
    operation_id: Uuid,
    answer: oneshot::Sender<Result<Option<PendingCall>>>,
}

/// The handle of one process's batching task. The task ends when the last handle is dropped.
#[derive(Clone)]
pub struct OperationReads {
    tx: mpsc::UnboundedSender<Waiting>,
}

impl OperationReads {
    /// Starts the batching task on the current runtime.
    pub fn start(db: DatabaseConnection, held: Arc<Connections>) -> OperationReads {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(db, held, rx));
        OperationReads { tx }
    }

    /// A handle whose task has stopped, as after a panic: for tests of the fallback.
    #[doc(hidden)]
    pub fn stopped() -> OperationReads {
        let (tx, _) = mpsc::unbounded_channel();
        OperationReads { tx }
    }

    /// The acquirer call an operation stands for, as `operation_request` answers it; None
    /// if the task has stopped (it ends early only by a panic), so that the caller reads the
    /// operation alone rather than failing every job from then on.
    pub async fn read(&self, operation_id: Uuid) -> Option<Result<Option<PendingCall>>> {
        let (answer, answered) = oneshot::channel();
        self.tx
            .send(Waiting {
                operation_id,
                answer,
            })
            .ok()?;
        answered.await.ok()
    }
}

async fn run(
    db: DatabaseConnection,
    held: Arc<Connections>,
    mut rx: mpsc::UnboundedReceiver<Waiting>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let ids = batch.iter().map(|w| w.operation_id).collect();
        let read = match held.get(&db).await {
            Ok(conn) => operation_requests(&conn, ids).await,
            Err(e) => Err(e.into()),
        };
        match read {
            Ok(found) => {
                let found: HashMap<Uuid, Option<PendingCall>> = found.into_iter().collect();
                for w in batch.drain(..) {
                    // Cloned, not taken: copies of one job running at once may ask for one
                    // operation in one batch, and each gets the row.
                    let call = found.get(&w.operation_id).cloned();
                    let _ = w.answer.send(call.ok_or(ServiceError::NotFound));
                }
            }
            Err(e) => {
                // Each read fails as its own statement would have: the job is tried again.
                let message = e.to_string();
                for w in batch.drain(..) {
                    let _ = w.answer.send(Err(ServiceError::Internal(format!(
                        "reading operations: {message}"
                    ))));
                }
            }
        }
    }
}
