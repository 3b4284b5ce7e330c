//! Every question the gateway asks PostgreSQL, over the read models the PostgreSQL
//! projector writes (`projectors/migrations`). Identify asks (who the user is,
//! which guilds they are in, each guild's state for GUILD_CREATE), and so does the
//! Web Push notifier ([`crate::push`]: who is in a DM, subscriptions), and so does
//! RELATIONSHIP_ADD, off the routing path ([`crate::relationships`]); routing never
//! touches the database.
//!
//! Each query is checked at compile time against the projectors' tables (`.sqlx/`
//! holds the offline data, so building needs no database); after changing one, or
//! a projectors migration, regenerate it with `make sqlx-prepare`.
//!
//! Ids are `int8` in the tables (CloudCord's snowflakes stay below 2^63) and are
//! converted at this boundary.

use std::collections::{BTreeMap, HashMap};

use cloudcord_runtime::postgres::PostgresConfig;
use cloudcord_schemas::guild::{ChannelType, GuildChannel, Role, VoiceState};
use cloudcord_schemas::ids::{ChannelId, GuildId, MessageId, RoleId, Snowflake, UserId};
use cloudcord_schemas::message::UserSnapshot;
use cloudcord_schemas::permissions::{OverwriteKind, PermissionOverwrite, Permissions};
use cloudcord_schemas::user::{GuildNotificationSettings, MentionKinds, PushSubscription};
use sqlx::PgPool;
use tokio::sync::SemaphorePermit;

use crate::guild_state::{GuildState, Member};
use crate::turns::Turns;

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

/// A `users` row.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// Handshakes queue for the pool here rather than fail with 4000.
    turns: Turns,
}

impl ReadModels {
    /// Read models in `schema` (the projectors' `postgres_schema`): connections
    /// resolve unqualified table names there. Connects on first use, so the gateway
    /// starts (unready) while the database is down.
    pub fn connect_lazy(config: &PostgresConfig, schema: &str) -> Result<Self, sqlx::Error> {
        let pool = config.lazy_schema_pool(schema)?;
        Ok(Self {
            turns: Turns::of(&pool),
            pool,
        })
    }

    /// Waits for a turn to use the pool.
    async fn turn(&self) -> Result<SemaphorePermit<'_>, sqlx::Error> {
        self.turns.take().await
    }

    /// The pool (for the readiness check).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The user `id`, if projected.
    pub async fn user(&self, id: UserId) -> Result<Option<UserRow>, sqlx::Error> {
        let _turn = self.turn().await?;
        sqlx::query_as!(
            UserRow,
            "SELECT id, username, global_name, avatar, email, bot, application_id \
             FROM users WHERE id = $1",
            key(id.get())
        )
        .fetch_optional(&self.pool)
        .await
    }

    /// The current token generation of bot `id`; `None` for an unknown user or one
    /// that is not a bot.
    pub async fn bot_token_id(&self, id: UserId) -> Result<Option<i64>, sqlx::Error> {
        let _turn = self.turn().await?;
        let row = sqlx::query!(
            "SELECT bot_token_id FROM users WHERE id = $1 AND bot",
            key(id.get())
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.and_then(|row| row.bot_token_id))
    }

    /// The guilds `user` is a member of, by id.
    pub async fn guild_ids(&self, user: UserId) -> Result<Vec<GuildId>, sqlx::Error> {
        let _turn = self.turn().await?;
        let ids = sqlx::query_scalar!(
            "SELECT guild_id FROM members WHERE user_id = $1 ORDER BY guild_id",
            key(user.get())
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(|id| GuildId::new(stored(id))).collect())
    }
}

