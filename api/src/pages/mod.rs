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
        .route(
            "/confirm/{id}",
            get(checkout::confirm_show).post(checkout::confirm_submit),
        )
        .with_state(gw)
}
