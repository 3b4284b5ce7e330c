//! Discord's permission model, as pure functions over plain data.
//!
//! The source of truth is Discord's "Permissions" topic
//! (`developers/topics/permissions.mdx`); this module follows it step by step and says
//! where it had to choose.
//!
//! # The model
//!
//! A [`Permissions`] value is a 64-bit set of flags, one per row of Discord's "Bitwise
//! Permission Flags" table. It travels as a decimal string (`"2147483648"`) and keeps
//! bits it does not know, so a flag Discord adds later survives a round trip through
//! our events and projections.
//!
//! A member's permissions in a channel are computed in the documented order
//! ("Permission Overwrites"):
//!
//! 1. base permissions given to `@everyone` (guild level);
//! 2. OR'ed with the permissions of every role the member has (guild level) — the
//!    guild owner, and anyone whose result contains `ADMINISTRATOR`, instead gets ALL
//!    and skips every later step;
//! 3. the channel's `@everyone` overwrite denies, then
//! 4. it allows;
//! 5. the overwrites of all the member's roles, combined, deny, then
//! 6. they allow — so between roles an allow beats a deny, whatever the roles'
//!    positions;
//! 7. the member's own overwrite denies, then
//! 8. it allows.
//!
//! Steps 1–2 are [`base_permissions`], 3–8 are [`overwrite_permissions`]. On top of
//! the pseudocode, [`channel_permissions`] applies what the page describes in prose:
//!
//! * **Timeouts** ("Permissions For Timed Out Members"): a member whose
//!   `communication_disabled_until` lies in the future keeps only `VIEW_CHANNEL` and
//!   `READ_MESSAGE_HISTORY`, unless they are the owner or an `ADMINISTRATOR`.
//!   [`guild_permissions`] applies the same rule to guild-wide actions (kick, ban, …).
//! * **Implicit permissions**: without `VIEW_CHANNEL` a member has no permission in
//!   the channel; without `SEND_MESSAGES` the permissions that only qualify sending
//!   ([`SEND_MESSAGES_DEPENDENTS`]) are ignored.
//!
//! The role hierarchy ("Permission Hierarchy") — who may assign, edit or sort which
//! role, and kick, ban or rename whom — is [`RoleRank`], [`highest_role`] and
//! [`can_manage`].
//!
//! # Calling contract
//!
//! Nothing here does I/O or reads a clock: the caller passes what the guild aggregate
//! knows ([`GuildView`], [`MemberView`], the channel's overwrites) and, where a timeout
//! matters, `now_ms`. "ALL" in Discord's pseudocode is [`Permissions::all()`]: every
//! flag this module knows. Unknown bits pass through the bitwise steps unchanged but
//! are never part of ALL, so authorization checks must only test known flags.
//!
//! # Not covered here
//!
//! * Threads use their parent's overwrites but need `SEND_MESSAGES_IN_THREADS` instead
//!   of `SEND_MESSAGES`; that substitution belongs to the caller, which knows the
//!   channel type.
//! * The voice rule "denying `CONNECT` implicitly denies other permissions such as
//!   `MANAGE_CHANNEL`" names no complete list, so it is not guessed at.
//! * The two-factor requirement on the flags marked `*` in Discord's table depends on
//!   the guild's MFA level and the actor's account, not on this calculation.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::BuildHasher;

use bitflags::bitflags;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::{GuildId, RoleId, Snowflake, UserId};

