//! The PostgreSQL projection as a pure function: one event in, the row changes it
//! makes out ([`project`]). No clock, no randomness, no I/O — [`super::writer`]
//! turns the changes into SQL.
//!
//! Changes that depend on the rows already there (a role created shifts the others
//! up; a deleted channel takes its overwrites and invites with it) are expressed as
//! set-based changes ([`RowChange::ShiftRolesUp`], [`RowChange::DeleteChannel`]), so
//! the writer applies them in the database, in event order.

use cloudcord_schemas::dm_channel::DmChannelEvent;
use cloudcord_schemas::envelope::EventEnvelope;
use cloudcord_schemas::guild::{
    GuildChannel, GuildEvent, GuildUpdated, MemberUpdated, Role, VoiceState,
};
use cloudcord_schemas::ids::{ChannelId, MessageId, RoleId, Snowflake, UserId};
use cloudcord_schemas::message::{MessageAcked, MessageEdited, MessageSent};
use cloudcord_schemas::permissions::PermissionOverwrite;
use cloudcord_schemas::user::UserEvent;
use time::OffsetDateTime;

use crate::int64::{Unrepresentable, bits, id, int4};
use crate::record::DomainEvent;

/// A `users` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub global_name: Option<String>,
    pub avatar: Option<String>,
    pub email: Option<String>,
    pub bot: bool,
    pub application_id: Option<i64>,
    pub owner_id: Option<i64>,
    /// A bot's current token generation.
    pub bot_token_id: Option<i64>,
}

/// A `guilds` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuildRow {
    pub id: i64,
    pub name: String,
    pub owner_id: i64,
    pub system_channel_id: Option<i64>,
    pub afk_timeout: i32,
    pub created_at: OffsetDateTime,
}

/// Discord's AFK timeout of a new guild, in seconds.
const DEFAULT_AFK_TIMEOUT: i32 = 300;

/// A `channels` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRow {
    pub id: i64,
    pub guild_id: i64,
    pub kind: i16,
    pub name: String,
    pub position: i32,
    pub parent_id: Option<i64>,
    pub topic: Option<String>,
    pub nsfw: bool,
    pub rate_limit_per_user: i32,
    pub bitrate: Option<i32>,
    pub user_limit: Option<i32>,
}

/// A `permission_overwrites` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverwriteRow {
    pub channel_id: i64,
    pub target_id: i64,
    pub guild_id: i64,
    pub kind: i16,
    pub allow: i64,
    pub deny: i64,
}

/// A `roles` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRow {
    pub id: i64,
    pub guild_id: i64,
    pub name: String,
    pub color: i32,
    pub hoist: bool,
    pub position: i32,
    pub permissions: i64,
    pub managed: bool,
    pub mentionable: bool,
}

/// A `members` row (as it is when a user joins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    pub guild_id: i64,
    pub user_id: i64,
    pub joined_at: OffsetDateTime,
}

/// A member's guild profile after a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberProfile {
    pub guild_id: i64,
    pub user_id: i64,
    pub nick: Option<String>,
    pub roles: Vec<i64>,
    pub communication_disabled_until: Option<OffsetDateTime>,
    pub mute: bool,
    pub deaf: bool,
}

/// An `invites` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteRow {
    pub code: String,
    pub guild_id: i64,
    pub channel_id: i64,
    pub inviter_id: i64,
    pub max_age: i32,
    pub max_uses: i32,
    pub temporary: bool,
    pub created_at: OffsetDateTime,
}

/// A `voice_states` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceStateRow {
    pub guild_id: i64,
    pub user_id: i64,
    pub channel_id: i64,
    pub session_id: Option<String>,
    pub deaf: bool,
    pub mute: bool,
    pub self_deaf: bool,
    pub self_mute: bool,
    pub suppress: bool,
}

/// A `message_index` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRow {
    pub id: i64,
    pub channel_id: i64,
    pub guild_id: Option<i64>,
    pub author_id: i64,
    pub created_at: OffsetDateTime,
    pub pinned: bool,
    pub deleted: bool,
}

/// A `message_mentions` row: who a message mentions, as its last edit left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MentionsRow {
    pub message_id: i64,
    pub channel_id: i64,
    pub guild_id: Option<i64>,
    pub everyone: bool,
    pub users: Vec<i64>,
    pub roles: Vec<i64>,
}

