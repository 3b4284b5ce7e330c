//! The gateway under test as a process of its own: started from the standalone
//! `gateway-ws` binary (or given by URL and pid), and read from `/proc` — its
//! memory (`smaps_rollup`), its CPU time (`stat`) — next to the machine's load.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures::StreamExt as _;
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

/// Linux reports CPU times in `/proc/<pid>/stat` in USER_HZ ticks, which the
/// kernel's ABI fixes at 100 per second (`sysconf(_SC_CLK_TCK)`; proc(5)).
const USER_HZ: f64 = 100.0;

/// How long the started gateway may take to answer its first Hello.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long it may take to stop after SIGTERM (it gives connections 5 s).
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// A process's memory, in bytes, from `/proc/<pid>/smaps_rollup` (exact, unlike
/// `status`'s per-thread counters).
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Memory {
    /// Resident set size.
    pub rss: u64,
    /// Anonymous resident memory (the heap and stacks; not the mapped binary).
    pub anonymous: u64,
}

/// `pid`'s memory now.
pub fn memory(pid: Pid) -> anyhow::Result<Memory> {
    let path = format!("/proc/{pid}/smaps_rollup");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = text
            .lines()
            .find(|line| line.starts_with(name))
            .with_context(|| format!("no {name} in {path}"))?;
        let kib: u64 = line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .with_context(|| format!("{name} in {path}"))?;
        Ok(kib * 1024)
    };
    Ok(Memory {
        rss: field("Rss:")?,
        anonymous: field("Anonymous:")?,
    })
}

/// CPU time `pid` has used so far, user and system, all threads (also exited
/// ones).
pub fn cpu_time(pid: Pid) -> anyhow::Result<Duration> {
    stat_cpu_time(&format!("/proc/{pid}/stat"))
}

/// CPU time this process has used so far.
pub fn own_cpu_time() -> anyhow::Result<Duration> {
    stat_cpu_time("/proc/self/stat")
}

fn stat_cpu_time(path: &str) -> anyhow::Result<Duration> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    // The command name in parentheses may contain spaces; fields count from after it.
    let after = text
        .rsplit_once(')')
        .with_context(|| format!("unexpected {path}"))?
        .1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 (utime) and 15 (stime) of proc(5), i.e. 12 and 13 after `comm`.
    let ticks = |at: usize| -> anyhow::Result<f64> {
        Ok(fields
            .get(at)
            .with_context(|| format!("short {path}"))?
            .parse::<u64>()? as f64)
    };
    Ok(Duration::from_secs_f64((ticks(11)? + ticks(12)?) / USER_HZ))
}

/// The machine's load averages (1, 5 and 15 minutes): how contended the shared
/// cores were around a measurement.
pub fn load_average() -> anyhow::Result<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").context("reading /proc/loadavg")?;
    let mut fields = text.split_whitespace().map(str::parse::<f64>);
    let mut next = || -> anyhow::Result<f64> { Ok(fields.next().context("short loadavg")??) };
    Ok([next()?, next()?, next()?])
}

/// Bytes the kernel holds for all TCP sockets on the machine (`/proc/net/sockstat`,
/// pages): socket buffers are not in any process's RSS.
pub fn kernel_tcp_memory() -> anyhow::Result<u64> {
    let text = std::fs::read_to_string("/proc/net/sockstat").context("reading sockstat")?;
    let line = text
        .lines()
        .find(|line| line.starts_with("TCP:"))
        .context("no TCP line in sockstat")?;
    let mut words = line.split_whitespace();
    while let Some(word) = words.next() {
        if word == "mem" {
            let pages: u64 = words.next().context("no mem value")?.parse()?;
            return Ok(pages * 4096);
        }
    }
    bail!("no TCP mem in sockstat")
}

/// A `gateway-ws` process this benchmark started, serving on its own listener.
#[derive(Debug)]
pub struct StartedGateway {
    child: Child,
    pid: Pid,
    url: String,
    log: PathBuf,
}

impl StartedGateway {
    /// Starts `bin` listening on `listen` (admin server on `admin`), trusting the
    /// tokens of the issuer whose keys are at `jwks_url`, logging to `log`; the rest
    /// of its configuration (Kafka, PostgreSQL) comes from this process's
    /// environment, as for any CloudCord process. Returns once it sends Hello.
    pub async fn start(
        bin: &Path,
        listen: SocketAddr,
        admin: SocketAddr,
        jwks_url: &str,
        log: &Path,
    ) -> anyhow::Result<Self> {
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let out =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        let child = Command::new(bin)
            .env(
                "CLOUDCORD__GATEWAY_WS__HTTP__LISTEN_ADDR",
                listen.to_string(),
            )
            .env(
                "CLOUDCORD__GATEWAY_WS__ADMIN__LISTEN_ADDR",
                admin.to_string(),
            )
            .env("CLOUDCORD__GATEWAY_WS__HTTP__JWKS_URL", jwks_url)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!(
                    "starting {} (build it: cargo build --release -p cloudcord-gateway-ws)",
                    bin.display()
                )
            })?;
        let pid = Pid::from_raw(
            i32::try_from(child.id().context("the gateway exited at once")?)
                .context("a pid beyond i32")?,
        );
        let mut gateway = Self {
            child,
            pid,
            url: format!("ws://{listen}"),
            log: log.to_owned(),
        };
        gateway.wait_ready().await?;
        tracing::info!(%pid, url = %gateway.url, log = %log.display(), "gateway-ws started");
        Ok(gateway)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        let url = format!("{}/?v=10&encoding=json", self.url);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "gateway-ws exited with {status}; see {}",
                    self.log.display()
                );
            }
            if let Ok((mut socket, _)) = tokio_tungstenite::connect_async(url.as_str()).await
                && let Ok(Some(Ok(_hello))) =
                    tokio::time::timeout(Duration::from_secs(5), socket.next()).await
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "gateway-ws did not say Hello within {START_TIMEOUT:?}; see {}",
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Its WebSocket URL, without path or query.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its pid.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Stops it with SIGTERM (as an orchestrator would), then SIGKILL if it takes
    /// longer than `STOP_TIMEOUT`.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        signal::kill(self.pid, Signal::SIGTERM).context("signalling gateway-ws")?;
        if tokio::time::timeout(STOP_TIMEOUT, self.child.wait())
            .await
            .is_err()
        {
            tracing::warn!(pid = %self.pid, "gateway-ws ignored SIGTERM; killing it");
            self.child.kill().await?;
        }
        Ok(())
    }
}
