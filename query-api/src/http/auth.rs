//! [`Caller`]: who is asking, from the `Authorization` header, verified with the
//! runtime's token pieces and the public keys alone (query-api never holds the
//! signing key).
//!
//! * `Bearer <access token>` — an RFC 9068 JWT checked against the issuer's JWKS;
//!   also accepted bare, as Discord's clients send user tokens.
//! * `Bot <token>` — a self-verifying bot token whose user must be a bot in the read
//!   models, and whose generation must be the bot's current one there (a token its
//!   owner reset is refused once the reset is projected).
//!
//! Anything else is `401 {"message": "401: Unauthorized", "code": 0}`.
//!
//! A third-party application's OAuth2 access token is a [`Caller`] nowhere; the two
//! routes Discord opens to OAuth2 scopes take a [`GrantedCaller`] instead, which holds
//! it to its scopes.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use cloudcord_runtime::auth::{Credential, CredentialError, Grant};
use cloudcord_runtime::http_error::HttpError;
use cloudcord_runtime::telemetry::ErrorChain;
use cloudcord_schemas::ids::UserId;

use super::ApiContext;
use crate::read_models::postgres::key;

/// The authenticated caller of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// The user or bot.
    pub user_id: UserId,
    /// Whether it authenticated with a bot token.
    pub bot: bool,
}

impl Caller {
    /// The caller's id as stored in the read models.
    pub fn key(&self) -> i64 {
        // A verified token names an id the issuer handed out, and ids stay below
        // 2^63; one that does not fit matches no row.
        key(self.user_id.0).unwrap_or(-1)
    }
}

impl FromRequestParts<ApiContext> for Caller {
    type Rejection = HttpError;

    async fn from_request_parts(
        parts: &mut Parts,
        context: &ApiContext,
    ) -> Result<Self, HttpError> {
        let credential = context
            .verifier()
            .authenticate(authorization(parts)?)
            .map_err(refused)?;
        caller_of(credential, context).await
    }
}

/// The caller of the routes Discord opens to OAuth2 applications (`GET /users/@me`
/// with `identify`, `GET /users/@me/guilds` with `guilds`): a full credential, or a
/// third-party application's access token, held to its scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantedCaller {
    caller: Caller,
    /// The grant's scopes; `None` for a full credential.
    scopes: Option<Vec<String>>,
}

impl GrantedCaller {
    /// The caller, if the grant includes `scope`; 403 Missing Access otherwise.
    pub fn with_scope(&self, scope: &str) -> Result<Caller, HttpError> {
        if self.grants(scope) {
            Ok(self.caller)
        } else {
            Err(HttpError::missing_access())
        }
    }

    /// Whether the grant includes `scope` (a full credential includes every one).
    pub fn grants(&self, scope: &str) -> bool {
        self.scopes
            .as_ref()
            .is_none_or(|scopes| scopes.iter().any(|granted| granted == scope))
    }
}

impl FromRequestParts<ApiContext> for GrantedCaller {
    type Rejection = HttpError;

    async fn from_request_parts(
        parts: &mut Parts,
        context: &ApiContext,
    ) -> Result<Self, HttpError> {
        match context
            .verifier()
            .authenticate_grant(authorization(parts)?)
            .map_err(refused)?
        {
            Grant::Full(credential) => Ok(Self {
                caller: caller_of(credential, context).await?,
                scopes: None,
            }),
            Grant::Scoped(access) => Ok(Self {
                caller: Caller {
                    user_id: access.user_id,
                    bot: false,
                },
                scopes: Some(access.scopes),
            }),
        }
    }
}

fn authorization(parts: &Parts) -> Result<&str, HttpError> {
    parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .ok_or(HttpError::Unauthorized)
}

fn refused(error: CredentialError) -> HttpError {
    tracing::debug!(error = %ErrorChain(&error), "credential refused");
    HttpError::Unauthorized
}

/// The caller a verified credential names. The signature proves a bot token was
/// minted; only the read models know whether it is still the bot's current one (a
/// reset voids older ones).
async fn caller_of(credential: Credential, context: &ApiContext) -> Result<Caller, HttpError> {
    let caller = Caller {
        user_id: credential.user_id(),
        bot: credential.is_bot(),
    };
    if let Credential::Bot(claims) = &credential {
        let current = context.read_models().bot_token_id(caller.key()).await?;
        if current != i64::try_from(claims.token_id.0).ok() {
            return Err(HttpError::Unauthorized);
        }
    }
    Ok(caller)
}
