//! The HTTP API's metrics, registered on the admin server's registry.
//!
//! Labels stay low-cardinality: the method and the status class, never the raw
//! path (which holds ids).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// A request's method and status class.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabel {
    /// `GET`, `POST`, …
    pub method: String,
    /// `2xx`, `4xx`, `5xx`, …
    pub status: &'static str,
}

/// Counters and histograms of the HTTP API. Cheap to clone (shared inside).
#[derive(Clone)]
pub struct HttpMetrics {
    /// Requests answered, by method and status class.
    pub requests: Family<RequestLabel, Counter>,
    /// Time to answer a request.
    pub request_duration: Histogram,
    /// Time from appending a command to receiving its result.
    pub result_wait: Histogram,
    /// Commands whose result did not arrive in time (answered 503).
    pub result_timeouts: Counter,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            // 1 ms to ~16 s.
            request_duration: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
            result_wait: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
            result_timeouts: Counter::default(),
        }
    }
}

impl HttpMetrics {
    /// Registers the metrics (prefixed `cloudcord_http_…` by the service registry).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "http_requests",
            "HTTP API requests answered, by method and status class",
            self.requests.clone(),
        );
        registry.register_with_unit(
            "http_request_duration",
            "Time to answer an HTTP API request",
            Unit::Seconds,
            self.request_duration.clone(),
        );
        registry.register_with_unit(
            "http_command_result_wait",
            "Time from appending a command to receiving its result",
            Unit::Seconds,
            self.result_wait.clone(),
        );
        registry.register(
            "http_command_result_timeouts",
            "Commands whose result did not arrive in time (answered 503)",
            self.result_timeouts.clone(),
        );
    }

    /// Records one answered request.
    pub fn observe_request(&self, method: &str, status: u16, seconds: f64) {
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
        self.request_duration.observe(seconds);
    }
}
