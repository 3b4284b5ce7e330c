//! Applies [`RowChange`]s inside the batch's transaction, in event order.
//!
//! Messages are most of the traffic, so their changes are folded in memory and
//! written with one multi-row statement per kind (`INSERT … SELECT FROM UNNEST`,
//! `UPDATE … FROM UNNEST`) when the batch ends or before any other change — which
//! keeps event order: a message change only ever touches its own row, and every
//! other change sees the messages before it already written. A message's mentions
//! and the read states (acks come as often as messages) are folded the same way:
//! each touches only its own row, and the last change of a row wins. The rare
//! guild and user changes run one statement each.

use std::collections::{BTreeMap, HashMap};

use sqlx::{Connection, PgConnection};
use time::OffsetDateTime;

use super::copy::CopyRows;
use super::rows::{MentionsRow, MessageRow, RowChange};

/// A message's pending flags when its row was written by an earlier batch.
#[derive(Debug, Default, Clone, Copy)]
struct Flags {
    pinned: Option<bool>,
    deleted: bool,
}

/// Writes one batch's changes; [`Writer::finish`] must run before commit.
#[derive(Default)]
pub(crate) struct Writer {
    /// New message rows, in event order.
    inserts: Vec<MessageRow>,
    /// Where each new message is in `inserts`.
    inserted: HashMap<i64, usize>,
    /// Flag changes to messages written before this batch.
    flags: BTreeMap<i64, Flags>,
    /// Each message's mentions as its last change leaves them.
    mentions: BTreeMap<i64, MentionsRow>,
    /// (user, channel) → (last message, version), as the last ack leaves them.
    read_states: BTreeMap<(i64, i64), (i64, i64)>,
}

impl Writer {
    /// Applies `change`, or queues it when it is a message change.
    pub(crate) async fn apply(
        &mut self,
        conn: &mut PgConnection,
        change: RowChange,
    ) -> Result<(), sqlx::Error> {
        let message = matches!(
            change,
            RowChange::InsertMessage(_)
                | RowChange::SetPinned { .. }
                | RowChange::DeleteMessage { .. }
                | RowChange::ReplaceMentions(_)
                | RowChange::UpsertReadState { .. }
        );
        // Whatever else comes next may read or change message rows (a deleted
        // channel's messages), so the queue is written first.
        if !message {
            self.flush(conn).await?;
        }
        self.apply_in_order(conn, change).await
    }

    /// Writes what is still queued.
    pub(crate) async fn finish(mut self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        self.flush(conn).await
    }

