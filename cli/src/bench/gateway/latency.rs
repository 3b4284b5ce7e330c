//! `cloudcord bench gateway-latency`: from a REST `POST /channels/{id}/messages`
//! to its MESSAGE_CREATE at each of 1,000 connected clients, at a steady 200
//! messages per second (after a warm-up), as percentiles over every delivery —
//! next to a bare Kafka produce→consume hop measured in the same run, with the
//! clients connected, on the same broker.
//!
//! Each message's content carries the run's marker and the message's index; the
//! send instant is taken just before the request goes out, and each client
//! subtracts it from the instant it read the frame (one process, one monotonic
//! clock). The path measured: HTTP → `commands` → processor transaction → `events`
//! → projector (PostgreSQL commit) → `projected` → gateway fan-out → WebSocket.
//!
//! In the same run it reads the gateway's memory per connection (the resident set
//! the last nine tenths of the clients add), its CPU time per 1,000 deliveries, and the
//! projectors' largest lag (`cloudcord_projector_lag`, sampled from their metrics);
//! `--histogram` draws the latencies as an SVG picture.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cloudcord_runtime::kafka::KafkaConfig;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::client::{Compression, SendLog};
use super::process;
use super::sender::Sender;
use super::{GatewayArgs, drained, load_cell, message_count};
use crate::bench::kafka_hop::kafka_hop;
use crate::bench::{Summary, ms, svg};

/// How long without a delivery ends the run if some never arrive.
const QUIET: Duration = Duration::from_secs(5);

/// What to measure.
#[derive(Debug, Clone, clap::Args)]
pub struct LatencyArgs {
    /// The stack, the gateway and the guild.
    #[command(flatten)]
    pub gateway: GatewayArgs,
    /// Connected clients, each a member of the guild.
    #[arg(long, default_value_t = 1_000)]
    pub clients: usize,
    /// Messages per second.
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// Seconds of timed messages.
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
    /// Seconds of warm-up at the same rate, not timed.
    #[arg(long, default_value_t = 5)]
    pub warmup_secs: u64,
    /// Produce→consume round trips for the Kafka baseline.
    #[arg(long, default_value_t = 2_000)]
    pub hop_samples: usize,
    /// Bytes of each message's content.
    #[arg(long, default_value_t = 64)]
    pub content_bytes: usize,
    /// Transport compression of the connections.
    #[arg(long, value_enum, default_value_t = Compression::None)]
    pub compress: Compression,
    /// The projectors' metrics, sampled for their lag during the timed messages.
    #[arg(long, default_value = "http://127.0.0.1:9103/metrics")]
    pub projectors_metrics: String,
    /// Draw the end-to-end latencies into this SVG file.
    #[arg(long)]
    pub histogram: Option<PathBuf>,
}

/// Everything one run measured.
#[derive(Debug, serde::Serialize)]
struct Report {
    clients: usize,
    rate: f64,
    kafka_hop: Summary,
    post_answer: Summary,
    e2e: Summary,
    e2e_p99_over_hop_p99: f64,
    messages: usize,
    failed: usize,
    delivered: u64,
    expected: u64,
    max_behind_ms: f64,
    gateway_cpu_cores: Option<f64>,
    gateway_cpu_ms_per_1000_deliveries: Option<f64>,
    gateway_kib_per_connection: Option<f64>,
    projector_lag_max: Option<i64>,
    load_before: [f64; 3],
    load_after: [f64; 3],
    lost_connections: usize,
}