/// One change to the read models, applied in event order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowChange {
    /// Insert or replace a user.
    UpsertUser(UserRow),
    /// Set a bot's current token generation.
    SetBotToken { id: i64, token_id: i64 },
    /// Set a user's profile fields.
    UpdateUserProfile {
        id: i64,
        username: String,
        global_name: Option<String>,
        avatar: Option<String>,
    },
    /// Insert or replace one side of a relationship.
    UpsertRelationship {
        user_id: i64,
        other_id: i64,
        kind: i16,
    },
    /// Remove one side of a relationship.
    DeleteRelationship { user_id: i64, other_id: i64 },
    /// Insert a guild.
    UpsertGuild(GuildRow),
    /// Change guild settings: `None` leaves a column as it is.
    UpdateGuild {
        id: i64,
        name: Option<String>,
        description: Option<Option<String>>,
        owner_id: Option<i64>,
        system_channel_id: Option<Option<i64>>,
        afk_channel_id: Option<Option<i64>>,
        afk_timeout: Option<i32>,
        icon: Option<Option<String>>,
        banner: Option<Option<String>>,
    },
    /// Remove a guild and everything in it (read states of its channels too); its
    /// messages become deleted.
    DeleteGuild { id: i64 },
    /// Insert or replace a channel (its overwrites come as separate changes).
    UpsertChannel(ChannelRow),
    /// Replace all overwrites of a channel.
    ReplaceOverwrites {
        channel_id: i64,
        overwrites: Vec<OverwriteRow>,
    },
    /// Remove a channel with its overwrites, invites, voice states and read states;
    /// its messages become deleted, children lose their parent, guild settings
    /// naming it clear.
    DeleteChannel { guild_id: i64, channel_id: i64 },
    /// Insert or replace one overwrite.
    UpsertOverwrite(OverwriteRow),
    /// Remove one overwrite.
    DeleteOverwrite { channel_id: i64, target_id: i64 },
    /// Every role of the guild at position ≥ 1 moves up by one.
    ShiftRolesUp { guild_id: i64 },
    /// Insert or replace a role.
    UpsertRole(RoleRow),
    /// Remove a role from the guild, its members and its overwrites.
    DeleteRole { guild_id: i64, role_id: i64 },
    /// Set one role's position.
    SetRolePosition { role_id: i64, position: i32 },
    /// Insert a member with an empty profile.
    InsertMember(MemberRow),
    /// Count one use of an invite.
    CountInviteUse { code: String },
    /// Remove a member (left, kicked, banned).
    DeleteMember { guild_id: i64, user_id: i64 },
    /// Set a member's guild profile.
    UpdateMember(MemberProfile),
    /// Insert or replace a ban.
    UpsertBan {
        guild_id: i64,
        user_id: i64,
        reason: Option<String>,
    },
    /// Lift a ban.
    DeleteBan { guild_id: i64, user_id: i64 },
    /// Mark a user's messages in the guild sent at or after `since` deleted.
    PurgeMessages {
        guild_id: i64,
        author_id: i64,
        since: OffsetDateTime,
    },
    /// Insert an invite.
    UpsertInvite(InviteRow),
    /// Remove an invite.
    DeleteInvite { code: String },
    /// Insert or replace a voice state.
    UpsertVoiceState(VoiceStateRow),
    /// Remove a voice state (disconnected).
    DeleteVoiceState { guild_id: i64, user_id: i64 },
    /// Insert a DM channel.
    UpsertDmChannel {
        id: i64,
        user_low: i64,
        user_high: i64,
    },
    /// Record a block on a DM channel.
    UpsertDmBlock {
        channel_id: i64,
        blocker_id: i64,
        blocked_id: i64,
    },
    /// Remove a block from a DM channel.
    DeleteDmBlock { channel_id: i64, blocker_id: i64 },
    /// Index a new message.
    InsertMessage(MessageRow),
    /// Pin or unpin a message.
    SetPinned { id: i64, pinned: bool },
    /// Mark a message deleted.
    DeleteMessage { id: i64 },
    /// Set a message's mentions; a row mentioning nobody removes them.
    ReplaceMentions(MentionsRow),
    /// Set where a user has read a channel up to.
    UpsertReadState {
        user_id: i64,
        channel_id: i64,
        last_message_id: i64,
        version: i64,
    },
    /// Replace a user's notification settings for a guild.
    UpsertGuildSettings {
        user_id: i64,
        guild_id: i64,
        /// `GuildNotificationSettings` as JSON.
        settings: String,
        version: i64,
    },
    /// A Web Push subscription registered (the endpoint becomes `user_id`'s).
    UpsertPushSubscription {
        endpoint: String,
        user_id: i64,
        p256dh: String,
        auth: String,
    },
    /// A Web Push subscription forgotten (only while it is still `user_id`'s).
    DeletePushSubscription { endpoint: String, user_id: i64 },
}

impl RowChange {
    /// Whether the change finds message rows by something other than their id
    /// (their channel, guild or author): the statements that need the message
    /// index's secondary indexes.
    pub fn scans_messages(&self) -> bool {
        matches!(
            self,
            Self::DeleteGuild { .. } | Self::DeleteChannel { .. } | Self::PurgeMessages { .. }
        )
    }
}

/// The row changes `envelope` makes, in the order they apply.
pub fn project(envelope: &EventEnvelope<DomainEvent>) -> Result<Vec<RowChange>, Unrepresentable> {
    let aggregate = id("aggregate_id", envelope.aggregate.id)?;
    // Versions of read states and settings: the event's `seq`, which grows with
    // every change of the row (a row belongs to one aggregate), is what the gateway
    // sends with MESSAGE_ACK, and is the same in a replay.
    let version = i64::try_from(envelope.seq).map_err(|_| Unrepresentable {
        field: "seq",
        value: envelope.seq,
    })?;
    match &envelope.event {
        DomainEvent::Guild(event) => guild(aggregate, event, version),
        DomainEvent::User(event) => user(aggregate, event, version),
        DomainEvent::DmChannel(event) => dm_channel(aggregate, event, version),
        // Claims matter to the write side only; their positions are still tracked.
        DomainEvent::UsernameClaim(_) => Ok(Vec::new()),
    }
}

