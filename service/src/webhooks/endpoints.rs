//! Webhook endpoints: where a merchant wants its events, and their signing secrets.
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use entity::webhook_endpoint;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set, TransactionTrait,
};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::EVENT_TYPES;
use super::urls::check_url;
use crate::error::{Result, ServiceError};
use crate::gateway::Gateway;
use crate::idempotency::Claim;
use crate::merchants::Caller;
use crate::secrets::MasterKey;

/// How long the previous secret keeps signing after a rotation.
const ROTATION_OVERLAP: chrono::Duration = chrono::Duration::hours(24);

/// An endpoint's secret for a version: `whsec_` + base64 of 32 bytes derived from the
/// master key. Never stored; shown to the merchant when made or rotated.
pub fn secret(key: &MasterKey, endpoint_id: Uuid, version: i32) -> Result<String> {
    let bytes = key.derive(&format!("webhook-secret:{endpoint_id}:{version}"))?;
    Ok(format!("whsec_{}", STANDARD.encode(bytes)))
}

#[derive(Clone, Debug, Serialize)]
pub struct EndpointInput {
    pub url: String,
    pub event_types: Option<Vec<String>>,
    pub description: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct EndpointUpdate {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub description: Option<String>,
}

pub struct NewEndpoint {
    pub endpoint: webhook_endpoint::Model,
    pub secret: String,
}

fn check_types(types: &Option<Vec<String>>) -> Result<Option<Value>> {
    let Some(types) = types else { return Ok(None) };
    for (i, t) in types.iter().enumerate() {
        if !EVENT_TYPES.contains(&t.as_str()) {
            return Err(ServiceError::Invalid {
                code: "UNKNOWN_EVENT_TYPE",
                field: vec!["eventTypes".into(), i.to_string()],
                message: format!(
                    "{t:?} is not an event type; known types: {}",
                    EVENT_TYPES.join(", ")
                ),
            });
        }
    }
    Ok(Some(Value::from(types.clone())))
}

fn check_description(d: &Option<String>) -> Result<()> {
    if d.as_ref().is_some_and(|d| d.chars().count() > 500) {
        return Err(ServiceError::invalid(
            "TOO_LONG",
            &["description"],
            "description has at most 500 characters",
        ));
    }
    Ok(())
}

pub async fn create(
    gw: &Gateway,
    caller: &Caller,
    input: &EndpointInput,
    claim: Option<Claim>,
) -> Result<Value> {
    let url = check_url(&input.url, gw.settings.webhook_allow_private)?;
    let types = check_types(&input.event_types)?;
    check_description(&input.description)?;
    let now = Utc::now();
    let txn = gw.db.begin().await?;
    let endpoint = webhook_endpoint::ActiveModel {
        id: Set(Uuid::now_v7()),
        merchant_id: Set(caller.merchant_id),
        mode: Set(caller.mode.as_str().into()),
        url: Set(url.to_string()),
        description: Set(input.description.clone()),
        event_types: Set(types),
        secret_version: Set(1),
        previous_secret_until: Set(None),
        enabled: Set(true),
        disabled_reason: Set(None),
        failing_since: Set(None),
        deleted_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let value = serde_json::json!({ "endpointId": endpoint.id, "secretVersion": 1 });
    if let Some(claim) = claim {
        claim.complete(&txn, &value).await?;
    }
    txn.commit().await?;
    Ok(value)
}

/// The caller's endpoint (not deleted), or NOT_FOUND.
pub async fn get(gw: &Gateway, caller: &Caller, id: Uuid) -> Result<webhook_endpoint::Model> {
    webhook_endpoint::Entity::find_by_id(id)
        .filter(webhook_endpoint::Column::DeletedAt.is_null())
        .one(&gw.db)
        .await?
        .filter(|row| caller.owns(row.merchant_id, &row.mode))
        .ok_or(ServiceError::NotFound)
}

pub async fn list(gw: &Gateway, caller: &Caller) -> Result<Vec<webhook_endpoint::Model>> {
    Ok(webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::MerchantId.eq(caller.merchant_id))
        .filter(webhook_endpoint::Column::Mode.eq(caller.mode.as_str()))
        .filter(webhook_endpoint::Column::DeletedAt.is_null())
        .order_by_asc(webhook_endpoint::Column::CreatedAt)
        .all(&gw.db)
        .await?)
}

async fn save(
    gw: &Gateway,
    mut row: webhook_endpoint::ActiveModel,
) -> Result<webhook_endpoint::Model> {
    row.updated_at = Set(Utc::now());
    Ok(row.update(&gw.db).await?)
}

pub async fn update(
    gw: &Gateway,
    caller: &Caller,
    id: Uuid,
    input: &EndpointUpdate,
) -> Result<webhook_endpoint::Model> {
    let current = get(gw, caller, id).await?;
    let mut row: webhook_endpoint::ActiveModel = current.into();
    if let Some(url) = &input.url {
        row.url = Set(check_url(url, gw.settings.webhook_allow_private)?.to_string());
    }
    if input.event_types.is_some() {
        row.event_types = Set(check_types(&input.event_types)?);
    }
    if input.description.is_some() {
        check_description(&input.description)?;
        row.description = Set(input.description.clone());
    }
    save(gw, row).await
}

/// Deletes an endpoint: nothing more is sent to it.
pub async fn delete(gw: &Gateway, caller: &Caller, id: Uuid) -> Result<webhook_endpoint::Model> {
    let mut row: webhook_endpoint::ActiveModel = get(gw, caller, id).await?.into();
    row.deleted_at = Set(Some(Utc::now()));
    row.enabled = Set(false);
    row.disabled_reason = Set(Some("deleted".into()));
    save(gw, row).await
}

/// Enables an endpoint again (after a 410, or after it was flagged as failing).
pub async fn enable(gw: &Gateway, caller: &Caller, id: Uuid) -> Result<webhook_endpoint::Model> {
    let mut row: webhook_endpoint::ActiveModel = get(gw, caller, id).await?.into();
    row.enabled = Set(true);
    row.disabled_reason = Set(None);
    row.failing_since = Set(None);
    save(gw, row).await
}

/// A new secret; the previous one keeps signing too for 24 h.
pub async fn rotate_secret(gw: &Gateway, caller: &Caller, id: Uuid) -> Result<NewEndpoint> {
    let current = get(gw, caller, id).await?;
    let version = current.secret_version + 1;
    let mut row: webhook_endpoint::ActiveModel = current.into();
    row.secret_version = Set(version);
    row.previous_secret_until = Set(Some(Utc::now() + ROTATION_OVERLAP));
    let endpoint = save(gw, row).await?;
    let secret = secret(&gw.master_key, endpoint.id, version)?;
    Ok(NewEndpoint { endpoint, secret })
}
