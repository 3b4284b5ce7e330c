//! `GET /gateway` (anyone) and `GET /gateway/bot` (bots): where the gateway is and,
//! for a bot, its session start limit as the gateway counts it
//! ([`crate::read_models::session_starts`]). CloudCord runs one shard.

use axum::Json;
use axum::extract::State;
use cloudcord_runtime::http_error::HttpError;
use cloudcord_runtime::openapi::Refusals;
use cloudcord_runtime::openapi::objects::{GatewayBotResponse, GatewayResponse};
use serde_json::{Value, json};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiContext;
use super::auth::Caller;

/// The gateway routes.
pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(gateway))
        .routes(routes!(gateway_bot))
}

/// `GET /gateway`.
#[utoipa::path(
    get,
    path = "/gateway",
    tag = "gateway",
    responses((status = 200, description = "Where the gateway is", body = GatewayResponse), Refusals),
    security(())
)]
async fn gateway(State(context): State<ApiContext>) -> Json<Value> {
    Json(json!({ "url": context.gateway_url() }))
}

/// `GET /gateway/bot`: a bot token is required (a user's token is refused with
/// 401, as Discord does).
#[utoipa::path(
    get,
    path = "/gateway/bot",
    tag = "gateway",
    responses((status = 200, description = "Where the gateway is, and the bot's session start limit", body = GatewayBotResponse), Refusals),
    security(("BotToken" = []))
)]
async fn gateway_bot(
    State(context): State<ApiContext>,
    caller: Caller,
) -> Result<Json<Value>, HttpError> {
    if !caller.bot {
        return Err(HttpError::Unauthorized);
    }
    let limit = context.session_starts().limit(caller.key()).await?;
    Ok(Json(json!({
        "url": context.gateway_url(),
        "shards": 1,
        "session_start_limit": {
            "total": limit.total,
            "remaining": limit.remaining,
            "reset_after": limit.reset_after,
            "max_concurrency": limit.max_concurrency,
        },
    })))
}
