//! The projection loop every store shares: read a batch of the `events` topic
//! (`read_committed`), check each aggregate's `seq`, project what is new, let the
//! [`Store`] write the changes together with its positions and offsets, then
//! publish to `projected`.
//!
//! The store, not Kafka, remembers where each partition stands: when the loop gains
//! a partition (and after a failed write) it asks the store for its offsets and
//! seeks there, so what the read models hold and where the projector resumes can
//! never disagree. Which partitions it projects is [`crate::ownership`]'s matter.
//!
//! A partition stops — and stays stopped until the process restarts — when its next
//! record cannot be applied: a gap in an aggregate's `seq`, a record that does not
//! decode, or an event that does not fit the read model. Its offset stays on that
//! record, the other partitions go on.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use cloudcord_runtime::kafka::{KafkaConfig, retry_while_settling};
use cloudcord_runtime::telemetry::ErrorChain;
use cloudcord_schemas::envelope::AggregateRef;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::lag;
use crate::metrics::Metrics;
use crate::ownership::{Changes, Owned, OwnershipContext};
use crate::projected::{PublishError, Publisher, republish};
use crate::record::{self, EventRecord};
use crate::sequence::{Verdict, judge};

/// Why a store could not read or write.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// PostgreSQL refused or failed a statement.
    #[error("PostgreSQL failed")]
    Postgres(#[from] sqlx::Error),
    /// The read-model migrations failed.
    #[error("the read-model migrations failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// MongoDB refused or failed a command.
    #[error("MongoDB failed")]
    Mongo(#[from] mongodb::error::Error),
    /// MongoDB answered a write with errors.
    #[error("MongoDB refused a write to {collection}: {errors}")]
    MongoWrite {
        /// The collection written to.
        collection: &'static str,
        /// The server's `writeErrors`.
        errors: String,
    },
    /// The MongoDB database holds documents of another shape than this version
    /// writes and reads.
    #[error(
        "MongoDB database {database} holds read models of format {found}, this version writes \
         format {expected}: rebuild them from the events topic — stop the projectors, drop \
         the collections messages, audit_log, user_settings, aggregate_positions, \
         projector_offsets and projection_format (keep the GridFS buckets: files are not \
         derived from events) and start the projectors again"
    )]
    MongoFormat {
        /// The database.
        database: String,
        /// The format recorded in it (1: from before formats were recorded).
        found: i32,
        /// The format this version writes.
        expected: i32,
    },
    /// Another instance of this projector wrote offsets since this one read them.
    #[error("another projector moved the stored offset of partition {partition}")]
    Fenced {
        /// The partition.
        partition: i32,
    },
}

