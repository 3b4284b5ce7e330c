//! The PostgreSQL projector's store: the relational read models in one schema,
//! written one transaction per batch together with the per-aggregate positions and
//! the per-partition offsets.
//!
//! * `rows` — the pure projection, event → `rows::RowChange`s.
//! * `writer` — the changes as (batched) SQL.
//! * `copy` — PostgreSQL's binary `COPY` format, for the message index.
//!
//! The offsets rows of the partitions a batch moves are locked (`FOR UPDATE`) at the
//! start of its transaction and compared with what this process last read or wrote,
//! so an instance that still writes a partition another instance has taken over
//! fails its batch ([`StoreError::Fenced`]) instead of applying events twice.

mod copy;
mod rows;
mod writer;

use std::collections::HashMap;
use std::time::Duration;

use cloudcord_runtime::postgres::{PostgresConfig, quote_identifier};
use cloudcord_schemas::envelope::{AggregateRef, AggregateType};
use cloudcord_schemas::ids::Snowflake;
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, PgConnection, PgPool};

use self::rows::RowChange;
use self::writer::Writer;
use crate::int64::Unrepresentable;
use crate::projector::{Batch, Store, StoreError};
use crate::record::EventRecord;

/// Creates `schema` when missing and brings its tables to the latest migration;
/// returns a pool whose connections use it.
pub async fn open_schema(config: &PostgresConfig, schema: &str) -> Result<PgPool, StoreError> {
    config.create_schema(schema).await?;
    let pool = PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(config.schema_options(schema)?)
        .await?;
    sqlx::migrate!("./migrations").run(&pool).await?;
    Ok(pool)
}

/// The next events offset the projector in this pool's schema will read from
/// `partition` of `topic`: every event before it is visible in the read models
/// (`None` before the first batch). A read that must reflect the event at offset
/// `O` waits until this is greater than `O`.
pub async fn projected_through(
    pool: &PgPool,
    topic: &str,
    partition: i32,
) -> Result<Option<i64>, sqlx::Error> {
    let row = sqlx::query!(
        "SELECT next_offset FROM projector_offsets WHERE topic = $1 AND partition = $2",
        topic,
        partition
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| row.next_offset))
}

/// Waits (polling every 5 ms, at most `timeout`) until the event at `offset` of
/// `partition` is projected; returns whether it was in time.
pub async fn wait_until_projected(
    pool: &PgPool,
    topic: &str,
    partition: i32,
    offset: i64,
    timeout: Duration,
) -> Result<bool, sqlx::Error> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if projected_through(pool, topic, partition)
            .await?
            .is_some_and(|next| next > offset)
        {
            return Ok(true);
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The PostgreSQL read models as a [`Store`].
pub struct PgStore {
    pool: PgPool,
    /// The offsets this process last read or wrote, to detect another writer.
    committed: HashMap<i32, i64>,
    /// Replays commit asynchronously: a crash loses only a tail of batches whose
    /// offsets are lost with them, and nobody reads a replay schema meanwhile.
    asynchronous_commit: bool,
    /// The `CREATE INDEX` statements of the message index's secondary indexes while
    /// they are deferred (see [`PgStore::defer_message_indexes`]).
    deferred_indexes: Vec<String>,
}

impl PgStore {
    /// The store over `pool` (see [`open_schema`]).
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            committed: HashMap::new(),
            asynchronous_commit: false,
            deferred_indexes: Vec::new(),
        }
    }

    /// Commits without waiting for the WAL flush (for replays into a fresh schema).
    pub fn with_asynchronous_commit(mut self) -> Self {
        self.asynchronous_commit = true;
        self
    }

    /// The pool the store writes through.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Drops the secondary indexes of `message_index` (keeping their definitions)
    /// until [`PgStore::restore_indexes`], for a replay into a fresh schema:
    /// maintaining them row by row costs more than the rest of a message's insert,
    /// building them once at the end a fraction of that. A change that needs them
    /// (marking a channel's, a guild's or a banned member's messages deleted)
    /// builds them first, so no statement ever scans the whole table instead.
    pub async fn defer_message_indexes(&mut self) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let indexes = sqlx::query!(
            r#"SELECT indexname AS "name!", indexdef AS "definition!" FROM pg_indexes
            WHERE schemaname = current_schema() AND tablename = 'message_index'
              AND indexname <> 'message_index_pkey'
            ORDER BY indexname"#
        )
        .fetch_all(&mut *tx)
        .await?;
        for index in indexes {
            // The name comes from the catalog and is quoted; nothing here is input.
            sqlx::query(AssertSqlSafe(format!(
                "DROP INDEX {}",
                quote_identifier(&index.name)
            )))
            .execute(&mut *tx)
            .await?;
            self.deferred_indexes.push(index.definition);
        }
        tx.commit().await
    }

    /// Builds the indexes [`PgStore::defer_message_indexes`] dropped.
    pub async fn restore_indexes(&mut self) -> Result<(), sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        create_indexes(&mut conn, &self.deferred_indexes).await?;
        self.deferred_indexes.clear();
        Ok(())
    }
}

