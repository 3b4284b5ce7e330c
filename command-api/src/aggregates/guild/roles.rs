//! Roles and their order.
//!
//! Rules (Discord's `guild.mdx` and the "Permission Hierarchy" of `permissions.mdx`):
//! * Every role action needs `MANAGE_ROLES`.
//! * A role can only be edited, deleted or moved by someone whose highest role ranks
//!   above it (the owner outranks all), and never moved to or above that highest role.
//! * A role can only carry permissions its creator or editor has (owners and
//!   administrators may grant anything); an edit may keep bits the editor lacks but
//!   not add them.
//! * Names up to 100 characters, colours up to `0xFFFFFF`; at most 250 roles (30005).
//! * New roles sit at position 1, just above `@everyone`. `@everyone` cannot be
//!   deleted or moved, nor can managed roles be deleted (50028).

use std::collections::BTreeSet;

use cloudcord_schemas::guild::roles::{DEFAULT_ROLE_NAME, MAX_ROLE_NAME_CHARS, MAX_ROLES};
use cloudcord_schemas::guild::{
    CreateRole, ModifyRole, Role, RoleCreated, RoleDeleted, RolePosition, RolePositionsUpdated,
    RoleUpdated,
};
use cloudcord_schemas::ids::RoleId;
use cloudcord_schemas::permissions::{OverwriteKind, Permissions, RoleRank};

use super::{Ctx, Decided, Guild, GuildError, check_length};
use crate::aggregates::messages::InvalidField;

/// Largest RGB colour.
const MAX_COLOR: u32 = 0x00FF_FFFF;

fn check_color(color: u32) -> Result<(), GuildError> {
    if color > MAX_COLOR {
        return Err(InvalidField::new(
            "color",
            "NUMBER_TYPE_MAX",
            format!("int value should be less than or equal to {MAX_COLOR}."),
        )
        .into());
    }
    Ok(())
}

impl Guild {
    /// The role, once the actor has `MANAGE_ROLES` and outranks it.
    fn manageable_role(&self, ctx: &Ctx, role_id: RoleId) -> Result<&Role, GuildError> {
        self.require_guild(ctx, Permissions::MANAGE_ROLES)?;
        let role = self.role(role_id)?;
        if !self.outranks_role(ctx, role) {
            return Err(GuildError::MissingPermissions);
        }
        Ok(role)
    }

    pub(super) fn create_role(&self, ctx: &Ctx, create: CreateRole) -> Result<Decided, GuildError> {
        self.require_guild(ctx, Permissions::MANAGE_ROLES)?;
        let guild_id = self.id()?;
        if self.roles.len() >= MAX_ROLES {
            return Err(GuildError::MaxRoles);
        }
        if self.roles.contains_key(&create.role_id) {
            return Err(InvalidField::new(
                "id",
                "SNOWFLAKE_ALREADY_USED",
                "This role id is already used.",
            )
            .into());
        }
        if let Some(name) = &create.name {
            check_length("name", name, 1, MAX_ROLE_NAME_CHARS)?;
        }
        check_color(create.color)?;
        let everyone = self.role(guild_id.everyone_role())?.permissions;
        let permissions = create.permissions.unwrap_or(everyone);
        self.check_grant(ctx, permissions)?;
        Ok(Decided::event(RoleCreated {
            role: Role {
                id: create.role_id,
                name: create.name.unwrap_or_else(|| DEFAULT_ROLE_NAME.into()),
                color: create.color,
                hoist: create.hoist,
                position: 1,
                permissions,
                managed: false,
                mentionable: create.mentionable,
            },
        }))
    }