impl ReadModels {
    /// Guild `id` as the read models show it now, with the `seq` of its last
    /// projected event, read in one snapshot; `None` if there is no such guild.
    pub async fn guild(&self, id: GuildId) -> Result<Option<GuildState>, sqlx::Error> {
        let _turn = self.turn().await?;
        let guild = key(id.get());
        let mut tx = self.pool.begin().await?;
        // One consistent view of every table for the whole read.
        sqlx::query!("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *tx)
            .await?;
        let Some(row) = sqlx::query!(
            "SELECT name, description, owner_id, system_channel_id, afk_channel_id, \
             afk_timeout, icon, banner, created_at FROM guilds WHERE id = $1",
            guild
        )
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let position = sqlx::query_scalar!(
            "SELECT seq FROM aggregate_positions \
             WHERE aggregate_type = 'guild' AND aggregate_id = $1",
            guild
        )
        .fetch_optional(&mut *tx)
        .await?
        .unwrap_or(0);
        let roles = sqlx::query!(
            "SELECT id, name, color, hoist, position, permissions, managed, mentionable \
             FROM roles WHERE guild_id = $1",
            guild
        )
        .fetch_all(&mut *tx)
        .await?;
        let channels = sqlx::query!(
            "SELECT id, type AS kind, name, position, parent_id, topic, nsfw, \
             rate_limit_per_user, bitrate, user_limit FROM channels WHERE guild_id = $1",
            guild
        )
        .fetch_all(&mut *tx)
        .await?;
        let overwrites = sqlx::query!(
            "SELECT channel_id, target_id, type AS kind, allow, deny FROM permission_overwrites \
             WHERE guild_id = $1 ORDER BY channel_id, target_id",
            guild
        )
        .fetch_all(&mut *tx)
        .await?;
        let members = sqlx::query!(
            "SELECT u.id, u.username, u.global_name, u.avatar, u.bot, m.nick, m.roles, \
             m.joined_at, m.communication_disabled_until, m.mute, m.deaf \
             FROM members m JOIN users u ON u.id = m.user_id WHERE m.guild_id = $1",
            guild
        )
        .fetch_all(&mut *tx)
        .await?;
        let voice = sqlx::query!(
            "SELECT user_id, channel_id, session_id, deaf, mute, self_deaf, self_mute, suppress \
             FROM voice_states WHERE guild_id = $1",
            guild
        )
        .fetch_all(&mut *tx)
        .await?;
        // One backward step of message_index_by_channel per channel.
        let last_messages = sqlx::query!(
            "SELECT c.id AS \"channel_id!\", last.id AS \"message_id!\" FROM channels c \
             CROSS JOIN LATERAL (SELECT m.id FROM message_index m \
             WHERE m.channel_id = c.id AND NOT m.deleted ORDER BY m.id DESC LIMIT 1) last \
             WHERE c.guild_id = $1",
            guild
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;

        let mut channels: BTreeMap<ChannelId, GuildChannel> = channels
            .into_iter()
            .filter_map(|row| {
                // A type this build does not know is left out rather than guessed.
                let kind = ChannelType::try_from(u8::try_from(row.kind).ok()?).ok()?;
                let id = ChannelId::new(stored(row.id));
                Some((
                    id,
                    GuildChannel {
                        id,
                        kind,
                        name: row.name,
                        position: unsigned(row.position),
                        parent_id: row.parent_id.map(|p| ChannelId::new(stored(p))),
                        topic: row.topic,
                        nsfw: row.nsfw,
                        rate_limit_per_user: unsigned(row.rate_limit_per_user),
                        bitrate: row.bitrate.map(unsigned),
                        user_limit: row.user_limit.map(unsigned),
                        permission_overwrites: Vec::new(),
                    },
                ))
            })
            .collect();
        for row in overwrites {
            let Some(kind) = u8::try_from(row.kind)
                .ok()
                .and_then(|kind| OverwriteKind::try_from(kind).ok())
            else {
                continue;
            };
            if let Some(channel) = channels.get_mut(&ChannelId::new(stored(row.channel_id))) {
                channel.permission_overwrites.push(PermissionOverwrite {
                    id: Snowflake::new(stored(row.target_id)),
                    kind,
                    allow: permissions(row.allow),
                    deny: permissions(row.deny),
                });
            }
        }
        Ok(Some(GuildState {
            id,
            position: stored(position),
            name: row.name,
            description: row.description,
            owner_id: UserId::new(stored(row.owner_id)),
            system_channel_id: row.system_channel_id.map(|c| ChannelId::new(stored(c))),
            afk_channel_id: row.afk_channel_id.map(|c| ChannelId::new(stored(c))),
            afk_timeout: unsigned(row.afk_timeout),
            icon: row.icon,
            banner: row.banner,
            created_at: row.created_at,
            roles: roles
                .into_iter()
                .map(|row| {
                    let id = RoleId::new(stored(row.id));
                    let role = Role {
                        id,
                        name: row.name,
                        color: unsigned(row.color),
                        hoist: row.hoist,
                        position: unsigned(row.position),
                        permissions: permissions(row.permissions),
                        managed: row.managed,
                        mentionable: row.mentionable,
                    };
                    (id, role)
                })
                .collect(),
            channels,
            members: members
                .into_iter()
                .map(|row| {
                    let user = snapshot(row.id, row.username, row.global_name, row.avatar, row.bot);
                    let id = user.id;
                    let member = Member {
                        user,
                        nick: row.nick,
                        roles: row
                            .roles
                            .into_iter()
                            .map(|r| RoleId::new(stored(r)))
                            .collect(),
                        joined_at: row.joined_at,
                        communication_disabled_until: row.communication_disabled_until,
                        mute: row.mute,
                        deaf: row.deaf,
                    };
                    (id, member)
                })
                .collect::<HashMap<_, _>>(),
            voice_states: voice
                .into_iter()
                .map(|row| {
                    let user_id = UserId::new(stored(row.user_id));
                    let state = VoiceState {
                        user_id,
                        channel_id: Some(ChannelId::new(stored(row.channel_id))),
                        session_id: row.session_id,
                        deaf: row.deaf,
                        mute: row.mute,
                        self_deaf: row.self_deaf,
                        self_mute: row.self_mute,
                        suppress: row.suppress,
                    };
                    (user_id, state)
                })
                .collect(),
            last_messages: last_messages
                .into_iter()
                .map(|row| {
                    (
                        ChannelId::new(stored(row.channel_id)),
                        MessageId::new(stored(row.message_id)),
                    )
                })
                .collect(),
        }))
    }

    /// The DM channels of `user`, each with its two recipients.
    pub async fn dm_channels(
        &self,
        user: UserId,
    ) -> Result<Vec<(ChannelId, [UserSnapshot; 2])>, sqlx::Error> {
        let _turn = self.turn().await?;
        let rows = sqlx::query!(
            "SELECT d.id, \
             lo.id AS low_id, lo.username AS low_username, lo.global_name AS low_global_name, \
             lo.avatar AS low_avatar, lo.bot AS low_bot, \
             hi.id AS high_id, hi.username AS high_username, hi.global_name AS high_global_name, \
             hi.avatar AS high_avatar, hi.bot AS high_bot \
             FROM dm_channels d JOIN users lo ON lo.id = d.user_low \
             JOIN users hi ON hi.id = d.user_high \
             WHERE d.user_low = $1 OR d.user_high = $1",
            key(user.get())
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                (
                    ChannelId::new(stored(row.id)),
                    [
                        snapshot(
                            row.low_id,
                            row.low_username,
                            row.low_global_name,
                            row.low_avatar,
                            row.low_bot,
                        ),
                        snapshot(
                            row.high_id,
                            row.high_username,
                            row.high_global_name,
                            row.high_avatar,
                            row.high_bot,
                        ),
                    ],
                )
            })
            .collect())
    }

