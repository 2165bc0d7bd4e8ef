//! The hosted pages buyers see.
mod checkout;
mod html;

use axum::Router;
use axum::routing::get;
use service::Gateway;

pub fn router(gw: Gateway) -> Router {
    Router::new()
        .route("/pay/{code}", get(checkout::show).post(checkout::submit))
        .route("/pay/{code}/receipt", get(checkout::receipt))
        .with_state(gw)
}
