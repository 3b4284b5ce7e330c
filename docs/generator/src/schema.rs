//! JSON Schema as Markdown: a one-line type for a schema and a field table for an
//! object, shared by the event reference (schema files, draft 2020-12) and the REST
//! reference (OpenAPI 3.1, whose schemas are the same dialect).

use serde_json::Value;

/// How references become links: a local `$ref` (`#/$defs/ChannelId`,
/// `#/components/schemas/RoleRequest`) names a type documented on the same page, at
/// the anchor this returns for its name.
pub type Anchor = fn(&str) -> String;

/// A one-line description of a schema's type: `string`, `integer (uint32)`,
/// `array of [Role](#…)`, `[ChannelId](#…) or null`, `"GuildCreated"`.
pub fn type_of(schema: &Value, anchor: Anchor) -> String {
    let Some(object) = schema.as_object() else {
        return "any".to_owned();
    };
    if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
        return reference_link(reference, anchor);
    }
    if let Some(constant) = object.get("const") {
        return format!("`{constant}`");
    }
    if let Some(Value::Array(values)) = object.get("enum") {
        let values: Vec<String> = values.iter().map(|value| format!("`{value}`")).collect();
        return format!("one of {}", values.join(", "));
    }
    for (combinator, joint) in [("anyOf", " or "), ("oneOf", " or "), ("allOf", " and ")] {
        if let Some(Value::Array(options)) = object.get(combinator) {
            let options: Vec<String> = options.iter().map(|o| type_of(o, anchor)).collect();
            return options.join(joint);
        }
    }
    match object.get("type") {
        Some(Value::String(name)) => simple_type(name, schema, anchor),
        Some(Value::Array(names)) => {
            // Every JSON type at once is what "any JSON value" looks like here.
            if names.len() >= 6 {
                return "any JSON value".to_owned();
            }
            let names: Vec<String> = names
                .iter()
                .filter_map(Value::as_str)
                .map(|name| simple_type(name, schema, anchor))
                .collect();
            names.join(" or ")
        }
        _ => "any".to_owned(),
    }
}

/// One JSON type name with what the schema adds to it (items, format).
fn simple_type(name: &str, schema: &Value, anchor: Anchor) -> String {
    match name {
        "array" => match schema.get("items") {
            Some(items) => format!("array of {}", type_of(items, anchor)),
            None => "array".to_owned(),
        },
        "object" => match schema.get("additionalProperties") {
            Some(values @ Value::Object(_)) => {
                format!("map of string to {}", type_of(values, anchor))
            }
            _ => "object".to_owned(),
        },
        "null" => "null".to_owned(),
        _ => match schema.get("format").and_then(Value::as_str) {
            Some(format) => format!("{name} ({format})"),
            None => name.to_owned(),
        },
    }
}

/// A `$ref` as a link to the type's section, or as the name of a type in another
/// document (Discord's own OpenAPI document).
fn reference_link(reference: &str, anchor: Anchor) -> String {
    let name = reference.rsplit('/').next().unwrap_or(reference);
    if reference.starts_with('#') {
        format!("[`{name}`](#{})", anchor(name))
    } else {
        format!("Discord's `{name}`")
    }
}

/// The names of the local types a schema refers to, in order of appearance.
pub fn references(schema: &Value, into: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref")
                && let Some(name) = reference.strip_prefix('#').map(last_segment)
                && !into.iter().any(|known| known == name)
            {
                into.push(name.to_owned());
            }
            map.values().for_each(|child| references(child, into));
        }
        Value::Array(items) => items.iter().for_each(|child| references(child, into)),
        _ => {}
    }
}

fn last_segment(pointer: &str) -> &str {
    pointer.rsplit('/').next().unwrap_or(pointer)
}

/// The Markdown for a type's section body: its description, then a field table for
/// an object, a list for a choice of variants, or its one-line type.
pub fn describe(schema: &Value, anchor: Anchor) -> String {
    let mut out = String::new();
    if let Some(description) = description(schema) {
        out.push_str(&description);
        out.push_str("\n\n");
    }
    let variants = schema.get("oneOf").and_then(Value::as_array);
    if schema.get("properties").is_some() {
        out.push_str(&fields(schema, anchor));
    } else if variants.is_none() && schema.get("allOf").is_none() {
        out.push_str(&format!("Type: {}", type_of(schema, anchor)));
        if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
            out.push_str(&format!(", matching `{pattern}`"));
        }
        out.push_str("\n\n");
    }
    if let Some(variants) = variants {
        out.push_str(&one_of(variants, anchor));
    }
    if let Some(Value::Array(parts)) = schema.get("allOf") {
        for part in parts {
            match part.get("properties") {
                Some(_) => out.push_str(&format!("With these fields:\n\n{}", fields(part, anchor))),
                None => out.push_str(&format!("Everything in {}.\n\n", type_of(part, anchor))),
            }
        }
    }
    out
}

