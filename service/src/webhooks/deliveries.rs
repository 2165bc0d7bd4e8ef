//! From events to deliveries, and what each attempt means for a delivery.
use std::sync::OnceLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::{event, event_outbox, job, webhook_attempt, webhook_delivery, webhook_endpoint};
use rand::Rng;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, LockType, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, IdenStatic,
    QueryFilter, QueryOrder, QueryResult, QuerySelect, QueryTrait, Set, Statement,
    TransactionTrait,
};
use uuid::Uuid;

use crate::bus::Published;
use crate::error::{Result, ServiceError};
use crate::gateway::Gateway;
use crate::jobs::{self, JobPayload};
use crate::merchants::Caller;
use crate::writes::{Writes, found, guard, insert_if};

pub const PENDING: &str = "PENDING";
pub const SUCCEEDED: &str = "SUCCEEDED";
pub const FAILED: &str = "FAILED";

pub type Delivery = webhook_delivery::Model;
pub type Attempt = webhook_attempt::Model;

fn wants(endpoint: &webhook_endpoint::Model, event_type: &str) -> bool {
    match &endpoint.event_types {
        None => true,
        Some(types) => types
            .as_array()
            .is_some_and(|list| list.iter().any(|t| t.as_str() == Some(event_type))),
    }
}

/// Deliveries (and their jobs) inserted at once for many pairs of an event and an endpoint:
/// per chunk, one multi-row insert of each (one statement in all on PostgreSQL), instead of
/// two round trips per delivery, which made a burst's fan-out hold its transaction for a
/// thousand round trips a batch.
async fn new_deliveries(
    conn: &impl ConnectionTrait,
    pairs: Vec<(&Published, Uuid)>,
) -> Result<Vec<(webhook_delivery::Model, job::Model)>> {
    /// Rows per statement: well under either database's limit of bound values (a job has 12
    /// columns, SQLite allows 32,766 values).
    const CHUNK: usize = 1_000;
    let now = crate::db::now();
    let made = pairs
        .into_iter()
        .map(|(ev, endpoint_id)| {
            let delivery = webhook_delivery::Model {
                id: Uuid::now_v7(),
                event_id: ev.event_id,
                endpoint_id,
                merchant_id: ev.merchant_id,
                status: PENDING.into(),
                attempts: 0,
                next_attempt_at: Some(now),
                created_at: now,
                updated_at: now,
            };
            let job = jobs::new_dispatched(&JobPayload::DeliverWebhook {
                delivery_id: delivery.id,
            })?;
            Ok((delivery, job))
        })
        .collect::<Result<Vec<_>>>()?;
    for chunk in made.chunks(CHUNK) {
        let mut writes = Writes::new();
        writes.add(
            webhook_delivery::Entity::insert_many(
                chunk
                    .iter()
                    .map(|(d, _)| webhook_delivery::ActiveModel::from(d.clone())),
            )
            .into_query(),
        );
        writes.add(jobs::insert_many_statement(chunk.iter().map(|(_, j)| j)));
        writes.run(conn).await?;
    }
    Ok(made)
}

/// The fan-out job of an event written before the event log was the fan-out's outbox: one
/// delivery (and its job) per enabled endpoint that wants the event, then the event is
/// published to live subscribers. Returns the new jobs (inserted as handed out)
/// for the caller to push.
pub async fn fan_out(
    gw: &Gateway,
    fan_out_job: &job::Model,
    event_id: Uuid,
) -> Result<Vec<job::Model>> {
    let txn = gw.db.begin().await?;
    if !jobs::claim_done(&txn, fan_out_job.id).await? {
        return Ok(vec![]); // another copy did it
    }
    let ev = event::Entity::find_by_id(event_id)
        .one(&txn)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let evs = vec![Published::from(&ev)];
    let new_jobs = make_deliveries(&txn, &evs).await?;
    txn.commit().await?;
    gw.bus.publish_all(&evs).await;
    Ok(new_jobs)
}

/// What one round of [`fan_out_pending`] did.
#[derive(Debug, Default)]
pub struct FannedOut {
    /// Events read as not yet fanned out (a full batch means more may wait).
    pub events: usize,
    /// The deliveries' jobs, inserted as handed out, for the caller to push.
    pub deliveries: Vec<job::Model>,
}

