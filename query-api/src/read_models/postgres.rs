//! Reads of the relational read models the PostgreSQL projector writes
//! (`projectors/migrations`): one function per question a route asks, each one
//! compile-time-checked query (`.sqlx/` holds the offline data, so building needs no
//! database).
//!
//! After changing a query (or a projectors migration), regenerate the offline data
//! with `make sqlx-prepare` (no `cargo sqlx` needed).
//!
//! Ids are `int8` in the tables (CloudCord's snowflakes stay below 2^63); they are
//! converted at this boundary, and an id that does not fit names nothing.

use cloudcord_schemas::ids::Snowflake;
use cloudcord_schemas::message::MAX_PINS;
use sqlx::PgPool;

use crate::pagination::{Range, Scan};
use time::OffsetDateTime;

/// A snowflake as stored; `None` for one above `i64::MAX`, which no row can hold.
pub fn key(id: Snowflake) -> Option<i64> {
    i64::try_from(id.get()).ok()
}

/// A stored id as a snowflake (stored ids are never negative).
pub fn snowflake(stored: i64) -> Snowflake {
    Snowflake::new(stored.unsigned_abs())
}

/// A `users` row.
#[derive(Debug, Clone)]
pub struct UserRow {
    /// The user.
    pub id: i64,
    /// Unique username.
    pub username: String,
    /// Display name.
    pub global_name: Option<String>,
    /// Avatar hash.
    pub avatar: Option<String>,
    /// E-mail address (only ever shown to the user themselves).
    pub email: Option<String>,
    /// Whether the account is a bot.
    pub bot: bool,
}

/// A `guilds` row.
#[derive(Debug, Clone)]
pub struct GuildRow {
    /// The guild.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: Option<String>,
    /// Its owner.
    pub owner_id: i64,
    /// Where system messages go.
    pub system_channel_id: Option<i64>,
    /// The AFK voice channel.
    pub afk_channel_id: Option<i64>,
    /// Seconds before an idle member moves to the AFK channel.
    pub afk_timeout: i32,
    /// Its icon's image hash.
    pub icon: Option<String>,
    /// Its banner's image hash.
    pub banner: Option<String>,
}

/// A `roles` row.
#[derive(Debug, Clone)]
pub struct RoleRow {
    /// The role (the guild's id for `@everyone`).
    pub id: i64,
    /// Its guild.
    pub guild_id: i64,
    /// Its name.
    pub name: String,
    /// RGB colour.
    pub color: i32,
    /// Shown separately in the member list.
    pub hoist: bool,
    /// Place in the hierarchy.
    pub position: i32,
    /// Guild-level permission bits.
    pub permissions: i64,
    /// Managed by an integration.
    pub managed: bool,
    /// May be mentioned by anyone.
    pub mentionable: bool,
}

/// A `members` row with its user.
#[derive(Debug, Clone)]
pub struct MemberRow {
    /// The member's user.
    pub user: UserRow,
    /// Guild nickname.
    pub nick: Option<String>,
    /// Role ids (without `@everyone`).
    pub roles: Vec<i64>,
    /// When they joined.
    pub joined_at: OffsetDateTime,
    /// End of their timeout, if any.
    pub communication_disabled_until: Option<OffsetDateTime>,
    /// Server-muted.
    pub mute: bool,
    /// Server-deafened.
    pub deaf: bool,
}

/// A member joined with their user, as one flat row.
struct JoinedMember {
    id: i64,
    username: String,
    global_name: Option<String>,
    avatar: Option<String>,
    email: Option<String>,
    bot: bool,
    nick: Option<String>,
    roles: Vec<i64>,
    joined_at: OffsetDateTime,
    communication_disabled_until: Option<OffsetDateTime>,
    mute: bool,
    deaf: bool,
}

impl From<JoinedMember> for MemberRow {
    fn from(r: JoinedMember) -> Self {
        Self {
            user: UserRow {
                id: r.id,
                username: r.username,
                global_name: r.global_name,
                avatar: r.avatar,
                email: r.email,
                bot: r.bot,
            },
            nick: r.nick,
            roles: r.roles,
            joined_at: r.joined_at,
            communication_disabled_until: r.communication_disabled_until,
            mute: r.mute,
            deaf: r.deaf,
        }
    }
}

