//! Publishing to the `ephemeral` topic (the records are
//! [`cloudcord_schemas::ephemeral::Ephemeral`]; the consumer reads them back from
//! every process, this one included).

use std::time::Duration;

use cloudcord_runtime::kafka::KafkaConfig;
use cloudcord_schemas::ephemeral::Ephemeral;
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord};

/// How long a record may wait in the producer's queue.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(3);

/// Publishes ephemeral records. Cheap to clone.
#[derive(Clone)]
pub struct Publisher {
    producer: FutureProducer,
    topic: String,
}

impl Publisher {
    /// A publisher to `kafka`'s `ephemeral` topic.
    pub fn new(kafka: &KafkaConfig) -> Result<Self, KafkaError> {
        Ok(Self {
            producer: kafka.producer_config("gateway-ephemeral").create()?,
            topic: kafka.topics().ephemeral,
        })
    }

    /// Publishes `record` under `key` and waits for the broker's acknowledgement.
    pub async fn publish(&self, key: &str, record: &Ephemeral) -> Result<(), KafkaError> {
        let value = record.encode();
        self.producer
            .send(
                FutureRecord::to(&self.topic).key(key).payload(&value),
                QUEUE_TIMEOUT,
            )
            .await
            .map(|_| ())
            .map_err(|(error, _)| error)
    }
}
