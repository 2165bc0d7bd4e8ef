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
        .route("/pay/{code}/3ds", get(checkout::three_ds_return))
        .with_state(gw)
}
