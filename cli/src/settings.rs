//! Everything the `cloudcord` command reads from the layered configuration. The
//! services it runs in-process read their own sections from the same sources.

use cloudcord_runtime::kafka::KafkaConfig;
use cloudcord_runtime::mongo::MongoConfig;
use cloudcord_runtime::postgres::PostgresConfig;
use serde::Deserialize;

use crate::front_door::FrontDoorSettings;
use crate::infra::InfraSettings;

/// The command's settings; the infrastructure's ports come from the same store
/// URLs the services use, so there is one place to change them.
#[derive(Debug, Default, Deserialize)]
pub struct Settings {
    /// Where the local servers keep their state and caches.
    #[serde(default)]
    pub infra: InfraSettings,
    /// The Kafka cluster to provision.
    #[serde(default)]
    pub kafka: KafkaConfig,
    /// The PostgreSQL cluster to provision.
    #[serde(default)]
    pub postgres: PostgresConfig,
    /// The FerretDB server to provision.
    #[serde(default)]
    pub mongo: MongoConfig,
    /// The single origin of the dev stack.
    #[serde(default)]
    pub front_door: FrontDoorSettings,
}
