//! What the projectors publish to the `projected` topic after each commit, for the
//! gateway to fan out (see the crate docs for the record layout).

use std::collections::HashMap;

use cloudcord_runtime::kafka::KafkaConfig;
use cloudcord_schemas::envelope::{AggregateRef, EventEnvelope};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

use crate::projector::ProjectorError;
use crate::record::{self, DomainEvent, EventRecord};

/// One record of the `projected` topic: an event that a store has committed.
#[derive(Debug, Serialize)]
pub struct Projected<'a> {
    /// Which store made it visible: `postgres` or `mongo`.
    pub store: &'static str,
    /// The event's type name, e.g. `MessageSent`.
    pub event_type: &'static str,
    /// The aggregate (`aggregate_type`, `aggregate_id`).
    #[serde(flatten)]
    pub aggregate: AggregateRef,
    /// The event's `seq` in its aggregate.
    pub seq: u64,
    /// Where the event is in the `events` topic.
    pub events_partition: i32,
    /// Its offset there: a read that waits until the store's position of
    /// `events_partition` passes this offset sees the event.
    pub events_offset: i64,
    /// The whole event envelope, its event at the current version.
    pub envelope: &'a EventEnvelope<DomainEvent>,
}

/// Publishes committed events to `projected`.
pub struct Publisher {
    producer: FutureProducer,
    topic: String,
}

impl Publisher {
    /// A publisher with the chat path's producer settings.
    pub fn new(kafka: &KafkaConfig) -> Result<Self, KafkaError> {
        Ok(Self {
            producer: kafka.producer_config("projectors-projected").create()?,
            topic: kafka.topics().projected,
        })
    }

    /// Sends one record per event, keyed by its shard key, and waits until the
    /// broker has every one. An error means some may be missing: the projector then
    /// does not count them as published, and publishes them again at its next start.
    pub async fn publish(
        &self,
        store: &'static str,
        records: &[EventRecord],
    ) -> Result<(), PublishError> {
        let mut deliveries = Vec::with_capacity(records.len());
        for record in records {
            let envelope = &record.envelope;
            let value = serde_json::to_vec(&Projected {
                store,
                event_type: envelope.event.event_type(),
                aggregate: envelope.aggregate,
                seq: envelope.seq,
                events_partition: record.partition,
                events_offset: record.offset,
                envelope,
            })?;
            let key = envelope.aggregate.shard_key();
            let delivery = self
                .producer
                .send_result(FutureRecord::to(&self.topic).key(&key).payload(&value))
                .map_err(|(error, _)| error)?;
            deliveries.push(delivery);
        }
        for delivery in deliveries {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((error, _))) => return Err(error.into()),
                Err(_) => return Err(PublishError::Dropped),
            }
        }
        Ok(())
    }
}

/// Why records may be missing from `projected`.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// A record could not be encoded.
    #[error("cannot encode a projected record")]
    Encode(#[from] serde_json::Error),
    /// The producer refused or did not deliver a record.
    #[error("a projected record was not delivered")]
    Kafka(#[from] KafkaError),
    /// The producer was dropped before it answered.
    #[error("the producer dropped a projected record")]
    Dropped,
}

/// Publishes again the events of `topic` that the store committed (`committed`)
/// but did not confirm on `projected` (`published`; a partition without an entry
/// published nothing): what a crash between a commit and its deliveries left out.
/// The gateway drops what it already had by `seq`. Returns the offsets now
/// confirmed.
pub async fn republish(
    kafka: &KafkaConfig,
    topic: &str,
    committed: &HashMap<i32, i64>,
    published: &HashMap<i32, i64>,
    publisher: &Publisher,
    store: &'static str,
) -> Result<Vec<(i32, i64)>, ProjectorError> {
    let ranges: HashMap<i32, (i64, i64)> = committed
        .iter()
        .map(|(&partition, &end)| {
            (
                partition,
                (published.get(&partition).copied().unwrap_or(0), end),
            )
        })
        .filter(|(_, (from, end))| from < end)
        .collect();
    if ranges.is_empty() {
        return Ok(Vec::new());
    }
    let consumer: StreamConsumer = kafka
        .read_committed_consumer_config(
            &format!("projector-{store}-republish"),
            &format!("{}projector-{store}-republish", kafka.topic_prefix),
        )
        .create()?;
    let mut assignment = TopicPartitionList::new();
    for (&partition, &(from, _)) in &ranges {
        assignment.add_partition_offset(topic, partition, Offset::Offset(from))?;
    }
    consumer.assign(&assignment)?;
    let mut remaining = ranges.clone();
    let mut records = Vec::new();
    while !remaining.is_empty() {
        let message = consumer.recv().await?;
        let partition = message.partition();
        let Some(&(_, end)) = remaining.get(&partition) else {
            continue;
        };
        let offset = message.offset();
        if offset < end
            && let Ok(envelope) = record::decode(message.payload().unwrap_or_default())
        {
            records.push(EventRecord {
                partition,
                offset,
                envelope,
            });
        }
        if offset + 1 >= end {
            remaining.remove(&partition);
        }
    }
    tracing::warn!(
        store,
        events = records.len(),
        ?ranges,
        "publishing again what a previous run committed but did not confirm on projected"
    );
    publisher.publish(store, &records).await?;
    Ok(ranges
        .into_iter()
        .map(|(partition, (_, end))| (partition, end))
        .collect())
}