/// Runs `CREATE INDEX` statements read from `pg_indexes`.
async fn create_indexes(
    conn: &mut PgConnection,
    definitions: &[String],
) -> Result<(), sqlx::Error> {
    for definition in definitions {
        // PostgreSQL's own rendering of an index it had; nothing here is input.
        sqlx::query(AssertSqlSafe(definition.clone()))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The pair an aggregate is stored under.
fn aggregate_key(aggregate: AggregateRef) -> Option<(&'static str, i64)> {
    let id = i64::try_from(aggregate.id.get()).ok()?;
    Some((aggregate.kind.as_str(), id))
}

impl Store for PgStore {
    const NAME: &'static str = "postgres";
    type Changes = Vec<RowChange>;
    type ProjectionError = Unrepresentable;

    fn project(record: &EventRecord) -> Result<Vec<RowChange>, Unrepresentable> {
        rows::project(&record.envelope)
    }

    async fn next_offsets(&mut self, topic: &str) -> Result<HashMap<i32, i64>, StoreError> {
        let rows = sqlx::query!(
            "SELECT partition, next_offset FROM projector_offsets WHERE topic = $1",
            topic
        )
        .fetch_all(&self.pool)
        .await?;
        self.committed = rows
            .into_iter()
            .map(|row| (row.partition, row.next_offset))
            .collect();
        Ok(self.committed.clone())
    }

    async fn published_offsets(
        &mut self,
        topic: &str,
    ) -> Result<Option<HashMap<i32, i64>>, StoreError> {
        let rows = sqlx::query!(
            "SELECT partition, next_offset FROM projected_offsets WHERE topic = $1",
            topic
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(Some(
            rows.into_iter()
                .map(|row| (row.partition, row.next_offset))
                .collect(),
        ))
    }

    async fn record_published(
        &mut self,
        topic: &str,
        offsets: &[(i32, i64)],
    ) -> Result<(), StoreError> {
        let (partitions, offsets): (Vec<i32>, Vec<i64>) = offsets.iter().copied().unzip();
        sqlx::query!(
            r#"INSERT INTO projected_offsets (topic, partition, next_offset)
            SELECT $1, * FROM UNNEST($2::int4[], $3::int8[])
            ON CONFLICT (topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset"#,
            topic,
            &partitions,
            &offsets,
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn positions(
        &mut self,
        aggregates: &[AggregateRef],
    ) -> Result<HashMap<AggregateRef, u64>, StoreError> {
        let mut kinds = Vec::with_capacity(aggregates.len());
        let mut ids = Vec::with_capacity(aggregates.len());
        // An id that does not fit has no position; its event fails to project.
        for (kind, id) in aggregates.iter().filter_map(|a| aggregate_key(*a)) {
            kinds.push(kind.to_owned());
            ids.push(id);
        }
        let rows = sqlx::query!(
            r#"SELECT p.aggregate_type, p.aggregate_id, p.seq
            FROM aggregate_positions AS p
            JOIN UNNEST($1::text[], $2::int8[]) AS u(kind, id)
              ON p.aggregate_type = u.kind AND p.aggregate_id = u.id"#,
            &kinds,
            &ids,
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let kind = AggregateType::from_name(&row.aggregate_type)?;
                let id = Snowflake::new(u64::try_from(row.aggregate_id).ok()?);
                Some((AggregateRef { kind, id }, u64::try_from(row.seq).ok()?))
            })
            .collect())
    }

    async fn commit(&mut self, batch: Batch<Vec<RowChange>>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        if self.asynchronous_commit {
            sqlx::query!("SELECT set_config('synchronous_commit', 'off', true)")
                .fetch_one(&mut *tx)
                .await?;
        }
        // Only the partitions this batch moves: other instances own the others.
        let moved: Vec<i32> = batch
            .offsets
            .iter()
            .map(|&(partition, _)| partition)
            .collect();
        let stored: HashMap<i32, i64> = sqlx::query!(
            "SELECT partition, next_offset FROM projector_offsets
            WHERE topic = $1 AND partition = ANY($2) FOR UPDATE",
            batch.topic,
            &moved,
        )
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|row| (row.partition, row.next_offset))
        .collect();
        if let Some(&partition) = moved
            .iter()
            .find(|p| stored.get(p) != self.committed.get(p))
        {
            return Err(StoreError::Fenced { partition });
        }

        let needs_indexes = !self.deferred_indexes.is_empty()
            && batch
                .changes
                .iter()
                .flatten()
                .any(RowChange::scans_messages);
        if needs_indexes {
            create_indexes(&mut tx, &self.deferred_indexes).await?;
        }

        let mut writer = Writer::default();
        for change in batch.changes.into_iter().flatten() {
            writer.apply(&mut tx, change).await?;
        }
        writer.finish(&mut tx).await?;

        let mut kinds = Vec::with_capacity(batch.positions.len());
        let mut ids = Vec::with_capacity(batch.positions.len());
        let mut seqs = Vec::with_capacity(batch.positions.len());
        for &(aggregate, seq) in &batch.positions {
            if let (Some((kind, id)), Ok(seq)) = (aggregate_key(aggregate), i64::try_from(seq)) {
                kinds.push(kind.to_owned());
                ids.push(id);
                seqs.push(seq);
            }
        }
        sqlx::query!(
            r#"INSERT INTO aggregate_positions (aggregate_type, aggregate_id, seq)
            SELECT * FROM UNNEST($1::text[], $2::int8[], $3::int8[])
            ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET seq = EXCLUDED.seq"#,
            &kinds,
            &ids,
            &seqs,
        )
        .execute(&mut *tx)
        .await?;

        let (partitions, offsets): (Vec<i32>, Vec<i64>) = batch.offsets.iter().copied().unzip();
        sqlx::query!(
            r#"INSERT INTO projector_offsets (topic, partition, next_offset)
            SELECT $1, * FROM UNNEST($2::int4[], $3::int8[])
            ON CONFLICT (topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset"#,
            batch.topic,
            &partitions,
            &offsets,
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.committed.extend(batch.offsets);
        if needs_indexes {
            self.deferred_indexes.clear();
        }
        Ok(())
    }
}
