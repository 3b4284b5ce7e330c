//! Guild routes: the guild, its channels' creation, roles, members and bans.
//!
//! Every command here goes to the guild's shard (the aggregate id is the guild id);
//! the aggregate checks existence and permissions exactly, so these handlers only
//! validate shapes, assign ids and translate Discord's bodies into commands.
//!
//! | route | command | answer |
//! |---|---|---|
//! | `POST /guilds` | `CreateGuild` | 201 guild |
//! | `PATCH /guilds/{guild.id}` (icon and banner as image data) | `ModifyGuild` (their hashes) | 200 guild |
//! | `DELETE /guilds/{guild.id}` | `DeleteGuild` | 204 |
//! | `POST /guilds/{guild.id}/channels` | `CreateChannel` | 201 channel |
//! | `POST /guilds/{guild.id}/roles` | `CreateRole` | 200 role |
//! | `PATCH /guilds/{guild.id}/roles` | `ModifyRolePositions` | 200 roles |
//! | `PATCH`/`DELETE /guilds/{guild.id}/roles/{role.id}` | `ModifyRole` / `DeleteRole` | 200 role / 204 |
//! | `PATCH /guilds/{guild.id}/members/{user.id}` | `ModifyMember` | 200 member |
//! | `PATCH /guilds/{guild.id}/members/@me` | `ModifyCurrentMember` | 200 member |
//! | `DELETE /guilds/{guild.id}/members/{user.id}` | `KickMember` | 204 |
//! | `PUT`/`DELETE /guilds/{guild.id}/members/{user.id}/roles/{role.id}` | `AddMemberRole` / `RemoveMemberRole` | 204 |
//! | `DELETE /users/@me/guilds/{guild.id}` | `LeaveGuild` | 204 |
//! | `PUT`/`DELETE /guilds/{guild.id}/bans/{user.id}` | `BanMember` / `UnbanMember` | 204 |

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use cloudcord_runtime::described_by_schemars;
use cloudcord_runtime::files::public_images::PublicImage;
use cloudcord_runtime::http_error::{FormErrors, HttpError};
use cloudcord_runtime::openapi::Refusals;
use cloudcord_runtime::openapi::objects::{
    GuildChannelResponse, GuildMemberResponse, GuildResponse, GuildRoleResponse, SnowflakeType,
};
use cloudcord_schemas::envelope::{AggregateRef, AggregateType, Outcome};
use cloudcord_schemas::guild::channels::{
    MAX_BITRATE, MAX_CHANNEL_NAME_CHARS, MAX_RATE_LIMIT_PER_USER, MAX_TOPIC_CHARS, MAX_USER_LIMIT,
    MIN_BITRATE,
};
use cloudcord_schemas::guild::members::{MAX_BAN_DELETE_SECONDS, MAX_NICK_CHARS};
use cloudcord_schemas::guild::roles::MAX_ROLE_NAME_CHARS;
use cloudcord_schemas::guild::{
    AFK_TIMEOUTS, ChannelType, CreateChannel, CreateRole, GUILD_NAME_CHARS, GuildCommand,
    MAX_DESCRIPTION_CHARS, ModifyGuild, ModifyMember, ModifyRole, RolePosition, nullable,
    nullable_rfc3339,
};
use cloudcord_schemas::ids::{ChannelId, GuildId, RoleId, Snowflake, UserId};
use cloudcord_schemas::permissions::{PermissionOverwrite, Permissions};
use schemars::JsonSchema;
use serde::Deserialize;
use time::OffsetDateTime;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::body::Body;
use super::bus::respond;
use super::uploads;
use super::{ApiState, IdempotencyKey};

/// The guild routes under `/api/v10`.
pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(create_guild))
        .routes(routes!(modify_guild, delete_guild))
        .routes(routes!(create_channel))
        .routes(routes!(create_role, modify_role_positions))
        .routes(routes!(modify_role, delete_role))
        .routes(routes!(modify_current_member))
        .routes(routes!(modify_member, kick_member))
        .routes(routes!(add_member_role, remove_member_role))
        .routes(routes!(leave_guild))
        .routes(routes!(ban_member, unban_member))
}

/// The guild aggregate `guild_id`.
pub fn guild_ref(guild_id: GuildId) -> AggregateRef {
    AggregateRef {
        kind: AggregateType::Guild,
        id: guild_id.0,
    }
}

