//! The read side from the command line:
//!
//! * `cloudcord replay` — rebuilds every read model from offset 0 into a fresh
//!   PostgreSQL schema and MongoDB database (new consumer groups) and prints their
//!   digests;
//! * `cloudcord digest` — prints the digests of the live read models (or of a given
//!   schema and database), to compare with a replay's;
//! * `cloudcord bench replay` and `cloudcord bench projection-lag` — replay
//!   throughput into PostgreSQL, and the lag from append to `projected` under a
//!   steady rate, each on topics of their own.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cloudcord_projectors::metrics::Metrics;
use cloudcord_projectors::postgres::{PgStore, open_schema};
use cloudcord_projectors::projector::{self, Options, Store};
use cloudcord_projectors::{Config as ProjectorsConfig, digest, mongo, projected, replay};
use cloudcord_runtime::kafka::KafkaConfig;
use cloudcord_schemas::envelope::{
    Actor, AggregateRef, AggregateType, CommandId, ENVELOPE_VERSION, EventEnvelope, EventHash,
    event_id,
};
use cloudcord_schemas::events::EventType;
use cloudcord_schemas::guild::GuildEvent;
use cloudcord_schemas::ids::{ChannelId, MessageId, Snowflake, UserId};
use cloudcord_schemas::message::{MessagePinned, MessageSent, UserSnapshot};
use futures::StreamExt;
use hdrhistogram::Histogram;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

/// Which read models `cloudcord digest` reads.
#[derive(Debug, Clone, clap::Args)]
pub struct DigestArgs {
    /// The PostgreSQL schema (default: the projectors' `postgres_schema`).
    #[arg(long)]
    pub schema: Option<String>,
    /// The MongoDB database (default: the configured `mongo.database`).
    #[arg(long)]
    pub mongo_database: Option<String>,
}

/// What `cloudcord replay` keeps.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    /// Drop the rebuilt schema and database once their digests are printed (by
    /// default they stay, to be inspected or compared again).
    #[arg(long)]
    pub drop: bool,
}

/// `cloudcord replay`: rebuilds both stores and prints what it built.
#[expect(clippy::print_stdout, reason = "the report is this command's output")]
pub async fn replay(
    config: &ProjectorsConfig,
    args: &ReplayArgs,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let (pg, mongo) = replay::replay(&config.kafka, &config.postgres, &config.mongo, shutdown)
        .await
        .context("replaying the events")?;
    for (store, report) in [("postgres", &pg), ("mongo", &mongo)] {
        println!(
            "{store}: {} events into {} in {:.1} s, {} duplicates skipped, digest {}",
            report.outcome.applied,
            report.target,
            report.elapsed.as_secs_f64(),
            report.outcome.duplicates,
            report.digest
        );
        for (partition, (offset, why)) in &report.outcome.stopped {
            println!("{store}: partition {partition} stopped at offset {offset}: {why:?}");
        }
    }
    if args.drop {
        replay::drop_postgres(&config.postgres, &pg.target)
            .await
            .with_context(|| format!("dropping the replayed schema {}", pg.target))?;
        replay::drop_mongo(&config.mongo, &mongo.target)
            .await
            .with_context(|| format!("dropping the replayed database {}", mongo.target))?;
    }
    Ok(())
}

/// `cloudcord digest`: prints the digests of a schema and a database.
#[expect(clippy::print_stdout, reason = "the digests are this command's output")]
pub async fn digest(config: &ProjectorsConfig, args: &DigestArgs) -> anyhow::Result<()> {
    let schema = args
        .schema
        .clone()
        .unwrap_or_else(|| config.projectors.postgres_schema.clone());
    let database = args
        .mongo_database
        .clone()
        .unwrap_or_else(|| config.mongo.database.clone());
    let pool = open_schema(&config.postgres, &schema).await?;
    println!(
        "postgres {schema}: {}",
        digest::postgres(&pool, &schema).await?
    );
    let mongo = mongo::open_database(&config.mongo, &database).await?;
    println!("mongo {database}: {}", digest::mongo(&mongo).await?);
    Ok(())
}

