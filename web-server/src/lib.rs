//! # cloudcord-web
//!
//! Serves the web client's build (`web/dist`): a `GET` whose last path segment names
//! a file (it has a dot) gets that file, any other `GET` gets `index.html`, and the
//! client routes itself (`/channels/…`, `/invite/…`, `/oauth2/callback`). Content-
//! hashed build output under `/assets/` is cached for a year; everything else is
//! revalidated on every load, so a new deployment shows at once.
//!
//! Two users: the dev stack's front door (`cloudcord up`), which serves it beside
//! the APIs at one origin, and the `web` binary, which is the web client's image in
//! Kubernetes (the chart's HTTPRoute sends it every path the APIs do not own).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use cloudcord_runtime::http_error::HttpError;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::services::{ServeDir, ServeFile};

/// The service's name.
pub const NAME: &str = "web";

/// Content-hashed build output (`/assets/index-3f2a….js`) never changes.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Everything else is checked on every load, so a rebuild shows at once.
const REVALIDATE: &str = "no-cache";

/// What `/` says before the web client was built.
const NOT_BUILT: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
    <title>CloudCord</title></head><body><h1>The web client is not built</h1><p><code>make up</code> \
    builds it (or <code>npm ci &amp;&amp; npm run build</code> in <code>web/</code>).</p></body></html>";

/// The `web` binary's configuration.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Config {
    /// The `[web]` section.
    #[serde(default)]
    pub web: Settings,
}

/// The `[web]` settings section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Where to listen.
    pub listen_addr: SocketAddr,
    /// The web client's build.
    pub dir: PathBuf,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            dir: PathBuf::from("web/dist"),
        }
    }
}

/// Why the web server stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The port is taken.
    #[error("cannot listen on {addr} (another process holds it; set CLOUDCORD__WEB__LISTEN_ADDR)")]
    Bind {
        /// The address tried.
        addr: SocketAddr,
        /// The operating system's answer.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("the web server failed")]
    Serve(#[source] std::io::Error),
}

/// Serves `config.web.dir` until `shutdown` is cancelled. A missing build is
/// logged, not fatal: the page says how to build it.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), Error> {
    let Settings { listen_addr, dir } = config.web;
    if !dir.join("index.html").is_file() {
        tracing::warn!(dir = %dir.display(), "no index.html: the web client is not built there");
    }
    let listener = TcpListener::bind(listen_addr)
        .await
        .map_err(|source| Error::Bind {
            addr: listen_addr,
            source,
        })?;
    tracing::info!(%listen_addr, dir = %dir.display(), "serving the web client");
    axum::serve(listener, router(&dir))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .map_err(Error::Serve)
}

/// The web client alone: its files and routes for `GET`/`HEAD`, Discord's JSON 404
/// for other methods.
pub fn router(dir: &Path) -> Router {
    let dir: Arc<Path> = Arc::from(dir);
    Router::new().fallback(move |request: Request| {
        let dir = Arc::clone(&dir);
        async move {
            if matches!(*request.method(), Method::GET | Method::HEAD) {
                serve(&dir, request).await
            } else {
                HttpError::NotFound.into_response()
            }
        }
    })
}

/// Answers a `GET` or `HEAD` for the web client in `dir`: a file of the build when
/// the last path segment names one, else `index.html`.
pub async fn serve(dir: &Path, request: Request) -> Response {
    let index = dir.join("index.html");
    if !tokio::fs::try_exists(&index).await.unwrap_or(false) {
        return (StatusCode::NOT_FOUND, Html(NOT_BUILT)).into_response();
    }
    let path = request.uri().path();
    let names_file = path
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains('.'));
    let cache = if names_file && path.starts_with("/assets/") {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    let served = if names_file {
        ServeDir::new(dir)
            .append_index_html_on_directories(false)
            .try_call(request)
            .await
    } else {
        ServeFile::new(index).try_call(request).await
    };
    let mut response = match served {
        Ok(response) => response.map(Body::new),
        // Missing files are 404s already; this is the disk failing to read one.
        Err(error) => return HttpError::internal("serving the web client", error).into_response(),
    };
    if response.status().is_success() {
        response
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    }
    response
}

#[cfg(test)]
mod tests {
    use reqwest::StatusCode;

    use super::router;

    #[tokio::test]
    async fn files_are_served_and_every_other_path_is_the_app() {
        let dir = std::env::temp_dir().join(format!("cloudcord-web-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("assets")).expect("a temp dir");
        std::fs::write(dir.join("index.html"), "<title>app</title>").expect("index.html");
        std::fs::write(dir.join("assets/app-1a2b.js"), "console.log(1)").expect("a script");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let base = format!("http://{}", listener.local_addr().expect("bound"));
        let app = router(&dir);
        tokio::spawn(async move { axum::serve(listener, app).await });

        for path in ["/", "/channels/1/2", "/oauth2/bot?client_id=1", "/login"] {
            let response = reqwest::get(format!("{base}{path}"))
                .await
                .expect("answers");
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert_eq!(response.headers()["cache-control"], "no-cache", "{path}");
            assert_eq!(response.text().await.expect("body"), "<title>app</title>");
        }
        let script = reqwest::get(format!("{base}/assets/app-1a2b.js"))
            .await
            .expect("answers");
        assert_eq!(script.status(), StatusCode::OK);
        assert!(
            script.headers()["cache-control"]
                .to_str()
                .is_ok_and(|v| v.contains("immutable"))
        );
        assert!(
            script.headers()["content-type"]
                .to_str()
                .is_ok_and(|v| v.contains("javascript"))
        );
        let missing = reqwest::get(format!("{base}/assets/gone-9f9f.js"))
            .await
            .expect("answers");
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        let post = reqwest::Client::new()
            .post(format!("{base}/channels/1"))
            .send()
            .await
            .expect("answers");
        assert_eq!(post.status(), StatusCode::NOT_FOUND);

        std::fs::remove_file(dir.join("index.html")).expect("remove index");
        let unbuilt = reqwest::get(format!("{base}/")).await.expect("answers");
        assert_eq!(unbuilt.status(), StatusCode::NOT_FOUND);
        assert!(unbuilt.text().await.expect("body").contains("not built"));
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
