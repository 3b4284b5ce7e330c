//! The dev stack's single origin, `http://127.0.0.1:8080`. Discord clients use one
//! base URL; in development this is where REST, the gateway and the web client are
//! served, in-process: `GET`s of the read routes go to query-api, the other methods
//! under `/api` to command-api (with its JWKS at `/.well-known/jwks.json`), the
//! Discord gateway's WebSocket is at `/gateway` (what `GET /api/v10/gateway` hands
//! out), `/status` links every service's readiness endpoint, and every other `GET`
//! is the web client: a file of its build (`web/dist`) or, for the client's own
//! routes (`/channels/…`, `/invite/…`), its `index.html`. The documentation site's
//! build (`docs/book`, `make docs`) is at `/docs/`.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use cloudcord_runtime::http_error::HttpError;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::services::ServeDir;

/// The `[front_door]` settings section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct FrontDoorSettings {
    /// Where the dev stack is served.
    pub listen_addr: SocketAddr,
    /// The web client's build (`npm run build` in `web/`), served at `/`.
    pub web_dir: PathBuf,
    /// The documentation site's build (`make docs`), served at `/docs/`.
    pub docs_dir: PathBuf,
}

impl Default for FrontDoorSettings {
    fn default() -> Self {
        Self {
            listen_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            // The dev binary serves the checkout it was built from, whatever the
            // working directory (`make up` builds `web/dist` there).
            web_dir: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../web/dist")),
            docs_dir: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/book")),
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
    /// The SFU's signalling routes (`/sfu/sessions`), without their fallbacks.
    pub media: Router,
}

/// Serves the front door until `shutdown` is cancelled. `services` are the names and
/// admin addresses of the services running in this process.
pub async fn serve(
    settings: FrontDoorSettings,
    services: Vec<(&'static str, SocketAddr)>,
    routes: Routes,
    shutdown: CancellationToken,
) -> Result<(), FrontDoorError> {
    let router = router(&services, routes, &settings.web_dir, &settings.docs_dir);
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

/// The front door's routes: the status page, `/healthz`, the write and read APIs, the
/// gateway, the SFU's signalling, the documentation site, the web client for every
/// other `GET`, and Discord's JSON 404/405 for every other path and method.
fn router(
    services: &[(&'static str, SocketAddr)],
    routes: Routes,
    web_dir: &Path,
    docs_dir: &Path,
) -> Router {
    let page = Html(status_page(services));
    let web_dir: Arc<Path> = Arc::from(web_dir);
    let docs_dir: Arc<Path> = Arc::from(docs_dir);
    let docs = Router::new().fallback(move |request: Request| docs(Arc::clone(&docs_dir), request));
    Router::new()
        .route("/status", get(move || async move { page }))
        .route("/healthz", get(|| async { "ok" }))
        .merge(routes.writes)
        .merge(routes.reads)
        .merge(routes.media)
        // `nest_service` keeps `/gateway` and `/gateway/` (twilight adds the slash).
        .nest_service("/gateway", routes.gateway)
        // `/docs` itself redirects, so the pages' relative links resolve.
        .route("/docs", get(|| async { Redirect::permanent("/docs/") }))
        .nest("/docs/", docs)
        .fallback(move |request: Request| web_client(Arc::clone(&web_dir), request))
        .method_not_allowed_fallback(|| async { HttpError::MethodNotAllowed })
}

/// Paths the APIs own: what they do not answer is Discord's JSON 404, never the app.
const API_PREFIXES: [&str; 5] = ["/api", "/gateway", "/.well-known", "/sfu", "/cdn"];

/// A `GET` outside the APIs is the web client ([`cloudcord_web::serve`]); any
/// other request there is Discord's JSON 404.
async fn web_client(web_dir: Arc<Path>, request: Request) -> Response {
    let path = request.uri().path();
    let api = API_PREFIXES.iter().any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    });
    if api || !matches!(*request.method(), Method::GET | Method::HEAD) {
        return HttpError::NotFound.into_response();
    }
    cloudcord_web::serve(&web_dir, request).await
}

/// What `/docs/` says before the site was built.
const DOCS_NOT_BUILT: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
    <title>CloudCord documentation</title></head><body><h1>Not found</h1><p>No such page, or the \
    documentation is not built: <code>make docs</code> builds it into <code>docs/book</code>.</p>\
    </body></html>";

/// A file of the documentation site's build (the path below `/docs/`).
async fn docs(dir: Arc<Path>, request: Request) -> Response {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return HttpError::NotFound.into_response();
    }
    match ServeDir::new(&*dir).try_call(request).await {
        Ok(response) if response.status() == StatusCode::NOT_FOUND => {
            (StatusCode::NOT_FOUND, Html(DOCS_NOT_BUILT)).into_response()
        }
        Ok(response) => response.map(axum::body::Body::new),
        // Missing files are 404s already; this is the disk failing to read one.
        Err(error) => HttpError::internal("serving the documentation", error).into_response(),
    }
}

fn status_page(services: &[(&'static str, SocketAddr)]) -> String {
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
         <code>/gateway</code>, the web client at <a href=\"/\">/</a>, the documentation at \
         <a href=\"/docs/\">/docs/</a>.</p><ul>{rows}</ul></body></html>"
    )
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::routing::{get, patch, post};
    use reqwest::{Method, StatusCode};

    use super::{Routes, router};

    /// Routes that answer `which` at every method and path they own.
    fn fake_routes() -> Routes {
        Routes {
            writes: Router::new(),
            reads: Router::new().nest(
                "/api/v10",
                Router::new().route("/users/@me", get(|| async { "read" })),
            ),
            gateway: Router::new().fallback(get(|| async { "gateway" })),
            media: Router::new().route("/sfu/sessions", post(|| async { "media" })),
        }
    }

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
                media: Router::new(),
            },
            std::path::Path::new("/nonexistent"),
            std::path::Path::new("/nonexistent"),
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

    #[tokio::test]
    async fn the_web_client_answers_every_other_get_but_not_the_apis() {
        // How it serves its files (caching, types) is cloudcord-web's own test.
        let dir = std::env::temp_dir().join(format!("cloudcord-web-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        std::fs::write(dir.join("index.html"), "<title>app</title>").expect("index.html");
        let front = serve(router(
            &[],
            fake_routes(),
            &dir,
            std::path::Path::new("/nonexistent"),
        ))
        .await;
        for path in ["/", "/channels/1/2", "/invite/abc", "/oauth2/bot"] {
            assert_eq!(
                call(&front, Method::GET, path).await,
                (StatusCode::OK, "<title>app</title>".to_owned()),
                "{path}"
            );
        }

        // The APIs keep their JSON 404s.
        for path in [
            "/api/v10/nowhere",
            "/api",
            "/.well-known/nothing",
            "/sfu/nothing",
        ] {
            let (code, body) = call(&front, Method::GET, path).await;
            assert_eq!(code, StatusCode::NOT_FOUND, "{path}");
            assert!(body.contains("404: Not Found"), "{path}: {body}");
        }
        let (code, body) = call(&front, Method::POST, "/channels/1").await;
        assert_eq!(code, StatusCode::NOT_FOUND);
        assert!(body.contains("404: Not Found"), "{body}");
        assert_eq!(
            call(&front, Method::GET, "/api/v10/users/@me").await.1,
            "read"
        );
        assert_eq!(call(&front, Method::POST, "/sfu/sessions").await.1, "media");
        let (code, body) = call(&front, Method::GET, "/status").await;
        assert_eq!(code, StatusCode::OK);
        assert!(body.contains("CloudCord dev stack"), "{body}");
        std::fs::remove_dir_all(&dir).expect("removing the temp dir");
    }

    #[tokio::test]
    async fn an_unbuilt_web_client_and_site_say_how_to_build_them() {
        let nowhere = std::path::Path::new("/nonexistent");
        let front = serve(router(&[], fake_routes(), nowhere, nowhere)).await;
        let (code, body) = call(&front, Method::GET, "/").await;
        assert_eq!(code, StatusCode::NOT_FOUND);
        assert!(body.contains("not built"), "{body}");
        let (code, body) = call(&front, Method::GET, "/docs/").await;
        assert_eq!(code, StatusCode::NOT_FOUND);
        assert!(body.contains("make docs"), "{body}");
    }

    #[tokio::test]
    async fn the_documentation_site_is_served_under_docs() {
        let dir = std::env::temp_dir().join(format!("cloudcord-docs-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("reference")).expect("a temp dir");
        std::fs::write(dir.join("index.html"), "<title>docs</title>").expect("index.html");
        std::fs::write(dir.join("reference/gateway.html"), "gateway page").expect("a page");
        let nowhere = std::path::Path::new("/nonexistent");
        let front = serve(router(&[], fake_routes(), nowhere, &dir)).await;
        assert_eq!(
            call(&front, Method::GET, "/docs/").await,
            (StatusCode::OK, "<title>docs</title>".to_owned())
        );
        assert_eq!(
            call(&front, Method::GET, "/docs/reference/gateway.html").await,
            (StatusCode::OK, "gateway page".to_owned())
        );
        let bare = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client")
            .get(format!("{front}/docs"))
            .send()
            .await
            .expect("answers");
        assert_eq!(bare.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(bare.headers()["location"], "/docs/");
        std::fs::remove_dir_all(&dir).expect("removing the temp dir");
    }
}
