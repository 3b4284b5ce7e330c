//! Rebuilding the read models from offset 0: a fresh PostgreSQL schema and a fresh
//! MongoDB database, filled by the same projection loop under a new consumer
//! identity until every partition is read to its end, then digested.
//!
//! Nothing is published to `projected` during a replay: the gateway has seen those
//! events already.
//!
//! A replay's schema and database stay behind, so that they can be digested or read
//! again; [`drop_postgres`] and [`drop_mongo`] remove them once they are not needed.

use std::time::{Duration, Instant};

use cloudcord_runtime::kafka::KafkaConfig;
use cloudcord_runtime::mongo::MongoConfig;
use cloudcord_runtime::postgres::PostgresConfig;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::mongo::{self, MongoStore};
use crate::postgres::{self, PgStore};
use crate::projector::{self, Options, Outcome, ProjectorError, StoreError};
use crate::{digest, unique_suffix};
use cloudcord_runtime::postgres::quote_identifier;

/// Why a replay failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// Reading the events or writing the read models failed.
    #[error("projecting failed")]
    Projector(#[from] ProjectorError),
    /// The target store could not be prepared.
    #[error("preparing the replay target failed")]
    Store(#[from] StoreError),
    /// Digesting the PostgreSQL read models failed.
    #[error("digesting the PostgreSQL read models failed")]
    PostgresDigest(#[from] sqlx::Error),
    /// Digesting the MongoDB read models failed.
    #[error("digesting the MongoDB read models failed")]
    MongoDigest(#[from] mongodb::error::Error),
}

/// What one store's replay did.
#[derive(Debug)]
pub struct StoreReplay {
    /// The schema or database it built.
    pub target: String,
    /// Events applied, duplicates skipped, partitions stopped.
    pub outcome: Outcome,
    /// The digest of what it built.
    pub digest: String,
    /// How long projecting took (the digest not included).
    pub elapsed: Duration,
}

/// The loop's settings for a replay: large batches, a consumer group no one else
/// uses, and an end.
fn replay_options(kafka: &KafkaConfig, store: &str) -> Options {
    Options {
        group_id: format!(
            "{}projectors-replay-{store}-{}",
            kafka.topic_prefix,
            unique_suffix()
        ),
        batch_max: 20_000,
        linger: Duration::from_millis(50),
        until_end: true,
        // A replay is no group member.
        session_timeout: Duration::ZERO,
    }
}

/// Replays every event into `schema` (fresh, or created), then digests it.
pub async fn postgres(
    kafka: &KafkaConfig,
    config: &PostgresConfig,
    schema: &str,
    shutdown: &CancellationToken,
) -> Result<StoreReplay, ReplayError> {
    let pool = postgres::open_schema(config, schema).await?;
    let mut store = PgStore::new(pool.clone()).with_asynchronous_commit();
    let started = Instant::now();
    store
        .defer_message_indexes()
        .await
        .map_err(StoreError::from)?;
    let outcome = projector::run(
        kafka,
        &mut store,
        &replay_options(kafka, "postgres"),
        &Metrics::unregistered(),
        None,
        shutdown,
    )
    .await?;
    // Part of building the read models, so part of the time it took.
    store.restore_indexes().await.map_err(StoreError::from)?;
    let elapsed = started.elapsed();
    tracing::debug!(schema, ?elapsed, "postgres replay projected; digesting");
    let digest = digest::postgres(&pool, schema).await?;
    tracing::debug!(schema, "postgres replay digested");
    Ok(StoreReplay {
        target: schema.to_owned(),
        outcome,
        digest,
        elapsed,
    })
}

/// Replays every event into the MongoDB `database` (fresh), then digests it.
pub async fn mongo(
    kafka: &KafkaConfig,
    config: &MongoConfig,
    database: &str,
    shutdown: &CancellationToken,
) -> Result<StoreReplay, ReplayError> {
    let mut store = MongoStore::new(mongo::open_database(config, database).await?);
    let started = Instant::now();
    let outcome = projector::run(
        kafka,
        &mut store,
        &replay_options(kafka, "mongo"),
        &Metrics::unregistered(),
        None,
        shutdown,
    )
    .await?;
    let elapsed = started.elapsed();
    tracing::debug!(database, ?elapsed, "mongo replay projected; digesting");
    let digest = digest::mongo(store.database()).await?;
    Ok(StoreReplay {
        target: database.to_owned(),
        outcome,
        digest,
        elapsed,
    })
}

/// Both replays, side by side, into a new schema `replay_<id>` and a new database
/// `<database>_replay_<id>`.
pub async fn replay(
    kafka: &KafkaConfig,
    postgres_config: &PostgresConfig,
    mongo_config: &MongoConfig,
    shutdown: &CancellationToken,
) -> Result<(StoreReplay, StoreReplay), ReplayError> {
    let id = unique_suffix();
    let schema = format!("replay_{id}");
    let database = format!("{}_replay_{id}", mongo_config.database);
    let (pg, mongo) = tokio::join!(
        postgres(kafka, postgres_config, &schema, shutdown),
        mongo(kafka, mongo_config, &database, shutdown),
    );
    Ok((pg?, mongo?))
}

/// Drops the PostgreSQL `schema` a replay built, with everything in it. Fails rather
/// than waits when a session still holds a lock on one of its tables (a reader in an
/// open transaction): a drop queued behind it would also block every later reader.
pub async fn drop_postgres(config: &PostgresConfig, schema: &str) -> Result<(), sqlx::Error> {
    let mut admin = PgConnection::connect_with(&config.connect_options()?).await?;
    sqlx::query("SET lock_timeout = '10s'")
        .execute(&mut admin)
        .await?;
    sqlx::query(AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {} CASCADE",
        quote_identifier(schema)
    )))
    .execute(&mut admin)
    .await?;
    admin.close().await
}

/// Drops the MongoDB `database` a replay built.
pub async fn drop_mongo(config: &MongoConfig, database: &str) -> Result<(), StoreError> {
    let client = mongodb::Client::with_options(config.client_options(crate::NAME).await?)?;
    client.database(database).drop().await?;
    Ok(())
}
