//! Messages: the commands and events shared by every channel that holds messages —
//! guild text channels (the guild aggregate) and DM channels (the DM aggregate).
//!
//! Both aggregates wrap the same payload structs in their own command and event
//! enums (`GuildCommand::SendMessage(SendMessage)`, `GuildEvent::MessageSent(MessageSent)`,
//! and the same in the DM enums), so a message projection reads one layout whatever
//! the channel. Nothing here knows about guilds: where a guild matters (role
//! mentions) the field is simply empty in a DM.
//!
//! Field names follow Discord's message object (`developers/resources/message.mdx`).

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{AttachmentId, ChannelId, GuildId, MessageId, RoleId, Snowflake, UserId};

/// Longest message content, in characters (Discord: "up to 2000 characters").
pub const MAX_CONTENT_CHARS: usize = 2000;

/// Longest string nonce, in characters (Discord: "integer or string, max 25").
pub const MAX_NONCE_CHARS: usize = 25;

/// Most pinned messages per channel (JSON error 30003).
pub const MAX_PINS: usize = 250;

/// Most distinct reaction emojis on one message (JSON error 30010).
pub const MAX_REACTION_EMOJIS: usize = 20;

/// Fewest and most message ids in one bulk delete.
pub const BULK_DELETE_RANGE: std::ops::RangeInclusive<usize> = 2..=100;

/// How old a message may be and still be bulk-deleted, in milliseconds (two weeks).
pub const BULK_DELETE_MAX_AGE_MS: u64 = 14 * 24 * 60 * 60 * 1000;

/// The profile of a user as it was when an event happened: who wrote a message, who
/// joined a guild. The HTTP layer takes it from its accounts projection and puts it in
/// the command, so projections need no other source to render the author.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UserSnapshot {
    /// The user.
    pub id: UserId,
    /// Unique username.
    pub username: String,
    /// Display name, if set.
    #[serde(default)]
    pub global_name: Option<String>,
    /// Avatar hash, if set.
    #[serde(default)]
    pub avatar: Option<String>,
    /// Whether the account is a bot.
    #[serde(default)]
    pub bot: bool,
}

/// A mention type that `allowed_mentions.parse` may list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AllowedMentionType {
    /// `<@&id>` role mentions.
    Roles,
    /// `<@id>` user mentions.
    Users,
    /// `@everyone` and `@here`.
    Everyone,
}

/// Discord's allowed-mentions object: which mentions in the content notify.
///
/// Absent from a request, every mention type is parsed and a reply mentions the
/// replied-to author (Discord's default for regular messages).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AllowedMentions {
    /// Mention types parsed from the content (absent: none of the types).
    #[serde(default)]
    pub parse: Vec<AllowedMentionType>,
    /// Roles that may be mentioned even if `parse` lacks `roles` (max 100).
    #[serde(default)]
    pub roles: Vec<RoleId>,
    /// Users that may be mentioned even if `parse` lacks `users` (max 100).
    #[serde(default)]
    pub users: Vec<UserId>,
    /// For replies, whether the replied-to author is mentioned.
    #[serde(default)]
    pub replied_user: bool,
}

/// A reply's pointer to an earlier message, as the sender gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MessageReferenceRequest {
    /// The message replied to.
    pub message_id: MessageId,
    /// Its channel; must be the channel sent to (when given).
    #[serde(default)]
    pub channel_id: Option<ChannelId>,
    /// Its guild (when given).
    #[serde(default)]
    pub guild_id: Option<GuildId>,
    /// Refuse the message if the replied-to message does not exist (default true);
    /// when false, the reference is dropped instead.
    #[serde(default)]
    pub fail_if_not_exists: Option<bool>,
}

/// A resolved reply reference, as stored and sent in message objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MessageReference {
    /// The message replied to.
    pub message_id: MessageId,
    /// Its channel.
    pub channel_id: ChannelId,
    /// Its guild (`None` in DMs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guild_id: Option<GuildId>,
}

