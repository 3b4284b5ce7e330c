//! Who is asking, and the routes that make credentials.
//!
//! * [`Caller`]: `Authorization: Bearer <access token>` (an RFC 9068 JWT checked with
//!   the issuer's JWKS; also accepted bare, as Discord's clients send user tokens) or `Authorization: Bot <token>` (a self-verifying bot token
//!   whose generation must be the bot's current one, from the accounts projection).
//!   Anything else is `401 {"message": "401: Unauthorized", "code": 0}`.
//! * `POST /auth/register`: claim the username, register the user, answer
//!   `{"token"}` like Discord's register (with `X-CloudCord-Position`, like every
//!   write, so the client's next read can wait for the new account).
//! * `POST /auth/login`: `{"login", "password"}` → `{"user_id", "token",
//!   "refresh_token"}`. An unknown login costs as much as a wrong password
//!   (`verify_dummy_password`), so timing does not reveal which accounts exist; a
//!   failure is counted and logged as a security event.
//! * With two-factor authentication on, login answers a `ticket` instead
//!   ([`super::mfa`]).
//! * Register and login each start a session (`crate::oauth`): the access token names
//!   it (`sid`), and the refresh token renews it at `POST /oauth2/token` with
//!   `client_id=cloudcord` (rotated on every use, like any client's).
//! * `POST /applications`: an application with its bot user; the response carries the
//!   bot token once (nothing stores it: it verifies itself).
//! * `POST /applications/{application.id}/bot/reset`: a new bot token (the owner
//!   only); every older token of the bot stops working.
//! * `GET /oauth2/keys`, `GET /.well-known/jwks.json`: the public keys.

use std::time::SystemTime;

use axum::extract::{FromRequestParts, State};
use axum::http::header::{AUTHORIZATION, USER_AGENT};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use cloudcord_runtime::auth::bot_token::{self, BotTokenId};
use cloudcord_runtime::auth::password::{hash_password, verify_dummy_password, verify_password};
use cloudcord_runtime::auth::{Credential, Jwks, NewAccessToken, TokenKind};
use cloudcord_runtime::described_by_schemars;
use cloudcord_runtime::http_error::{FormErrors, HttpError};
use cloudcord_runtime::openapi::Refusals;
use cloudcord_runtime::openapi::objects::SnowflakeType;
use cloudcord_runtime::telemetry::ErrorChain;
use cloudcord_schemas::envelope::{Actor, AggregateRef, AggregateType, CommandId, Outcome};
use cloudcord_schemas::ids::{ApplicationId, UserId};
use cloudcord_schemas::message::UserSnapshot;
use cloudcord_schemas::user::UserCommand;
use cloudcord_schemas::username_claim::{UsernameClaimCommand, claim_id, normalize_username};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::body::Body;
use super::bus::{POSITION_HEADER, respond};
use super::replies::{BotToken, LoginAnswer, NewApplication, SessionTokens, SignedIn};
use super::{ApiState, IdempotencyKey};
use crate::oauth::store::NewSession;

/// The OAuth2 client id of CloudCord's own clients (password logins).
pub const FIRST_PARTY_CLIENT: &str = "cloudcord";

/// The authenticated caller of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// The user or bot.
    pub user_id: UserId,
    /// Whether it authenticated with a bot token.
    pub bot: bool,
}

impl Caller {
    /// The actor of the caller's commands.
    pub fn actor(&self) -> Actor {
        Actor::User(self.user_id)
    }

    /// Refuses a bot as Discord does for endpoints only people may use (20001).
    pub fn person(&self) -> Result<UserId, HttpError> {
        if self.bot {
            return Err(HttpError::api(
                StatusCode::FORBIDDEN,
                20001,
                "Bots cannot use this endpoint",
            ));
        }
        Ok(self.user_id)
    }
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, HttpError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .ok_or(HttpError::Unauthorized)?;
        let claims = match state.verifier().authenticate(header) {
            Ok(Credential::User(access)) => {
                return Ok(Self {
                    user_id: access.user_id,
                    bot: false,
                });
            }
            Ok(Credential::Bot(claims)) => claims,
            Err(error) => {
                tracing::debug!(error = %ErrorChain(&error), "credential refused");
                return Err(HttpError::Unauthorized);
            }
        };
        // The signature proves we minted it; only the projection knows whether it is
        // the bot's current generation (a reset voids older ones). A miss syncs with
        // the log first: the bot may have been created (or its token reset) through
        // another command-api process a moment ago.
        let current = state
            .accounts()
            .lookup(state.projection_timeout(), |view| {
                view.user(claims.user_id)
                    .filter(|account| account.profile.bot)
                    .and_then(|account| account.bot_token_id)
                    .filter(|current| *current == claims.token_id.0)
            })
            .await?;
        if current.is_none() {
            return Err(HttpError::Unauthorized);
        }
        Ok(Self {
            user_id: claims.user_id,
            bot: true,
        })
    }
}