    /// The profile of user `id`, if projected.
    pub async fn user_snapshot(&self, id: UserId) -> Result<Option<UserSnapshot>, sqlx::Error> {
        Ok(self
            .user(id)
            .await?
            .map(|row| snapshot(row.id, row.username, row.global_name, row.avatar, row.bot)))
    }

    /// `user`'s relationships (friends, blocks, requests) by the other user's id:
    /// Discord's type number and the other user's profile.
    pub async fn relationships(
        &self,
        user: UserId,
    ) -> Result<Vec<(u8, UserSnapshot)>, sqlx::Error> {
        let _turn = self.turn().await?;
        let rows = sqlx::query!(
            "SELECT r.type AS kind, u.id, u.username, u.global_name, u.avatar, u.bot \
             FROM relationships r JOIN users u ON u.id = r.other_id \
             WHERE r.user_id = $1 ORDER BY r.other_id",
            key(user.get())
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let other = snapshot(row.id, row.username, row.global_name, row.avatar, row.bot);
                // Invariant: the projector stores Discord's numbers, 1 to 4.
                (u8::try_from(row.kind).unwrap_or_default(), other)
            })
            .collect())
    }
}

/// A user's profile from the columns of a `users` row.
fn snapshot(
    id: i64,
    username: String,
    global_name: Option<String>,
    avatar: Option<String>,
    bot: bool,
) -> UserSnapshot {
    UserSnapshot {
        id: UserId::new(stored(id)),
        username,
        global_name,
        avatar,
        bot,
    }
}

