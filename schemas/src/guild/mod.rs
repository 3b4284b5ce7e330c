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
//! * Events carry everything a projection needs to stay a pure function of (state,
//!   event): whole objects where Discord's dispatch sends whole objects
//!   (`ChannelUpdated`, `RoleUpdated`, `MemberUpdated`, `VoiceStateUpdated`), user
//!   snapshots where a user first appears (`MemberJoined`, `MessageSent`).
//! * PATCH-style commands use `Option` for "leave unchanged" and, where Discord
//!   accepts `null` to clear a field, `Option<Option<T>>` ([`nullable`]): absent =
//!   unchanged, `null` = clear.
//!
//! Module map: [`channels`], [`roles`], [`members`], [`invites`] (with the invite-code
//! codec), [`voice`]; message payloads are shared with DM channels in
//! [`crate::message`].

pub mod channels;
pub mod invites;
pub mod members;
pub mod roles;
pub mod voice;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use self::channels::{
    ChannelCreated, ChannelDeleted, ChannelOverwriteDeleted, ChannelOverwriteUpserted, ChannelType,
    ChannelUpdated, GuildChannel,
};
pub use self::invites::{InviteCreated, InviteRevoked, guild_of_invite, new_invite_code};
pub use self::members::{
    MemberBanned, MemberJoined, MemberKicked, MemberLeft, MemberUnbanned, MemberUpdated,
};
pub use self::roles::{
    Role, RoleCreated, RoleDeleted, RolePosition, RolePositionsUpdated, RoleUpdated,
};
pub use self::voice::{VoiceState, VoiceStateUpdated};
use crate::ids::{ChannelId, GuildId, RoleId, Snowflake, UserId};
use crate::message::{
    AckMessage, AddReaction, BulkDeleteMessages, DeleteMessage, EditMessage, MessageAcked,
    MessageDeleted, MessageEdited, MessagePinned, MessageSent, MessageUnpinned,
    MessagesBulkDeleted, PinMessage, ReactionAdded, ReactionRemoved, RemoveReaction, SendMessage,
    UnpinMessage, UserSnapshot,
};
use crate::permissions::{PermissionOverwrite, Permissions};

/// Shortest and longest guild name, in characters.
pub const GUILD_NAME_CHARS: std::ops::RangeInclusive<usize> = 2..=100;

/// Longest guild description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 300;

/// The AFK timeouts Discord accepts, in seconds.
pub const AFK_TIMEOUTS: [u32; 5] = [60, 300, 900, 1800, 3600];

/// What `@everyone` may do in a new guild: Discord's classic default, `104324673` —
/// create invites, add reactions, stream, view channels, send messages and TTS, embed
/// links, attach files, read history, mention everyone, external emojis, connect,
/// speak, voice activity, change nickname. Pinning (`PIN_MESSAGES`) and every
/// moderation permission need a role.
pub const DEFAULT_EVERYONE_PERMISSIONS: Permissions = Permissions::from_bits_retain(104_324_673);

/// `Option<Option<T>>` for PATCH fields: absent = `None` (unchanged), `null` =
/// `Some(None)` (clear), a value = `Some(Some(v))`.
pub mod nullable {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Writes `None` and `Some(None)` as `null` (use with
    /// `skip_serializing_if = "Option::is_none"`).
    pub fn serialize<S: Serializer, T: Serialize>(
        value: &Option<Option<T>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(serializer),
            None => serializer.serialize_none(),
        }
    }

    /// Reads a present field (value or `null`) as `Some(_)`; pair with `default`.
    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

/// [`nullable`] for RFC 3339 times.
pub mod nullable_rfc3339 {
    use serde::{Deserializer, Serializer};
    use time::OffsetDateTime;

    /// Writes `None` and `Some(None)` as `null`.
    pub fn serialize<S: Serializer>(
        value: &Option<Option<OffsetDateTime>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        time::serde::rfc3339::option::serialize(&value.flatten(), serializer)
    }

    /// Reads a present field (time or `null`) as `Some(_)`.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<OffsetDateTime>>, D::Error> {
        time::serde::rfc3339::option::deserialize(deserializer).map(Some)
    }
}

