//! Reading payments: one, a filtered page, and their items, operations and history.
use chrono::{DateTime, Utc};
use entity::{operation, payment, payment_item, status_history};
use sea_orm::sea_query::{Query, SelectStatement};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::row::{self, Columns};
use crate::error::{Result, ServiceError};
use crate::gateway::Gateway;
use crate::merchants::Caller;
use crate::page::{Cursor, Order, Page, PageRequest};
use crate::status::PaymentStatus;

/// The caller's payment, or NOT_FOUND (also for another merchant's or mode's payment).
pub async fn get(gw: &Gateway, caller: &Caller, id: Uuid) -> Result<payment::Model> {
    row::first(payment::Entity::find_by_id(id), &gw.autocommit().await?)
        .await?
        .filter(|row| caller.owns(row.merchant_id, &row.mode))
        .ok_or(ServiceError::NotFound)
}

#[derive(Clone, Debug, Default)]
pub struct PaymentFilter {
    pub status: Option<Vec<PaymentStatus>>,
    pub customer_id: Option<Uuid>,
    pub client_reference: Option<String>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
}

/// A page of payments, newest first, by keyset on (created_at, id). Only the `columns`
/// asked for (and the cursor's) are read; the payments' other fields are left at their
/// defaults, so `columns` must hold every column the caller will look at.
pub async fn list(
    gw: &Gateway,
    caller: &Caller,
    filter: &PaymentFilter,
    page: PageRequest,
    columns: Columns,
) -> Result<Page<payment::Model>> {
    let mut cond = Condition::all()
        .add(payment::Column::MerchantId.eq(caller.merchant_id))
        .add(payment::Column::Mode.eq(caller.mode.as_str()));
    // One status is written as a range, not an equality, and named first in the order:
    // with `status = $1` PostgreSQL drops the status from the order as constant and, when
    // most of the merchant's payments have that status, walks the date index and skips
    // every newer payment of another status (the cost of a page then grows with them). The
    // range keeps the status in the order, which only ix_payments_status can give.
    let mut one_status = false;
    if let Some(statuses) = &filter.status {
        match statuses.as_slice() {
            [] => {}
            [only] => {
                one_status = true;
                cond = cond.add(payment::Column::Status.between(only.as_str(), only.as_str()));
            }
            many => {
                cond = cond.add(payment::Column::Status.is_in(many.iter().map(|s| s.as_str())));
            }
        }
    }
    if let Some(c) = filter.customer_id {
        cond = cond.add(payment::Column::CustomerId.eq(c));
    }
    if let Some(r) = &filter.client_reference {
        cond = cond.add(payment::Column::ClientReference.eq(r.clone()));
    }
    if let Some(t) = filter.created_after {
        cond = cond.add(payment::Column::CreatedAt.gte(t));
    }
    if let Some(t) = filter.created_before {
        cond = cond.add(payment::Column::CreatedAt.lt(t));
    }
    // The cursor's columns, whatever the caller asked for.
    let columns = columns
        .with(payment::Column::CreatedAt)
        .with(payment::Column::Id);
    let order = Order {
        fixed: one_status.then_some(payment::Column::Status),
        created: payment::Column::CreatedAt,
        id: payment::Column::Id,
    };
    let rows = crate::page::keyset_of::<payment::Entity, _>(
        &gw.autocommit().await?,
        select(columns),
        cond,
        order,
        page,
        |res| row::only(res, columns),
    )
    .await?;
    Ok(rows.into_page(|r| Cursor {
        created_at: r.created_at,
        id: r.id,
    }))
}

/// `SELECT` of `columns` `FROM payments`, each column by its name, as sea-orm's
/// `find().select_only().columns(…)` writes it (a test compares the two) without first
/// listing all 41 columns and dropping them.
fn select(columns: Columns) -> SelectStatement {
    Query::select()
        .columns(columns.columns().map(|c| (payment::Entity, c)))
        .from(payment::Entity)
        .to_owned()
}

pub async fn items(gw: &Gateway, payment_id: Uuid) -> Result<Vec<payment_item::Model>> {
    Ok(payment_item::Entity::find()
        .filter(payment_item::Column::PaymentId.eq(payment_id))
        .order_by_asc(payment_item::Column::Position)
        .all(&gw.autocommit().await?)
        .await?)
}

/// The ledger, oldest first.
pub async fn operations(gw: &Gateway, payment_id: Uuid) -> Result<Vec<operation::Model>> {
    Ok(operation::Entity::find()
        .filter(operation::Column::PaymentId.eq(payment_id))
        .order_by_asc(operation::Column::CreatedAt)
        .order_by_asc(operation::Column::Id)
        .all(&gw.autocommit().await?)
        .await?)
}

pub async fn status_history(gw: &Gateway, payment_id: Uuid) -> Result<Vec<status_history::Model>> {
    Ok(status_history::Entity::find()
        .filter(status_history::Column::PaymentId.eq(payment_id))
        .order_by_asc(status_history::Column::At)
        .order_by_asc(status_history::Column::Id)
        .all(&gw.autocommit().await?)
        .await?)
}

#[cfg(test)]
mod tests {
    use sea_orm::{DbBackend, QuerySelect, QueryTrait};

    use super::*;

    #[test]
    fn a_page_selects_its_columns_as_sea_orm_would() {
        let some = Columns::NONE
            .with(payment::Column::Id)
            .with(payment::Column::Status)
            .with(payment::Column::Metadata);
        for columns in [Columns::ALL, some] {
            let orm = payment::Entity::find()
                .select_only()
                .columns(columns.columns())
                .into_query();
            assert_eq!(
                DbBackend::Postgres.build(&select(columns)).to_string(),
                DbBackend::Postgres.build(&orm).to_string()
            );
        }
    }
}
