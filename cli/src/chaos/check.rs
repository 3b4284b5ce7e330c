//! The checker: after the faults, every acknowledged message must be in the
//! `events` topic exactly once, in the PostgreSQL read model, in the MongoDB log and
//! in every client's stream; no unacknowledged one twice; every aggregate's `seq`
//! gap-free; and a replay of the log must equal the live read models.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use anyhow::Context as _;
use cloudcord_projectors::record::{self, DomainEvent};
use cloudcord_projectors::{digest, mongo as mongo_store, postgres as pg_store, replay};
use cloudcord_runtime::kafka::KafkaConfig;
use cloudcord_runtime::mongo::MongoConfig;
use cloudcord_runtime::postgres::PostgresConfig;
use cloudcord_schemas::envelope::AggregateRef;
use cloudcord_schemas::guild::GuildEvent;
use futures::TryStreamExt as _;
use mongodb::bson::{Document, doc};
use rdkafka::Message as _;
use serde::Serialize;
use sqlx::Row as _;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::clients::Received;
use super::load::{Outcome, Sent};

/// Where the read models live.
pub struct Stores<'a> {
    /// The brokers.
    pub kafka: &'a KafkaConfig,
    /// PostgreSQL.
    pub postgres: &'a PostgresConfig,
    /// The projectors' schema.
    pub schema: &'a str,
    /// MongoDB (FerretDB), with the projectors' database.
    pub mongo: &'a MongoConfig,
}

/// What the checker found; empty lists mean the guarantee held.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// Messages posted.
    pub sent: usize,
    /// Of which acknowledged.
    pub acked: usize,
    /// Unacknowledged messages that were committed anyway (allowed: once).
    pub unacked_committed: usize,
    /// Why POSTs were not acknowledged, and how many each.
    pub unacked_reasons: BTreeMap<String, usize>,
    /// Acknowledged messages missing from `events`.
    pub lost_in_events: Vec<String>,
    /// Messages in `events` more than once.
    pub duplicated_in_events: Vec<String>,
    /// Acknowledged messages missing from PostgreSQL's message index.
    pub lost_in_postgres: Vec<u64>,
    /// Acknowledged messages missing from MongoDB's messages.
    pub lost_in_mongo: Vec<u64>,
    /// Per client: acknowledged messages neither dispatched nor backfilled.
    pub lost_by_clients: Vec<Vec<u64>>,
    /// Per client: messages dispatched more than once.
    pub duplicated_by_clients: Vec<Vec<u64>>,
    /// Aggregates whose `seq`s in `events` are not 1, 2, 3, …
    pub seq_breaks: Vec<String>,
    /// Whether a replay from offset 0 built the live read models (PostgreSQL, MongoDB).
    pub replay_matches: (bool, bool),
    /// Clients' resumes and re-identifications.
    pub resumes: u32,
    /// Sessions lost and identified afresh.
    pub reidentified: u32,
    /// Instances that exited on their own during the run and were started again,
    /// as an orchestrator would (not a failed guarantee: a fenced processor exits by
    /// design), each with its exit status and the fault it followed.
    pub revived: Vec<String>,
}

impl Report {
    /// Whether every guarantee held.
    pub fn passed(&self) -> bool {
        self.lost_in_events.is_empty()
            && self.duplicated_in_events.is_empty()
            && self.lost_in_postgres.is_empty()
            && self.lost_in_mongo.is_empty()
            && self.lost_by_clients.iter().all(Vec::is_empty)
            && self.duplicated_by_clients.iter().all(Vec::is_empty)
            && self.seq_breaks.is_empty()
            && self.replay_matches == (true, true)
    }
}