/// `cloudcord bench replay` options.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplayBenchArgs {
    /// Events to append, then replay.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Keep the benchmark's topics and schema afterwards (they are dropped by default).
    #[arg(long)]
    pub keep: bool,
}

/// `cloudcord bench projection-lag` options.
#[derive(Debug, Clone, clap::Args)]
pub struct LagBenchArgs {
    /// Events appended per second.
    #[arg(long, default_value_t = 1_000)]
    pub rate: u64,
    /// How long to append, in seconds.
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
    /// Keep the benchmark's topics and schema afterwards (they are dropped by default).
    #[arg(long)]
    pub keep: bool,
}

/// Guilds the benchmark's messages are spread over.
const GUILDS: u64 = 64;

/// Appends guild events with correct `seq` / `prev_hash` chains, as the command
/// processor would.
struct Appender {
    producer: FutureProducer,
    topic: String,
    chains: HashMap<AggregateRef, (u64, Option<EventHash>)>,
}

impl Appender {
    fn new(kafka: &KafkaConfig) -> anyhow::Result<Self> {
        Ok(Self {
            producer: kafka
                .producer_config("bench-appender")
                // Throughput over latency for the bulk load.
                .set("linger.ms", "5")
                .set("batch.num.messages", "10000")
                .set("queue.buffering.max.messages", "1000000")
                .create()?,
            topic: kafka.topics().events,
            chains: HashMap::new(),
        })
    }

    /// The `n`th event of the benchmark's workload: messages, one in 20 a pin.
    fn event(n: u64, now: OffsetDateTime) -> (AggregateRef, GuildEvent) {
        let guild = 1_000_000 + n % GUILDS;
        let aggregate = AggregateRef {
            kind: AggregateType::Guild,
            id: Snowflake::new(guild),
        };
        let channel_id = ChannelId::new(guild);
        let event = if n % 20 == 19 {
            GuildEvent::MessagePinned(MessagePinned {
                message_id: MessageId::new(10_000_000 + n - GUILDS),
                channel_id,
                pinned_at: now,
            })
        } else {
            GuildEvent::MessageSent(MessageSent {
                attachments: Vec::new(),
                id: MessageId::new(10_000_000 + n),
                channel_id,
                author: UserSnapshot {
                    id: UserId::new(1 + n % 1000),
                    username: format!("user{}", n % 1000),
                    global_name: None,
                    avatar: None,
                    bot: false,
                },
                content: format!("benchmark message {n}"),
                timestamp: now,
                tts: false,
                mention_everyone: false,
                mentions: Vec::new(),
                mention_roles: Vec::new(),
                message_reference: None,
                nonce: None,
            })
        };
        (aggregate, event)
    }

    /// Queues the `n`th event, stamped `now`; returns its delivery.
    fn append(
        &mut self,
        n: u64,
        now: OffsetDateTime,
    ) -> anyhow::Result<rdkafka::producer::DeliveryFuture> {
        let (aggregate, event) = Self::event(n, now);
        let (seq, prev_hash) = self.chains.entry(aggregate).or_default();
        *seq += 1;
        let envelope = EventEnvelope {
            event_id: event_id(aggregate, *seq),
            aggregate,
            seq: *seq,
            prev_hash: prev_hash.take(),
            command_id: CommandId::random(),
            actor: Actor::System,
            occurred_at: now,
            envelope_version: ENVELOPE_VERSION,
            event_version: event.event_version(),
            event,
        };
        let value = serde_json::to_vec(&envelope)?;
        *prev_hash = Some(EventHash::of_record(&value));
        let key = aggregate.shard_key();
        loop {
            match self
                .producer
                .send_result(FutureRecord::to(&self.topic).key(&key).payload(&value))
            {
                Ok(delivery) => return Ok(delivery),
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull,
                    ),
                    _,
                )) => {
                    // The local queue is full: let librdkafka drain it.
                    self.producer.poll(Duration::from_millis(10));
                }
                Err((error, _)) => return Err(error.into()),
            }
        }
    }
}

