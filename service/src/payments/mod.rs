//! Payments: creation, the money operations, their outcomes, and queries. Amounts and
//! statuses change only here, inside a transaction that holds the payment's row lock.
mod chargeback;
mod create;
mod fallback;
mod lifecycle;
mod outcome;
mod query;
mod schedule;

pub use chargeback::{ChargebackNotice, chargeback};
pub use create::{
    CaptureMethod, ChargeCustomerInput, CreatePaymentInput, charge_customer, create_for_paylink,
    create_payment,
};
pub use fallback::charge_with_fallback;
pub use lifecycle::{
    activate, cancel, capturable, capture, charge_with_token, refund, refundable, release, send,
};
pub use outcome::{apply_answer, mark_inconclusive, operation_request};
pub use query::{PaymentFilter, get, items, list, operations, status_history};
pub use schedule::{Swept, run_schedules};

use chrono::Utc;
use entity::{operation, payment, status_history as history};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, QuerySelect, Set};
use uuid::Uuid;

use crate::error::{Result, ServiceError};
use crate::events;
use crate::merchants::Caller;
use crate::status::PaymentStatus;

/// Operation kinds in the ledger.
pub mod kind {
    pub const CHARGE: &str = "CHARGE";
    pub const AUTHORIZE: &str = "AUTHORIZE";
    pub const CAPTURE: &str = "CAPTURE";
    pub const RELEASE: &str = "RELEASE";
    pub const REFUND: &str = "REFUND";
    /// Money the card holder's bank took back; recorded from the acquirer's notification.
    pub const CHARGEBACK: &str = "CHARGEBACK";
}

/// Operation statuses.
pub mod op_status {
    pub const PENDING: &str = "PENDING";
    pub const SUCCEEDED: &str = "SUCCEEDED";
    pub const FAILED: &str = "FAILED";
}

pub fn status_of(p: &payment::Model) -> Result<PaymentStatus> {
    p.status.parse().map_err(ServiceError::Internal)
}

/// Loads the caller's payment with its row locked for the rest of the transaction.
pub(crate) async fn lock(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    id: Uuid,
) -> Result<payment::Model> {
    payment::Entity::find_by_id(id)
        .lock_exclusive()
        .one(conn)
        .await?
        .filter(|row| caller.owns(row.merchant_id, &row.mode))
        .ok_or(ServiceError::NotFound)
}

/// The merchant's commission: amount × percent / 100, rounded half up (whole minor units).
pub fn commission(p: &payment::Model) -> i64 {
    let pct = i64::from(p.commission_percent.unwrap_or(0));
    (p.amount * pct + 50) / 100
}

/// Loads any payment with its row locked (for the hosted page, which has no API key).
pub(crate) async fn lock_any(conn: &impl ConnectionTrait, id: Uuid) -> Result<payment::Model> {
    payment::Entity::find_by_id(id)
        .lock_exclusive()
        .one(conn)
        .await?
        .ok_or(ServiceError::NotFound)
}

/// Moves a payment to `to` through the state machine, saving `changed` (amounts etc.) with
/// it, and writes the status-history row and the event, all in the caller's transaction.
pub async fn transition(
    conn: &impl ConnectionTrait,
    current: &payment::Model,
    mut changed: payment::ActiveModel,
    to: PaymentStatus,
    reason: &str,
    operation_id: Option<Uuid>,
    event_type: &str,
) -> Result<payment::Model> {
    let from = status_of(current)?;
    if from != to && !from.can_move_to(to) {
        return Err(ServiceError::InvalidState(format!(
            "a {from} payment cannot become {to}"
        )));
    }
    changed.status = Set(to.as_str().into());
    changed.updated_at = Set(Utc::now());
    changed.event_sequence = Set(current.event_sequence + 1);
    let updated = changed.update(conn).await?;
    if from != to {
        record_history(conn, updated.id, to, reason, operation_id).await?;
    }
    events::record_payment_event(conn, event_type, &updated).await?;
    Ok(updated)
}

pub(crate) async fn record_history(
    conn: &impl ConnectionTrait,
    payment_id: Uuid,
    status: PaymentStatus,
    reason: &str,
    operation_id: Option<Uuid>,
) -> Result<()> {
    record_histories(conn, payment_id, &[(status, reason, operation_id)]).await
}