/// The credential routes under `/api/v10`.
pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(create_application))
        .routes(routes!(reset_bot_token))
        .routes(routes!(jwks))
}

/// `/.well-known/jwks.json`, outside `/api`.
pub fn well_known() -> Router<ApiState> {
    Router::new().route("/.well-known/jwks.json", axum::routing::get(jwks))
}

#[utoipa::path(
    get,
    path = "/oauth2/keys",
    tag = "auth",
    responses((status = 200, description = "The issuer's public keys", body = Jwks), Refusals),
    security(())
)]
async fn jwks(State(state): State<ApiState>) -> Json<Jwks> {
    Json(state.issuer().jwks())
}

/// Longest password accepted (argon2 handles more, but nobody types more).
pub(crate) const MAX_PASSWORD_CHARS: usize = 128;
/// Shortest password accepted (Discord's minimum).
pub(crate) const MIN_PASSWORD_CHARS: usize = 8;

#[derive(Debug, Deserialize, JsonSchema)]
struct RegisterRequest {
    username: String,
    password: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    global_name: Option<String>,
}

/// `POST /auth/register`.
///
/// No `Idempotency-Key`: an anonymous request has no actor to scope the key to. A
/// retried registration is answered by the username claim instead (the name is taken
/// — by the first attempt).
#[utoipa::path(
    post,
    path = "/auth/register",
    tag = "auth",
    request_body = RegisterRequest,
    responses((status = 201, description = "The account exists and its first session began", body = SessionTokens), Refusals),
    security(())
)]
async fn register(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Body(request): Body<RegisterRequest>,
) -> Result<Response, HttpError> {
    let mut errors = FormErrors::new();
    let username = match normalize_username(&request.username) {
        Ok(name) => Some(name),
        Err(invalid) => {
            errors.add("username", invalid.code(), invalid.to_string());
            None
        }
    };
    errors.length(
        "password",
        &request.password,
        MIN_PASSWORD_CHARS,
        MAX_PASSWORD_CHARS,
    );
    if let Some(global_name) = &request.global_name {
        errors.length("global_name", global_name, 1, 32);
    }
    if let Some(email) = &request.email
        && (email.len() > 254 || !email.contains('@'))
    {
        errors.add(
            "email",
            "EMAIL_TYPE_INVALID_EMAIL",
            "Not a well formed email address.",
        );
    }
    errors.into_result()?;
    let Some(username) = username else {
        return Err(HttpError::internal(
            "registering",
            "a validated username is missing",
        ));
    };

    let user_id = UserId(state.next_id());
    let actor = Actor::User(user_id);
    let password = request.password;
    let password_hash = state
        .hash_work(move || hash_password(&password))
        .await?
        .map_err(|error| HttpError::internal("hashing a password", error))?;

    let claim = AggregateRef {
        kind: AggregateType::UsernameClaim,
        id: claim_id(&username),
    };
    let claimed = state
        .bus()
        .execute(
            claim,
            CommandId::random(),
            actor,
            UsernameClaimCommand::ClaimUsername {
                username: username.clone(),
                user_id,
            },
        )
        .await?;
    if let Outcome::Rejected { .. } = claimed {
        return respond(claimed);
    }

    let registered = state
        .bus()
        .execute(
            AggregateRef {
                kind: AggregateType::User,
                id: user_id.0,
            },
            CommandId::random(),
            actor,
            UserCommand::RegisterUser {
                user_id,
                username: username.clone(),
                global_name: request.global_name,
                email: request.email,
                password_hash: Some(password_hash.into_string()),
                bot: false,
                application_id: None,
                owner_id: None,
                bot_token_id: None,
            },
        )
        .await;
    let position = match registered {
        Ok(Outcome::Accepted { position, .. }) => position,
        refused => {
            release_claim(&state, claim).await;
            return refused.and_then(respond);
        }
    };

    // Read-your-writes: a login right after this answer must find the account.
    state
        .accounts()
        .wait_until(state.projection_timeout(), |view| {
            view.user(user_id).map(|_| ())
        })
        .await?;
    let (token, refresh_token) = start_session(&state, user_id, &headers).await?;
    let mut response = (
        StatusCode::CREATED,
        Json(SessionTokens {
            token,
            refresh_token,
        }),
    )
        .into_response();
    // Like every write: a read naming this position waits until the read models know
    // the new user — which the gateway's Identify reads too.
    if let Some(value) = position.and_then(|p| HeaderValue::from_str(&p.to_string()).ok()) {
        response.headers_mut().insert(POSITION_HEADER, value);
    }
    Ok(response)
}

