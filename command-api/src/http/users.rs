//! User routes: the profile, DM channels and relationships.
//!
//! | route | commands | answer |
//! |---|---|---|
//! | `PATCH /users/@me` | `ClaimUsername` (new name) → `ModifyCurrentUser` → `ReleaseUsername` (old name); with `password` and `new_password`, first `ChangePassword` | 200 user (with a new `token` after a password change) |
//! | `PATCH /users/@me/settings` | `ChangeUserSettings` | 200 settings |
//! | `PATCH /users/@me/guilds/{guild.id}/settings` | `ChangeGuildNotificationSettings` (a member, channels of that guild) | 200 user guild settings |
//! | `POST /users/@me/channels` | `OpenDmChannel` on the pair's derived channel id | 200 channel |
//! | `PUT /users/@me/relationships/{user.id}` | friend: `SendFriendRequest` on A → `ReceiveFriendRequest` on B; block (`type: 2`): `BlockUser` on A → `SeverRelationship` on B → `RecordBlock` on the DM | 204 |
//! | `POST /users/@me/relationships` | by username, as a friend request | 204 |
//! | `DELETE /users/@me/relationships/{user.id}` | `RemoveRelationship` on A → `SeverRelationship` on B → `RecordUnblock` on the DM | 204 |
//!
//! Relationship requests are sagas over two user shards (see
//! `cloudcord_schemas::user`): each step's command id derives from the request's
//! `Idempotency-Key` (`<key>/1`, `<key>/2`, …), so a client retrying after a crash
//! between steps completes the saga without doing any step twice.
//!
//! A password change (Discord's `password` + `new_password` on `PATCH /users/@me`)
//! checks the current password, appends `ChangePassword` with the new argon2id hash,
//! then ends **every** session of the user (their refresh tokens stop working, on
//! every device) and answers a fresh session's `token` and `refresh_token` with the
//! user, so the device that changed it stays signed in.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cloudcord_runtime::auth::PasswordError;
use cloudcord_runtime::auth::password::{hash_password, verify_password};
use cloudcord_runtime::described_by_schemars;
use cloudcord_runtime::files::public_images::PublicImage;
use cloudcord_runtime::http_error::{FormErrors, HttpError};
use cloudcord_runtime::openapi::Refusals;
use cloudcord_runtime::openapi::objects::{PrivateChannelResponse, SnowflakeType, UserPIIResponse};
use cloudcord_runtime::telemetry::ErrorChain;
use cloudcord_schemas::dm_channel::{DmChannelCommand, dm_channel_id};
use cloudcord_schemas::envelope::{Actor, AggregateRef, AggregateType, CommandId, Outcome};
use cloudcord_schemas::guild::nullable;
use cloudcord_schemas::ids::{ChannelId, GuildId, Snowflake, UserId};
use cloudcord_schemas::user::{
    ChannelNotificationOverride, CustomStatus, FieldUpdate, MAX_CHANNEL_OVERRIDES, MuteConfig,
    NotificationLevel, Status, Theme, UserCommand,
};
use cloudcord_schemas::username_claim::{UsernameClaimCommand, claim_id, normalize_username};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::accounts::ChannelHome;
use super::auth::Caller;
use super::body::Body;
use super::bus::respond;
use super::channels::dm_ref;
use super::guilds::path_id;
use super::replies::{GuildSettingsResponse, SettingsResponse};
use super::uploads;
use super::{ApiState, IdempotencyKey};
use crate::oauth::store::reason;

/// The user routes under `/api/v10`.
pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(modify_current_user))
        .routes(routes!(change_settings))
        .routes(routes!(change_guild_settings))
        .routes(routes!(open_dm))
        .routes(routes!(send_request_by_name))
        .routes(routes!(put_relationship, delete_relationship))
}

/// The user aggregate `user_id`.
pub fn user_ref(user_id: UserId) -> AggregateRef {
    AggregateRef {
        kind: AggregateType::User,
        id: user_id.0,
    }
}

