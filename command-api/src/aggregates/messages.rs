//! The message component: the rules for messages in any channel that holds them,
//! shared by the guild aggregate (guild text channels) and the DM aggregate.
//!
//! The owning aggregate keeps a [`Messages`] value in its state and, for each message
//! command, works out what only it knows — the channel exists and holds messages, the
//! actor's effective [`Permissions`] in it, who can be mentioned there — and passes that
//! as a [`ChannelContext`]. The component decides the event (or a [`MessageError`]),
//! the aggregate writes it, and `apply` hands it back to the component's `on_*` method.
//! For a DM the owner passes the permissions a recipient has in a DM (view, send, read
//! history, add reactions, pin) and no roles.
//!
//! # Bounded state
//!
//! What decisions need per message (channel, author, reactions) lives in the
//! partition's on-disk [`MessageIndex`]; the component keeps in memory only the pins
//! (at most 250 per channel), so an aggregate's memory does not grow with its history.
//! The owning aggregate first applies each event to the index
//! ([`Decider::index_event`](super::Decider::index_event)), then to this component.
//!
//! # Rules (Discord's, from `developers/resources/message.mdx`)
//!
//! * Seeing the channel (`VIEW_CHANNEL`) comes first: without it, 50001 Missing Access.
//! * Send: `SEND_MESSAGES`; content 1–2000 characters (blank: 50006); nonce ≤ 25
//!   characters; `tts` kept only with `SEND_TTS_MESSAGES`; a reply needs
//!   `READ_MESSAGE_HISTORY` and an existing message in the same channel (unless
//!   `fail_if_not_exists` is false, when the reference is dropped).
//! * Mentions are parsed from the content (`<@id>`, `<@!id>`, `<@&id>`, `@everyone`,
//!   `@here`) and filtered by `allowed_mentions` (`parse` and the `users`/`roles`
//!   lists are mutually exclusive per type), by who can be mentioned in the channel,
//!   by roles' `mentionable` flag (bypassed by `MENTION_EVERYONE`), and `@everyone` /
//!   `@here` by `MENTION_EVERYONE`. A reply mentions the replied-to author unless
//!   `allowed_mentions` is given without `replied_user`.
//! * Edit: only the author (50005). Delete: the author or `MANAGE_MESSAGES`.
//! * Bulk delete: `MANAGE_MESSAGES`, 2–100 ids, none older than two weeks (50034,
//!   judged from the snowflake); unknown ids count towards the limits and are skipped.
//! * Reactions: `READ_MESSAGE_HISTORY`; a first reaction with an emoji also needs
//!   `ADD_REACTIONS`; at most 20 distinct emojis (30010); custom emojis are unknown
//!   (10014) until CloudCord has guild emojis. Removing another user's reaction needs
//!   `MANAGE_MESSAGES`. Adding a reaction twice or removing a missing one changes
//!   nothing (204, no event).
//! * Pins: `PIN_MESSAGES`, at most 250 per channel (30003); pinning a pinned message
//!   or unpinning an unpinned one changes nothing.
//! * Acks (read states): seeing the channel, and a message that is in it (10008
//!   otherwise, so a read state always points at a real message). Every ack is
//!   recorded, even of an earlier message ("mark unread"): the read state is the
//!   user's own, and this component keeps none of it (mention counts are the read
//!   side's, from the acks and the messages' mentions).

use std::collections::BTreeMap;

use cloudcord_schemas::envelope::ApiError;
use cloudcord_schemas::ids::{ChannelId, GuildId, MessageId, RoleId, UserId};
use cloudcord_schemas::message::{
    AckMessage, AddReaction, AllowedMentionType, AllowedMentions, BULK_DELETE_MAX_AGE_MS,
    BULK_DELETE_RANGE, BulkDeleteMessages, DeleteMessage, EditMessage, MAX_ATTACHMENTS,
    MAX_CONTENT_CHARS, MAX_NONCE_CHARS, MAX_PINS, MAX_REACTION_EMOJIS, MessageAcked,
    MessageDeleted, MessageEdited, MessagePinned, MessageReference, MessageSent, MessageUnpinned,
    MessagesBulkDeleted, Nonce, PinMessage, ReactionAdded, ReactionEmoji, ReactionRemoved,
    RemoveReaction, SendMessage, UnpinMessage, UserSnapshot,
};
use cloudcord_schemas::permissions::Permissions;
use cloudcord_schemas::timestamp::discord_timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::Refusal;
use super::message_index::{IndexedMessage, MessageIndex};

/// Most ids in `allowed_mentions.users` or `allowed_mentions.roles`.
const MAX_ALLOWED_MENTION_IDS: usize = 100;

/// Who and what can be mentioned in a channel; implemented by the owning aggregate.
pub trait Audience {
    /// The profile of a user who can be mentioned here (a guild member, a DM
    /// recipient); `None` for anyone else.
    fn user(&self, id: UserId) -> Option<&UserSnapshot>;

    /// `Some(mentionable)` for a role of this guild, `None` for an unknown role (and
    /// always in a DM).
    fn role_mentionable(&self, id: RoleId) -> Option<bool>;
}

/// What the owning aggregate knows about the channel and the actor.
#[derive(Clone, Copy)]
pub struct ChannelContext<'a> {
    /// The channel (already known to exist and to hold messages).
    pub channel_id: ChannelId,
    /// The guild, for guild channels (`message_reference.guild_id`).
    pub guild_id: Option<GuildId>,
    /// Who acts.
    pub actor: UserId,
    /// The actor's effective permissions in the channel.
    pub permissions: Permissions,
    /// When the command was accepted.
    pub at: OffsetDateTime,
    /// Who can be mentioned.
    pub audience: &'a dyn Audience,
}

/// A field that fails validation, rendered as Discord's nested `errors` object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidField {
    /// The field's path, dot-separated (`allowed_mentions.users`).
    pub field: &'static str,
    /// Discord's error code string (`BASE_TYPE_MAX_LENGTH`).
    pub code: &'static str,
    /// Human-readable text.
    pub message: String,
}

impl InvalidField {
    /// A validation failure of `field`.
    pub fn new(field: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            code,
            message: message.into(),
        }
    }

    /// A string longer than `max` characters.
    pub fn too_long(field: &'static str, max: usize) -> Self {
        Self::new(
            field,
            "BASE_TYPE_MAX_LENGTH",
            format!("Must be {max} or fewer in length."),
        )
    }

    /// A string length outside `min..=max`.
    pub fn bad_length(field: &'static str, min: usize, max: usize) -> Self {
        Self::new(
            field,
            "BASE_TYPE_BAD_LENGTH",
            format!("Must be between {min} and {max} in length."),
        )
    }

    /// Discord's 50035 Invalid Form Body with `errors` naming the field.
    pub fn api_error(&self) -> ApiError {
        let mut errors = json!({"_errors": [{"code": self.code, "message": self.message}]});
        for part in self.field.rsplit('.') {
            let mut level = Map::new();
            level.insert(part.to_owned(), errors);
            errors = Value::Object(level);
        }
        ApiError {
            code: 50035,
            message: "Invalid Form Body".into(),
            errors: Some(errors),
        }
    }
}

