//! Channel routes: channels, overwrites, invites, messages, reactions, pins, typing.
//!
//! A channel id alone does not say which aggregate decides: a guild channel's
//! commands go to its guild's shard, a DM channel's to the DM channel aggregate. The
//! accounts projection answers ([`ApiState::channel_home`]); a miss syncs the
//! projection with the log before answering 404 Unknown Channel.
//!
//! | route | command | answer |
//! |---|---|---|
//! | `PATCH`/`DELETE /channels/{channel.id}` | `ModifyChannel` / `DeleteChannel` | 200 channel |
//! | `PUT`/`DELETE /channels/{channel.id}/permissions/{overwrite.id}` | `EditChannelPermissions` / `DeleteChannelPermission` | 204 |
//! | `POST /channels/{channel.id}/invites` | `CreateInvite` | 200 invite |
//! | `POST`/`DELETE /invites/{invite.code}` | `AcceptInvite` / `RevokeInvite` | 200 invite |
//! | `POST /channels/{channel.id}/messages` | `SendMessage` | 200 message |
//! | `PATCH`/`DELETE /channels/{channel.id}/messages/{message.id}` | `EditMessage` / `DeleteMessage` | 200 message / 204 |
//! | `POST /channels/{channel.id}/messages/bulk-delete` | `BulkDeleteMessages` | 204 |
//! | `PUT`/`DELETE …/reactions/{emoji}/@me`, `DELETE …/reactions/{emoji}/{user.id}` | `AddReaction` / `RemoveReaction` | 204 |
//! | `PUT`/`DELETE /channels/{channel.id}/pins/{message.id}` (and `…/messages/pins/…`) | `PinMessage` / `UnpinMessage` | 204 |
//! | `POST /channels/{channel.id}/messages/{message.id}/ack` | `AckMessage` | 200 `{"token": null}` |
//! | `POST /channels/{channel.id}/typing` | — (ephemeral) | 204 |

use axum::extract::{DefaultBodyLimit, FromRequest as _, Multipart, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use cloudcord_runtime::described_by_schemars;
use cloudcord_runtime::files::signing::now_secs;
use cloudcord_runtime::http_error::{FormErrors, HttpError, codes};
use cloudcord_runtime::openapi::Refusals;
use cloudcord_runtime::openapi::objects::{
    ChannelResponse, GuildInviteResponse, MessageResponse, SnowflakeType,
};
use cloudcord_schemas::dm_channel::DmChannelCommand;
use cloudcord_schemas::envelope::{AggregateRef, AggregateType, CommandId, Outcome};
use cloudcord_schemas::ephemeral::{Ephemeral, TypingStarted};
use cloudcord_schemas::guild::invites::{MAX_INVITE_AGE_SECONDS, MAX_INVITE_USES};
use cloudcord_schemas::guild::{
    GuildCommand, ModifyChannel, guild_of_invite, new_invite_code, nullable,
};
use cloudcord_schemas::ids::{AttachmentId, ChannelId, MessageId, Snowflake, UserId};
use cloudcord_schemas::message::{
    AckMessage, AddReaction, AllowedMentions, BULK_DELETE_RANGE, BulkDeleteMessages, DeleteMessage,
    EditMessage, MAX_CONTENT_CHARS, MAX_NONCE_CHARS, MessageReferenceRequest, Nonce, PinMessage,
    ReactionEmoji, RemoveReaction, SendMessage, UnpinMessage,
};
use cloudcord_schemas::permissions::{OverwriteKind, PermissionOverwrite, Permissions};
use schemars::JsonSchema;
use serde::Deserialize;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::accounts::ChannelHome;
use super::auth::Caller;
use super::body::{self, Body};
use super::bus::respond;
use super::guilds::{check_channel_fields, guild_ref, no_content, path_id};
use super::replies::AckToken;
use super::uploads::{self, AttachmentRequest, StoredFiles, WithAttachments};
use super::{ApiState, IdempotencyKey};

/// The channel routes under `/api/v10`.
pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(modify_channel, delete_channel))
        .routes(routes!(edit_permissions, delete_permission))
        .routes(routes!(create_invite))
        .routes(routes!(accept_invite, revoke_invite))
        // Uploads cap their own parts (`uploads`); the router's JSON limit would
        // refuse any file over 1 MiB.
        .routes({
            let (schemas, paths, method) = routes!(send_message);
            (schemas, paths, method.layer(DefaultBodyLimit::disable()))
        })
        .routes(routes!(bulk_delete))
        .routes(routes!(edit_message, delete_message))
        .routes(routes!(add_reaction, remove_own_reaction))
        .routes(routes!(remove_user_reaction))
        .routes(routes!(pin, unpin))
        .routes(routes!(pin_deprecated, unpin_deprecated))
        .routes(routes!(ack))
        .routes(routes!(typing))
}

fn unknown_message() -> HttpError {
    HttpError::unknown(codes::UNKNOWN_MESSAGE, "Message")
}

