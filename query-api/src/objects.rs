//! The Discord JSON objects the read routes answer with, built from read-model rows
//! and documents.
//!
//! They have the shapes command-api answers its writes with (its
//! `aggregates/guild/objects.rs`, `aggregates/messages.rs`, `aggregates/user.rs`), so a
//! client sees one object whether it came from a write or a read, and each is checked
//! against Discord's OpenAPI description by the integration tests. Where the write
//! side leaves out a field that the OpenAPI description requires (`guild_id` and
//! `guild.nsfw` on invites, `flags` and `primary_guild` on message authors), the read
//! side includes it.

use std::collections::HashMap;

use cloudcord_schemas::timestamp::discord_timestamp;
use mongodb::bson::{Bson, DateTime};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::read_models::mongo::{AuditEntryDocument, AuthorDocument, MessageDocument};
use crate::read_models::postgres::{
    ChannelRow, DmChannelRow, GuildRow, InviteRow, MemberRow, OverwriteRow, RoleRow, UserRow,
};

/// Discord's channel types CloudCord has.
mod channel_type {
    pub const GUILD_TEXT: i16 = 0;
    pub const DM: i16 = 1;
    pub const GUILD_VOICE: i16 = 2;
}

/// A stored id as Discord writes ids: a decimal string.
pub fn id(stored: i64) -> Value {
    Value::String(stored.to_string())
}

fn optional_id(stored: Option<i64>) -> Value {
    stored.map_or(Value::Null, id)
}

fn bson_time(at: DateTime) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.timestamp_millis()) * 1_000_000)
        .map(discord_timestamp)
        .unwrap_or_default()
}

/// A permission bit set as Discord writes it: a decimal string.
fn bits(stored: i64) -> String {
    stored.cast_unsigned().to_string()
}

/// Discord's user object (what anyone may see of a user).
pub fn user_object(user: &UserRow) -> Value {
    public_user(
        user.id,
        &user.username,
        user.global_name.as_deref(),
        user.avatar.as_deref(),
        user.bot,
    )
}

fn public_user(
    id_: i64,
    username: &str,
    global_name: Option<&str>,
    avatar: Option<&str>,
    bot: bool,
) -> Value {
    json!({
        "id": id(id_),
        "username": username,
        "global_name": global_name,
        "discriminator": "0",
        "avatar": avatar,
        "bot": bot,
        "public_flags": 0,
        "flags": 0,
        "primary_guild": null,
    })
}

/// Discord's user object of a message author, from the document's snapshot.
fn author_object(author: &AuthorDocument) -> Value {
    public_user(
        author.id,
        &author.username,
        author.global_name.as_deref(),
        author.avatar.as_deref(),
        author.bot,
    )
}

/// The user object of `GET /users/@me`: the public fields plus what only the user
/// sees (e-mail, locale).
pub fn current_user_object(user: &UserRow, locale: &str) -> Value {
    json!({
        "id": id(user.id),
        "username": user.username,
        "discriminator": "0",
        "global_name": user.global_name,
        "avatar": user.avatar,
        "bot": user.bot,
        "system": false,
        "banner": null,
        "accent_color": null,
        "avatar_decoration_data": null,
        "collectibles": null,
        "primary_guild": null,
        "public_flags": 0,
        "flags": 0,
        "mfa_enabled": false,
        "locale": locale,
        "premium_type": 0,
        "email": user.email,
        // No e-mail verification exists yet; bots are always verified (as on Discord).
        "verified": user.bot,
    })
}

/// Discord's role object.
pub fn role_object(role: &RoleRow) -> Value {
    json!({
        "id": id(role.id),
        "name": role.name,
        "color": role.color,
        "colors": {"primary_color": role.color, "secondary_color": null, "tertiary_color": null},
        "hoist": role.hoist,
        "icon": null,
        "unicode_emoji": null,
        "position": role.position,
        "permissions": bits(role.permissions),
        "managed": role.managed,
        "mentionable": role.mentionable,
        "flags": 0,
    })
}