/// Gives a claim back after the step that needed it failed (best effort: a claim
/// left behind only makes the name unavailable until the orphan sweep).
async fn release_claim(state: &ApiState, claim: AggregateRef) {
    let released = state
        .bus()
        .execute(
            claim,
            CommandId::random(),
            Actor::System,
            UsernameClaimCommand::ReleaseUsername,
        )
        .await;
    if let Err(error) = released {
        tracing::warn!(error = %ErrorChain(&error), ?claim, "could not release a username claim");
    }
}

/// Starts a first-party session for `user_id`, who just proved their password:
/// its access token (naming the session) and refresh token.
pub(crate) async fn start_session(
    state: &ApiState,
    user_id: UserId,
    headers: &HeaderMap,
) -> Result<(String, String), HttpError> {
    let now = SystemTime::now();
    let started = state
        .oauth()
        .start_session(&NewSession {
            user_id,
            client_id: FIRST_PARTY_CLIENT,
            scopes: "",
            first_party: true,
            auth_time: OffsetDateTime::from(now),
            user_agent: headers
                .get(USER_AGENT)
                .and_then(|value| value.to_str().ok()),
            ttl: state.oauth_settings().session_ttl(),
        })
        .await
        .map_err(|error| HttpError::internal("starting a session", error))?;
    let token = state
        .issuer()
        .issue_in_session(
            &NewAccessToken {
                user_id,
                client_id: FIRST_PARTY_CLIENT.to_owned(),
                scopes: Vec::new(),
                kind: TokenKind::Session,
            },
            Some(&started.session.id),
            now,
        )
        .map(|issued| issued.token)
        .map_err(|error| HttpError::internal("issuing an access token", error))?;
    state.oauth_metrics().issued("password");
    Ok((token, started.refresh_token))
}

#[derive(Debug, Deserialize, JsonSchema)]
struct LoginRequest {
    login: String,
    password: String,
}

/// Discord's answer to a wrong login or password (the same for both, on purpose).
fn invalid_login() -> HttpError {
    let mut errors = FormErrors::new();
    for field in ["login", "password"] {
        errors.add(field, "INVALID_LOGIN", "Login or password is invalid.");
    }
    errors.into()
}

/// The user whose `login` and `password` these are. Always synced with the log (the
/// account may have been registered through another command-api process a moment
/// ago), and always, so that the time taken does not depend on whether the account
/// exists: an unknown login costs as much as a wrong password.
pub(crate) async fn check_password(
    state: &ApiState,
    login: &str,
    password: String,
) -> Result<Option<UserId>, HttpError> {
    let found = {
        let accounts = state.accounts().sync(state.projection_timeout()).await?;
        normalize_username(login).ok().and_then(|name| {
            accounts
                .by_username(&name)
                .and_then(|(id, account)| Some((id, account.password_hash.clone()?)))
        })
    };
    state
        .hash_work(move || match found {
            Some((user_id, hash)) => {
                verify_password(&password, &hash).map(|ok| ok.then_some(user_id))
            }
            None => {
                verify_dummy_password(&password);
                Ok(None)
            }
        })
        .await?
        .map_err(|error| HttpError::internal("verifying a password", error))
}

