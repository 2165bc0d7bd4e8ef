//! What a resolver gets from the request: the gateway, the caller, the idempotency key.
use async_graphql::Context;
use serde::Serialize;
use service::{Caller, Gateway, ServiceError, idempotency};
use uuid::Uuid;

/// The `Idempotency-Key` header, when the client sent one.
#[derive(Clone, Debug)]
pub struct IdempotencyHeader(pub String);

pub fn gateway<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Gateway> {
    ctx.data::<Gateway>()
}

pub fn caller(ctx: &Context<'_>) -> async_graphql::Result<Caller> {
    ctx.data::<Caller>()
        .copied()
        .map_err(|_| super::errors::graphql_error(&ServiceError::Unauthenticated))
}

/// An object's ID: its UUID, hyphenated, in lower case. Written straight into the string, not
/// through `Display`'s formatter: a page of 20 payments formats 20 of them.
pub fn id_of(uuid: Uuid) -> async_graphql::ID {
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    async_graphql::ID(uuid.hyphenated().encode_lower(&mut text).to_owned())
}

/// Parses an ID argument; a malformed one is simply not found.
pub fn parse_id(id: &async_graphql::ID, field: &str) -> Result<Uuid, ServiceError> {
    id.parse::<Uuid>().map_err(|_| {
        ServiceError::invalid(
            "NOT_FOUND",
            &[field],
            format!("no object has the id {:?}", id.as_str()),
        )
    })
}

/// Runs a mutation once per idempotency key (the input's `idempotencyKey`, else the header).
pub async fn idempotent<F, Fut, A>(
    ctx: &Context<'_>,
    key: Option<&str>,
    operation: &str,
    input: &impl Serialize,
    f: F,
) -> Result<A, ServiceError>
where
    F: FnOnce(Option<idempotency::Claim>) -> Fut,
    Fut: std::future::Future<Output = Result<A, ServiceError>>,
    A: idempotency::Answer,
{
    let gw = ctx
        .data::<Gateway>()
        .map_err(|_| ServiceError::Internal("no gateway".into()))?;
    let caller = ctx
        .data::<Caller>()
        .map_err(|_| ServiceError::Unauthenticated)?;
    let header = ctx.data_opt::<IdempotencyHeader>().map(|h| h.0.as_str());
    let input = serde_json::to_value(input).map_err(|e| ServiceError::Internal(e.to_string()))?;
    idempotency::run(gw, caller, key.or(header), operation, &input, f).await
}
