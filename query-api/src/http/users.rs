//! User routes: the caller's own account, other users, the caller's guilds, DM
//! channels and relationships.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use cloudcord_runtime::http_error::HttpError;
use cloudcord_runtime::openapi::Refusals;
use cloudcord_runtime::openapi::objects::{
    MyGuildResponse, PrivateChannelResponse, RelationshipResponse, SnowflakeType, UserPIIResponse,
    UserResponse,
};
use cloudcord_schemas::ids::{GuildId, UserId};
use serde_json::{Value, json};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiContext;
use super::auth::{Caller, GrantedCaller};
use super::params::{QueryParams, path_id};
use crate::access::{GuildAccess, now_ms};
use crate::objects::{current_user_object, dm_channel_object, id, my_guild_object, user_object};
use crate::read_models::postgres::key;

/// The locale of a user whose settings are not projected (Discord's default).
const DEFAULT_LOCALE: &str = "en-US";

/// Most guilds `GET /users/@me/guilds` lists (Discord's maximum and default).
const MAX_GUILDS: u32 = 200;

/// The user routes that read only PostgreSQL.
pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(user))
        .routes(routes!(my_guilds))
        .routes(routes!(my_channels))
        .routes(routes!(my_relationships))
}

/// The user routes that also read MongoDB (the settings document).
pub fn documents_router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(me))
}

/// `GET /users/@me`.
#[utoipa::path(
    get,
    path = "/users/@me",
    tag = "users",
    responses((status = 200, description = "The caller (`email` and `verified` need the `email` scope)", body = UserPIIResponse), Refusals),
    security(("Bearer" = []), ("BotToken" = []), ("OAuth2" = ["identify"]))
)]
async fn me(
    State(context): State<ApiContext>,
    granted: GrantedCaller,
) -> Result<Json<Value>, HttpError> {
    let caller = granted.with_scope("identify")?;
    let user = context
        .read_models()
        .user(caller.key())
        .await?
        // A verified token of an account the read models do not know (yet).
        .ok_or(HttpError::Unauthorized)?;
    let locale = context.documents().locale(user.id).await?;
    let mut object = current_user_object(&user, locale.as_deref().unwrap_or(DEFAULT_LOCALE));
    if !granted.grants("email")
        && let Some(fields) = object.as_object_mut()
    {
        fields.remove("email");
        fields.remove("verified");
    }
    Ok(Json(object))
}

/// `GET /users/{user.id}`.
#[utoipa::path(
    get,
    path = "/users/{user_id}",
    tag = "users",
    params(("user_id" = SnowflakeType, Path, description = "The user")),
    responses((status = 200, description = "The user", body = UserResponse), Refusals)
)]
async fn user(
    State(context): State<ApiContext>,
    _caller: Caller,
    Path(raw): Path<String>,
) -> Result<Json<Value>, HttpError> {
    let user_id: UserId = path_id("user_id", &raw)?;
    let found = match key(user_id.0) {
        Some(id) => context.read_models().user(id).await?,
        None => None,
    };
    let user = found.ok_or(HttpError::unknown_user())?;
    Ok(Json(user_object(&user)))
}