/// Why the projection loop stopped.
#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    /// Kafka refused a request (creating the consumer, assigning partitions).
    #[error("Kafka failed")]
    Kafka(#[from] KafkaError),
    /// The store failed before the loop could start.
    #[error("the read-model store failed")]
    Store(#[from] StoreError),
    /// A blocking Kafka call could not be run.
    #[error("a blocking Kafka call was cancelled")]
    Join(#[from] tokio::task::JoinError),
    /// What a previous run left unconfirmed could not be published again.
    #[error("cannot publish to the projected topic")]
    Publish(#[from] PublishError),
    /// The store's offset for a partition lies beyond the partition's end: the read
    /// models were built from a log the topic no longer holds.
    #[error(
        "the read models were built up to offset {stored} of partition {partition}, but the \
         events topic ends at offset {end} there: the topic is younger than the read models \
         (was it deleted and created again?). Rebuild them from the log (`cloudcord replay`, \
         then point the services at the rebuilt schema and database), or point the projectors \
         at the Kafka cluster they were built from"
    )]
    LogBehindReadModels {
        /// The partition.
        partition: i32,
        /// The next offset the store holds for it.
        stored: i64,
        /// The partition's end offset.
        end: i64,
    },
}

/// One batch as a store writes it, all or nothing (Postgres) or data first (Mongo).
#[derive(Debug)]
pub struct Batch<C> {
    /// The events topic.
    pub topic: String,
    /// One entry per applied event, in event order.
    pub changes: Vec<C>,
    /// The last applied `seq` of every aggregate the batch advanced.
    pub positions: Vec<(AggregateRef, u64)>,
    /// The next offset to read, per partition the batch moved.
    pub offsets: Vec<(i32, i64)>,
}

/// A read-model store: how events become changes, and how changes, positions and
/// offsets are kept.
pub trait Store: Send {
    /// The store's name in metrics, logs and `projected` records.
    const NAME: &'static str;
    /// What one event changes.
    type Changes: Send;
    /// Why an event cannot be projected.
    type ProjectionError: std::error::Error + Send + Sync + 'static;

    /// The pure projection: what `record` changes (no I/O, no clock).
    fn project(record: &EventRecord) -> Result<Self::Changes, Self::ProjectionError>;

    /// The stored next offset of each partition of `topic` that has one.
    fn next_offsets(
        &mut self,
        topic: &str,
    ) -> impl Future<Output = Result<HashMap<i32, i64>, StoreError>> + Send;

    /// The last applied `seq` of those of `aggregates` that have one.
    fn positions(
        &mut self,
        aggregates: &[AggregateRef],
    ) -> impl Future<Output = Result<HashMap<AggregateRef, u64>, StoreError>> + Send;

    /// Writes a batch: its changes, then its positions, then its offsets.
    fn commit(
        &mut self,
        batch: Batch<Self::Changes>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Per partition of `topic`, the offset before which every applied event is
    /// confirmed on `projected`; a partition without one has published nothing.
    /// `None`: the store does not keep it, so nothing is published again after a
    /// crash (its `projected` records are at most once).
    fn published_offsets(
        &mut self,
        _topic: &str,
    ) -> impl Future<Output = Result<Option<HashMap<i32, i64>>, StoreError>> + Send {
        std::future::ready(Ok(None))
    }

    /// Records that every applied event before `offsets` (per partition of
    /// `topic`) is on `projected` — delivered, or nothing to deliver (a replay).
    fn record_published(
        &mut self,
        _topic: &str,
        _offsets: &[(i32, i64)],
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        std::future::ready(Ok(()))
    }
}

/// How the loop runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The consumer group. Live, the instances of a store's projector share its
    /// partitions through it; a replay assigns every partition itself, and its
    /// group only names the client.
    pub group_id: String,
    /// Most records per batch.
    pub batch_max: usize,
    /// How long a batch waits for more records after its first.
    pub linger: Duration,
    /// Stop once every partition is read to its end (replay) instead of running
    /// until shutdown.
    pub until_end: bool,
    /// Live: how long the group waits for a silent instance before giving its
    /// partitions to the others (the failover time after a crash).
    pub session_timeout: Duration,
}

/// Why a partition stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// An aggregate's events `missing_from..=missing_to` are missing.
    Gap {
        /// The aggregate.
        aggregate: AggregateRef,
        /// The first missing `seq`.
        missing_from: u64,
        /// The last missing `seq`.
        missing_to: u64,
    },
    /// The record at this offset cannot be decoded or projected.
    Unreadable {
        /// What is wrong, with its causes.
        reason: String,
    },
}

/// What a run of the loop did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Events applied.
    pub applied: u64,
    /// Records skipped as duplicates.
    pub duplicates: u64,
    /// Partitions that stopped, with the offset they stopped at and why.
    pub stopped: BTreeMap<i32, (i64, Stop)>,
    /// Where the time went.
    pub timings: Timings,
}

/// Time spent in each stage of the loop, summed over its batches. A replay reads
/// the next batch while the store writes one, so the stages add up to more than
/// the time the loop ran.
#[derive(Debug, Default, Clone, Copy)]
pub struct Timings {
    /// Taking records from the consumer (decoding included).
    pub reading: Duration,
    /// Decoding the records (JSON to typed envelopes), part of `reading`.
    pub decoding: Duration,
    /// Looking up positions, checking `seq`s and projecting.
    pub judging: Duration,
    /// The store's writes (one transaction per batch in PostgreSQL).
    pub writing: Duration,
}

/// A record read but not yet judged.
struct Pending {
    partition: i32,
    offset: i64,
    decoded: Result<EventRecord, String>,
}

