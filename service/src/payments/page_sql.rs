//! The SQL of a page of payments, written once per shape of page. sea-query builds a page's
//! statement from a tree of expressions, allocated, rendered and dropped again for every
//! page: about 7 % of `serve`'s instructions on a page of payments (callgrind, list
//! benchmark). For one shape (the backend, the columns, which filters are set, whether there
//! is a cursor) the text is always the same and only the values differ, so the text is kept
//! and the values are listed here in the order sea-query writes them.
//!
//! That order is checked, not assumed: a text is kept only when the values sea-query gave
//! with it equal [`values`]' list. Should a sea-query release order them otherwise, every
//! page is built as before and nothing is kept (a test fails on it first).
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, RwLock};

use sea_orm::{DbBackend, Value};
use uuid::Uuid;

use super::query::PaymentFilter;
use super::row::Columns;
use crate::page::PageRequest;

/// What decides a page's SQL text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shape {
    postgres: bool,
    columns: Columns,
    /// 0: no status filter; 1: one status (a range, see `query::list`); n: a list of n.
    statuses: usize,
    customer: bool,
    client_reference: bool,
    created_after: bool,
    created_before: bool,
    cursor: bool,
}

impl Shape {
    pub fn of(
        backend: DbBackend,
        filter: &PaymentFilter,
        page: &PageRequest,
        columns: Columns,
    ) -> Shape {
        Shape {
            postgres: backend == DbBackend::Postgres,
            columns,
            statuses: filter.status.as_ref().map_or(0, Vec::len),
            customer: filter.customer_id.is_some(),
            client_reference: filter.client_reference.is_some(),
            created_after: filter.created_after.is_some(),
            created_before: filter.created_before.is_some(),
            cursor: page.after.is_some(),
        }
    }
}

/// At most this many texts are kept: shapes differ by the fields a client selects, so a
/// client could make ever new ones. Past it, pages are built each time.
const KEPT: usize = 512;

static WARNED: AtomicBool = AtomicBool::new(false);

static TEXTS: LazyLock<RwLock<HashMap<Shape, String>>> =
    LazyLock::new(|| RwLock::new(HashMap::new()));

/// The kept SQL text of pages of this shape, if one is.
pub fn text(shape: &Shape) -> Option<String> {
    TEXTS.read().ok()?.get(shape).cloned()
}

/// Keeps `sql`, built by sea-query with `built` values, as the text of `shape`'s pages if
/// those values are `values` in the same order. Answers whether it was kept.
pub fn keep(shape: Shape, sql: &str, built: Option<&sea_orm::Values>, values: &[Value]) -> bool {
    if built.map(|b| b.0.as_slice()) != Some(values) {
        // Once: such a shape is built, and comes here, on every page.
        if !WARNED.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                ?shape,
                "a page's values are not in the order of its statement's text: pages are built each time"
            );
        }
        return false;
    }
    let Ok(mut texts) = TEXTS.write() else {
        return false;
    };
    if texts.len() >= KEPT && !texts.contains_key(&shape) {
        return false;
    }
    texts.insert(shape, sql.to_owned());
    true
}

/// A page's values, in the order of its statement's placeholders: the caller's merchant and
/// mode, the filters in the order `query::list` adds them, the cursor, the limit.
pub fn values(
    merchant_id: Uuid,
    mode: &str,
    filter: &PaymentFilter,
    page: &PageRequest,
) -> Vec<Value> {
    let mut values = vec![
        Value::Uuid(Some(merchant_id)),
        Value::String(Some(mode.to_owned())),
    ];
    match filter.status.as_deref() {
        None | Some([]) => {}
        Some([only]) => {
            values.push(Value::String(Some(only.as_str().to_owned())));
            values.push(Value::String(Some(only.as_str().to_owned())));
        }
        Some(many) => {
            values.extend(
                many.iter()
                    .map(|s| Value::String(Some(s.as_str().to_owned()))),
            );
        }
    }
    if let Some(c) = filter.customer_id {
        values.push(Value::Uuid(Some(c)));
    }
    if let Some(r) = &filter.client_reference {
        values.push(Value::String(Some(r.clone())));
    }
    if let Some(t) = filter.created_after {
        values.push(Value::ChronoDateTimeUtc(Some(t)));
    }
    if let Some(t) = filter.created_before {
        values.push(Value::ChronoDateTimeUtc(Some(t)));
    }
    if let Some(after) = page.after {
        values.push(Value::ChronoDateTimeUtc(Some(after.created_at)));
        values.push(Value::ChronoDateTimeUtc(Some(after.created_at)));
        values.push(Value::Uuid(Some(after.id)));
    }
    values.push(Value::BigUnsigned(Some(page.first + 1)));
    values
}