/// Discord's guild member object.
pub fn member_object(member: &MemberRow) -> Value {
    let roles: Vec<Value> = member.roles.iter().copied().map(id).collect();
    json!({
        "user": user_object(&member.user),
        "nick": member.nick,
        "avatar": null,
        "banner": null,
        "roles": roles,
        "joined_at": discord_timestamp(member.joined_at),
        "premium_since": null,
        "deaf": member.deaf,
        "mute": member.mute,
        "flags": 0,
        "pending": false,
        "communication_disabled_until": member.communication_disabled_until.map(discord_timestamp),
    })
}

/// Discord's guild object; `counts` adds `approximate_member_count` and
/// `approximate_presence_count` (`with_counts=true`).
pub fn guild_object(guild: &GuildRow, roles: &[RoleRow], counts: Option<i64>) -> Value {
    let roles: Vec<Value> = roles.iter().map(role_object).collect();
    let mut object = json!({
        "id": id(guild.id),
        "name": guild.name,
        "icon": guild.icon,
        "icon_hash": guild.icon,
        "splash": null,
        "discovery_splash": null,
        "owner_id": id(guild.owner_id),
        // Deprecated by Discord, which now always sends this string.
        "region": "deprecated",
        "afk_channel_id": optional_id(guild.afk_channel_id),
        "afk_timeout": guild.afk_timeout,
        "widget_enabled": false,
        "widget_channel_id": null,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "roles": roles,
        "emojis": [],
        "features": [],
        "mfa_level": 0,
        "application_id": null,
        "system_channel_id": optional_id(guild.system_channel_id),
        "system_channel_flags": 0,
        "rules_channel_id": null,
        "max_members": 500_000,
        "vanity_url_code": null,
        "description": guild.description,
        "banner": guild.banner,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": "en-US",
        "public_updates_channel_id": null,
        "max_video_channel_users": 25,
        "nsfw_level": 0,
        "stickers": [],
        "premium_progress_bar_enabled": false,
        "safety_alerts_channel_id": null,
        "home_header": null,
        "max_presences": null,
        "max_stage_video_channel_users": 0,
        "nsfw": false,
        "incidents_data": null,
    });
    if let (Some(members), Some(map)) = (counts, object.as_object_mut()) {
        map.insert("approximate_member_count".into(), json!(members));
        // Presence is not projected: nobody counts as online to the read side.
        map.insert("approximate_presence_count".into(), json!(0));
    }
    object
}

/// One entry of `GET /users/@me/guilds`: the partial guild with the caller's
/// permissions in it.
pub fn my_guild_object(guild: &GuildRow, owner: bool, permissions: u64) -> Value {
    json!({
        "id": id(guild.id),
        "name": guild.name,
        "icon": guild.icon,
        "banner": guild.banner,
        "owner": owner,
        "permissions": permissions.to_string(),
        "features": [],
    })
}

fn overwrite_object(overwrite: &OverwriteRow) -> Value {
    json!({
        "id": id(overwrite.target_id),
        "type": overwrite.kind,
        "allow": bits(overwrite.allow),
        "deny": bits(overwrite.deny),
    })
}

/// Discord's channel object for a guild channel with its `overwrites`.
pub fn channel_object(
    channel: &ChannelRow,
    overwrites: &[OverwriteRow],
    last_message_id: Option<i64>,
) -> Value {
    let overwrites: Vec<Value> = overwrites
        .iter()
        .filter(|o| o.channel_id == channel.id)
        .map(overwrite_object)
        .collect();
    let mut object = json!({
        "id": id(channel.id),
        "type": channel.kind,
        "guild_id": id(channel.guild_id),
        "name": channel.name,
        "position": channel.position,
        "permission_overwrites": overwrites,
        "parent_id": optional_id(channel.parent_id),
        "nsfw": channel.nsfw,
        "flags": 0,
    });
    if let Some(map) = object.as_object_mut() {
        match channel.kind {
            channel_type::GUILD_TEXT => {
                map.insert("topic".into(), json!(channel.topic));
                map.insert(
                    "rate_limit_per_user".into(),
                    json!(channel.rate_limit_per_user),
                );
                map.insert("last_message_id".into(), optional_id(last_message_id));
            }
            channel_type::GUILD_VOICE => {
                map.insert("bitrate".into(), json!(channel.bitrate));
                map.insert("user_limit".into(), json!(channel.user_limit));
                map.insert("rtc_region".into(), Value::Null);
                map.insert("rate_limit_per_user".into(), json!(0));
            }
            _ => {}
        }
    }
    object
}

