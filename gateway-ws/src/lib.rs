//! # cloudcord-gateway-ws
//!
//! The Discord Gateway v10 server: sessions, heartbeats, intents, compression and
//! resume, fanning out the `projected` topic through one Kafka consumer per process.
//!
//! [`router`] serves the WebSocket at every path, so it runs on its own listener
//! (`ws://127.0.0.1:9204/?v=10&encoding=json&compress=zstd-stream`) and nested by
//! the front door (`Router::nest_service("/gateway", gateway_ws::router(state))`,
//! then `ws://127.0.0.1:8080/gateway/?v=10…`). [`run`] serves it on
//! `[gateway_ws.http] listen_addr` beside the admin server.
//!
//! ## How it fits together
//!
//! ```text
//! projected ──► consumer ──► Gateway::route ──► fanout (guild state, VIEW_CHANNEL)
//!                                                 └─► Slot::offer: Session::wants (intents, shard,
//!                                                     MESSAGE_CONTENT) → Frame (s, t, shared d)
//!                                                     in the replay buffer → wake ──► socket task
//!                                                     renders and writes ──► client
//! client ──► socket task ──► protocol::Connection (Hello, Identify, heartbeats, limits)
//!                               └─► Gateway::identify / resume (token, read models, hub)
//! ```
//!
//! * A session's dispatches are numbered and kept (bounded, and only until a
//!   heartbeat acknowledges them) in its replay buffer under the session's lock;
//!   the connection writes from the same buffer, so Resume replays exactly what
//!   the client missed. Frames share their `d` across sessions and are rendered
//!   only when written.
//!   Sessions live in this process's memory for the resume window after their
//!   connection ends. A Resume on another process, or on this one after it
//!   restarted, takes the session over ([`handover`]): the holder hands it over
//!   when asked through the `ephemeral` topic, or when it shuts down, and the new
//!   process catches it up from `projected`. Only a crashed process's sessions are
//!   lost (Invalid Session, `d: false`).
//! * Fan-out never waits for a client: a connection more than `outbound_queue`
//!   frames behind is closed with a resumable 4000.
//!
//! Module map:
//! - [`protocol`]: the sans-IO core — payloads, close codes, intents, the per-socket
//!   [`protocol::connection::Connection`] state machine, the resumable
//!   [`protocol::session::Session`], dispatch filtering, transport compression and
//!   the connection URL's query.
//! - [`socket`]: the tokio driver of one WebSocket and the router.
//! - [`gateway`]: [`Gateway`], the state connections share, with the Identify and
//!   Resume handshakes.
//! - [`hub`]: the sessions of this process and how far each connection has written.
//! - [`consumer`]: the one Kafka consumer of `projected` and `ephemeral`;
//!   [`projected`] and [`ephemeral`] decode their records.
//! - [`store`]: the gateway's own PostgreSQL schema (`gateway-ws/migrations`).
//! - [`handover`]: sessions moving between processes, stored there.
//! - [`session_starts`]: bots' session start limit, counted there.
//! - [`fanout`]: in-memory routing of events to sessions by guild, DM channel and
//!   user; [`guild_state`] is each followed guild's state (permissions, objects);
//!   [`dispatches`] turns events into Discord dispatches with their audience, and
//!   [`sight`] adds the channels a member comes to see or stops seeing through roles;
//!   [`relationships`] sends a person's relationship changes, reading each other
//!   user's profile off the routing path.
//! - [`auth`]: who a token names (the issuer's keys come from
//!   `cloudcord_runtime::issuer`).
//! - [`read_models`]: every query of the projectors' read models. [`objects`]:
//!   READY's JSON; [`read_states`]: its read states (unread mention counts) and
//!   notification settings.
//! - [`voice`]: op 4 (Voice State Update) through command-api's voice routes, and
//!   VOICE_SERVER_UPDATE.
//! - [`push`]: Web Push of mentions, replies and DMs to people who are offline,
//!   from a consumer group of its own on `projected`.
//! - [`settings`]: the `[gateway_ws]` section. [`metrics`]: what `/metrics` shows.

pub mod auth;
pub mod consumer;
pub mod dispatches;
pub mod ephemeral;
pub mod fanout;
pub mod gateway;
pub mod guild_state;
pub mod handover;
pub mod hub;
pub mod metrics;
pub mod objects;
pub mod presence;
pub mod projected;
pub mod protocol;
pub mod push;
pub mod read_models;
pub mod read_states;
pub mod relationships;
pub mod session_starts;
pub mod settings;
pub mod sight;
pub mod socket;
pub mod store;
pub mod turns;
pub mod voice;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cloudcord_runtime::auth::{AuthConfig, JwksError, TokenVerifier};
use cloudcord_runtime::files::FilesConfig;
use cloudcord_runtime::files::signing::UrlSigner;
use cloudcord_runtime::kafka::{KafkaCheck, KafkaConfig};
use cloudcord_runtime::postgres::{PostgresCheck, PostgresConfig};
use cloudcord_runtime::push::PushConfig;
use cloudcord_runtime::service::{Service, ServiceError};
use cloudcord_runtime::telemetry::ErrorChain;
use rdkafka::error::KafkaError;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::consumer::DispatchSource;
pub use crate::gateway::Gateway;
use crate::handover::{HandoverError, Handovers};
use crate::read_models::ReadModels;
pub use crate::settings::Settings;
pub use crate::socket::router;
use crate::store::GatewayStore;

