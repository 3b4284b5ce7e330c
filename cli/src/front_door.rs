//! The dev stack's single origin, `http://127.0.0.1:8080`. Discord clients use one
//! base URL; in development this is where REST, the gateway and the web client are
//! served as they land. Today it serves command-api's write API under `/api` (and
//! its JWKS at `/.well-known/jwks.json`), in-process, and a page that links every
//! service's readiness endpoint. Reads will come from query-api.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The `[front_door]` settings section.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default)]
pub struct FrontDoorSettings {
    /// Where the dev stack is served.
    pub listen_addr: SocketAddr,
}

impl Default for FrontDoorSettings {
    fn default() -> Self {
        Self {
            listen_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
        }
    }
}

/// Why the front door stopped.
#[derive(Debug, thiserror::Error)]
pub enum FrontDoorError {
    /// The port is taken.
    #[error(
        "cannot listen on {addr} (another process holds it; set CLOUDCORD__FRONT_DOOR__LISTEN_ADDR)"
    )]
    Bind {
        /// The address tried.
        addr: SocketAddr,
        /// The operating system's answer.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("the front door failed")]
    Serve(#[source] std::io::Error),
}

/// Serves the front door until `shutdown` is cancelled. `services` are the names and
/// admin addresses of the services running in this process; `api` is the REST API
/// (command-api's router, which answers Discord's JSON 404 for unknown paths).
pub async fn serve(
    settings: FrontDoorSettings,
    services: Vec<(&'static str, SocketAddr)>,
    api: Router,
    shutdown: CancellationToken,
) -> Result<(), FrontDoorError> {
    let router = router(&services, api);
    let listener = TcpListener::bind(settings.listen_addr)
        .await
        .map_err(|source| FrontDoorError::Bind {
            addr: settings.listen_addr,
            source,
        })?;
    tracing::info!(url = %format!("http://{}", settings.listen_addr), "CloudCord is up");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .map_err(FrontDoorError::Serve)
}

/// The front door's routes: the index page, `/healthz`, and `api` (which brings
/// Discord's JSON 404/405 for every other path).
fn router(services: &[(&'static str, SocketAddr)], api: Router) -> Router {
    let page = Html(index_page(services));
    Router::new()
        .route("/", get(move || async move { page }))
        .route("/healthz", get(|| async { "ok" }))
        .merge(api)
}

fn index_page(services: &[(&'static str, SocketAddr)]) -> String {
    let mut rows = String::new();
    for (name, admin) in services {
        let _ = write!(
            rows,
            r#"<li><b>{name}</b>: <a href="http://{admin}/readyz">readyz</a> · <a href="http://{admin}/metrics">metrics</a></li>"#
        );
    }
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>CloudCord</title></head>\
         <body><h1>CloudCord dev stack</h1><p>The web client, REST API and gateway will be served \
         here as they land.</p><ul>{rows}</ul></body></html>"
    )
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::routing::post;

    use super::router;

    #[test]
    fn an_api_router_with_its_own_fallbacks_merges_under_the_front_door() {
        // command-api's router carries a fallback and a 405 fallback; merging must
        // not panic (axum refuses two fallbacks) and must keep the index page.
        let api = Router::new()
            .route("/api/v10/guilds", post(|| async { "created" }))
            .fallback(|| async { "discord 404" })
            .method_not_allowed_fallback(|| async { "discord 405" });
        let _ = router(&[], api);
    }
}
