//! The HTTP write API: Discord v10 write routes that turn requests into commands on
//! Kafka and answer with the command processor's result.
//!
//! A request goes: [`auth::Caller`] (who asks) → [`body::Body`] (shape validation, so
//! malformed requests never reach Kafka) → the route assigns ids (snowflakes) and a
//! command id → [`bus::CommandBus::execute`] appends the command and waits for its
//! result → the result's status and Discord object, or its Discord error.
//!
//! Module map:
//! - Errors are [`HttpError`] from `cloudcord_runtime::http_error`, shared with the read side.
//! - [`body`]: the JSON body extractor (50109 / 50035 with the field's path).
//! - [`bus`]: the command bus (idempotent producer + results watcher).
//! - [`metrics`]: request and command-wait metrics for the admin server.
//! - [`accounts`]: the in-memory projection of what the write side looks up.
//! - [`auth`]: `Bearer` / `Bot` extractors, register, login, applications, JWKS.
//! - [`oauth2`]: the OAuth 2.0 / OpenID Connect provider (discovery, authorize page,
//!   token, revocation, userinfo); its state is [`crate::oauth`].
//! - [`sessions`]: list and end one's sessions, log out.
//! - [`mfa`]: TOTP two-factor authentication and recovery codes.
//! - [`guilds`] (guild, channels' creation, roles, members, bans), [`channels`]
//!   (channels, overwrites, invites, messages, reactions, pins, typing), [`users`]
//!   (profile, DMs, relationships), [`voice`] (joining a voice channel, its media
//!   token), [`push`] (Web Push subscriptions, the VAPID key): the resource routes.
//!
//! [`router`] builds the whole API over an [`ApiState`]; [`ApiState::start`] is the
//! constructor the `cloudcord` dev stack uses to serve it in-process at `/api`.
//!
//! Every route under `/api` is rate limited as Discord's are
//! (`cloudcord_runtime::rate_limit`): [`ROUTE_LIMITS`] for the routes Discord limits
//! tighter, `command_api.http.rate_limits` for the rest.
//!
//! Not here yet: reads (query-api's), file uploads (`multipart/form-data` bodies
//! answer 50109), embeds/components/stickers in messages, voice state through
//! gateway op 4 (the [`voice`] routes carry it for now). A `Bearer` token acts with
//! the user's full rights only when it is first-party (`cloudcord_kind: session`);
//! an application's OAuth2 token is refused here and good only for the routes its
//! scopes open (userinfo).
//!
//! Tracing: every request gets a span and a W3C `traceparent` (the client's, or a
//! new one), which rides on the command record as a Kafka header; the processor
//! copies it onto the events and the result.

pub mod accounts;
pub mod auth;
pub mod body;
pub mod bus;
pub mod channels;
pub mod guilds;
pub mod metrics;
pub mod mfa;
pub mod oauth2;
pub mod push;
pub mod replies;
pub mod sessions;
pub mod uploads;
pub mod users;
pub mod voice;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use cloudcord_runtime::auth::{
    AuthConfig, JwksError, KeyError, SigningKey, TokenIssuer, TokenVerifier,
};
use cloudcord_runtime::files::Files;
use cloudcord_runtime::http_error::{FormErrors, HttpError};
use cloudcord_runtime::kafka::KafkaConfig;
use cloudcord_runtime::origin::{self, AllowedOrigins};
use cloudcord_runtime::postgres::PostgresConfig;
use cloudcord_runtime::push::{PushConfig, VapidError, VapidKey};
use cloudcord_runtime::rate_limit::{Quota, RateLimitSettings, RateLimiter};
use cloudcord_schemas::envelope::{Actor, CommandId, InvalidCommandId};
use cloudcord_schemas::ids::{
    ApplicationId, ChannelId, InvalidGeneratorId, Snowflake, SnowflakeGenerator, UserId,
};
use cloudcord_schemas::message::UserSnapshot;
use rdkafka::error::KafkaError;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use utoipa_axum::router::OpenApiRouter;

use self::accounts::{Accounts, ChannelHome};
use self::bus::{BusSettings, CommandBus};
use self::metrics::HttpMetrics;
use crate::oauth::{Clients, OAuthMetrics, OAuthSettings, OAuthStore};

