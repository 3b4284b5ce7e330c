//! Every question the gateway asks PostgreSQL, over the read models the PostgreSQL
//! projector writes (`projectors/migrations`). Only Identify asks (who the user is,
//! which guilds they are in, each guild's state for GUILD_CREATE); dispatches never
//! touch the database.
//!
//! Ids are `int8` in the tables (CloudCord's snowflakes stay below 2^63) and are
//! converted at this boundary.

use std::time::Duration;

use std::collections::{BTreeMap, HashMap};

use cloudcord_runtime::postgres::PostgresConfig;
use cloudcord_schemas::guild::{ChannelType, GuildChannel, Role, VoiceState};
use cloudcord_schemas::ids::{ChannelId, GuildId, RoleId, Snowflake, UserId};
use cloudcord_schemas::message::UserSnapshot;
use cloudcord_schemas::permissions::{OverwriteKind, PermissionOverwrite, Permissions};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use time::OffsetDateTime;

use crate::guild_state::{GuildState, Member};

/// A stored id for `id`; `-1` (no row) for one above `i64::MAX`.
pub fn key(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(-1)
}

/// A stored id as a snowflake (stored ids are never negative).
pub fn stored(id: i64) -> u64 {
    id.unsigned_abs()
}

/// A stored permission bit set (int8) as permissions, keeping unknown bits.
fn permissions(bits: i64) -> Permissions {
    Permissions::from_bits_retain(u64::from_ne_bytes(bits.to_ne_bytes()))
}

/// A stored non-negative int4 as `u32` (negative values are never written).
fn unsigned(value: i32) -> u32 {
    value.unsigned_abs()
}

type GuildRow = (
    i64,
    String,
    Option<String>,
    i64,
    Option<i64>,
    Option<i64>,
    i32,
    OffsetDateTime,
);
type RoleRow = (i64, String, i32, bool, i32, i64, bool, bool);
type ChannelRow = (
    i64,
    i16,
    String,
    i32,
    Option<i64>,
    Option<String>,
    bool,
    i32,
    Option<i32>,
    Option<i32>,
);
type OverwriteRow = (i64, i64, i16, i64, i64);
type MemberRow = (
    i64,
    String,
    Option<String>,
    Option<String>,
    bool,
    Option<String>,
    Vec<i64>,
    OffsetDateTime,
    Option<OffsetDateTime>,
    bool,
    bool,
);
type VoiceRow = (i64, i64, Option<String>, bool, bool, bool, bool, bool);

/// A `users` row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UserRow {
    /// The user.
    pub id: i64,
    /// Unique username.
    pub username: String,
    /// Display name.
    pub global_name: Option<String>,
    /// Avatar hash.
    pub avatar: Option<String>,
    /// E-mail address (READY shows it to the user themself).
    pub email: Option<String>,
    /// Whether the account is a bot.
    pub bot: bool,
    /// A bot's application.
    pub application_id: Option<i64>,
}

/// The read models in one PostgreSQL schema.
#[derive(Debug, Clone)]
pub struct ReadModels {
    pool: PgPool,
}

impl ReadModels {
    /// Read models in `schema` (the projectors' `postgres_schema`): connections
    /// resolve unqualified table names there. Connects on first use, so the gateway
    /// starts (unready) while the database is down.
    pub fn connect_lazy(config: &PostgresConfig, schema: &str) -> Result<Self, sqlx::Error> {
        let quoted = format!("\"{}\"", schema.replace('"', "\"\""));
        let options = config.connect_options()?.options([("search_path", quoted)]);
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(Duration::from_secs(2))
            .connect_lazy_with(options);
        Ok(Self { pool })
    }