/// `POST /auth/login`.
#[utoipa::path(
    post,
    path = "/auth/login",
    tag = "auth",
    request_body = LoginRequest,
    responses((status = 200, description = "Signed in, or the second factor is needed", body = LoginAnswer), Refusals),
    security(())
)]
async fn login(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Body(request): Body<LoginRequest>,
) -> Result<Response, HttpError> {
    let verified = check_password(&state, &request.login, request.password).await?;
    let Some(user_id) = verified else {
        state.oauth_metrics().failed_login("password_login");
        tracing::warn!(
            target: "cloudcord_command_api::security",
            event = "failed_login",
            endpoint = "password_login",
            "sign-in refused: wrong login or password"
        );
        return Err(invalid_login());
    };
    if super::mfa::enabled(&state, user_id).await? {
        // The password was right; the second factor completes it at /auth/mfa/totp.
        return super::mfa::login_ticket(&state, user_id).await;
    }
    let (token, refresh_token) = start_session(&state, user_id, &headers).await?;
    Ok(Json(LoginAnswer::SignedIn(SignedIn {
        user_id,
        token,
        refresh_token,
    }))
    .into_response())
}

#[derive(Debug, Deserialize, JsonSchema)]
struct CreateApplicationRequest {
    name: String,
    #[serde(default)]
    description: Option<String>,
}

/// A bot username from an application name: lowercase letters, digits, `_` and `.`
/// only, other characters become `_`; six digits of `discriminator` keep it unique-ish.
fn bot_username(name: &str, discriminator: u64) -> String {
    let mut base: String = name
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .replace("..", "_")
        .replace("discord", "dscrd");
    base.truncate(24);
    format!("{base}_{:06}", discriminator % 1_000_000)
}

/// `POST /applications`: creates an application and its bot user; the bot's user id
/// is the application id, as for Discord's current applications.
#[utoipa::path(
    post,
    path = "/applications",
    tag = "applications",
    params(IdempotencyKey),
    request_body = CreateApplicationRequest,
    responses((status = 201, description = "The application, with its bot's token", body = NewApplication), Refusals)
)]
async fn create_application(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Body(request): Body<CreateApplicationRequest>,
) -> Result<Response, HttpError> {
    caller.person()?;
    let mut errors = FormErrors::new();
    errors.length("name", &request.name, 2, 32);
    if let Some(description) = &request.description {
        errors.length("description", description, 0, 400);
    }
    errors.into_result()?;

    let id = state.next_id();
    let bot_id = UserId(id);
    // The claim is the saga's first step, where a retry finds its result: a keyed
    // request must claim the same name on every attempt, so its suffix comes from
    // the key, not from this attempt's fresh id.
    let discriminator = key.fingerprint(&caller.actor()).unwrap_or(id.get());
    let username = normalize_username(&bot_username(&request.name, discriminator))
        .map_err(|invalid| FormErrors::single("name", invalid.code(), invalid.to_string()))?;
    let token_id = state.next_id().get();
    let actor = caller.actor();
    let claim = AggregateRef {
        kind: AggregateType::UsernameClaim,
        id: claim_id(&username),
    };
    let claimed = state
        .bus()
        .execute(
            claim,
            key.step_id(&actor, 1)?,
            Actor::User(bot_id),
            UsernameClaimCommand::ClaimUsername {
                username: username.clone(),
                user_id: bot_id,
            },
        )
        .await?;
    // A repeated Idempotency-Key answers with the original claim: continue with the
    // bot id and name it holds, not the ones this attempt generated.
    let (bot_id, username) = match &claimed {
        Outcome::Accepted {
            body: Some(body), ..
        } => (
            body.get("user_id")
                .and_then(|id| serde_json::from_value::<UserId>(id.clone()).ok())
                .unwrap_or(bot_id),
            body.get("username")
                .and_then(|name| name.as_str())
                .map_or(username, str::to_owned),
        ),
        Outcome::Accepted { .. } => (bot_id, username),
        Outcome::Rejected { .. } => return respond(claimed),
    };
    let claim = AggregateRef {
        kind: AggregateType::UsernameClaim,
        id: claim_id(&username),
    };
    let application_id = ApplicationId(bot_id.0);
    let registered = state
        .bus()
        .execute(
            AggregateRef {
                kind: AggregateType::User,
                id: bot_id.0,
            },
            key.step_id(&actor, 2)?,
            actor,
            UserCommand::RegisterUser {
                user_id: bot_id,
                username: username.clone(),
                global_name: Some(request.name.clone()),
                email: None,
                password_hash: None,
                bot: true,
                application_id: Some(application_id),
                owner_id: Some(caller.user_id),
                bot_token_id: Some(token_id),
            },
        )
        .await;
    if !matches!(registered, Ok(Outcome::Accepted { .. })) {
        release_claim(&state, claim).await;
        return registered.and_then(respond);
    }
    // Read-your-writes: the bot token must verify as soon as the client has it. The
    // projection also knows the generation the (possibly original) command set.
    let token_id = state
        .accounts()
        .wait_until(state.projection_timeout(), |view| {
            view.user(bot_id).and_then(|account| account.bot_token_id)
        })
        .await?;
    let token = bot_token::mint(bot_id, BotTokenId(token_id), state.issuer().signing_key());
    let owner = state.snapshot(caller.user_id).await?;
    let bot = UserSnapshot {
        id: bot_id,
        username,
        global_name: Some(request.name.clone()),
        avatar: None,
        bot: true,
    };
    // Discord's private application object (the owner's view), plus the token once.
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": application_id,
            "name": request.name,
            "description": request.description.unwrap_or_default(),
            "icon": null,
            "type": null,
            "bot_public": true,
            "bot_require_code_grant": false,
            "verify_key": verify_key(state.issuer().signing_key().public_key_bytes()),
            "flags": 0,
            "flags_new": "0",
            "redirect_uris": [],
            "interactions_endpoint_url": null,
            "role_connections_verification_url": null,
            "owner": user_object(&owner),
            "approximate_guild_count": 0,
            "approximate_user_install_count": 0,
            "approximate_user_authorization_count": 0,
            "explicit_content_filter": 0,
            "team": null,
            "eligible_oauth2_scopes": [],
            "bot": user_object(&bot),
            "token": token,
        })),
    )
        .into_response())
}