bitflags! {
    /// A set of Discord permission flags (the "Bitwise Permission Flags" table).
    ///
    /// Serialized as a decimal string, as Discord's API v8+ does; accepted as a string
    /// or an unsigned integer. Bits without a name here are kept (use
    /// [`Permissions::from_bits_retain`] / [`Permissions::bits`]), so flags Discord adds
    /// later are not lost.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct Permissions: u64 {
        /// Allows creation of instant invites.
        const CREATE_INSTANT_INVITE = 1 << 0;
        /// Allows kicking members.
        const KICK_MEMBERS = 1 << 1;
        /// Allows banning members.
        const BAN_MEMBERS = 1 << 2;
        /// Allows all permissions and bypasses channel permission overwrites.
        const ADMINISTRATOR = 1 << 3;
        /// Allows management and editing of channels.
        const MANAGE_CHANNELS = 1 << 4;
        /// Allows management and editing of the guild.
        const MANAGE_GUILD = 1 << 5;
        /// Allows adding new reactions to messages (not reacting with an existing one).
        const ADD_REACTIONS = 1 << 6;
        /// Allows viewing the audit log.
        const VIEW_AUDIT_LOG = 1 << 7;
        /// Allows using priority speaker in a voice channel.
        const PRIORITY_SPEAKER = 1 << 8;
        /// Allows the user to go live.
        const STREAM = 1 << 9;
        /// Allows viewing a channel: reading messages in text channels, joining voice.
        const VIEW_CHANNEL = 1 << 10;
        /// Allows sending messages in a channel and creating threads in a forum.
        const SEND_MESSAGES = 1 << 11;
        /// Allows sending `/tts` messages.
        const SEND_TTS_MESSAGES = 1 << 12;
        /// Allows deleting other users' messages.
        const MANAGE_MESSAGES = 1 << 13;
        /// Links sent by users with this permission are auto-embedded.
        const EMBED_LINKS = 1 << 14;
        /// Allows uploading images and files.
        const ATTACH_FILES = 1 << 15;
        /// Allows reading message history.
        const READ_MESSAGE_HISTORY = 1 << 16;
        /// Allows `@everyone` (all users in a channel) and `@here` (online users).
        const MENTION_EVERYONE = 1 << 17;
        /// Allows using custom emojis from other servers.
        const USE_EXTERNAL_EMOJIS = 1 << 18;
        /// Allows viewing guild insights.
        const VIEW_GUILD_INSIGHTS = 1 << 19;
        /// Allows joining a voice channel.
        const CONNECT = 1 << 20;
        /// Allows speaking in a voice channel.
        const SPEAK = 1 << 21;
        /// Allows muting members in a voice channel.
        const MUTE_MEMBERS = 1 << 22;
        /// Allows deafening members in a voice channel.
        const DEAFEN_MEMBERS = 1 << 23;
        /// Allows moving members between voice channels.
        const MOVE_MEMBERS = 1 << 24;
        /// Allows using voice-activity detection in a voice channel.
        const USE_VAD = 1 << 25;
        /// Allows changing one's own nickname.
        const CHANGE_NICKNAME = 1 << 26;
        /// Allows changing other users' nicknames.
        const MANAGE_NICKNAMES = 1 << 27;
        /// Allows managing and editing roles ("Manage Permissions" on a channel).
        const MANAGE_ROLES = 1 << 28;
        /// Allows managing and editing webhooks.
        const MANAGE_WEBHOOKS = 1 << 29;
        /// Allows editing and deleting emojis, stickers and soundboard sounds by anyone.
        const MANAGE_GUILD_EXPRESSIONS = 1 << 30;
        /// Allows using application commands (slash and context-menu commands).
        const USE_APPLICATION_COMMANDS = 1 << 31;
        /// Allows requesting to speak in stage channels.
        const REQUEST_TO_SPEAK = 1 << 32;
        /// Allows editing and deleting scheduled events created by anyone.
        const MANAGE_EVENTS = 1 << 33;
        /// Allows deleting and archiving threads, and viewing all private threads.
        const MANAGE_THREADS = 1 << 34;
        /// Allows creating public and announcement threads.
        const CREATE_PUBLIC_THREADS = 1 << 35;
        /// Allows creating private threads.
        const CREATE_PRIVATE_THREADS = 1 << 36;
        /// Allows using custom stickers from other servers.
        const USE_EXTERNAL_STICKERS = 1 << 37;
        /// Allows sending messages in threads.
        const SEND_MESSAGES_IN_THREADS = 1 << 38;
        /// Allows using Activities (applications with the `EMBEDDED` flag).
        const USE_EMBEDDED_ACTIVITIES = 1 << 39;
        /// Allows timing out users ("Timeout Members").
        const MODERATE_MEMBERS = 1 << 40;
        /// Allows viewing role subscription insights.
        const VIEW_CREATOR_MONETIZATION_ANALYTICS = 1 << 41;
        /// Allows using the soundboard in a voice channel.
        const USE_SOUNDBOARD = 1 << 42;
        /// Allows creating emojis, stickers and soundboard sounds, and editing one's own.
        const CREATE_GUILD_EXPRESSIONS = 1 << 43;
        /// Allows creating scheduled events, and editing and deleting one's own.
        const CREATE_EVENTS = 1 << 44;
        /// Allows using custom soundboard sounds from other servers.
        const USE_EXTERNAL_SOUNDS = 1 << 45;
        /// Allows sending voice messages.
        const SEND_VOICE_MESSAGES = 1 << 46;
        // Bit 47 is not assigned in Discord's table.
        /// Allows setting a voice channel's status.
        const SET_VOICE_CHANNEL_STATUS = 1 << 48;
        /// Allows sending polls.
        const SEND_POLLS = 1 << 49;
        /// Allows user-installed apps to send public (not only ephemeral) responses.
        const USE_EXTERNAL_APPS = 1 << 50;
        /// Allows pinning and unpinning messages.
        const PIN_MESSAGES = 1 << 51;
        /// Allows bypassing slowmode.
        const BYPASS_SLOWMODE = 1 << 52;
    }
}

/// What a timed-out member keeps ("Permissions For Timed Out Members").
pub const TIMED_OUT_PERMISSIONS: Permissions =
    Permissions::VIEW_CHANNEL.union(Permissions::READ_MESSAGE_HISTORY);

/// What is ignored without `SEND_MESSAGES` ("Implicit Permissions"): the permissions
/// that only qualify how a message is sent.
pub const SEND_MESSAGES_DEPENDENTS: Permissions = Permissions::MENTION_EVERYONE
    .union(Permissions::SEND_TTS_MESSAGES)
    .union(Permissions::ATTACH_FILES)
    .union(Permissions::EMBED_LINKS);

impl schemars::JsonSchema for Permissions {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Permissions".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9]{1,20}$",
            "description": "A permission bit set as a decimal string, as in Discord's API"
        })
    }
}

impl Serialize for Permissions {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.bits())
    }
}

impl<'de> Deserialize<'de> for Permissions {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PermissionsVisitor;

        impl Visitor<'_> for PermissionsVisitor {
            type Value = Permissions;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a permission bit set as a decimal string or an unsigned integer")
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Permissions, E> {
                Ok(Permissions::from_bits_retain(v))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Permissions, E> {
                u64::try_from(v)
                    .map(Permissions::from_bits_retain)
                    .map_err(|_| E::custom(format!("{v} is not a permission bit set")))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Permissions, E> {
                v.parse().map(Permissions::from_bits_retain).map_err(|_| {
                    E::custom(format!(
                        "{v:?} is not a permission bit set (a decimal 64-bit unsigned integer)"
                    ))
                })
            }
        }

        deserializer.deserialize_any(PermissionsVisitor)
    }
}

/// Whom a [`PermissionOverwrite`] targets; Discord's integer `type` (0 or 1).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, schemars::JsonSchema)]
#[serde(try_from = "u8", into = "u8")]
pub enum OverwriteKind {
    /// A role (`0`); the guild's ID here means `@everyone`.
    Role,
    /// A single member (`1`).
    Member,
}

/// An overwrite `type` other than 0 (role) or 1 (member).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("overwrite type must be 0 (role) or 1 (member), got {0}")]
pub struct InvalidOverwriteKind(pub u8);

impl From<OverwriteKind> for u8 {
    fn from(kind: OverwriteKind) -> Self {
        match kind {
            OverwriteKind::Role => 0,
            OverwriteKind::Member => 1,
        }
    }
}

impl TryFrom<u8> for OverwriteKind {
    type Error = InvalidOverwriteKind;