/// Parses a snowflake path segment; a malformed one names nothing that exists.
pub fn path_id<T: From<Snowflake>>(raw: &str, unknown: fn() -> HttpError) -> Result<T, HttpError> {
    raw.parse::<Snowflake>().map(T::from).map_err(|_| unknown())
}

fn unknown_role() -> HttpError {
    HttpError::unknown(10011, "Role")
}

/// Runs one command on a guild and returns its outcome.
pub async fn on_guild(
    state: &ApiState,
    caller: Caller,
    key: &IdempotencyKey,
    guild_id: GuildId,
    command: GuildCommand,
) -> Result<Outcome, HttpError> {
    let actor = caller.actor();
    state
        .bus()
        .execute(guild_ref(guild_id), key.command_id(&actor)?, actor, command)
        .await
}

/// Discord answers these routes with 204 whatever the aggregate's body.
pub fn no_content(outcome: Outcome) -> Result<Response, HttpError> {
    respond(match outcome {
        // The position stays: a read that sends it back waits for this change too.
        Outcome::Accepted { position, .. } => Outcome::Accepted {
            status: StatusCode::NO_CONTENT.as_u16(),
            body: None,
            position,
        },
        rejected @ Outcome::Rejected { .. } => rejected,
    })
}

/// The `X-Audit-Log-Reason` header (URL-encoded, as Discord expects), at most 512
/// characters.
pub fn audit_reason(headers: &HeaderMap) -> Option<String> {
    let raw = headers.get("x-audit-log-reason")?.to_str().ok()?;
    let decoded = percent_decode(raw);
    Some(decoded.chars().take(512).collect())
}

/// Decodes `%XX` escapes (invalid escapes stay as they are).
fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
            && let Ok(byte) = u8::try_from(h * 16 + l)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Debug, Deserialize, JsonSchema)]
struct CreateGuildRequest {
    name: String,
}

/// `POST /guilds`: a guild with Discord's default layout (a "Text Channels" category
/// with #general, a "Voice Channels" category with General).
#[utoipa::path(
    post,
    path = "/guilds",
    tag = "guilds",
    params(IdempotencyKey),
    request_body = CreateGuildRequest,
    responses((status = 201, description = "The new guild", body = GuildResponse), Refusals)
)]
async fn create_guild(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Body(request): Body<CreateGuildRequest>,
) -> Result<Response, HttpError> {
    FormErrors::checked(|errors| {
        errors.length(
            "name",
            &request.name,
            *GUILD_NAME_CHARS.start(),
            *GUILD_NAME_CHARS.end(),
        );
    })?;
    let owner = state.snapshot(caller.user_id).await?;
    let guild_id = GuildId(state.next_id());
    let command = GuildCommand::CreateGuild {
        guild_id,
        name: request.name,
        owner,
        text_channel_id: ChannelId(state.next_id()),
        voice_channel_id: ChannelId(state.next_id()),
        text_category_id: Some(ChannelId(state.next_id())),
        voice_category_id: Some(ChannelId(state.next_id())),
    };
    let outcome = on_guild(&state, caller, &key, guild_id, command).await?;
    if let Outcome::Accepted {
        body: Some(body), ..
    } = &outcome
    {
        // Read-your-writes: the creator's next request names the new guild's
        // channels, which the channel lookup must know. (A repeated key's original
        // guild id is in the body.)
        let created = body
            .get("id")
            .and_then(|id| serde_json::from_value::<GuildId>(id.clone()).ok())
            .unwrap_or(guild_id);
        state
            .accounts()
            .wait_until(state.projection_timeout(), |view| {
                view.guild_owner(created).map(|_| ())
            })
            .await?;
    }
    respond(outcome)
}

