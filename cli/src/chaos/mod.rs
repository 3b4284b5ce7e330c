//! `cloudcord chaos`: CloudCord under faults, and a checker for lost or duplicated
//! messages.
//!
//! On a three-broker KRaft cluster (the local infrastructure with `--brokers 3`),
//! two instances of command-api, the projectors, query-api and gateway-ws run as
//! processes of their own ([`services`]). Senders post uniquely numbered
//! messages through both command-apis while gateway clients watch the channel
//! ([`load`], [`clients`]); meanwhile each fault in turn is injected and healed
//! ([`faults`]); an instance that exits on its own meanwhile is started again after
//! the fault's settling time, as an orchestrator would. Then the [`check`]er asserts that every acknowledged message is in
//! `events` exactly once, in both read models and in every client's stream, that
//! no unacknowledged one is there twice, that every aggregate's `seq` is gap-free,
//! and that a replay from offset 0 equals the live read models.
//!
//! A fault's effect on the run (what the clients saw, what was unacknowledged) is in
//! the report; what it must never do is break a guarantee, and then the command
//! exits non-zero.

pub mod check;
pub mod clients;
pub mod faults;
pub mod load;
pub mod services;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use cloudcord_projectors::ProjectorSettings;

use self::check::{Report, Stores};
use self::clients::{Clients, Endpoints};
use self::faults::Fault;
use self::load::{Outcome, Scene, Senders};
use self::services::{Kind, Services, Shared};
use crate::bench::api::Api;
use crate::infra::Infra;
use crate::settings::Settings;

