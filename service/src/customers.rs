//! Customers and their stored payment methods (acquirer tokens: never card numbers).
use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{Datelike, Utc};
use entity::{customer, payment_method};
use sea_orm::sea_query::{Expr, Query, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, Set, TransactionTrait,
};
use uuid::Uuid;

use crate::acquirer::TokenizeError;
use crate::error::{Result, ServiceError};
use crate::gateway::Gateway;
use crate::merchants::{Caller, Mode};
use crate::page::{Cursor, Page, PageRequest};

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct NewCustomer {
    pub email: Option<String>,
    pub name: Option<String>,
    pub client_reference: Option<String>,
}

fn check_len(value: &Option<String>, field: &str, max: usize) -> Result<()> {
    if value.as_ref().is_some_and(|v| v.chars().count() > max) {
        return Err(ServiceError::invalid(
            "TOO_LONG",
            &[field],
            format!("{field} has at most {max} characters"),
        ));
    }
    Ok(())
}

pub async fn create(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    input: &NewCustomer,
) -> Result<customer::Model> {
    if let Some(email) = &input.email {
        let valid = email.len() <= 254
            && email.split_once('@').is_some_and(|(l, d)| {
                !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.')
            })
            && !email.chars().any(char::is_whitespace);
        if !valid {
            return Err(ServiceError::invalid(
                "INVALID_EMAIL",
                &["email"],
                "email is not a valid address",
            ));
        }
    }
    check_len(&input.name, "name", 200)?;
    check_len(&input.client_reference, "clientReference", 200)?;
    Ok(customer::ActiveModel {
        id: Set(Uuid::now_v7()),
        merchant_id: Set(caller.merchant_id),
        mode: Set(caller.mode.as_str().into()),
        email: Set(input.email.clone()),
        name: Set(input.name.clone()),
        client_reference: Set(input.client_reference.clone()),
        created_at: Set(Utc::now()),
    }
    .insert(conn)
    .await?)
}

/// The caller's customer, or NOT_FOUND (also for another merchant's or mode's customer).
pub async fn get(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    id: Uuid,
) -> Result<customer::Model> {
    customer::Entity::find_by_id(id)
        .one(conn)
        .await?
        .filter(|row| caller.owns(row.merchant_id, &row.mode))
        .ok_or(ServiceError::NotFound)
}

pub async fn list(
    gw: &Gateway,
    caller: &Caller,
    page: PageRequest,
) -> Result<Page<customer::Model>> {
    let cond = Condition::all()
        .add(customer::Column::MerchantId.eq(caller.merchant_id))
        .add(customer::Column::Mode.eq(caller.mode.as_str()));
    crate::page::keyset::<customer::Entity>(
        &gw.autocommit().await?,
        cond,
        crate::page::Order::newest_first(customer::Column::CreatedAt, customer::Column::Id),
        page,
        |c| Cursor {
            created_at: c.created_at,
            id: c.id,
        },
    )
    .await
}

/// The customer's stored methods, default first.
pub async fn payment_methods(
    conn: &impl ConnectionTrait,
    customer_id: Uuid,
) -> Result<Vec<payment_method::Model>> {
    Ok(payment_method::Entity::find()
        .filter(payment_method::Column::CustomerId.eq(customer_id))
        .filter(payment_method::Column::RemovedAt.is_null())
        .order_by_desc(payment_method::Column::IsDefault)
        .order_by_asc(payment_method::Column::CreatedAt)
        .all(conn)
        .await?)
}

pub fn is_expired(pm: &payment_method::Model) -> bool {
    let (y, m) = this_month();
    pm.exp_year < y || (pm.exp_year == y && pm.exp_month < m)
}

/// The year and month a card must not have expired before.
fn this_month() -> (i32, i32) {
    let now = Utc::now();
    (now.year(), i32::try_from(now.month()).unwrap_or(12))
}

/// One of the caller's methods, also one used once (no customer), not removed.
pub async fn payment_method_any(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    id: Uuid,
) -> Result<payment_method::Model> {
    get_method(conn, caller, id).await
}

/// Gives a card used once to a customer, as the default: the buyer chose to remember it,
/// so the next charge uses it.
pub async fn attach(
    conn: &impl ConnectionTrait,
    pm: payment_method::Model,
    customer_id: Option<Uuid>,
) -> Result<payment_method::Model> {
    let Some(customer) = customer_id else {
        return Ok(pm);
    };
    make_only_default(conn, customer).await?;
    let mut row: payment_method::ActiveModel = pm.into();
    row.customer_id = Set(Some(customer));
    row.is_default = Set(true);
    Ok(row.update(conn).await?)
}

async fn make_only_default(conn: &impl ConnectionTrait, customer: Uuid) -> Result<()> {
    payment_method::Entity::update_many()
        .col_expr(payment_method::Column::IsDefault, Expr::value(false))
        .filter(payment_method::Column::CustomerId.eq(customer))
        .exec(conn)
        .await?;
    Ok(())
}