/// Runs the loop for `store` until `shutdown` is cancelled (or, with
/// [`Options::until_end`], until every partition is read to its end), sampling its
/// lag meanwhile ([`lag`]).
pub async fn run<S: Store>(
    kafka: &KafkaConfig,
    store: &mut S,
    options: &Options,
    metrics: &Metrics,
    publisher: Option<&Publisher>,
    shutdown: &CancellationToken,
) -> Result<Outcome, ProjectorError> {
    let topic = kafka.topics().events;
    let consumer: Arc<StreamConsumer<OwnershipContext>> = Arc::new(
        consumer_config(kafka, S::NAME, options)
            .create_with_context(OwnershipContext::new(S::NAME))?,
    );
    let membership = if options.until_end {
        Membership::All(partitions_of(&consumer, &topic).await?)
    } else {
        Membership::Group
    };
    refuse_a_younger_log(&consumer, &topic, store).await?;
    let owned = Owned::default();
    let sampler = lag::Sampler::start(
        Arc::clone(&consumer),
        &topic,
        owned.clone(),
        metrics.clone(),
        S::NAME,
    );
    let source = Source {
        consumer,
        topic,
        membership,
        owned,
    };
    let outcome = project(source, store, kafka, options, metrics, publisher, shutdown).await;
    sampler.stop().await;
    outcome
}

/// Refuses to project onto read models built from a log the topic no longer
/// holds. Were the topic deleted and created again (or the brokers' data lost)
/// while the read models stayed, the stored offsets would lie beyond the new
/// partitions' ends; librdkafka would silently reset them, and the new events,
/// whose `seq`s start again at 1, would be skipped as duplicates. A partition whose
/// end the brokers do not tell is not checked (logged by [`lag::ends`]).
async fn refuse_a_younger_log<S: Store>(
    consumer: &Arc<StreamConsumer<OwnershipContext>>,
    topic: &str,
    store: &mut S,
) -> Result<(), ProjectorError> {
    let stored = store.next_offsets(topic).await?;
    let partitions = stored.keys().copied().collect();
    for (partition, end) in lag::ends(consumer, topic, partitions).await {
        if let Some(&stored) = stored.get(&partition)
            && stored > end
        {
            return Err(ProjectorError::LogBehindReadModels {
                partition,
                stored,
                end,
            });
        }
    }
    Ok(())
}

/// What the loop reads: partitions of the `events` topic, through one consumer.
struct Source {
    consumer: Arc<StreamConsumer<OwnershipContext>>,
    topic: String,
    membership: Membership,
    /// The partitions positioned at the store's offsets.
    owned: Owned,
}

/// How the loop comes by its partitions.
enum Membership {
    /// It assigns itself all of these (a replay).
    All(Vec<i32>),
    /// Its consumer group gives it some (live).
    Group,
}

impl Source {
    /// Points `partitions` at `offsets` (the beginning where there is none), and
    /// resumes any that were paused at a stop.
    fn point(&self, partitions: &[i32], offsets: &HashMap<i32, i64>) -> Result<(), KafkaError> {
        let mut list = TopicPartitionList::new();
        for &partition in partitions {
            let offset = offsets
                .get(&partition)
                .map_or(Offset::Beginning, |&next| Offset::Offset(next));
            list.add_partition_offset(&self.topic, partition, offset)?;
        }
        match self.membership {
            // A new assignment replaces the old one, its pauses and its end notices.
            Membership::All(_) => self.consumer.assign(&list),
            // The group's assignment stays. A seek takes effect at once: librdkafka
            // drops whatever it fetched before it (a version barrier).
            Membership::Group => {
                for element in list.elements() {
                    self.consumer.seek(
                        &self.topic,
                        element.partition(),
                        element.offset(),
                        Duration::ZERO,
                    )?;
                }
                self.consumer.resume(&list)
            }
        }
    }

    /// Copies the store's new offsets to the consumer group, where the autoscaler
    /// (KEDA's Kafka scaler) reads the lag. Best effort: the store's are the truth.
    fn commit_to_group(&self, offsets: &[(i32, i64)]) {
        if !matches!(self.membership, Membership::Group) {
            return;
        }
        let mut list = TopicPartitionList::new();
        for &(partition, next) in offsets {
            if let Err(error) =
                list.add_partition_offset(&self.topic, partition, Offset::Offset(next))
            {
                tracing::debug!(partition, error = %ErrorChain(&error), "cannot list an offset");
            }
        }
        if let Err(error) = self.consumer.commit(&list, CommitMode::Async) {
            tracing::debug!(error = %ErrorChain(&error), "cannot copy offsets to the consumer group");
        }
    }
}

/// What the loop's steps share: where it reads, where it publishes, what it counts.
struct Loop<'a> {
    source: Source,
    kafka: &'a KafkaConfig,
    publisher: Option<&'a Publisher>,
    metrics: &'a Metrics,
    shutdown: &'a CancellationToken,
}