/// `GET /users/@me/guilds?before&after&limit&with_counts`: the caller's guilds,
/// ascending by id, with the caller's permissions in each.
#[utoipa::path(
    get,
    path = "/users/@me/guilds",
    tag = "users",
    params(("before" = Option<SnowflakeType>, Query, description = "Guilds before this id"), ("after" = Option<SnowflakeType>, Query, description = "Guilds after this id"), ("limit" = Option<u32>, Query, description = "1 to 200 (default 200)"), ("with_counts" = Option<bool>, Query, description = "Include approximate counts")),
    responses((status = 200, description = "The caller's guilds", body = Vec<MyGuildResponse>), Refusals),
    security(("Bearer" = []), ("BotToken" = []), ("OAuth2" = ["guilds"]))
)]
async fn my_guilds(
    State(context): State<ApiContext>,
    granted: GrantedCaller,
    mut params: QueryParams,
) -> Result<Json<Value>, HttpError> {
    let caller = granted.with_scope("guilds")?;
    let before: Option<GuildId> = params.snowflake("before");
    let after: Option<GuildId> = params.snowflake("after");
    let limit = params.integer("limit", 1..=MAX_GUILDS, MAX_GUILDS);
    let with_counts = params.boolean("with_counts");
    params.finish()?;

    let read_models = context.read_models();
    let after = after.and_then(|g| key(g.0)).unwrap_or(-1);
    let before = before.and_then(|g| key(g.0)).unwrap_or(i64::MAX);
    let guilds = read_models
        .guilds_of(caller.key(), after, before, i64::from(limit))
        .await?;
    let ids: Vec<i64> = guilds.iter().map(|g| g.id).collect();
    let mut roles_by_guild: HashMap<i64, Vec<_>> = HashMap::new();
    for role in read_models.roles(&ids).await? {
        roles_by_guild.entry(role.guild_id).or_default().push(role);
    }
    let now = now_ms();
    let mut answer = Vec::with_capacity(guilds.len());
    for guild in guilds {
        // Left between the two reads: no longer the caller's guild.
        let Some(member) = read_models.member(guild.id, caller.key()).await? else {
            continue;
        };
        let owner = guild.owner_id == caller.key();
        let roles = roles_by_guild.remove(&guild.id).unwrap_or_default();
        let counts = if with_counts {
            Some(read_models.member_count(guild.id).await?)
        } else {
            None
        };
        let access = GuildAccess::new(guild, roles, member);
        let mut object =
            my_guild_object(&access.guild, owner, access.guild_permissions(now).bits());
        if let (Some(members), Some(map)) = (counts, object.as_object_mut()) {
            map.insert("approximate_member_count".into(), json!(members));
            map.insert("approximate_presence_count".into(), json!(0));
        }
        answer.push(object);
    }
    Ok(Json(Value::Array(answer)))
}

/// `GET /users/@me/channels`: the caller's DM channels.
#[utoipa::path(
    get,
    path = "/users/@me/channels",
    tag = "users",
    responses((status = 200, description = "The caller's DM channels", body = Vec<PrivateChannelResponse>), Refusals)
)]
async fn my_channels(
    State(context): State<ApiContext>,
    caller: Caller,
) -> Result<Json<Value>, HttpError> {
    let read_models = context.read_models();
    let dms = read_models.dm_channels_of(caller.key()).await?;
    let others: Vec<i64> = dms
        .iter()
        .map(|dm| {
            if dm.user_low == caller.key() {
                dm.user_high
            } else {
                dm.user_low
            }
        })
        .collect();
    let users: HashMap<i64, _> = read_models
        .users(&others)
        .await?
        .into_iter()
        .map(|u| (u.id, u))
        .collect();
    let ids: Vec<i64> = dms.iter().map(|dm| dm.id).collect();
    let last: HashMap<i64, i64> = read_models
        .last_message_ids(&ids)
        .await?
        .into_iter()
        .collect();
    let answer = dms
        .iter()
        .zip(&others)
        .map(|(dm, other)| {
            let recipients: Vec<_> = users.get(other).cloned().into_iter().collect();
            dm_channel_object(dm, &recipients, last.get(&dm.id).copied())
        })
        .collect();
    Ok(Json(Value::Array(answer)))
}

/// `GET /users/@me/relationships`: Discord's relationship objects (`{id, type,
/// user, nickname}`).
#[utoipa::path(
    get,
    path = "/users/@me/relationships",
    tag = "users",
    responses((status = 200, description = "The caller's friends, blocks and requests", body = Vec<RelationshipResponse>), Refusals)
)]
async fn my_relationships(
    State(context): State<ApiContext>,
    caller: Caller,
) -> Result<Json<Value>, HttpError> {
    let read_models = context.read_models();
    let relationships = read_models.relationships(caller.key()).await?;
    let ids: Vec<i64> = relationships.iter().map(|r| r.other_id).collect();
    let users: HashMap<i64, _> = read_models
        .users(&ids)
        .await?
        .into_iter()
        .map(|u| (u.id, u))
        .collect();
    let answer = relationships
        .iter()
        .map(|r| {
            json!({
                "id": id(r.other_id),
                "type": r.kind,
                "user": users.get(&r.other_id).map(user_object),
                "nickname": null,
            })
        })
        .collect();
    Ok(Json(Value::Array(answer)))
}