/// Stores a card the buyer asked to remember on a hosted page: it becomes the default.
pub async fn remember_card(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    customer_id: Uuid,
    token: crate::acquirer::CardToken,
) -> Result<payment_method::Model> {
    make_only_default(conn, customer_id).await?;
    store_card(conn, caller, Some(customer_id), token).await
}

/// One of the caller's stored methods (not removed).
pub async fn payment_method(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    id: Uuid,
) -> Result<payment_method::Model> {
    get_method(conn, caller, id).await
}

async fn get_method(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    id: Uuid,
) -> Result<payment_method::Model> {
    payment_method::Entity::find_by_id(id)
        .filter(payment_method::Column::RemovedAt.is_null())
        .one(conn)
        .await?
        .filter(|row| caller.owns(row.merchant_id, &row.mode))
        .ok_or(ServiceError::NotFound)
}

/// Stores a tokenized card on a customer; the first card becomes the default.
pub async fn store_token(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    customer_id: Uuid,
    token: crate::acquirer::CardToken,
) -> Result<payment_method::Model> {
    store_card(conn, caller, Some(customer_id), token).await
}

/// Stores a tokenized card, on a customer (the first becomes the default) or, with no
/// customer, as a card used once.
pub async fn store_card(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    customer_id: Option<Uuid>,
    token: crate::acquirer::CardToken,
) -> Result<payment_method::Model> {
    let has_default = match customer_id {
        Some(c) => {
            payment_method::Entity::find()
                .filter(payment_method::Column::CustomerId.eq(c))
                .filter(payment_method::Column::RemovedAt.is_null())
                .filter(payment_method::Column::IsDefault.eq(true))
                .count(conn)
                .await?
                > 0
        }
        None => true,
    };
    Ok(payment_method::ActiveModel {
        id: Set(Uuid::now_v7()),
        merchant_id: Set(caller.merchant_id),
        mode: Set(caller.mode.as_str().into()),
        customer_id: Set(customer_id),
        token: Set(token.token),
        brand: Set(token.brand),
        last4: Set(token.last4),
        exp_month: Set(token.exp_month),
        exp_year: Set(token.exp_year),
        is_default: Set(!has_default),
        created_at: Set(Utc::now()),
        removed_at: Set(None),
    }
    .insert(conn)
    .await?)
}

/// Test mode only: tokenizes a test card at the simulator and stores the token. The number
/// goes straight through to the acquirer and is never logged or stored.
pub async fn add_test_card(
    gw: &Gateway,
    caller: &Caller,
    customer_id: Uuid,
    number: &str,
    exp_month: i32,
    exp_year: i32,
) -> Result<payment_method::Model> {
    if caller.mode != Mode::Test {
        return Err(ServiceError::Forbidden(
            "addTestCard works with test keys only".into(),
        ));
    }
    get(&gw.db, caller, customer_id).await?;
    let number: String = number.chars().filter(|c| !c.is_whitespace()).collect();
    let token = gw
        .acquirer
        .tokenize(&number, exp_month, exp_year)
        .await
        .map_err(|e| match e {
            TokenizeError::Rejected { code, message } => {
                let field = match code.as_str() {
                    "invalid_expiry" | "expired_card" => "expMonth",
                    _ => "number",
                };
                ServiceError::Invalid {
                    code: card_error_code(&code),
                    field: vec![field.into()],
                    message,
                }
            }
            TokenizeError::Unavailable(m) => ServiceError::Internal(format!("tokenize: {m}")),
        })?;
    store_token(&gw.db, caller, customer_id, token).await
}

fn card_error_code(code: &str) -> &'static str {
    match code {
        "invalid_number" => "INVALID_CARD_NUMBER",
        "invalid_expiry" => "INVALID_EXPIRY",
        "expired_card" => "EXPIRED_CARD",
        "invalid_cvc" => "INVALID_CVC",
        _ => "CARD_REJECTED",
    }
}

pub async fn set_default(gw: &Gateway, caller: &Caller, id: Uuid) -> Result<payment_method::Model> {
    let txn = gw.db.begin().await?;
    let pm = get_method(&txn, caller, id).await?;
    payment_method::Entity::update_many()
        .col_expr(payment_method::Column::IsDefault, Expr::value(false))
        .filter(payment_method::Column::CustomerId.eq(pm.customer_id))
        .exec(&txn)
        .await?;
    let mut active: payment_method::ActiveModel = pm.into();
    active.is_default = Set(true);
    let pm = active.update(&txn).await?;
    txn.commit().await?;
    if let Some(customer_id) = pm.customer_id {
        gw.default_cards.forget(customer_id);
    }
    Ok(pm)
}

