//! Members: leaving, kicks, bans, and edits to nicknames, roles, timeouts and server
//! mute/deafen/move. (Joining is accepting an invite, see [`super::invites`], or
//! being added as a bot, see [`super::bots`].)
//!
//! Rules (Discord's `guild.mdx` and the "Permission Hierarchy"):
//! * Kick needs `KICK_MEMBERS`, ban and unban `BAN_MEMBERS`, and a kick, a ban of a
//!   member, a nickname change of someone else or a timeout needs the actor's highest
//!   role above the target's; nobody acts on the owner. Banning a non-member is
//!   allowed; unbanning someone not banned is 10026.
//! * The owner cannot leave (50055).
//! * Nicknames 1–32 characters: one's own with `CHANGE_NICKNAME` (or
//!   `MANAGE_NICKNAMES`), others' with `MANAGE_NICKNAMES`.
//! * Roles are given and taken with `MANAGE_ROLES`, only roles below the actor's
//!   highest, never `@everyone` or managed roles (50028).
//! * Timeouts need `MODERATE_MEMBERS`, last at most 28 days, and cannot hit
//!   administrators.
//! * Server mute/deafen (`MUTE_MEMBERS` / `DEAFEN_MEMBERS`) and moves or disconnects
//!   (`MOVE_MEMBERS` in both channels) need the target connected to voice (40032).
//! * A ban may purge the user's messages of the last 0–7 days.

use cloudcord_schemas::guild::members::{
    MAX_BAN_DELETE_SECONDS, MAX_NICK_CHARS, MAX_TIMEOUT_SECONDS,
};
use cloudcord_schemas::guild::{
    ChannelType, MemberBanned, MemberJoined, MemberKicked, MemberLeft, MemberUnbanned,
    MemberUpdated, ModifyMember, VoiceStateUpdated,
};
use cloudcord_schemas::ids::{ChannelId, MessageId, RoleId, Snowflake, UserId};
use cloudcord_schemas::permissions::Permissions;

use super::{Ban, Ctx, Decided, Guild, GuildError, Member, Reply, check_length, unix_ms};
use crate::aggregates::messages::InvalidField;

/// Longest ban reason, in characters.
const MAX_REASON_CHARS: usize = 512;

fn member_updated(member: &Member) -> MemberUpdated {
    MemberUpdated {
        user_id: member.user.id,
        nick: member.nick.clone(),
        roles: member.roles.clone(),
        communication_disabled_until: member.communication_disabled_until,
        mute: member.mute,
        deaf: member.deaf,
    }
}

/// The first message id a ban's purge removes, if it purges: message ids carry their
/// creation time, so "sent in the last N seconds" is an id range.
pub(super) fn purge_since(event: &MemberBanned) -> Option<MessageId> {
    (event.delete_message_seconds > 0).then(|| {
        let since =
            unix_ms(event.banned_at).saturating_sub(u64::from(event.delete_message_seconds) * 1000);
        MessageId(Snowflake::from_timestamp_ms(since))
    })
}

impl Guild {
    /// Refuses unless the actor has `needed` and outranks `target`.
    fn require_over(
        &self,
        ctx: &Ctx,
        target: UserId,
        needed: Permissions,
    ) -> Result<(), GuildError> {
        self.require_guild(ctx, needed)?;
        if self.outranks_member(ctx, target) {
            Ok(())
        } else {
            Err(GuildError::MissingPermissions)
        }
    }

    /// The role may be given or taken by the actor.
    fn assignable(&self, ctx: &Ctx, role_id: RoleId) -> Result<(), GuildError> {
        let role = self.role(role_id)?;
        if self.id.is_some_and(|id| id.everyone_role() == role_id) || role.managed {
            return Err(GuildError::InvalidRole);
        }
        if !self.outranks_role(ctx, role) {
            return Err(GuildError::MissingPermissions);
        }
        Ok(())
    }

    pub(super) fn leave(&self, ctx: &Ctx) -> Result<Decided, GuildError> {
        self.id()?;
        if !self.members.contains_key(&ctx.actor) {
            return Err(GuildError::UnknownGuild);
        }
        if self.is_owner(ctx.actor) {
            return Err(GuildError::InvalidGuild);
        }
        Ok(self
            .dropping_managed_roles(Decided::event(MemberLeft { user_id: ctx.actor }), ctx.actor))
    }