/// Discord's modify-guild body: the settings of the `ModifyGuild` command, with
/// image data where the command carries the stored images' hashes.
#[derive(Debug, Deserialize, JsonSchema)]
struct ModifyGuildRequest {
    /// A new name (2 to 100 characters).
    #[serde(default)]
    name: Option<String>,
    /// A new description (up to 300 characters), or `null` to clear it.
    #[serde(default, deserialize_with = "nullable::deserialize")]
    description: Option<Option<String>>,
    /// A member to transfer ownership to (owner only).
    #[serde(default)]
    owner_id: Option<UserId>,
    /// The text channel for system messages, or `null`.
    #[serde(default, deserialize_with = "nullable::deserialize")]
    system_channel_id: Option<Option<ChannelId>>,
    /// The voice channel idle members are moved to, or `null`.
    #[serde(default, deserialize_with = "nullable::deserialize")]
    afk_channel_id: Option<Option<ChannelId>>,
    /// Idle seconds before the move: 60, 300, 900, 1800 or 3600.
    #[serde(default)]
    afk_timeout: Option<u32>,
    /// A new icon as image data (`data:image/png;base64,…`: PNG, JPEG, GIF or
    /// WebP), or `null` to remove it. Served at `/cdn/icons/{guild.id}/{hash}.{ext}`.
    #[serde(default, deserialize_with = "nullable::deserialize")]
    icon: Option<Option<String>>,
    /// A new banner as image data, or `null` to remove it. Served at
    /// `/cdn/banners/{guild.id}/{hash}.{ext}`. Any guild may have one (Discord
    /// asks for the `BANNER` feature).
    #[serde(default, deserialize_with = "nullable::deserialize")]
    banner: Option<Option<String>>,
}

fn check_modify_guild(errors: &mut FormErrors, request: &ModifyGuildRequest) {
    if let Some(name) = &request.name {
        errors.length(
            "name",
            name,
            *GUILD_NAME_CHARS.start(),
            *GUILD_NAME_CHARS.end(),
        );
    }
    if let Some(Some(description)) = &request.description {
        errors.length("description", description, 0, MAX_DESCRIPTION_CHARS);
    }
    if let Some(timeout) = request.afk_timeout
        && !AFK_TIMEOUTS.contains(&timeout)
    {
        errors.add(
            "afk_timeout",
            "BASE_TYPE_CHOICES",
            format!("Value must be one of {AFK_TIMEOUTS:?}."),
        );
    }
}

/// `PATCH /guilds/{guild.id}`: Discord's body, the icon and banner as image data.
///
/// Images are stored before the command is appended, which names their hashes; an
/// image this request stored is removed again when the command is refused (no
/// `MANAGE_GUILD`, say), so a refused request leaves no picture at the guild's CDN
/// paths.
#[utoipa::path(
    patch,
    path = "/guilds/{guild_id}",
    tag = "guilds",
    params(("guild_id" = SnowflakeType, Path, description = "The guild"), IdempotencyKey),
    request_body = ModifyGuildRequest,
    responses((status = 200, description = "The guild", body = GuildResponse), Refusals)
)]
async fn modify_guild(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(guild_id): Path<String>,
    Body(request): Body<ModifyGuildRequest>,
) -> Result<Response, HttpError> {
    let guild_id: GuildId = path_id(&guild_id, HttpError::unknown_guild)?;
    FormErrors::checked(|errors| check_modify_guild(errors, &request))?;
    let mut stored = Vec::new();
    let images = async {
        let icon = store_image(
            &state,
            PublicImage::GuildIcon,
            guild_id,
            request.icon,
            &mut stored,
        );
        let icon = icon.await?;
        let banner = store_image(
            &state,
            PublicImage::GuildBanner,
            guild_id,
            request.banner,
            &mut stored,
        );
        Ok::<_, HttpError>((icon, banner.await?))
    }
    .await;
    let (icon, banner) = match images {
        Ok(images) => images,
        Err(error) => {
            discard(&state, stored).await;
            return Err(error);
        }
    };
    let command = GuildCommand::ModifyGuild(ModifyGuild {
        name: request.name,
        description: request.description,
        owner_id: request.owner_id,
        system_channel_id: request.system_channel_id,
        afk_channel_id: request.afk_channel_id,
        afk_timeout: request.afk_timeout,
        icon,
        banner,
    });
    let outcome = on_guild(&state, caller, &key, guild_id, command).await?;
    if let Outcome::Rejected { .. } = outcome {
        discard(&state, stored).await;
    }
    respond(outcome)
}

/// Stores the image data of a modify-guild field (recording it in `stored`) and
/// answers the field as the command carries it: the image's hash, `null` or absent.
async fn store_image(
    state: &ApiState,
    kind: PublicImage,
    guild_id: GuildId,
    wanted: Option<Option<String>>,
    stored: &mut Vec<uploads::StoredImage>,
) -> Result<Option<Option<String>>, HttpError> {
    let Some(Some(data)) = wanted else {
        return Ok(wanted);
    };
    let image = uploads::store_public_image(state.files(), kind, guild_id.get(), &data).await?;
    let hash = image.hash.clone();
    stored.push(image);
    Ok(Some(Some(hash)))
}

