//! `cloudcord openapi`: the OpenAPI 3.1 document of CloudCord's REST API, assembled
//! from the route tables of the write side (command-api) and the read side
//! (query-api), which serve one API under `/api/v10` behind the front door.
//!
//! The document is committed at `openapi/cloudcord.json`; a test fails when the code
//! and the file disagree (`make openapi` rewrites the file).

use cloudcord_runtime::openapi::finish;
use utoipa::openapi::server::Server;
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{InfoBuilder, OpenApi, OpenApiBuilder};

/// Where the committed document lives, relative to the workspace root.
pub const COMMITTED: &str = "openapi/cloudcord.json";

/// The tags the routes carry, in the order readers meet them.
const TAGS: [(&str, &str); 11] = [
    (
        "auth",
        "Accounts, sign-in, sessions and two-factor authentication",
    ),
    ("users", "The caller, other users, DMs and relationships"),
    ("guilds", "Guilds, their members, roles and bans"),
    ("channels", "Channels and their permission overwrites"),
    ("messages", "Messages, reactions and pins"),
    ("invites", "Invites"),
    (
        "voice",
        "Joining voice channels, and the media token for their SFU",
    ),
    ("push", "Web Push subscriptions and the VAPID key"),
    ("applications", "Applications and their bots"),
    ("gateway", "Where the gateway is"),
    ("oauth2", "The OAuth2 provider's keys"),
];

/// The whole document.
pub fn document() -> OpenApi {
    let info = InfoBuilder::new()
        .title("CloudCord REST API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Discord's v10 REST API as CloudCord serves it. Responses that are Discord \
             objects refer to the component of the same name in Discord's own OpenAPI \
             document; errors are Discord's error object. Also served under `/api/v9`.",
        ));
    let mut document = OpenApiBuilder::new()
        .info(info)
        .servers(Some([Server::new("/api/v10")]))
        .tags(Some(TAGS.map(|(name, description)| {
            TagBuilder::new()
                .name(name)
                .description(Some(description))
                .build()
        })))
        .build();
    document.merge(cloudcord_command_api::http::openapi());
    document.merge(cloudcord_query_api::http::openapi());
    finish(&mut document);
    document
}

/// The document as it is committed: pretty JSON with a final newline.
pub fn json() -> String {
    let mut text = document()
        .to_pretty_json()
        .expect("an OpenAPI document always serializes");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;

    #[test]
    fn the_committed_document_matches_the_code() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/cloudcord.json");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == json(),
            "{COMMITTED} is not what the code describes: run `make openapi` and commit it"
        );
    }

    #[test]
    fn every_operation_has_a_tag_the_document_declares() {
        let document: Value = serde_json::from_str(&json()).expect("the document is JSON");
        let declared: BTreeSet<&str> = TAGS.iter().map(|(name, _)| *name).collect();
        for (path, item) in document["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("a path item") {
                let tag = operation["tags"][0].as_str().unwrap_or_default();
                assert!(declared.contains(tag), "{method} {path} has tag {tag:?}");
            }
        }
    }

    #[test]
    fn every_local_reference_resolves() {
        let document: Value = serde_json::from_str(&json()).expect("the document is JSON");
        let mut references = Vec::new();
        collect_references(&document, &mut references);
        for reference in references {
            if let Some(local) = reference.strip_prefix("#/") {
                let pointer = format!("/{local}");
                assert!(
                    document.pointer(&pointer).is_some(),
                    "{reference} names nothing"
                );
            }
        }
    }

    fn collect_references(value: &Value, into: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(reference)) = map.get("$ref") {
                    into.push(reference.clone());
                }
                map.values()
                    .for_each(|child| collect_references(child, into));
            }
            Value::Array(items) => items
                .iter()
                .for_each(|child| collect_references(child, into)),
            _ => {}
        }
    }
}
