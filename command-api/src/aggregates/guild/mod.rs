//! The guild aggregate: a guild with everything inside it — channels, roles,
//! members, bans, invites, voice states and the messages of its text channels —
//! decided on the guild's shard, so every permission check sees the guild's whole,
//! current permission state.
//!
//! Module map:
//! - this module: the state ([`Guild`]), the refusals ([`GuildError`]), the command
//!   dispatch and the permission questions every rule asks ([`Guild::guild_permissions`],
//!   [`Guild::channel_permissions`], the role hierarchy);
//! - [`settings`]: create, modify and delete the guild;
//! - [`channels`]: channels and their permission overwrites;
//! - [`roles`]: roles and their order;
//! - [`members`]: joining (through invites), leaving, kicks, bans, member edits;
//! - [`invites`]: creating and revoking invites;
//! - [`messages`]: guild-side glue around the shared [`crate::aggregates::messages`]
//!   component;
//! - [`voice`]: voice states;
//! - [`objects`]: the Discord JSON objects [`Decider::accepted`] answers with.
//!
//! Every decision validates the whole command before returning its events, and
//! permissions always come from `cloudcord_schemas::permissions` — never ad hoc.
//!
//! State is bounded by the guild's size (channels ≤ 500, roles ≤ 250, invites ≤
//! 1000, members and bans) except the message index, which grows with message count;
//! see [`crate::aggregates::messages`] for why and where it is going.

pub mod bots;
pub mod channels;
pub mod invites;
pub mod members;
pub mod messages;
pub mod objects;
pub mod roles;
pub mod settings;
pub mod voice;

#[cfg(test)]
pub(crate) mod fixtures;

use std::collections::BTreeMap;

use cloudcord_schemas::envelope::{Actor, AggregateType, ApiError, Authored};
use cloudcord_schemas::guild::{GuildChannel, GuildCommand, GuildEvent, Role, VoiceState};
use cloudcord_schemas::ids::{ChannelId, GuildId, RoleId, UserId};
use cloudcord_schemas::message::UserSnapshot;
use cloudcord_schemas::permissions::{
    self, GuildView, MemberView, Permissions, RoleLookup, RoleRank,
};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use super::message_index::MessageIndex;
use super::messages::{InvalidField, MessageError, Messages};
use super::{Accepted, Decider, Domain, Refusal};

/// A member of the guild.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The user as they were when joining.
    pub user: UserSnapshot,
    /// Their nickname.
    pub nick: Option<String>,
    /// Their roles, without `@everyone`.
    pub roles: Vec<RoleId>,
    /// When they joined.
    #[serde(with = "time::serde::rfc3339")]
    pub joined_at: OffsetDateTime,
    /// Until when they are timed out.
    #[serde(with = "time::serde::rfc3339::option")]
    pub communication_disabled_until: Option<OffsetDateTime>,
    /// Server-muted.
    pub mute: bool,
    /// Server-deafened.
    pub deaf: bool,
}

/// A ban.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ban {
    /// The banned user, if they were a member.
    pub user: Option<UserSnapshot>,
    /// Why.
    pub reason: Option<String>,
}

/// A live invite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    /// Where it leads.
    pub channel_id: ChannelId,
    /// Who made it.
    pub inviter_id: UserId,
    /// Seconds valid (0: forever).
    pub max_age: u32,
    /// Uses allowed (0: unlimited).
    pub max_uses: u32,
    /// Uses so far.
    pub uses: u32,
    /// Temporary membership.
    pub temporary: bool,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl Invite {
    /// When it stops working, if ever.
    pub fn expires_at(&self) -> Option<OffsetDateTime> {
        (self.max_age > 0).then(|| self.created_at + time::Duration::seconds(self.max_age.into()))
    }

    /// Whether it still works at `at`.
    pub fn is_live(&self, at: OffsetDateTime) -> bool {
        self.expires_at().is_none_or(|end| at < end)
            && (self.max_uses == 0 || self.uses < self.max_uses)
    }
}

