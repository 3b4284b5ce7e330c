//! The REST reference: every operation of the committed OpenAPI document
//! (`openapi/cloudcord.json`, written by `make openapi` from the route tables),
//! grouped by tag, then every schema it names.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::schema::{self, one_line};
use crate::{Error, Page, generated_header, read_json};

/// The committed document, relative to the workspace root.
const DOCUMENT: &str = "openapi/cloudcord.json";
/// The methods an OpenAPI path item may hold, in the order they are listed.
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn schema_anchor(name: &str) -> String {
    format!("schema-{}", name.to_lowercase())
}

fn unexpected(problem: impl Into<String>) -> Error {
    Error::Unexpected {
        path: PathBuf::from(DOCUMENT),
        problem: problem.into(),
    }
}

/// The REST reference page.
pub fn page(root: &Path) -> Result<Page, Error> {
    let document = read_json(&root.join(DOCUMENT))?;
    let paths = document
        .get("paths")
        .and_then(Value::as_object)
        .ok_or_else(|| unexpected("no `paths`"))?;
    let base = document
        .pointer("/servers/0/url")
        .and_then(Value::as_str)
        .unwrap_or("/");

    let mut out = generated_header(DOCUMENT);
    out.push_str("# REST API reference\n\n");
    if let Some(description) = document
        .pointer("/info/description")
        .and_then(Value::as_str)
    {
        let _ = write!(out, "{}\n\n", one_line(description));
    }
    let _ = write!(
        out,
        "Every path below is relative to `{base}` (`http://127.0.0.1:8080{base}` under \
         `make up`). This page is generated from the committed OpenAPI 3.1 document, \
         `{DOCUMENT}`, which is itself generated from the route tables; \
         [Differences from Discord](discord-differences.md) lists what CloudCord does \
         not do as Discord does.\n\n"
    );
    out.push_str(&authentication(&document));

    // Operations by tag, in the order the document declares its tags.
    let mut by_tag: BTreeMap<&str, Vec<(&str, &str, &Value)>> = BTreeMap::new();
    for (path, item) in paths {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                let tag = operation
                    .pointer("/tags/0")
                    .and_then(Value::as_str)
                    .ok_or_else(|| unexpected(format!("{method} {path} has no tag")))?;
                by_tag
                    .entry(tag)
                    .or_default()
                    .push((method, path, operation));
            }
        }
    }
    let tags = document
        .get("tags")
        .and_then(Value::as_array)
        .ok_or_else(|| unexpected("no `tags`"))?;
    out.push_str("## Operations\n\n| tag | operations |\n|---|---|\n");
    for tag in tags {
        let name = tag.get("name").and_then(Value::as_str).unwrap_or_default();
        let count = by_tag.get(name).map_or(0, Vec::len);
        let _ = writeln!(
            out,
            "| [{name}](#tag-{name}) | {count}: {} |",
            one_line(
                tag.get("description")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            )
        );
    }
    for tag in tags {
        let name = tag.get("name").and_then(Value::as_str).unwrap_or_default();
        let _ = write!(out, "\n## {name} {{#tag-{name}}}\n");
        for (method, path, operation) in by_tag.remove(name).unwrap_or_default() {
            out.push_str(&operation_section(method, path, operation, &document)?);
        }
    }
    if let Some(tag) = by_tag.keys().next() {
        return Err(unexpected(format!(
            "operations tagged {tag}, a tag the document does not declare"
        )));
    }

    out.push_str("\n## Schemas\n\nThe request and response bodies the operations name.\n");
    let schemas = document
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .ok_or_else(|| unexpected("no `components.schemas`"))?;
    for (name, definition) in schemas {
        let _ = write!(out, "\n### `{name}` {{#{}}}\n\n", schema_anchor(name));
        out.push_str(&schema::describe(definition, schema_anchor));
    }
    Ok(Page {
        path: PathBuf::from("reference/rest-api.md"),
        contents: out,
    })
}

/// The security schemes, and which an operation accepts by default.
fn authentication(document: &Value) -> String {
    let mut out = String::from("## Authentication\n\n| scheme | what |\n|---|---|\n");
    if let Some(Value::Object(schemes)) = document.pointer("/components/securitySchemes") {
        for (name, scheme) in schemes {
            let _ = writeln!(
                out,
                "| `{name}` | {} |",
                schema::description(scheme).unwrap_or_default()
            );
        }
    }
    let _ = write!(
        out,
        "\nAn operation accepts {} unless it says otherwise.\n\n",
        security(document.get("security"))
    );
    out
}