fn unknown_invite() -> HttpError {
    HttpError::unknown(codes::UNKNOWN_INVITE, "Invite")
}

/// What `user_id` hears when asking DM channel `channel_id` for something only
/// guild channels do: 50003 if they are in the DM; Missing Access otherwise, since
/// "this is a DM" would tell an outsider that the DM exists.
pub(super) fn not_in_dm(state: &ApiState, channel_id: ChannelId, user_id: UserId) -> HttpError {
    let recipient = state
        .accounts()
        .read()
        .may_see(channel_id.0, user_id)
        .unwrap_or(false);
    if recipient {
        HttpError::api(
            StatusCode::BAD_REQUEST,
            50003,
            "Cannot execute action on a DM channel",
        )
    } else {
        HttpError::missing_access()
    }
}

/// Runs a command on the channel's home aggregate: `guild` builds it for a guild
/// channel, `dm` for a DM channel (`None` for what DMs do not have: 50003).
async fn on_channel(
    state: &ApiState,
    caller: Caller,
    command_id: CommandId,
    channel_id: ChannelId,
    guild: impl FnOnce() -> GuildCommand,
    dm: impl FnOnce() -> Option<DmChannelCommand>,
) -> Result<Outcome, HttpError> {
    let actor = caller.actor();
    match state.channel_home(channel_id).await? {
        ChannelHome::Guild(guild_id) => {
            state
                .bus()
                .execute(guild_ref(guild_id), command_id, actor, guild())
                .await
        }
        ChannelHome::Dm => {
            let Some(command) = dm() else {
                return Err(not_in_dm(state, channel_id, caller.user_id));
            };
            state
                .bus()
                .execute(dm_ref(channel_id), command_id, actor, command)
                .await
        }
    }
}

/// The DM channel aggregate `channel_id`.
pub fn dm_ref(channel_id: ChannelId) -> AggregateRef {
    AggregateRef {
        kind: AggregateType::DmChannel,
        id: channel_id.0,
    }
}

fn channel_id(raw: &str) -> Result<ChannelId, HttpError> {
    path_id(raw, HttpError::unknown_channel)
}

fn message_id(raw: &str) -> Result<MessageId, HttpError> {
    path_id(raw, unknown_message)
}

/// Discord's modify-channel body for guild channels (`null` clears `topic` and
/// `parent_id`).
#[derive(Debug, Deserialize, JsonSchema)]
struct ModifyChannelRequest {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    position: Option<u32>,
    #[serde(default, deserialize_with = "nullable::deserialize")]
    topic: Option<Option<String>>,
    #[serde(default)]
    nsfw: Option<bool>,
    #[serde(default)]
    rate_limit_per_user: Option<u32>,
    #[serde(default)]
    bitrate: Option<u32>,
    #[serde(default)]
    user_limit: Option<u32>,
    #[serde(default, deserialize_with = "nullable::deserialize")]
    parent_id: Option<Option<ChannelId>>,
    #[serde(default)]
    permission_overwrites: Option<Vec<PermissionOverwrite>>,
}

/// `PATCH /channels/{channel.id}` → 200 channel (guild channels).
#[utoipa::path(
    patch,
    path = "/channels/{channel_id}",
    tag = "channels",
    params(("channel_id" = SnowflakeType, Path, description = "The channel"), IdempotencyKey),
    request_body = ModifyChannelRequest,
    responses((status = 200, description = "The channel", body = ChannelResponse), Refusals)
)]
async fn modify_channel(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(raw): Path<String>,
    Body(request): Body<ModifyChannelRequest>,
) -> Result<Response, HttpError> {
    let channel = channel_id(&raw)?;
    FormErrors::checked(|errors| {
        check_channel_fields(
            errors,
            request.name.as_deref(),
            request.topic.as_ref().and_then(Option::as_deref),
            request.rate_limit_per_user,
            request.bitrate,
            request.user_limit,
        );
    })?;
    let command = GuildCommand::ModifyChannel(ModifyChannel {
        channel_id: channel,
        name: request.name,
        position: request.position,
        topic: request.topic,
        nsfw: request.nsfw,
        rate_limit_per_user: request.rate_limit_per_user,
        bitrate: request.bitrate,
        user_limit: request.user_limit,
        parent_id: request.parent_id,
        permission_overwrites: request.permission_overwrites,
    });
    let id = key.command_id(&caller.actor())?;
    respond(on_channel(&state, caller, id, channel, || command, || None).await?)
}

/// `DELETE /channels/{channel.id}` → 200 channel (guild channels; closing a DM is a
/// client-side action in CloudCord).
#[utoipa::path(
    delete,
    path = "/channels/{channel_id}",
    tag = "channels",
    params(("channel_id" = SnowflakeType, Path, description = "The channel"), IdempotencyKey),
    responses((status = 200, description = "The deleted channel", body = ChannelResponse), Refusals)
)]
async fn delete_channel(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(raw): Path<String>,
) -> Result<Response, HttpError> {
    let channel = channel_id(&raw)?;
    let id = key.command_id(&caller.actor())?;
    let command = GuildCommand::DeleteChannel {
        channel_id: channel,
    };
    respond(on_channel(&state, caller, id, channel, || command, || None).await?)
}

