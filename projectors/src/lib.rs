//! # cloudcord-projectors
//!
//! Consumers of the `events` topic (`isolation.level=read_committed`) that
//! materialize CloudCord's read models exactly once, tell the gateway what became
//! visible, and rebuild or digest read models from offset 0.
//!
//! Two projectors run side by side in each instance. The instances of each form a
//! consumer group ([`group_id`]) that shares the partitions of `events` among them
//! ([`ownership`]), so the service scales out up to one instance per partition. The
//! offsets they resume from live in their stores; the copy committed to the group
//! is for the autoscaler's lag.
//!
//! * **PostgreSQL** ([`postgres`]): users, relationships, guilds, channels, roles,
//!   members, permission overwrites, invites, bans, voice states, DM channels, read
//!   states and the message index, in one schema (`[projectors] postgres_schema`).
//!   Each batch is one transaction holding the rows, the aggregates' positions and
//!   the partitions' offsets, so the read models and the place to resume from can
//!   never disagree.
//! * **MongoDB** ([`mongo`]): message documents (content, mentions, reactions,
//!   pins, edit history, deletion), the guild audit log and user settings, written
//!   idempotently (keyed by message id with a `seq` guard, or by `event_id`), then
//!   the positions, then an offsets document per partition.
//!
//! Projections are pure functions of (state, event): no clock, no randomness, no
//! network. Duplicates (`seq` already applied) are skipped; a gap stops its
//! partition with an error log naming the aggregate and the missing `seq` range
//! and the `cloudcord_projector_gaps_total` metric ([`projector`]). How far each
//! partition trails the log is `cloudcord_projector_lag` ([`lag`]).
//!
//! ## The `projected` topic
//!
//! After each commit, every applied event is published to `projected`, keyed by its
//! aggregate's shard key (so it lands on the same partition number as in
//! `events`), as one JSON object ([`projected::Projected`]):
//!
//! ```json
//! {
//!   "store": "postgres",
//!   "event_type": "MessageSent",
//!   "aggregate_type": "guild",
//!   "aggregate_id": "41771983423143937",
//!   "seq": 42,
//!   "events_partition": 3,
//!   "events_offset": 1207,
//!   "envelope": { "event_id": "…", "seq": 42, "event": { "type": "MessageSent", … }, … }
//! }
//! ```
//!
//! `store` says which read model now shows the event; each projector publishes its
//! own record, so a consumer that needs one store (the gateway: `postgres`) filters
//! on it. Publishing is at most once across a crash (after the commit, before the
//! delivery): a consumer notices the missing `seq` of the aggregate.
//!
//! ## Read-your-writes
//!
//! [`postgres::projected_through`] returns the next offset the PostgreSQL projector
//! will read from a partition: every event before it is visible.
//! [`postgres::wait_until_projected`] waits (bounded) until an event's offset is
//! passed — what a read does after a write that reported its `events` position.
//!
//! Module map: [`record`] (decoding events), [`sequence`] (gaps and duplicates),
//! [`projector`] (the loop and the [`projector::Store`] trait), [`ownership`]
//! (which partitions an instance projects), [`postgres`],
//! [`mongo`], [`projected`], [`metrics`], [`replay`] and [`digest`] (used by
//! `cloudcord replay` and `cloudcord digest`), [`int64`] (values as stored),
//! [`file_sweeper`] (removes deleted messages' files after a grace period).

pub mod digest;
pub mod file_sweeper;
pub mod int64;
pub mod lag;
pub mod metrics;
pub mod mongo;
pub mod ownership;
pub mod postgres;
pub mod projected;
pub mod projector;
pub mod record;
pub mod replay;
pub mod sequence;
#[cfg(test)]
mod test_events;

use std::time::Duration;

use cloudcord_runtime::admin::AdminConfig;
use cloudcord_runtime::files::{Files, FilesConfig};
use cloudcord_runtime::kafka::{KafkaCheck, KafkaConfig};
use cloudcord_runtime::mongo::{MongoCheck, MongoConfig};
use cloudcord_runtime::postgres::{PostgresCheck, PostgresConfig};
use cloudcord_runtime::service::{Service, ServiceError};
use rdkafka::error::KafkaError;
use serde::Deserialize;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::file_sweeper::FileSweeper;
use crate::metrics::Metrics;
use crate::mongo::MongoStore;
use crate::postgres::PgStore;
use crate::projected::Publisher;
use crate::projector::{Options, ProjectorError, Store, StoreError};

/// The service's name in logs, metrics and Kafka client ids.
pub const NAME: &str = "projectors";

/// Everything the projectors read from the layered configuration.
#[derive(Debug, Deserialize)]
pub struct Config {
    /// Where the brokers are.
    #[serde(default)]
    pub kafka: KafkaConfig,
    /// The relational read models.
    #[serde(default)]
    pub postgres: PostgresConfig,
    /// Message documents, audit log, user settings.
    #[serde(default)]
    pub mongo: MongoConfig,
    /// The `[projectors]` section.
    #[serde(default)]
    pub projectors: ProjectorSettings,
    /// The `[files]` section: where files are and how long deleted messages keep
    /// theirs.
    #[serde(default)]
    pub files: FilesConfig,
}