fn user(user_id: i64, event: &UserEvent, version: i64) -> Result<Vec<RowChange>, Unrepresentable> {
    use cloudcord_schemas::user::RelationshipType;
    let relationship = |other, kind: RelationshipType| -> Result<Vec<RowChange>, Unrepresentable> {
        Ok(vec![RowChange::UpsertRelationship {
            user_id,
            other_id: id("user_id", other)?,
            kind: kind.discord_type().into(),
        }])
    };
    Ok(match event {
        UserEvent::UserRegistered(e) => vec![RowChange::UpsertUser(UserRow {
            id: id("user_id", e.user_id)?,
            username: e.username.clone(),
            global_name: e.global_name.clone(),
            avatar: None,
            email: e.email.clone(),
            bot: e.bot,
            application_id: e
                .application_id
                .map(|a| id("application_id", a))
                .transpose()?,
            owner_id: e.owner_id.map(|o| id("owner_id", o)).transpose()?,
            bot_token_id: e
                .bot_token_id
                .map(|t| id("bot_token_id", Snowflake::new(t)))
                .transpose()?,
        })],
        UserEvent::BotTokenReset(e) => vec![RowChange::SetBotToken {
            id: user_id,
            token_id: id("token_id", Snowflake::new(e.token_id))?,
        }],
        UserEvent::UserProfileUpdated(e) => vec![RowChange::UpdateUserProfile {
            id: user_id,
            username: e.username.clone(),
            global_name: e.global_name.clone(),
            avatar: e.avatar.clone(),
        }],
        // Settings live in MongoDB; password hashes in no read model.
        UserEvent::UserSettingsChanged(_) | UserEvent::PasswordChanged(_) => Vec::new(),
        UserEvent::FriendRequestSent(e) => {
            relationship(e.user_id, RelationshipType::OutgoingRequest)?
        }
        UserEvent::FriendRequestReceived(e) => {
            relationship(e.user_id, RelationshipType::IncomingRequest)?
        }
        UserEvent::FriendRequestAccepted(e) => relationship(e.user_id, RelationshipType::Friend)?,
        UserEvent::FriendshipConfirmed(e) => relationship(e.user_id, RelationshipType::Friend)?,
        UserEvent::UserBlocked(e) => relationship(e.user_id, RelationshipType::Blocked)?,
        UserEvent::UserGuildSettingsChanged(e) => vec![RowChange::UpsertGuildSettings {
            user_id,
            guild_id: id("guild_id", e.guild_id)?,
            // Invariant: the settings are plain data with string map keys, which
            // always serialize.
            settings: serde_json::to_string(&e.settings).unwrap_or_default(),
            version,
        }],
        UserEvent::PushSubscriptionAdded(e) => e
            .evicted
            .iter()
            .map(|endpoint| RowChange::DeletePushSubscription {
                endpoint: endpoint.clone(),
                user_id,
            })
            .chain([RowChange::UpsertPushSubscription {
                endpoint: e.subscription.endpoint.clone(),
                user_id,
                p256dh: e.subscription.p256dh.clone(),
                auth: e.subscription.auth.clone(),
            }])
            .collect(),
        UserEvent::PushSubscriptionRemoved(e) => vec![RowChange::DeletePushSubscription {
            endpoint: e.endpoint.clone(),
            user_id,
        }],
        UserEvent::RelationshipRemoved(e) => vec![RowChange::DeleteRelationship {
            user_id,
            other_id: id("user_id", e.user_id)?,
        }],
    })
}

fn channel_row(guild_id: i64, channel: &GuildChannel) -> Result<ChannelRow, Unrepresentable> {
    Ok(ChannelRow {
        id: id("channel_id", channel.id)?,
        guild_id,
        kind: u8::from(channel.kind).into(),
        name: channel.name.clone(),
        position: int4("position", channel.position)?,
        parent_id: channel.parent_id.map(|p| id("parent_id", p)).transpose()?,
        topic: channel.topic.clone(),
        nsfw: channel.nsfw,
        rate_limit_per_user: int4("rate_limit_per_user", channel.rate_limit_per_user)?,
        bitrate: channel.bitrate.map(|b| int4("bitrate", b)).transpose()?,
        user_limit: channel
            .user_limit
            .map(|u| int4("user_limit", u))
            .transpose()?,
    })
}

fn overwrite_row(
    guild_id: i64,
    channel_id: i64,
    overwrite: &PermissionOverwrite,
) -> Result<OverwriteRow, Unrepresentable> {
    Ok(OverwriteRow {
        channel_id,
        target_id: id("overwrite_id", overwrite.id)?,
        guild_id,
        kind: u8::from(overwrite.kind).into(),
        allow: bits("allow", overwrite.allow.bits())?,
        deny: bits("deny", overwrite.deny.bits())?,
    })
}

/// A channel and its overwrites, replacing what was there.
fn channel_changes(
    guild_id: i64,
    channel: &GuildChannel,
) -> Result<[RowChange; 2], Unrepresentable> {
    let row = channel_row(guild_id, channel)?;
    let overwrites = channel
        .permission_overwrites
        .iter()
        .map(|o| overwrite_row(guild_id, row.id, o))
        .collect::<Result<_, _>>()?;
    let channel_id = row.id;
    Ok([
        RowChange::UpsertChannel(row),
        RowChange::ReplaceOverwrites {
            channel_id,
            overwrites,
        },
    ])
}

fn role_row(guild_id: i64, role: &Role) -> Result<RoleRow, Unrepresentable> {
    Ok(RoleRow {
        id: id("role_id", role.id)?,
        guild_id,
        name: role.name.clone(),
        color: int4("color", role.color)?,
        hoist: role.hoist,
        position: int4("position", role.position)?,
        permissions: bits("permissions", role.permissions.bits())?,
        managed: role.managed,
        mentionable: role.mentionable,
    })
}

fn member_profile(guild_id: i64, e: &MemberUpdated) -> Result<MemberProfile, Unrepresentable> {
    Ok(MemberProfile {
        guild_id,
        user_id: id("user_id", e.user_id)?,
        nick: e.nick.clone(),
        roles: e
            .roles
            .iter()
            .map(|r| id("role_id", *r))
            .collect::<Result<_, _>>()?,
        communication_disabled_until: e.communication_disabled_until,
        mute: e.mute,
        deaf: e.deaf,
    })
}

