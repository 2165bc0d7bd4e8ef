//! What the worker does with the acquirer's answers: apply a definite one to the ledger,
//! or note that the answer is not known yet.
use entity::{job, operation, payment, payment_method};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QuerySelect,
    QueryTrait, Set, TransactionTrait, TryIntoModel,
};
use uuid::Uuid;

use super::row;
use super::{kind, op_status, status_of, transition};
use crate::acquirer::{AcquirerAnswer, AcquirerRequest};
use crate::error::{Result, ServiceError};
use crate::gateway::Gateway;
use crate::jobs::{self, JobPayload};
use crate::status::PaymentStatus::{self, *};
use crate::writes::Writes;

/// The acquirer call an operation stands for, or None once it is no longer pending. One
/// query: the operation, its payment and the payment's card.
pub async fn operation_request(
    gw: &Gateway,
    operation_id: Uuid,
) -> Result<Option<AcquirerRequest>> {
    use {operation::Column as O, payment::Column as P, payment_method::Column as M};
    let columns = [
        (Expr::col((operation::Entity, O::Status)), "op_status"),
        (Expr::col((operation::Entity, O::Kind)), "kind"),
        (Expr::col((operation::Entity, O::Amount)), "amount"),
        (
            Expr::col((operation::Entity, O::Authentication)),
            "authentication",
        ),
        (Expr::col((payment::Entity, P::Id)), "payment_id"),
        (Expr::col((payment::Entity, P::Currency)), "currency"),
        (
            Expr::col((payment::Entity, P::AcquirerReference)),
            "reference",
        ),
        (Expr::col((payment_method::Entity, M::Token)), "token"),
    ];
    let mut query = Query::select();
    for (column, alias) in columns {
        query.expr_as(column, alias);
    }
    let query = query
        .from(operation::Entity)
        .inner_join(
            payment::Entity,
            Expr::col((payment::Entity, P::Id)).equals((operation::Entity, O::PaymentId)),
        )
        .left_join(
            payment_method::Entity,
            Expr::col((payment_method::Entity, M::Id))
                .equals((payment::Entity, P::PaymentMethodId)),
        )
        .and_where(Expr::col((operation::Entity, O::Id)).eq(operation_id))
        .to_owned();
    let row = gw
        .db
        .query_one(&query)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let text =
        |name: &str| -> Result<Option<String>> { Ok(row.try_get::<Option<String>>("", name)?) };
    if text("op_status")?.as_deref() != Some(op_status::PENDING) {
        return Ok(None);
    }
    let amount: i64 = row.try_get("", "amount")?;
    let payment_id: Uuid = row.try_get("", "payment_id")?;
    let reference = || {
        text("reference")?.ok_or_else(|| {
            ServiceError::Internal(format!("payment {payment_id} has no acquirer reference"))
        })
    };
    let kind = text("kind")?.unwrap_or_default();
    let req = match kind.as_str() {
        kind::CHARGE | kind::AUTHORIZE => AcquirerRequest::Payment {
            token: text("token")?.ok_or_else(|| {
                ServiceError::Internal(format!("payment {payment_id} has no payment method"))
            })?,
            amount,
            currency: text("currency")?.unwrap_or_default(),
            capture: kind == kind::CHARGE,
            authentication: text("authentication")?,
        },
        kind::CAPTURE => AcquirerRequest::Capture {
            reference: reference()?,
            amount,
        },
        kind::RELEASE => AcquirerRequest::Release {
            reference: reference()?,
            amount,
        },
        kind::REFUND => AcquirerRequest::Refund {
            reference: reference()?,
            amount,
        },
        other => {
            return Err(ServiceError::Internal(format!(
                "unknown operation kind {other}"
            )));
        }
    };
    Ok(Some(req))
}

/// The status a payment returns to when an operation on it ends without closing it: where
/// its captured money stands in clearing (PAID, CLEARED, SETTLED), or HOLD.
pub(crate) fn settled_status(p: &payment::Model) -> PaymentStatus {
    if p.settled_at.is_some() {
        Settled
    } else if p.cleared_at.is_some() {
        Cleared
    } else if p.captured_amount > 0 {
        Paid
    } else {
        Hold
    }
}