/// Discord's modify-current-user body (`null` clears `global_name` and `avatar`).
#[derive(Debug, Deserialize, JsonSchema)]
struct ModifyCurrentUserRequest {
    #[serde(default)]
    username: Option<String>,
    #[serde(default, deserialize_with = "nullable::deserialize")]
    global_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable::deserialize")]
    avatar: Option<Option<String>>,
    /// The current password (needed to change it).
    #[serde(default)]
    password: Option<String>,
    /// A new password.
    #[serde(default)]
    new_password: Option<String>,
}

fn update<T>(value: Option<Option<T>>) -> Option<FieldUpdate<T>> {
    value.map(|inner| inner.map_or(FieldUpdate::Clear, FieldUpdate::Set))
}

/// `PATCH /users/@me` → 200 user.
#[utoipa::path(
    patch,
    path = "/users/@me",
    tag = "users",
    params(IdempotencyKey),
    request_body = ModifyCurrentUserRequest,
    responses((status = 200, description = "The caller", body = UserPIIResponse), Refusals)
)]
async fn modify_current_user(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    headers: HeaderMap,
    Body(request): Body<ModifyCurrentUserRequest>,
) -> Result<Response, HttpError> {
    let mut errors = FormErrors::new();
    if let Some(new_password) = &request.new_password {
        caller.person()?;
        errors.length(
            "new_password",
            new_password,
            super::auth::MIN_PASSWORD_CHARS,
            super::auth::MAX_PASSWORD_CHARS,
        );
        if request.password.is_none() {
            errors.required("password");
        }
    }
    let username = match request.username.as_deref().map(normalize_username) {
        None => None,
        Some(Ok(name)) => Some(name),
        Some(Err(invalid)) => {
            errors.add("username", invalid.code(), invalid.to_string());
            None
        }
    };
    if let Some(Some(name)) = &request.global_name {
        errors.length("global_name", name, 1, 32);
    }
    errors.into_result()?;
    // An avatar is image data; it is stored first and the command names its hash.
    let avatar = match request.avatar {
        Some(Some(data)) => Some(FieldUpdate::Set(
            uploads::store_public_image(
                state.files(),
                PublicImage::Avatar,
                caller.user_id.get(),
                &data,
            )
            .await?
            .hash,
        )),
        other => update(other),
    };

    let actor = caller.actor();
    let session = match (request.password, request.new_password) {
        (Some(password), Some(new_password)) => {
            Some(change_password(&state, caller, &key, password, new_password, &headers).await?)
        }
        _ => None,
    };
    let current = state.snapshot(caller.user_id).await?;
    let renamed = username.filter(|name| *name != current.username);
    if let Some(name) = &renamed {
        let claimed = state
            .bus()
            .execute(
                claim_ref(name),
                key.step_id(&actor, 1)?,
                actor,
                UsernameClaimCommand::ClaimUsername {
                    username: name.clone(),
                    user_id: caller.user_id,
                },
            )
            .await?;
        if let Outcome::Rejected { .. } = claimed {
            return respond(claimed);
        }
    }
    let outcome = state
        .bus()
        .execute(
            user_ref(caller.user_id),
            key.step_id(&actor, 2)?,
            actor,
            UserCommand::ModifyCurrentUser {
                username: renamed.clone(),
                global_name: update(request.global_name),
                avatar,
            },
        )
        .await?;
    if let Some(name) = &renamed {
        let (release, release_id) = match outcome {
            // The old name is free now; a refused change gives the new one back.
            Outcome::Accepted { .. } => (claim_ref(&current.username), key.step_id(&actor, 3)?),
            Outcome::Rejected { .. } => (claim_ref(name), key.step_id(&actor, 4)?),
        };
        best_effort(
            &state,
            release,
            release_id,
            actor,
            UsernameClaimCommand::ReleaseUsername,
        )
        .await;
    }
    if let Some(name) = &renamed
        && matches!(outcome, Outcome::Accepted { .. })
    {
        // Read-your-writes: a login with the new name right after must work.
        let user_id = caller.user_id;
        state
            .accounts()
            .wait_until(state.projection_timeout(), |view| {
                view.by_username(name)
                    .filter(|(id, _)| *id == user_id)
                    .map(|_| ())
            })
            .await?;
    }
    let response = respond(outcome)?;
    match session {
        Some((token, refresh_token)) => with_new_session(response, token, refresh_token).await,
        None => Ok(response),
    }
}