async fn project<S: Store>(
    source: Source,
    store: &mut S,
    kafka: &KafkaConfig,
    options: &Options,
    metrics: &Metrics,
    publisher: Option<&Publisher>,
    shutdown: &CancellationToken,
) -> Result<Outcome, ProjectorError> {
    let ctx = Loop {
        source,
        kafka,
        publisher,
        metrics,
        shutdown,
    };
    let mut outcome = Outcome::default();
    let mut at_end = BTreeSet::new();
    // A replay's partitions: it is done when each is read to its end or stopped.
    let all = match &ctx.source.membership {
        Membership::All(partitions) => {
            position(&ctx, store, partitions).await?;
            partitions.clone()
        }
        Membership::Group => {
            ctx.source.consumer.subscribe(&[&ctx.source.topic])?;
            Vec::new()
        }
    };
    let (consumer, topic) = (&ctx.source.consumer, &ctx.source.topic);
    tracing::info!(store = S::NAME, %topic, "projecting");

    let done = |outcome: &Outcome, at_end: &BTreeSet<i32>| {
        options.until_end
            && all
                .iter()
                .all(|p| at_end.contains(p) || outcome.stopped.contains_key(p))
    };
    // The batch read while the previous one was being written.
    let mut prefetched: Option<Vec<Pending>> = None;
    loop {
        let mut pending = match prefetched.take() {
            Some(pending) => pending,
            None if done(&outcome, &at_end) => return Ok(outcome),
            None => match next_batch(
                consumer,
                options,
                &outcome.stopped,
                &mut outcome.timings,
                &mut at_end,
                shutdown,
            )
            .await
            {
                Some(pending) => pending,
                None => return Ok(outcome),
            },
        };
        if let Some(changes) = consumer.context().take_changes() {
            // What was read around a rebalance is read again from the stored offsets.
            pending.retain(|p| !changes.touches(p.partition));
            follow(&ctx, store, &changes, &mut outcome).await;
        }
        tracing::trace!(
            store = S::NAME,
            records = pending.len(),
            ?at_end,
            "batch read"
        );
        let started = std::time::Instant::now();
        let judged = judge_batch::<S>(store, topic, pending, &mut outcome, metrics).await;
        outcome.timings.judging += started.elapsed();
        let mut batch = match judged {
            Ok(batch) => batch,
            Err(error) => {
                rewind(&ctx, store, &mut outcome, &error).await;
                // Every partition is read again from its stored offset; librdkafka
                // reports each end again after the new assignment.
                at_end.clear();
                continue;
            }
        };
        for (&partition, (_, _)) in &outcome.stopped {
            pause(consumer, topic, partition);
        }
        let applied = std::mem::take(&mut batch.applied);
        if batch.batch.changes.is_empty() && batch.batch.offsets.is_empty() {
            continue;
        }
        let offsets = batch.batch.offsets.clone();
        let count = batch.batch.changes.len();
        // A replay reads and decodes its next batch while the store writes this one
        // (its database busy): on two cores the two overlap instead of taking turns.
        // The next batch is judged only after this commit, against the positions it
        // stored. Live, reading ahead would hold this batch's `projected` records
        // until the next event arrives, so the loop takes turns.
        let read_ahead = options.until_end && !done(&outcome, &at_end);
        let ((committed, writing), next) = tokio::join!(
            async {
                let writing = std::time::Instant::now();
                let committed = store.commit(batch.batch).await;
                (committed, writing.elapsed())
            },
            async {
                if read_ahead {
                    next_batch(
                        consumer,
                        options,
                        &outcome.stopped,
                        &mut outcome.timings,
                        &mut at_end,
                        shutdown,
                    )
                    .await
                } else {
                    None
                }
            }
        );
        outcome.timings.writing += writing;
        if let Err(error) = committed {
            // What was read ahead follows the failed batch: read it again after
            // the rewind.
            drop(next);
            rewind(&ctx, store, &mut outcome, &error).await;
            at_end.clear();
            continue;
        }
        prefetched = next;
        ctx.source.commit_to_group(&offsets);
        outcome.applied += u64::try_from(count).unwrap_or(u64::MAX);
        tracing::debug!(
            store = S::NAME,
            events = count,
            ?offsets,
            elapsed_ms = started.elapsed().as_millis(),
            "batch committed"
        );
        metrics.committed(S::NAME, &offsets, count, started.elapsed());
        // What a crash leaves unconfirmed on `projected` is published again at the
        // next start; a replay publishes nothing and has nothing to confirm.
        let delivered = match publisher {
            Some(publisher) => publisher.publish(S::NAME, &applied).await,
            None => Ok(()),
        };
        match delivered {
            Ok(()) => {
                if let Err(error) = store.record_published(topic, &offsets).await {
                    tracing::warn!(
                        store = S::NAME,
                        error = %ErrorChain(&error),
                        "cannot record what projected holds; it is published again at the next start"
                    );
                }
            }
            Err(error) => tracing::error!(
                store = S::NAME,
                error = %ErrorChain(&error),
                "projected records were not delivered; they are published again at the next start"
            ),
        }
        if read_ahead && prefetched.is_none() {
            // Reading ahead stopped because of a shutdown.
            return Ok(outcome);
        }
    }
}