/// A security requirement list in words: "`Bearer` or `BotToken`", "no token".
fn security(requirements: Option<&Value>) -> String {
    let Some(Value::Array(requirements)) = requirements else {
        return "the default".to_owned();
    };
    let alternatives: Vec<String> = requirements
        .iter()
        .filter_map(Value::as_object)
        .map(|requirement| match requirement.iter().next() {
            None => "no token".to_owned(),
            Some((scheme, Value::Array(scopes))) if !scopes.is_empty() => {
                let scopes: Vec<&str> = scopes.iter().filter_map(Value::as_str).collect();
                format!("`{scheme}` (scope {})", scopes.join(", "))
            }
            Some((scheme, _)) => format!("`{scheme}`"),
        })
        .collect();
    alternatives.join(" or ")
}

fn operation_section(
    method: &str,
    path: &str,
    operation: &Value,
    document: &Value,
) -> Result<String, Error> {
    let id = operation
        .get("operationId")
        .and_then(Value::as_str)
        .ok_or_else(|| unexpected(format!("{method} {path} has no operationId")))?;
    let mut out = format!(
        "\n### `{} {path}` {{#{}}}\n\n",
        method.to_uppercase(),
        id.to_lowercase()
    );
    for key in ["summary", "description"] {
        if let Some(text) = operation.get(key).and_then(Value::as_str) {
            let _ = write!(out, "{}\n\n", one_line(text));
        }
    }
    if operation.get("security").is_some() {
        let _ = write!(
            out,
            "Authentication: {}.\n\n",
            security(operation.get("security"))
        );
    }

    if let Some(Value::Array(parameters)) = operation.get("parameters") {
        out.push_str("| parameter | in | type | required | description |\n|---|---|---|---|---|\n");
        for parameter in parameters {
            let field = |key| {
                parameter
                    .get(key)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            };
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} |",
                field("name"),
                field("in"),
                schema::type_of(
                    parameter.get("schema").unwrap_or(&Value::Null),
                    schema_anchor
                ),
                if parameter.get("required").and_then(Value::as_bool) == Some(true) {
                    "yes"
                } else {
                    "no"
                },
                schema::description(parameter).unwrap_or_default()
            );
        }
        out.push('\n');
    }

    if let Some(body) = operation.get("requestBody") {
        let _ = write!(
            out,
            "Request body{}: {}.\n\n",
            if body.get("required").and_then(Value::as_bool) == Some(true) {
                ""
            } else {
                " (optional)"
            },
            content_types(body)
        );
    }

    out.push_str("| status | meaning | body |\n|---|---|---|\n");
    let responses = operation
        .get("responses")
        .and_then(Value::as_object)
        .ok_or_else(|| unexpected(format!("{method} {path} has no responses")))?;
    for (status, response) in responses {
        let response = resolve(response, document)?;
        let _ = writeln!(
            out,
            "| {status} | {} | {} |",
            schema::description(response).unwrap_or_default(),
            content_types(response)
        );
    }
    Ok(out)
}

/// The body of a request or response: its schema's type per content type.
fn content_types(body: &Value) -> String {
    let Some(Value::Object(content)) = body.get("content") else {
        return "none".to_owned();
    };
    let bodies: Vec<String> = content
        .iter()
        .map(|(media_type, entry)| {
            let schema_value = entry.get("schema").unwrap_or(&Value::Null);
            match media_type.as_str() {
                "application/json" => schema::type_of(schema_value, schema_anchor),
                _ => format!(
                    "{} as `{media_type}`",
                    schema::type_of(schema_value, schema_anchor)
                ),
            }
        })
        .collect();
    bodies.join("; ")
}

/// A response that may be a `$ref` to `#/components/responses/…`.
fn resolve<'a>(value: &'a Value, document: &'a Value) -> Result<&'a Value, Error> {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => reference
            .strip_prefix('#')
            .and_then(|pointer| document.pointer(pointer))
            .ok_or_else(|| unexpected(format!("{reference} names nothing"))),
        None => Ok(value),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn security_requirements_read_as_alternatives() {
        let requirements = json!([{"Bearer": []}, {"OAuth2": ["identify"]}, {}]);
        assert_eq!(
            security(Some(&requirements)),
            "`Bearer` or `OAuth2` (scope identify) or no token"
        );
    }
}
