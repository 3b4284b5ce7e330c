//! `GET /channels/{channel.id}`: a guild channel the caller can see (with its
//! overwrites), or a DM the caller is a recipient of.

use axum::Json;
use axum::extract::{Path, State};
use cloudcord_runtime::http_error::HttpError;
use cloudcord_runtime::openapi::Refusals;
use cloudcord_runtime::openapi::objects::{ChannelResponse, SnowflakeType};
use cloudcord_schemas::ids::ChannelId;
use serde_json::Value;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiContext;
use super::auth::Caller;
use super::params::path_id;
use crate::access::{ChannelAccess, now_ms};
use crate::objects::{channel_object, dm_channel_object};

/// The channel route.
pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(channel))
}

/// The channel of the path as the caller sees it (see [`ChannelAccess::load`]).
pub async fn load(
    context: &ApiContext,
    raw: &str,
    caller: Caller,
) -> Result<ChannelAccess, HttpError> {
    let channel_id: ChannelId = path_id("channel_id", raw)?;
    ChannelAccess::load(
        context.read_models(),
        channel_id.0,
        caller.user_id,
        now_ms(),
    )
    .await
}

/// `GET /channels/{channel.id}`.
#[utoipa::path(
    get,
    path = "/channels/{channel_id}",
    tag = "channels",
    params(("channel_id" = SnowflakeType, Path, description = "The channel")),
    responses((status = 200, description = "The channel", body = ChannelResponse), Refusals)
)]
async fn channel(
    State(context): State<ApiContext>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Json<Value>, HttpError> {
    let access = load(&context, &raw, caller).await?;
    let read_models = context.read_models();
    let last = read_models
        .last_message_ids(&[access.id()])
        .await?
        .first()
        .map(|(_, last)| *last);
    Ok(Json(match &access {
        ChannelAccess::Guild {
            channel,
            overwrites,
            ..
        } => channel_object(channel, overwrites, last),
        ChannelAccess::Dm(dm) => {
            let other = if dm.user_low == caller.key() {
                dm.user_high
            } else {
                dm.user_low
            };
            let recipients = read_models.users(&[other]).await?;
            dm_channel_object(dm, &recipients, last)
        }
    }))
}
