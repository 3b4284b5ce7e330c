//! `cloudcord bench gateway-memory`: the gateway process's resident memory with
//! 0 and then N identified idle connections, for growing N (each step adds
//! connections to those already open), one fresh gateway process per compression
//! setting. The result is the least-squares slope of RSS over N — bytes per
//! connection — next to what each step added.
//!
//! Connection `i` identifies as member `i mod members` of the benchmark guild, so
//! every session holds READY and the guild's GUILD_CREATE (with the guild over
//! `large_threshold`, only the member's own member object) in its replay buffer, as a
//! real chat client's would.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use nix::unistd::Pid;
use serde_json::json;

use super::client::{Compression, Fleet, Handshake};
use super::process::{self, Memory};
use super::{GatewayArgs, Target, load_cell};

/// What to measure.
#[derive(Debug, Clone, clap::Args)]
pub struct MemoryArgs {
    /// The stack, the gateway and the guild.
    #[command(flatten)]
    pub gateway: GatewayArgs,
    /// Identified idle connections at each step.
    #[arg(long, value_delimiter = ',', default_values_t = [1_000, 5_000, 10_000, 19_000])]
    pub connections: Vec<usize>,
    /// Transport compression of the connections; a fresh gateway process for each.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Compression::None])]
    pub compress: Vec<Compression>,
    /// Seconds to wait after each step before reading the gateway's memory.
    #[arg(long, default_value_t = 3)]
    pub settle_secs: u64,
}

/// One reading.
#[derive(Debug, Clone, serde::Serialize)]
struct Point {
    connections: usize,
    memory: Memory,
    /// Kernel memory of every TCP socket on the machine (both ends of each
    /// connection), which no RSS includes.
    kernel_tcp: u64,
    load: [f64; 3],
}

/// One gateway process's readings.
#[derive(Debug, serde::Serialize)]
struct Run {
    compression: Compression,
    points: Vec<Point>,
    /// Least-squares bytes of RSS per connection over the steps.
    slope_bytes: f64,
    /// Mean bytes per session of READY and GUILD_CREATE (what its replay buffer
    /// keeps), decompressed.
    replay_bytes: f64,
    /// Connections that ended on their own during the run.
    lost: usize,
    /// Handshakes that failed and were tried again.
    handshake_retries: usize,
}

/// Runs the benchmark and prints its report.
pub async fn memory(state_dir: &Path, args: &MemoryArgs) -> anyhow::Result<()> {
    let (_, guild) = args.gateway.guild(state_dir).await?;
    let tokens = guild.tokens(args.gateway.members);
    let mut levels = args.connections.clone();
    levels.sort_unstable();
    levels.dedup();
    let mut runs = Vec::new();
    for &compression in &args.compress {
        let target = args.gateway.gateway(state_dir).await?;
        let measured = measure(&target, compression, &tokens, &levels, args).await;
        target.stop().await?;
        runs.push(measured.with_context(|| format!("compression {}", compression.name()))?);
    }
    report(&runs)
}

async fn measure(
    target: &Target,
    compression: Compression,
    tokens: &[String],
    levels: &[usize],
    args: &MemoryArgs,
) -> anyhow::Result<Run> {
    let pid = target
        .pid()
        .context("the gateway's pid is needed (--gateway-pid)")?;
    let settle = Duration::from_secs(args.settle_secs);
    tokio::time::sleep(settle).await;
    let mut points = vec![point(pid, 0)?];
    let mut fleet = Fleet::new(target.url(), compression, None)?;
    let mut outcome = Ok(());
    for &connections in levels {
        if let Err(error) = fleet
            .grow(tokens, connections, args.gateway.handshake_concurrency)
            .await
        {
            outcome = Err(error);
            break;
        }
        tokio::time::sleep(settle).await;
        let point = point(pid, connections)?;
        tracing::info!(
            compression = compression.name(),
            connections,
            rss_mib = point.memory.rss / (1 << 20),
            "gateway memory"
        );
        points.push(point);
    }
    let replay_bytes = mean_replay_bytes(fleet.handshakes());
    let (lost, _) = fleet.lost();
    let handshake_retries = fleet.handshake_retries();
    fleet.close().await;
    outcome?;
    Ok(Run {
        compression,
        slope_bytes: slope(&points),
        points,
        replay_bytes,
        lost,
        handshake_retries,
    })
}

