//! Invites: create, revoke, and accept (which is how users join).
//!
//! Rules (Discord's `invite.mdx` and `channel.mdx`):
//! * Creating needs `CREATE_INSTANT_INVITE` in the channel, which must be a text or
//!   voice channel (50024 for categories); `max_age` 0–604800 s, `max_uses` 0–100;
//!   the code must be one of this guild's (see `cloudcord_schemas::guild::invites`);
//!   at most 1000 live invites (30016).
//! * Revoking needs `MANAGE_CHANNELS` in the invite's channel or `MANAGE_GUILD`.
//! * Accepting an expired, used-up or unknown invite is 10006; a banned user gets
//!   40007; a member accepting again changes nothing and gets the invite back.

use cloudcord_schemas::guild::invites::{MAX_INVITE_AGE_SECONDS, MAX_INVITE_USES, MAX_INVITES};
use cloudcord_schemas::guild::{
    ChannelType, InviteCreated, InviteRevoked, MemberJoined, guild_of_invite,
};
use cloudcord_schemas::ids::ChannelId;
use cloudcord_schemas::message::UserSnapshot;
use cloudcord_schemas::permissions::Permissions;

use super::{Ctx, Decided, Guild, GuildError, Invite, Reply};
use crate::aggregates::messages::InvalidField;

/// The fields of `CreateInvite`.
pub struct NewInvite {
    /// The code.
    pub code: String,
    /// The channel.
    pub channel_id: ChannelId,
    /// Seconds valid.
    pub max_age: u32,
    /// Uses allowed.
    pub max_uses: u32,
    /// Temporary membership.
    pub temporary: bool,
}

impl Guild {
    pub(super) fn create_invite(&self, ctx: &Ctx, new: NewInvite) -> Result<Decided, GuildError> {
        let guild_id = self.id()?;
        let channel =
            self.require_channel(ctx, new.channel_id, Permissions::CREATE_INSTANT_INVITE)?;
        if channel.kind == ChannelType::GuildCategory {
            return Err(GuildError::WrongChannelType);
        }
        if guild_of_invite(&new.code) != Some(guild_id) || self.invites.contains_key(&new.code) {
            return Err(InvalidField::new(
                "code",
                "INVITE_CODE_INVALID",
                "The invite code is not usable.",
            )
            .into());
        }
        if new.max_age > MAX_INVITE_AGE_SECONDS {
            return Err(InvalidField::new(
                "max_age",
                "NUMBER_TYPE_MAX",
                format!("int value should be less than or equal to {MAX_INVITE_AGE_SECONDS}."),
            )
            .into());
        }
        if new.max_uses > MAX_INVITE_USES {
            return Err(InvalidField::new(
                "max_uses",
                "NUMBER_TYPE_MAX",
                format!("int value should be less than or equal to {MAX_INVITE_USES}."),
            )
            .into());
        }
        if self.invites.values().filter(|i| i.is_live(ctx.at)).count() >= MAX_INVITES {
            return Err(GuildError::MaxInvites);
        }
        Ok(Decided::event(InviteCreated {
            code: new.code,
            channel_id: new.channel_id,
            inviter_id: ctx.actor,
            max_age: new.max_age,
            max_uses: new.max_uses,
            temporary: new.temporary,
            created_at: ctx.at,
        }))
    }

    pub(super) fn revoke_invite(&self, ctx: &Ctx, code: &str) -> Result<Decided, GuildError> {
        self.actor_member(ctx)?;
        let invite = self.invites.get(code).ok_or(GuildError::UnknownInvite)?;
        let in_channel = self.channel_permissions(ctx.actor, invite.channel_id, ctx.at);
        let guild_wide = self.guild_permissions(ctx.actor, ctx.at);
        if !in_channel.contains(Permissions::MANAGE_CHANNELS)
            && !guild_wide.contains(Permissions::MANAGE_GUILD)
        {
            return Err(GuildError::MissingPermissions);
        }
        let body = self.invite_object(code, invite);
        Ok(Decided::event(InviteRevoked {
            code: code.to_owned(),
            channel_id: invite.channel_id,
        })
        .reply(Reply::Body(200, body)))
    }

