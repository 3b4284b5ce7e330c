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
//! - [`http`]: the Discord v10 write routes, auth endpoints and the command bus.
//! - [`oauth`]: the OAuth 2.0 / OpenID Connect provider's state (codes, sessions,
//!   refresh-token families) in command-api's own PostgreSQL schema.

pub mod aggregates;
pub mod http;
pub mod oauth;
pub mod processor;

use std::net::SocketAddr;

use cloudcord_runtime::admin::AdminConfig;
use cloudcord_runtime::auth::AuthConfig;
use cloudcord_runtime::files::{Files, FilesConfig};
use cloudcord_runtime::kafka::{KafkaCheck, KafkaConfig};
use cloudcord_runtime::mongo::MongoConfig;
use cloudcord_runtime::postgres::{PostgresCheck, PostgresConfig};
use cloudcord_runtime::push::PushConfig;
use cloudcord_runtime::service::{Service, ServiceError};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use self::http::{ApiState, HttpSettings, HttpStartError};
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
    /// The `[auth]` section: token issuer, audience, signing key.
    #[serde(default)]
    pub auth: AuthConfig,
    /// Where the OAuth2 provider's schema lives.
    #[serde(default)]
    pub postgres: PostgresConfig,
    /// Web Push (`[push]`): the VAPID key whose public half browsers subscribe
    /// with, and which endpoints are accepted.
    #[serde(default)]
    pub push: PushConfig,
    /// Where uploaded files are stored (GridFS).
    #[serde(default)]
    pub mongo: MongoConfig,
    /// The `[files]` section: upload limit, URL signing.
    #[serde(default)]
    pub files: FilesConfig,
}

/// The `[command_api]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The admin server (`/metrics`, `/healthz`, `/readyz`).
    pub admin: AdminConfig,
    /// The command processor.
    pub processor: ProcessorSettings,
    /// The HTTP write API.
    pub http: HttpSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            admin: AdminConfig::loopback(9101),
            processor: ProcessorSettings::default(),
            http: HttpSettings::default(),
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
    /// The HTTP API failed to start or to serve.
    #[error(transparent)]
    Http(#[from] HttpStartError),
}

impl Config {
    /// Starts what the HTTP API needs (command bus, accounts projection, signing
    /// key); the dev stack calls this to serve [`http::router`] in-process.
    pub async fn http_state(
        &self,
        shutdown: CancellationToken,
    ) -> Result<ApiState, HttpStartError> {
        let files = Files::connect(&self.mongo, &self.files, NAME).await?;
        ApiState::start(
            &self.kafka,
            &self.postgres,
            &self.auth,
            &self.push,
            &self.command_api.http,
            files,
            shutdown,
        )
        .await
    }
}

/// Runs command-api until `shutdown` is cancelled or the processor fails: the admin
/// server, the command processor and the HTTP API on `command_api.http.listen_addr`.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), Error> {
    let state = config.http_state(shutdown.clone()).await?;
    run_with_state(config, state, shutdown).await
}

/// [`run`] with an HTTP state built by the caller (the dev stack shares it with the
/// front door, so both serve one command bus and one projection).
pub async fn run_with_state(
    config: Config,
    state: ApiState,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let check = KafkaCheck::new(&config.kafka, NAME).map_err(ServiceError::from)?;
    let mut service = Service::new(NAME, config.command_api.admin)
        .with_check(check)
        .with_check(PostgresCheck::new(state.oauth().pool().clone()));
    let metrics = ProcessorMetrics::register(service.registry_mut());
    state.metrics().register(service.registry_mut());
    state.oauth_metrics().register(service.registry_mut());
    state.rate_limiter().register(service.registry_mut());
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
    let api = async {
        let outcome =
            http::bind_and_serve(config.command_api.http.listen_addr, state, shutdown.clone())
                .await;
        if outcome.is_err() {
            shutdown.cancel();
        }
        outcome
    };
    let (admin, processor, api) = tokio::join!(service.run(shutdown.clone()), processor, api);
    processor?;
    api?;
    Ok(admin?)
}
