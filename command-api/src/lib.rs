//! # cloudcord-command-api
//!
//! The write side. It will serve Discord v10 write routes, turn each request into a
//! command appended to the `commands` topic, and run the single-writer-per-partition
//! command processor that decides commands into events (see the write-path issue).
//!
//! Today it runs its admin server and is ready while Kafka answers.

use cloudcord_runtime::kafka::{KafkaCheck, KafkaConfig};
use cloudcord_runtime::service::{Service, ServiceError, ServiceSettings};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

/// The service's name in logs, metrics and Kafka client ids.
pub const NAME: &str = "command-api";

/// Everything command-api reads from the layered configuration.
#[derive(Debug, Deserialize)]
pub struct Config {
    /// Where the brokers are.
    #[serde(default)]
    pub kafka: KafkaConfig,
    /// The `[command_api]` section.
    #[serde(default = "local_settings")]
    pub command_api: ServiceSettings,
}

fn local_settings() -> ServiceSettings {
    ServiceSettings::loopback(9101)
}

/// Runs command-api until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), ServiceError> {
    Service::new(NAME, config.command_api.admin)
        .with_check(KafkaCheck::new(&config.kafka, NAME)?)
        .run(shutdown)
        .await
}