async fn discard(state: &ApiState, images: Vec<uploads::StoredImage>) {
    for image in images {
        image.discard(state.files()).await;
    }
}

/// `DELETE /guilds/{guild.id}` (the owner only).
#[utoipa::path(
    delete,
    path = "/guilds/{guild_id}",
    tag = "guilds",
    params(("guild_id" = SnowflakeType, Path, description = "The guild"), IdempotencyKey),
    responses((status = 204, description = "Done"), Refusals)
)]
async fn delete_guild(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(guild_id): Path<String>,
) -> Result<Response, HttpError> {
    let guild_id: GuildId = path_id(&guild_id, HttpError::unknown_guild)?;
    no_content(on_guild(&state, caller, &key, guild_id, GuildCommand::DeleteGuild).await?)
}

/// Discord's create-channel body.
#[derive(Debug, Deserialize, JsonSchema)]
struct CreateChannelRequest {
    name: String,
    #[serde(rename = "type", default)]
    kind: Option<ChannelType>,
    #[serde(default)]
    topic: Option<String>,
    #[serde(default)]
    position: Option<u32>,
    #[serde(default)]
    parent_id: Option<ChannelId>,
    #[serde(default)]
    nsfw: Option<bool>,
    #[serde(default)]
    rate_limit_per_user: Option<u32>,
    #[serde(default)]
    bitrate: Option<u32>,
    #[serde(default)]
    user_limit: Option<u32>,
    #[serde(default)]
    permission_overwrites: Option<Vec<PermissionOverwrite>>,
}

/// Shape checks shared by channel creation and modification.
pub fn check_channel_fields(
    errors: &mut FormErrors,
    name: Option<&str>,
    topic: Option<&str>,
    rate_limit_per_user: Option<u32>,
    bitrate: Option<u32>,
    user_limit: Option<u32>,
) {
    if let Some(name) = name {
        errors.length("name", name, 1, MAX_CHANNEL_NAME_CHARS);
    }
    if let Some(topic) = topic {
        errors.length("topic", topic, 0, MAX_TOPIC_CHARS);
    }
    if rate_limit_per_user.is_some_and(|limit| limit > MAX_RATE_LIMIT_PER_USER) {
        errors.add(
            "rate_limit_per_user",
            "NUMBER_TYPE_MAX",
            format!("int value should be less than or equal to {MAX_RATE_LIMIT_PER_USER}."),
        );
    }
    if bitrate.is_some_and(|rate| !(MIN_BITRATE..=MAX_BITRATE).contains(&rate)) {
        errors.add(
            "bitrate",
            "NUMBER_TYPE_MIN",
            format!("Value should be between {MIN_BITRATE} and {MAX_BITRATE}."),
        );
    }
    if user_limit.is_some_and(|limit| limit > MAX_USER_LIMIT) {
        errors.add(
            "user_limit",
            "NUMBER_TYPE_MAX",
            format!("int value should be less than or equal to {MAX_USER_LIMIT}."),
        );
    }
}

/// `POST /guilds/{guild.id}/channels` → 201 channel.
#[utoipa::path(
    post,
    path = "/guilds/{guild_id}/channels",
    tag = "guilds",
    params(("guild_id" = SnowflakeType, Path, description = "The guild"), IdempotencyKey),
    request_body = CreateChannelRequest,
    responses((status = 201, description = "The new channel", body = GuildChannelResponse), Refusals)
)]
async fn create_channel(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(guild_id): Path<String>,
    Body(request): Body<CreateChannelRequest>,
) -> Result<Response, HttpError> {
    let guild_id: GuildId = path_id(&guild_id, HttpError::unknown_guild)?;
    FormErrors::checked(|errors| {
        check_channel_fields(
            errors,
            Some(&request.name),
            request.topic.as_deref(),
            request.rate_limit_per_user,
            request.bitrate,
            request.user_limit,
        );
    })?;
    let channel_id = ChannelId(state.next_id());
    let command = GuildCommand::CreateChannel(CreateChannel {
        channel_id,
        name: request.name,
        channel_type: request.kind.unwrap_or(ChannelType::GuildText),
        position: request.position,
        parent_id: request.parent_id,
        topic: request.topic,
        nsfw: request.nsfw.unwrap_or(false),
        rate_limit_per_user: request.rate_limit_per_user,
        bitrate: request.bitrate,
        user_limit: request.user_limit,
        permission_overwrites: request.permission_overwrites.unwrap_or_default(),
    });
    let outcome = on_guild(&state, caller, &key, guild_id, command).await?;
    if let Outcome::Accepted {
        body: Some(body), ..
    } = &outcome
    {
        // Read-your-writes: the creator's next request (a message) names the channel.
        let created = body
            .get("id")
            .and_then(|id| serde_json::from_value::<Snowflake>(id.clone()).ok())
            .unwrap_or(channel_id.0);
        state
            .accounts()
            .wait_until(state.projection_timeout(), |view| {
                view.channel(created).map(|_| ())
            })
            .await?;
    }
    respond(outcome)
}

