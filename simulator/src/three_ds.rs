//! 3-D Secure: an authentication the buyer approves or denies on the simulator's challenge
//! page, before the payment is authorized. Cards that need it (the `threeds` test card) are
//! declined with `authentication_required` unless the payment names an authenticated
//! authentication for the same token and amount.
use std::collections::HashMap;
use std::sync::Arc;

use axum::Form;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::response::ApiResponse;
use crate::routes::parse_json;
use crate::state::Shared;

#[derive(Debug, Clone)]
pub struct Authentication {
    pub id: String,
    pub token: String,
    pub amount: i64,
    pub currency: String,
    pub return_url: String,
    /// pending, authenticated or failed.
    pub status: &'static str,
}

impl Authentication {
    fn to_json(&self, base: &str) -> serde_json::Value {
        json!({
            "id": self.id,
            "status": self.status,
            "token": self.token,
            "amount": self.amount,
            "currency": self.currency,
            "challenge_url": format!("{base}/3ds/{}", self.id),
        })
    }
}

#[derive(Deserialize)]
struct StartRequest {
    token: String,
    amount: i64,
    currency: String,
    return_url: String,
}

fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

/// `POST /v1/authentications`: starts a challenge for a card and an amount.
pub async fn start(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<ApiResponse, ApiResponse> {
    let req: StartRequest = parse_json(&body)?;
    if crate::cards::Token::parse(&req.token).is_none() {
        return Err(ApiResponse::error(
            StatusCode::BAD_REQUEST,
            "invalid_token",
            "unknown or malformed card token",
        ));
    }
    if !(req.return_url.starts_with("http://") || req.return_url.starts_with("https://")) {
        return Err(ApiResponse::invalid_request(
            "return_url must be an http(s) URL",
        ));
    }
    let auth = Authentication {
        id: format!("auth_{}", uuid::Uuid::new_v4().simple()),
        token: req.token,
        amount: req.amount,
        currency: req.currency,
        return_url: req.return_url,
        status: "pending",
    };
    let body = auth.to_json(&base_url(&headers));
    shared
        .store
        .lock()
        .await
        .authentications
        .insert(auth.id.clone(), auth);
    Ok(ApiResponse::ok(body))
}

/// `GET /v1/authentications/{id}`.
pub async fn get(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResponse {
    match shared.store.lock().await.authentications.get(&id) {
        Some(a) => ApiResponse::ok(a.to_json(&base_url(&headers))),
        None => ApiResponse::not_found("no such authentication"),
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `GET /3ds/{id}`: the challenge page the buyer sees.
pub async fn page(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let store = shared.store.lock().await;
    let Some(a) = store.authentications.get(&id) else {
        return (
            StatusCode::NOT_FOUND,
            Html("<h1>Unknown authentication</h1>".to_string()),
        )
            .into_response();
    };
    let last4 = crate::cards::Token::parse(&a.token)
        .map(|t| t.last4)
        .unwrap_or_default();
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Verify your payment</title>\
         <style>body{{font:16px system-ui,sans-serif;background:#eef1f6;margin:0}}main{{max-width:420px;margin:60px auto;background:#fff;padding:28px;border-radius:12px}}\
         button{{width:100%;padding:12px;margin-top:12px;border-radius:8px;border:0;font-size:16px;cursor:pointer}}#approve{{background:#1b7f3b;color:#fff}}#deny{{background:#e5e8ee}}</style></head>\
         <body><main><h1>Verify your payment</h1><p>Your bank asks you to confirm a payment of <strong>{} {}</strong> (minor units) with the card ending in {}.</p>\
         <p>This is the acquirer simulator's 3-D Secure test page.</p>\
         <form method=\"post\" action=\"/3ds/{}\"><button type=\"submit\" name=\"decision\" value=\"approve\" id=\"approve\">Approve</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\" id=\"deny\">Deny</button></form></main></body></html>",
        a.amount,
        esc(&a.currency),
        esc(&last4),
        esc(&a.id)
    ))
    .into_response()
}

/// `POST /3ds/{id}`: the buyer's decision; back to the merchant's return URL.
pub async fn decide(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut store = shared.store.lock().await;
    let Some(a) = store.authentications.get_mut(&id) else {
        return (
            StatusCode::NOT_FOUND,
            Html("<h1>Unknown authentication</h1>".to_string()),
        )
            .into_response();
    };
    if a.status == "pending" {
        a.status = if form.get("decision").map(String::as_str) == Some("approve") {
            "authenticated"
        } else {
            "failed"
        };
        tracing::info!(authentication = %a.id, status = a.status, "3-D Secure decided");
    }
    let sep = if a.return_url.contains('?') { '&' } else { '?' };
    let location = format!("{}{sep}authentication={}", a.return_url, a.id);
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

/// Whether a payment of `amount` with `token` may go ahead under `authentication`.
pub fn authenticated(
    auths: &HashMap<String, Authentication>,
    authentication: Option<&str>,
    token: &str,
    amount: i64,
) -> bool {
    authentication
        .and_then(|id| auths.get(id))
        .is_some_and(|a| a.status == "authenticated" && a.token == token && a.amount == amount)
}