/// Discord's edit-channel-permissions body.
#[derive(Debug, Deserialize, JsonSchema)]
struct OverwriteRequest {
    #[serde(rename = "type")]
    kind: OverwriteKind,
    #[serde(default)]
    allow: Option<Permissions>,
    #[serde(default)]
    deny: Option<Permissions>,
}

/// `PUT /channels/{channel.id}/permissions/{overwrite.id}` → 204.
#[utoipa::path(
    put,
    path = "/channels/{channel_id}/permissions/{overwrite_id}",
    tag = "channels",
    params(("channel_id" = SnowflakeType, Path, description = "The channel"), ("overwrite_id" = SnowflakeType, Path, description = "The role or member"), IdempotencyKey),
    request_body = OverwriteRequest,
    responses((status = 204, description = "Done"), Refusals)
)]
async fn edit_permissions(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Path((raw, overwrite)): Path<(String, String)>,
    Body(request): Body<OverwriteRequest>,
) -> Result<Response, HttpError> {
    let channel = channel_id(&raw)?;
    let overwrite_id: Snowflake = path_id(&overwrite, || HttpError::unknown(10009, "Overwrite"))?;
    let command = GuildCommand::EditChannelPermissions {
        channel_id: channel,
        overwrite: PermissionOverwrite {
            id: overwrite_id,
            kind: request.kind,
            allow: request.allow.unwrap_or(Permissions::empty()),
            deny: request.deny.unwrap_or(Permissions::empty()),
        },
    };
    let id = key.command_id(&caller.actor())?;
    no_content(on_channel(&state, caller, id, channel, || command, || None).await?)
}

/// `DELETE /channels/{channel.id}/permissions/{overwrite.id}` → 204.
#[utoipa::path(
    delete,
    path = "/channels/{channel_id}/permissions/{overwrite_id}",
    tag = "channels",
    params(("channel_id" = SnowflakeType, Path, description = "The channel"), ("overwrite_id" = SnowflakeType, Path, description = "The role or member"), IdempotencyKey),
    responses((status = 204, description = "Done"), Refusals)
)]
async fn delete_permission(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Path((raw, overwrite)): Path<(String, String)>,
) -> Result<Response, HttpError> {
    let channel = channel_id(&raw)?;
    let overwrite_id: Snowflake = path_id(&overwrite, || HttpError::unknown(10009, "Overwrite"))?;
    let command = GuildCommand::DeleteChannelPermission {
        channel_id: channel,
        overwrite_id,
    };
    let id = key.command_id(&caller.actor())?;
    no_content(on_channel(&state, caller, id, channel, || command, || None).await?)
}

/// Discord's create-invite body.
#[derive(Debug, Deserialize, JsonSchema)]
struct CreateInviteRequest {
    #[serde(default)]
    max_age: Option<u32>,
    #[serde(default)]
    max_uses: Option<u32>,
    #[serde(default)]
    temporary: Option<bool>,
}

/// `POST /channels/{channel.id}/invites` → 200 invite.
#[utoipa::path(
    post,
    path = "/channels/{channel_id}/invites",
    tag = "invites",
    params(("channel_id" = SnowflakeType, Path, description = "The channel"), IdempotencyKey),
    request_body = CreateInviteRequest,
    responses((status = 200, description = "The invite", body = GuildInviteResponse), Refusals)
)]
async fn create_invite(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(raw): Path<String>,
    Body(request): Body<CreateInviteRequest>,
) -> Result<Response, HttpError> {
    let channel = channel_id(&raw)?;
    FormErrors::checked(|errors| {
        if request
            .max_age
            .is_some_and(|age| age > MAX_INVITE_AGE_SECONDS)
        {
            errors.add(
                "max_age",
                "NUMBER_TYPE_MAX",
                format!("int value should be less than or equal to {MAX_INVITE_AGE_SECONDS}."),
            );
        }
        if request.max_uses.is_some_and(|uses| uses > MAX_INVITE_USES) {
            errors.add(
                "max_uses",
                "NUMBER_TYPE_MAX",
                format!("int value should be less than or equal to {MAX_INVITE_USES}."),
            );
        }
    })?;
    let ChannelHome::Guild(guild_id) = state.channel_home(channel).await? else {
        return Err(not_in_dm(&state, channel, caller.user_id));
    };
    let code = new_invite_code(guild_id, random_u64()?);
    let command = GuildCommand::CreateInvite {
        code,
        channel_id: channel,
        max_age: request
            .max_age
            .unwrap_or(cloudcord_schemas::guild::invites::DEFAULT_INVITE_AGE_SECONDS),
        max_uses: request.max_uses.unwrap_or(0),
        temporary: request.temporary.unwrap_or(false),
    };
    let id = key.command_id(&caller.actor())?;
    respond(on_channel(&state, caller, id, channel, || command, || None).await?)
}