/// A message nonce: an integer or a string of up to 25 characters, echoed back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Nonce {
    /// A numeric nonce.
    Integer(i64),
    /// A string nonce.
    Text(String),
}

/// The emoji of a reaction: a Unicode emoji, or a custom emoji `name:id`.
///
/// Serialized as Discord's partial emoji object (`{"id": null, "name": "🔥"}`).
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub struct ReactionEmoji {
    /// The custom emoji's id; `None` for a Unicode emoji.
    pub id: Option<Snowflake>,
    /// The Unicode emoji itself, or the custom emoji's name.
    pub name: String,
}

impl ReactionEmoji {
    /// Parses the (already URL-decoded) emoji path segment of the reaction routes:
    /// `name:id` for a custom emoji, otherwise the Unicode emoji itself. `None` for
    /// what cannot be an emoji (Discord's 10014 Unknown Emoji).
    pub fn parse(segment: &str) -> Option<Self> {
        if segment.is_empty() || segment.chars().count() > 64 {
            return None;
        }
        if let Some((name, id)) = segment.rsplit_once(':') {
            let name = name
                .strip_prefix('a')
                .and_then(|n| n.strip_prefix(':'))
                .unwrap_or(name);
            let id: Snowflake = id.parse().ok()?;
            if name.is_empty() {
                return None;
            }
            return Some(Self {
                id: Some(id),
                name: name.to_owned(),
            });
        }
        // A Unicode emoji has at least one non-ASCII character (even keycaps such as
        // "1️⃣" carry a combining mark); plain ASCII words are not emojis.
        if segment.is_ascii() || segment.chars().any(char::is_whitespace) {
            return None;
        }
        Some(Self {
            id: None,
            name: segment.to_owned(),
        })
    }

    /// Whether this is a custom (guild) emoji rather than a Unicode one.
    pub fn is_custom(&self) -> bool {
        self.id.is_some()
    }
}

impl fmt::Display for ReactionEmoji {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.id {
            Some(id) => write!(f, "{}:{id}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// Most files on one message (Discord: "up to 10 files").
pub const MAX_ATTACHMENTS: usize = 10;

/// A file attached to a message, as stored: the bytes are in the file store under
/// `id`, never in an event. Serialized with Discord's attachment field names, so it
/// is the attachment object without its `url` and `proxy_url`, which are signed
/// for each reader when the message is served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Attachment {
    /// The attachment (and the stored file's key).
    pub id: AttachmentId,
    /// The file's name as the sender gave it (sanitized by command-api).
    pub filename: String,
    /// The sender's description (alt text).
    #[serde(default)]
    pub description: Option<String>,
    /// The media type sniffed from the bytes (never the sender's claim).
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
    /// Height in pixels, for images.
    #[serde(default)]
    pub height: Option<u32>,
    /// Width in pixels, for images.
    #[serde(default)]
    pub width: Option<u32>,
}

/// Send a message to a channel (`POST /channels/{id}/messages`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SendMessage {
    /// The channel written to.
    pub channel_id: ChannelId,
    /// The new message's id (assigned by command-api).
    pub message_id: MessageId,
    /// The sender's profile (must be the actor).
    pub author: UserSnapshot,
    /// The text, 1 to 2000 characters.
    pub content: String,
    /// Echoed back to the sender to match the message to its request.
    #[serde(default)]
    pub nonce: Option<Nonce>,
    /// Text-to-speech (kept only with `SEND_TTS_MESSAGES`).
    #[serde(default)]
    pub tts: bool,
    /// What this message replies to.
    #[serde(default)]
    pub message_reference: Option<MessageReferenceRequest>,
    /// Which mentions notify; `None` means Discord's default (all of them).
    #[serde(default)]
    pub allowed_mentions: Option<AllowedMentions>,
    /// Files already in the file store (needs `ATTACH_FILES`); with any, the
    /// content may be empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

/// Edit a message's content (`PATCH /channels/{id}/messages/{id}`); only its author may.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EditMessage {
    /// The message's channel.
    pub channel_id: ChannelId,
    /// The message.
    pub message_id: MessageId,
    /// The new text, 1 to 2000 characters.
    pub content: String,
    /// Which mentions in the new text notify; `None` means all of them.
    #[serde(default)]
    pub allowed_mentions: Option<AllowedMentions>,
}

/// Delete a message (`DELETE /channels/{id}/messages/{id}`): its author, or anyone
/// with `MANAGE_MESSAGES`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeleteMessage {
    /// The message's channel.
    pub channel_id: ChannelId,
    /// The message.
    pub message_id: MessageId,
}