/// A `channels` row.
#[derive(Debug, Clone)]
pub struct ChannelRow {
    /// The channel.
    pub id: i64,
    /// Its guild.
    pub guild_id: i64,
    /// Discord's channel type number.
    pub kind: i16,
    /// Its name.
    pub name: String,
    /// Sort position.
    pub position: i32,
    /// Its category.
    pub parent_id: Option<i64>,
    /// Text channel topic.
    pub topic: Option<String>,
    /// Age-restricted.
    pub nsfw: bool,
    /// Slow mode, seconds.
    pub rate_limit_per_user: i32,
    /// Voice bitrate.
    pub bitrate: Option<i32>,
    /// Voice user limit.
    pub user_limit: Option<i32>,
}

/// A `permission_overwrites` row.
#[derive(Debug, Clone)]
pub struct OverwriteRow {
    /// The channel it applies to.
    pub channel_id: i64,
    /// The role or member.
    pub target_id: i64,
    /// 0 role, 1 member.
    pub kind: i16,
    /// Granted bits.
    pub allow: i64,
    /// Denied bits.
    pub deny: i64,
}

/// A DM channel with its two recipients.
#[derive(Debug, Clone)]
pub struct DmChannelRow {
    /// The channel.
    pub id: i64,
    /// The recipient with the smaller id.
    pub user_low: i64,
    /// The recipient with the greater id.
    pub user_high: i64,
}

/// An `invites` row.
#[derive(Debug, Clone)]
pub struct InviteRow {
    /// The code.
    pub code: String,
    /// Its guild.
    pub guild_id: i64,
    /// The channel it leads to.
    pub channel_id: i64,
    /// Who made it.
    pub inviter_id: i64,
    /// Seconds it lives (0: forever).
    pub max_age: i32,
    /// Uses it allows (0: unlimited).
    pub max_uses: i32,
    /// Uses so far.
    pub uses: i32,
    /// Grants temporary membership.
    pub temporary: bool,
    /// When it was made.
    pub created_at: OffsetDateTime,
}

/// A `bans` row.
#[derive(Debug, Clone)]
pub struct BanRow {
    /// The banned user.
    pub user_id: i64,
    /// Why.
    pub reason: Option<String>,
}

/// One side of a relationship, as its owner sees it.
#[derive(Debug, Clone)]
pub struct RelationshipRow {
    /// The other user.
    pub other_id: i64,
    /// Discord's relationship type.
    pub kind: i16,
}

/// The relational read models.
#[derive(Debug, Clone)]
pub struct ReadModels {
    pool: PgPool,
}

impl ReadModels {
    /// Reads through `pool` (see [`cloudcord_runtime::postgres::PostgresConfig::lazy_pool`]).
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The pool, for the readiness check.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// One user.
    pub async fn user(&self, id: i64) -> Result<Option<UserRow>, sqlx::Error> {
        sqlx::query_as!(
            UserRow,
            "SELECT id, username, global_name, avatar, email, bot FROM users WHERE id = $1",
            id
        )
        .fetch_optional(&self.pool)
        .await
    }

    /// The current token generation of bot `id`; `None` for an unknown user or
    /// one that is not a bot.
    pub async fn bot_token_id(&self, id: i64) -> Result<Option<i64>, sqlx::Error> {
        let row = sqlx::query!("SELECT bot_token_id FROM users WHERE id = $1 AND bot", id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.and_then(|row| row.bot_token_id))
    }

    /// The users among `ids` that exist, in id order.
    pub async fn users(&self, ids: &[i64]) -> Result<Vec<UserRow>, sqlx::Error> {
        sqlx::query_as!(
            UserRow,
            "SELECT id, username, global_name, avatar, email, bot FROM users
             WHERE id = ANY($1) ORDER BY id",
            ids
        )
        .fetch_all(&self.pool)
        .await
    }

    /// One guild.
    pub async fn guild(&self, id: i64) -> Result<Option<GuildRow>, sqlx::Error> {
        sqlx::query_as!(
            GuildRow,
            "SELECT id, name, description, owner_id, system_channel_id, afk_channel_id,
                    afk_timeout, icon, banner
             FROM guilds WHERE id = $1",
            id
        )
        .fetch_optional(&self.pool)
        .await
    }