/// 64 random bits from the system's generator (invite codes must be unguessable).
fn random_u64() -> Result<u64, HttpError> {
    let mut bytes = [0_u8; 8];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| HttpError::internal("drawing random bytes", "the system RNG failed"))?;
    Ok(u64::from_be_bytes(bytes))
}

/// `POST /invites/{invite.code}` → 200 invite: join the invite's guild (users and
/// bots alike). The code itself names the guild, so no lookup is needed.
#[utoipa::path(
    post,
    path = "/invites/{code}",
    tag = "invites",
    params(("code" = String, Path, description = "The invite code"), IdempotencyKey),
    responses((status = 200, description = "The invite (the caller is now a member)", body = GuildInviteResponse), Refusals)
)]
async fn accept_invite(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(code): Path<String>,
) -> Result<Response, HttpError> {
    let guild_id = guild_of_invite(&code).ok_or_else(unknown_invite)?;
    let user = state.snapshot(caller.user_id).await?;
    let actor = caller.actor();
    let outcome = state
        .bus()
        .execute(
            guild_ref(guild_id),
            key.command_id(&actor)?,
            actor,
            GuildCommand::AcceptInvite { code, user },
        )
        .await?;
    if matches!(outcome, Outcome::Accepted { .. }) {
        // Read-your-writes: the new member may type or look at channels right away.
        state
            .accounts()
            .wait_until(state.projection_timeout(), |view| {
                view.is_member(guild_id, caller.user_id).then_some(())
            })
            .await?;
    }
    respond(outcome)
}

/// `DELETE /invites/{invite.code}` → 200 invite.
#[utoipa::path(
    delete,
    path = "/invites/{code}",
    tag = "invites",
    params(("code" = String, Path, description = "The invite code"), IdempotencyKey),
    responses((status = 204, description = "Done"), Refusals)
)]
async fn revoke_invite(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(code): Path<String>,
) -> Result<Response, HttpError> {
    let guild_id = guild_of_invite(&code).ok_or_else(unknown_invite)?;
    let actor = caller.actor();
    respond(
        state
            .bus()
            .execute(
                guild_ref(guild_id),
                key.command_id(&actor)?,
                actor,
                GuildCommand::RevokeInvite { code },
            )
            .await?,
    )
}

/// Discord's create-message body: the JSON body, or the `payload_json` part of a
/// multipart body with files (embeds, components and stickers are not supported yet).
#[derive(Debug, Default, Deserialize, JsonSchema)]
struct SendMessageRequest {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    nonce: Option<Nonce>,
    #[serde(default)]
    enforce_nonce: Option<bool>,
    #[serde(default)]
    tts: Option<bool>,
    #[serde(default)]
    message_reference: Option<MessageReferenceRequest>,
    #[serde(default)]
    allowed_mentions: Option<AllowedMentions>,
    /// Describes the `files[n]` parts of a multipart body.
    #[serde(default)]
    attachments: Vec<AttachmentRequest>,
}

impl WithAttachments for SendMessageRequest {
    fn attachment_requests(&self) -> &[AttachmentRequest] {
        &self.attachments
    }
}

/// A create-message body with files, as `multipart/form-data`: the create-message
/// JSON in `payload_json`, the files in `files[0]` … `files[9]` (the type only
/// describes it; `uploads::read_form` reads it).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct SendMessageForm {
    /// The create-message JSON (`content`, `attachments`, …).
    #[serde(rename = "payload_json")]
    _payload_json: String,
    /// One part per file, `files[0]` … `files[9]`.
    #[serde(rename = "files[0]")]
    #[schema(value_type = Option<String>, format = Binary)]
    _files: Option<Vec<u8>>,
}

fn check_nonce(errors: &mut FormErrors, nonce: Option<&Nonce>) {
    if let Some(Nonce::Text(text)) = nonce {
        errors.length("nonce", text, 0, MAX_NONCE_CHARS);
    }
}

fn check_allowed_mentions(errors: &mut FormErrors, allowed: Option<&AllowedMentions>) {
    let Some(allowed) = allowed else { return };
    for (field, count) in [
        ("roles", allowed.roles.len()),
        ("users", allowed.users.len()),
    ] {
        if count > 100 {
            errors.add(
                &format!("allowed_mentions.{field}"),
                "BASE_TYPE_MAX_LENGTH",
                "Must be 100 or fewer in length.",
            );
        }
    }
}