/// Why a message command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// The actor cannot see the channel.
    #[error("missing access")]
    MissingAccess,
    /// The actor lacks a permission the action needs.
    #[error("missing permissions")]
    MissingPermissions,
    /// No such message in this channel.
    #[error("unknown message")]
    UnknownMessage,
    /// The emoji is not a usable emoji.
    #[error("unknown emoji")]
    UnknownEmoji,
    /// Only the author may edit a message.
    #[error("cannot edit a message authored by another user")]
    NotAuthor,
    /// The content is blank.
    #[error("cannot send an empty message")]
    EmptyMessage,
    /// A message given to bulk delete is older than two weeks.
    #[error("a message provided was too old to bulk delete")]
    TooOldToBulkDelete,
    /// The channel has 250 pins.
    #[error("maximum number of pins reached for the channel (250)")]
    MaxPins,
    /// The message has reactions with 20 emojis.
    #[error("maximum number of reactions reached (20)")]
    MaxReactions,
    /// A field is invalid.
    #[error("invalid {}: {}", .0.field, .0.message)]
    Invalid(InvalidField),
}

impl MessageError {
    /// Discord's status and JSON error for this refusal.
    pub fn refusal(&self) -> Refusal {
        let (status, code, message) = match self {
            Self::MissingAccess => (403, 50001, "Missing Access"),
            Self::MissingPermissions => (403, 50013, "Missing Permissions"),
            Self::UnknownMessage => (404, 10008, "Unknown Message"),
            // Discord answers 400, not 404, for an emoji it cannot resolve.
            Self::UnknownEmoji => (400, 10014, "Unknown Emoji"),
            Self::NotAuthor => (403, 50005, "Cannot edit a message authored by another user"),
            Self::EmptyMessage => (400, 50006, "Cannot send an empty message"),
            Self::TooOldToBulkDelete => {
                (400, 50034, "A message provided was too old to bulk delete")
            }
            Self::MaxPins => (400, 30003, "Maximum number of pins reached (250)"),
            Self::MaxReactions => (400, 30010, "Maximum number of reactions reached (20)"),
            Self::Invalid(field) => {
                return Refusal {
                    status: 400,
                    error: field.api_error(),
                };
            }
        };
        Refusal {
            status,
            error: ApiError {
                code,
                message: message.into(),
                errors: None,
            },
        }
    }
}

/// Mentions found in a message's text, before any filtering.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedMentions {
    /// `<@id>` and `<@!id>`, in order, without repeats.
    pub users: Vec<UserId>,
    /// `<@&id>`, in order, without repeats.
    pub roles: Vec<RoleId>,
    /// Whether `@everyone` or `@here` appears.
    pub everyone: bool,
}

/// Finds the mentions in `content`.
pub fn parse_mentions(content: &str) -> ParsedMentions {
    let mut parsed = ParsedMentions {
        everyone: content.contains("@everyone") || content.contains("@here"),
        ..ParsedMentions::default()
    };
    let mut rest = content;
    while let Some(start) = rest.find("<@") {
        rest = &rest[start + 2..];
        let (is_role, body) = match rest.as_bytes().first() {
            Some(b'&') => (true, &rest[1..]),
            Some(b'!') => (false, &rest[1..]),
            _ => (false, rest),
        };
        let Some(end) = body.find('>') else { break };
        let digits = &body[..end];
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(raw) = digits.parse::<u64>() else {
            continue;
        };
        if is_role {
            let role = RoleId::new(raw);
            if !parsed.roles.contains(&role) {
                parsed.roles.push(role);
            }
        } else {
            let user = UserId::new(raw);
            if !parsed.users.contains(&user) {
                parsed.users.push(user);
            }
        }
    }
    parsed
}

/// The mentions that notify, after every filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvedMentions {
    /// Users mentioned.
    pub users: Vec<UserId>,
    /// Roles mentioned.
    pub roles: Vec<RoleId>,
    /// `@everyone` / `@here`.
    pub everyone: bool,
}

/// The message state of every channel of one aggregate: the component each
/// message-holding aggregate embeds in its state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Messages {
    /// On disk, outside snapshots; attached by the partition's state.
    #[serde(skip)]
    index: MessageIndex,
    /// Per channel, the pinned messages and their authors (for a ban's purge).
    pins: BTreeMap<ChannelId, BTreeMap<MessageId, UserId>>,
}

fn check_view(ctx: &ChannelContext<'_>) -> Result<(), MessageError> {
    if ctx.permissions.contains(Permissions::VIEW_CHANNEL) {
        Ok(())
    } else {
        Err(MessageError::MissingAccess)
    }
}

fn require(ctx: &ChannelContext<'_>, needed: Permissions) -> Result<(), MessageError> {
    if ctx.permissions.contains(needed) {
        Ok(())
    } else {
        Err(MessageError::MissingPermissions)
    }
}

fn valid_content(content: &str) -> Result<(), MessageError> {
    if content.trim().is_empty() {
        return Err(MessageError::EmptyMessage);
    }
    if content.chars().count() > MAX_CONTENT_CHARS {
        return Err(MessageError::Invalid(InvalidField::too_long(
            "content",
            MAX_CONTENT_CHARS,
        )));
    }
    Ok(())
}