/// Topics of their own under the configured prefix.
async fn bench_kafka(kafka: &KafkaConfig, name: &str) -> anyhow::Result<KafkaConfig> {
    let mut kafka = kafka.clone();
    kafka.topic_prefix = format!(
        "{}bench-{name}-{}.",
        kafka.topic_prefix,
        uuid::Uuid::new_v4().simple()
    );
    kafka.create_topics = true;
    kafka
        .ensure_topics(&kafka.topics().specs(kafka.partitions))
        .await?;
    Ok(kafka)
}

/// Deletes the benchmark's topics (everything under its own prefix).
async fn delete_bench_topics(kafka: &KafkaConfig) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = kafka.client_config("bench-cleanup").create()?;
    let specs = kafka.topics().specs(kafka.partitions);
    let names: Vec<&str> = specs.iter().map(|spec| spec.name.as_str()).collect();
    for result in admin
        .delete_topics(&names, &AdminOptions::new())
        .await
        .context("deleting the benchmark's topics")?
    {
        if let Err((topic, code)) = result {
            tracing::warn!(topic, %code, "a benchmark topic was not deleted");
        }
    }
    Ok(())
}

/// Removes what a benchmark created, unless asked to keep it.
async fn clean_up_bench(
    config: &ProjectorsConfig,
    kafka: &KafkaConfig,
    schema: &str,
    keep: bool,
) -> anyhow::Result<()> {
    if keep {
        return Ok(());
    }
    replay::drop_postgres(&config.postgres, schema)
        .await
        .context("dropping the benchmark's schema")?;
    delete_bench_topics(kafka).await
}

/// `cloudcord bench replay`: appends `events`, then replays them into a fresh
/// PostgreSQL schema and reports the rate and where the time went.
#[expect(clippy::print_stdout, reason = "the report is this command's output")]
pub async fn bench_replay(config: &ProjectorsConfig, args: &ReplayBenchArgs) -> anyhow::Result<()> {
    let kafka = bench_kafka(&config.kafka, "replay").await?;
    let mut appender = Appender::new(&kafka)?;
    let started = Instant::now();
    let now = OffsetDateTime::now_utc();
    let mut deliveries = Vec::new();
    for n in 0..args.events {
        deliveries.push(appender.append(n, now)?);
    }
    for delivery in deliveries {
        delivery
            .await
            .context("delivery dropped")?
            .map_err(|(error, _)| error)?;
    }
    let appended = started.elapsed();
    let schema = format!("bench_replay_{}", uuid::Uuid::new_v4().simple());
    let report =
        replay::postgres(&kafka, &config.postgres, &schema, &CancellationToken::new()).await?;
    let rate = report.outcome.applied as f64 / report.elapsed.as_secs_f64();
    println!("| measurement | events | seconds | events/s |");
    println!("|---|---:|---:|---:|");
    println!(
        "| append (producer) | {} | {:.1} | {:.0} |",
        args.events,
        appended.as_secs_f64(),
        args.events as f64 / appended.as_secs_f64()
    );
    println!(
        "| replay into PostgreSQL | {} | {:.1} | {rate:.0} |",
        report.outcome.applied,
        report.elapsed.as_secs_f64()
    );
    let timings = report.outcome.timings;
    println!();
    println!("| replay stage | seconds |");
    println!("|---|---:|");
    for (stage, time) in [
        ("reading (Kafka + decoding)", timings.reading),
        ("  of which decoding", timings.decoding),
        (
            "judging (positions, seq checks, projection)",
            timings.judging,
        ),
        ("writing (PostgreSQL transaction)", timings.writing),
    ] {
        println!("| {stage} | {:.1} |", time.as_secs_f64());
    }
    println!(
        "{}",
        serde_json::json!({
            "events": report.outcome.applied,
            "replay_seconds": report.elapsed.as_secs_f64(),
            "replay_events_per_s": rate,
            "reading_seconds": timings.reading.as_secs_f64(),
            "decoding_seconds": timings.decoding.as_secs_f64(),
            "judging_seconds": timings.judging.as_secs_f64(),
            "writing_seconds": timings.writing.as_secs_f64(),
            "schema": schema,
            "kept": args.keep,
        })
    );
    clean_up_bench(config, &kafka, &schema, args.keep).await
}

