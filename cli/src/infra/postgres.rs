//! PostgreSQL 15 from Debian's packages, as a cluster that lives in the project's state
//! directory (not the system's `main` cluster). Its superuser, password, port and
//! database come from `postgres.url`, so the services' setting is the one source of
//! truth. The same cluster also backs FerretDB.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cloudcord_runtime::postgres::PostgresConfig;
use nix::sys::signal::Signal;
use nix::unistd::{User, chown};
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Row};
use tokio::process::Command;

use super::error::InfraError;
use super::ferretdb::INDEXES_SQL;
use super::process::{Daemon, ensure_free, run_logged, wait_until_ready};
use super::{content_key, tools};

const COMPONENT: &str = "postgres";
const BIN_DIR: &str = "/usr/lib/postgresql/15/bin";

/// Where the cluster lives when the `postgres` user cannot enter the state directory.
const FALLBACK_ROOT: &str = "/var/tmp/cloudcord-postgres";

/// The database FerretDB keeps its collections in.
pub const FERRETDB_DATABASE: &str = "ferretdb";

/// The local PostgreSQL cluster.
pub struct Postgres {
    dir: PathBuf,
    data: PathBuf,
    log: PathBuf,
    port: u16,
    user: String,
    password: String,
    database: String,
    daemon: Daemon,
}

impl Postgres {
    /// Plans the cluster described by `config.url`, under `state_dir/postgres`.
    pub fn new(config: &PostgresConfig, state_dir: &Path) -> Result<Self, InfraError> {
        let bad_url = |why: &str| {
            InfraError::new(
                COMPONENT,
                "reading postgres.url",
                format!("{}: {why}", config.url),
            )
        };
        let url = url::Url::parse(&config.url).map_err(|e| bad_url(&e.to_string()))?;
        if !matches!(url.host_str(), Some("127.0.0.1" | "localhost")) {
            return Err(bad_url("the local infrastructure only serves 127.0.0.1"));
        }
        let (dir, log) = if nix::unistd::geteuid().is_root() && !others_can_enter(state_dir) {
            // PostgreSQL runs as the `postgres` user, which cannot enter a state
            // directory below a private parent (e.g. /root); keep its files where it
            // can, keyed by the state directory so clones do not share a cluster.
            let dir = Path::new(FALLBACK_ROOT).join(content_key(&[&state_dir.to_string_lossy()]));
            (dir.clone(), dir.join("postgres.log"))
        } else {
            (
                state_dir.join("postgres"),
                state_dir.join("logs/postgres.log"),
            )
        };
        let data = dir.join("data");
        Ok(Self {
            port: url.port().unwrap_or(5432),
            user: url.username().to_owned(),
            password: url.password().unwrap_or_default().to_owned(),
            database: url.path().trim_start_matches('/').to_owned(),
            daemon: Daemon {
                component: COMPONENT,
                pid_file: data.join("postmaster.pid"),
                log: log.clone(),
            },
            dir,
            data,
            log,
        })
    }

    /// The server's log.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// The pid of the postmaster, if it runs.
    pub fn running_pid(&self) -> Option<nix::unistd::Pid> {
        self.daemon.running_pid()
    }

