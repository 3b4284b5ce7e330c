//! The OAuth 2.0 / OpenID Connect provider's routes, at Discord's paths:
//!
//! * `GET /.well-known/openid-configuration`: discovery (OpenID Connect Discovery 1.0).
//! * `GET|POST /oauth2/authorize`: sign-in and consent ([`authorize`]); for the
//!   `bot` scope, the web client's page and `POST /api/v10/oauth2/authorize` ([`bot`]).
//! * `POST /api/v10/oauth2/token`: `authorization_code` (PKCE S256 required) and
//!   `refresh_token` (rotated on every use; a reused one revokes its family). No
//!   implicit, password or client-credentials grant. Errors in RFC 6749 §5.2's shape
//!   (`{"error", "error_description"}`), not Discord's.
//! * `POST /api/v10/oauth2/token/revoke`: RFC 7009 revocation (of a refresh token,
//!   or of an access token's session).
//! * `GET|POST /api/v10/oauth2/userinfo`: OpenID Connect UserInfo for the token's
//!   scopes.
//! * The JWKS (`/.well-known/jwks.json`, `/api/v10/oauth2/keys`) is served by
//!   [`super::auth`].
//!
//! The state behind them (codes, sessions, refresh tokens) and why it lives in
//! PostgreSQL: [`crate::oauth`].

pub mod authorize;
pub mod bot;
pub mod page;
pub mod params;

use std::time::SystemTime;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, USER_AGENT};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cloudcord_runtime::auth::{AccessToken, NewAccessToken, TokenKind, access_token_hash};
use cloudcord_runtime::http_error::HttpError;
use cloudcord_runtime::telemetry::ErrorChain;
use cloudcord_schemas::ids::UserId;
use serde_json::{Value, json};

use self::params::{ClientCredentials, CredentialsError, Params, client_credentials};
use super::ApiState;
use crate::oauth::store::{GrantError, Presenter, Revocation, Session, Started, reason};
use crate::oauth::{ClientSettings, Scope, Scopes};

/// `/.well-known/openid-configuration`, outside `/api`.
pub fn discovery_routes() -> Router<ApiState> {
    Router::new().route("/.well-known/openid-configuration", get(discovery))
}

/// `/oauth2/authorize`, outside `/api` (rate limited like the API: its form checks
/// passwords).
pub fn authorize_routes() -> Router<ApiState> {
    Router::new().route(
        "/oauth2/authorize",
        get(authorize::show).post(authorize::submit),
    )
}

/// The token, revocation and userinfo endpoints under `/api/v10`.
pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/oauth2/token", post(token))
        .route("/oauth2/token/revoke", post(revoke))
        .route("/oauth2/userinfo", get(userinfo).post(userinfo))
}

/// `GET /.well-known/openid-configuration`.
async fn discovery(State(state): State<ApiState>) -> Json<Value> {
    let issuer = state.issuer().issuer();
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth2/authorize"),
        "token_endpoint": format!("{issuer}/api/v10/oauth2/token"),
        "revocation_endpoint": format!("{issuer}/api/v10/oauth2/token/revoke"),
        "userinfo_endpoint": format!("{issuer}/api/v10/oauth2/userinfo"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "scopes_supported": Scope::ALL
            .iter()
            .map(|scope| scope.as_str())
            .chain([bot::BOT_SCOPE])
            .collect::<Vec<_>>(),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid",
            "preferred_username", "name", "email", "email_verified"
        ],
        "authorization_response_iss_parameter_supported": true,
        "prompt_values_supported": ["none", "login", "consent"],
    }))
}

/// An RFC 6749 §5.2 error from the token or revocation endpoint.
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    /// Answer a failed `Basic` authentication with `WWW-Authenticate`.
    basic_challenge: bool,
}

impl OAuthError {
    fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
            basic_challenge: false,
        }
    }

    fn invalid_request(description: impl Into<String>) -> Self {
        Self::new("invalid_request", description)
    }

    fn invalid_grant() -> Self {
        // One description for every reason: the detail is logged, not told.
        Self::new(
            "invalid_grant",
            "the code or refresh token is invalid, expired, revoked or was issued to another client",
        )
    }

    fn invalid_client(basic: bool) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: "client authentication failed".to_owned(),
            basic_challenge: basic,
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(json!({"error": self.error, "error_description": self.description})),
        )
            .into_response();
        let headers = response.headers_mut();
        no_store(headers);
        if self.basic_challenge {
            headers.insert(
                "www-authenticate",
                HeaderValue::from_static("Basic realm=\"cloudcord\""),
            );
        }
        response
    }
}

