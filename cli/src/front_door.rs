//! The dev stack's single origin, `http://127.0.0.1:8080`. Discord clients use one
//! base URL; in development this is where REST, the gateway and the web client are
//! served, in-process: `GET`s of the read routes go to query-api, the other methods
//! under `/api` to command-api (with its JWKS at `/.well-known/jwks.json`), the
//! Discord gateway's WebSocket is at `/gateway` (what `GET /api/v10/gateway` hands
//! out), and `/` links every service's readiness endpoint.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use cloudcord_query_api as query_api;
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

/// What the front door serves besides its own page.
pub struct Routes {
    /// command-api's routes, without their fallbacks.
    pub writes: Router,
    /// query-api's routes, without their fallbacks.
    pub reads: Router,
    /// gateway-ws's WebSocket router, nested at `/gateway`.
    pub gateway: Router,
}

/// Serves the front door until `shutdown` is cancelled. `services` are the names and
/// admin addresses of the services running in this process.
pub async fn serve(
    settings: FrontDoorSettings,
    services: Vec<(&'static str, SocketAddr)>,
    routes: Routes,
    shutdown: CancellationToken,
) -> Result<(), FrontDoorError> {
    let router = router(&services, routes);
    let listener = TcpListener::bind(settings.listen_addr)
        .await
        .map_err(|source| FrontDoorError::Bind {
            addr: settings.listen_addr,
            source,
        })?;
    tracing::info!(url = %format!("http://{}", settings.listen_addr), "CloudCord is up");
    // The services' rate limits key anonymous callers by each connection's peer.
    let app = router.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .map_err(FrontDoorError::Serve)
}

/// The front door's routes: the index page, `/healthz`, the write and read APIs, the
/// gateway, and Discord's JSON 404/405 for every other path and method.
fn router(services: &[(&'static str, SocketAddr)], routes: Routes) -> Router {
    let page = Html(index_page(services));
    Router::new()
        .route("/", get(move || async move { page }))
        .route("/healthz", get(|| async { "ok" }))
        .merge(routes.writes)
        .merge(routes.reads)
        // `nest_service` keeps `/gateway` and `/gateway/` (twilight adds the slash).
        .nest_service("/gateway", routes.gateway)
        .fallback(query_api::http::not_found)
        .method_not_allowed_fallback(|| async {
            cloudcord_runtime::http_error::HttpError::MethodNotAllowed
        })
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
         <body><h1>CloudCord dev stack</h1><p>REST API at <code>/api/v10</code>, gateway at \
         <code>/gateway</code>; the web client will be served here.</p><ul>{rows}</ul></body></html>"
    )
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::routing::{get, patch};
    use reqwest::{Method, StatusCode};

    use super::{Routes, router};

    /// Serves `router` on a free port; returns its base URL.
    async fn serve(router: Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let url = format!("http://{}", listener.local_addr().expect("bound"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        url
    }

    async fn call(base: &str, method: Method, path: &str) -> (StatusCode, String) {
        let response = reqwest::Client::new()
            .request(method, format!("{base}{path}"))
            .send()
            .await
            .expect("answers");
        let status = response.status();
        (status, response.text().await.expect("a body"))
    }

    #[tokio::test]
    async fn reads_and_writes_of_one_path_go_to_their_own_service() {
        // The same path in both APIs, nested and layered as the real routers are.
        let pass = |request, next: axum::middleware::Next| next.run(request);
        let writes = Router::new()
            .nest(
                "/api/v10",
                Router::new().route("/users/@me", patch(|| async { "write" })),
            )
            .layer(axum::extract::DefaultBodyLimit::max(1024))
            .layer(axum::middleware::from_fn(pass));
        let reads = Router::new().nest(
            "/api/v10",
            Router::new()
                .route("/users/@me", get(|| async { "read" }))
                .route_layer(axum::middleware::from_fn(pass)),
        );
        let gateway = Router::new().fallback(get(|| async { "gateway" }));
        let front = serve(router(
            &[],
            Routes {
                writes,
                reads,
                gateway,
            },
        ))
        .await;
        assert_eq!(
            call(&front, Method::GET, "/api/v10/users/@me").await,
            (StatusCode::OK, "read".to_owned())
        );
        assert_eq!(
            call(&front, Method::PATCH, "/api/v10/users/@me").await,
            (StatusCode::OK, "write".to_owned())
        );
        let (code, body) = call(&front, Method::DELETE, "/api/v10/users/@me").await;
        assert_eq!(code, StatusCode::METHOD_NOT_ALLOWED, "{body}");
        let (code, body) = call(&front, Method::GET, "/api/v10/nowhere").await;
        assert_eq!(code, StatusCode::NOT_FOUND);
        assert!(body.contains("404: Not Found"), "{body}");
        for path in ["/gateway", "/gateway/", "/gateway/?v=10&encoding=json"] {
            assert_eq!(
                call(&front, Method::GET, path).await,
                (StatusCode::OK, "gateway".to_owned()),
                "{path}"
            );
        }
    }
}
