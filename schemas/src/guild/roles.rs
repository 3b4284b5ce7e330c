//! Roles.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::RoleId;
use crate::permissions::Permissions;

/// Most roles in a guild, `@everyone` included (JSON error 30005).
pub const MAX_ROLES: usize = 250;

/// Longest role name, in characters.
pub const MAX_ROLE_NAME_CHARS: usize = 100;

/// The name of a role created without one.
pub const DEFAULT_ROLE_NAME: &str = "new role";

/// A role, in Discord's role object's field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Role {
    /// The role; `@everyone` has the guild's id.
    pub id: RoleId,
    /// Up to 100 characters.
    pub name: String,
    /// RGB colour (0: none).
    pub color: u32,
    /// Shown separately in the member list.
    pub hoist: bool,
    /// Place in the hierarchy (`@everyone` is 0).
    pub position: u32,
    /// Guild-level permissions.
    pub permissions: Permissions,
    /// Managed by an integration.
    pub managed: bool,
    /// Anyone may mention it.
    pub mentionable: bool,
}

/// A role was created at position 1; every other role at position 1 or above moves
/// up by one (as Discord places new roles just above `@everyone`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RoleCreated {
    /// The role as created.
    pub role: Role,
}

/// A role changed; carries the whole new role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RoleUpdated {
    /// The role after the change.
    pub role: Role,
}

/// A role was deleted; members lose it and channels lose its overwrites.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RoleDeleted {
    /// The role.
    pub role_id: RoleId,
}

/// A role's new position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RolePosition {
    /// The role.
    pub id: RoleId,
    /// Its position.
    pub position: u32,
}

/// Roles were reordered; carries every role whose position changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RolePositionsUpdated {
    /// The new positions.
    pub positions: Vec<RolePosition>,
}