/// Delete 2 to 100 messages younger than two weeks at once
/// (`POST /channels/{id}/messages/bulk-delete`); needs `MANAGE_MESSAGES`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BulkDeleteMessages {
    /// The channel.
    pub channel_id: ChannelId,
    /// The messages (ids that do not exist count towards the limits and are skipped).
    pub messages: Vec<MessageId>,
}

/// React to a message as the actor (`PUT …/reactions/{emoji}/@me`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AddReaction {
    /// The message's channel.
    pub channel_id: ChannelId,
    /// The message.
    pub message_id: MessageId,
    /// The emoji.
    pub emoji: ReactionEmoji,
}

/// Remove a reaction: the actor's own (`…/@me`, `user_id` absent) or another user's
/// (`…/{user.id}`, needs `MANAGE_MESSAGES`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RemoveReaction {
    /// The message's channel.
    pub channel_id: ChannelId,
    /// The message.
    pub message_id: MessageId,
    /// The emoji.
    pub emoji: ReactionEmoji,
    /// Whose reaction; `None` for the actor's own.
    #[serde(default)]
    pub user_id: Option<UserId>,
}

/// Pin a message (`PUT /channels/{id}/messages/pins/{id}`); needs `PIN_MESSAGES`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PinMessage {
    /// The message's channel.
    pub channel_id: ChannelId,
    /// The message.
    pub message_id: MessageId,
}

/// Unpin a message (`DELETE /channels/{id}/messages/pins/{id}`); needs `PIN_MESSAGES`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UnpinMessage {
    /// The message's channel.
    pub channel_id: ChannelId,
    /// The message.
    pub message_id: MessageId,
}

/// Mark a channel read up to a message, for the actor
/// (`POST /channels/{id}/messages/{id}/ack`). The message must be in the channel;
/// acking an earlier message than before moves the mark back ("mark unread").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AckMessage {
    /// The channel read.
    pub channel_id: ChannelId,
    /// The last message read.
    pub message_id: MessageId,
    /// Whether the user set the mark themself (Discord's `manual`, "mark unread")
    /// rather than the client reading along.
    #[serde(default)]
    pub manual: bool,
}

/// A message was sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MessageSent {
    /// The message.
    pub id: MessageId,
    /// Its channel.
    pub channel_id: ChannelId,
    /// Its author as they were when sending.
    pub author: UserSnapshot,
    /// The text.
    pub content: String,
    /// When it was sent.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String")]
    pub timestamp: OffsetDateTime,
    /// Whether it is read aloud.
    pub tts: bool,
    /// Whether `@everyone` or `@here` notifies.
    pub mention_everyone: bool,
    /// Users who are mentioned (and notified).
    pub mentions: Vec<UserId>,
    /// Roles that are mentioned (and notified).
    pub mention_roles: Vec<RoleId>,
    /// What it replies to.
    pub message_reference: Option<MessageReference>,
    /// The sender's nonce.
    pub nonce: Option<Nonce>,
    /// Its files (absent in events from before attachments: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