/// Change the guild's settings (`MANAGE_GUILD`; only the owner may transfer
/// ownership). Command-api's `PATCH /guilds/{id}` body is Discord's, with image data
/// where this carries image hashes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModifyGuild {
    /// A new name (2 to 100 characters).
    #[serde(default)]
    pub name: Option<String>,
    /// A new description (up to 300 characters), or `null` to clear it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "nullable::serialize",
        deserialize_with = "nullable::deserialize"
    )]
    pub description: Option<Option<String>>,
    /// A member to transfer ownership to (owner only).
    #[serde(default)]
    pub owner_id: Option<UserId>,
    /// The text channel for system messages, or `null`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "nullable::serialize",
        deserialize_with = "nullable::deserialize"
    )]
    pub system_channel_id: Option<Option<ChannelId>>,
    /// The voice channel idle members are moved to, or `null`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "nullable::serialize",
        deserialize_with = "nullable::deserialize"
    )]
    pub afk_channel_id: Option<Option<ChannelId>>,
    /// Idle seconds before the move: 60, 300, 900, 1800 or 3600.
    #[serde(default)]
    pub afk_timeout: Option<u32>,
    /// The hash of a new icon already in the file store (command-api stores the
    /// image data it was sent and names it here), or `null` to remove it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "nullable::serialize",
        deserialize_with = "nullable::deserialize"
    )]
    pub icon: Option<Option<String>>,
    /// The hash of a new banner already in the file store, or `null` to remove it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "nullable::serialize",
        deserialize_with = "nullable::deserialize"
    )]
    pub banner: Option<Option<String>>,
}

/// `POST /guilds/{id}/channels`: create a channel (`MANAGE_CHANNELS`; overwrites
/// also need `MANAGE_ROLES`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CreateChannel {
    /// The new channel's id.
    pub channel_id: ChannelId,
    /// 1 to 100 characters.
    pub name: String,
    /// Discord's `type`: 0 text, 2 voice, 4 category.
    pub channel_type: ChannelType,
    /// Sorting position (default: after the last channel).
    #[serde(default)]
    pub position: Option<u32>,
    /// The category to put it in.
    #[serde(default)]
    pub parent_id: Option<ChannelId>,
    /// Text channels: the topic.
    #[serde(default)]
    pub topic: Option<String>,
    /// Age-restricted.
    #[serde(default)]
    pub nsfw: bool,
    /// Text channels: slowmode seconds.
    #[serde(default)]
    pub rate_limit_per_user: Option<u32>,
    /// Voice channels: bits per second (default 64000).
    #[serde(default)]
    pub bitrate: Option<u32>,
    /// Voice channels: most connected users (default 0, unlimited).
    #[serde(default)]
    pub user_limit: Option<u32>,
    /// Initial permission overwrites.
    #[serde(default)]
    pub permission_overwrites: Vec<PermissionOverwrite>,
}

/// `PATCH /channels/{id}` on a guild channel (`MANAGE_CHANNELS` in it; overwrites also
/// need `MANAGE_ROLES`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModifyChannel {
    /// The channel.
    pub channel_id: ChannelId,
    /// A new name.
    #[serde(default)]
    pub name: Option<String>,
    /// A new position.
    #[serde(default)]
    pub position: Option<u32>,
    /// A new topic, or `null`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "nullable::serialize",
        deserialize_with = "nullable::deserialize"
    )]
    pub topic: Option<Option<String>>,
    /// Age-restricted.
    #[serde(default)]
    pub nsfw: Option<bool>,
    /// Slowmode seconds.
    #[serde(default)]
    pub rate_limit_per_user: Option<u32>,
    /// Voice: bits per second.
    #[serde(default)]
    pub bitrate: Option<u32>,
    /// Voice: most connected users.
    #[serde(default)]
    pub user_limit: Option<u32>,
    /// A new category, or `null` for none.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "nullable::serialize",
        deserialize_with = "nullable::deserialize"
    )]
    pub parent_id: Option<Option<ChannelId>>,
    /// Replaces every overwrite.
    #[serde(default)]
    pub permission_overwrites: Option<Vec<PermissionOverwrite>>,
}