/// Discord's DM channel object; `others` are the recipients other than the viewer
/// (Discord lists only them).
pub fn dm_channel_object(
    dm: &DmChannelRow,
    others: &[UserRow],
    last_message_id: Option<i64>,
) -> Value {
    let recipients: Vec<Value> = others.iter().map(user_object).collect();
    json!({
        "id": id(dm.id),
        "type": channel_type::DM,
        "last_message_id": optional_id(last_message_id),
        "flags": 0,
        "recipients": recipients,
    })
}

/// Discord's invite object. `metadata` adds uses, limits and creation time (shown to
/// those with `MANAGE_GUILD`); `counts` adds the approximate counts.
pub fn invite_object(
    invite: &InviteRow,
    guild: &GuildRow,
    channel: Option<&ChannelRow>,
    inviter: Option<&UserRow>,
    metadata: bool,
    counts: Option<i64>,
) -> Value {
    let expires_at = (invite.max_age > 0)
        .then(|| invite.created_at + time::Duration::seconds(invite.max_age.into()))
        .map(discord_timestamp);
    let mut object = json!({
        "type": 0,
        "code": invite.code,
        "guild_id": id(guild.id),
        "guild": {
            "id": id(guild.id),
            "name": guild.name,
            "splash": null,
            "banner": guild.banner,
            "description": guild.description,
            "icon": guild.icon,
            "features": [],
            "verification_level": 0,
            "vanity_url_code": null,
            "nsfw_level": 0,
            "nsfw": false,
            "premium_subscription_count": 0,
        },
        "channel": {
            "id": id(invite.channel_id),
            "name": channel.map(|c| c.name.clone()),
            "type": channel.map(|c| c.kind),
        },
        "inviter": inviter.map(user_object),
        "expires_at": expires_at,
    });
    if let Some(map) = object.as_object_mut() {
        if metadata {
            map.insert("uses".into(), json!(invite.uses));
            map.insert("max_uses".into(), json!(invite.max_uses));
            map.insert("max_age".into(), json!(invite.max_age));
            map.insert("temporary".into(), json!(invite.temporary));
            map.insert(
                "created_at".into(),
                json!(discord_timestamp(invite.created_at)),
            );
        }
        if let Some(members) = counts {
            map.insert("approximate_member_count".into(), json!(members));
            map.insert("approximate_presence_count".into(), json!(0));
        }
    }
    object
}

/// Whether an invite has expired at `now` (by age or by uses).
pub fn invite_expired(invite: &InviteRow, now: OffsetDateTime) -> bool {
    let aged = invite.max_age > 0
        && invite.created_at + time::Duration::seconds(invite.max_age.into()) <= now;
    let used_up = invite.max_uses > 0 && invite.uses >= invite.max_uses;
    aged || used_up
}

/// Discord's ban object.
pub fn ban_object(user: &Value, reason: Option<&str>) -> Value {
    json!({ "user": user, "reason": reason })
}