/// The consumer's settings: `read_committed`, no automatic offset commits (the
/// loop copies the store's offsets to the group itself), live group membership, and
/// fetching tuned to what the loop is for.
fn consumer_config(kafka: &KafkaConfig, store: &str, options: &Options) -> ClientConfig {
    let mut config =
        kafka.read_committed_consumer_config(&format!("projector-{store}"), &options.group_id);
    if options.until_end {
        // A replay reads a backlog: large fetches, a deep local queue.
        config
            .set("enable.partition.eof", "true")
            .set("fetch.min.bytes", "1048576")
            .set("fetch.max.bytes", "104857600")
            .set("max.partition.fetch.bytes", "16777216")
            .set("queued.max.messages.kbytes", "131072")
            .set("queued.min.messages", "200000");
    }
    if !options.until_end {
        config
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set(
                "session.timeout.ms",
                options.session_timeout.as_millis().to_string(),
            )
            .set(
                "heartbeat.interval.ms",
                (options.session_timeout / 5).as_millis().to_string(),
            );
    }
    // librdkafka's default (500 ms) lets a fetch wait that long for `fetch.min.bytes`;
    // live, that wait is projection lag whenever the broker does not answer a
    // waiting fetch as soon as new events commit.
    config.set("fetch.wait.max.ms", FETCH_WAIT_MAX_MS);
    config
}

/// How long the broker may hold a fetch for more data (milliseconds).
const FETCH_WAIT_MAX_MS: &str = "5";

/// The records of one batch, judged, with what to write.
struct Judged<C> {
    batch: Batch<C>,
    /// The applied records, for `projected`.
    applied: Vec<EventRecord>,
}

async fn judge_batch<S: Store>(
    store: &mut S,
    topic: &str,
    pending: Vec<Pending>,
    outcome: &mut Outcome,
    metrics: &Metrics,
) -> Result<Judged<S::Changes>, StoreError> {
    let aggregates: Vec<AggregateRef> = pending
        .iter()
        .filter_map(|p| p.decoded.as_ref().ok().map(|r| r.envelope.aggregate))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut last = store.positions(&aggregates).await?;
    let mut positions = BTreeMap::new();
    let mut offsets = BTreeMap::new();
    let mut changes = Vec::with_capacity(pending.len());
    let mut applied = Vec::with_capacity(pending.len());
    for Pending {
        partition,
        offset,
        decoded,
    } in pending
    {
        if outcome.stopped.contains_key(&partition) {
            continue;
        }
        let record = match decoded {
            Ok(record) => record,
            Err(reason) => {
                stop(
                    outcome,
                    metrics,
                    S::NAME,
                    partition,
                    offset,
                    Stop::Unreadable { reason },
                );
                continue;
            }
        };
        let aggregate = record.envelope.aggregate;
        let seq = record.envelope.seq;
        match judge(last.get(&aggregate).copied().unwrap_or(0), seq) {
            Verdict::Duplicate => {
                outcome.duplicates += 1;
                metrics.duplicate(S::NAME);
                tracing::debug!(
                    store = S::NAME,
                    ?aggregate,
                    seq,
                    partition,
                    offset,
                    "duplicate skipped"
                );
                offsets.insert(partition, offset + 1);
            }
            Verdict::Gap {
                missing_from,
                missing_to,
            } => stop(
                outcome,
                metrics,
                S::NAME,
                partition,
                offset,
                Stop::Gap {
                    aggregate,
                    missing_from,
                    missing_to,
                },
            ),
            Verdict::Apply => match S::project(&record) {
                Ok(change) => {
                    changes.push(change);
                    last.insert(aggregate, seq);
                    positions.insert(aggregate, seq);
                    offsets.insert(partition, offset + 1);
                    applied.push(record);
                }
                Err(error) => stop(
                    outcome,
                    metrics,
                    S::NAME,
                    partition,
                    offset,
                    Stop::Unreadable {
                        reason: ErrorChain(&error).to_string(),
                    },
                ),
            },
        }
    }
    Ok(Judged {
        batch: Batch {
            topic: topic.to_owned(),
            changes,
            positions: positions.into_iter().collect(),
            offsets: offsets.into_iter().collect(),
        },
        applied,
    })
}

