//! `cloudcord bench gateway-fanout`: 1,000 identified members of the benchmark
//! guild connected, messages posted to its channel at steady rates (after a
//! warm-up), and per rate: MESSAGE_CREATE deliveries counted at the clients per
//! second of wall time, and per CPU-second the gateway process used
//! (utime + stime from `/proc/<pid>/stat`) over the same window — from the first
//! post of the level to the last delivery.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use nix::unistd::Pid;
use serde_json::json;

use super::client::{Compression, Fleet, SendLog};
use super::process;
use super::sender::Sender;
use super::{GatewayArgs, drained, load_cell, message_count};
use crate::bench::ms;

/// How long without a delivery ends a level that fell short.
const QUIET: Duration = Duration::from_secs(3);

/// What to measure.
#[derive(Debug, Clone, clap::Args)]
pub struct FanoutArgs {
    /// The stack, the gateway and the guild.
    #[command(flatten)]
    pub gateway: GatewayArgs,
    /// Connected clients, each a member of the guild.
    #[arg(long, default_value_t = 1_000)]
    pub clients: usize,
    /// Messages per second, one level each.
    #[arg(long, value_delimiter = ',', default_values_t = [100.0, 200.0, 400.0])]
    pub rates: Vec<f64>,
    /// Seconds each level posts for.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// Seconds of warm-up at the first rate, not counted.
    #[arg(long, default_value_t = 5)]
    pub warmup_secs: u64,
    /// Bytes of each message's content.
    #[arg(long, default_value_t = 64)]
    pub content_bytes: usize,
    /// Transport compression of the connections.
    #[arg(long, value_enum, default_value_t = Compression::None)]
    pub compress: Compression,
}

/// One level's numbers.
#[derive(Debug, serde::Serialize)]
struct Level {
    rate: f64,
    messages: usize,
    failed: usize,
    expected: u64,
    delivered: u64,
    window_s: f64,
    deliveries_per_s: f64,
    gateway_cpu_s: f64,
    deliveries_per_cpu_s: f64,
    load_generator_cpu_s: f64,
    /// Median and 99th percentile of POST → MESSAGE_CREATE in this level, ms.
    e2e_p50_ms: f64,
    e2e_p99_ms: f64,
    max_behind_ms: f64,
    load_before: [f64; 3],
    load_after: [f64; 3],
    /// The gateway's RSS after the level: the sessions' replay buffers fill with
    /// the level's frames.
    gateway_rss_after: u64,
    lost_connections: usize,
    /// The close code of the last lost connection (4000: the gateway found its
    /// queue full).
    last_close_code: u64,
}

/// Runs the benchmark and prints its report.
pub async fn fanout(state_dir: &Path, args: &FanoutArgs) -> anyhow::Result<()> {
    let (api, guild) = args.gateway.guild(state_dir).await?;
    let target = args.gateway.gateway(state_dir).await?;
    let outcome = async {
        let pid = target
            .pid()
            .context("the gateway's pid is needed (--gateway-pid)")?;
        let warmup = message_count(args.rates.first().copied().unwrap_or(0.0), args.warmup_secs);
        let total = warmup
            + args
                .rates
                .iter()
                .map(|&rate| message_count(rate, args.seconds))
                .sum::<usize>();
        let log = Arc::new(SendLog::new(total, warmup));
        let (fleet, tokens) = args
            .gateway
            .timed_fleet(&target, &guild, args.compress, args.clients, &log)
            .await?;
        let sender = Sender {
            api,
            channel: guild.channel,
            authors: Arc::from(tokens),
            log,
            content_bytes: args.content_bytes,
        };
        let clients = fleet.len() as u64;
        let warm = sender
            .post(0..warmup, args.rates.first().copied().unwrap_or(1.0))
            .await?;
        let mut expected = warm.accepted as u64 * clients;
        drained(&fleet, expected, QUIET).await;
        let mut levels = Vec::new();
        let mut next = warmup;
        for &rate in &args.rates {
            let messages = message_count(rate, args.seconds);
            let level =
                measure(&fleet, &sender, pid, next..next + messages, rate, expected).await?;
            expected += level.expected;
            next += messages;
            tracing::info!(
                rate,
                per_cpu_s = level.deliveries_per_cpu_s,
                "fan-out level done"
            );
            levels.push(level);
        }
        fleet.close().await;
        anyhow::Ok(levels)
    }
    .await;
    target.stop().await?;
    report(args, &outcome?)
}