    pub(super) fn modify_role(&self, ctx: &Ctx, modify: ModifyRole) -> Result<Decided, GuildError> {
        let mut role = self.manageable_role(ctx, modify.role_id)?.clone();
        if let Some(name) = &modify.name {
            check_length("name", name, 1, MAX_ROLE_NAME_CHARS)?;
        }
        if let Some(color) = modify.color {
            check_color(color)?;
        }
        if let Some(permissions) = modify.permissions {
            self.check_grant(ctx, permissions.difference(role.permissions))?;
            role.permissions = permissions;
        }
        if let Some(name) = modify.name {
            role.name = name;
        }
        if let Some(color) = modify.color {
            role.color = color;
        }
        if let Some(hoist) = modify.hoist {
            role.hoist = hoist;
        }
        if let Some(mentionable) = modify.mentionable {
            role.mentionable = mentionable;
        }
        Ok(Decided::event(RoleUpdated { role }))
    }

    pub(super) fn delete_role(&self, ctx: &Ctx, role_id: RoleId) -> Result<Decided, GuildError> {
        let guild_id = self.id()?;
        let role = self.manageable_role(ctx, role_id)?;
        if role.id == guild_id.everyone_role() || role.managed {
            return Err(GuildError::InvalidRole);
        }
        Ok(Decided::event(RoleDeleted { role_id }))
    }

    pub(super) fn modify_role_positions(
        &self,
        ctx: &Ctx,
        positions: Vec<RolePosition>,
    ) -> Result<Decided, GuildError> {
        self.require_guild(ctx, Permissions::MANAGE_ROLES)?;
        let guild_id = self.id()?;
        let actor_top = self.top_rank(ctx.actor);
        let owner = self.is_owner(ctx.actor);
        let mut seen = BTreeSet::new();
        for entry in &positions {
            if !seen.insert(entry.id) {
                return Err(InvalidField::new(
                    "id",
                    "DUPLICATE_ROLE",
                    "Each role may appear once.",
                )
                .into());
            }
            let role = self.manageable_role(ctx, entry.id)?;
            if role.id == guild_id.everyone_role() {
                return Err(GuildError::InvalidRole);
            }
            if entry.position == 0 {
                return Err(InvalidField::new(
                    "position",
                    "NUMBER_TYPE_MIN",
                    "int value should be greater than or equal to 1.",
                )
                .into());
            }
            if !owner && RoleRank::new(guild_id, entry.id, entry.position) >= actor_top {
                return Err(GuildError::MissingPermissions);
            }
        }
        let changed: Vec<RolePosition> = positions
            .into_iter()
            .filter(|entry| {
                self.roles
                    .get(&entry.id)
                    .is_some_and(|r| r.position != entry.position)
            })
            .collect();
        if changed.is_empty() {
            return Ok(Decided::nothing().reply(super::Reply::Body(200, self.roles_array())));
        }
        Ok(Decided::event(RolePositionsUpdated { positions: changed }))
    }

    pub(super) fn on_role_created(&mut self, event: RoleCreated) {
        let everyone = self.id.map(|id| id.everyone_role());
        for role in self.roles.values_mut() {
            if Some(role.id) != everyone && role.position >= event.role.position {
                role.position += 1;
            }
        }
        self.roles.insert(event.role.id, event.role);
    }

    pub(super) fn on_role_updated(&mut self, event: RoleUpdated) {
        self.roles.insert(event.role.id, event.role);
    }

    pub(super) fn on_role_deleted(&mut self, event: &RoleDeleted) {
        self.roles.remove(&event.role_id);
        for member in self.members.values_mut() {
            member.roles.retain(|r| *r != event.role_id);
        }
        for channel in self.channels.values_mut() {
            channel
                .permission_overwrites
                .retain(|o| !(o.kind == OverwriteKind::Role && o.id == event.role_id.0));
        }
    }

