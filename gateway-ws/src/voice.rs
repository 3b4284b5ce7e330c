//! Gateway op 4 (Voice State Update): joining, moving and leaving voice, answered
//! with VOICE_SERVER_UPDATE `{token, guild_id, endpoint}` for the SFU.
//!
//! The gateway does not decide the join itself: it asks command-api's voice routes
//! (`POST`/`DELETE /api/v10/channels/{id}/voice`, `command-api/src/http/voice.rs`)
//! with the session's own credential, as the client could have done over REST. So
//! the guild aggregate enforces VIEW_CHANNEL, CONNECT and the user limit on one path
//! for both, the voice state reaches guild members as VOICE_STATE_UPDATE through the
//! usual projection, and the media token is minted where the signing key lives.
//! Doing it over the topics instead would need a results watcher and the signing key
//! in every gateway process, a second copy of what that route does.
//!
//! * Join or move: `POST` with `{self_mute, self_deaf}`; on success the session gets
//!   VOICE_SERVER_UPDATE, unless the guild's voice states (this gateway's copy)
//!   already showed the user in that channel (a mute or deafen toggle needs no new
//!   media connection).
//! * Leave (`channel_id: null`): `DELETE` on the channel the user is in — as the
//!   guild's voice states show, or else as this connection's last join said, since
//!   the projection may not have caught up with it; nothing when neither knows one.
//! * A refusal (no CONNECT, a full channel) sends nothing, as Discord does; it is
//!   logged. The session stays up.
//! * A connection's op 4s are carried out one at a time, in order (a join then a
//!   leave must not swap), by one task per connection that sent any, with a queue
//!   of [`QUEUE`]; more arriving meanwhile are dropped and logged.
//!
//! The session's credential is the token it identified (or resumed) with: a user's
//! access token expires (an hour by default) while a session may last longer, after
//! which op 4 is refused until the client identifies again. Bot tokens do not expire.

use std::time::Duration;

use cloudcord_schemas::ids::{ChannelId, GuildId};
use serde::{Deserialize, Serialize};

use crate::hub::Attachment;
use crate::protocol::payload::VoiceStateUpdate;

/// How long one call to command-api may take (it waits for the command's result).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Op 4s a connection may have waiting behind the one being carried out.
pub const QUEUE: usize = 4;

/// Why an op 4 had no effect.
#[derive(Debug, thiserror::Error)]
pub enum VoiceError {
    /// command-api could not be reached or did not answer in time.
    #[error("command-api is unreachable")]
    Unreachable(#[from] reqwest::Error),
    /// command-api refused (no CONNECT, a full channel, an expired credential…).
    #[error("command-api refused with {status}: {body}")]
    Refused {
        /// Its status.
        status: reqwest::StatusCode,
        /// Its Discord-shaped error.
        body: String,
    },
}

/// VOICE_SERVER_UPDATE's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VoiceServer {
    /// The media token for the SFU.
    pub token: String,
    /// The guild.
    pub guild_id: GuildId,
    /// Where the SDP offer goes with the token (the SFU's signalling).
    pub endpoint: String,
}

/// The part of command-api's join answer the gateway passes on.
#[derive(Deserialize)]
struct Joined {
    token: String,
    endpoint: String,
}

/// The HTTP `Authorization` value of the token a session identified or resumed with
/// (Discord libraries send bot tokens bare; command-api wants `Bot <token>`, and
/// `Bearer <token>` for a user's).
pub fn authorization(token: &str, attachment: &Attachment) -> String {
    let bot = attachment
        .slot
        .with_session(|session| session.identity().bot);
    scheme_for(token, bot)
}

fn scheme_for(token: &str, bot: bool) -> String {
    let token = token.trim();
    let bare = token
        .split_once(' ')
        .filter(|(scheme, _)| {
            scheme.eq_ignore_ascii_case("bot") || scheme.eq_ignore_ascii_case("bearer")
        })
        .map_or(token, |(_, bare)| bare.trim());
    let scheme = if bot { "Bot" } else { "Bearer" };
    format!("{scheme} {bare}")
}

/// command-api's voice routes, called with sessions' credentials. Cheap to clone.
#[derive(Debug, Clone)]
pub struct VoiceRoutes {
    http: reqwest::Client,
    /// `http://host:port` of command-api's REST API.
    base: String,
}

impl VoiceRoutes {
    /// Calls the command-api at `base` (`http://host:port`).
    pub fn new(base: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    /// Joins (or moves) the user of `authorization` (an HTTP `Authorization`
    /// value) to `channel` of `update`'s guild; the media server to connect to.
    pub async fn join(
        &self,
        authorization: &str,
        channel: ChannelId,
        update: VoiceStateUpdate,
    ) -> Result<VoiceServer, VoiceError> {
        let body = serde_json::json!({
            "self_mute": update.self_mute,
            "self_deaf": update.self_deaf,
        });
        let answer = self
            .call(self.http.post(self.url(channel)).json(&body), authorization)
            .await?;
        let joined: Joined = answer.json().await?;
        Ok(VoiceServer {
            token: joined.token,
            guild_id: update.guild_id,
            endpoint: joined.endpoint,
        })
    }

    /// Takes the user of `authorization` out of voice `channel`.
    pub async fn leave(&self, authorization: &str, channel: ChannelId) -> Result<(), VoiceError> {
        self.call(self.http.delete(self.url(channel)), authorization)
            .await
            .map(drop)
    }

    fn url(&self, channel: ChannelId) -> String {
        format!("{}/api/v10/channels/{channel}/voice", self.base)
    }

    async fn call(
        &self,
        request: reqwest::RequestBuilder,
        authorization: &str,
    ) -> Result<reqwest::Response, VoiceError> {
        let response = request
            .header(reqwest::header::AUTHORIZATION, authorization)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.text().await.unwrap_or_default();
        Err(VoiceError::Refused { status, body })
    }
}

#[cfg(test)]
mod tests {
    use super::scheme_for;

    #[test]
    fn a_session_token_becomes_the_authorization_command_api_expects() {
        assert_eq!(scheme_for("abc.def", true), "Bot abc.def");
        assert_eq!(scheme_for("Bot abc.def", true), "Bot abc.def");
        assert_eq!(scheme_for("eyJ.x.y", false), "Bearer eyJ.x.y");
        assert_eq!(scheme_for("bearer eyJ.x.y ", false), "Bearer eyJ.x.y");
    }
}