fn stop(
    outcome: &mut Outcome,
    metrics: &Metrics,
    store: &'static str,
    partition: i32,
    offset: i64,
    reason: Stop,
) {
    match &reason {
        Stop::Gap {
            aggregate,
            missing_from,
            missing_to,
        } => {
            metrics.gap(store, partition);
            tracing::error!(
                store,
                partition,
                offset,
                aggregate_type = aggregate.kind.as_str(),
                aggregate_id = %aggregate.id,
                missing_from,
                missing_to,
                "gap in an aggregate's events: seq {missing_from}..={missing_to} of {} {} never arrived; partition stopped",
                aggregate.kind.as_str(),
                aggregate.id,
            );
        }
        Stop::Unreadable { reason } => {
            tracing::error!(store, partition, offset, %reason, "unreadable event; partition stopped");
        }
    }
    metrics.stopped(store, partition);
    outcome.stopped.insert(partition, (offset, reason));
}

/// Reads up to `batch_max` records: waits for the first, then lingers for more.
/// Nothing when the consumer group changes first, so the loop can act on the change;
/// `None` when shut down.
async fn next_batch(
    consumer: &StreamConsumer<OwnershipContext>,
    options: &Options,
    stopped: &BTreeMap<i32, (i64, Stop)>,
    timings: &mut Timings,
    at_end: &mut BTreeSet<i32>,
    shutdown: &CancellationToken,
) -> Option<Vec<Pending>> {
    let reading = std::time::Instant::now();
    let mut pending = Vec::new();
    let first = tokio::select! {
        () = shutdown.cancelled() => return None,
        () = consumer.context().changed() => return Some(Vec::new()),
        received = consumer.recv() => received,
    };
    let mut received = Some(first);
    let deadline = Instant::now() + options.linger;
    while let Some(message) = received.take() {
        match message {
            Ok(message) => {
                let partition = message.partition();
                at_end.remove(&partition);
                if !stopped.contains_key(&partition) {
                    let offset = message.offset();
                    let decoding = std::time::Instant::now();
                    let decoded = record::decode(message.payload().unwrap_or_default())
                        .map(|envelope| EventRecord {
                            partition,
                            offset,
                            envelope,
                        })
                        .map_err(|error| ErrorChain(&error).to_string());
                    timings.decoding += decoding.elapsed();
                    pending.push(Pending {
                        partition,
                        offset,
                        decoded,
                    });
                }
            }
            Err(KafkaError::PartitionEOF(partition)) => {
                at_end.insert(partition);
                if options.until_end {
                    // The batch may be all there is; do not linger for more.
                    break;
                }
            }
            // librdkafka retries by itself; the error is worth a line, not a stop.
            Err(error) => tracing::warn!(error = %ErrorChain(&error), "reading events"),
        }
        if pending.len() >= options.batch_max {
            break;
        }
        received = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .ok();
    }
    timings.reading += reading.elapsed();
    Some(pending)
}

/// After a failed read or write: waits a moment, then points every partition back
/// at the store's offsets. Stopped partitions are retried too (a gap is found again).
async fn rewind<S: Store>(
    ctx: &Loop<'_>,
    store: &mut S,
    outcome: &mut Outcome,
    error: &StoreError,
) {
    tracing::error!(store = S::NAME, error = %ErrorChain(error), "writing a batch failed; rewinding to the stored offsets");
    tokio::select! {
        () = ctx.shutdown.cancelled() => return,
        () = tokio::time::sleep(RETRY_AFTER) => {}
    }
    outcome.stopped.clear();
    let partitions = match &ctx.source.membership {
        Membership::All(partitions) => partitions.clone(),
        Membership::Group => ctx.source.owned.snapshot(),
    };
    position_retrying(ctx, store, &partitions).await;
}

