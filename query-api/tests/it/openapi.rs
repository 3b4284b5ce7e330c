//! A checker of read responses against Discord's OpenAPI description
//! (`../shared/reference/discord-api-spec/openapi.json`): the `200` response schema
//! of the route's `GET` (or a named component schema, for the two routes Discord
//! documents for users only), followed through `$ref`, `oneOf`/`anyOf`/`allOf`,
//! arrays and nested objects: required properties present, and every present
//! property of the JSON type the schema names.

use std::sync::OnceLock;

use serde_json::Value;

fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/reference/discord-api-spec/openapi.json"
        );
        let text = std::fs::read_to_string(path).expect("Discord's OpenAPI description");
        serde_json::from_str(&text).expect("valid JSON")
    })
}

fn resolve(schema: &Value) -> &Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap_or_default();
            resolve(&spec()["components"]["schemas"][name])
        }
        None => schema,
    }
}

fn type_matches(kind: &str, value: &Value) -> bool {
    match kind {
        "null" => value.is_null(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => true,
    }
}

/// The ways `value` at `path` fails `schema`.
fn violations(schema: &Value, value: &Value, path: &str) -> Vec<String> {
    let schema = resolve(schema);
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            let mut best: Option<Vec<String>> = None;
            for option in options {
                let problems = violations(option, value, path);
                if problems.is_empty() {
                    return problems;
                }
                if best.as_ref().is_none_or(|b| problems.len() < b.len()) {
                    best = Some(problems);
                }
            }
            return best.unwrap_or_default();
        }
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        return all
            .iter()
            .flat_map(|part| violations(part, value, path))
            .collect();
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() && !types.iter().any(|kind| type_matches(kind, value)) {
        return vec![format!("{path}: expected {types:?}, got {value}")];
    }
    let mut problems = Vec::new();
    if let Some(items) = value.as_array().and(schema.get("items")) {
        for (index, item) in value.as_array().into_iter().flatten().enumerate() {
            problems.extend(violations(items, item, &format!("{path}[{index}]")));
        }
    }
    if let Some(object) = value.as_object() {
        for field in schema["required"].as_array().into_iter().flatten() {
            let field = field.as_str().unwrap_or_default();
            if !object.contains_key(field) {
                problems.push(format!("{path}.{field}: required, missing"));
            }
        }
        for (field, property) in schema["properties"].as_object().into_iter().flatten() {
            if let Some(present) = object.get(field) {
                problems.extend(violations(property, present, &format!("{path}.{field}")));
            }
        }
    }
    problems
}

/// Asserts that `value` is a valid `200` answer of `GET {route}` (the route as the
/// OpenAPI description spells it, e.g. `/channels/{channel_id}/messages`).
pub fn assert_route_conforms(route: &str, value: &Value) {
    let schema =
        &spec()["paths"][route]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
    assert!(!schema.is_null(), "no GET {route} in Discord's description");
    let problems = violations(schema, value, route);
    assert!(problems.is_empty(), "{value:#}\n{}", problems.join("\n"));
}

/// Asserts that `value` conforms to the component schema `name`.
pub fn assert_schema_conforms(name: &str, value: &Value) {
    let schema = &spec()["components"]["schemas"][name];
    assert!(!schema.is_null(), "no schema {name}");
    let problems = violations(schema, value, name);
    assert!(problems.is_empty(), "{value:#}\n{}", problems.join("\n"));
}

#[test]
fn the_checker_catches_missing_and_mistyped_fields_at_depth() {
    let role = serde_json::json!({"id": 5, "name": "x"});
    let problems = violations(
        &serde_json::json!({"$ref": "#/components/schemas/GuildRoleResponse"}),
        &role,
        "role",
    );
    assert!(problems.iter().any(|p| p.contains("role.id: expected")));
    assert!(problems.iter().any(|p| p.contains("permissions: required")));
    let page = serde_json::json!([{"id": "1", "author": {"id": 1}}]);
    let schema = &spec()["paths"]["/channels/{channel_id}/messages"]["get"]["responses"]["200"]["content"]
        ["application/json"]["schema"];
    let problems = violations(schema, &page, "page");
    assert!(
        problems.iter().any(|p| p.starts_with("page[0].author")),
        "{problems:?}"
    );
}