/// The `[command_api.http]` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct HttpSettings {
    /// Where the API listens when command-api runs on its own.
    pub listen_addr: SocketAddr,
    /// How long a request waits for its command's result before answering 503.
    pub result_timeout_ms: u64,
    /// How long a route waits for the accounts projection to show what it needs.
    pub projection_timeout_ms: u64,
    /// This process's snowflake worker number (0..=31); every running command-api
    /// needs a distinct (worker, process) pair.
    pub snowflake_worker: u8,
    /// This process's snowflake process number (0..=31).
    pub snowflake_process: u8,
    /// Generate the signing key when its file is missing (development only; in
    /// production the key is provisioned and a missing file fails start-up).
    pub generate_signing_key: bool,
    /// Most password hashes computed at once (each holds 19 MiB for ~50 ms).
    pub max_concurrent_hashes: usize,
    /// Rate limits (`[command_api.http.rate_limits]`), over [`ROUTE_LIMITS`].
    pub rate_limits: RateLimitSettings,
    /// The OAuth2 provider (`[command_api.http.oauth]`): clients, TTLs, schema.
    pub oauth: OAuthSettings,
}

/// The write routes Discord limits tighter than most, with limits close to those its
/// API reports for them (its docs publish no numbers: bots read the headers). Each
/// counts per caller and channel or guild; `rate_limits.routes` replaces any of them.
pub const ROUTE_LIMITS: &[(&str, Quota)] = &[
    ("POST /channels/{channel_id}/messages", Quota::new(5, 5_000)),
    (
        "PATCH /channels/{channel_id}/messages/{message_id}",
        Quota::new(5, 5_000),
    ),
    (
        "DELETE /channels/{channel_id}/messages/{message_id}",
        Quota::new(5, 1_000),
    ),
    (
        "PUT /channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me",
        Quota::new(1, 250),
    ),
    (
        "PATCH /guilds/{guild_id}/members/{user_id}",
        Quota::new(10, 10_000),
    ),
];

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            listen_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 9201)),
            result_timeout_ms: 15_000,
            projection_timeout_ms: 10_000,
            snowflake_worker: 0,
            snowflake_process: 0,
            generate_signing_key: true,
            max_concurrent_hashes: 4,
            rate_limits: RateLimitSettings::default(),
            oauth: OAuthSettings::default(),
        }
    }
}

