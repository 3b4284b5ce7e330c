//! The `cloudcord` command; see the library for what each subcommand does.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cloudcord::infra::error::{InfraError, log_excerpt};
use cloudcord::infra::{Infra, kafka};
use cloudcord::settings::Settings;
use cloudcord::stack;
use cloudcord_runtime::config::Loader;
use cloudcord_runtime::process::{TelemetrySection, cancel_on_signal};
use cloudcord_runtime::telemetry::{self, ErrorChain};
use tokio_util::sync::CancellationToken;

/// CloudCord's developer command line.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// A TOML configuration file (defaults → this file → CLOUDCORD__… variables).
    #[arg(long, global = true, env = "CLOUDCORD_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the infrastructure and run every service in the foreground until Ctrl-C.
    Up,
    /// Stop a running stack and the infrastructure.
    Down,
    /// Manage the local Kafka, PostgreSQL and FerretDB.
    Infra {
        #[command(subcommand)]
        action: InfraAction,
    },
    /// Export an aggregate's event history, or verify an export's hash chains.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Rebuild every read model from offset 0 into a fresh schema and database, and
    /// print their digests.
    Replay(cloudcord::read_models::ReplayArgs),
    /// Print the digests of the live read models (compare with a replay's).
    Digest(cloudcord::read_models::DigestArgs),
    /// Print the REST API's OpenAPI 3.1 document (committed as openapi/cloudcord.json).
    Openapi,
    /// Run two instances of each service on a three-broker cluster, inject faults
    /// while messages flow, and check that none acknowledged was lost or doubled.
    Chaos(cloudcord::chaos::ChaosArgs),
    /// Measure a running stack (`make up`); prints a Markdown table and JSON.
    Bench {
        #[command(subcommand)]
        benchmark: Benchmark,
    },
}

