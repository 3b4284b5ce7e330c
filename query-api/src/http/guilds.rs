//! Guild routes: the guild, its channels, roles, members, bans and invites. Every
//! route needs the caller to be a member (403 Missing Access otherwise, 404 Unknown
//! Guild when there is no such guild); bans need `BAN_MEMBERS`, invites
//! `MANAGE_GUILD` or `VIEW_AUDIT_LOG` (with metadata only for `MANAGE_GUILD`), as
//! Discord's guild resource says.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use cloudcord_runtime::http_error::HttpError;
use cloudcord_runtime::openapi::Refusals;
use cloudcord_runtime::openapi::objects::{
    GuildBanResponse, GuildChannelResponse, GuildInviteResponse, GuildMemberResponse,
    GuildRoleResponse, GuildWithCountsResponse, SnowflakeType,
};
use cloudcord_schemas::ids::{GuildId, UserId};
use cloudcord_schemas::permissions::Permissions;
use serde_json::{Value, json};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiContext;
use super::auth::Caller;
use super::params::{QueryParams, path_id};
use crate::access::{GuildAccess, now_ms, overwrite};
use crate::objects::{
    ban_object, channel_object, guild_object, id, invite_object, member_object, role_object,
    user_object,
};
use crate::read_models::postgres::{OverwriteRow, key};

/// Most members one page of `GET /guilds/{id}/members` holds.
const MAX_MEMBERS: u32 = 1000;
/// Most bans one page of `GET /guilds/{id}/bans` holds (also its default).
const MAX_BANS: u32 = 1000;

/// The guild routes.
pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(guild))
        .routes(routes!(channels))
        .routes(routes!(roles))
        .routes(routes!(members))
        .routes(routes!(member))
        .routes(routes!(bans))
        .routes(routes!(invites))
}

/// The guild of the path as the caller sees it.
pub async fn load(
    context: &ApiContext,
    raw: &str,
    caller: Caller,
) -> Result<GuildAccess, HttpError> {
    let guild_id: GuildId = path_id("guild_id", raw)?;
    GuildAccess::load(context.read_models(), guild_id, caller.user_id).await
}

/// `GET /guilds/{guild.id}?with_counts`.
#[utoipa::path(
    get,
    path = "/guilds/{guild_id}",
    tag = "guilds",
    params(("guild_id" = SnowflakeType, Path, description = "The guild"), ("with_counts" = Option<bool>, Query, description = "Include approximate counts")),
    responses((status = 200, description = "The guild", body = GuildWithCountsResponse), Refusals)
)]
async fn guild(
    State(context): State<ApiContext>,
    caller: Caller,
    Path(raw): Path<String>,
    mut params: QueryParams,
) -> Result<Json<Value>, HttpError> {
    let with_counts = params.boolean("with_counts");
    params.finish()?;
    let access = load(&context, &raw, caller).await?;
    let counts = if with_counts {
        Some(context.read_models().member_count(access.guild.id).await?)
    } else {
        None
    };
    Ok(Json(guild_object(&access.guild, &access.roles, counts)))
}