/// Discord's user object for a profile snapshot.
pub fn user_object(user: &UserSnapshot) -> serde_json::Value {
    json!({
        "id": user.id,
        "username": user.username,
        "global_name": user.global_name,
        "discriminator": "0",
        "avatar": user.avatar,
        "bot": user.bot,
        "public_flags": 0,
        "flags": 0,
        "primary_guild": null,
    })
}

/// Hex of the Ed25519 public key, Discord's `verify_key` format (CloudCord signs
/// nothing per application yet; this is the key its tokens verify with).
fn verify_key(public: &[u8]) -> String {
    use std::fmt::Write as _;
    public
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

/// `POST /applications/{application.id}/bot/reset` → 200 `{"token"}`.
#[utoipa::path(
    post,
    path = "/applications/{application_id}/bot/reset",
    tag = "applications",
    params(("application_id" = SnowflakeType, Path, description = "The application"), IdempotencyKey),
    responses((status = 200, description = "The bot's new token", body = BotToken), Refusals)
)]
async fn reset_bot_token(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    axum::extract::Path(raw): axum::extract::Path<String>,
) -> Result<Response, HttpError> {
    let bot_id = state.application_bot(&raw).await?.ok_or_else(|| {
        HttpError::unknown(
            cloudcord_runtime::http_error::codes::UNKNOWN_APPLICATION,
            "Application",
        )
    })?;
    let actor = caller.actor();
    let token_id = state.next_id().get();
    let outcome = state
        .bus()
        .execute(
            AggregateRef {
                kind: AggregateType::User,
                id: bot_id.0,
            },
            key.command_id(&actor)?,
            actor,
            UserCommand::ResetBotToken { token_id },
        )
        .await?;
    if let Outcome::Rejected { .. } = outcome {
        return respond(outcome);
    }
    // Read-your-writes: the new token must verify at once (and the old one must
    // not). A repeated key answers with the generation the original reset set.
    let current = state
        .accounts()
        .wait_until(state.projection_timeout(), |view| {
            view.user(bot_id)
                .and_then(|account| account.bot_token_id)
                .filter(|current| key.is_given() || *current == token_id)
        })
        .await?;
    let token = bot_token::mint(bot_id, BotTokenId(current), state.issuer().signing_key());
    Ok(Json(BotToken { token }).into_response())
}

described_by_schemars!(RegisterRequest, LoginRequest, CreateApplicationRequest);

#[cfg(test)]
mod tests {
    use cloudcord_schemas::username_claim::normalize_username;

    use super::bot_username;

    #[test]
    fn bot_usernames_are_valid_usernames() {
        for name in ["My Bot!", "Discord Helper", "a..b", "Ünïcode ✨ bot"] {
            let username = bot_username(name, 1_234_567_890_123);
            assert!(normalize_username(&username).is_ok(), "{name} → {username}");
        }
    }
}
