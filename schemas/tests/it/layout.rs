//! Where the committed files live and how their names are read:
//! `<dir>/<aggregate_type>/<EventName>.v<version>.json`.

use std::fs;
use std::path::{Path, PathBuf};

use cloudcord_schemas::envelope::AggregateType;

/// The command that regenerates the schema files.
pub const REGENERATE: &str = "CLOUDCORD_UPDATE_SCHEMAS=1 cargo test -p cloudcord-schemas";

/// The crate's directory (`schemas/`).
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `schemas/json/`.
pub fn json_dir() -> PathBuf {
    crate_dir().join("json")
}

/// `schemas/golden/`.
pub fn golden_dir() -> PathBuf {
    crate_dir().join("golden")
}

/// A path as the workspace shows it (`schemas/json/index.json`), for messages.
pub fn shown(path: &Path) -> String {
    let relative = path.strip_prefix(crate_dir()).unwrap_or(path);
    format!("schemas/{}", relative.display())
}

/// The golden event of an event type and version.
pub fn golden_path(kind: AggregateType, event_type: &str, version: u32) -> PathBuf {
    golden_dir()
        .join(kind.as_str())
        .join(format!("{event_type}.v{version}.json"))
}

/// One file named after an event type and version.
#[derive(Debug, Clone)]
pub struct EventFile {
    /// Its aggregate type (its directory).
    pub aggregate: AggregateType,
    /// Its event type.
    pub event_type: String,
    /// Its version.
    pub version: u32,
    /// Where it is.
    pub path: PathBuf,
}

/// Every file under `dir/<aggregate_type>/`, sorted; names that do not follow
/// the layout come back as errors to report.
pub fn event_files(dir: &Path) -> Vec<Result<EventFile, String>> {
    let mut files = Vec::new();
    for aggregate_dir in sorted_entries(dir) {
        let Some(dir_name) = aggregate_dir.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let aggregate = serde_json::from_value::<AggregateType>(dir_name.into());
        let Ok(aggregate) = aggregate else {
            files.push(Err(format!(
                "{}: not an aggregate type (guild, user, dm_channel, username_claim)",
                shown(&aggregate_dir)
            )));
            continue;
        };
        for path in sorted_entries(&aggregate_dir) {
            files.push(parse_name(aggregate, &path).ok_or_else(|| {
                format!(
                    "{}: expected a file named <EventName>.v<version>.json",
                    shown(&path)
                )
            }));
        }
    }
    files
}

fn parse_name(aggregate: AggregateType, path: &Path) -> Option<EventFile> {
    let name = path.file_name()?.to_str()?.strip_suffix(".json")?;
    let (event_type, version) = name.rsplit_once(".v")?;
    let version: u32 = version.parse().ok()?;
    let valid = !event_type.is_empty()
        && event_type.chars().all(|c| c.is_ascii_alphanumeric())
        && version >= 1;
    valid.then(|| EventFile {
        aggregate,
        event_type: event_type.to_owned(),
        version,
        path: path.to_owned(),
    })
}

/// The entries of a directory in name order, without dot files (none if it does
/// not exist).
fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .map(|read| {
            read.filter_map(|entry| entry.ok().map(|e| e.path()))
                .collect()
        })
        .unwrap_or_default();
    // Dot files are editors' and the generator's temporary files.
    entries.retain(|path| {
        path.file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| !name.starts_with('.'))
    });
    entries.sort();
    entries
}

/// Reads and parses a JSON file.
pub fn read_json(path: &Path) -> Result<serde_json::Value, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", shown(path)))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", shown(path)))
}

/// Fails with every problem at once, each on its own line, then `advice`.
#[track_caller]
pub fn assert_no_problems(problems: &[String], what: &str, advice: &str) {
    assert!(
        problems.is_empty(),
        "{} {what}:\n  {}\n\n{advice}",
        problems.len(),
        problems.join("\n  ")
    );
}
