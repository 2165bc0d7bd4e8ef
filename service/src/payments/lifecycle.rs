//! Capture, release, refund and cancel. Each checks the amounts against the ledger under the
//! payment's row lock, records a PENDING operation and its job, and waits for the worker.
use entity::operation;
use entity::payment;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, TransactionTrait};
use serde_json::Value;
use uuid::Uuid;

use super::{commit_answer, kind, lock, op_status, status_of, transition};
use crate::error::{Result, ServiceError};
use crate::gateway::Gateway;
use crate::idempotency::{Claim, WithRow};
use crate::merchants::Caller;
use crate::money;
use crate::status::PaymentStatus::{self, *};

/// What an operation will do, decided from the locked payment.
struct Plan {
    kind: &'static str,
    amount: i64,
    pending: PaymentStatus,
    event: &'static str,
    reason: Option<String>,
    /// The card to charge, when the operation brings one (chargePayment).
    payment_method_id: Option<Uuid>,
}

/// The part of the authorization neither captured nor released.
pub fn capturable(p: &payment::Model) -> i64 {
    p.authorized_amount - p.captured_amount - p.released_amount
}

pub fn refundable(p: &payment::Model) -> i64 {
    p.captured_amount - p.refunded_amount
}

fn requested(amount: Option<i64>, default: i64, limit_name: &str) -> Result<i64> {
    let amount = match amount {
        None => default,
        Some(a) => money::positive_amount(a, &["amount"])?,
    };
    if amount > default {
        return Err(ServiceError::invalid(
            "AMOUNT_EXCEEDS_AVAILABLE",
            &["amount"],
            format!("amount {amount} is more than the {default} that remains {limit_name}"),
        ));
    }
    Ok(amount)
}

fn busy_or_invalid(status: PaymentStatus, allowed: &str, what: &str) -> ServiceError {
    if status.is_pending() {
        ServiceError::OperationInProgress
    } else {
        ServiceError::InvalidState(format!(
            "the payment is {status}; only {allowed} payments can be {what}"
        ))
    }
}

/// Starts an operation and waits (up to the charge deadline) for the acquirer's answer.
async fn start(
    gw: &Gateway,
    caller: &Caller,
    id: Uuid,
    claim: Option<Claim>,
    plan: impl FnOnce(&payment::Model, PaymentStatus) -> Result<Plan>,
) -> Result<WithRow<payment::Model>> {
    let (value, op, job) = begin(gw, caller, id, claim, plan).await?;
    let row = gw.push_and_wait(&job, op).await?;
    Ok(WithRow { value, row })
}

/// In one transaction under the payment's lock: the plan, the PENDING operation, the move
/// to the pending status and the job, for the caller to push.
async fn begin(
    gw: &Gateway,
    caller: &Caller,
    id: Uuid,
    claim: Option<Claim>,
    plan: impl FnOnce(&payment::Model, PaymentStatus) -> Result<Plan>,
) -> Result<(Value, Uuid, entity::job::Model)> {
    let txn = gw.db.begin().await?;
    let p = lock(&txn, caller, id).await?;
    let plan = plan(&p, status_of(&p)?)?;
    let history = match &plan.reason {
        Some(why) => format!(
            "{} of {} requested: {why}",
            plan.kind.to_lowercase(),
            plan.amount
        ),
        None => format!("{} of {} requested", plan.kind.to_lowercase(), plan.amount),
    };
    let mut row: payment::ActiveModel = p.clone().into();
    if let Some(method) = plan.payment_method_id {
        row.payment_method_id = Set(Some(method));
    }
    let (op, job) = super::start_operation(
        &txn,
        &p,
        row,
        super::Start {
            kind: plan.kind,
            amount: plan.amount,
            reason: plan.reason,
            authentication: None,
            pending: plan.pending,
            event: plan.event,
            history: &history,
        },
    )
    .await?;
    let value = commit_answer(txn, p.id, claim).await?;
    Ok((value, op.id, job))
}

/// Captures `amount` (default: all that remains authorized); several partial captures are
/// allowed up to the authorized amount.
pub async fn capture(
    gw: &Gateway,
    caller: &Caller,
    id: Uuid,
    amount: Option<i64>,
    claim: Option<Claim>,
) -> Result<WithRow<payment::Model>> {
    start(gw, caller, id, claim, |p, status| {
        if !matches!(status, Hold | Paid) || capturable(p) == 0 {
            return Err(if matches!(status, Hold | Paid) {
                ServiceError::InvalidState("nothing remains authorized to capture".into())
            } else {
                busy_or_invalid(status, "HOLD (or partly captured PAID)", "captured")
            });
        }
        Ok(Plan {
            kind: kind::CAPTURE,
            amount: requested(amount, capturable(p), "authorized")?,
            pending: PendingCapture,
            event: "payment.pending_capture",
            reason: None,
            payment_method_id: None,
        })
    })
    .await
}

