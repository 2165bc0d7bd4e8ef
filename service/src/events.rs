//! The append-only event log. Events are written in the same transaction as the change
//! they report, so an event exists exactly when its change does. The log is also the
//! fan-out's outbox: the dispatcher takes the events not yet fanned out, in batches, makes
//! their webhook deliveries and publishes them to subscribers, so none is lost on its way.
use chrono::{DateTime, Utc};
use entity::{event, payment};
use sea_orm::sea_query::InsertStatement;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QueryTrait, Set,
};
use serde_json::Value;
use uuid::Uuid;

use crate::error::{Result, ServiceError};
use crate::gateway::Gateway;
use crate::merchants::Caller;
use crate::page::{Cursor, Page, PageRequest};

/// The payment as it was when the event happened: every field (camelCase), never card data.
pub fn payment_snapshot(p: &payment::Model) -> Value {
    let mut v = serde_json::to_value(p).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut v {
        map.insert("object".into(), "payment".into());
        map.insert("livemode".into(), (p.mode == "live").into());
    }
    v
}

/// Reads a payment back out of an event's snapshot.
pub fn payment_from_snapshot(data: &Value) -> Option<payment::Model> {
    serde_json::from_value(data.clone()).ok()
}

/// The insert of payment events, for a batch of [`Writes`](crate::writes::Writes). Each
/// event is numbered by its snapshot's `event_sequence`: the caller saves the payment with
/// its sequence moved on, in the same batch and under the payment's row lock, so numbers
/// never collide (a unique index guards it too).
pub fn payment_events_insert(events: &[(&str, &payment::Model)]) -> InsertStatement {
    let created_at = crate::db::now();
    let rows = events
        .iter()
        .map(|(event_type, p)| payment_event_row(event_type, p, created_at));
    event::Entity::insert_many(rows).into_query()
}

/// One payment event's row, as [`payment_events_insert`] writes it.
pub fn payment_event_row(
    event_type: &str,
    p: &payment::Model,
    created_at: DateTime<Utc>,
) -> event::ActiveModel {
    event::ActiveModel {
        id: Set(Uuid::now_v7()),
        merchant_id: Set(p.merchant_id),
        mode: Set(p.mode.clone()),
        event_type: Set(event_type.to_string()),
        payment_id: Set(Some(p.id)),
        sequence: Set(p.event_sequence),
        data: Set(payment_snapshot(p)),
        created_at: Set(created_at),
        fanned_out_at: Set(None),
    }
}

/// Records an event of an object other than a payment (a paylink, say): no sequence.
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
        fanned_out_at: Set(None),
    }
    .insert(conn)
    .await?;
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
