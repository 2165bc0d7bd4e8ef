//! The merchant and its API keys.
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{api_key, merchant};
use service::{Mode, merchants};

use super::context::{caller, gateway, id_of, parse_id};
use super::errors::{UserError, graphql_error, split};

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "service::Mode")]
pub enum KeyMode {
    Test,
    Live,
}

pub struct Merchant(pub merchant::Model, pub Mode);

#[Object]
impl Merchant {
    async fn id(&self) -> ID {
        id_of(self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The mode of the key in use.
    async fn mode(&self) -> KeyMode {
        self.1.into()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// An API key as listed: never the secret, only its prefix and last 4 characters.
pub struct ApiKey(pub api_key::Model);

#[Object]
impl ApiKey {
    async fn id(&self) -> ID {
        id_of(self.0.id)
    }
    async fn mode(&self) -> KeyMode {
        if self.0.mode == "live" {
            KeyMode::Live
        } else {
            KeyMode::Test
        }
    }
    async fn prefix(&self) -> &str {
        &self.0.prefix
    }
    async fn last4(&self) -> &str {
        &self.0.last4
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
}

#[derive(InputObject)]
pub struct CreateApiKeyInput {
    pub mode: KeyMode,
}

#[derive(SimpleObject)]
pub struct CreateApiKeyPayload {
    pub api_key: Option<ApiKey>,
    /// The secret key: shown this once, stored only as a hash.
    pub secret: Option<String>,
    pub errors: Vec<UserError>,
}

#[derive(InputObject)]
pub struct RevokeApiKeyInput {
    pub id: ID,
}

#[derive(SimpleObject)]
pub struct ApiKeyPayload {
    pub api_key: Option<ApiKey>,
    pub errors: Vec<UserError>,
}

#[derive(Default)]
pub struct MerchantQuery;

#[Object]
impl MerchantQuery {
    /// The merchant the API key belongs to.
    async fn merchant(&self, ctx: &Context<'_>) -> async_graphql::Result<Merchant> {
        let caller = caller(ctx)?;
        let m = merchants::get_merchant(&gateway(ctx)?.db, &caller)
            .await
            .map_err(|e| graphql_error(&e))?;
        Ok(Merchant(m, caller.mode))
    }

    /// The merchant's API keys (test and live), oldest first.
    async fn api_keys(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ApiKey>> {
        let caller = caller(ctx)?;
        let keys = merchants::list_api_keys(&gateway(ctx)?.db, &caller)
            .await
            .map_err(|e| graphql_error(&e))?;
        Ok(keys.into_iter().map(ApiKey).collect())
    }
}

#[derive(Default)]
pub struct MerchantMutation;

#[Object]
impl MerchantMutation {
    /// Makes a new secret key; its text is in `secret`, this once.
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        input: CreateApiKeyInput,
    ) -> async_graphql::Result<CreateApiKeyPayload> {
        let caller = caller(ctx)?;
        let (made, errors) =
            split(merchants::create_api_key(&gateway(ctx)?.db, &caller, input.mode.into()).await)?;
        let (api_key, secret) = match made {
            Some((row, secret)) => (Some(ApiKey(row)), Some(secret.expose().to_string())),
            None => (None, None),
        };
        Ok(CreateApiKeyPayload {
            api_key,
            secret,
            errors,
        })
    }

    /// Revokes a key at once: requests with it answer UNAUTHENTICATED.
    async fn revoke_api_key(
        &self,
        ctx: &Context<'_>,
        input: RevokeApiKeyInput,
    ) -> async_graphql::Result<ApiKeyPayload> {
        let caller = caller(ctx)?;
        let gw = gateway(ctx)?;
        let result = match parse_id(&input.id, "id") {
            Ok(id) => {
                let revoked = merchants::revoke_api_key(&gw.db, &caller, id).await;
                gw.keys.forget(id);
                revoked
            }
            Err(e) => Err(e),
        };
        let (key, errors) = split(result)?;
        Ok(ApiKeyPayload {
            api_key: key.map(ApiKey),
            errors,
        })
    }
}