/// Checks `password`, records `new_password`'s hash, ends every session of the
/// caller and starts a new one for this device: its (access, refresh) tokens.
async fn change_password(
    state: &ApiState,
    caller: Caller,
    key: &IdempotencyKey,
    password: String,
    new_password: String,
    headers: &HeaderMap,
) -> Result<(String, String), HttpError> {
    let user_id = caller.user_id;
    let current = state
        .accounts()
        .lookup(state.projection_timeout(), |view| {
            view.user(user_id)
                .and_then(|account| account.password_hash.clone())
        })
        .await?
        .ok_or(HttpError::Unauthorized)?;
    let (matches, new_hash) = state
        .hash_work(move || {
            let matches = verify_password(&password, &current)?;
            Ok::<_, PasswordError>((matches, hash_password(&new_password)?))
        })
        .await?
        .map_err(|error| HttpError::internal("changing a password", error))?;
    if !matches {
        state.oauth_metrics().failed_login("password_change");
        tracing::warn!(
            target: "cloudcord_command_api::security",
            event = "failed_login",
            endpoint = "password_change",
            %user_id,
            "password change refused: wrong current password"
        );
        return Err(FormErrors::single(
            "password",
            "PASSWORD_DOES_NOT_MATCH",
            "Password does not match.",
        )
        .into());
    }
    let actor = caller.actor();
    let phc = new_hash.into_string();
    let changed = state
        .bus()
        .execute(
            user_ref(user_id),
            key.step_id(&actor, 5)?,
            actor,
            UserCommand::ChangePassword {
                password_hash: phc.clone(),
            },
        )
        .await?;
    // A refusal answers as it is; acceptance needs nothing from the body.
    respond(changed)?;
    // Read-your-writes: a login with the new password right after must work.
    state
        .accounts()
        .wait_until(state.projection_timeout(), |view| {
            view.user(user_id)
                .and_then(|account| account.password_hash.as_ref())
                .filter(|hash| hash.as_str() == phc)
                .map(|_| ())
        })
        .await?;
    super::sessions::replace_all(state, user_id, reason::PASSWORD_CHANGED, headers).await
}

/// `response` (a user object) with the new session's `token` and `refresh_token`.
async fn with_new_session(
    response: Response,
    token: String,
    refresh_token: String,
) -> Result<Response, HttpError> {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, super::body::JSON_BODY_LIMIT)
        .await
        .map_err(|error| HttpError::internal("reading a user object", error))?;
    let mut user: serde_json::Value = if bytes.is_empty() {
        serde_json::json!({})
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|error| HttpError::internal("reading a user object", error))?
    };
    user["token"] = serde_json::Value::String(token);
    user["refresh_token"] = serde_json::Value::String(refresh_token);
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    let mut rebuilt = axum::Json(user).into_response();
    for (name, value) in &parts.headers {
        rebuilt.headers_mut().insert(name.clone(), value.clone());
    }
    *rebuilt.status_mut() = parts.status;
    Ok(rebuilt)
}

fn claim_ref(username: &str) -> AggregateRef {
    AggregateRef {
        kind: AggregateType::UsernameClaim,
        id: claim_id(username),
    }
}