    pub(super) fn kick(&self, ctx: &Ctx, user_id: UserId) -> Result<Decided, GuildError> {
        self.require_guild(ctx, Permissions::KICK_MEMBERS)?;
        self.member(user_id)?;
        self.require_over(ctx, user_id, Permissions::KICK_MEMBERS)?;
        Ok(self.dropping_managed_roles(Decided::event(MemberKicked { user_id }), user_id))
    }

    pub(super) fn ban(
        &self,
        ctx: &Ctx,
        user_id: UserId,
        delete_message_seconds: u32,
        reason: Option<String>,
    ) -> Result<Decided, GuildError> {
        self.require_guild(ctx, Permissions::BAN_MEMBERS)?;
        if delete_message_seconds > MAX_BAN_DELETE_SECONDS {
            return Err(InvalidField::new(
                "delete_message_seconds",
                "NUMBER_TYPE_MAX",
                format!("int value should be less than or equal to {MAX_BAN_DELETE_SECONDS}."),
            )
            .into());
        }
        if let Some(reason) = &reason {
            check_length("reason", reason, 0, MAX_REASON_CHARS)?;
        }
        let member = self.members.get(&user_id);
        if member.is_some() || self.is_owner(user_id) || user_id == ctx.actor {
            self.require_over(ctx, user_id, Permissions::BAN_MEMBERS)?;
        }
        let banned = Decided::event(MemberBanned {
            user_id,
            user: member.map(|m| m.user.clone()),
            reason,
            delete_message_seconds,
            banned_at: ctx.at,
        });
        Ok(self.dropping_managed_roles(banned, user_id))
    }

    pub(super) fn unban(&self, ctx: &Ctx, user_id: UserId) -> Result<Decided, GuildError> {
        self.require_guild(ctx, Permissions::BAN_MEMBERS)?;
        if !self.bans.contains_key(&user_id) {
            return Err(GuildError::UnknownBan);
        }
        Ok(Decided::event(MemberUnbanned { user_id }))
    }

    fn check_nick(nick: Option<&String>) -> Result<(), GuildError> {
        match nick {
            Some(nick) => check_length("nick", nick, 1, MAX_NICK_CHARS),
            None => Ok(()),
        }
    }

    pub(super) fn modify_member(
        &self,
        ctx: &Ctx,
        modify: ModifyMember,
    ) -> Result<Decided, GuildError> {
        self.actor_member(ctx)?;
        let target = modify.user_id;
        let mut member = self.member(target)?.clone();
        let voice = self
            .voice
            .get(&target)
            .filter(|v| v.channel_id.is_some())
            .cloned();
        if let Some(nick) = modify.nick {
            if target == ctx.actor {
                self.own_nick_allowed(ctx)?;
            } else {
                self.require_over(ctx, target, Permissions::MANAGE_NICKNAMES)?;
            }
            Self::check_nick(nick.as_ref())?;
            member.nick = nick;
        }
        if let Some(roles) = modify.roles {
            self.require_guild(ctx, Permissions::MANAGE_ROLES)?;
            let mut wanted: Vec<RoleId> = Vec::with_capacity(roles.len());
            for role in roles {
                if !wanted.contains(&role) {
                    wanted.push(role);
                }
            }
            for role in wanted.iter().filter(|r| !member.roles.contains(r)) {
                self.assignable(ctx, *role)?;
            }
            for role in member.roles.iter().filter(|r| !wanted.contains(r)) {
                self.assignable(ctx, *role)?;
            }
            member.roles = wanted;
        }
        if let Some(until) = modify.communication_disabled_until {
            self.require_over(ctx, target, Permissions::MODERATE_MEMBERS)?;
            if self
                .guild_permissions(target, ctx.at)
                .contains(Permissions::ADMINISTRATOR)
            {
                return Err(GuildError::MissingPermissions);
            }
            if let Some(until) = until
                && until > ctx.at + time::Duration::seconds(MAX_TIMEOUT_SECONDS)
            {
                return Err(InvalidField::new(
                    "communication_disabled_until",
                    "COMMUNICATION_DISABLED_TIMESTAMP_TOO_FAR",
                    "Timeouts last at most 28 days.",
                )
                .into());
            }
            member.communication_disabled_until = until;
        }
        let mut state = voice.clone();
        for (wanted, needed) in [
            (modify.mute, Permissions::MUTE_MEMBERS),
            (modify.deaf, Permissions::DEAFEN_MEMBERS),
        ] {
            if wanted.is_none() {
                continue;
            }
            let Some(current) = &voice else {
                return Err(GuildError::NotInVoice);
            };
            let channel = current.channel_id.unwrap_or(ChannelId::new(0));
            self.require_channel(ctx, channel, needed)?;
        }
        if let Some(mute) = modify.mute {
            member.mute = mute;
        }
        if let Some(deaf) = modify.deaf {
            member.deaf = deaf;
        }
        if let Some(state) = state.as_mut() {
            state.mute = member.mute;
            state.deaf = member.deaf;
        }
        if let Some(destination) = modify.channel_id {
            let Some(current) = &voice else {
                return Err(GuildError::NotInVoice);
            };
            let from = current.channel_id.unwrap_or(ChannelId::new(0));
            self.require_channel(ctx, from, Permissions::MOVE_MEMBERS)?;
            if let Some(to) = destination {
                let channel = self.require_channel(ctx, to, Permissions::MOVE_MEMBERS)?;
                if channel.kind != ChannelType::GuildVoice {
                    return Err(GuildError::WrongChannelType);
                }
                if let Some(state) = state.as_mut() {
                    state.channel_id = Some(to);
                    state.suppress = !self.member_can_speak(target, to, ctx);
                }
            } else if let Some(state) = state.as_mut() {
                state.channel_id = None;
            }
        }
        let before = self.member(target)?;
        let mut decided = Decided::nothing().reply(Reply::Member(target));
        if member != *before {
            decided = decided.and(member_updated(&member));
        }
        if let Some(state) = state
            && Some(&state) != voice.as_ref()
        {
            decided = decided.and(VoiceStateUpdated { state });
        }
        Ok(decided)
    }

