//! The published catalog: every aggregate's event types with their versions, and the
//! JSON Schema files rendered from the Rust types for the data teams.
//!
//! The files under `schemas/json/` are *generated* from this module and committed;
//! the crate's integration tests (`tests/it/schema_files.rs`) fail when the committed
//! files drift from the code, and rewrite them when run with
//! `CLOUDCORD_UPDATE_SCHEMAS=1 cargo test -p cloudcord-schemas`.
//!
//! * [`aggregates`] lists each aggregate type with its event catalog — the one place
//!   a new aggregate's event enum is registered (with [`decode_current`]).
//! * [`schema_files`] renders every file the code defines today: one schema per
//!   *current* event type and version, the envelope, the command result and
//!   `index.json`. Older versions' files are never rendered again (their Rust
//!   structs may be gone) and stay committed forever, so the renderer never deletes.
//! * [`to_canonical_json`] is the byte-exact output format: sorted keys,
//!   pretty-printed, one trailing newline — stable diffs whatever the
//!   `serde_json` features of the build.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Map, Value, json};

use crate::dm_channel::DmChannelEvent;
use crate::envelope::{AggregateType, CommandResult, ENVELOPE_VERSION, EventEnvelope};
use crate::events::{CatalogEntry, EventType};
use crate::guild::GuildEvent;
use crate::topics::Topics;
use crate::user::UserEvent;
use crate::username_claim::UsernameClaimEvent;

/// The layout version of [`CommandResult`], in its schema file's name.
pub const COMMAND_RESULT_VERSION: u32 = 1;

/// Topic prefix of a default deployment (`cloudcord.events`, …); each deployment
/// may choose its own.
pub const DEFAULT_TOPIC_PREFIX: &str = "cloudcord.";

/// Written into every generated file, so nobody edits one by hand.
const GENERATED_NOTE: &str = "Generated from the Rust types in cloudcord-schemas by \
     `CLOUDCORD_UPDATE_SCHEMAS=1 cargo test -p cloudcord-schemas`; do not edit by hand.";

/// Registers each aggregate's event enum once, for both [`aggregates`] and
/// [`decode_current`].
macro_rules! registered_aggregates {
    ($($kind:ident => $event:ty),* $(,)?) => {
        /// Every aggregate type that has events, with its event catalog (current
        /// versions only), in a fixed order.
        pub fn aggregates() -> Vec<(AggregateType, Vec<CatalogEntry>)> {
            vec![$((AggregateType::$kind, <$event>::catalog()),)*]
        }

        /// Decodes an event payload — an envelope's `event` object, already lifted
        /// to its current version (see [`crate::upcast::to_current`]) — into its
        /// aggregate's current event enum.
        pub fn decode_current(
            kind: AggregateType,
            event: Value,
        ) -> Result<DecodedEvent, serde_json::Error> {
            #[allow(
                unreachable_patterns,
                reason = "the fallback arm goes unused once every aggregate type has events"
            )]
            match kind {
                $(AggregateType::$kind => {
                    let event: $event = serde_json::from_value(event)?;
                    Ok(DecodedEvent {
                        event_type: event.event_type(),
                        version: event.event_version(),
                        value: serde_json::to_value(&event)?,
                    })
                })*
                other => Err(<serde_json::Error as serde::de::Error>::custom(format!(
                    "aggregate type {} has no event catalog",
                    other.as_str()
                ))),
            }
        }
    };
}

registered_aggregates! {
    Guild => GuildEvent,
    User => UserEvent,
    DmChannel => DmChannelEvent,
    UsernameClaim => UsernameClaimEvent,
}

/// An event payload as the current code reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedEvent {
    /// Its type name.
    pub event_type: &'static str,
    /// Its (current) version.
    pub version: u32,
    /// The payload as the current code writes it again: equal to the input unless
    /// the input had fields the type does not know or lacked optional ones.
    pub value: Value,
}

/// The current version of `event_type` of `kind`, if the code knows it.
pub fn current_version(kind: AggregateType, event_type: &str) -> Option<u32> {
    aggregates()
        .into_iter()
        .filter(|(k, _)| *k == kind)
        .flat_map(|(_, entries)| entries)
        .find(|entry| entry.name == event_type)
        .map(|entry| entry.version)
}

/// The CloudEvents `ce_type` of an event type and version:
/// `dev.cloudcord.<aggregate_type>.<EventName>.v<version>`.
pub fn ce_type(kind: AggregateType, event_type: &str, version: u32) -> String {
    format!("dev.cloudcord.{}.{event_type}.v{version}", kind.as_str())
}

/// Where an event type's schema for `version` lives, relative to `schemas/json/`.
pub fn event_schema_path(kind: AggregateType, event_type: &str, version: u32) -> String {
    format!("events/{}/{event_type}.v{version}.json", kind.as_str())
}

/// The envelope schema's path, relative to `schemas/json/`.
pub fn envelope_schema_path() -> String {
    format!("envelope.v{ENVELOPE_VERSION}.json")
}

/// The command result schema's path, relative to `schemas/json/`.
pub fn command_result_schema_path() -> String {
    format!("command-result.v{COMMAND_RESULT_VERSION}.json")
}

