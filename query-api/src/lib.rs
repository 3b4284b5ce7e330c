//! # cloudcord-query-api
//!
//! The read side's front: Discord v10 read routes served from the PostgreSQL read
//! models and the MongoDB message and audit logs (see the read-side issue).
//!
//! Today it runs its admin server and is ready while PostgreSQL and MongoDB answer.

use cloudcord_runtime::mongo::{MongoCheck, MongoConfig};
use cloudcord_runtime::postgres::{PostgresCheck, PostgresConfig};
use cloudcord_runtime::service::{Service, ServiceError, ServiceSettings};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

/// The service's name in logs and metrics.
pub const NAME: &str = "query-api";

/// Everything query-api reads from the layered configuration.
#[derive(Debug, Deserialize)]
pub struct Config {
    /// The relational read models.
    #[serde(default)]
    pub postgres: PostgresConfig,
    /// Message documents, audit log, user settings.
    #[serde(default)]
    pub mongo: MongoConfig,
    /// The `[query_api]` section.
    #[serde(default = "local_settings")]
    pub query_api: ServiceSettings,
}

fn local_settings() -> ServiceSettings {
    ServiceSettings::loopback(9102)
}

/// Runs query-api until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), ServiceError> {
    Service::new(NAME, config.query_api.admin)
        .with_check(PostgresCheck::new(config.postgres.lazy_pool()?))
        .with_check(MongoCheck::new(config.mongo.database(NAME).await?))
        .run(shutdown)
        .await
}
