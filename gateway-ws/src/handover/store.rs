//! [`HandoverStore`]: hand-overs in PostgreSQL, in the gateway's own schema
//! ([`GatewayStore`], table definitions in `gateway-ws/migrations/0001_handovers.sql`).
//! Guild states are written once per hand-over, however many of its sessions follow
//! them; a session row is claimed by deleting it, so only one process resumes it.

use std::time::Duration;

use cloudcord_schemas::ids::UserId;
use sqlx::PgPool;
use sqlx::types::Json;
use uuid::Uuid;

use crate::fanout::{Handover, SessionExport};
use crate::guild_state::GuildState;
use crate::read_models::key;
use crate::store::GatewayStore;
use crate::turns::Turns;

/// Hand-overs waiting to be claimed.
#[derive(Clone)]
pub struct HandoverStore {
    pool: PgPool,
    /// A process resuming hundreds of handed-over sessions at once claims them in
    /// turn rather than fail those the pool's acquire timeout would.
    turns: Turns,
}

impl HandoverStore {
    /// The hand-over tables of `store`.
    pub fn new(store: &GatewayStore) -> Self {
        let pool = store.pool().clone();
        Self {
            turns: Turns::of(&pool),
            pool,
        }
    }

    /// Writes `handover`; its sessions can be claimed for `window`.
    pub async fn save(&self, handover: &Handover, window: Duration) -> Result<(), sqlx::Error> {
        let id = Uuid::new_v4().simple().to_string();
        let mut transaction = self.pool.begin().await?;
        // The macros expect `serde_json::Value` for a jsonb parameter; `as _` lets
        // the typed `Json` wrapper through (it encodes as jsonb).
        for state in &handover.guilds {
            sqlx::query!(
                "INSERT INTO handover_guilds (handover, guild_id, state) VALUES ($1, $2, $3)",
                id,
                key(state.id.get()),
                Json(state) as _,
            )
            .execute(&mut *transaction)
            .await?;
        }
        for export in &handover.sessions {
            sqlx::query!(
                "INSERT INTO handover_sessions (session_id, user_id, handover, export, expires_at) \
                 VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5)) \
                 ON CONFLICT (session_id) DO UPDATE SET user_id = EXCLUDED.user_id, \
                 handover = EXCLUDED.handover, export = EXCLUDED.export, \
                 expires_at = EXCLUDED.expires_at",
                export.session.id(),
                key(export.session.identity().user_id.get()),
                id,
                Json(export) as _,
                window.as_secs_f64(),
            )
            .execute(&mut *transaction)
            .await?;
        }
        transaction.commit().await
    }

    /// Claims `session_id` of `user` if a hand-over holds it: the export and the
    /// states of the guilds it follows. A session of another user is not claimed.
    /// One statement, so a concurrent [`Self::sweep`] cannot take the guild states
    /// between the claim and their read.
    pub async fn claim(
        &self,
        session_id: &str,
        user: UserId,
    ) -> Result<Option<(SessionExport, Vec<GuildState>)>, sqlx::Error> {
        let _turn = self.turns.take().await?;
        // The guild states' COALESCE is never null, which PostgreSQL's description
        // of the statement cannot tell; `!` says so.
        let claimed = sqlx::query!(
            r#"WITH claimed AS (
                   DELETE FROM handover_sessions
                   WHERE session_id = $1 AND user_id = $2 AND expires_at > now()
                   RETURNING handover, export)
               SELECT c.export AS "export: Json<SessionExport>", COALESCE((
                   SELECT jsonb_agg(g.state) FROM handover_guilds g
                   WHERE g.handover = c.handover AND g.guild_id IN
                       (SELECT jsonb_array_elements_text(c.export->'guilds')::int8)),
                   '[]'::jsonb) AS "guilds!: Json<Vec<GuildState>>"
               FROM claimed c"#,
            session_id,
            key(user.get()),
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(claimed.map(|row| (row.export.0, row.guilds.0)))
    }

    /// Deletes expired sessions and the guild states no session needs any more.
    pub async fn sweep(&self) -> Result<(), sqlx::Error> {
        sqlx::query!("DELETE FROM handover_sessions WHERE expires_at <= now()")
            .execute(&self.pool)
            .await?;
        sqlx::query!(
            "DELETE FROM handover_guilds g WHERE NOT EXISTS \
             (SELECT 1 FROM handover_sessions s WHERE s.handover = g.handover)"
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