impl ModifyChannel {
    /// A modification of `channel_id` that changes nothing yet.
    pub fn new(channel_id: ChannelId) -> Self {
        Self {
            channel_id,
            name: None,
            position: None,
            topic: None,
            nsfw: None,
            rate_limit_per_user: None,
            bitrate: None,
            user_limit: None,
            parent_id: None,
            permission_overwrites: None,
        }
    }
}

/// `POST /guilds/{id}/roles` (`MANAGE_ROLES`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CreateRole {
    /// The new role's id.
    pub role_id: RoleId,
    /// Its name (default "new role").
    #[serde(default)]
    pub name: Option<String>,
    /// Its permissions (default: `@everyone`'s).
    #[serde(default)]
    pub permissions: Option<Permissions>,
    /// RGB colour.
    #[serde(default)]
    pub color: u32,
    /// Shown separately.
    #[serde(default)]
    pub hoist: bool,
    /// Mentionable by anyone.
    #[serde(default)]
    pub mentionable: bool,
}

/// `PATCH /guilds/{id}/roles/{id}` (`MANAGE_ROLES`, and the role below the actor's
/// highest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModifyRole {
    /// The role.
    pub role_id: RoleId,
    /// A new name.
    #[serde(default)]
    pub name: Option<String>,
    /// New permissions.
    #[serde(default)]
    pub permissions: Option<Permissions>,
    /// A new colour.
    #[serde(default)]
    pub color: Option<u32>,
    /// Shown separately.
    #[serde(default)]
    pub hoist: Option<bool>,
    /// Mentionable by anyone.
    #[serde(default)]
    pub mentionable: Option<bool>,
}

impl ModifyRole {
    /// A modification of `role_id` that changes nothing yet.
    pub fn new(role_id: RoleId) -> Self {
        Self {
            role_id,
            name: None,
            permissions: None,
            color: None,
            hoist: None,
            mentionable: None,
        }
    }
}

/// `PATCH /guilds/{id}/members/{id}`: a moderator changes a member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModifyMember {
    /// The member.
    pub user_id: UserId,
    /// A nickname or `null` (`MANAGE_NICKNAMES`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "nullable::serialize",
        deserialize_with = "nullable::deserialize"
    )]
    pub nick: Option<Option<String>>,
    /// The complete new role list (`MANAGE_ROLES`).
    #[serde(default)]
    pub roles: Option<Vec<RoleId>>,
    /// Time out until, or `null` to end it (`MODERATE_MEMBERS`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "nullable_rfc3339"
    )]
    #[schemars(with = "Option<String>")]
    pub communication_disabled_until: Option<Option<OffsetDateTime>>,
    /// Server mute (`MUTE_MEMBERS`).
    #[serde(default)]
    pub mute: Option<bool>,
    /// Server deafen (`DEAFEN_MEMBERS`).
    #[serde(default)]
    pub deaf: Option<bool>,
    /// Move to a voice channel, or `null` to disconnect (`MOVE_MEMBERS`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "nullable::serialize",
        deserialize_with = "nullable::deserialize"
    )]
    pub channel_id: Option<Option<ChannelId>>,
}

impl ModifyMember {
    /// A modification of `user_id` that changes nothing yet.
    pub fn new(user_id: UserId) -> Self {
        Self {
            user_id,
            nick: None,
            roles: None,
            communication_disabled_until: None,
            mute: None,
            deaf: None,
            channel_id: None,
        }
    }
}