/// A choice of variants: a list of values, or a field table per object variant.
fn one_of(variants: &[Value], anchor: Anchor) -> String {
    let objects = variants.iter().any(|v| v.get("properties").is_some());
    let mut out = String::from(if objects {
        "One of these shapes:\n\n"
    } else {
        "One of:\n\n"
    });
    for (number, variant) in variants.iter().enumerate() {
        let description = description(variant);
        if objects {
            out.push_str(&format!(
                "Shape {}{}\n\n{}",
                number + 1,
                description.map(|d| format!(": {d}")).unwrap_or_default(),
                fields(variant, anchor)
            ));
        } else {
            let text = type_of(variant, anchor);
            match description {
                Some(description) => out.push_str(&format!("* {text}: {description}\n")),
                None => out.push_str(&format!("* {text}\n")),
            }
        }
    }
    if !objects {
        out.push('\n');
    }
    out
}

/// A Markdown table of an object schema's properties, required ones first.
pub fn fields(schema: &Value, anchor: Anchor) -> String {
    let required = required(schema);
    let Some(Value::Object(properties)) = schema.get("properties") else {
        return String::new();
    };
    let mut names: Vec<&String> = properties.keys().collect();
    // Required fields first, in the order the schema requires them; then the rest
    // alphabetically (the order the generated files keep them in).
    names.sort_by_key(|name| {
        (
            required
                .iter()
                .position(|r| r == *name)
                .unwrap_or(usize::MAX),
            name.as_str(),
        )
    });
    let mut out = String::from("| field | type | required | description |\n|---|---|---|---|\n");
    for name in names {
        let property = &properties[name.as_str()];
        out.push_str(&format!(
            "| `{name}` | {} | {} | {} |\n",
            type_of(property, anchor),
            if required.contains(name) { "yes" } else { "no" },
            description(property).unwrap_or_default()
        ));
    }
    out.push('\n');
    out
}

fn required(schema: &Value) -> Vec<String> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|names| {
            names
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// A schema's description on one line, safe inside a table cell: rustdoc's
/// intra-doc brackets (`` [`Role`] ``) dropped, pipes escaped.
pub fn description(schema: &Value) -> Option<String> {
    let text = schema.get("description")?.as_str()?;
    Some(one_line(text))
}

/// Text on one line, safe inside a Markdown table cell: `|` escaped, and `<` and
/// `>` outside code spans too, so `<aggregate_type>` is not taken for HTML.
pub fn one_line(text: &str) -> String {
    let text = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace("[`", "`")
        .replace("`]", "`");
    let mut out = String::with_capacity(text.len());
    let mut in_code = false;
    for c in text.chars() {
        match c {
            '`' => {
                in_code = !in_code;
                out.push(c);
            }
            '|' => out.push_str("\\|"),
            '<' if !in_code => out.push_str("&lt;"),
            '>' if !in_code => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn anchor(name: &str) -> String {
        format!("type-{}", name.to_lowercase())
    }

    #[test]
    fn a_nullable_reference_reads_as_a_choice() {
        let schema = json!({"anyOf": [{"$ref": "#/$defs/ChannelId"}, {"type": "null"}]});
        assert_eq!(
            type_of(&schema, anchor),
            "[`ChannelId`](#type-channelid) or null"
        );
    }

    #[test]
    fn a_type_list_keeps_the_format() {
        let schema = json!({"type": ["integer", "null"], "format": "uint32"});
        assert_eq!(type_of(&schema, anchor), "integer (uint32) or null");
    }

    #[test]
    fn a_reference_into_another_document_names_it() {
        let schema = json!({"$ref": "https://example.test/openapi.json#/components/schemas/Role"});
        assert_eq!(type_of(&schema, anchor), "Discord's `Role`");
    }

    #[test]
    fn required_fields_come_first_and_cells_stay_on_one_line() {
        let schema = json!({
            "properties": {
                "a": {"type": "string", "description": "Optional,\nwith | a pipe."},
                "b": {"type": "integer"}
            },
            "required": ["b"]
        });
        assert_eq!(
            fields(&schema, anchor),
            "| field | type | required | description |\n|---|---|---|---|\n\
             | `b` | integer | yes |  |\n\
             | `a` | string | no | Optional, with \\| a pipe. |\n\n"
        );
    }

    #[test]
    fn angle_brackets_are_escaped_outside_code_only() {
        assert_eq!(
            one_line("/cloudcord/<id> and `Vec<Role>`"),
            "/cloudcord/&lt;id&gt; and `Vec<Role>`"
        );
    }

    #[test]
    fn references_are_listed_once_in_order() {
        let schema = json!({"properties": {
            "x": {"$ref": "#/$defs/B"},
            "y": {"items": {"$ref": "#/$defs/A"}},
            "z": {"$ref": "#/$defs/B"}
        }});
        let mut names = Vec::new();
        references(&schema, &mut names);
        assert_eq!(names, ["B", "A"]);
    }
}