/// What READY's read states are made of, for one user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unread {
    /// Where the user has read each channel up to: (channel, last message, version).
    pub acks: Vec<(ChannelId, u64, u64)>,
    /// Messages after the ack that name the user in a guild channel, counted by
    /// channel and by how they name them (the caller weighs each group against
    /// the user's settings and whether they see the channel).
    pub mentions: Vec<UnreadMentions>,
    /// Messages of the other recipient after the ack, by DM channel.
    pub dm_messages: Vec<(ChannelId, u32)>,
}

/// Unread messages of one guild channel that name the user in one way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnreadMentions {
    /// The channel.
    pub channel_id: ChannelId,
    /// Its guild.
    pub guild_id: GuildId,
    /// How they name the user.
    pub kinds: MentionKinds,
    /// How many.
    pub count: u32,
}

impl ReadModels {
    /// `user`'s acks and the unread messages that name them: by someone else, not
    /// deleted, after the ack of their channel (every one where there is none),
    /// mentioning the user directly, through a role they hold now, or as
    /// `@everyone`/`@here` in a guild they are in; and in their DMs every message
    /// of the other recipient, as on Discord.
    pub async fn unread(&self, user: UserId) -> Result<Unread, sqlx::Error> {
        let _turn = self.turn().await?;
        let me = key(user.get());
        let acks = sqlx::query!(
            "SELECT channel_id, last_message_id, version FROM read_states \
             WHERE user_id = $1 ORDER BY channel_id",
            me
        )
        .fetch_all(&self.pool)
        .await?;
        let mentions = sqlx::query!(
            r#"SELECT m.channel_id, m.guild_id AS "guild_id!",
                   $1 = ANY(m.users) AS "direct!",
                   m.roles && g.roles AS "role!",
                   m.everyone,
                   count(*) AS "count!"
            FROM message_mentions m
            JOIN members g ON g.guild_id = m.guild_id AND g.user_id = $1
            JOIN message_index i ON i.id = m.message_id
            LEFT JOIN read_states a ON a.user_id = $1 AND a.channel_id = m.channel_id
            WHERE NOT i.deleted AND i.author_id <> $1
              AND m.message_id > COALESCE(a.last_message_id, 0)
              AND ($1 = ANY(m.users) OR m.roles && g.roles OR m.everyone)
            GROUP BY 1, 2, 3, 4, 5"#,
            me
        )
        .fetch_all(&self.pool)
        .await?;
        let dm_messages = sqlx::query!(
            r#"SELECT i.channel_id, count(*) AS "count!"
            FROM dm_channels d
            JOIN message_index i ON i.channel_id = d.id
            LEFT JOIN read_states a ON a.user_id = $1 AND a.channel_id = d.id
            WHERE (d.user_low = $1 OR d.user_high = $1)
              AND NOT i.deleted AND i.author_id <> $1
              AND i.id > COALESCE(a.last_message_id, 0)
            GROUP BY i.channel_id"#,
            me
        )
        .fetch_all(&self.pool)
        .await?;
        let count = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
        Ok(Unread {
            acks: acks
                .into_iter()
                .map(|row| {
                    (
                        ChannelId::new(stored(row.channel_id)),
                        stored(row.last_message_id),
                        stored(row.version),
                    )
                })
                .collect(),
            mentions: mentions
                .into_iter()
                .map(|row| UnreadMentions {
                    channel_id: ChannelId::new(stored(row.channel_id)),
                    guild_id: GuildId::new(stored(row.guild_id)),
                    kinds: MentionKinds {
                        direct: row.direct,
                        role: row.role,
                        everyone: row.everyone,
                    },
                    count: count(row.count),
                })
                .collect(),
            dm_messages: dm_messages
                .into_iter()
                .map(|row| (ChannelId::new(stored(row.channel_id)), count(row.count)))
                .collect(),
        })
    }

