//! Routes: GraphQL with API-key auth, GraphiQL, and health checks.
use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use service::{Gateway, ServiceError, merchants};

use crate::graphql::{self, IdempotencyHeader, PaygateSchema};

#[derive(Clone)]
struct AppState {
    gw: Gateway,
    schema: PaygateSchema,
}

pub fn router(gw: Gateway) -> Router {
    let schema = graphql::schema(Some(gw.clone()));
    Router::new()
        .route("/graphql", get(graphiql).post(graphql_handler))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(AppState { gw, schema })
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
    State(app): State<AppState>,
    headers: HeaderMap,
    req: GraphQLRequest,
) -> Response {
    let caller = match bearer(&headers) {
        None => Err(ServiceError::Unauthenticated),
        Some(key) => merchants::authenticate(&app.gw.db, key).await,
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
    if let Some(key) = headers.get("idempotency-key").and_then(|v| v.to_str().ok()) {
        req = req.data(IdempotencyHeader(key.to_string()));
    }
    GraphQLResponse::from(app.schema.execute(req).await).into_response()
}

async fn graphiql() -> Html<String> {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .title("Paygate GraphiQL — put your key in Headers: {\"Authorization\": \"Bearer sk_test_…\"}")
            .finish(),
    )
}

async fn healthz() -> &'static str {
    "ok"
}

/// Ready when the database and the queue both answer.
async fn readyz(State(app): State<AppState>) -> Response {
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