    fn try_from(value: u8) -> Result<Self, Self::Error> {
        match value {
            0 => Ok(Self::Role),
            1 => Ok(Self::Member),
            other => Err(InvalidOverwriteKind(other)),
        }
    }
}

/// A channel's permission overwrite for one role or member, in Discord's JSON shape
/// (`{"id", "type", "allow", "deny"}`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub struct PermissionOverwrite {
    /// The role's or the member's ID, as [`OverwriteKind`] says.
    pub id: Snowflake,
    /// Whether `id` is a role or a member.
    #[serde(rename = "type")]
    pub kind: OverwriteKind,
    /// Permissions granted in the channel.
    pub allow: Permissions,
    /// Permissions taken away in the channel (applied before `allow`).
    pub deny: Permissions,
}

impl PermissionOverwrite {
    /// An overwrite for a role (for `@everyone`, pass [`GuildId::everyone_role`]).
    pub const fn role(role: RoleId, allow: Permissions, deny: Permissions) -> Self {
        Self {
            id: role.0,
            kind: OverwriteKind::Role,
            allow,
            deny,
        }
    }

    /// An overwrite for one member.
    pub const fn member(user: UserId, allow: Permissions, deny: Permissions) -> Self {
        Self {
            id: user.0,
            kind: OverwriteKind::Member,
            allow,
            deny,
        }
    }
}

/// Looks up a role's guild-level permissions for [`GuildView`].
///
/// Implemented for maps keyed by [`RoleId`] and for closures, so a guild aggregate that
/// keeps richer role records can pass `&|id: RoleId| roles.get(&id).map(|r| r.permissions)`.
pub trait RoleLookup {
    /// The guild-level permissions of `role`, or `None` if the guild has no such role.
    fn role_permissions(&self, role: RoleId) -> Option<Permissions>;
}

impl<S: BuildHasher> RoleLookup for HashMap<RoleId, Permissions, S> {
    fn role_permissions(&self, role: RoleId) -> Option<Permissions> {
        self.get(&role).copied()
    }
}

impl RoleLookup for BTreeMap<RoleId, Permissions> {
    fn role_permissions(&self, role: RoleId) -> Option<Permissions> {
        self.get(&role).copied()
    }
}

impl<F: Fn(RoleId) -> Option<Permissions>> RoleLookup for F {
    fn role_permissions(&self, role: RoleId) -> Option<Permissions> {
        self(role)
    }
}

/// What the calculation needs to know about a guild.
#[derive(Clone, Copy)]
pub struct GuildView<'a> {
    /// The guild, whose ID is also its `@everyone` role's ID.
    pub guild_id: GuildId,
    /// The guild's owner, who has every permission.
    pub owner_id: UserId,
    /// The guild's roles, including `@everyone`. A missing `@everyone` counts as no
    /// permissions; a member's role the guild no longer has contributes nothing.
    pub role_permissions: &'a dyn RoleLookup,
}

/// What the calculation needs to know about a member of that guild.
#[derive(Debug, Clone, Copy)]
pub struct MemberView<'a> {
    /// The member's user.
    pub user_id: UserId,
    /// The member's roles. `@everyone` is implied; listing it changes nothing.
    pub roles: &'a [RoleId],
    /// When the member's timeout ends, in Unix milliseconds; `None` if never timed out.
    pub communication_disabled_until_ms: Option<u64>,
}

impl MemberView<'_> {
    /// Whether the member is timed out at `now_ms`: only while the end lies in the
    /// future (Discord: "null or a time in the past if the user is not timed out").
    pub fn is_timed_out(&self, now_ms: u64) -> bool {
        self.communication_disabled_until_ms
            .is_some_and(|until| until > now_ms)
    }
}

/// The member's guild-level permissions (steps 1–2): ALL for the owner, otherwise
/// `@everyone`'s permissions OR'ed with each of the member's roles', and ALL if that
/// contains `ADMINISTRATOR`.
///
/// This is the raw step of Discord's pseudocode, without timeouts; to authorize a
/// guild-wide action use [`guild_permissions`].
pub fn base_permissions(guild: &GuildView<'_>, member: &MemberView<'_>) -> Permissions {
    if member.user_id == guild.owner_id {
        return Permissions::all();
    }
    let everyone = guild
        .role_permissions
        .role_permissions(guild.guild_id.everyone_role())
        .unwrap_or_default();
    let permissions = member
        .roles
        .iter()
        .filter_map(|&role| guild.role_permissions.role_permissions(role))
        .fold(everyone, Permissions::union);
    if permissions.contains(Permissions::ADMINISTRATOR) {
        return Permissions::all();
    }
    permissions
}

/// Applies a channel's overwrites to `base` (steps 3–8 of Discord's pseudocode):
/// `@everyone`'s deny then allow; the member's roles' overwrites combined, deny then
/// allow; the member's own deny then allow. `ADMINISTRATOR` in `base` yields ALL.
///
/// An overwrite counts only with the right [`OverwriteKind`]. Should a slice hold
/// several overwrites for the same target, they are combined like role overwrites, so
/// the result never depends on the order of `overwrites`.
pub fn overwrite_permissions(
    base: Permissions,
    guild_id: GuildId,
    member: &MemberView<'_>,
    overwrites: &[PermissionOverwrite],
) -> Permissions {
    if base.contains(Permissions::ADMINISTRATOR) {
        return Permissions::all();
    }
    let everyone = guild_id.everyone_role().0;
    let holds_role = |id: Snowflake| member.roles.iter().any(|role| role.0 == id);

    let everyone_layer = Layer::combine(overwrites, OverwriteKind::Role, |id| id == everyone);
    // `@everyone` was applied above; letting it join the role layer again (if a caller
    // lists it among the member's roles) would let its allows beat the roles' denies.
    let roles_layer = Layer::combine(overwrites, OverwriteKind::Role, |id| {
        id != everyone && holds_role(id)
    });
    let member_layer = Layer::combine(overwrites, OverwriteKind::Member, |id| {
        id == member.user_id.0
    });

    [everyone_layer, roles_layer, member_layer]
        .into_iter()
        .fold(base, |permissions, layer| layer.apply(permissions))
}

