//! Events, webhook endpoints and deliveries.
use async_graphql::{Context, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{event, webhook_attempt, webhook_delivery, webhook_endpoint};
use service::ServiceError;
use service::events::{self, EventFilter};
use service::page::PageRequest;
use service::webhooks::{self, EndpointInput, EndpointUpdate};
use uuid::Uuid;

use super::context::{caller, gateway, id_of, idempotent, parse_id};
use super::errors::{UserError, graphql_error, split};
use super::{EdgeCursor, PageInfo};

pub struct Event(pub event::Model);

#[Object]
impl Event {
    /// Also the `webhook-id` of its deliveries.
    async fn id(&self) -> ID {
        id_of(self.0.id)
    }
    #[graphql(name = "type")]
    async fn event_type(&self) -> &str {
        &self.0.event_type
    }
    async fn payment_id(&self) -> Option<ID> {
        self.0.payment_id.map(id_of)
    }
    /// 1, 2, 3… per payment.
    async fn sequence(&self) -> i64 {
        self.0.sequence
    }
    /// The object as it was when the event happened.
    async fn data(&self) -> Json<serde_json::Value> {
        Json(self.0.data.clone())
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn deliveries(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Delivery>> {
        let rows = webhooks::deliveries_of(gateway(ctx)?, self.0.id)
            .await
            .map_err(|e| graphql_error(&e))?;
        Ok(rows.into_iter().map(Delivery).collect())
    }
}

pub struct Delivery(pub webhook_delivery::Model);

#[Object]
impl Delivery {
    async fn id(&self) -> ID {
        id_of(self.0.id)
    }
    /// PENDING, SUCCEEDED or FAILED.
    async fn status(&self) -> &str {
        &self.0.status
    }
    async fn attempt_count(&self) -> i32 {
        self.0.attempts
    }
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.0.next_attempt_at
    }
    async fn endpoint(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<WebhookEndpoint>> {
        let caller = caller(ctx)?;
        match webhooks::get(gateway(ctx)?, &caller, self.0.endpoint_id).await {
            Ok(e) => Ok(Some(WebhookEndpoint(e))),
            Err(ServiceError::NotFound) => Ok(None),
            Err(e) => Err(graphql_error(&e)),
        }
    }
    async fn attempts(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<DeliveryAttempt>> {
        let rows = webhooks::attempts(gateway(ctx)?, self.0.id)
            .await
            .map_err(|e| graphql_error(&e))?;
        Ok(rows.into_iter().map(DeliveryAttempt).collect())
    }
}

pub struct DeliveryAttempt(pub webhook_attempt::Model);

#[Object]
impl DeliveryAttempt {
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    async fn status_code(&self) -> Option<i32> {
        self.0.status_code
    }
    async fn duration_ms(&self) -> i64 {
        self.0.duration_ms
    }
    /// At most 1 KiB of the receiver's answer.
    async fn response_excerpt(&self) -> Option<&str> {
        self.0.response_excerpt.as_deref()
    }
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
}

pub struct WebhookEndpoint(pub webhook_endpoint::Model);

#[Object]
impl WebhookEndpoint {
    async fn id(&self) -> ID {
        id_of(self.0.id)
    }
    async fn url(&self) -> &str {
        &self.0.url
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// The event types sent to it; null = all.
    async fn event_types(&self) -> Option<Vec<String>> {
        self.0.event_types.as_ref().and_then(|v| {
            v.as_array().map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(String::from))
                    .collect()
            })
        })
    }
    async fn enabled(&self) -> bool {
        self.0.enabled
    }
    async fn disabled_reason(&self) -> Option<&str> {
        self.0.disabled_reason.as_deref()
    }
    /// Set when a delivery failed after its last try.
    async fn failing_since(&self) -> Option<DateTime<Utc>> {
        self.0.failing_since
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

#[derive(SimpleObject)]
pub struct EventEdge {
    pub cursor: EdgeCursor,
    pub node: Event,
}

#[derive(SimpleObject)]
pub struct EventConnection {
    pub edges: Vec<EventEdge>,
    pub page_info: PageInfo,
    pub total_count: u64,
}

#[derive(InputObject)]
pub struct EventsFilter {
    #[graphql(name = "type")]
    pub event_type: Option<String>,
    pub payment_id: Option<ID>,
}

#[derive(InputObject)]
pub struct CreateWebhookEndpointInput {
    pub url: String,
    /// Default: every event type.
    pub event_types: Option<Vec<String>>,
    pub description: Option<String>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject)]
pub struct UpdateWebhookEndpointInput {
    pub id: ID,
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub description: Option<String>,
}

#[derive(InputObject)]
pub struct WebhookEndpointIdInput {
    pub id: ID,
}

#[derive(InputObject)]
pub struct RedeliverEventInput {
    pub event_id: ID,
    /// Default: every enabled endpoint that wants the event.
    pub endpoint_id: Option<ID>,
}

#[derive(SimpleObject)]
pub struct WebhookEndpointPayload {
    pub endpoint: Option<WebhookEndpoint>,
    pub errors: Vec<UserError>,
}

#[derive(SimpleObject)]
pub struct WebhookSecretPayload {
    pub endpoint: Option<WebhookEndpoint>,
    /// `whsec_…`: shown when the endpoint is made or its secret rotated.
    pub secret: Option<String>,
    pub errors: Vec<UserError>,
}

#[derive(SimpleObject)]
pub struct RedeliverEventPayload {
    pub deliveries: Vec<Delivery>,
    pub errors: Vec<UserError>,
}

#[derive(Default)]
pub struct EventQuery;

#[Object]
impl EventQuery {
    /// Events newest first.
    async fn events(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<EventsFilter>,
    ) -> async_graphql::Result<EventConnection> {
        let caller = caller(ctx)?;
        let mut page = PageRequest::new(first, after.as_deref()).map_err(|e| graphql_error(&e))?;
        page.with_total = ctx.look_ahead().field("totalCount").exists();
        let filter = match filter {
            None => EventFilter::default(),
            Some(f) => EventFilter {
                event_type: f.event_type,
                payment_id: f
                    .payment_id
                    .map(|id| parse_id(&id, "paymentId"))
                    .transpose()
                    .map_err(|e| graphql_error(&e))?,
            },
        };
        let page = events::list(gateway(ctx)?, &caller, &filter, page)
            .await
            .map_err(|e| graphql_error(&e))?;
        let end_cursor = page.items.last().map(|(c, _)| c.encode());
        Ok(EventConnection {
            edges: page
                .items
                .into_iter()
                .map(|(c, node)| EventEdge {
                    cursor: EdgeCursor(c),
                    node: Event(node),
                })
                .collect(),
            page_info: PageInfo {
                has_next_page: page.has_next_page,
                end_cursor,
            },
            total_count: page.total_count,
        })
    }

    async fn event(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Event> {
        let caller = caller(ctx)?;
        let id = parse_id(&id, "id").map_err(|_| graphql_error(&ServiceError::NotFound))?;
        let ev = events::get(&gateway(ctx)?.db, &caller, id)
            .await
            .map_err(|e| graphql_error(&e))?;
        Ok(Event(ev))
    }

    async fn webhook_endpoints(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<WebhookEndpoint>> {
        let caller = caller(ctx)?;
        let rows = webhooks::list(gateway(ctx)?, &caller)
            .await
            .map_err(|e| graphql_error(&e))?;
        Ok(rows.into_iter().map(WebhookEndpoint).collect())
    }
}

fn endpoint_payload(
    r: Result<webhook_endpoint::Model, ServiceError>,
) -> async_graphql::Result<WebhookEndpointPayload> {
    let (e, errors) = split(r)?;
    Ok(WebhookEndpointPayload {
        endpoint: e.map(WebhookEndpoint),
        errors,
    })
}

fn with_id<T>(id: &ID, f: impl FnOnce(Uuid) -> T) -> Result<T, ServiceError> {
    parse_id(id, "id").map(f)
}

#[derive(Default)]
pub struct EventMutation;

#[Object]
impl EventMutation {
    /// Registers an endpoint; the answer holds its signing secret.
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: CreateWebhookEndpointInput,
    ) -> async_graphql::Result<WebhookSecretPayload> {
        let caller = caller(ctx)?;
        let gw = gateway(ctx)?;
        let svc = EndpointInput {
            url: input.url,
            event_types: input.event_types,
            description: input.description,
        };
        let result = idempotent(
            ctx,
            input.idempotency_key.as_deref(),
            "createWebhookEndpoint",
            &svc,
            |claim| webhooks::create(gw, &caller, &svc, claim),
        )
        .await;
        let result = match result {
            Ok(v) => {
                let id = v
                    .get("endpointId")
                    .and_then(|s| s.as_str())
                    .and_then(|s| s.parse().ok());
                let version = v.get("secretVersion").and_then(|s| s.as_i64()).unwrap_or(1);
                match id {
                    Some(id) => match webhooks::get(gw, &caller, id).await {
                        Ok(e) => webhooks::secret(
                            &gw.master_key,
                            e.id,
                            i32::try_from(version).unwrap_or(1),
                        )
                        .map(|s| (e, s)),
                        Err(e) => Err(e),
                    },
                    None => Err(ServiceError::Internal(
                        "recorded answer has no endpoint".into(),
                    )),
                }
            }
            Err(e) => Err(e),
        };
        let (made, errors) = split(result)?;
        let (endpoint, secret) = match made {
            Some((e, s)) => (Some(WebhookEndpoint(e)), Some(s)),
            None => (None, None),
        };
        Ok(WebhookSecretPayload {
            endpoint,
            secret,
            errors,
        })
    }

    async fn update_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: UpdateWebhookEndpointInput,
    ) -> async_graphql::Result<WebhookEndpointPayload> {
        let caller = caller(ctx)?;
        let gw = gateway(ctx)?;
        let update = EndpointUpdate {
            url: input.url,
            event_types: input.event_types,
            description: input.description,
        };
        let r = match with_id(&input.id, |id| id) {
            Ok(id) => webhooks::update(gw, &caller, id, &update).await,
            Err(e) => Err(e),
        };
        endpoint_payload(r)
    }

    async fn delete_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: WebhookEndpointIdInput,
    ) -> async_graphql::Result<WebhookEndpointPayload> {
        let caller = caller(ctx)?;
        let gw = gateway(ctx)?;
        let r = match with_id(&input.id, |id| id) {
            Ok(id) => webhooks::delete(gw, &caller, id).await,
            Err(e) => Err(e),
        };
        endpoint_payload(r)
    }

    /// Enables an endpoint again after a 410 or after it was flagged as failing.
    async fn enable_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: WebhookEndpointIdInput,
    ) -> async_graphql::Result<WebhookEndpointPayload> {
        let caller = caller(ctx)?;
        let gw = gateway(ctx)?;
        let r = match with_id(&input.id, |id| id) {
            Ok(id) => webhooks::enable(gw, &caller, id).await,
            Err(e) => Err(e),
        };
        endpoint_payload(r)
    }

    /// A new secret; for 24 h both the new and the previous secret sign.
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        input: WebhookEndpointIdInput,
    ) -> async_graphql::Result<WebhookSecretPayload> {
        let caller = caller(ctx)?;
        let gw = gateway(ctx)?;
        let r = match with_id(&input.id, |id| id) {
            Ok(id) => webhooks::rotate_secret(gw, &caller, id).await,
            Err(e) => Err(e),
        };
        let (made, errors) = split(r)?;
        let (endpoint, secret) = match made {
            Some(n) => (Some(WebhookEndpoint(n.endpoint)), Some(n.secret)),
            None => (None, None),
        };
        Ok(WebhookSecretPayload {
            endpoint,
            secret,
            errors,
        })
    }

    /// Sends an event again, with the same webhook-id.
    async fn redeliver_event(
        &self,
        ctx: &Context<'_>,
        input: RedeliverEventInput,
    ) -> async_graphql::Result<RedeliverEventPayload> {
        let caller = caller(ctx)?;
        let gw = gateway(ctx)?;
        let ids = parse_id(&input.event_id, "eventId").and_then(|e| {
            Ok((
                e,
                input
                    .endpoint_id
                    .as_ref()
                    .map(|id| parse_id(id, "endpointId"))
                    .transpose()?,
            ))
        });
        let r = match ids {
            Ok((event_id, endpoint_id)) => {
                webhooks::redeliver(gw, &caller, event_id, endpoint_id).await
            }
            Err(e) => Err(e),
        };
        let (made, errors) = split(r)?;
        Ok(RedeliverEventPayload {
            deliveries: made.unwrap_or_default().into_iter().map(Delivery).collect(),
            errors,
        })
    }
}
