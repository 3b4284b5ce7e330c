//! Apache Kafka 4.x in KRaft mode, from Maven Central jars (no tarball): one combined
//! broker+controller node, or three on loopback for broker-failure tests.
//!
//! Node `i` (from 1) listens for clients on `port + 2(i-1)` and for the controller
//! quorum on the port after it, so one node uses 9092/9093 and three use 9092–9097;
//! each also takes mutually authenticated TLS clients 100 ports above its client
//! port (9192), with the certificates of [`super::kafka_tls`].

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cloudcord_runtime::kafka::KafkaConfig;
use nix::sys::signal::Signal;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer};
use tokio::process::Command;

use super::error::InfraError;
use super::kafka_tls::{TLS_PORT_OFFSET, TlsFiles};
use super::process::{Daemon, ensure_free, run_logged, wait_until_ready};
use super::{content_key, tools};

const COMPONENT: &str = "kafka";

/// The pom that names the broker's jars; its hash keys the cached classpath.
const POM: &str = include_str!("../../../infra/kafka/pom.xml");

/// How long a cold broker may take to start on a busy 2-core machine.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// The local Kafka cluster.
pub struct Kafka {
    dir: PathBuf,
    cache_dir: PathBuf,
    logs: PathBuf,
    host: String,
    nodes: Vec<Node>,
}

struct Node {
    id: usize,
    broker_port: u16,
    controller_port: u16,
    dir: PathBuf,
    daemon: Daemon,
}

impl Kafka {
    /// Plans a cluster of `brokers` nodes at the first address of
    /// `kafka.bootstrap_servers`, keeping its data under `state_dir/kafka` and its
    /// jars under `cache_dir/kafka`.
    pub fn new(
        config: &KafkaConfig,
        brokers: usize,
        state_dir: &Path,
        cache_dir: &Path,
    ) -> Result<Self, InfraError> {
        let first = config
            .bootstrap_servers
            .split(',')
            .next()
            .unwrap_or_default();
        let (host, port) = first
            .trim()
            .rsplit_once(':')
            .and_then(|(host, port)| Some((host.to_owned(), port.parse::<u16>().ok()?)))
            .ok_or_else(|| {
                InfraError::new(
                    COMPONENT,
                    "reading kafka.bootstrap_servers",
                    format!("{first:?} is not host:port"),
                )
            })?;
        let dir = state_dir.join("kafka");
        let logs = state_dir.join("logs");
        let nodes = (1..=brokers)
            .map(|id| {
                let offset = u16::try_from(2 * (id - 1)).unwrap_or(u16::MAX);
                Node {
                    id,
                    broker_port: port.saturating_add(offset),
                    controller_port: port.saturating_add(offset + 1),
                    dir: dir.join(format!("node-{id}")),
                    daemon: Daemon {
                        component: COMPONENT,
                        pid_file: dir.join(format!("node-{id}.pid")),
                        log: logs.join(format!("kafka-{id}.log")),
                    },
                }
            })
            .collect();
        Ok(Self {
            dir,
            cache_dir: cache_dir.join("kafka"),
            logs,
            host,
            nodes,
        })
    }

    /// How many nodes the last `prepare` laid out under `state_dir`, so `down` and
    /// `status` find every node that `up --brokers 3` started.
    pub fn recorded_nodes(state_dir: &Path) -> Option<usize> {
        let layout = std::fs::read_to_string(state_dir.join("kafka/layout")).ok()?;
        layout
            .strip_prefix("nodes=")?
            .split(' ')
            .next()?
            .parse()
            .ok()
    }

