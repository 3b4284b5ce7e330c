//! The event reference: an overview page (topics, keys and ordering, what consumers
//! must set, headers, the envelope, every event type) and one page per aggregate
//! (each event type and version: its fields, its types, an example record).
//!
//! Sources: `schemas/json/index.json` and the schema files it names, the golden
//! records under `schemas/golden/`, and the topic specs of `cloudcord-schemas`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use cloudcord_schemas::topics::Topics;
use serde_json::Value;

use crate::schema::{self, one_line};
use crate::{Error, Page, generated_header, read_json};

/// Where the pages go, under the book's source.
const DIR: &str = "reference/events";
const SOURCES: &str = "schemas/json/, schemas/golden/ and the topic specs in schemas/src/topics.rs";

/// What each topic is for: (name without prefix, key, who writes it, who reads it).
/// A topic missing here fails generation, so a new topic gets a description.
const TOPIC_ROLES: [(&str, &str, &str, &str); 7] = [
    (
        "commands",
        "aggregate id",
        "command-api",
        "the command processor (internal)",
    ),
    (
        "events",
        "aggregate id",
        "the command processor, in transactions",
        "projectors, data teams, auditors: **the published log**",
    ),
    (
        "command-results",
        "command id",
        "the command processor, in the same transaction",
        "command-api (internal)",
    ),
    (
        "snapshots",
        "partition number",
        "the command processor, in its transactions",
        "the command processor on restore (internal, derivable from `events`)",
    ),
    (
        "projected",
        "aggregate id",
        "projectors, after their commit",
        "gateway-ws (internal)",
    ),
    (
        "ephemeral",
        "channel, session or process id",
        "command-api (typing), gateway-ws (presence, session hand-overs)",
        "gateway-ws (internal, not history)",
    ),
    (
        "voice-sessions",
        "SFU instance, user and channel",
        "the SFU: its open media sessions, a tombstone when one ends",
        "the SFU when it starts, to disconnect what a restart forgot (internal)",
    ),
];

/// One event type at one version, as `index.json` lists it.
struct EventEntry {
    aggregate: String,
    event_type: String,
    version: u64,
    current: bool,
    ce_type: String,
    schema: String,
}

impl EventEntry {
    fn anchor(&self) -> String {
        format!("{}-v{}", self.event_type.to_lowercase(), self.version)
    }

    fn golden(&self) -> String {
        format!(
            "schemas/golden/{}/{}.v{}.json",
            self.aggregate, self.event_type, self.version
        )
    }
}

/// The overview page and one page per aggregate.
pub fn pages(root: &Path) -> Result<Vec<Page>, Error> {
    let json_dir = root.join("schemas/json");
    let index_path = json_dir.join("index.json");
    let index = read_json(&index_path)?;
    let entries = event_entries(&index, &index_path)?;
    let aggregates = aggregates(&index, &index_path)?;

    let mut pages = vec![overview(root, &index, &index_path, &entries, &aggregates)?];
    for (aggregate, key) in &aggregates {
        let mine: Vec<&EventEntry> = entries
            .iter()
            .filter(|e| &e.aggregate == aggregate)
            .collect();
        pages.push(aggregate_page(root, aggregate, key, &mine)?);
    }
    Ok(pages)
}

fn unexpected(path: &Path, problem: impl Into<String>) -> Error {
    Error::Unexpected {
        path: path.to_owned(),
        problem: problem.into(),
    }
}

fn string_field<'a>(value: &'a Value, name: &str, path: &Path) -> Result<&'a str, Error> {
    value
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| unexpected(path, format!("an entry has no string `{name}`")))
}

/// Every event type and version, sorted by aggregate, type and version.
fn event_entries(index: &Value, path: &Path) -> Result<Vec<EventEntry>, Error> {
    let listed = index
        .get("events")
        .and_then(Value::as_array)
        .ok_or_else(|| unexpected(path, "no `events` list"))?;
    let mut entries = Vec::new();
    for entry in listed {
        entries.push(EventEntry {
            aggregate: string_field(entry, "aggregate_type", path)?.to_owned(),
            event_type: string_field(entry, "event_type", path)?.to_owned(),
            version: entry
                .get("version")
                .and_then(Value::as_u64)
                .ok_or_else(|| unexpected(path, "an event has no numeric `version`"))?,
            current: entry.get("current").and_then(Value::as_bool) == Some(true),
            ce_type: string_field(entry, "ce_type", path)?.to_owned(),
            schema: string_field(entry, "schema", path)?.to_owned(),
        });
    }
    entries.sort_by(|a, b| {
        (&a.aggregate, &a.event_type, a.version).cmp(&(&b.aggregate, &b.event_type, b.version))
    });
    Ok(entries)
}

