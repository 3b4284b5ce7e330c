//! The services under test, each instance its own OS process (the binaries `make
//! service-binaries` builds, found next to `cloudcord`), so a fault can SIGKILL or
//! SIGSTOP exactly one of them.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// The kinds of service the harness runs, and the binary of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// command-api: the HTTP write API and the command processor.
    CommandApi,
    /// The PostgreSQL and MongoDB projectors.
    Projectors,
    /// query-api, for the clients' history backfill.
    QueryApi,
    /// gateway-ws.
    GatewayWs,
}

impl Kind {
    /// The binary's (and the configuration section's) name.
    pub fn binary(self) -> &'static str {
        match self {
            Self::CommandApi => "command-api",
            Self::Projectors => "projectors",
            Self::QueryApi => "query-api",
            Self::GatewayWs => "gateway-ws",
        }
    }

    fn section(self) -> &'static str {
        match self {
            Self::CommandApi => "COMMAND_API",
            Self::Projectors => "PROJECTORS",
            Self::QueryApi => "QUERY_API",
            Self::GatewayWs => "GATEWAY_WS",
        }
    }

    fn has_http(self) -> bool {
        self != Self::Projectors
    }
}

/// How long a service may take to answer `/readyz` on a busy 2-core machine.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// One running instance.
pub struct Instance {
    /// Which service.
    pub kind: Kind,
    /// Its number among its kind (0, 1).
    pub index: usize,
    /// Where its HTTP API listens (none for the projectors).
    pub http: Option<SocketAddr>,
    admin: SocketAddr,
    env: BTreeMap<String, String>,
    log: PathBuf,
    child: Option<Child>,
}

impl Instance {
    /// `command-api#1` and the like.
    pub fn name(&self) -> String {
        format!("{}#{}", self.kind.binary(), self.index)
    }

    /// The instance's pid while it runs.
    pub fn pid(&self) -> anyhow::Result<Pid> {
        let id = self
            .child
            .as_ref()
            .and_then(Child::id)
            .with_context(|| format!("{} is not running", self.name()))?;
        Ok(Pid::from_raw(i32::try_from(id)?))
    }

    /// Sends `signal` (SIGKILL, SIGSTOP, SIGCONT, SIGTERM).
    pub fn signal(&self, signal: Signal) -> anyhow::Result<()> {
        signal::kill(self.pid()?, signal)
            .with_context(|| format!("sending {signal} to {}", self.name()))
    }

    /// SIGTERMs the instance and waits for it to exit (SIGKILL after 30 s).
    pub async fn terminate(&mut self) -> anyhow::Result<()> {
        self.signal(Signal::SIGTERM)?;
        if let Some(child) = self.child.as_mut()
            && tokio::time::timeout(Duration::from_secs(30), child.wait())
                .await
                .is_err()
        {
            tracing::warn!(service = %self.name(), "ignored SIGTERM for 30 s; killing it");
        }
        self.kill().await
    }

    /// SIGKILLs the instance and reaps it.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child
                .kill()
                .await
                .with_context(|| format!("killing {}", self.name()))?;
        }
        Ok(())
    }

    /// Starts the instance (again) with the same ports and settings, and waits until
    /// it is ready.
    pub async fn start(&mut self, bin_dir: &Path) -> anyhow::Result<()> {
        let bin = bin_dir.join(self.kind.binary());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let child = Command::new(&bin)
            .envs(&self.env)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!(
                    "starting {} (build the services first: make service-binaries)",
                    bin.display()
                )
            })?;
        self.child = Some(child);
        self.wait_ready().await
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let url = format!("http://{}/readyz", self.admin);
        let client = reqwest::Client::new();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!(
                    "{} exited with {status}; see {}",
                    self.name(),
                    self.log.display()
                );
            }
            let ready = client
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|answer| answer.status().is_success());
            if ready {
                tracing::info!(service = %self.name(), "ready");
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} was not ready within {READY_TIMEOUT:?}; see {}",
                    self.name(),
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// Every instance, two of each kind, on free loopback ports.
pub struct Services {
    bin_dir: PathBuf,
    /// The instances, command-api's first (the first issues the signing key).
    pub instances: Vec<Instance>,
}

/// What every instance shares.
pub struct Shared<'a> {
    /// The brokers, all of them.
    pub bootstrap_servers: &'a str,
    /// Logs, the signing key, the processors' local state.
    pub dir: &'a Path,
    /// How long a group waits for a silent member (the failover time).
    pub session_timeout_ms: u32,
}

impl Services {
    /// Plans the instances; nothing starts yet.
    pub fn plan(shared: &Shared<'_>) -> anyhow::Result<Self> {
        let bin_dir = std::env::current_exe()
            .context("locating the cloudcord binary")?
            .parent()
            .context("the cloudcord binary has no directory")?
            .to_owned();
        let mut instances = Vec::new();
        for (kind, count) in [
            (Kind::CommandApi, 2),
            (Kind::Projectors, 2),
            (Kind::QueryApi, 2),
            (Kind::GatewayWs, 2),
        ] {
            for index in 0..count {
                instances.push(plan_instance(kind, index, shared)?);
            }
        }
        let jwks = format!(
            "http://{}/.well-known/jwks.json",
            instances[0].http.context("command-api has an HTTP port")?
        );
        for instance in &mut instances {
            if matches!(instance.kind, Kind::QueryApi | Kind::GatewayWs) {
                let section = instance.kind.section();
                instance.env.insert(
                    format!("CLOUDCORD__{section}__HTTP__JWKS_URL"),
                    jwks.clone(),
                );
            }
            if instance.kind == Kind::GatewayWs {
                let url = format!("ws://{}", instance.http.context("the gateway's port")?);
                instance.env.insert(
                    "CLOUDCORD__GATEWAY_WS__HTTP__RESUME_GATEWAY_URL".into(),
                    url,
                );
            }
        }
        Ok(Self { bin_dir, instances })
    }

