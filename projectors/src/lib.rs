//! # cloudcord-projectors
//!
//! Consumers of the `events` topic (`read_committed`) that materialize the PostgreSQL
//! read models and the MongoDB message and audit logs exactly once, publish what
//! changed to `projected`, and rebuild or verify read models from offset zero (see the
//! read-side issue).
//!
//! Today it runs its admin server and is ready while Kafka, PostgreSQL and MongoDB
//! answer.

use cloudcord_runtime::kafka::{KafkaCheck, KafkaConfig};
use cloudcord_runtime::mongo::{MongoCheck, MongoConfig};
use cloudcord_runtime::postgres::{PostgresCheck, PostgresConfig};
use cloudcord_runtime::service::{Service, ServiceError, ServiceSettings};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

/// The service's name in logs, metrics and Kafka client ids.
pub const NAME: &str = "projectors";

/// Everything the projectors read from the layered configuration.
#[derive(Debug, Deserialize)]
pub struct Config {
    /// Where the brokers are.
    #[serde(default)]
    pub kafka: KafkaConfig,
    /// The relational read models.
    #[serde(default)]
    pub postgres: PostgresConfig,
    /// Message documents, audit log, user settings.
    #[serde(default)]
    pub mongo: MongoConfig,
    /// The `[projectors]` section.
    #[serde(default = "local_settings")]
    pub projectors: ServiceSettings,
}

fn local_settings() -> ServiceSettings {
    ServiceSettings::loopback(9103)
}

/// Runs the projectors until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), ServiceError> {
    Service::new(NAME, config.projectors.admin)
        .with_check(KafkaCheck::new(&config.kafka, NAME)?)
        .with_check(PostgresCheck::new(config.postgres.lazy_pool()?))
        .with_check(MongoCheck::new(config.mongo.database(NAME).await?))
        .run(shutdown)
        .await
}