    fn own_nick_allowed(&self, ctx: &Ctx) -> Result<(), GuildError> {
        let granted = self.guild_permissions(ctx.actor, ctx.at);
        if granted.intersects(Permissions::CHANGE_NICKNAME.union(Permissions::MANAGE_NICKNAMES)) {
            Ok(())
        } else {
            Err(GuildError::MissingPermissions)
        }
    }

    pub(super) fn modify_current_member(
        &self,
        ctx: &Ctx,
        nick: Option<Option<String>>,
    ) -> Result<Decided, GuildError> {
        let (_, current) = self.actor_member(ctx)?;
        let mut member = current.clone();
        if let Some(nick) = nick {
            self.own_nick_allowed(ctx)?;
            Self::check_nick(nick.as_ref())?;
            member.nick = nick;
        }
        let decided = Decided::nothing().reply(Reply::Member(ctx.actor));
        if member == *current {
            return Ok(decided);
        }
        Ok(decided.and(member_updated(&member)))
    }

    pub(super) fn change_member_role(
        &self,
        ctx: &Ctx,
        user_id: UserId,
        role_id: RoleId,
        add: bool,
    ) -> Result<Decided, GuildError> {
        self.require_guild(ctx, Permissions::MANAGE_ROLES)?;
        let mut member = self.member(user_id)?.clone();
        self.assignable(ctx, role_id)?;
        let has = member.roles.contains(&role_id);
        let decided = Decided::nothing().reply(Reply::NoContent);
        match (add, has) {
            (true, false) => member.roles.push(role_id),
            (false, true) => member.roles.retain(|r| *r != role_id),
            _ => return Ok(decided),
        }
        Ok(decided.and(member_updated(&member)))
    }

    pub(super) fn on_member_joined(&mut self, event: MemberJoined) {
        if let Some(invite) = event
            .invite_code
            .as_ref()
            .and_then(|c| self.invites.get_mut(c))
        {
            invite.uses += 1;
        }
        self.members.insert(
            event.user.id,
            Member {
                user: event.user,
                nick: None,
                roles: Vec::new(),
                joined_at: event.joined_at,
                communication_disabled_until: None,
                mute: false,
                deaf: false,
            },
        );
    }

    pub(super) fn remove_member(&mut self, user: UserId) {
        self.members.remove(&user);
        self.voice.remove(&user);
    }

    pub(super) fn on_member_banned(&mut self, event: MemberBanned) {
        self.remove_member(event.user_id);
        if let Some(since) = purge_since(&event) {
            self.messages.forget_author_since(event.user_id, since);
        }
        self.bans.insert(
            event.user_id,
            Ban {
                user: event.user,
                reason: event.reason,
            },
        );
    }

