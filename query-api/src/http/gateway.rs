//! `GET /gateway` (anyone) and `GET /gateway/bot` (bots): where the gateway is.
//! CloudCord runs one shard, and does not limit session starts yet, so the session
//! start limit reports Discord's default allowance, all of it remaining.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use cloudcord_runtime::http_error::HttpError;
use serde_json::{Value, json};

use super::ApiContext;
use super::auth::Caller;

/// Discord's default daily session starts.
const SESSION_STARTS: u32 = 1000;

/// The gateway routes.
pub fn router() -> Router<ApiContext> {
    Router::new()
        .route("/gateway", get(gateway))
        .route("/gateway/bot", get(gateway_bot))
}

/// `GET /gateway`.
async fn gateway(State(context): State<ApiContext>) -> Json<Value> {
    Json(json!({ "url": context.gateway_url() }))
}

/// `GET /gateway/bot`: a bot token is required (a user's token is refused with
/// 401, as Discord does).
async fn gateway_bot(
    State(context): State<ApiContext>,
    caller: Caller,
) -> Result<Json<Value>, HttpError> {
    if !caller.bot {
        return Err(HttpError::Unauthorized);
    }
    Ok(Json(json!({
        "url": context.gateway_url(),
        "shards": 1,
        "session_start_limit": {
            "total": SESSION_STARTS,
            "remaining": SESSION_STARTS,
            "reset_after": 0,
            "max_concurrency": 1,
        },
    })))
}