/// `POST /channels/{channel.id}/messages` → 200 message.
///
/// With `enforce_nonce: true` the nonce is the idempotency key: a repeated nonce
/// (scoped to the author) returns the original message and creates none. Files
/// come as a `multipart/form-data` body (`payload_json` and `files[n]` parts); they
/// are stored before the command is appended and deleted again when it is refused
/// or repeats an earlier one.
#[utoipa::path(
    post,
    path = "/channels/{channel_id}/messages",
    tag = "messages",
    params(("channel_id" = SnowflakeType, Path, description = "The channel"), IdempotencyKey),
    request_body(content(
        (SendMessageRequest = "application/json"),
        (SendMessageForm = "multipart/form-data"),
    )),
    responses((status = 200, description = "The message", body = MessageResponse), Refusals)
)]
async fn send_message(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(raw): Path<String>,
    request: Request,
) -> Result<Response, HttpError> {
    let channel = channel_id(&raw)?;
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("multipart/form-data"));
    let (request, stored) = if multipart {
        let form = Multipart::from_request(request, &state)
            .await
            .map_err(|_| HttpError::invalid_json())?;
        uploads::read_form(state.files(), || AttachmentId(state.next_id()), form).await?
    } else {
        // The route has no router limit (uploads cap themselves): the JSON body gets
        // the router's usual one here, answered with 413 like everywhere else.
        let request = request.map(|body| {
            axum::body::Body::new(http_body_util::Limited::new(body, body::JSON_BODY_LIMIT))
        });
        let Body(request) = Body::<SendMessageRequest>::from_request(request, &state).await?;
        if !request.attachments.is_empty() {
            return Err(FormErrors::single(
                "attachments",
                "ATTACHMENT_NOT_FOUND",
                "Files are sent as multipart/form-data files[n] parts.",
            )
            .into());
        }
        (request, StoredFiles::none(state.files()))
    };
    let message_id = MessageId(state.next_id());
    let outcome = send_stored(&state, caller, key, channel, message_id, request, &stored).await;
    // The files belong to this message only if the command created it: a refusal,
    // an error or the answer of an earlier request with the same key leaves them
    // unnamed.
    let created = matches!(&outcome, Ok(Outcome::Accepted { body: Some(body), .. })
        if body["id"].as_str() == Some(message_id.to_string().as_str()));
    if !created {
        stored.discard().await;
    }
    respond(signed(&state, outcome?))
}

/// `outcome` with the attachment URLs of its message object signed for the caller,
/// who may read the channel (the command was accepted in it).
fn signed(state: &ApiState, mut outcome: Outcome) -> Outcome {
    if let Outcome::Accepted {
        body: Some(body), ..
    } = &mut outcome
    {
        state.files().signer().sign_message(body, now_secs());
    }
    outcome
}

async fn send_stored(
    state: &ApiState,
    caller: Caller,
    key: IdempotencyKey,
    channel: ChannelId,
    message_id: MessageId,
    request: SendMessageRequest,
    stored: &StoredFiles,
) -> Result<Outcome, HttpError> {
    let content = request.content.unwrap_or_default();
    if content.trim().is_empty() && stored.attachments().is_empty() {
        return Err(HttpError::api(
            StatusCode::BAD_REQUEST,
            codes::EMPTY_MESSAGE,
            "Cannot send an empty message",
        ));
    }
    FormErrors::checked(|errors| {
        errors.length("content", &content, 0, MAX_CONTENT_CHARS);
        check_nonce(errors, request.nonce.as_ref());
        check_allowed_mentions(errors, request.allowed_mentions.as_ref());
    })?;
    let actor = caller.actor();
    let command_id = match (&request.nonce, request.enforce_nonce) {
        (Some(nonce), Some(true)) => {
            let scoped = match nonce {
                Nonce::Integer(n) => format!("nonce:i:{n}"),
                Nonce::Text(text) => format!("nonce:s:{text}"),
            };
            key.scoped(&actor, &scoped).map_err(|_| {
                FormErrors::single(
                    "nonce",
                    "BASE_TYPE_INVALID",
                    "A nonce used with enforce_nonce must be visible ASCII.",
                )
            })?
        }
        _ => key.command_id(&actor)?,
    };
    let author = state.snapshot(caller.user_id).await?;
    let payload = SendMessage {
        channel_id: channel,
        message_id,
        author,
        content,
        nonce: request.nonce,
        tts: request.tts.unwrap_or(false),
        message_reference: request.message_reference,
        allowed_mentions: request.allowed_mentions,
        attachments: stored.attachments().to_vec(),
    };
    let for_dm = payload.clone();
    on_channel(
        state,
        caller,
        command_id,
        channel,
        || GuildCommand::SendMessage(payload),
        || Some(DmChannelCommand::SendMessage(for_dm)),
    )
    .await
}

#[derive(Debug, Deserialize, JsonSchema)]
struct EditMessageRequest {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    allowed_mentions: Option<AllowedMentions>,
}