/// Checks the run's ledger and clients against the log and the read models.
pub async fn check(
    stores: &Stores<'_>,
    sent: &[Sent],
    clients: &[Received],
) -> anyhow::Result<Report> {
    let mut report = Report {
        sent: sent.len(),
        resumes: clients.iter().map(|c| c.resumes).sum(),
        reidentified: clients.iter().map(|c| c.reidentified).sum(),
        ..Report::default()
    };
    let acked: BTreeMap<&str, u64> = sent
        .iter()
        .filter_map(|s| match s.outcome {
            Outcome::Acked(id) => Some((s.content.as_str(), id)),
            Outcome::Unacked(_) => None,
        })
        .collect();
    report.acked = acked.len();

    let log = read_log(stores.kafka)?;
    report.seq_breaks.clone_from(&log.seq_breaks);
    judge_log(sent, &log.contents, &mut report);

    let pool = pg_store::open_schema(stores.postgres, stores.schema).await?;
    let database = mongo_store::open_database(stores.mongo, &stores.mongo.database).await?;
    wait_until_projected(stores.kafka, &log.next_offsets, &pool, &database).await?;
    let in_postgres: BTreeSet<u64> = sqlx::query("SELECT id FROM message_index")
        .fetch_all(&pool)
        .await?
        .iter()
        .filter_map(|row| u64::try_from(row.get::<i64, _>(0)).ok())
        .collect();
    let in_mongo: BTreeSet<u64> = database
        .collection::<Document>("messages")
        .find(doc! {})
        .await?
        .try_collect::<Vec<_>>()
        .await?
        .iter()
        .filter_map(|d| u64::try_from(d.get_i64("id").ok()?).ok())
        .collect();
    for &id in acked.values() {
        if !in_postgres.contains(&id) {
            report.lost_in_postgres.push(id);
        }
        if !in_mongo.contains(&id) {
            report.lost_in_mongo.push(id);
        }
    }
    for client in clients {
        let (lost, duplicated) = judge_client(acked.values().copied(), client);
        report.lost_by_clients.push(lost);
        report.duplicated_by_clients.push(duplicated);
    }

    let live = (
        digest::postgres(&pool, stores.schema).await?,
        digest::mongo(&database).await?,
    );
    let (pg, mongo) = replay::replay(
        stores.kafka,
        stores.postgres,
        stores.mongo,
        &CancellationToken::new(),
    )
    .await?;
    report.replay_matches = (pg.digest == live.0, mongo.digest == live.1);
    replay::drop_postgres(stores.postgres, &pg.target).await?;
    replay::drop_mongo(stores.mongo, &mongo.target).await?;
    Ok(report)
}

/// Compares what was sent with how often `events` holds each content: an
/// acknowledged message must be there once, an unacknowledged one at most once.
fn judge_log(sent: &[Sent], contents: &HashMap<String, u32>, report: &mut Report) {
    for s in sent {
        if let Outcome::Unacked(reason) = &s.outcome {
            *report.unacked_reasons.entry(reason.clone()).or_default() += 1;
        }
        let times = contents.get(&s.content).copied().unwrap_or(0);
        match (&s.outcome, times) {
            (_, 2..) => report.duplicated_in_events.push(s.content.clone()),
            (Outcome::Acked(_), 0) => report.lost_in_events.push(s.content.clone()),
            (Outcome::Unacked(_), 1) => report.unacked_committed += 1,
            _ => {}
        }
    }
}

/// The acknowledged messages a client neither received nor backfilled (oldest
/// first), and those it was sent more than once.
fn judge_client(acked: impl Iterator<Item = u64>, client: &Received) -> (Vec<u64>, Vec<u64>) {
    let mut lost: Vec<u64> = acked
        .filter(|id| !client.dispatched.contains_key(id) && !client.backfilled.contains_key(id))
        .collect();
    lost.sort_unstable();
    let duplicated = client
        .dispatched
        .iter()
        .filter(|&(_, &n)| n > 1)
        .map(|(&id, _)| id)
        .collect();
    (lost, duplicated)
}

/// What the `events` topic holds.
struct Log {
    /// How many MessageSent events carry each content.
    contents: HashMap<String, u32>,
    /// Aggregates whose `seq`s do not count 1, 2, 3, … in log order.
    seq_breaks: Vec<String>,
    /// Per partition, the offset after its last committed event (transaction
    /// markers follow it, so it is not the partition's end offset).
    next_offsets: HashMap<i32, i64>,
}

