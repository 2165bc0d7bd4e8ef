//! Fake card acquirer used by the Paygate worker.
//!
//! A real HTTP JSON service with its own in-memory state: card tokenization,
//! authorizations, captures, releases and refunds, idempotency keys, and
//! fault injection (latency, random 503s, flaky and slow test cards).

mod cards;
mod notify;
mod payments;
mod response;
mod routes;
mod state;
mod three_ds;

use std::time::Duration;

use tokio::net::TcpListener;

/// Runtime knobs of the simulator.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// Added to every answer (except `/healthz`).
    pub latency: Duration,
    /// Share (0.0..=1.0) of requests answered with a random 503, without effect.
    pub error_rate: f64,
    /// How long the slow test card takes to answer.
    pub slow_delay: Duration,
    /// How long after the chargeback card is captured its chargeback is notified.
    pub chargeback_delay: Duration,
    /// Where notifications go, and the secret they are signed with; none: not sent.
    pub notify: Option<Notify>,
}

/// The gateway's notification endpoint and the shared signing secret.
#[derive(Clone)]
pub struct Notify {
    pub url: String,
    pub secret: String,
}

impl std::fmt::Debug for Notify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notify")
            .field("url", &self.url)
            .field("secret", &"…")
            .finish()
    }
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            error_rate: 0.0,
            slow_delay: Duration::from_secs(15),
            chargeback_delay: Duration::from_secs(10),
            notify: None,
        }
    }
}

/// The whole simulator service, with fresh in-memory state inside.
pub fn router(config: SimulatorConfig) -> axum::Router {
    routes::router(config)
}

pub use notify::{SIGNATURE_HEADER, sign};

/// Serves the simulator on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    config: SimulatorConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "acquirer simulator listening");
    }
    axum::serve(listener, router(config))
        .with_graceful_shutdown(shutdown)
        .await
}
