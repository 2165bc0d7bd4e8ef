//! Routes: GraphQL with API-key auth, GraphiQL, and health checks.
use std::sync::Arc;
use std::time::Duration;

use async_graphql::Data;
use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource};
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::{SinkExt, StreamExt};
use serde_json::json;
use service::{Gateway, ServiceError, merchants};

use crate::graphql::{self, IdempotencyHeader, PaygateSchema};
use crate::parsed::{ParsedQueries, Prepared};

/// Shared behind one `Arc`: axum clones the state for every request, and cloning the
/// gateway's handles one by one (then dropping them) was about 2 % of `serve`'s CPU on a
/// page of payments (perf, list benchmark).
type App = Arc<AppState>;

struct AppState {
    gw: Gateway,
    schema: PaygateSchema,
    /// For documents without variables that passed every validation rule before.
    validated_schema: PaygateSchema,
    parsed: ParsedQueries,
}

pub fn router(gw: Gateway) -> Router {
    let schema = graphql::schema(Some(gw.clone()));
    Router::new()
        .route("/graphql", get(graphiql).post(graphql_handler))
        .route("/graphql/ws", get(graphql_ws))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route(
            "/acquirer/notifications",
            axum::routing::post(acquirer_notification),
        )
        .with_state(Arc::new(AppState {
            gw: gw.clone(),
            schema,
            validated_schema: graphql::validated_schema(Some(gw.clone())),
            parsed: ParsedQueries::default(),
        }))
        .merge(crate::pages::router(gw))
}

fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body =
        json!({ "data": null, "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status, Json(body)).into_response()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(key.trim())
}

async fn graphql_handler(
    State(app): State<App>,
    headers: HeaderMap,
    req: GraphQLRequest,
) -> Response {
    let caller = match bearer(&headers) {
        None => Err(ServiceError::Unauthenticated),
        Some(key) => merchants::authenticate_cached(&app.gw.db, &app.gw.keys, key).await,
    };
    let caller = match caller {
        Ok(c) => c,
        Err(ServiceError::Unauthenticated) => {
            return error_response(
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                "send a valid secret key: Authorization: Bearer sk_test_… or sk_live_…",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "authentication failed");
            return error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                "try again shortly",
            );
        }
    };
    let mut req = req.into_inner().data(caller);
    let prepared = app.parsed.prepare(&mut req);
    if let Some(key) = headers.get("idempotency-key").and_then(|v| v.to_str().ok()) {
        req = req.data(IdempotencyHeader(key.to_string()));
    }
    let answer = match prepared {
        Prepared::Validated => app.validated_schema.execute(req).await,
        Prepared::Unvalidated { note } => {
            let answer = app.schema.execute(req).await;
            if let Some(query) = note {
                app.parsed.note(&query, &answer);
            }
            answer
        }
    };
    GraphQLResponse::from(answer).into_response()
}

/// graphql-transport-ws. The API key comes in `connection_init`'s payload (`apiKey`, or
/// `Authorization: Bearer …`); a missing or bad key closes the connection with 4403.
async fn graphql_ws(
    State(app): State<App>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| serve_ws(app, protocol, socket))
}

fn key_from_init(text: &str) -> Option<String> {
    let msg: serde_json::Value = serde_json::from_str(text).ok()?;
    if msg.get("type")?.as_str()? != "connection_init" {
        return None;
    }
    let payload = msg.get("payload")?;
    if let Some(key) = payload.get("apiKey").and_then(|v| v.as_str()) {
        return Some(key.to_string());
    }
    let auth = payload
        .get("Authorization")
        .or_else(|| payload.get("authorization"))?
        .as_str()?;
    let (scheme, key) = auth.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| key.trim().to_string())
}

async fn serve_ws(app: App, protocol: GraphQLProtocol, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let first = tokio::time::timeout(Duration::from_secs(10), stream.next()).await;
    let Ok(Some(Ok(Message::Text(init)))) = first else {
        let _ = sink
            .send(close(4408, "Connection initialisation timeout"))
            .await;
        return;
    };
    let caller = match key_from_init(&init) {
        Some(key) => merchants::authenticate_cached(&app.gw.db, &app.gw.keys, &key)
            .await
            .ok(),
        None => None,
    };
    let Some(caller) = caller else {
        let _ = sink.send(close(4403, "Forbidden")).await;
        return;
    };
    // Hand the init message on to async-graphql, which answers connection_ack.
    let stream = futures::stream::once(async move { Ok(Message::Text(init)) }).chain(stream);
    GraphQLWebSocket::new_with_pair(sink, stream, app.schema.clone(), protocol)
        .on_connection_init(move |_| async move {
            let mut data = Data::default();
            data.insert(caller);
            Ok(data)
        })
        .serve()
        .await;
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// The acquirer's signed notifications (chargebacks). A bad or missing signature answers
/// 401 and changes nothing; 409 asks the acquirer to send it again later.
async fn acquirer_notification(
    State(app): State<App>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let signature = headers
        .get(service::notifications::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    match service::notifications::receive(&app.gw, signature, &body).await {
        Ok(received) => {
            let applied = matches!(received, service::notifications::Received::Applied(_));
            (
                StatusCode::OK,
                Json(json!({ "received": true, "applied": applied })),
            )
                .into_response()
        }
        Err(e) => {
            let status = match &e {
                ServiceError::Unauthenticated => StatusCode::UNAUTHORIZED,
                ServiceError::NotFound => StatusCode::NOT_FOUND,
                ServiceError::OperationInProgress => StatusCode::CONFLICT,
                ServiceError::InvalidState(_) => StatusCode::UNPROCESSABLE_ENTITY,
                ServiceError::Invalid { .. } => StatusCode::BAD_REQUEST,
                _ => {
                    tracing::error!(error = %e, "acquirer notification failed");
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            };
            let message = match &e {
                ServiceError::Unauthenticated => "missing or bad signature".to_string(),
                other => other.public_message(),
            };
            (
                status,
                Json(json!({ "error": { "code": e.code(), "message": message } })),
            )
                .into_response()
        }
    }
}

async fn graphiql() -> Html<String> {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/graphql/ws")
            .title("Paygate GraphiQL — put your key in Headers: {\"Authorization\": \"Bearer sk_test_…\"}")
            .finish(),
    )
}

async fn healthz() -> &'static str {
    "ok"
}

/// Ready when the database and the queue both answer.
async fn readyz(State(app): State<App>) -> Response {
    let db = app.gw.db.ping().await.map_err(|e| e.to_string());
    let queue = app.gw.queue.ping().await.map_err(|e| e.to_string());
    let body = json!({
        "database": if db.is_ok() { "ok" } else { "unreachable" },
        "queue": if queue.is_ok() { "ok" } else { "unreachable" },
    });
    if db.is_ok() && queue.is_ok() {
        (StatusCode::OK, Json(body)).into_response()
    } else {
        if let Err(e) = &db {
            tracing::warn!(error = %e, "database not ready");
        }
        if let Err(e) = &queue {
            tracing::warn!(error = %e, "queue not ready");
        }
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    }
}
