//! The append-only event log. Events are written in the same transaction as the change
//! they report, so an event exists exactly when its change does.
use chrono::Utc;
use entity::{event, payment};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::error::Result;

/// The object a payment event carries: what a webhook receiver needs, never card data.
pub fn payment_snapshot(p: &payment::Model) -> Value {
    json!({
        "id": p.id,
        "object": "payment",
        "livemode": p.mode == "live",
        "status": p.status,
        "currency": p.currency,
        "amount": p.amount,
        "authorizedAmount": p.authorized_amount,
        "capturedAmount": p.captured_amount,
        "releasedAmount": p.released_amount,
        "refundedAmount": p.refunded_amount,
        "customerId": p.customer_id,
        "clientReference": p.client_reference,
        "errorCode": p.error_code,
        "createdAt": p.created_at,
        "updatedAt": p.updated_at,
    })
}

/// Records a payment event with the payment's next sequence number. The caller holds the
/// payment's row lock, so sequence numbers never collide (a unique index guards it too).
pub async fn record_payment_event(
    conn: &impl ConnectionTrait,
    event_type: &str,
    p: &payment::Model,
) -> Result<event::Model> {
    let last: Option<i64> = event::Entity::find()
        .select_only()
        .column(event::Column::Sequence)
        .filter(event::Column::PaymentId.eq(p.id))
        .order_by_desc(event::Column::Sequence)
        .limit(1)
        .into_tuple()
        .one(conn)
        .await?;
    Ok(event::ActiveModel {
        id: Set(Uuid::now_v7()),
        merchant_id: Set(p.merchant_id),
        mode: Set(p.mode.clone()),
        event_type: Set(event_type.to_string()),
        payment_id: Set(Some(p.id)),
        sequence: Set(last.unwrap_or(0) + 1),
        data: Set(payment_snapshot(p)),
        created_at: Set(Utc::now()),
    }
    .insert(conn)
    .await?)
}
