//! The job outbox: the transaction that creates an operation also writes the job that must
//! follow. The row is the truth; the queue (apalis on Redis or SQLite) only carries its id.
//! A row handed to the queue but not finished within the lease is handed out again, so a
//! crash between commit and enqueue, a killed worker or a flushed Redis loses nothing.
use chrono::{DateTime, Utc};
use entity::job;
use sea_orm::sea_query::{Expr, InsertStatement, UpdateStatement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Set,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Result, ServiceError};
use crate::writes::Writes;

pub const PENDING: &str = "PENDING";
pub const DISPATCHED: &str = "DISPATCHED";
pub const DONE: &str = "DONE";
pub const FAILED: &str = "FAILED";

/// What a job does. Stored as JSON in the row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobPayload {
    /// Send an operation to the acquirer (with the operation id as idempotency key).
    AcquirerCall { operation_id: Uuid },
    /// Ask the acquirer what became of an operation whose answer never came.
    ResolveOperation { operation_id: Uuid },
    /// Make the webhook deliveries of an event and publish it to live subscribers. Only
    /// events written before the event log became the fan-out's outbox have this job.
    FanOutEvent { event_id: Uuid },
    /// Send one webhook delivery (one attempt per run).
    DeliverWebhook { delivery_id: Uuid },
}

impl JobPayload {
    pub fn kind(&self) -> &'static str {
        match self {
            JobPayload::AcquirerCall { .. } => "acquirer_call",
            JobPayload::ResolveOperation { .. } => "resolve_operation",
            JobPayload::FanOutEvent { .. } => "fan_out_event",
            JobPayload::DeliverWebhook { .. } => "deliver_webhook",
        }
    }
}

/// What travels through the queue: the row's id and which hand-out this copy is. When a
/// job is handed out again (its lease ran out, or a push seemed to fail), older copies
/// still in the queue no longer match the row and are skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRef {
    pub job_id: Uuid,
    pub dispatch: i32,
    /// The operation of an acquirer call, so the worker can go straight to it without
    /// reading the job row first (the operation's status gates the call, and the acquirer
    /// dedupes by the operation id). Absent in references queued by older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acquirer_call: Option<Uuid>,
}

impl JobRef {
    /// The reference to push for a job row at hand-out number `dispatch`.
    pub fn of(row: &job::Model, dispatch: i32) -> JobRef {
        let acquirer_call = match payload(row) {
            Ok(JobPayload::AcquirerCall { operation_id }) => Some(operation_id),
            _ => None,
        };
        JobRef {
            job_id: row.id,
            dispatch,
            acquirer_call,
        }
    }
}

pub async fn insert(
    conn: &impl ConnectionTrait,
    payload: &JobPayload,
    run_at: DateTime<Utc>,
) -> Result<job::Model> {
    insert_row(conn, payload, run_at, false).await
}

/// Inserts a job already marked handed out (first hand-out), for a caller that pushes it to
/// the queue right after its commit: one write instead of an insert and a later mark. If
/// the push never happens (a crash just after the commit), the lease hands it out again.
pub async fn insert_dispatched(
    conn: &impl ConnectionTrait,
    payload: &JobPayload,
) -> Result<job::Model> {
    insert_row(conn, payload, crate::db::now(), true).await
}

async fn insert_row(
    conn: &impl ConnectionTrait,
    payload: &JobPayload,
    run_at: DateTime<Utc>,
    dispatched: bool,
) -> Result<job::Model> {
    let row = new_row(payload, run_at, dispatched)?;
    let mut writes = Writes::new();
    writes.add(insert_statement(&row));
    writes.run(conn).await?;
    Ok(row)
}

/// A job row as [`insert_dispatched`] writes it, for a batch of [`Writes`]: add
/// [`insert_statement`] of it.
pub fn new_dispatched(payload: &JobPayload) -> Result<job::Model> {
    new_row(payload, crate::db::now(), true)
}

fn new_row(payload: &JobPayload, run_at: DateTime<Utc>, dispatched: bool) -> Result<job::Model> {
    let now = crate::db::now();
    Ok(job::Model {
        id: Uuid::now_v7(),
        kind: payload.kind().into(),
        payload: serde_json::to_value(payload)
            .map_err(|e| ServiceError::Internal(e.to_string()))?,
        status: if dispatched { DISPATCHED } else { PENDING }.into(),
        attempts: 0,
        run_at,
        dispatched_at: dispatched.then_some(now),
        dispatches: i32::from(dispatched),
        last_error: None,
        created_at: now,
        updated_at: now,
    })
}

pub fn insert_statement(row: &job::Model) -> InsertStatement {
    job::Entity::insert(job::ActiveModel::from(row.clone())).into_query()
}

/// One insert of many job rows (at least one), for a batch of [`Writes`].
pub fn insert_many_statement<'a>(
    rows: impl IntoIterator<Item = &'a job::Model>,
) -> InsertStatement {
    job::Entity::insert_many(
        rows.into_iter()
            .map(|row| job::ActiveModel::from(row.clone())),
    )
    .into_query()
}

pub fn payload(row: &job::Model) -> Result<JobPayload> {
    serde_json::from_value(row.payload.clone())
        .map_err(|e| ServiceError::Internal(format!("job {} has a bad payload: {e}", row.id)))
}