/// `PATCH /channels/{channel.id}/messages/{message.id}` → 200 message.
#[utoipa::path(
    patch,
    path = "/channels/{channel_id}/messages/{message_id}",
    tag = "messages",
    params(("channel_id" = SnowflakeType, Path, description = "The channel"), ("message_id" = SnowflakeType, Path, description = "The message"), IdempotencyKey),
    request_body = EditMessageRequest,
    responses((status = 200, description = "The message", body = MessageResponse), Refusals)
)]
async fn edit_message(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Path((raw_channel, raw_message)): Path<(String, String)>,
    Body(request): Body<EditMessageRequest>,
) -> Result<Response, HttpError> {
    let channel = channel_id(&raw_channel)?;
    let message = message_id(&raw_message)?;
    let Some(content) = request.content else {
        // Only the content is editable so far; an edit without it changes nothing.
        return Err(
            FormErrors::single("content", "BASE_TYPE_REQUIRED", "This field is required").into(),
        );
    };
    if content.trim().is_empty() {
        return Err(HttpError::api(
            StatusCode::BAD_REQUEST,
            codes::EMPTY_MESSAGE,
            "Cannot send an empty message",
        ));
    }
    FormErrors::checked(|errors| {
        errors.length("content", &content, 0, MAX_CONTENT_CHARS);
        check_allowed_mentions(errors, request.allowed_mentions.as_ref());
    })?;
    let payload = EditMessage {
        channel_id: channel,
        message_id: message,
        content,
        allowed_mentions: request.allowed_mentions,
    };
    let for_dm = payload.clone();
    let id = key.command_id(&caller.actor())?;
    let outcome = on_channel(
        &state,
        caller,
        id,
        channel,
        || GuildCommand::EditMessage(payload),
        || Some(DmChannelCommand::EditMessage(for_dm)),
    )
    .await?;
    respond(signed(&state, outcome))
}

/// `DELETE /channels/{channel.id}/messages/{message.id}` → 204.
#[utoipa::path(
    delete,
    path = "/channels/{channel_id}/messages/{message_id}",
    tag = "messages",
    params(("channel_id" = SnowflakeType, Path, description = "The channel"), ("message_id" = SnowflakeType, Path, description = "The message"), IdempotencyKey),
    responses((status = 204, description = "Done"), Refusals)
)]
async fn delete_message(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Path((raw_channel, raw_message)): Path<(String, String)>,
) -> Result<Response, HttpError> {
    let channel = channel_id(&raw_channel)?;
    let payload = DeleteMessage {
        channel_id: channel,
        message_id: message_id(&raw_message)?,
    };
    let for_dm = payload.clone();
    let id = key.command_id(&caller.actor())?;
    no_content(
        on_channel(
            &state,
            caller,
            id,
            channel,
            || GuildCommand::DeleteMessage(payload),
            || Some(DmChannelCommand::DeleteMessage(for_dm)),
        )
        .await?,
    )
}

#[derive(Debug, Deserialize, JsonSchema)]
struct BulkDeleteRequest {
    messages: Vec<MessageId>,
}

/// `POST /channels/{channel.id}/messages/bulk-delete` → 204 (guild channels).
#[utoipa::path(
    post,
    path = "/channels/{channel_id}/messages/bulk-delete",
    tag = "messages",
    params(("channel_id" = SnowflakeType, Path, description = "The channel"), IdempotencyKey),
    request_body = BulkDeleteRequest,
    responses((status = 204, description = "Done"), Refusals)
)]
async fn bulk_delete(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(raw): Path<String>,
    Body(request): Body<BulkDeleteRequest>,
) -> Result<Response, HttpError> {
    let channel = channel_id(&raw)?;
    if !BULK_DELETE_RANGE.contains(&request.messages.len()) {
        return Err(HttpError::api(
            StatusCode::BAD_REQUEST,
            50016,
            "Provided too few or too many messages to delete. Must provide at least 2 and fewer than 100 messages to delete.",
        ));
    }
    let command = GuildCommand::BulkDeleteMessages(BulkDeleteMessages {
        channel_id: channel,
        messages: request.messages,
    });
    let id = key.command_id(&caller.actor())?;
    no_content(on_channel(&state, caller, id, channel, || command, || None).await?)
}

fn emoji(raw: &str) -> Result<ReactionEmoji, HttpError> {
    // axum's `Path` has already percent-decoded the segment.
    ReactionEmoji::parse(raw).ok_or_else(|| HttpError::unknown(10014, "Emoji"))
}

/// `PUT …/reactions/{emoji}/@me` → 204.
#[utoipa::path(
    put,
    path = "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me",
    tag = "messages",
    params(("channel_id" = SnowflakeType, Path, description = "The channel"), ("message_id" = SnowflakeType, Path, description = "The message"), ("emoji" = String, Path, description = "A Unicode emoji or `name:id`"), IdempotencyKey),
    responses((status = 204, description = "Done"), Refusals)
)]
async fn add_reaction(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Path((raw_channel, raw_message, raw_emoji)): Path<(String, String, String)>,
) -> Result<Response, HttpError> {
    let channel = channel_id(&raw_channel)?;
    let payload = AddReaction {
        channel_id: channel,
        message_id: message_id(&raw_message)?,
        emoji: emoji(&raw_emoji)?,
    };
    let for_dm = payload.clone();
    let id = key.command_id(&caller.actor())?;
    no_content(
        on_channel(
            &state,
            caller,
            id,
            channel,
            || GuildCommand::AddReaction(payload),
            || Some(DmChannelCommand::AddReaction(for_dm)),
        )
        .await?,
    )
}