/// `cloudcord bench projection-lag`: a live PostgreSQL projector on topics of its
/// own, `rate` events per second for `seconds`, and the time from each event's
/// append to its record on `projected`.
#[expect(clippy::print_stdout, reason = "the report is this command's output")]
pub async fn bench_projection_lag(
    config: &ProjectorsConfig,
    args: &LagBenchArgs,
) -> anyhow::Result<()> {
    let kafka = bench_kafka(&config.kafka, "lag").await?;
    let schema = format!("bench_lag_{}", uuid::Uuid::new_v4().simple());
    let mut store = PgStore::new(open_schema(&config.postgres, &schema).await?);
    let shutdown = CancellationToken::new();
    let projector = {
        let (kafka, shutdown) = (kafka.clone(), shutdown.clone());
        let options = Options {
            group_id: cloudcord_projectors::group_id(&kafka, PgStore::NAME),
            batch_max: config.projectors.batch_max,
            linger: Duration::from_millis(config.projectors.linger_ms),
            until_end: false,
            session_timeout: Duration::from_millis(config.projectors.session_timeout_ms.into()),
        };
        let publisher = projected::Publisher::new(&kafka)?;
        tokio::spawn(async move {
            projector::run(
                &kafka,
                &mut store,
                &options,
                &Metrics::unregistered(),
                Some(&publisher),
                &shutdown,
            )
            .await
        })
    };

    let consumer: StreamConsumer = kafka
        .read_committed_consumer_config("bench-lag", &format!("{}lag", kafka.topic_prefix))
        .set("fetch.wait.max.ms", "1")
        .create()?;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..kafka.partitions {
        assignment.add_partition_offset(&kafka.topics().projected, partition, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let total = args.rate * args.seconds;
    let receiver = tokio::spawn(async move {
        let mut lag = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
        let mut stream = consumer.stream();
        while lag.len() < total {
            let message = stream.next().await.context("projected stream ended")??;
            let record: serde_json::Value =
                serde_json::from_slice(message.payload().unwrap_or_default())?;
            let occurred = record["envelope"]["occurred_at"]
                .as_str()
                .context("projected record without occurred_at")?;
            let occurred =
                OffsetDateTime::parse(occurred, &time::format_description::well_known::Rfc3339)?;
            let micros = (OffsetDateTime::now_utc() - occurred).whole_microseconds();
            lag.record(u64::try_from(micros).unwrap_or(1).max(1))?;
        }
        anyhow::Ok(lag)
    });

    let mut appender = Appender::new(&kafka)?;
    let interval = Duration::from_secs_f64(1.0 / args.rate.max(1) as f64);
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for n in 0..total {
        ticks.tick().await;
        // Not awaited: a slow delivery must not slow the steady rate.
        drop(appender.append(n, OffsetDateTime::now_utc())?);
    }
    let lag = tokio::time::timeout(Duration::from_secs(60), receiver)
        .await
        .context("not every event reached `projected` within 60 s")???;
    shutdown.cancel();
    projector.await??;
    clean_up_bench(config, &kafka, &schema, args.keep).await?;
    let ms = |us: u64| us as f64 / 1000.0;
    println!("| rate (events/s) | events | p50 lag (ms) | p99 lag (ms) | max (ms) |");
    println!("|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {} | {:.2} | {:.2} | {:.2} |",
        args.rate,
        lag.len(),
        ms(lag.value_at_quantile(0.5)),
        ms(lag.value_at_quantile(0.99)),
        ms(lag.max())
    );
    println!(
        "{}",
        serde_json::json!({
            "rate": args.rate,
            "events": lag.len(),
            "p50_ms": ms(lag.value_at_quantile(0.5)),
            "p99_ms": ms(lag.value_at_quantile(0.99)),
            "max_ms": ms(lag.max()),
        })
    );
    Ok(())
}