/// The `[projectors]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ProjectorSettings {
    /// The admin server (`/metrics`, `/healthz`, `/readyz`).
    pub admin: AdminConfig,
    /// The PostgreSQL schema of the read models.
    pub postgres_schema: String,
    /// Most events per batch (one transaction).
    pub batch_max: usize,
    /// How long a batch waits for more events after its first, in milliseconds:
    /// the projection lag it adds at low rates.
    pub linger_ms: u64,
    /// How long the consumer group waits for a silent instance before moving its
    /// partitions to the others, in milliseconds (the failover time after a crash;
    /// the broker accepts 6,000 to 300,000 by default).
    pub session_timeout_ms: u32,
}

impl Default for ProjectorSettings {
    fn default() -> Self {
        Self {
            admin: AdminConfig::loopback(9103),
            postgres_schema: "read_models".to_owned(),
            batch_max: 5_000,
            linger_ms: 2,
            session_timeout_ms: 10_000,
        }
    }
}

/// Why the projectors stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The admin server or a store client could not start.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// A projection loop failed.
    #[error("a projector failed")]
    Projector(#[from] ProjectorError),
    /// A read-model store could not be opened.
    #[error("opening a read-model store failed")]
    Store(#[from] StoreError),
    /// The topics could not be created.
    #[error("creating the topics failed")]
    Kafka(#[from] KafkaError),
    /// A task panicked.
    #[error("a projector task panicked")]
    Panicked(#[from] tokio::task::JoinError),
}

/// The consumer group of `store`'s live projectors: one per store, since both
/// projectors of an instance read every partition the group gives them.
pub fn group_id(kafka: &KafkaConfig, store: &str) -> String {
    format!("{}projectors-{store}", kafka.topic_prefix)
}

/// A short random suffix for names that must not collide (replay targets,
/// consumer groups).
pub(crate) fn unique_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Runs the admin server and both projectors until `shutdown` is cancelled or one
/// of them fails.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), RunError> {
    let Config {
        kafka,
        postgres,
        mongo,
        projectors: settings,
        files,
    } = config;
    let mut service = Service::new(NAME, settings.admin)
        .with_check(KafkaCheck::new(&kafka, NAME)?)
        .with_check(PostgresCheck::new(
            postgres.lazy_pool().map_err(ServiceError::from)?,
        ))
        .with_check(MongoCheck::new(
            mongo.database(NAME).await.map_err(ServiceError::from)?,
        ));
    let metrics = Metrics::register(service.registry_mut());
    kafka
        .ensure_topics(&kafka.topics().specs(kafka.partitions))
        .await?;
    let pg = PgStore::new(postgres::open_schema(&postgres, &settings.postgres_schema).await?);
    let mongo_store = MongoStore::new(mongo::open_database(&mongo, &mongo.database).await?);

    let mut tasks = JoinSet::new();
    let token = shutdown.clone();
    tasks.spawn(async move { Ok(service.run(token).await?) });
    let database = mongo.database(NAME).await.map_err(ServiceError::from)?;
    let sweeper = FileSweeper::new(
        &database,
        Files::on_gridfs(&database, &files),
        Duration::from_secs(files.deleted_grace_secs),
    );
    let (interval, token) = (
        Duration::from_secs(files.sweep_interval_secs.max(1)),
        shutdown.clone(),
    );
    tasks.spawn(async move {
        sweeper.run(interval, token).await;
        Ok(())
    });
    spawn_projector(&mut tasks, &kafka, pg, &settings, &metrics, &shutdown)?;
    spawn_projector(
        &mut tasks,
        &kafka,
        mongo_store,
        &settings,
        &metrics,
        &shutdown,
    )?;

    let mut failure = None;
    while let Some(joined) = tasks.join_next().await {
        let outcome = joined.map_err(RunError::from).and_then(|result| result);
        if let Err(error) = outcome {
            shutdown.cancel();
            failure.get_or_insert(error);
        }
    }
    failure.map_or(Ok(()), Err)
}

fn spawn_projector<S: Store + 'static>(
    tasks: &mut JoinSet<Result<(), RunError>>,
    kafka: &KafkaConfig,
    mut store: S,
    settings: &ProjectorSettings,
    metrics: &Metrics,
    shutdown: &CancellationToken,
) -> Result<(), RunError> {
    let publisher = Publisher::new(kafka)?;
    let options = Options {
        group_id: group_id(kafka, S::NAME),
        batch_max: settings.batch_max,
        linger: Duration::from_millis(settings.linger_ms),
        until_end: false,
        session_timeout: Duration::from_millis(settings.session_timeout_ms.into()),
    };
    let (kafka, metrics, shutdown) = (kafka.clone(), metrics.clone(), shutdown.clone());
    tasks.spawn(async move {
        projector::run(
            &kafka,
            &mut store,
            &options,
            &metrics,
            Some(&publisher),
            &shutdown,
        )
        .await?;
        Ok(())
    });
    Ok(())
}
