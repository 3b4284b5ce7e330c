//! The admin HTTP server every service exposes on its own port, apart from public
//! traffic: `/metrics` (OpenMetrics text), `/healthz` (the process is alive) and
//! `/readyz` (every dependency answers; 503 otherwise).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;
use serde::Deserialize;

use crate::readiness::Readiness;

/// Where the admin server listens.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct AdminConfig {
    /// Socket address of the admin server, e.g. `0.0.0.0:9101` in a pod.
    pub listen_addr: SocketAddr,
}

impl AdminConfig {
    /// Listens on loopback only, the safe default on a developer machine.
    pub fn loopback(port: u16) -> Self {
        Self {
            listen_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        }
    }
}

#[derive(Clone)]
struct AdminState {
    registry: Arc<Registry>,
    readiness: Readiness,
}

/// Builds the admin router over a finished metrics registry.
pub fn router(registry: Registry, readiness: Readiness) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(AdminState {
            registry: Arc::new(registry),
            readiness,
        })
}

async fn metrics(State(state): State<AdminState>) -> Response {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &state.registry) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "encoding metrics failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn readyz(State(state): State<AdminState>) -> Response {
    let report = state.readiness.report().await;
    let status = if report.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(report)).into_response()
}