    pub(super) fn on_member_updated(&mut self, event: MemberUpdated) {
        if let Some(member) = self.members.get_mut(&event.user_id) {
            member.nick = event.nick;
            member.roles = event.roles;
            member.communication_disabled_until = event.communication_disabled_until;
            member.mute = event.mute;
            member.deaf = event.deaf;
        }
    }
}

#[cfg(test)]
mod tests {
    use cloudcord_schemas::guild::{GuildCommand, GuildEvent, MemberKicked, ModifyMember};
    use cloudcord_schemas::ids::{MessageId, Snowflake};
    use cloudcord_schemas::message::SendMessage;
    use cloudcord_schemas::permissions::Permissions;
    use cqrs_es::Aggregate;
    use cqrs_es::test::TestFramework;

    use super::super::fixtures::{
        ALICE, BOB, CAROL, GUILD, HELPERS, MODS, NOW, OWNER, STRANGER, TEXT, by, guild, joined,
        role, snapshot, with_roles,
    };
    use super::super::{Guild, GuildError};
    use crate::aggregates::Domain;

    /// ALICE holds MODS (position 2) with `permissions`; BOB holds HELPERS (1).
    fn moderated(permissions: Permissions) -> Vec<Domain<GuildEvent>> {
        let mut history = guild();
        history.push(joined(CAROL));
        history.push(role(HELPERS, 1, Permissions::empty()));
        history.push(role(MODS, 2, permissions));
        history.push(with_roles(ALICE, &[MODS]));
        history.push(with_roles(BOB, &[HELPERS]));
        history
    }

    fn result(
        history: Vec<Domain<GuildEvent>>,
        actor: cloudcord_schemas::ids::UserId,
        command: GuildCommand,
    ) -> Result<Vec<Domain<GuildEvent>>, GuildError> {
        TestFramework::<Guild>::with(())
            .given(history)
            .when(by(actor, command))
            .inspect_result()
    }

    fn state(history: Vec<Domain<GuildEvent>>) -> Guild {
        let mut guild = Guild::default();
        for event in history {
            guild.apply(event);
        }
        guild
    }

    #[test]
    fn the_owner_cannot_leave_their_guild() {
        TestFramework::<Guild>::with(())
            .given(guild())
            .when(by(OWNER, GuildCommand::LeaveGuild))
            .then_expect_error(GuildError::InvalidGuild);
    }

    #[test]
    fn members_leave_and_strangers_have_no_guild_to_leave() {
        TestFramework::<Guild>::with(())
            .given(guild())
            .when(by(STRANGER, GuildCommand::LeaveGuild))
            .then_expect_error(GuildError::UnknownGuild);
        assert!(result(guild(), ALICE, GuildCommand::LeaveGuild).is_ok());
    }

    #[test]
    fn kicking_needs_kick_members() {
        TestFramework::<Guild>::with(())
            .given(moderated(Permissions::empty()))
            .when(by(ALICE, GuildCommand::KickMember { user_id: CAROL }))
            .then_expect_error(GuildError::MissingPermissions);
        TestFramework::<Guild>::with(())
            .given(moderated(Permissions::KICK_MEMBERS))
            .when(by(ALICE, GuildCommand::KickMember { user_id: BOB }))
            .then_expect_events(vec![Domain(GuildEvent::MemberKicked(MemberKicked {
                user_id: BOB,
            }))]);
    }

    #[test]
    fn members_cannot_kick_someone_with_an_equal_or_higher_role() {
        let mut history = moderated(Permissions::KICK_MEMBERS);
        history.push(with_roles(CAROL, &[MODS]));
        TestFramework::<Guild>::with(())
            .given(history)
            .when(by(ALICE, GuildCommand::KickMember { user_id: CAROL }))
            .then_expect_error(GuildError::MissingPermissions);
    }

    #[test]
    fn nobody_but_the_owner_acts_on_the_owner() {
        let history = moderated(Permissions::ADMINISTRATOR);
        for command in [
            GuildCommand::KickMember { user_id: OWNER },
            GuildCommand::BanMember {
                user_id: OWNER,
                delete_message_seconds: 0,
                reason: None,
            },
        ] {
            assert_eq!(
                result(history.clone(), ALICE, command),
                Err(GuildError::MissingPermissions)
            );
        }
    }