/// Every aggregate type with how its records are keyed, in the index's order.
fn aggregates(index: &Value, path: &Path) -> Result<Vec<(String, String)>, Error> {
    let listed = index
        .get("aggregates")
        .and_then(Value::as_array)
        .ok_or_else(|| unexpected(path, "no `aggregates` list"))?;
    listed
        .iter()
        .map(|aggregate| {
            Ok((
                string_field(aggregate, "aggregate_type", path)?.to_owned(),
                string_field(aggregate, "key", path)?.to_owned(),
            ))
        })
        .collect()
}

fn type_anchor(name: &str) -> String {
    format!("type-{}", name.to_lowercase())
}

fn overview(
    root: &Path,
    index: &Value,
    index_path: &Path,
    entries: &[EventEntry],
    aggregates: &[(String, String)],
) -> Result<Page, Error> {
    let prefix = string_field(index, "topic_prefix_default", index_path)?;
    let isolation = string_field(index, "isolation_level", index_path)?;
    let mut out = generated_header(SOURCES);
    out.push_str(
        "# Event reference\n\n\
         Every state change in CloudCord is an event record on the `events` topic, kept \
         forever. This reference is generated from the files data teams read \
         (`schemas/json/`: JSON Schema draft 2020-12, one file per event type and \
         version) and from the golden records that the schema crate's tests decode \
         (`schemas/golden/`); `schemas/README.md` holds the versioning and upcasting \
         rules.\n\n",
    );

    out.push_str("## Topics\n\n");
    let _ = writeln!(
        out,
        "Topic names carry a per-deployment prefix, `{prefix}` by default. \
         `commands`, `events`, `command-results` and `snapshots` have the same \
         partition count: the processor that owns `commands` partition *p* writes \
         partition *p* of the others.\n"
    );
    out.push_str("| topic | key | written by | read by | configuration |\n|---|---|---|---|---|\n");
    for spec in Topics::with_prefix(prefix).specs(1) {
        let short = spec.name.strip_prefix(prefix).unwrap_or(&spec.name);
        let (_, key, writer, reader) = TOPIC_ROLES
            .iter()
            .find(|(name, ..)| *name == short)
            .ok_or_else(|| {
                unexpected(
                    Path::new("schemas/src/topics.rs"),
                    format!("topic {short} has no description in docs/generator/src/events.rs"),
                )
            })?;
        let config: Vec<String> = spec
            .config
            .iter()
            .map(|(name, value)| format!("`{name}={value}`"))
            .collect();
        let _ = writeln!(
            out,
            "| `{}` | {key} | {writer} | {reader} | {} |",
            spec.name,
            config.join(", ")
        );
    }

    out.push_str("\n## Reading the events topic\n\n");
    let _ = writeln!(
        out,
        "* **`isolation.level={isolation}`.** Events, the command's result and the \
         consumed command offset are written in one Kafka transaction; a consumer \
         reading uncommitted records (the Java client's default!) would see events of \
         aborted transactions as if they had happened.\n\
         * **`enable.auto.commit=false`**: commit your offsets after your own write, or \
         store them with it.\n\
         * **Keys and ordering.** A record's key is its aggregate's id, and all events of \
         one aggregate are in one partition, in `seq` order (1, 2, 3, … without gaps). \
         Order between aggregates is not defined. A gap or a repeat of `seq` means a lost \
         or duplicated delivery on your side; deduplicate by `event_id`.\n\
         * **Versions.** Read a record's event type and version from the `ce_type` header \
         (or `event.type` and `event_version` in the value) and pick the schema file \
         from `schemas/json/index.json`. Ignore fields you do not know: compatible \
         changes add optional fields within a version.\n"
    );
    out.push_str("| aggregate | record key | events |\n|---|---|---|\n");
    for (aggregate, key) in aggregates {
        let count = entries.iter().filter(|e| &e.aggregate == aggregate).count();
        let _ = writeln!(
            out,
            "| [`{aggregate}`]({aggregate}.md) | {} | {count} |",
            one_line(key)
        );
    }

    out.push_str("\n## Record headers\n\nCloudEvents' Kafka binding, binary mode.\n\n");
    out.push_str("| header | value |\n|---|---|\n");
    let headers = index
        .get("headers")
        .and_then(Value::as_object)
        .ok_or_else(|| unexpected(index_path, "no `headers` object"))?;
    for (name, value) in headers {
        let _ = writeln!(
            out,
            "| `{name}` | {} |",
            one_line(value.as_str().unwrap_or_default())
        );
    }

    let mut types = Types::new();
    for (title, section, key) in [
        ("The record value: the envelope", "envelope", "envelope"),
        ("Command results", "command-results", "command_result"),
    ] {
        let entry = index
            .get(key)
            .ok_or_else(|| unexpected(index_path, format!("no `{key}` entry")))?;
        let file = string_field(entry, "schema", index_path)?;
        let schema_value = read_json(&root.join("schemas/json").join(file))?;
        let _ = writeln!(
            out,
            "\n## {title} {{#{section}}}\n\nEvery record on the `{}` topic (key: `{}`); \
             schema `schemas/json/{file}`.\n",
            string_field(entry, "topic", index_path)?,
            string_field(entry, "key", index_path)?,
        );
        out.push_str(&schema::describe(&schema_value, type_anchor));
        collect_types(&schema_value, &format!("schemas/json/{file}"), &mut types)?;
    }
    out.push_str(&types_section(&types));

    out.push_str("\n## Every event type\n\n");
    out.push_str(
        "| aggregate | event | version | written today | `ce_type` |\n|---|---|---|---|---|\n",
    );
    for entry in entries {
        let _ = writeln!(
            out,
            "| `{}` | [{}]({}.md#{}) | {} | {} | `{}` |",
            entry.aggregate,
            entry.event_type,
            entry.aggregate,
            entry.anchor(),
            entry.version,
            if entry.current {
                "yes"
            } else {
                "no (upcast on read)"
            },
            entry.ce_type
        );
    }
    Ok(Page {
        path: PathBuf::from(DIR).join("index.md"),
        contents: out,
    })
}