/// How long the loop waits before it reads the store's offsets again after a
/// failure.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Acts on what the consumer group changed: forgets the partitions lost and
/// positions those gained.
async fn follow<S: Store>(ctx: &Loop<'_>, store: &mut S, changes: &Changes, outcome: &mut Outcome) {
    ctx.source
        .owned
        .lose(changes.lost.iter().copied(), |partition| {
            ctx.metrics.released(S::NAME, partition);
        });
    // A partition regained starts afresh: a gap in it is found again.
    for partition in changes.lost.iter().chain(&changes.gained) {
        outcome.stopped.remove(partition);
    }
    let gained: Vec<i32> = changes.gained.iter().copied().collect();
    if !gained.is_empty() {
        position_retrying(ctx, store, &gained).await;
    }
}

/// Points `partitions` at the store's offsets and owns them, after publishing again
/// what the store committed but did not confirm on `projected` (what a crash, of
/// this instance or of the partitions' previous owner, left out).
async fn position<S: Store>(
    ctx: &Loop<'_>,
    store: &mut S,
    partitions: &[i32],
) -> Result<(), ProjectorError> {
    let Loop {
        source,
        kafka,
        publisher,
        metrics,
        ..
    } = ctx;
    let topic = &source.topic;
    let committed: HashMap<i32, i64> = store
        .next_offsets(topic)
        .await?
        .into_iter()
        .filter(|(partition, _)| partitions.contains(partition))
        .collect();
    if let Some(publisher) = publisher
        && let Some(published) = store.published_offsets(topic).await?
    {
        let confirmed = republish(kafka, topic, &committed, &published, publisher, S::NAME).await?;
        store.record_published(topic, &confirmed).await?;
    }
    metrics.positioned(S::NAME, partitions, &committed);
    source.point(partitions, &committed)?;
    source.owned.gain(partitions);
    tracing::debug!(
        store = S::NAME,
        ?partitions,
        "positioned at the stored offsets"
    );
    Ok(())
}

/// [`position`], tried again while the store or Kafka fails, until shutdown.
async fn position_retrying<S: Store>(ctx: &Loop<'_>, store: &mut S, partitions: &[i32]) {
    loop {
        match position(ctx, store, partitions).await {
            Ok(()) => return,
            Err(error) => tracing::error!(
                store = S::NAME,
                ?partitions,
                error = %ErrorChain(&error),
                "cannot position partitions at the stored offsets; retrying"
            ),
        }
        tokio::select! {
            () = ctx.shutdown.cancelled() => return,
            () = tokio::time::sleep(RETRY_AFTER) => {}
        }
    }
}

fn pause(consumer: &StreamConsumer<OwnershipContext>, topic: &str, partition: i32) {
    let mut list = TopicPartitionList::new();
    list.add_partition(topic, partition);
    if let Err(error) = consumer.pause(&list) {
        tracing::warn!(partition, error = %ErrorChain(&error), "cannot pause a stopped partition; its records are dropped instead");
    }
}

/// The partition numbers of `topic`, from the cluster's metadata.
async fn partitions_of(
    consumer: &Arc<StreamConsumer<OwnershipContext>>,
    topic: &str,
) -> Result<Vec<i32>, ProjectorError> {
    // librdkafka's metadata call blocks until a broker answers.
    let consumer = Arc::clone(consumer);
    let name = topic.to_owned();
    let metadata = tokio::task::spawn_blocking(move || {
        retry_while_settling(|| consumer.fetch_metadata(Some(&name), Duration::from_secs(10)))
    })
    .await??;
    Ok(metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect())
}

#[cfg(test)]
mod tests {
    //! How a batch is judged against the aggregates' stored positions: the next
    //! `seq` is applied, one already applied is skipped, a missing one stops the
    //! partition.

    use std::collections::HashMap;
    use std::convert::Infallible;

    use cloudcord_schemas::envelope::AggregateRef;

    use super::{Batch, Outcome, Pending, Stop, Store, StoreError, judge_batch};
    use crate::metrics::Metrics;
    use crate::record::EventRecord;
    use crate::test_events::{guild_ref, in_guild, message_sent};

    /// A store that keeps positions in memory and projects an event to its `seq`.
    #[derive(Default)]
    struct Memory {
        positions: HashMap<AggregateRef, u64>,
    }

    impl Store for Memory {
        const NAME: &'static str = "memory";
        type Changes = u64;
        type ProjectionError = Infallible;