async fn remove_reaction(
    state: ApiState,
    caller: Caller,
    key: IdempotencyKey,
    (raw_channel, raw_message, raw_emoji): (String, String, String),
    user_id: Option<UserId>,
) -> Result<Response, HttpError> {
    let channel = channel_id(&raw_channel)?;
    let payload = RemoveReaction {
        channel_id: channel,
        message_id: message_id(&raw_message)?,
        emoji: emoji(&raw_emoji)?,
        user_id,
    };
    let for_dm = payload.clone();
    let id = key.command_id(&caller.actor())?;
    no_content(
        on_channel(
            &state,
            caller,
            id,
            channel,
            || GuildCommand::RemoveReaction(payload),
            || Some(DmChannelCommand::RemoveReaction(for_dm)),
        )
        .await?,
    )
}

/// `DELETE …/reactions/{emoji}/@me` → 204.
#[utoipa::path(
    delete,
    path = "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me",
    tag = "messages",
    params(("channel_id" = SnowflakeType, Path, description = "The channel"), ("message_id" = SnowflakeType, Path, description = "The message"), ("emoji" = String, Path, description = "A Unicode emoji or `name:id`"), IdempotencyKey),
    responses((status = 204, description = "Done"), Refusals)
)]
async fn remove_own_reaction(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(path): Path<(String, String, String)>,
) -> Result<Response, HttpError> {
    remove_reaction(state, caller, key, path, None).await
}

/// `DELETE …/reactions/{emoji}/{user.id}` → 204 (needs `MANAGE_MESSAGES`).
#[utoipa::path(
    delete,
    path = "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/{user_id}",
    tag = "messages",
    params(("channel_id" = SnowflakeType, Path, description = "The channel"), ("message_id" = SnowflakeType, Path, description = "The message"), ("emoji" = String, Path, description = "A Unicode emoji or `name:id`"), ("user_id" = SnowflakeType, Path, description = "The user"), IdempotencyKey),
    responses((status = 204, description = "Done"), Refusals)
)]
async fn remove_user_reaction(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Path((raw_channel, raw_message, raw_emoji, raw_user)): Path<(String, String, String, String)>,
) -> Result<Response, HttpError> {
    let user_id: UserId = path_id(&raw_user, HttpError::unknown_user)?;
    remove_reaction(
        state,
        caller,
        key,
        (raw_channel, raw_message, raw_emoji),
        Some(user_id),
    )
    .await
}

/// `PUT /channels/{channel.id}/pins/{message.id}` (and `…/messages/pins/…`) → 204.
#[utoipa::path(
    put,
    path = "/channels/{channel_id}/messages/pins/{message_id}",
    tag = "messages",
    params(("channel_id" = SnowflakeType, Path, description = "The channel"), ("message_id" = SnowflakeType, Path, description = "The message"), IdempotencyKey),
    responses((status = 204, description = "Done"), Refusals)
)]
async fn pin(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Path((raw_channel, raw_message)): Path<(String, String)>,
) -> Result<Response, HttpError> {
    let channel = channel_id(&raw_channel)?;
    let payload = PinMessage {
        channel_id: channel,
        message_id: message_id(&raw_message)?,
    };
    let for_dm = payload.clone();
    let id = key.command_id(&caller.actor())?;
    no_content(
        on_channel(
            &state,
            caller,
            id,
            channel,
            || GuildCommand::PinMessage(payload),
            || Some(DmChannelCommand::PinMessage(for_dm)),
        )
        .await?,
    )
}

/// `DELETE /channels/{channel.id}/pins/{message.id}` (and `…/messages/pins/…`) → 204.
#[utoipa::path(
    delete,
    path = "/channels/{channel_id}/messages/pins/{message_id}",
    tag = "messages",
    params(("channel_id" = SnowflakeType, Path, description = "The channel"), ("message_id" = SnowflakeType, Path, description = "The message"), IdempotencyKey),
    responses((status = 204, description = "Done"), Refusals)
)]
async fn unpin(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Path((raw_channel, raw_message)): Path<(String, String)>,
) -> Result<Response, HttpError> {
    let channel = channel_id(&raw_channel)?;
    let payload = UnpinMessage {
        channel_id: channel,
        message_id: message_id(&raw_message)?,
    };
    let for_dm = payload.clone();
    let id = key.command_id(&caller.actor())?;
    no_content(
        on_channel(
            &state,
            caller,
            id,
            channel,
            || GuildCommand::UnpinMessage(payload),
            || Some(DmChannelCommand::UnpinMessage(for_dm)),
        )
        .await?,
    )
}

