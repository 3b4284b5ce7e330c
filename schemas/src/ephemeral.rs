//! Records of the `ephemeral` topic: what is live but not history. Typing and
//! presence reach every gateway process through it, and gateway processes ask each
//! other for sessions on it. Kept for minutes; never projected, never audited.
//!
//! Every record is one JSON object tagged by `type`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{ChannelId, GuildId, UserId};

/// One `ephemeral` record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Ephemeral {
    /// A client resumes `session_id` on another gateway process: whoever holds the
    /// session hands it over.
    HandoverRequest {
        /// The session.
        session_id: String,
    },
    /// Someone started typing (`POST /channels/{id}/typing`).
    TypingStarted(TypingStarted),
    /// Presences of sessions on one gateway process.
    Presences(PresenceReport),
}

/// Someone started typing in a channel they may see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypingStarted {
    /// The channel.
    pub channel_id: ChannelId,
    /// Its guild (`None`: a DM).
    pub guild_id: Option<GuildId>,
    /// Who types.
    pub user_id: UserId,
    /// When, in Unix seconds (TYPING_START's `timestamp`).
    pub timestamp: i64,
}

/// The presences of sessions on one gateway process: one session's when it
/// changes, and all of them periodically, so a process that starts later learns
/// them and the sessions of a process that died without a word expire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PresenceReport {
    /// The reporting process.
    pub process: String,
    /// The sessions.
    pub sessions: Vec<SessionPresence>,
}

/// One session's presence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionPresence {
    /// The session.
    pub session_id: String,
    /// Its user.
    pub user_id: UserId,
    /// What the session set (`offline`: the session ended).
    pub status: Status,
    /// Its activities, as the client sent them (Discord's activity objects).
    #[serde(default)]
    pub activities: Vec<Value>,
    /// When the session last changed its presence, in Unix milliseconds: of a
    /// user's sessions, the one that changed last decides what others see.
    pub changed_at_ms: i64,
}

/// A presence status, in Discord's spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Online.
    Online,
    /// Idle.
    Idle,
    /// Do not disturb.
    Dnd,
    /// Shown as offline to others.
    Invisible,
    /// Offline (a session that ended).
    Offline,
}

impl Status {
    /// Discord's name of the status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Idle => "idle",
            Self::Dnd => "dnd",
            Self::Invisible => "invisible",
            Self::Offline => "offline",
        }
    }
}

/// Why a record could not be read.
#[derive(Debug, thiserror::Error)]
#[error("the ephemeral record is not valid")]
pub struct DecodeError(#[from] serde_json::Error);

impl Ephemeral {
    /// Decodes one record's value.
    pub fn decode(value: &[u8]) -> Result<Self, DecodeError> {
        Ok(serde_json::from_slice(value)?)
    }

    /// The record's value.
    pub fn encode(&self) -> Vec<u8> {
        // Strings, numbers and JSON values always serialize.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::{Ephemeral, TypingStarted};
    use crate::ids::{ChannelId, UserId};

    #[test]
    fn records_round_trip_with_a_type_tag() {
        let request = Ephemeral::HandoverRequest {
            session_id: "abc".to_owned(),
        };
        let value = request.encode();
        assert_eq!(
            std::str::from_utf8(&value).expect("utf-8"),
            r#"{"type":"handover_request","session_id":"abc"}"#
        );
        assert_eq!(Ephemeral::decode(&value).expect("decodes"), request);
        let typing = Ephemeral::TypingStarted(TypingStarted {
            channel_id: ChannelId::new(7),
            guild_id: None,
            user_id: UserId::new(8),
            timestamp: 1_700_000_000,
        });
        assert_eq!(
            Ephemeral::decode(&typing.encode()).expect("decodes"),
            typing
        );
        assert!(Ephemeral::decode(br#"{"type":"unknown"}"#).is_err());
    }
}