/// `GET /guilds/{guild.id}/channels`: the channels the caller can see.
///
/// Discord lists every channel here; CloudCord leaves out those the caller cannot
/// view, so a channel hidden by its overwrites shows up nowhere, not even by name.
#[utoipa::path(
    get,
    path = "/guilds/{guild_id}/channels",
    tag = "guilds",
    params(("guild_id" = SnowflakeType, Path, description = "The guild")),
    responses((status = 200, description = "The channels the caller can see", body = Vec<GuildChannelResponse>), Refusals)
)]
async fn channels(
    State(context): State<ApiContext>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Json<Value>, HttpError> {
    let access = load(&context, &raw, caller).await?;
    let read_models = context.read_models();
    let channels = read_models.channels(access.guild.id).await?;
    let overwrites = read_models.overwrites(access.guild.id).await?;
    let mut by_channel: HashMap<i64, Vec<OverwriteRow>> = HashMap::new();
    for row in overwrites {
        by_channel.entry(row.channel_id).or_default().push(row);
    }
    let now = now_ms();
    let visible: Vec<_> = channels
        .into_iter()
        .filter(|channel| {
            let calculated: Vec<_> = by_channel
                .get(&channel.id)
                .into_iter()
                .flatten()
                .filter_map(overwrite)
                .collect();
            access
                .channel_permissions(&calculated, now)
                .contains(Permissions::VIEW_CHANNEL)
        })
        .collect();
    let ids: Vec<i64> = visible.iter().map(|c| c.id).collect();
    let last: HashMap<i64, i64> = read_models
        .last_message_ids(&ids)
        .await?
        .into_iter()
        .collect();
    let answer = visible
        .iter()
        .map(|channel| {
            let overwrites = by_channel.get(&channel.id).map_or(&[][..], Vec::as_slice);
            channel_object(channel, overwrites, last.get(&channel.id).copied())
        })
        .collect();
    Ok(Json(Value::Array(answer)))
}

/// `GET /guilds/{guild.id}/roles`.
#[utoipa::path(
    get,
    path = "/guilds/{guild_id}/roles",
    tag = "guilds",
    params(("guild_id" = SnowflakeType, Path, description = "The guild")),
    responses((status = 200, description = "The roles", body = Vec<GuildRoleResponse>), Refusals)
)]
async fn roles(
    State(context): State<ApiContext>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Json<Value>, HttpError> {
    let access = load(&context, &raw, caller).await?;
    Ok(Json(Value::Array(
        access.roles.iter().map(role_object).collect(),
    )))
}

/// `GET /guilds/{guild.id}/members?after&limit`: members by ascending user id, those
/// after `after` (default 0), `limit` 1–1000 (default 1).
#[utoipa::path(
    get,
    path = "/guilds/{guild_id}/members",
    tag = "guilds",
    params(("guild_id" = SnowflakeType, Path, description = "The guild"), ("limit" = Option<u32>, Query, description = "1 to 1000 (default 1)"), ("after" = Option<SnowflakeType>, Query, description = "Members after this user id")),
    responses((status = 200, description = "A page of members", body = Vec<GuildMemberResponse>), Refusals)
)]
async fn members(
    State(context): State<ApiContext>,
    caller: Caller,
    Path(raw): Path<String>,
    mut params: QueryParams,
) -> Result<Json<Value>, HttpError> {
    let after: Option<UserId> = params.snowflake("after");
    let limit = params.integer("limit", 1..=MAX_MEMBERS, 1);
    params.finish()?;
    let access = load(&context, &raw, caller).await?;
    let after = after.and_then(|u| key(u.0)).unwrap_or(0);
    let members = context
        .read_models()
        .members(access.guild.id, after, i64::from(limit))
        .await?;
    Ok(Json(Value::Array(
        members.iter().map(member_object).collect(),
    )))
}

/// `GET /guilds/{guild.id}/members/{user.id}` (also `@me`).
#[utoipa::path(
    get,
    path = "/guilds/{guild_id}/members/{user_id}",
    tag = "guilds",
    params(("guild_id" = SnowflakeType, Path, description = "The guild"), ("user_id" = SnowflakeType, Path, description = "The member")),
    responses((status = 200, description = "The member", body = GuildMemberResponse), Refusals)
)]
async fn member(
    State(context): State<ApiContext>,
    caller: Caller,
    Path((raw_guild, raw_user)): Path<(String, String)>,
) -> Result<Json<Value>, HttpError> {
    let user_id: UserId = if raw_user == "@me" {
        caller.user_id
    } else {
        path_id("user_id", &raw_user)?
    };
    let access = load(&context, &raw_guild, caller).await?;
    let found = match key(user_id.0) {
        Some(user) => context.read_models().member(access.guild.id, user).await?,
        None => None,
    };
    let member = found.ok_or(HttpError::unknown_member())?;
    Ok(Json(member_object(&member)))
}