/// A guild's decision state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Guild {
    id: Option<GuildId>,
    deleted: bool,
    name: String,
    description: Option<String>,
    owner_id: Option<UserId>,
    system_channel_id: Option<ChannelId>,
    afk_channel_id: Option<ChannelId>,
    afk_timeout: u32,
    /// The icon's image hash (snapshots from before icons lack it).
    #[serde(default)]
    icon: Option<String>,
    /// The banner's image hash.
    #[serde(default)]
    banner: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    created_at: Option<OffsetDateTime>,
    channels: BTreeMap<ChannelId, GuildChannel>,
    roles: BTreeMap<RoleId, Role>,
    members: BTreeMap<UserId, Member>,
    bans: BTreeMap<UserId, Ban>,
    invites: BTreeMap<String, Invite>,
    voice: BTreeMap<UserId, VoiceState>,
    messages: Messages,
    /// How to answer the command just decided when its events alone do not say
    /// (set by `handle`, read by `accepted`; never persisted).
    #[serde(skip)]
    reply: Option<Reply>,
}

/// An answer `handle` settles before the events are applied.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// 204 No Content.
    NoContent,
    /// The member object of this user (200).
    Member(UserId),
    /// A ready body with its status.
    Body(u16, Value),
}

/// Why a guild command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuildError {
    /// The guild exists already.
    #[error("guild already exists")]
    AlreadyExists,
    /// No such guild (never created, or deleted).
    #[error("unknown guild")]
    UnknownGuild,
    /// No such channel in this guild.
    #[error("unknown channel")]
    UnknownChannel,
    /// No such role in this guild.
    #[error("unknown role")]
    UnknownRole,
    /// No such member.
    #[error("unknown member")]
    UnknownMember,
    /// No such invite.
    #[error("unknown invite")]
    UnknownInvite,
    /// No such ban.
    #[error("unknown ban")]
    UnknownBan,
    /// No such overwrite on the channel.
    #[error("unknown overwrite")]
    UnknownOverwrite,
    /// The actor is not a member, or cannot see the channel.
    #[error("missing access")]
    MissingAccess,
    /// The actor lacks a permission, or ranks too low.
    #[error("missing permissions")]
    MissingPermissions,
    /// The user is banned from this guild.
    #[error("the user is banned from this guild")]
    Banned,
    /// The guild has 250 roles.
    #[error("maximum number of guild roles reached (250)")]
    MaxRoles,
    /// The guild has 500 channels.
    #[error("maximum number of guild channels reached (500)")]
    MaxChannels,
    /// The guild has 1000 live invites.
    #[error("maximum number of invites reached (1000)")]
    MaxInvites,
    /// The action does not apply to this channel's type.
    #[error("cannot execute action on this channel type")]
    WrongChannelType,
    /// The role cannot be used so (`@everyone`, a managed role).
    #[error("invalid role")]
    InvalidRole,
    /// The owner cannot leave their own guild.
    #[error("invalid guild")]
    InvalidGuild,
    /// The target member is not connected to voice.
    #[error("target user is not connected to voice")]
    NotInVoice,
    /// The voice channel is at its user limit.
    #[error("the voice channel is full")]
    ChannelFull,
    /// A field is invalid.
    #[error("invalid {}: {}", .0.field, .0.message)]
    Invalid(InvalidField),
    /// A message rule refused it.
    #[error(transparent)]
    Message(#[from] MessageError),
}

impl From<InvalidField> for GuildError {
    fn from(field: InvalidField) -> Self {
        Self::Invalid(field)
    }
}

/// Who acts and when.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    /// The acting user.
    pub actor: UserId,
    /// When the command was accepted.
    pub at: OffsetDateTime,
}

/// What a decision produced: the events, and an answer when they do not imply it.
#[derive(Debug, Default)]
pub struct Decided {
    events: Vec<GuildEvent>,
    reply: Option<Reply>,
}

impl Decided {
    /// One event.
    pub fn event(event: impl Into<GuildEvent>) -> Self {
        Self {
            events: vec![event.into()],
            reply: None,
        }
    }

