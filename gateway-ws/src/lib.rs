//! # cloudcord-gateway-ws
//!
//! The Discord Gateway v10 server: sessions, heartbeats, intents, compression and
//! gap-free resume, fanning out the `projected` topic through one Kafka consumer per
//! process (see the gateway issue).
//!
//! Module map:
//! - [`protocol`]: the sans-IO core — payloads, close codes, intents, the per-socket
//!   [`protocol::connection::Connection`] state machine, the resumable
//!   [`protocol::session::Session`], dispatch filtering and transport compression.

pub mod protocol;

use cloudcord_runtime::kafka::{KafkaCheck, KafkaConfig};
use cloudcord_runtime::service::{Service, ServiceError, ServiceSettings};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

/// The service's name in logs, metrics and Kafka client ids.
pub const NAME: &str = "gateway-ws";

/// Everything gateway-ws reads from the layered configuration.
#[derive(Debug, Deserialize)]
pub struct Config {
    /// Where the brokers are.
    #[serde(default)]
    pub kafka: KafkaConfig,
    /// The `[gateway_ws]` section.
    #[serde(default = "local_settings")]
    pub gateway_ws: ServiceSettings,
}

fn local_settings() -> ServiceSettings {
    ServiceSettings::loopback(9104)
}

/// Runs gateway-ws until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), ServiceError> {
    Service::new(NAME, config.gateway_ws.admin)
        .with_check(KafkaCheck::new(&config.kafka, NAME)?)
        .run(shutdown)
        .await
}
