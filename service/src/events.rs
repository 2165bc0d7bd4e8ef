//! The append-only event log. Events are written in the same transaction as the change
//! they report, so an event exists exactly when its change does. Each is written with its
//! row in the fan-out's outbox (`event_outbox`): the dispatcher takes the events still
//! there, in batches, makes their webhook deliveries and publishes them to subscribers, so
//! none is lost on its way. Every insert of an event goes through this module, so none
//! misses its outbox row.
use chrono::{DateTime, Utc};
use entity::{event, event_outbox, payment};
use sea_orm::sea_query::{Alias, Expr, Func, InsertStatement, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QueryTrait, Set,
};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::error::{Result, ServiceError};
use crate::gateway::Gateway;
use crate::merchants::Caller;
use crate::page::{Cursor, Page, PageRequest};
use crate::writes::{Writes, insert_if, insert_values_if};

/// The payment as it was when the event happened, as JSON text: every field (camelCase),
/// never card data, then `object` and `livemode`.
fn payment_snapshot(p: &payment::Model) -> Result<String> {
    #[derive(Serialize)]
    struct Snapshot<'a> {
        #[serde(flatten)]
        payment: &'a payment::Model,
        object: &'static str,
        livemode: bool,
    }
    serde_json::to_string(&Snapshot {
        payment: p,
        object: "payment",
        livemode: p.mode == "live",
    })
    .map_err(|e| ServiceError::Internal(format!("payment {} snapshot: {e}", p.id)))
}

/// Reads a payment back out of an event's snapshot.
pub fn payment_from_snapshot(data: &Value) -> Option<payment::Model> {
    serde_json::from_value(data.clone()).ok()
}

/// Adds payment events, with their outbox rows, to a batch of writes. Each event is
/// numbered by its snapshot's `event_sequence`: the caller saves the payment with its
/// sequence moved on, in the same batch and under the payment's row lock, so numbers never
/// collide (a unique index guards it too).
pub fn add_payment_events(writes: &mut Writes, events: &[(&str, &payment::Model)]) -> Result<()> {
    let created_at = crate::db::now();
    let ids: Vec<Uuid> = events.iter().map(|_| Uuid::now_v7()).collect();
    let rows = events
        .iter()
        .zip(&ids)
        .map(|((event_type, p), id)| payment_event_values(*id, event_type, p, created_at))
        .collect::<Result<Vec<_>>>()?;
    writes.add(payment_events_insert(rows)?);
    writes.add(outbox_insert(&ids));
    Ok(())
}

/// One payment event, planned for a batch of writes: its row and its outbox row go in
/// together.
pub struct PlannedEvent {
    values: Vec<Expr>,
    id: Uuid,
}

impl PlannedEvent {
    pub fn new(event_type: &str, p: &payment::Model) -> Result<PlannedEvent> {
        let id = Uuid::now_v7();
        Ok(PlannedEvent {
            values: payment_event_values(id, event_type, p, crate::db::now())?,
            id,
        })
    }

    /// Adds the event's inserts to `writes`.
    pub fn add_to(self, writes: &mut Writes) -> Result<()> {
        writes.add(payment_events_insert([self.values])?);
        writes.add(outbox_insert(&[self.id]));
        Ok(())
    }

    /// Adds the event's inserts to `writes`, each only if `condition` holds when it runs.
    pub fn add_if(self, writes: &mut Writes, condition: Expr) -> Result<()> {
        writes.add(insert_values_if(
            event::Entity,
            EVENT_COLUMNS,
            self.values,
            condition.clone(),
        )?);
        writes.add(insert_if(outbox_row(self.id), condition)?);
        Ok(())
    }
}

/// The columns of a payment event's insert, in the order of [`payment_event_values`].
const EVENT_COLUMNS: [event::Column; 8] = [
    event::Column::Id,
    event::Column::MerchantId,
    event::Column::Mode,
    event::Column::EventType,
    event::Column::PaymentId,
    event::Column::Sequence,
    event::Column::Data,
    event::Column::CreatedAt,
];

/// The insert of payment events' rows, each [`payment_event_values`].
fn payment_events_insert(rows: impl IntoIterator<Item = Vec<Expr>>) -> Result<InsertStatement> {
    let mut insert = Query::insert();
    insert.into_table(event::Entity).columns(EVENT_COLUMNS);
    for row in rows {
        insert
            .values(row)
            .map_err(|e| ServiceError::Internal(format!("event insert: {e}")))?;
    }
    Ok(insert)
}