    /// No event (the command changes nothing).
    pub fn nothing() -> Self {
        Self::default()
    }

    /// Sets the answer.
    pub fn reply(mut self, reply: Reply) -> Self {
        self.reply = Some(reply);
        self
    }

    /// Adds an event.
    pub fn and(mut self, event: impl Into<GuildEvent>) -> Self {
        self.events.push(event.into());
        self
    }
}

/// The guild's roles, as the permission functions look them up.
struct RoleTable<'a>(&'a BTreeMap<RoleId, Role>);

impl RoleLookup for RoleTable<'_> {
    fn role_permissions(&self, role: RoleId) -> Option<Permissions> {
        self.0.get(&role).map(|r| r.permissions)
    }
}

fn member_view(member: &Member) -> MemberView<'_> {
    MemberView {
        user_id: member.user.id,
        roles: &member.roles,
        communication_disabled_until_ms: member.communication_disabled_until.map(unix_ms),
    }
}

/// Unix milliseconds of `at` (0 before 1970).
pub(crate) fn unix_ms(at: OffsetDateTime) -> u64 {
    u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

/// Checks a name's length in characters.
pub(crate) fn check_length(
    field: &'static str,
    value: &str,
    min: usize,
    max: usize,
) -> Result<(), GuildError> {
    let length = value.chars().count();
    if (min..=max).contains(&length) {
        Ok(())
    } else if min == 0 {
        Err(InvalidField::too_long(field, max).into())
    } else {
        Err(InvalidField::bad_length(field, min, max).into())
    }
}

impl Guild {
    /// The guild's id, if it exists and is not deleted.
    pub fn id(&self) -> Result<GuildId, GuildError> {
        match self.id {
            Some(id) if !self.deleted => Ok(id),
            _ => Err(GuildError::UnknownGuild),
        }
    }

    /// The guild's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The owner.
    pub fn owner_id(&self) -> Option<UserId> {
        self.owner_id
    }

    /// Whether `user` owns the guild.
    pub fn is_owner(&self, user: UserId) -> bool {
        self.owner_id == Some(user)
    }

    /// The member `user`.
    pub fn member(&self, user: UserId) -> Result<&Member, GuildError> {
        self.members.get(&user).ok_or(GuildError::UnknownMember)
    }

    /// The channel `id`.
    pub fn channel(&self, id: ChannelId) -> Result<&GuildChannel, GuildError> {
        self.channels.get(&id).ok_or(GuildError::UnknownChannel)
    }

    /// The role `id`.
    pub fn role(&self, id: RoleId) -> Result<&Role, GuildError> {
        self.roles.get(&id).ok_or(GuildError::UnknownRole)
    }

    /// The existing guild and the actor as one of its members; a non-member has no
    /// access to anything in it.
    fn actor_member(&self, ctx: &Ctx) -> Result<(GuildId, &Member), GuildError> {
        let id = self.id()?;
        let member = self
            .members
            .get(&ctx.actor)
            .ok_or(GuildError::MissingAccess)?;
        Ok((id, member))
    }

    /// `user`'s guild-wide permissions at `at` (nothing for non-members).
    pub fn guild_permissions(&self, user: UserId, at: OffsetDateTime) -> Permissions {
        let (Ok(guild_id), Some(member)) = (self.id(), self.members.get(&user)) else {
            return Permissions::empty();
        };
        let table = RoleTable(&self.roles);
        let guild = self.guild_view(guild_id, &table);
        permissions::guild_permissions(&guild, &member_view(member), unix_ms(at))
    }

    /// `user`'s permissions in `channel` at `at` (nothing for non-members or unknown
    /// channels).
    pub fn channel_permissions(
        &self,
        user: UserId,
        channel: ChannelId,
        at: OffsetDateTime,
    ) -> Permissions {
        let (Ok(guild_id), Some(member), Some(channel)) = (
            self.id(),
            self.members.get(&user),
            self.channels.get(&channel),
        ) else {
            return Permissions::empty();
        };
        let table = RoleTable(&self.roles);
        let guild = self.guild_view(guild_id, &table);
        permissions::channel_permissions(
            &guild,
            &member_view(member),
            &channel.permission_overwrites,
            unix_ms(at),
        )
    }

    fn guild_view<'a>(&self, guild_id: GuildId, table: &'a RoleTable<'a>) -> GuildView<'a> {
        GuildView {
            guild_id,
            // A created guild always has an owner; id 0 matches nobody otherwise.
            owner_id: self.owner_id.unwrap_or(UserId::new(0)),
            role_permissions: table,
        }
    }

    /// Refuses unless the actor has `needed` guild-wide.
    fn require_guild(&self, ctx: &Ctx, needed: Permissions) -> Result<(), GuildError> {
        self.actor_member(ctx)?;
        if self.guild_permissions(ctx.actor, ctx.at).contains(needed) {
            Ok(())
        } else {
            Err(GuildError::MissingPermissions)
        }
    }

    /// The channel, once the actor can see it (50001 otherwise) and has `needed` in it.
    fn require_channel(
        &self,
        ctx: &Ctx,
        channel: ChannelId,
        needed: Permissions,
    ) -> Result<&GuildChannel, GuildError> {
        self.actor_member(ctx)?;
        let found = self.channel(channel)?;
        let granted = self.channel_permissions(ctx.actor, channel, ctx.at);
        if !granted.contains(Permissions::VIEW_CHANNEL) {
            return Err(GuildError::MissingAccess);
        }
        if !granted.contains(needed) {
            return Err(GuildError::MissingPermissions);
        }
        Ok(found)
    }

    /// The permissions the actor may hand out in roles and overwrites: everything for
    /// the owner and administrators, otherwise their own guild permissions.
    fn grantable(&self, ctx: &Ctx) -> Permissions {
        let own = self.guild_permissions(ctx.actor, ctx.at);
        if own.contains(Permissions::ADMINISTRATOR) {
            Permissions::from_bits_retain(u64::MAX)
        } else {
            own
        }
    }

    /// Refuses to hand out known permissions the actor lacks (unknown bits pass).
    fn check_grant(&self, ctx: &Ctx, granted: Permissions) -> Result<(), GuildError> {
        let missing = granted
            .intersection(Permissions::all())
            .difference(self.grantable(ctx));
        if missing.is_empty() {
            Ok(())
        } else {
            Err(GuildError::MissingPermissions)
        }
    }

    /// The rank of a role.
    fn rank(&self, role: &Role) -> RoleRank {
        let guild_id = self.id.unwrap_or(GuildId::new(0));
        RoleRank::new(guild_id, role.id, role.position)
    }

    /// A member's highest role.
    fn top_rank(&self, user: UserId) -> RoleRank {
        let guild_id = self.id.unwrap_or(GuildId::new(0));
        let roles = self
            .members
            .get(&user)
            .map(|m| m.roles.as_slice())
            .unwrap_or_default();
        permissions::highest_role(
            guild_id,
            roles
                .iter()
                .filter_map(|id| self.roles.get(id))
                .map(|role| self.rank(role)),
        )
    }

    /// Whether the actor outranks `role` (owners outrank everything).
    fn outranks_role(&self, ctx: &Ctx, role: &Role) -> bool {
        permissions::can_manage(
            self.is_owner(ctx.actor),
            self.top_rank(ctx.actor),
            self.rank(role),
        )
    }

    /// Whether the actor may moderate `target` (kick, ban, rename, time out): never
    /// the owner, otherwise the actor's highest role must rank above the target's.
    fn outranks_member(&self, ctx: &Ctx, target: UserId) -> bool {
        !self.is_owner(target)
            && permissions::can_manage(
                self.is_owner(ctx.actor),
                self.top_rank(ctx.actor),
                self.top_rank(target),
            )
    }

    fn decide(&self, ctx: &Ctx, command: GuildCommand) -> Result<Decided, GuildError> {
        match command {
            GuildCommand::CreateGuild {
                guild_id,
                name,
                owner,
                text_channel_id,
                voice_channel_id,
                text_category_id,
                voice_category_id,
            } => self.create_guild(
                ctx,
                settings::NewGuild {
                    guild_id,
                    name,
                    owner,
                    text_channel_id,
                    voice_channel_id,
                    text_category_id,
                    voice_category_id,
                },
            ),
            GuildCommand::ModifyGuild(modify) => self.modify_guild(ctx, modify),
            GuildCommand::DeleteGuild => self.delete_guild(ctx),
            GuildCommand::CreateChannel(create) => self.create_channel(ctx, create),
            GuildCommand::ModifyChannel(modify) => self.modify_channel(ctx, modify),
            GuildCommand::DeleteChannel { channel_id } => self.delete_channel(ctx, channel_id),
            GuildCommand::EditChannelPermissions {
                channel_id,
                overwrite,
            } => self.edit_overwrite(ctx, channel_id, overwrite),
            GuildCommand::DeleteChannelPermission {
                channel_id,
                overwrite_id,
            } => self.delete_overwrite(ctx, channel_id, overwrite_id),
            GuildCommand::CreateRole(create) => self.create_role(ctx, create),
            GuildCommand::ModifyRole(modify) => self.modify_role(ctx, modify),
            GuildCommand::DeleteRole { role_id } => self.delete_role(ctx, role_id),
            GuildCommand::ModifyRolePositions { positions } => {
                self.modify_role_positions(ctx, positions)
            }
            GuildCommand::CreateInvite {
                code,
                channel_id,
                max_age,
                max_uses,
                temporary,
            } => self.create_invite(
                ctx,
                invites::NewInvite {
                    code,
                    channel_id,
                    max_age,
                    max_uses,
                    temporary,
                },
            ),
            GuildCommand::RevokeInvite { code } => self.revoke_invite(ctx, &code),
            GuildCommand::AcceptInvite { code, user } => self.accept_invite(ctx, code, user),
            GuildCommand::AddBot {
                bot,
                permissions,
                role_id,
            } => self.add_bot(ctx, bot, permissions, role_id),
            GuildCommand::LeaveGuild => self.leave(ctx),
            GuildCommand::KickMember { user_id } => self.kick(ctx, user_id),
            GuildCommand::BanMember {
                user_id,
                delete_message_seconds,
                reason,
            } => self.ban(ctx, user_id, delete_message_seconds, reason),
            GuildCommand::UnbanMember { user_id } => self.unban(ctx, user_id),
            GuildCommand::ModifyMember(modify) => self.modify_member(ctx, modify),
            GuildCommand::ModifyCurrentMember { nick } => self.modify_current_member(ctx, nick),
            GuildCommand::AddMemberRole { user_id, role_id } => {
                self.change_member_role(ctx, user_id, role_id, true)
            }
            GuildCommand::RemoveMemberRole { user_id, role_id } => {
                self.change_member_role(ctx, user_id, role_id, false)
            }
            GuildCommand::SendMessage(send) => self.send_message(ctx, send),
            GuildCommand::EditMessage(edit) => self.edit_message(ctx, edit),
            GuildCommand::DeleteMessage(delete) => self.delete_message(ctx, &delete),
            GuildCommand::BulkDeleteMessages(bulk) => self.bulk_delete_messages(ctx, &bulk),
            GuildCommand::AddReaction(add) => self.add_reaction(ctx, add),
            GuildCommand::RemoveReaction(remove) => self.remove_reaction(ctx, remove),
            GuildCommand::PinMessage(pin) => self.pin_message(ctx, &pin),
            GuildCommand::UnpinMessage(unpin) => self.unpin_message(ctx, &unpin),
            GuildCommand::AckMessage(ack) => self.ack_message(ctx, &ack),
            GuildCommand::UpdateVoiceState {
                channel_id,
                self_mute,
                self_deaf,
                session_id,
            } => self.update_voice_state(ctx, channel_id, self_mute, self_deaf, session_id),
            GuildCommand::DropVoiceConnection { channel_id } => {
                self.drop_voice_connection(ctx, channel_id)
            }
        }
    }
}

impl Aggregate for Guild {
    const TYPE: &'static str = "guild";
    type Command = Authored<GuildCommand>;
    type Event = Domain<GuildEvent>;
    type Error = GuildError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), GuildError> {
        self.reply = None;
        let Actor::User(actor) = command.actor else {
            return Err(GuildError::MissingPermissions);
        };
        let ctx = Ctx {
            actor,
            at: command.at,
        };
        let decided = self.decide(&ctx, command.command)?;
        self.reply = decided.reply;
        for event in decided.events {
            sink.write(Domain(event), self).await;
        }
        Ok(())
    }

    fn apply(&mut self, Domain(event): Domain<GuildEvent>) {
        Self::index_event(self.messages.index_mut(), &event);
        match event {
            GuildEvent::GuildCreated(e) => self.on_guild_created(e),
            GuildEvent::GuildUpdated(e) => self.on_guild_updated(e),
            GuildEvent::GuildDeleted(_) => self.on_guild_deleted(),
            GuildEvent::ChannelCreated(e) => self.on_channel_created(e),
            GuildEvent::ChannelUpdated(e) => self.on_channel_updated(e),
            GuildEvent::ChannelDeleted(e) => self.on_channel_deleted(&e),
            GuildEvent::ChannelOverwriteUpserted(e) => self.on_overwrite_upserted(e),
            GuildEvent::ChannelOverwriteDeleted(e) => self.on_overwrite_deleted(&e),
            GuildEvent::RoleCreated(e) => self.on_role_created(e),
            GuildEvent::RoleUpdated(e) => self.on_role_updated(e),
            GuildEvent::RoleDeleted(e) => self.on_role_deleted(&e),
            GuildEvent::RolePositionsUpdated(e) => self.on_role_positions_updated(&e),
            GuildEvent::MemberJoined(e) => self.on_member_joined(e),
            GuildEvent::MemberLeft(e) => self.remove_member(e.user_id),
            GuildEvent::MemberKicked(e) => self.remove_member(e.user_id),
            GuildEvent::MemberBanned(e) => self.on_member_banned(e),
            GuildEvent::MemberUnbanned(e) => {
                self.bans.remove(&e.user_id);
            }
            GuildEvent::MemberUpdated(e) => self.on_member_updated(e),
            GuildEvent::InviteCreated(e) => self.on_invite_created(e),
            GuildEvent::InviteRevoked(e) => {
                self.invites.remove(&e.code);
            }
            // Read states are the read side's: the guild only checks acks.
            GuildEvent::MessageSent(_)
            | GuildEvent::MessageEdited(_)
            | GuildEvent::ReactionAdded(_)
            | GuildEvent::ReactionRemoved(_)
            | GuildEvent::MessageAcked(_) => {}
            GuildEvent::MessageDeleted(e) => self.messages.on_deleted(&e),
            GuildEvent::MessagesBulkDeleted(e) => self.messages.on_bulk_deleted(&e),
            GuildEvent::MessagePinned(e) => self.messages.on_pinned(&e),
            GuildEvent::MessageUnpinned(e) => self.messages.on_unpinned(&e),
            GuildEvent::VoiceStateUpdated(e) => self.on_voice_state_updated(e),
        }
    }
}

