//! Who may read what: the write side's permission rules, applied to the read models.
//!
//! The calculation itself is `cloudcord_schemas::permissions` — the same pure
//! functions the guild aggregate decides with — fed from the rows the projector
//! wrote: the guild's owner and roles, the caller's member row (roles, timeout) and
//! the channel's overwrites. This module only loads those inputs and turns a missing
//! right into Discord's answer:
//!
//! | situation | answer |
//! |---|---|
//! | no such guild / channel | 404 Unknown Guild (10004) / Unknown Channel (10003) |
//! | the caller is not a member of its guild (or not a DM recipient) | 403 Missing Access (50001) |
//! | the channel is hidden from the caller (no `VIEW_CHANNEL` after overwrites) | 403 Missing Access (50001) |
//! | visible, but a permission the route needs is missing | 403 Missing Permissions (50013), or Missing Access where Discord says so (reading history) |

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use cloudcord_runtime::http_error::HttpError;
use cloudcord_schemas::envelope::{AggregateRef, AggregateType};
use cloudcord_schemas::ids::{GuildId, RoleId, Snowflake, UserId};
use cloudcord_schemas::permissions::{
    GuildView, MemberView, OverwriteKind, PermissionOverwrite, Permissions, channel_permissions,
    guild_permissions,
};

use crate::read_models::postgres::{
    ChannelRow, DmChannelRow, GuildRow, MemberRow, OverwriteRow, ReadModels, RoleRow, key,
    snowflake,
};

/// What a DM recipient may do in the DM: see it and its history, as the DM aggregate
/// lets them.
pub const DM_PERMISSIONS: Permissions = Permissions::VIEW_CHANNEL
    .union(Permissions::READ_MESSAGE_HISTORY)
    .union(Permissions::SEND_MESSAGES)
    .union(Permissions::ADD_REACTIONS)
    .union(Permissions::PIN_MESSAGES);

/// The wall clock in Unix milliseconds, read once per request at the edge (timeouts
/// depend on it).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn unix_ms(at: time::OffsetDateTime) -> u64 {
    u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

/// An overwrite row as the permission calculation takes it (an unknown `type` is
/// skipped: it can target nobody).
pub fn overwrite(row: &OverwriteRow) -> Option<PermissionOverwrite> {
    let kind = OverwriteKind::try_from(u8::try_from(row.kind).ok()?).ok()?;
    Some(PermissionOverwrite {
        id: snowflake(row.target_id),
        kind,
        allow: Permissions::from_bits_retain(row.allow.cast_unsigned()),
        deny: Permissions::from_bits_retain(row.deny.cast_unsigned()),
    })
}

/// A guild seen by one of its members: the inputs of every permission question.
#[derive(Debug, Clone)]
pub struct GuildAccess {
    /// The guild.
    pub guild: GuildRow,
    /// Its roles, lowest first.
    pub roles: Vec<RoleRow>,
    /// The caller's membership.
    pub member: MemberRow,
    role_permissions: HashMap<RoleId, Permissions>,
    member_roles: Vec<RoleId>,
}

impl GuildAccess {
    /// The guild `guild_id` as `caller` sees it: 404 Unknown Guild when it does not
    /// exist, 403 Missing Access when the caller is not a member.
    pub async fn load(
        read_models: &ReadModels,
        guild_id: GuildId,
        caller: UserId,
    ) -> Result<Self, HttpError> {
        let Some(guild_key) = key(guild_id.0) else {
            return Err(HttpError::unknown_guild());
        };
        let guild = read_models
            .guild(guild_key)
            .await?
            .ok_or(HttpError::unknown_guild())?;
        let member = match key(caller.0) {
            Some(user) => read_models.member(guild_key, user).await?,
            None => None,
        }
        .ok_or(HttpError::missing_access())?;
        let roles = read_models.roles(&[guild_key]).await?;
        Ok(Self::new(guild, roles, member))
    }

    /// The access a member has, from already loaded rows.
    pub fn new(guild: GuildRow, roles: Vec<RoleRow>, member: MemberRow) -> Self {
        let role_permissions = roles
            .iter()
            .map(|role| {
                (
                    RoleId(snowflake(role.id)),
                    Permissions::from_bits_retain(role.permissions.cast_unsigned()),
                )
            })
            .collect();
        let member_roles = member
            .roles
            .iter()
            .map(|id| RoleId(snowflake(*id)))
            .collect();
        Self {
            guild,
            roles,
            member,
            role_permissions,
            member_roles,
        }
    }

    /// The guild's id.
    pub fn guild_id(&self) -> GuildId {
        GuildId(snowflake(self.guild.id))
    }

    fn views(&self) -> (GuildView<'_>, MemberView<'_>) {
        (
            GuildView {
                guild_id: self.guild_id(),
                owner_id: UserId(snowflake(self.guild.owner_id)),
                role_permissions: &self.role_permissions,
            },
            MemberView {
                user_id: UserId(snowflake(self.member.user.id)),
                roles: &self.member_roles,
                communication_disabled_until_ms: self
                    .member
                    .communication_disabled_until
                    .map(unix_ms),
            },
        )
    }