/// Why the HTTP API could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum HttpStartError {
    /// The signing key could not be loaded (or generated).
    #[error("cannot load the token signing key")]
    Key(#[from] KeyError),
    /// The VAPID key or contact of `[push]` is unusable.
    #[error("cannot load the Web Push VAPID key")]
    Vapid(#[from] VapidError),
    /// The issuer's own JWKS is unusable (an invariant broke: it holds our key).
    #[error("the issuer's JWKS cannot verify tokens")]
    Jwks(#[from] JwksError),
    /// The blocking task that reads the key file panicked.
    #[error("the signing key loader panicked")]
    KeyTask(#[source] tokio::task::JoinError),
    /// The snowflake worker/process numbers are out of range.
    #[error("invalid snowflake settings")]
    Snowflake(#[from] InvalidGeneratorId),
    /// Kafka refused a client or a request.
    #[error("the HTTP API's Kafka clients failed")]
    Kafka(#[from] KafkaError),
    /// The listen address is taken.
    #[error("cannot listen on {addr} for the HTTP API (set command_api.http.listen_addr)")]
    Bind {
        /// The address tried.
        addr: SocketAddr,
        /// The operating system's answer.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("the HTTP API failed")]
    Serve(#[source] std::io::Error),
    /// The OAuth2 store's settings are unusable.
    #[error("cannot reach the OAuth2 store")]
    Store(#[from] sqlx::Error),
    /// The OAuth2 store's schema could not be migrated.
    #[error("cannot migrate the OAuth2 store's schema")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The file store's settings are unusable.
    #[error("cannot reach the file store")]
    Files(#[from] mongodb::error::Error),
}

/// Everything the routes share. Cheap to clone.
#[derive(Clone)]
pub struct ApiState(Arc<Inner>);

struct Inner {
    bus: CommandBus,
    accounts: Accounts,
    issuer: TokenIssuer,
    verifier: TokenVerifier,
    ids: Mutex<SnowflakeGenerator>,
    hashing: Semaphore,
    projection_timeout: Duration,
    metrics: HttpMetrics,
    rate_limiter: RateLimiter,
    oauth: OAuthStore,
    clients: Clients,
    oauth_settings: OAuthSettings,
    oauth_metrics: OAuthMetrics,
    origins: AllowedOrigins,
    files: Files,
    push: PushSettings,
}

/// What the push routes need of `[push]`.
#[derive(Debug, Clone)]
pub struct PushSettings {
    /// The VAPID public key, base64url.
    pub public_key: String,
    /// Whether `http://` endpoints are accepted.
    pub allow_http: bool,
}

impl ApiState {
    /// Loads the signing keys, migrates the OAuth2 store's schema, starts the command
    /// bus and the accounts projection (both run until `shutdown`); message uploads
    /// go to `files`.
    pub async fn start(
        kafka: &KafkaConfig,
        postgres: &PostgresConfig,
        auth: &AuthConfig,
        push: &PushConfig,
        settings: &HttpSettings,
        files: Files,
        shutdown: CancellationToken,
    ) -> Result<Self, HttpStartError> {
        let path = auth.signing_key_path.clone();
        let previous_paths = auth.previous_signing_key_paths.clone();
        let generate = settings.generate_signing_key;
        // Key files are read synchronously (start-up only). Previous keys are never
        // generated: a missing one is a configuration error.
        let (key, previous) = tokio::task::spawn_blocking(move || {
            let key = if generate {
                SigningKey::load_or_generate(&path)
            } else {
                SigningKey::load(&path)
            }?;
            let previous = previous_paths
                .iter()
                .map(|path| SigningKey::load(path))
                .collect::<Result<Vec<_>, _>>()?;
            Ok::<_, KeyError>((key, previous))
        })
        .await
        .map_err(|_| HttpStartError::Serve(std::io::Error::other("key loading panicked")))??;
        let issuer = TokenIssuer::new(key, auth).with_previous_keys(&previous);
        // Loaded (or generated in development) like the signing key; command-api
        // needs only its public half, but a bad key fails start-up here too.
        let vapid = {
            let push = push.clone();
            tokio::task::spawn_blocking(move || VapidKey::load(&push))
                .await
                .map_err(|_| {
                    HttpStartError::Serve(std::io::Error::other("key loading panicked"))
                })??
        };
        let push = PushSettings {
            public_key: vapid.public_key_base64(),
            allow_http: push.allow_http_endpoints,
        };
        let oauth = OAuthStore::connect_lazy(postgres, &settings.oauth.schema)?;
        oauth.migrate().await?;
        tokio::spawn(purge_periodically(oauth.clone(), shutdown.clone()));
        let verifier =
            TokenVerifier::from_jwks(&issuer.jwks(), auth).map_err(|_| KeyError::Generate)?;
        let ids = SnowflakeGenerator::new(settings.snowflake_worker, settings.snowflake_process)?;
        kafka
            .ensure_topics(&kafka.topics().specs(kafka.partitions))
            .await?;
        let metrics = HttpMetrics::default();
        let bus = CommandBus::start(
            kafka,
            BusSettings {
                result_timeout_ms: settings.result_timeout_ms,
            },
            metrics.clone(),
            shutdown.clone(),
        )
        .await?;
        let accounts = Accounts::start(kafka, shutdown).await?;
        let rate_limiter = RateLimiter::new(
            crate::NAME,
            &settings.rate_limits,
            ROUTE_LIMITS,
            verifier.clone(),
        );
        Ok(Self(Arc::new(Inner {
            bus,
            accounts,
            issuer,
            verifier,
            ids: Mutex::new(ids),
            hashing: Semaphore::new(settings.max_concurrent_hashes.max(1)),
            projection_timeout: Duration::from_millis(settings.projection_timeout_ms),
            metrics,
            rate_limiter,
            oauth,
            clients: Clients::new(&settings.oauth.clients),
            oauth_settings: settings.oauth.clone(),
            oauth_metrics: OAuthMetrics::default(),
            origins: auth.origins(),
            files,
            push,
        })))
    }

    /// What the push routes need of `[push]`.
    pub fn push(&self) -> &PushSettings {
        &self.0.push
    }

    /// The OAuth2 provider's store (codes, sessions, refresh tokens).
    pub fn oauth(&self) -> &OAuthStore {
        &self.0.oauth
    }

    /// The registered OAuth2 clients.
    pub fn clients(&self) -> &Clients {
        &self.0.clients
    }

    /// The OAuth2 provider's settings.
    pub fn oauth_settings(&self) -> &OAuthSettings {
        &self.0.oauth_settings
    }

    /// The security-event counters (register them with [`OAuthMetrics::register`]).
    pub fn oauth_metrics(&self) -> &OAuthMetrics {
        &self.0.oauth_metrics
    }

    /// Where message uploads are stored, and the signer of their URLs.
    pub fn files(&self) -> &Files {
        &self.0.files
    }

    /// The command bus.
    pub fn bus(&self) -> &CommandBus {
        &self.0.bus
    }

    /// The metrics (register them with [`HttpMetrics::register`]).
    pub fn metrics(&self) -> &HttpMetrics {
        &self.0.metrics
    }

    /// The rate limits of the routes (register its counter with
    /// [`RateLimiter::register`]).
    pub fn rate_limiter(&self) -> &RateLimiter {
        &self.0.rate_limiter
    }

    /// The accounts projection.
    pub fn accounts(&self) -> &Accounts {
        &self.0.accounts
    }

    /// The access-token issuer (and the key that mints bot tokens).
    pub fn issuer(&self) -> &TokenIssuer {
        &self.0.issuer
    }

    /// The access-token verifier.
    pub fn verifier(&self) -> &TokenVerifier {
        &self.0.verifier
    }

    /// How long routes wait for the projection.
    pub fn projection_timeout(&self) -> Duration {
        self.0.projection_timeout
    }

    /// A fresh snowflake.
    pub fn next_id(&self) -> Snowflake {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        self.0
            .ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .next(now_ms)
    }

    /// The profile of `user_id` for a command's snapshot (a caller whose account the
    /// projection does not know is not authenticated any more).
    pub async fn snapshot(&self, user_id: UserId) -> Result<UserSnapshot, HttpError> {
        self.accounts()
            .lookup(self.projection_timeout(), |view| {
                view.user(user_id).map(|account| account.profile.clone())
            })
            .await?
            .ok_or(HttpError::Unauthorized)
    }

    /// The bot user of the application `raw_id` names, if it is one (an id that is
    /// not a snowflake names none).
    pub async fn application_bot(&self, raw_id: &str) -> Result<Option<UserId>, HttpError> {
        let Ok(application_id) = raw_id.parse().map(ApplicationId) else {
            return Ok(None);
        };
        self.accounts()
            .lookup(self.projection_timeout(), |view| {
                view.application_bot(application_id)
            })
            .await
    }

    /// Where the commands of `channel_id` go (404 Unknown Channel if nowhere).
    pub async fn channel_home(&self, channel_id: ChannelId) -> Result<ChannelHome, HttpError> {
        self.accounts()
            .lookup(self.projection_timeout(), |view| view.channel(channel_id.0))
            .await?
            .ok_or_else(HttpError::unknown_channel)
    }

    /// Runs CPU-heavy password work on the blocking pool, a bounded number at once.
    pub async fn hash_work<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HttpError> {
        let _permit = self
            .0
            .hashing
            .acquire()
            .await
            .map_err(|error| HttpError::internal("waiting for a hashing slot", error))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|error| HttpError::internal("hashing a password", error))
    }
}

/// The `Idempotency-Key` header, when the client sent one, and the request it was
/// sent with (method and path, without the API version): a key repeats only the
/// request it was first used for.
#[derive(Debug, Clone, Default)]
pub struct IdempotencyKey {
    key: Option<String>,
    scope: String,
}

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, HttpError> {
        let key = match parts.headers.get("idempotency-key") {
            None => None,
            Some(value) => Some(
                value
                    .to_str()
                    .map_err(|_| invalid_idempotency_key())?
                    .to_owned(),
            ),
        };
        let path = parts.uri.path();
        let path = ["/api/v10", "/api/v9"]
            .iter()
            .find_map(|prefix| path.strip_prefix(prefix))
            .unwrap_or(path);
        Ok(Self {
            key,
            scope: format!("{} {path}", parts.method),
        })
    }
}

/// Documents the header on every write route that takes it (`params(IdempotencyKey)`).
impl utoipa::IntoParams for IdempotencyKey {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        vec![
            utoipa::openapi::path::ParameterBuilder::new()
                .name("Idempotency-Key")
                .parameter_in(utoipa::openapi::path::ParameterIn::Header)
                .required(utoipa::openapi::Required::False)
                .description(Some(
                    "Repeating a request with the same key performs it once and repeats its answer",
                ))
                .schema(Some(
                    utoipa::openapi::schema::ObjectBuilder::new()
                        .schema_type(utoipa::openapi::schema::Type::String),
                ))
                .build(),
        ]
    }
}

impl IdempotencyKey {
    /// Whether the client sent a key.
    pub fn is_given(&self) -> bool {
        self.key.is_some()
    }

    /// The command id for `actor`'s request: from the key when given, else random.
    pub fn command_id(&self, actor: &Actor) -> Result<CommandId, HttpError> {
        match &self.key {
            Some(key) => self
                .scoped(actor, key)
                .map_err(|_| invalid_idempotency_key()),
            None => Ok(CommandId::random()),
        }
    }

    /// The command id of step `step` of a multi-command request (a saga): derived
    /// from the key (`<key>/<step>`), so a retry repeats every step idempotently.
    pub fn step_id(&self, actor: &Actor, step: u8) -> Result<CommandId, HttpError> {
        match &self.key {
            Some(key) => self
                .scoped(actor, &format!("{key}/{step}"))
                .map_err(|_| invalid_idempotency_key()),
            None => Ok(CommandId::random()),
        }
    }

    /// A number that stays the same on every retry of a keyed request (the
    /// first eight bytes of SHA-256 over its command id); `None` without a key.
    pub fn fingerprint(&self, actor: &Actor) -> Option<u64> {
        let id = self.command_id(actor).ok().filter(|_| self.is_given())?;
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, id.as_str().as_bytes());
        let mut first = [0_u8; 8];
        first.copy_from_slice(digest.as_ref().get(..8)?);
        Some(u64::from_be_bytes(first))
    }

    /// The command id for a key the request carries elsewhere (a message nonce),
    /// scoped like the header's.
    pub fn scoped(&self, actor: &Actor, key: &str) -> Result<CommandId, InvalidCommandId> {
        CommandId::from_request_key(actor, &self.scope, key)
    }
}

fn invalid_idempotency_key() -> HttpError {
    FormErrors::single(
        "Idempotency-Key",
        "BASE_TYPE_BAD_LENGTH",
        "Must be 1 to 120 visible ASCII characters.",
    )
    .into()
}

/// The whole API: `/api/v10/…` (and `/api/v9/…`, which libraries still use for
/// some calls), the JWKS at `/.well-known/jwks.json`, OpenID Connect discovery and
/// the `/oauth2/authorize` page, Discord's JSON 404 and 405.
pub fn router(state: ApiState) -> Router {
    routes(state)
        .fallback(not_found)
        .method_not_allowed_fallback(|| async { HttpError::MethodNotAllowed })
}

/// [`router`] without its 404/405 fallbacks, for a front door that merges it with
/// the read side's routes (axum allows one fallback per router) and adds
/// [`not_found`] once.
pub fn routes(state: ApiState) -> Router {
    let (described, _) = described_routes().split_for_parts();
    let api = state
        .rate_limiter()
        .limit(described.merge(oauth2::router()));
    Router::new()
        .nest("/api/v10", api.clone())
        .nest("/api/v9", api)
        .merge(auth::well_known())
        .merge(oauth2::discovery_routes())
        .merge(state.rate_limiter().limit(oauth2::authorize_routes()))
        .layer(DefaultBodyLimit::max(body::JSON_BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            state.0.origins.clone(),
            origin::refuse_other_origins,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            trace_request,
        ))
        .with_state(state)
}

/// The write side's part of the OpenAPI document: every route under `/api/v10`
/// except the OAuth2 endpoints (`/oauth2/token`, `/oauth2/token/revoke`,
/// `/oauth2/userinfo`), which speak OAuth2's form bodies and error shape and are
/// described by `/.well-known/openid-configuration`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    described_routes().into_openapi()
}

fn described_routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .merge(auth::router())
        .merge(sessions::router())
        .merge(mfa::router())
        .merge(guilds::router())
        .merge(channels::router())
        .merge(users::router())
        .merge(push::router())
        .merge(voice::router())
        .merge(oauth2::bot::router())
}

/// How long spent sessions, codes and tickets stay in the OAuth2 store.
const KEEP_SPENT: Duration = Duration::from_secs(7 * 24 * 3600);
/// How often they are purged.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Purges the OAuth2 store's spent rows ([`OAuthStore::purge`]) every
/// [`PURGE_EVERY`] until `shutdown`; a failure is logged and tried again next time.
async fn purge_periodically(store: OAuthStore, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(PURGE_EVERY) => {}
        }
        match store.purge(KEEP_SPENT).await {
            Ok(rows) => tracing::info!(rows, "purged spent OAuth2 sessions, codes and tickets"),
            Err(error) => {
                tracing::warn!(error = %cloudcord_runtime::telemetry::ErrorChain(&error), "cannot purge the OAuth2 store; trying again later")
            }
        }
    }
}

/// Discord's answer for a path no route serves: `404 {"message": "404: Not Found",
/// "code": 0}`.
pub async fn not_found() -> HttpError {
    HttpError::NotFound
}

tokio::task_local! {
    /// The W3C `traceparent` of the request being served, for the command records it
    /// appends (the processor copies it onto the events and the result).
    pub static TRACEPARENT: String;
}

/// The request's `traceparent` when it is a well-formed W3C version-00 one, else a
/// new trace (random trace and parent ids, sampled).
fn traceparent(headers: &axum::http::HeaderMap) -> String {
    let given = headers
        .get("traceparent")
        .and_then(|value| value.to_str().ok())
        .filter(|value| {
            let parts: Vec<&str> = value.split('-').collect();
            parts.len() == 4
                && parts[0] == "00"
                && [parts[1].len(), parts[2].len(), parts[3].len()] == [32, 16, 2]
                && parts[1..].iter().all(|part| {
                    part.bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
                })
                && parts[1].bytes().any(|b| b != b'0')
                && parts[2].bytes().any(|b| b != b'0')
        });
    if let Some(given) = given {
        return given.to_owned();
    }
    let mut ids = [0_u8; 24];
    // A failing system RNG leaves zeros, which only makes this trace unlinkable.
    let _ = aws_lc_rs::rand::fill(&mut ids);
    ids[0] |= 1;
    ids[16] |= 1;
    let hex = |bytes: &[u8]| {
        use std::fmt::Write as _;
        bytes.iter().fold(String::new(), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
    };
    format!("00-{}-{}-01", hex(&ids[..16]), hex(&ids[16..]))
}

/// One span per request (method and path), and one line with its status and time.
async fn trace_request(
    axum::extract::State(state): axum::extract::State<ApiState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use tracing::Instrument as _;
    let trace = traceparent(request.headers());
    let span = tracing::info_span!(
        "http",
        method = %request.method(),
        path = %request.uri().path(),
        traceparent = %trace,
    );
    let handled = async move {
        let started = std::time::Instant::now();
        let method = request.method().clone();
        let response = next.run(request).await;
        state.metrics().requests.observe_response(
            method.as_str(),
            &response,
            started.elapsed().as_secs_f64(),
        );
        tracing::debug!(
            status = response.status().as_u16(),
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "request answered"
        );
        response
    }
    .instrument(span);
    TRACEPARENT.scope(trace, handled).await
}

/// Serves [`router`] on `listener` until `shutdown` is cancelled (tests pass a
/// listener on port 0), with each connection's peer address for the rate limits.
pub async fn serve(
    listener: TcpListener,
    state: ApiState,
    shutdown: CancellationToken,
) -> Result<(), HttpStartError> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "HTTP API listening");
    }
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .map_err(HttpStartError::Serve)
}

/// Binds `addr` and serves until `shutdown`.
pub async fn bind_and_serve(
    addr: SocketAddr,
    state: ApiState,
    shutdown: CancellationToken,
) -> Result<(), HttpStartError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| HttpStartError::Bind { addr, source })?;
    serve(listener, state, shutdown).await
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;

    use super::traceparent;

    #[test]
    fn a_valid_traceparent_is_kept_and_anything_else_starts_a_new_trace() {
        let given = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", given.parse().expect("header"));
        assert_eq!(traceparent(&headers), given);

        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "garbage",
        ] {
            headers.insert("traceparent", bad.parse().expect("header"));
            let made = traceparent(&headers);
            assert_ne!(made, bad);
            let parts: Vec<&str> = made.split('-').collect();
            assert_eq!(parts.len(), 4, "{made}");
            assert_eq!(
                (parts[0], parts[1].len(), parts[2].len(), parts[3]),
                ("00", 32, 16, "01")
            );
        }
    }
}
