//! HTTP handlers and the router.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Datelike;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::SimulatorConfig;
use crate::cards::{self, Behavior, CardInput, Token};
use crate::response::ApiResponse;
use crate::state::{Fingerprint, MoneyOp, Shared, Store};

type Answer = Result<ApiResponse, ApiResponse>;

const MAX_KEY_LEN: usize = 255;

pub fn router(config: SimulatorConfig) -> Router {
    let shared = Arc::new(Shared {
        config,
        store: Mutex::new(Store::default()),
    });
    let api = Router::new()
        .route("/v1/tokens", post(create_token))
        .route("/v1/payments", post(create_payment))
        .route("/v1/payments/{id}", get(get_payment))
        .route("/v1/payments/{id}/capture", post(capture))
        .route("/v1/payments/{id}/release", post(release))
        .route("/v1/payments/{id}/refund", post(refund))
        .route("/v1/operations/{key}", get(get_operation))
        .route("/v1/stats", get(stats))
        .route("/v1/authentications", post(crate::three_ds::start))
        .route("/v1/authentications/{id}", get(crate::three_ds::get))
        .route(
            "/3ds/{id}",
            get(crate::three_ds::page).post(crate::three_ds::decide),
        )
        .fallback(fallback)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&shared),
            fault_injection,
        ))
        .with_state(shared);
    Router::new().route("/healthz", get(healthz)).merge(api)
}

/// Latency, then random 503s without any effect.
async fn fault_injection(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let config = &shared.config;
    if !config.latency.is_zero() {
        tokio::time::sleep(config.latency).await;
    }
    if config.error_rate > 0.0 && rand::random::<f64>() < config.error_rate {
        tracing::debug!(path = %request.uri().path(), "fault injection: answering 503");
        return ApiResponse::unavailable().into_response();
    }
    next.run(request).await
}

/// How many money calls took effect, and how many payments exist.
async fn stats(State(shared): State<Arc<Shared>>) -> ApiResponse {
    ApiResponse::ok(shared.store.lock().await.stats())
}

async fn healthz() -> &'static str {
    "ok"
}

async fn fallback() -> ApiResponse {
    ApiResponse::not_found("no such route")
}

/// Parses a JSON object body (empty = `{}`), keeping the raw value for
/// idempotency fingerprints.
fn parse_body<T: DeserializeOwned>(bytes: &Bytes) -> Result<(Value, T), serde_json::Error> {
    let value: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(bytes)?
    };
    let parsed = serde_json::from_value(value.clone())?;
    Ok((value, parsed))
}

fn parse<T: DeserializeOwned>(bytes: &Bytes) -> Result<(Value, T), ApiResponse> {
    parse_body(bytes).map_err(|e| ApiResponse::invalid_request(format!("invalid body: {e}")))
}

fn path_param(path: Result<Path<String>, PathRejection>) -> Result<String, ApiResponse> {
    path.map(|Path(p)| p)
        .map_err(|e| ApiResponse::invalid_request(e.body_text()))
}

fn idempotency_key(headers: &HeaderMap) -> Result<String, ApiResponse> {
    let missing = || {
        ApiResponse::error(
            StatusCode::BAD_REQUEST,
            "missing_idempotency_key",
            "the Idempotency-Key header is required",
        )
    };
    let value = headers.get("idempotency-key").ok_or_else(missing)?;
    let key = value
        .to_str()
        .map_err(|_| ApiResponse::invalid_request("the Idempotency-Key header must be ASCII"))?
        .trim();
    if key.is_empty() {
        return Err(missing());
    }
    if key.len() > MAX_KEY_LEN {
        return Err(ApiResponse::invalid_request(format!(
            "the Idempotency-Key header must be at most {MAX_KEY_LEN} characters"
        )));
    }
    Ok(key.to_owned())
}

#[derive(Deserialize)]
struct TokenRequest {
    number: String,
    exp_month: i64,
    exp_year: i64,
    cvc: Option<String>,
}

async fn create_token(body: Bytes) -> Answer {
    // Serde messages may quote values (the card number): keep them out.
    let (_, req): (Value, TokenRequest) = parse_body(&body).map_err(|_| {
        ApiResponse::invalid_request(
            "invalid body: expected {number: string, exp_month: integer, exp_year: integer, cvc?: string}",
        )
    })?;
    let now = chrono::Utc::now();
    let today = (i64::from(now.year()), i64::from(now.month()));
    let input = CardInput {
        number: &req.number,
        exp_month: req.exp_month,
        exp_year: req.exp_year,
        cvc: req.cvc.as_deref(),
    };
    let card = cards::validate(input, today).map_err(|err| {
        tracing::info!(code = err.code(), "card refused at tokenization");
        ApiResponse::error(StatusCode::BAD_REQUEST, err.code(), err.to_string())
    })?;
    let token = Token::issue(&card);
    tracing::info!(
        brand = card.brand.as_str(),
        last4 = %card.last4,
        behavior = card.behavior.as_str(),
        "card tokenized"
    );
    Ok(ApiResponse::ok(json!({
        "token": token,
        "brand": card.brand.as_str(),
        "last4": card.last4,
        "exp_month": card.exp_month,
        "exp_year": card.exp_year,
        "three_d_secure": if card.behavior == Behavior::ThreeDs { "required" } else { "not_required" },
    })))
}

