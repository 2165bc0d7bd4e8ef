//! What the worker does with the acquirer's answers: apply a definite one to the ledger,
//! or note that the answer is not known yet.
use std::sync::OnceLock;

use entity::{job, operation, payment, payment_method};
use sea_orm::sea_query::{
    Alias, Expr, ExprTrait, PostgresQueryBuilder, Query, SelectStatement, UpdateStatement,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, Iterable, QueryFilter,
    QueryResult, QuerySelect, QueryTrait, Set, Statement, TransactionTrait, TryIntoModel,
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

/// An operation waiting for the acquirer's word: the call to make, and the operation and
/// its payment as they were read. [`settle`] applies the answer against that reading when
/// nothing moved since. Not `Debug`: its request carries the card's acquirer token, which
/// must not reach a log.
#[derive(Clone)]
pub struct PendingCall {
    pub operation_id: Uuid,
    pub request: AcquirerRequest,
    pub(super) kind: String,
    pub(super) amount: i64,
    pub(super) error_code: Option<String>,
    pub(super) payment: payment::Model,
}

/// The operation's columns read after the payment's, in this order.
const OPERATION_COLUMNS: [(operation::Column, &str); 5] = [
    (operation::Column::Status, "op_status"),
    (operation::Column::Kind, "op_kind"),
    (operation::Column::Amount, "op_amount"),
    (operation::Column::Authentication, "op_authentication"),
    (operation::Column::ErrorCode, "op_error_code"),
];

/// The acquirer call an operation stands for, or None once it is no longer pending. One
/// query: the payment, the operation and the payment's card. On PostgreSQL the worker's
/// reads that come together go as one statement ([`super::operation_reads`]), or one by one
/// if its batching task has stopped.
pub async fn operation_request(gw: &Gateway, operation_id: Uuid) -> Result<Option<PendingCall>> {
    if let Some(reads) = &gw.operation_reads
        && let Some(read) = reads.read(operation_id).await
    {
        return read;
    }
    let query = operation_requests_query(
        Expr::col((operation::Entity, operation::Column::Id)).eq(operation_id),
    );
    let row = gw
        .autocommit()
        .await?
        .query_one(&query)
        .await?
        .ok_or(ServiceError::NotFound)?;
    pending_call(&row, operation_id)
}

/// The operations' acquirer calls, as [`operation_request`] reads one, in one statement:
/// each found operation's id with its call (None once no longer pending). Operations not
/// found are left out. PostgreSQL only.
pub(crate) async fn operation_requests(
    conn: &impl ConnectionTrait,
    operation_ids: Vec<Uuid>,
) -> Result<Vec<(Uuid, Option<PendingCall>)>> {
    // Each id is looked up by its own probe of the primary key, as the one-id read is: a
    // LATERAL subquery with a LIMIT is planned on its own, for one row. The obvious
    // `WHERE operations.id = ANY($1)` is not safe with the generic plans every connection
    // keeps (`db::connect`): planned while the table was still small (the first charges of
    // a new database), it became a scan of the whole table comparing every row with every
    // id, kept for the connection's life as the table grew (seen in the benchmark, where
    // it cost PostgreSQL more per charge than one read per job had). No form is safe from
    // statistics that say a table is nearly empty: once ANALYZE has recorded that, this one
    // too is planned as scans, until an ANALYZE of the grown table (autovacuum's) makes
    // every connection plan it again.
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            operation_requests_sql(),
            [operation_ids.into()],
        ))
        .await?;
    let id_at = row::WIDTH + OPERATION_COLUMNS.len() + 1;
    rows.iter()
        .map(|row| {
            let operation_id: Uuid = row.try_get_by_index(id_at)?;
            Ok((operation_id, pending_call(row, operation_id)?))
        })
        .collect()
}

/// The statement of [`operation_requests`]; its one parameter is the ids, a `uuid[]`.
/// Public for the test of its plan.
#[doc(hidden)]
pub fn operation_requests_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        let asked = operation_requests_query(
            Expr::col((operation::Entity, operation::Column::Id))
                .equals((Alias::new("asked"), Alias::new("id"))),
        )
        .limit(1)
        .to_string(PostgresQueryBuilder);
        format!("SELECT \"r\".* FROM unnest($1::uuid[]) AS \"asked\"(\"id\"), LATERAL ({asked}) AS \"r\"")
    })
}

/// The read of operations' acquirer calls: the payment's columns, the operation's
/// ([`OPERATION_COLUMNS`]), the card's token, then the operation's id; for the operations
/// `which` selects.
fn operation_requests_query(which: Expr) -> SelectStatement {
    use {operation::Column as O, payment::Column as P, payment_method::Column as M};
    let mut query = Query::select();
    for column in payment::Column::iter() {
        query.expr(Expr::col((payment::Entity, column)));
    }
    for (column, alias) in OPERATION_COLUMNS {
        query.expr_as(Expr::col((operation::Entity, column)), alias);
    }
    query
        .expr_as(Expr::col((payment_method::Entity, M::Token)), "token")
        .expr_as(Expr::col((operation::Entity, O::Id)), "op_id")
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
        .and_where(which)
        .to_owned()
}