fn point(pid: Pid, connections: usize) -> anyhow::Result<Point> {
    Ok(Point {
        connections,
        memory: process::memory(pid)?,
        kernel_tcp: process::kernel_tcp_memory()?,
        load: process::load_average()?,
    })
}

fn mean_replay_bytes(handshakes: &[Handshake]) -> f64 {
    let total: usize = handshakes
        .iter()
        .map(|h| h.ready_bytes + h.guild_create_bytes)
        .sum();
    total as f64 / handshakes.len().max(1) as f64
}

/// Least-squares slope of RSS over connections, over the points with connections
/// (the idle process's first reading includes one-time start-up costs).
fn slope(points: &[Point]) -> f64 {
    let loaded: Vec<(f64, f64)> = points
        .iter()
        .filter(|p| p.connections > 0)
        .map(|p| (p.connections as f64, p.memory.rss as f64))
        .collect();
    let idle = points.first().map_or(0.0, |p| p.memory.rss as f64);
    match loaded.as_slice() {
        [] => 0.0,
        [(n, rss)] => (rss - idle) / n,
        _ => {
            let count = loaded.len() as f64;
            let mean_n = loaded.iter().map(|(n, _)| n).sum::<f64>() / count;
            let mean_rss = loaded.iter().map(|(_, rss)| rss).sum::<f64>() / count;
            let covariance: f64 = loaded
                .iter()
                .map(|(n, rss)| (n - mean_n) * (rss - mean_rss))
                .sum();
            let variance: f64 = loaded.iter().map(|(n, _)| (n - mean_n).powi(2)).sum();
            covariance / variance
        }
    }
}

#[expect(clippy::print_stdout, reason = "the report is this command's output")]
fn report(runs: &[Run]) -> anyhow::Result<()> {
    let mib = |bytes: u64| bytes as f64 / f64::from(1 << 20);
    println!(
        "| compression | connections | gateway RSS (MiB) | anonymous (MiB) | RSS over idle (MiB) | per connection over idle (bytes) | per connection, this step (bytes) | kernel TCP, all sockets (MiB) | load average |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---|");
    for run in runs {
        let Some(idle) = run.points.first() else {
            continue;
        };
        for (i, point) in run.points.iter().enumerate() {
            let over_idle = point.memory.rss.saturating_sub(idle.memory.rss);
            let per_connection = |over: u64, connections: usize| {
                if connections == 0 {
                    "–".to_owned()
                } else {
                    format!("{:.0}", over as f64 / connections as f64)
                }
            };
            let step = match i.checked_sub(1).and_then(|before| run.points.get(before)) {
                Some(before) => per_connection(
                    point.memory.rss.saturating_sub(before.memory.rss),
                    point.connections - before.connections,
                ),
                None => "–".to_owned(),
            };
            println!(
                "| {} | {} | {:.1} | {:.1} | {:.1} | {} | {} | {:.1} | {} |",
                run.compression.name(),
                point.connections,
                mib(point.memory.rss),
                mib(point.memory.anonymous),
                mib(over_idle),
                per_connection(over_idle, point.connections),
                step,
                mib(point.kernel_tcp),
                load_cell(point.load),
            );
        }
    }
    println!();
    for run in runs {
        println!(
            "* {}: **{:.0} bytes per connection** (least-squares slope of RSS over the steps); READY + GUILD_CREATE kept per session: {:.0} bytes; connections lost: {}; handshakes retried: {}",
            run.compression.name(),
            run.slope_bytes,
            run.replay_bytes,
            run.lost,
            run.handshake_retries,
        );
    }
    println!(
        "{}",
        serde_json::to_string(&json!({ "gateway_memory": runs }))?
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Memory, Point, slope};

    fn point(connections: usize, rss: u64) -> Point {
        Point {
            connections,
            memory: Memory {
                rss,
                anonymous: rss,
            },
            kernel_tcp: 0,
            load: [0.0; 3],
        }
    }

    #[test]
    fn the_slope_leaves_the_idle_reading_out() {
        // 40 MB at start-up, then 8 KB per connection on top of 50 MB.
        let points = [
            point(0, 40_000_000),
            point(1_000, 58_000_000),
            point(5_000, 90_000_000),
            point(10_000, 130_000_000),
        ];
        assert!((slope(&points) - 8_000.0).abs() < 1e-6);
        assert!((slope(&points[..2]) - 18_000.0).abs() < 1e-6);
    }
}
