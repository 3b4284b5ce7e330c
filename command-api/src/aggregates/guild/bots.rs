//! Bots added through OAuth2's `bot` scope (Discord's "bot authorization flow").
//!
//! Rules (`developers/topics/oauth2.mdx`, "Bot Authorization Flow"):
//! * The person adding the bot needs `MANAGE_GUILD`; a banned bot cannot be added
//!   (40007); adding one that is already a member changes nothing.
//! * The permissions asked for become a **managed role** named after the bot and
//!   given to it. Only permissions the adder holds may be granted (50013). A managed
//!   role cannot be given, taken or deleted by hand (see [`super::members`] and
//!   [`super::roles`]); it is deleted when its bot leaves, is kicked or is banned.

use cloudcord_schemas::guild::roles::{MAX_ROLE_NAME_CHARS, MAX_ROLES};
use cloudcord_schemas::guild::{MemberJoined, MemberUpdated, Role, RoleCreated, RoleDeleted};
use cloudcord_schemas::ids::{RoleId, UserId};
use cloudcord_schemas::message::UserSnapshot;
use cloudcord_schemas::permissions::Permissions;

use super::{Ctx, Decided, Guild, GuildError};
use crate::aggregates::messages::InvalidField;

impl Guild {
    pub(super) fn add_bot(
        &self,
        ctx: &Ctx,
        bot: UserSnapshot,
        permissions: Permissions,
        role_id: RoleId,
    ) -> Result<Decided, GuildError> {
        self.require_guild(ctx, Permissions::MANAGE_GUILD)?;
        if !bot.bot {
            return Err(InvalidField::new("bot", "NOT_A_BOT", "Only a bot can be added.").into());
        }
        if self.bans.contains_key(&bot.id) {
            return Err(GuildError::Banned);
        }
        if self.members.contains_key(&bot.id) {
            return Ok(Decided::nothing());
        }
        self.check_grant(ctx, permissions)?;
        let joined = MemberJoined {
            user: bot.clone(),
            joined_at: ctx.at,
            invite_code: None,
        };
        if permissions.is_empty() {
            return Ok(Decided::event(joined));
        }
        if self.roles.len() >= MAX_ROLES {
            return Err(GuildError::MaxRoles);
        }
        let name: String = bot
            .global_name
            .unwrap_or(bot.username)
            .chars()
            .take(MAX_ROLE_NAME_CHARS)
            .collect();
        let role = RoleCreated {
            role: Role {
                id: role_id,
                name,
                color: 0,
                hoist: false,
                position: 1,
                permissions,
                managed: true,
                mentionable: false,
            },
        };
        Ok(Decided::event(role).and(joined).and(MemberUpdated {
            user_id: bot.id,
            nick: None,
            roles: vec![role_id],
            communication_disabled_until: None,
            mute: false,
            deaf: false,
        }))
    }

    /// `decided` (the member `user_id` leaving) plus the deletion of the managed
    /// roles they held: a bot's role goes with it.
    pub(super) fn dropping_managed_roles(&self, decided: Decided, user_id: UserId) -> Decided {
        let held = self.members.get(&user_id).map_or(&[][..], |m| &m.roles[..]);
        held.iter()
            .filter(|role_id| self.roles.get(role_id).is_some_and(|role| role.managed))
            .fold(decided, |decided, &role_id| {
                decided.and(RoleDeleted { role_id })
            })
    }
}

#[cfg(test)]
mod tests {
    use cloudcord_schemas::guild::{
        GuildCommand, GuildEvent, MemberBanned, MemberJoined, MemberUpdated, RoleCreated,
        RoleDeleted,
    };
    use cloudcord_schemas::ids::{RoleId, UserId};
    use cloudcord_schemas::message::UserSnapshot;
    use cloudcord_schemas::permissions::Permissions;
    use cqrs_es::test::TestFramework;

    use super::super::fixtures::{ALICE, MODS, NOW, OWNER, STRANGER, by, guild, role};
    use super::super::{Guild, GuildError};
    use crate::aggregates::Domain;

    const BOT: UserId = UserId::new(500);
    const BOT_ROLE: RoleId = RoleId::new(501);

    fn bot() -> UserSnapshot {
        UserSnapshot {
            id: BOT,
            username: "helper_000500".into(),
            global_name: Some("Helper".into()),
            avatar: None,
            bot: true,
        }
    }

    fn add(permissions: Permissions) -> GuildCommand {
        GuildCommand::AddBot {
            bot: bot(),
            permissions,
            role_id: BOT_ROLE,
        }
    }

    fn joined() -> GuildEvent {
        GuildEvent::MemberJoined(MemberJoined {
            user: bot(),
            joined_at: NOW,
            invite_code: None,
        })
    }

    fn bot_role(permissions: Permissions) -> GuildEvent {
        GuildEvent::RoleCreated(RoleCreated {
            role: cloudcord_schemas::guild::Role {
                id: BOT_ROLE,
                name: "Helper".into(),
                color: 0,
                hoist: false,
                position: 1,
                permissions,
                managed: true,
                mentionable: false,
            },
        })
    }

