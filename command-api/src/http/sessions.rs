//! A user's sessions (sign-ins, each a refresh-token family), in the shapes of
//! Discord's own client API:
//!
//! * `GET /auth/sessions`: `{"user_sessions": [{"id_hash", "approx_last_used_time",
//!   "client_info", "current"}]}`, the active sessions, most recently used first.
//! * `POST /auth/sessions/logout` `{"session_id_hashes": [...]}`: ends those of the
//!   caller's sessions (others' hashes are ignored), 204.
//! * `POST /auth/logout`: ends the session of the token presented, 204.
//!
//! Only the user themself, with a first-party token whose session is live, may do
//! this: bots have no sessions and an application's OAuth2 token does not act as the
//! user.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cloudcord_runtime::auth::TokenKind;
use cloudcord_runtime::described_by_schemars;
use cloudcord_runtime::http_error::HttpError;
use cloudcord_runtime::openapi::Refusals;
use schemars::JsonSchema;
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiState;
use super::body::Body;
use super::oauth2::bearer;
use super::replies::{ClientInfo, UserSession, UserSessions};
use crate::oauth::secret::session_handle;
use crate::oauth::store::{Session, reason};

/// The session routes under `/api/v10`.
pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(logout_sessions))
        .routes(routes!(logout))
}

/// The caller's first-party access token (a live session's, if it names one).
async fn first_party(
    state: &ApiState,
    headers: &HeaderMap,
) -> Result<cloudcord_runtime::auth::AccessToken, HttpError> {
    let access = bearer(state, headers).await?;
    if access.kind != TokenKind::Session {
        return Err(HttpError::missing_access());
    }
    Ok(access)
}

/// The active sessions of `user_id`.
async fn active_sessions(
    state: &ApiState,
    user_id: cloudcord_schemas::ids::UserId,
) -> Result<Vec<Session>, HttpError> {
    state
        .oauth()
        .active_sessions(user_id)
        .await
        .map_err(|error| HttpError::internal("listing sessions", error))
}

#[utoipa::path(
    get,
    path = "/auth/sessions",
    tag = "auth",
    responses((status = 200, description = "The caller's live sessions", body = UserSessions), Refusals),
    security(("Bearer" = []))
)]
async fn list(State(state): State<ApiState>, headers: HeaderMap) -> Result<Response, HttpError> {
    let access = first_party(&state, &headers).await?;
    let sessions = active_sessions(&state, access.user_id).await?;
    let user_sessions = sessions
        .into_iter()
        .map(|session| UserSession {
            id_hash: session_handle(&session.id),
            approx_last_used_time: session.last_used_at.format(&Rfc3339).ok(),
            created_at: session.created_at.format(&Rfc3339).ok(),
            current: access.session_id.as_deref() == Some(session.id.as_str()),
            client_info: ClientInfo {
                client_id: session.client_id,
                user_agent: session.user_agent,
                scopes: session.scopes,
            },
        })
        .collect();
    Ok(Json(UserSessions { user_sessions }).into_response())
}

#[derive(Debug, Deserialize, JsonSchema)]
struct LogoutSessions {
    session_id_hashes: Vec<String>,
}

#[utoipa::path(
    post,
    path = "/auth/sessions/logout",
    tag = "auth",
    request_body = LogoutSessions,
    responses((status = 204, description = "Done"), Refusals),
    security(("Bearer" = []))
)]
async fn logout_sessions(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Body(request): Body<LogoutSessions>,
) -> Result<Response, HttpError> {
    let access = first_party(&state, &headers).await?;
    let sessions = active_sessions(&state, access.user_id).await?;
    for session in sessions.iter().filter(|session| {
        request
            .session_id_hashes
            .contains(&session_handle(&session.id))
    }) {
        let ended = state
            .oauth()
            .revoke_session(&session.id, reason::USER_REVOKED)
            .await
            .map_err(|error| HttpError::internal("revoking a session", error))?;
        if ended {
            state.oauth_metrics().session_revoked(reason::USER_REVOKED);
            tracing::info!(
                target: "cloudcord_command_api::security",
                event = "session_revoked",
                user_id = %access.user_id,
                client_id = %session.client_id,
                "the user ended one of their sessions"
            );
        }
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Ends every session of `user_id` (`why`: a password or two-factor change) and
/// starts one for the device that made the change: its (access, refresh) tokens.
pub(crate) async fn replace_all(
    state: &ApiState,
    user_id: cloudcord_schemas::ids::UserId,
    why: &'static str,
    headers: &HeaderMap,
) -> Result<(String, String), HttpError> {
    let ended = state
        .oauth()
        .revoke_all_sessions(user_id, why)
        .await
        .map_err(|error| HttpError::internal("ending sessions", error))?;
    for _ in 0..ended {
        state.oauth_metrics().session_revoked(why);
    }
    tracing::info!(
        target: "cloudcord_command_api::security",
        event = "sessions_replaced",
        %user_id,
        reason = why,
        sessions_ended = ended,
        "every session ended after a security change"
    );
    super::auth::start_session(state, user_id, headers).await
}

#[utoipa::path(
    post,
    path = "/auth/logout",
    tag = "auth",
    responses((status = 204, description = "Done"), Refusals),
    security(("Bearer" = []))
)]
async fn logout(State(state): State<ApiState>, headers: HeaderMap) -> Result<Response, HttpError> {
    let access = first_party(&state, &headers).await?;
    if let Some(session_id) = &access.session_id {
        let ended = state
            .oauth()
            .revoke_session(session_id, reason::LOGOUT)
            .await
            .map_err(|error| HttpError::internal("revoking a session", error))?;
        if ended {
            state.oauth_metrics().session_revoked(reason::LOGOUT);
        }
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

described_by_schemars!(LogoutSessions);
