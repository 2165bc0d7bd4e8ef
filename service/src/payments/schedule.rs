//! The scheduled moves of the purchase lifecycle, run by the worker's dispatcher every
//! `schedule_interval`: due dates (OVERDUE, EXPIRED), clearing and settlement of captured
//! payments (CLEARED, SETTLED), and the release of holds not captured in time. Each payment
//! moves in its own transaction under its row lock, checked again there, so two workers
//! running the schedule at once move it once.
use chrono::{DateTime, Utc};
use entity::payment;
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionTrait,
};

use super::{lifecycle, lock_any, status_of, transition};
use crate::error::{Result, ServiceError};
use crate::gateway::Gateway;
use crate::status::PaymentStatus::{self, *};

/// Payments moved in one run of each schedule, at most; the rest wait for the next run.
const BATCH: u64 = 500;

/// What one run moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub overdue: u64,
    pub expired: u64,
    pub cleared: u64,
    pub settled: u64,
    pub holds_released: u64,
}

impl Swept {
    pub fn total(&self) -> u64 {
        self.overdue + self.expired + self.cleared + self.settled + self.holds_released
    }
}

fn ago(now: DateTime<Utc>, d: std::time::Duration) -> Result<DateTime<Utc>> {
    chrono::Duration::from_std(d)
        .map(|d| now - d)
        .map_err(|e| ServiceError::Config(format!("schedule interval: {e}")))
}

/// Runs every schedule once.
pub async fn run_schedules(gw: &Gateway) -> Result<Swept> {
    let now = crate::db::now();
    let (overdue, expired) = past_due(gw, now).await?;
    let cleared = advance(
        gw,
        Paid,
        payment::Column::PaidAt,
        ago(now, gw.settings.clearing_after)?,
    )
    .await?;
    let settled = advance(
        gw,
        Cleared,
        payment::Column::ClearedAt,
        ago(now, gw.settings.settlement_after)?,
    )
    .await?;
    let holds_released = release_stale_holds(gw, ago(now, gw.settings.hold_release_after)?).await?;
    Ok(Swept {
        overdue,
        expired,
        cleared,
        settled,
        holds_released,
    })
}

/// Payable payments past their due date: OVERDUE (still payable) or, with a strict due
/// date, EXPIRED (not payable).
async fn past_due(gw: &Gateway, now: DateTime<Utc>) -> Result<(u64, u64)> {
    let payable = [Created, Sent, Viewed].map(|s| s.as_str());
    let rows = payment::Entity::find()
        .filter(payment::Column::DueAt.lte(now))
        .filter(
            Condition::any()
                .add(payment::Column::Status.is_in(payable))
                .add(
                    Condition::all()
                        .add(payment::Column::Status.eq(Overdue.as_str()))
                        .add(payment::Column::DueStrict.eq(true)),
                ),
        )
        .order_by_asc(payment::Column::DueAt)
        .limit(BATCH)
        .all(&gw.db)
        .await?;
    let (mut overdue, mut expired) = (0, 0);
    for row in rows {
        let txn = gw.db.begin().await?;
        let p = lock_any(&txn, row.id).await?;
        let status = status_of(&p)?;
        if !status.is_payable() || p.due_at.is_none_or(|at| at > now) {
            continue;
        }
        let (to, reason, event) = if p.due_strict {
            (
                Expired,
                "past its strict due date: no longer payable",
                "payment.expired",
            )
        } else if status == Overdue {
            continue;
        } else {
            (
                Overdue,
                "past its due date; still payable",
                "payment.overdue",
            )
        };
        transition(&txn, &p, p.clone().into(), to, reason, None, event).await?;
        txn.commit().await?;
        if to == Expired {
            expired += 1;
        } else {
            overdue += 1;
        }
    }
    Ok((overdue, expired))
}

/// PAID card payments captured in full before `cutoff` become CLEARED; CLEARED ones cleared
/// before it become SETTLED.
async fn advance(
    gw: &Gateway,
    from: PaymentStatus,
    since: payment::Column,
    cutoff: DateTime<Utc>,
) -> Result<u64> {
    let to = if from == Paid { Cleared } else { Settled };
    let rows = payment::Entity::find()
        .filter(payment::Column::Status.eq(from.as_str()))
        .filter(since.lte(cutoff))
        .order_by_asc(since)
        .limit(BATCH)
        .all(&gw.db)
        .await?;
    let mut moved = 0;
    for row in rows {
        let txn = gw.db.begin().await?;
        let p = lock_any(&txn, row.id).await?;
        if status_of(&p)? != from || lifecycle::capturable(&p) > 0 {
            continue;
        }
        let now = crate::db::now();
        let mut changed: payment::ActiveModel = p.clone().into();
        let (reason, event) = if to == Cleared {
            changed.cleared_at = Set(Some(now));
            ("cleared by the card network", "payment.cleared")
        } else {
            changed.settled_at = Set(Some(now));
            ("settled: paid out to the merchant", "payment.settled")
        };
        transition(&txn, &p, changed, to, reason, None, event).await?;
        txn.commit().await?;
        moved += 1;
    }
    Ok(moved)
}

/// Holds authorized before `cutoff` and never captured are released.
async fn release_stale_holds(gw: &Gateway, cutoff: DateTime<Utc>) -> Result<u64> {
    let rows = payment::Entity::find()
        .filter(payment::Column::Status.eq(Hold.as_str()))
        .filter(payment::Column::AuthorizedAt.lte(cutoff))
        .order_by_asc(payment::Column::AuthorizedAt)
        .limit(BATCH)
        .all(&gw.db)
        .await?;
    let mut released = 0;
    for p in rows {
        match lifecycle::release_stale_hold(gw, &p).await {
            Ok(()) => released += 1,
            // Captured, released or busy since it was read: nothing to do this time.
            Err(ServiceError::InvalidState(_) | ServiceError::OperationInProgress) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(released)
}
