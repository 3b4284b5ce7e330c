//! `cloudcord bench write-path`: what creating a message costs end to end through
//! the Discord API (HTTP → command → processor transaction → result), at 1, 8 and 64
//! concurrent senders, next to a bare rdkafka produce→consume hop measured in the same
//! run on the same broker — the floor any Kafka-based write path stands on.
//!
//! It drives a running stack (`make up`) like a client would; numbers go to stdout
//! as a Markdown table and one JSON line, for `BENCHMARKS.md`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use cloudcord_runtime::kafka::KafkaConfig;
use cloudcord_schemas::topics::TopicSpec;
use futures::StreamExt;
use hdrhistogram::Histogram;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{Value, json};

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

/// Latency summary of one measurement, in microseconds.
#[derive(Debug, serde::Serialize)]
struct Summary {
    name: String,
    samples: u64,
    throughput_per_s: f64,
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
}

impl Summary {
    fn new(name: String, histogram: &Histogram<u64>, elapsed: Duration) -> Self {
        Self {
            name,
            samples: histogram.len(),
            throughput_per_s: histogram.len() as f64 / elapsed.as_secs_f64(),
            p50_us: histogram.value_at_quantile(0.50),
            p99_us: histogram.value_at_quantile(0.99),
            max_us: histogram.max(),
        }
    }
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    // 1 µs to 60 s at 3 significant digits.
    Ok(Histogram::new_with_bounds(1, 60_000_000, 3)?)
}

fn micros(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
}

/// Runs the benchmark and prints its report.
pub async fn write_path(kafka: &KafkaConfig, args: &WritePathArgs) -> anyhow::Result<()> {
    let hop = kafka_hop(kafka, args.hop_samples)
        .await
        .context("Kafka baseline")?;
    let client = reqwest::Client::new();
    let api = format!("{}/api/v10", args.url.trim_end_matches('/'));
    let channel = prepare_channel(&client, &api)
        .await
        .context("setting up a guild")?;
    let mut levels = Vec::new();
    for &concurrency in &args.concurrency {
        levels.push(
            send_messages(&client, &channel, concurrency, args.messages)
                .await
                .with_context(|| format!("{concurrency} senders"))?,
        );
    }
    report(&hop, &levels)
}

/// The round trip of one record through the broker with the command path's
/// producer settings, one at a time.
async fn kafka_hop(kafka: &KafkaConfig, samples: usize) -> anyhow::Result<Summary> {
    let topic = format!(
        "{}bench-hop-{}",
        kafka.topic_prefix,
        uuid::Uuid::new_v4().simple()
    );
    kafka
        .ensure_topics(&[TopicSpec {
            name: topic.clone(),
            partitions: 1,
            config: vec![("retention.ms", "3600000")],
        }])
        .await?;
    let producer: FutureProducer = kafka.producer_config("bench-hop").create()?;
    let consumer: StreamConsumer = kafka
        .read_committed_consumer_config("bench-hop", &format!("{topic}-reader"))
        .set("fetch.wait.max.ms", "1")
        .create()?;
    // The topic is new, so its beginning is where the first sample will be.
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(&topic, 0, Offset::Beginning)?;
    consumer.assign(&assignment)?;
    let mut stream = consumer.stream();
    // One round trip first, so no sample includes connection and fetch setup.
    producer
        .send(
            FutureRecord::<(), _>::to(&topic).payload("warm-up"),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(error, _)| error)?;
    stream.next().await.context("warm-up record")??;
    let mut latencies = histogram()?;
    let started = Instant::now();
    for i in 0..samples {
        let payload = i.to_string();
        let sent = Instant::now();
        producer
            .send(
                FutureRecord::<(), _>::to(&topic).payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(error, _)| error)?;
        loop {
            let message = stream.next().await.context("consumer stream ended")??;
            if message.payload() == Some(payload.as_bytes()) {
                break;
            }
        }
        latencies.record(micros(sent.elapsed()))?;
    }
    Ok(Summary::new(
        "kafka produce→consume".to_owned(),
        &latencies,
        started.elapsed(),
    ))
}

/// Registers a user, creates a guild and a text channel; returns the channel's
/// messages URL and the user's token.
async fn prepare_channel(client: &reqwest::Client, api: &str) -> anyhow::Result<Channel> {
    let username = format!("bench_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let registered = post(
        client,
        &format!("{api}/auth/register"),
        None,
        json!({
            "username": username,
            "password": "bench-password-123",
        }),
    )
    .await?;
    let token = registered["token"]
        .as_str()
        .context("register returned no token")?
        .to_owned();
    let guild = post(
        client,
        &format!("{api}/guilds"),
        Some(&token),
        json!({ "name": "Bench" }),
    )
    .await?;
    let guild_id = guild["id"].as_str().context("guild without id")?;
    let channel = post(
        client,
        &format!("{api}/guilds/{guild_id}/channels"),
        Some(&token),
        json!({ "name": "bench", "type": 0 }),
    )
    .await?;
    let channel_id = channel["id"].as_str().context("channel without id")?;
    Ok(Channel {
        messages_url: format!("{api}/channels/{channel_id}/messages"),
        token,
    })
}

struct Channel {
    messages_url: String,
    token: String,
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: Value,
) -> anyhow::Result<Value> {
    let mut request = client.post(url).json(&body);
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("POST {url} answered {status}: {body}");
    }
    Ok(body)
}

/// `total` messages from `concurrency` senders, each waiting for its answer.
async fn send_messages(
    client: &reqwest::Client,
    channel: &Channel,
    concurrency: usize,
    total: usize,
) -> anyhow::Result<Summary> {
    let channel = Arc::new((channel.messages_url.clone(), channel.token.clone()));
    let started = Instant::now();
    let senders: Vec<_> = (0..concurrency)
        .map(|sender| {
            let client = client.clone();
            let channel = Arc::clone(&channel);
            let count = total / concurrency + usize::from(sender < total % concurrency);
            tokio::spawn(async move {
                let mut latencies = histogram()?;
                for i in 0..count {
                    let sent = Instant::now();
                    post(
                        &client,
                        &channel.0,
                        Some(&channel.1),
                        json!({ "content": format!("bench {sender}/{i}") }),
                    )
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
    let ms = |us: u64| us as f64 / 1000.0;
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