/// The `$defs` of the schemas on one page, each documented once: the definition
/// and the schema file it was first seen in.
type Types = BTreeMap<String, (Value, String)>;

/// Adds a schema's `$defs` to a page's types; a type of the same name but another
/// layout would need two sections under one anchor, so it fails generation.
fn collect_types(schema_value: &Value, file: &str, types: &mut Types) -> Result<(), Error> {
    let Some(Value::Object(defs)) = schema_value.get("$defs") else {
        return Ok(());
    };
    for (name, def) in defs {
        match types.get(name) {
            Some((known, first)) if known != def => {
                return Err(unexpected(
                    Path::new(file),
                    format!(
                        "type {name} differs from the one in {first}; the reference documents \
                         one {name} per page: give the new layout a new name"
                    ),
                ));
            }
            Some(_) => {}
            None => {
                types.insert(name.clone(), (def.clone(), file.to_owned()));
            }
        }
    }
    Ok(())
}

/// The "Types" section of a page: one heading per type.
fn types_section(types: &Types) -> String {
    if types.is_empty() {
        return String::new();
    }
    let mut out = String::from("\n## Types\n\nThe types the records above refer to.\n");
    for (name, (def, _)) in types {
        let _ = write!(out, "\n### `{name}` {{#{}}}\n\n", type_anchor(name));
        out.push_str(&schema::describe(def, type_anchor));
    }
    out
}

fn aggregate_page(
    root: &Path,
    aggregate: &str,
    key: &str,
    entries: &[&EventEntry],
) -> Result<Page, Error> {
    let mut out = generated_header(SOURCES);
    let _ = writeln!(
        out,
        "# Events of the `{aggregate}` aggregate\n\n\
         Topic `events`; record key: {}. All of one aggregate's events are in one \
         partition, in `seq` order. Every record's value is an [envelope](index.md#envelope) \
         whose `event` is one of the objects below; the [overview](index.md) says how to \
         read the topic.\n",
        one_line(key)
    );
    out.push_str("| event | version | written today | `ce_type` |\n|---|---|---|---|\n");
    for entry in entries {
        let _ = writeln!(
            out,
            "| [{}](#{}) | {} | {} | `{}` |",
            entry.event_type,
            entry.anchor(),
            entry.version,
            if entry.current { "yes" } else { "no" },
            entry.ce_type
        );
    }

    // Each event's own fields here; the types they share, once, at the end.
    let mut types = Types::new();
    for entry in entries {
        let path = root.join("schemas/json").join(&entry.schema);
        let event_schema = read_json(&path)?;
        let _ = write!(
            out,
            "\n## {} v{} {{#{}}}\n\n",
            entry.event_type,
            entry.version,
            entry.anchor()
        );
        if let Some(description) = schema::description(&event_schema) {
            let _ = write!(out, "{description}\n\n");
        }
        let _ = write!(
            out,
            "`ce_type` `{}`{}; schema `schemas/json/{}`.\n\n",
            entry.ce_type,
            if entry.current {
                ", written today"
            } else {
                ", no longer written: read through an upcaster"
            },
            entry.schema
        );
        out.push_str(&schema::fields(&event_schema, type_anchor));
        let golden_path = root.join(entry.golden());
        let golden = std::fs::read_to_string(&golden_path).map_err(|source| Error::Read {
            path: golden_path.clone(),
            source,
        })?;
        let pretty = golden.trim_end();
        let _ = write!(
            out,
            "Example record value (`{}`):\n\n```json\n{pretty}\n```\n",
            entry.golden()
        );
        collect_types(
            &event_schema,
            &format!("schemas/json/{}", entry.schema),
            &mut types,
        )?;
    }
    out.push_str(&types_section(&types));
    Ok(Page {
        path: PathBuf::from(DIR).join(format!("{aggregate}.md")),
        contents: out,
    })
}
