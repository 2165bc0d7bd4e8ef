//! Settling the acquirer's answer in one statement, when nothing moved since the worker
//! read the operation.
//!
//! The careful way ([`apply_answer`]) is a transaction of five round trips: BEGIN, the
//! payment's row lock, the operation's settling, the payment's move, COMMIT. On a charge
//! that was a third of the statements PostgreSQL ran, and the worker's CPU went mostly on
//! the round trips. Here the same writes go as one statement, each made conditional on two
//! guards that lock, in the careful way's order, the payment (only if its event sequence
//! is still the one read) and then the operation (only if it is still pending). Locking
//! re-reads the newest committed row, so if either moved, the guards find nothing, nothing
//! is written, and the answer takes the careful way: the answer a second copy of the job
//! brings, or one that raced the merchant's cancel, is handled there as before.
use entity::{operation, payment};
use sea_orm::sea_query::{Alias, Expr, LockType, Query};
use sea_orm::{ColumnTrait, DbBackend, EntityTrait, QueryTrait};
use uuid::Uuid;

use super::outcome::{AnswerPlan, PendingCall, history_reason, plan_answer, settle_operation};
use super::{apply_answer, op_status, plan_move, status_of};
use crate::acquirer::AcquirerAnswer;
use crate::error::Result;
use crate::gateway::Gateway;
use crate::jobs;
use crate::writes::{Writes, found, guard, insert_if};

/// Applies a definite answer to the operation of `call`, as [`apply_answer`] does, in one
/// statement when it can. Returns the payment as committed.
pub async fn settle(
    gw: &Gateway,
    call: &PendingCall,
    job_id: Uuid,
    answer: &AcquirerAnswer,
) -> Result<payment::Model> {
    if let Some(p) = settle_at_once(gw, call, job_id, answer).await? {
        return Ok(p);
    }
    apply_answer(gw, call.operation_id, job_id, answer).await
}

/// The one-statement way, on PostgreSQL, for an answer that moves the payment along the
/// state machine. None when it does not apply or the guards found the payment or the
/// operation moved: nothing was written then.
async fn settle_at_once(
    gw: &Gateway,
    call: &PendingCall,
    job_id: Uuid,
    answer: &AcquirerAnswer,
) -> Result<Option<payment::Model>> {
    let p = &call.payment;
    // A paylink's payment also marks its paylink used, in the careful way.
    if gw.db.get_database_backend() != DbBackend::Postgres || p.paylink_id.is_some() {
        return Ok(None);
    }
    let status = status_of(p)?;
    let now = crate::db::now();
    let AnswerPlan {
        changed,
        to,
        event,
        reason,
    } = plan_answer(p, status, &call.kind, call.amount, answer, now)?;
    // A cancelled or closed payment, or a move the state machine refuses: the careful way
    // keeps the answer in the ledger without the move.
    if status.is_terminal() || !status.can_move_to(to) {
        return Ok(None);
    }
    let error_code = match answer {
        AcquirerAnswer::Declined { code, .. } => Some(code.to_ascii_uppercase()),
        AcquirerAnswer::Approved(_) => call.error_code.clone(),
    };
    let reason = history_reason(reason, error_code.as_deref());
    let moved = plan_move(p, changed, to, &reason, Some(call.operation_id), event)?;

    let as_read = Alias::new("payment_as_read");
    let pending = Alias::new("operation_pending");
    let guards = [
        guard(
            &as_read,
            Query::select()
                .column(payment::Column::Id)
                .from(payment::Entity)
                .and_where(payment::Column::Id.eq(p.id))
                .and_where(payment::Column::EventSequence.eq(p.event_sequence))
                .lock(LockType::Update)
                .to_owned(),
        ),
        guard(
            &pending,
            Query::select()
                .column(operation::Column::Id)
                .from(operation::Entity)
                .and_where(operation::Column::Id.eq(call.operation_id))
                .and_where(operation::Column::Status.eq(op_status::PENDING))
                .and_where(found(&as_read))
                .lock(LockType::Update)
                .to_owned(),
        ),
    ];
    let go = found(&pending);
    let mut writes = Writes::new();
    let mut operation = settle_operation(call.operation_id, answer, now);
    operation.and_where(go.clone());
    writes.add(operation);
    let mut job = jobs::finish_statement(job_id);
    job.and_where(go.clone());
    writes.add(job);
    let mut payment = payment::Entity::update(moved.payment)
        .validate()?
        .into_query();
    payment.and_where(go.clone());
    writes.add(payment);
    if let Some(history) = moved.history {
        writes.add(insert_if(history, go.clone())?);
    }
    moved.event.add_if(&mut writes, go)?;
    let answered = Query::select().expr(Expr::val(1)).from(pending).to_owned();
    let settled = writes
        .run_guarded(&gw.autocommit().await?, guards, answered)
        .await?;
    Ok((!settled.is_empty()).then_some(moved.updated))
}