/// The dispatcher's way: takes up to `limit` events from the outbox, oldest first, and in
/// one transaction deletes their outbox rows, makes their deliveries (and jobs, inserted as
/// handed out) and commits; then publishes them to live subscribers. Events another
/// dispatcher claimed meanwhile are left to it: its delete holds their rows, and once it
/// commits this one finds them gone.
pub async fn fan_out_pending(gw: &Gateway, limit: u64) -> Result<FannedOut> {
    let txn = gw.db.begin().await?;
    let mut evs = claim_events(&txn, limit).await?;
    if evs.is_empty() {
        return Ok(FannedOut::default());
    }
    let read = evs.len();
    evs.sort_by_key(|(created_at, ev)| (*created_at, ev.sequence));
    let evs: Vec<Published> = evs.into_iter().map(|(_, ev)| ev).collect();
    let new_jobs = make_deliveries(&txn, &evs).await?;
    txn.commit().await?;
    gw.bus.publish_all(&evs).await;
    Ok(FannedOut {
        events: read,
        deliveries: new_jobs,
    })
}

/// Deletes up to `limit` of the oldest outbox rows and reads back what the deliveries and
/// the subscribers need of their events (not the snapshot, which decoding made about a
/// twentieth of the worker's CPU under load).
///
/// The statements' text does not depend on how many events there are. The claim was a
/// `DELETE … WHERE event_id IN ($1, …, $n)` and a read back by another such list: a new
/// text nearly every tick, so PostgreSQL parsed and planned both afresh each time (539
/// distinct texts in 771 calls in one charge run of `bench/run`), after a read of the ids
/// of their own.
async fn claim_events(
    conn: &impl ConnectionTrait,
    limit: u64,
) -> Result<Vec<(DateTime<Utc>, Published)>> {
    let rows = if conn.get_database_backend() == DbBackend::Postgres {
        conn.query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            claim_events_sql(),
            [i64::try_from(limit).unwrap_or(i64::MAX).into()],
        ))
        .await?
    } else {
        let oldest = Query::select()
            .column(event_outbox::Column::EventId)
            .from(event_outbox::Entity)
            .order_by(event_outbox::Column::EventId, sea_orm::Order::Asc)
            .limit(limit)
            .to_owned();
        let mut claim = Query::delete()
            .from_table(event_outbox::Entity)
            .and_where(Expr::col(event_outbox::Column::EventId).in_subquery(oldest))
            .to_owned();
        claim.returning_col(event_outbox::Column::EventId);
        let mut claimed = Vec::new();
        for row in conn.query_all(&claim).await? {
            claimed.push(row.try_get_by_index::<Uuid>(0)?);
        }
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let read_back = event::Entity::find()
            .select_only()
            .columns(FANNED_OUT_COLUMNS)
            .filter(event::Column::Id.is_in(claimed))
            .into_query();
        conn.query_all(&read_back).await?
    };
    rows.iter().map(fanned_out).collect()
}

/// The claim on PostgreSQL, one statement: the delete of up to `$1` of the oldest outbox rows,
/// and the read of the events it deleted. Public for the test of its plan.
///
/// `= ANY(ARRAY(…))` keeps both on the primary keys (`IN (SELECT …)` was planned as a hash
/// join over the whole outbox, a backlog included), except in a plan made while the
/// statistics say the outbox is empty, as they do after the worker's vacuum of a drained
/// outbox: then both are scans, each row compared with every id (0.25–1.6 s a claim of 1,000
/// with 100,000 waiting). The worker's next vacuum (`queue_tables`), which the claims' dead
/// rows bring on within its interval, records the backlog, and every connection plans the
/// claim again (8 ms).
#[doc(hidden)]
pub fn claim_events_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        let columns = FANNED_OUT_COLUMNS
            .iter()
            .map(|c| format!("\"{}\"", c.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "WITH claimed AS (DELETE FROM event_outbox WHERE event_id = ANY(ARRAY( \
                SELECT event_id FROM event_outbox ORDER BY event_id LIMIT $1)) \
                RETURNING event_id) \
             SELECT {columns} FROM events WHERE id = ANY(ARRAY(SELECT event_id FROM claimed))"
        )
    })
}