/// What can be asked of a guild.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum GuildCommand {
    /// `POST /guilds`: create the guild, owned by the actor, with an `@everyone` role,
    /// a `general` text channel and a `General` voice channel (each in a "Text
    /// Channels" / "Voice Channels" category when those ids are given).
    CreateGuild {
        /// The new guild's id (also its `@everyone` role's).
        guild_id: GuildId,
        /// 2 to 100 characters.
        name: String,
        /// The owner (the actor), its first member.
        owner: UserSnapshot,
        /// The `general` text channel's id.
        text_channel_id: ChannelId,
        /// The `General` voice channel's id.
        voice_channel_id: ChannelId,
        /// The "Text Channels" category's id, if one is made.
        #[serde(default)]
        text_category_id: Option<ChannelId>,
        /// The "Voice Channels" category's id, if one is made.
        #[serde(default)]
        voice_category_id: Option<ChannelId>,
    },
    /// `PATCH /guilds/{id}`.
    ModifyGuild(ModifyGuild),
    /// `DELETE /guilds/{id}` (owner only).
    DeleteGuild,
    /// `POST /guilds/{id}/channels`.
    CreateChannel(CreateChannel),
    /// `PATCH /channels/{id}`.
    ModifyChannel(ModifyChannel),
    /// `DELETE /channels/{id}` (`MANAGE_CHANNELS`).
    DeleteChannel {
        /// The channel.
        channel_id: ChannelId,
    },
    /// `PUT /channels/{id}/permissions/{overwrite.id}` (`MANAGE_ROLES` in the channel).
    EditChannelPermissions {
        /// The channel.
        channel_id: ChannelId,
        /// The overwrite to set.
        overwrite: PermissionOverwrite,
    },
    /// `DELETE /channels/{id}/permissions/{overwrite.id}` (`MANAGE_ROLES` in the channel).
    DeleteChannelPermission {
        /// The channel.
        channel_id: ChannelId,
        /// The role's or member's id.
        overwrite_id: Snowflake,
    },
    /// `POST /guilds/{id}/roles`.
    CreateRole(CreateRole),
    /// `PATCH /guilds/{id}/roles/{id}`.
    ModifyRole(ModifyRole),
    /// `DELETE /guilds/{id}/roles/{id}`.
    DeleteRole {
        /// The role.
        role_id: RoleId,
    },
    /// `PATCH /guilds/{id}/roles`: reorder roles.
    ModifyRolePositions {
        /// Roles and their new positions.
        positions: Vec<RolePosition>,
    },
    /// `POST /channels/{id}/invites` (`CREATE_INSTANT_INVITE`).
    CreateInvite {
        /// The code, from [`new_invite_code`].
        code: String,
        /// The channel it leads to.
        channel_id: ChannelId,
        /// Seconds valid (0 forever, at most 604800; default 86400).
        #[serde(default = "default_max_age")]
        max_age: u32,
        /// Uses allowed (0 unlimited, at most 100).
        #[serde(default)]
        max_uses: u32,
        /// Temporary membership.
        #[serde(default)]
        temporary: bool,
    },
    /// `DELETE /invites/{code}` (`MANAGE_CHANNELS` on its channel or `MANAGE_GUILD`).
    RevokeInvite {
        /// The code.
        code: String,
    },
    /// `POST /invites/{code}`: the actor joins the guild.
    AcceptInvite {
        /// The code.
        code: String,
        /// The joining user (the actor).
        user: UserSnapshot,
    },
    /// `POST /oauth2/authorize` with the `bot` scope: the actor (`MANAGE_GUILD`) adds
    /// an application's bot. With `permissions`, the bot also gets a managed role
    /// holding them (only permissions the actor has may be granted), which goes
    /// away with the bot.
    AddBot {
        /// The bot's profile.
        bot: UserSnapshot,
        /// What its managed role allows (empty: no role).
        permissions: Permissions,
        /// The managed role's id, used when `permissions` is not empty.
        role_id: RoleId,
    },
    /// `DELETE /users/@me/guilds/{id}`: the actor leaves.
    LeaveGuild,
    /// `DELETE /guilds/{id}/members/{id}` (`KICK_MEMBERS`).
    KickMember {
        /// The member.
        user_id: UserId,
    },
    /// `PUT /guilds/{id}/bans/{id}` (`BAN_MEMBERS`).
    BanMember {
        /// The user (need not be a member).
        user_id: UserId,
        /// Seconds of their messages to delete (0 to 604800).
        #[serde(default)]
        delete_message_seconds: u32,
        /// The audit-log reason.
        #[serde(default)]
        reason: Option<String>,
    },
    /// `DELETE /guilds/{id}/bans/{id}` (`BAN_MEMBERS`).
    UnbanMember {
        /// The user.
        user_id: UserId,
    },
    /// `PATCH /guilds/{id}/members/{id}`.
    ModifyMember(ModifyMember),
    /// `PATCH /guilds/{id}/members/@me`: the actor's own nickname (`CHANGE_NICKNAME`).
    ModifyCurrentMember {
        /// A nickname or `null`.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            serialize_with = "nullable::serialize",
            deserialize_with = "nullable::deserialize"
        )]
        nick: Option<Option<String>>,
    },
    /// `PUT /guilds/{id}/members/{id}/roles/{id}` (`MANAGE_ROLES`).
    AddMemberRole {
        /// The member.
        user_id: UserId,
        /// The role.
        role_id: RoleId,
    },
    /// `DELETE /guilds/{id}/members/{id}/roles/{id}` (`MANAGE_ROLES`).
    RemoveMemberRole {
        /// The member.
        user_id: UserId,
        /// The role.
        role_id: RoleId,
    },
    /// `POST /channels/{id}/messages`.
    SendMessage(SendMessage),
    /// `PATCH /channels/{id}/messages/{id}`.
    EditMessage(EditMessage),
    /// `DELETE /channels/{id}/messages/{id}`.
    DeleteMessage(DeleteMessage),
    /// `POST /channels/{id}/messages/bulk-delete`.
    BulkDeleteMessages(BulkDeleteMessages),
    /// `PUT /channels/{id}/messages/{id}/reactions/{emoji}/@me`.
    AddReaction(AddReaction),
    /// `DELETE /channels/{id}/messages/{id}/reactions/{emoji}/{@me|user}`.
    RemoveReaction(RemoveReaction),
    /// `PUT /channels/{id}/messages/pins/{id}`.
    PinMessage(PinMessage),
    /// `DELETE /channels/{id}/messages/pins/{id}`.
    UnpinMessage(UnpinMessage),
    /// `POST /channels/{id}/messages/{id}/ack`: the actor's read state.
    AckMessage(AckMessage),
    /// Gateway opcode 4: the actor joins, moves within, or leaves (`channel_id: None`)
    /// voice, and sets self mute/deaf.
    UpdateVoiceState {
        /// The voice channel, or `None` to disconnect.
        channel_id: Option<ChannelId>,
        /// Muted by themselves.
        #[serde(default)]
        self_mute: bool,
        /// Deafened by themselves.
        #[serde(default)]
        self_deaf: bool,
        /// The gateway session.
        #[serde(default)]
        session_id: Option<String>,
    },
    /// The SFU lost the actor's media connection to `channel_id` (ICE failed, the
    /// peer vanished or never connected): the actor leaves voice, unless they are no
    /// longer in that channel (they moved or left meanwhile, so the lost connection
    /// is not their current one).
    DropVoiceConnection {
        /// The voice channel whose media connection ended.
        channel_id: ChannelId,
    },
}

