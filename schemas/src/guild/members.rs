//! Members and bans.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{RoleId, UserId};
use crate::message::UserSnapshot;

/// Longest nickname, in characters (at least 1).
pub const MAX_NICK_CHARS: usize = 32;

/// Longest timeout from now, in seconds (28 days).
pub const MAX_TIMEOUT_SECONDS: i64 = 28 * 24 * 60 * 60;

/// Longest history a ban may purge, in seconds (7 days).
pub const MAX_BAN_DELETE_SECONDS: u32 = 604_800;

/// A user joined the guild (through an invite).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MemberJoined {
    /// The user as they were when joining.
    pub user: UserSnapshot,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String")]
    pub joined_at: OffsetDateTime,
    /// The invite used; its use count goes up by one.
    pub invite_code: Option<String>,
}

/// A member left the guild of their own accord.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MemberLeft {
    /// The user.
    pub user_id: UserId,
}

/// A member was removed by a moderator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MemberKicked {
    /// The user.
    pub user_id: UserId,
}

/// A user was banned (and, if a member, removed). Their messages sent in the last
/// `delete_message_seconds` before the ban are deleted with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MemberBanned {
    /// The user.
    pub user_id: UserId,
    /// The user as known to the guild, when they were a member.
    pub user: Option<UserSnapshot>,
    /// Why (the `X-Audit-Log-Reason` header).
    pub reason: Option<String>,
    /// How far back their messages are deleted, in seconds (0 to 604800).
    pub delete_message_seconds: u32,
    /// When the ban happened (the purge window ends here).
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String")]
    pub banned_at: OffsetDateTime,
}

/// A ban was lifted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MemberUnbanned {
    /// The user.
    pub user_id: UserId,
}

/// A member's guild profile changed; carries all of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MemberUpdated {
    /// The user.
    pub user_id: UserId,
    /// Their nickname.
    pub nick: Option<String>,
    /// Their roles (without `@everyone`).
    pub roles: Vec<RoleId>,
    /// Until when they are timed out.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>")]
    pub communication_disabled_until: Option<OffsetDateTime>,
    /// Server-muted in voice.
    pub mute: bool,
    /// Server-deafened in voice.
    pub deaf: bool,
}