fn unix_ms(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

impl Messages {
    /// The message index.
    pub fn index(&self) -> &MessageIndex {
        &self.index
    }

    /// The message index, to apply events to.
    pub fn index_mut(&mut self) -> &mut MessageIndex {
        &mut self.index
    }

    /// Uses `index` (the partition's store) from now on.
    pub fn attach(&mut self, index: MessageIndex) {
        self.index = index;
    }

    /// How many messages of `channel` are pinned.
    pub fn pin_count(&self, channel: ChannelId) -> usize {
        self.pins.get(&channel).map_or(0, BTreeMap::len)
    }

    /// The message `id` if it lives in `channel`.
    fn in_channel(
        &self,
        channel: ChannelId,
        id: MessageId,
    ) -> Result<IndexedMessage, MessageError> {
        self.index
            .get(id)
            .filter(|m| m.channel_id == channel)
            .ok_or(MessageError::UnknownMessage)
    }

    /// Filters `parsed` by `allowed` (`None`: Discord's default), by the audience and
    /// by the actor's permissions; `replied_author` is mentioned as `replied_user` says.
    pub fn resolve_mentions(
        ctx: &ChannelContext<'_>,
        parsed: &ParsedMentions,
        allowed: Option<&AllowedMentions>,
        replied_author: Option<UserId>,
    ) -> Result<ResolvedMentions, MessageError> {
        let (parse_users, parse_roles, parse_everyone, replied_user) = match allowed {
            None => (true, true, true, true),
            Some(allowed) => {
                let has = |kind| allowed.parse.contains(&kind);
                if allowed.users.len() > MAX_ALLOWED_MENTION_IDS {
                    return Err(MessageError::Invalid(InvalidField::new(
                        "allowed_mentions.users",
                        "BASE_TYPE_MAX_LENGTH",
                        "Must be 100 or fewer in length.",
                    )));
                }
                if allowed.roles.len() > MAX_ALLOWED_MENTION_IDS {
                    return Err(MessageError::Invalid(InvalidField::new(
                        "allowed_mentions.roles",
                        "BASE_TYPE_MAX_LENGTH",
                        "Must be 100 or fewer in length.",
                    )));
                }
                for (kind, list_is_set, name) in [
                    (
                        AllowedMentionType::Users,
                        !allowed.users.is_empty(),
                        "users",
                    ),
                    (
                        AllowedMentionType::Roles,
                        !allowed.roles.is_empty(),
                        "roles",
                    ),
                ] {
                    if has(kind) && list_is_set {
                        return Err(MessageError::Invalid(InvalidField::new(
                            "allowed_mentions",
                            "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                            format!(
                                "parse:[\"{name}\"] and {name}: [ids...] are mutually exclusive."
                            ),
                        )));
                    }
                }
                (
                    has(AllowedMentionType::Users),
                    has(AllowedMentionType::Roles),
                    has(AllowedMentionType::Everyone),
                    allowed.replied_user,
                )
            }
        };
        let user_allowed =
            |id: &UserId| parse_users || allowed.is_some_and(|a| a.users.contains(id));
        let role_allowed =
            |id: &RoleId| parse_roles || allowed.is_some_and(|a| a.roles.contains(id));
        let mention_everyone = ctx.permissions.contains(Permissions::MENTION_EVERYONE);
        let mut users: Vec<UserId> = parsed
            .users
            .iter()
            .filter(|id| user_allowed(id) && ctx.audience.user(**id).is_some())
            .copied()
            .collect();
        if let Some(author) = replied_author
            && replied_user
            && ctx.audience.user(author).is_some()
            && !users.contains(&author)
        {
            users.push(author);
        }
        let roles = parsed
            .roles
            .iter()
            .filter(|id| role_allowed(id))
            .filter(|id| {
                ctx.audience
                    .role_mentionable(**id)
                    .is_some_and(|mentionable| mentionable || mention_everyone)
            })
            .copied()
            .collect();
        Ok(ResolvedMentions {
            users,
            roles,
            everyone: parsed.everyone && parse_everyone && mention_everyone,
        })
    }

    /// Decides `SendMessage`.
    pub fn send(
        &self,
        ctx: &ChannelContext<'_>,
        command: SendMessage,
    ) -> Result<MessageSent, MessageError> {
        check_view(ctx)?;
        require(ctx, Permissions::SEND_MESSAGES)?;
        if command.author.id != ctx.actor {
            return Err(MessageError::Invalid(InvalidField::new(
                "author",
                "MESSAGE_AUTHOR_MISMATCH",
                "The author must be the sender.",
            )));
        }
        if self.index.get(command.message_id).is_some() {
            return Err(MessageError::Invalid(InvalidField::new(
                "id",
                "SNOWFLAKE_ALREADY_USED",
                "This message id is already used.",
            )));
        }
        if command.attachments.is_empty() {
            valid_content(&command.content)?;
        } else {
            // Files are a message's body too: the text may then be empty.
            require(ctx, Permissions::ATTACH_FILES)?;
            if command.attachments.len() > MAX_ATTACHMENTS {
                return Err(MessageError::Invalid(InvalidField::new(
                    "attachments",
                    "BASE_TYPE_MAX_LENGTH",
                    format!("Must be {MAX_ATTACHMENTS} or fewer in length."),
                )));
            }
            if !command.content.is_empty() {
                valid_content(&command.content)?;
            }
        }
        if let Some(Nonce::Text(nonce)) = &command.nonce
            && nonce.chars().count() > MAX_NONCE_CHARS
        {
            return Err(MessageError::Invalid(InvalidField::too_long(
                "nonce",
                MAX_NONCE_CHARS,
            )));
        }
        let mut replied_author = None;
        let message_reference = match &command.message_reference {
            None => None,
            Some(reference) => {
                require(ctx, Permissions::READ_MESSAGE_HISTORY)?;
                if reference.channel_id.is_some_and(|c| c != ctx.channel_id) {
                    return Err(MessageError::Invalid(InvalidField::new(
                        "message_reference",
                        "REPLIES_CANNOT_REFERENCE_OTHER_CHANNEL",
                        "Cannot reply to a message in a different channel",
                    )));
                }
                match self.in_channel(ctx.channel_id, reference.message_id) {
                    Ok(replied) => {
                        replied_author = Some(replied.author_id);
                        Some(MessageReference {
                            message_id: reference.message_id,
                            channel_id: ctx.channel_id,
                            guild_id: ctx.guild_id,
                        })
                    }
                    Err(_) if reference.fail_if_not_exists == Some(false) => None,
                    Err(_) => {
                        return Err(MessageError::Invalid(InvalidField::new(
                            "message_reference",
                            "REPLIES_UNKNOWN_MESSAGE",
                            "Unknown message",
                        )));
                    }
                }
            }
        };
        let mentions = Self::resolve_mentions(
            ctx,
            &parse_mentions(&command.content),
            command.allowed_mentions.as_ref(),
            replied_author,
        )?;
        Ok(MessageSent {
            id: command.message_id,
            channel_id: ctx.channel_id,
            author: command.author,
            content: command.content,
            timestamp: ctx.at,
            tts: command.tts && ctx.permissions.contains(Permissions::SEND_TTS_MESSAGES),
            mention_everyone: mentions.everyone,
            mentions: mentions.users,
            mention_roles: mentions.roles,
            message_reference,
            nonce: command.nonce,
            attachments: command.attachments,
        })
    }

    /// Decides `EditMessage`.
    pub fn edit(
        &self,
        ctx: &ChannelContext<'_>,
        command: EditMessage,
    ) -> Result<MessageEdited, MessageError> {
        check_view(ctx)?;
        let message = self.in_channel(ctx.channel_id, command.message_id)?;
        if message.author_id != ctx.actor {
            return Err(MessageError::NotAuthor);
        }
        valid_content(&command.content)?;
        let mentions = Self::resolve_mentions(
            ctx,
            &parse_mentions(&command.content),
            command.allowed_mentions.as_ref(),
            None,
        )?;
        Ok(MessageEdited {
            id: command.message_id,
            channel_id: ctx.channel_id,
            content: command.content,
            edited_timestamp: ctx.at,
            mention_everyone: mentions.everyone,
            mentions: mentions.users,
            mention_roles: mentions.roles,
            attachments: message.attachments,
        })
    }

    /// Decides `DeleteMessage`.
    pub fn delete(
        &self,
        ctx: &ChannelContext<'_>,
        command: &DeleteMessage,
    ) -> Result<MessageDeleted, MessageError> {
        check_view(ctx)?;
        let message = self.in_channel(ctx.channel_id, command.message_id)?;
        if message.author_id != ctx.actor {
            require(ctx, Permissions::MANAGE_MESSAGES)?;
        }
        Ok(MessageDeleted {
            id: command.message_id,
            channel_id: ctx.channel_id,
        })
    }

    /// Decides `BulkDeleteMessages`.
    pub fn bulk_delete(
        &self,
        ctx: &ChannelContext<'_>,
        command: &BulkDeleteMessages,
    ) -> Result<MessagesBulkDeleted, MessageError> {
        check_view(ctx)?;
        require(ctx, Permissions::MANAGE_MESSAGES)?;
        let count = command.messages.len();
        if count < *BULK_DELETE_RANGE.start() {
            return Err(MessageError::Invalid(InvalidField::new(
                "messages",
                "BASE_TYPE_MIN_LENGTH",
                "Must be 2 or more in length.",
            )));
        }
        if count > *BULK_DELETE_RANGE.end() {
            return Err(MessageError::Invalid(InvalidField::new(
                "messages",
                "BASE_TYPE_MAX_LENGTH",
                "Must be 100 or fewer in length.",
            )));
        }
        let now_ms = u64::try_from(unix_ms(ctx.at)).unwrap_or(0);
        let cutoff = now_ms.saturating_sub(BULK_DELETE_MAX_AGE_MS);
        if command
            .messages
            .iter()
            .any(|id| id.0.timestamp_ms() < cutoff)
        {
            return Err(MessageError::TooOldToBulkDelete);
        }
        let mut ids = Vec::with_capacity(count);
        for id in &command.messages {
            if !ids.contains(id) && self.in_channel(ctx.channel_id, *id).is_ok() {
                ids.push(*id);
            }
        }
        Ok(MessagesBulkDeleted {
            ids,
            channel_id: ctx.channel_id,
        })
    }

    /// Decides `AddReaction`; `None` when the actor already reacted so.
    pub fn add_reaction(
        &self,
        ctx: &ChannelContext<'_>,
        command: AddReaction,
    ) -> Result<Option<ReactionAdded>, MessageError> {
        check_view(ctx)?;
        require(ctx, Permissions::READ_MESSAGE_HISTORY)?;
        let message = self.in_channel(ctx.channel_id, command.message_id)?;
        if command.emoji.is_custom() {
            return Err(MessageError::UnknownEmoji);
        }
        if message
            .reactions
            .contains(&(command.emoji.clone(), ctx.actor))
        {
            return Ok(None);
        }
        let emoji_is_new = !message.reactions.iter().any(|(e, _)| *e == command.emoji);
        if emoji_is_new {
            require(ctx, Permissions::ADD_REACTIONS)?;
            if message.emoji_count() >= MAX_REACTION_EMOJIS {
                return Err(MessageError::MaxReactions);
            }
        }
        Ok(Some(ReactionAdded {
            user_id: ctx.actor,
            message_id: command.message_id,
            channel_id: ctx.channel_id,
            emoji: command.emoji,
        }))
    }

    /// Decides `RemoveReaction`; `None` when there is no such reaction.
    pub fn remove_reaction(
        &self,
        ctx: &ChannelContext<'_>,
        command: RemoveReaction,
    ) -> Result<Option<ReactionRemoved>, MessageError> {
        check_view(ctx)?;
        let message = self.in_channel(ctx.channel_id, command.message_id)?;
        let user = command.user_id.unwrap_or(ctx.actor);
        if user != ctx.actor {
            require(ctx, Permissions::MANAGE_MESSAGES)?;
        }
        if command.emoji.is_custom() {
            return Err(MessageError::UnknownEmoji);
        }
        if !message.reactions.contains(&(command.emoji.clone(), user)) {
            return Ok(None);
        }
        Ok(Some(ReactionRemoved {
            user_id: user,
            message_id: command.message_id,
            channel_id: ctx.channel_id,
            emoji: command.emoji,
        }))
    }

    /// Decides `PinMessage`; `None` when it is pinned already.
    pub fn pin(
        &self,
        ctx: &ChannelContext<'_>,
        command: &PinMessage,
    ) -> Result<Option<MessagePinned>, MessageError> {
        check_view(ctx)?;
        require(ctx, Permissions::PIN_MESSAGES)?;
        self.in_channel(ctx.channel_id, command.message_id)?;
        if self.is_pinned(ctx.channel_id, command.message_id) {
            return Ok(None);
        }
        if self.pin_count(ctx.channel_id) >= MAX_PINS {
            return Err(MessageError::MaxPins);
        }
        Ok(Some(MessagePinned {
            message_id: command.message_id,
            channel_id: ctx.channel_id,
            pinned_at: ctx.at,
        }))
    }

    /// Decides `UnpinMessage`; `None` when it is not pinned.
    pub fn unpin(
        &self,
        ctx: &ChannelContext<'_>,
        command: &UnpinMessage,
    ) -> Result<Option<MessageUnpinned>, MessageError> {
        check_view(ctx)?;
        require(ctx, Permissions::PIN_MESSAGES)?;
        self.in_channel(ctx.channel_id, command.message_id)?;
        if !self.is_pinned(ctx.channel_id, command.message_id) {
            return Ok(None);
        }
        Ok(Some(MessageUnpinned {
            message_id: command.message_id,
            channel_id: ctx.channel_id,
        }))
    }

    /// Decides `AckMessage`: the actor read the channel up to the message.
    pub fn ack(
        &self,
        ctx: &ChannelContext<'_>,
        command: &AckMessage,
    ) -> Result<MessageAcked, MessageError> {
        check_view(ctx)?;
        self.in_channel(ctx.channel_id, command.message_id)?;
        Ok(MessageAcked {
            user_id: ctx.actor,
            channel_id: ctx.channel_id,
            message_id: command.message_id,
            manual: command.manual,
        })
    }

    /// Whether `id` is pinned in `channel`.
    fn is_pinned(&self, channel: ChannelId, id: MessageId) -> bool {
        self.pins
            .get(&channel)
            .is_some_and(|pins| pins.contains_key(&id))
    }

    fn unpin_message(&mut self, channel: ChannelId, id: MessageId) {
        if let Some(pins) = self.pins.get_mut(&channel) {
            pins.remove(&id);
            if pins.is_empty() {
                self.pins.remove(&channel);
            }
        }
    }

    /// Applies [`MessageDeleted`].
    pub fn on_deleted(&mut self, event: &MessageDeleted) {
        self.unpin_message(event.channel_id, event.id);
    }

    /// Applies [`MessagesBulkDeleted`].
    pub fn on_bulk_deleted(&mut self, event: &MessagesBulkDeleted) {
        for id in &event.ids {
            self.unpin_message(event.channel_id, *id);
        }
    }

    /// Applies [`MessagePinned`] (after the index, which knows the author).
    pub fn on_pinned(&mut self, event: &MessagePinned) {
        let author = self
            .index
            .get(event.message_id)
            .map_or(UserId::new(0), |m| m.author_id);
        self.pins
            .entry(event.channel_id)
            .or_default()
            .insert(event.message_id, author);
    }

    /// Applies [`MessageUnpinned`].
    pub fn on_unpinned(&mut self, event: &MessageUnpinned) {
        self.unpin_message(event.channel_id, event.message_id);
    }

    /// Forgets a deleted channel's pins.
    pub fn forget_channel(&mut self, channel: ChannelId) {
        self.pins.remove(&channel);
    }

    /// Forgets the pins of what `author` sent from `since` on (a ban's purge).
    pub fn forget_author_since(&mut self, author: UserId, since: MessageId) {
        for pins in self.pins.values_mut() {
            pins.retain(|id, pinned_by| *pinned_by != author || *id < since);
        }
        self.pins.retain(|_, pins| !pins.is_empty());
    }

    /// Forgets every pin (the aggregate was deleted).
    pub fn forget_all(&mut self) {
        self.pins.clear();
    }

    /// The message object of a just-sent message, as Discord returns it to `viewer`.
    pub fn sent_object(
        &self,
        sent: &MessageSent,
        viewer: UserId,
        audience: &dyn Audience,
    ) -> Value {
        let mut object = self.base_object(sent.channel_id, sent.id, viewer);
        object.insert("channel_id".into(), json!(sent.channel_id));
        object.insert("author".into(), user_object(&sent.author));
        object.insert("content".into(), json!(sent.content));
        object.insert("timestamp".into(), json!(discord_timestamp(sent.timestamp)));
        object.insert("edited_timestamp".into(), Value::Null);
        object.insert("tts".into(), json!(sent.tts));
        object.insert("mention_everyone".into(), json!(sent.mention_everyone));
        object.insert("mentions".into(), mention_objects(&sent.mentions, audience));
        object.insert("mention_roles".into(), json!(sent.mention_roles));
        // Without `url`s: whoever hands the object to a reader signs them.
        object.insert("attachments".into(), json!(sent.attachments));
        if let Some(reference) = &sent.message_reference {
            object.insert("type".into(), json!(19));
            let mut value = json!({
                "type": 0,
                "message_id": reference.message_id,
                "channel_id": reference.channel_id,
            });
            if let (Some(guild), Some(map)) = (reference.guild_id, value.as_object_mut()) {
                map.insert("guild_id".into(), json!(guild));
            }
            object.insert("message_reference".into(), value);
        }
        if let Some(nonce) = &sent.nonce {
            object.insert("nonce".into(), json!(nonce));
        }
        Value::Object(object)
    }

    /// The message object of a just-edited message. Content is not kept, so the
    /// author comes from the index and the audience (the editor is always the author)
    /// and the creation time from the message id.
    pub fn edited_object(
        &self,
        edited: &MessageEdited,
        viewer: UserId,
        audience: &dyn Audience,
    ) -> Value {
        let mut object = self.base_object(edited.channel_id, edited.id, viewer);
        object.insert("channel_id".into(), json!(edited.channel_id));
        if let Some(message) = self.index.get(edited.id) {
            let author = audience
                .user(message.author_id)
                .map_or_else(|| json!({"id": message.author_id}), user_object);
            object.insert("author".into(), author);
            // A message id carries its creation time.
            let created = OffsetDateTime::from_unix_timestamp_nanos(
                i128::from(edited.id.0.timestamp_ms()) * 1_000_000,
            )
            .unwrap_or(edited.edited_timestamp);
            object.insert("timestamp".into(), json!(discord_timestamp(created)));
        }
        object.insert("content".into(), json!(edited.content));
        object.insert(
            "edited_timestamp".into(),
            json!(discord_timestamp(edited.edited_timestamp)),
        );
        object.insert("tts".into(), json!(false));
        object.insert("mention_everyone".into(), json!(edited.mention_everyone));
        object.insert(
            "mentions".into(),
            mention_objects(&edited.mentions, audience),
        );
        object.insert("mention_roles".into(), json!(edited.mention_roles));
        // Without `url`s, as in `sent_object`.
        object.insert("attachments".into(), json!(edited.attachments));
        Value::Object(object)
    }

    fn base_object(&self, channel: ChannelId, id: MessageId, viewer: UserId) -> Map<String, Value> {
        let mut object = Map::new();
        object.insert("id".into(), json!(id));
        object.insert("type".into(), json!(0));
        object.insert("attachments".into(), json!([]));
        object.insert("embeds".into(), json!([]));
        object.insert("components".into(), json!([]));
        object.insert("flags".into(), json!(0));
        object.insert("pinned".into(), json!(self.is_pinned(channel, id)));
        if let Some(message) = self.index.get(id)
            && !message.reactions.is_empty()
        {
            object.insert("reactions".into(), reaction_objects(&message, viewer));
        }
        object
    }
}

