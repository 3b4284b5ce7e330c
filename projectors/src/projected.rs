//! What the projectors publish to the `projected` topic after each commit, for the
//! gateway to fan out (see the crate docs for the record layout).

use cloudcord_runtime::kafka::KafkaConfig;
use cloudcord_runtime::telemetry::ErrorChain;
use cloudcord_schemas::envelope::{AggregateRef, EventEnvelope};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::Serialize;

use crate::record::{DomainEvent, EventRecord};

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

    /// Sends one record per event, keyed by its shard key, without waiting: a
    /// failed delivery is logged (the gateway notices the missing `seq`).
    pub fn publish(&self, store: &'static str, records: &[EventRecord]) {
        let mut deliveries = Vec::with_capacity(records.len());
        for record in records {
            let envelope = &record.envelope;
            let value = match serde_json::to_vec(&Projected {
                store,
                event_type: envelope.event.event_type(),
                aggregate: envelope.aggregate,
                seq: envelope.seq,
                events_partition: record.partition,
                events_offset: record.offset,
                envelope,
            }) {
                Ok(value) => value,
                Err(error) => {
                    tracing::error!(error = %ErrorChain(&error), "cannot encode a projected record");
                    continue;
                }
            };
            let key = envelope.aggregate.shard_key();
            match self
                .producer
                .send_result(FutureRecord::to(&self.topic).key(&key).payload(&value))
            {
                Ok(delivery) => deliveries.push(delivery),
                Err((error, _)) => {
                    tracing::error!(error = %ErrorChain(&error), "cannot queue a projected record");
                }
            }
        }
        tokio::spawn(async move {
            for delivery in deliveries {
                match delivery.await {
                    Ok(Ok(_)) => {}
                    Ok(Err((error, _))) => {
                        tracing::error!(error = %ErrorChain(&error), "a projected record was not delivered");
                    }
                    Err(_) => tracing::error!("the producer dropped a projected record"),
                }
            }
        });
    }
}
