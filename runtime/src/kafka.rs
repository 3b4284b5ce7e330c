//! Kafka connection settings, client configuration builders and the readiness check.
//!
//! The builders set CloudCord's delivery defaults once, so no service inherits a
//! librdkafka default that bites (see `shared/NOTES.md`): producers are idempotent,
//! linger at most 1 ms on the chat path and partition like Java clients
//! (`murmur2_random`); consumers read only committed records and commit offsets
//! themselves.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use rdkafka::ClientConfig;
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use serde::Deserialize;

use crate::readiness::{CheckError, DependencyCheck};

/// The `[kafka]` settings section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct KafkaConfig {
    /// Comma-separated `host:port` list of brokers to bootstrap from.
    pub bootstrap_servers: String,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            bootstrap_servers: "127.0.0.1:9092".to_owned(),
        }
    }
}

impl KafkaConfig {
    /// Settings every client shares: where the brokers are and who is asking.
    pub fn client_config(&self, client_id: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap_servers)
            .set("client.id", client_id);
        config
    }

    /// A transactional producer: exactly-once appends fenced by `transactional_id`.
    pub fn transactional_producer_config(
        &self,
        client_id: &str,
        transactional_id: &str,
    ) -> ClientConfig {
        let mut config = self.client_config(client_id);
        config
            .set("transactional.id", transactional_id)
            .set("enable.idempotence", "true")
            .set("linger.ms", "1")
            .set("partitioner", "murmur2_random");
        config
    }

    /// A consumer in `group_id` that sees only committed transactions and whose
    /// offsets move only when the caller commits them.
    pub fn read_committed_consumer_config(&self, client_id: &str, group_id: &str) -> ClientConfig {
        let mut config = self.client_config(client_id);
        config
            .set("group.id", group_id)
            .set("isolation.level", "read_committed")
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest");
        config
    }
}

/// Ready when a broker answers a metadata request.
pub struct KafkaCheck {
    client: Arc<AdminClient<DefaultClientContext>>,
}

impl KafkaCheck {
    /// Creates the client the check uses; it connects lazily.
    pub fn new(config: &KafkaConfig, client_id: &str) -> Result<Self, KafkaError> {
        Ok(Self {
            client: Arc::new(config.client_config(client_id).create()?),
        })
    }
}

impl DependencyCheck for KafkaCheck {
    fn name(&self) -> &'static str {
        "kafka"
    }

    fn check(&self) -> BoxFuture<'_, Result<(), CheckError>> {
        let client = Arc::clone(&self.client);
        Box::pin(async move {
            // librdkafka's metadata call blocks its thread until a broker answers.
            let metadata = tokio::task::spawn_blocking(move || {
                client.inner().fetch_metadata(None, Duration::from_secs(2))
            })
            .await??;
            if metadata.brokers().is_empty() {
                return Err("the cluster reports no brokers".into());
            }
            Ok(())
        })
    }
}
