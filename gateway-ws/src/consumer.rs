//! The one Kafka consumer of a gateway process: it reads the `projected` topic and
//! hands every record to the in-memory fan-out.
//!
//! It reads only committed records (`read_committed`), is assigned every partition
//! directly (no group rebalancing: every gateway process needs every record), and
//! starts at the end of each partition, because what happened before a session
//! identified is in its READY and GUILD_CREATE, which come from the read models.
//! It commits nothing.

use std::sync::Arc;
use std::time::Duration;

use cloudcord_runtime::kafka::{KafkaConfig, retry_while_settling};
use cloudcord_runtime::telemetry::ErrorChain;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use crate::gateway::Gateway;
use crate::metrics::RecordOutcome;
use crate::projected;

/// How long a metadata or offsets request may take at start-up.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// The consumer, positioned and ready to run.
pub struct DispatchSource {
    consumer: Arc<StreamConsumer>,
}

impl DispatchSource {
    /// Creates the consumer and assigns it every partition of `projected` at its
    /// current end. Once this returns, every record produced afterwards is read.
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
        let topic = kafka.topics().projected;
        let blocking = Arc::clone(&consumer);
        // librdkafka's metadata and watermark calls block their thread.
        tokio::task::spawn_blocking(move || assign_at_end(&blocking, &topic))
            .await
            .map_err(|_| KafkaError::Canceled)??;
        Ok(Self { consumer })
    }

    /// Routes every record to `gateway` until `shutdown` is cancelled.
    pub async fn run(self, gateway: Gateway, shutdown: CancellationToken) {
        loop {
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
            let outcome = match projected::decode(message.payload().unwrap_or_default()) {
                Ok(Some(projected)) => {
                    gateway.route(&projected);
                    RecordOutcome::Routed
                }
                Ok(None) => RecordOutcome::Ignored,
                Err(error) => {
                    tracing::warn!(
                        partition = message.partition(),
                        offset = message.offset(),
                        error = %ErrorChain(&error),
                        "skipping a projected record"
                    );
                    RecordOutcome::Invalid
                }
            };
            gateway.metrics().record(outcome);
        }
    }
}

fn assign_at_end(consumer: &StreamConsumer, topic: &str) -> Result<(), KafkaError> {
    let metadata = retry_while_settling(|| consumer.fetch_metadata(Some(topic), METADATA_TIMEOUT))?;
    let mut assignment = TopicPartitionList::new();
    for partition in metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions())
    {
        let (_, high) = retry_while_settling(|| {
            consumer.fetch_watermarks(topic, partition.id(), METADATA_TIMEOUT)
        })?;
        assignment.add_partition_offset(topic, partition.id(), Offset::Offset(high))?;
    }
    if assignment.count() == 0 {
        return Err(KafkaError::MetadataFetch(
            rdkafka::error::RDKafkaErrorCode::UnknownTopicOrPartition,
        ));
    }
    consumer.assign(&assignment)
}
