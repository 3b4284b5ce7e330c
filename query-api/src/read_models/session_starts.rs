//! Bots' session starts as the gateway records them, for `GET /gateway/bot`'s
//! `session_start_limit` (`developers/events/gateway.mdx`, "Session Start Limit
//! Object").
//!
//! The table and the limits are the gateway's: it writes one row per session a
//! bot starts into `session_starts` in its own schema
//! (`gateway-ws/migrations/0002_session_starts.sql`) and refuses an Identify past
//! `session_starts_per_day` in 24 hours or past `max_concurrency` per 5 seconds.
//! query-api cannot ask the gateway, so [`SessionStartSettings`] repeats its
//! `[gateway_ws.sessions]` settings and must match them; the defaults do.
//!
//! The query is checked at compile time like the read models' (the scratch
//! database of `make sqlx-prepare` holds the gateway's tables too).

use std::num::NonZeroU16;

use serde::Deserialize;
use sqlx::PgPool;

/// PostgreSQL's `undefined_table`.
const UNDEFINED_TABLE: &str = "42P01";

/// The `[query_api.session_starts]` settings: the gateway's, repeated.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SessionStartSettings {
    /// The gateway's schema: `[gateway_ws.sessions] store_schema`.
    pub store_schema: String,
    /// `[gateway_ws.sessions] session_starts_per_day`.
    pub session_starts_per_day: u32,
    /// `[gateway_ws.sessions] max_concurrency`.
    pub max_concurrency: NonZeroU16,
}

impl Default for SessionStartSettings {
    /// The gateway's defaults.
    fn default() -> Self {
        Self {
            store_schema: "gateway".to_owned(),
            session_starts_per_day: 1_000,
            max_concurrency: NonZeroU16::MIN,
        }
    }
}

/// Discord's session start limit object for one bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionStartLimit {
    /// Starts allowed per 24 hours.
    pub total: u32,
    /// Starts left now.
    pub remaining: u32,
    /// Milliseconds until the oldest start in the window leaves it (0 without one).
    pub reset_after: u64,
    /// Identifies allowed per 5 seconds.
    pub max_concurrency: u16,
}

/// The gateway's record of session starts.
#[derive(Debug, Clone)]
pub struct SessionStarts {
    /// Connections whose `search_path` is the gateway's schema.
    pool: PgPool,
    per_day: u32,
    max_concurrency: NonZeroU16,
}

impl SessionStarts {
    /// Reads through `pool` (see
    /// [`PostgresConfig::lazy_schema_pool`](cloudcord_runtime::postgres::PostgresConfig::lazy_schema_pool)
    /// with `settings.store_schema`) with `settings`' limits.
    pub fn new(pool: PgPool, settings: &SessionStartSettings) -> Self {
        Self {
            pool,
            per_day: settings.session_starts_per_day,
            max_concurrency: settings.max_concurrency,
        }
    }

    /// The session start limit of `bot` (its stored id) now.
    pub async fn limit(&self, bot: i64) -> Result<SessionStartLimit, sqlx::Error> {
        let outcome = sqlx::query!(
            r#"SELECT count(*) AS "starts!",
                   ceil(EXTRACT(EPOCH FROM min(started_at) + interval '24 hours' - now())
                       * 1000)::int8 AS reset_after_ms
               FROM session_starts
               WHERE user_id = $1 AND started_at > now() - interval '24 hours'"#,
            bot
        )
        .fetch_one(&self.pool)
        .await;
        let (starts, reset_after_ms) = match outcome {
            Ok(row) => (row.starts, row.reset_after_ms),
            // The gateway creates its table when it first runs; until then no bot
            // has started a session.
            Err(sqlx::Error::Database(error))
                if error.code().as_deref() == Some(UNDEFINED_TABLE) =>
            {
                (0, None)
            }
            Err(error) => return Err(error),
        };
        Ok(SessionStartLimit {
            total: self.per_day,
            remaining: self
                .per_day
                .saturating_sub(u32::try_from(starts).unwrap_or(u32::MAX)),
            // Positive whenever there is a start (it is younger than a day).
            reset_after: reset_after_ms.map_or(0, |ms| u64::try_from(ms).unwrap_or(0)),
            max_concurrency: self.max_concurrency.get(),
        })
    }
}