/// The columns [`fan_out_pending`] reads of the events it claims, in the order
/// [`fanned_out`] decodes them.
const FANNED_OUT_COLUMNS: [event::Column; 7] = [
    event::Column::Id,
    event::Column::MerchantId,
    event::Column::Mode,
    event::Column::EventType,
    event::Column::PaymentId,
    event::Column::Sequence,
    event::Column::CreatedAt,
];

/// An event as [`fan_out_pending`] reads it back: when it was made, and what is published.
fn fanned_out(row: &QueryResult) -> Result<(DateTime<Utc>, Published)> {
    Ok((
        row.try_get_by_index(6)?,
        Published {
            event_id: row.try_get_by_index(0)?,
            merchant_id: row.try_get_by_index(1)?,
            mode: row.try_get_by_index(2)?,
            event_type: row.try_get_by_index(3)?,
            payment_id: row.try_get_by_index(4)?,
            sequence: row.try_get_by_index(5)?,
        },
    ))
}

/// The deliveries (and their jobs) of these events: one per enabled endpoint of the event's
/// merchant and mode that wants its type.
async fn make_deliveries(
    conn: &impl ConnectionTrait,
    evs: &[Published],
) -> Result<Vec<job::Model>> {
    let mut merchants: Vec<Uuid> = evs.iter().map(|e| e.merchant_id).collect();
    merchants.sort_unstable();
    merchants.dedup();
    let endpoints = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::MerchantId.is_in(merchants))
        .filter(webhook_endpoint::Column::Enabled.eq(true))
        .filter(webhook_endpoint::Column::DeletedAt.is_null())
        .all(conn)
        .await?;
    let pairs = evs.iter().flat_map(|ev| {
        endpoints
            .iter()
            .filter(|e| {
                e.merchant_id == ev.merchant_id && e.mode == ev.mode && wants(e, &ev.event_type)
            })
            .map(move |e| (ev, e.id))
    });
    // Collected here: an iterator of closures held across the inserts' awaits would make
    // the future not `Send`.
    let made = new_deliveries(conn, pairs.collect()).await?;
    Ok(made.into_iter().map(|(_, job)| job).collect())
}

/// What the worker needs to send one attempt, or None when there is nothing to send.
pub async fn delivery_to_send(
    gw: &Gateway,
    delivery_id: Uuid,
) -> Result<
    Option<(
        webhook_delivery::Model,
        webhook_endpoint::Model,
        event::Model,
    )>,
> {
    // One query for the three rows.
    let found = webhook_delivery::Entity::find_by_id(delivery_id)
        .find_also_related(webhook_endpoint::Entity)
        .find_also_related(event::Entity)
        .one(&gw.autocommit().await?)
        .await?;
    match found {
        Some((delivery, Some(endpoint), Some(ev))) if delivery.status == PENDING => {
            Ok(Some((delivery, endpoint, ev)))
        }
        _ => Ok(None),
    }
}

/// The result of one HTTP attempt.
#[derive(Clone, Debug)]
pub struct AttemptOutcome {
    pub status_code: Option<u16>,
    pub duration: Duration,
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
    pub retry_after: Option<Duration>,
}

/// A wait with ±10 % jitter, so retries of many deliveries do not arrive together.
fn jittered(d: Duration) -> Duration {
    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 2);
    let spread = ms / 10;
    let low = ms - spread;
    Duration::from_millis(rand::rng().random_range(low..=low.saturating_add(2 * spread)))
}

fn after(d: Duration) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::hours(10))
}

