//! # cloudcord-query-api
//!
//! The read side's front: Discord v10 `GET` routes served from the read models the
//! projectors write — PostgreSQL (users, guilds, channels, roles, members,
//! overwrites, bans, invites, DM channels, relationships, the message index) and
//! MongoDB (message documents, the guild audit log, user settings). It never writes.
//!
//! * Permissions are the write side's: `cloudcord_schemas::permissions` computes them
//!   from the projected rows ([`access`]); a hidden channel, another guild's channel
//!   or a missing right gets Discord's status and code, never data.
//! * Responses have the shapes of the write side's answers and of Discord's OpenAPI
//!   description ([`objects`]).
//! * Read-your-writes: a read carrying the `X-CloudCord-Position` header a write
//!   answered with waits (bounded) until the projectors have applied that write
//!   ([`http::read_your_writes`]).
//!
//! Module map:
//! - [`http`]: the router, one module per resource, auth, errors, strict parameters,
//!   read-your-writes, and the CDN's attachment route (`/cdn`).
//! - [`access`]: who may read what.
//! - [`pagination`]: the pure window computation of message pages.
//! - [`objects`]: Discord JSON objects from rows and documents.
//! - [`read_models`]: the PostgreSQL queries (compile-time checked, offline data in
//!   `.sqlx/`), over the read models and the gateway's record of bots' session
//!   starts, and the MongoDB reads.
//!
//! Known limit: presence is not projected, so approximate presence counts are 0.

pub mod access;
pub mod http;
pub mod objects;
pub mod pagination;
pub mod read_models;

use std::net::SocketAddr;

use cloudcord_runtime::admin::AdminConfig;
use cloudcord_runtime::auth::{AuthConfig, JwksError, TokenVerifier};
use cloudcord_runtime::files::{Files, FilesConfig};
use cloudcord_runtime::mongo::{MongoCheck, MongoConfig};
use cloudcord_runtime::postgres::{PostgresCheck, PostgresConfig};
use cloudcord_runtime::service::{Service, ServiceError};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::http::{ApiContext, HttpSettings};
use crate::read_models::mongo::Documents;
use crate::read_models::postgres::ReadModels;
use crate::read_models::session_starts::{SessionStartSettings, SessionStarts};

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
    /// The `[auth]` section: which issuer and audience tokens must name.
    #[serde(default)]
    pub auth: AuthConfig,
    /// The `[query_api]` section.
    #[serde(default)]
    pub query_api: Settings,
    /// The `[files]` section: the file store's bucket, URL signing.
    #[serde(default)]
    pub files: FilesConfig,
}

/// The `[query_api]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The admin server (`/metrics`, `/healthz`, `/readyz`).
    pub admin: AdminConfig,
    /// The HTTP read API.
    pub http: HttpSettings,
    /// Where the gateway records bots' session starts and what it allows; must
    /// match `[gateway_ws.sessions]`.
    pub session_starts: SessionStartSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            admin: AdminConfig::loopback(9102),
            http: HttpSettings::default(),
            session_starts: SessionStartSettings::default(),
        }
    }
}

/// Why query-api stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The admin server or a store client failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The issuer's JWKS holds no key query-api can verify with.
    #[error("the token issuer's JWKS is unusable")]
    Jwks(#[from] JwksError),
    /// The listen address is taken.
    #[error("cannot listen on {addr} for the read API (set query_api.http.listen_addr)")]
    Bind {
        /// The address tried.
        addr: SocketAddr,
        /// The operating system's answer.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("the read API failed")]
    Serve(#[source] std::io::Error),
}

impl Config {
    /// The routes' context over the configured stores, verifying tokens with
    /// `verifier`; the dev stack calls this to serve [`http::router`] in-process.
    pub async fn http_context(&self, verifier: TokenVerifier) -> Result<ApiContext, Error> {
        let pool = self
            .postgres
            .lazy_schema_pool(&self.query_api.http.postgres_schema)
            .map_err(ServiceError::from)?;
        let database = self
            .mongo
            .database(NAME)
            .await
            .map_err(ServiceError::from)?;
        let session_starts = &self.query_api.session_starts;
        let gateway_pool = self
            .postgres
            .lazy_schema_pool(&session_starts.store_schema)
            .map_err(ServiceError::from)?;
        Ok(ApiContext::new(
            ReadModels::new(pool),
            Documents::new(database.clone()),
            SessionStarts::new(gateway_pool, session_starts),
            verifier,
            self.auth.origins(),
            Files::on_gridfs(&database, &self.files),
            &self.query_api.http,
        ))
    }
}

/// Runs query-api until `shutdown` is cancelled: fetches the issuer's JWKS (kept fresh), then
/// serves the admin server and the read API on `query_api.http.listen_addr`.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), Error> {
    let Some(keys) =
        cloudcord_runtime::issuer::trusted_keys(&config.query_api.http.jwks_url, &shutdown).await
    else {
        return Ok(());
    };
    let verifier = TokenVerifier::new(keys?, &config.auth);
    let context = config.http_context(verifier).await?;
    run_with_context(config, context, shutdown).await
}

/// [`run`] with a context built by the caller (the dev stack shares it with the
/// front door).
pub async fn run_with_context(
    config: Config,
    context: ApiContext,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let mut service = Service::new(NAME, config.query_api.admin)
        .with_check(PostgresCheck::new(context.read_models().pool().clone()))
        .with_check(MongoCheck::new(context.documents().database().clone()));
    context.rate_limiter().register(service.registry_mut());
    context.request_metrics().register(service.registry_mut());
    let addr = config.query_api.http.listen_addr;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })?;
    tracing::info!(service = NAME, %addr, "read API listening");
    // Each connection's peer address keys the rate limits of anonymous callers.
    let app = http::router(context).into_make_service_with_connect_info::<SocketAddr>();
    let api = axum::serve(listener, app).with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let (admin, api) = tokio::join!(service.run(shutdown.clone()), async {
        let outcome = api.await;
        // Whatever ends the API ends the service.
        shutdown.cancel();
        outcome
    });
    admin?;
    api.map_err(Error::Serve)
}
