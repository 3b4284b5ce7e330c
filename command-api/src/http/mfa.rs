//! TOTP two-factor authentication (RFC 6238) with recovery codes, in the shapes of
//! Discord's client API:
//!
//! * `POST /users/@me/mfa/totp/enable` `{password, secret, code}`: the client makes
//!   the base32 secret (and shows it as a QR code); the password and a code from
//!   the app prove both. Answers `{token, refresh_token, backup_codes: [{user_id,
//!   code, consumed}]}`: the recovery codes are shown this once, and every other
//!   session ends (like a password change).
//! * `POST /users/@me/mfa/totp/disable` `{code}`: a code or a recovery code; every
//!   other session ends, `{token, refresh_token}`.
//! * `POST /auth/login` for an account with two-factor answers `{token: null, mfa:
//!   true, totp: true, sms: false, ticket}`; `POST /auth/mfa/totp` `{code, ticket}`
//!   completes it with `{user_id, token, refresh_token}`. A ticket lives five
//!   minutes and survives five wrong codes.
//! * The `/oauth2/authorize` page asks for the code in the same form.
//!
//! A code is good once (the newest accepted step is stored); a recovery code is
//! good once. Wrong codes count as failed logins.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cloudcord_runtime::auth::password::verify_password;
use cloudcord_runtime::described_by_schemars;
use cloudcord_runtime::http_error::{FormErrors, HttpError};
use cloudcord_runtime::openapi::Refusals;
use cloudcord_schemas::ids::UserId;
use schemars::JsonSchema;
use serde::Deserialize;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiState;
use super::auth::Caller;
use super::body::Body;
use super::replies::{
    BackupCode, LoginAnswer, MfaEnabled, SecondFactorNeeded, SessionTokens, SignedIn,
};
use crate::oauth::totp::{
    TotpSecret, looks_like_totp, new_recovery_codes, normalize_recovery_code,
};

/// How long a login ticket waits for its second factor.
const TICKET_TTL: Duration = Duration::from_secs(300);

/// Discord's `60008 Invalid two-factor code`.
fn invalid_code() -> HttpError {
    HttpError::api(StatusCode::BAD_REQUEST, 60008, "Invalid two-factor code")
}

/// The MFA routes under `/api/v10`.
pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(enable))
        .routes(routes!(disable))
        .routes(routes!(complete_login))
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// Whether `user_id` has two-factor authentication on.
pub async fn enabled(state: &ApiState, user_id: UserId) -> Result<bool, HttpError> {
    Ok(state
        .oauth()
        .totp(user_id)
        .await
        .map_err(|error| HttpError::internal("reading two-factor settings", error))?
        .is_some())
}

/// Checks and spends `code` (a TOTP code or a recovery code) of `user_id`. `false`
/// for a wrong, replayed or spent code, or when two-factor is off.
pub async fn check_code(state: &ApiState, user_id: UserId, code: &str) -> Result<bool, HttpError> {
    let store = state.oauth();
    let internal = |error| HttpError::internal("checking a two-factor code", error);
    let Some(stored) = store.totp(user_id).await.map_err(internal)? else {
        return Ok(false);
    };
    if looks_like_totp(code) {
        let secret = TotpSecret::parse(&stored.secret)
            .map_err(|error| HttpError::internal("reading a TOTP secret", error))?;
        let Some(step) = secret.matching_step(code, now_unix()) else {
            return Ok(false);
        };
        return store.use_totp_step(user_id, step).await.map_err(internal);
    }
    store
        .use_recovery_code(user_id, &normalize_recovery_code(code))
        .await
        .map_err(internal)
}

/// Counts and logs a wrong second factor.
pub fn failed_code(state: &ApiState, user_id: UserId, endpoint: &'static str) {
    state.oauth_metrics().failed_login(endpoint);
    tracing::warn!(
        target: "cloudcord_command_api::security",
        event = "failed_login",
        endpoint,
        %user_id,
        "sign-in refused: wrong two-factor code"
    );
}

/// A ticket for the second factor of `user_id`'s password login: the login answer.
pub async fn login_ticket(state: &ApiState, user_id: UserId) -> Result<Response, HttpError> {
    let ticket = state
        .oauth()
        .create_ticket(user_id, TICKET_TTL)
        .await
        .map_err(|error| HttpError::internal("creating a login ticket", error))?;
    Ok(Json(LoginAnswer::SecondFactorNeeded(SecondFactorNeeded {
        user_id,
        token: None,
        mfa: true,
        totp: true,
        sms: false,
        backup: true,
        ticket,
    }))
    .into_response())
}

#[derive(Debug, Deserialize, JsonSchema)]
struct EnableRequest {
    password: String,
    secret: String,
    code: String,
}

