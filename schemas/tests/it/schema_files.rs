//! The committed schema files against the code.
//!
//! `CLOUDCORD_UPDATE_SCHEMAS=1 cargo test -p cloudcord-schemas` rewrites the files
//! of the current versions; it never deletes a file, because a file for an older
//! version describes events that stay in the log forever.

use std::fs;
use std::io::Write as _;
use std::path::Path;

use cloudcord_schemas::catalog;

use crate::layout::{REGENERATE, assert_no_problems, event_files, json_dir, read_json, shown};

/// Whether this run rewrites the files instead of comparing them.
fn updating() -> bool {
    std::env::var("CLOUDCORD_UPDATE_SCHEMAS").is_ok_and(|value| value == "1")
}

#[test]
fn schema_files_match_the_code() {
    let root = json_dir();
    let update = updating();
    let mut problems = Vec::new();
    for file in catalog::schema_files() {
        let path = root.join(&file.path);
        let committed = fs::read_to_string(&path).ok();
        if committed.as_deref() == Some(file.contents.as_str()) {
            continue;
        }
        if update {
            write_atomically(&path, &file.contents);
            // Straight to stderr, past the test harness's capture, so an update run
            // lists what it rewrote even though the test passes.
            let _ = writeln!(
                std::io::stderr().lock(),
                "CLOUDCORD_UPDATE_SCHEMAS=1: wrote {}",
                shown(&path)
            );
            continue;
        }
        problems.push(match committed {
            None => format!("{} is missing", shown(&path)),
            Some(committed) => format!(
                "{} differs from the code{}",
                shown(&path),
                first_difference(&committed, &file.contents)
            ),
        });
    }
    assert_no_problems(
        &problems,
        "schema file(s) differ from the Rust types",
        &format!(
            "Regenerate them with\n    {REGENERATE}\nthen review the diff and commit it. \
             If an already published event's layout changed in a way old events or \
             existing consumers cannot follow (a field removed, renamed, retyped or \
             made required), do not overwrite its schema: bump its version in \
             event_enum! and add an upcaster (schemas/README.md, \"Adding a version\")."
        ),
    );
}

#[test]
fn every_published_version_keeps_its_schema_file() {
    let mut problems = Vec::new();
    for (aggregate, entries) in catalog::aggregates() {
        for entry in entries {
            for version in 1..entry.version {
                let path =
                    json_dir().join(catalog::event_schema_path(aggregate, entry.name, version));
                if !path.is_file() {
                    problems.push(format!(
                        "{} is missing: v{version} of {} is still in the log",
                        shown(&path),
                        entry.name
                    ));
                }
            }
        }
    }
    assert_no_problems(
        &problems,
        "old schema file(s) missing",
        "An old version's schema cannot be regenerated (its struct is gone) and is \
         published forever: restore the file from version control, unchanged.",
    );
}

#[test]
fn schema_files_describe_only_event_types_the_code_reads() {
    let mut problems = Vec::new();
    for file in event_files(&json_dir().join("events")) {
        let file = match file {
            Ok(file) => file,
            Err(problem) => {
                problems.push(problem);
                continue;
            }
        };
        match catalog::current_version(file.aggregate, &file.event_type) {
            None => problems.push(format!(
                "{}: the code has no event type {} in aggregate {}",
                shown(&file.path),
                file.event_type,
                file.aggregate.as_str()
            )),
            Some(current) if file.version > current => problems.push(format!(
                "{}: the code's {} is only at v{current}",
                shown(&file.path),
                file.event_type
            )),
            Some(_) => {}
        }
    }
    assert_no_problems(
        &problems,
        "schema file(s) without an event type in the code",
        "Published events are kept forever, so an event type (or version) is never \
         removed from its aggregate's event_enum!: restore it. If the file was never \
         published (it was added and dropped on the same branch), delete it by hand; \
         the generator never deletes files.",
    );
}

#[test]
fn committed_schemas_are_valid_json_schema() {
    let mut problems = Vec::new();
    let mut paths = vec![
        json_dir().join(catalog::envelope_schema_path()),
        json_dir().join(catalog::command_result_schema_path()),
    ];
    paths.extend(
        event_files(&json_dir().join("events"))
            .into_iter()
            .filter_map(Result::ok)
            .map(|file| file.path),
    );
    for path in paths {
        match read_json(&path) {
            Ok(schema) => {
                if let Err(error) = jsonschema::meta::validate(&schema) {
                    problems.push(format!("{}: {error}", shown(&path)));
                }
            }
            // schema_files_match_the_code reports missing files.
            Err(_) if !path.exists() => {}
            Err(problem) => problems.push(problem),
        }
    }
    assert_no_problems(&problems, "invalid JSON Schema file(s)", "");
}

/// Where two texts first differ, for the failure message.
fn first_difference(committed: &str, generated: &str) -> String {
    let mut committed_lines = committed.lines();
    let mut generated_lines = generated.lines();
    for line in 1.. {
        match (committed_lines.next(), generated_lines.next()) {
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return " (only in whitespace at the end)".to_owned(),
            (a, b) => {
                return format!(
                    " at line {line}:\n      committed: {}\n      generated: {}",
                    a.unwrap_or("<end of file>").trim(),
                    b.unwrap_or("<end of file>").trim()
                );
            }
        }
    }
    String::new()
}

/// Writes through a temporary file and a rename, so tests reading the directory at
/// the same time see the old or the new file, never half of one.
fn write_atomically(path: &Path, contents: &str) {
    let parent = path.parent().expect("schema files live in a directory");
    fs::create_dir_all(parent).expect("create the schema directory");
    // A dot file, which the directory walks skip.
    let name = path
        .file_name()
        .and_then(|name| name.to_str())
        .expect("schema file names are UTF-8");
    let temporary = parent.join(format!(".{name}.tmp"));
    fs::write(&temporary, contents).expect("write the schema file");
    fs::rename(&temporary, path).expect("move the schema file into place");
}

#[test]
fn a_drift_message_shows_the_first_differing_line() {
    assert_eq!(
        first_difference("{\n  \"a\": 1\n}\n", "{\n  \"a\": 2\n}\n"),
        " at line 2:\n      committed: \"a\": 1\n      generated: \"a\": 2"
    );
    assert!(first_difference("{}\n", "{}\n\n").contains("<end of file>"));
}