/// The acquirer call of one row of [`operation_requests_query`].
fn pending_call(row: &QueryResult, operation_id: Uuid) -> Result<Option<PendingCall>> {
    // The columns after the payment's, by position.
    let after = |i: usize| row::WIDTH + i;
    let op_status: String = row.try_get_by_index(after(0))?;
    if op_status != op_status::PENDING {
        return Ok(None);
    }
    let payment = row::leading(row)?;
    let kind: String = row.try_get_by_index(after(1))?;
    let amount: i64 = row.try_get_by_index(after(2))?;
    let authentication: Option<String> = row.try_get_by_index(after(3))?;
    let error_code: Option<String> = row.try_get_by_index(after(4))?;
    let token: Option<String> = row.try_get_by_index(after(5))?;
    let reference = || {
        payment.acquirer_reference.clone().ok_or_else(|| {
            ServiceError::Internal(format!("payment {} has no acquirer reference", payment.id))
        })
    };
    let request = match kind.as_str() {
        kind::CHARGE | kind::AUTHORIZE => AcquirerRequest::Payment {
            token: token.ok_or_else(|| {
                ServiceError::Internal(format!("payment {} has no payment method", payment.id))
            })?,
            amount,
            currency: payment.currency.clone(),
            capture: kind == kind::CHARGE,
            authentication,
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
    Ok(Some(PendingCall {
        operation_id,
        request,
        kind,
        amount,
        error_code,
        payment,
    }))
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
    // The job is finished in the same statement: whether this copy settles the operation
    // or finds it settled, the job has nothing left to do once this commits.
    let mut finish = Writes::new();
    finish.add(jobs::finish_statement(job_id));
    let mut settle = settle_operation(operation_id, answer, now);
    let settled = finish
        .run_then(&txn, settle.returning_all().to_owned())
        .await?;
    let op = match settled.first() {
        Some(row) => operation::Model::from_query_result(row, "")?,
        None => {
            txn.commit().await?;
            return Ok(p);
        }
    };
    let status = status_of(&p)?;
    let AnswerPlan {
        changed: pay,
        to,
        event,
        reason,
    } = plan_answer(&p, status, &op.kind, op.amount, answer, now)?;
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
        let reason = history_reason(reason, op.error_code.as_deref());
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

/// What an answer does to the payment: the fields it changes, the status it moves to, the
/// event and the history's reason.
pub(super) struct AnswerPlan {
    pub changed: payment::ActiveModel,
    pub to: PaymentStatus,
    pub event: &'static str,
    pub reason: &'static str,
}

/// The plan for `answer` to an operation of `op_kind` and `amount` on `p` (in `status`).
pub(super) fn plan_answer(
    p: &payment::Model,
    status: PaymentStatus,
    op_kind: &str,
    amount: i64,
    answer: &AcquirerAnswer,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<AnswerPlan> {
    let mut pay: payment::ActiveModel = p.clone().into();
    let (to, event, reason) = match answer {
        AcquirerAnswer::Approved(ap) => {
            if matches!(op_kind, kind::CHARGE | kind::AUTHORIZE) {
                // An earlier declined attempt's error no longer describes the payment.
                pay.error_code = Set(None);
                pay.error_message = Set(None);
            }
            match op_kind {
                kind::CHARGE | kind::AUTHORIZE => {
                    pay.acquirer_reference = Set(Some(ap.id.clone()));
                    pay.authorized_amount = Set(amount);
                    pay.authorized_at = Set(Some(now));
                    pay.is_recurring_token = Set(p.force_recurring);
                    if op_kind == kind::CHARGE {
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
                            settled_status(p)
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
            match op_kind {
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
                    settled_status(p),
                    "payment.operation_failed",
                    "operation failed",
                ),
            }
        }
    };
    Ok(AnswerPlan {
        changed: pay,
        to,
        event,
        reason,
    })
}

/// The history's reason for a move an operation made, with its error code if it failed.
pub(super) fn history_reason(reason: &str, error_code: Option<&str>) -> String {
    match error_code {
        Some(code) => format!("{reason}: {code}"),
        None => reason.to_string(),
    }
}

/// The conditional update that settles a pending operation with the acquirer's answer: it
/// finds nothing once the operation is settled, so an answer is settled once.
pub(super) fn settle_operation(
    operation_id: Uuid,
    answer: &AcquirerAnswer,
    now: chrono::DateTime<chrono::Utc>,
) -> UpdateStatement {
    let settle = operation::Entity::update_many()
        .col_expr(operation::Column::UpdatedAt, Expr::value(now))
        .filter(operation::Column::Id.eq(operation_id))
        .filter(operation::Column::Status.eq(op_status::PENDING));
    match answer {
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
    }
    .into_query()
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
    crate::events::add_payment_events(&mut writes, &[(event, &p)])?;
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