    /// The pool (for the readiness check).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The user `id`, if projected.
    pub async fn user(&self, id: UserId) -> Result<Option<UserRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT id, username, global_name, avatar, email, bot, application_id \
             FROM users WHERE id = $1",
        )
        .bind(key(id.get()))
        .fetch_optional(&self.pool)
        .await
    }

    /// The current token generation of bot `id`; `None` for an unknown user or one
    /// that is not a bot.
    pub async fn bot_token_id(&self, id: UserId) -> Result<Option<i64>, sqlx::Error> {
        let row: Option<(Option<i64>,)> =
            sqlx::query_as("SELECT bot_token_id FROM users WHERE id = $1 AND bot")
                .bind(key(id.get()))
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.and_then(|(current,)| current))
    }

    /// The guilds `user` is a member of, by id.
    pub async fn guild_ids(&self, user: UserId) -> Result<Vec<GuildId>, sqlx::Error> {
        let rows: Vec<(i64,)> =
            sqlx::query_as("SELECT guild_id FROM members WHERE user_id = $1 ORDER BY guild_id")
                .bind(key(user.get()))
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(id,)| GuildId::new(stored(id)))
            .collect())
    }
}

impl ReadModels {
    /// Guild `id` as the read models show it now, with the `seq` of its last
    /// projected event, read in one snapshot; `None` if there is no such guild.
    pub async fn guild(&self, id: GuildId) -> Result<Option<GuildState>, sqlx::Error> {
        let guild = key(id.get());
        let mut tx = self.pool.begin().await?;
        // One consistent view of every table for the whole read.
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *tx)
            .await?;
        let row: Option<GuildRow> = sqlx::query_as(
            "SELECT id, name, description, owner_id, system_channel_id, afk_channel_id, \
             afk_timeout, created_at FROM guilds WHERE id = $1",
        )
        .bind(guild)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((
            _,
            name,
            description,
            owner,
            system_channel,
            afk_channel,
            afk_timeout,
            created_at,
        )) = row
        else {
            return Ok(None);
        };
        let (position,): (i64,) = sqlx::query_as(
            "SELECT seq FROM aggregate_positions \
             WHERE aggregate_type = 'guild' AND aggregate_id = $1",
        )
        .bind(guild)
        .fetch_optional(&mut *tx)
        .await?
        .unwrap_or((0,));
        let roles: Vec<RoleRow> = sqlx::query_as(
            "SELECT id, name, color, hoist, position, permissions, managed, mentionable \
             FROM roles WHERE guild_id = $1",
        )
        .bind(guild)
        .fetch_all(&mut *tx)
        .await?;
        let channels: Vec<ChannelRow> = sqlx::query_as(
            "SELECT id, type, name, position, parent_id, topic, nsfw, rate_limit_per_user, \
             bitrate, user_limit FROM channels WHERE guild_id = $1",
        )
        .bind(guild)
        .fetch_all(&mut *tx)
        .await?;
        let overwrites: Vec<OverwriteRow> = sqlx::query_as(
            "SELECT channel_id, target_id, type, allow, deny FROM permission_overwrites \
             WHERE guild_id = $1 ORDER BY channel_id, target_id",
        )
        .bind(guild)
        .fetch_all(&mut *tx)
        .await?;
        let members: Vec<MemberRow> = sqlx::query_as(
            "SELECT u.id, u.username, u.global_name, u.avatar, u.bot, m.nick, m.roles, \
             m.joined_at, m.communication_disabled_until, m.mute, m.deaf \
             FROM members m JOIN users u ON u.id = m.user_id WHERE m.guild_id = $1",
        )
        .bind(guild)
        .fetch_all(&mut *tx)
        .await?;
        let voice: Vec<VoiceRow> = sqlx::query_as(
            "SELECT user_id, channel_id, session_id, deaf, mute, self_deaf, self_mute, suppress \
             FROM voice_states WHERE guild_id = $1",
        )
        .bind(guild)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;