/// Releases what remains of a hold (or `amount` of it).
pub async fn release(
    gw: &Gateway,
    caller: &Caller,
    id: Uuid,
    amount: Option<i64>,
    claim: Option<Claim>,
) -> Result<WithRow<payment::Model>> {
    start(gw, caller, id, claim, |p, status| {
        if !matches!(status, Hold | Paid) || capturable(p) == 0 {
            return Err(if matches!(status, Hold | Paid) {
                ServiceError::InvalidState("nothing remains authorized to release".into())
            } else {
                busy_or_invalid(status, "HOLD", "released")
            });
        }
        Ok(Plan {
            kind: kind::RELEASE,
            amount: requested(amount, capturable(p), "authorized")?,
            pending: PendingRelease,
            event: "payment.pending_release",
            reason: None,
            payment_method_id: None,
        })
    })
    .await
}

/// The scheduled release of a hold not captured within `hold_release_after`. It does not
/// wait for the acquirer: the worker finishes it like any release.
pub async fn release_stale_hold(gw: &Gateway, p: &payment::Model) -> Result<()> {
    let caller = Caller::system(p.merchant_id, &p.mode);
    let cutoff = crate::db::now()
        - chrono::Duration::from_std(gw.settings.hold_release_after)
            .map_err(|e| ServiceError::Config(format!("hold release: {e}")))?;
    let (_, _, job) = begin(gw, &caller, p.id, None, |p, status| {
        // Checked again under the lock: it may have been captured or released meanwhile.
        if status != Hold || capturable(p) == 0 || p.authorized_at.is_none_or(|at| at > cutoff) {
            return Err(ServiceError::InvalidState("no longer a stale hold".into()));
        }
        Ok(Plan {
            kind: kind::RELEASE,
            amount: capturable(p),
            pending: PendingRelease,
            event: "payment.pending_release",
            reason: Some("not captured in time: released automatically".into()),
            payment_method_id: None,
        })
    })
    .await?;
    gw.push(&job).await;
    Ok(())
}

/// Refunds `amount` (default: all that remains refundable); never more than was captured.
pub async fn refund(
    gw: &Gateway,
    caller: &Caller,
    id: Uuid,
    amount: Option<i64>,
    reason: Option<String>,
    claim: Option<Claim>,
) -> Result<WithRow<payment::Model>> {
    if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
        return Err(ServiceError::invalid(
            "TOO_LONG",
            &["reason"],
            "reason has at most 500 characters",
        ));
    }
    start(gw, caller, id, claim, |p, status| {
        if !status.is_captured() {
            return Err(busy_or_invalid(
                status,
                "PAID, CLEARED or SETTLED",
                "refunded",
            ));
        }
        if refundable(p) == 0 {
            return Err(ServiceError::InvalidState(
                "nothing remains to refund".into(),
            ));
        }
        let amount = requested(amount, refundable(p), "refundable")?;
        let refused = |m: &str| ServiceError::invalid("REFUND_NOT_AVAILABLE", &["amount"], m);
        match p.refund_availability.as_str() {
            "NONE" => return Err(refused("refunds are not available for this payment")),
            "FULL_ONLY" if p.refunded_amount > 0 || amount != p.captured_amount => {
                return Err(refused(
                    "only a full refund of the captured amount is available",
                ));
            }
            "PARTIAL_ONLY" if amount >= refundable(p) => {
                return Err(refused(
                    "only partial refunds are available: refund less than what remains",
                ));
            }
            _ => {}
        }
        Ok(Plan {
            kind: kind::REFUND,
            amount,
            pending: PendingRefund,
            event: "payment.pending_refund",
            reason,
            payment_method_id: None,
        })
    })
    .await
}

/// Cancels a payment not yet authorized. A cancel that arrives while its authorization is
/// in flight (Payer's race) cancels it at once: if the authorization still goes through,
/// the worker releases it (see `outcome::reverse_after_cancel`).
pub async fn cancel(
    gw: &Gateway,
    caller: &Caller,
    id: Uuid,
    claim: Option<Claim>,
) -> Result<Value> {
    let txn = gw.db.begin().await?;
    let p = lock(&txn, caller, id).await?;
    let status = status_of(&p)?;
    let reason = if status.is_payable() {
        "cancelled by the merchant"
    } else if matches!(status, PendingCharge | PendingExecute)
        && authorization_in_flight(&txn, p.id).await?
    {
        "cancelled by the merchant while the authorization was in flight; it is released if it goes through"
    } else {
        return Err(ServiceError::InvalidState(format!(
            "the payment is {status}; only a payment not yet authorized (CREATED, SENT, VIEWED, OVERDUE, or with its authorization in flight) can be cancelled"
        )));
    };
    transition(
        &txn,
        &p,
        p.clone().into(),
        Cancelled,
        reason,
        None,
        "payment.cancelled",
    )
    .await?;
    commit_answer(txn, p.id, claim).await
}