fn guild_update(guild_id: i64, e: &GuildUpdated) -> Result<RowChange, Unrepresentable> {
    let nullable_id = |value: Option<Option<cloudcord_schemas::ids::ChannelId>>, field| {
        value
            .map(|inner| inner.map(|c| id(field, c)).transpose())
            .transpose()
    };
    Ok(RowChange::UpdateGuild {
        id: guild_id,
        name: e.name.clone(),
        description: e.description.clone(),
        owner_id: e.owner_id.map(|o| id("owner_id", o)).transpose()?,
        system_channel_id: nullable_id(e.system_channel_id, "system_channel_id")?,
        afk_channel_id: nullable_id(e.afk_channel_id, "afk_channel_id")?,
        afk_timeout: e.afk_timeout.map(|t| int4("afk_timeout", t)).transpose()?,
        icon: e.icon.clone(),
        banner: e.banner.clone(),
    })
}

fn voice_state(guild_id: i64, state: &VoiceState) -> Result<RowChange, Unrepresentable> {
    let user_id = id("user_id", state.user_id)?;
    Ok(match state.channel_id {
        None => RowChange::DeleteVoiceState { guild_id, user_id },
        Some(channel) => RowChange::UpsertVoiceState(VoiceStateRow {
            guild_id,
            user_id,
            channel_id: id("channel_id", channel)?,
            session_id: state.session_id.clone(),
            deaf: state.deaf,
            mute: state.mute,
            self_deaf: state.self_deaf,
            self_mute: state.self_mute,
            suppress: state.suppress,
        }),
    })
}

/// The index row of a message sent in `guild_id` (`None` in a DM), and its
/// mentions when it has any.
fn message_sent(guild_id: Option<i64>, e: &MessageSent) -> Result<Vec<RowChange>, Unrepresentable> {
    let mut changes = vec![RowChange::InsertMessage(MessageRow {
        id: id("message_id", e.id)?,
        channel_id: id("channel_id", e.channel_id)?,
        guild_id,
        author_id: id("author_id", e.author.id)?,
        created_at: e.timestamp,
        pinned: false,
        deleted: false,
    })];
    let mentions = mentions_row(
        guild_id,
        (e.id, e.channel_id),
        e.mention_everyone,
        &e.mentions,
        &e.mention_roles,
    )?;
    if mentions.mentions_anyone() {
        changes.push(RowChange::ReplaceMentions(mentions));
    }
    Ok(changes)
}

/// An edit's new mentions (replacing the old ones, perhaps with none).
fn message_edited(guild_id: Option<i64>, e: &MessageEdited) -> Result<RowChange, Unrepresentable> {
    Ok(RowChange::ReplaceMentions(mentions_row(
        guild_id,
        (e.id, e.channel_id),
        e.mention_everyone,
        &e.mentions,
        &e.mention_roles,
    )?))
}

fn mentions_row(
    guild_id: Option<i64>,
    (message, channel): (MessageId, ChannelId),
    everyone: bool,
    users: &[UserId],
    roles: &[RoleId],
) -> Result<MentionsRow, Unrepresentable> {
    Ok(MentionsRow {
        message_id: id("message_id", message)?,
        channel_id: id("channel_id", channel)?,
        guild_id,
        everyone,
        users: users
            .iter()
            .map(|user| id("mentions", *user))
            .collect::<Result<_, _>>()?,
        roles: roles
            .iter()
            .map(|role| id("mention_roles", *role))
            .collect::<Result<_, _>>()?,
    })
}

impl MentionsRow {
    /// Whether the message mentions anyone at all.
    pub fn mentions_anyone(&self) -> bool {
        self.everyone || !self.users.is_empty() || !self.roles.is_empty()
    }
}

fn read_state(e: &MessageAcked, version: i64) -> Result<RowChange, Unrepresentable> {
    Ok(RowChange::UpsertReadState {
        user_id: id("user_id", e.user_id)?,
        channel_id: id("channel_id", e.channel_id)?,
        last_message_id: id("message_id", e.message_id)?,
        version,
    })
}

