//! The MongoDB projection as a pure function: one event in, the write statements it
//! makes out ([`project`]) — message documents, guild audit-log entries and user
//! settings. No clock, no randomness, no I/O.
//!
//! Every statement may be applied again after a crash (the data is written before
//! the offsets), so each is idempotent for a replayed suffix of the log:
//! * a message document is inserted once (a second insert of the same id is
//!   ignored: the document already holds it), and every later change to it is
//!   guarded by `last_seq < seq` (the aggregate's seq of the last event applied to
//!   it) and sets `last_seq`, so `$push` and friends run once;
//! * an audit-log entry is inserted once, keyed by the `event_id`;
//! * user settings are inserted at registration and then replaced whole.
//!
//! Documents are created with `insert`, never with upserts: FerretDB v1 holds a
//! PostgreSQL connection for every upsert that inserts, and stalls once its pool
//! is used up.
//!
//! Every id a statement or a reader filters on — a message's `_id`, `channel_id`
//! and `guild_id`, an audit entry's `guild_id`, a settings document's `_id` — is a
//! string ([`key`]: FerretDB matches only those in PostgreSQL) and every filter is
//! an equality on one: a statement for several messages is one statement per
//! message, never `$in`. A message keeps its id as a number too (`id`), for
//! ordering pages.

use cloudcord_runtime::mongo::key;
use cloudcord_schemas::dm_channel::DmChannelEvent;
use cloudcord_schemas::envelope::Actor;
use cloudcord_schemas::guild::{GuildChannel, GuildEvent, Role};
use cloudcord_schemas::ids::MessageId;
use cloudcord_schemas::message::{Attachment, MessageSent, Nonce, ReactionEmoji, UserSnapshot};
use cloudcord_schemas::permissions::PermissionOverwrite;
use cloudcord_schemas::user::{Status, Theme, UserEvent, UserSettings};
use mongodb::bson::{Bson, DateTime, Document, doc};
use time::OffsetDateTime;

use crate::int64::{RawId, Unrepresentable, bits, id};
use crate::record::{DomainEvent, EventRecord};

/// The collections the projection writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Collection {
    /// One document per message, keyed by message id (a string).
    Messages,
    /// One entry per audited guild event, keyed by event id.
    AuditLog,
    /// One document per user, keyed by user id (a string).
    UserSettings,
}

impl Collection {
    /// Every read-model collection, in digest order.
    pub const ALL: [Self; 3] = [Self::Messages, Self::AuditLog, Self::UserSettings];

    /// The collection's name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Messages => "messages",
            Self::AuditLog => "audit_log",
            Self::UserSettings => "user_settings",
        }
    }
}

/// What a write does.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    /// Insert this document unless one with its `_id` exists.
    Insert(Document),
    /// One statement of an `update` command: `{q, u, multi}`.
    Update(Document),
}

/// One write to one collection.
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    /// Where.
    pub collection: Collection,
    /// What.
    pub operation: Operation,
}

impl Write {
    fn insert(collection: Collection, document: Document) -> Self {
        Self {
            collection,
            operation: Operation::Insert(document),
        }
    }

    fn replace(collection: Collection, id: String, document: Document) -> Self {
        Self {
            collection,
            operation: Operation::Update(doc! { "q": { "_id": id }, "u": document }),
        }
    }

    /// An update of the message documents matching `filter` that have not seen
    /// `seq` yet.
    fn messages(filter: Document, seq: i64, mut update: Document, multi: bool) -> Self {
        let mut q = filter;
        q.insert("last_seq", doc! { "$lt": seq });
        match update.get_document_mut("$set") {
            Ok(set) => {
                set.insert("last_seq", seq);
            }
            Err(_) => {
                update.insert("$set", doc! { "last_seq": seq });
            }
        }
        Self {
            collection: Collection::Messages,
            operation: Operation::Update(doc! { "q": q, "u": update, "multi": multi }),
        }
    }
}

/// Milliseconds since the epoch, as BSON stores dates.
fn date(at: OffsetDateTime) -> DateTime {
    let millis = at.unix_timestamp_nanos() / 1_000_000;
    DateTime::from_millis(i64::try_from(millis).unwrap_or(i64::MAX))
}

fn user(user: &UserSnapshot) -> Result<Document, Unrepresentable> {
    Ok(doc! {
        "id": id("author_id", user.id)?,
        "username": &user.username,
        "global_name": user.global_name.as_deref(),
        "avatar": user.avatar.as_deref(),
        "bot": user.bot,
    })
}

/// A file of a message: its metadata only (the bytes are in the file store).
fn attachment(attachment: &Attachment) -> Result<Document, Unrepresentable> {
    let size = i64::try_from(attachment.size).map_err(|_| Unrepresentable {
        field: "attachment_size",
        value: attachment.size,
    })?;
    Ok(doc! {
        "id": id("attachment_id", attachment.id)?,
        "filename": &attachment.filename,
        "description": attachment.description.as_deref(),
        "content_type": &attachment.content_type,
        "size": size,
        "width": attachment.width.map(i64::from),
        "height": attachment.height.map(i64::from),
    })
}

fn ids<T: RawId>(field: &'static str, values: &[T]) -> Result<Vec<i64>, Unrepresentable> {
    values.iter().map(|v| id(field, *v)).collect()
}