    async fn flush(&mut self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        if !self.inserts.is_empty() {
            let rows = std::mem::take(&mut self.inserts);
            self.inserted.clear();
            insert_messages(conn, rows).await?;
        }
        if !self.flags.is_empty() {
            let flags = std::mem::take(&mut self.flags);
            let mut ids = Vec::with_capacity(flags.len());
            let mut pinned: Vec<Option<bool>> = Vec::with_capacity(flags.len());
            let mut deleted = Vec::with_capacity(flags.len());
            for (id, change) in flags {
                ids.push(id);
                pinned.push(change.pinned);
                deleted.push(change.deleted);
            }
            sqlx::query!(
                r#"UPDATE message_index AS m
                SET pinned = COALESCE(u.pinned, m.pinned), deleted = m.deleted OR u.deleted
                FROM UNNEST($1::int8[], $2::bool[], $3::bool[]) AS u(id, pinned, deleted)
                WHERE m.id = u.id"#,
                &ids,
                &pinned as &[Option<bool>],
                &deleted,
            )
            .execute(&mut *conn)
            .await?;
        }
        if !self.mentions.is_empty() {
            write_mentions(conn, std::mem::take(&mut self.mentions)).await?;
        }
        if !self.read_states.is_empty() {
            let states = std::mem::take(&mut self.read_states);
            let mut users = Vec::with_capacity(states.len());
            let mut channels = Vec::with_capacity(states.len());
            let mut last = Vec::with_capacity(states.len());
            let mut versions = Vec::with_capacity(states.len());
            for ((user, channel), (message, version)) in states {
                users.push(user);
                channels.push(channel);
                last.push(message);
                versions.push(version);
            }
            sqlx::query!(
                r#"INSERT INTO read_states (user_id, channel_id, last_message_id, version)
                SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::int8[], $4::int8[])
                ON CONFLICT (user_id, channel_id) DO UPDATE
                SET last_message_id = EXCLUDED.last_message_id, version = EXCLUDED.version"#,
                &users,
                &channels,
                &last,
                &versions,
            )
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}

/// Writes each message's mentions, or removes them when it mentions nobody now.
/// The id lists travel as `int8[]` literals (`{1,2}`), since one array parameter
/// cannot hold lists of different lengths.
async fn write_mentions(
    conn: &mut PgConnection,
    rows: BTreeMap<i64, MentionsRow>,
) -> Result<(), sqlx::Error> {
    let literal = |ids: &[i64]| {
        format!(
            "{{{}}}",
            ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
        )
    };
    let mut gone = Vec::new();
    let (mut ids, mut channels, mut guilds, mut everyone, mut users, mut roles) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for (id, row) in rows {
        if !row.mentions_anyone() {
            gone.push(id);
            continue;
        }
        ids.push(id);
        channels.push(row.channel_id);
        guilds.push(row.guild_id);
        everyone.push(row.everyone);
        users.push(literal(&row.users));
        roles.push(literal(&row.roles));
    }
    if !gone.is_empty() {
        sqlx::query!(
            "DELETE FROM message_mentions WHERE message_id = ANY($1)",
            &gone
        )
        .execute(&mut *conn)
        .await?;
    }
    if !ids.is_empty() {
        sqlx::query!(
            r#"INSERT INTO message_mentions (message_id, channel_id, guild_id, everyone, users, roles)
            SELECT u.id, u.channel_id, u.guild_id, u.everyone, u.users::int8[], u.roles::int8[]
            FROM UNNEST($1::int8[], $2::int8[], $3::int8[], $4::bool[], $5::text[], $6::text[])
                AS u(id, channel_id, guild_id, everyone, users, roles)
            ON CONFLICT (message_id) DO UPDATE SET everyone = EXCLUDED.everyone,
                users = EXCLUDED.users, roles = EXCLUDED.roles"#,
            &ids,
            &channels,
            &guilds as &[Option<i64>],
            &everyone,
            &users,
            &roles,
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Fewest new messages worth a `COPY` (three round trips instead of one).
const COPY_AT_LEAST: usize = 256;

/// PostgreSQL's code for a unique violation.
const UNIQUE_VIOLATION: &str = "23505";

/// Inserts new message rows: by binary `COPY` when there are many, inside a
/// savepoint; if one of them exists already (COPY has no `ON CONFLICT`), the
/// savepoint is rolled back and the rows go through the statement that skips
/// existing ones.
async fn insert_messages(
    conn: &mut PgConnection,
    rows: Vec<MessageRow>,
) -> Result<(), sqlx::Error> {
    if rows.len() >= COPY_AT_LEAST {
        let mut savepoint = conn.begin().await?;
        match copy_messages(&mut savepoint, &rows).await {
            Ok(()) => return savepoint.commit().await,
            Err(sqlx::Error::Database(error))
                if error.code().as_deref() == Some(UNIQUE_VIOLATION) =>
            {
                savepoint.rollback().await?;
            }
            Err(error) => return Err(error),
        }
    }
    insert_messages_skipping_existing(conn, rows).await
}

async fn copy_messages(conn: &mut PgConnection, rows: &[MessageRow]) -> Result<(), sqlx::Error> {
    let mut data = CopyRows::new(7, rows.len());
    for row in rows {
        data.row()
            .int8(row.id)
            .int8(row.channel_id)
            .int8_or_null(row.guild_id)
            .int8(row.author_id)
            .timestamptz(row.created_at)
            .bool(row.pinned)
            .bool(row.deleted);
    }
    let mut copy = conn
        .copy_in_raw(
            "COPY message_index (id, channel_id, guild_id, author_id, created_at, pinned, deleted) \
             FROM STDIN (FORMAT binary)",
        )
        .await?;
    copy.send(data.finish()).await?;
    copy.finish().await?;
    Ok(())
}

async fn insert_messages_skipping_existing(
    conn: &mut PgConnection,
    rows: Vec<MessageRow>,
) -> Result<(), sqlx::Error> {
    let mut ids = Vec::with_capacity(rows.len());
    let mut channels = Vec::with_capacity(rows.len());
    let mut guilds: Vec<Option<i64>> = Vec::with_capacity(rows.len());
    let mut authors = Vec::with_capacity(rows.len());
    let mut created: Vec<OffsetDateTime> = Vec::with_capacity(rows.len());
    let mut pinned = Vec::with_capacity(rows.len());
    let mut deleted = Vec::with_capacity(rows.len());
    for row in rows {
        ids.push(row.id);
        channels.push(row.channel_id);
        guilds.push(row.guild_id);
        authors.push(row.author_id);
        created.push(row.created_at);
        pinned.push(row.pinned);
        deleted.push(row.deleted);
    }
    // A message id is assigned once; a second insert can only be the same
    // message, so the first row stands.
    sqlx::query!(
        r#"INSERT INTO message_index (id, channel_id, guild_id, author_id, created_at, pinned, deleted)
                SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::int8[], $4::int8[], $5::timestamptz[], $6::bool[], $7::bool[])
                ON CONFLICT (id) DO NOTHING"#,
        &ids,
        &channels,
        &guilds as &[Option<i64>],
        &authors,
        &created,
        &pinned,
        &deleted,
    )
    .execute(conn)
    .await?;
    Ok(())
}

impl Writer {
    /// Queues a message change or runs the statements of any other change.
    async fn apply_in_order(
        &mut self,
        conn: &mut PgConnection,
        change: RowChange,
    ) -> Result<(), sqlx::Error> {
        match change {
            RowChange::InsertMessage(row) => {
                self.inserted.insert(row.id, self.inserts.len());
                self.inserts.push(row);
            }
            RowChange::SetPinned { id, pinned } => match self.inserted.get(&id) {
                Some(&at) => self.inserts[at].pinned = pinned,
                None => self.flags.entry(id).or_default().pinned = Some(pinned),
            },
            RowChange::DeleteMessage { id } => match self.inserted.get(&id) {
                Some(&at) => self.inserts[at].deleted = true,
                None => self.flags.entry(id).or_default().deleted = true,
            },
            RowChange::UpsertUser(u) => {
                sqlx::query!(
                r#"INSERT INTO users (id, username, global_name, avatar, email, bot, application_id, owner_id, bot_token_id)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                ON CONFLICT (id) DO UPDATE SET username = EXCLUDED.username,
                    global_name = EXCLUDED.global_name, avatar = EXCLUDED.avatar,
                    email = EXCLUDED.email, bot = EXCLUDED.bot,
                    application_id = EXCLUDED.application_id, owner_id = EXCLUDED.owner_id,
                    bot_token_id = EXCLUDED.bot_token_id"#,
                u.id,
                u.username,
                u.global_name,
                u.avatar,
                u.email,
                u.bot,
                u.application_id,
                u.owner_id,
                u.bot_token_id,
            )
            .execute(conn)
            .await?;
            }
            RowChange::SetBotToken { id, token_id } => {
                sqlx::query!(
                    "UPDATE users SET bot_token_id = $2 WHERE id = $1",
                    id,
                    token_id
                )
                .execute(conn)
                .await?;
            }
            RowChange::UpdateUserProfile {
                id,
                username,
                global_name,
                avatar,
            } => {
                sqlx::query!(
                    "UPDATE users SET username = $2, global_name = $3, avatar = $4 WHERE id = $1",
                    id,
                    username,
                    global_name,
                    avatar,
                )
                .execute(conn)
                .await?;
            }
            RowChange::UpsertRelationship {
                user_id,
                other_id,
                kind,
            } => {
                sqlx::query!(
                    r#"INSERT INTO relationships (user_id, other_id, type) VALUES ($1, $2, $3)
                ON CONFLICT (user_id, other_id) DO UPDATE SET type = EXCLUDED.type"#,
                    user_id,
                    other_id,
                    kind,
                )
                .execute(conn)
                .await?;
            }
            RowChange::DeleteRelationship { user_id, other_id } => {
                sqlx::query!(
                    "DELETE FROM relationships WHERE user_id = $1 AND other_id = $2",
                    user_id,
                    other_id,
                )
                .execute(conn)
                .await?;
            }
            RowChange::UpsertGuild(g) => {
                sqlx::query!(
                r#"INSERT INTO guilds (id, name, description, owner_id, system_channel_id, afk_channel_id, afk_timeout, created_at)
                VALUES ($1, $2, NULL, $3, $4, NULL, $5, $6)
                ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, owner_id = EXCLUDED.owner_id,
                    system_channel_id = EXCLUDED.system_channel_id, created_at = EXCLUDED.created_at"#,
                g.id,
                g.name,
                g.owner_id,
                g.system_channel_id,
                g.afk_timeout,
                g.created_at,
            )
            .execute(conn)
            .await?;
            }
            RowChange::UpdateGuild {
                id,
                name,
                description,
                owner_id,
                system_channel_id,
                afk_channel_id,
                afk_timeout,
                icon,
                banner,
            } => {
                // `$n_set` says whether a nullable column changes at all, since its new
                // value may itself be NULL.
                sqlx::query!(
                    r#"UPDATE guilds SET
                    name = COALESCE($2, name),
                    description = CASE WHEN $3 THEN $4 ELSE description END,
                    owner_id = COALESCE($5, owner_id),
                    system_channel_id = CASE WHEN $6 THEN $7 ELSE system_channel_id END,
                    afk_channel_id = CASE WHEN $8 THEN $9 ELSE afk_channel_id END,
                    afk_timeout = COALESCE($10, afk_timeout),
                    icon = CASE WHEN $11 THEN $12 ELSE icon END,
                    banner = CASE WHEN $13 THEN $14 ELSE banner END
                WHERE id = $1"#,
                    id,
                    name,
                    description.is_some(),
                    description.flatten(),
                    owner_id,
                    system_channel_id.is_some(),
                    system_channel_id.flatten(),
                    afk_channel_id.is_some(),
                    afk_channel_id.flatten(),
                    afk_timeout,
                    icon.is_some(),
                    icon.flatten(),
                    banner.is_some(),
                    banner.flatten(),
                )
                .execute(conn)
                .await?;
            }
            RowChange::DeleteGuild { id } => {
                sqlx::query!("DELETE FROM guilds WHERE id = $1", id)
                    .execute(&mut *conn)
                    .await?;
                // Read states go with their channels (before the channels, which
                // say which they are).
                sqlx::query!(
                    "DELETE FROM read_states WHERE channel_id IN \
                     (SELECT id FROM channels WHERE guild_id = $1)",
                    id
                )
                .execute(&mut *conn)
                .await?;
                sqlx::query!("DELETE FROM channels WHERE guild_id = $1", id)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query!("DELETE FROM permission_overwrites WHERE guild_id = $1", id)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query!("DELETE FROM roles WHERE guild_id = $1", id)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query!("DELETE FROM members WHERE guild_id = $1", id)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query!("DELETE FROM bans WHERE guild_id = $1", id)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query!("DELETE FROM invites WHERE guild_id = $1", id)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query!("DELETE FROM voice_states WHERE guild_id = $1", id)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query!(
                    "UPDATE message_index SET deleted = true WHERE guild_id = $1 AND NOT deleted",
                    id
                )
                .execute(conn)
                .await?;
            }
            RowChange::UpsertChannel(c) => {
                sqlx::query!(
                r#"INSERT INTO channels (id, guild_id, type, name, position, parent_id, topic, nsfw, rate_limit_per_user, bitrate, user_limit)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                ON CONFLICT (id) DO UPDATE SET guild_id = EXCLUDED.guild_id, type = EXCLUDED.type,
                    name = EXCLUDED.name, position = EXCLUDED.position, parent_id = EXCLUDED.parent_id,
                    topic = EXCLUDED.topic, nsfw = EXCLUDED.nsfw,
                    rate_limit_per_user = EXCLUDED.rate_limit_per_user, bitrate = EXCLUDED.bitrate,
                    user_limit = EXCLUDED.user_limit"#,
                c.id,
                c.guild_id,
                c.kind,
                c.name,
                c.position,
                c.parent_id,
                c.topic,
                c.nsfw,
                c.rate_limit_per_user,
                c.bitrate,
                c.user_limit,
            )
            .execute(conn)
            .await?;
            }
            RowChange::ReplaceOverwrites {
                channel_id,
                overwrites,
            } => {
                sqlx::query!(
                    "DELETE FROM permission_overwrites WHERE channel_id = $1",
                    channel_id
                )
                .execute(&mut *conn)
                .await?;
                let mut targets = Vec::with_capacity(overwrites.len());
                let mut guilds = Vec::with_capacity(overwrites.len());
                let mut kinds = Vec::with_capacity(overwrites.len());
                let mut allows = Vec::with_capacity(overwrites.len());
                let mut denies = Vec::with_capacity(overwrites.len());
                for o in overwrites {
                    targets.push(o.target_id);
                    guilds.push(o.guild_id);
                    kinds.push(o.kind);
                    allows.push(o.allow);
                    denies.push(o.deny);
                }
                sqlx::query!(
                r#"INSERT INTO permission_overwrites (channel_id, target_id, guild_id, type, allow, deny)
                SELECT $1, * FROM UNNEST($2::int8[], $3::int8[], $4::int2[], $5::int8[], $6::int8[])"#,
                channel_id,
                &targets,
                &guilds,
                &kinds,
                &allows,
                &denies,
            )
            .execute(conn)
            .await?;
            }
            RowChange::DeleteChannel {
                guild_id,
                channel_id,
            } => {
                sqlx::query!("DELETE FROM channels WHERE id = $1", channel_id)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query!("DELETE FROM read_states WHERE channel_id = $1", channel_id)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query!(
                    "DELETE FROM permission_overwrites WHERE channel_id = $1",
                    channel_id
                )
                .execute(&mut *conn)
                .await?;
                sqlx::query!("DELETE FROM invites WHERE channel_id = $1", channel_id)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query!("DELETE FROM voice_states WHERE channel_id = $1", channel_id)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query!(
                    "UPDATE channels SET parent_id = NULL WHERE guild_id = $1 AND parent_id = $2",
                    guild_id,
                    channel_id
                )
                .execute(&mut *conn)
                .await?;
                sqlx::query!(
                    r#"UPDATE guilds SET
                    system_channel_id = NULLIF(system_channel_id, $2),
                    afk_channel_id = NULLIF(afk_channel_id, $2)
                WHERE id = $1"#,
                    guild_id,
                    channel_id
                )
                .execute(&mut *conn)
                .await?;
                sqlx::query!(
                    "UPDATE message_index SET deleted = true WHERE channel_id = $1 AND NOT deleted",
                    channel_id
                )
                .execute(conn)
                .await?;
            }
            RowChange::UpsertOverwrite(o) => {
                sqlx::query!(
                r#"INSERT INTO permission_overwrites (channel_id, target_id, guild_id, type, allow, deny)
                VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (channel_id, target_id) DO UPDATE SET type = EXCLUDED.type,
                    allow = EXCLUDED.allow, deny = EXCLUDED.deny"#,
                o.channel_id,
                o.target_id,
                o.guild_id,
                o.kind,
                o.allow,
                o.deny,
            )
            .execute(conn)
            .await?;
            }
            RowChange::DeleteOverwrite {
                channel_id,
                target_id,
            } => {
                sqlx::query!(
                    "DELETE FROM permission_overwrites WHERE channel_id = $1 AND target_id = $2",
                    channel_id,
                    target_id
                )
                .execute(conn)
                .await?;
            }
            RowChange::ShiftRolesUp { guild_id } => {
                sqlx::query!(
                "UPDATE roles SET position = position + 1 WHERE guild_id = $1 AND position >= 1",
                guild_id
            )
            .execute(conn)
            .await?;
            }
            RowChange::UpsertRole(r) => {
                sqlx::query!(
                r#"INSERT INTO roles (id, guild_id, name, color, hoist, position, permissions, managed, mentionable)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, color = EXCLUDED.color,
                    hoist = EXCLUDED.hoist, position = EXCLUDED.position,
                    permissions = EXCLUDED.permissions, managed = EXCLUDED.managed,
                    mentionable = EXCLUDED.mentionable"#,
                r.id,
                r.guild_id,
                r.name,
                r.color,
                r.hoist,
                r.position,
                r.permissions,
                r.managed,
                r.mentionable,
            )
            .execute(conn)
            .await?;
            }
            RowChange::DeleteRole { guild_id, role_id } => {
                sqlx::query!("DELETE FROM roles WHERE id = $1", role_id)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query!(
                "UPDATE members SET roles = array_remove(roles, $2) WHERE guild_id = $1 AND $2 = ANY(roles)",
                guild_id,
                role_id
            )
            .execute(&mut *conn)
            .await?;
                sqlx::query!(
                "DELETE FROM permission_overwrites WHERE guild_id = $1 AND target_id = $2 AND type = 0",
                guild_id,
                role_id
            )
            .execute(conn)
            .await?;
            }
            RowChange::SetRolePosition { role_id, position } => {
                sqlx::query!(
                    "UPDATE roles SET position = $2 WHERE id = $1",
                    role_id,
                    position
                )
                .execute(conn)
                .await?;
            }
            RowChange::InsertMember(m) => {
                sqlx::query!(
                r#"INSERT INTO members (guild_id, user_id, nick, roles, joined_at, communication_disabled_until, mute, deaf)
                VALUES ($1, $2, NULL, '{}', $3, NULL, false, false)
                ON CONFLICT (guild_id, user_id) DO UPDATE SET nick = NULL, roles = '{}',
                    joined_at = EXCLUDED.joined_at, communication_disabled_until = NULL,
                    mute = false, deaf = false"#,
                m.guild_id,
                m.user_id,
                m.joined_at,
            )
            .execute(conn)
            .await?;
            }
            RowChange::CountInviteUse { code } => {
                sqlx::query!("UPDATE invites SET uses = uses + 1 WHERE code = $1", code)
                    .execute(conn)
                    .await?;
            }
            RowChange::DeleteMember { guild_id, user_id } => {
                sqlx::query!(
                    "DELETE FROM members WHERE guild_id = $1 AND user_id = $2",
                    guild_id,
                    user_id
                )
                .execute(&mut *conn)
                .await?;
                sqlx::query!(
                    "DELETE FROM voice_states WHERE guild_id = $1 AND user_id = $2",
                    guild_id,
                    user_id
                )
                .execute(conn)
                .await?;
            }
            RowChange::UpdateMember(m) => {
                sqlx::query!(
                    r#"UPDATE members SET nick = $3, roles = $4, communication_disabled_until = $5,
                    mute = $6, deaf = $7
                WHERE guild_id = $1 AND user_id = $2"#,
                    m.guild_id,
                    m.user_id,
                    m.nick,
                    &m.roles,
                    m.communication_disabled_until,
                    m.mute,
                    m.deaf,
                )
                .execute(conn)
                .await?;
            }
            RowChange::UpsertBan {
                guild_id,
                user_id,
                reason,
            } => {
                sqlx::query!(
                    r#"INSERT INTO bans (guild_id, user_id, reason) VALUES ($1, $2, $3)
                ON CONFLICT (guild_id, user_id) DO UPDATE SET reason = EXCLUDED.reason"#,
                    guild_id,
                    user_id,
                    reason,
                )
                .execute(conn)
                .await?;
            }
            RowChange::DeleteBan { guild_id, user_id } => {
                sqlx::query!(
                    "DELETE FROM bans WHERE guild_id = $1 AND user_id = $2",
                    guild_id,
                    user_id
                )
                .execute(conn)
                .await?;
            }
            RowChange::PurgeMessages {
                guild_id,
                author_id,
                since,
            } => {
                sqlx::query!(
                    r#"UPDATE message_index SET deleted = true
                WHERE guild_id = $1 AND author_id = $2 AND created_at >= $3 AND NOT deleted"#,
                    guild_id,
                    author_id,
                    since,
                )
                .execute(conn)
                .await?;
            }
            RowChange::UpsertInvite(i) => {
                sqlx::query!(
                r#"INSERT INTO invites (code, guild_id, channel_id, inviter_id, max_age, max_uses, uses, temporary, created_at)
                VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8)
                ON CONFLICT (code) DO NOTHING"#,
                i.code,
                i.guild_id,
                i.channel_id,
                i.inviter_id,
                i.max_age,
                i.max_uses,
                i.temporary,
                i.created_at,
            )
            .execute(conn)
            .await?;
            }
            RowChange::DeleteInvite { code } => {
                sqlx::query!("DELETE FROM invites WHERE code = $1", code)
                    .execute(conn)
                    .await?;
            }
            RowChange::UpsertVoiceState(v) => {
                sqlx::query!(
                r#"INSERT INTO voice_states (guild_id, user_id, channel_id, session_id, deaf, mute, self_deaf, self_mute, suppress)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                ON CONFLICT (guild_id, user_id) DO UPDATE SET channel_id = EXCLUDED.channel_id,
                    session_id = EXCLUDED.session_id, deaf = EXCLUDED.deaf, mute = EXCLUDED.mute,
                    self_deaf = EXCLUDED.self_deaf, self_mute = EXCLUDED.self_mute,
                    suppress = EXCLUDED.suppress"#,
                v.guild_id,
                v.user_id,
                v.channel_id,
                v.session_id,
                v.deaf,
                v.mute,
                v.self_deaf,
                v.self_mute,
                v.suppress,
            )
            .execute(conn)
            .await?;
            }
            RowChange::DeleteVoiceState { guild_id, user_id } => {
                sqlx::query!(
                    "DELETE FROM voice_states WHERE guild_id = $1 AND user_id = $2",
                    guild_id,
                    user_id
                )
                .execute(conn)
                .await?;
            }
            RowChange::UpsertDmChannel {
                id,
                user_low,
                user_high,
            } => {
                sqlx::query!(
                    r#"INSERT INTO dm_channels (id, user_low, user_high) VALUES ($1, $2, $3)
                ON CONFLICT (id) DO NOTHING"#,
                    id,
                    user_low,
                    user_high,
                )
                .execute(conn)
                .await?;
            }
            RowChange::UpsertDmBlock {
                channel_id,
                blocker_id,
                blocked_id,
            } => {
                sqlx::query!(
                r#"INSERT INTO dm_blocks (channel_id, blocker_id, blocked_id) VALUES ($1, $2, $3)
                ON CONFLICT (channel_id, blocker_id) DO UPDATE SET blocked_id = EXCLUDED.blocked_id"#,
                channel_id,
                blocker_id,
                blocked_id,
            )
            .execute(conn)
            .await?;
            }
            RowChange::DeleteDmBlock {
                channel_id,
                blocker_id,
            } => {
                sqlx::query!(
                    "DELETE FROM dm_blocks WHERE channel_id = $1 AND blocker_id = $2",
                    channel_id,
                    blocker_id
                )
                .execute(conn)
                .await?;
            }
            RowChange::ReplaceMentions(row) => {
                self.mentions.insert(row.message_id, row);
            }
            RowChange::UpsertReadState {
                user_id,
                channel_id,
                last_message_id,
                version,
            } => {
                self.read_states
                    .insert((user_id, channel_id), (last_message_id, version));
            }
            RowChange::UpsertGuildSettings {
                user_id,
                guild_id,
                settings,
                version,
            } => {
                sqlx::query!(
                    r#"INSERT INTO user_guild_settings (user_id, guild_id, settings, version)
                    VALUES ($1, $2, $3::text::jsonb, $4)
                    ON CONFLICT (user_id, guild_id) DO UPDATE
                    SET settings = EXCLUDED.settings, version = EXCLUDED.version"#,
                    user_id,
                    guild_id,
                    settings,
                    version,
                )
                .execute(conn)
                .await?;
            }
            RowChange::UpsertPushSubscription {
                endpoint,
                user_id,
                p256dh,
                auth,
            } => {
                sqlx::query!(
                    "INSERT INTO push_subscriptions (endpoint, user_id, p256dh, auth) \
                    VALUES ($1, $2, $3, $4) ON CONFLICT (endpoint) DO UPDATE \
                    SET user_id = EXCLUDED.user_id, p256dh = EXCLUDED.p256dh, auth = EXCLUDED.auth",
                    endpoint,
                    user_id,
                    p256dh,
                    auth,
                )
                .execute(conn)
                .await?;
            }
            RowChange::DeletePushSubscription { endpoint, user_id } => {
                sqlx::query!(
                    "DELETE FROM push_subscriptions WHERE endpoint = $1 AND user_id = $2",
                    endpoint,
                    user_id,
                )
                .execute(conn)
                .await?;
            }
        }
        Ok(())
    }
}