/// Removes a stored method; if it was the default, the oldest remaining one takes its place.
pub async fn remove(gw: &Gateway, caller: &Caller, id: Uuid) -> Result<payment_method::Model> {
    let txn = gw.db.begin().await?;
    let pm = get_method(&txn, caller, id).await?;
    let was_default = pm.is_default;
    let customer_id = pm.customer_id;
    let mut active: payment_method::ActiveModel = pm.into();
    active.removed_at = Set(Some(Utc::now()));
    active.is_default = Set(false);
    let removed = active.update(&txn).await?;
    if was_default
        && let Some(customer_id) = customer_id
        && let Some(next) = payment_methods(&txn, customer_id).await?.into_iter().next()
    {
        let mut next: payment_method::ActiveModel = next.into();
        next.is_default = Set(true);
        next.update(&txn).await?;
    }
    txn.commit().await?;
    if let Some(customer_id) = customer_id {
        gw.default_cards.forget(customer_id);
    }
    Ok(removed)
}

/// The method a charge uses: the one named, else the default; it must not be expired.
pub async fn usable_method(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    customer_id: Uuid,
    id: Option<Uuid>,
) -> Result<payment_method::Model> {
    // One query on the happy path: the card (the given one, or the default) of this
    // customer of the caller's. Only when there is none does it ask whether the customer
    // exists, to say which of the two is missing.
    let mut query = payment_method::Entity::find()
        .filter(payment_method::Column::MerchantId.eq(caller.merchant_id))
        .filter(payment_method::Column::Mode.eq(caller.mode.as_str()))
        .filter(payment_method::Column::CustomerId.eq(customer_id))
        .filter(payment_method::Column::RemovedAt.is_null());
    query = match id {
        Some(id) => query.filter(payment_method::Column::Id.eq(id)),
        None => query.filter(payment_method::Column::IsDefault.eq(true)),
    };
    match query.one(conn).await? {
        Some(pm) if !is_expired(&pm) => Ok(pm),
        Some(_) => Err(ServiceError::invalid(
            "NO_PAYMENT_METHOD",
            &["paymentMethodId"],
            "the stored card has expired",
        )),
        None => {
            get(conn, caller, customer_id).await.map_err(|_| {
                ServiceError::invalid("CUSTOMER_NOT_FOUND", &["customerId"], "no such customer")
            })?;
            Err(ServiceError::invalid(
                "NO_PAYMENT_METHOD",
                &["paymentMethodId"],
                "the customer has no usable stored payment method",
            ))
        }
    }
}

/// A query that finds card `id` only if it is the card [`usable_method`] would find now for
/// this charge: a card of this customer of the caller's, not removed, not expired, and the
/// default when the charge names none (`named` false). The guard of a charge that takes
/// the card on trust (see `payments::create::charge_customer`).
pub fn usable_guard(caller: &Caller, customer_id: Uuid, id: Uuid, named: bool) -> SelectStatement {
    use payment_method::Column as M;
    let (y, m) = this_month();
    let mut query = Query::select();
    query
        .column(M::Id)
        .from(payment_method::Entity)
        .and_where(M::Id.eq(id))
        .and_where(M::MerchantId.eq(caller.merchant_id))
        .and_where(M::Mode.eq(caller.mode.as_str()))
        .and_where(M::CustomerId.eq(customer_id))
        .and_where(M::RemovedAt.is_null())
        .cond_where(
            Condition::any().add(M::ExpYear.gt(y)).add(
                Condition::all()
                    .add(M::ExpYear.eq(y))
                    .add(M::ExpMonth.gte(m)),
            ),
        );
    if !named {
        query.and_where(M::IsDefault.eq(true));
    }
    query
}

/// The default card this process last found for each customer it charged: a charge that
/// names no card takes it on trust, and its own statement checks it (a read saved per
/// charge). A wrong one costs a failed statement, then the read.
#[derive(Default)]
pub struct DefaultCards(Mutex<HashMap<Uuid, Uuid>>);

/// More customers than this and the list starts over (it only saves reads).
const DEFAULT_CARDS_MAX: usize = 10_000;

impl DefaultCards {
    pub fn get(&self, customer_id: Uuid) -> Option<Uuid> {
        self.0.lock().ok()?.get(&customer_id).copied()
    }

    pub fn put(&self, customer_id: Uuid, card_id: Uuid) {
        if let Ok(mut cards) = self.0.lock() {
            if cards.len() >= DEFAULT_CARDS_MAX && !cards.contains_key(&customer_id) {
                cards.clear();
            }
            cards.insert(customer_id, card_id);
        }
    }

    pub fn forget(&self, customer_id: Uuid) {
        if let Ok(mut cards) = self.0.lock() {
            cards.remove(&customer_id);
        }
    }
}

/// createCustomer: the customer and its idempotency answer in one transaction.
pub async fn create_customer(
    gw: &Gateway,
    caller: &Caller,
    input: &NewCustomer,
    claim: Option<crate::idempotency::Claim>,
) -> Result<serde_json::Value> {
    let txn = gw.db.begin().await?;
    let c = create(&txn, caller, input).await?;
    let value = serde_json::json!({ "customerId": c.id });
    if let Some(claim) = claim {
        claim.complete(&txn, &value).await?;
    }
    txn.commit().await?;
    Ok(value)
}
