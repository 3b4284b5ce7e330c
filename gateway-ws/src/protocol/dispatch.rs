//! [`Dispatch`]: one event ready to go to every session that may see it, with what a
//! session needs to decide whether it wants it (intents, shard, message content).

use std::sync::Arc;

use cloudcord_schemas::ids::{GuildId, UserId};

use super::intents::Intents;

/// An event rendered once for all its recipients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispatch {
    /// The event name, `t` (e.g. `MESSAGE_CREATE`).
    pub event: &'static str,
    /// `d` as JSON text.
    pub data: Arc<str>,
    /// Where the event happened: decides the shard.
    pub scope: Scope,
    /// A session receives the event when it asked for any of these intents; empty
    /// means no intent is needed (e.g. USER_UPDATE, CHANNEL_CREATE of a DM).
    pub intents: Intents,
    /// A user whose own sessions receive the event whatever their intents (Discord
    /// sends a member's own GUILD_MEMBER_UPDATE regardless of GUILD_MEMBERS).
    pub always_for: Option<UserId>,
    /// Set on events that carry message content.
    pub content: Option<MessageContent>,
}

/// Where an event happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// In a guild: only the guild's shard receives it.
    Guild(GuildId),
    /// In a DM channel: only shard 0.
    Direct,
    /// About the user themself (USER_UPDATE, relationships): every shard.
    User,
}

/// What a bot without MESSAGE_CONTENT may still see of a message ("Message Content
/// Intent"): content it wrote, content in DMs with it, content that mentions it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageContent {
    /// `d` with `content` empty and `embeds`, `attachments`, `components` (and
    /// `poll`) emptied, as JSON text.
    pub redacted: Arc<str>,
    /// The message's author.
    pub author: UserId,
    /// The users it mentions.
    pub mentions: Vec<UserId>,
}