fn default_max_age() -> u32 {
    invites::DEFAULT_INVITE_AGE_SECONDS
}

/// The guild exists, with its owner as first member, its `@everyone` role and its
/// default channels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GuildCreated {
    /// The guild.
    pub id: GuildId,
    /// Its name.
    pub name: String,
    /// Its owner as they were, who joined at `created_at`.
    pub owner: UserSnapshot,
    /// Its roles: `@everyone`.
    pub roles: Vec<Role>,
    /// Its default channels.
    pub channels: Vec<GuildChannel>,
    /// Where system messages go (the `general` channel).
    pub system_channel_id: Option<ChannelId>,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String")]
    pub created_at: OffsetDateTime,
}

/// Guild settings changed; carries only what changed (`null` where a setting was
/// cleared).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GuildUpdated {
    /// The new name.
    #[serde(default)]
    pub name: Option<String>,
    /// The new description, or `null` when cleared.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "nullable::serialize",
        deserialize_with = "nullable::deserialize"
    )]
    pub description: Option<Option<String>>,
    /// The new owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<UserId>,
    /// The new system channel, or `null`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "nullable::serialize",
        deserialize_with = "nullable::deserialize"
    )]
    pub system_channel_id: Option<Option<ChannelId>>,
    /// The new AFK channel, or `null`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "nullable::serialize",
        deserialize_with = "nullable::deserialize"
    )]
    pub afk_channel_id: Option<Option<ChannelId>>,
    /// The new AFK timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub afk_timeout: Option<u32>,
    /// The hash of the new icon (its bytes are in the file store, served at
    /// `/cdn/icons/{guild.id}/{hash}.{ext}`), or `null` when removed.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "nullable::serialize",
        deserialize_with = "nullable::deserialize"
    )]
    pub icon: Option<Option<String>>,
    /// The hash of the new banner (served at `/cdn/banners/{guild.id}/{hash}.{ext}`),
    /// or `null` when removed.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "nullable::serialize",
        deserialize_with = "nullable::deserialize"
    )]
    pub banner: Option<Option<String>>,
}