/// Records an attempt and decides what follows: delivered (2xx), another try (per the
/// schedule, or the receiver's Retry-After), disabled (410), or failed for good.
pub async fn record_attempt(
    gw: &Gateway,
    job: &job::Model,
    delivery_id: Uuid,
    outcome: &AttemptOutcome,
) -> Result<()> {
    let code = outcome.status_code.unwrap_or(0);
    if (200..300).contains(&code) {
        return record_delivered(gw, job, delivery_id, outcome).await;
    }
    let txn = gw.db.begin().await?;
    let delivery = webhook_delivery::Entity::find_by_id(delivery_id)
        .one(&txn)
        .await?
        .ok_or(ServiceError::NotFound)?;
    if delivery.status != PENDING {
        jobs::finish(&txn, job.id).await?;
        return Ok(txn.commit().await?);
    }
    let now = Utc::now();
    attempt_row(delivery.id, now, outcome).insert(&txn).await?;
    let attempts = delivery.attempts + 1;
    let endpoint_id = delivery.endpoint_id;
    let mut row: webhook_delivery::ActiveModel = delivery.into();
    row.attempts = Set(attempts);
    row.updated_at = Set(now);
    let schedule = &gw.settings.webhook_retry_schedule;
    if code == 410 {
        row.status = Set(FAILED.into());
        row.next_attempt_at = Set(None);
        jobs::finish(&txn, job.id).await?;
        set_endpoint(&txn, endpoint_id, |e| {
            e.enabled = Set(false);
            e.disabled_reason = Set(Some("the receiver answered 410 Gone".into()));
        })
        .await?;
    } else if let Some(wait) = schedule.get(usize::try_from(attempts - 1).unwrap_or(usize::MAX)) {
        let wait = outcome
            .retry_after
            .map(|r| r.min(Duration::from_secs(86_400)))
            .unwrap_or_else(|| jittered(*wait));
        let at = after(wait);
        row.next_attempt_at = Set(Some(at));
        let payload = JobPayload::DeliverWebhook { delivery_id };
        jobs::reschedule(&txn, job, &payload, at, outcome.error.as_deref()).await?;
    } else {
        row.status = Set(FAILED.into());
        row.next_attempt_at = Set(None);
        jobs::finish(&txn, job.id).await?;
        set_endpoint(&txn, endpoint_id, |e| e.failing_since = Set(Some(now))).await?;
    }
    row.update(&txn).await?;
    Ok(txn.commit().await?)
}

