//! The HTTP read API: Discord v10 `GET` routes over the read models.
//!
//! A request goes: [`read_your_writes`] (waits, bounded, until the read models show
//! the writes the client names in `X-CloudCord-Position`) → [`auth::Caller`] (who
//! asks) → the route parses its path and query strictly ([`params`]), checks the
//! caller's rights ([`crate::access`]) and answers with Discord objects
//! ([`crate::objects`]) or a Discord error ([`HttpError`], shared with the write side).
//!
//! Module map, one module per resource, each with its own `router()`:
//! - [`users`]: `/users/@me`, `/users/{id}`, `/users/@me/guilds`,
//!   `/users/@me/channels`, `/users/@me/relationships`.
//! - [`guilds`]: `/guilds/{id}` and its channels, roles, members, bans, invites.
//! - [`channels`]: the channel itself, `/channels/{id}`.
//! - [`messages`]: `/channels/{id}/messages` (paged), one message, pins, reactions.
//! - [`audit_log`]: the guild's audit log, `/guilds/{id}/audit-logs`.
//! - [`invites`]: one invite, `/invites/{code}`.
//! - [`gateway`]: `/gateway`, `/gateway/bot`.
//!
//! [`router`] serves all of them under `/api/v10` (and `/api/v9`, which libraries
//! still use for some calls) over one [`ApiContext`], every route rate limited as
//! Discord's are (`cloudcord_runtime::rate_limit`, `query_api.http.rate_limits`:
//! reads have no tighter built-in limits).

pub mod audit_log;
pub mod auth;
pub mod cdn;
pub mod channels;
pub mod gateway;
pub mod guilds;
pub mod invites;
pub mod messages;
pub mod params;
pub mod read_your_writes;
pub mod users;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::middleware::from_fn_with_state;
use cloudcord_runtime::auth::TokenVerifier;
use cloudcord_runtime::files::Files;
use cloudcord_runtime::http_error::HttpError;
use cloudcord_runtime::http_metrics::{self, RequestMetrics};
use cloudcord_runtime::origin::{self, AllowedOrigins};
use cloudcord_runtime::rate_limit::{RateLimitSettings, RateLimiter};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;

use self::read_your_writes::Stores;
use crate::read_models::mongo::Documents;
use crate::read_models::postgres::ReadModels;
use crate::read_models::session_starts::SessionStarts;

/// The `[query_api.http]` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct HttpSettings {
    /// Where the API listens when query-api runs on its own.
    pub listen_addr: SocketAddr,
    /// The PostgreSQL schema of the read models (the projectors'
    /// `[projectors] postgres_schema`).
    pub postgres_schema: String,
    /// How long a read waits for the read models to reach the positions named in
    /// `X-CloudCord-Position` before answering 503.
    pub read_your_writes_timeout_ms: u64,
    /// Where the token issuer publishes its public keys (command-api's
    /// `/.well-known/jwks.json`), fetched at start-up.
    pub jwks_url: String,
    /// The gateway URL `GET /gateway` and `GET /gateway/bot` hand out.
    pub gateway_url: String,
    /// Rate limits (`[query_api.http.rate_limits]`).
    pub rate_limits: RateLimitSettings,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            listen_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 9202)),
            postgres_schema: "read_models".to_owned(),
            read_your_writes_timeout_ms: 5_000,
            jwks_url: "http://127.0.0.1:9201/.well-known/jwks.json".to_owned(),
            gateway_url: "ws://127.0.0.1:8080/gateway".to_owned(),
            rate_limits: RateLimitSettings::default(),
        }
    }
}

/// Everything the routes share. Cheap to clone.
#[derive(Clone)]
pub struct ApiContext(Arc<Inner>);

struct Inner {
    read_models: ReadModels,
    documents: Documents,
    session_starts: SessionStarts,
    verifier: TokenVerifier,
    read_your_writes_timeout: Duration,
    gateway_url: String,
    rate_limiter: RateLimiter,
    requests: RequestMetrics,
    origins: AllowedOrigins,
    files: Files,
}