/// Token responses must not be cached (RFC 6749 §5.1).
fn no_store(headers: &mut HeaderMap) {
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
}

/// Why a token request failed: the client's mistake, or ours.
enum Failure {
    OAuth(OAuthError),
    Internal(HttpError),
}

impl From<OAuthError> for Failure {
    fn from(error: OAuthError) -> Self {
        Self::OAuth(error)
    }
}

impl From<HttpError> for Failure {
    fn from(error: HttpError) -> Self {
        Self::Internal(error)
    }
}

/// The form parameters of a token or revocation request.
fn form(headers: &HeaderMap, body: &[u8]) -> Result<Params, OAuthError> {
    let form_encoded = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| {
            media
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_encoded {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    Params::parse(body).map_err(|repeated| OAuthError::invalid_request(repeated.to_string()))
}

/// The registered client the request authenticates as.
fn authenticate_client<'a>(
    state: &'a ApiState,
    headers: &HeaderMap,
    params: &Params,
) -> Result<&'a ClientSettings, OAuthError> {
    let credentials: ClientCredentials = match client_credentials(headers, params) {
        Ok(credentials) => credentials,
        Err(CredentialsError::Missing) => return Err(OAuthError::invalid_client(false)),
        Err(CredentialsError::Malformed) => return Err(OAuthError::invalid_client(true)),
    };
    state
        .clients()
        .get(&credentials.client_id)
        .filter(|client| client.authenticates(credentials.secret.as_deref()))
        .ok_or_else(|| {
            tracing::warn!(
                target: "cloudcord_command_api::security",
                event = "client_authentication_failed",
                client_id = %credentials.client_id,
                "token request refused: client authentication failed"
            );
            OAuthError::invalid_client(credentials.basic)
        })
}

/// `POST /api/v10/oauth2/token`.
async fn token(State(state): State<ApiState>, headers: HeaderMap, body: Bytes) -> Response {
    match exchange(&state, &headers, &body).await {
        Ok(response) => response,
        Err(Failure::OAuth(error)) => {
            state.oauth_metrics().refused_token_requests.inc();
            error.into_response()
        }
        Err(Failure::Internal(error)) => error.into_response(),
    }
}

async fn exchange(state: &ApiState, headers: &HeaderMap, body: &[u8]) -> Result<Response, Failure> {
    let params = form(headers, body)?;
    let client = authenticate_client(state, headers, &params)?;
    let presenter = Presenter {
        client_id: &client.client_id,
        first_party: client.first_party,
        user_agent: headers
            .get(USER_AGENT)
            .and_then(|value| value.to_str().ok()),
    };
    match params.get("grant_type") {
        Some("authorization_code") => {
            let code = params
                .get("code")
                .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
            let redirect_uri = params
                .get("redirect_uri")
                .ok_or_else(|| OAuthError::invalid_request("redirect_uri is required"))?;
            let verifier = params
                .get("code_verifier")
                .ok_or_else(|| OAuthError::invalid_request("code_verifier is required (PKCE)"))?;
            let redeemed = state
                .oauth()
                .redeem_code(
                    code,
                    redirect_uri,
                    verifier,
                    presenter,
                    state.oauth_settings().session_ttl(),
                )
                .await
                .map_err(|error| grant_failure(state, client, error))?;
            let scopes = parse_stored_scopes(&redeemed.started.session)?;
            respond_with_tokens(
                state,
                &redeemed.started,
                &scopes,
                redeemed.nonce.as_deref(),
                "authorization_code",
            )
            .await
        }
        Some("refresh_token") => {
            let refresh_token = params
                .get("refresh_token")
                .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
            // Narrowing is allowed (RFC 6749 §6); checked before the token is spent.
            let narrowed = params
                .get("scope")
                .map(Scopes::parse)
                .transpose()
                .map_err(|unknown| OAuthError::new("invalid_scope", unknown.to_string()))?;
            let started = state
                .oauth()
                .refresh(refresh_token, presenter)
                .await
                .map_err(|error| grant_failure(state, client, error))?;
            let granted = parse_stored_scopes(&started.session)?;
            let scopes = match narrowed {
                Some(narrowed) if !narrowed.is_subset_of(&granted) => {
                    return Err(OAuthError::new(
                        "invalid_scope",
                        "the requested scope exceeds the granted one",
                    )
                    .into());
                }
                Some(narrowed) => narrowed,
                None => granted,
            };
            respond_with_tokens(state, &started, &scopes, None, "refresh_token").await
        }
        Some(_) => Err(OAuthError::new(
            "unsupported_grant_type",
            "grant_type must be authorization_code or refresh_token",
        )
        .into()),
        None => Err(OAuthError::invalid_request("grant_type is required").into()),
    }
}