/// Discord's ack body. Its other fields are accepted and ignored: `token` is a
/// relic both sides send as null, and `mention_count` (a client's own count, for
/// "mark unread") is not needed, since the read side counts the mentions after
/// the acked message itself.
#[derive(Debug, Default, Deserialize, JsonSchema)]
struct AckRequest {
    /// Whether the user set the mark themself ("mark unread").
    #[serde(default)]
    manual: Option<bool>,
}

/// `POST /channels/{channel.id}/messages/{message.id}/ack` → 200 `{"token": null}`:
/// the caller has read the channel up to the message.
#[utoipa::path(
    post,
    path = "/channels/{channel_id}/messages/{message_id}/ack",
    tag = "messages",
    params(("channel_id" = SnowflakeType, Path, description = "The channel"), ("message_id" = SnowflakeType, Path, description = "The last message read"), IdempotencyKey),
    request_body = AckRequest,
    responses((status = 200, description = "Acknowledged", body = AckToken), Refusals)
)]
async fn ack(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Path((raw_channel, raw_message)): Path<(String, String)>,
    Body(request): Body<AckRequest>,
) -> Result<Response, HttpError> {
    let channel = channel_id(&raw_channel)?;
    let payload = AckMessage {
        channel_id: channel,
        message_id: message_id(&raw_message)?,
        manual: request.manual.unwrap_or(false),
    };
    let for_dm = payload.clone();
    let id = key.command_id(&caller.actor())?;
    respond(
        on_channel(
            &state,
            caller,
            id,
            channel,
            || GuildCommand::AckMessage(payload),
            || Some(DmChannelCommand::AckMessage(for_dm)),
        )
        .await?,
    )
}

/// `PUT /channels/{channel.id}/pins/{message.id}`: Discord's older pin route, which
/// most libraries still call.
#[utoipa::path(
    put,
    path = "/channels/{channel_id}/pins/{message_id}",
    tag = "messages",
    params(("channel_id" = SnowflakeType, Path, description = "The channel"), ("message_id" = SnowflakeType, Path, description = "The message"), IdempotencyKey),
    responses((status = 204, description = "Done"), Refusals)
)]
async fn pin_deprecated(
    state: State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    path: Path<(String, String)>,
) -> Result<Response, HttpError> {
    pin(state, caller, key, path).await
}

/// `DELETE /channels/{channel.id}/pins/{message.id}`: Discord's older unpin route.
#[utoipa::path(
    delete,
    path = "/channels/{channel_id}/pins/{message_id}",
    tag = "messages",
    params(("channel_id" = SnowflakeType, Path, description = "The channel"), ("message_id" = SnowflakeType, Path, description = "The message"), IdempotencyKey),
    responses((status = 204, description = "Done"), Refusals)
)]
async fn unpin_deprecated(
    state: State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    path: Path<(String, String)>,
) -> Result<Response, HttpError> {
    unpin(state, caller, key, path).await
}

/// `POST /channels/{channel.id}/typing` → 204.
///
/// Typing is ephemeral: it is not a command and never reaches the event log (it is
/// not history). It goes to the `ephemeral` topic, from which every gateway process
/// sends TYPING_START to the sessions that may see the channel. This route only
/// checks that the caller may see the channel at all (a member of its guild or a
/// DM recipient — roles and overwrites are not evaluated here, see
/// `accounts::ChannelHome`); the gateway applies VIEW_CHANNEL per recipient.
#[utoipa::path(
    post,
    path = "/channels/{channel_id}/typing",
    tag = "channels",
    params(("channel_id" = SnowflakeType, Path, description = "The channel")),
    responses((status = 204, description = "Done"), Refusals)
)]
async fn typing(
    State(state): State<ApiState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Response, HttpError> {
    let channel = channel_id(&raw)?;
    let home = state
        .accounts()
        .lookup(state.projection_timeout(), |view| {
            let visible = view.may_see(channel.0, caller.user_id)?;
            Some((visible, view.channel(channel.0)?))
        })
        .await?;
    let guild_id = match home {
        None => return Err(HttpError::unknown_channel()),
        Some((false, _)) => return Err(HttpError::missing_access()),
        Some((true, ChannelHome::Guild(guild))) => Some(guild),
        Some((true, ChannelHome::Dm)) => None,
    };
    let record = Ephemeral::TypingStarted(TypingStarted {
        channel_id: channel,
        guild_id,
        user_id: caller.user_id,
        timestamp: time::OffsetDateTime::now_utc().unix_timestamp(),
    });
    state.bus().announce(&channel.to_string(), &record).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

described_by_schemars!(
    ModifyChannelRequest,
    OverwriteRequest,
    CreateInviteRequest,
    SendMessageRequest,
    EditMessageRequest,
    BulkDeleteRequest,
    AckRequest
);