/// Discord's create-role and modify-role body.
#[derive(Debug, Default, Deserialize, JsonSchema)]
struct RoleRequest {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    permissions: Option<Permissions>,
    #[serde(default)]
    color: Option<u32>,
    #[serde(default)]
    hoist: Option<bool>,
    #[serde(default)]
    mentionable: Option<bool>,
}

fn check_role(errors: &mut FormErrors, request: &RoleRequest) {
    if let Some(name) = &request.name {
        errors.length("name", name, 0, MAX_ROLE_NAME_CHARS);
    }
    if request.color.is_some_and(|color| color > 0x00FF_FFFF) {
        errors.add(
            "color",
            "NUMBER_TYPE_MAX",
            "int value should be less than or equal to 16777215.",
        );
    }
}

/// `POST /guilds/{guild.id}/roles` → 200 role.
#[utoipa::path(
    post,
    path = "/guilds/{guild_id}/roles",
    tag = "guilds",
    params(("guild_id" = SnowflakeType, Path, description = "The guild"), IdempotencyKey),
    request_body = RoleRequest,
    responses((status = 200, description = "The new role", body = GuildRoleResponse), Refusals)
)]
async fn create_role(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(guild_id): Path<String>,
    Body(request): Body<RoleRequest>,
) -> Result<Response, HttpError> {
    let guild_id: GuildId = path_id(&guild_id, HttpError::unknown_guild)?;
    FormErrors::checked(|errors| check_role(errors, &request))?;
    let command = GuildCommand::CreateRole(CreateRole {
        role_id: RoleId(state.next_id()),
        name: request.name,
        permissions: request.permissions,
        color: request.color.unwrap_or(0),
        hoist: request.hoist.unwrap_or(false),
        mentionable: request.mentionable.unwrap_or(false),
    });
    respond(on_guild(&state, caller, &key, guild_id, command).await?)
}

/// `PATCH /guilds/{guild.id}/roles/{role.id}` → 200 role.
#[utoipa::path(
    patch,
    path = "/guilds/{guild_id}/roles/{role_id}",
    tag = "guilds",
    params(("guild_id" = SnowflakeType, Path, description = "The guild"), ("role_id" = SnowflakeType, Path, description = "The role"), IdempotencyKey),
    request_body = RoleRequest,
    responses((status = 200, description = "The role", body = GuildRoleResponse), Refusals)
)]
async fn modify_role(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Path((guild_id, role_id)): Path<(String, String)>,
    Body(request): Body<RoleRequest>,
) -> Result<Response, HttpError> {
    let guild_id: GuildId = path_id(&guild_id, HttpError::unknown_guild)?;
    let role_id: RoleId = path_id(&role_id, unknown_role)?;
    FormErrors::checked(|errors| check_role(errors, &request))?;
    let command = GuildCommand::ModifyRole(ModifyRole {
        role_id,
        name: request.name,
        permissions: request.permissions,
        color: request.color,
        hoist: request.hoist,
        mentionable: request.mentionable,
    });
    respond(on_guild(&state, caller, &key, guild_id, command).await?)
}

/// `DELETE /guilds/{guild.id}/roles/{role.id}` → 204.
#[utoipa::path(
    delete,
    path = "/guilds/{guild_id}/roles/{role_id}",
    tag = "guilds",
    params(("guild_id" = SnowflakeType, Path, description = "The guild"), ("role_id" = SnowflakeType, Path, description = "The role"), IdempotencyKey),
    responses((status = 204, description = "Done"), Refusals)
)]
async fn delete_role(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Path((guild_id, role_id)): Path<(String, String)>,
) -> Result<Response, HttpError> {
    let guild_id: GuildId = path_id(&guild_id, HttpError::unknown_guild)?;
    let role_id: RoleId = path_id(&role_id, unknown_role)?;
    no_content(
        on_guild(
            &state,
            caller,
            &key,
            guild_id,
            GuildCommand::DeleteRole { role_id },
        )
        .await?,
    )
}

