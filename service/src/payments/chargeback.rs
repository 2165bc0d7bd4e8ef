//! Chargebacks: the acquirer notifies that the card holder's bank took a payment's money
//! back. The payment becomes CHARGEBACK, with the amount in its ledger as an operation.
use entity::{operation, payment};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QuerySelect, Set, TransactionTrait,
};
use uuid::Uuid;

use super::{kind, op_status, status_of, transition};
use crate::error::{Result, ServiceError};
use crate::gateway::Gateway;
use crate::status::PaymentStatus::*;

/// What the acquirer's notification says.
#[derive(Clone, Debug)]
pub struct ChargebackNotice {
    /// The acquirer's payment id (the payment's `acquirer_reference`).
    pub acquirer_reference: String,
    pub amount: i64,
    pub currency: String,
    pub reason: String,
}

/// Records a chargeback once: a second notice of the same payment changes nothing. A
/// payment with an operation in flight answers OperationInProgress, so the acquirer sends
/// the notice again later.
pub async fn chargeback(gw: &Gateway, notice: &ChargebackNotice) -> Result<payment::Model> {
    let txn = gw.db.begin().await?;
    let p = payment::Entity::find()
        .filter(payment::Column::AcquirerReference.eq(notice.acquirer_reference.as_str()))
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let status = status_of(&p)?;
    if status == Chargeback {
        return Ok(p);
    }
    if status.is_pending() {
        return Err(ServiceError::OperationInProgress);
    }
    if !status.is_captured() {
        return Err(ServiceError::InvalidState(format!(
            "the payment is {status}; only captured money (PAID, CLEARED, SETTLED) can be charged back"
        )));
    }
    if notice.currency != p.currency || notice.amount <= 0 {
        return Err(ServiceError::invalid(
            "INVALID_NOTIFICATION",
            &["amount"],
            format!(
                "a chargeback of {} {} does not fit a payment in {}",
                notice.amount, notice.currency, p.currency
            ),
        ));
    }
    let amount = notice.amount.min(p.captured_amount - p.refunded_amount);
    let now = crate::db::now();
    let op = operation::ActiveModel {
        id: Set(Uuid::now_v7()),
        payment_id: Set(p.id),
        merchant_id: Set(p.merchant_id),
        kind: Set(kind::CHARGEBACK.into()),
        amount: Set(amount),
        status: Set(op_status::SUCCEEDED.into()),
        acquirer_reference: Set(Some(notice.acquirer_reference.clone())),
        error_code: Set(None),
        error_message: Set(None),
        reason: Set(Some(notice.reason.chars().take(200).collect())),
        authentication: Set(None),
        attempts: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let mut changed: payment::ActiveModel = p.clone().into();
    changed.chargeback_amount = Set(amount);
    let reason = format!(
        "charged back by the card holder's bank ({})",
        op.reason.as_deref().unwrap_or("no reason given")
    );
    let p = transition(
        &txn,
        &p,
        changed,
        Chargeback,
        &reason,
        Some(op.id),
        "payment.chargeback",
    )
    .await?;
    txn.commit().await?;
    Ok(p)
}