fn guild(
    guild_id: i64,
    event: &GuildEvent,
    version: i64,
) -> Result<Vec<RowChange>, Unrepresentable> {
    Ok(match event {
        GuildEvent::GuildCreated(e) => {
            let mut changes = vec![
                RowChange::UpsertGuild(GuildRow {
                    id: guild_id,
                    name: e.name.clone(),
                    owner_id: id("owner_id", e.owner.id)?,
                    system_channel_id: e
                        .system_channel_id
                        .map(|c| id("system_channel_id", c))
                        .transpose()?,
                    afk_timeout: DEFAULT_AFK_TIMEOUT,
                    created_at: e.created_at,
                }),
                RowChange::InsertMember(MemberRow {
                    guild_id,
                    user_id: id("owner_id", e.owner.id)?,
                    joined_at: e.created_at,
                }),
            ];
            for role in &e.roles {
                changes.push(RowChange::UpsertRole(role_row(guild_id, role)?));
            }
            for channel in &e.channels {
                changes.extend(channel_changes(guild_id, channel)?);
            }
            changes
        }
        GuildEvent::GuildUpdated(e) => vec![guild_update(guild_id, e)?],
        GuildEvent::GuildDeleted(_) => vec![RowChange::DeleteGuild { id: guild_id }],
        GuildEvent::ChannelCreated(e) => channel_changes(guild_id, &e.channel)?.into(),
        GuildEvent::ChannelUpdated(e) => channel_changes(guild_id, &e.channel)?.into(),
        GuildEvent::ChannelDeleted(e) => vec![RowChange::DeleteChannel {
            guild_id,
            channel_id: id("channel_id", e.channel.id)?,
        }],
        GuildEvent::ChannelOverwriteUpserted(e) => {
            let channel_id = id("channel_id", e.channel_id)?;
            vec![RowChange::UpsertOverwrite(overwrite_row(
                guild_id,
                channel_id,
                &e.overwrite,
            )?)]
        }
        GuildEvent::ChannelOverwriteDeleted(e) => vec![RowChange::DeleteOverwrite {
            channel_id: id("channel_id", e.channel_id)?,
            target_id: id("overwrite_id", e.id)?,
        }],
        GuildEvent::RoleCreated(e) => vec![
            RowChange::ShiftRolesUp { guild_id },
            RowChange::UpsertRole(role_row(guild_id, &e.role)?),
        ],
        GuildEvent::RoleUpdated(e) => vec![RowChange::UpsertRole(role_row(guild_id, &e.role)?)],
        GuildEvent::RoleDeleted(e) => vec![RowChange::DeleteRole {
            guild_id,
            role_id: id("role_id", e.role_id)?,
        }],
        GuildEvent::RolePositionsUpdated(e) => e
            .positions
            .iter()
            .map(|p| {
                Ok(RowChange::SetRolePosition {
                    role_id: id("role_id", p.id)?,
                    position: int4("position", p.position)?,
                })
            })
            .collect::<Result<_, _>>()?,
        GuildEvent::MemberJoined(e) => {
            let mut changes = vec![RowChange::InsertMember(MemberRow {
                guild_id,
                user_id: id("user_id", e.user.id)?,
                joined_at: e.joined_at,
            })];
            if let Some(code) = &e.invite_code {
                changes.push(RowChange::CountInviteUse { code: code.clone() });
            }
            changes
        }
        GuildEvent::MemberLeft(e) => vec![RowChange::DeleteMember {
            guild_id,
            user_id: id("user_id", e.user_id)?,
        }],
        GuildEvent::MemberKicked(e) => vec![RowChange::DeleteMember {
            guild_id,
            user_id: id("user_id", e.user_id)?,
        }],
        GuildEvent::MemberBanned(e) => {
            let user_id = id("user_id", e.user_id)?;
            let mut changes = vec![
                RowChange::DeleteMember { guild_id, user_id },
                RowChange::UpsertBan {
                    guild_id,
                    user_id,
                    reason: e.reason.clone(),
                },
            ];
            if e.delete_message_seconds > 0 {
                changes.push(RowChange::PurgeMessages {
                    guild_id,
                    author_id: user_id,
                    since: e.banned_at - time::Duration::seconds(e.delete_message_seconds.into()),
                });
            }
            changes
        }
        GuildEvent::MemberUnbanned(e) => vec![RowChange::DeleteBan {
            guild_id,
            user_id: id("user_id", e.user_id)?,
        }],
        GuildEvent::MemberUpdated(e) => vec![RowChange::UpdateMember(member_profile(guild_id, e)?)],
        GuildEvent::InviteCreated(e) => vec![RowChange::UpsertInvite(InviteRow {
            code: e.code.clone(),
            guild_id,
            channel_id: id("channel_id", e.channel_id)?,
            inviter_id: id("inviter_id", e.inviter_id)?,
            max_age: int4("max_age", e.max_age)?,
            max_uses: int4("max_uses", e.max_uses)?,
            temporary: e.temporary,
            created_at: e.created_at,
        })],
        GuildEvent::InviteRevoked(e) => vec![RowChange::DeleteInvite {
            code: e.code.clone(),
        }],
        GuildEvent::MessageSent(e) => message_sent(Some(guild_id), e)?,
        GuildEvent::MessageDeleted(e) => vec![RowChange::DeleteMessage {
            id: id("message_id", e.id)?,
        }],
        GuildEvent::MessagesBulkDeleted(e) => e
            .ids
            .iter()
            .map(|m| {
                Ok(RowChange::DeleteMessage {
                    id: id("message_id", *m)?,
                })
            })
            .collect::<Result<_, _>>()?,
        GuildEvent::MessagePinned(e) => vec![RowChange::SetPinned {
            id: id("message_id", e.message_id)?,
            pinned: true,
        }],
        GuildEvent::MessageUnpinned(e) => vec![RowChange::SetPinned {
            id: id("message_id", e.message_id)?,
            pinned: false,
        }],
        GuildEvent::MessageEdited(e) => vec![message_edited(Some(guild_id), e)?],
        // Content and reactions live in the MongoDB message documents.
        GuildEvent::ReactionAdded(_) | GuildEvent::ReactionRemoved(_) => Vec::new(),
        GuildEvent::VoiceStateUpdated(e) => vec![voice_state(guild_id, &e.state)?],
        GuildEvent::MessageAcked(e) => vec![read_state(e, version)?],
    })
}