#[derive(Debug, Deserialize, JsonSchema)]
struct RolePositionRequest {
    id: RoleId,
    #[serde(default)]
    position: Option<u32>,
}

/// `PATCH /guilds/{guild.id}/roles` with `[{"id", "position"}]` → 200 roles.
#[utoipa::path(
    patch,
    path = "/guilds/{guild_id}/roles",
    tag = "guilds",
    params(("guild_id" = SnowflakeType, Path, description = "The guild"), IdempotencyKey),
    request_body = Vec<RolePositionRequest>,
    responses((status = 200, description = "Every role", body = Vec<GuildRoleResponse>), Refusals)
)]
async fn modify_role_positions(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(guild_id): Path<String>,
    Body(request): Body<Vec<RolePositionRequest>>,
) -> Result<Response, HttpError> {
    let guild_id: GuildId = path_id(&guild_id, HttpError::unknown_guild)?;
    let mut errors = FormErrors::new();
    let mut positions = Vec::with_capacity(request.len());
    for (index, entry) in request.iter().enumerate() {
        match entry.position {
            Some(position) => positions.push(RolePosition {
                id: entry.id,
                position,
            }),
            None => errors.required(&format!("{index}.position")),
        }
    }
    errors.into_result()?;
    respond(
        on_guild(
            &state,
            caller,
            &key,
            guild_id,
            GuildCommand::ModifyRolePositions { positions },
        )
        .await?,
    )
}

/// Discord's modify-member body (`null` clears a field).
#[derive(Debug, Deserialize, JsonSchema)]
struct ModifyMemberRequest {
    #[serde(default, deserialize_with = "nullable::deserialize")]
    nick: Option<Option<String>>,
    #[serde(default)]
    roles: Option<Vec<RoleId>>,
    #[serde(default, deserialize_with = "nullable_rfc3339::deserialize")]
    #[schemars(with = "Option<Option<String>>")]
    communication_disabled_until: Option<Option<OffsetDateTime>>,
    #[serde(default)]
    mute: Option<bool>,
    #[serde(default)]
    deaf: Option<bool>,
    #[serde(default, deserialize_with = "nullable::deserialize")]
    channel_id: Option<Option<ChannelId>>,
}

fn check_nick(errors: &mut FormErrors, nick: Option<&Option<String>>) {
    if let Some(Some(nick)) = nick {
        errors.length("nick", nick, 1, MAX_NICK_CHARS);
    }
}

/// `PATCH /guilds/{guild.id}/members/{user.id}` → 200 member.
#[utoipa::path(
    patch,
    path = "/guilds/{guild_id}/members/{user_id}",
    tag = "guilds",
    params(("guild_id" = SnowflakeType, Path, description = "The guild"), ("user_id" = SnowflakeType, Path, description = "The user"), IdempotencyKey),
    request_body = ModifyMemberRequest,
    responses((status = 200, description = "The member", body = GuildMemberResponse), (status = 204, description = "The member left meanwhile"), Refusals)
)]
async fn modify_member(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Path((guild_id, user_id)): Path<(String, String)>,
    Body(request): Body<ModifyMemberRequest>,
) -> Result<Response, HttpError> {
    let guild_id: GuildId = path_id(&guild_id, HttpError::unknown_guild)?;
    let user_id: UserId = path_id(&user_id, HttpError::unknown_user)?;
    FormErrors::checked(|errors| check_nick(errors, request.nick.as_ref()))?;
    let command = GuildCommand::ModifyMember(ModifyMember {
        user_id,
        nick: request.nick,
        roles: request.roles,
        communication_disabled_until: request.communication_disabled_until,
        mute: request.mute,
        deaf: request.deaf,
        channel_id: request.channel_id,
    });
    respond(on_guild(&state, caller, &key, guild_id, command).await?)
}

#[derive(Debug, Deserialize, JsonSchema)]
struct ModifyCurrentMemberRequest {
    #[serde(default, deserialize_with = "nullable::deserialize")]
    nick: Option<Option<String>>,
}