impl Decider for Guild {
    type Request = GuildCommand;
    type Change = GuildEvent;
    const KIND: AggregateType = AggregateType::Guild;

    fn attach_index(&mut self, index: MessageIndex) {
        self.messages.attach(index);
    }

    fn index_event(index: &mut MessageIndex, event: &GuildEvent) {
        match event {
            GuildEvent::MessageSent(e) => index.on_sent(e),
            GuildEvent::MessageDeleted(e) => index.remove(e.id),
            GuildEvent::MessagesBulkDeleted(e) => {
                for id in &e.ids {
                    index.remove(*id);
                }
            }
            GuildEvent::ReactionAdded(e) => index.on_reaction_added(e),
            GuildEvent::ReactionRemoved(e) => index.on_reaction_removed(e),
            GuildEvent::ChannelDeleted(e) => index.remove_channel(e.channel.id),
            GuildEvent::MemberBanned(e) => {
                if let Some(since) = members::purge_since(e) {
                    index.remove_by_author_since(e.user_id, since);
                }
            }
            GuildEvent::GuildDeleted(_) => index.clear(),
            // Every other event leaves messages alone.
            _ => {}
        }
    }

    fn accepted(&self, events: &[GuildEvent]) -> Accepted {
        self.answer(self.reply.as_ref(), events)
    }

