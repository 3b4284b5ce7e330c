//! Guild commands and events: the guild itself and, as the write-path issue fills
//! them in, everything inside it (channels, roles, members, overwrites, invites,
//! bans, messages in guild channels, voice state). All of them share the guild's
//! shard, so one processor holds a guild's whole permission state.

use serde::{Deserialize, Serialize};

use crate::events::EventType;
use crate::ids::UserId;

/// What can be asked of a guild.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum GuildCommand {
    /// Create the guild, owned by the actor.
    CreateGuild {
        /// 2 to 100 characters.
        name: String,
    },
    /// Change the guild's settings.
    ModifyGuild {
        /// A new name, when it changes.
        name: Option<String>,
    },
}

/// What happened to a guild.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum GuildEvent {
    /// The guild exists.
    GuildCreated {
        /// Its name.
        name: String,
        /// Who owns it.
        owner_id: UserId,
    },
    /// Guild settings changed.
    GuildUpdated {
        /// The new name, if it changed.
        name: Option<String>,
    },
}

impl EventType for GuildEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::GuildCreated { .. } => "GuildCreated",
            Self::GuildUpdated { .. } => "GuildUpdated",
        }
    }

    fn event_version(&self) -> u32 {
        1
    }
}