/// One payment event's values for [`EVENT_COLUMNS`]; [`outbox_row`] of the same id must be
/// written with it.
///
/// The snapshot is bound as text and written through `json(…)`, which PostgreSQL reads as a
/// cast to `json` (the column's type) and SQLite as its JSON function, whose text its
/// `json_text` column keeps. Bound as a JSON value, it was built as a tree, copied by the
/// statement builder and encoded again: a tenth of `serve`'s CPU on a charge (perf); and
/// PostgreSQL parsed it twice, as `jsonb` and again as `json`.
fn payment_event_values(
    id: Uuid,
    event_type: &str,
    p: &payment::Model,
    created_at: DateTime<Utc>,
) -> Result<Vec<Expr>> {
    Ok(vec![
        Expr::val(id),
        Expr::val(p.merchant_id),
        Expr::val(p.mode.as_str()),
        Expr::val(event_type),
        Expr::val(Some(p.id)),
        Expr::val(p.event_sequence),
        Func::cust(Alias::new("json"))
            .arg(payment_snapshot(p)?)
            .into(),
        Expr::val(created_at),
    ])
}

/// The outbox row of an event: it stays until the dispatcher fans the event out.
fn outbox_row(event_id: Uuid) -> event_outbox::ActiveModel {
    event_outbox::ActiveModel {
        event_id: Set(event_id),
    }
}

/// The outbox rows of these events, in one insert.
pub fn outbox_insert(event_ids: &[Uuid]) -> InsertStatement {
    event_outbox::Entity::insert_many(event_ids.iter().map(|id| outbox_row(*id))).into_query()
}

/// Records an event of an object other than a payment (a paylink, say), with its outbox row,
/// in the caller's transaction: no sequence.
pub async fn record_event(
    conn: &impl ConnectionTrait,
    merchant_id: Uuid,
    mode: &str,
    event_type: &str,
    data: Value,
) -> Result<event::Model> {
    let ev = event::ActiveModel {
        id: Set(Uuid::now_v7()),
        merchant_id: Set(merchant_id),
        mode: Set(mode.to_string()),
        event_type: Set(event_type.to_string()),
        payment_id: Set(None),
        sequence: Set(0),
        data: Set(data),
        created_at: Set(crate::db::now()),
    }
    .insert(conn)
    .await?;
    outbox_row(ev.id).insert(conn).await?;
    Ok(ev)
}

/// The caller's event, or NOT_FOUND.
pub async fn get(conn: &impl ConnectionTrait, caller: &Caller, id: Uuid) -> Result<event::Model> {
    event::Entity::find_by_id(id)
        .one(conn)
        .await?
        .filter(|row| caller.owns(row.merchant_id, &row.mode))
        .ok_or(ServiceError::NotFound)
}

#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    pub event_type: Option<String>,
    pub payment_id: Option<Uuid>,
}

/// Events newest first.
pub async fn list(
    gw: &Gateway,
    caller: &Caller,
    filter: &EventFilter,
    page: PageRequest,
) -> Result<Page<event::Model>> {
    let mut cond = Condition::all()
        .add(event::Column::MerchantId.eq(caller.merchant_id))
        .add(event::Column::Mode.eq(caller.mode.as_str()));
    if let Some(t) = &filter.event_type {
        cond = cond.add(event::Column::EventType.eq(t.clone()));
    }
    if let Some(p) = filter.payment_id {
        cond = cond.add(event::Column::PaymentId.eq(p));
    }
    crate::page::keyset::<event::Entity>(
        &gw.autocommit().await?,
        cond,
        crate::page::Order::newest_first(event::Column::CreatedAt, event::Column::Id),
        page,
        |r| Cursor {
            created_at: r.created_at,
            id: r.id,
        },
    )
    .await
}

/// A payment's events after `sequence`, in order (for subscriptions catching up).
pub async fn payment_events_after(
    gw: &Gateway,
    payment_id: Uuid,
    sequence: i64,
) -> Result<Vec<event::Model>> {
    Ok(event::Entity::find()
        .filter(event::Column::PaymentId.eq(payment_id))
        .filter(event::Column::Sequence.gt(sequence))
        .order_by_asc(event::Column::Sequence)
        .all(&gw.db)
        .await?)
}

/// The Standard Webhooks body: `{type, timestamp, data}`.
pub fn webhook_body(ev: &event::Model) -> Value {
    serde_json::json!({ "type": ev.event_type, "timestamp": rfc3339(ev.created_at), "data": ev.data })
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