    pub(super) fn accept_invite(
        &self,
        ctx: &Ctx,
        code: String,
        user: UserSnapshot,
    ) -> Result<Decided, GuildError> {
        if self.id().is_err() {
            return Err(GuildError::UnknownInvite);
        }
        if user.id != ctx.actor {
            return Err(
                InvalidField::new("user", "USER_MISMATCH", "Only the actor can join.").into(),
            );
        }
        let invite = self
            .invites
            .get(&code)
            .filter(|i| i.is_live(ctx.at))
            .ok_or(GuildError::UnknownInvite)?;
        if self.bans.contains_key(&ctx.actor) {
            return Err(GuildError::Banned);
        }
        if self.members.contains_key(&ctx.actor) {
            return Ok(
                Decided::nothing().reply(Reply::Body(200, self.invite_object(&code, invite)))
            );
        }
        Ok(Decided::event(MemberJoined {
            user,
            joined_at: ctx.at,
            invite_code: Some(code),
        }))
    }

    pub(super) fn on_invite_created(&mut self, event: InviteCreated) {
        // Invites that died by the time a new one is made are forgotten, which keeps
        // the map bounded without a clock.
        self.invites
            .retain(|_, invite| invite.is_live(event.created_at));
        self.invites.insert(
            event.code,
            Invite {
                channel_id: event.channel_id,
                inviter_id: event.inviter_id,
                max_age: event.max_age,
                max_uses: event.max_uses,
                uses: 0,
                temporary: event.temporary,
                created_at: event.created_at,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use cloudcord_schemas::envelope::{Actor, Authored};
    use cloudcord_schemas::guild::{
        ChannelType, GuildCommand, GuildEvent, MemberBanned, new_invite_code,
    };
    use cloudcord_schemas::ids::{ChannelId, GuildId};
    use cloudcord_schemas::permissions::{PermissionOverwrite, Permissions};
    use cqrs_es::test::TestFramework;

    use super::super::fixtures::{
        ALICE, BOB, CAROL, GUILD, NOW, OWNER, TEXT, by, channel, guild, snapshot,
    };
    use super::super::{Guild, GuildError};
    use crate::aggregates::Domain;

    fn code() -> String {
        new_invite_code(GUILD, 12_345)
    }

    fn create(max_age: u32, max_uses: u32) -> GuildCommand {
        GuildCommand::CreateInvite {
            code: code(),
            channel_id: TEXT,
            max_age,
            max_uses,
            temporary: false,
        }
    }

    fn accept(user: cloudcord_schemas::ids::UserId) -> GuildCommand {
        GuildCommand::AcceptInvite {
            code: code(),
            user: snapshot(user),
        }
    }

    fn with_invite(max_age: u32, max_uses: u32) -> Vec<Domain<GuildEvent>> {
        let mut events = guild();
        let created = TestFramework::<Guild>::with(())
            .given(events.clone())
            .when(by(ALICE, create(max_age, max_uses)))
            .inspect_result()
            .expect("invite created");
        events.extend(created);
        events
    }

    #[test]
    fn creating_an_invite_needs_create_instant_invite() {
        let mut events = guild();
        events.push(channel(
            ChannelId::new(3000),
            ChannelType::GuildText,
            vec![PermissionOverwrite::member(
                ALICE,
                Permissions::empty(),
                Permissions::CREATE_INSTANT_INVITE,
            )],
        ));
        TestFramework::<Guild>::with(())
            .given(events)
            .when(by(
                ALICE,
                GuildCommand::CreateInvite {
                    code: code(),
                    channel_id: ChannelId::new(3000),
                    max_age: 0,
                    max_uses: 0,
                    temporary: false,
                },
            ))
            .then_expect_error(GuildError::MissingPermissions);
    }

    #[test]
    fn an_invite_code_must_name_this_guild() {
        let foreign = new_invite_code(GuildId::new(1), 5);
        let result = TestFramework::<Guild>::with(())
            .given(guild())
            .when(by(
                ALICE,
                GuildCommand::CreateInvite {
                    code: foreign,
                    channel_id: TEXT,
                    max_age: 0,
                    max_uses: 0,
                    temporary: false,
                },
            ))
            .inspect_result();
        assert!(
            matches!(result, Err(GuildError::Invalid(ref f)) if f.field == "code"),
            "{result:?}"
        );
    }

    #[test]
    fn invites_last_at_most_7_days_and_100_uses() {
        for (command, field) in [
            (create(604_801, 0), "max_age"),
            (create(0, 101), "max_uses"),
        ] {
            let result = TestFramework::<Guild>::with(())
                .given(guild())
                .when(by(ALICE, command))
                .inspect_result();
            assert!(
                matches!(result, Err(GuildError::Invalid(ref f)) if f.field == field),
                "{result:?}"
            );
        }
    }

    #[test]
    fn categories_have_no_invites() {
        let mut events = guild();
        events.push(channel(
            ChannelId::new(3000),
            ChannelType::GuildCategory,
            vec![],
        ));
        TestFramework::<Guild>::with(())
            .given(events)
            .when(by(
                OWNER,
                GuildCommand::CreateInvite {
                    code: code(),
                    channel_id: ChannelId::new(3000),
                    max_age: 0,
                    max_uses: 0,
                    temporary: false,
                },
            ))
            .then_expect_error(GuildError::WrongChannelType);
    }

    #[test]
    fn accepting_an_invite_makes_the_user_a_member_and_answers_the_invite() {
        let mut guild = Guild::default();
        let mut events = with_invite(0, 0);
        for Domain(event) in events.drain(..) {
            cqrs_es::Aggregate::apply(&mut guild, Domain(event));
        }
        let (changes, accepted) = crate::aggregates::decide(
            &mut guild,
            Authored {
                actor: Actor::User(CAROL),
                at: NOW,
                command: accept(CAROL),
            },
        )
        .expect("joined");
        assert!(matches!(changes.as_slice(), [GuildEvent::MemberJoined(_)]));
        assert_eq!(accepted.status, 200);
        let body = accepted.body.expect("invite object");
        assert_eq!(body["code"], code());
        assert_eq!(body["uses"], 1);
        assert_eq!(body["guild"]["id"], GUILD.to_string());
    }

    #[test]
    fn banned_users_cannot_join_through_an_invite() {
        let mut events = with_invite(0, 0);
        events.push(Domain(GuildEvent::MemberBanned(MemberBanned {
            user_id: CAROL,
            user: None,
            reason: None,
            delete_message_seconds: 0,
            banned_at: NOW,
        })));
        TestFramework::<Guild>::with(())
            .given(events)
            .when(by(CAROL, accept(CAROL)))
            .then_expect_error(GuildError::Banned);
    }

    #[test]
    fn an_expired_invite_is_unknown() {
        let events = with_invite(60, 0);
        TestFramework::<Guild>::with(())
            .given(events)
            .when(Authored {
                actor: Actor::User(CAROL),
                at: NOW + time::Duration::minutes(2),
                command: accept(CAROL),
            })
            .then_expect_error(GuildError::UnknownInvite);
    }

    #[test]
    fn a_used_up_invite_is_unknown() {
        let mut events = with_invite(0, 1);
        let joined = TestFramework::<Guild>::with(())
            .given(events.clone())
            .when(by(CAROL, accept(CAROL)))
            .inspect_result()
            .expect("first use");
        events.extend(joined);
        let dave = cloudcord_schemas::ids::UserId::new(50);
        TestFramework::<Guild>::with(())
            .given(events)
            .when(by(dave, accept(dave)))
            .then_expect_error(GuildError::UnknownInvite);
    }

    #[test]
    fn a_member_accepting_again_changes_nothing() {
        TestFramework::<Guild>::with(())
            .given(with_invite(0, 0))
            .when(by(BOB, accept(BOB)))
            .then_expect_events(vec![]);
    }

    #[test]
    fn revoking_needs_manage_channels_or_manage_guild() {
        let revoke = GuildCommand::RevokeInvite { code: code() };
        TestFramework::<Guild>::with(())
            .given(with_invite(0, 0))
            .when(by(BOB, revoke.clone()))
            .then_expect_error(GuildError::MissingPermissions);
        TestFramework::<Guild>::with(())
            .given(with_invite(0, 0))
            .when(by(OWNER, revoke))
            .inspect_result()
            .expect("the owner revokes");
    }

    #[test]
    fn revoking_an_unknown_invite_is_refused() {
        TestFramework::<Guild>::with(())
            .given(guild())
            .when(by(OWNER, GuildCommand::RevokeInvite { code: code() }))
            .then_expect_error(GuildError::UnknownInvite);
    }
}