    /// The caller's guild-wide permissions at `now_ms` (owner and administrators
    /// have all; a timeout leaves only viewing).
    pub fn guild_permissions(&self, now_ms: u64) -> Permissions {
        let (guild, member) = self.views();
        guild_permissions(&guild, &member, now_ms)
    }

    /// The caller's permissions in a channel with `overwrites`, at `now_ms`.
    pub fn channel_permissions(
        &self,
        overwrites: &[PermissionOverwrite],
        now_ms: u64,
    ) -> Permissions {
        let (guild, member) = self.views();
        channel_permissions(&guild, &member, overwrites, now_ms)
    }

    /// `Ok` when the caller has any of `needed` guild-wide, else 403 Missing
    /// Permissions.
    pub fn require_any(&self, needed: Permissions, now_ms: u64) -> Result<Permissions, HttpError> {
        let held = self.guild_permissions(now_ms);
        if held.intersects(needed) {
            Ok(held)
        } else {
            Err(HttpError::missing_permissions())
        }
    }
}

/// A channel the caller can see, with what they may do in it.
#[derive(Debug, Clone)]
pub enum ChannelAccess {
    /// A guild channel.
    Guild {
        /// The guild as the caller sees it.
        access: Box<GuildAccess>,
        /// The channel.
        channel: ChannelRow,
        /// Its overwrites.
        overwrites: Vec<OverwriteRow>,
        /// The caller's permissions in it (always with `VIEW_CHANNEL`).
        permissions: Permissions,
    },
    /// A DM the caller is a recipient of.
    Dm(DmChannelRow),
}

impl ChannelAccess {
    /// The aggregate whose history holds the channel's messages: its guild, or the
    /// DM channel itself.
    pub fn aggregate(&self) -> AggregateRef {
        match self {
            Self::Guild { channel, .. } => AggregateRef {
                kind: AggregateType::Guild,
                id: Snowflake::new(channel.guild_id.cast_unsigned()),
            },
            Self::Dm(dm) => AggregateRef {
                kind: AggregateType::DmChannel,
                id: Snowflake::new(dm.id.cast_unsigned()),
            },
        }
    }

    /// The channel as `caller` sees it: 404 Unknown Channel when nothing has that id,
    /// 403 Missing Access when it is another guild's channel, a DM between others,
    /// or hidden from the caller by its overwrites.
    pub async fn load(
        read_models: &ReadModels,
        channel_id: Snowflake,
        caller: UserId,
        now_ms: u64,
    ) -> Result<Self, HttpError> {
        let Some(channel_key) = key(channel_id) else {
            return Err(HttpError::unknown_channel());
        };
        if let Some(channel) = read_models.channel(channel_key).await? {
            let access =
                match GuildAccess::load(read_models, GuildId(snowflake(channel.guild_id)), caller)
                    .await
                {
                    // A channel whose guild is gone is gone too.
                    Err(HttpError::Api { status, .. }) if status.as_u16() == 404 => {
                        return Err(HttpError::unknown_channel());
                    }
                    other => other?,
                };
            let overwrites: Vec<OverwriteRow> = read_models
                .overwrites(channel.guild_id)
                .await?
                .into_iter()
                .filter(|o| o.channel_id == channel.id)
                .collect();
            let calculated: Vec<PermissionOverwrite> =
                overwrites.iter().filter_map(overwrite).collect();
            let permissions = access.channel_permissions(&calculated, now_ms);
            if !permissions.contains(Permissions::VIEW_CHANNEL) {
                return Err(HttpError::missing_access());
            }
            return Ok(Self::Guild {
                access: Box::new(access),
                channel,
                overwrites,
                permissions,
            });
        }
        let dm = read_models
            .dm_channel(channel_key)
            .await?
            .ok_or(HttpError::unknown_channel())?;
        let caller = key(caller.0);
        if caller != Some(dm.user_low) && caller != Some(dm.user_high) {
            return Err(HttpError::missing_access());
        }
        Ok(Self::Dm(dm))
    }

    /// The caller's permissions in the channel.
    pub fn permissions(&self) -> Permissions {
        match self {
            Self::Guild { permissions, .. } => *permissions,
            Self::Dm(_) => DM_PERMISSIONS,
        }
    }

    /// The channel's id as stored.
    pub fn id(&self) -> i64 {
        match self {
            Self::Guild { channel, .. } => channel.id,
            Self::Dm(dm) => dm.id,
        }
    }

    /// `Ok` when the caller may read the channel's history; Discord answers a
    /// single-message read without `READ_MESSAGE_HISTORY` with 403 Missing Access.
    pub fn require_history(&self) -> Result<(), HttpError> {
        if self
            .permissions()
            .contains(Permissions::READ_MESSAGE_HISTORY)
        {
            Ok(())
        } else {
            Err(HttpError::missing_access())
        }
    }
}