/// One generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaFile {
    /// Its path relative to `schemas/json/`, `/`-separated.
    pub path: String,
    /// Its exact contents ([`to_canonical_json`]).
    pub contents: String,
}

/// Every file the code defines today, sorted by path: the schema of each current
/// event type and version, the envelope, the command result and `index.json`.
pub fn schema_files() -> Vec<SchemaFile> {
    let mut files = vec![
        SchemaFile {
            path: envelope_schema_path(),
            contents: to_canonical_json(&envelope_schema().to_value()),
        },
        SchemaFile {
            path: command_result_schema_path(),
            contents: to_canonical_json(&command_result_schema().to_value()),
        },
        SchemaFile {
            path: "index.json".to_owned(),
            contents: to_canonical_json(&index()),
        },
    ];
    for (kind, entries) in aggregates() {
        for entry in entries {
            files.push(SchemaFile {
                path: event_schema_path(kind, entry.name, entry.version),
                contents: to_canonical_json(&event_schema(kind, &entry).to_value()),
            });
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

/// The schema of one event type at its current version: the envelope's `event`
/// object, i.e. the payload struct's fields plus the `"type"` tag.
pub fn event_schema(kind: AggregateType, entry: &CatalogEntry) -> Schema {
    let mut generator = generator();
    let mut schema = (entry.schema)(&mut generator);
    let object = schema.ensure_object();
    // The enum is internally tagged, so on the wire the tag sits beside the fields.
    let tag = json!({
        "const": entry.name,
        "description": "The event type. Its version travels in the `ce_type` record header."
    });
    match object.get_mut("properties") {
        Some(Value::Object(properties)) => {
            properties.insert("type".to_owned(), tag);
        }
        _ => {
            object.insert("properties".to_owned(), json!({ "type": tag }));
        }
    }
    match object.get_mut("required") {
        Some(Value::Array(required)) => required.insert(0, json!("type")),
        _ => {
            object.insert("required".to_owned(), json!(["type"]));
        }
    }
    object.insert(
        "title".to_owned(),
        json!(format!("{} v{}", entry.name, entry.version)),
    );
    object.insert(
        "$comment".to_owned(),
        json!(format!(
            "The `event` of a record whose ce_type is {}. {GENERATED_NOTE}",
            ce_type(kind, entry.name, entry.version)
        )),
    );
    into_root(generator, schema)
}

/// The schema of an event record's value: [`EventEnvelope`] around any event, whose
/// own schema is chosen by the record's `ce_type` header.
pub fn envelope_schema() -> Schema {
    let mut generator = generator();
    let mut schema = <EventEnvelope<AnyEvent>>::json_schema(&mut generator);
    let object = schema.ensure_object();
    object.insert(
        "title".to_owned(),
        json!(format!("EventEnvelope v{ENVELOPE_VERSION}")),
    );
    object.insert(
        "$comment".to_owned(),
        json!(format!(
            "The value of every record on the events topic. {GENERATED_NOTE}"
        )),
    );
    into_root(generator, schema)
}

/// The schema of a record value on the command-results topic.
pub fn command_result_schema() -> Schema {
    let mut generator = generator();
    let mut schema = CommandResult::json_schema(&mut generator);
    let object = schema.ensure_object();
    object.insert(
        "title".to_owned(),
        json!(format!("CommandResult v{COMMAND_RESULT_VERSION}")),
    );
    object.insert(
        "$comment".to_owned(),
        json!(format!(
            "The value of every record on the command-results topic. {GENERATED_NOTE}"
        )),
    );
    into_root(generator, schema)
}

/// `index.json`: every event type and version ever published (1 up to the current
/// one: versions are never skipped), with where to find it and how to recognise it.
pub fn index() -> Value {
    let topics = Topics::with_prefix("");
    let aggregates = aggregates();
    let mut events = Vec::new();
    for (kind, entries) in &aggregates {
        for entry in entries {
            for version in 1..=entry.version {
                events.push(json!({
                    "aggregate_type": kind.as_str(),
                    "event_type": entry.name,
                    "version": version,
                    "current": version == entry.version,
                    "ce_type": ce_type(*kind, entry.name, version),
                    "topic": topics.events,
                    "key": "aggregate_id",
                    "schema": event_schema_path(*kind, entry.name, version),
                }));
            }
        }
    }
    events.sort_by_key(|event| {
        (
            event["aggregate_type"].to_string(),
            event["event_type"].to_string(),
            event["version"].as_u64(),
        )
    });
    let aggregate_list: Vec<Value> = aggregates
        .iter()
        .map(|(kind, _)| {
            json!({
                "aggregate_type": kind.as_str(),
                "topic": topics.events,
                "key": key_meaning(*kind),
            })
        })
        .collect();
    json!({
        "$comment": GENERATED_NOTE,
        "topic_prefix_default": DEFAULT_TOPIC_PREFIX,
        "isolation_level": "read_committed",
        "headers": {
            "ce_specversion": "1.0",
            "ce_id": "the envelope's event_id",
            "ce_type": "dev.cloudcord.<aggregate_type>.<EventName>.v<version>",
            "ce_source": "/cloudcord/<aggregate_type>/<aggregate_id>",
            "ce_time": "the envelope's occurred_at (RFC 3339)",
            "content-type": "application/json",
            "traceparent": "W3C trace context, when the request carried one",
        },
        "envelope": {
            "version": ENVELOPE_VERSION,
            "schema": envelope_schema_path(),
            "topic": topics.events,
            "key": "aggregate_id",
        },
        "command_result": {
            "version": COMMAND_RESULT_VERSION,
            "schema": command_result_schema_path(),
            "topic": topics.results,
            "key": "command_id",
        },
        "aggregates": aggregate_list,
        "events": events,
    })
}

/// What an aggregate's Kafka key (its `aggregate_id`) is.
fn key_meaning(kind: AggregateType) -> &'static str {
    match kind {
        AggregateType::Guild => "aggregate_id: the guild id",
        AggregateType::User => "aggregate_id: the user id",
        AggregateType::DmChannel => "aggregate_id: the DM channel id",
        AggregateType::UsernameClaim => "aggregate_id: the hash of the normalized username",
    }
}

/// JSON with object keys sorted at every level, pretty-printed (two spaces), with
/// one trailing newline: the byte-exact format of every generated file.
pub fn to_canonical_json(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(&sorted(value))
        // Invariant: a `Value` with string keys always serializes.
        .expect("a JSON value serializes");
    text.push('\n');
    text
}

/// A copy of `value` whose objects list their keys in order (with `serde_json`'s
/// `preserve_order` feature on, maps keep insertion order, so sort explicitly).
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(object) => {
            let mut entries: Vec<(&String, &Value)> = object.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(key, value)| (key.clone(), sorted(value)))
                    .collect::<Map<String, Value>>(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// JSON Schema 2020-12, the draft every current validator supports.
fn generator() -> SchemaGenerator {
    SchemaSettings::draft2020_12().into_generator()
}

/// Adds `$schema` and the collected `$defs` to a schema built with `generator`.
fn into_root(mut generator: SchemaGenerator, mut schema: Schema) -> Schema {
    let meta_schema = generator.settings().meta_schema.clone();
    let definitions = generator.take_definitions(true);
    let object = schema.ensure_object();
    if let Some(meta_schema) = meta_schema {
        object.insert("$schema".to_owned(), json!(meta_schema));
    }
    if !definitions.is_empty() {
        object.insert("$defs".to_owned(), Value::Object(definitions));
    }
    schema
}

/// Any event, as the envelope schema sees it: an object with a `type` tag. Its
/// exact schema is the event type's own file, chosen by the `ce_type` header.
struct AnyEvent;

impl JsonSchema for AnyEvent {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Event".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schemars::json_schema!({
            "description": "The event. Its full schema is events/<aggregate_type>/<type>.v<version>.json, with the version from the `ce_type` header (index.json lists them all).",
            "type": "object",
            "required": ["type"],
            "properties": {
                "type": {
                    "description": "The event type, e.g. GuildCreated.",
                    "type": "string"
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{aggregates, ce_type, decode_current, schema_files, to_canonical_json};
    use crate::envelope::AggregateType;

    #[test]
    fn ce_type_names_aggregate_event_and_version() {
        assert_eq!(
            ce_type(AggregateType::Guild, "GuildCreated", 1),
            "dev.cloudcord.guild.GuildCreated.v1"
        );
    }

    #[test]
    fn canonical_json_sorts_keys_and_ends_with_a_newline() {
        let value = serde_json::json!({"b": 1, "a": {"d": [2, 1], "c": null}});
        assert_eq!(
            to_canonical_json(&value),
            "{\n  \"a\": {\n    \"c\": null,\n    \"d\": [\n      2,\n      1\n    ]\n  },\n  \"b\": 1\n}\n"
        );
    }

    #[test]
    fn each_aggregate_and_event_type_is_listed_once() {
        let aggregates = aggregates();
        let mut kinds: Vec<_> = aggregates.iter().map(|(kind, _)| *kind).collect();
        kinds.dedup();
        assert_eq!(kinds.len(), aggregates.len());
        for (kind, entries) in &aggregates {
            let mut names: Vec<_> = entries.iter().map(|entry| entry.name).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), entries.len(), "{kind:?} lists a name twice");
            assert!(entries.iter().all(|entry| entry.version >= 1));
        }
    }

    #[test]
    fn event_schemas_require_the_type_tag() {
        for file in schema_files()
            .iter()
            .filter(|file| file.path.starts_with("events/"))
        {
            let schema: serde_json::Value =
                serde_json::from_str(&file.contents).expect("generated JSON parses");
            assert_eq!(schema["required"][0], "type", "{}", file.path);
            assert!(schema["properties"]["type"]["const"].is_string());
        }
    }

    #[test]
    fn unknown_event_types_do_not_decode() {
        let event = serde_json::json!({"type": "Nothing"});
        assert!(decode_current(AggregateType::Guild, event).is_err());
    }
}
