//! [`SessionStarts`]: Discord's session start limit for bots
//! (`developers/events/gateway.mdx`: "Identifying", "Session Start Limit Object",
//! "Sharding").
//!
//! Every Identify of a bot that would start a session is a session start, kept in
//! the gateway's own schema (`gateway-ws/migrations/0002_session_starts.sql`) for
//! a day. A start is refused when the bot has already started
//! `session_starts_per_day` sessions in the last 24 hours, or one in the last 5
//! seconds in the same bucket (`shard_id % max_concurrency`, an unsharded session
//! being shard 0); the client gets Invalid Session (`d: false`) and identifies
//! again later. Resumes are not starts, and people are not limited.
//!
//! The gateway processes share the rows, so the check and the insert run in one
//! transaction that first takes an advisory lock on the bot: two processes cannot
//! both admit a start the limit leaves room for only once. query-api reads the
//! same rows for `GET /gateway/bot`'s `session_start_limit`.

use std::num::NonZeroU16;

use cloudcord_schemas::ids::UserId;
use sqlx::PgPool;

use crate::protocol::payload::Shard;
use crate::read_models::key;
use crate::store::GatewayStore;

/// How many sessions a bot may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartLimits {
    /// Starts per 24 hours (Discord's `total`).
    pub per_day: u32,
    /// Starts per 5 seconds, one per bucket (Discord's `max_concurrency`).
    pub max_concurrency: NonZeroU16,
}

/// What became of a session start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Recorded: the session may start.
    Started,
    /// Refused: the bot has started its day's allowance already.
    DayUsedUp,
    /// Refused: a session of the same bucket started less than 5 seconds ago.
    BucketBusy,
}

/// The bots' session starts in the gateway's store.
#[derive(Debug, Clone)]
pub struct SessionStarts {
    pool: PgPool,
    limits: StartLimits,
}

impl SessionStarts {
    /// Starts kept in `store`, limited by `limits`.
    pub fn new(store: &GatewayStore, limits: StartLimits) -> Self {
        Self {
            pool: store.pool().clone(),
            limits,
        }
    }

    /// Records a session start of `bot` on `shard` (`None`: unsharded), unless
    /// the limits refuse it.
    pub async fn start(&self, bot: UserId, shard: Option<Shard>) -> Result<Admission, sqlx::Error> {
        let bot = key(bot.get());
        let bucket =
            i32::from(shard.map_or(0, |shard| shard.rate_limit_key(self.limits.max_concurrency)));
        let mut tx = self.pool.begin().await?;
        // Every process deciding for this bot waits here until this transaction
        // ends. (Another use of advisory locks on the same number would only wait
        // a moment too.)
        sqlx::query!("SELECT pg_advisory_xact_lock($1)", bot)
            .execute(&mut *tx)
            .await?;
        // The database's clock, one for every process, read after the lock:
        // `now()` would be when the transaction began, before the wait.
        let recent = sqlx::query!(
            r#"SELECT count(*) AS "today!",
                   count(*) FILTER (WHERE bucket = $2
                       AND started_at > statement_timestamp() - interval '5 seconds')
                       AS "in_bucket!"
               FROM session_starts
               WHERE user_id = $1 AND started_at > statement_timestamp() - interval '24 hours'"#,
            bot,
            bucket,
        )
        .fetch_one(&mut *tx)
        .await?;
        let admission = if recent.today >= i64::from(self.limits.per_day) {
            Admission::DayUsedUp
        } else if recent.in_bucket > 0 {
            Admission::BucketBusy
        } else {
            sqlx::query!(
                "INSERT INTO session_starts (user_id, bucket, started_at) \
                 VALUES ($1, $2, statement_timestamp())",
                bot,
                bucket,
            )
            .execute(&mut *tx)
            .await?;
            Admission::Started
        };
        tx.commit().await?;
        Ok(admission)
    }

    /// Deletes the starts that have left every bot's 24-hour window.
    pub async fn sweep(&self) -> Result<(), sqlx::Error> {
        sqlx::query!("DELETE FROM session_starts WHERE started_at <= now() - interval '24 hours'")
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
