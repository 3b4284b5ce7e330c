//! Shared test fixtures: a guild's cast, clock and histories for given/when/then.

use cloudcord_schemas::envelope::{Actor, Authored};
use cloudcord_schemas::guild::DEFAULT_EVERYONE_PERMISSIONS;
use cloudcord_schemas::guild::channels::DEFAULT_BITRATE;
use cloudcord_schemas::guild::{
    ChannelCreated, ChannelType, GuildChannel, GuildCommand, GuildEvent, MemberJoined,
    MemberUpdated, Role, RoleCreated, RoleUpdated,
};
use cloudcord_schemas::ids::{ChannelId, GuildId, RoleId, UserId};
use cloudcord_schemas::message::UserSnapshot;
use cloudcord_schemas::permissions::{PermissionOverwrite, Permissions};
use time::OffsetDateTime;
use time::macros::datetime;

use super::Guild;
use crate::aggregates::{Domain, decide};

/// The guild.
pub const GUILD: GuildId = GuildId::new(1000);
/// Its `general` text channel.
pub const TEXT: ChannelId = ChannelId::new(1001);
/// Its `General` voice channel.
pub const VOICE: ChannelId = ChannelId::new(1002);
/// Its owner.
pub const OWNER: UserId = UserId::new(10);
/// A member.
pub const ALICE: UserId = UserId::new(20);
/// Another member.
pub const BOB: UserId = UserId::new(30);
/// A third member.
pub const CAROL: UserId = UserId::new(40);
/// Not a member.
pub const STRANGER: UserId = UserId::new(99);
/// A role.
pub const MODS: RoleId = RoleId::new(2001);
/// Another role.
pub const HELPERS: RoleId = RoleId::new(2002);
/// When every command in the tests happens.
pub const NOW: OffsetDateTime = datetime!(2026-11-28 12:00 UTC);

/// `command` by `actor` at [`NOW`].
pub fn by(actor: UserId, command: GuildCommand) -> Authored<GuildCommand> {
    Authored {
        actor: Actor::User(actor),
        at: NOW,
        command,
    }
}

/// A user's profile.
pub fn snapshot(id: UserId) -> UserSnapshot {
    UserSnapshot {
        id,
        username: format!("user{id}"),
        global_name: None,
        avatar: None,
        bot: false,
    }
}

/// The `CreateGuild` command for [`GUILD`].
pub fn create_guild(name: &str) -> GuildCommand {
    GuildCommand::CreateGuild {
        guild_id: GUILD,
        name: name.into(),
        owner: snapshot(OWNER),
        text_channel_id: TEXT,
        voice_channel_id: VOICE,
        text_category_id: None,
        voice_category_id: None,
    }
}

/// The events of `commands`, decided in order on a fresh guild.
pub fn history(commands: Vec<Authored<GuildCommand>>) -> Vec<Domain<GuildEvent>> {
    let mut guild = Guild::default();
    let mut events = Vec::new();
    for command in commands {
        let described = format!("{command:?}");
        match decide(&mut guild, command) {
            Ok((changes, _)) => events.extend(changes.into_iter().map(Domain)),
            Err(refusal) => panic!("fixture command refused: {described}: {refusal:?}"),
        }
    }
    events
}

/// `user` joined.
pub fn joined(user: UserId) -> Domain<GuildEvent> {
    Domain(GuildEvent::MemberJoined(MemberJoined {
        user: snapshot(user),
        joined_at: NOW,
        invite_code: None,
    }))
}

/// A guild owned by [`OWNER`] with [`ALICE`] and [`BOB`] as members.
pub fn guild() -> Vec<Domain<GuildEvent>> {
    let mut events = history(vec![by(OWNER, create_guild("Rustaceans"))]);
    events.push(joined(ALICE));
    events.push(joined(BOB));
    events
}

/// A role created at `position` with `permissions`.
pub fn role(id: RoleId, position: u32, permissions: Permissions) -> Domain<GuildEvent> {
    Domain(GuildEvent::RoleCreated(RoleCreated {
        role: Role {
            id,
            name: format!("role{id}"),
            color: 0,
            hoist: false,
            position,
            permissions,
            managed: false,
            mentionable: false,
        },
    }))
}

/// `@everyone` gets `extra` on top of the default permissions.
pub fn everyone_can(extra: Permissions) -> Domain<GuildEvent> {
    Domain(GuildEvent::RoleUpdated(RoleUpdated {
        role: Role {
            id: GUILD.everyone_role(),
            name: "@everyone".into(),
            color: 0,
            hoist: false,
            position: 0,
            permissions: DEFAULT_EVERYONE_PERMISSIONS.union(extra),
            managed: false,
            mentionable: false,
        },
    }))
}

/// `@everyone` has exactly `permissions`.
pub fn everyone_has(permissions: Permissions) -> Domain<GuildEvent> {
    Domain(GuildEvent::RoleUpdated(RoleUpdated {
        role: Role {
            id: GUILD.everyone_role(),
            name: "@everyone".into(),
            color: 0,
            hoist: false,
            position: 0,
            permissions,
            managed: false,
            mentionable: false,
        },
    }))
}

/// `user` now has exactly `roles`.
pub fn with_roles(user: UserId, roles: &[RoleId]) -> Domain<GuildEvent> {
    Domain(GuildEvent::MemberUpdated(MemberUpdated {
        user_id: user,
        nick: None,
        roles: roles.to_vec(),
        communication_disabled_until: None,
        mute: false,
        deaf: false,
    }))
}

/// A channel of `kind` with `overwrites`.
pub fn channel(
    id: ChannelId,
    kind: ChannelType,
    overwrites: Vec<PermissionOverwrite>,
) -> Domain<GuildEvent> {
    Domain(GuildEvent::ChannelCreated(ChannelCreated {
        channel: GuildChannel {
            id,
            kind,
            name: format!("channel{id}"),
            position: 5,
            parent_id: None,
            topic: None,
            nsfw: false,
            rate_limit_per_user: 0,
            bitrate: (kind == ChannelType::GuildVoice).then_some(DEFAULT_BITRATE),
            user_limit: (kind == ChannelType::GuildVoice).then_some(0),
            permission_overwrites: overwrites,
        },
    }))
}