#[derive(Deserialize)]
struct PaymentRequest {
    token: String,
    amount: i64,
    currency: String,
    #[serde(default)]
    capture: bool,
    #[serde(default)]
    authentication: Option<String>,
}

async fn create_payment(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let key = idempotency_key(&headers)?;
    let (value, req): (Value, PaymentRequest) = parse(&body)?;
    let fingerprint = Fingerprint {
        route: "POST /v1/payments".into(),
        body: value,
    };
    let op = MoneyOp::Create {
        token: req.token,
        amount: req.amount,
        currency: req.currency,
        capture: req.capture,
        authentication: req.authentication,
    };
    Ok(money_call(shared, key, fingerprint, op).await)
}

#[derive(Deserialize)]
struct AmountRequest {
    amount: Option<i64>,
}

async fn capture(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    movement(shared, path, &headers, &body, "capture", |id, amount| {
        MoneyOp::Capture { id, amount }
    })
    .await
}

async fn release(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    movement(shared, path, &headers, &body, "release", |id, amount| {
        MoneyOp::Release { id, amount }
    })
    .await
}

async fn refund(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    movement(shared, path, &headers, &body, "refund", |id, amount| {
        MoneyOp::Refund { id, amount }
    })
    .await
}

async fn movement(
    shared: Arc<Shared>,
    path: Result<Path<String>, PathRejection>,
    headers: &HeaderMap,
    body: &Bytes,
    action: &str,
    make: impl FnOnce(String, Option<i64>) -> MoneyOp,
) -> Answer {
    let id = path_param(path)?;
    let key = idempotency_key(headers)?;
    let (value, req): (Value, AmountRequest) = parse(body)?;
    let fingerprint = Fingerprint {
        route: format!("POST /v1/payments/{id}/{action}"),
        body: value,
    };
    Ok(money_call(shared, key, fingerprint, make(id, req.amount)).await)
}

/// Runs a money call under its idempotency key.
async fn money_call(
    shared: Arc<Shared>,
    key: String,
    fingerprint: Fingerprint,
    op: MoneyOp,
) -> ApiResponse {
    let behavior = op.behavior();
    let mut store = shared.store.lock().await;
    if let Some(answer) = store.replay(&key, &fingerprint) {
        tracing::debug!(idempotency_key = %key, status = %answer.status, "idempotent replay");
        return answer;
    }
    if behavior == Some(Behavior::Flaky) && store.flaky_fails(&key) {
        tracing::info!(idempotency_key = %key, "flaky card: answering 503");
        return ApiResponse::unavailable();
    }
    if behavior == Some(Behavior::Slow) {
        store.start(&key, fingerprint.clone());
        drop(store);
        tracing::info!(idempotency_key = %key, "slow card: processing");
        // Spawned so that the work completes even if the client goes away.
        let task_shared = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            tokio::time::sleep(task_shared.config.slow_delay).await;
            let mut store = task_shared.store.lock().await;
            let response = store.execute(op);
            store.finish(&key, fingerprint, response.clone());
            response
        });
        return task.await.unwrap_or_else(|err| {
            tracing::error!(error = %err, "slow payment task failed");
            ApiResponse::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "the payment could not be processed",
            )
        });
    }
    let response = store.execute(op);
    store.finish(&key, fingerprint, response.clone());
    let disputed = store.take_chargebacks();
    drop(store);
    for id in disputed {
        crate::notify::schedule_chargeback(Arc::clone(&shared), id);
    }
    response
}

async fn get_payment(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
) -> Answer {
    let id = path_param(path)?;
    let store = shared.store.lock().await;
    let payment = store
        .payment(&id)
        .ok_or_else(|| ApiResponse::not_found("no such payment"))?;
    Ok(ApiResponse::ok(payment.to_json()))
}

async fn get_operation(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
) -> Answer {
    let key = path_param(path)?;
    Ok(shared.store.lock().await.operation(&key))
}

/// Parses a JSON body into `T` (for handlers outside this module).
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiResponse> {
    parse(bytes).map(|(_, t)| t)
}
