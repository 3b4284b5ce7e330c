//! The one Kafka consumer of a gateway process: it reads the `projected` topic, whose
//! records go to the in-memory fan-out, and the `ephemeral` topic, where gateway
//! processes talk to each other.
//!
//! It reads only committed records (`read_committed`), is assigned every partition
//! directly (no group rebalancing: every gateway process needs every record), and
//! starts at the end of each partition of `projected`, because what happened before
//! a session identified is in its READY and GUILD_CREATE, which come from the read
//! models (and a session handed over from another process catches up on its own).
//! `ephemeral` is read from a little in the past, to learn every presence; the
//! process serves once it has read that far ([`DispatchSource::run`]'s
//! `caught_up`), so its first GUILD_CREATEs show who is online. It commits nothing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cloudcord_runtime::kafka::{KafkaConfig, retry_while_settling};
use cloudcord_runtime::telemetry::ErrorChain;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::fanout::Position;
use crate::gateway::{Gateway, unix_ms};
use crate::metrics::RecordOutcome;
use crate::projected;
use cloudcord_schemas::ephemeral::Ephemeral;

/// How long a metadata or offsets request may take at start-up.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// How far back `ephemeral` is read at start-up: a little more than one presence
/// report interval, so a new process knows every presence at once.
const EPHEMERAL_LOOKBACK: Duration = Duration::from_secs(40);

/// The consumer, positioned and ready to run.
pub struct DispatchSource {
    consumer: Arc<StreamConsumer>,
    projected: String,
    /// Where `projected` was assigned.
    start: Position,
    /// The partitions of `ephemeral` with records to read before presences are
    /// complete, and where they ended at assignment.
    backlog: Position,
}

/// Where one topic's partitions were assigned, and where they ended then.
#[derive(Default)]
struct Assigned {
    start: Position,
    end: Position,
}

impl DispatchSource {
    /// Creates the consumer and assigns it every partition of `projected` at its
    /// current end and of `ephemeral` a little in the past (to learn presences).
    /// Once this returns, every record produced afterwards is read.
    pub async fn start(kafka: &KafkaConfig, client_id: &str) -> Result<Self, KafkaError> {
        // A group of its own: the broker needs one for fetch sessions; nothing is
        // ever committed to it.
        let group = format!(
            "{}gateway-{}",
            kafka.topic_prefix,
            uuid::Uuid::new_v4().simple()
        );
        let consumer: Arc<StreamConsumer> = Arc::new(
            kafka
                .read_committed_consumer_config(client_id, &group)
                .create()?,
        );
        let topics = kafka.topics();
        let (projected, ephemeral) = (topics.projected, topics.ephemeral);
        let blocking = Arc::clone(&consumer);
        let assigned = [
            (projected.clone(), None),
            (ephemeral.clone(), Some(EPHEMERAL_LOOKBACK)),
        ];
        // librdkafka's metadata and offsets calls block their thread.
        let mut assignment = tokio::task::spawn_blocking(move || assign(&blocking, &assigned))
            .await
            .map_err(|_| KafkaError::Canceled)??;
        let ephemeral = assignment.remove(&ephemeral).unwrap_or_default();
        let backlog = ephemeral
            .end
            .into_iter()
            .filter(|(partition, end)| {
                ephemeral
                    .start
                    .get(partition)
                    .is_some_and(|start| start < end)
            })
            .collect();
        Ok(Self {
            consumer,
            start: assignment.remove(&projected).unwrap_or_default().start,
            projected,
            backlog,
        })
    }