/// `PATCH /guilds/{guild.id}/members/@me` → 200 member.
#[utoipa::path(
    patch,
    path = "/guilds/{guild_id}/members/@me",
    tag = "guilds",
    params(("guild_id" = SnowflakeType, Path, description = "The guild"), IdempotencyKey),
    request_body = ModifyCurrentMemberRequest,
    responses((status = 200, description = "The caller's member", body = GuildMemberResponse), Refusals)
)]
async fn modify_current_member(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(guild_id): Path<String>,
    Body(request): Body<ModifyCurrentMemberRequest>,
) -> Result<Response, HttpError> {
    let guild_id: GuildId = path_id(&guild_id, HttpError::unknown_guild)?;
    FormErrors::checked(|errors| check_nick(errors, request.nick.as_ref()))?;
    let command = GuildCommand::ModifyCurrentMember { nick: request.nick };
    respond(on_guild(&state, caller, &key, guild_id, command).await?)
}

/// `DELETE /guilds/{guild.id}/members/{user.id}` → 204.
#[utoipa::path(
    delete,
    path = "/guilds/{guild_id}/members/{user_id}",
    tag = "guilds",
    params(("guild_id" = SnowflakeType, Path, description = "The guild"), ("user_id" = SnowflakeType, Path, description = "The user"), IdempotencyKey),
    responses((status = 204, description = "Done"), Refusals)
)]
async fn kick_member(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Path((guild_id, user_id)): Path<(String, String)>,
) -> Result<Response, HttpError> {
    let guild_id: GuildId = path_id(&guild_id, HttpError::unknown_guild)?;
    let user_id: UserId = path_id(&user_id, HttpError::unknown_user)?;
    let outcome = on_guild(
        &state,
        caller,
        &key,
        guild_id,
        GuildCommand::KickMember { user_id },
    )
    .await?;
    until_not_member(&state, &outcome, guild_id, user_id).await?;
    no_content(outcome)
}

/// Waits until the lookup projection no longer lists `user_id` in `guild_id`, so the
/// next request (typing, a DM) already sees the membership this one ended.
async fn until_not_member(
    state: &ApiState,
    outcome: &Outcome,
    guild_id: GuildId,
    user_id: UserId,
) -> Result<(), HttpError> {
    // A refused command changed nothing: the user may well still be a member.
    if matches!(outcome, Outcome::Rejected { .. }) {
        return Ok(());
    }
    state
        .accounts()
        .wait_until(state.projection_timeout(), |view| {
            (!view.is_member(guild_id, user_id)).then_some(())
        })
        .await
}

/// `PUT /guilds/{guild.id}/members/{user.id}/roles/{role.id}` → 204.
#[utoipa::path(
    put,
    path = "/guilds/{guild_id}/members/{user_id}/roles/{role_id}",
    tag = "guilds",
    params(("guild_id" = SnowflakeType, Path, description = "The guild"), ("user_id" = SnowflakeType, Path, description = "The user"), ("role_id" = SnowflakeType, Path, description = "The role"), IdempotencyKey),
    responses((status = 204, description = "Done"), Refusals)
)]
async fn add_member_role(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Path((guild_id, user_id, role_id)): Path<(String, String, String)>,
) -> Result<Response, HttpError> {
    let guild_id: GuildId = path_id(&guild_id, HttpError::unknown_guild)?;
    let user_id: UserId = path_id(&user_id, HttpError::unknown_user)?;
    let role_id: RoleId = path_id(&role_id, unknown_role)?;
    let command = GuildCommand::AddMemberRole { user_id, role_id };
    no_content(on_guild(&state, caller, &key, guild_id, command).await?)
}

/// `DELETE /guilds/{guild.id}/members/{user.id}/roles/{role.id}` → 204.
#[utoipa::path(
    delete,
    path = "/guilds/{guild_id}/members/{user_id}/roles/{role_id}",
    tag = "guilds",
    params(("guild_id" = SnowflakeType, Path, description = "The guild"), ("user_id" = SnowflakeType, Path, description = "The user"), ("role_id" = SnowflakeType, Path, description = "The role"), IdempotencyKey),
    responses((status = 204, description = "Done"), Refusals)
)]
async fn remove_member_role(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Path((guild_id, user_id, role_id)): Path<(String, String, String)>,
) -> Result<Response, HttpError> {
    let guild_id: GuildId = path_id(&guild_id, HttpError::unknown_guild)?;
    let user_id: UserId = path_id(&user_id, HttpError::unknown_user)?;
    let role_id: RoleId = path_id(&role_id, unknown_role)?;
    let command = GuildCommand::RemoveMemberRole { user_id, role_id };
    no_content(on_guild(&state, caller, &key, guild_id, command).await?)
}