/// Logs and counts why a code or refresh token granted nothing.
fn grant_failure(state: &ApiState, client: &ClientSettings, error: GrantError) -> Failure {
    match error {
        GrantError::Invalid(why) => {
            tracing::info!(
                target: "cloudcord_command_api::security",
                event = "invalid_grant",
                client_id = %client.client_id,
                reason = why,
                "token request refused"
            );
            OAuthError::invalid_grant().into()
        }
        GrantError::CodeReuse {
            user_id,
            revoked_session,
        } => {
            state.oauth_metrics().code_reuse.inc();
            if revoked_session.is_some() {
                state.oauth_metrics().session_revoked(reason::CODE_REUSE);
            }
            tracing::warn!(
                target: "cloudcord_command_api::security",
                event = "code_reuse",
                %user_id,
                client_id = %client.client_id,
                session_revoked = revoked_session.is_some(),
                "an authorization code was presented twice; its session is revoked"
            );
            OAuthError::invalid_grant().into()
        }
        GrantError::RefreshReuse {
            user_id,
            session_id: _,
        } => {
            state.oauth_metrics().refresh_token_reuse.inc();
            state
                .oauth_metrics()
                .session_revoked(reason::REFRESH_TOKEN_REUSE);
            tracing::warn!(
                target: "cloudcord_command_api::security",
                event = "refresh_token_reuse",
                %user_id,
                client_id = %client.client_id,
                "a rotated refresh token was presented again; its whole family is revoked"
            );
            OAuthError::invalid_grant().into()
        }
        error @ (GrantError::Database(_) | GrantError::Random(_)) => {
            HttpError::internal("redeeming a grant", error).into()
        }
    }
}

fn parse_stored_scopes(session: &Session) -> Result<Scopes, Failure> {
    Scopes::parse(&session.scopes)
        .map_err(|error| HttpError::internal("reading a session's scopes", error).into())
}

/// The profile claims a user's tokens may carry.
struct Profile {
    username: String,
    global_name: Option<String>,
    email: Option<String>,
}

async fn profile(state: &ApiState, user_id: UserId) -> Result<Option<Profile>, HttpError> {
    state
        .accounts()
        .lookup(state.projection_timeout(), |view| {
            view.user(user_id).map(|account| Profile {
                username: account.profile.username.clone(),
                global_name: account.profile.global_name.clone(),
                email: account.email.clone(),
            })
        })
        .await
}

/// The access token (and ID token, with `openid`) for `started`'s session, as a
/// token response.
async fn respond_with_tokens(
    state: &ApiState,
    started: &Started,
    scopes: &Scopes,
    nonce: Option<&str>,
    grant: &'static str,
) -> Result<Response, Failure> {
    let session = &started.session;
    let now = SystemTime::now();
    let access = state
        .issuer()
        .issue_in_session(
            &NewAccessToken {
                user_id: session.user_id,
                client_id: session.client_id.clone(),
                scopes: scopes.names(),
                kind: if session.first_party {
                    TokenKind::Session
                } else {
                    TokenKind::OAuth2
                },
            },
            Some(&session.id),
            now,
        )
        .map_err(|error| HttpError::internal("issuing an access token", error))?;
    let mut body = json!({
        "access_token": access.token,
        "token_type": "Bearer",
        "expires_in": state.issuer().ttl().as_secs(),
        "refresh_token": started.refresh_token,
        "scope": scopes.to_string(),
    });
    if scopes.contains(Scope::OpenId) {
        let Some(profile) = profile(state, session.user_id).await? else {
            return Err(OAuthError::invalid_grant().into());
        };
        let mut claims = state.issuer().id_token_claims(
            session.user_id,
            &session.client_id,
            session.auth_time.into(),
            now,
        );
        claims.nonce = nonce.map(str::to_owned);
        claims.at_hash = Some(access_token_hash(&access.token));
        claims.sid = Some(session.id.clone());
        if scopes.contains(Scope::Identify) {
            claims.preferred_username = Some(profile.username.clone());
            claims.name = profile.global_name.or(Some(profile.username));
        }
        if scopes.contains(Scope::Email) && profile.email.is_some() {
            claims.email = profile.email;
            claims.email_verified = Some(false);
        }
        let id_token = state
            .issuer()
            .sign_id_token(&claims)
            .map_err(|error| HttpError::internal("signing an ID token", error))?;
        body["id_token"] = Value::String(id_token);
    }
    state.oauth_metrics().issued(grant);
    let mut response = Json(body).into_response();
    no_store(response.headers_mut());
    Ok(response)
}

