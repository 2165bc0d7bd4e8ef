//! Job handlers: send an operation to the acquirer, or resolve one whose answer never came.
use std::time::Duration;

use apalis::prelude::{BoxDynError, Data};
use entity::job;
use service::acquirer::{Inconclusive, Lookup};
use service::jobs::{self, JobPayload, JobRef};
use service::{Gateway, payments};
use uuid::Uuid;

/// Immediate retries of a call the acquirer answered with a 5xx (it had no effect).
const QUICK_RETRIES: u32 = 2;
/// The longest wait between two questions about a pending operation.
const MAX_RESOLVE_DELAY: Duration = Duration::from_secs(300);

/// The queue consumer's handler. apalis polls all the jobs a consumer holds inside its own
/// task, so they would share one thread; each job runs as a task of its own instead, on
/// every thread of the runtime (under load, one thread ran the whole process's jobs while
/// the others idled). The consumer still waits for it, so its slot stays taken until the
/// job is done, and a panicking job is logged and left to its lease like a failed one.
pub async fn handle(job: JobRef, gw: Data<Gateway>) -> Result<(), BoxDynError> {
    let gw = Gateway::clone(&gw);
    let failure = match tokio::spawn(async move { run_job(&gw, job).await }).await {
        Ok(Ok(())) => return Ok(()),
        Ok(Err(e)) => e.to_string(),
        Err(panicked) => panicked.to_string(),
    };
    // Left DISPATCHED: the dispatcher hands it out again when its lease runs out.
    tracing::error!(job_id = %job.job_id, error = %failure, "job failed; it will be retried after its lease");
    Ok(())
}

/// Runs one outbox job, if this copy is the current hand-out of it. Anything else (done,
/// rescheduled, handed out again since) is a stale copy and skipped. An acquirer call
/// whose reference names its operation is gated by the operation instead: a copy runs
/// while the operation is pending, which the acquirer's idempotency by operation id and
/// the conditional settling of the answer make safe.
pub async fn run_job(gw: &Gateway, job: JobRef) -> service::Result<()> {
    if let Some(operation_id) = job.acquirer_call {
        // The hot path: straight to the operation; the job row is read only if the
        // answer does not come.
        if let Some(settled) = call(gw, Job::Ref(job), operation_id).await? {
            gw.bus
                .operation_settled(operation_id, settled.as_ref())
                .await;
        }
        return Ok(());
    }
    let Some(row) = jobs::get(&gw.autocommit().await?, job.job_id).await? else {
        return Ok(());
    };
    if row.status != jobs::DISPATCHED || row.dispatches != job.dispatch {
        return Ok(());
    }
    match jobs::payload(&row)? {
        JobPayload::AcquirerCall { operation_id } => {
            if let Some(settled) = call(gw, Job::Row(&row), operation_id).await? {
                gw.bus
                    .operation_settled(operation_id, settled.as_ref())
                    .await;
            }
            Ok(())
        }
        JobPayload::ResolveOperation { operation_id } => {
            resolve(gw, &row, operation_id).await?;
            gw.bus.operation_settled(operation_id, None).await;
            Ok(())
        }
        JobPayload::FanOutEvent { event_id } => crate::webhooks::fan_out(gw, &row, event_id).await,
        JobPayload::DeliverWebhook { delivery_id } => {
            crate::webhooks::deliver(gw, &row, delivery_id).await
        }
    }
}

fn resolve_delay(gw: &Gateway, row: &job::Model) -> Duration {
    let factor = 2u32.saturating_pow(u32::try_from(row.attempts).unwrap_or(0).min(10));
    (gw.settings.resolve_delay * factor).min(MAX_RESOLVE_DELAY)
}

/// The job an acquirer call runs for: its row, or only the reference from the queue.
#[derive(Clone, Copy)]
enum Job<'a> {
    Row(&'a job::Model),
    Ref(JobRef),
}

impl Job<'_> {
    fn id(&self) -> Uuid {
        match self {
            Job::Row(row) => row.id,
            Job::Ref(job) => job.job_id,
        }
    }
}

/// What a call came to: None for a stale copy of the job, which leaves the operation to
/// the current one; else Some, with the payment as committed when the answer was applied.
type Called = Option<Option<entity::payment::Model>>;

/// Sends the operation to the acquirer and records what came of it.
async fn call(gw: &Gateway, job: Job<'_>, operation_id: Uuid) -> service::Result<Called> {
    let Some(pending) = payments::operation_request(gw, operation_id).await? else {
        jobs::finish(&gw.autocommit().await?, job.id()).await?;
        return Ok(Some(None));
    };
    call_pending(gw, job, &pending).await
}

/// Sends an operation read as pending to the acquirer and records what came of it.
async fn call_pending(
    gw: &Gateway,
    job: Job<'_>,
    pending: &payments::PendingCall,
) -> service::Result<Called> {
    let operation_id = pending.operation_id;
    let key = operation_id.to_string();
    let mut tries = 0;
    loop {
        match gw.acquirer.execute(&key, &pending.request).await {
            Ok(answer) => {
                let p = payments::settle(gw, pending, job.id(), &answer).await?;
                return Ok(Some(Some(p)));
            }
            Err(Inconclusive::Unavailable(e))
                if tries < QUICK_RETRIES && !e.contains("timed out") =>
            {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(50 * 2u64.pow(tries))).await;
            }
            Err(e) => {
                tracing::info!(%operation_id, error = %e, "acquirer answer not known yet; will ask again");
                let row = match job {
                    Job::Row(row) => row.clone(),
                    Job::Ref(job) => match jobs::get(&gw.autocommit().await?, job.job_id).await? {
                        // Only the current hand-out reschedules the job.
                        Some(row)
                            if row.status == jobs::DISPATCHED && row.dispatches == job.dispatch =>
                        {
                            row
                        }
                        _ => return Ok(None),
                    },
                };
                payments::mark_inconclusive(
                    gw,
                    operation_id,
                    &row,
                    resolve_delay(gw, &row),
                    &e.to_string(),
                )
                .await?;
                return Ok(Some(None));
            }
        }
    }
}

async fn resolve(gw: &Gateway, row: &job::Model, operation_id: Uuid) -> service::Result<()> {
    let Some(pending) = payments::operation_request(gw, operation_id).await? else {
        return jobs::finish(&gw.autocommit().await?, row.id).await;
    };
    match gw.acquirer.lookup(&operation_id.to_string()).await {
        Ok(Lookup::Done(answer)) => payments::settle(gw, &pending, row.id, &answer)
            .await
            .map(|_| ()),
        // The acquirer never saw the call (or it had no effect): send it again, same key.
        Ok(Lookup::Unknown) => call_pending(gw, Job::Row(row), &pending).await.map(|_| ()),
        Ok(Lookup::Processing) => {
            payments::mark_inconclusive(
                gw,
                operation_id,
                row,
                resolve_delay(gw, row),
                "still processing",
            )
            .await
        }
        Err(e) => {
            payments::mark_inconclusive(
                gw,
                operation_id,
                row,
                resolve_delay(gw, row),
                &e.to_string(),
            )
            .await
        }
    }
}
