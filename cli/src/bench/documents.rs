//! `cloudcord bench documents`: the MongoDB read models at a given size, through
//! the Mongo projector's own writes and query-api's own reads, in a database of
//! its own — a history page's and a mention inbox's 50 lookups, one message by
//! id, and an edit (the projector's update of one document).
//!
//! It needs only the `[mongo]` server (FerretDB with `make up`): it shows what the
//! document store costs, apart from HTTP and Kafka.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cloudcord_projectors::mongo::{MongoStore, open_database};
use cloudcord_projectors::projector::{Batch, Store as _};
use cloudcord_projectors::record::{DomainEvent, EventRecord};
use cloudcord_projectors::replay::drop_mongo;
use cloudcord_query_api::read_models::mongo::Documents;
use cloudcord_runtime::mongo::MongoConfig;
use cloudcord_schemas::envelope::{
    Actor, AggregateRef, AggregateType, CommandId, ENVELOPE_VERSION, EventEnvelope, event_id,
};
use cloudcord_schemas::guild::GuildEvent;
use cloudcord_schemas::ids::{ChannelId, MessageId, Snowflake, UserId};
use cloudcord_schemas::message::{MessageEdited, MessageSent, UserSnapshot};
use serde_json::json;
use time::OffsetDateTime;

use super::{Summary, histogram, micros, ms};

/// `cloudcord bench documents` options.
#[derive(Debug, Clone, clap::Args)]
pub struct DocumentsArgs {
    /// Messages written before measuring.
    #[arg(long, default_value_t = 20_000)]
    pub messages: u64,
    /// Channels they are spread over; the first, the busy one, gets half of them.
    #[arg(long, default_value_t = 10)]
    pub channels: u64,
    /// Samples per measurement.
    #[arg(long, default_value_t = 30)]
    pub samples: u64,
    /// Keep the benchmark's database afterwards (it is dropped by default).
    #[arg(long)]
    pub keep: bool,
}

/// The benchmark guild's id; the channels follow it.
const GUILD: u64 = 1_450_000_000_000_000_000;
/// The first message id: snowflake-sized, above 2^53 as every real one.
const FIRST_MESSAGE: u64 = 1_450_000_000_100_000_000;
/// Events per projector batch while filling.
const FILL_BATCH: usize = 1_000;
/// Messages per history page and per mention inbox page.
const PAGE: u32 = 50;

/// The guild's events, numbered as the command processor numbers them.
struct Guild {
    seq: u64,
    now: OffsetDateTime,
}

impl Guild {
    fn aggregate() -> AggregateRef {
        AggregateRef {
            kind: AggregateType::Guild,
            id: Snowflake::new(GUILD),
        }
    }

    fn record(&mut self, event: GuildEvent) -> EventRecord {
        self.seq += 1;
        let aggregate = Self::aggregate();
        let event = DomainEvent::Guild(event);
        EventRecord {
            partition: 0,
            offset: i64::try_from(self.seq).unwrap_or(i64::MAX) - 1,
            envelope: EventEnvelope {
                event_id: event_id(aggregate, self.seq),
                aggregate,
                seq: self.seq,
                prev_hash: None,
                command_id: CommandId::random(),
                actor: Actor::User(UserId::new(GUILD)),
                occurred_at: self.now,
                envelope_version: ENVELOPE_VERSION,
                event_version: event.event_version(),
                event,
            },
        }
    }

    /// Commits `records` as one projector batch.
    async fn commit(&self, store: &mut MongoStore, records: &[EventRecord]) -> anyhow::Result<()> {
        let changes = records
            .iter()
            .map(MongoStore::project)
            .collect::<Result<Vec<_>, _>>()?;
        let offset = i64::try_from(self.seq).unwrap_or(i64::MAX);
        store
            .commit(Batch {
                topic: "bench-documents".to_owned(),
                changes,
                positions: vec![(Self::aggregate(), self.seq)],
                offsets: vec![(0, offset)],
            })
            .await?;
        Ok(())
    }
}

/// The channel of message `n`: every other message is in the busy channel 0.
fn channel_of(n: u64, channels: u64) -> ChannelId {
    let channel = if n.is_multiple_of(2) || channels < 2 {
        0
    } else {
        1 + (n / 2) % (channels - 1)
    };
    ChannelId::new(GUILD + 1 + channel)
}

fn message_id(n: u64) -> MessageId {
    MessageId::new(FIRST_MESSAGE + n)
}

fn sent(n: u64, channels: u64, now: OffsetDateTime) -> MessageSent {
    MessageSent {
        id: message_id(n),
        channel_id: channel_of(n, channels),
        author: UserSnapshot {
            id: UserId::new(GUILD + 1_000 + n % 50),
            username: format!("member{}", n % 50),
            global_name: None,
            avatar: None,
            bot: false,
        },
        content: format!("message {n}: the quick brown fox jumps over the lazy dog"),
        timestamp: now,
        tts: false,
        mention_everyone: false,
        mentions: Vec::new(),
        mention_roles: Vec::new(),
        message_reference: None,
        nonce: None,
        attachments: Vec::new(),
    }
}

/// The `i`th sample's message: spread over the whole history, the same each run.
fn sample(i: u64, messages: u64) -> u64 {
    (i * 7_919 + 13) % messages
}