/// The guild was deleted; nothing in it can be used any more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GuildDeleted {}

crate::event_enum! {
    /// What happened to a guild.
    pub enum GuildEvent {
        GuildCreated = 1,
        GuildUpdated = 1,
        GuildDeleted = 1,
        ChannelCreated = 1,
        ChannelUpdated = 1,
        ChannelDeleted = 1,
        ChannelOverwriteUpserted = 1,
        ChannelOverwriteDeleted = 1,
        RoleCreated = 1,
        RoleUpdated = 1,
        RoleDeleted = 1,
        RolePositionsUpdated = 1,
        MemberJoined = 1,
        MemberLeft = 1,
        MemberKicked = 1,
        MemberBanned = 1,
        MemberUnbanned = 1,
        MemberUpdated = 1,
        InviteCreated = 1,
        InviteRevoked = 1,
        MessageSent = 1,
        MessageEdited = 1,
        MessageDeleted = 1,
        MessagesBulkDeleted = 1,
        ReactionAdded = 1,
        ReactionRemoved = 1,
        MessagePinned = 1,
        MessageUnpinned = 1,
        VoiceStateUpdated = 1,
        MessageAcked = 1,
    }
}

#[cfg(test)]
mod tests {
    use super::{GuildCommand, GuildUpdated, ModifyGuild, ModifyMember};
    use crate::ids::{ChannelId, UserId};

    #[test]
    fn patch_fields_tell_absent_from_null() {
        let absent: ModifyGuild = serde_json::from_str("{}").expect("absent");
        assert_eq!(absent.system_channel_id, None);
        let null: ModifyGuild =
            serde_json::from_str(r#"{"system_channel_id":null}"#).expect("null");
        assert_eq!(null.system_channel_id, Some(None));
        let set: ModifyGuild = serde_json::from_str(r#"{"system_channel_id":"5"}"#).expect("set");
        assert_eq!(set.system_channel_id, Some(Some(ChannelId::new(5))));
        let round: ModifyGuild =
            serde_json::from_str(&serde_json::to_string(&null).expect("ser")).expect("de");
        assert_eq!(round, null);
    }

    #[test]
    fn commands_are_tagged_snake_case_and_round_trip() {
        let mut modify = ModifyMember::new(UserId::new(3));
        modify.communication_disabled_until = Some(None);
        modify.nick = Some(Some("bob".into()));
        for command in [
            GuildCommand::ModifyMember(modify),
            GuildCommand::DeleteGuild,
            GuildCommand::ModifyGuild(ModifyGuild {
                name: Some("x".into()),
                ..ModifyGuild::default()
            }),
        ] {
            let json = serde_json::to_value(&command).expect("ser");
            assert!(json["type"].is_string());
            let back: GuildCommand = serde_json::from_value(json).expect("de");
            assert_eq!(back, command);
        }
    }

    #[test]
    fn version_1_guild_updates_still_decode() {
        let old: GuildUpdated = serde_json::from_str(r#"{"name":"Renamed"}"#).expect("v1");
        assert_eq!(old.name.as_deref(), Some("Renamed"));
        assert_eq!(old.description, None);
        assert_eq!(old.icon, None);
        assert_eq!(old.banner, None);
    }

    #[test]
    fn image_hashes_tell_absent_from_removed() {
        let removed: GuildUpdated =
            serde_json::from_str(r#"{"icon":null,"banner":"ab"}"#).expect("removed");
        assert_eq!(removed.icon, Some(None));
        assert_eq!(removed.banner, Some(Some("ab".into())));
        let json = serde_json::to_string(&removed).expect("ser");
        assert_eq!(
            serde_json::from_str::<GuildUpdated>(&json).expect("de"),
            removed
        );
        let untouched = serde_json::to_value(GuildUpdated::default()).expect("ser");
        assert!(untouched.get("icon").is_none());
    }
}