/// `POST /api/v10/oauth2/token/revoke` (RFC 7009): a refresh token ends its session;
/// an access token ends the session it belongs to (the token itself stays valid
/// until it expires: access tokens are verified without a database). Unknown tokens
/// answer 200 as well (§2.2).
async fn revoke(State(state): State<ApiState>, headers: HeaderMap, body: Bytes) -> Response {
    match revoke_token(&state, &headers, &body).await {
        Ok(()) => {
            let mut response = StatusCode::OK.into_response();
            no_store(response.headers_mut());
            response
        }
        Err(Failure::OAuth(error)) => error.into_response(),
        Err(Failure::Internal(error)) => error.into_response(),
    }
}

async fn revoke_token(state: &ApiState, headers: &HeaderMap, body: &[u8]) -> Result<(), Failure> {
    let params = form(headers, body)?;
    let client = authenticate_client(state, headers, &params)?;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let other_client = || {
        OAuthError::new(
            "unauthorized_client",
            "the token was issued to another client",
        )
    };
    let revoked = state
        .oauth()
        .revoke_refresh_token(token, &client.client_id)
        .await
        .map_err(|error| HttpError::internal("revoking a refresh token", error))?;
    let session = match revoked {
        Revocation::Revoked {
            session_id,
            user_id,
        } => Some((session_id, user_id)),
        Revocation::OtherClient => return Err(other_client().into()),
        Revocation::Unknown => match state.verifier().verify(token) {
            Ok(access) if access.client_id != client.client_id => {
                return Err(other_client().into());
            }
            Ok(access) => access.session_id.map(|sid| (sid, access.user_id)),
            Err(_) => None,
        },
    };
    if let Some((session_id, user_id)) = session {
        let ended = state
            .oauth()
            .revoke_session(&session_id, reason::REVOKED)
            .await
            .map_err(|error| HttpError::internal("revoking a session", error))?;
        if ended {
            state.oauth_metrics().session_revoked(reason::REVOKED);
        }
        tracing::info!(
            target: "cloudcord_command_api::security",
            event = "token_revoked",
            %user_id,
            client_id = %client.client_id,
            "a client revoked a token; its session is ended"
        );
    }
    Ok(())
}

/// A bearer access token of any kind (first-party or OAuth2) whose session, if it
/// names one, has not been revoked.
pub async fn bearer(state: &ApiState, headers: &HeaderMap) -> Result<AccessToken, HttpError> {
    let token = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim())
        })
        .ok_or(HttpError::Unauthorized)?;
    let access = state.verifier().verify(token).map_err(|error| {
        tracing::debug!(error = %ErrorChain(&error), "access token refused");
        HttpError::Unauthorized
    })?;
    if let Some(session_id) = &access.session_id {
        let live = state
            .oauth()
            .session(session_id)
            .await
            .map_err(|error| HttpError::internal("looking up a session", error))?
            .is_some_and(|session| !session.revoked && session.user_id == access.user_id);
        if !live {
            return Err(HttpError::Unauthorized);
        }
    }
    Ok(access)
}

/// `GET|POST /api/v10/oauth2/userinfo`: the claims the token's scopes allow
/// (`openid` or `identify` needed; a first-party token sees all).
async fn userinfo(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    match claims_for(&state, &headers).await {
        Ok(claims) => {
            let mut response = Json(claims).into_response();
            no_store(response.headers_mut());
            response
        }
        Err(error) => {
            let unauthorized = matches!(error, HttpError::Unauthorized);
            let mut response = error.into_response();
            if unauthorized {
                response.headers_mut().insert(
                    "www-authenticate",
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            response
        }
    }
}

async fn claims_for(state: &ApiState, headers: &HeaderMap) -> Result<Value, HttpError> {
    let access = bearer(state, headers).await?;
    let full = access.kind == TokenKind::Session;
    let granted = |scope: Scope| full || access.has_scope(scope.as_str());
    if !granted(Scope::OpenId) && !granted(Scope::Identify) {
        return Err(HttpError::missing_access());
    }
    let profile = profile(state, access.user_id)
        .await?
        .ok_or(HttpError::Unauthorized)?;
    let mut claims = json!({ "sub": access.user_id.to_string() });
    if granted(Scope::Identify) {
        claims["preferred_username"] = Value::String(profile.username.clone());
        claims["name"] = Value::String(profile.global_name.unwrap_or(profile.username));
    }
    if granted(Scope::Email)
        && let Some(email) = profile.email
    {
        claims["email"] = Value::String(email);
        claims["email_verified"] = Value::Bool(false);
    }
    Ok(claims)
}
