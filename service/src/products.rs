//! The product catalogue: paylink items may name a product and inherit its fields.
use chrono::Utc;
use entity::product;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde::Serialize;
use uuid::Uuid;

use crate::error::{Result, ServiceError};
use crate::gateway::Gateway;
use crate::merchants::Caller;
use crate::money::{Currency, MAX_AMOUNT};

#[derive(Clone, Debug, Default, Serialize)]
pub struct ProductInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub price: Option<i64>,
    pub vat: Option<i32>,
    pub currency: Option<String>,
}

fn check(input: &ProductInput) -> Result<()> {
    if let Some(name) = &input.name
        && (name.trim().is_empty() || name.chars().count() > 200)
    {
        return Err(ServiceError::invalid(
            "INVALID_NAME",
            &["name"],
            "name must be 1 to 200 characters",
        ));
    }
    if let Some(p) = input.price
        && !(0..=MAX_AMOUNT).contains(&p)
    {
        return Err(ServiceError::invalid(
            "INVALID_AMOUNT",
            &["price"],
            "price must be between 0 and 10^15",
        ));
    }
    if let Some(v) = input.vat
        && !(0..=10_000).contains(&v)
    {
        return Err(ServiceError::invalid(
            "INVALID_VAT_RATE",
            &["vat"],
            "vat is in basis points, 0 to 10000",
        ));
    }
    if let Some(c) = &input.currency {
        Currency::parse(c, &["currency"])?;
    }
    Ok(())
}

pub async fn create(gw: &Gateway, caller: &Caller, input: &ProductInput) -> Result<product::Model> {
    check(input)?;
    let missing = |f: &str| ServiceError::invalid("REQUIRED", &[f], format!("{f} is required"));
    let now = Utc::now();
    Ok(product::ActiveModel {
        id: Set(Uuid::now_v7()),
        merchant_id: Set(caller.merchant_id),
        mode: Set(caller.mode.as_str().into()),
        name: Set(input.name.clone().ok_or_else(|| missing("name"))?),
        description: Set(input.description.clone()),
        price: Set(input.price.ok_or_else(|| missing("price"))?),
        vat: Set(input.vat.ok_or_else(|| missing("vat"))?),
        currency: Set(Currency::parse(
            input
                .currency
                .as_deref()
                .ok_or_else(|| missing("currency"))?,
            &["currency"],
        )?
        .code()
        .into()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&gw.db)
    .await?)
}

pub async fn get(conn: &impl ConnectionTrait, caller: &Caller, id: Uuid) -> Result<product::Model> {
    product::Entity::find_by_id(id)
        .one(conn)
        .await?
        .filter(|row| caller.owns(row.merchant_id, &row.mode))
        .ok_or(ServiceError::NotFound)
}

pub async fn update(
    gw: &Gateway,
    caller: &Caller,
    id: Uuid,
    input: &ProductInput,
) -> Result<product::Model> {
    check(input)?;
    let mut row: product::ActiveModel = get(&gw.db, caller, id).await?.into();
    if let Some(v) = &input.name {
        row.name = Set(v.clone());
    }
    if input.description.is_some() {
        row.description = Set(input.description.clone());
    }
    if let Some(v) = input.price {
        row.price = Set(v);
    }
    if let Some(v) = input.vat {
        row.vat = Set(v);
    }
    if let Some(c) = &input.currency {
        row.currency = Set(Currency::parse(c, &["currency"])?.code().into());
    }
    row.updated_at = Set(Utc::now());
    Ok(row.update(&gw.db).await?)
}

pub async fn list(gw: &Gateway, caller: &Caller) -> Result<Vec<product::Model>> {
    Ok(product::Entity::find()
        .filter(product::Column::MerchantId.eq(caller.merchant_id))
        .filter(product::Column::Mode.eq(caller.mode.as_str()))
        .order_by_asc(product::Column::CreatedAt)
        .all(&gw.db)
        .await?)
}