fn dm_channel(
    channel_id: i64,
    event: &DmChannelEvent,
    version: i64,
) -> Result<Vec<RowChange>, Unrepresentable> {
    Ok(match event {
        DmChannelEvent::DmChannelOpened(e) => {
            let [a, b] = &e.recipients;
            let (a, b) = (id("recipient", a.id)?, id("recipient", b.id)?);
            vec![RowChange::UpsertDmChannel {
                id: channel_id,
                user_low: a.min(b),
                user_high: a.max(b),
            }]
        }
        DmChannelEvent::DmRecipientBlocked(e) => vec![RowChange::UpsertDmBlock {
            channel_id,
            blocker_id: id("blocker", e.blocker)?,
            blocked_id: id("blocked", e.blocked)?,
        }],
        DmChannelEvent::DmRecipientUnblocked(e) => vec![RowChange::DeleteDmBlock {
            channel_id,
            blocker_id: id("blocker", e.blocker)?,
        }],
        DmChannelEvent::MessageSent(e) => message_sent(None, e)?,
        DmChannelEvent::MessageDeleted(e) => vec![RowChange::DeleteMessage {
            id: id("message_id", e.id)?,
        }],
        DmChannelEvent::MessagePinned(e) => vec![RowChange::SetPinned {
            id: id("message_id", e.message_id)?,
            pinned: true,
        }],
        DmChannelEvent::MessageUnpinned(e) => vec![RowChange::SetPinned {
            id: id("message_id", e.message_id)?,
            pinned: false,
        }],
        DmChannelEvent::MessageEdited(e) => vec![message_edited(None, e)?],
        DmChannelEvent::ReactionAdded(_) | DmChannelEvent::ReactionRemoved(_) => Vec::new(),
        DmChannelEvent::MessageAcked(e) => vec![read_state(e, version)?],
    })
}

#[cfg(test)]
mod tests {
    //! One test per rule of the relational projection: given an aggregate at some
    //! `seq`, when an event arrives, then these row changes, in this order.

    use cloudcord_schemas::dm_channel::{DmChannelEvent, DmChannelOpened};
    use cloudcord_schemas::guild::{
        ChannelCreated, ChannelDeleted, MemberBanned, MemberJoined, Role, RoleCreated,
    };
    use cloudcord_schemas::ids::{ChannelId, GuildId, MessageId, RoleId, Snowflake, UserId};
    use cloudcord_schemas::message::{
        MessageAcked, MessageDeleted, MessageEdited, MessagePinned, MessageUnpinned,
        MessagesBulkDeleted, ReactionAdded, ReactionEmoji,
    };
    use cloudcord_schemas::permissions::{OverwriteKind, PermissionOverwrite, Permissions};
    use cloudcord_schemas::user::{
        GuildNotificationSettings, NotificationLevel, PushSubscription, PushSubscriptionAdded,
        PushSubscriptionRemoved, UserEvent, UserGuildSettingsChanged, UserRegistered,
    };

    use super::{MemberRow, MentionsRow, MessageRow, OverwriteRow, RoleRow, RowChange, project};
    use crate::int64::Unrepresentable;
    use crate::record::{DomainEvent, EventRecord};
    use crate::test_events::{
        ALICE, BOB, CHANNEL, GUILD, NOW, dm_ref, i, in_guild, message_sent, of_user, record,
        snapshot, text_channel,
    };

    /// What projecting `record` changes.
    fn when(record: &EventRecord) -> Vec<RowChange> {
        project(&record.envelope).expect("the test events fit their columns")
    }

    fn message_row(id: u64, guild_id: Option<i64>) -> MessageRow {
        MessageRow {
            id: i(id),
            channel_id: i(CHANNEL),
            guild_id,
            author_id: i(ALICE),
            created_at: NOW,
            pinned: false,
            deleted: false,
        }
    }

    /// The mentions of `message_sent(100)`: BOB.
    fn mentions_row(guild_id: Option<i64>, users: Vec<i64>) -> MentionsRow {
        MentionsRow {
            message_id: 100,
            channel_id: i(CHANNEL),
            guild_id,
            everyone: false,
            users,
            roles: Vec::new(),
        }
    }

    #[test]
    fn a_message_sent_in_a_guild_indexes_the_message_and_its_mentions() {
        let changes = when(&in_guild(2, message_sent(100)));
        assert_eq!(
            changes,
            [
                RowChange::InsertMessage(message_row(100, Some(i(GUILD)))),
                RowChange::ReplaceMentions(mentions_row(Some(i(GUILD)), vec![i(BOB)])),
            ]
        );
    }

    #[test]
    fn a_message_mentioning_nobody_has_no_mentions_row() {
        let mut sent = message_sent(100);
        sent.mentions.clear();
        let changes = when(&in_guild(2, sent));
        assert_eq!(
            changes,
            [RowChange::InsertMessage(message_row(100, Some(i(GUILD))))]
        );
    }

    #[test]
    fn a_message_sent_in_a_dm_is_indexed_without_a_guild() {
        let sent = DmChannelEvent::MessageSent(message_sent(100));
        let changes = when(&record(dm_ref(CHANNEL), 2, DomainEvent::DmChannel(sent)));
        assert_eq!(
            changes,
            [
                RowChange::InsertMessage(message_row(100, None)),
                RowChange::ReplaceMentions(mentions_row(None, vec![i(BOB)])),
            ]
        );
    }

    #[test]
    fn an_edit_replaces_the_mentions_even_with_none() {
        let edited = |mentions: Vec<UserId>, roles: Vec<RoleId>| MessageEdited {
            id: MessageId::new(100),
            channel_id: ChannelId::new(CHANNEL),
            content: "new".into(),
            edited_timestamp: NOW,
            mention_everyone: true,
            mentions,
            mention_roles: roles,
            attachments: Vec::new(),
        };
        let changes = when(&in_guild(
            3,
            edited(vec![UserId::new(ALICE)], vec![RoleId::new(5)]),
        ));
        let mut row = mentions_row(Some(i(GUILD)), vec![i(ALICE)]);
        row.everyone = true;
        row.roles = vec![5];
        assert_eq!(changes, [RowChange::ReplaceMentions(row.clone())]);
        let mut cleared = edited(Vec::new(), Vec::new());
        cleared.mention_everyone = false;
        let changes = when(&in_guild(4, cleared));
        let none = MentionsRow {
            everyone: false,
            users: Vec::new(),
            roles: Vec::new(),
            ..row
        };
        assert!(!none.mentions_anyone());
        assert_eq!(changes, [RowChange::ReplaceMentions(none)]);
    }