/// Times `samples` runs of `measure(i)`.
async fn measure<F, Fut>(name: &str, samples: u64, mut run: F) -> anyhow::Result<Summary>
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let mut latencies = histogram()?;
    let started = Instant::now();
    for i in 0..samples {
        let one = Instant::now();
        run(i).await?;
        latencies.record(micros(one.elapsed()))?;
    }
    Ok(Summary::new(name.to_owned(), &latencies, started.elapsed()))
}

/// `cloudcord bench documents`.
pub async fn documents(mongo: &MongoConfig, args: &DocumentsArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.messages > 0, "--messages must be at least 1");
    let name = format!("bench_documents_{}", uuid::Uuid::new_v4().simple());
    let database = open_database(mongo, &name)
        .await
        .context("opening the benchmark's database")?;
    let measured = run(
        MongoStore::new(database.clone()),
        &Documents::new(database),
        args,
    )
    .await;
    if !args.keep {
        drop_mongo(mongo, &name)
            .await
            .context("dropping the benchmark's database")?;
    }
    report(&name, args, &measured?)
}

async fn run(
    mut store: MongoStore,
    documents: &Documents,
    args: &DocumentsArgs,
) -> anyhow::Result<(Duration, Vec<Summary>)> {
    let mut guild = Guild {
        seq: 0,
        now: OffsetDateTime::now_utc(),
    };
    let started = Instant::now();
    let all: Vec<u64> = (0..args.messages).collect();
    for chunk in all.chunks(FILL_BATCH) {
        let records: Vec<EventRecord> = chunk
            .iter()
            .map(|&n| guild.record(GuildEvent::MessageSent(sent(n, args.channels, guild.now))))
            .collect();
        guild.commit(&mut store, &records).await?;
    }
    let filled = started.elapsed();

    // A history page: the busy channel's newest messages (every other one), as
    // query-api reads them once PostgreSQL has chosen their ids.
    let newest: Vec<i64> = (0..args.messages)
        .rev()
        .filter(|n| n.is_multiple_of(2))
        .take(PAGE as usize)
        .map(|n| i64::try_from(message_id(n).get()))
        .collect::<Result<_, _>>()?;
    let mut summaries = vec![
        measure("history page: 50 messages by id", args.samples, |_| {
            let newest = &newest;
            async move {
                let found = documents.messages_by_id(newest).await?;
                anyhow::ensure!(found.len() == newest.len(), "a page message is missing");
                Ok(())
            }
        })
        .await?,
    ];
    summaries.push(
        measure("one message by id", args.samples, |i| async move {
            let n = sample(i, args.messages);
            let channel = i64::try_from(channel_of(n, args.channels).get())?;
            let found = documents
                .message(channel, i64::try_from(message_id(n).get())?)
                .await?;
            anyhow::ensure!(found.is_some(), "message {n} is missing");
            Ok(())
        })
        .await?,
    );
    summaries.push(
        measure(
            "mention inbox: 50 scattered messages by id",
            args.samples,
            |i| async move {
                let ids = (0..u64::from(PAGE))
                    .map(|k| i64::try_from(message_id(sample(i * 50 + k, args.messages)).get()))
                    .collect::<Result<Vec<_>, _>>()?;
                documents.messages_by_id(&ids).await?;
                Ok(())
            },
        )
        .await?,
    );
    let mut edits = histogram()?;
    let edits_started = Instant::now();
    for i in 0..args.samples {
        let n = sample(i, args.messages);
        let record = guild.record(GuildEvent::MessageEdited(MessageEdited {
            id: message_id(n),
            channel_id: channel_of(n, args.channels),
            content: format!("message {n}, edited"),
            edited_timestamp: guild.now,
            mention_everyone: false,
            mentions: Vec::new(),
            mention_roles: Vec::new(),
            attachments: Vec::new(),
        }));
        let one = Instant::now();
        guild.commit(&mut store, &[record]).await?;
        edits.record(micros(one.elapsed()))?;
    }
    summaries.push(Summary::new(
        "an edit: one projector batch".to_owned(),
        &edits,
        edits_started.elapsed(),
    ));
    Ok((filled, summaries))
}

#[expect(clippy::print_stdout, reason = "the report is this command's output")]
fn report(
    database: &str,
    args: &DocumentsArgs,
    (filled, summaries): &(Duration, Vec<Summary>),
) -> anyhow::Result<()> {
    let rate = args.messages as f64 / filled.as_secs_f64();
    println!(
        "{} messages in {} channels (half in one), written in {:.1} s ({rate:.0}/s) into {database}",
        args.messages,
        args.channels,
        filled.as_secs_f64()
    );
    println!();
    println!("| measurement | samples | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) |");
    println!("|---|---:|---:|---:|---:|---:|");
    for summary in summaries {
        println!(
            "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
            summary.name,
            summary.samples,
            ms(summary.p50_us),
            ms(summary.p90_us),
            ms(summary.p99_us),
            ms(summary.max_us),
        );
    }
    println!(
        "{}",
        serde_json::to_string(&json!({
            "messages": args.messages,
            "channels": args.channels,
            "fill_seconds": filled.as_secs_f64(),
            "fill_per_s": rate,
            "measurements": summaries,
            "database": database,
            "kept": args.keep,
        }))?
    );
    Ok(())
}