/// Applies a definite answer: the operation, the payment's amounts and status, the history
/// and the event, and the job's completion, in one transaction. Applying twice is a no-op.
/// Returns the payment as committed.
pub async fn apply_answer(
    gw: &Gateway,
    operation_id: Uuid,
    job_id: Uuid,
    answer: &AcquirerAnswer,
) -> Result<payment::Model> {
    let txn = gw.db.begin().await?;
    // The payment's row lock first; the operation is settled after it, by a conditional
    // update. A copy of this job that applied the answer meanwhile has committed by then,
    // so the update finds the operation no longer pending and nothing is applied twice.
    let locked = payment::Entity::find()
        .filter(
            payment::Column::Id.in_subquery(
                Query::select()
                    .column(operation::Column::PaymentId)
                    .from(operation::Entity)
                    .and_where(Expr::col(operation::Column::Id).eq(operation_id))
                    .to_owned(),
            ),
        )
        .lock_exclusive();
    let p = row::first(locked, &txn)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let now = crate::db::now();
    let settle = operation::Entity::update_many()
        .col_expr(operation::Column::UpdatedAt, Expr::value(now))
        .filter(operation::Column::Id.eq(operation_id))
        .filter(operation::Column::Status.eq(op_status::PENDING));
    let settle = match answer {
        AcquirerAnswer::Approved(ap) => settle
            .col_expr(operation::Column::Status, Expr::value(op_status::SUCCEEDED))
            .col_expr(
                operation::Column::AcquirerReference,
                Expr::value(ap.id.clone()),
            ),
        AcquirerAnswer::Declined { code, message, .. } => settle
            .col_expr(operation::Column::Status, Expr::value(op_status::FAILED))
            .col_expr(
                operation::Column::ErrorCode,
                Expr::value(code.to_ascii_uppercase()),
            )
            .col_expr(
                operation::Column::ErrorMessage,
                Expr::value(message.clone()),
            ),
    };
    // The job is finished in the same statement: whether this copy settles the operation
    // or finds it settled, the job has nothing left to do once this commits.
    let mut finish = Writes::new();
    finish.add(jobs::finish_statement(job_id));
    let settled = finish
        .run_then(&txn, settle.into_query().returning_all().to_owned())
        .await?;
    let op = match settled.first() {
        Some(row) => operation::Model::from_query_result(row, "")?,
        None => {
            txn.commit().await?;
            return Ok(p);
        }
    };
    let mut pay: payment::ActiveModel = p.clone().into();
    let status = status_of(&p)?;
    let (to, event, reason) = match answer {
        AcquirerAnswer::Approved(ap) => {
            if matches!(op.kind.as_str(), kind::CHARGE | kind::AUTHORIZE) {
                // An earlier declined attempt's error no longer describes the payment.
                pay.error_code = Set(None);
                pay.error_message = Set(None);
            }
            let amount = op.amount;
            match op.kind.as_str() {
                kind::CHARGE | kind::AUTHORIZE => {
                    pay.acquirer_reference = Set(Some(ap.id.clone()));
                    pay.authorized_amount = Set(amount);
                    pay.authorized_at = Set(Some(now));
                    pay.is_recurring_token = Set(p.force_recurring);
                    if op.kind == kind::CHARGE {
                        pay.captured_amount = Set(amount);
                        pay.paid_at = Set(Some(now));
                        (Paid, "payment.paid", "charged")
                    } else if p.require_confirmation {
                        (
                            Accepted,
                            "payment.accepted",
                            "accepted by the buyer; authorized",
                        )
                    } else if amount == 0 {
                        // A zero-amount authorization checks the card, which is kept.
                        pay.is_recurring_token = Set(true);
                        (
                            Preauthorized,
                            "payment.preauthorized",
                            "card checked by a zero-amount authorization; card saved",
                        )
                    } else {
                        (Hold, "payment.hold", "authorized")
                    }
                }
                kind::CAPTURE => {
                    pay.captured_amount = Set(p.captured_amount + amount);
                    if p.captured_amount + amount + p.released_amount == p.authorized_amount {
                        pay.paid_at = Set(Some(now));
                    }
                    if status == PendingExecute {
                        (Paid, "payment.paid", "activated: captured")
                    } else {
                        (Paid, "payment.captured", "captured")
                    }
                }
                kind::RELEASE => {
                    pay.released_amount = Set(p.released_amount + amount);
                    let left = p.authorized_amount - p.captured_amount - p.released_amount - amount;
                    if left == 0 && p.captured_amount > 0 {
                        pay.paid_at = Set(Some(now));
                    }
                    let to = if p.captured_amount > 0 {
                        Paid
                    } else if left > 0 {
                        Hold
                    } else {
                        Released
                    };
                    (to, "payment.released", "released")
                }
                kind::REFUND => {
                    let refunded = p.refunded_amount + amount;
                    pay.refunded_amount = Set(refunded);
                    (
                        if refunded == p.captured_amount {
                            Refunded
                        } else {
                            settled_status(&p)
                        },
                        "payment.refunded",
                        "refunded",
                    )
                }
                other => {
                    return Err(ServiceError::Internal(format!(
                        "unknown operation kind {other}"
                    )));
                }
            }
        }
        AcquirerAnswer::Declined { code, message, .. } => {
            let code = code.to_ascii_uppercase();
            match op.kind.as_str() {
                kind::CHARGE | kind::AUTHORIZE => {
                    pay.error_code = Set(Some(code.clone()));
                    pay.error_message = Set(Some(message.clone()));
                    if code == "FRAUDULENT" {
                        (Blocked, "payment.blocked", "blocked as fraud")
                    } else if p.require_confirmation {
                        // The buyer may accept again with another card.
                        (
                            PendingConfirmation,
                            "payment.payment_failure",
                            "declined; the buyer may try again",
                        )
                    } else if p.checkout_code.is_some() || p.paylink_id.is_some() {
                        // The buyer on the hosted page may try another card.
                        (
                            Created,
                            "payment.payment_failure",
                            "declined; payable again",
                        )
                    } else {
                        (Error, "payment.payment_failure", "declined")
                    }
                }
                kind::CAPTURE if status == PendingExecute => {
                    pay.error_code = Set(Some(code.clone()));
                    pay.error_message = Set(Some(message.clone()));
                    (Error, "payment.payment_failure", "activation failed")
                }
                _ => (
                    settled_status(&p),
                    "payment.operation_failed",
                    "operation failed",
                ),
            }
        }
    };
    let committed = if status == Cancelled && matches!(answer, AcquirerAnswer::Approved(_)) {
        // Payer's race: the merchant cancelled while this was in flight. The payment stays
        // CANCELLED; its ledger records the money, and what was taken is given back.
        if matches!(op.kind.as_str(), kind::CHARGE | kind::AUTHORIZE) {
            let p = save_amounts(
                &txn,
                pay,
                p.event_sequence,
                &op,
                "payment.authorized_after_cancel",
            )
            .await?;
            reverse_after_cancel(&txn, &p, &op).await?;
            p
        } else {
            save_amounts(&txn, pay, p.event_sequence, &op, event).await?
        }
    } else if status.is_terminal() || !status.can_move_to(to) {
        // A late answer never moves a payment out of a terminal status; it is kept in the
        // ledger for reconciliation.
        tracing::warn!(payment_id = %p.id, %status, %to, "late acquirer answer left the status as it was");
        p
    } else {
        let reason = match (&op.error_code, reason) {
            (Some(code), r) => format!("{r}: {code}"),
            (None, r) => r.to_string(),
        };
        let updated = transition(&txn, &p, pay, to, &reason, Some(op.id), event).await?;
        if matches!(to, Paid | Hold | Preauthorized)
            && matches!(op.kind.as_str(), kind::CHARGE | kind::AUTHORIZE)
        {
            crate::checkout::after_success(&txn, &updated).await?;
        }
        updated
    };
    txn.commit().await?;
    Ok(committed)
}