    /// `user`'s notification settings, by guild, with their versions.
    pub async fn guild_settings(
        &self,
        user: UserId,
    ) -> Result<Vec<(GuildId, GuildNotificationSettings, u64)>, sqlx::Error> {
        let _turn = self.turn().await?;
        let rows = sqlx::query!(
            r#"SELECT guild_id, settings::text AS "settings!", version
            FROM user_guild_settings WHERE user_id = $1 ORDER BY guild_id"#,
            key(user.get())
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                let settings = serde_json::from_str(&row.settings)
                    .map_err(|error| sqlx::Error::Decode(Box::new(error)))?;
                Ok((
                    GuildId::new(stored(row.guild_id)),
                    settings,
                    stored(row.version),
                ))
            })
            .collect()
    }

    /// The notification settings for `guild` of those of `users` who changed
    /// them (the others have the defaults).
    pub async fn guild_settings_of(
        &self,
        guild: GuildId,
        users: &[UserId],
    ) -> Result<HashMap<UserId, GuildNotificationSettings>, sqlx::Error> {
        let _turn = self.turn().await?;
        let ids: Vec<i64> = users.iter().map(|user| key(user.get())).collect();
        let rows = sqlx::query!(
            r#"SELECT user_id, settings::text AS "settings!"
            FROM user_guild_settings WHERE guild_id = $1 AND user_id = ANY($2)"#,
            key(guild.get()),
            &ids
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                let settings = serde_json::from_str(&row.settings)
                    .map_err(|error| sqlx::Error::Decode(Box::new(error)))?;
                Ok((UserId::new(stored(row.user_id)), settings))
            })
            .collect()
    }

    /// The two users of a DM channel (`None`: no such channel).
    pub async fn dm_users(&self, channel: ChannelId) -> Result<Option<[UserId; 2]>, sqlx::Error> {
        let _turn = self.turn().await?;
        let row = sqlx::query!(
            "SELECT user_low, user_high FROM dm_channels WHERE id = $1",
            key(channel.get())
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| {
            [
                UserId::new(stored(row.user_low)),
                UserId::new(stored(row.user_high)),
            ]
        }))
    }

    /// Who wrote `message` (`None`: unknown).
    pub async fn message_author(&self, message: MessageId) -> Result<Option<UserId>, sqlx::Error> {
        let _turn = self.turn().await?;
        let author = sqlx::query_scalar!(
            "SELECT author_id FROM message_index WHERE id = $1",
            key(message.get())
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(author.map(|id| UserId::new(stored(id))))
    }

    /// The Web Push subscriptions of `users`.
    pub async fn push_subscriptions(
        &self,
        users: &[UserId],
    ) -> Result<Vec<(UserId, PushSubscription)>, sqlx::Error> {
        let _turn = self.turn().await?;
        let ids: Vec<i64> = users.iter().map(|user| key(user.get())).collect();
        let rows = sqlx::query!(
            "SELECT user_id, endpoint, p256dh, auth FROM push_subscriptions \
             WHERE user_id = ANY($1) ORDER BY user_id, endpoint",
            &ids
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                (
                    UserId::new(stored(row.user_id)),
                    PushSubscription {
                        endpoint: row.endpoint,
                        p256dh: row.p256dh,
                        auth: row.auth,
                    },
                )
            })
            .collect())
    }
}