#[utoipa::path(
    post,
    path = "/users/@me/mfa/totp/enable",
    tag = "auth",
    request_body = EnableRequest,
    responses((status = 200, description = "Two-factor authentication is on", body = MfaEnabled), Refusals),
    security(("Bearer" = []))
)]
async fn enable(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    Body(request): Body<EnableRequest>,
) -> Result<Response, HttpError> {
    let user_id = caller.person()?;
    let secret = TotpSecret::parse(&request.secret).map_err(|invalid| {
        FormErrors::single("secret", "TWO_FA_SECRET_INVALID", invalid.to_string())
    })?;
    let hash = state
        .accounts()
        .lookup(state.projection_timeout(), |view| {
            view.user(user_id)
                .and_then(|account| account.password_hash.clone())
        })
        .await?
        .ok_or(HttpError::Unauthorized)?;
    let password = request.password;
    let matches = state
        .hash_work(move || verify_password(&password, &hash))
        .await?
        .map_err(|error| HttpError::internal("verifying a password", error))?;
    if !matches {
        state.oauth_metrics().failed_login("mfa_enable");
        return Err(FormErrors::single(
            "password",
            "PASSWORD_DOES_NOT_MATCH",
            "Password does not match.",
        )
        .into());
    }
    let Some(step) = secret.matching_step(&request.code, now_unix()) else {
        failed_code(&state, user_id, "mfa_enable");
        return Err(invalid_code());
    };
    let codes = new_recovery_codes()
        .map_err(|error| HttpError::internal("making recovery codes", error))?;
    let stored: Vec<String> = codes
        .iter()
        .map(|code| normalize_recovery_code(code))
        .collect();
    let enabled = state
        .oauth()
        .enable_totp(user_id, secret.as_base32(), step, &stored)
        .await
        .map_err(|error| HttpError::internal("enabling two-factor", error))?;
    if !enabled {
        return Err(HttpError::api(
            StatusCode::BAD_REQUEST,
            60001,
            "This account is already enrolled in two-factor authentication",
        ));
    }
    tracing::info!(
        target: "cloudcord_command_api::security",
        event = "mfa_enabled",
        %user_id,
        "two-factor authentication enabled"
    );
    let (token, refresh_token) =
        super::sessions::replace_all(&state, user_id, "mfa_enabled", &headers).await?;
    let backup_codes = codes
        .into_iter()
        .map(|code| BackupCode {
            user_id,
            code,
            consumed: false,
        })
        .collect();
    Ok(Json(MfaEnabled {
        token,
        refresh_token,
        backup_codes,
    })
    .into_response())
}

#[derive(Debug, Deserialize, JsonSchema)]
struct DisableRequest {
    code: String,
}

#[utoipa::path(
    post,
    path = "/users/@me/mfa/totp/disable",
    tag = "auth",
    request_body = DisableRequest,
    responses((status = 200, description = "Two-factor authentication is off; a new session", body = SessionTokens), Refusals),
    security(("Bearer" = []))
)]
async fn disable(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    Body(request): Body<DisableRequest>,
) -> Result<Response, HttpError> {
    let user_id = caller.user_id;
    if !check_code(&state, user_id, &request.code).await? {
        failed_code(&state, user_id, "mfa_disable");
        return Err(invalid_code());
    }
    state
        .oauth()
        .disable_totp(user_id)
        .await
        .map_err(|error| HttpError::internal("disabling two-factor", error))?;
    tracing::info!(
        target: "cloudcord_command_api::security",
        event = "mfa_disabled",
        %user_id,
        "two-factor authentication disabled"
    );
    let (token, refresh_token) =
        super::sessions::replace_all(&state, user_id, "mfa_disabled", &headers).await?;
    Ok(Json(SessionTokens {
        token,
        refresh_token,
    })
    .into_response())
}

#[derive(Debug, Deserialize, JsonSchema)]
struct TicketRequest {
    code: String,
    ticket: String,
}

#[utoipa::path(
    post,
    path = "/auth/mfa/totp",
    tag = "auth",
    request_body = TicketRequest,
    responses((status = 200, description = "Signed in", body = SignedIn), Refusals),
    security(())
)]
async fn complete_login(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Body(request): Body<TicketRequest>,
) -> Result<Response, HttpError> {
    let store = state.oauth();
    let user_id = store
        .ticket_user(&request.ticket)
        .await
        .map_err(|error| HttpError::internal("reading a login ticket", error))?
        .ok_or_else(|| {
            HttpError::api(StatusCode::BAD_REQUEST, 60006, "Invalid or expired ticket")
        })?;
    if !check_code(&state, user_id, &request.code).await? {
        failed_code(&state, user_id, "mfa_login");
        store
            .ticket_failed(&request.ticket)
            .await
            .map_err(|error| HttpError::internal("counting a failed code", error))?;
        return Err(invalid_code());
    }
    store
        .delete_ticket(&request.ticket)
        .await
        .map_err(|error| HttpError::internal("spending a login ticket", error))?;
    let (token, refresh_token) = super::auth::start_session(&state, user_id, &headers).await?;
    Ok(Json(SignedIn {
        user_id,
        token,
        refresh_token,
    })
    .into_response())
}

described_by_schemars!(EnableRequest, DisableRequest, TicketRequest);
