//! `/healthz` (the process runs: always 200), `/readyz` (200 once the binary says it
//! is ready, 503 before and while stopping) and `/metrics` (the Prometheus text format
//! of one registry).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::routing::get;
use prometheus::{Encoder, Registry, TextEncoder};

#[derive(Debug)]
pub struct Health {
    ready: AtomicBool,
    registry: Registry,
}

impl Health {
    /// Not ready until [`Health::set_ready`]; `/metrics` serves `registry`.
    pub fn new(registry: Registry) -> Arc<Self> {
        Arc::new(Self { ready: AtomicBool::new(false), registry })
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}

/// The Prometheus text format of `registry`.
pub fn render(registry: &Registry) -> String {
    let mut buffer = Vec::new();
    // Encoding into a Vec fails only on metric families the registry would not have
    // accepted; render what there is.
    let _ = TextEncoder::new().encode(&registry.gather(), &mut buffer);
    String::from_utf8_lossy(&buffer).into_owned()
}

pub fn router(health: Arc<Health>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(|State(h): State<Arc<Health>>| async move {
                if h.is_ready() { (StatusCode::OK, "ok") } else { (StatusCode::SERVICE_UNAVAILABLE, "not ready") }
            }),
        )
        .route(
            "/metrics",
            get(|State(h): State<Arc<Health>>| async move {
                ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], render(&h.registry))
            }),
        )
        .with_state(health)
}

/// Bind `bind` and serve in a task until `shutdown` resolves; returns the bound address
/// (port 0 picks a free one).
pub async fn serve(
    bind: SocketAddr,
    health: Arc<Health>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router(health)).with_graceful_shutdown(shutdown).await {
            tracing::error!(error = %e, "health server failed");
        }
    });
    Ok(addr)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::Stop;

    #[tokio::test]
    async fn health_ready_and_metrics() {
        let registry = Registry::new();
        let counter = prometheus::IntCounter::new("berth_test_total", "A test counter.").unwrap();
        registry.register(Box::new(counter.clone())).unwrap();
        counter.inc();
        let health = Health::new(registry);
        let stop = Stop::new();
        let addr = serve("127.0.0.1:0".parse().unwrap(), Arc::clone(&health), stop.future()).await.unwrap();
        let http = reqwest::Client::new();
        let get = |path: &str| http.get(format!("http://{addr}{path}")).send();
        assert_eq!(get("/healthz").await.unwrap().status(), 200);
        assert_eq!(get("/readyz").await.unwrap().status(), 503);
        health.set_ready(true);
        assert_eq!(get("/readyz").await.unwrap().status(), 200);
        let text = get("/metrics").await.unwrap().text().await.unwrap();
        assert!(text.contains("berth_test_total 1"), "{text}");
        stop.trigger();
    }
}