/// Marks a job handed to the queue, if it still waits, and returns the reference to push.
/// None if another dispatcher (or the worker) got there first.
pub async fn mark_dispatched(
    conn: &impl ConnectionTrait,
    row: &job::Model,
) -> Result<Option<JobRef>> {
    let now = crate::db::now();
    let cond = Condition::all()
        .add(job::Column::Id.eq(row.id))
        .add(job::Column::Status.eq(row.status.clone()));
    let res = job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(DISPATCHED))
        .col_expr(job::Column::DispatchedAt, Expr::value(now))
        .col_expr(job::Column::Dispatches, Expr::value(row.dispatches + 1))
        .col_expr(job::Column::UpdatedAt, Expr::value(now))
        .filter(cond.add(job::Column::Dispatches.eq(row.dispatches)))
        .exec(conn)
        .await?;
    Ok((res.rows_affected == 1).then(|| JobRef::of(row, row.dispatches + 1)))
}

/// Claims a job for a one-shot handler: true for exactly one caller, even when copies run
/// at once (the update waits on the row lock of a concurrent claim).
pub async fn claim_done(conn: &impl ConnectionTrait, id: Uuid) -> Result<bool> {
    let res = job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(DONE))
        .col_expr(job::Column::UpdatedAt, Expr::value(crate::db::now()))
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::Status.ne(DONE))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Hands a job back when the queue refused it, so the dispatcher tries again soon.
pub async fn mark_undispatched(conn: &impl ConnectionTrait, id: Uuid, error: &str) -> Result<()> {
    job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(PENDING))
        .col_expr(
            job::Column::LastError,
            Expr::value(error.chars().take(500).collect::<String>()),
        )
        .col_expr(job::Column::UpdatedAt, Expr::value(crate::db::now()))
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::Status.eq(DISPATCHED))
        .exec(conn)
        .await?;
    Ok(())
}

/// Jobs that are due, or were handed out longer than `lease` ago without finishing.
pub async fn due(
    conn: &impl ConnectionTrait,
    lease: std::time::Duration,
    limit: u64,
) -> Result<Vec<job::Model>> {
    let now = crate::db::now();
    let stale = now - chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(30));
    Ok(job::Entity::find()
        .filter(
            Condition::any()
                .add(
                    Condition::all()
                        .add(job::Column::Status.eq(PENDING))
                        .add(job::Column::RunAt.lte(now)),
                )
                .add(
                    Condition::all()
                        .add(job::Column::Status.eq(DISPATCHED))
                        .add(job::Column::DispatchedAt.lt(stale)),
                ),
        )
        .order_by_asc(job::Column::RunAt)
        .limit(limit)
        .all(conn)
        .await?)
}

pub async fn finish(conn: &impl ConnectionTrait, id: Uuid) -> Result<()> {
    let mut writes = Writes::new();
    writes.add(finish_statement(id));
    writes.run(conn).await
}

/// The update of [`finish`], for a batch of [`Writes`].
pub fn finish_statement(id: Uuid) -> UpdateStatement {
    job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(DONE))
        .col_expr(job::Column::UpdatedAt, Expr::value(crate::db::now()))
        .filter(job::Column::Id.eq(id))
        .into_query()
}

/// Deletes up to `limit` finished jobs that were due, and last changed, before `before`;
/// returns how many. A DONE row is never read or changed again (a stale copy of it in the
/// queue finds no row and is skipped), so past the retention it is only weight: it grows
/// the table and its index, which the dispatcher's poll and every vacuum walk. FAILED rows
/// are kept: they are what an operator has to look at. Bounded, so each statement is short
/// and its locks few; the due index (`status, run_at`) finds the rows.
pub async fn purge_done(
    conn: &impl ConnectionTrait,
    before: DateTime<Utc>,
    limit: u64,
) -> Result<u64> {
    let oldest = job::Entity::find()
        .select_only()
        .column(job::Column::Id)
        .filter(job::Column::Status.eq(DONE))
        .filter(job::Column::RunAt.lt(before))
        .filter(job::Column::UpdatedAt.lt(before))
        .limit(limit)
        .into_query();
    let res = job::Entity::delete_many()
        .filter(job::Column::Id.in_subquery(oldest))
        .exec(conn)
        .await?;
    Ok(res.rows_affected)
}

/// Puts a job back to wait until `run_at`, as another kind of job if need be.
pub async fn reschedule(
    conn: &impl ConnectionTrait,
    row: &job::Model,
    payload: &JobPayload,
    run_at: DateTime<Utc>,
    error: Option<&str>,
) -> Result<()> {
    let mut active: job::ActiveModel = row.clone().into();
    active.kind = Set(payload.kind().into());
    active.payload =
        Set(serde_json::to_value(payload).map_err(|e| ServiceError::Internal(e.to_string()))?);
    active.status = Set(PENDING.into());
    active.attempts = Set(row.attempts + 1);
    active.run_at = Set(run_at);
    active.dispatched_at = Set(None);
    active.last_error = Set(error.map(|e| e.chars().take(500).collect()));
    active.updated_at = Set(crate::db::now());
    active.update(conn).await?;
    Ok(())
}

pub async fn get(conn: &impl ConnectionTrait, id: Uuid) -> Result<Option<job::Model>> {
    Ok(job::Entity::find_by_id(id).one(conn).await?)
}