/// The service's name in logs, metrics and Kafka client ids.
pub const NAME: &str = "gateway-ws";

/// How often sessions past their resume window are dropped.
const EXPIRY_SWEEP: Duration = Duration::from_secs(10);

/// How often every session's presence is reported to all gateway processes
/// (well within [`presence::PRESENCE_TTL`]).
const PRESENCE_REPORT: Duration = Duration::from_secs(30);

/// How long a failed migration of the gateway's tables waits before the next try.
const MIGRATION_RETRY: Duration = Duration::from_secs(2);

/// How long a starting process waits to read the presences of the last minute
/// before it serves anyway (with a warning): a slow broker must not keep the
/// gateway down, only its first GUILD_CREATEs less complete.
const PRESENCE_CATCH_UP: Duration = Duration::from_secs(15);

/// How long shutdown waits for connections to send their close frames.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Everything gateway-ws reads from the layered configuration.
#[derive(Debug, Deserialize)]
pub struct Config {
    /// Where the brokers are.
    #[serde(default)]
    pub kafka: KafkaConfig,
    /// The relational read models.
    #[serde(default)]
    pub postgres: PostgresConfig,
    /// Which issuer and audience tokens must name.
    #[serde(default)]
    pub auth: AuthConfig,
    /// The `[gateway_ws]` section.
    #[serde(default)]
    pub gateway_ws: Settings,
    /// Web Push (`[push]`): the VAPID key and whether to push at all.
    #[serde(default)]
    pub push: PushConfig,
    /// The `[files]` section: how attachment URLs in dispatches are signed.
    #[serde(default)]
    pub files: FilesConfig,
}