fn emoji(emoji: &ReactionEmoji, user_id: i64) -> Result<Document, Unrepresentable> {
    Ok(doc! {
        "emoji_id": emoji.id.map(|e| id("emoji_id", e)).transpose()?,
        "emoji_name": &emoji.name,
        "user_id": user_id,
    })
}

fn message_document(
    guild_id: Option<&str>,
    seq: i64,
    e: &MessageSent,
) -> Result<Document, Unrepresentable> {
    let reference = match &e.message_reference {
        Some(r) => Bson::Document(doc! {
            "message_id": id("message_id", r.message_id)?,
            "channel_id": id("channel_id", r.channel_id)?,
            "guild_id": r.guild_id.map(|g| id("guild_id", g)).transpose()?,
        }),
        None => Bson::Null,
    };
    let nonce = match &e.nonce {
        Some(Nonce::Integer(n)) => Bson::Int64(*n),
        Some(Nonce::Text(t)) => Bson::String(t.clone()),
        None => Bson::Null,
    };
    Ok(doc! {
        "_id": key(e.id.get()),
        "id": id("message_id", e.id)?,
        "channel_id": key(e.channel_id.get()),
        "guild_id": guild_id,
        "author": user(&e.author)?,
        "content": &e.content,
        "timestamp": date(e.timestamp),
        "edited_timestamp": Bson::Null,
        "tts": e.tts,
        "mention_everyone": e.mention_everyone,
        "mentions": ids("mention", &e.mentions)?,
        "mention_roles": ids("mention_role", &e.mention_roles)?,
        "message_reference": reference,
        "nonce": nonce,
        "attachments": e.attachments.iter().map(attachment).collect::<Result<Vec<_>, _>>()?,
        "embeds": [],
        "reactions": [],
        "pinned": false,
        "pinned_at": Bson::Null,
        "deleted": false,
        "edit_history": [],
        "last_seq": seq,
    })
}