        let mut channels: BTreeMap<ChannelId, GuildChannel> = channels
            .into_iter()
            .filter_map(|row| {
                let (id, kind, name, position, parent, topic, nsfw, slowmode, bitrate, limit) = row;
                // A type this build does not know is left out rather than guessed.
                let kind = ChannelType::try_from(u8::try_from(kind).ok()?).ok()?;
                let id = ChannelId::new(stored(id));
                Some((
                    id,
                    GuildChannel {
                        id,
                        kind,
                        name,
                        position: unsigned(position),
                        parent_id: parent.map(|p| ChannelId::new(stored(p))),
                        topic,
                        nsfw,
                        rate_limit_per_user: unsigned(slowmode),
                        bitrate: bitrate.map(unsigned),
                        user_limit: limit.map(unsigned),
                        permission_overwrites: Vec::new(),
                    },
                ))
            })
            .collect();
        for (channel, target, kind, allow, deny) in overwrites {
            let Some(kind) = u8::try_from(kind)
                .ok()
                .and_then(|kind| OverwriteKind::try_from(kind).ok())
            else {
                continue;
            };
            if let Some(channel) = channels.get_mut(&ChannelId::new(stored(channel))) {
                channel.permission_overwrites.push(PermissionOverwrite {
                    id: Snowflake::new(stored(target)),
                    kind,
                    allow: permissions(allow),
                    deny: permissions(deny),
                });
            }
        }
        Ok(Some(GuildState {
            id,
            position: stored(position),
            name,
            description,
            owner_id: UserId::new(stored(owner)),
            system_channel_id: system_channel.map(|c| ChannelId::new(stored(c))),
            afk_channel_id: afk_channel.map(|c| ChannelId::new(stored(c))),
            afk_timeout: unsigned(afk_timeout),
            created_at,
            roles: roles
                .into_iter()
                .map(
                    |(id, name, color, hoist, position, bits, managed, mentionable)| {
                        let id = RoleId::new(stored(id));
                        let role = Role {
                            id,
                            name,
                            color: unsigned(color),
                            hoist,
                            position: unsigned(position),
                            permissions: permissions(bits),
                            managed,
                            mentionable,
                        };
                        (id, role)
                    },
                )
                .collect(),
            channels,
            members: members
                .into_iter()
                .map(|row| {
                    let (
                        id,
                        username,
                        global_name,
                        avatar,
                        bot,
                        nick,
                        roles,
                        joined_at,
                        until,
                        mute,
                        deaf,
                    ) = row;
                    let id = UserId::new(stored(id));
                    let member = Member {
                        user: UserSnapshot {
                            id,
                            username,
                            global_name,
                            avatar,
                            bot,
                        },
                        nick,
                        roles: roles.into_iter().map(|r| RoleId::new(stored(r))).collect(),
                        joined_at,
                        communication_disabled_until: until,
                        mute,
                        deaf,
                    };
                    (id, member)
                })
                .collect::<HashMap<_, _>>(),
            voice_states: voice
                .into_iter()
                .map(
                    |(user, channel, session_id, deaf, mute, self_deaf, self_mute, suppress)| {
                        let user_id = UserId::new(stored(user));
                        let state = VoiceState {
                            user_id,
                            channel_id: Some(ChannelId::new(stored(channel))),
                            session_id,
                            deaf,
                            mute,
                            self_deaf,
                            self_mute,
                            suppress,
                        };
                        (user_id, state)
                    },
                )
                .collect(),
        }))
    }

    /// The DM channels of `user`, each with its two recipients.
    pub async fn dm_channels(
        &self,
        user: UserId,
    ) -> Result<Vec<(ChannelId, [UserSnapshot; 2])>, sqlx::Error> {
        type Row = (
            i64,
            i64,
            String,
            Option<String>,
            Option<String>,
            bool,
            i64,
            String,
            Option<String>,
            Option<String>,
            bool,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT d.id, lo.id, lo.username, lo.global_name, lo.avatar, lo.bot, \
             hi.id, hi.username, hi.global_name, hi.avatar, hi.bot \
             FROM dm_channels d JOIN users lo ON lo.id = d.user_low \
             JOIN users hi ON hi.id = d.user_high \
             WHERE d.user_low = $1 OR d.user_high = $1",
        )
        .bind(key(user.get()))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(
                    channel,
                    a,
                    a_name,
                    a_global,
                    a_avatar,
                    a_bot,
                    b,
                    b_name,
                    b_global,
                    b_avatar,
                    b_bot,
                )| {
                    let snapshot = |id: i64, username, global_name, avatar, bot| UserSnapshot {
                        id: UserId::new(stored(id)),
                        username,
                        global_name,
                        avatar,
                        bot,
                    };
                    (
                        ChannelId::new(stored(channel)),
                        [
                            snapshot(a, a_name, a_global, a_avatar, a_bot),
                            snapshot(b, b_name, b_global, b_avatar, b_bot),
                        ],
                    )
                },
            )
            .collect())
    }
}
