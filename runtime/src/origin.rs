//! Which web pages may use CloudCord from a browser.
//!
//! A browser names the page behind a request in the `Origin` header — on every
//! cross-origin request, on every `POST`, `PATCH`, `PUT` and `DELETE`, and on
//! WebSocket upgrades — and a page cannot forge it. CloudCord serves its web client
//! from the issuer's origin (`[auth] issuer`, the one public origin Discord clients
//! expect), so that origin is always allowed; `[auth] allowed_origins` names any
//! other. A request from any other page is refused before it does anything, so no
//! site can use a visitor's browser (and whatever it holds) against the API or the
//! gateway. Clients that are not browsers — bots, libraries, servers — send no
//! `Origin` and are not affected.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::ORIGIN;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::http_error::HttpError;

/// The origins allowed to call from a browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedOrigins(Arc<[String]>);

impl AllowedOrigins {
    /// `issuer`'s origin (scheme, host and port, as a browser spells it) and
    /// `others`, as they are written.
    pub fn new(issuer: &str, others: &[String]) -> Self {
        let own = url::Url::parse(issuer)
            .ok()
            .map(|url| url.origin().ascii_serialization());
        Self(own.into_iter().chain(others.iter().cloned()).collect())
    }

    /// Exactly `origins`.
    pub fn listed(origins: &[String]) -> Self {
        Self(origins.into())
    }

    /// Whether a request with this `Origin` header may proceed: one on the list, or
    /// none at all (not a browser).
    pub fn allow(&self, origin: Option<&str>) -> bool {
        origin.is_none_or(|origin| self.0.iter().any(|allowed| allowed == origin))
    }
}

/// Middleware: refuses a request from a page not in `allowed` with a 403 in
/// Discord's error shape, and logs it as a security event.
pub async fn refuse_other_origins(
    State(allowed): State<AllowedOrigins>,
    request: Request,
    next: Next,
) -> Response {
    let origin = request
        .headers()
        .get(ORIGIN)
        .map(|value| value.to_str().unwrap_or("(not ASCII)"));
    if allowed.allow(origin) {
        return next.run(request).await;
    }
    tracing::warn!(
        target: "cloudcord::security",
        event = "origin_refused",
        origin = origin.unwrap_or_default(),
        method = %request.method(),
        path = request.uri().path(),
        "refused a request from a web page not on the origin allowlist"
    );
    HttpError::api(
        StatusCode::FORBIDDEN,
        0,
        "Requests from this web page's origin are not allowed",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::AllowedOrigins;

    #[test]
    fn the_issuers_origin_and_listed_ones_are_allowed_and_no_origin_is_no_browser() {
        let allowed = AllowedOrigins::new(
            "https://chat.example.org/",
            &["https://admin.example.org".to_owned()],
        );
        assert!(allowed.allow(None));
        assert!(allowed.allow(Some("https://chat.example.org")));
        assert!(allowed.allow(Some("https://admin.example.org")));
        for refused in [
            "https://evil.example",
            "http://chat.example.org",
            "https://chat.example.org:8443",
            "https://chat.example.org.evil.example",
            "null",
            "",
        ] {
            assert!(!allowed.allow(Some(refused)), "{refused}");
        }
        let dev = AllowedOrigins::new("http://127.0.0.1:8080", &[]);
        assert!(dev.allow(Some("http://127.0.0.1:8080")));
        assert!(!dev.allow(Some("http://localhost:8080")));
        let listed = AllowedOrigins::listed(&["http://localhost:8080".to_owned()]);
        assert!(listed.allow(Some("http://localhost:8080")));
        assert!(!listed.allow(Some("http://127.0.0.1:8080")));
    }
}
