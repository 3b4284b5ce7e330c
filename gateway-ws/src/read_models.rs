//! Every question the gateway asks PostgreSQL, over the read models the PostgreSQL
//! projector writes (`projectors/migrations`). Only Identify asks (who the user is,
//! which guilds they are in, each guild's state for GUILD_CREATE); dispatches never
//! touch the database.
//!
//! Ids are `int8` in the tables (CloudCord's snowflakes stay below 2^63) and are
//! converted at this boundary.

use std::time::Duration;

use cloudcord_runtime::postgres::PostgresConfig;
use cloudcord_schemas::ids::{GuildId, UserId};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

/// A stored id for `id`; `-1` (no row) for one above `i64::MAX`.
fn key(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(-1)
}

/// A stored id as a snowflake (stored ids are never negative).
pub fn stored(id: i64) -> u64 {
    id.unsigned_abs()
}

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
