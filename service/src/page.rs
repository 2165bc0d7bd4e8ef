//! Keyset pagination, newest first: a cursor is (created_at, id) of the last row seen, so
//! a page costs the same however deep it is.
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::{Result, ServiceError};

pub const DEFAULT_PAGE: u64 = 20;
pub const MAX_PAGE: u64 = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}|{}", self.created_at.to_rfc3339(), self.id))
    }

    pub fn decode(s: &str) -> Result<Cursor> {
        let bad = || {
            ServiceError::invalid(
                "INVALID_CURSOR",
                &["after"],
                "the cursor is not one this API gave out",
            )
        };
        let raw = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
        let text = String::from_utf8(raw).map_err(|_| bad())?;
        let (at, id) = text.split_once('|').ok_or_else(bad)?;
        Ok(Cursor {
            created_at: DateTime::parse_from_rfc3339(at)
                .map_err(|_| bad())?
                .with_timezone(&Utc),
            id: id.parse().map_err(|_| bad())?,
        })
    }
}

#[derive(Clone, Copy, Debug)]
pub struct PageRequest {
    pub first: u64,
    pub after: Option<Cursor>,
    /// Whether to count every matching row: a full scan on a big table, so only when the
    /// client asked for `totalCount`.
    pub with_total: bool,
}

impl PageRequest {
    pub fn new(first: Option<i32>, after: Option<&str>) -> Result<PageRequest> {
        let first = match first {
            None => DEFAULT_PAGE,
            Some(n) if n >= 1 && i64::from(n) <= MAX_PAGE as i64 => n as u64,
            Some(_) => {
                return Err(ServiceError::invalid(
                    "INVALID_PAGE_SIZE",
                    &["first"],
                    format!("first must be between 1 and {MAX_PAGE}"),
                ));
            }
        };
        Ok(PageRequest {
            first,
            after: after.map(Cursor::decode).transpose()?,
            with_total: true,
        })
    }
}

pub struct Page<T> {
    pub items: Vec<(Cursor, T)>,
    pub has_next_page: bool,
    pub total_count: u64,
}

impl<T> Page<T> {
    /// Builds a page from up to `first + 1` rows: the extra row only says there is more.
    pub fn from_rows(
        mut rows: Vec<T>,
        first: u64,
        total_count: u64,
        cursor: impl Fn(&T) -> Cursor,
    ) -> Page<T> {
        let has_next_page = rows.len() as u64 > first;
        rows.truncate(first as usize);
        Page {
            items: rows.into_iter().map(|r| (cursor(&r), r)).collect(),
            has_next_page,
            total_count,
        }
    }
}

/// One page of `E` rows matching `cond`, newest first, by keyset on (created, id), with the
/// total count. Every list of the API goes through here, or (payments) through its parts:
/// [`total_of`], [`keyset_select`] and [`rows_of`].
pub async fn keyset<E>(
    conn: &impl sea_orm::ConnectionTrait,
    cond: sea_orm::Condition,
    order: Order<E::Column>,
    page: PageRequest,
    cursor: impl Fn(&E::Model) -> Cursor,
) -> Result<Page<E::Model>>
where
    E: sea_orm::EntityTrait,
    E::Model: Send + Sync,
{
    use sea_orm::{FromQueryResult, QueryTrait};
    let total = total_of::<E>(conn, page, || cond.clone()).await?;
    let statement = conn.get_database_backend().build(&keyset_select(
        E::find().into_query(),
        cond,
        order,
        page,
    ));
    let rows = rows_of(conn, statement, page, total, |row| {
        E::Model::from_query_result(row, "")
    })
    .await?;
    Ok(rows.into_page(cursor))
}

/// How a list is ordered: newest first by (created, id). With `fixed`, a column `cond` holds
/// to one value (a list filtered by one status) is named first: that changes nothing in the
/// result but lets PostgreSQL walk the index that starts with it (see `payments::list`).
pub struct Order<C> {
    pub fixed: Option<C>,
    pub created: C,
    pub id: C,
}