    #[test]
    fn kicking_an_unknown_member_is_refused() {
        TestFramework::<Guild>::with(())
            .given(moderated(Permissions::KICK_MEMBERS))
            .when(by(ALICE, GuildCommand::KickMember { user_id: STRANGER }))
            .then_expect_error(GuildError::UnknownMember);
    }

    #[test]
    fn banning_needs_ban_members_and_also_works_for_non_members() {
        let ban = |user_id| GuildCommand::BanMember {
            user_id,
            delete_message_seconds: 0,
            reason: None,
        };
        assert_eq!(
            result(moderated(Permissions::KICK_MEMBERS), ALICE, ban(BOB)),
            Err(GuildError::MissingPermissions)
        );
        assert!(result(moderated(Permissions::BAN_MEMBERS), ALICE, ban(STRANGER)).is_ok());
        assert!(result(moderated(Permissions::BAN_MEMBERS), ALICE, ban(BOB)).is_ok());
    }

    #[test]
    fn a_ban_purges_at_most_7_days_of_messages() {
        let error = result(
            moderated(Permissions::BAN_MEMBERS),
            ALICE,
            GuildCommand::BanMember {
                user_id: BOB,
                delete_message_seconds: 604_801,
                reason: None,
            },
        );
        assert!(matches!(error, Err(GuildError::Invalid(_))), "{error:?}");
    }

    #[test]
    fn a_ban_purges_the_users_recent_messages() {
        let mut history = moderated(Permissions::BAN_MEMBERS);
        // Sent a minute before the ban: message ids carry their creation time.
        let sent_at = u64::try_from(NOW.unix_timestamp() * 1000 - 60_000).expect("after 1970");
        let message = MessageId(Snowflake::from_timestamp_ms(sent_at));
        let older = MessageId(Snowflake::from_timestamp_ms(sent_at - 3_600_000));
        for message_id in [older, message] {
            history.extend(
                result(
                    history.clone(),
                    BOB,
                    GuildCommand::SendMessage(SendMessage {
                        attachments: Vec::new(),
                        channel_id: TEXT,
                        message_id,
                        author: snapshot(BOB),
                        content: "spam".into(),
                        nonce: None,
                        tts: false,
                        message_reference: None,
                        allowed_mentions: None,
                    }),
                )
                .expect("sent"),
            );
        }
        history.extend(
            result(
                history.clone(),
                ALICE,
                GuildCommand::BanMember {
                    user_id: BOB,
                    delete_message_seconds: 3600,
                    reason: Some("spam".into()),
                },
            )
            .expect("banned"),
        );
        let guild = state(history);
        assert!(guild.messages.index().get(message).is_none(), "purged");
        assert!(
            guild.messages.index().get(older).is_some(),
            "older than the purge window"
        );
        assert!(!guild.members.contains_key(&BOB));
        assert!(guild.bans.contains_key(&BOB));
    }

    #[test]
    fn unbanning_someone_not_banned_is_an_unknown_ban() {
        TestFramework::<Guild>::with(())
            .given(moderated(Permissions::BAN_MEMBERS))
            .when(by(ALICE, GuildCommand::UnbanMember { user_id: STRANGER }))
            .then_expect_error(GuildError::UnknownBan);
    }

    #[test]
    fn changing_someone_elses_nickname_needs_manage_nicknames_and_a_higher_role() {
        let rename = |user| {
            let mut modify = ModifyMember::new(user);
            modify.nick = Some(Some("renamed".into()));
            GuildCommand::ModifyMember(modify)
        };
        assert_eq!(
            result(moderated(Permissions::empty()), ALICE, rename(BOB)),
            Err(GuildError::MissingPermissions)
        );
        assert!(result(moderated(Permissions::MANAGE_NICKNAMES), ALICE, rename(BOB)).is_ok());
        assert_eq!(
            result(moderated(Permissions::MANAGE_NICKNAMES), BOB, rename(ALICE)),
            Err(GuildError::MissingPermissions)
        );
    }

    #[test]
    fn a_nickname_has_1_to_32_characters() {
        let error = result(
            guild(),
            ALICE,
            GuildCommand::ModifyCurrentMember {
                nick: Some(Some("x".repeat(33))),
            },
        );
        assert!(
            matches!(error, Err(GuildError::Invalid(ref f)) if f.field == "nick"),
            "{error:?}"
        );
    }

