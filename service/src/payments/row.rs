//! Payments read from PostgreSQL by column position. SeaORM's derived decoding looks every
//! column up by name and, for each NULL one, formats an error that it then discards: on a
//! page of 21 payments of 43 columns, mostly NULL, that was about a fifth of the API's CPU
//! in the list benchmark (perf, bench/). Other backends, and rows of another shape, take
//! SeaORM's way.
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use entity::payment;
use sea_orm::sqlx::postgres::{PgRow, PgTypeInfo};
use sea_orm::sqlx::{Postgres, Row, Type};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, QueryResult, Select};

/// Lists the payment's fields in the order of its columns, which is the order
/// `payment::Entity::find()` selects them in (checked by a test below).
macro_rules! payment_fields {
    ($apply:ident) => {
        $apply! {
            id,
            merchant_id,
            mode,
            customer_id,
            payment_method_id,
            status,
            currency,
            amount,
            vat_amount,
            capture_method,
            client_reference,
            description,
            metadata,
            authorized_amount,
            captured_amount,
            released_amount,
            refunded_amount,
            acquirer_reference,
            error_code,
            error_message,
            paylink_id,
            checkout_code,
            checkout_expires_at,
            force_recurring,
            is_recurring_token,
            require_confirmation,
            return_url,
            commission_percent,
            refund_availability,
            due_at,
            due_strict,
            sent_at,
            viewed_at,
            authorized_at,
            paid_at,
            cleared_at,
            settled_at,
            chargeback_amount,
            event_sequence,
            created_at,
            updated_at
        }
    };
}

macro_rules! names {
    ($($field:ident),+) => {
        &[$(stringify!($field)),+]
    };
}

/// The columns' names, in order.
const COLUMNS: &[&str] = payment_fields!(names);

/// How many columns a payment has: a row that starts with them has other columns from
/// this index on.
pub const WIDTH: usize = COLUMNS.len();

macro_rules! decode {
    ($($field:ident),+) => {
        /// Sets the fields of `wanted` from the row, which holds their columns in the
        /// table's order from its first column on; leaves every other field as it is.
        /// `unchecked` skips sqlx's check of each value's type against the field's: that
        /// check was a fifth of this decoding (perf, list benchmark), and is only skipped
        /// once `types_match` has found the table's types to be the model's, or
        /// `types_match_of` those of the columns wanted (see `CHECKED`).
        fn fill(
            row: &PgRow,
            wanted: Columns,
            unchecked: bool,
            model: &mut payment::Model,
        ) -> Result<(), sea_orm::sqlx::Error> {
            let mut bit = 0..;
            let mut at = 0..;
            $(
                if wanted.has(bit.next().unwrap_or_default()) {
                    let i = at.next().unwrap_or_default();
                    model.$field = if unchecked {
                        row.try_get_unchecked(i)?
                    } else {
                        row.try_get(i)?
                    };
                }
            )+
            Ok(())
        }

        /// [`by_position`] by the columns' names, for other backends.
        fn by_name(res: &QueryResult, wanted: Columns) -> Result<payment::Model, DbErr> {
            let mut model = blank();
            let mut bit = 0..;
            $(
                if wanted.has(bit.next().unwrap_or_default()) {
                    model.$field = res.try_get("", stringify!($field))?;
                }
            )+
            Ok(model)
        }

        fn blank() -> payment::Model {
            payment::Model {
                $($field: Default::default()),+
            }
        }

        /// Whether each leading column's type is one its field decodes from.
        fn types_match(row: &PgRow) -> bool {
            by_position(row, Columns::ALL, true)
                .is_ok_and(|payment| types_match_of(row, &payment, Columns::ALL))
        }

        /// Whether the type of each column of `wanted`, which the row holds in the table's
        /// order, is one its field (of `payment`, read from the row) decodes from.
        fn types_match_of(row: &PgRow, payment: &payment::Model, wanted: Columns) -> bool {
            use sea_orm::sqlx::Column;
            let mut columns = row.columns().iter();
            let mut bit = 0..;
            $(
                if wanted.has(bit.next().unwrap_or_default())
                    && !columns
                        .next()
                        .is_some_and(|c| decodes_from(&payment.$field, c.type_info()))
                {
                    return false;
                }
            )+
            true
        }
    };
}
payment_fields!(decode);

/// A set of the payment's columns, by their place in the table: what a page of payments
/// selects when the client asked for only some of its fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Columns(u64);

const _: () = assert!(WIDTH < 64, "a payment's columns fit in Columns' bits");

impl Columns {
    pub const ALL: Columns = Columns((1 << WIDTH) - 1);
    pub const NONE: Columns = Columns(0);

    /// The set with `column` added.
    pub fn with(self, column: payment::Column) -> Columns {
        use sea_orm::IdenStatic;
        match COLUMNS.iter().position(|name| *name == column.as_str()) {
            Some(i) => Columns(self.0 | 1 << i),
            // Unreachable (a test checks COLUMNS against the entity); all is never wrong.
            None => Columns::ALL,
        }
    }

    fn has(self, i: usize) -> bool {
        self.0 & (1 << i) != 0
    }

    fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The columns, in the table's order.
    pub fn columns(self) -> impl Iterator<Item = payment::Column> {
        use sea_orm::Iterable;
        payment::Column::iter()
            .enumerate()
            .filter(move |(i, _)| self.has(*i))
            .map(|(_, c)| c)
    }
}