    /// Starts every instance in turn.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        for instance in &mut self.instances {
            instance.start(&self.bin_dir).await?;
        }
        Ok(())
    }

    /// Starts `instance` again after a kill.
    pub async fn restart(&mut self, position: usize) -> anyhow::Result<()> {
        self.instances[position].start(&self.bin_dir).await
    }

    /// Starts again every instance that exited on its own, as an orchestrator
    /// would: a command processor fenced after a freeze exits by design so that its
    /// partitions move. Without this its URL refused half of the senders' posts for
    /// the rest of the run. An instance a fault killed is restarted by the fault.
    /// Returns each revived instance's name and exit status.
    pub async fn revive_exited(&mut self) -> anyhow::Result<Vec<String>> {
        let mut revived = Vec::new();
        for position in 0..self.instances.len() {
            let instance = &mut self.instances[position];
            let Some(status) = instance.child.as_mut().map(Child::try_wait).transpose()? else {
                continue;
            };
            if let Some(status) = status {
                tracing::warn!(service = %instance.name(), %status, log = %instance.log.display(),
                    "exited on its own; starting it again");
                revived.push(format!("{} ({status})", instance.name()));
                self.restart(position).await?;
            }
        }
        Ok(revived)
    }

    /// The positions of `kind`'s instances.
    pub fn of(&self, kind: Kind) -> Vec<usize> {
        (0..self.instances.len())
            .filter(|&i| self.instances[i].kind == kind)
            .collect()
    }

    /// The HTTP addresses of `kind`'s instances.
    pub fn urls(&self, kind: Kind) -> Vec<String> {
        self.of(kind)
            .into_iter()
            .filter_map(|i| self.instances[i].http)
            .map(|addr| format!("http://{addr}"))
            .collect()
    }

    /// Stops every instance (SIGTERM, as an orchestrator would).
    pub async fn stop(&mut self) {
        for instance in &mut self.instances {
            // A frozen instance (a failed fault) must run to hear SIGTERM.
            let thawed = instance.signal(Signal::SIGCONT);
            let stopped = match thawed {
                Ok(()) => instance.terminate().await,
                Err(_) => instance.kill().await,
            };
            if let Err(error) = stopped {
                tracing::warn!(service = %instance.name(), error = %format!("{error:#}"), "stopping a service");
            }
        }
    }
}

fn plan_instance(kind: Kind, index: usize, shared: &Shared<'_>) -> anyhow::Result<Instance> {
    let section = kind.section();
    let admin = free_port()?;
    let http = kind.has_http().then(free_port).transpose()?;
    let mut env = BTreeMap::from([
        (
            "CLOUDCORD__KAFKA__BOOTSTRAP_SERVERS".to_owned(),
            shared.bootstrap_servers.to_owned(),
        ),
        (
            "CLOUDCORD__AUTH__SIGNING_KEY_PATH".to_owned(),
            shared.dir.join("ed25519.pem").display().to_string(),
        ),
        (
            format!("CLOUDCORD__{section}__ADMIN__LISTEN_ADDR"),
            admin.to_string(),
        ),
    ]);
    if let Some(http) = http {
        env.insert(
            format!("CLOUDCORD__{section}__HTTP__LISTEN_ADDR"),
            http.to_string(),
        );
    }
    let timeout = shared.session_timeout_ms.to_string();
    match kind {
        Kind::CommandApi => {
            env.extend([
                (
                    "CLOUDCORD__COMMAND_API__PROCESSOR__STATE_DIR".to_owned(),
                    shared
                        .dir
                        .join(format!("processor-{index}"))
                        .display()
                        .to_string(),
                ),
                (
                    "CLOUDCORD__COMMAND_API__PROCESSOR__SESSION_TIMEOUT_MS".to_owned(),
                    timeout,
                ),
                // Two writers must never mint the same snowflake.
                (
                    "CLOUDCORD__COMMAND_API__HTTP__SNOWFLAKE_WORKER".to_owned(),
                    index.to_string(),
                ),
                // A load harness, like the benchmarks: Discord's per-channel limits
                // would measure the limiter, not the log.
                (
                    "CLOUDCORD__COMMAND_API__HTTP__RATE_LIMITS__ENABLED".to_owned(),
                    "false".to_owned(),
                ),
            ]);
        }
        Kind::Projectors => {
            env.insert(
                "CLOUDCORD__PROJECTORS__SESSION_TIMEOUT_MS".to_owned(),
                timeout,
            );
        }
        Kind::QueryApi => {
            env.insert(
                "CLOUDCORD__QUERY_API__HTTP__RATE_LIMITS__ENABLED".to_owned(),
                "false".to_owned(),
            );
        }
        Kind::GatewayWs => {}
    }
    Ok(Instance {
        kind,
        index,
        http,
        admin,
        env,
        log: shared
            .dir
            .join(format!("logs/{}-{index}.log", kind.binary())),
        child: None,
    })
}

/// A loopback port nobody listens on now.
fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?)
}
