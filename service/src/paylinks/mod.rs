//! Paylinks (the SPiD Paylink API): a payment page a merchant sends to a buyer.
mod options;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use entity::{paylink, paylink_item, payment};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait,
};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

pub use options::{KINDS, PaymentOption};

use crate::error::{Result, ServiceError};
use crate::events;
use crate::gateway::Gateway;
use crate::idempotency::Claim;
use crate::merchants::Caller;
use crate::money::{self, Currency, MAX_AMOUNT, MAX_ITEMS};
use crate::page::{Cursor, Page, PageRequest};
use crate::{customers, products};

pub const AVAILABLE: &str = "AVAILABLE";
pub const USED: &str = "USED";
pub const EXPIRED: &str = "EXPIRED";
pub const DELETED: &str = "DELETED";

/// Default validity of a paylink.
pub const VALIDITY: chrono::Duration = chrono::Duration::hours(24);

#[derive(Clone, Debug, Default, Serialize)]
pub struct ItemInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub price: Option<i64>,
    pub vat: Option<i32>,
    pub quantity: Option<i32>,
    pub currency: Option<String>,
    pub client_item_reference: Option<String>,
    pub ogp_uri: Option<String>,
    pub product_id: Option<Uuid>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct PaylinkInput {
    pub title: Option<String>,
    pub items: Option<Vec<ItemInput>>,
    pub client_reference: Option<String>,
    /// DIRECT (default) or AUTHORIZE.
    pub purchase_flow: Option<String>,
    pub payment_options: Option<Vec<PaymentOption>>,
    pub payment_options_mask: Option<i32>,
    pub expires_at: Option<DateTime<Utc>>,
    pub redirect_uri: Option<String>,
    pub cancel_uri: Option<String>,
    pub buyer_customer_id: Option<Uuid>,
}

/// An absolute http(s) URL without `<>'"`.
pub fn check_uri(uri: &str, field: &[String]) -> Result<()> {
    let ok = !uri.contains(['<', '>', '\'', '"'])
        && reqwest::Url::parse(uri)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
    if ok {
        Ok(())
    } else {
        Err(ServiceError::Invalid {
            code: "INVALID_URL",
            field: field.to_vec(),
            message: "must be an absolute http(s) URL without <, >, ' or \"".into(),
        })
    }
}