/// `DELETE /users/@me/guilds/{guild.id}` → 204.
#[utoipa::path(
    delete,
    path = "/users/@me/guilds/{guild_id}",
    tag = "guilds",
    params(("guild_id" = SnowflakeType, Path, description = "The guild"), IdempotencyKey),
    responses((status = 204, description = "Done"), Refusals)
)]
async fn leave_guild(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(guild_id): Path<String>,
) -> Result<Response, HttpError> {
    let guild_id: GuildId = path_id(&guild_id, HttpError::unknown_guild)?;
    let user_id = caller.user_id;
    let outcome = on_guild(&state, caller, &key, guild_id, GuildCommand::LeaveGuild).await?;
    until_not_member(&state, &outcome, guild_id, user_id).await?;
    no_content(outcome)
}

#[derive(Debug, Deserialize, JsonSchema)]
struct BanRequest {
    #[serde(default)]
    delete_message_seconds: Option<u32>,
    /// Deprecated by Discord but still sent by older libraries.
    #[serde(default)]
    delete_message_days: Option<u32>,
}

/// `PUT /guilds/{guild.id}/bans/{user.id}` → 204; the reason comes from
/// `X-Audit-Log-Reason`.
#[utoipa::path(
    put,
    path = "/guilds/{guild_id}/bans/{user_id}",
    tag = "guilds",
    params(("guild_id" = SnowflakeType, Path, description = "The guild"), ("user_id" = SnowflakeType, Path, description = "The user"), IdempotencyKey),
    request_body = BanRequest,
    responses((status = 204, description = "Done"), Refusals)
)]
async fn ban_member(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    headers: HeaderMap,
    Path((guild_id, user_id)): Path<(String, String)>,
    Body(request): Body<BanRequest>,
) -> Result<Response, HttpError> {
    let guild_id: GuildId = path_id(&guild_id, HttpError::unknown_guild)?;
    let user_id: UserId = path_id(&user_id, HttpError::unknown_user)?;
    let seconds = request
        .delete_message_seconds
        .or(request
            .delete_message_days
            .map(|days| days.saturating_mul(86_400)))
        .unwrap_or(0);
    if seconds > MAX_BAN_DELETE_SECONDS {
        return Err(FormErrors::single(
            "delete_message_seconds",
            "NUMBER_TYPE_MAX",
            format!("int value should be less than or equal to {MAX_BAN_DELETE_SECONDS}."),
        )
        .into());
    }
    let command = GuildCommand::BanMember {
        user_id,
        delete_message_seconds: seconds,
        reason: audit_reason(&headers),
    };
    let outcome = on_guild(&state, caller, &key, guild_id, command).await?;
    until_not_member(&state, &outcome, guild_id, user_id).await?;
    no_content(outcome)
}

/// `DELETE /guilds/{guild.id}/bans/{user.id}` → 204.
#[utoipa::path(
    delete,
    path = "/guilds/{guild_id}/bans/{user_id}",
    tag = "guilds",
    params(("guild_id" = SnowflakeType, Path, description = "The guild"), ("user_id" = SnowflakeType, Path, description = "The user"), IdempotencyKey),
    responses((status = 204, description = "Done"), Refusals)
)]
async fn unban_member(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Path((guild_id, user_id)): Path<(String, String)>,
) -> Result<Response, HttpError> {
    let guild_id: GuildId = path_id(&guild_id, HttpError::unknown_guild)?;
    let user_id: UserId = path_id(&user_id, HttpError::unknown_user)?;
    no_content(
        on_guild(
            &state,
            caller,
            &key,
            guild_id,
            GuildCommand::UnbanMember { user_id },
        )
        .await?,
    )
}

described_by_schemars!(
    CreateGuildRequest,
    CreateChannelRequest,
    RoleRequest,
    RolePositionRequest,
    ModifyMemberRequest,
    ModifyCurrentMemberRequest,
    BanRequest,
    ModifyGuildRequest
);

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn audit_log_reasons_are_url_decoded() {
        assert_eq!(percent_decode("spam%20and%20abuse"), "spam and abuse");
        assert_eq!(percent_decode("caf%C3%A9"), "café");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
