//! The agent's own HTTP endpoints: `/metrics`, `/health/live`, `/health/ready`.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::telemetry::{CONTENT_TYPE, Telemetry};

/// Shared state of the endpoints.
#[derive(Clone)]
pub struct Health {
    ready: Arc<AtomicBool>,
}

impl Default for Health {
    fn default() -> Self {
        Self { ready: Arc::new(AtomicBool::new(false)) }
    }
}

impl Health {
    /// Marks the agent ready (pipeline running) or not.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }
}

/// The router.
pub fn router(telemetry: Telemetry, health: Health) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let t = telemetry.clone();
                async move { ([(header::CONTENT_TYPE, CONTENT_TYPE)], format!("{}# EOF\n", t.encode())) }
            }),
        )
        .route("/health/live", get(|| async { "ok\n" }))
        .route(
            "/health/ready",
            get(move || {
                let h = health.clone();
                async move {
                    if h.ready.load(Ordering::Acquire) {
                        (axum::http::StatusCode::OK, "ready\n").into_response()
                    } else {
                        (axum::http::StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response()
                    }
                }
            }),
        )
}
