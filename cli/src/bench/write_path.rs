//! `cloudcord bench write-path`: what creating a message costs end to end through
//! the Discord API (HTTP → command → processor transaction → result), at 1, 8 and 64
//! concurrent senders, next to a bare rdkafka produce→consume hop measured in the same
//! run on the same broker — the floor any Kafka-based write path stands on.
//!
//! It drives a running stack (`make up`) like a client would; numbers go to stdout
//! as a Markdown table and one JSON line, for `BENCHMARKS.md`.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use cloudcord_runtime::kafka::KafkaConfig;
use cloudcord_schemas::ids::ChannelId;
use serde_json::json;

use super::api::{Api, unique_username};
use super::kafka_hop::kafka_hop;
use super::{Summary, histogram, micros, ms};

/// What to measure.
#[derive(Debug, Clone, clap::Args)]
pub struct WritePathArgs {
    /// The stack's front door.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Concurrent senders per level.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 8, 64])]
    pub concurrency: Vec<usize>,
    /// Messages sent per level.
    #[arg(long, default_value_t = 2_000)]
    pub messages: usize,
    /// Produce→consume round trips for the Kafka baseline.
    #[arg(long, default_value_t = 2_000)]
    pub hop_samples: usize,
}

/// Runs the benchmark and prints its report.
pub async fn write_path(kafka: &KafkaConfig, args: &WritePathArgs) -> anyhow::Result<()> {
    let hop = kafka_hop(kafka, args.hop_samples)
        .await
        .context("Kafka baseline")?;
    let api = Api::new(&args.url);
    let channel = prepare_channel(&api).await.context("setting up a guild")?;
    let mut levels = Vec::new();
    for &concurrency in &args.concurrency {
        levels.push(
            send_messages(&api, &channel, concurrency, args.messages)
                .await
                .with_context(|| format!("{concurrency} senders"))?,
        );
    }
    report(&hop, &levels)
}

/// A text channel and the token of its guild's owner.
struct Channel {
    id: ChannelId,
    token: String,
}

/// Registers a user, creates a guild and a text channel.
async fn prepare_channel(api: &Api) -> anyhow::Result<Channel> {
    let token = api.register(&unique_username("bench_")).await?;
    let guild = api.create_guild(&token, "Bench").await?;
    let id = api.create_text_channel(&token, guild, "bench").await?;
    Ok(Channel { id, token })
}

/// `total` messages from `concurrency` senders, each waiting for its answer.
async fn send_messages(
    api: &Api,
    channel: &Channel,
    concurrency: usize,
    total: usize,
) -> anyhow::Result<Summary> {
    let token: Arc<str> = Arc::from(channel.token.as_str());
    let started = Instant::now();
    let senders: Vec<_> = (0..concurrency)
        .map(|sender| {
            let api = api.clone();
            let token = Arc::clone(&token);
            let channel = channel.id;
            let count = total / concurrency + usize::from(sender < total % concurrency);
            tokio::spawn(async move {
                let mut latencies = histogram()?;
                for i in 0..count {
                    let sent = Instant::now();
                    api.send_message(&token, channel, &format!("bench {sender}/{i}"))
                        .await?;
                    latencies.record(micros(sent.elapsed()))?;
                }
                anyhow::Ok(latencies)
            })
        })
        .collect();
    let mut latencies = histogram()?;
    for sender in senders {
        latencies.add(sender.await??)?;
    }
    Ok(Summary::new(
        format!("HTTP create message, {concurrency} senders"),
        &latencies,
        started.elapsed(),
    ))
}

#[expect(clippy::print_stdout, reason = "the report is this command's output")]
fn report(hop: &Summary, levels: &[Summary]) -> anyhow::Result<()> {
    println!(
        "| measurement | samples | throughput (/s) | p50 (ms) | p99 (ms) | max (ms) | p50 / Kafka p50 | p99 / Kafka p99 |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for summary in std::iter::once(hop).chain(levels) {
        println!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.1}× | {:.1}× |",
            summary.name,
            summary.samples,
            summary.throughput_per_s,
            ms(summary.p50_us),
            ms(summary.p99_us),
            ms(summary.max_us),
            summary.p50_us as f64 / hop.p50_us.max(1) as f64,
            summary.p99_us as f64 / hop.p99_us.max(1) as f64,
        );
    }
    println!(
        "{}",
        serde_json::to_string(&json!({ "kafka_hop": hop, "http_levels": levels }))?
    );
    Ok(())
}