    /// The guilds `user_id` is a member of with ids in `(after, before)`, ascending,
    /// at most `limit`.
    pub async fn guilds_of(
        &self,
        user_id: i64,
        after: i64,
        before: i64,
        limit: i64,
    ) -> Result<Vec<GuildRow>, sqlx::Error> {
        sqlx::query_as!(
            GuildRow,
            "SELECT g.id, g.name, g.description, g.owner_id, g.system_channel_id,
                    g.afk_channel_id, g.afk_timeout, g.icon, g.banner
             FROM guilds g JOIN members m ON m.guild_id = g.id
             WHERE m.user_id = $1 AND g.id > $2 AND g.id < $3
             ORDER BY g.id LIMIT $4",
            user_id,
            after,
            before,
            limit
        )
        .fetch_all(&self.pool)
        .await
    }

    /// How many members `guild_id` has.
    pub async fn member_count(&self, guild_id: i64) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar!(
            r#"SELECT count(*) AS "count!" FROM members WHERE guild_id = $1"#,
            guild_id
        )
        .fetch_one(&self.pool)
        .await
    }

    /// Every role of the guilds in `guild_ids`, lowest first (Discord's order).
    pub async fn roles(&self, guild_ids: &[i64]) -> Result<Vec<RoleRow>, sqlx::Error> {
        sqlx::query_as!(
            RoleRow,
            "SELECT id, guild_id, name, color, hoist, position, permissions, managed,
                    mentionable
             FROM roles WHERE guild_id = ANY($1) ORDER BY guild_id, position, id DESC",
            guild_ids
        )
        .fetch_all(&self.pool)
        .await
    }

    /// One member of a guild, with their user.
    pub async fn member(
        &self,
        guild_id: i64,
        user_id: i64,
    ) -> Result<Option<MemberRow>, sqlx::Error> {
        let row = sqlx::query_as!(
            JoinedMember,
            "SELECT u.id, u.username, u.global_name, u.avatar, u.email, u.bot,
                    m.nick, m.roles, m.joined_at, m.communication_disabled_until, m.mute, m.deaf
             FROM members m JOIN users u ON u.id = m.user_id
             WHERE m.guild_id = $1 AND m.user_id = $2",
            guild_id,
            user_id
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(MemberRow::from))
    }

    /// Members of a guild with user ids above `after`, ascending, at most `limit`
    /// (Discord's member list pagination).
    pub async fn members(
        &self,
        guild_id: i64,
        after: i64,
        limit: i64,
    ) -> Result<Vec<MemberRow>, sqlx::Error> {
        let rows = sqlx::query_as!(
            JoinedMember,
            "SELECT u.id, u.username, u.global_name, u.avatar, u.email, u.bot,
                    m.nick, m.roles, m.joined_at, m.communication_disabled_until, m.mute, m.deaf
             FROM members m JOIN users u ON u.id = m.user_id
             WHERE m.guild_id = $1 AND m.user_id > $2
             ORDER BY m.user_id LIMIT $3",
            guild_id,
            after,
            limit
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(MemberRow::from).collect())
    }

    /// One guild channel.
    pub async fn channel(&self, id: i64) -> Result<Option<ChannelRow>, sqlx::Error> {
        sqlx::query_as!(
            ChannelRow,
            r#"SELECT id, guild_id, type AS kind, name, position, parent_id, topic, nsfw,
                      rate_limit_per_user, bitrate, user_limit
               FROM channels WHERE id = $1"#,
            id
        )
        .fetch_optional(&self.pool)
        .await
    }

    /// Every channel of a guild, by position then id.
    pub async fn channels(&self, guild_id: i64) -> Result<Vec<ChannelRow>, sqlx::Error> {
        sqlx::query_as!(
            ChannelRow,
            r#"SELECT id, guild_id, type AS kind, name, position, parent_id, topic, nsfw,
                      rate_limit_per_user, bitrate, user_limit
               FROM channels WHERE guild_id = $1 ORDER BY position, id"#,
            guild_id
        )
        .fetch_all(&self.pool)
        .await
    }

    /// Every permission overwrite of a guild's channels.
    pub async fn overwrites(&self, guild_id: i64) -> Result<Vec<OverwriteRow>, sqlx::Error> {
        sqlx::query_as!(
            OverwriteRow,
            r#"SELECT channel_id, target_id, type AS kind, allow, deny
               FROM permission_overwrites WHERE guild_id = $1
               ORDER BY channel_id, target_id"#,
            guild_id
        )
        .fetch_all(&self.pool)
        .await
    }

    /// The newest visible message of each of `channel_ids` (Discord's
    /// `last_message_id`).
    pub async fn last_message_ids(
        &self,
        channel_ids: &[i64],
    ) -> Result<Vec<(i64, i64)>, sqlx::Error> {
        let rows = sqlx::query!(
            r#"SELECT channel_id, max(id) AS "last!" FROM message_index
               WHERE channel_id = ANY($1) AND NOT deleted GROUP BY channel_id"#,
            channel_ids
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| (r.channel_id, r.last)).collect())
    }

    /// One DM channel.
    pub async fn dm_channel(&self, id: i64) -> Result<Option<DmChannelRow>, sqlx::Error> {
        sqlx::query_as!(
            DmChannelRow,
            "SELECT id, user_low, user_high FROM dm_channels WHERE id = $1",
            id
        )
        .fetch_optional(&self.pool)
        .await
    }

    /// The DM channels `user_id` is a recipient of, by id.
    pub async fn dm_channels_of(&self, user_id: i64) -> Result<Vec<DmChannelRow>, sqlx::Error> {
        sqlx::query_as!(
            DmChannelRow,
            "SELECT id, user_low, user_high FROM dm_channels
             WHERE user_low = $1 OR user_high = $1 ORDER BY id",
            user_id
        )
        .fetch_all(&self.pool)
        .await
    }

    /// `user_id`'s relationships, by the other user's id.
    pub async fn relationships(&self, user_id: i64) -> Result<Vec<RelationshipRow>, sqlx::Error> {
        sqlx::query_as!(
            RelationshipRow,
            r#"SELECT other_id, type AS kind FROM relationships
               WHERE user_id = $1 ORDER BY other_id"#,
            user_id
        )
        .fetch_all(&self.pool)
        .await
    }

    /// A guild's bans of users with ids in `(after, before)`, ascending, at most
    /// `limit`.
    pub async fn bans(
        &self,
        guild_id: i64,
        after: i64,
        before: i64,
        limit: i64,
    ) -> Result<Vec<BanRow>, sqlx::Error> {
        sqlx::query_as!(
            BanRow,
            "SELECT user_id, reason FROM bans
             WHERE guild_id = $1 AND user_id > $2 AND user_id < $3
             ORDER BY user_id LIMIT $4",
            guild_id,
            after,
            before,
            limit
        )
        .fetch_all(&self.pool)
        .await
    }

    /// Every invite of a guild, newest first.
    pub async fn invites(&self, guild_id: i64) -> Result<Vec<InviteRow>, sqlx::Error> {
        sqlx::query_as!(
            InviteRow,
            "SELECT code, guild_id, channel_id, inviter_id, max_age, max_uses, uses,
                    temporary, created_at
             FROM invites WHERE guild_id = $1 ORDER BY created_at DESC, code",
            guild_id
        )
        .fetch_all(&self.pool)
        .await
    }

    /// One invite.
    pub async fn invite(&self, code: &str) -> Result<Option<InviteRow>, sqlx::Error> {
        sqlx::query_as!(
            InviteRow,
            "SELECT code, guild_id, channel_id, inviter_id, max_age, max_uses, uses,
                    temporary, created_at
             FROM invites WHERE code = $1",
            code
        )
        .fetch_optional(&self.pool)
        .await
    }

    /// The last applied `seq` of each of the aggregates named by `kinds[i]`,
    /// `ids[i]` that has one.
    pub async fn positions(
        &self,
        kinds: &[String],
        ids: &[i64],
    ) -> Result<Vec<(String, i64, i64)>, sqlx::Error> {
        let rows = sqlx::query!(
            r#"SELECT p.aggregate_type, p.aggregate_id, p.seq
               FROM aggregate_positions AS p
               JOIN UNNEST($1::text[], $2::int8[]) AS u(kind, id)
                 ON p.aggregate_type = u.kind AND p.aggregate_id = u.id"#,
            kinds,
            ids
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.aggregate_type, r.aggregate_id, r.seq))
            .collect())
    }

    /// One page of `user_id`'s mention inbox, newest first: the (message,
    /// channel) of messages by others, not deleted, before `before`, in
    /// `guild_id` when given, that mention the user directly, or — in a guild
    /// they are still a member of — through a role they hold (with `roles`) or as
    /// `@everyone`/`@here` (with `everyone`). Who may see each channel is the
    /// caller's question.
    pub async fn mentions(&self, filter: &MentionFilter) -> Result<Vec<(i64, i64)>, sqlx::Error> {
        let rows = sqlx::query!(
            r#"SELECT m.message_id, m.channel_id
               FROM message_mentions m
               JOIN message_index i ON i.id = m.message_id
               LEFT JOIN members g ON g.guild_id = m.guild_id AND g.user_id = $1
               WHERE NOT i.deleted AND i.author_id <> $1
                 AND ($2::int8 IS NULL OR m.message_id < $2)
                 AND ($3::int8 IS NULL OR m.guild_id = $3)
                 AND (m.guild_id IS NULL OR g.user_id IS NOT NULL)
                 AND ($1 = ANY(m.users)
                      OR ($4 AND m.roles && g.roles)
                      OR ($5 AND m.everyone))
               ORDER BY m.message_id DESC
               LIMIT $6"#,
            filter.user_id,
            filter.before,
            filter.guild_id,
            filter.roles,
            filter.everyone,
            filter.limit,
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.message_id, r.channel_id))
            .collect())
    }

    /// The ids of `channel_id`'s visible messages that `scan` covers, in its order.
    /// Pages are chosen here, where `message_index` orders a channel's ids, and
    /// their documents read by id: FerretDB would read and sort every document of
    /// the channel to find a page.
    pub async fn message_ids(&self, channel_id: i64, scan: Scan) -> Result<Vec<i64>, sqlx::Error> {
        let stored = |id: u64| i64::try_from(id).unwrap_or(i64::MAX);
        // Exclusive bounds.
        let (above, below) = match scan.range {
            Range::All => (i64::MIN, i64::MAX),
            Range::Below(id) => (i64::MIN, stored(id)),
            Range::AtOrBelow(id) => (i64::MIN, stored(id).saturating_add(1)),
            Range::Above(id) => (stored(id), i64::MAX),
        };
        let limit = i64::from(scan.limit);
        if scan.newest_first {
            sqlx::query_scalar!(
                r#"SELECT id FROM message_index
                   WHERE channel_id = $1 AND NOT deleted AND id > $2 AND id < $3
                   ORDER BY id DESC LIMIT $4"#,
                channel_id,
                above,
                below,
                limit,
            )
            .fetch_all(&self.pool)
            .await
        } else {
            sqlx::query_scalar!(
                r#"SELECT id FROM message_index
                   WHERE channel_id = $1 AND NOT deleted AND id > $2 AND id < $3
                   ORDER BY id LIMIT $4"#,
                channel_id,
                above,
                below,
                limit,
            )
            .fetch_all(&self.pool)
            .await
        }
    }

    /// The ids of `channel_id`'s pinned visible messages, all of them (a channel
    /// holds at most `MAX_PINS`; their pin times are in the documents).
    pub async fn pinned_ids(&self, channel_id: i64) -> Result<Vec<i64>, sqlx::Error> {
        let most = i64::try_from(MAX_PINS).unwrap_or(i64::MAX);
        sqlx::query_scalar!(
            r#"SELECT id FROM message_index
               WHERE channel_id = $1 AND pinned AND NOT deleted
               ORDER BY id DESC LIMIT $2"#,
            channel_id,
            most,
        )
        .fetch_all(&self.pool)
        .await
    }
}

/// Which mentions [`ReadModels::mentions`] lists.
#[derive(Debug, Clone, Copy)]
pub struct MentionFilter {
    /// Whose inbox.
    pub user_id: i64,
    /// Only messages older than this one.
    pub before: Option<i64>,
    /// Only this guild's messages.
    pub guild_id: Option<i64>,
    /// With role mentions.
    pub roles: bool,
    /// With `@everyone` and `@here`.
    pub everyone: bool,
    /// At most this many.
    pub limit: i64,
}
