//! The HTTP API's metrics, registered on the admin server's registry: the requests
//! every HTTP service counts, and the commands' own.

use cloudcord_runtime::http_metrics::RequestMetrics;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// Counters and histograms of the HTTP API. Cheap to clone (shared inside).
#[derive(Clone)]
pub struct HttpMetrics {
    /// Requests answered, by method and status class, and their duration.
    pub requests: RequestMetrics,
    /// Time from appending a command to receiving its result.
    pub result_wait: Histogram,
    /// Commands whose result did not arrive in time (answered 503).
    pub result_timeouts: Counter,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        Self {
            requests: RequestMetrics::default(),
            // 1 ms to ~16 s.
            result_wait: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
            result_timeouts: Counter::default(),
        }
    }
}

impl HttpMetrics {
    /// Registers the metrics (prefixed `cloudcord_http_…` by the service registry).
    pub fn register(&self, registry: &mut Registry) {
        self.requests.register(registry);
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
}
