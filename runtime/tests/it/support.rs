//! Where the test infrastructure is (the same layered configuration the services read,
//! so `CLOUDCORD__…` overrides apply) and unique names for isolation.

use cloudcord_runtime::config::Loader;
use cloudcord_runtime::kafka::KafkaConfig;
use cloudcord_runtime::mongo::MongoConfig;
use cloudcord_runtime::postgres::PostgresConfig;
use serde::Deserialize;

/// The stores under test.
#[derive(Debug, Deserialize)]
pub struct Stores {
    #[serde(default)]
    pub kafka: KafkaConfig,
    #[serde(default)]
    pub postgres: PostgresConfig,
    #[serde(default)]
    pub mongo: MongoConfig,
}

pub fn stores() -> Stores {
    Loader::from_environment()
        .load()
        .expect("the test configuration loads (check CLOUDCORD__… variables)")
}

/// `prefix` plus a random suffix, valid as a topic, database or collection name.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}