impl ApiContext {
    /// A context reading `read_models`, `documents` and `session_starts`,
    /// verifying tokens with `verifier`, serving and signing `files`.
    pub fn new(
        read_models: ReadModels,
        documents: Documents,
        session_starts: SessionStarts,
        verifier: TokenVerifier,
        origins: AllowedOrigins,
        files: Files,
        settings: &HttpSettings,
    ) -> Self {
        let rate_limiter =
            RateLimiter::new(crate::NAME, &settings.rate_limits, &[], verifier.clone());
        Self(Arc::new(Inner {
            read_models,
            documents,
            session_starts,
            verifier,
            read_your_writes_timeout: Duration::from_millis(settings.read_your_writes_timeout_ms),
            gateway_url: settings.gateway_url.clone(),
            rate_limiter,
            requests: RequestMetrics::default(),
            origins,
            files,
        }))
    }

    /// The relational read models.
    pub fn read_models(&self) -> &ReadModels {
        &self.0.read_models
    }

    /// The message documents and audit log.
    pub fn documents(&self) -> &Documents {
        &self.0.documents
    }

    /// Bots' session starts, as the gateway records them.
    pub fn session_starts(&self) -> &SessionStarts {
        &self.0.session_starts
    }

    /// The access-token verifier.
    pub fn verifier(&self) -> &TokenVerifier {
        &self.0.verifier
    }

    /// How long a read waits for a position.
    pub fn read_your_writes_timeout(&self) -> Duration {
        self.0.read_your_writes_timeout
    }

    /// The gateway URL handed to clients.
    pub fn gateway_url(&self) -> &str {
        &self.0.gateway_url
    }

    /// The rate limits of the routes (register its counter with
    /// [`RateLimiter::register`]).
    pub fn rate_limiter(&self) -> &RateLimiter {
        &self.0.rate_limiter
    }

    /// The file store and the signer of attachment URLs.
    pub fn files(&self) -> &Files {
        &self.0.files
    }

    /// The requests answered (register them with [`RequestMetrics::register`]).
    pub fn request_metrics(&self) -> &RequestMetrics {
        &self.0.requests
    }
}

/// The whole read API with Discord's JSON 404 and 405 for everything else.
pub fn router(context: ApiContext) -> Router {
    routes(context)
        .fallback(not_found)
        .method_not_allowed_fallback(|| async { HttpError::MethodNotAllowed })
}

/// [`router`] without its 404/405 fallbacks, for a front door that merges it with
/// the write side's routes (axum allows one fallback per router).
pub fn routes(context: ApiContext) -> Router {
    // Each group waits for the stores it reads before answering.
    let (relational, _) = relational_routes().split_for_parts();
    let relational = relational.route_layer(from_fn_with_state(
        (context.clone(), Stores::Postgres),
        read_your_writes::wait,
    ));
    let (documents, _) = document_routes().split_for_parts();
    let documents = documents.route_layer(from_fn_with_state(
        (context.clone(), Stores::PostgresAndMongo),
        read_your_writes::wait,
    ));
    // Outermost, so a refused request waits for nothing; counted either way.
    let api = context
        .rate_limiter()
        .limit(relational.merge(documents))
        .layer(from_fn_with_state(
            context.0.origins.clone(),
            origin::refuse_other_origins,
        ))
        .layer(from_fn_with_state(
            context.request_metrics().clone(),
            http_metrics::track,
        ));
    // The CDN is outside the API: no token, no origin check (pages embed its
    // images), its signed URLs are the access check.
    Router::new()
        .nest("/api/v10", api.clone())
        .nest("/api/v9", api)
        .merge(cdn::router())
        .with_state(context)
}

/// The read side's part of the OpenAPI document: every route [`routes`] serves,
/// relative to `/api/v10`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    relational_routes().merge(document_routes()).into_openapi()
}

/// The routes that read only PostgreSQL.
fn relational_routes() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .merge(users::router())
        .merge(guilds::router())
        .merge(channels::router())
        .merge(invites::router())
        .merge(gateway::router())
}

/// The routes that also read MongoDB.
fn document_routes() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .merge(users::documents_router())
        .merge(messages::router())
        .merge(audit_log::router())
}

/// Discord's answer for a path no route serves.
pub async fn not_found() -> HttpError {
    HttpError::NotFound
}