/// Saves a terminal payment's amounts without moving its status, with the event.
async fn save_amounts(
    conn: &impl ConnectionTrait,
    mut pay: payment::ActiveModel,
    sequence: i64,
    op: &operation::Model,
    event: &str,
) -> Result<payment::Model> {
    pay.updated_at = Set(crate::db::now());
    pay.event_sequence = Set(sequence + 1);
    let p = pay.clone().try_into_model()?;
    let mut writes = Writes::new();
    writes.add(payment::Entity::update(pay).validate()?.into_query());
    writes.add(crate::events::payment_events_insert(&[(event, &p)]));
    writes.run(conn).await?;
    tracing::info!(payment_id = %p.id, operation_id = %op.id, kind = %op.kind, "a cancelled payment's ledger updated");
    Ok(p)
}

/// An authorization (or charge) that went through after its payment was cancelled: a
/// release (or refund) of all of it, sent like any other operation.
async fn reverse_after_cancel(
    conn: &impl ConnectionTrait,
    p: &payment::Model,
    op: &operation::Model,
) -> Result<()> {
    let (reverse, amount) = if op.kind == kind::CHARGE {
        (kind::REFUND, p.captured_amount - p.refunded_amount)
    } else {
        (kind::RELEASE, super::capturable(p))
    };
    if amount <= 0 {
        return Ok(());
    }
    let reason = format!(
        "the {} went through after the payment was cancelled: given back automatically",
        op.kind.to_lowercase()
    );
    let undo = super::insert_operation(conn, p, reverse, amount, Some(reason)).await?;
    jobs::insert(
        conn,
        &JobPayload::AcquirerCall {
            operation_id: undo.id,
        },
        crate::db::now(),
    )
    .await?;
    Ok(())
}

/// The acquirer gave no definite answer: count the attempt (so the waiting mutation answers
/// with the pending status) and have the job ask again after `delay`.
pub async fn mark_inconclusive(
    gw: &Gateway,
    operation_id: Uuid,
    job: &job::Model,
    delay: std::time::Duration,
    error: &str,
) -> Result<()> {
    let txn = gw.db.begin().await?;
    let counted = operation::Entity::update_many()
        .col_expr(
            operation::Column::Attempts,
            Expr::col(operation::Column::Attempts).add(1),
        )
        .col_expr(operation::Column::UpdatedAt, Expr::value(crate::db::now()))
        .filter(operation::Column::Id.eq(operation_id))
        .exec(&txn)
        .await?;
    if counted.rows_affected == 0 {
        return Err(ServiceError::NotFound);
    }
    let run_at = crate::db::now()
        + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::seconds(5));
    jobs::reschedule(
        &txn,
        job,
        &JobPayload::ResolveOperation { operation_id },
        run_at,
        Some(error),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}
