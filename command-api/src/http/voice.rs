//! Voice connections: joining and leaving a voice channel, and the media token that
//! admits the caller to the channel's SFU. (Discord does this through gateway op 4
//! and VOICE_SERVER_UPDATE; CloudCord's gateway carries out op 4 by calling these
//! two routes with the session's credential — `gateway-ws/src/voice.rs` — so both
//! paths make the same decision.)
//!
//! | route | command | answer |
//! |---|---|---|
//! | `POST /channels/{channel.id}/voice` | `UpdateVoiceState` (join) | 200 `{token, endpoint, expires_in, voice_state}` |
//! | `DELETE /channels/{channel.id}/voice` | `UpdateVoiceState` (leave) | 204 |
//!
//! The guild aggregate decides the join (voice channel 50024, VIEW_CHANNEL 50001,
//! CONNECT 50013, the user limit), so the token is minted only for a join the event
//! log accepted, and the voice state reaches guild members as VOICE_STATE_UPDATE.
//! The token also says whether the SFU forwards the user's audio (not when the
//! aggregate suppressed the user, without SPEAK, or a moderator muted them) and
//! their screen share (not without STREAM). Changes during a call take effect at
//! the next join.
//! DM channels have no voice yet (50003 to their recipients, Missing Access to
//! anyone else, so the answer never tells an outsider that a DM exists).

use std::time::SystemTime;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use cloudcord_runtime::auth::MediaGrant;
use cloudcord_runtime::auth::media_token::MEDIA_TOKEN_TTL;
use cloudcord_runtime::described_by_schemars;
use cloudcord_runtime::http_error::HttpError;
use cloudcord_runtime::openapi::Refusals;
use cloudcord_runtime::openapi::objects::SnowflakeType;
use cloudcord_schemas::envelope::Outcome;
use cloudcord_schemas::guild::GuildCommand;
use cloudcord_schemas::ids::{ChannelId, GuildId};
use schemars::JsonSchema;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::accounts::ChannelHome;
use super::auth::Caller;
use super::body::Body;
use super::bus::respond;
use super::channels::not_in_dm;
use super::guilds::{guild_ref, no_content, path_id};
use super::replies::VoiceConnection;
use super::{ApiState, IdempotencyKey};

/// Where clients send their SDP offer with the token (the SFU's signalling, at the
/// front door).
const SFU_ENDPOINT: &str = "/sfu/sessions";

/// The voice routes under `/api/v10`.
pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(join, leave))
}

/// The optional body of a join.
#[derive(Debug, Deserialize, JsonSchema)]
struct JoinRequest {
    #[serde(default)]
    self_mute: bool,
    #[serde(default)]
    self_deaf: bool,
}

described_by_schemars!(JoinRequest);

/// `POST /channels/{channel.id}/voice` → 200 with a media token for the channel.
#[utoipa::path(
    post,
    path = "/channels/{channel_id}/voice",
    tag = "voice",
    params(("channel_id" = SnowflakeType, Path, description = "The voice channel"), IdempotencyKey),
    request_body = JoinRequest,
    responses((status = 200, description = "The caller is in the channel; the token admits them to its SFU", body = VoiceConnection), Refusals)
)]
async fn join(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(raw): Path<String>,
    Body(request): Body<JoinRequest>,
) -> Result<Response, HttpError> {
    let channel_id: ChannelId = path_id(&raw, HttpError::unknown_channel)?;
    let command = GuildCommand::UpdateVoiceState {
        channel_id: Some(channel_id),
        self_mute: request.self_mute,
        self_deaf: request.self_deaf,
        session_id: None,
    };
    let guild_id = guild_of(&state, &caller, channel_id).await?;
    let mut voice_state = match on_guild(&state, &caller, &key, guild_id, command).await? {
        Outcome::Accepted { body, .. } => body.unwrap_or_default(),
        rejected @ Outcome::Rejected { .. } => return respond(rejected),
    };
    // The aggregate's answer says whether the user has STREAM there; it goes into
    // the token, not into the Discord-shaped voice state.
    let may_stream = voice_state
        .as_object_mut()
        .and_then(|object| object.remove("may_stream"))
        .and_then(|value| value.as_bool())
        .unwrap_or(false);
    // The aggregate decided these: no SPEAK in the channel (suppress) or a server
    // mute. Either way the SFU must not forward the user's microphone.
    let silenced = |field: &str| voice_state[field].as_bool().unwrap_or(false);
    let grant = MediaGrant {
        user_id: caller.user_id,
        guild_id,
        channel_id,
        may_speak: !silenced("suppress") && !silenced("mute"),
        may_stream,
    };
    let token = state
        .issuer()
        .issue_media_token(grant, SystemTime::now())
        .map_err(|error| HttpError::internal("signing a media token", error))?;
    Ok(Json(VoiceConnection {
        token,
        endpoint: SFU_ENDPOINT.to_owned(),
        expires_in: MEDIA_TOKEN_TTL.as_secs(),
        voice_state,
    })
    .into_response())
}

/// `DELETE /channels/{channel.id}/voice` → 204: the caller's voice state leaves.
#[utoipa::path(
    delete,
    path = "/channels/{channel_id}/voice",
    tag = "voice",
    params(("channel_id" = SnowflakeType, Path, description = "The voice channel"), IdempotencyKey),
    responses((status = 204, description = "Done"), Refusals)
)]
async fn leave(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(raw): Path<String>,
) -> Result<Response, HttpError> {
    let channel_id: ChannelId = path_id(&raw, HttpError::unknown_channel)?;
    let command = GuildCommand::UpdateVoiceState {
        channel_id: None,
        self_mute: false,
        self_deaf: false,
        session_id: None,
    };
    let guild_id = guild_of(&state, &caller, channel_id).await?;
    no_content(on_guild(&state, &caller, &key, guild_id, command).await?)
}

/// The guild of voice channel `channel_id`.
async fn guild_of(
    state: &ApiState,
    caller: &Caller,
    channel_id: ChannelId,
) -> Result<GuildId, HttpError> {
    match state.channel_home(channel_id).await? {
        ChannelHome::Guild(guild_id) => Ok(guild_id),
        ChannelHome::Dm => Err(not_in_dm(state, channel_id, caller.user_id)),
    }
}

/// Runs the caller's `command` on `guild_id`.
async fn on_guild(
    state: &ApiState,
    caller: &Caller,
    key: &IdempotencyKey,
    guild_id: GuildId,
    command: GuildCommand,
) -> Result<Outcome, HttpError> {
    let actor = caller.actor();
    let command_id = key.command_id(&actor)?;
    state
        .bus()
        .execute(guild_ref(guild_id), command_id, actor, command)
        .await
}