    fn given_role() -> GuildEvent {
        GuildEvent::MemberUpdated(MemberUpdated {
            user_id: BOT,
            nick: None,
            roles: vec![BOT_ROLE],
            communication_disabled_until: None,
            mute: false,
            deaf: false,
        })
    }

    fn added(permissions: Permissions) -> Vec<Domain<GuildEvent>> {
        let mut history = guild();
        history.extend([bot_role(permissions), joined(), given_role()].map(Domain));
        history
    }

    #[test]
    fn the_owner_adds_a_bot_with_a_managed_role_holding_its_permissions() {
        let permissions = Permissions::SEND_MESSAGES | Permissions::VIEW_CHANNEL;
        TestFramework::<Guild>::with(())
            .given(guild())
            .when(by(OWNER, add(permissions)))
            .then_expect_events(
                [bot_role(permissions), joined(), given_role()]
                    .map(Domain)
                    .to_vec(),
            );
    }

    #[test]
    fn without_permissions_the_bot_just_joins() {
        TestFramework::<Guild>::with(())
            .given(guild())
            .when(by(OWNER, add(Permissions::empty())))
            .then_expect_events(vec![Domain(joined())]);
    }

    #[test]
    fn adding_needs_manage_guild_and_membership() {
        TestFramework::<Guild>::with(())
            .given(guild())
            .when(by(ALICE, add(Permissions::empty())))
            .then_expect_error(GuildError::MissingPermissions);
        TestFramework::<Guild>::with(())
            .given(guild())
            .when(by(STRANGER, add(Permissions::empty())))
            .then_expect_error(GuildError::MissingAccess);
    }

    #[test]
    fn only_permissions_the_adder_holds_can_be_granted() {
        let mut history = guild();
        history.push(role(MODS, 1, Permissions::MANAGE_GUILD));
        history.push(Domain(GuildEvent::MemberUpdated(MemberUpdated {
            user_id: ALICE,
            nick: None,
            roles: vec![MODS],
            communication_disabled_until: None,
            mute: false,
            deaf: false,
        })));
        TestFramework::<Guild>::with(())
            .given(history.clone())
            .when(by(ALICE, add(Permissions::BAN_MEMBERS)))
            .then_expect_error(GuildError::MissingPermissions);
        TestFramework::<Guild>::with(())
            .given(history)
            .when(by(ALICE, add(Permissions::MANAGE_GUILD)))
            .then_expect_events(
                [bot_role(Permissions::MANAGE_GUILD), joined(), given_role()]
                    .map(Domain)
                    .to_vec(),
            );
    }

    #[test]
    fn a_banned_bot_is_refused_and_a_member_bot_changes_nothing() {
        let mut banned = guild();
        banned.push(Domain(GuildEvent::MemberBanned(MemberBanned {
            user_id: BOT,
            user: None,
            reason: None,
            delete_message_seconds: 0,
            banned_at: NOW,
        })));
        TestFramework::<Guild>::with(())
            .given(banned)
            .when(by(OWNER, add(Permissions::empty())))
            .then_expect_error(GuildError::Banned);
        TestFramework::<Guild>::with(())
            .given(added(Permissions::SEND_MESSAGES))
            .when(by(OWNER, add(Permissions::SEND_MESSAGES)))
            .then_expect_events(Vec::new());
    }

    #[test]
    fn a_person_cannot_be_added_as_a_bot() {
        let mut person = bot();
        person.bot = false;
        let result = TestFramework::<Guild>::with(())
            .given(guild())
            .when(by(
                OWNER,
                GuildCommand::AddBot {
                    bot: person,
                    permissions: Permissions::empty(),
                    role_id: BOT_ROLE,
                },
            ))
            .inspect_result();
        assert!(
            matches!(result, Err(GuildError::Invalid(ref f)) if f.field == "bot"),
            "{result:?}"
        );
    }

    #[test]
    fn the_managed_role_goes_when_the_bot_is_kicked_or_banned() {
        let deleted = Domain(GuildEvent::RoleDeleted(RoleDeleted { role_id: BOT_ROLE }));
        let events = TestFramework::<Guild>::with(())
            .given(added(Permissions::SEND_MESSAGES))
            .when(by(OWNER, GuildCommand::KickMember { user_id: BOT }))
            .inspect_result()
            .expect("kicked");
        assert_eq!(events.last(), Some(&deleted));
        let events = TestFramework::<Guild>::with(())
            .given(added(Permissions::SEND_MESSAGES))
            .when(by(
                OWNER,
                GuildCommand::BanMember {
                    user_id: BOT,
                    delete_message_seconds: 0,
                    reason: None,
                },
            ))
            .inspect_result()
            .expect("banned");
        assert_eq!(events.last(), Some(&deleted));
    }
}
