//! Reading payments: one, a filtered page, and their items, operations and history.
use chrono::{DateTime, Utc};
use entity::{operation, payment, payment_item, status_history};
use sea_orm::sea_query::{Query, SelectStatement};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Statement,
};
use uuid::Uuid;

use super::page_sql::{self, Shape};
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
/// defaults, so `columns` must hold every column the caller will look at. Boxed, as
/// `row::only` reads them.
pub async fn list(
    gw: &Gateway,
    caller: &Caller,
    filter: &PaymentFilter,
    page: PageRequest,
    columns: Columns,
) -> Result<Page<Box<payment::Model>>> {
    // The cursor's columns, whatever the caller asked for.
    let columns = columns
        .with(payment::Column::CreatedAt)
        .with(payment::Column::Id);
    let conn = gw.autocommit().await?;
    let backend = conn.get_database_backend();
    let shape = Shape::of(backend, filter, &page, columns);
    let values = page_sql::values(caller.merchant_id, caller.mode.as_str(), filter, &page);
    let total =
        crate::page::total_of::<payment::Entity>(&conn, page, || conditions(caller, filter))
            .await?;
    let statement = match page_sql::text(&shape) {
        Some(sql) => Statement::from_sql_and_values(backend, sql, values),
        None => {
            let (cond, order) = (conditions(caller, filter), order_of(filter));
            let built = backend.build(&crate::page::keyset_select(
                select(columns),
                cond,
                order,
                page,
            ));
            page_sql::keep(shape, &built.sql, built.values.as_ref(), &values);
            built
        }
    };
    let rows =
        crate::page::rows_of(&conn, statement, page, total, |res| row::only(res, columns)).await?;
    Ok(rows.into_page(|r| Cursor {
        created_at: r.created_at,
        id: r.id,
    }))
}

/// What the caller's payments matching `filter` hold to. The values' order here is the one
/// `page_sql::values` lists.
fn conditions(caller: &Caller, filter: &PaymentFilter) -> Condition {
    let mut cond = Condition::all()
        .add(payment::Column::MerchantId.eq(caller.merchant_id))
        .add(payment::Column::Mode.eq(caller.mode.as_str()));
    // One status is written as a range, not an equality, and named first in the order:
    // with `status = $1` PostgreSQL drops the status from the order as constant and, when
    // most of the merchant's payments have that status, walks the date index and skips
    // every newer payment of another status (the cost of a page then grows with them). The
    // range keeps the status in the order, which only ix_payments_status can give.
    if let Some(statuses) = &filter.status {
        match statuses.as_slice() {
            [] => {}
            [only] => {
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
    cond
}

/// Newest first; with one status, the status first (see `conditions`).
fn order_of(filter: &PaymentFilter) -> Order<payment::Column> {
    let one_status = matches!(filter.status.as_deref(), Some([_]));
    Order {
        fixed: one_status.then_some(payment::Column::Status),
        created: payment::Column::CreatedAt,
        id: payment::Column::Id,
    }
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
    use crate::merchants::Mode;

    /// Every shape of page, each with two sets of values (other merchant, mode, filters'
    /// values, cursor and size).
    fn pages() -> Vec<[(Caller, PaymentFilter, PageRequest); 2]> {
        use chrono::TimeZone;
        let at = |s| Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap();
        let caller = |mode| Caller {
            merchant_id: Uuid::now_v7(),
            mode,
            api_key_id: Uuid::now_v7(),
        };
        let statuses: [&[PaymentStatus]; 4] = [
            &[],
            &[PaymentStatus::Paid],
            &[PaymentStatus::Paid, PaymentStatus::Hold],
            &[
                PaymentStatus::Created,
                PaymentStatus::Hold,
                PaymentStatus::Refunded,
            ],
        ];
        let mut pages = vec![];
        for status in [None].into_iter().chain(statuses.map(Some)) {
            for set in 0..32u32 {
                let on = |bit: u32| set & (1 << bit) != 0;
                let one = |n: i64, mode| {
                    let filter = PaymentFilter {
                        status: status.map(|s| {
                            let mut s = s.to_vec();
                            let by = n as usize % s.len().max(1);
                            s.rotate_left(by);
                            s
                        }),
                        customer_id: on(0).then(Uuid::now_v7),
                        client_reference: on(1).then(|| format!("ref-{n}")),
                        created_after: on(2).then(|| at(n)),
                        created_before: on(3).then(|| at(1000 + n)),
                    };
                    let page = PageRequest {
                        first: 10 + n as u64,
                        after: on(4).then(|| crate::page::Cursor {
                            created_at: at(500 + n),
                            id: Uuid::now_v7(),
                        }),
                        with_total: false,
                    };
                    (caller(mode), filter, page)
                };
                pages.push([one(1, Mode::Test), one(2, Mode::Live)]);
            }
        }
        pages
    }

    fn built(
        backend: DbBackend,
        (caller, filter, page): &(Caller, PaymentFilter, PageRequest),
        columns: Columns,
    ) -> Statement {
        backend.build(&crate::page::keyset_select(
            select(columns),
            conditions(caller, filter),
            order_of(filter),
            *page,
        ))
    }

    #[test]
    fn a_kept_page_text_with_listed_values_is_the_statement_sea_query_builds() {
        let some = Columns::NONE
            .with(payment::Column::Id)
            .with(payment::Column::Status)
            .with(payment::Column::CreatedAt);
        for backend in [DbBackend::Postgres, DbBackend::Sqlite] {
            for columns in [Columns::ALL, some] {
                for [a, b] in pages() {
                    let shape = Shape::of(backend, &a.1, &a.2, columns);
                    assert_eq!(shape, Shape::of(backend, &b.1, &b.2, columns));
                    let (first, second) =
                        (built(backend, &a, columns), built(backend, &b, columns));
                    // The text depends on the shape alone …
                    assert_eq!(first.sql, second.sql);
                    // … and the values sea-query binds are those listed, in its order.
                    for ((caller, filter, page), statement) in [(&a, &first), (&b, &second)] {
                        let listed = page_sql::values(
                            caller.merchant_id,
                            caller.mode.as_str(),
                            filter,
                            page,
                        );
                        assert_eq!(
                            statement.values.as_ref().map(|v| v.0.clone()),
                            Some(listed.clone()),
                            "{}",
                            statement.sql
                        );
                        assert_eq!(
                            &Statement::from_sql_and_values(backend, first.sql.clone(), listed),
                            statement
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_text_whose_values_differ_from_the_listed_ones_is_not_kept() {
        let [(caller, filter, page), _] = pages().swap_remove(40);
        let shape = Shape::of(DbBackend::Postgres, &filter, &page, Columns::ALL);
        let statement = built(
            DbBackend::Postgres,
            &(caller, filter.clone(), page),
            Columns::ALL,
        );
        let mut listed = page_sql::values(caller.merchant_id, caller.mode.as_str(), &filter, &page);
        listed.swap(0, 1);
        assert!(!page_sql::keep(
            shape,
            &statement.sql,
            statement.values.as_ref(),
            &listed
        ));
        assert_eq!(page_sql::text(&shape), None);
        listed.swap(0, 1);
        assert!(page_sql::keep(
            shape,
            &statement.sql,
            statement.values.as_ref(),
            &listed
        ));
        assert_eq!(page_sql::text(&shape), Some(statement.sql));
    }

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