/// The common case, delivered (2xx): the delivery is marked SUCCEEDED and its attempt
/// recorded only if it was still pending (a second copy of the job that sent it too records
/// nothing), and the job is finished. On PostgreSQL one statement, whose guard locks the
/// delivery while pending, so of two copies the later one finds it no longer pending; on
/// SQLite a transaction. (The transaction's five round trips, BEGIN to COMMIT, were a fifth
/// of the worker's CPU during a burst of deliveries.)
async fn record_delivered(
    gw: &Gateway,
    job: &job::Model,
    delivery_id: Uuid,
    outcome: &AttemptOutcome,
) -> Result<()> {
    let now = crate::db::now();
    // Conditional on the delivery being pending; on PostgreSQL also on the guard.
    let mut mark = webhook_delivery::Entity::update_many()
        .col_expr(webhook_delivery::Column::Status, Expr::value(SUCCEEDED))
        .col_expr(
            webhook_delivery::Column::Attempts,
            Expr::col(webhook_delivery::Column::Attempts).add(1),
        )
        .col_expr(
            webhook_delivery::Column::NextAttemptAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(webhook_delivery::Column::UpdatedAt, Expr::value(now))
        .filter(webhook_delivery::Column::Id.eq(delivery_id))
        .filter(webhook_delivery::Column::Status.eq(PENDING))
        .into_query();
    if gw.db.get_database_backend() == DbBackend::Postgres {
        let pending = Alias::new("delivery_pending");
        let guards = [guard(
            &pending,
            Query::select()
                .column(webhook_delivery::Column::Id)
                .from(webhook_delivery::Entity)
                .and_where(webhook_delivery::Column::Id.eq(delivery_id))
                .and_where(webhook_delivery::Column::Status.eq(PENDING))
                .lock(LockType::Update)
                .to_owned(),
        )];
        mark.and_where(found(&pending));
        let mut writes = Writes::new();
        writes
            .add(mark)
            .add(insert_if(
                attempt_row(delivery_id, now, outcome),
                found(&pending),
            )?)
            .add(jobs::finish_statement(job.id));
        let done = Query::select().expr(Expr::val(1)).to_owned();
        writes
            .run_guarded(&gw.autocommit().await?, guards, done)
            .await?;
        return Ok(());
    }
    let txn = gw.db.begin().await?;
    let marked = txn.execute(&mark).await?;
    if marked.rows_affected() == 1 {
        attempt_row(delivery_id, now, outcome).insert(&txn).await?;
    }
    jobs::finish(&txn, job.id).await?;
    Ok(txn.commit().await?)
}

fn attempt_row(
    delivery_id: Uuid,
    at: DateTime<Utc>,
    outcome: &AttemptOutcome,
) -> webhook_attempt::ActiveModel {
    webhook_attempt::ActiveModel {
        id: Set(Uuid::now_v7()),
        delivery_id: Set(delivery_id),
        at: Set(at),
        status_code: Set(outcome.status_code.map(i32::from)),
        duration_ms: Set(i64::try_from(outcome.duration.as_millis()).unwrap_or(i64::MAX)),
        response_excerpt: Set(outcome.response_excerpt.clone()),
        error: Set(outcome.error.clone()),
    }
}

async fn set_endpoint(
    conn: &impl ConnectionTrait,
    id: Uuid,
    change: impl FnOnce(&mut webhook_endpoint::ActiveModel),
) -> Result<()> {
    if let Some(e) = webhook_endpoint::Entity::find_by_id(id).one(conn).await? {
        let mut row: webhook_endpoint::ActiveModel = e.into();
        change(&mut row);
        row.updated_at = Set(Utc::now());
        row.update(conn).await?;
    }
    Ok(())
}

/// Sends an event again (same webhook-id) to one endpoint, or to every endpoint that wants it.
pub async fn redeliver(
    gw: &Gateway,
    caller: &Caller,
    event_id: Uuid,
    endpoint_id: Option<Uuid>,
) -> Result<Vec<Delivery>> {
    let ev = crate::events::get(&gw.db, caller, event_id).await?;
    let endpoints = match endpoint_id {
        Some(id) => vec![super::get(gw, caller, id).await?],
        None => super::list(gw, caller)
            .await?
            .into_iter()
            .filter(|e| e.enabled && wants(e, &ev.event_type))
            .collect(),
    };
    let published = Published::from(&ev);
    let txn = gw.db.begin().await?;
    let pairs = endpoints.iter().map(|e| (&published, e.id)).collect();
    let made = new_deliveries(&txn, pairs).await?;
    txn.commit().await?;
    let (made, new_jobs): (Vec<_>, Vec<_>) = made.into_iter().unzip();
    gw.push_all(&new_jobs).await;
    Ok(made)
}

pub async fn deliveries_of(gw: &Gateway, event_id: Uuid) -> Result<Vec<Delivery>> {
    Ok(webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::EventId.eq(event_id))
        .order_by_asc(webhook_delivery::Column::CreatedAt)
        // Deliveries made together share their time; their ids (v7) keep the order made.
        .order_by_asc(webhook_delivery::Column::Id)
        .all(&gw.db)
        .await?)
}

pub async fn attempts(gw: &Gateway, delivery_id: Uuid) -> Result<Vec<Attempt>> {
    Ok(webhook_attempt::Entity::find()
        .filter(webhook_attempt::Column::DeliveryId.eq(delivery_id))
        .order_by_asc(webhook_attempt::Column::At)
        .all(&gw.db)
        .await?)
}

/// Gives up on a delivery that can no longer be sent (its endpoint was deleted or disabled).
pub async fn abandon(
    gw: &Gateway,
    job: &job::Model,
    delivery_id: Uuid,
    reason: &str,
) -> Result<()> {
    let txn = gw.db.begin().await?;
    if let Some(d) = webhook_delivery::Entity::find_by_id(delivery_id)
        .one(&txn)
        .await?
    {
        let mut row: webhook_delivery::ActiveModel = d.into();
        row.status = Set(FAILED.into());
        row.next_attempt_at = Set(None);
        row.updated_at = Set(Utc::now());
        row.update(&txn).await?;
    }
    tracing::info!(%delivery_id, reason, "webhook delivery abandoned");
    jobs::finish(&txn, job.id).await?;
    Ok(txn.commit().await?)
}