    /// Routes every record to `gateway` until `shutdown` is cancelled; `caught_up`
    /// is told once `ephemeral` is read as far as it went at assignment.
    pub async fn run(
        mut self,
        gateway: Gateway,
        shutdown: CancellationToken,
        caught_up: oneshot::Sender<()>,
    ) {
        gateway.start_at(self.start.clone());
        let mut caught_up = Some(caught_up);
        loop {
            if self.backlog.is_empty()
                && let Some(caught_up) = caught_up.take()
            {
                // The receiver may have stopped waiting; nothing to do then.
                let _ = caught_up.send(());
            }
            let received = tokio::select! {
                () = shutdown.cancelled() => return,
                received = self.consumer.recv() => received,
            };
            let message = match received {
                Ok(message) => message,
                Err(error) => {
                    tracing::error!(error = %ErrorChain(&error), "cannot read the projected topic");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            };
            let outcome = if message.topic() == self.projected {
                route(&gateway, &message)
            } else {
                let partition = message.partition();
                if self
                    .backlog
                    .get(&partition)
                    .is_some_and(|end| message.offset() + 1 >= *end)
                {
                    self.backlog.remove(&partition);
                }
                match Ephemeral::decode(message.payload().unwrap_or_default()) {
                    Ok(record) => {
                        gateway.on_ephemeral(record, age(&message));
                        RecordOutcome::Routed
                    }
                    Err(error) => {
                        tracing::warn!(error = %ErrorChain(&error), "skipping an ephemeral record");
                        RecordOutcome::Invalid
                    }
                }
            };
            gateway.metrics().record(outcome);
        }
    }
}

/// How long ago `message` was produced (by its timestamp; zero without one).
fn age(message: &impl Message) -> Duration {
    let produced = message.timestamp().to_millis().unwrap_or(i64::MAX);
    Duration::from_millis(u64::try_from(unix_ms().saturating_sub(produced)).unwrap_or(0))
}

/// Routes one `projected` record; one that does not decode is skipped (one bad
/// record must not stop fan-out for everyone) but still moves the position.
fn route(gateway: &Gateway, message: &impl Message) -> RecordOutcome {
    let (partition, offset) = (message.partition(), message.offset());
    match projected::decode(message.payload().unwrap_or_default()) {
        Ok(Some(projected)) => {
            gateway.route(partition, offset, Some(&projected));
            RecordOutcome::Routed
        }
        Ok(None) => {
            gateway.route(partition, offset, None);
            RecordOutcome::Ignored
        }
        Err(error) => {
            tracing::warn!(
                partition,
                offset,
                error = %ErrorChain(&error),
                "skipping a projected record"
            );
            gateway.route(partition, offset, None);
            RecordOutcome::Invalid
        }
    }
}

/// Assigns every partition of `topics` at its end, or at the first record of the
/// last `lookback` when a topic has one; returns where, and the ends, by topic.
fn assign(
    consumer: &StreamConsumer,
    topics: &[(String, Option<Duration>)],
) -> Result<HashMap<String, Assigned>, KafkaError> {
    let mut assignment = TopicPartitionList::new();
    let mut positions: HashMap<String, Assigned> = HashMap::new();
    for (topic, lookback) in topics {
        let metadata =
            retry_while_settling(|| consumer.fetch_metadata(Some(topic), METADATA_TIMEOUT))?;
        let assigned = positions.entry(topic.clone()).or_default();
        let position = &mut assigned.start;
        for partition in metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic)
            .flat_map(|t| t.partitions())
        {
            let (_, high) = retry_while_settling(|| {
                consumer.fetch_watermarks(topic, partition.id(), METADATA_TIMEOUT)
            })?;
            position.insert(partition.id(), high);
            assigned.end.insert(partition.id(), high);
        }
        if position.is_empty() {
            return Err(KafkaError::MetadataFetch(
                rdkafka::error::RDKafkaErrorCode::UnknownTopicOrPartition,
            ));
        }
        if let Some(lookback) = lookback {
            let lookback = i64::try_from(lookback.as_millis()).unwrap_or(i64::MAX);
            let since = unix_ms().saturating_sub(lookback).max(0);
            let mut query = TopicPartitionList::new();
            for partition in position.keys() {
                query.add_partition_offset(topic, *partition, Offset::Offset(since))?;
            }
            let found = retry_while_settling(|| {
                consumer.offsets_for_times(query.clone(), METADATA_TIMEOUT)
            })?;
            for element in found.elements() {
                // No record that recent: the end stays.
                if let Offset::Offset(offset) = element.offset() {
                    position.insert(element.partition(), offset);
                }
            }
        }
        for (partition, offset) in position.iter() {
            assignment.add_partition_offset(topic, *partition, Offset::Offset(*offset))?;
        }
    }
    consumer.assign(&assignment)?;
    Ok(positions)
}
