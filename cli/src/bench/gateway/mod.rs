//! `cloudcord bench gateway-memory | gateway-fanout | gateway-latency`: the
//! gateway measured from the outside, with the project's own load generator
//! ([`client`]) connecting like Discord clients and the stack driven through REST.
//!
//! * **Memory per idle identified connection** ([`mod@memory`]): the gateway
//!   process's resident memory before and after N identified idle connections, at
//!   several N; the slope is bytes per connection.
//! * **Fan-out** ([`mod@fanout`]): 1,000 connected members of one guild, messages
//!   posted to its channel at steady rates; MESSAGE_CREATE deliveries received per
//!   second, and per CPU-second the gateway process used.
//! * **Latency** ([`mod@latency`]): REST POST → MESSAGE_CREATE at every client, at 200
//!   messages/s to 1,000 clients, next to a bare Kafka hop measured in the same run.
//!
//! The gateway is a process of its own so that its memory and CPU can be read
//! from `/proc`: by default the benchmark starts the standalone `gateway-ws`
//! binary (beside `cloudcord`) on its own port, configured like the stack (this
//! process's `CLOUDCORD__…` settings) and trusting the issuer behind `--url`, and
//! stops it at the end; `--gateway-url` and `--gateway-pid` measure one already
//! running instead. The guild and its members are made once through the API and
//! remembered ([`guild`]).
//!
//! Module map: [`client`] (the load generator), [`sender`] (posting at a steady
//! rate), [`guild`] (the benchmark guild), [`process`] (the gateway process and
//! `/proc`), and one module per benchmark.

pub mod client;
pub mod fanout;
pub mod guild;
pub mod latency;
pub mod memory;
pub mod process;
pub mod sender;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use nix::unistd::Pid;

use self::client::{Compression, Fleet, SendLog};
use self::guild::BenchGuild;
use self::process::StartedGateway;
use super::api::Api;

pub use self::fanout::{FanoutArgs, fanout};
pub use self::latency::{LatencyArgs, latency};
pub use self::memory::{MemoryArgs, memory};

/// What every gateway benchmark needs: the stack, the gateway under test and the
/// guild.
#[derive(Debug, Clone, clap::Args)]
pub struct GatewayArgs {
    /// The stack's REST API: the front door, or command-api's own listener
    /// (`http://127.0.0.1:9201`).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Measure this running gateway (`ws://host:port`, or the front door's
    /// `ws://127.0.0.1:8080/gateway`) instead of starting `gateway-ws`.
    #[arg(long)]
    pub gateway_url: Option<String>,
    /// The pid of the gateway at `--gateway-url`, whose memory and CPU time are read
    /// from /proc.
    #[arg(long, requires = "gateway_url")]
    pub gateway_pid: Option<i32>,
    /// The `gateway-ws` binary to start (default: beside this one).
    #[arg(long)]
    pub gateway_bin: Option<PathBuf>,
    /// Where the started gateway listens.
    #[arg(long, default_value = "127.0.0.1:9224")]
    pub gateway_listen: SocketAddr,
    /// The started gateway's admin server (`/metrics`).
    #[arg(long, default_value = "127.0.0.1:9124")]
    pub gateway_admin: SocketAddr,
    /// Members of the benchmark guild.
    #[arg(long, default_value_t = 1_000)]
    pub members: usize,
    /// Make a new benchmark guild instead of reusing the remembered one.
    #[arg(long)]
    pub new_guild: bool,
    /// Registrations or logins at a time while setting up.
    #[arg(long, default_value_t = 16)]
    pub setup_concurrency: usize,
    /// Gateway handshakes at a time.
    #[arg(long, default_value_t = 200)]
    pub handshake_concurrency: usize,
}

impl GatewayArgs {
    /// The API and the benchmark guild with at least `--members` members.
    async fn guild(&self, state_dir: &Path) -> anyhow::Result<(Api, BenchGuild)> {
        let api = Api::new(&self.url);
        let guild = BenchGuild::prepare(
            &api,
            &self.url,
            state_dir,
            self.members,
            self.new_guild,
            self.setup_concurrency,
        )
        .await
        .context("setting up the benchmark guild")?;
        Ok((api, guild))
    }

    /// `clients` connections to `target`, identified as the guild's members in turn
    /// and timing the messages of `log`; returns them with the members' tokens.
    async fn timed_fleet(
        &self,
        target: &Target,
        guild: &BenchGuild,
        compression: Compression,
        clients: usize,
        log: &Arc<SendLog>,
    ) -> anyhow::Result<(Fleet, Vec<String>)> {
        let mut fleet = Fleet::new(target.url(), compression, Some(Arc::clone(log)))?;
        let tokens = guild.tokens(self.members);
        fleet
            .grow(&tokens, clients, self.handshake_concurrency)
            .await?;
        if fleet.handshake_retries() > 0 {
            tracing::warn!(
                retries = fleet.handshake_retries(),
                "some handshakes were tried again"
            );
        }
        Ok((fleet, tokens))
    }

    /// The gateway under test: a new `gateway-ws` process, or the given one.
    async fn gateway(&self, state_dir: &Path) -> anyhow::Result<Target> {
        if let Some(url) = &self.gateway_url {
            return Ok(Target::External {
                url: url.clone(),
                pid: self.gateway_pid.map(Pid::from_raw),
            });
        }
        let bin = match &self.gateway_bin {
            Some(bin) => bin.clone(),
            None => std::env::current_exe()?
                .parent()
                .context("this binary has no directory")?
                .join("gateway-ws"),
        };
        let jwks = format!("{}/.well-known/jwks.json", self.url.trim_end_matches('/'));
        let log = state_dir.join("logs").join("bench-gateway-ws.log");
        let started =
            StartedGateway::start(&bin, self.gateway_listen, self.gateway_admin, &jwks, &log)
                .await?;
        Ok(Target::Started(Box::new(started)))
    }
}

/// The gateway under test.
#[derive(Debug)]
enum Target {
    Started(Box<StartedGateway>),
    External { url: String, pid: Option<Pid> },
}

impl Target {
    fn url(&self) -> &str {
        match self {
            Self::Started(gateway) => gateway.url(),
            Self::External { url, .. } => url,
        }
    }

    fn pid(&self) -> Option<Pid> {
        match self {
            Self::Started(gateway) => Some(gateway.pid()),
            Self::External { pid, .. } => *pid,
        }
    }

    /// Stops a gateway this benchmark started.
    async fn stop(self) -> anyhow::Result<()> {
        match self {
            Self::Started(gateway) => gateway.stop().await,
            Self::External { .. } => Ok(()),
        }
    }
}

/// Waits until the fleet has received `target` MESSAGE_CREATEs, or none arrived
/// for `quiet`; returns when the last one arrived.
async fn drained(fleet: &Fleet, target: u64, quiet: Duration) -> Instant {
    let mut last = fleet.message_creates();
    let mut last_change = Instant::now();
    while last < target && last_change.elapsed() < quiet {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = fleet.message_creates();
        if now != last {
            last = now;
            last_change = Instant::now();
        }
    }
    last_change
}

/// How many messages `seconds` at `rate` per second are.
#[expect(
    clippy::cast_possible_truncation,
    reason = "rates and durations come from the command line and stay far below 2^52"
)]
fn message_count(rate: f64, seconds: u64) -> usize {
    (rate * seconds as f64).round().max(0.0) as usize
}

/// Load averages as a table cell.
fn load_cell(load: [f64; 3]) -> String {
    format!("{:.2} / {:.2} / {:.2}", load[0], load[1], load[2])
}