    #[test]
    fn members_change_their_own_nickname_with_change_nickname() {
        let mut history = guild();
        history.push(super::super::fixtures::everyone_has(
            Permissions::VIEW_CHANNEL,
        ));
        let command = GuildCommand::ModifyCurrentMember {
            nick: Some(Some("ali".into())),
        };
        assert_eq!(
            result(history.clone(), ALICE, command.clone()),
            Err(GuildError::MissingPermissions)
        );
        assert!(
            result(guild(), ALICE, command).is_ok(),
            "@everyone has CHANGE_NICKNAME by default"
        );
    }

    #[test]
    fn assigning_a_role_needs_manage_roles_and_a_higher_role() {
        let give = |role_id| GuildCommand::AddMemberRole {
            user_id: CAROL,
            role_id,
        };
        assert_eq!(
            result(moderated(Permissions::empty()), ALICE, give(HELPERS)),
            Err(GuildError::MissingPermissions)
        );
        assert!(result(moderated(Permissions::MANAGE_ROLES), ALICE, give(HELPERS)).is_ok());
        assert_eq!(
            result(moderated(Permissions::MANAGE_ROLES), ALICE, give(MODS)),
            Err(GuildError::MissingPermissions)
        );
    }

    #[test]
    fn the_everyone_role_cannot_be_assigned() {
        TestFramework::<Guild>::with(())
            .given(moderated(Permissions::MANAGE_ROLES))
            .when(by(
                OWNER,
                GuildCommand::AddMemberRole {
                    user_id: CAROL,
                    role_id: GUILD.everyone_role(),
                },
            ))
            .then_expect_error(GuildError::InvalidRole);
    }

    #[test]
    fn giving_a_role_someone_has_changes_nothing() {
        let events = result(
            moderated(Permissions::MANAGE_ROLES),
            ALICE,
            GuildCommand::AddMemberRole {
                user_id: BOB,
                role_id: HELPERS,
            },
        )
        .expect("accepted");
        assert!(events.is_empty());
    }

    #[test]
    fn timing_out_needs_moderate_members_and_spares_administrators() {
        let timeout = |user| {
            let mut modify = ModifyMember::new(user);
            modify.communication_disabled_until = Some(Some(NOW + time::Duration::hours(1)));
            GuildCommand::ModifyMember(modify)
        };
        assert_eq!(
            result(moderated(Permissions::empty()), ALICE, timeout(BOB)),
            Err(GuildError::MissingPermissions)
        );
        assert!(
            result(
                moderated(Permissions::MODERATE_MEMBERS),
                ALICE,
                timeout(BOB)
            )
            .is_ok()
        );
        let mut history = moderated(Permissions::MODERATE_MEMBERS);
        history.push(role(
            cloudcord_schemas::ids::RoleId::new(2050),
            1,
            Permissions::ADMINISTRATOR,
        ));
        history.push(with_roles(
            CAROL,
            &[cloudcord_schemas::ids::RoleId::new(2050)],
        ));
        assert_eq!(
            result(history, OWNER, timeout(CAROL)),
            Err(GuildError::MissingPermissions)
        );
    }

    #[test]
    fn a_timeout_lasts_at_most_28_days() {
        let mut modify = ModifyMember::new(BOB);
        modify.communication_disabled_until = Some(Some(NOW + time::Duration::days(29)));
        let error = result(
            moderated(Permissions::MODERATE_MEMBERS),
            ALICE,
            GuildCommand::ModifyMember(modify),
        );
        assert!(matches!(error, Err(GuildError::Invalid(_))), "{error:?}");
    }

    #[test]
    fn a_timed_out_moderator_cannot_kick() {
        let mut history = moderated(Permissions::KICK_MEMBERS);
        let mut timeout = ModifyMember::new(ALICE);
        timeout.communication_disabled_until = Some(Some(NOW + time::Duration::hours(1)));
        history.extend(
            result(history.clone(), OWNER, GuildCommand::ModifyMember(timeout)).expect("timed out"),
        );
        TestFramework::<Guild>::with(())
            .given(history)
            .when(by(ALICE, GuildCommand::KickMember { user_id: BOB }))
            .then_expect_error(GuildError::MissingPermissions);
    }

    #[test]
    fn server_mute_needs_a_target_connected_to_voice() {
        let mut mute = ModifyMember::new(BOB);
        mute.mute = Some(true);
        TestFramework::<Guild>::with(())
            .given(moderated(Permissions::MUTE_MEMBERS))
            .when(by(ALICE, GuildCommand::ModifyMember(mute)))
            .then_expect_error(GuildError::NotInVoice);
    }
}
