//! `cloudcord audit export | verify`: the event history of a guild, channel or user
//! as a file an auditor can check offline, without trusting CloudCord's services.
//!
//! # Line format
//!
//! An export is JSON lines: **each line is exactly the value bytes of one record of
//! the `events` topic** — the [`EventEnvelope`](cloudcord_schemas::envelope::EventEnvelope)
//! as the command processor serialized it (compact JSON, which escapes every newline
//! inside strings) — followed by `\n`. Nothing is added or re-serialized, because the
//! next event's `prev_hash` is the SHA-256 of precisely those bytes
//! ([`EventHash::of_record`](cloudcord_schemas::envelope::EventHash::of_record)); any
//! wrapper (partition, offset, a pretty-printer) would have to be peeled off again
//! before hashing and invites tools that quietly reformat. Kafka positions are not
//! needed to verify: `seq` orders each history. The export refuses a record that
//! contains a raw newline rather than split it.
//!
//! Lines are in log order: one aggregate's events in `seq` order. Several exports may
//! be concatenated; [`verify`](verify::verify) follows each aggregate's chain
//! separately.
//!
//! # What each selector exports
//!
//! A hash chain can only be checked over a *whole* aggregate history: drop one event
//! and the next one's `prev_hash` names bytes the file no longer holds. So every
//! selector exports one complete aggregate history, never a filtered one:
//!
//! * `--guild ID`: the guild aggregate — the guild and everything inside it
//!   (channels, roles, members, invites, messages of its channels, voice state).
//! * `--channel ID`: a DM channel is its own aggregate, so its history is exported.
//!   A guild channel is part of its guild's aggregate, so the **owning guild's whole
//!   history** is exported (the channel's own events are the lines whose payload
//!   names its `channel_id`; filtering them out would make the file unverifiable).
//!   Finding the owner reads every partition for the `GuildCreated` or
//!   `ChannelCreated` event that introduced the channel.
//! * `--user ID`: the user aggregate (profile, settings, relationships). Messages and
//!   other events the user caused in guilds or DMs belong to those aggregates'
//!   chains and are **not** included: export those guilds or DM channels to audit
//!   them (every event's `actor` says who caused it).
//!
//! Each aggregate lives in one partition of `events` (keyed by its id with
//! `murmur2_random`), so exports other than a guild-channel lookup read only that
//! partition, from offset 0 to its last stable offset with `read_committed`.
//!
//! # What verify checks
//!
//! Per aggregate: every line decodes as an event envelope; `seq` starts at 1 and
//! grows by exactly 1; `prev_hash` is absent on `seq` 1 and otherwise equals the
//! hash of the aggregate's previous line; `event_id` is the one derived from the
//! aggregate and `seq`. It reports the first break with its line number and stops.
//! A modified event shows as a `prev_hash` mismatch on the aggregate's *next* line (or
//! a `seq`/`event_id` mismatch on the line itself if those were edited); a removed
//! or reordered event as a `seq` mismatch where the gap appears.
//!
//! A chain cannot show that its *tail* was cut off: removing the last events leaves a
//! valid, shorter chain. So the summary prints each aggregate's last `seq` and head
//! hash, to compare with a trusted source (the live log, or the head of a later
//! export).

pub mod export;
pub mod verify;

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cloudcord_runtime::kafka::KafkaConfig;
use cloudcord_schemas::ids::{ChannelId, GuildId, UserId};

pub use self::export::{ExportError, Exported, export};
pub use self::verify::{ChainBreak, Verified, Verifier, VerifyError};

/// Whose history to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selector {
    /// A guild aggregate.
    Guild(GuildId),
    /// A DM channel aggregate, or the guild aggregate owning a guild channel.
    Channel(ChannelId),
    /// A user aggregate.
    User(UserId),
}

/// `cloudcord audit export` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    /// Whose history.
    #[command(flatten)]
    pub selector: SelectorArgs,
    /// Write to this file instead of stdout (removed again if the export fails).
    /// Needed with `telemetry.format = "json"`, which logs to stdout too.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Exactly one of `--guild`, `--channel`, `--user`.
#[derive(Debug, Clone, clap::Args)]
#[group(required = true, multiple = false)]
pub struct SelectorArgs {
    /// A guild: its whole history.
    #[arg(long)]
    pub guild: Option<GuildId>,
    /// A DM channel's history, or a guild channel's guild's whole history.
    #[arg(long)]
    pub channel: Option<ChannelId>,
    /// A user aggregate's history (not what the user did in guilds or DMs).
    #[arg(long)]
    pub user: Option<UserId>,
}

impl SelectorArgs {
    /// The one selector given.
    pub fn selector(&self) -> Selector {
        let given = (self.guild.map(Selector::Guild))
            .or(self.channel.map(Selector::Channel))
            .or(self.user.map(Selector::User));
        // Invariant: clap enforces the required, exclusive argument group.
        given.expect("clap requires exactly one selector")
    }
}

/// Runs `audit export`: to `--out` (deleted on failure, so a cut-short file — which
/// would still verify — never looks like a complete export) or stdout. Blocks.
pub fn run_export(kafka: &KafkaConfig, args: &ExportArgs) -> Result<Exported, ExportError> {
    let selector = args.selector.selector();
    let Some(path) = &args.out else {
        return export(kafka, selector, &mut std::io::stdout().lock());
    };
    let mut file = BufWriter::new(File::create(path).map_err(ExportError::Write)?);
    let exported = export(kafka, selector, &mut file)
        .and_then(|exported| {
            file.into_inner()
                .map_err(std::io::IntoInnerError::into_error)
                .and_then(|file| file.sync_all())
                .map_err(ExportError::Write)?;
            Ok(exported)
        })
        .inspect_err(|_| {
            if let Err(error) = std::fs::remove_file(path) {
                tracing::warn!(%error, path = %path.display(), "cannot remove the partial export");
            }
        })?;
    Ok(exported)
}

/// Runs `audit verify FILE`, writing the summary or the first break to `out`;
/// success when every chain holds.
pub fn run_verify(path: &Path, out: &mut impl Write) -> std::io::Result<ExitCode> {
    let file = BufReader::new(File::open(path)?);
    match verify::verify(file) {
        Ok(verified) => {
            writeln!(
                out,
                "verified {} events in {} aggregates",
                verified.events,
                verified.aggregates.len()
            )?;
            writeln!(
                out,
                "{:<34} {:>10}  head (hash of the last event)",
                "aggregate", "last seq"
            )?;
            for (aggregate, head) in &verified.aggregates {
                let name = format!("{} {}", aggregate.kind.as_str(), aggregate.id);
                writeln!(out, "{name:<34} {:>10}  {}", head.seq, head.hash.as_str())?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(VerifyError::Break(chain_break)) => {
            writeln!(out, "chain broken at {chain_break}")?;
            Ok(ExitCode::FAILURE)
        }
        Err(VerifyError::Io(error)) => Err(error),
    }
}