/// `cloudcord chaos` options.
#[derive(Debug, clap::Args)]
pub struct ChaosArgs {
    /// The faults to inject, in this order (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub faults: Vec<Fault>,
    /// How long each fault lasts before it is healed, in seconds.
    #[arg(long, default_value_t = 8)]
    pub hold_secs: u64,
    /// How long the system runs undisturbed before, between and after the faults,
    /// in seconds.
    #[arg(long, default_value_t = 10)]
    pub settle_secs: u64,
    /// Concurrent senders.
    #[arg(long, default_value_t = 4)]
    pub senders: usize,
    /// Pause between one sender's messages, in milliseconds.
    #[arg(long, default_value_t = 50)]
    pub pause_ms: u64,
    /// Gateway clients watching the channel.
    #[arg(long, default_value_t = 4)]
    pub clients: usize,
    /// How long a consumer group waits for a silent member, in milliseconds (the
    /// broker accepts 6,000 and up).
    #[arg(long, default_value_t = 6_000)]
    pub session_timeout_ms: u32,
    /// Also write the report as JSON here.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

/// Runs the faults against a fresh set of services and checks the outcome.
pub async fn run(settings: &Settings, args: &ChaosArgs) -> anyhow::Result<()> {
    let infra = Infra::new(settings, 3)?;
    infra.up().await?;
    let mut kafka = settings.kafka.clone();
    kafka.bootstrap_servers = infra.bootstrap_servers();
    let dir = std::path::absolute(settings.infra.state_dir.join("chaos"))?;
    std::fs::create_dir_all(dir.join("logs"))
        .with_context(|| format!("creating {}", dir.display()))?;
    let mut services = Services::plan(&Shared {
        bootstrap_servers: &kafka.bootstrap_servers,
        dir: &dir,
        session_timeout_ms: args.session_timeout_ms,
    })?;
    let outcome = exercise(&mut services, &infra, &kafka, args).await;
    services.stop().await;
    let Exercised {
        sent,
        received,
        revived,
    } = outcome?;

    let schema = ProjectorSettings::default().postgres_schema;
    let stores = Stores {
        kafka: &kafka,
        postgres: &settings.postgres,
        schema: &schema,
        mongo: &settings.mongo,
    };
    let mut report = check::check(&stores, &sent, &received).await?;
    report.revived = revived;
    let logs = dir.join("logs");
    for (i, client) in received.iter().enumerate() {
        let path = logs.join(format!("client-{i}.trace"));
        std::fs::write(&path, client.trace.join("\n") + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    std::io::Write::write_all(
        &mut std::io::stdout().lock(),
        render(&report, &logs).as_bytes(),
    )?;
    if let Some(path) = &args.report {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if !report.passed() {
        bail!(
            "a guarantee was broken (see the report above; the services' logs are in {})",
            dir.join("logs").display()
        );
    }
    Ok(())
}

/// What a run of the faults produced.
struct Exercised {
    sent: Vec<load::Sent>,
    received: Vec<clients::Received>,
    /// Instances that exited on their own and were started again, each with the
    /// fault it followed.
    revived: Vec<String>,
}

/// Starts the services and the load, injects every fault, and returns what was sent,
/// what each client received, and which instances had to be started again.
async fn exercise(
    services: &mut Services,
    infra: &Infra,
    kafka: &cloudcord_runtime::kafka::KafkaConfig,
    args: &ChaosArgs,
) -> anyhow::Result<Exercised> {
    let settle = Duration::from_secs(args.settle_secs);
    services.start().await?;
    let writers = services.urls(Kind::CommandApi);
    let scene = Scene::prepare(&Api::new(&writers[0]), args.clients).await?;
    let endpoints = Endpoints {
        gateways: services
            .urls(Kind::GatewayWs)
            .iter()
            .map(|url| url.replacen("http://", "ws://", 1))
            .collect(),
        query_apis: services.urls(Kind::QueryApi),
        channel: scene.channel.get(),
    };
    let clients = Clients::start(&scene.members, &endpoints);
    let senders = Senders::start(
        &writers,
        &scene,
        args.senders,
        Duration::from_millis(args.pause_ms),
    );
    tokio::time::sleep(settle).await;
    let faults = if args.faults.is_empty() {
        <Fault as clap::ValueEnum>::value_variants().to_vec()
    } else {
        args.faults.clone()
    };
    let mut revived = Vec::new();
    for fault in faults {
        tracing::info!(fault = %fault.name(), "injecting");
        faults::inject(
            fault,
            services,
            infra,
            kafka,
            Duration::from_secs(args.hold_secs),
        )
        .await
        .with_context(|| format!("injecting {}", fault.name()))?;
        tracing::info!(fault = %fault.name(), "healed");
        tokio::time::sleep(settle).await;
        for instance in services.revive_exited().await? {
            revived.push(format!("{instance} after {}", fault.name()));
        }
    }
    let sent = senders.stop().await?;
    let acked: BTreeSet<u64> = sent
        .iter()
        .filter_map(|s| match s.outcome {
            Outcome::Acked(id) => Some(id),
            Outcome::Unacked(_) => None,
        })
        .collect();
    if !clients.wait_for(&acked, Duration::from_secs(120)).await {
        tracing::warn!("some clients still miss acknowledged messages after 120 s");
    }
    Ok(Exercised {
        sent,
        received: clients.stop().await?,
        revived,
    })
}

/// The report as a Markdown table, the clients that missed messages (their traces
/// are in `logs`), and one JSON line.
fn render(report: &Report, logs: &std::path::Path) -> String {
    use std::fmt::Write as _;
    let per_client =
        |lists: &[Vec<u64>]| format!("{:?}", lists.iter().map(Vec::len).collect::<Vec<_>>());
    let rows = [
        (
            "messages sent / acknowledged",
            format!("{} / {}", report.sent, report.acked),
        ),
        (
            "unacknowledged, why",
            format!("{:?}", report.unacked_reasons),
        ),
        (
            "unacknowledged but committed (allowed once)",
            report.unacked_committed.to_string(),
        ),
        (
            "acknowledged, missing from events",
            report.lost_in_events.len().to_string(),
        ),
        (
            "in events more than once",
            report.duplicated_in_events.len().to_string(),
        ),
        (
            "acknowledged, missing from PostgreSQL / MongoDB",
            format!(
                "{} / {}",
                report.lost_in_postgres.len(),
                report.lost_in_mongo.len()
            ),
        ),
        (
            "acknowledged, missing at a client (per client)",
            per_client(&report.lost_by_clients),
        ),
        (
            "dispatched twice to a client (per client)",
            per_client(&report.duplicated_by_clients),
        ),
        ("seq breaks", report.seq_breaks.len().to_string()),
        (
            "replay equals live (PostgreSQL, MongoDB)",
            format!("{:?}", report.replay_matches),
        ),
        (
            "client resumes / re-identifications",
            format!("{} / {}", report.resumes, report.reidentified),
        ),
        (
            "exited on their own, started again",
            if report.revived.is_empty() {
                "none".to_owned()
            } else {
                report.revived.join("; ")
            },
        ),
    ];
    let verdict = if report.passed() { "PASSED" } else { "FAILED" };
    let mut out = format!("## Chaos run: {verdict}\n\n| check | result |\n|---|---|\n");
    for (check, result) in rows {
        let _ = writeln!(out, "| {check} | {result} |");
    }
    for (i, lost) in report.lost_by_clients.iter().enumerate() {
        if let (Some(&first), Some(&last)) = (lost.first(), lost.last()) {
            let _ = writeln!(
                out,
                "\nClient {i} missed {} acknowledged messages sent from {} to {}; its trace: {}",
                lost.len(),
                clients::sent_at(first),
                clients::sent_at(last),
                logs.join(format!("client-{i}.trace")).display()
            );
        }
    }
    let _ = writeln!(
        out,
        "\n{}",
        serde_json::to_string(report).unwrap_or_default()
    );
    out
}