/// Why gateway-ws stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The admin server or a store client could not start.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The issuer's keys are unusable.
    #[error("the token issuer's JWKS is unusable")]
    Jwks(#[from] JwksError),
    /// The WebSocket port is taken.
    #[error("cannot listen on {addr} for the gateway (set gateway_ws.http.listen_addr)")]
    Bind {
        /// The address tried.
        addr: SocketAddr,
        /// The operating system's answer.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("the gateway listener failed")]
    Serve(#[source] std::io::Error),
    /// The topics or the `projected` consumer could not be set up.
    #[error("cannot consume the projected topic")]
    Kafka(#[from] KafkaError),
    /// The session hand-over could not be set up.
    #[error("cannot set up session hand-overs")]
    Handover(#[from] HandoverError),
    /// Web Push could not start (the VAPID key, most likely).
    #[error("cannot start Web Push")]
    Push(#[from] push::PushError),
}

impl Config {
    /// The shared gateway state over the configured read models, verifying tokens
    /// with `verifier`; the dev stack calls this to serve [`router`] in-process.
    pub fn gateway(
        &self,
        verifier: TokenVerifier,
        shutdown: CancellationToken,
    ) -> Result<Gateway, Error> {
        let settings = &self.gateway_ws;
        let read_models = ReadModels::connect_lazy(&self.postgres, &settings.http.postgres_schema)
            .map_err(ServiceError::from)?;
        let store = GatewayStore::connect_lazy(&self.postgres, &settings.sessions.store_schema)
            .map_err(ServiceError::from)?;
        let publisher = ephemeral::Publisher::new(&self.kafka)?;
        let handovers = Handovers::new(
            publisher,
            &self.kafka,
            &store,
            settings.sessions.resume_window(),
        )?;
        Ok(Gateway::new(
            verifier,
            read_models,
            store,
            Some(handovers),
            &settings.http,
            &settings.sessions,
            UrlSigner::new(&self.files),
            shutdown,
        ))
    }
}

/// Runs gateway-ws until `shutdown` is cancelled: fetches the issuer's JWKS (kept fresh), then
/// serves the admin server and the gateway on `gateway_ws.http.listen_addr`.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), Error> {
    let Some(keys) =
        cloudcord_runtime::issuer::trusted_keys(&config.gateway_ws.http.jwks_url, &shutdown).await
    else {
        return Ok(());
    };
    let verifier = TokenVerifier::new(keys?, &config.auth);
    let gateway = config.gateway(verifier, shutdown.clone())?;
    let addr = config.gateway_ws.http.listen_addr;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })?;
    serve(config, gateway, listener, shutdown).await
}

/// Serves `gateway` on `listener` (tests pass one bound to port 0) with the admin
/// server and the background tasks, until `shutdown` is cancelled; then every
/// connection is asked to reconnect and closed.
pub async fn serve(
    config: Config,
    gateway: Gateway,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let mut service = Service::new(NAME, config.gateway_ws.admin)
        .with_check(KafkaCheck::new(&config.kafka, NAME).map_err(ServiceError::from)?)
        .with_check(PostgresCheck::new(gateway.read_models().pool().clone()));
    gateway.metrics().register(service.registry_mut());
    let kafka = &config.kafka;
    kafka
        .ensure_topics(&kafka.topics().specs(kafka.partitions))
        .await?;
    let source = DispatchSource::start(kafka, NAME).await?;
    let notifier = if config.push.enabled {
        let metrics = push::PushMetrics::default();
        metrics.register(service.registry_mut());
        Some(push::Notifier::start(
            kafka,
            &config.push,
            gateway.clone(),
            metrics,
        )?)
    } else {
        None
    };
    let addr = listener
        .local_addr()
        .map_or_else(|_| "unknown".to_owned(), |addr| addr.to_string());
    tracing::info!(service = NAME, %addr, "gateway listening");
    let sweeper = tokio::spawn(sweep_sessions(gateway.clone(), shutdown.clone()));
    let reporter = tokio::spawn(report_presences(gateway.clone(), shutdown.clone()));
    let migration = tokio::spawn(prepare_store(gateway.clone(), shutdown.clone()));
    let (caught_up, presences_read) = tokio::sync::oneshot::channel();
    let consumer = tokio::spawn(source.run(gateway.clone(), shutdown.clone(), caught_up));
    let pusher = notifier.map(|notifier| tokio::spawn(notifier.run(shutdown.clone())));
    if tokio::time::timeout(PRESENCE_CATCH_UP, presences_read)
        .await
        .is_err()
    {
        tracing::warn!(
            waited = ?PRESENCE_CATCH_UP,
            "serving before the recent presences are read: first GUILD_CREATEs may miss some"
        );
    }
    let server = axum::serve(listener, router(gateway.clone()))
        .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let (admin, served) = tokio::join!(service.run(shutdown.clone()), async {
        let outcome = server.await;
        // Whatever ends the listener ends the service.
        shutdown.cancel();
        outcome
    });
    sweeper.abort();
    reporter.abort();
    migration.abort();
    if consumer.await.is_err() {
        tracing::error!("the projected consumer panicked");
    }
    if let Some(pusher) = pusher
        && pusher.await.is_err()
    {
        tracing::error!("the Web Push consumer panicked");
    }
    // Upgraded connections outlive the listener: let them say goodbye (with
    // Reconnect), then hand their sessions over: with the consumer stopped, they
    // are complete up to its final position.
    gateway.connections().close();
    let handed_over = async {
        gateway.connections().wait().await;
        gateway.hand_over(None).await;
    };
    if tokio::time::timeout(SHUTDOWN_GRACE, handed_over)
        .await
        .is_err()
    {
        tracing::warn!("some connections did not close, or sessions were not handed over, in time");
    }
    admin?;
    served.map_err(Error::Serve)
}

/// Drops sessions past their resume window, here and in the hand-over store, and
/// session starts past their day, every [`EXPIRY_SWEEP`].
async fn sweep_sessions(gateway: Gateway, shutdown: CancellationToken) {
    let mut interval = tokio::time::interval(EXPIRY_SWEEP);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = interval.tick() => {
                gateway.expire_sessions(Instant::now());
                if let Some(handovers) = gateway.handovers()
                    && let Err(error) = handovers.store().sweep().await
                {
                    tracing::warn!(error = %ErrorChain(&error), "cannot sweep expired hand-overs");
                }
                if let Err(error) = gateway.session_starts().sweep().await {
                    tracing::warn!(error = %ErrorChain(&error), "cannot sweep old session starts");
                }
            }
        }
    }
}

/// Reports every session's presence every [`PRESENCE_REPORT`].
async fn report_presences(gateway: Gateway, shutdown: CancellationToken) {
    let mut interval = tokio::time::interval(PRESENCE_REPORT);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = interval.tick() => gateway.report_presences(),
        }
    }
}

/// Creates the gateway's own tables, retrying until PostgreSQL answers (the gateway
/// serves meanwhile; only what needs the tables fails).
async fn prepare_store(gateway: Gateway, shutdown: CancellationToken) {
    loop {
        match gateway.store().migrate().await {
            Ok(()) => return,
            Err(error) => tracing::warn!(
                error = %ErrorChain(&error),
                "cannot create the gateway's own tables; retrying"
            ),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(MIGRATION_RETRY) => {}
        }
    }
}