/// Runs a repair or follow-up step whose failure the client need not see: it is
/// logged, and the reconcilers described in `cloudcord_schemas::user` redo it.
async fn best_effort<C: Serialize>(
    state: &ApiState,
    target: AggregateRef,
    command_id: CommandId,
    actor: Actor,
    command: C,
) {
    match state
        .bus()
        .execute(target, command_id, actor, command)
        .await
    {
        Ok(Outcome::Accepted { .. }) => {}
        Ok(Outcome::Rejected { error, .. }) => {
            tracing::debug!(?target, %error, "a follow-up step was refused");
        }
        Err(error) => {
            tracing::warn!(?target, error = %ErrorChain(&error), "a follow-up step failed");
        }
    }
}

/// The settings body (a typed subset of Discord's user settings; `null` clears the
/// custom status).
#[derive(Debug, Deserialize, JsonSchema)]
struct SettingsRequest {
    #[serde(default)]
    locale: Option<String>,
    #[serde(default)]
    theme: Option<Theme>,
    #[serde(default)]
    status: Option<Status>,
    #[serde(default, deserialize_with = "nullable::deserialize")]
    custom_status: Option<Option<CustomStatus>>,
}

/// `PATCH /users/@me/settings` → 200 settings.
#[utoipa::path(
    patch,
    path = "/users/@me/settings",
    tag = "users",
    params(IdempotencyKey),
    request_body = SettingsRequest,
    responses((status = 200, description = "The caller's settings", body = SettingsResponse), Refusals)
)]
async fn change_settings(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Body(request): Body<SettingsRequest>,
) -> Result<Response, HttpError> {
    FormErrors::checked(|errors| {
        if let Some(Some(CustomStatus {
            text: Some(text), ..
        })) = &request.custom_status
        {
            errors.length("custom_status.text", text, 0, 128);
        }
    })?;
    let actor = caller.actor();
    respond(
        state
            .bus()
            .execute(
                user_ref(caller.user_id),
                key.command_id(&actor)?,
                actor,
                UserCommand::ChangeUserSettings {
                    locale: request.locale,
                    theme: request.theme,
                    status: request.status,
                    custom_status: update(request.custom_status),
                },
            )
            .await?,
    )
}

/// Discord's mute config in a request.
#[derive(Debug, Deserialize, JsonSchema)]
struct MuteConfigRequest {
    /// When the mute ends; null: until unmuted.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>")]
    end_time: Option<time::OffsetDateTime>,
    /// The window the user picked, in seconds.
    #[serde(default)]
    selected_time_window: Option<i64>,
}

impl From<MuteConfigRequest> for MuteConfig {
    fn from(request: MuteConfigRequest) -> Self {
        Self {
            end_time: request.end_time,
            selected_time_window: request.selected_time_window,
        }
    }
}

/// One channel's override in a request; it replaces the channel's override whole.
#[derive(Debug, Deserialize, JsonSchema)]
struct ChannelOverrideRequest {
    /// 0 all messages, 1 only mentions, 2 nothing, 3 (or absent) as the guild says.
    #[serde(default)]
    message_notifications: Option<u8>,
    #[serde(default)]
    muted: bool,
    #[serde(default)]
    mute_config: Option<MuteConfigRequest>,
}

/// Discord's user guild settings body (absent fields keep their value; `null`
/// clears `mute_config`).
#[derive(Debug, Deserialize, JsonSchema)]
struct GuildSettingsRequest {
    /// 0 all messages, 1 only mentions, 2 nothing.
    #[serde(default)]
    message_notifications: Option<u8>,
    #[serde(default)]
    muted: Option<bool>,
    #[serde(default, deserialize_with = "nullable::deserialize")]
    mute_config: Option<Option<MuteConfigRequest>>,
    #[serde(default)]
    suppress_everyone: Option<bool>,
    #[serde(default)]
    suppress_roles: Option<bool>,
    /// Overrides by channel id.
    #[serde(default)]
    channel_overrides: BTreeMap<String, ChannelOverrideRequest>,
}