/// `GET /guilds/{guild.id}/bans?before&after&limit`: bans by ascending user id;
/// needs `BAN_MEMBERS`.
#[utoipa::path(
    get,
    path = "/guilds/{guild_id}/bans",
    tag = "guilds",
    params(("guild_id" = SnowflakeType, Path, description = "The guild"), ("limit" = Option<u32>, Query, description = "1 to 1000 (default 1000)"), ("before" = Option<SnowflakeType>, Query, description = "Bans before this user id"), ("after" = Option<SnowflakeType>, Query, description = "Bans after this user id")),
    responses((status = 200, description = "A page of bans", body = Vec<GuildBanResponse>), Refusals)
)]
async fn bans(
    State(context): State<ApiContext>,
    caller: Caller,
    Path(raw): Path<String>,
    mut params: QueryParams,
) -> Result<Json<Value>, HttpError> {
    let before: Option<UserId> = params.snowflake("before");
    let after: Option<UserId> = params.snowflake("after");
    let limit = params.integer("limit", 1..=MAX_BANS, MAX_BANS);
    params.finish()?;
    let access = load(&context, &raw, caller).await?;
    access.require_any(Permissions::BAN_MEMBERS, now_ms())?;
    let read_models = context.read_models();
    let bans = read_models
        .bans(
            access.guild.id,
            after.and_then(|u| key(u.0)).unwrap_or(-1),
            before.and_then(|u| key(u.0)).unwrap_or(i64::MAX),
            i64::from(limit),
        )
        .await?;
    let ids: Vec<i64> = bans.iter().map(|b| b.user_id).collect();
    let users: HashMap<i64, _> = read_models
        .users(&ids)
        .await?
        .into_iter()
        .map(|u| (u.id, u))
        .collect();
    let answer = bans
        .iter()
        .map(|ban| {
            let user = users
                .get(&ban.user_id)
                .map_or_else(|| json!({ "id": id(ban.user_id) }), user_object);
            ban_object(&user, ban.reason.as_deref())
        })
        .collect();
    Ok(Json(Value::Array(answer)))
}

/// `GET /guilds/{guild.id}/invites`: needs `MANAGE_GUILD` or `VIEW_AUDIT_LOG`;
/// the invites' metadata is shown with `MANAGE_GUILD` only.
#[utoipa::path(
    get,
    path = "/guilds/{guild_id}/invites",
    tag = "guilds",
    params(("guild_id" = SnowflakeType, Path, description = "The guild")),
    responses((status = 200, description = "The guild's invites", body = Vec<GuildInviteResponse>), Refusals)
)]
async fn invites(
    State(context): State<ApiContext>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Json<Value>, HttpError> {
    let access = load(&context, &raw, caller).await?;
    let held = access.require_any(
        Permissions::MANAGE_GUILD | Permissions::VIEW_AUDIT_LOG,
        now_ms(),
    )?;
    let metadata = held.contains(Permissions::MANAGE_GUILD);
    let read_models = context.read_models();
    let invites = read_models.invites(access.guild.id).await?;
    let channels: HashMap<i64, _> = read_models
        .channels(access.guild.id)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let inviter_ids: Vec<i64> = invites.iter().map(|i| i.inviter_id).collect();
    let inviters: HashMap<i64, _> = read_models
        .users(&inviter_ids)
        .await?
        .into_iter()
        .map(|u| (u.id, u))
        .collect();
    let answer = invites
        .iter()
        .map(|invite| {
            invite_object(
                invite,
                &access.guild,
                channels.get(&invite.channel_id),
                inviters.get(&invite.inviter_id),
                metadata,
                None,
            )
        })
        .collect();
    Ok(Json(Value::Array(answer)))
}
