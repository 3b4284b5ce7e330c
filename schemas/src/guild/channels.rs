//! Guild channels: text channels, voice channels and categories, with their
//! permission overwrites.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{ChannelId, Snowflake};
use crate::permissions::PermissionOverwrite;

/// Most channels in a guild (JSON error 30013).
pub const MAX_CHANNELS: usize = 500;

/// Longest channel name, in characters (at least 1).
pub const MAX_CHANNEL_NAME_CHARS: usize = 100;

/// Longest channel topic, in characters.
pub const MAX_TOPIC_CHARS: usize = 1024;

/// Longest slowmode, in seconds (6 hours).
pub const MAX_RATE_LIMIT_PER_USER: u32 = 21_600;

/// Fewest bits per second of a voice channel.
pub const MIN_BITRATE: u32 = 8_000;

/// Most bits per second of a voice channel (Discord's limit without boosts).
pub const MAX_BITRATE: u32 = 96_000;

/// Default bitrate of a new voice channel.
pub const DEFAULT_BITRATE: u32 = 64_000;

/// Largest `user_limit` of a voice channel (0 means no limit).
pub const MAX_USER_LIMIT: u32 = 99;

/// The channel types a guild can hold here; Discord's integer `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "u8", into = "u8")]
#[schemars(with = "u8")]
pub enum ChannelType {
    /// `GUILD_TEXT` (0).
    GuildText,
    /// `GUILD_VOICE` (2).
    GuildVoice,
    /// `GUILD_CATEGORY` (4).
    GuildCategory,
}

/// A channel `type` CloudCord does not support in guilds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported guild channel type {0}")]
pub struct UnsupportedChannelType(pub u8);

impl From<ChannelType> for u8 {
    fn from(kind: ChannelType) -> Self {
        match kind {
            ChannelType::GuildText => 0,
            ChannelType::GuildVoice => 2,
            ChannelType::GuildCategory => 4,
        }
    }
}

impl TryFrom<u8> for ChannelType {
    type Error = UnsupportedChannelType;

    fn try_from(value: u8) -> Result<Self, Self::Error> {
        match value {
            0 => Ok(Self::GuildText),
            2 => Ok(Self::GuildVoice),
            4 => Ok(Self::GuildCategory),
            other => Err(UnsupportedChannelType(other)),
        }
    }
}

/// A guild channel as the guild aggregate and its projections keep it; field names
/// are Discord's channel object's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GuildChannel {
    /// The channel.
    pub id: ChannelId,
    /// Text, voice or category.
    #[serde(rename = "type")]
    pub kind: ChannelType,
    /// 1 to 100 characters.
    pub name: String,
    /// Sorting position.
    pub position: u32,
    /// The category it sits in.
    pub parent_id: Option<ChannelId>,
    /// Text channels: the topic (up to 1024 characters).
    pub topic: Option<String>,
    /// Age-restricted.
    pub nsfw: bool,
    /// Text channels: slowmode seconds (0 to 21600).
    pub rate_limit_per_user: u32,
    /// Voice channels: bits per second.
    pub bitrate: Option<u32>,
    /// Voice channels: most connected users (0: unlimited).
    pub user_limit: Option<u32>,
    /// Permission overwrites, at most one per role or member.
    pub permission_overwrites: Vec<PermissionOverwrite>,
}

/// A channel was created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChannelCreated {
    /// The channel as created.
    pub channel: GuildChannel,
}

/// A channel's settings changed; carries the whole new channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChannelUpdated {
    /// The channel after the change.
    pub channel: GuildChannel,
}

/// A channel was deleted. Its messages, invites and voice states go with it; the
/// channels of a deleted category lose their `parent_id`; the guild's system or AFK
/// channel setting that named it becomes null.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChannelDeleted {
    /// The channel as it was.
    pub channel: GuildChannel,
}

/// A channel's overwrite for one role or member was set (created or replaced).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChannelOverwriteUpserted {
    /// The channel.
    pub channel_id: ChannelId,
    /// The overwrite.
    pub overwrite: PermissionOverwrite,
}

/// A channel's overwrite for one role or member was removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChannelOverwriteDeleted {
    /// The channel.
    pub channel_id: ChannelId,
    /// The role's or member's id.
    pub id: Snowflake,
}