async fn measure(
    fleet: &Fleet,
    sender: &Sender,
    pid: Pid,
    indexes: std::ops::Range<usize>,
    rate: f64,
    delivered_before: u64,
) -> anyhow::Result<Level> {
    // Connections the gateway closed no longer receive anything.
    let clients = (fleet.len() - fleet.lost().0) as u64;
    let load_before = process::load_average()?;
    let latencies_before = fleet.latencies()?;
    let cpu_before = process::cpu_time(pid)?;
    let own_before = process::own_cpu_time()?;
    let start_count = fleet.message_creates();
    let start = Instant::now();
    let sent = sender.post(indexes, rate).await?;
    let expected = sent.accepted as u64 * clients;
    let end = drained(fleet, start_count + expected, QUIET).await;
    let cpu = process::cpu_time(pid)?.saturating_sub(cpu_before);
    let own = process::own_cpu_time()?.saturating_sub(own_before);
    let delivered = fleet.message_creates() - start_count;
    let mut latencies = fleet.latencies()?;
    latencies.subtract(&latencies_before)?;
    if start_count != delivered_before {
        tracing::warn!(
            expected = delivered_before,
            got = start_count,
            "deliveries before this level differ from the messages sent"
        );
    }
    let window = end.saturating_duration_since(start).as_secs_f64();
    Ok(Level {
        rate,
        messages: sent.accepted,
        failed: sent.failed,
        expected,
        delivered,
        window_s: window,
        deliveries_per_s: delivered as f64 / window,
        gateway_cpu_s: cpu.as_secs_f64(),
        deliveries_per_cpu_s: delivered as f64 / cpu.as_secs_f64().max(0.01),
        load_generator_cpu_s: own.as_secs_f64(),
        e2e_p50_ms: ms(latencies.value_at_quantile(0.5)),
        e2e_p99_ms: ms(latencies.value_at_quantile(0.99)),
        max_behind_ms: sent.max_behind.as_secs_f64() * 1000.0,
        load_before,
        load_after: process::load_average()?,
        gateway_rss_after: process::memory(pid)?.rss,
        lost_connections: fleet.lost().0,
        last_close_code: fleet.lost().1,
    })
}

#[expect(clippy::print_stdout, reason = "the report is this command's output")]
fn report(args: &FanoutArgs, levels: &[Level]) -> anyhow::Result<()> {
    println!(
        "| rate (msg/s) | messages | deliveries / expected | window (s) | deliveries/s | gateway CPU (s) | gateway cores busy | **deliveries per CPU-second** | load generator CPU (s) | e2e p50 / p99 (ms) | gateway RSS after (MiB) | connections lost | load average before → after |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for level in levels {
        println!(
            "| {:.0} | {} | {} / {} | {:.1} | {:.0} | {:.2} | {:.2} | **{:.0}** | {:.2} | {:.1} / {:.1} | {:.0} | {} | {} → {} |",
            level.rate,
            level.messages,
            level.delivered,
            level.expected,
            level.window_s,
            level.deliveries_per_s,
            level.gateway_cpu_s,
            level.gateway_cpu_s / level.window_s,
            level.deliveries_per_cpu_s,
            level.load_generator_cpu_s,
            level.e2e_p50_ms,
            level.e2e_p99_ms,
            level.gateway_rss_after as f64 / f64::from(1 << 20),
            level.lost_connections,
            load_cell(level.load_before),
            load_cell(level.load_after),
        );
    }
    let failed: usize = levels.iter().map(|l| l.failed).sum();
    let (lost, code) = levels
        .last()
        .map_or((0, 0), |l| (l.lost_connections, l.last_close_code));
    println!();
    println!(
        "* {} clients, compression {}, {}-byte contents; failed posts: {failed}; connections lost: {lost} (last close code {code})",
        args.clients,
        args.compress.name(),
        args.content_bytes,
    );
    println!(
        "{}",
        serde_json::to_string(&json!({
            "gateway_fanout": {
                "clients": args.clients,
                "compression": args.compress,
                "content_bytes": args.content_bytes,
                "levels": levels,
            }
        }))?
    );
    Ok(())
}
