//! [`RequestMetrics`]: the rate, errors and duration of an HTTP API's requests,
//! the same series in every service that answers HTTP (registered on the admin
//! server's registry, prefixed `cloudcord_` by the service).
//!
//! Labels stay low-cardinality: the method and the status class, never the raw
//! path (which holds ids).
//!
//! Refusals for want of credentials or rights ([`Denied`]) are also security
//! events: counted in `http_denials` by method and Discord JSON code, and logged
//! (target `cloudcord_runtime::security`, `event = "permission_denied"`).

use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::http_error::Denied;

/// A request's method and status class.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabel {
    /// `GET`, `POST`, …
    method: String,
    /// `2xx`, `4xx`, `5xx`, …
    status: &'static str,
}

/// A refused request's method and Discord JSON code (0: no valid credentials).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DenialLabel {
    method: String,
    code: u32,
}

/// Requests answered and the time they took. Cheap to clone (shared inside).
#[derive(Clone, Debug)]
pub struct RequestMetrics {
    requests: Family<RequestLabel, Counter>,
    denials: Family<DenialLabel, Counter>,
    duration: Histogram,
}

impl Default for RequestMetrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            denials: Family::default(),
            // 1 ms to ~16 s.
            duration: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
        }
    }
}

impl RequestMetrics {
    /// Registers `http_requests`, `http_denials` and `http_request_duration_seconds`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "http_requests",
            "HTTP API requests answered, by method and status class",
            self.requests.clone(),
        );
        registry.register(
            "http_denials",
            "Requests refused for want of credentials (code 0) or rights (403, by Discord JSON code)",
            self.denials.clone(),
        );
        registry.register_with_unit(
            "http_request_duration",
            "Time to answer an HTTP API request",
            Unit::Seconds,
            self.duration.clone(),
        );
    }

    /// Records one answered request.
    pub fn observe(&self, method: &str, status: u16, seconds: f64) {
        let status = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.requests
            .get_or_create(&RequestLabel {
                method: method.to_owned(),
                status,
            })
            .inc();
        self.duration.observe(seconds);
    }

    /// Records `response` to a `method` request that took `seconds`, and the
    /// refusal it is, if it is one ([`Denied`]).
    pub fn observe_response(&self, method: &str, response: &Response, seconds: f64) {
        self.observe(method, response.status().as_u16(), seconds);
        if let Some(Denied { code }) = response.extensions().get::<Denied>().copied() {
            self.denials
                .get_or_create(&DenialLabel {
                    method: method.to_owned(),
                    code,
                })
                .inc();
            if code == 0 {
                tracing::info!(target: "cloudcord_runtime::security", event = "permission_denied", method, code, "request refused: no valid credentials");
            } else {
                tracing::warn!(target: "cloudcord_runtime::security", event = "permission_denied", method, code, "request refused: missing rights");
            }
        }
    }

    /// How many requests with `method` were refused with Discord JSON code `code`.
    pub fn denied(&self, method: &str, code: u32) -> u64 {
        self.denials
            .get_or_create(&DenialLabel {
                method: method.to_owned(),
                code,
            })
            .get()
    }

    /// How many requests were answered with `method` and a status of `class`
    /// (`"2xx"`, …).
    pub fn answered(&self, method: &str, class: &'static str) -> u64 {
        self.requests
            .get_or_create(&RequestLabel {
                method: method.to_owned(),
                status: class,
            })
            .get()
    }
}

/// Middleware (`axum::middleware::from_fn_with_state`) that records every request
/// it wraps in `metrics`.
pub async fn track(
    State(metrics): State<RequestMetrics>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let response = next.run(request).await;
    metrics.observe_response(method.as_str(), &response, started.elapsed().as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use axum::response::IntoResponse;

    use super::RequestMetrics;
    use crate::http_error::HttpError;

    #[test]
    fn refusals_for_want_of_credentials_or_rights_are_counted_by_code() {
        let metrics = RequestMetrics::default();
        for refusal in [
            HttpError::Unauthorized,
            HttpError::missing_permissions(),
            HttpError::missing_access(),
            HttpError::NotFound,
        ] {
            metrics.observe_response("GET", &refusal.into_response(), 0.01);
        }
        assert_eq!(metrics.denied("GET", 0), 1);
        assert_eq!(metrics.denied("GET", 50013), 1);
        assert_eq!(metrics.denied("GET", 50001), 1);
        assert_eq!(metrics.answered("GET", "4xx"), 4);
    }

    #[test]
    fn requests_are_counted_by_method_and_status_class() {
        let metrics = RequestMetrics::default();
        metrics.observe("GET", 200, 0.01);
        metrics.observe("GET", 204, 0.01);
        metrics.observe("GET", 404, 0.01);
        assert_eq!(metrics.answered("GET", "2xx"), 2);
        assert_eq!(metrics.answered("GET", "4xx"), 1);
        assert_eq!(metrics.answered("POST", "2xx"), 0);
    }
}