/// Discord's answer to an ack: `{"token": null}` (the token once let Discord's
/// clients batch acks; nobody needs one now).
pub fn ack_object() -> Value {
    json!({ "token": null })
}

/// Discord's user object for a snapshot.
pub fn user_object(user: &UserSnapshot) -> Value {
    let mut object = json!({
        "id": user.id,
        "username": user.username,
        "discriminator": "0",
        "global_name": user.global_name,
        "avatar": user.avatar,
        "public_flags": 0,
        "flags": 0,
        "primary_guild": null,
    });
    if user.bot
        && let Some(map) = object.as_object_mut()
    {
        map.insert("bot".into(), json!(true));
    }
    object
}

fn mention_objects(users: &[UserId], audience: &dyn Audience) -> Value {
    Value::Array(
        users
            .iter()
            .filter_map(|id| audience.user(*id).map(user_object))
            .collect(),
    )
}

fn reaction_objects(message: &IndexedMessage, viewer: UserId) -> Value {
    let mut grouped: Vec<(&ReactionEmoji, usize, bool)> = Vec::new();
    for (emoji, user) in &message.reactions {
        match grouped.last_mut() {
            Some((last, count, me)) if *last == emoji => {
                *count += 1;
                *me |= *user == viewer;
            }
            _ => grouped.push((emoji, 1, *user == viewer)),
        }
    }
    Value::Array(
        grouped
            .into_iter()
            .map(|(emoji, count, me)| {
                json!({
                    "count": count,
                    "count_details": {"burst": 0, "normal": count},
                    "me": me,
                    "me_burst": false,
                    "burst_colors": [],
                    "emoji": emoji,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use cloudcord_schemas::ids::{ChannelId, MessageId, RoleId, UserId};
    use cloudcord_schemas::message::{
        AckMessage, AddReaction, AllowedMentionType, AllowedMentions, BulkDeleteMessages,
        DeleteMessage, EditMessage, MessageAcked, MessageReferenceRequest, MessageSent, PinMessage,
        ReactionEmoji, RemoveReaction, SendMessage, UserSnapshot,
    };
    use cloudcord_schemas::permissions::Permissions;
    use time::OffsetDateTime;
    use time::macros::datetime;

    use super::{Audience, ChannelContext, MessageError, Messages, parse_mentions};

    const CHANNEL: ChannelId = ChannelId::new(500);
    const ALICE: UserId = UserId::new(1);
    const BOB: UserId = UserId::new(2);
    const MODS: RoleId = RoleId::new(70);
    const SECRET: RoleId = RoleId::new(71);
    const NOW: OffsetDateTime = datetime!(2026-11-28 12:00 UTC);

    struct People {
        users: BTreeMap<UserId, UserSnapshot>,
    }

    impl Audience for People {
        fn user(&self, id: UserId) -> Option<&UserSnapshot> {
            self.users.get(&id)
        }

        fn role_mentionable(&self, id: RoleId) -> Option<bool> {
            match id {
                MODS => Some(true),
                SECRET => Some(false),
                _ => None,
            }
        }
    }

    fn snapshot(id: UserId, name: &str) -> UserSnapshot {
        UserSnapshot {
            id,
            username: name.into(),
            global_name: None,
            avatar: None,
            bot: false,
        }
    }

    fn people() -> People {
        People {
            users: [
                (ALICE, snapshot(ALICE, "alice")),
                (BOB, snapshot(BOB, "bob")),
            ]
            .into(),
        }
    }

    const CHATTER: Permissions = Permissions::VIEW_CHANNEL
        .union(Permissions::SEND_MESSAGES)
        .union(Permissions::READ_MESSAGE_HISTORY)
        .union(Permissions::ADD_REACTIONS);

    fn ctx<'a>(
        actor: UserId,
        permissions: Permissions,
        audience: &'a People,
    ) -> ChannelContext<'a> {
        ChannelContext {
            channel_id: CHANNEL,
            guild_id: None,
            actor,
            permissions,
            at: NOW,
            audience,
        }
    }

    /// A message id made at `at`.
    fn id_at(at: OffsetDateTime) -> MessageId {
        let ms = u64::try_from(at.unix_timestamp() * 1000).expect("after 1970");
        MessageId(cloudcord_schemas::ids::Snowflake::from_timestamp_ms(ms))
    }

    fn send(author: UserId, id: MessageId, content: &str) -> SendMessage {
        SendMessage {
            attachments: Vec::new(),
            channel_id: CHANNEL,
            message_id: id,
            author: snapshot(author, "someone"),
            content: content.into(),
            nonce: None,
            tts: false,
            message_reference: None,
            allowed_mentions: None,
        }
    }

    /// Messages holding one message by `author`.
    fn with_message(author: UserId, id: MessageId) -> Messages {
        let audience = people();
        let mut messages = Messages::default();
        let sent = messages
            .send(&ctx(author, CHATTER, &audience), send(author, id, "hello"))
            .expect("sent");
        messages.index_mut().on_sent(&sent);
        messages
    }

    fn sent(
        actor: UserId,
        permissions: Permissions,
        command: SendMessage,
    ) -> Result<MessageSent, MessageError> {
        let audience = people();
        Messages::default().send(&ctx(actor, permissions, &audience), command)
    }

    #[test]
    fn mentions_are_parsed_from_user_role_and_everyone_syntax() {
        let parsed = parse_mentions("hi <@1> <@!2> <@&70> <@1> <@x> @here");
        assert_eq!(parsed.users, vec![ALICE, BOB]);
        assert_eq!(parsed.roles, vec![MODS]);
        assert!(parsed.everyone);
    }

    #[test]
    fn a_channel_the_actor_cannot_see_refuses_with_missing_access() {
        let result = sent(
            ALICE,
            Permissions::SEND_MESSAGES,
            send(ALICE, MessageId::new(9), "hi"),
        );
        assert_eq!(result, Err(MessageError::MissingAccess));
    }

    #[test]
    fn sending_needs_send_messages() {
        let result = sent(
            ALICE,
            Permissions::VIEW_CHANNEL,
            send(ALICE, MessageId::new(9), "hi"),
        );
        assert_eq!(result, Err(MessageError::MissingPermissions));
    }

    #[test]
    fn blank_content_is_an_empty_message() {
        let result = sent(ALICE, CHATTER, send(ALICE, MessageId::new(9), "  \n"));
        assert_eq!(result, Err(MessageError::EmptyMessage));
    }

    #[test]
    fn content_longer_than_2000_characters_names_the_field() {
        let result = sent(
            ALICE,
            CHATTER,
            send(ALICE, MessageId::new(9), &"é".repeat(2001)),
        );
        let Err(error) = result else {
            panic!("accepted 2001 characters")
        };
        let refusal = error.refusal();
        assert_eq!(refusal.status, 400);
        assert_eq!(refusal.error.code, 50035);
        assert_eq!(
            refusal.error.errors,
            Some(serde_json::json!({"content": {"_errors": [{
                "code": "BASE_TYPE_MAX_LENGTH",
                "message": "Must be 2000 or fewer in length."
            }]}}))
        );
        assert!(
            sent(
                ALICE,
                CHATTER,
                send(ALICE, MessageId::new(9), &"é".repeat(2000))
            )
            .is_ok()
        );
    }

    #[test]
    fn mentions_of_everyone_need_mention_everyone() {
        let without = sent(
            ALICE,
            CHATTER,
            send(ALICE, MessageId::new(9), "@everyone hi"),
        )
        .expect("sent");
        assert!(!without.mention_everyone);
        let with = sent(
            ALICE,
            CHATTER.union(Permissions::MENTION_EVERYONE),
            send(ALICE, MessageId::new(9), "@here hi"),
        )
        .expect("sent");
        assert!(with.mention_everyone);
    }

    #[test]
    fn allowed_mentions_parse_none_suppresses_user_mentions() {
        let mut command = send(ALICE, MessageId::new(9), "<@2> <@&70> @everyone");
        command.allowed_mentions = Some(AllowedMentions::default());
        let message =
            sent(ALICE, CHATTER.union(Permissions::MENTION_EVERYONE), command).expect("sent");
        assert!(message.mentions.is_empty());
        assert!(message.mention_roles.is_empty());
        assert!(!message.mention_everyone);
    }

    #[test]
    fn allowed_mentions_users_list_whitelists_single_users() {
        let mut command = send(ALICE, MessageId::new(9), "<@1> <@2>");
        command.allowed_mentions = Some(AllowedMentions {
            users: vec![BOB],
            ..AllowedMentions::default()
        });
        let message = sent(ALICE, CHATTER, command).expect("sent");
        assert_eq!(message.mentions, vec![BOB]);
    }

    #[test]
    fn allowed_mentions_parse_users_and_a_users_list_are_mutually_exclusive() {
        let mut command = send(ALICE, MessageId::new(9), "<@2>");
        command.allowed_mentions = Some(AllowedMentions {
            parse: vec![AllowedMentionType::Users],
            users: vec![BOB],
            ..AllowedMentions::default()
        });
        let Err(MessageError::Invalid(field)) = sent(ALICE, CHATTER, command) else {
            panic!("accepted both parse:users and users")
        };
        assert_eq!(field.field, "allowed_mentions");
    }

    #[test]
    fn only_people_who_can_be_mentioned_here_are_mentioned() {
        let message =
            sent(ALICE, CHATTER, send(ALICE, MessageId::new(9), "<@2> <@99>")).expect("sent");
        assert_eq!(message.mentions, vec![BOB]);
    }

    #[test]
    fn unmentionable_roles_need_mention_everyone() {
        let message = sent(
            ALICE,
            CHATTER,
            send(ALICE, MessageId::new(9), "<@&70> <@&71> <@&72>"),
        )
        .expect("sent");
        assert_eq!(message.mention_roles, vec![MODS]);
        let admin = sent(
            ALICE,
            CHATTER.union(Permissions::MENTION_EVERYONE),
            send(ALICE, MessageId::new(9), "<@&70> <@&71>"),
        )
        .expect("sent");
        assert_eq!(admin.mention_roles, vec![MODS, SECRET]);
    }

    #[test]
    fn tts_needs_send_tts_messages() {
        let mut command = send(ALICE, MessageId::new(9), "read me");
        command.tts = true;
        assert!(!sent(ALICE, CHATTER, command.clone()).expect("sent").tts);
        assert!(
            sent(
                ALICE,
                CHATTER.union(Permissions::SEND_TTS_MESSAGES),
                command
            )
            .expect("sent")
            .tts
        );
    }

    #[test]
    fn a_reply_references_an_existing_message_and_mentions_its_author() {
        let original = MessageId::new(100);
        let messages = with_message(BOB, original);
        let audience = people();
        let mut reply = send(ALICE, MessageId::new(101), "indeed");
        reply.message_reference = Some(MessageReferenceRequest {
            message_id: original,
            channel_id: None,
            guild_id: None,
            fail_if_not_exists: None,
        });
        let message = messages
            .send(&ctx(ALICE, CHATTER, &audience), reply.clone())
            .expect("reply");
        assert_eq!(
            message.message_reference.map(|r| r.message_id),
            Some(original)
        );
        assert_eq!(message.mentions, vec![BOB]);

        reply.allowed_mentions = Some(AllowedMentions {
            parse: vec![AllowedMentionType::Users],
            ..AllowedMentions::default()
        });
        let quiet = messages
            .send(&ctx(ALICE, CHATTER, &audience), reply)
            .expect("reply");
        assert!(quiet.mentions.is_empty(), "replied_user defaults to false");
    }

    #[test]
    fn a_reply_to_an_unknown_message_fails_unless_told_not_to() {
        let audience = people();
        let messages = Messages::default();
        let mut reply = send(ALICE, MessageId::new(101), "indeed");
        reply.message_reference = Some(MessageReferenceRequest {
            message_id: MessageId::new(404),
            channel_id: None,
            guild_id: None,
            fail_if_not_exists: None,
        });
        assert!(matches!(
            messages.send(&ctx(ALICE, CHATTER, &audience), reply.clone()),
            Err(MessageError::Invalid(_))
        ));
        if let Some(reference) = reply.message_reference.as_mut() {
            reference.fail_if_not_exists = Some(false);
        }
        let message = messages
            .send(&ctx(ALICE, CHATTER, &audience), reply)
            .expect("reference dropped");
        assert_eq!(message.message_reference, None);
    }

    #[test]
    fn replying_needs_read_message_history() {
        let original = MessageId::new(100);
        let messages = with_message(BOB, original);
        let audience = people();
        let mut reply = send(ALICE, MessageId::new(101), "indeed");
        reply.message_reference = Some(MessageReferenceRequest {
            message_id: original,
            channel_id: None,
            guild_id: None,
            fail_if_not_exists: None,
        });
        let permissions = Permissions::VIEW_CHANNEL.union(Permissions::SEND_MESSAGES);
        assert_eq!(
            messages.send(&ctx(ALICE, permissions, &audience), reply),
            Err(MessageError::MissingPermissions)
        );
    }

    #[test]
    fn only_the_author_may_edit_a_message() {
        let id = MessageId::new(100);
        let messages = with_message(BOB, id);
        let audience = people();
        let edit = EditMessage {
            channel_id: CHANNEL,
            message_id: id,
            content: "mine now".into(),
            allowed_mentions: None,
        };
        let everything = Permissions::all();
        assert_eq!(
            messages.edit(&ctx(ALICE, everything, &audience), edit.clone()),
            Err(MessageError::NotAuthor)
        );
        let edited = messages
            .edit(&ctx(BOB, CHATTER, &audience), edit)
            .expect("author edits");
        assert_eq!(edited.edited_timestamp, NOW);
    }

    #[test]
    fn others_need_manage_messages_to_delete_a_message() {
        let id = MessageId::new(100);
        let messages = with_message(BOB, id);
        let audience = people();
        let delete = DeleteMessage {
            channel_id: CHANNEL,
            message_id: id,
        };
        assert_eq!(
            messages.delete(&ctx(ALICE, CHATTER, &audience), &delete),
            Err(MessageError::MissingPermissions)
        );
        assert!(
            messages
                .delete(
                    &ctx(
                        ALICE,
                        CHATTER.union(Permissions::MANAGE_MESSAGES),
                        &audience
                    ),
                    &delete
                )
                .is_ok()
        );
        assert!(
            messages
                .delete(&ctx(BOB, CHATTER, &audience), &delete)
                .is_ok()
        );
    }

    #[test]
    fn an_ack_records_the_actors_read_state_for_a_message_of_the_channel() {
        let id = MessageId::new(100);
        let messages = with_message(BOB, id);
        let audience = people();
        let ack = AckMessage {
            channel_id: CHANNEL,
            message_id: id,
            manual: true,
        };
        assert_eq!(
            messages.ack(&ctx(ALICE, Permissions::VIEW_CHANNEL, &audience), &ack),
            Ok(MessageAcked {
                user_id: ALICE,
                channel_id: CHANNEL,
                message_id: id,
                manual: true,
            })
        );
    }

    #[test]
    fn acking_needs_the_channel_in_view_and_a_message_of_it() {
        let id = MessageId::new(100);
        let messages = with_message(BOB, id);
        let audience = people();
        let ack = |message_id| AckMessage {
            channel_id: CHANNEL,
            message_id,
            manual: false,
        };
        assert_eq!(
            messages.ack(&ctx(ALICE, Permissions::empty(), &audience), &ack(id)),
            Err(MessageError::MissingAccess)
        );
        assert_eq!(
            messages.ack(
                &ctx(ALICE, Permissions::VIEW_CHANNEL, &audience),
                &ack(MessageId::new(101))
            ),
            Err(MessageError::UnknownMessage)
        );
    }

    #[test]
    fn a_message_of_another_channel_is_unknown() {
        let id = MessageId::new(100);
        let messages = with_message(BOB, id);
        let audience = people();
        let mut context = ctx(BOB, CHATTER, &audience);
        context.channel_id = ChannelId::new(501);
        let delete = DeleteMessage {
            channel_id: ChannelId::new(501),
            message_id: id,
        };
        assert_eq!(
            messages.delete(&context, &delete),
            Err(MessageError::UnknownMessage)
        );
    }

    #[test]
    fn bulk_delete_refuses_messages_older_than_14_days() {
        let old = id_at(datetime!(2026-11-13 12:00 UTC));
        let fresh = id_at(datetime!(2026-11-27 12:00 UTC));
        let mut messages = with_message(BOB, old);
        let audience = people();
        let moderator = CHATTER.union(Permissions::MANAGE_MESSAGES);
        let resent = messages
            .send(&ctx(BOB, CHATTER, &audience), send(BOB, fresh, "new"))
            .expect("sent");
        messages.index_mut().on_sent(&resent);
        let bulk = BulkDeleteMessages {
            channel_id: CHANNEL,
            messages: vec![old, fresh],
        };
        assert_eq!(
            messages.bulk_delete(&ctx(ALICE, moderator, &audience), &bulk),
            Err(MessageError::TooOldToBulkDelete)
        );
    }

    #[test]
    fn bulk_delete_takes_2_to_100_messages_and_skips_unknown_ones() {
        let fresh = id_at(datetime!(2026-11-27 12:00 UTC));
        let messages = with_message(BOB, fresh);
        let audience = people();
        let moderator = CHATTER.union(Permissions::MANAGE_MESSAGES);
        let context = ctx(ALICE, moderator, &audience);
        let bulk = |ids: Vec<MessageId>| BulkDeleteMessages {
            channel_id: CHANNEL,
            messages: ids,
        };
        assert!(matches!(
            messages.bulk_delete(&context, &bulk(vec![fresh])),
            Err(MessageError::Invalid(_))
        ));
        assert!(matches!(
            messages.bulk_delete(&context, &bulk(vec![fresh; 101])),
            Err(MessageError::Invalid(_))
        ));
        let other = MessageId::new(fresh.get() + 1);
        let deleted = messages
            .bulk_delete(&context, &bulk(vec![fresh, other]))
            .expect("deleted");
        assert_eq!(deleted.ids, vec![fresh]);
        assert_eq!(
            messages.bulk_delete(&ctx(ALICE, CHATTER, &audience), &bulk(vec![fresh, other])),
            Err(MessageError::MissingPermissions)
        );
    }

    fn fire() -> ReactionEmoji {
        ReactionEmoji::parse("🔥").expect("emoji")
    }

    #[test]
    fn a_first_reaction_with_an_emoji_needs_add_reactions() {
        let id = MessageId::new(100);
        let mut messages = with_message(BOB, id);
        let audience = people();
        let react = AddReaction {
            channel_id: CHANNEL,
            message_id: id,
            emoji: fire(),
        };
        let no_add = CHATTER.difference(Permissions::ADD_REACTIONS);
        assert_eq!(
            messages.add_reaction(&ctx(ALICE, no_add, &audience), react.clone()),
            Err(MessageError::MissingPermissions)
        );
        let added = messages
            .add_reaction(&ctx(BOB, CHATTER, &audience), react.clone())
            .expect("reacted")
            .expect("new reaction");
        messages.index_mut().on_reaction_added(&added);
        assert!(
            messages
                .add_reaction(&ctx(ALICE, no_add, &audience), react.clone())
                .expect("joins an existing reaction")
                .is_some()
        );
        assert_eq!(
            messages.add_reaction(&ctx(BOB, CHATTER, &audience), react),
            Ok(None),
            "reacting twice changes nothing"
        );
    }

    #[test]
    fn a_message_holds_at_most_20_reaction_emojis() {
        let id = MessageId::new(100);
        let mut messages = with_message(BOB, id);
        let audience = people();
        let emojis: Vec<ReactionEmoji> = "😀😁😂😃😄😅😆😇😈😉😊😋😌😍😎😏😐😑😒😓😔"
            .chars()
            .map(|c| ReactionEmoji::parse(&c.to_string()).expect("emoji"))
            .collect();
        for emoji in emojis.iter().take(20) {
            let added = messages
                .add_reaction(
                    &ctx(BOB, CHATTER, &audience),
                    AddReaction {
                        channel_id: CHANNEL,
                        message_id: id,
                        emoji: emoji.clone(),
                    },
                )
                .expect("reacted")
                .expect("new");
            messages.index_mut().on_reaction_added(&added);
        }
        assert_eq!(
            messages.add_reaction(
                &ctx(BOB, CHATTER, &audience),
                AddReaction {
                    channel_id: CHANNEL,
                    message_id: id,
                    emoji: emojis[20].clone(),
                }
            ),
            Err(MessageError::MaxReactions)
        );
    }

    #[test]
    fn custom_emojis_are_unknown() {
        let id = MessageId::new(100);
        let messages = with_message(BOB, id);
        let audience = people();
        let react = AddReaction {
            channel_id: CHANNEL,
            message_id: id,
            emoji: ReactionEmoji::parse("blob:123").expect("custom"),
        };
        assert_eq!(
            messages.add_reaction(&ctx(BOB, CHATTER, &audience), react),
            Err(MessageError::UnknownEmoji)
        );
    }

    #[test]
    fn removing_someone_elses_reaction_needs_manage_messages() {
        let id = MessageId::new(100);
        let mut messages = with_message(BOB, id);
        let audience = people();
        let added = messages
            .add_reaction(
                &ctx(BOB, CHATTER, &audience),
                AddReaction {
                    channel_id: CHANNEL,
                    message_id: id,
                    emoji: fire(),
                },
            )
            .expect("reacted")
            .expect("new");
        messages.index_mut().on_reaction_added(&added);
        let remove = RemoveReaction {
            channel_id: CHANNEL,
            message_id: id,
            emoji: fire(),
            user_id: Some(BOB),
        };
        assert_eq!(
            messages.remove_reaction(&ctx(ALICE, CHATTER, &audience), remove.clone()),
            Err(MessageError::MissingPermissions)
        );
        let removed = messages
            .remove_reaction(
                &ctx(
                    ALICE,
                    CHATTER.union(Permissions::MANAGE_MESSAGES),
                    &audience,
                ),
                remove,
            )
            .expect("removed")
            .expect("existed");
        messages.index_mut().on_reaction_removed(&removed);
        assert!(
            messages
                .index()
                .get(id)
                .is_some_and(|m| m.reactions.is_empty())
        );
    }

    #[test]
    fn pinning_needs_pin_messages_and_stops_at_250_pins() {
        let mut messages = Messages::default();
        let audience = people();
        let pinner = CHATTER.union(Permissions::PIN_MESSAGES);
        for raw in 1..=251_u64 {
            let sent = messages
                .send(
                    &ctx(BOB, CHATTER, &audience),
                    send(BOB, MessageId::new(raw), "x"),
                )
                .expect("sent");
            messages.index_mut().on_sent(&sent);
        }
        let pin = |raw| PinMessage {
            channel_id: CHANNEL,
            message_id: MessageId::new(raw),
        };
        assert_eq!(
            messages.pin(&ctx(ALICE, CHATTER, &audience), &pin(1)),
            Err(MessageError::MissingPermissions)
        );
        for raw in 1..=250 {
            let pinned = messages
                .pin(&ctx(ALICE, pinner, &audience), &pin(raw))
                .expect("pinned")
                .expect("new pin");
            messages.on_pinned(&pinned);
        }
        assert_eq!(
            messages.pin(&ctx(ALICE, pinner, &audience), &pin(1)),
            Ok(None)
        );
        assert_eq!(
            messages.pin(&ctx(ALICE, pinner, &audience), &pin(251)),
            Err(MessageError::MaxPins)
        );
    }

    #[test]
    fn the_sent_message_object_has_discords_shape() {
        let audience = people();
        let messages = Messages::default();
        let message = messages
            .send(
                &ctx(ALICE, CHATTER, &audience),
                send(ALICE, MessageId::new(9), "hi <@2>"),
            )
            .expect("sent");
        let object = messages.sent_object(&message, ALICE, &audience);
        assert_eq!(object["id"], "9");
        assert_eq!(object["author"]["id"], "1");
        assert_eq!(object["mentions"][0]["username"], "bob");
        assert_eq!(object["timestamp"], "2026-11-28T12:00:00.000000+00:00");
        assert_eq!(object["edited_timestamp"], serde_json::Value::Null);
        assert_eq!(object["mention_everyone"], false);
    }
}