fn read_log(kafka: &KafkaConfig) -> anyhow::Result<Log> {
    let records = kafka
        .read_to_end(&kafka.topics().events, Duration::from_secs(30))
        .context("reading the events topic")?;
    let mut contents = HashMap::new();
    let mut last: HashMap<AggregateRef, u64> = HashMap::new();
    let mut seq_breaks = Vec::new();
    let mut next_offsets = HashMap::new();
    for message in &records {
        next_offsets.insert(message.partition(), message.offset() + 1);
        let envelope =
            record::decode(message.payload().unwrap_or_default()).with_context(|| {
                format!(
                    "decoding events@{}:{}",
                    message.partition(),
                    message.offset()
                )
            })?;
        let expected = last.get(&envelope.aggregate).map_or(1, |seq| seq + 1);
        if envelope.seq != expected {
            seq_breaks.push(format!(
                "{} {}: seq {} after {}",
                envelope.aggregate.kind.as_str(),
                envelope.aggregate.id,
                envelope.seq,
                expected - 1
            ));
        }
        last.insert(envelope.aggregate, envelope.seq);
        if let DomainEvent::Guild(GuildEvent::MessageSent(sent)) = &envelope.event {
            *contents.entry(sent.content.clone()).or_default() += 1;
        }
    }
    Ok(Log {
        contents,
        seq_breaks,
        next_offsets,
    })
}

/// Waits (up to 3 minutes) until both projectors stored `ends` (or beyond) for
/// every partition.
async fn wait_until_projected(
    kafka: &KafkaConfig,
    ends: &HashMap<i32, i64>,
    pool: &sqlx::PgPool,
    database: &mongodb::Database,
) -> anyhow::Result<()> {
    let topic = kafka.topics().events;
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let mut behind = Vec::new();
        let mongo: HashMap<i32, i64> = database
            .collection::<Document>(mongo_store::OFFSETS)
            .find(doc! { "topic": &topic })
            .await?
            .try_collect::<Vec<_>>()
            .await?
            .iter()
            .filter_map(|d| Some((d.get_i32("partition").ok()?, d.get_i64("next_offset").ok()?)))
            .collect();
        for (&partition, &end) in ends {
            let pg = pg_store::projected_through(pool, &topic, partition)
                .await?
                .unwrap_or(0);
            let mongo = mongo.get(&partition).copied().unwrap_or(0);
            if pg < end || mongo < end {
                behind.push((partition, pg, mongo, end));
            }
        }
        if behind.is_empty() {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the projectors did not catch up: (partition, postgres, mongo, end) {behind:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use super::{Report, judge_client, judge_log};
    use crate::chaos::clients::Received;
    use crate::chaos::load::{Outcome, Sent};

    fn sent(content: &str, outcome: Outcome) -> Sent {
        Sent {
            content: content.to_owned(),
            outcome,
        }
    }

    #[test]
    fn the_log_must_hold_each_acknowledged_message_once_and_no_message_twice() {
        let ledger = [
            sent("a", Outcome::Acked(1)),
            sent("b", Outcome::Acked(2)),
            sent("c", Outcome::Acked(3)),
            sent("d", Outcome::Unacked("timeout".into())),
            sent("e", Outcome::Unacked("refused".into())),
            sent("f", Outcome::Unacked("502".into())),
        ];
        let contents = HashMap::from([
            ("a".to_owned(), 1),
            ("c".to_owned(), 2),
            ("d".to_owned(), 1),
            ("f".to_owned(), 2),
        ]);
        let mut report = Report::default();
        judge_log(&ledger, &contents, &mut report);
        assert_eq!(report.lost_in_events, ["b"]);
        assert_eq!(report.duplicated_in_events, ["c", "f"]);
        assert_eq!(report.unacked_committed, 1);
        assert_eq!(report.unacked_reasons.values().sum::<usize>(), 3);
        assert!(!report.passed());
    }

    #[test]
    fn a_client_must_see_each_acknowledged_message_by_dispatch_or_history_once() {
        let client = Received {
            dispatched: BTreeMap::from([(1, 1), (2, 2)]),
            backfilled: BTreeMap::from([(3, 1)]),
            ..Received::default()
        };
        let (lost, duplicated) = judge_client([1, 2, 3, 4].into_iter(), &client);
        assert_eq!(lost, [4]);
        assert_eq!(duplicated, [2]);
    }
}