fn path(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

struct CheckedItem {
    row: paylink_item::ActiveModel,
    currency: Option<String>,
}

async fn check_item(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    i: usize,
    item: &ItemInput,
) -> Result<CheckedItem> {
    let idx = i.to_string();
    let field = |f: &str| path(&["items", &idx, f]);
    let product = match item.product_id {
        Some(id) => {
            Some(
                products::get(conn, caller, id)
                    .await
                    .map_err(|_| ServiceError::Invalid {
                        code: "UNKNOWN_PRODUCT",
                        field: field("productId"),
                        message: "no such product".into(),
                    })?,
            )
        }
        None => None,
    };
    let required = |f: &str| ServiceError::Invalid {
        code: "REQUIRED",
        field: field(f),
        message: format!("{f} is required (or give a productId)"),
    };
    let description = item
        .description
        .clone()
        .or_else(|| {
            product
                .as_ref()
                .map(|p| p.description.clone().unwrap_or_else(|| p.name.clone()))
        })
        .ok_or_else(|| required("description"))?;
    let price = item
        .price
        .or(product.as_ref().map(|p| p.price))
        .ok_or_else(|| required("price"))?;
    let vat = item
        .vat
        .or(product.as_ref().map(|p| p.vat))
        .ok_or_else(|| required("vat"))?;
    if description.trim().is_empty() {
        return Err(required("description"));
    }
    if !(0..=MAX_AMOUNT).contains(&price) {
        return Err(ServiceError::Invalid {
            code: "INVALID_AMOUNT",
            field: field("price"),
            message: "price must be between 0 and 10^15 minor units".into(),
        });
    }
    if !(0..=10_000).contains(&vat) {
        return Err(ServiceError::Invalid {
            code: "INVALID_VAT_RATE",
            field: field("vat"),
            message: "vat is in basis points and must be between 0 and 10000".into(),
        });
    }
    let quantity = item.quantity.unwrap_or(1);
    if quantity < 1 {
        return Err(ServiceError::Invalid {
            code: "INVALID_QUANTITY",
            field: field("quantity"),
            message: "quantity must be at least 1".into(),
        });
    }
    let currency = match item.currency.as_deref() {
        Some(c) => Some(Currency::parse(c, &[])?.code().to_string()),
        None => product.as_ref().map(|p| p.currency.clone()),
    };
    if let Some(uri) = &item.ogp_uri {
        check_uri(uri, &field("ogpUri"))?;
    }
    let total = price
        .checked_mul(i64::from(quantity))
        .filter(|t| *t <= MAX_AMOUNT)
        .ok_or_else(|| ServiceError::Invalid {
            code: "AMOUNT_OVERFLOW",
            field: field("quantity"),
            message: "the line total is too large".into(),
        })?;
    Ok(CheckedItem {
        row: paylink_item::ActiveModel {
            id: Set(Uuid::now_v7()),
            paylink_id: Set(Uuid::nil()),
            position: Set(i32::try_from(i).unwrap_or(i32::MAX)),
            name: Set(item
                .name
                .clone()
                .or_else(|| product.as_ref().map(|p| p.name.clone()))),
            description: Set(description),
            price: Set(price),
            vat: Set(vat),
            quantity: Set(quantity),
            client_item_reference: Set(item.client_item_reference.clone()),
            ogp_uri: Set(item.ogp_uri.clone()),
            product_id: Set(item.product_id),
            total: Set(total),
            vat_amount: Set(money::included_vat(total, vat)),
        },
        currency,
    })
}

/// Creates a paylink. Every failing field is reported, not only the first.
pub async fn create(
    gw: &Gateway,
    caller: &Caller,
    input: &PaylinkInput,
    claim: Option<Claim>,
) -> Result<Value> {
    let mut errs = vec![];
    let title = input.title.as_deref().map(str::trim).unwrap_or_default();
    if title.is_empty() || title.chars().count() > 200 {
        errs.push(ServiceError::invalid(
            "REQUIRED",
            &["title"],
            "title is required (at most 200 characters)",
        ));
    }
    let items: &[ItemInput] = match &input.items {
        None => {
            errs.push(ServiceError::invalid(
                "REQUIRED",
                &["items"],
                "items are required",
            ));
            &[]
        }
        Some(list) if list.is_empty() || list.len() > MAX_ITEMS => {
            errs.push(ServiceError::invalid(
                "INVALID_ITEMS",
                &["items"],
                format!("give 1 to {MAX_ITEMS} items"),
            ));
            &[]
        }
        Some(list) => list,
    };
    let flow = input.purchase_flow.as_deref().unwrap_or("DIRECT");
    if !matches!(flow, "DIRECT" | "AUTHORIZE") {
        errs.push(ServiceError::invalid(
            "INVALID_PURCHASE_FLOW",
            &["purchaseFlow"],
            "purchaseFlow is DIRECT or AUTHORIZE",
        ));
    }
    let options = match options::resolve(input.payment_options.clone(), input.payment_options_mask)
    {
        Ok(o) => Some(o),
        Err(e) => {
            errs.push(e);
            None
        }
    };
    let now = Utc::now();
    let expires_at = input.expires_at.unwrap_or(now + VALIDITY);
    if expires_at <= now {
        errs.push(ServiceError::invalid(
            "EXPIRY_IN_PAST",
            &["expiresAt"],
            "expiresAt must be in the future",
        ));
    }
    for (name, value) in [
        ("redirectUri", &input.redirect_uri),
        ("cancelUri", &input.cancel_uri),
    ] {
        if let Some(uri) = value
            && let Err(e) = check_uri(uri, &path(&[name]))
        {
            errs.push(e);
        }
    }
    if input
        .client_reference
        .as_ref()
        .is_some_and(|r| r.chars().count() > 200)
    {
        errs.push(ServiceError::invalid(
            "TOO_LONG",
            &["clientReference"],
            "clientReference has at most 200 characters",
        ));
    }
    let txn = gw.db.begin().await?;
    if let Some(buyer) = input.buyer_customer_id
        && customers::get(&txn, caller, buyer).await.is_err()
    {
        errs.push(ServiceError::invalid(
            "UNKNOWN_BUYER",
            &["buyerCustomerId"],
            "no such customer",
        ));
    }
    let mut checked = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match check_item(&txn, caller, i, item).await {
            Ok(c) => checked.push(c),
            Err(e) if e.is_internal() => return Err(e),
            Err(e) => errs.push(e),
        }
    }
    let currencies: std::collections::BTreeSet<_> =
        checked.iter().filter_map(|c| c.currency.clone()).collect();
    if checked.len() == items.len() && !items.is_empty() && currencies.is_empty() {
        errs.push(ServiceError::invalid(
            "CURRENCY_REQUIRED",
            &["items", "0", "currency"],
            "give the items' currency",
        ));
    }
    if currencies.len() > 1 {
        errs.push(ServiceError::invalid(
            "MIXED_CURRENCIES",
            &["items"],
            "all items must share one currency",
        ));
    }
    ServiceError::from_many(errs)?;
    let (options, mask) = options.unwrap_or_default();
    let currency = currencies.into_iter().next().unwrap_or_default();
    let (mut total, mut vat_total) = (0i64, 0i64);
    for c in &checked {
        total = total
            .checked_add(*c.row.total.as_ref())
            .filter(|t| *t <= MAX_AMOUNT)
            .ok_or_else(|| {
                ServiceError::invalid("AMOUNT_OVERFLOW", &["items"], "the total is too large")
            })?;
        vat_total += *c.row.vat_amount.as_ref();
    }
    let link = paylink::ActiveModel {
        id: Set(Uuid::now_v7()),
        merchant_id: Set(caller.merchant_id),
        mode: Set(caller.mode.as_str().into()),
        code: Set(crate::codes::new_code()),
        title: Set(title.to_string()),
        client_reference: Set(input.client_reference.clone()),
        purchase_flow: Set(flow.into()),
        payment_options: Set(
            serde_json::to_value(&options).map_err(|e| ServiceError::Internal(e.to_string()))?
        ),
        payment_options_mask: Set(mask),
        currency: Set(currency),
        total: Set(total),
        vat_total: Set(vat_total),
        status: Set(AVAILABLE.into()),
        expires_at: Set(expires_at),
        redirect_uri: Set(input.redirect_uri.clone()),
        cancel_uri: Set(input.cancel_uri.clone()),
        buyer_customer_id: Set(input.buyer_customer_id),
        created_by: Set(caller.api_key_id),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    for mut c in checked {
        c.row.paylink_id = Set(link.id);
        c.row.insert(&txn).await?;
    }
    events::record_event(
        &txn,
        link.merchant_id,
        &link.mode,
        "paylink.created",
        snapshot(&link),
    )
    .await?;
    let value = serde_json::json!({ "paylinkId": link.id });
    if let Some(claim) = claim {
        claim.complete(&txn, &value).await?;
    }
    txn.commit().await?;
    Ok(value)
}

pub fn snapshot(link: &paylink::Model) -> Value {
    let mut v = serde_json::to_value(link).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut v {
        map.insert("object".into(), "paylink".into());
    }
    v
}

pub async fn get(conn: &impl ConnectionTrait, caller: &Caller, id: Uuid) -> Result<paylink::Model> {
    paylink::Entity::find_by_id(id)
        .one(conn)
        .await?
        .filter(|row| caller.owns(row.merchant_id, &row.mode))
        .ok_or(ServiceError::NotFound)
}

pub async fn by_code(conn: &impl ConnectionTrait, code: &str) -> Result<Option<paylink::Model>> {
    Ok(paylink::Entity::find()
        .filter(paylink::Column::Code.eq(code))
        .one(conn)
        .await?)
}

pub async fn items(
    conn: &impl ConnectionTrait,
    paylink_id: Uuid,
) -> Result<Vec<paylink_item::Model>> {
    Ok(paylink_item::Entity::find()
        .filter(paylink_item::Column::PaylinkId.eq(paylink_id))
        .order_by_asc(paylink_item::Column::Position)
        .all(conn)
        .await?)
}

pub async fn payments_of(gw: &Gateway, paylink_id: Uuid) -> Result<Vec<payment::Model>> {
    Ok(payment::Entity::find()
        .filter(payment::Column::PaylinkId.eq(paylink_id))
        .order_by_asc(payment::Column::CreatedAt)
        .all(&gw.db)
        .await?)
}

#[derive(Clone, Debug, Default)]
pub struct PaylinkFilter {
    pub status: Option<String>,
    pub client_reference: Option<String>,
}

pub async fn list(
    gw: &Gateway,
    caller: &Caller,
    filter: &PaylinkFilter,
    page: PageRequest,
) -> Result<Page<paylink::Model>> {
    let mut cond = Condition::all()
        .add(paylink::Column::MerchantId.eq(caller.merchant_id))
        .add(paylink::Column::Mode.eq(caller.mode.as_str()));
    if let Some(s) = &filter.status {
        cond = cond.add(paylink::Column::Status.eq(s.clone()));
    }
    if let Some(r) = &filter.client_reference {
        cond = cond.add(paylink::Column::ClientReference.eq(r.clone()));
    }
    crate::page::keyset::<paylink::Entity>(
        &gw.autocommit().await?,
        cond,
        crate::page::Order::newest_first(paylink::Column::CreatedAt, paylink::Column::Id),
        page,
        |r| Cursor {
            created_at: r.created_at,
            id: r.id,
        },
    )
    .await
}

/// Moves a paylink from AVAILABLE to `to`, with its event, inside `conn`'s transaction.
async fn set_status(
    conn: &impl ConnectionTrait,
    link: paylink::Model,
    to: &str,
    event: &str,
) -> Result<paylink::Model> {
    let mut row: paylink::ActiveModel = link.into();
    row.status = Set(to.into());
    row.updated_at = Set(Utc::now());
    let link = row.update(conn).await?;
    events::record_event(conn, link.merchant_id, &link.mode, event, snapshot(&link)).await?;
    Ok(link)
}

/// Deletes a paylink; a USED one stays (its payment is real).
pub async fn delete(gw: &Gateway, caller: &Caller, id: Uuid) -> Result<paylink::Model> {
    let txn = gw.db.begin().await?;
    let link = get(&txn, caller, id).await?;
    if link.status == USED {
        return Err(ServiceError::InvalidState(
            "the paylink is USED; a used paylink cannot be deleted".into(),
        ));
    }
    if link.status == DELETED {
        return Ok(link);
    }
    let link = set_status(&txn, link, DELETED, "paylink.deleted").await?;
    txn.commit().await?;
    Ok(link)
}

/// Marks a paylink USED once a payment through it succeeded (called in that transaction).
pub async fn mark_used(conn: &impl ConnectionTrait, paylink_id: Uuid) -> Result<()> {
    if let Some(link) = paylink::Entity::find_by_id(paylink_id).one(conn).await?
        && link.status == AVAILABLE
    {
        set_status(conn, link, USED, "paylink.used").await?;
    }
    Ok(())
}

/// The scheduled job: AVAILABLE paylinks past their expiry become EXPIRED.
pub async fn expire_due(gw: &Gateway) -> Result<u64> {
    let due = paylink::Entity::find()
        .filter(paylink::Column::Status.eq(AVAILABLE))
        .filter(paylink::Column::ExpiresAt.lte(Utc::now()))
        .limit(500)
        .all(&gw.db)
        .await?;
    let mut n = 0;
    for link in due {
        let txn = gw.db.begin().await?;
        // Only if still AVAILABLE: a payment may have used it meanwhile.
        let claimed = paylink::Entity::update_many()
            .col_expr(paylink::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(paylink::Column::Id.eq(link.id))
            .filter(paylink::Column::Status.eq(AVAILABLE))
            .exec(&txn)
            .await?;
        if claimed.rows_affected == 1 {
            set_status(&txn, link, EXPIRED, "paylink.expired").await?;
            n += 1;
        }
        txn.commit().await?;
    }
    Ok(n)
}

/// The buyer token of a buyer-locked paylink's URL: an HMAC of the paylink and the buyer.
pub fn buyer_token(gw: &Gateway, link: &paylink::Model) -> Result<Option<String>> {
    let Some(buyer) = link.buyer_customer_id else {
        return Ok(None);
    };
    let mac = gw
        .master_key
        .derive(&format!("paylink-buyer:{}:{buyer}", link.id))?;
    Ok(Some(URL_SAFE_NO_PAD.encode(&mac[..24])))
}

/// The paylink's public URL (with the buyer token when it is buyer-locked).
pub fn url(gw: &Gateway, link: &paylink::Model) -> Result<String> {
    let base = format!(
        "{}/pay/{}",
        gw.settings.public_url.trim_end_matches('/'),
        link.code
    );
    Ok(match buyer_token(gw, link)? {
        Some(token) => format!("{base}?buyer={token}"),
        None => base,
    })
}