    #[test]
    fn an_ack_sets_the_read_state_versioned_by_its_seq() {
        let acked = MessageAcked {
            user_id: UserId::new(BOB),
            channel_id: ChannelId::new(CHANNEL),
            message_id: MessageId::new(100),
            manual: false,
        };
        assert_eq!(
            when(&in_guild(9, acked.clone())),
            [RowChange::UpsertReadState {
                user_id: i(BOB),
                channel_id: i(CHANNEL),
                last_message_id: 100,
                version: 9,
            }]
        );
        let in_dm = DmChannelEvent::MessageAcked(acked);
        assert_eq!(
            when(&record(dm_ref(CHANNEL), 4, DomainEvent::DmChannel(in_dm))),
            [RowChange::UpsertReadState {
                user_id: i(BOB),
                channel_id: i(CHANNEL),
                last_message_id: 100,
                version: 4,
            }]
        );
    }

    #[test]
    fn a_push_subscription_replaces_the_evicted_one_and_is_removed_only_as_its_users() {
        let added = PushSubscriptionAdded {
            subscription: PushSubscription {
                endpoint: "https://push.example.net/new".into(),
                p256dh: "key".into(),
                auth: "secret".into(),
            },
            evicted: Some("https://push.example.net/old".into()),
        };
        assert_eq!(
            when(&of_user(BOB, 2, added)),
            [
                RowChange::DeletePushSubscription {
                    endpoint: "https://push.example.net/old".into(),
                    user_id: i(BOB),
                },
                RowChange::UpsertPushSubscription {
                    endpoint: "https://push.example.net/new".into(),
                    user_id: i(BOB),
                    p256dh: "key".into(),
                    auth: "secret".into(),
                },
            ]
        );
        let removed = PushSubscriptionRemoved {
            endpoint: "https://push.example.net/new".into(),
        };
        assert_eq!(
            when(&of_user(BOB, 3, removed)),
            [RowChange::DeletePushSubscription {
                endpoint: "https://push.example.net/new".into(),
                user_id: i(BOB),
            }]
        );
    }

    #[test]
    fn guild_settings_are_stored_whole_as_json() {
        let settings = GuildNotificationSettings {
            message_notifications: NotificationLevel::Nothing,
            ..GuildNotificationSettings::default()
        };
        let changed = UserGuildSettingsChanged {
            guild_id: GuildId::new(GUILD),
            settings: settings.clone(),
        };
        let changes = when(&of_user(BOB, 3, changed));
        let [
            RowChange::UpsertGuildSettings {
                user_id,
                guild_id,
                settings: json,
                version,
            },
        ] = changes.as_slice()
        else {
            panic!("one settings row, got {changes:?}");
        };
        assert_eq!((*user_id, *guild_id, *version), (i(BOB), i(GUILD), 3));
        let stored: GuildNotificationSettings = serde_json::from_str(json).expect("JSON");
        assert_eq!(stored, settings);
    }

    #[test]
    fn reactions_leave_the_index_alone() {
        let reacted = ReactionAdded {
            user_id: UserId::new(BOB),
            message_id: MessageId::new(100),
            channel_id: ChannelId::new(CHANNEL),
            emoji: ReactionEmoji {
                id: None,
                name: "🔥".into(),
            },
        };
        assert_eq!(when(&in_guild(4, reacted)), []);
    }

    #[test]
    fn a_deleted_message_is_marked_deleted() {
        let deleted = MessageDeleted {
            id: MessageId::new(100),
            channel_id: ChannelId::new(CHANNEL),
        };
        assert_eq!(
            when(&in_guild(3, deleted)),
            [RowChange::DeleteMessage { id: 100 }]
        );
    }

    #[test]
    fn a_bulk_delete_marks_every_id() {
        let bulk = MessagesBulkDeleted {
            ids: [100, 101, 102].map(MessageId::new).to_vec(),
            channel_id: ChannelId::new(CHANNEL),
        };
        assert_eq!(
            when(&in_guild(5, bulk)),
            [
                RowChange::DeleteMessage { id: 100 },
                RowChange::DeleteMessage { id: 101 },
                RowChange::DeleteMessage { id: 102 },
            ]
        );
    }

    #[test]
    fn pins_and_unpins_set_the_flag() {
        let pinned = MessagePinned {
            message_id: MessageId::new(100),
            channel_id: ChannelId::new(CHANNEL),
            pinned_at: NOW,
        };
        let unpinned = MessageUnpinned {
            message_id: MessageId::new(100),
            channel_id: ChannelId::new(CHANNEL),
        };
        assert_eq!(
            when(&in_guild(3, pinned)),
            [RowChange::SetPinned {
                id: 100,
                pinned: true
            }]
        );
        assert_eq!(
            when(&in_guild(4, unpinned)),
            [RowChange::SetPinned {
                id: 100,
                pinned: false
            }]
        );
    }