/// `PATCH /users/@me/guilds/{guild.id}/settings` → 200 user guild settings.
#[utoipa::path(
    patch,
    path = "/users/@me/guilds/{guild_id}/settings",
    tag = "users",
    params(("guild_id" = SnowflakeType, Path, description = "The guild"), IdempotencyKey),
    request_body = GuildSettingsRequest,
    responses((status = 200, description = "The caller's notification settings for the guild", body = GuildSettingsResponse), Refusals)
)]
async fn change_guild_settings(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(raw_guild): Path<String>,
    Body(request): Body<GuildSettingsRequest>,
) -> Result<Response, HttpError> {
    let guild_id: GuildId = path_id(&raw_guild, HttpError::unknown_guild)?;
    let member = state
        .accounts()
        .lookup(state.projection_timeout(), |view| {
            view.is_member(guild_id, caller.user_id).then_some(())
        })
        .await?;
    if member.is_none() {
        return Err(HttpError::unknown_guild());
    }
    let mut overrides = BTreeMap::new();
    let mut errors = FormErrors::new();
    if request
        .message_notifications
        .is_some_and(|v| NotificationLevel::from_discord(v).is_none())
    {
        errors.add(
            "message_notifications",
            "BASE_TYPE_CHOICES",
            "Value must be one of {0, 1, 2}.",
        );
    }
    if request.channel_overrides.len() > MAX_CHANNEL_OVERRIDES {
        // Refused before each channel is looked up.
        return Err(FormErrors::single(
            "channel_overrides",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 500 or fewer in length.",
        )
        .into());
    }
    for (raw_channel, channel) in request.channel_overrides {
        let path = format!("channel_overrides.{raw_channel}");
        let in_guild = match raw_channel.parse::<Snowflake>() {
            // A miss syncs the projection first: the channel may be a moment old.
            Ok(id) => {
                state
                    .accounts()
                    .lookup(state.projection_timeout(), |view| {
                        (view.channel(id) == Some(ChannelHome::Guild(guild_id))).then_some(id)
                    })
                    .await?
            }
            Err(_) => None,
        };
        let Some(channel_id) = in_guild else {
            errors.add(&path, "CHANNEL_INVALID", "Not a channel of this guild.");
            continue;
        };
        let message_notifications = match channel.message_notifications {
            None | Some(3) => None,
            Some(value) => match NotificationLevel::from_discord(value) {
                Some(level) => Some(level),
                None => {
                    errors.add(
                        &format!("{path}.message_notifications"),
                        "BASE_TYPE_CHOICES",
                        "Value must be one of {0, 1, 2, 3}.",
                    );
                    continue;
                }
            },
        };
        overrides.insert(
            ChannelId::from(channel_id),
            ChannelNotificationOverride {
                message_notifications,
                muted: channel.muted,
                mute_config: channel.mute_config.map(MuteConfig::from),
            },
        );
    }
    errors.into_result()?;
    let actor = caller.actor();
    respond(
        state
            .bus()
            .execute(
                user_ref(caller.user_id),
                key.command_id(&actor)?,
                actor,
                UserCommand::ChangeGuildNotificationSettings {
                    guild_id,
                    message_notifications: request
                        .message_notifications
                        .and_then(NotificationLevel::from_discord),
                    muted: request.muted,
                    mute_config: update(request.mute_config.map(|c| c.map(MuteConfig::from))),
                    suppress_everyone: request.suppress_everyone,
                    suppress_roles: request.suppress_roles,
                    channel_overrides: overrides,
                },
            )
            .await?,
    )
}

#[derive(Debug, Deserialize, JsonSchema)]
struct OpenDmRequest {
    recipient_id: UserId,
}

