//! `cloudcord infra up | down | status`: the real Kafka, PostgreSQL and FerretDB that
//! development and the tests use, provisioned on loopback by the project itself (the
//! build machines have no Docker and reach only package registries).
//!
//! `up` installs what is missing, caches every download (Maven's `~/.m2`, Go's module
//! and build caches, and our own cache directory), starts what is not running, and
//! waits on real readiness: Kafka metadata listing every broker, a PostgreSQL login,
//! a Mongo `ping`. It is idempotent: with everything running it only probes.
//!
//! Module map: [`kafka`], [`postgres`], [`ferretdb`] (one per component),
//! [`process`] (setup commands and pid-file daemons), [`tools`] (installing Java,
//! Maven, PostgreSQL), [`error`] (what failed, where to read more).

pub mod error;
pub mod ferretdb;
pub mod kafka;
pub mod kafka_tls;
pub mod postgres;
pub mod process;
pub mod tools;

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;

use serde::Deserialize;

use self::error::InfraError;
use self::ferretdb::FerretDb;
use self::kafka::Kafka;
use self::postgres::{FERRETDB_DATABASE, Postgres};
use crate::settings::Settings;

/// The `[infra]` settings section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct InfraSettings {
    /// Data, logs and pid files of the local servers.
    pub state_dir: PathBuf,
    /// Downloaded and built artifacts, kept across state resets and clones
    /// (defaults to `<state_dir>/cache`).
    pub cache_dir: Option<PathBuf>,
}

impl Default for InfraSettings {
    fn default() -> Self {
        Self {
            state_dir: PathBuf::from(".cloudcord"),
            cache_dir: None,
        }
    }
}

/// A short stable key for cache entries built from `parts`, so a changed pom or
/// Go module gets a fresh build while an unchanged one is reused.
fn content_key(parts: &[&str]) -> String {
    let mut hasher = DefaultHasher::new();
    parts.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// The local infrastructure as configured.
pub struct Infra {
    kafka: Kafka,
    postgres: Postgres,
    ferretdb: FerretDb,
}

/// What `status` reports for one component.
#[derive(Debug)]
pub struct ComponentStatus {
    /// `kafka`, `postgres` or `ferretdb`.
    pub name: &'static str,
    /// Where clients connect.
    pub address: String,
    /// Processes alive (Kafka may have several nodes).
    pub running: usize,
    /// `None` when ready, else what the readiness probe said.
    pub problem: Option<String>,
    /// Where to read more.
    pub log: PathBuf,
}

impl Infra {
    /// Plans the infrastructure with `brokers` Kafka nodes.
    pub fn new(settings: &Settings, brokers: usize) -> Result<Self, InfraError> {
        let state_dir = std::path::absolute(&settings.infra.state_dir)
            .map_err(|e| InfraError::new("infra", "resolving infra.state_dir", e))?;
        let cache_dir = match &settings.infra.cache_dir {
            Some(dir) => std::path::absolute(dir)
                .map_err(|e| InfraError::new("infra", "resolving infra.cache_dir", e))?,
            None => state_dir.join("cache"),
        };
        Ok(Self {
            kafka: Kafka::new(&settings.kafka, brokers, &state_dir, &cache_dir)?,
            postgres: Postgres::new(&settings.postgres, &state_dir)?,
            ferretdb: FerretDb::new(&settings.mongo, &state_dir, &cache_dir)?,
        })
    }

    /// Installs, starts and waits for everything; a no-op when all is running.
    pub async fn up(&self) -> Result<(), InfraError> {
        // Prepare everything first so a missing tool fails before anything starts;
        // then start the slow JVM early and let PostgreSQL come up meanwhile.
        self.kafka.prepare().await?;
        self.postgres.prepare().await?;
        self.ferretdb.prepare().await?;
        self.kafka.start()?;
        self.postgres.start().await?;
        self.postgres.wait_ready().await?;
        self.ferretdb.start(&self.postgres.url(FERRETDB_DATABASE))?;
        self.ferretdb.wait_ready().await?;
        self.kafka.wait_ready().await?;
        tracing::info!(
            kafka = %self.kafka.bootstrap_servers(),
            postgres = %self.postgres.address(),
            mongo = %self.ferretdb.address(),
            "infrastructure ready"
        );
        Ok(())
    }

    /// Stops everything `up` started.
    pub async fn down(&self) -> Result<(), InfraError> {
        self.ferretdb.stop().await?;
        self.postgres.stop().await?;
        self.kafka.stop().await
    }

    /// The Kafka nodes' bootstrap list.
    pub fn bootstrap_servers(&self) -> String {
        self.kafka.bootstrap_servers()
    }

    /// The pid of Kafka node `id` (its `node.id`, 1-based) while it runs: what the
    /// fault harness kills.
    pub fn kafka_node_pid(&self, id: usize) -> Option<nix::unistd::Pid> {
        self.kafka.node_pid(id)
    }

    /// Starts the Kafka nodes that are not running and waits for the whole cluster.
    pub async fn restart_stopped_kafka_nodes(&self) -> Result<(), InfraError> {
        self.kafka.start()?;
        self.kafka.wait_ready().await
    }

    /// Stops PostgreSQL (a fast shutdown: clients are disconnected) and starts it
    /// again.
    pub async fn restart_postgres(&self) -> Result<(), InfraError> {
        self.postgres.stop().await?;
        self.postgres.start().await?;
        self.postgres.wait_ready().await
    }

    /// Stops FerretDB and starts it again.
    pub async fn restart_ferretdb(&self) -> Result<(), InfraError> {
        self.ferretdb.stop().await?;
        self.ferretdb.start(&self.postgres.url(FERRETDB_DATABASE))?;
        self.ferretdb.wait_ready().await
    }

    /// Probes every component.
    pub async fn status(&self) -> Vec<ComponentStatus> {
        let (kafka, postgres, ferretdb) = tokio::join!(
            self.kafka.probe(),
            self.postgres.probe(),
            self.ferretdb.probe()
        );
        vec![
            ComponentStatus {
                name: "kafka",
                address: self.kafka.bootstrap_servers(),
                running: self.kafka.running_nodes(),
                problem: kafka.err(),
                log: self.kafka.log().to_owned(),
            },
            ComponentStatus {
                name: "postgres",
                address: self.postgres.address(),
                running: usize::from(self.postgres.running_pid().is_some()),
                problem: postgres.err().map(|e| e.to_string()),
                log: self.postgres.log().to_owned(),
            },
            ComponentStatus {
                name: "ferretdb",
                address: self.ferretdb.address().to_owned(),
                running: usize::from(self.ferretdb.running_pid().is_some()),
                problem: ferretdb.err().map(|e| e.to_string()),
                log: self.ferretdb.log().to_owned(),
            },
        ]
    }
}