#[derive(Subcommand)]
enum AuditAction {
    /// Write the complete committed history of a guild, channel or user as JSON
    /// lines (each the exact event record), from the `events` topic.
    Export(cloudcord::audit::ExportArgs),
    /// Check every aggregate's seq and prev_hash chain in an export; exits 1 at the
    /// first break, naming its line.
    Verify {
        /// The export to check.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum Benchmark {
    /// Message creation through the API at several concurrencies, next to a bare
    /// Kafka produce→consume hop.
    WritePath(cloudcord::bench::WritePathArgs),
    /// Replay throughput into PostgreSQL (appends the events on topics of its own).
    Replay(cloudcord::read_models::ReplayBenchArgs),
    /// Lag from append to `projected` under a steady rate (topics of its own).
    ProjectionLag(cloudcord::read_models::LagBenchArgs),
    /// The MongoDB read models at a size: history pages, lookups by id and edits
    /// (a database of its own).
    Documents(cloudcord::bench::documents::DocumentsArgs),
    /// The gateway's memory per identified idle connection, at several counts
    /// (starts a `gateway-ws` process of its own).
    GatewayMemory(cloudcord::bench::gateway::MemoryArgs),
    /// MESSAGE_CREATE deliveries per second and per gateway CPU-second to 1,000
    /// members of one channel.
    GatewayFanout(cloudcord::bench::gateway::FanoutArgs),
    /// The load generator: REST POST → MESSAGE_CREATE latency at 1,000 clients next
    /// to a bare Kafka hop, with the gateway's memory and CPU per delivery and the
    /// projectors' lag.
    #[command(alias = "load")]
    GatewayLatency(cloudcord::bench::gateway::LatencyArgs),
}

#[derive(Subcommand)]
enum InfraAction {
    /// Install what is missing, start what is stopped, wait until all is ready.
    Up {
        /// Kafka nodes: 1, or 3 for broker-failure tests.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=3))]
        brokers: u8,
    },
    /// Stop everything `infra up` started.
    Down,
    /// Show what runs and whether it is ready; exits 1 when something is not.
    Status,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // People read this command's logs, so its default is the compact format.
    let loader = Loader::from_environment()
        .file(cli.config.as_deref())
        .default_value("telemetry.format", "pretty");
    let setup = loader
        .load::<TelemetrySection>()
        .map_err(anyhow::Error::from)
        .and_then(|section| Ok(telemetry::init(&section.telemetry)?))
        .and_then(|()| Ok(loader.load::<Settings>()?));
    let outcome = setup.and_then(|settings| {
        tokio::runtime::Runtime::new()?.block_on(run(cli.command, &loader, &settings))
    });
    match outcome {
        Ok(code) => code,
        Err(error) => {
            tracing::error!(error = %ErrorChain(error.as_ref()), "cloudcord failed");
            if let Some(log) = error
                .downcast_ref::<InfraError>()
                .and_then(|e| e.log.as_ref())
            {
                tracing::error!("{}: {}", log.display(), log_excerpt(log));
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, loader: &Loader, settings: &Settings) -> anyhow::Result<ExitCode> {
    let recorded = kafka::Kafka::recorded_nodes(&settings.infra.state_dir).unwrap_or(1);
    match command {
        Command::Up => {
            Infra::new(settings, recorded)?.up().await?;
            let shutdown = CancellationToken::new();
            tokio::spawn(cancel_on_signal(shutdown.clone()));
            stack::run(loader, settings, shutdown).await?;
        }
        Command::Down => {
            stack::stop(settings).await?;
            Infra::new(settings, recorded)?.down().await?;
        }
        Command::Infra { action } => match action {
            InfraAction::Up { brokers } => Infra::new(settings, brokers.into())?.up().await?,
            InfraAction::Down => Infra::new(settings, recorded)?.down().await?,
            InfraAction::Status => return status(&Infra::new(settings, recorded)?).await,
        },
        Command::Audit { action } => match action {
            AuditAction::Export(args) => {
                let kafka = settings.kafka.clone();
                // Reading Kafka to the end of a partition blocks its thread.
                tokio::task::spawn_blocking(move || cloudcord::audit::run_export(&kafka, &args))
                    .await??;
            }
            AuditAction::Verify { file } => {
                return Ok(cloudcord::audit::run_verify(
                    &file,
                    &mut std::io::stdout().lock(),
                )?);
            }
        },
        Command::Replay(args) => {
            let shutdown = CancellationToken::new();
            tokio::spawn(cancel_on_signal(shutdown.clone()));
            cloudcord::read_models::replay(&loader.load()?, &args, &shutdown).await?;
        }
        Command::Digest(args) => cloudcord::read_models::digest(&loader.load()?, &args).await?,
        Command::Openapi => {
            std::io::Write::write_all(
                &mut std::io::stdout().lock(),
                cloudcord::openapi::json().as_bytes(),
            )?;
        }
        Command::Chaos(args) => cloudcord::chaos::run(settings, &args).await?,
        Command::Bench { benchmark } => match benchmark {
            Benchmark::Replay(args) => {
                cloudcord::read_models::bench_replay(&loader.load()?, &args).await?
            }
            Benchmark::ProjectionLag(args) => {
                cloudcord::read_models::bench_projection_lag(&loader.load()?, &args).await?
            }
            Benchmark::Documents(args) => {
                cloudcord::bench::documents::documents(&settings.mongo, &args).await?
            }
            Benchmark::WritePath(args) => {
                cloudcord::bench::write_path(&settings.kafka, &args).await?
            }
            Benchmark::GatewayMemory(args) => {
                cloudcord::bench::gateway::memory(&settings.infra.state_dir, &args).await?
            }
            Benchmark::GatewayFanout(args) => {
                cloudcord::bench::gateway::fanout(&settings.infra.state_dir, &args).await?
            }
            Benchmark::GatewayLatency(args) => {
                cloudcord::bench::gateway::latency(
                    &settings.kafka,
                    &settings.infra.state_dir,
                    &args,
                )
                .await?
            }
        },
    }
    Ok(ExitCode::SUCCESS)
}

async fn status(infra: &Infra) -> anyhow::Result<ExitCode> {
    let components = infra.status().await;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<10} {:<8} {:<24} state",
        "component", "running", "address"
    )?;
    for c in &components {
        let state = c
            .problem
            .as_deref()
            .map_or("ready".to_owned(), |p| format!("not ready: {p}"));
        writeln!(
            out,
            "{:<10} {:<8} {:<24} {state}  (log: {})",
            c.name,
            c.running,
            c.address,
            c.log.display()
        )?;
    }
    let all_ready = components.iter().all(|c| c.problem.is_none());
    Ok(if all_ready {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
