//! `GET /invites/{invite.code}?with_counts`: anyone may look an invite up (as on
//! Discord, no credentials are needed); an expired or used-up invite is 404 Unknown
//! Invite. The answer carries no metadata (uses, limits): that is for the guild's
//! managers, at `GET /guilds/{id}/invites`.

use axum::Json;
use axum::extract::{Path, State};
use cloudcord_runtime::http_error::HttpError;
use cloudcord_runtime::openapi::Refusals;
use cloudcord_runtime::openapi::objects::GuildInviteResponse;
use serde_json::Value;
use time::OffsetDateTime;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiContext;
use super::params::QueryParams;
use crate::objects::{invite_expired, invite_object};

/// The invite route.
pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(invite))
}

/// `GET /invites/{invite.code}`.
#[utoipa::path(
    get,
    path = "/invites/{code}",
    tag = "invites",
    params(("code" = String, Path, description = "The invite code"), ("with_counts" = Option<bool>, Query, description = "Include approximate counts")),
    responses((status = 200, description = "The invite", body = GuildInviteResponse), Refusals)
)]
async fn invite(
    State(context): State<ApiContext>,
    Path(code): Path<String>,
    mut params: QueryParams,
) -> Result<Json<Value>, HttpError> {
    let with_counts = params.boolean("with_counts");
    params.finish()?;
    let read_models = context.read_models();
    let invite = read_models
        .invite(&code)
        .await?
        .filter(|invite| !invite_expired(invite, OffsetDateTime::now_utc()))
        .ok_or(HttpError::unknown_invite())?;
    let guild = read_models
        .guild(invite.guild_id)
        .await?
        .ok_or(HttpError::unknown_invite())?;
    let channel = read_models.channel(invite.channel_id).await?;
    let inviter = read_models.user(invite.inviter_id).await?;
    let counts = if with_counts {
        Some(read_models.member_count(guild.id).await?)
    } else {
        None
    };
    Ok(Json(invite_object(
        &invite,
        &guild,
        channel.as_ref(),
        inviter.as_ref(),
        false,
        counts,
    )))
}