/// `POST /users/@me/channels` → 200 DM channel (the existing one if the pair has it).
#[utoipa::path(
    post,
    path = "/users/@me/channels",
    tag = "users",
    params(IdempotencyKey),
    request_body = OpenDmRequest,
    responses((status = 200, description = "The DM channel", body = PrivateChannelResponse), Refusals)
)]
async fn open_dm(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Body(request): Body<OpenDmRequest>,
) -> Result<Response, HttpError> {
    let me = state.snapshot(caller.user_id).await?;
    let recipient = state
        .accounts()
        .lookup(state.projection_timeout(), |view| {
            view.user(request.recipient_id)
                .map(|account| account.profile.clone())
        })
        .await?
        .ok_or_else(HttpError::unknown_user)?;
    let channel_id = dm_channel_id(caller.user_id, request.recipient_id);
    let actor = caller.actor();
    let outcome = state
        .bus()
        .execute(
            dm_ref(channel_id),
            key.command_id(&actor)?,
            actor,
            DmChannelCommand::OpenDmChannel {
                channel_id,
                recipients: [me, recipient],
            },
        )
        .await?;
    if matches!(outcome, Outcome::Accepted { .. }) {
        // Read-your-writes: the next request sends a message to this channel.
        state
            .accounts()
            .wait_until(state.projection_timeout(), |view| {
                view.channel(channel_id.0).map(|_| ())
            })
            .await?;
    }
    respond(outcome)
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
struct PutRelationshipRequest {
    /// 1 (friend, the default) or 2 (block).
    #[serde(rename = "type", default)]
    kind: Option<u8>,
}

/// `PUT /users/@me/relationships/{user.id}` → 204.
#[utoipa::path(
    put,
    path = "/users/@me/relationships/{user_id}",
    tag = "users",
    params(("user_id" = SnowflakeType, Path, description = "The user"), IdempotencyKey),
    request_body = PutRelationshipRequest,
    responses((status = 204, description = "Done"), Refusals)
)]
async fn put_relationship(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(raw): Path<String>,
    Body(request): Body<PutRelationshipRequest>,
) -> Result<Response, HttpError> {
    let peer: UserId = path_id(&raw, HttpError::unknown_user)?;
    match request.kind {
        None | Some(1) => befriend(&state, caller, &key, peer).await,
        Some(2) => block(&state, caller, &key, peer).await,
        Some(_) => {
            Err(
                FormErrors::single("type", "BASE_TYPE_CHOICES", "Value must be one of (1, 2).")
                    .into(),
            )
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
struct RequestByNameRequest {
    username: String,
}

/// `POST /users/@me/relationships` with `{"username"}` → 204.
#[utoipa::path(
    post,
    path = "/users/@me/relationships",
    tag = "users",
    params(IdempotencyKey),
    request_body = RequestByNameRequest,
    responses((status = 204, description = "Done"), Refusals)
)]
async fn send_request_by_name(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Body(request): Body<RequestByNameRequest>,
) -> Result<Response, HttpError> {
    let name = normalize_username(&request.username).ok();
    let peer = match name {
        Some(name) => {
            state
                .accounts()
                .lookup(state.projection_timeout(), |view| {
                    view.by_username(&name).map(|(id, _)| id)
                })
                .await?
        }
        None => None,
    };
    let peer = peer.ok_or_else(|| {
        HttpError::api(
            StatusCode::BAD_REQUEST,
            80004,
            "No users with DiscordTag exist",
        )
    })?;
    befriend(&state, caller, &key, peer).await
}

/// Checks that the peer exists before the saga's first step.
async fn known_peer(state: &ApiState, peer: UserId) -> Result<(), HttpError> {
    state
        .accounts()
        .lookup(state.projection_timeout(), |view| {
            view.user(peer).map(|_| ())
        })
        .await?
        .ok_or_else(HttpError::unknown_user)
}

/// The friend-request saga (which also accepts an incoming request).
async fn befriend(
    state: &ApiState,
    caller: Caller,
    key: &IdempotencyKey,
    peer: UserId,
) -> Result<Response, HttpError> {
    known_peer(state, peer).await?;
    let actor = caller.actor();
    let mine = state
        .bus()
        .execute(
            user_ref(caller.user_id),
            key.step_id(&actor, 1)?,
            actor,
            UserCommand::SendFriendRequest { to: peer },
        )
        .await?;
    if let Outcome::Rejected { .. } = mine {
        return respond(mine);
    }
    let theirs = state
        .bus()
        .execute(
            user_ref(peer),
            key.step_id(&actor, 2)?,
            actor,
            UserCommand::ReceiveFriendRequest {
                from: caller.user_id,
            },
        )
        .await?;
    if let Outcome::Rejected { .. } = theirs {
        // Undo step 1 so both sides agree there is nothing (whatever B's reason).
        best_effort(
            state,
            user_ref(caller.user_id),
            key.step_id(&actor, 3)?,
            Actor::System,
            UserCommand::SeverRelationship { with: peer },
        )
        .await;
        return respond(theirs);
    }
    // 204 at the caller's position: a read of their relationships shows the request.
    respond(mine)
}

/// The block saga.
async fn block(
    state: &ApiState,
    caller: Caller,
    key: &IdempotencyKey,
    peer: UserId,
) -> Result<Response, HttpError> {
    known_peer(state, peer).await?;
    let actor = caller.actor();
    let blocked = state
        .bus()
        .execute(
            user_ref(caller.user_id),
            key.step_id(&actor, 1)?,
            actor,
            UserCommand::BlockUser { user_id: peer },
        )
        .await?;
    if let Outcome::Rejected { .. } = blocked {
        return respond(blocked);
    }
    best_effort(
        state,
        user_ref(peer),
        key.step_id(&actor, 2)?,
        actor,
        UserCommand::SeverRelationship {
            with: caller.user_id,
        },
    )
    .await;
    best_effort(
        state,
        dm_ref(dm_channel_id(caller.user_id, peer)),
        key.step_id(&actor, 3)?,
        actor,
        DmChannelCommand::RecordBlock {
            blocker: caller.user_id,
            blocked: peer,
        },
    )
    .await;
    respond(blocked)
}

/// `DELETE /users/@me/relationships/{user.id}` → 204: decline, cancel, unfriend or
/// unblock.
#[utoipa::path(
    delete,
    path = "/users/@me/relationships/{user_id}",
    tag = "users",
    params(("user_id" = SnowflakeType, Path, description = "The user"), IdempotencyKey),
    responses((status = 204, description = "Done"), Refusals)
)]
async fn delete_relationship(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(raw): Path<String>,
) -> Result<Response, HttpError> {
    let peer: UserId = path_id(&raw, HttpError::unknown_user)?;
    let actor = caller.actor();
    let removed = state
        .bus()
        .execute(
            user_ref(caller.user_id),
            key.step_id(&actor, 1)?,
            actor,
            UserCommand::RemoveRelationship { user_id: peer },
        )
        .await?;
    if let Outcome::Rejected { .. } = removed {
        return respond(removed);
    }
    // The peer's mirror: nothing to do if it was a block (the peer's side was
    // severed when the block was made), which the aggregate accepts as a no-op.
    best_effort(
        &state,
        user_ref(peer),
        key.step_id(&actor, 2)?,
        actor,
        UserCommand::SeverRelationship {
            with: caller.user_id,
        },
    )
    .await;
    // Whether it was a block is known only to the user aggregate; an unblock that
    // was not one changes nothing on the DM channel (a no-op, or refused when the
    // pair has no channel at all), so it is sent every time.
    best_effort(
        &state,
        dm_ref(dm_channel_id(caller.user_id, peer)),
        key.step_id(&actor, 3)?,
        actor,
        DmChannelCommand::RecordUnblock {
            blocker: caller.user_id,
            blocked: peer,
        },
    )
    .await;
    respond(removed)
}

described_by_schemars!(
    ModifyCurrentUserRequest,
    SettingsRequest,
    GuildSettingsRequest,
    OpenDmRequest,
    PutRelationshipRequest,
    RequestByNameRequest
);
