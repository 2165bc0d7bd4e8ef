//! Capture, release, refund and cancel. Each checks the amounts against the ledger under the
//! payment's row lock, records a PENDING operation and its job, and waits for the worker.
use chrono::Utc;
use entity::payment;
use sea_orm::{Set, TransactionTrait};
use serde_json::Value;
use uuid::Uuid;

use super::{answer, insert_operation, kind, lock, status_of, transition};
use crate::error::{Result, ServiceError};
use crate::gateway::Gateway;
use crate::idempotency::Claim;
use crate::jobs::{self, JobPayload};
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

async fn start(
    gw: &Gateway,
    caller: &Caller,
    id: Uuid,
    claim: Option<Claim>,
    plan: impl FnOnce(&payment::Model, PaymentStatus) -> Result<Plan>,
) -> Result<Value> {
    let txn = gw.db.begin().await?;
    let p = lock(&txn, caller, id).await?;
    let plan = plan(&p, status_of(&p)?)?;
    let op = insert_operation(&txn, &p, plan.kind, plan.amount, plan.reason.clone()).await?;
    let reason = format!("{} of {} requested", plan.kind.to_lowercase(), plan.amount);
    let mut row: payment::ActiveModel = p.clone().into();
    if let Some(method) = plan.payment_method_id {
        row.payment_method_id = Set(Some(method));
    }
    transition(
        &txn,
        &p,
        row,
        plan.pending,
        &reason,
        Some(op.id),
        plan.event,
    )
    .await?;
    let job = jobs::insert(
        &txn,
        &JobPayload::AcquirerCall {
            operation_id: op.id,
        },
        Utc::now(),
    )
    .await?;
    let value = answer(p.id);
    if let Some(claim) = claim {
        claim.complete(&txn, &value).await?;
    }
    txn.commit().await?;
    gw.dispatch(job.id).await;
    gw.wait_for_operation(op.id).await?;
    Ok(value)
}

/// Captures `amount` (default: all that remains authorized); several partial captures are
/// allowed up to the authorized amount.
pub async fn capture(
    gw: &Gateway,
    caller: &Caller,
    id: Uuid,
    amount: Option<i64>,
    claim: Option<Claim>,
) -> Result<Value> {
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
) -> Result<Value> {
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

/// Refunds `amount` (default: all that remains refundable); never more than was captured.
pub async fn refund(
    gw: &Gateway,
    caller: &Caller,
    id: Uuid,
    amount: Option<i64>,
    reason: Option<String>,
    claim: Option<Claim>,
) -> Result<Value> {
    if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
        return Err(ServiceError::invalid(
            "TOO_LONG",
            &["reason"],
            "reason has at most 500 characters",
        ));
    }
    start(gw, caller, id, claim, |p, status| {
        if status != Paid {
            return Err(busy_or_invalid(status, "PAID", "refunded"));
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

/// Cancels a payment that was never sent to the acquirer.
pub async fn cancel(
    gw: &Gateway,
    caller: &Caller,
    id: Uuid,
    claim: Option<Claim>,
) -> Result<Value> {
    let txn = gw.db.begin().await?;
    let p = lock(&txn, caller, id).await?;
    let status = status_of(&p)?;
    if status != Created {
        return Err(ServiceError::InvalidState(format!(
            "the payment is {status}; only a payment not yet authorized (CREATED) can be cancelled"
        )));
    }
    transition(
        &txn,
        &p,
        p.clone().into(),
        Cancelled,
        "cancelled by the merchant",
        None,
        "payment.cancelled",
    )
    .await?;
    let value = answer(p.id);
    if let Some(claim) = claim {
        claim.complete(&txn, &value).await?;
    }
    txn.commit().await?;
    Ok(value)
}

/// LiveChat's activate: captures an ACCEPTED charge (PENDING_EXECUTE, then PAID or ERROR).
pub async fn activate(
    gw: &Gateway,
    caller: &Caller,
    id: Uuid,
    claim: Option<Claim>,
) -> Result<Value> {
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
) -> Result<Value> {
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
        if status != Created {
            return Err(busy_or_invalid(
                status,
                "CREATED",
                "charged with a recurring token",
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