/// The statements the message events of both channel kinds make.
enum MessageEvent<'a> {
    Sent(&'a MessageSent),
    Edited(&'a cloudcord_schemas::message::MessageEdited),
    Deleted(&'a cloudcord_schemas::message::MessageDeleted),
    ReactionAdded(&'a cloudcord_schemas::message::ReactionAdded),
    ReactionRemoved(&'a cloudcord_schemas::message::ReactionRemoved),
    Pinned(&'a cloudcord_schemas::message::MessagePinned),
    Unpinned(&'a cloudcord_schemas::message::MessageUnpinned),
}

/// Marks messages deleted as of `at` (the event's time): their files are removed
/// once `[files] deleted_grace_secs` have passed since (`crate::file_sweeper`).
fn deleted(at: DateTime) -> Document {
    doc! { "$set": { "deleted": true, "deleted_at": at } }
}

/// The filter of one message's document.
fn by_id(message: MessageId) -> Document {
    doc! { "_id": key(message.get()) }
}

fn message(
    guild_id: Option<&str>,
    seq: i64,
    at: DateTime,
    event: MessageEvent<'_>,
) -> Result<Write, Unrepresentable> {
    Ok(match event {
        MessageEvent::Sent(e) => {
            Write::insert(Collection::Messages, message_document(guild_id, seq, e)?)
        }
        MessageEvent::Edited(e) => Write::messages(
            by_id(e.id),
            seq,
            doc! {
                "$set": {
                    "content": &e.content,
                    "edited_timestamp": date(e.edited_timestamp),
                    "mention_everyone": e.mention_everyone,
                    "mentions": ids("mention", &e.mentions)?,
                    "mention_roles": ids("mention_role", &e.mention_roles)?,
                },
                "$push": { "edit_history": {
                    "content": &e.content,
                    "edited_timestamp": date(e.edited_timestamp),
                } },
            },
            false,
        ),
        MessageEvent::Deleted(e) => Write::messages(by_id(e.id), seq, deleted(at), false),
        MessageEvent::ReactionAdded(e) => Write::messages(
            by_id(e.message_id),
            seq,
            doc! { "$addToSet": { "reactions": emoji(&e.emoji, id("user_id", e.user_id)?)? } },
            false,
        ),
        MessageEvent::ReactionRemoved(e) => Write::messages(
            by_id(e.message_id),
            seq,
            doc! { "$pull": { "reactions": emoji(&e.emoji, id("user_id", e.user_id)?)? } },
            false,
        ),
        MessageEvent::Pinned(e) => Write::messages(
            by_id(e.message_id),
            seq,
            doc! { "$set": { "pinned": true, "pinned_at": date(e.pinned_at) } },
            false,
        ),
        MessageEvent::Unpinned(e) => Write::messages(
            by_id(e.message_id),
            seq,
            doc! { "$set": { "pinned": false, "pinned_at": Bson::Null } },
            false,
        ),
    })
}

/// Discord's audit-log action types (`developers/resources/audit-log.mdx`).
mod action {
    pub const GUILD_UPDATE: i32 = 1;
    pub const CHANNEL_CREATE: i32 = 10;
    pub const CHANNEL_UPDATE: i32 = 11;
    pub const CHANNEL_DELETE: i32 = 12;
    pub const CHANNEL_OVERWRITE_UPDATE: i32 = 14;
    pub const CHANNEL_OVERWRITE_DELETE: i32 = 15;
    pub const MEMBER_KICK: i32 = 20;
    pub const MEMBER_BAN_ADD: i32 = 22;
    pub const MEMBER_BAN_REMOVE: i32 = 23;
    pub const MEMBER_UPDATE: i32 = 24;
    pub const BOT_ADD: i32 = 28;
    pub const ROLE_CREATE: i32 = 30;
    pub const ROLE_UPDATE: i32 = 31;
    pub const ROLE_DELETE: i32 = 32;
    pub const INVITE_CREATE: i32 = 40;
    pub const INVITE_DELETE: i32 = 42;
    pub const MESSAGE_BULK_DELETE: i32 = 73;
    pub const MESSAGE_PIN: i32 = 74;
    pub const MESSAGE_UNPIN: i32 = 75;
}

/// One audited change: Discord's `{key, new_value}` (old values would need state).
fn change(key: &str, value: impl Into<Bson>) -> Document {
    doc! { "key": key, "new_value": value.into() }
}

fn channel_changes(channel: &GuildChannel) -> Result<Vec<Document>, Unrepresentable> {
    Ok(vec![
        change("name", channel.name.as_str()),
        change("type", i32::from(u8::from(channel.kind))),
        change("position", i64::from(channel.position)),
        change("topic", channel.topic.as_deref()),
        change("nsfw", channel.nsfw),
        change(
            "parent_id",
            channel.parent_id.map(|p| id("parent_id", p)).transpose()?,
        ),
        change(
            "permission_overwrites",
            channel
                .permission_overwrites
                .iter()
                .map(overwrite)
                .collect::<Result<Vec<_>, _>>()?,
        ),
    ])
}

fn overwrite(o: &PermissionOverwrite) -> Result<Document, Unrepresentable> {
    Ok(doc! {
        "id": id("overwrite_id", o.id)?,
        "type": i32::from(u8::from(o.kind)),
        "allow": o.allow.bits().to_string(),
        "deny": o.deny.bits().to_string(),
    })
}

fn role_changes(role: &Role) -> Vec<Document> {
    vec![
        change("name", role.name.as_str()),
        change("permissions", role.permissions.bits().to_string()),
        change("color", i64::from(role.color)),
        change("hoist", role.hoist),
        change("mentionable", role.mentionable),
        change("position", i64::from(role.position)),
    ]
}

/// The audit-log entry of a guild event: `(action_type, target_id, changes, reason)`.
type Audited = (i32, Option<i64>, Vec<Document>, Option<String>);

fn audited(event: &GuildEvent) -> Result<Option<Audited>, Unrepresentable> {
    let entry = |action, target: Option<i64>, changes| Some((action, target, changes, None));
    Ok(match event {
        GuildEvent::GuildUpdated(e) => {
            let mut changes = Vec::new();
            if let Some(name) = &e.name {
                changes.push(change("name", name.as_str()));
            }
            if let Some(description) = &e.description {
                changes.push(change("description", description.as_deref()));
            }
            if let Some(owner) = e.owner_id {
                changes.push(change("owner_id", id("owner_id", owner)?));
            }
            if let Some(channel) = e.system_channel_id {
                let channel = channel.map(|c| id("system_channel_id", c)).transpose()?;
                changes.push(change("system_channel_id", channel));
            }
            if let Some(channel) = e.afk_channel_id {
                let channel = channel.map(|c| id("afk_channel_id", c)).transpose()?;
                changes.push(change("afk_channel_id", channel));
            }
            if let Some(timeout) = e.afk_timeout {
                changes.push(change("afk_timeout", i64::from(timeout)));
            }
            // Discord's change keys for a guild's images are the hashes'.
            if let Some(icon) = &e.icon {
                changes.push(change("icon_hash", icon.as_deref()));
            }
            if let Some(banner) = &e.banner {
                changes.push(change("banner_hash", banner.as_deref()));
            }
            entry(action::GUILD_UPDATE, None, changes)
        }
        GuildEvent::ChannelCreated(e) => entry(
            action::CHANNEL_CREATE,
            Some(id("channel_id", e.channel.id)?),
            channel_changes(&e.channel)?,
        ),
        GuildEvent::ChannelUpdated(e) => entry(
            action::CHANNEL_UPDATE,
            Some(id("channel_id", e.channel.id)?),
            channel_changes(&e.channel)?,
        ),
        GuildEvent::ChannelDeleted(e) => entry(
            action::CHANNEL_DELETE,
            Some(id("channel_id", e.channel.id)?),
            Vec::new(),
        ),
        GuildEvent::ChannelOverwriteUpserted(e) => entry(
            action::CHANNEL_OVERWRITE_UPDATE,
            Some(id("channel_id", e.channel_id)?),
            vec![
                change("id", id("overwrite_id", e.overwrite.id)?),
                change("type", i32::from(u8::from(e.overwrite.kind))),
                change(
                    "allow",
                    bits("allow", e.overwrite.allow.bits())?.to_string(),
                ),
                change("deny", bits("deny", e.overwrite.deny.bits())?.to_string()),
            ],
        ),
        GuildEvent::ChannelOverwriteDeleted(e) => entry(
            action::CHANNEL_OVERWRITE_DELETE,
            Some(id("channel_id", e.channel_id)?),
            vec![change("id", id("overwrite_id", e.id)?)],
        ),
        // A bot added through OAuth2's `bot` scope (one that accepts an invite
        // itself joins like anyone, which Discord does not audit either).
        GuildEvent::MemberJoined(e) if e.user.bot && e.invite_code.is_none() => {
            entry(action::BOT_ADD, Some(id("user_id", e.user.id)?), Vec::new())
        }
        GuildEvent::MemberKicked(e) => entry(
            action::MEMBER_KICK,
            Some(id("user_id", e.user_id)?),
            Vec::new(),
        ),
        GuildEvent::MemberBanned(e) => Some((
            action::MEMBER_BAN_ADD,
            Some(id("user_id", e.user_id)?),
            vec![change(
                "delete_message_seconds",
                i64::from(e.delete_message_seconds),
            )],
            e.reason.clone(),
        )),
        GuildEvent::MemberUnbanned(e) => entry(
            action::MEMBER_BAN_REMOVE,
            Some(id("user_id", e.user_id)?),
            Vec::new(),
        ),
        GuildEvent::MemberUpdated(e) => entry(
            action::MEMBER_UPDATE,
            Some(id("user_id", e.user_id)?),
            vec![
                change("nick", e.nick.as_deref()),
                change("roles", ids("role_id", &e.roles)?),
                change(
                    "communication_disabled_until",
                    e.communication_disabled_until.map(date),
                ),
                change("mute", e.mute),
                change("deaf", e.deaf),
            ],
        ),
        GuildEvent::RoleCreated(e) => entry(
            action::ROLE_CREATE,
            Some(id("role_id", e.role.id)?),
            role_changes(&e.role),
        ),
        GuildEvent::RoleUpdated(e) => entry(
            action::ROLE_UPDATE,
            Some(id("role_id", e.role.id)?),
            role_changes(&e.role),
        ),
        GuildEvent::RoleDeleted(e) => entry(
            action::ROLE_DELETE,
            Some(id("role_id", e.role_id)?),
            Vec::new(),
        ),
        GuildEvent::RolePositionsUpdated(e) => entry(
            action::ROLE_UPDATE,
            None,
            e.positions
                .iter()
                .map(|p| {
                    Ok(doc! {
                        "key": "position",
                        "role_id": id("role_id", p.id)?,
                        "new_value": i64::from(p.position),
                    })
                })
                .collect::<Result<_, Unrepresentable>>()?,
        ),
        GuildEvent::InviteCreated(e) => entry(
            action::INVITE_CREATE,
            None,
            vec![
                change("code", e.code.as_str()),
                change("channel_id", id("channel_id", e.channel_id)?),
                change("max_age", i64::from(e.max_age)),
                change("max_uses", i64::from(e.max_uses)),
                change("temporary", e.temporary),
            ],
        ),
        GuildEvent::InviteRevoked(e) => entry(
            action::INVITE_DELETE,
            None,
            vec![
                change("code", e.code.as_str()),
                change("channel_id", id("channel_id", e.channel_id)?),
            ],
        ),
        GuildEvent::MessagesBulkDeleted(e) => entry(
            action::MESSAGE_BULK_DELETE,
            Some(id("channel_id", e.channel_id)?),
            vec![change(
                "count",
                i64::try_from(e.ids.len()).unwrap_or(i64::MAX),
            )],
        ),
        GuildEvent::MessagePinned(e) => entry(
            action::MESSAGE_PIN,
            Some(id("message_id", e.message_id)?),
            vec![change("channel_id", id("channel_id", e.channel_id)?)],
        ),
        GuildEvent::MessageUnpinned(e) => entry(
            action::MESSAGE_UNPIN,
            Some(id("message_id", e.message_id)?),
            vec![change("channel_id", id("channel_id", e.channel_id)?)],
        ),
        GuildEvent::GuildCreated(_)
        | GuildEvent::GuildDeleted(_)
        | GuildEvent::MemberJoined(_)
        | GuildEvent::MemberLeft(_)
        | GuildEvent::MessageSent(_)
        | GuildEvent::MessageEdited(_)
        | GuildEvent::MessageDeleted(_)
        | GuildEvent::ReactionAdded(_)
        | GuildEvent::ReactionRemoved(_)
        | GuildEvent::VoiceStateUpdated(_)
        | GuildEvent::MessageAcked(_) => None,
    })
}

fn guild(
    record: &EventRecord,
    guild_id: &str,
    seq: i64,
    event: &GuildEvent,
) -> Result<Vec<Write>, Unrepresentable> {
    let mut writes = Vec::new();
    let some = Some(guild_id);
    let at = date(record.envelope.occurred_at);
    match event {
        GuildEvent::MessageSent(e) => writes.push(message(some, seq, at, MessageEvent::Sent(e))?),
        GuildEvent::MessageEdited(e) => {
            writes.push(message(some, seq, at, MessageEvent::Edited(e))?)
        }
        GuildEvent::MessageDeleted(e) => {
            writes.push(message(some, seq, at, MessageEvent::Deleted(e))?);
        }
        GuildEvent::ReactionAdded(e) => {
            writes.push(message(some, seq, at, MessageEvent::ReactionAdded(e))?);
        }
        GuildEvent::ReactionRemoved(e) => {
            writes.push(message(some, seq, at, MessageEvent::ReactionRemoved(e))?);
        }
        GuildEvent::MessagePinned(e) => {
            writes.push(message(some, seq, at, MessageEvent::Pinned(e))?)
        }
        GuildEvent::MessageUnpinned(e) => {
            writes.push(message(some, seq, at, MessageEvent::Unpinned(e))?);
        }
        GuildEvent::MessagesBulkDeleted(e) => writes.extend(
            e.ids
                .iter()
                .map(|&message| Write::messages(by_id(message), seq, deleted(at), false)),
        ),
        GuildEvent::ChannelDeleted(e) => writes.push(Write::messages(
            doc! { "channel_id": key(e.channel.id.get()) },
            seq,
            deleted(at),
            true,
        )),
        GuildEvent::GuildDeleted(_) => writes.push(Write::messages(
            doc! { "guild_id": guild_id },
            seq,
            deleted(at),
            true,
        )),
        GuildEvent::MemberBanned(e) if e.delete_message_seconds > 0 => {
            let since = e.banned_at - time::Duration::seconds(e.delete_message_seconds.into());
            writes.push(Write::messages(
                doc! {
                    "guild_id": guild_id,
                    "author.id": id("user_id", e.user_id)?,
                    "timestamp": { "$gte": date(since) },
                },
                seq,
                deleted(at),
                true,
            ));
        }
        _ => {}
    }
    if let Some((action_type, target_id, changes, reason)) = audited(event)? {
        let envelope = &record.envelope;
        let user_id = match envelope.actor {
            Actor::User(user) => Some(id("actor", user)?),
            Actor::System => None,
        };
        writes.push(Write::insert(
            Collection::AuditLog,
            doc! {
                "_id": envelope.event_id.to_string(),
                "guild_id": guild_id,
                "seq": seq,
                "action_type": action_type,
                "user_id": user_id,
                "target_id": target_id,
                "changes": changes,
                "reason": reason,
                "created_at": date(envelope.occurred_at),
            },
        ));
    }
    Ok(writes)
}

fn settings_document(user_id: &str, settings: &UserSettings) -> Document {
    let theme = match settings.theme {
        Theme::Dark => "dark",
        Theme::Light => "light",
    };
    let status = match settings.status {
        Status::Online => "online",
        Status::Idle => "idle",
        Status::Dnd => "dnd",
        Status::Invisible => "invisible",
    };
    let custom_status = settings.custom_status.as_ref().map(|c| {
        doc! { "text": c.text.as_deref(), "emoji_name": c.emoji_name.as_deref() }
    });
    doc! {
        "_id": user_id,
        "locale": &settings.locale,
        "theme": theme,
        "status": status,
        "custom_status": custom_status,
    }
}

/// The statements `record` makes, in the order they apply.
pub fn project(record: &EventRecord) -> Result<Vec<Write>, Unrepresentable> {
    let envelope = &record.envelope;
    let aggregate = key(envelope.aggregate.id.get());
    let seq = i64::try_from(envelope.seq).map_err(|_| Unrepresentable {
        field: "seq",
        value: envelope.seq,
    })?;
    Ok(match &envelope.event {
        DomainEvent::Guild(event) => guild(record, &aggregate, seq, event)?,
        DomainEvent::DmChannel(event) => {
            let message_event = match event {
                DmChannelEvent::MessageSent(e) => Some(MessageEvent::Sent(e)),
                DmChannelEvent::MessageEdited(e) => Some(MessageEvent::Edited(e)),
                DmChannelEvent::MessageDeleted(e) => Some(MessageEvent::Deleted(e)),
                DmChannelEvent::ReactionAdded(e) => Some(MessageEvent::ReactionAdded(e)),
                DmChannelEvent::ReactionRemoved(e) => Some(MessageEvent::ReactionRemoved(e)),
                DmChannelEvent::MessagePinned(e) => Some(MessageEvent::Pinned(e)),
                DmChannelEvent::MessageUnpinned(e) => Some(MessageEvent::Unpinned(e)),
                // Read states live in PostgreSQL only.
                DmChannelEvent::DmChannelOpened(_)
                | DmChannelEvent::DmRecipientBlocked(_)
                | DmChannelEvent::DmRecipientUnblocked(_)
                | DmChannelEvent::MessageAcked(_) => None,
            };
            message_event
                .map(|e| message(None, seq, date(envelope.occurred_at), e))
                .transpose()?
                .into_iter()
                .collect()
        }
        DomainEvent::User(UserEvent::UserRegistered(_)) => vec![Write::insert(
            Collection::UserSettings,
            settings_document(&aggregate, &UserSettings::default()),
        )],
        DomainEvent::User(UserEvent::UserSettingsChanged(e)) => vec![Write::replace(
            Collection::UserSettings,
            aggregate.clone(),
            settings_document(&aggregate, &e.settings),
        )],
        DomainEvent::User(_) | DomainEvent::UsernameClaim(_) => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    //! One test per rule of the document projection: given the documents some
    //! events made, when an event arrives, then the documents it leaves. The writes
    //! are applied by [`Documents`], a small in-memory model of the few MongoDB
    //! operators the projection uses, so the tests state what a reader sees — and
    //! that applying a write again (a replayed suffix after a crash) changes nothing.

    use std::collections::BTreeMap;

    use cloudcord_schemas::guild::{
        ChannelDeleted, GuildUpdated, MemberBanned, MemberJoined, RoleDeleted,
    };
    use cloudcord_schemas::ids::{ChannelId, MessageId, RoleId, UserId};
    use cloudcord_schemas::message::{
        MessageDeleted, MessageEdited, MessagePinned, MessagesBulkDeleted, ReactionAdded,
        ReactionEmoji, ReactionRemoved, UserSnapshot,
    };
    use cloudcord_schemas::user::{UserEvent, UserRegistered, UserSettings, UserSettingsChanged};
    use mongodb::bson::{Bson, Document, doc};

    use super::{Collection, Operation, Write, date, project};
    use crate::record::EventRecord;
    use crate::test_events::{
        ALICE, BOB, CHANNEL, GUILD, NOW, i, in_guild, message_sent, of_user, snapshot, text_channel,
    };

    /// The collections as a reader would find them.
    #[derive(Debug, Default, Clone, PartialEq)]
    struct Documents(BTreeMap<Collection, BTreeMap<String, Document>>);

    impl Documents {
        /// The documents `records` make, applied in order.
        fn given(records: &[EventRecord]) -> Self {
            let mut documents = Self::default();
            for record in records {
                documents.when(record);
            }
            documents
        }

        /// Applies the writes of `record`.
        fn when(&mut self, record: &EventRecord) -> &mut Self {
            for write in project(record).expect("the test events fit their types") {
                self.apply(&write);
            }
            self
        }

        fn apply(&mut self, write: &Write) {
            let collection = self.0.entry(write.collection).or_default();
            match &write.operation {
                Operation::Insert(document) => {
                    // Insert-or-ignore: an existing `_id` keeps its document.
                    let key = document.get("_id").expect("an _id").to_string();
                    collection.entry(key).or_insert_with(|| document.clone());
                }
                Operation::Update(statement) => {
                    let filter = statement.get_document("q").expect("q");
                    assert!(
                        ["_id", "channel_id", "guild_id"]
                            .iter()
                            .any(|k| matches!(filter.get(k), Some(Bson::String(_)))),
                        "{filter} does not narrow by a string key: FerretDB would scan every document"
                    );
                    let update = statement.get_document("u").expect("u");
                    let multi = statement.get_bool("multi").unwrap_or(false);
                    for document in collection.values_mut() {
                        if matches(document, filter) {
                            update_one(document, update);
                            if !multi {
                                break;
                            }
                        }
                    }
                }
            }
        }

        fn message(&self, id: u64) -> &Document {
            &self.0[&Collection::Messages][&Bson::String(id.to_string()).to_string()]
        }

        fn all(&self, collection: Collection) -> Vec<&Document> {
            self.0
                .get(&collection)
                .map(|c| c.values().collect())
                .unwrap_or_default()
        }
    }

    /// `document`'s value at a dotted `path`.
    fn at<'a>(document: &'a Document, path: &str) -> Option<&'a Bson> {
        let mut parts = path.split('.');
        let mut value = document.get(parts.next()?)?;
        for part in parts {
            value = value.as_document()?.get(part)?;
        }
        Some(value)
    }

    fn matches(document: &Document, filter: &Document) -> bool {
        filter.iter().all(|(path, condition)| {
            let value = at(document, path);
            match condition.as_document() {
                Some(ops) if ops.keys().all(|k| k.starts_with('$')) => {
                    ops.iter().all(|(op, operand)| match (op.as_str(), value) {
                        ("$lt", Some(v)) => compare(v, operand).is_some_and(|o| o.is_lt()),
                        ("$gte", Some(v)) => compare(v, operand).is_some_and(|o| o.is_ge()),
                        _ => false,
                    })
                }
                _ => value == Some(condition),
            }
        })
    }

    fn compare(a: &Bson, b: &Bson) -> Option<std::cmp::Ordering> {
        match (a, b) {
            (Bson::Int64(a), Bson::Int64(b)) => Some(a.cmp(b)),
            (Bson::DateTime(a), Bson::DateTime(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }

    fn update_one(document: &mut Document, update: &Document) {
        if !update.keys().any(|k| k.starts_with('$')) {
            // A replacement keeps only the `_id`.
            let id = document.get("_id").cloned();
            *document = update.clone();
            if let Some(id) = id {
                document.insert("_id", id);
            }
            return;
        }
        for (op, fields) in update {
            let fields = fields.as_document().expect("operator fields");
            for (field, value) in fields {
                match op.as_str() {
                    "$set" => {
                        document.insert(field, value.clone());
                    }
                    "$push" | "$addToSet" | "$pull" => {
                        let array = document.get_array_mut(field).expect("an array field");
                        match op.as_str() {
                            "$push" => array.push(value.clone()),
                            "$addToSet" if !array.contains(value) => array.push(value.clone()),
                            "$pull" => array.retain(|item| item != value),
                            _ => {}
                        }
                    }
                    other => panic!("the model knows no {other}"),
                }
            }
        }
    }

    fn sent(seq: u64, id: u64) -> EventRecord {
        in_guild(seq, message_sent(id))
    }

    fn fire() -> ReactionEmoji {
        ReactionEmoji {
            id: None,
            name: "🔥".into(),
        }
    }

    fn reaction_added(seq: u64, user: u64) -> EventRecord {
        in_guild(
            seq,
            ReactionAdded {
                user_id: UserId::new(user),
                message_id: MessageId::new(100),
                channel_id: ChannelId::new(CHANNEL),
                emoji: fire(),
            },
        )
    }

    fn edited(seq: u64, content: &str) -> EventRecord {
        in_guild(
            seq,
            MessageEdited {
                id: MessageId::new(100),
                channel_id: ChannelId::new(CHANNEL),
                content: content.into(),
                edited_timestamp: NOW,
                mention_everyone: false,
                mentions: Vec::new(),
                mention_roles: Vec::new(),
                attachments: Vec::new(),
            },
        )
    }

    #[test]
    fn a_message_sent_makes_a_message_document() {
        let documents = Documents::given(&[sent(2, 100)]);
        let message = documents.message(100);
        assert_eq!(message.get_str("_id"), Ok("100"));
        assert_eq!(message.get_i64("id"), Ok(100));
        assert_eq!(
            message.get_str("channel_id"),
            Ok(CHANNEL.to_string().as_str())
        );
        assert_eq!(message.get_str("guild_id"), Ok(GUILD.to_string().as_str()));
        assert_eq!(message.get_str("content"), Ok("message 100"));
        assert_eq!(at(message, "author.id"), Some(&Bson::Int64(i(ALICE))));
        assert_eq!(
            message.get_array("mentions"),
            Ok(&vec![Bson::Int64(i(BOB))])
        );
        assert_eq!(message.get_datetime("timestamp"), Ok(&date(NOW)));
        assert_eq!(message.get_bool("deleted"), Ok(false));
        assert_eq!(message.get_i64("last_seq"), Ok(2));
    }

    #[test]
    fn an_edit_sets_the_content_and_appends_to_the_edit_history() {
        let mut documents = Documents::given(&[sent(2, 100), edited(3, "first")]);
        documents.when(&edited(4, "second"));
        let message = documents.message(100);
        assert_eq!(message.get_str("content"), Ok("second"));
        assert_eq!(
            message.get_array("edit_history"),
            Ok(&vec![
                Bson::Document(doc! { "content": "first", "edited_timestamp": date(NOW) }),
                Bson::Document(doc! { "content": "second", "edited_timestamp": date(NOW) }),
            ])
        );
    }

    #[test]
    fn reactions_are_added_once_per_user_and_removed() {
        let mut documents = Documents::given(&[
            sent(2, 100),
            reaction_added(3, ALICE),
            reaction_added(4, BOB),
        ]);
        assert_eq!(
            documents.message(100).get_array("reactions").map(Vec::len),
            Ok(2)
        );
        // The same user's same emoji again: still one reaction of theirs.
        documents.when(&reaction_added(5, BOB));
        assert_eq!(
            documents.message(100).get_array("reactions").map(Vec::len),
            Ok(2)
        );
        documents.when(&in_guild(
            6,
            ReactionRemoved {
                user_id: UserId::new(ALICE),
                message_id: MessageId::new(100),
                channel_id: ChannelId::new(CHANNEL),
                emoji: fire(),
            },
        ));
        assert_eq!(
            documents.message(100).get_array("reactions"),
            Ok(&vec![Bson::Document(doc! {
                "emoji_id": Bson::Null,
                "emoji_name": "🔥",
                "user_id": i(BOB),
            })])
        );
    }

    #[test]
    fn a_pin_sets_pinned_and_when() {
        let mut documents = Documents::given(&[sent(2, 100)]);
        documents.when(&in_guild(
            3,
            MessagePinned {
                message_id: MessageId::new(100),
                channel_id: ChannelId::new(CHANNEL),
                pinned_at: NOW,
            },
        ));
        assert_eq!(documents.message(100).get_bool("pinned"), Ok(true));
        assert_eq!(
            documents.message(100).get_datetime("pinned_at"),
            Ok(&date(NOW))
        );
    }

    #[test]
    fn a_deleted_message_is_marked_deleted() {
        let mut documents = Documents::given(&[sent(2, 100), sent(3, 101)]);
        documents.when(&in_guild(
            4,
            MessageDeleted {
                id: MessageId::new(100),
                channel_id: ChannelId::new(CHANNEL),
            },
        ));
        assert_eq!(documents.message(100).get_bool("deleted"), Ok(true));
        assert_eq!(
            documents.message(100).get_datetime("deleted_at"),
            Ok(&super::date(NOW)),
            "the event's time starts its files' grace period"
        );
        assert_eq!(documents.message(101).get_bool("deleted"), Ok(false));
    }

    #[test]
    fn a_bulk_delete_marks_every_id() {
        let mut documents = Documents::given(&[sent(2, 100), sent(3, 101), sent(4, 102)]);
        documents.when(&in_guild(
            5,
            MessagesBulkDeleted {
                ids: [100, 102].map(MessageId::new).to_vec(),
                channel_id: ChannelId::new(CHANNEL),
            },
        ));
        let deleted: Vec<bool> = [100, 101, 102]
            .map(|id| documents.message(id).get_bool("deleted").expect("flag"))
            .to_vec();
        assert_eq!(deleted, [true, false, true]);
        let audit = documents.all(Collection::AuditLog);
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].get_i32("action_type"), Ok(73));
    }

    #[test]
    fn a_channel_deleted_marks_its_messages_deleted_and_is_audited() {
        let mut documents = Documents::given(&[sent(2, 100)]);
        documents.when(&in_guild(
            3,
            ChannelDeleted {
                channel: text_channel(),
            },
        ));
        assert_eq!(documents.message(100).get_bool("deleted"), Ok(true));
        let audit = documents.all(Collection::AuditLog);
        assert_eq!(audit[0].get_i32("action_type"), Ok(12));
        assert_eq!(audit[0].get_i64("target_id"), Ok(i(CHANNEL)));
    }

    #[test]
    fn a_guild_update_audits_its_new_icon_and_removed_banner() {
        let mut documents = Documents::given(&[]);
        documents.when(&in_guild(
            2,
            GuildUpdated {
                name: Some("Crabs".into()),
                icon: Some(Some("a1b2".into())),
                banner: Some(None),
                ..GuildUpdated::default()
            },
        ));
        let audit = documents.all(Collection::AuditLog);
        assert_eq!(audit[0].get_i32("action_type"), Ok(1));
        assert_eq!(
            audit[0].get_array("changes").expect("changes"),
            &vec![
                Bson::Document(doc! { "key": "name", "new_value": "Crabs" }),
                Bson::Document(doc! { "key": "icon_hash", "new_value": "a1b2" }),
                Bson::Document(doc! { "key": "banner_hash", "new_value": Bson::Null }),
            ]
        );
    }

    #[test]
    fn a_ban_that_deletes_messages_marks_the_members_recent_messages() {
        let mut by_bob = message_sent(101);
        by_bob.author = snapshot(BOB);
        let mut old_by_bob = message_sent(102);
        old_by_bob.author = snapshot(BOB);
        old_by_bob.timestamp = NOW - time::Duration::days(2);
        let mut documents =
            Documents::given(&[sent(2, 100), in_guild(3, by_bob), in_guild(4, old_by_bob)]);
        documents.when(&in_guild(
            5,
            MemberBanned {
                user_id: UserId::new(BOB),
                user: Some(snapshot(BOB)),
                reason: Some("spam".into()),
                delete_message_seconds: 86_400,
                banned_at: NOW,
            },
        ));
        let deleted: Vec<bool> = [100, 101, 102]
            .map(|id| documents.message(id).get_bool("deleted").expect("flag"))
            .to_vec();
        assert_eq!(deleted, [false, true, false]);
        let audit = documents.all(Collection::AuditLog);
        assert_eq!(audit[0].get_i32("action_type"), Ok(22));
        assert_eq!(audit[0].get_str("reason"), Ok("spam"));
    }

    #[test]
    fn a_bot_added_without_an_invite_is_audited_and_a_joining_person_is_not() {
        let joined = |bot, invite_code: Option<&str>| MemberJoined {
            user: UserSnapshot {
                bot,
                ..snapshot(BOB)
            },
            joined_at: NOW,
            invite_code: invite_code.map(str::to_owned),
        };
        let mut documents = Documents::given(&[]);
        documents.when(&in_guild(2, joined(false, None)));
        documents.when(&in_guild(3, joined(true, Some("abc"))));
        assert!(documents.all(Collection::AuditLog).is_empty());
        documents.when(&in_guild(4, joined(true, None)));
        let audit = documents.all(Collection::AuditLog);
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].get_i32("action_type"), Ok(28));
        assert_eq!(audit[0].get_i64("target_id"), Ok(i(BOB)));
    }

    #[test]
    fn an_audited_event_is_logged_once_under_its_event_id() {
        let deleted = in_guild(
            2,
            RoleDeleted {
                role_id: RoleId::new(500),
            },
        );
        let mut documents = Documents::given(std::slice::from_ref(&deleted));
        let once = documents.clone();
        documents.when(&deleted);
        assert_eq!(documents, once);
        let audit = documents.all(Collection::AuditLog);
        assert_eq!(
            audit[0].get_str("_id"),
            Ok(deleted.envelope.event_id.to_string().as_str())
        );
        assert_eq!(audit[0].get_i64("user_id"), Ok(i(ALICE)));
    }

    #[test]
    fn a_duplicate_event_changes_nothing() {
        // After a crash between the data and the offsets, the same events are
        // written again: every message change is guarded by the seq it brings.
        let history = [
            sent(2, 100),
            edited(3, "first"),
            reaction_added(4, BOB),
            sent(5, 101),
        ];
        let mut documents = Documents::given(&history);
        let once = documents.clone();
        for record in &history {
            documents.when(record);
        }
        assert_eq!(documents, once);
    }

    #[test]
    fn a_user_registered_gets_default_settings_then_changes_replace_them() {
        let registered = UserRegistered {
            user_id: UserId::new(BOB),
            username: "bob".into(),
            global_name: None,
            email: None,
            password_hash: None,
            bot: false,
            application_id: None,
            owner_id: None,
            bot_token_id: None,
        };
        let mut documents =
            Documents::given(&[of_user(BOB, 1, UserEvent::UserRegistered(registered))]);
        assert_eq!(
            documents.all(Collection::UserSettings)[0].get_str("locale"),
            Ok(UserSettings::default().locale.as_str())
        );
        let settings = UserSettings {
            locale: "fr".into(),
            ..UserSettings::default()
        };
        documents.when(&of_user(
            BOB,
            2,
            UserEvent::UserSettingsChanged(UserSettingsChanged { settings }),
        ));
        let stored = documents.all(Collection::UserSettings);
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].get_str("locale"), Ok("fr"));
        assert_eq!(stored[0].get_str("_id"), Ok(BOB.to_string().as_str()));
    }
}
