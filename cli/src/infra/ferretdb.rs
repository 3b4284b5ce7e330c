//! FerretDB v1 on the PostgreSQL backend: the MongoDB wire protocol for the message
//! and audit logs. Built once from the Go module proxy through the small main module
//! in `infra/ferretdb/` (see its comment for why it exists) and cached by content.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cloudcord_runtime::mongo::MongoConfig;
use mongodb::bson::doc;
use nix::sys::signal::Signal;
use tokio::process::Command;

use super::error::InfraError;
use super::process::{Daemon, ensure_free, run_logged, wait_until_ready};
use super::{content_key, tools};

const COMPONENT: &str = "ferretdb";

const MAIN_GO: &str = include_str!("../../../infra/ferretdb/main.go");
const GO_MOD: &str = include_str!("../../../infra/ferretdb/go.mod");
const GO_SUM: &str = include_str!("../../../infra/ferretdb/go.sum");

/// The GIN indexes FerretDB v1's filters can use, and the event trigger that adds
/// them to every collection it creates: run in its PostgreSQL database (see the
/// file's comment for why).
pub const INDEXES_SQL: &str = include_str!("../../../infra/ferretdb/indexes.sql");

/// The local FerretDB server.
pub struct FerretDb {
    cache_dir: PathBuf,
    listen_addr: String,
    mongo: MongoConfig,
    daemon: Daemon,
}

impl FerretDb {
    /// Plans a server at the address of `mongo.url`, with its pid under `state_dir`
    /// and its binary under `cache_dir`.
    pub fn new(
        mongo: &MongoConfig,
        state_dir: &Path,
        cache_dir: &Path,
    ) -> Result<Self, InfraError> {
        let listen_addr = mongo
            .url
            .strip_prefix("mongodb://")
            .map(|rest| rest.split(['/', '?', ',']).next().unwrap_or(rest))
            .filter(|addr| addr.starts_with("127.0.0.1:") || addr.starts_with("localhost:"))
            .ok_or_else(|| {
                InfraError::new(
                    COMPONENT,
                    "reading mongo.url",
                    format!(
                        "{}: the local infrastructure serves mongodb://127.0.0.1:<port> only",
                        mongo.url
                    ),
                )
            })?
            .to_owned();
        Ok(Self {
            cache_dir: cache_dir.join("ferretdb"),
            listen_addr,
            mongo: mongo.clone(),
            daemon: Daemon {
                component: COMPONENT,
                pid_file: state_dir.join("ferretdb.pid"),
                log: state_dir.join("logs/ferretdb.log"),
            },
        })
    }

    /// Where clients connect.
    pub fn address(&self) -> &str {
        &self.listen_addr
    }

    /// The server's log.
    pub fn log(&self) -> &Path {
        &self.daemon.log
    }

    /// The server's pid, if it runs.
    pub fn running_pid(&self) -> Option<nix::unistd::Pid> {
        self.daemon.running_pid()
    }

    /// Builds the binary unless this version is cached.
    pub async fn prepare(&self) -> Result<(), InfraError> {
        let binary = self.binary();
        if binary.is_file() {
            return Ok(());
        }
        tools::ensure_go().await?;
        tracing::info!("building FerretDB from the Go module proxy (first run only, ~3 min)");
        let source = self.cache_dir.join("src");
        let io = |e| InfraError::new(COMPONENT, "writing the Go module", e);
        std::fs::create_dir_all(&source).map_err(io)?;
        for (name, text) in [("main.go", MAIN_GO), ("go.mod", GO_MOD), ("go.sum", GO_SUM)] {
            std::fs::write(source.join(name), text).map_err(io)?;
        }
        let partial = binary.with_extension("partial");
        run_logged(
            COMPONENT,
            "building with Go",
            Command::new("go")
                .current_dir(&source)
                .args(["build", "-trimpath", "-o"])
                .arg(&partial)
                .arg(".")
                // Build with the installed Go; never download another toolchain.
                .env("GOTOOLCHAIN", "local"),
            &self.daemon.log,
        )
        .await?;
        std::fs::rename(&partial, &binary).map_err(io)
    }

    /// Starts the server unless it runs; PostgreSQL must be up at `postgres_url`.
    pub fn start(&self, postgres_url: &str) -> Result<(), InfraError> {
        if self.daemon.running_pid().is_some() {
            return Ok(());
        }
        ensure_free(COMPONENT, &self.listen_addr, "mongo.url")?;
        tracing::info!(addr = %self.listen_addr, "starting FerretDB");
        let mut command = Command::new(self.binary());
        command
            .args(["--listen-addr", &self.listen_addr, "--postgresql-url"])
            // Local PostgreSQL has no TLS; without this every connection tries it first.
            .arg(format!("{postgres_url}?sslmode=disable"))
            .args(["--log-level", "warn"]);
        self.daemon.spawn(command)
    }

    /// Waits until FerretDB answers `ping`, which needs its PostgreSQL backend too
    /// (it accepts connections before that).
    pub async fn wait_ready(&self) -> Result<(), InfraError> {
        wait_until_ready(&self.daemon, Duration::from_secs(30), || self.probe()).await
    }

    /// Answers `Ok` when the server answers `ping`.
    pub async fn probe(&self) -> Result<(), mongodb::error::Error> {
        let database = self.mongo.database("cloudcord-infra").await?;
        database.run_command(doc! { "ping": 1 }).await.map(drop)
    }

    /// Stops the server.
    pub async fn stop(&self) -> Result<(), InfraError> {
        self.daemon
            .stop(Signal::SIGTERM, Duration::from_secs(10))
            .await
    }

    fn binary(&self) -> PathBuf {
        self.cache_dir.join(format!(
            "ferretdb-{}",
            content_key(&[MAIN_GO, GO_MOD, GO_SUM])
        ))
    }
}
