//! `cloudcord bench …`: measurements of a running stack, driven like a client drives
//! it, each printing a Markdown table and one JSON line for `BENCHMARKS.md`.
//!
//! Module map:
//! - [`mod@write_path`]: `bench write-path` — message creation through the API at several
//!   concurrencies, next to a bare Kafka hop.
//! - [`gateway`]: `bench gateway-memory | gateway-fanout | gateway-latency` — the
//!   gateway's memory per idle connection, its fan-out per CPU-second and the
//!   end-to-end latency from a REST POST to MESSAGE_CREATE at 1,000 clients, with
//!   the project's own gateway load generator.
//! - [`documents`]: `bench documents` — the MongoDB read models at a size,
//!   through the projector's writes and query-api's reads.
//! - [`kafka_hop`]: the bare rdkafka produce→consume round trip every Kafka-based
//!   path is compared with.
//! - [`svg`]: latency histograms as pictures.
//! - [`api`]: the few REST calls the benchmarks set up with (users, guilds,
//!   channels, invites, messages).
//!
//! What they share lives here: latency histograms and their [`Summary`].

pub mod api;
pub mod documents;
pub mod gateway;
pub mod kafka_hop;
pub mod svg;
pub mod write_path;

use std::time::Duration;

use hdrhistogram::Histogram;

pub use self::write_path::{WritePathArgs, write_path};

/// Latency summary of one measurement, in microseconds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    /// What was measured.
    pub name: String,
    /// How many samples.
    pub samples: u64,
    /// Samples per second of the measurement's wall time.
    pub throughput_per_s: f64,
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Largest sample.
    pub max_us: u64,
}

impl Summary {
    /// Summarises `histogram`, whose samples were taken over `elapsed`.
    pub fn new(name: String, histogram: &Histogram<u64>, elapsed: Duration) -> Self {
        Self {
            name,
            samples: histogram.len(),
            throughput_per_s: histogram.len() as f64 / elapsed.as_secs_f64(),
            p50_us: histogram.value_at_quantile(0.50),
            p90_us: histogram.value_at_quantile(0.90),
            p99_us: histogram.value_at_quantile(0.99),
            p999_us: histogram.value_at_quantile(0.999),
            max_us: histogram.max(),
        }
    }
}

/// An empty latency histogram: 1 µs to 60 s at 3 significant digits.
pub fn histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 60_000_000, 3)?)
}

/// `elapsed` in whole microseconds, for [`histogram`]s.
pub fn micros(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
}

/// Microseconds as milliseconds, for tables.
pub fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}