/// Discord's message object for a document as `viewer` sees it; `users` holds the
/// mentioned users that exist.
pub fn message_object(
    message: &MessageDocument,
    viewer: i64,
    users: &HashMap<i64, UserRow>,
) -> Value {
    let mut object = Map::new();
    let reply = message.message_reference.is_some();
    object.insert("id".into(), id(message.id));
    // 19 is Discord's REPLY message type.
    object.insert("type".into(), json!(if reply { 19 } else { 0 }));
    // Without `url`s: the route signs them for the reader it checked.
    let attachments: Vec<Value> = message
        .attachments
        .iter()
        .map(|a| {
            json!({
                "id": id(a.id),
                "filename": a.filename,
                "description": a.description,
                "content_type": a.content_type,
                "size": a.size,
                "width": a.width,
                "height": a.height,
            })
        })
        .collect();
    object.insert("attachments".into(), Value::Array(attachments));
    object.insert("embeds".into(), json!([]));
    object.insert("components".into(), json!([]));
    object.insert("flags".into(), json!(0));
    object.insert("pinned".into(), json!(message.pinned));
    if !message.reactions.is_empty() {
        object.insert("reactions".into(), reaction_objects(message, viewer));
    }
    object.insert("channel_id".into(), json!(message.channel_id));
    object.insert("author".into(), author_object(&message.author));
    object.insert("content".into(), json!(message.content));
    object.insert("timestamp".into(), json!(bson_time(message.timestamp)));
    object.insert(
        "edited_timestamp".into(),
        message
            .edited_timestamp
            .map_or(Value::Null, |at| json!(bson_time(at))),
    );
    object.insert("tts".into(), json!(message.tts));
    object.insert("mention_everyone".into(), json!(message.mention_everyone));
    let mentions: Vec<Value> = message
        .mentions
        .iter()
        .filter_map(|user| users.get(user).map(user_object))
        .collect();
    object.insert("mentions".into(), Value::Array(mentions));
    let roles: Vec<Value> = message.mention_roles.iter().copied().map(id).collect();
    object.insert("mention_roles".into(), Value::Array(roles));
    if let Some(reference) = &message.message_reference {
        let mut value = json!({
            "type": 0,
            "message_id": id(reference.message_id),
            "channel_id": id(reference.channel_id),
        });
        if let (Some(guild), Some(map)) = (reference.guild_id, value.as_object_mut()) {
            map.insert("guild_id".into(), id(guild));
        }
        object.insert("message_reference".into(), value);
    }
    Value::Object(object)
}

/// The emoji object of a reaction (`{"id": null, "name": "🔥"}` for Unicode).
fn emoji_object(emoji_id: Option<i64>, name: &str) -> Value {
    json!({ "id": optional_id(emoji_id), "name": name })
}

/// Reactions grouped by emoji in the order each emoji was first used, with counts
/// and whether `viewer` is among the reactors.
fn reaction_objects(message: &MessageDocument, viewer: i64) -> Value {
    let mut grouped: Vec<(Option<i64>, &str, usize, bool)> = Vec::new();
    for reaction in &message.reactions {
        let key = (reaction.emoji_id, reaction.emoji_name.as_str());
        let me = reaction.user_id == viewer;
        match grouped.iter_mut().find(|(i, n, _, _)| (*i, *n) == key) {
            Some((_, _, count, seen)) => {
                *count += 1;
                *seen |= me;
            }
            None => grouped.push((key.0, key.1, 1, me)),
        }
    }
    Value::Array(
        grouped
            .into_iter()
            .map(|(emoji_id, name, count, me)| {
                json!({
                    "count": count,
                    "count_details": {"burst": 0, "normal": count},
                    "me": me,
                    "me_burst": false,
                    "burst_colors": [],
                    "emoji": emoji_object(emoji_id, name),
                })
            })
            .collect(),
    )
}

/// Discord's audit-log entry id for an entry: a snowflake of its creation time whose
/// low 22 bits are the guild's event `seq`, so ids are unique within a guild and
/// sort like the entries.
pub fn audit_entry_id(created_at_ms: u64, seq: i64) -> u64 {
    cloudcord_schemas::ids::Snowflake::from_timestamp_ms(created_at_ms).get()
        | (seq.cast_unsigned() & ((1 << 22) - 1))
}

/// Discord's audit-log entry object.
pub fn audit_entry_object(entry: &AuditEntryDocument) -> Value {
    let created = u64::try_from(entry.created_at.timestamp_millis()).unwrap_or(0);
    let changes: Vec<Value> = entry
        .changes
        .iter()
        .map(|change| Bson::Document(change.clone()).into_relaxed_extjson())
        .collect();
    let mut object = json!({
        "id": audit_entry_id(created, entry.seq).to_string(),
        "action_type": entry.action_type,
        "user_id": optional_id(entry.user_id),
        "target_id": optional_id(entry.target_id),
        "changes": changes,
    });
    // Discord leaves `reason` out when none was given (it is not nullable).
    if let (Some(reason), Some(map)) = (&entry.reason, object.as_object_mut()) {
        map.insert("reason".into(), json!(reason));
    }
    object
}