/// Writes status-history rows in one statement, in the order given.
pub(crate) async fn record_histories(
    conn: &impl ConnectionTrait,
    payment_id: Uuid,
    moves: &[(PaymentStatus, &str, Option<Uuid>)],
) -> Result<()> {
    let at = Utc::now();
    let rows = moves
        .iter()
        .map(|(status, reason, operation_id)| history::ActiveModel {
            id: Set(Uuid::now_v7()),
            payment_id: Set(payment_id),
            status: Set(status.as_str().into()),
            reason: Set(Some(reason.to_string())),
            operation_id: Set(*operation_id),
            at: Set(at),
        });
    history::Entity::insert_many(rows)
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

pub async fn insert_operation(
    conn: &impl ConnectionTrait,
    p: &payment::Model,
    kind: &str,
    amount: i64,
    reason: Option<String>,
) -> Result<operation::Model> {
    let now = Utc::now();
    Ok(operation::ActiveModel {
        id: Set(Uuid::now_v7()),
        payment_id: Set(p.id),
        merchant_id: Set(p.merchant_id),
        kind: Set(kind.into()),
        amount: Set(amount),
        status: Set(op_status::PENDING.into()),
        acquirer_reference: Set(p.acquirer_reference.clone()),
        error_code: Set(None),
        error_message: Set(None),
        reason: Set(reason),
        authentication: Set(None),
        attempts: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(conn)
    .await?)
}

/// How a money operation starts: its kind, amount and reason (and 3-D Secure
/// authentication), the pending status and event it moves the payment to, and the reason
/// written in the status history.
pub(crate) struct Start<'a> {
    pub kind: &'static str,
    pub amount: i64,
    pub reason: Option<String>,
    pub authentication: Option<&'a str>,
    pub pending: PaymentStatus,
    pub event: &'static str,
    pub history: &'a str,
}

/// A charge (captured at once) or an authorization: its operation kind, pending status and
/// event.
pub(crate) fn charge_or_authorize(authorize: bool) -> (&'static str, PaymentStatus, &'static str) {
    if authorize {
        (
            kind::AUTHORIZE,
            PaymentStatus::PendingExecute,
            "payment.pending_execute",
        )
    } else {
        (
            kind::CHARGE,
            PaymentStatus::PendingCharge,
            "payment.pending_charge",
        )
    }
}

/// In the caller's transaction, under the payment's row lock: the PENDING operation, the
/// move to the pending status (saving `changed` with it), and the acquirer job inserted as
/// handed out. The caller commits, then pushes the job and waits for the operation.
pub(crate) async fn start_operation(
    conn: &impl ConnectionTrait,
    p: &payment::Model,
    changed: payment::ActiveModel,
    start: Start<'_>,
) -> Result<(operation::Model, entity::job::Model)> {
    let mut op = insert_operation(conn, p, start.kind, start.amount, start.reason).await?;
    if let Some(authentication) = start.authentication {
        op = set_authentication(conn, op, authentication).await?;
    }
    transition(
        conn,
        p,
        changed,
        start.pending,
        start.history,
        Some(op.id),
        start.event,
    )
    .await?;
    let job = crate::jobs::insert_dispatched(
        conn,
        &crate::jobs::JobPayload::AcquirerCall {
            operation_id: op.id,
        },
    )
    .await?;
    Ok((op, job))
}

/// Notes the 3-D Secure authentication an operation is allowed by.
pub async fn set_authentication(
    conn: &impl ConnectionTrait,
    op: operation::Model,
    authentication: &str,
) -> Result<operation::Model> {
    let mut row: operation::ActiveModel = op.into();
    row.authentication = Set(Some(authentication.to_string()));
    Ok(row.update(conn).await?)
}

/// The result a payment mutation records with its idempotency key.
pub(crate) fn answer(payment_id: Uuid) -> serde_json::Value {
    serde_json::json!({ "paymentId": payment_id })
}

/// Ends a payment mutation's transaction: its answer, recorded with the idempotency key (if
/// any) in the same commit as the change.
pub(crate) async fn commit_answer(
    txn: sea_orm::DatabaseTransaction,
    payment_id: Uuid,
    claim: Option<crate::idempotency::Claim>,
) -> Result<serde_json::Value> {
    let value = answer(payment_id);
    if let Some(claim) = claim {
        claim.complete(&txn, &value).await?;
    }
    txn.commit().await?;
    Ok(value)
}

/// Reads the payment id back out of a recorded answer.
pub fn answered_payment(value: &serde_json::Value) -> Result<Uuid> {
    value
        .get("paymentId")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ServiceError::Internal("recorded answer has no payment".into()))
}