/// The columns of `wanted`, which the row holds in the table's order from its first column
/// on; every other field is left at its type's default (zero, empty, none).
fn by_position(
    row: &PgRow,
    wanted: Columns,
    unchecked: bool,
) -> Result<payment::Model, sea_orm::sqlx::Error> {
    let mut model = blank();
    fill(row, wanted, unchecked, &mut model)?;
    Ok(model)
}

/// The payment whose `wanted` columns, in the table's order, are the whole of `res`; the
/// other fields are left at their defaults. Boxed, and filled where it lies: a payment is
/// 600 bytes, and handed on by value from the row to the page's edge it was copied about
/// eight times, 6 % of a page's instructions (callgrind, list benchmark).
pub fn only(res: &QueryResult, wanted: Columns) -> Result<Box<payment::Model>, DbErr> {
    if wanted == Columns::ALL {
        return leading(res).map(Box::new);
    }
    match res.try_as_pg_row() {
        Some(row) if holds_exactly(row, wanted) => {
            let checked = CHECKED.load(Ordering::Relaxed);
            let unchecked = TYPES_MATCH.get() == Some(&true) || wanted.0 & !checked == 0;
            let mut payment = Box::new(blank());
            fill(row, wanted, unchecked, &mut payment)
                .map_err(|e| DbErr::Type(format!("payments row: {e}")))?;
            if !unchecked && types_match_of(row, &payment, wanted) {
                CHECKED.fetch_or(wanted.0, Ordering::Relaxed);
            }
            Ok(payment)
        }
        Some(_) => Err(DbErr::Type(
            "payments row: not the columns selected".to_string(),
        )),
        None => by_name(res, wanted).map(Box::new),
    }
}

/// Whether the row's columns are those of `wanted`, judged by their number and the names
/// of the first and the last.
fn holds_exactly(row: &PgRow, wanted: Columns) -> bool {
    use sea_orm::sqlx::Column;
    let columns = row.columns();
    let first = wanted.0.trailing_zeros() as usize;
    let last = 63usize.checked_sub(wanted.0.leading_zeros() as usize);
    columns.len() == wanted.len()
        && columns.first().map(|c| c.name()) == COLUMNS.get(first).copied()
        && columns.last().map(|c| c.name()) == last.and_then(|i| COLUMNS.get(i)).copied()
}

fn decodes_from<T: Type<Postgres>>(_: &T, column: &PgTypeInfo) -> bool {
    T::compatible(column)
}

/// Whether the table's column types match the model's, found on the first payment row this
/// process reads; if they do not, every row takes SeaORM's checked way.
static TYPES_MATCH: OnceLock<bool> = OnceLock::new();

/// The columns (as [`Columns`]' bits) whose types were found to be those their fields decode
/// from on a partial row: a process that only lists payments never reads a whole one, and
/// checking each value's type again was a tenth of a page's instructions (callgrind, list
/// benchmark).
static CHECKED: AtomicU64 = AtomicU64::new(0);

/// A payment as read from the database, by position where it can be.
pub struct PaymentRow(pub payment::Model);

impl From<PaymentRow> for payment::Model {
    fn from(row: PaymentRow) -> Self {
        row.0
    }
}

/// The first payment `select` finds (by position where it can be).
pub async fn first(
    select: Select<payment::Entity>,
    conn: &impl ConnectionTrait,
) -> Result<Option<payment::Model>, DbErr> {
    Ok(select
        .into_model::<PaymentRow>()
        .one(conn)
        .await?
        .map(payment::Model::from))
}

impl FromQueryResult for PaymentRow {
    fn from_query_result(res: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        if pre.is_empty() {
            leading(res).map(PaymentRow)
        } else {
            payment::Model::from_query_result(res, pre).map(PaymentRow)
        }
    }
}

/// The payment whose columns, under their own names, start `res` (other columns may
/// follow them).
pub fn leading(res: &QueryResult) -> Result<payment::Model, DbErr> {
    match res.try_as_pg_row() {
        Some(row) if starts_with_payment(row) && *TYPES_MATCH.get_or_init(|| types_match(row)) => {
            by_position(row, Columns::ALL, true)
                .map_err(|e| DbErr::Type(format!("payments row: {e}")))
        }
        _ => payment::Model::from_query_result(res, ""),
    }
}

/// Whether a payment at the start of `res` is read by position (not SeaORM's way): its
/// columns come first, in order, and of the types the model's fields decode from.
pub fn reads_by_position(res: &QueryResult) -> bool {
    res.try_as_pg_row()
        .is_some_and(|row| starts_with_payment(row) && types_match(row))
}

/// Whether the row starts with the payment's columns, in order.
fn starts_with_payment(row: &PgRow) -> bool {
    use sea_orm::sqlx::Column;
    let columns = row.columns();
    columns.len() >= WIDTH
        && columns.first().map(|c| c.name()) == COLUMNS.first().copied()
        && columns.get(WIDTH - 1).map(|c| c.name()) == COLUMNS.last().copied()
}

#[cfg(test)]
mod tests {
    use sea_orm::{IdenStatic, Iterable};

    use super::*;

    #[test]
    fn the_fields_are_listed_in_the_order_of_the_columns() {
        let columns: Vec<&str> = payment::Column::iter().map(|c| c.as_str()).collect();
        assert_eq!(columns, COLUMNS);
    }
}