    pub(super) fn on_role_positions_updated(&mut self, event: &RolePositionsUpdated) {
        for entry in &event.positions {
            if let Some(role) = self.roles.get_mut(&entry.id) {
                role.position = entry.position;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use cloudcord_schemas::guild::{
        ChannelType, CreateRole, GuildCommand, GuildEvent, ModifyRole, RolePosition,
    };
    use cloudcord_schemas::ids::{ChannelId, RoleId};
    use cloudcord_schemas::permissions::{PermissionOverwrite, Permissions};
    use cqrs_es::Aggregate;
    use cqrs_es::test::TestFramework;

    use super::super::fixtures::{
        ALICE, BOB, GUILD, HELPERS, MODS, OWNER, by, channel, guild, role, with_roles,
    };
    use super::super::{Guild, GuildError};
    use crate::aggregates::Domain;

    const NEW: RoleId = RoleId::new(2100);

    fn create(permissions: Option<Permissions>) -> GuildCommand {
        GuildCommand::CreateRole(CreateRole {
            role_id: NEW,
            name: Some("fresh".into()),
            permissions,
            color: 0,
            hoist: false,
            mentionable: false,
        })
    }

    /// ALICE holds MODS (position 2, MANAGE_ROLES); HELPERS sits below at 1.
    fn hierarchy() -> Vec<Domain<GuildEvent>> {
        let mut history = guild();
        history.push(role(HELPERS, 1, Permissions::empty()));
        history.push(role(MODS, 2, Permissions::MANAGE_ROLES));
        history.push(with_roles(ALICE, &[MODS]));
        history
    }

    fn state(history: Vec<Domain<GuildEvent>>) -> Guild {
        let mut guild = Guild::default();
        for event in history {
            guild.apply(event);
        }
        guild
    }

    #[test]
    fn members_without_manage_roles_cannot_create_roles() {
        TestFramework::<Guild>::with(())
            .given(guild())
            .when(by(BOB, create(None)))
            .then_expect_error(GuildError::MissingPermissions);
    }

    #[test]
    fn a_new_role_sits_just_above_everyone_and_pushes_the_others_up() {
        let mut history = hierarchy();
        let events = TestFramework::<Guild>::with(())
            .given(history.clone())
            .when(by(ALICE, create(Some(Permissions::empty()))))
            .inspect_result()
            .expect("created");
        history.extend(events);
        let guild = state(history);
        assert_eq!(guild.roles.get(&NEW).map(|r| r.position), Some(1));
        assert_eq!(guild.roles.get(&HELPERS).map(|r| r.position), Some(2));
        assert_eq!(guild.roles.get(&MODS).map(|r| r.position), Some(3));
        assert_eq!(
            guild.roles.get(&GUILD.everyone_role()).map(|r| r.position),
            Some(0)
        );
    }

    #[test]
    fn a_role_cannot_grant_permissions_its_creator_lacks() {
        TestFramework::<Guild>::with(())
            .given(hierarchy())
            .when(by(ALICE, create(Some(Permissions::BAN_MEMBERS))))
            .then_expect_error(GuildError::MissingPermissions);
        TestFramework::<Guild>::with(())
            .given(hierarchy())
            .when(by(OWNER, create(Some(Permissions::ADMINISTRATOR))))
            .inspect_result()
            .expect("the owner grants anything");
    }

    #[test]
    fn a_guild_holds_at_most_250_roles() {
        let mut history = hierarchy();
        for raw in 0..247 {
            history.push(role(RoleId::new(5000 + raw), 1, Permissions::empty()));
        }
        TestFramework::<Guild>::with(())
            .given(history)
            .when(by(OWNER, create(None)))
            .then_expect_error(GuildError::MaxRoles);
    }

    #[test]
    fn roles_at_or_above_the_actors_highest_role_cannot_be_edited() {
        let rename = |id| {
            let mut modify = ModifyRole::new(id);
            modify.name = Some("renamed".into());
            GuildCommand::ModifyRole(modify)
        };
        TestFramework::<Guild>::with(())
            .given(hierarchy())
            .when(by(ALICE, rename(MODS)))
            .then_expect_error(GuildError::MissingPermissions);
        TestFramework::<Guild>::with(())
            .given(hierarchy())
            .when(by(ALICE, rename(HELPERS)))
            .inspect_result()
            .expect("a lower role is editable");
    }

    #[test]
    fn editing_a_role_may_keep_permissions_the_actor_lacks_but_not_add_them() {
        let mut history = hierarchy();
        history.push(role(RoleId::new(2003), 1, Permissions::BAN_MEMBERS));
        let mut keep = ModifyRole::new(RoleId::new(2003));
        keep.permissions = Some(Permissions::BAN_MEMBERS.union(Permissions::MANAGE_ROLES));
        TestFramework::<Guild>::with(())
            .given(history.clone())
            .when(by(ALICE, GuildCommand::ModifyRole(keep)))
            .inspect_result()
            .expect("keeps BAN_MEMBERS, adds MANAGE_ROLES which ALICE has");
        let mut add = ModifyRole::new(HELPERS);
        add.permissions = Some(Permissions::KICK_MEMBERS);
        TestFramework::<Guild>::with(())
            .given(history)
            .when(by(ALICE, GuildCommand::ModifyRole(add)))
            .then_expect_error(GuildError::MissingPermissions);
    }

    #[test]
    fn the_everyone_role_cannot_be_deleted() {
        TestFramework::<Guild>::with(())
            .given(hierarchy())
            .when(by(
                OWNER,
                GuildCommand::DeleteRole {
                    role_id: GUILD.everyone_role(),
                },
            ))
            .then_expect_error(GuildError::InvalidRole);
    }

    #[test]
    fn deleting_an_unknown_role_is_refused() {
        TestFramework::<Guild>::with(())
            .given(hierarchy())
            .when(by(OWNER, GuildCommand::DeleteRole { role_id: NEW }))
            .then_expect_error(GuildError::UnknownRole);
    }

    #[test]
    fn deleting_a_role_removes_it_from_members_and_overwrites() {
        let channel_id = ChannelId::new(3000);
        let mut history = hierarchy();
        history.push(with_roles(BOB, &[HELPERS]));
        history.push(channel(
            channel_id,
            ChannelType::GuildText,
            vec![PermissionOverwrite::role(
                HELPERS,
                Permissions::empty(),
                Permissions::SEND_MESSAGES,
            )],
        ));
        let events = TestFramework::<Guild>::with(())
            .given(history.clone())
            .when(by(ALICE, GuildCommand::DeleteRole { role_id: HELPERS }))
            .inspect_result()
            .expect("deleted");
        history.extend(events);
        let guild = state(history);
        assert!(guild.members.get(&BOB).is_some_and(|m| m.roles.is_empty()));
        assert!(
            guild
                .channels
                .get(&channel_id)
                .is_some_and(|c| c.permission_overwrites.is_empty())
        );
    }

    #[test]
    fn roles_cannot_be_moved_to_or_above_the_actors_highest_role() {
        let to = |position| GuildCommand::ModifyRolePositions {
            positions: vec![RolePosition {
                id: HELPERS,
                position,
            }],
        };
        TestFramework::<Guild>::with(())
            .given(hierarchy())
            .when(by(ALICE, to(3)))
            .then_expect_error(GuildError::MissingPermissions);
        TestFramework::<Guild>::with(())
            .given(hierarchy())
            .when(by(ALICE, to(2)))
            .inspect_result()
            .expect("level with MODS, but the newer id ranks lower");
        TestFramework::<Guild>::with(())
            .given(hierarchy())
            .when(by(OWNER, to(5)))
            .inspect_result()
            .expect("the owner moves any role anywhere");
        TestFramework::<Guild>::with(())
            .given(hierarchy())
            .when(by(
                OWNER,
                GuildCommand::ModifyRolePositions {
                    positions: vec![RolePosition {
                        id: GUILD.everyone_role(),
                        position: 3,
                    }],
                },
            ))
            .then_expect_error(GuildError::InvalidRole);
    }
}