impl<C> Order<C> {
    pub fn newest_first(created: C, id: C) -> Order<C> {
        Order {
            fixed: None,
            created,
            id,
        }
    }
}

/// The rows of a page, before their cursors are known.
pub struct Rows<T> {
    rows: Vec<T>,
    first: u64,
    total_count: u64,
}

impl<T> Rows<T> {
    pub fn into_page(self, cursor: impl Fn(&T) -> Cursor) -> Page<T> {
        Page::from_rows(self.rows, self.first, self.total_count, cursor)
    }
}

/// How many rows of `E` match `cond` when the page asks for `totalCount`, else 0 with no
/// query: the count is a scan of them all. `cond` is built only when it is needed.
pub async fn total_of<E: sea_orm::EntityTrait>(
    conn: &impl sea_orm::ConnectionTrait,
    page: PageRequest,
    cond: impl FnOnce() -> sea_orm::Condition,
) -> Result<u64>
where
    E::Model: Send + Sync,
{
    use sea_orm::{PaginatorTrait, QueryFilter};
    if !page.with_total {
        return Ok(0);
    }
    Ok(E::find().filter(cond()).count(conn).await?)
}

/// `select` (the columns and the table, all or some) narrowed to the page: the rows matching
/// `cond` after the cursor, in `order`, one more than the page holds (to tell whether there
/// is a next page). A statement rather than a `Select<E>`, which starts with every column of
/// `E` that a narrow page then drops again.
pub fn keyset_select<C: sea_orm::ColumnTrait>(
    mut select: sea_orm::sea_query::SelectStatement,
    cond: sea_orm::Condition,
    order: Order<C>,
    page: PageRequest,
) -> sea_orm::sea_query::SelectStatement {
    use sea_orm::sea_query::{IntoCondition, Order as Direction};
    use sea_orm::{Condition, IntoSimpleExpr};
    let Order { fixed, created, id } = order;
    let mut cond = cond;
    if let Some(after) = page.after {
        cond = cond.add(
            Condition::any().add(created.lt(after.created_at)).add(
                Condition::all()
                    .add(created.eq(after.created_at))
                    .add(id.lt(after.id)),
            ),
        );
    }
    select.cond_where(cond.into_condition());
    for column in fixed.into_iter().chain([created, id]) {
        select.order_by_expr(column.into_simple_expr(), Direction::Desc);
    }
    select.limit(page.first + 1);
    select
}

/// The rows that `statement` (a page's, as [`keyset_select`] writes it) answers, decoded by
/// `decode`, with the page's `total`.
pub async fn rows_of<T>(
    conn: &impl sea_orm::ConnectionTrait,
    statement: sea_orm::Statement,
    page: PageRequest,
    total: u64,
    decode: impl Fn(&sea_orm::QueryResult) -> std::result::Result<T, sea_orm::DbErr>,
) -> Result<Rows<T>> {
    let results = conn.query_all_raw(statement).await?;
    // Sized up front: collected through `Result`, the rows were reallocated and copied as
    // the vector grew.
    let mut rows = Vec::with_capacity(results.len());
    for result in &results {
        rows.push(decode(result)?);
    }
    Ok(Rows {
        rows,
        first: page.first,
        total_count: total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = Cursor {
            created_at: Utc::now(),
            id: Uuid::now_v7(),
        };
        assert_eq!(Cursor::decode(&c.encode()).ok(), Some(c));
        assert_eq!(Cursor::decode("nope").unwrap_err().code(), "INVALID_CURSOR");
    }

    #[test]
    fn page_sizes_are_bounded() {
        assert_eq!(PageRequest::new(None, None).map(|p| p.first).ok(), Some(20));
        assert_eq!(
            PageRequest::new(Some(101), None).unwrap_err().code(),
            "INVALID_PAGE_SIZE"
        );
        assert_eq!(
            PageRequest::new(Some(0), None).unwrap_err().code(),
            "INVALID_PAGE_SIZE"
        );
    }
}
