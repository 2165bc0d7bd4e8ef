//! The HTTP face of Paygate: GraphQL (with GraphiQL), health checks, and the router.
pub mod graphql;
mod http;
mod pages;
mod parsed;

use std::net::SocketAddr;

use service::Gateway;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use http::router;

/// A bound API server; `Application::build` binds port 0 in tests.
pub struct Application {
    listener: TcpListener,
    gw: Gateway,
}

impl Application {
    pub async fn build(gw: Gateway, addr: SocketAddr) -> std::io::Result<Application> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Application { listener, gw })
    }

    /// Serves on a listener bound beforehand (so the public URL can name its port).
    pub fn from_listener(gw: Gateway, listener: TcpListener) -> Application {
        Application { listener, gw }
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` is cancelled, then lets requests in flight finish.
    pub async fn run(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let app = router(self.gw);
        axum::serve(self.listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
    }
}
