//! Golden events: one committed record value (a whole [`EventEnvelope`]) per event
//! type and published version, under `schemas/golden/<aggregate_type>/`. The version
//! comes from the file name, as it comes from the `ce_type` header on Kafka.
//!
//! They prove that every version ever published still decodes — through the
//! upcasters — into today's event enums, and that the schema files describe them.

use cloudcord_schemas::catalog;
use cloudcord_schemas::envelope::{self, EventEnvelope};
use cloudcord_schemas::upcast;
use serde_json::Value;

use crate::layout::{
    EventFile, REGENERATE, assert_no_problems, event_files, golden_dir, golden_path, json_dir,
    read_json, shown,
};

/// Every golden file, or the problems with its name.
fn golden_files(problems: &mut Vec<String>) -> Vec<EventFile> {
    event_files(&golden_dir())
        .into_iter()
        .filter_map(|file| file.map_err(|problem| problems.push(problem)).ok())
        .collect()
}

#[test]
fn every_golden_event_decodes_into_the_current_enum() {
    let mut problems = Vec::new();
    for file in golden_files(&mut problems) {
        if let Err(problem) = check_golden(&file) {
            problems.push(format!("{}: {problem}", shown(&file.path)));
        }
    }
    assert_no_problems(
        &problems,
        "golden event(s) no longer decode",
        "A golden event is a record that is in the log forever. Fix the code, not the \
         file: keep the old layout decoding (an upcaster in schemas/src/upcast.rs for \
         an older version; for the current version, only add optional fields). Only a \
         golden file of the current version may be edited, and only to fill in fields \
         the type has gained.",
    );
}

/// Reads one golden envelope the way a consumer does and checks it end to end.
fn check_golden(file: &EventFile) -> Result<(), String> {
    let value = read_json(&file.path)?;
    let envelope: EventEnvelope<Value> =
        serde_json::from_value(value).map_err(|e| format!("not an event envelope: {e}"))?;
    if envelope.aggregate.kind != file.aggregate {
        return Err(format!(
            "its aggregate_type is {}, but it is filed under {}",
            envelope.aggregate.kind.as_str(),
            file.aggregate.as_str()
        ));
    }
    let expected_id = envelope::event_id(envelope.aggregate, envelope.seq);
    if envelope.event_id != expected_id {
        return Err(format!(
            "event_id must be the UUIDv5 of its aggregate and seq: {expected_id}"
        ));
    }
    if (envelope.seq == 1) != envelope.prev_hash.is_none() {
        return Err("prev_hash must be null exactly when seq is 1".to_owned());
    }
    if envelope.event.get("type").and_then(Value::as_str) != Some(file.event_type.as_str()) {
        return Err(format!("its event.type is not {}", file.event_type));
    }
    let current = upcast::to_current(
        file.aggregate,
        &file.event_type,
        file.version,
        envelope.event.clone(),
    )
    .map_err(|e| e.to_string())?;
    let decoded = catalog::decode_current(file.aggregate, current.clone())
        .map_err(|e| format!("does not decode: {e}"))?;
    if decoded.event_type != file.event_type {
        return Err(format!("decodes as {}", decoded.event_type));
    }
    // A current-version golden must be exactly what the code writes: serde ignores
    // unknown fields, so a misspelt field would otherwise pass unnoticed.
    if file.version == decoded.version && decoded.value != current {
        return Err(format!(
            "differs from what the code writes for it (a misspelt, unknown or missing \
             field?); the code writes\n      {}",
            serde_json::to_string(&decoded.value).unwrap_or_default()
        ));
    }
    Ok(())
}

#[test]
fn every_published_version_has_a_golden_event() {
    let mut problems = Vec::new();
    for (aggregate, entries) in catalog::aggregates() {
        for entry in entries {
            for version in 1..=entry.version {
                let path = golden_path(aggregate, entry.name, version);
                if !path.is_file() {
                    problems.push(format!(
                        "{} is missing ({})",
                        shown(&path),
                        catalog::ce_type(aggregate, entry.name, version)
                    ));
                }
            }
        }
    }
    assert_no_problems(
        &problems,
        "event type version(s) without a golden event",
        &format!(
            "Add each as a realistic record value: a whole envelope, e.g. copy \
             schemas/golden/guild/GuildCreated.v1.json, set aggregate_type, \
             aggregate_id and seq, and fill `event` with every field of the type \
             (snowflakes as strings, RFC 3339 times). The decode test then tells you \
             the event_id to use. New event types also need their schema file: {REGENERATE}"
        ),
    );
}

#[test]
fn golden_events_match_their_schema_files() {
    let mut problems = Vec::new();
    let envelope_path = json_dir().join(catalog::envelope_schema_path());
    let envelope_schema = validator(&envelope_path);
    for file in golden_files(&mut problems) {
        let Ok(value) = read_json(&file.path) else {
            continue; // every_golden_event_decodes_into_the_current_enum reports it.
        };
        if let Some(schema) = &envelope_schema {
            for error in schema.iter_errors(&value) {
                problems.push(format!(
                    "{} against {}: {error} at {}",
                    shown(&file.path),
                    shown(&envelope_path),
                    error.instance_path()
                ));
            }
        }
        let schema_path = json_dir().join(catalog::event_schema_path(
            file.aggregate,
            &file.event_type,
            file.version,
        ));
        let Some(event_schema) = validator(&schema_path) else {
            continue; // the schema file tests report it.
        };
        for error in event_schema.iter_errors(&value["event"]) {
            problems.push(format!(
                "{} against {}: {error} at event{}",
                shown(&file.path),
                shown(&schema_path),
                error.instance_path()
            ));
        }
    }
    assert_no_problems(
        &problems,
        "golden event(s) do not match their schema files",
        &format!(
            "Either the golden event is wrong, or the current schema files are stale \
             ({REGENERATE}), or the Rust type's schema does not describe its JSON (check \
             its serde and schemars attributes)."
        ),
    );
}

/// A validator for a committed schema file, with formats (date-time, uuid) checked.
fn validator(path: &std::path::Path) -> Option<jsonschema::Validator> {
    let schema = read_json(path).ok()?;
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the committed schema files are valid JSON Schema (checked separately)");
    Some(validator)
}