/// The member's effective permissions in a channel with `overwrites`, at `now_ms`:
/// [`base_permissions`], then [`overwrite_permissions`], then the timeout rule (only
/// [`TIMED_OUT_PERMISSIONS`] remain, unless owner or `ADMINISTRATOR`), then the
/// implicit rules (nothing without `VIEW_CHANNEL`; no [`SEND_MESSAGES_DEPENDENTS`]
/// without `SEND_MESSAGES`).
pub fn channel_permissions(
    guild: &GuildView<'_>,
    member: &MemberView<'_>,
    overwrites: &[PermissionOverwrite],
    now_ms: u64,
) -> Permissions {
    let base = base_permissions(guild, member);
    let permissions = overwrite_permissions(base, guild.guild_id, member, overwrites);
    let permissions = apply_timeout(base, permissions, member, now_ms);
    apply_implicit_denials(permissions)
}

/// The member's permissions for guild-wide actions (kick, ban, manage roles, …) at
/// `now_ms`: [`base_permissions`] with the timeout rule applied.
pub fn guild_permissions(
    guild: &GuildView<'_>,
    member: &MemberView<'_>,
    now_ms: u64,
) -> Permissions {
    let base = base_permissions(guild, member);
    apply_timeout(base, base, member, now_ms)
}

/// One stage of overwrites: everything it denies goes, then everything it allows comes.
#[derive(Clone, Copy, Default)]
struct Layer {
    allow: Permissions,
    deny: Permissions,
}

impl Layer {
    /// All overwrites of `kind` whose ID `matches`, OR'ed together.
    fn combine(
        overwrites: &[PermissionOverwrite],
        kind: OverwriteKind,
        matches: impl Fn(Snowflake) -> bool,
    ) -> Self {
        overwrites
            .iter()
            .filter(|overwrite| overwrite.kind == kind && matches(overwrite.id))
            .fold(Self::default(), |layer, overwrite| Self {
                allow: layer.allow.union(overwrite.allow),
                deny: layer.deny.union(overwrite.deny),
            })
    }

    fn apply(self, permissions: Permissions) -> Permissions {
        // `difference`/`union` work on raw bits, so unknown bits are kept as well.
        permissions.difference(self.deny).union(self.allow)
    }
}

/// "Timed out members will temporarily lose all permissions except `VIEW_CHANNEL` and
/// `READ_MESSAGE_HISTORY`. Owners and admin users with `ADMINISTRATOR` permissions are
/// exempt." Both exemptions show in `base`, which is ALL (and so has `ADMINISTRATOR`)
/// for the owner and for administrators.
fn apply_timeout(
    base: Permissions,
    permissions: Permissions,
    member: &MemberView<'_>,
    now_ms: u64,
) -> Permissions {
    if member.is_timed_out(now_ms) && !base.contains(Permissions::ADMINISTRATOR) {
        permissions.intersection(TIMED_OUT_PERMISSIONS)
    } else {
        permissions
    }
}

/// The "Implicit Permissions" rules for `VIEW_CHANNEL` and `SEND_MESSAGES`.
fn apply_implicit_denials(permissions: Permissions) -> Permissions {
    if !permissions.contains(Permissions::VIEW_CHANNEL) {
        Permissions::empty()
    } else if !permissions.contains(Permissions::SEND_MESSAGES) {
        permissions.difference(SEND_MESSAGES_DEPENDENTS)
    } else {
        permissions
    }
}

/// A role's place in the guild's role hierarchy; a greater `RoleRank` is a higher role.
///
/// Roles compare by `position`; equal positions are broken by ID, the older (smaller)
/// ID ranking higher. `@everyone` ranks below every other role, even one whose
/// position is also 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoleRank {
    // Field order is the comparison order of the derived `Ord`.
    above_everyone: bool,
    position: u32,
    older_first: Reverse<RoleId>,
}

impl RoleRank {
    /// The rank of `role` at `position` in the guild `guild_id`.
    pub const fn new(guild_id: GuildId, role: RoleId, position: u32) -> Self {
        Self {
            above_everyone: role.get() != guild_id.everyone_role().get(),
            position,
            older_first: Reverse(role),
        }
    }

    /// The rank of the guild's `@everyone` role, the lowest (position 0).
    pub const fn everyone(guild_id: GuildId) -> Self {
        Self::new(guild_id, guild_id.everyone_role(), 0)
    }

    /// The ranked role.
    pub const fn role(self) -> RoleId {
        self.older_first.0
    }

    /// The role's position.
    pub const fn position(self) -> u32 {
        self.position
    }
}

/// A member's highest role: the greatest of `roles` (the ranks of the member's roles),
/// or `@everyone` if there are none.
pub fn highest_role(guild_id: GuildId, roles: impl IntoIterator<Item = RoleRank>) -> RoleRank {
    roles
        .into_iter()
        .fold(RoleRank::everyone(guild_id), RoleRank::max)
}

