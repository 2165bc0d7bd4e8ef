//! Payments: creation, the money operations, their outcomes, and queries. Amounts and
//! statuses change only here, inside a transaction that holds the payment's row lock.
mod chargeback;
mod create;
mod fallback;
mod lifecycle;
mod operation_reads;
mod outcome;
mod page_sql;
mod query;
mod row;
mod schedule;
mod settle;

pub use chargeback::{ChargebackNotice, chargeback};
pub use create::{
    CaptureMethod, ChargeCustomerInput, CreatePaymentInput, charge_customer, create_for_paylink,
    create_payment,
};
pub use fallback::charge_with_fallback;
pub use lifecycle::{
    activate, cancel, capturable, capture, charge_with_token, refund, refundable, release, send,
};
pub use operation_reads::OperationReads;
pub use outcome::{
    PendingCall, apply_answer, mark_inconclusive, operation_request, operation_requests_sql,
};
pub use query::{PaymentFilter, get, items, list, operations, status_history};
pub use row::{Columns, reads_by_position};
pub use schedule::{Swept, run_schedules};
pub use settle::settle;

use entity::{operation, payment, status_history as history};
use sea_orm::sea_query::InsertStatement;
use sea_orm::{ConnectionTrait, EntityTrait, QuerySelect, QueryTrait, Set, TryIntoModel};
use uuid::Uuid;

use crate::error::{Result, ServiceError};
use crate::events;
use crate::merchants::Caller;
use crate::status::PaymentStatus;
use crate::writes::Writes;

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
    row::first(payment::Entity::find_by_id(id).lock_exclusive(), conn)
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
    row::first(payment::Entity::find_by_id(id).lock_exclusive(), conn)
        .await?
        .ok_or(ServiceError::NotFound)
}

/// Moves a payment to `to` through the state machine, saving `changed` (amounts etc.) with
/// it, and writes the status-history row and the event, all in the caller's transaction.
pub async fn transition(
    conn: &impl ConnectionTrait,
    current: &payment::Model,
    changed: payment::ActiveModel,
    to: PaymentStatus,
    reason: &str,
    operation_id: Option<Uuid>,
    event_type: &str,
) -> Result<payment::Model> {
    let (updated, writes) =
        plan_transition(current, changed, to, reason, operation_id, event_type)?;
    writes.run(conn).await?;
    Ok(updated)
}

/// The writes of [`transition`] (the payment's update, its history row and its event), to
/// run in one batch, and the payment as they leave it. `changed` starts from the locked
/// row, so every field is known and nothing needs reading back.
pub(crate) fn plan_transition(
    current: &payment::Model,
    changed: payment::ActiveModel,
    to: PaymentStatus,
    reason: &str,
    operation_id: Option<Uuid>,
    event_type: &str,
) -> Result<(payment::Model, Writes)> {
    let moved = plan_move(current, changed, to, reason, operation_id, event_type)?;
    let mut writes = Writes::new();
    writes.add(
        payment::Entity::update(moved.payment)
            .validate()?
            .into_query(),
    );
    if let Some(row) = moved.history {
        writes.add(history::Entity::insert(row).into_query());
    }
    moved.event.add_to(&mut writes)?;
    Ok((moved.updated, writes))
}

/// A move through the state machine as the rows it writes.
pub(crate) struct Move {
    /// The payment as the move leaves it.
    pub updated: payment::Model,
    /// The payment's changed fields (its status, sequence and time among them).
    pub payment: payment::ActiveModel,
    /// The status-history row; none when the status stays.
    pub history: Option<history::ActiveModel>,
    pub event: events::PlannedEvent,
}

/// The rows of a move of `current` to `to`, saving `changed` with it, checked against the
/// state machine.
pub(crate) fn plan_move(
    current: &payment::Model,
    mut changed: payment::ActiveModel,
    to: PaymentStatus,
    reason: &str,
    operation_id: Option<Uuid>,
    event_type: &str,
) -> Result<Move> {
    let from = status_of(current)?;
    if from != to && !from.can_move_to(to) {
        return Err(ServiceError::InvalidState(format!(
            "a {from} payment cannot become {to}"
        )));
    }
    changed.status = Set(to.as_str().into());
    changed.updated_at = Set(crate::db::now());
    changed.event_sequence = Set(current.event_sequence + 1);
    let updated = changed.clone().try_into_model()?;
    let history = (from != to)
        .then(|| history_row(updated.id, (to, reason, operation_id), updated.updated_at));
    let event = events::PlannedEvent::new(event_type, &updated)?;
    Ok(Move {
        updated,
        payment: changed,
        history,
        event,
    })
}

/// Status-history rows in one insert, in the order given, for a batch of [`Writes`].
pub(crate) fn history_insert(
    payment_id: Uuid,
    moves: &[(PaymentStatus, &str, Option<Uuid>)],
) -> InsertStatement {
    let at = crate::db::now();
    let rows = moves.iter().map(|&one| history_row(payment_id, one, at));
    history::Entity::insert_many(rows).into_query()
}

fn history_row(
    payment_id: Uuid,
    (status, reason, operation_id): (PaymentStatus, &str, Option<Uuid>),
    at: chrono::DateTime<chrono::Utc>,
) -> history::ActiveModel {
    history::ActiveModel {
        id: Set(Uuid::now_v7()),
        payment_id: Set(payment_id),
        status: Set(status.as_str().into()),
        reason: Set(Some(reason.to_string())),
        operation_id: Set(operation_id),
        at: Set(at),
    }
}

pub async fn insert_operation(
    conn: &impl ConnectionTrait,
    p: &payment::Model,
    kind: &str,
    amount: i64,
    reason: Option<String>,
) -> Result<operation::Model> {
    let op = new_operation(p, kind, amount, reason);
    let mut writes = Writes::new();
    writes.add(operation_insert(&op));
    writes.run(conn).await?;
    Ok(op)
}

/// A PENDING operation on `p`, as [`insert_operation`] writes it.
pub(crate) fn new_operation(
    p: &payment::Model,
    kind: &str,
    amount: i64,
    reason: Option<String>,
) -> operation::Model {
    let now = crate::db::now();
    operation::Model {
        id: Uuid::now_v7(),
        payment_id: p.id,
        merchant_id: p.merchant_id,
        kind: kind.into(),
        amount,
        status: op_status::PENDING.into(),
        acquirer_reference: p.acquirer_reference.clone(),
        error_code: None,
        error_message: None,
        reason,
        authentication: None,
        attempts: 0,
        created_at: now,
        updated_at: now,
    }
}

pub(crate) fn operation_insert(op: &operation::Model) -> InsertStatement {
    operation::Entity::insert(operation::ActiveModel::from(op.clone())).into_query()
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
    let mut op = new_operation(p, start.kind, start.amount, start.reason);
    op.authentication = start.authentication.map(str::to_string);
    let (_, moved) = plan_transition(
        p,
        changed,
        start.pending,
        start.history,
        Some(op.id),
        start.event,
    )?;
    let job = crate::jobs::new_dispatched(&crate::jobs::JobPayload::AcquirerCall {
        operation_id: op.id,
    })?;
    let mut writes = Writes::new();
    writes.add(operation_insert(&op));
    writes.append(moved);
    writes.add(crate::jobs::insert_statement(&job));
    writes.run(conn).await?;
    Ok((op, job))
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