        fn project(record: &EventRecord) -> Result<u64, Infallible> {
            Ok(record.envelope.seq)
        }

        async fn next_offsets(&mut self, _topic: &str) -> Result<HashMap<i32, i64>, StoreError> {
            Ok(HashMap::new())
        }

        async fn positions(
            &mut self,
            aggregates: &[AggregateRef],
        ) -> Result<HashMap<AggregateRef, u64>, StoreError> {
            Ok(aggregates
                .iter()
                .filter_map(|a| Some((*a, *self.positions.get(a)?)))
                .collect())
        }

        async fn commit(&mut self, batch: Batch<u64>) -> Result<(), StoreError> {
            self.positions.extend(batch.positions);
            Ok(())
        }
    }

    /// The `seq`th message event of the test guild, at offset `offset`.
    fn pending(seq: u64, offset: i64) -> Pending {
        let mut record = in_guild(seq, message_sent(100 + seq));
        record.offset = offset;
        Pending {
            partition: 0,
            offset,
            decoded: Ok(record),
        }
    }

    async fn judge(store: &mut Memory, records: Vec<Pending>) -> (Batch<u64>, Outcome) {
        let mut outcome = Outcome::default();
        let judged = judge_batch(
            store,
            "events",
            records,
            &mut outcome,
            &Metrics::unregistered(),
        )
        .await
        .expect("the memory store does not fail");
        (judged.batch, outcome)
    }

    #[tokio::test]
    async fn the_next_seq_is_applied_and_moves_the_position_and_offset() {
        let mut store = Memory::default();
        let (batch, outcome) = judge(&mut store, vec![pending(1, 10), pending(2, 11)]).await;
        assert_eq!(batch.changes, [1, 2]);
        assert_eq!(batch.positions, [(guild_ref(), 2)]);
        assert_eq!(batch.offsets, [(0, 12)]);
        assert_eq!(outcome.duplicates, 0);
    }

    #[tokio::test]
    async fn a_duplicate_event_changes_nothing_but_the_offset() {
        let mut store = Memory::default();
        store.positions.insert(guild_ref(), 2);
        let (batch, outcome) = judge(&mut store, vec![pending(2, 11)]).await;
        assert_eq!(batch.changes, Vec::<u64>::new());
        assert_eq!(batch.positions, []);
        // Passed over, so a restart does not read it again.
        assert_eq!(batch.offsets, [(0, 12)]);
        assert_eq!(outcome.duplicates, 1);
    }

    #[tokio::test]
    async fn a_record_repeated_within_a_batch_is_applied_once() {
        let mut store = Memory::default();
        let (batch, outcome) = judge(
            &mut store,
            vec![pending(1, 10), pending(1, 11), pending(2, 12)],
        )
        .await;
        assert_eq!(batch.changes, [1, 2]);
        assert_eq!(outcome.duplicates, 1);
        assert_eq!(batch.offsets, [(0, 13)]);
    }

    #[tokio::test]
    async fn a_gap_stops_the_partition_at_the_record_after_it() {
        let mut store = Memory::default();
        store.positions.insert(guild_ref(), 2);
        let (batch, outcome) = judge(
            &mut store,
            vec![pending(3, 12), pending(6, 13), pending(4, 14)],
        )
        .await;
        assert_eq!(batch.changes, [3]);
        assert_eq!(batch.positions, [(guild_ref(), 3)]);
        // The offset stays on the record that cannot be applied.
        assert_eq!(batch.offsets, [(0, 13)]);
        assert_eq!(
            outcome.stopped.get(&0),
            Some(&(
                13,
                Stop::Gap {
                    aggregate: guild_ref(),
                    missing_from: 4,
                    missing_to: 5,
                }
            ))
        );
    }

    #[tokio::test]
    async fn an_unreadable_record_stops_its_partition() {
        let mut store = Memory::default();
        let broken = Pending {
            partition: 0,
            offset: 10,
            decoded: Err("not an envelope".into()),
        };
        let (batch, outcome) = judge(&mut store, vec![broken, pending(1, 11)]).await;
        assert_eq!(batch.changes, Vec::<u64>::new());
        assert_eq!(batch.offsets, []);
        assert_eq!(
            outcome.stopped.get(&0),
            Some(&(
                10,
                Stop::Unreadable {
                    reason: "not an envelope".into()
                }
            ))
        );
    }
}