/// The "Permission Hierarchy" check: whether an actor whose highest role is
/// `actor_top` may act on `target`, which must rank strictly lower. The guild owner
/// may act on any role.
///
/// `target` is the role itself when assigning, editing or sorting a role, and the
/// target member's [`highest_role`] when kicking, banning or renaming a member. This
/// checks only the hierarchy: the caller still checks the permission itself
/// (`MANAGE_ROLES`, `KICK_MEMBERS`, …, from [`guild_permissions`]), that a role edit
/// grants only permissions the actor has, and that the target member is not the
/// owner (whom nobody outranks).
pub fn can_manage(actor_is_owner: bool, actor_top: RoleRank, target: RoleRank) -> bool {
    actor_is_owner || actor_top > target
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::{
        GuildView, MemberView, OverwriteKind, PermissionOverwrite, Permissions, RoleRank,
        base_permissions, can_manage, channel_permissions, guild_permissions, highest_role,
        overwrite_permissions,
    };
    use crate::ids::{GuildId, RoleId, Snowflake, UserId};

    const GUILD: GuildId = GuildId::new(100);
    const EVERYONE: RoleId = GUILD.everyone_role();
    const OWNER: UserId = UserId::new(1);
    const ALICE: UserId = UserId::new(2);
    const BOB: UserId = UserId::new(3);
    const HELPERS: RoleId = RoleId::new(10);
    const MUTED: RoleId = RoleId::new(11);
    const ADMINS: RoleId = RoleId::new(12);
    const GONE: RoleId = RoleId::new(13);
    const NOW: u64 = 1_700_000_000_000;

    const NONE: Permissions = Permissions::empty();
    const ALL: Permissions = Permissions::all();
    const VIEW: Permissions = Permissions::VIEW_CHANNEL;
    const SEND: Permissions = Permissions::SEND_MESSAGES;
    const HISTORY: Permissions = Permissions::READ_MESSAGE_HISTORY;
    const REACT: Permissions = Permissions::ADD_REACTIONS;
    const ATTACH: Permissions = Permissions::ATTACH_FILES;
    const EMBED: Permissions = Permissions::EMBED_LINKS;
    const MENTION: Permissions = Permissions::MENTION_EVERYONE;
    const TTS: Permissions = Permissions::SEND_TTS_MESSAGES;
    const KICK: Permissions = Permissions::KICK_MEMBERS;
    const MANAGE_MESSAGES: Permissions = Permissions::MANAGE_MESSAGES;
    const ADMIN: Permissions = Permissions::ADMINISTRATOR;
    const CHATTER: Permissions = VIEW.union(SEND).union(HISTORY);
    const SENDING_EXTRAS: Permissions = ATTACH.union(EMBED).union(MENTION).union(TTS);

    /// One row: a guild (`@everyone` plus `roles`), a member, a channel's overwrites,
    /// and the permissions the rule under test should produce.
    struct Scenario<'a> {
        name: &'static str,
        everyone: Permissions,
        roles: &'a [(RoleId, Permissions)],
        member: UserId,
        member_roles: &'a [RoleId],
        timed_out_until_ms: Option<u64>,
        overwrites: &'a [PermissionOverwrite],
        expected: Permissions,
    }

    /// A member with no roles in a guild where everyone may chat; rows override fields.
    const DEFAULT: Scenario<'static> = Scenario {
        name: "",
        everyone: CHATTER,
        roles: &[
            (HELPERS, REACT.union(MANAGE_MESSAGES)),
            (MUTED, NONE),
            (ADMINS, ADMIN),
        ],
        member: ALICE,
        member_roles: &[],
        timed_out_until_ms: None,
        overwrites: &[],
        expected: NONE,
    };

    type Calculation = fn(&GuildView<'_>, &MemberView<'_>, &[PermissionOverwrite]) -> Permissions;

    fn run(rows: &[Scenario<'_>], calculation: Calculation) {
        for row in rows {
            let mut roles: HashMap<RoleId, Permissions> = row.roles.iter().copied().collect();
            roles.insert(EVERYONE, row.everyone);
            let guild = GuildView {
                guild_id: GUILD,
                owner_id: OWNER,
                role_permissions: &roles,
            };
            let member = MemberView {
                user_id: row.member,
                roles: row.member_roles,
                communication_disabled_until_ms: row.timed_out_until_ms,
            };
            let actual = calculation(&guild, &member, row.overwrites);
            assert_eq!(actual, row.expected, "scenario {:?}", row.name);
        }
    }

    fn base(
        guild: &GuildView<'_>,
        member: &MemberView<'_>,
        _: &[PermissionOverwrite],
    ) -> Permissions {
        base_permissions(guild, member)
    }

    fn overwritten(
        guild: &GuildView<'_>,
        member: &MemberView<'_>,
        overwrites: &[PermissionOverwrite],
    ) -> Permissions {
        overwrite_permissions(
            base_permissions(guild, member),
            guild.guild_id,
            member,
            overwrites,
        )
    }

    fn in_channel(
        guild: &GuildView<'_>,
        member: &MemberView<'_>,
        overwrites: &[PermissionOverwrite],
    ) -> Permissions {
        channel_permissions(guild, member, overwrites, NOW)
    }

    fn guild_wide(
        guild: &GuildView<'_>,
        member: &MemberView<'_>,
        _: &[PermissionOverwrite],
    ) -> Permissions {
        guild_permissions(guild, member, NOW)
    }

    const fn everyone_overwrite(allow: Permissions, deny: Permissions) -> PermissionOverwrite {
        PermissionOverwrite::role(EVERYONE, allow, deny)
    }

    #[test]
    fn base_permissions_are_everyone_ored_with_the_members_roles() {
        run(
            &[
                Scenario {
                    name: "@everyone base only",
                    expected: CHATTER,
                    ..DEFAULT
                },
                Scenario {
                    name: "roles are OR'ed onto @everyone",
                    member_roles: &[HELPERS, MUTED],
                    expected: CHATTER.union(REACT).union(MANAGE_MESSAGES),
                    ..DEFAULT
                },
                Scenario {
                    name: "a role can only add, never remove, at guild level",
                    everyone: CHATTER,
                    roles: &[(MUTED, NONE)],
                    member_roles: &[MUTED],
                    expected: CHATTER,
                    ..DEFAULT
                },
                Scenario {
                    name: "a role the guild no longer has contributes nothing",
                    member_roles: &[GONE],
                    expected: CHATTER,
                    ..DEFAULT
                },
                Scenario {
                    name: "@everyone without permissions leaves only the roles' permissions",
                    everyone: NONE,
                    member_roles: &[HELPERS],
                    expected: REACT.union(MANAGE_MESSAGES),
                    ..DEFAULT
                },
            ],
            base,
        );
    }

    #[test]
    fn owner_gets_all_permissions_even_against_deny_overwrites() {
        run(
            &[
                Scenario {
                    name: "owner with no permissions anywhere gets ALL at guild level",
                    everyone: NONE,
                    member: OWNER,
                    expected: ALL,
                    ..DEFAULT
                },
                Scenario {
                    name: "owner keeps ALL in a channel denying @everyone and the owner",
                    member: OWNER,
                    overwrites: &[
                        everyone_overwrite(NONE, ALL),
                        PermissionOverwrite::member(OWNER, NONE, ALL),
                    ],
                    expected: ALL,
                    ..DEFAULT
                },
            ],
            in_channel,
        );
    }

    #[test]
    fn administrator_gets_all_and_ignores_overwrites() {
        run(
            &[
                Scenario {
                    name: "ADMINISTRATOR from a role yields ALL",
                    member_roles: &[ADMINS],
                    expected: ALL,
                    ..DEFAULT
                },
                Scenario {
                    name: "ADMINISTRATOR on @everyone yields ALL for everyone",
                    everyone: ADMIN,
                    expected: ALL,
                    ..DEFAULT
                },
                Scenario {
                    name: "administrator keeps ALL against @everyone, role and member denies",
                    member_roles: &[ADMINS],
                    overwrites: &[
                        everyone_overwrite(NONE, ALL),
                        PermissionOverwrite::role(ADMINS, NONE, ALL),
                        PermissionOverwrite::member(ALICE, NONE, ALL),
                    ],
                    expected: ALL,
                    ..DEFAULT
                },
            ],
            in_channel,
        );
    }

    #[test]
    fn overwrites_apply_everyone_then_roles_then_member_each_deny_before_allow() {
        run(
            &[
                Scenario {
                    name: "@everyone overwrite denies",
                    overwrites: &[everyone_overwrite(NONE, SEND)],
                    expected: VIEW.union(HISTORY),
                    ..DEFAULT
                },
                Scenario {
                    name: "@everyone overwrite allows",
                    overwrites: &[everyone_overwrite(REACT, NONE)],
                    expected: CHATTER.union(REACT),
                    ..DEFAULT
                },
                Scenario {
                    name: "@everyone overwrite denying and allowing one bit allows it",
                    overwrites: &[everyone_overwrite(SEND, SEND)],
                    expected: CHATTER,
                    ..DEFAULT
                },
                Scenario {
                    name: "role overwrite allow beats @everyone overwrite deny",
                    member_roles: &[HELPERS],
                    overwrites: &[
                        everyone_overwrite(NONE, SEND),
                        PermissionOverwrite::role(HELPERS, SEND, NONE),
                    ],
                    expected: CHATTER.union(REACT).union(MANAGE_MESSAGES),
                    ..DEFAULT
                },
                Scenario {
                    name: "role overwrite deny beats @everyone overwrite allow",
                    member_roles: &[MUTED],
                    overwrites: &[
                        everyone_overwrite(REACT, NONE),
                        PermissionOverwrite::role(MUTED, NONE, REACT.union(SEND)),
                    ],
                    expected: VIEW.union(HISTORY),
                    ..DEFAULT
                },
                Scenario {
                    name: "across two roles, allow beats deny of the same bit",
                    member_roles: &[MUTED, HELPERS],
                    overwrites: &[
                        PermissionOverwrite::role(MUTED, NONE, SEND),
                        PermissionOverwrite::role(HELPERS, SEND, NONE),
                    ],
                    expected: CHATTER.union(REACT).union(MANAGE_MESSAGES),
                    ..DEFAULT
                },
                Scenario {
                    name: "across two roles, allow beats deny in either order",
                    member_roles: &[HELPERS, MUTED],
                    overwrites: &[
                        PermissionOverwrite::role(HELPERS, SEND, NONE),
                        PermissionOverwrite::role(MUTED, NONE, SEND),
                    ],
                    expected: CHATTER.union(REACT).union(MANAGE_MESSAGES),
                    ..DEFAULT
                },
                Scenario {
                    name: "member overwrite deny beats role overwrite allow",
                    member_roles: &[HELPERS],
                    overwrites: &[
                        PermissionOverwrite::role(HELPERS, ATTACH, NONE),
                        PermissionOverwrite::member(ALICE, NONE, ATTACH.union(MANAGE_MESSAGES)),
                    ],
                    expected: CHATTER.union(REACT),
                    ..DEFAULT
                },
                Scenario {
                    name: "member overwrite allow beats role overwrite deny",
                    member_roles: &[MUTED],
                    overwrites: &[
                        PermissionOverwrite::role(MUTED, NONE, SEND),
                        PermissionOverwrite::member(ALICE, SEND, NONE),
                    ],
                    expected: CHATTER,
                    ..DEFAULT
                },
                Scenario {
                    name: "overwrites for a role the member lacks or another member are ignored",
                    overwrites: &[
                        PermissionOverwrite::role(MUTED, NONE, SEND),
                        PermissionOverwrite::member(BOB, NONE, VIEW),
                    ],
                    expected: CHATTER,
                    ..DEFAULT
                },
                Scenario {
                    name: "a member overwrite whose ID is a held role does not apply as a role",
                    member_roles: &[MUTED],
                    overwrites: &[PermissionOverwrite {
                        id: MUTED.0,
                        kind: OverwriteKind::Member,
                        allow: NONE,
                        deny: SEND,
                    }],
                    expected: CHATTER,
                    ..DEFAULT
                },
                Scenario {
                    name: "@everyone listed among the member's roles is not applied twice",
                    member_roles: &[EVERYONE, MUTED],
                    overwrites: &[
                        everyone_overwrite(REACT, NONE),
                        PermissionOverwrite::role(MUTED, NONE, REACT),
                    ],
                    expected: CHATTER,
                    ..DEFAULT
                },
                Scenario {
                    name: "unknown bits pass through overwrites",
                    overwrites: &[everyone_overwrite(
                        Permissions::from_bits_retain(1 << 60),
                        NONE,
                    )],
                    expected: CHATTER.union(Permissions::from_bits_retain(1 << 60)),
                    ..DEFAULT
                },
            ],
            overwritten,
        );
    }

    #[test]
    fn without_view_channel_a_member_has_no_permissions_in_the_channel() {
        run(
            &[
                Scenario {
                    name: "@everyone denied VIEW_CHANNEL while SEND_MESSAGES stays allowed",
                    overwrites: &[everyone_overwrite(SEND, VIEW)],
                    expected: NONE,
                    ..DEFAULT
                },
                Scenario {
                    name: "member denied VIEW_CHANNEL despite role extras",
                    member_roles: &[HELPERS],
                    overwrites: &[PermissionOverwrite::member(ALICE, NONE, VIEW)],
                    expected: NONE,
                    ..DEFAULT
                },
                Scenario {
                    name: "no VIEW_CHANNEL at guild level and none granted in the channel",
                    everyone: SEND.union(HISTORY),
                    expected: NONE,
                    ..DEFAULT
                },
                Scenario {
                    name: "a channel overwrite can grant VIEW_CHANNEL the guild lacks",
                    everyone: SEND.union(HISTORY),
                    overwrites: &[PermissionOverwrite::member(ALICE, VIEW, NONE)],
                    expected: CHATTER,
                    ..DEFAULT
                },
            ],
            in_channel,
        );
    }

    #[test]
    fn without_send_messages_the_sending_extras_are_ignored() {
        run(
            &[
                Scenario {
                    name: "SEND_MESSAGES denied drops mention, TTS, attach and embed",
                    everyone: CHATTER.union(SENDING_EXTRAS).union(REACT),
                    overwrites: &[everyone_overwrite(NONE, SEND)],
                    expected: VIEW.union(HISTORY).union(REACT),
                    ..DEFAULT
                },
                Scenario {
                    name: "extras allowed by an overwrite still need SEND_MESSAGES",
                    everyone: VIEW,
                    overwrites: &[everyone_overwrite(SENDING_EXTRAS, NONE)],
                    expected: VIEW,
                    ..DEFAULT
                },
                Scenario {
                    name: "with SEND_MESSAGES the extras remain",
                    everyone: CHATTER.union(SENDING_EXTRAS),
                    expected: CHATTER.union(SENDING_EXTRAS),
                    ..DEFAULT
                },
            ],
            in_channel,
        );
    }

    #[test]
    fn timed_out_members_keep_only_view_channel_and_read_message_history() {
        run(
            &[
                Scenario {
                    name: "timed-out member keeps only VIEW_CHANNEL and READ_MESSAGE_HISTORY",
                    everyone: CHATTER.union(SENDING_EXTRAS),
                    member_roles: &[HELPERS],
                    timed_out_until_ms: Some(NOW + 1),
                    overwrites: &[PermissionOverwrite::member(
                        ALICE,
                        Permissions::STREAM,
                        NONE,
                    )],
                    expected: VIEW.union(HISTORY),
                    ..DEFAULT
                },
                Scenario {
                    name: "timed-out member without VIEW_CHANNEL in the channel has nothing",
                    timed_out_until_ms: Some(NOW + 1),
                    overwrites: &[everyone_overwrite(NONE, VIEW)],
                    expected: NONE,
                    ..DEFAULT
                },
                Scenario {
                    name: "a timeout ending now is over",
                    timed_out_until_ms: Some(NOW),
                    expected: CHATTER,
                    ..DEFAULT
                },
                Scenario {
                    name: "a timeout in the past is over",
                    timed_out_until_ms: Some(NOW - 1),
                    expected: CHATTER,
                    ..DEFAULT
                },
                Scenario {
                    name: "timed-out administrator is exempt",
                    member_roles: &[ADMINS],
                    timed_out_until_ms: Some(NOW + 1),
                    expected: ALL,
                    ..DEFAULT
                },
                Scenario {
                    name: "timed-out owner is exempt",
                    member: OWNER,
                    timed_out_until_ms: Some(NOW + 1),
                    expected: ALL,
                    ..DEFAULT
                },
            ],
            in_channel,
        );
    }

    #[test]
    fn timeouts_also_limit_guild_wide_permissions() {
        run(
            &[
                Scenario {
                    name: "timed-out moderator loses KICK_MEMBERS",
                    roles: &[(HELPERS, KICK)],
                    member_roles: &[HELPERS],
                    timed_out_until_ms: Some(NOW + 1),
                    expected: VIEW.union(HISTORY),
                    ..DEFAULT
                },
                Scenario {
                    name: "moderator whose timeout ended keeps KICK_MEMBERS",
                    roles: &[(HELPERS, KICK)],
                    member_roles: &[HELPERS],
                    timed_out_until_ms: Some(NOW - 1),
                    expected: CHATTER.union(KICK),
                    ..DEFAULT
                },
                Scenario {
                    name: "timed-out administrator keeps ALL guild-wide",
                    member_roles: &[ADMINS],
                    timed_out_until_ms: Some(NOW + 1),
                    expected: ALL,
                    ..DEFAULT
                },
            ],
            guild_wide,
        );
    }

    #[test]
    fn role_lookup_accepts_closures() {
        let lookup = |role: RoleId| (role == EVERYONE).then_some(CHATTER);
        let guild = GuildView {
            guild_id: GUILD,
            owner_id: OWNER,
            role_permissions: &lookup,
        };
        let member = MemberView {
            user_id: ALICE,
            roles: &[HELPERS],
            communication_disabled_until_ms: None,
        };
        assert_eq!(base_permissions(&guild, &member), CHATTER);
    }

    #[test]
    fn permissions_serialize_as_decimal_strings_and_keep_unknown_bits() {
        let unknown_high_bit = Permissions::from_bits_retain(1 << 63);
        // (scenario, JSON in, permissions, JSON out)
        let rows = [
            ("empty", "\"0\"", NONE, "\"0\""),
            (
                "Discord's example: 0x40 | 0x800",
                "\"2112\"",
                REACT.union(SEND),
                "\"2112\"",
            ),
            ("integer input", "2112", REACT.union(SEND), "\"2112\""),
            (
                "USE_APPLICATION_COMMANDS (1 << 31)",
                "\"2147483648\"",
                Permissions::USE_APPLICATION_COMMANDS,
                "\"2147483648\"",
            ),
            (
                "unknown bit 63 next to VIEW_CHANNEL",
                "\"9223372036854776832\"",
                unknown_high_bit.union(VIEW),
                "\"9223372036854776832\"",
            ),
            (
                "unassigned bit 47",
                "140737488355328",
                Permissions::from_bits_retain(1 << 47),
                "\"140737488355328\"",
            ),
        ];
        for (name, input, expected, output) in rows {
            let parsed: Permissions = serde_json::from_str(input)
                .unwrap_or_else(|error| panic!("scenario {name:?}: {error}"));
            assert_eq!(parsed, expected, "scenario {name:?}");
            assert_eq!(parsed.bits(), expected.bits(), "scenario {name:?}");
            let written = serde_json::to_string(&parsed)
                .unwrap_or_else(|error| panic!("scenario {name:?}: {error}"));
            assert_eq!(written, output, "scenario {name:?}");
        }
    }

    #[test]
    fn permissions_reject_what_is_not_a_64_bit_unsigned_integer() {
        for (name, input) in [
            ("negative", "-1"),
            ("not a number", "\"ADMINISTRATOR\""),
            ("above 64 bits", "\"18446744073709551616\""),
            ("fraction", "1.5"),
        ] {
            assert!(
                serde_json::from_str::<Permissions>(input).is_err(),
                "scenario {name:?} should be rejected"
            );
        }
    }

    #[test]
    fn all_means_every_known_flag_up_to_bypass_slowmode() {
        assert_eq!(ALL.iter().count(), 52, "Discord's table lists 52 flags");
        assert_eq!(
            ALL.bits() >> 53,
            0,
            "no flag above BYPASS_SLOWMODE (1 << 52)"
        );
        assert!(!ALL.contains(Permissions::from_bits_retain(1 << 47)));
    }

    #[test]
    fn overwrite_kind_travels_as_discords_integer() {
        // (scenario, JSON, overwrite)
        let rows = [
            (
                "role overwrite is type 0",
                r#"{"id":"10","type":0,"allow":"1024","deny":"2048"}"#,
                PermissionOverwrite::role(HELPERS, VIEW, SEND),
            ),
            (
                "member overwrite is type 1",
                r#"{"id":"2","type":1,"allow":"0","deny":"1024"}"#,
                PermissionOverwrite::member(ALICE, NONE, VIEW),
            ),
        ];
        for (name, json, expected) in rows {
            let parsed: PermissionOverwrite = serde_json::from_str(json)
                .unwrap_or_else(|error| panic!("scenario {name:?}: {error}"));
            assert_eq!(parsed, expected, "scenario {name:?}");
            let written = serde_json::to_string(&parsed)
                .unwrap_or_else(|error| panic!("scenario {name:?}: {error}"));
            assert_eq!(written, json, "scenario {name:?}");
        }
        for (name, json) in [
            ("type 2", r#"{"id":"2","type":2,"allow":"0","deny":"0"}"#),
            (
                "type as string",
                r#"{"id":"2","type":"role","allow":"0","deny":"0"}"#,
            ),
        ] {
            assert!(
                serde_json::from_str::<PermissionOverwrite>(json).is_err(),
                "scenario {name:?} should be rejected"
            );
        }
        assert_eq!(
            PermissionOverwrite::role(EVERYONE, NONE, NONE).id,
            Snowflake::new(GUILD.get()),
            "the @everyone overwrite carries the guild's ID"
        );
    }

    #[test]
    fn hierarchy_lets_only_strictly_higher_roles_or_the_owner_act() {
        let rank = |role: RoleId, position: u32| RoleRank::new(GUILD, role, position);
        let everyone = RoleRank::everyone(GUILD);
        // (scenario, actor is owner, actor's highest role, target, may act)
        let rows = [
            (
                "higher position acts on lower",
                false,
                rank(ADMINS, 3),
                rank(HELPERS, 2),
                true,
            ),
            (
                "lower position cannot act on higher",
                false,
                rank(HELPERS, 2),
                rank(ADMINS, 3),
                false,
            ),
            (
                "a role cannot act on itself",
                false,
                rank(HELPERS, 2),
                rank(HELPERS, 2),
                false,
            ),
            (
                "equal positions: the older role ranks higher",
                false,
                rank(HELPERS, 2),
                rank(MUTED, 2),
                true,
            ),
            (
                "equal positions: the newer role ranks lower",
                false,
                rank(MUTED, 2),
                rank(HELPERS, 2),
                false,
            ),
            (
                "any role outranks @everyone, even at position 0",
                false,
                rank(HELPERS, 0),
                everyone,
                true,
            ),
            (
                "@everyone cannot act on @everyone",
                false,
                everyone,
                everyone,
                false,
            ),
            (
                "the owner acts on any role",
                true,
                everyone,
                rank(ADMINS, 9),
                true,
            ),
        ];
        for (name, actor_is_owner, actor_top, target, expected) in rows {
            assert_eq!(
                can_manage(actor_is_owner, actor_top, target),
                expected,
                "scenario {name:?}"
            );
        }
    }

    #[test]
    fn highest_role_is_the_greatest_rank_or_everyone() {
        let rank = |role: RoleId, position: u32| RoleRank::new(GUILD, role, position);
        // (scenario, the member's roles, highest role)
        let rows = [
            ("no roles: @everyone", vec![], EVERYONE),
            (
                "greatest position wins",
                vec![rank(HELPERS, 2), rank(ADMINS, 5), rank(MUTED, 1)],
                ADMINS,
            ),
            (
                "tie broken by the older ID",
                vec![rank(MUTED, 4), rank(HELPERS, 4)],
                HELPERS,
            ),
        ];
        for (name, roles, expected) in rows {
            let highest = highest_role(GUILD, roles);
            assert_eq!(highest.role(), expected, "scenario {name:?}");
        }
        assert_eq!(RoleRank::everyone(GUILD).position(), 0);
    }
}