/// Whether the operation a pending payment waits for is its charge or authorization (and
/// not, say, the capture of an activation).
async fn authorization_in_flight(conn: &impl ConnectionTrait, payment_id: Uuid) -> Result<bool> {
    let pending = operation::Entity::find()
        .filter(operation::Column::PaymentId.eq(payment_id))
        .filter(operation::Column::Status.eq(op_status::PENDING))
        .all(conn)
        .await?;
    Ok(!pending.is_empty()
        && pending
            .iter()
            .all(|op| matches!(op.kind.as_str(), kind::CHARGE | kind::AUTHORIZE)))
}

/// Chip's "sent": records that the merchant sent the buyer the invoice link (CREATED →
/// SENT). Sending again only notes the new time.
pub async fn send(gw: &Gateway, caller: &Caller, id: Uuid, claim: Option<Claim>) -> Result<Value> {
    let txn = gw.db.begin().await?;
    let p = lock(&txn, caller, id).await?;
    let status = status_of(&p)?;
    if !status.is_payable() || p.checkout_code.is_none() {
        return Err(ServiceError::InvalidState(format!(
            "the payment is {status}; only a payment waiting for its buyer (CREATED, SENT, VIEWED, OVERDUE) can be sent"
        )));
    }
    let mut row: payment::ActiveModel = p.clone().into();
    row.sent_at = Set(Some(crate::db::now()));
    let to = if status == Created { Sent } else { status };
    transition(
        &txn,
        &p,
        row,
        to,
        "the invoice link was sent to the buyer",
        None,
        "payment.sent",
    )
    .await?;
    commit_answer(txn, p.id, claim).await
}

/// LiveChat's activate: captures an ACCEPTED charge (PENDING_EXECUTE, then PAID or ERROR).
pub async fn activate(
    gw: &Gateway,
    caller: &Caller,
    id: Uuid,
    claim: Option<Claim>,
) -> Result<WithRow<payment::Model>> {
    start(gw, caller, id, claim, |p, status| {
        if status != Accepted {
            return Err(ServiceError::InvalidState(format!(
                "the payment is {status}; only an ACCEPTED charge can be activated"
            )));
        }
        Ok(Plan {
            kind: kind::CAPTURE,
            amount: capturable(p),
            pending: PendingExecute,
            event: "payment.pending_execute",
            reason: Some("activated by the merchant".into()),
            payment_method_id: None,
        })
    })
    .await
}

/// Chip's `POST /purchases/{id}/charge`: charges a CREATED payment with the card of a
/// recurring token (a payment paid with a remembered card).
pub async fn charge_with_token(
    gw: &Gateway,
    caller: &Caller,
    id: Uuid,
    recurring_token: Uuid,
    claim: Option<Claim>,
) -> Result<WithRow<payment::Model>> {
    let invalid = |code: &'static str, message: &str| {
        ServiceError::invalid(code, &["recurringToken"], message)
    };
    let token = super::get(gw, caller, recurring_token).await.map_err(|_| {
        invalid(
            "INVALID_RECURRING_TOKEN",
            "no payment of this merchant and mode has this id",
        )
    })?;
    if !token.is_recurring_token {
        return Err(invalid(
            "NOT_A_RECURRING_TOKEN",
            "this payment did not save its card as a recurring token",
        ));
    }
    let method = match token.payment_method_id {
        Some(m) => crate::customers::payment_method_any(&gw.db, caller, m)
            .await
            .map_err(|_| invalid("NOT_A_RECURRING_TOKEN", "the token's card was removed"))?,
        None => return Err(invalid("NOT_A_RECURRING_TOKEN", "the token has no card")),
    };
    if crate::customers::is_expired(&method) {
        return Err(invalid("CARD_EXPIRED", "the token's card has expired"));
    }
    start(gw, caller, id, claim, |p, status| {
        if !status.is_payable() {
            return Err(busy_or_invalid(
                status,
                "CREATED (or SENT, VIEWED, OVERDUE)",
                "charged with a recurring token",
            ));
        }
        if p.amount == 0 {
            return Err(ServiceError::invalid(
                "ZERO_AMOUNT",
                &["id"],
                "a zero-amount payment is a card check: the buyer pays it on its hosted page",
            ));
        }
        Ok(Plan {
            kind: kind::CHARGE,
            amount: p.amount,
            pending: PendingCharge,
            event: "payment.pending_charge",
            reason: Some("charged with a recurring token".into()),
            payment_method_id: Some(method.id),
        })
    })
    .await
}