    fn refused(error: &GuildError) -> Refusal {
        let (status, code, message) = match error {
            GuildError::Message(error) => return error.refusal(),
            GuildError::Invalid(field) => {
                return Refusal {
                    status: 400,
                    error: field.api_error(),
                };
            }
            GuildError::AlreadyExists => {
                return Refusal {
                    status: 400,
                    error: InvalidField::new(
                        "id",
                        "SNOWFLAKE_ALREADY_USED",
                        "This guild already exists.",
                    )
                    .api_error(),
                };
            }
            GuildError::UnknownGuild => (404, 10004, "Unknown Guild"),
            GuildError::UnknownChannel => (404, 10003, "Unknown Channel"),
            GuildError::UnknownRole => (404, 10011, "Unknown Role"),
            GuildError::UnknownMember => (404, 10007, "Unknown Member"),
            GuildError::UnknownInvite => (404, 10006, "Unknown Invite"),
            GuildError::UnknownBan => (404, 10026, "Unknown Ban"),
            GuildError::UnknownOverwrite => (404, 10009, "Unknown Overwrite"),
            GuildError::MissingAccess => (403, 50001, "Missing Access"),
            GuildError::MissingPermissions => (403, 50013, "Missing Permissions"),
            GuildError::ChannelFull => {
                (403, 50013, "Missing Permissions: the voice channel is full")
            }
            GuildError::Banned => (403, 40007, "The user is banned from this guild."),
            GuildError::MaxRoles => (400, 30005, "Maximum number of guild roles reached (250)"),
            GuildError::MaxChannels => {
                (400, 30013, "Maximum number of guild channels reached (500)")
            }
            GuildError::MaxInvites => (400, 30016, "Maximum number of invites reached (1000)"),
            GuildError::WrongChannelType => {
                (400, 50024, "Cannot execute action on this channel type")
            }
            GuildError::InvalidRole => (400, 50028, "Invalid Role"),
            GuildError::InvalidGuild => (400, 50055, "Invalid Guild"),
            GuildError::NotInVoice => (400, 40032, "Target user is not connected to voice"),
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

#[cfg(test)]
mod tests {
    use cloudcord_schemas::guild::GuildCommand;
    use cloudcord_schemas::ids::MessageId;
    use cloudcord_schemas::message::{AddReaction, ReactionEmoji, SendMessage};
    use cqrs_es::Aggregate;

    use super::fixtures::{ALICE, BOB, TEXT, VOICE, by, guild, snapshot};
    use super::{Guild, GuildError};
    use crate::aggregates::messages::{InvalidField, MessageError};
    use crate::aggregates::{Decider, decide};

    #[test]
    fn the_state_does_not_grow_with_the_message_history() {
        let mut state = Guild::default();
        for event in guild() {
            state.apply(event);
        }
        let send = |n: u64| {
            by(
                BOB,
                GuildCommand::SendMessage(SendMessage {
                    attachments: Vec::new(),
                    channel_id: TEXT,
                    message_id: MessageId::new(7_000_000_000_000_000 + n),
                    author: snapshot(BOB),
                    content: format!("message {n}"),
                    nonce: None,
                    tts: false,
                    message_reference: None,
                    allowed_mentions: None,
                }),
            )
        };
        decide(&mut state, send(0)).expect("sent");
        let after_one = serde_json::to_vec(&state).expect("serializes").len();
        for n in 1..500 {
            decide(&mut state, send(n)).expect("sent");
        }
        assert_eq!(
            serde_json::to_vec(&state).expect("serializes").len(),
            after_one,
            "messages live in the on-disk index, not in the aggregate or its snapshot"
        );
        assert!(
            state
                .messages
                .index()
                .get(MessageId::new(7_000_000_000_000_499))
                .is_some()
        );
    }

    #[test]
    fn the_state_survives_a_snapshot_round_trip() {
        let mut state = Guild::default();
        for event in guild() {
            state.apply(event);
        }
        let message = MessageId::new(7_000_000_000_000_000);
        for (actor, command) in [
            (
                BOB,
                GuildCommand::SendMessage(SendMessage {
                    attachments: Vec::new(),
                    channel_id: TEXT,
                    message_id: message,
                    author: snapshot(BOB),
                    content: "hello".into(),
                    nonce: None,
                    tts: false,
                    message_reference: None,
                    allowed_mentions: None,
                }),
            ),
            (
                ALICE,
                GuildCommand::AddReaction(AddReaction {
                    channel_id: TEXT,
                    message_id: message,
                    emoji: ReactionEmoji::parse("🔥").expect("emoji"),
                }),
            ),
            (
                ALICE,
                GuildCommand::UpdateVoiceState {
                    channel_id: Some(VOICE),
                    self_mute: true,
                    self_deaf: false,
                    session_id: None,
                },
            ),
        ] {
            decide(&mut state, by(actor, command)).expect("accepted");
        }
        let json = serde_json::to_string(&state).expect("serializes");
        let mut restored: Guild = serde_json::from_str(&json).expect("deserializes");
        restored.reply.clone_from(&state.reply);
        assert_eq!(
            serde_json::to_string(&restored).expect("serializes"),
            json,
            "nothing lost or changed (messages live in the index, not the snapshot)"
        );
    }

    #[test]
    fn refusals_carry_discords_status_and_json_code() {
        // (refusal, status, code)
        let rows = [
            (GuildError::UnknownGuild, 404, 10004),
            (GuildError::UnknownChannel, 404, 10003),
            (GuildError::UnknownRole, 404, 10011),
            (GuildError::UnknownMember, 404, 10007),
            (GuildError::UnknownInvite, 404, 10006),
            (GuildError::UnknownBan, 404, 10026),
            (GuildError::MissingAccess, 403, 50001),
            (GuildError::MissingPermissions, 403, 50013),
            (GuildError::Banned, 403, 40007),
            (GuildError::MaxRoles, 400, 30005),
            (GuildError::MaxChannels, 400, 30013),
            (GuildError::MaxInvites, 400, 30016),
            (GuildError::WrongChannelType, 400, 50024),
            (GuildError::InvalidRole, 400, 50028),
            (GuildError::InvalidGuild, 400, 50055),
            (GuildError::NotInVoice, 400, 40032),
            (
                GuildError::Message(MessageError::UnknownMessage),
                404,
                10008,
            ),
            (GuildError::Message(MessageError::UnknownEmoji), 400, 10014),
            (GuildError::Message(MessageError::EmptyMessage), 400, 50006),
            (
                GuildError::Message(MessageError::TooOldToBulkDelete),
                400,
                50034,
            ),
            (GuildError::Message(MessageError::MaxPins), 400, 30003),
            (GuildError::Message(MessageError::NotAuthor), 403, 50005),
            (
                GuildError::Invalid(InvalidField::too_long("topic", 1024)),
                400,
                50035,
            ),
        ];
        for (error, status, code) in rows {
            let refusal = Guild::refused(&error);
            assert_eq!(
                (refusal.status, refusal.error.code),
                (status, code),
                "{error:?}"
            );
        }
        let nested = Guild::refused(&GuildError::Invalid(InvalidField::too_long(
            "allowed_mentions.users",
            100,
        )));
        assert!(
            nested
                .error
                .errors
                .is_some_and(|e| e["allowed_mentions"]["users"]["_errors"][0]["code"]
                    == "BASE_TYPE_MAX_LENGTH")
        );
    }
}
