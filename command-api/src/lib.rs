//! # cloudcord-command-api
//!
//! The write side. People and bots change CloudCord only through commands: this
//! crate will serve the Discord v10 write routes that turn requests into commands
//! on the `commands` topic, and runs the command processor that decides them into
//! events, exactly once and in order per aggregate.
//!
//! Module map:
//! - [`aggregates`]: the `cqrs-es` aggregates that decide commands (rules live here).
//! - [`processor`]: the single-writer-per-partition Kafka processor around them.

pub mod aggregates;
pub mod processor;

use std::net::SocketAddr;

use cloudcord_runtime::admin::AdminConfig;
use cloudcord_runtime::kafka::{KafkaCheck, KafkaConfig};
use cloudcord_runtime::service::{Service, ServiceError};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use self::processor::ProcessorSettings;
use self::processor::metrics::ProcessorMetrics;

/// The service's name in logs, metrics and Kafka client ids.
pub const NAME: &str = "command-api";

/// Everything command-api reads from the layered configuration.
#[derive(Debug, Deserialize)]
pub struct Config {
    /// Where the brokers are and what the topics are called.
    #[serde(default)]
    pub kafka: KafkaConfig,
    /// The `[command_api]` section.
    #[serde(default)]
    pub command_api: Settings,
}

/// The `[command_api]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The admin server (`/metrics`, `/healthz`, `/readyz`).
    pub admin: AdminConfig,
    /// The command processor.
    pub processor: ProcessorSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            admin: AdminConfig::loopback(9101),
            processor: ProcessorSettings::default(),
        }
    }
}

impl Config {
    /// Where the admin server listens.
    pub fn admin_addr(&self) -> SocketAddr {
        self.command_api.admin.listen_addr
    }
}

/// Why command-api stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The admin server or a client failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The command processor failed.
    #[error(transparent)]
    Processor(#[from] processor::ProcessorError),
}

/// Runs command-api until `shutdown` is cancelled or the processor fails.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), Error> {
    let check = KafkaCheck::new(&config.kafka, NAME).map_err(ServiceError::from)?;
    let mut service = Service::new(NAME, config.command_api.admin).with_check(check);
    let metrics = ProcessorMetrics::register(service.registry_mut());
    let processor = async {
        let outcome = processor::run(
            config.kafka.clone(),
            config.command_api.processor.clone(),
            metrics,
            shutdown.clone(),
        )
        .await;
        // Whatever ends the processor ends the service.
        shutdown.cancel();
        outcome
    };
    let (admin, processor) = tokio::join!(service.run(shutdown.clone()), processor);
    processor?;
    Ok(admin?)
}
