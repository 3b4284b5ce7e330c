//! Guild commands and events: the guild itself and everything inside it (channels,
//! roles, members, overwrites, invites, bans, messages in guild channels, voice
//! state). All of them share the guild's shard, so one processor holds a guild's
//! whole permission state.
//!
//! Conventions (every aggregate's module follows them):
//! * Commands are imperative (`CreateChannel`), tagged `"type": "create_channel"`.
//!   Every new id a command creates comes *in* the command (assigned by command-api),
//!   so deciding it again after a failover gives the same result.
//! * Events are past tense, one struct per event type (`ChannelCreated`), each with
//!   its own JSON Schema file and version; the enum is tagged `"type": "ChannelCreated"`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::UserId;

/// What can be asked of a guild.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
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

/// The guild exists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GuildCreated {
    /// Its name.
    pub name: String,
    /// Who owns it.
    pub owner_id: UserId,
}

/// Guild settings changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GuildUpdated {
    /// The new name, if it changed.
    pub name: Option<String>,
}

crate::event_enum! {
    /// What happened to a guild.
    pub enum GuildEvent {
        GuildCreated = 1,
        GuildUpdated = 1,
    }
}