/// Runs the benchmark and prints its report.
pub async fn latency(
    kafka: &KafkaConfig,
    state_dir: &Path,
    args: &LatencyArgs,
) -> anyhow::Result<()> {
    let (api, guild) = args.gateway.guild(state_dir).await?;
    let target = args.gateway.gateway(state_dir).await?;
    let outcome = async {
        let warmup = message_count(args.rate, args.warmup_secs);
        let timed = message_count(args.rate, args.seconds);
        let log = Arc::new(SendLog::new(warmup + timed, warmup));
        // A tenth of the clients first, so the memory per connection is what the
        // other nine tenths add, not the gateway's own warm-up.
        let (mut fleet, tokens) = args
            .gateway
            .timed_fleet(
                &target,
                &guild,
                args.compress,
                args.clients.div_ceil(10),
                &log,
            )
            .await?;
        let first = fleet.len();
        let memory_before = target.pid().map(process::memory).transpose()?;
        fleet
            .grow(&tokens, args.clients, args.gateway.handshake_concurrency)
            .await?;
        let clients = fleet.len() as u64;
        let added = fleet.len().saturating_sub(first);
        let gateway_kib_per_connection = match (target.pid(), memory_before) {
            (Some(pid), Some(before)) if added > 0 => Some(
                process::memory(pid)?.rss.saturating_sub(before.rss) as f64 / 1024.0 / added as f64,
            ),
            _ => None,
        };
        let hop = kafka_hop(kafka, args.hop_samples)
            .await
            .context("Kafka baseline")?;
        let sender = Sender {
            api,
            channel: guild.channel,
            authors: Arc::from(tokens),
            log,
            content_bytes: args.content_bytes,
        };
        let warm = sender.post(0..warmup, args.rate).await?;
        drained(&fleet, warm.accepted as u64 * clients, QUIET).await;
        let load_before = process::load_average()?;
        let before = fleet.message_creates();
        let cpu_before = target.pid().map(process::cpu_time).transpose()?;
        let start = Instant::now();
        let lag = LagSampler::start(&args.projectors_metrics);
        let sent = sender.post(warmup..warmup + timed, args.rate).await?;
        let expected = sent.accepted as u64 * clients;
        let end = drained(&fleet, before + expected, QUIET).await;
        let projector_lag_max = lag.stop().await;
        let window = end.saturating_duration_since(start);
        let delivered = fleet.message_creates() - before;
        let gateway_cpu = match (target.pid(), cpu_before) {
            (Some(pid), Some(cpu_before)) => {
                Some(process::cpu_time(pid)?.saturating_sub(cpu_before))
            }
            _ => None,
        };
        let gateway_cpu_cores = gateway_cpu.map(|cpu| cpu.as_secs_f64() / window.as_secs_f64());
        let gateway_cpu_ms_per_1000_deliveries = gateway_cpu
            .filter(|_| delivered > 0)
            .map(|cpu| cpu.as_secs_f64() * 1000.0 * 1000.0 / delivered as f64);
        let latencies = fleet.latencies()?;
        let e2e = Summary::new(
            "REST POST → MESSAGE_CREATE at a client".to_owned(),
            &latencies,
            window,
        );
        if let Some(path) = &args.histogram {
            let title = format!(
                "REST POST → MESSAGE_CREATE, {} clients, {:.0} messages/s ({} deliveries)",
                args.clients, args.rate, delivered
            );
            std::fs::write(path, svg::latency_histogram(&latencies, &title))
                .with_context(|| format!("writing {}", path.display()))?;
        }
        let post_answer =
            Summary::new("REST POST → answer".to_owned(), &sent.answers, sent.elapsed);
        let lost_connections = fleet.lost().0;
        fleet.close().await;
        anyhow::Ok(Report {
            clients: args.clients,
            rate: args.rate,
            e2e_p99_over_hop_p99: e2e.p99_us as f64 / hop.p99_us.max(1) as f64,
            kafka_hop: hop,
            post_answer,
            e2e,
            messages: sent.accepted,
            failed: sent.failed,
            delivered,
            expected,
            max_behind_ms: sent.max_behind.as_secs_f64() * 1000.0,
            gateway_cpu_cores,
            gateway_cpu_ms_per_1000_deliveries,
            gateway_kib_per_connection,
            projector_lag_max,
            load_before,
            load_after: process::load_average()?,
            lost_connections,
        })
    }
    .await;
    target.stop().await?;
    report(&outcome?)
}

#[expect(clippy::print_stdout, reason = "the report is this command's output")]
fn report(report: &Report) -> anyhow::Result<()> {
    let hop = &report.kafka_hop;
    println!(
        "| measurement | samples | throughput (/s) | p50 (ms) | p90 (ms) | p99 (ms) | p99.9 (ms) | max (ms) | p99 / Kafka p99 |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for summary in [hop, &report.post_answer, &report.e2e] {
        println!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1}× |",
            summary.name,
            summary.samples,
            summary.throughput_per_s,
            ms(summary.p50_us),
            ms(summary.p90_us),
            ms(summary.p99_us),
            ms(summary.p999_us),
            ms(summary.max_us),
            summary.p99_us as f64 / hop.p99_us.max(1) as f64,
        );
    }
    println!();
    println!(
        "* {} clients, {:.0} messages/s: {} messages ({} failed), {} of {} deliveries; sender at most {:.1} ms behind schedule; gateway {} cores busy; connections lost: {}; load average {} → {}",
        report.clients,
        report.rate,
        report.messages,
        report.failed,
        report.delivered,
        report.expected,
        report.max_behind_ms,
        report
            .gateway_cpu_cores
            .map_or("?".to_owned(), |cores| format!("{cores:.2}")),
        report.lost_connections,
        load_cell(report.load_before),
        load_cell(report.load_after),
    );
    let unknown = || "?".to_owned();
    println!(
        "* gateway: {} KiB per connection, {} ms of CPU per 1,000 deliveries; projectors' largest lag: {} offsets",
        report
            .gateway_kib_per_connection
            .map_or_else(unknown, |kib| format!("{kib:.1}")),
        report
            .gateway_cpu_ms_per_1000_deliveries
            .map_or_else(unknown, |ms| format!("{ms:.1}")),
        report
            .projector_lag_max
            .map_or_else(unknown, |lag| lag.to_string()),
    );
    println!(
        "{}",
        serde_json::to_string(&json!({ "gateway_latency": report }))?
    );
    Ok(())
}

/// Samples the projectors' largest `cloudcord_projector_lag` every half second.
struct LagSampler {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<Option<i64>>,
}

impl LagSampler {
    fn start(url: &str) -> Self {
        let stop = CancellationToken::new();
        let (url, token) = (url.to_owned(), stop.clone());
        let task = tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut largest = None;
            while !token.is_cancelled() {
                if let Some(lag) = sample_lag(&client, &url).await {
                    largest = largest.max(Some(lag));
                }
                tokio::select! {
                    () = token.cancelled() => {}
                    () = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
            largest
        });
        Self { stop, task }
    }

    /// The largest lag seen; `None` when the metrics never answered.
    async fn stop(self) -> Option<i64> {
        self.stop.cancel();
        self.task.await.ok().flatten()
    }
}

/// The largest `cloudcord_projector_lag` series in one scrape of `url`.
async fn sample_lag(client: &reqwest::Client, url: &str) -> Option<i64> {
    let text = client.get(url).send().await.ok()?.text().await.ok()?;
    text.lines()
        .filter(|line| line.starts_with("cloudcord_projector_lag{"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<i64>().ok())
        .max()
}