    /// The bootstrap list covering every node.
    pub fn bootstrap_servers(&self) -> String {
        self.nodes
            .iter()
            .map(|node| format!("{}:{}", self.host, node.broker_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The log of the first node, for messages.
    pub fn log(&self) -> &Path {
        &self.nodes[0].daemon.log
    }

    /// The pid of node `id` while it runs.
    pub fn node_pid(&self, id: usize) -> Option<nix::unistd::Pid> {
        self.nodes
            .iter()
            .find(|node| node.id == id)
            .and_then(|node| node.daemon.running_pid())
    }

    /// Nodes whose process is alive.
    pub fn running_nodes(&self) -> usize {
        self.nodes
            .iter()
            .filter(|node| node.daemon.running_pid().is_some())
            .count()
    }

    /// Fetches the jars and formats the storage of every node, once.
    pub async fn prepare(&self) -> Result<(), InfraError> {
        let setup_log = self.logs.join("kafka-setup.log");
        let libs = self.libs_dir();
        if !libs.is_dir() {
            tools::ensure_java_and_maven(&setup_log).await?;
            self.fetch_libs(&libs, &setup_log).await?;
        }
        self.reset_if_layout_changed().await?;
        self.tls().ensure(&self.host)?;
        let cluster_id = self.cluster_id(&libs, &setup_log).await?;
        for node in &self.nodes {
            std::fs::create_dir_all(&node.dir)
                .map_err(|e| InfraError::new(COMPONENT, "creating node directories", e))?;
            let properties = node.dir.join("server.properties");
            std::fs::write(&properties, self.server_properties(node))
                .map_err(|e| InfraError::new(COMPONENT, "writing server.properties", e))?;
            if !node.dir.join("data/meta.properties").is_file() {
                run_logged(
                    COMPONENT,
                    "formatting storage",
                    java(&libs)
                        .args(["kafka.tools.StorageTool", "format", "--cluster-id"])
                        .arg(&cluster_id)
                        .arg("-c")
                        .arg(&properties),
                    &setup_log,
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Starts every node that is not running.
    pub fn start(&self) -> Result<(), InfraError> {
        let libs = self.libs_dir();
        for node in &self.nodes {
            if node.daemon.running_pid().is_none() {
                for port in [node.broker_port, node.controller_port, node.tls_port()] {
                    ensure_free(
                        COMPONENT,
                        &format!("{}:{port}", self.host),
                        "kafka.bootstrap_servers",
                    )?;
                }
                tracing::info!(node = node.id, port = node.broker_port, "starting Kafka");
                let mut command = java(&libs);
                command
                    .args([
                        "-Xms256m",
                        "-Xmx512m",
                        "-Dorg.slf4j.simpleLogger.showDateTime=true",
                        // Each client and server prints its whole configuration at INFO.
                        "-Dorg.slf4j.simpleLogger.log.org.apache.kafka.common.config.AbstractConfig=warn",
                        "kafka.Kafka",
                    ])
                    .arg(node.dir.join("server.properties"));
                node.daemon.spawn(command)?;
            }
        }
        Ok(())
    }

    /// Waits until the cluster's metadata lists every node as a broker.
    pub async fn wait_ready(&self) -> Result<(), InfraError> {
        let expected = self.nodes.len();
        let bootstrap = self.bootstrap_servers();
        for node in &self.nodes {
            wait_until_ready(&node.daemon, START_TIMEOUT, || {
                broker_count(bootstrap.clone(), expected)
            })
            .await?;
        }
        Ok(())
    }

    /// Answers `Ok` when the metadata lists every node as a broker.
    pub async fn probe(&self) -> Result<(), String> {
        broker_count(self.bootstrap_servers(), self.nodes.len()).await
    }

    /// Stops every node (controlled shutdown first), all at once: one by one, the
    /// last nodes wait out their grace period for a quorum that has left.
    pub async fn stop(&self) -> Result<(), InfraError> {
        let stops = self
            .nodes
            .iter()
            .map(|node| node.daemon.stop(Signal::SIGTERM, Duration::from_secs(30)));
        futures::future::try_join_all(stops).await?;
        Ok(())
    }

    /// The TLS listener's certificates.
    pub fn tls(&self) -> TlsFiles {
        TlsFiles::in_dir(&self.dir)
    }

    /// The bootstrap list of the TLS listeners.
    pub fn tls_bootstrap_servers(&self) -> String {
        self.nodes
            .iter()
            .map(|node| format!("{}:{}", self.host, node.tls_port()))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn libs_dir(&self) -> PathBuf {
        self.cache_dir.join(format!("libs-{}", content_key(&[POM])))
    }

    async fn fetch_libs(&self, libs: &Path, log: &Path) -> Result<(), InfraError> {
        tracing::info!(
            "fetching the Kafka broker's jars with Maven (cached in ~/.m2 after the first run)"
        );
        let pom = self.cache_dir.join("pom.xml");
        let partial = libs.with_extension("partial");
        let io = |e| InfraError::new(COMPONENT, "fetching broker jars", e);
        std::fs::create_dir_all(&self.cache_dir).map_err(io)?;
        std::fs::write(&pom, POM).map_err(io)?;
        let _ = std::fs::remove_dir_all(&partial);
        run_logged(
            COMPONENT,
            "fetching broker jars with Maven",
            Command::new("mvn")
                .args(["-B", "-q", "-f"])
                .arg(&pom)
                .args(["dependency:copy-dependencies", "-DincludeScope=runtime"])
                .arg(format!("-DoutputDirectory={}", partial.display())),
            log,
        )
        .await?;
        std::fs::rename(&partial, libs).map_err(io)
    }

    /// Switching between one and three nodes needs freshly formatted storage; the
    /// local cluster's data is disposable, so stop every old node and start over.
    async fn reset_if_layout_changed(&self) -> Result<(), InfraError> {
        let layout_file = self.dir.join("layout");
        let layout = format!("nodes={} {}", self.nodes.len(), self.bootstrap_servers());
        let previous = std::fs::read_to_string(&layout_file).ok();
        if previous.as_deref() == Some(layout.as_str()) {
            return Ok(());
        }
        let io = |e| InfraError::new(COMPONENT, "resetting storage for a new layout", e);
        if let Some(previous) = previous {
            tracing::warn!(%previous, new = %layout, "Kafka layout changed; discarding local Kafka data");
            for entry in std::fs::read_dir(&self.dir).map_err(io)? {
                let path = entry.map_err(io)?.path();
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default();
                if name.starts_with("node-") && name.ends_with(".pid") {
                    let old = Daemon {
                        component: COMPONENT,
                        pid_file: path.clone(),
                        log: self.logs.join("kafka-1.log"),
                    };
                    old.stop(Signal::SIGTERM, Duration::from_secs(30)).await?;
                } else if name.starts_with("node-") && path.is_dir() {
                    std::fs::remove_dir_all(&path).map_err(io)?;
                }
            }
            let _ = std::fs::remove_file(self.dir.join("cluster-id"));
        }
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        std::fs::write(layout_file, layout).map_err(io)
    }

    async fn cluster_id(&self, libs: &Path, log: &Path) -> Result<String, InfraError> {
        let file = self.dir.join("cluster-id");
        if let Ok(id) = std::fs::read_to_string(&file) {
            return Ok(id.trim().to_owned());
        }
        let step = "generating a cluster id";
        let output = java(libs)
            .args(["kafka.tools.StorageTool", "random-uuid"])
            .stderr(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| InfraError::new(COMPONENT, step, e).with_log(log))?;
        let id = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if !output.status.success() || id.is_empty() {
            return Err(InfraError::new(
                COMPONENT,
                step,
                format!("StorageTool: {}", output.status),
            ));
        }
        std::fs::write(&file, &id).map_err(|e| InfraError::new(COMPONENT, step, e))?;
        Ok(id)
    }

    fn server_properties(&self, node: &Node) -> String {
        let host = &self.host;
        let replicas = self.nodes.len().min(3);
        let min_isr = if replicas > 1 { 2 } else { 1 };
        let voters = self
            .nodes
            .iter()
            .map(|n| format!("{}@{host}:{}", n.id, n.controller_port))
            .collect::<Vec<_>>()
            .join(",");
        let mut p = String::new();
        let _ = writeln!(
            p,
            "# Written by `cloudcord infra up`; edits are overwritten."
        );
        let _ = writeln!(p, "process.roles=broker,controller");
        let _ = writeln!(p, "node.id={}", node.id);
        let _ = writeln!(
            p,
            "listeners=PLAINTEXT://{host}:{},CONTROLLER://{host}:{},SSL://{host}:{}",
            node.broker_port,
            node.controller_port,
            node.tls_port()
        );
        let _ = writeln!(
            p,
            "advertised.listeners=PLAINTEXT://{host}:{},SSL://{host}:{}",
            node.broker_port,
            node.tls_port()
        );
        let tls = self.tls();
        let _ = writeln!(p, "ssl.keystore.type=PEM");
        let _ = writeln!(
            p,
            "ssl.keystore.location={}",
            tls.broker_keystore().display()
        );
        let _ = writeln!(p, "ssl.truststore.type=PEM");
        let _ = writeln!(p, "ssl.truststore.location={}", tls.ca().display());
        let _ = writeln!(p, "ssl.client.auth=required");
        let _ = writeln!(
            p,
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SSL:SSL"
        );
        let _ = writeln!(p, "controller.listener.names=CONTROLLER");
        let _ = writeln!(p, "inter.broker.listener.name=PLAINTEXT");
        let _ = writeln!(p, "controller.quorum.voters={voters}");
        let _ = writeln!(p, "log.dirs={}", node.dir.join("data").display());
        let _ = writeln!(p, "num.partitions=1");
        let _ = writeln!(p, "default.replication.factor={replicas}");
        let _ = writeln!(p, "min.insync.replicas={min_isr}");
        let _ = writeln!(p, "unclean.leader.election.enable=false");
        for topic in [
            "offsets.topic",
            "transaction.state.log",
            "share.coordinator.state.topic",
        ] {
            let _ = writeln!(p, "{topic}.replication.factor={replicas}");
        }
        for topic in ["transaction.state.log", "share.coordinator.state.topic"] {
            let _ = writeln!(p, "{topic}.min.isr={min_isr}");
        }
        // Tests create consumer groups constantly; no reason to wait for joiners.
        let _ = writeln!(p, "group.initial.rebalance.delay.ms=0");
        p
    }
}

impl Node {
    fn tls_port(&self) -> u16 {
        self.broker_port.saturating_add(TLS_PORT_OFFSET)
    }
}

/// `java -cp <libs>/*`, the start of every broker-side command.
fn java(libs: &Path) -> Command {
    let mut command = Command::new("java");
    command.arg("-cp").arg(libs.join("*"));
    command
}

/// Fetches cluster metadata and answers `Ok` when it lists `expected` brokers.
async fn broker_count(bootstrap: String, expected: usize) -> Result<(), String> {
    tokio::task::spawn_blocking(move || {
        let mut config = KafkaConfig {
            bootstrap_servers: bootstrap,
            ..KafkaConfig::default()
        }
        .client_config("cloudcord-infra");
        // Refused connections are expected while a broker starts; do not log them.
        config.set_log_level(RDKafkaLogLevel::Emerg);
        let consumer: BaseConsumer = config.create().map_err(|e| e.to_string())?;
        let metadata = consumer
            .fetch_metadata(None, Duration::from_secs(2))
            .map_err(|e| e.to_string())?;
        match metadata.brokers().len() {
            n if n >= expected => Ok(()),
            n => Err(format!("{n} of {expected} brokers registered")),
        }
    })
    .await
    .map_err(|e| e.to_string())?
}