/// A message's content changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MessageEdited {
    /// The message.
    pub id: MessageId,
    /// Its channel.
    pub channel_id: ChannelId,
    /// The new text.
    pub content: String,
    /// When it was edited.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String")]
    pub edited_timestamp: OffsetDateTime,
    /// Whether `@everyone` or `@here` notifies, in the new text.
    pub mention_everyone: bool,
    /// Users mentioned in the new text.
    pub mentions: Vec<UserId>,
    /// Roles mentioned in the new text.
    pub mention_roles: Vec<RoleId>,
    /// The message's files, which an edit keeps (absent when it has none, and in
    /// events from before edits carried them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

/// A message was deleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MessageDeleted {
    /// The message.
    pub id: MessageId,
    /// Its channel.
    pub channel_id: ChannelId,
}

/// Several messages of one channel were deleted at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MessagesBulkDeleted {
    /// The messages that existed (ids that did not are left out).
    pub ids: Vec<MessageId>,
    /// Their channel.
    pub channel_id: ChannelId,
}

/// A user reacted to a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReactionAdded {
    /// Who reacted.
    pub user_id: UserId,
    /// The message.
    pub message_id: MessageId,
    /// Its channel.
    pub channel_id: ChannelId,
    /// With what.
    pub emoji: ReactionEmoji,
}

/// A user's reaction was removed (by them or by a moderator).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReactionRemoved {
    /// Whose reaction.
    pub user_id: UserId,
    /// The message.
    pub message_id: MessageId,
    /// Its channel.
    pub channel_id: ChannelId,
    /// Which emoji.
    pub emoji: ReactionEmoji,
}

/// A message was pinned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MessagePinned {
    /// The message.
    pub message_id: MessageId,
    /// Its channel.
    pub channel_id: ChannelId,
    /// When (Discord's `pinned_at`).
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String")]
    pub pinned_at: OffsetDateTime,
}

/// A message was unpinned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MessageUnpinned {
    /// The message.
    pub message_id: MessageId,
    /// Its channel.
    pub channel_id: ChannelId,
}

/// A user read a channel up to a message (their read state): mentions after it
/// are their unread mentions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MessageAcked {
    /// Who read.
    pub user_id: UserId,
    /// The channel read.
    pub channel_id: ChannelId,
    /// The last message read.
    pub message_id: MessageId,
    /// Whether the user set the mark themself ("mark unread").
    pub manual: bool,
}

#[cfg(test)]
mod tests {
    use super::{AllowedMentionType, AllowedMentions, Nonce, ReactionEmoji};
    use crate::ids::Snowflake;

    #[test]
    fn reaction_emojis_parse_unicode_and_custom_forms() {
        let fire = ReactionEmoji::parse("🔥").expect("unicode");
        assert_eq!(fire.id, None);
        assert_eq!(fire.name, "🔥");
        let custom = ReactionEmoji::parse("blobcat:123").expect("custom");
        assert_eq!(custom.id, Some(Snowflake::new(123)));
        assert_eq!(custom.name, "blobcat");
        assert_eq!(custom.to_string(), "blobcat:123");
        assert!(ReactionEmoji::parse("").is_none());
        assert!(ReactionEmoji::parse("fire").is_none());
        assert!(ReactionEmoji::parse("x:notanid").is_none());
    }

    #[test]
    fn allowed_mentions_and_nonces_use_discords_json() {
        let parsed: AllowedMentions =
            serde_json::from_str(r#"{"parse":["users","everyone"],"replied_user":true}"#)
                .expect("allowed mentions");
        assert_eq!(
            parsed.parse,
            vec![AllowedMentionType::Users, AllowedMentionType::Everyone]
        );
        assert!(parsed.replied_user);
        assert_eq!(
            serde_json::from_str::<Nonce>("42").expect("int"),
            Nonce::Integer(42)
        );
        assert_eq!(
            serde_json::from_str::<Nonce>("\"abc\"").expect("text"),
            Nonce::Text("abc".into())
        );
    }
}