    /// Where clients connect.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A `postgres://` URL for `database` on this cluster.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{}:{}@127.0.0.1:{}/{database}",
            self.user, self.password, self.port
        )
    }

    /// Installs PostgreSQL if needed and creates the cluster, once.
    pub async fn prepare(&self) -> Result<(), InfraError> {
        tools::ensure_postgres(Path::new(BIN_DIR), &self.log).await?;
        let io = |step: &'static str| move |e: std::io::Error| InfraError::new(COMPONENT, step, e);
        let sys = |step: &'static str| move |e: nix::Error| InfraError::new(COMPONENT, step, e);
        if self.dir.starts_with(FALLBACK_ROOT) {
            tracing::warn!(
                dir = %self.dir.display(),
                "the postgres user cannot enter the state directory; the cluster lives here instead"
            );
        }
        std::fs::create_dir_all(&self.dir).map_err(io("creating the cluster directory"))?;
        std::fs::create_dir_all(self.log.parent().unwrap_or(&self.dir))
            .map_err(io("creating the log directory"))?;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(io("creating the log file"))?;
        if let Some(owner) = self.server_user()? {
            for path in [&self.dir, &self.log] {
                chown(path, Some(owner.uid), Some(owner.gid))
                    .map_err(sys("handing the cluster directory to the postgres user"))?;
            }
            let reachable = self
                .as_server_user(Command::new("test").arg("-w").arg(&self.dir))
                .status()
                .await
                .is_ok_and(|status| status.success());
            if !reachable {
                return Err(InfraError::new(
                    COMPONENT,
                    "checking the state directory",
                    format!(
                        "the postgres system user cannot write to {}; PostgreSQL refuses to run \
                         as root, so set CLOUDCORD__INFRA__STATE_DIR to a directory whose \
                         parents it can enter (e.g. /var/tmp/cloudcord)",
                        self.dir.display()
                    ),
                ));
            }
        }
        if self.data.join("PG_VERSION").is_file() {
            return Ok(());
        }
        tracing::info!(data = %self.data.display(), "creating the PostgreSQL cluster");
        let password_file = self.dir.join("initdb-password");
        std::fs::write(&password_file, &self.password).map_err(io("writing the password file"))?;
        if let Some(owner) = self.server_user()? {
            chown(&password_file, Some(owner.uid), Some(owner.gid))
                .map_err(sys("writing the password file"))?;
        }
        let initdb = run_logged(
            COMPONENT,
            "initdb",
            &mut self.as_server_user(
                Command::new(Path::new(BIN_DIR).join("initdb"))
                    .arg("-D")
                    .arg(&self.data)
                    .args([
                        "-U",
                        &self.user,
                        "--auth-local=trust",
                        "--auth-host=scram-sha-256",
                    ])
                    .arg(format!("--pwfile={}", password_file.display()))
                    .args(["-E", "UTF8", "--locale=C.UTF-8", "--no-instructions"]),
            ),
            &self.log,
        )
        .await;
        let _ = std::fs::remove_file(&password_file);
        initdb
    }

    /// Starts the server unless it runs.
    pub async fn start(&self) -> Result<(), InfraError> {
        if self.daemon.running_pid().is_some() {
            return Ok(());
        }
        ensure_free(COMPONENT, &self.address(), "postgres.url")?;
        tracing::info!(port = self.port, "starting PostgreSQL");
        let options = format!(
            "-c port={} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} \
             -c max_connections=300",
            self.port,
            self.dir.display()
        );
        run_logged(
            COMPONENT,
            "starting the server",
            &mut self.as_server_user(
                Command::new(Path::new(BIN_DIR).join("pg_ctl"))
                    .arg("-D")
                    .arg(&self.data)
                    .arg("-l")
                    .arg(&self.log)
                    .args(["-o", &options, "-w", "-t", "60", "start"]),
            ),
            &self.log,
        )
        .await
    }

    /// Waits until the server accepts logins, then creates the databases CloudCord
    /// and FerretDB use, and FerretDB's indexes.
    pub async fn wait_ready(&self) -> Result<(), InfraError> {
        wait_until_ready(&self.daemon, Duration::from_secs(60), || self.probe()).await?;
        self.create_databases()
            .await
            .map_err(|e| InfraError::new(COMPONENT, "creating databases", e).with_log(&self.log))?;
        self.index_ferretdb().await.map_err(|e| {
            InfraError::new(COMPONENT, "creating FerretDB's indexes", e).with_log(&self.log)
        })
    }

    async fn index_ferretdb(&self) -> Result<(), sqlx::Error> {
        let mut connection = self.connect(FERRETDB_DATABASE).await?;
        sqlx::raw_sql(AssertSqlSafe(INDEXES_SQL))
            .execute(&mut connection)
            .await?;
        connection.close().await
    }

    /// Answers `Ok` when the server accepts a login.
    pub async fn probe(&self) -> Result<(), sqlx::Error> {
        self.connect("postgres").await?.close().await
    }

    /// Stops the server (fast shutdown: active sessions are disconnected).
    pub async fn stop(&self) -> Result<(), InfraError> {
        self.daemon
            .stop(Signal::SIGINT, Duration::from_secs(30))
            .await
    }

    async fn connect(&self, database: &str) -> Result<sqlx::PgConnection, sqlx::Error> {
        PgConnectOptions::new()
            .host("127.0.0.1")
            .port(self.port)
            .username(&self.user)
            .password(&self.password)
            .database(database)
            .connect()
            .await
    }

    async fn create_databases(&self) -> Result<(), sqlx::Error> {
        let mut connection = self.connect("postgres").await?;
        for database in [self.database.as_str(), FERRETDB_DATABASE] {
            let exists = sqlx::query("SELECT 1 AS one FROM pg_database WHERE datname = $1")
                .bind(database)
                .fetch_optional(&mut connection)
                .await?
                .is_some_and(|row| row.get::<i32, _>("one") == 1);
            if !exists {
                // Identifiers cannot be bound as parameters; quote it instead.
                let quoted = database.replace('"', "\"\"");
                sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{quoted}\"")))
                    .execute(&mut connection)
                    .await?;
            }
        }
        connection.close().await
    }

    /// PostgreSQL refuses to run as root; when we are root, its programs run as the
    /// `postgres` system user that Debian's package creates.
    fn server_user(&self) -> Result<Option<User>, InfraError> {
        if !nix::unistd::geteuid().is_root() {
            return Ok(None);
        }
        User::from_name("postgres")
            .map_err(|e| InfraError::new(COMPONENT, "looking up the postgres user", e))?
            .ok_or_else(|| {
                InfraError::new(
                    COMPONENT,
                    "looking up the postgres user",
                    "no `postgres` system user; reinstall Debian's postgresql-15 package",
                )
            })
            .map(Some)
    }

    fn as_server_user(&self, command: &mut Command) -> Command {
        let std = command.as_std();
        let mut wrapped = if nix::unistd::geteuid().is_root() {
            let mut runuser = Command::new("runuser");
            runuser
                .args(["-u", "postgres", "--"])
                .arg(std.get_program());
            runuser
        } else {
            Command::new(std.get_program())
        };
        wrapped.args(std.get_args());
        wrapped
    }
}

/// Whether users other than the owner may traverse every ancestor of `dir` (the
/// `x` bit for others), which the `postgres` user needs to reach its files.
fn others_can_enter(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    // Directories that do not exist yet will be created with the usual 0755.
    dir.ancestors()
        .filter_map(|ancestor| std::fs::metadata(ancestor).ok())
        .all(|meta| meta.permissions().mode() & 0o001 != 0)
}
