//! The faults, each injected into the running system and then healed: processes
//! killed (SIGKILL) and restarted, or frozen (SIGSTOP) and thawed (SIGCONT); the
//! leader of the busiest `events` partition killed and restarted; PostgreSQL and
//! FerretDB restarted.

use std::time::Duration;

use anyhow::Context as _;
use clap::ValueEnum;
use cloudcord_runtime::kafka::KafkaConfig;
use nix::sys::signal::{self, Signal};
use rdkafka::consumer::{BaseConsumer, Consumer as _};

use super::services::{Kind, Services};
use crate::infra::Infra;

/// One fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Fault {
    /// SIGKILL a command-api (HTTP API and command processor), then restart it.
    ProcessorKill,
    /// SIGSTOP a command-api past its group session, then SIGCONT it.
    ProcessorStop,
    /// SIGKILL a projectors process, then restart it.
    ProjectorsKill,
    /// SIGSTOP a projectors process past its group session, then SIGCONT it.
    ProjectorsStop,
    /// SIGKILL a gateway (its clients resume elsewhere), then restart it.
    GatewayKill,
    /// SIGSTOP a gateway, then SIGCONT it.
    GatewayStop,
    /// SIGTERM a gateway (it hands its sessions over: clients resume elsewhere),
    /// then start it again.
    GatewayRestart,
    /// SIGKILL the broker leading the busiest `events` partition, then restart it.
    BrokerKill,
    /// Restart PostgreSQL.
    PostgresRestart,
    /// Restart FerretDB.
    FerretdbRestart,
}

impl Fault {
    /// Its name on the command line and in reports.
    pub fn name(self) -> String {
        self.to_possible_value()
            .map_or_else(|| format!("{self:?}"), |v| v.get_name().to_owned())
    }
}

/// Injects `fault`, keeps it for `hold`, and heals it.
pub async fn inject(
    fault: Fault,
    services: &mut Services,
    infra: &Infra,
    kafka: &KafkaConfig,
    hold: Duration,
) -> anyhow::Result<()> {
    let (kind, index, signal) = match fault {
        Fault::ProcessorKill => (Kind::CommandApi, 0, Signal::SIGKILL),
        Fault::ProcessorStop => (Kind::CommandApi, 1, Signal::SIGSTOP),
        Fault::ProjectorsKill => (Kind::Projectors, 0, Signal::SIGKILL),
        Fault::ProjectorsStop => (Kind::Projectors, 1, Signal::SIGSTOP),
        Fault::GatewayKill => (Kind::GatewayWs, 0, Signal::SIGKILL),
        Fault::GatewayStop => (Kind::GatewayWs, 1, Signal::SIGSTOP),
        Fault::GatewayRestart => (Kind::GatewayWs, 1, Signal::SIGTERM),
        Fault::BrokerKill => return kill_busiest_leader(infra, kafka, hold).await,
        Fault::PostgresRestart => {
            infra.restart_postgres().await?;
            return Ok(());
        }
        Fault::FerretdbRestart => {
            infra.restart_ferretdb().await?;
            return Ok(());
        }
    };
    let position = services.of(kind)[index];
    let instance = &mut services.instances[position];
    if signal == Signal::SIGSTOP {
        instance.signal(Signal::SIGSTOP)?;
        tokio::time::sleep(hold).await;
        return instance.signal(Signal::SIGCONT);
    }
    if signal == Signal::SIGKILL {
        instance.kill().await?;
    } else {
        instance.terminate().await?;
    }
    tokio::time::sleep(hold).await;
    services.restart(position).await
}

async fn kill_busiest_leader(
    infra: &Infra,
    kafka: &KafkaConfig,
    hold: Duration,
) -> anyhow::Result<()> {
    let kafka = kafka.clone();
    let leader = tokio::task::spawn_blocking(move || busiest_leader(&kafka)).await??;
    let pid = infra
        .kafka_node_pid(leader)
        .with_context(|| format!("Kafka node {leader} is not running"))?;
    tracing::info!(node = leader, %pid, "killing the busiest partition's leader");
    signal::kill(pid, Signal::SIGKILL).context("killing the broker")?;
    tokio::time::sleep(hold).await;
    infra.restart_stopped_kafka_nodes().await?;
    Ok(())
}

/// The node leading the `events` partition whose end moved most over a second.
fn busiest_leader(kafka: &KafkaConfig) -> anyhow::Result<usize> {
    let topic = kafka.topics().events;
    let consumer: BaseConsumer = kafka
        .client_config("chaos-leaders")
        .create()
        .context("a metadata client")?;
    let timeout = Duration::from_secs(10);
    let metadata = consumer.fetch_metadata(Some(&topic), timeout)?;
    let partitions = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .context("no events topic")?
        .partitions()
        .iter()
        .map(|p| (p.id(), p.leader()))
        .collect::<Vec<_>>();
    let ends = |consumer: &BaseConsumer| -> anyhow::Result<Vec<i64>> {
        partitions
            .iter()
            .map(|&(id, _)| Ok(consumer.fetch_watermarks(&topic, id, timeout)?.1))
            .collect()
    };
    let before = ends(&consumer)?;
    std::thread::sleep(Duration::from_secs(1));
    let after = ends(&consumer)?;
    let (busiest, _) = partitions
        .iter()
        .zip(before.iter().zip(&after))
        .max_by_key(|(_, (b, a))| *a - *b)
        .context("events has no partitions")?;
    Ok(usize::try_from(busiest.1)?)
}