    #[test]
    fn a_channel_created_replaces_its_overwrites() {
        let mut channel = text_channel();
        channel.permission_overwrites = vec![PermissionOverwrite {
            id: Snowflake::new(BOB),
            kind: OverwriteKind::Member,
            allow: Permissions::from_bits_retain(1024),
            deny: Permissions::empty(),
        }];
        let changes = when(&in_guild(2, ChannelCreated { channel }));
        assert!(matches!(&changes[0], RowChange::UpsertChannel(row) if row.id == i(CHANNEL)));
        assert_eq!(
            changes[1],
            RowChange::ReplaceOverwrites {
                channel_id: i(CHANNEL),
                overwrites: vec![OverwriteRow {
                    channel_id: i(CHANNEL),
                    target_id: i(BOB),
                    guild_id: i(GUILD),
                    kind: 1,
                    allow: 1024,
                    deny: 0,
                }],
            }
        );
    }

    #[test]
    fn a_channel_deleted_removes_it_with_its_overwrites() {
        let deleted = ChannelDeleted {
            channel: text_channel(),
        };
        // One set-based change: the writer removes the channel, its overwrites,
        // invites and voice states and marks its messages deleted.
        assert_eq!(
            when(&in_guild(3, deleted)),
            [RowChange::DeleteChannel {
                guild_id: i(GUILD),
                channel_id: i(CHANNEL),
            }]
        );
    }

    #[test]
    fn a_member_joining_by_invite_counts_a_use() {
        let joined = MemberJoined {
            user: snapshot(BOB),
            joined_at: NOW,
            invite_code: Some("abc".into()),
        };
        assert_eq!(
            when(&in_guild(2, joined)),
            [
                RowChange::InsertMember(MemberRow {
                    guild_id: i(GUILD),
                    user_id: i(BOB),
                    joined_at: NOW,
                }),
                RowChange::CountInviteUse { code: "abc".into() },
            ]
        );
    }

    fn banned(delete_message_seconds: u32) -> MemberBanned {
        MemberBanned {
            user_id: UserId::new(BOB),
            user: Some(snapshot(BOB)),
            reason: Some("spam".into()),
            delete_message_seconds,
            banned_at: NOW,
        }
    }

    #[test]
    fn a_member_banned_removes_the_member_and_adds_a_ban() {
        assert_eq!(
            when(&in_guild(3, banned(0))),
            [
                RowChange::DeleteMember {
                    guild_id: i(GUILD),
                    user_id: i(BOB),
                },
                RowChange::UpsertBan {
                    guild_id: i(GUILD),
                    user_id: i(BOB),
                    reason: Some("spam".into()),
                },
            ]
        );
    }

    #[test]
    fn a_ban_that_deletes_messages_purges_them_since_the_window_start() {
        let changes = when(&in_guild(3, banned(3600)));
        assert_eq!(
            changes.last(),
            Some(&RowChange::PurgeMessages {
                guild_id: i(GUILD),
                author_id: i(BOB),
                since: NOW - time::Duration::hours(1),
            })
        );
    }

    #[test]
    fn a_role_created_shifts_the_others_up_before_it_is_inserted() {
        let role = Role {
            id: RoleId::new(500),
            name: "mods".into(),
            color: 0,
            hoist: false,
            position: 1,
            permissions: Permissions::empty(),
            managed: false,
            mentionable: true,
        };
        assert_eq!(
            when(&in_guild(2, RoleCreated { role })),
            [
                RowChange::ShiftRolesUp { guild_id: i(GUILD) },
                RowChange::UpsertRole(RoleRow {
                    id: 500,
                    guild_id: i(GUILD),
                    name: "mods".into(),
                    color: 0,
                    hoist: false,
                    position: 1,
                    permissions: 0,
                    managed: false,
                    mentionable: true,
                }),
            ]
        );
    }

    #[test]
    fn a_dm_channel_stores_its_users_in_order() {
        let opened = DmChannelOpened {
            channel_id: ChannelId::new(CHANNEL),
            recipients: [snapshot(BOB), snapshot(ALICE)],
        };
        let event = DomainEvent::DmChannel(DmChannelEvent::DmChannelOpened(opened));
        assert_eq!(
            when(&record(dm_ref(CHANNEL), 1, event)),
            [RowChange::UpsertDmChannel {
                id: i(CHANNEL),
                user_low: i(ALICE),
                user_high: i(BOB),
            }]
        );
    }

    #[test]
    fn a_user_registered_is_a_user_row() {
        let registered = UserRegistered {
            user_id: UserId::new(BOB),
            username: "bob".into(),
            global_name: None,
            email: Some("bob@example.com".into()),
            password_hash: Some("secret".into()),
            bot: false,
            application_id: None,
            owner_id: None,
            bot_token_id: None,
        };
        let changes = when(&of_user(BOB, 1, UserEvent::UserRegistered(registered)));
        assert!(
            matches!(&changes[..], [RowChange::UpsertUser(u)] if u.id == i(BOB) && u.username == "bob"),
            "{changes:?}"
        );
    }

    #[test]
    fn a_bot_token_reset_sets_the_current_generation() {
        let reset =
            UserEvent::BotTokenReset(cloudcord_schemas::user::BotTokenReset { token_id: 7 });
        assert_eq!(
            when(&of_user(BOB, 2, reset)),
            vec![RowChange::SetBotToken {
                id: i(BOB),
                token_id: 7,
            }]
        );
    }

    #[test]
    fn the_same_event_projects_to_the_same_changes() {
        // Pure: no clock, no randomness — a replay makes exactly what the live
        // projector made.
        let event = in_guild(2, message_sent(100));
        assert_eq!(when(&event), when(&event.clone()));
    }

    #[test]
    fn an_id_beyond_int8_is_refused_not_wrapped() {
        let sent = message_sent(u64::MAX);
        assert_eq!(
            project(&in_guild(2, sent).envelope),
            Err(Unrepresentable {
                field: "message_id",
                value: u64::MAX
            })
        );
    }
}
