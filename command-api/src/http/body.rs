//! [`Body`]: the JSON request-body extractor, with Discord's answers to bad bodies.
//!
//! axum's own `Json` answers in plain text with 415/422; Discord answers
//! `400 {"code": 50109}` for bytes that are not JSON and `400 {"code": 50035}` naming
//! the field for JSON of the wrong shape. The field's path comes from
//! `serde_path_to_error`. An empty body reads as `{}`, so routes whose body is
//! optional in Discord (`PUT /guilds/{id}/bans/{user}`, `POST …/invites`) accept none.
//!
//! The size limit is [`JSON_BODY_LIMIT`], applied to the whole router (axum's
//! default is 2 MiB; nothing CloudCord accepts as JSON comes close to 1 MiB).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;
use serde_json::Value;

use cloudcord_runtime::http_error::{FormErrors, HttpError};

/// The largest JSON body the API reads.
pub const JSON_BODY_LIMIT: usize = 1024 * 1024;

/// A request body parsed as `T`, or Discord's error for it.
#[derive(Debug, Clone)]
pub struct Body<T>(pub T);

impl<S, T> FromRequest<S> for Body<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = HttpError;

    async fn from_request(request: Request, state: &S) -> Result<Self, HttpError> {
        let bytes =
            Bytes::from_request(request, state)
                .await
                .map_err(|rejection| match rejection {
                    BytesRejection::FailedToBufferBody(_)
                        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
                    {
                        HttpError::PayloadTooLarge
                    }
                    other => HttpError::internal("reading the request body", other),
                })?;
        parse(&bytes).map(Self)
    }
}

/// Parses a request body as Discord would.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, HttpError> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    let value: Value = serde_json::from_slice(bytes).map_err(|_| HttpError::invalid_json())?;
    if let Some(path) = nul_at(&value) {
        // No store downstream can hold U+0000 (PostgreSQL `text`, FerretDB `jsonb`).
        return Err(FormErrors::single(
            &path.join("."),
            "BASE_TYPE_INVALID",
            "Must not contain the NUL character (U+0000).",
        )
        .into());
    }
    serde_path_to_error::deserialize(value).map_err(|error| form_error(&error).into())
}

/// The path of the first string (or key) in `value` that holds U+0000.
fn nul_at(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::String(text) => text.contains('\0').then(Vec::new),
        Value::Array(items) => items.iter().enumerate().find_map(|(index, item)| {
            nul_at(item).map(|mut path| {
                path.insert(0, index.to_string());
                path
            })
        }),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            let found = if key.contains('\0') {
                Some(Vec::new())
            } else {
                nul_at(item)
            };
            found.map(|mut path| {
                path.insert(0, key.replace('\0', "\u{fffd}"));
                path
            })
        }),
        _ => None,
    }
}

/// The 50035 errors for a body of the wrong shape.
fn form_error(error: &serde_path_to_error::Error<serde_json::Error>) -> FormErrors {
    let mut path: Vec<String> = error
        .path()
        .iter()
        .filter_map(|segment| match segment {
            serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
            serde_path_to_error::Segment::Map { key } => Some(key.clone()),
            serde_path_to_error::Segment::Enum { variant } => Some(variant.clone()),
            serde_path_to_error::Segment::Unknown => None,
        })
        .collect();
    let message = error.inner().to_string();
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
    {
        path.push(field.to_owned());
        let mut errors = FormErrors::new();
        errors.required(&path.join("."));
        return errors;
    }
    let code = if message.contains("expected a string") {
        "BASE_TYPE_STRING"
    } else if message.contains("expected a boolean") {
        "BASE_TYPE_BOOLEAN"
    } else if message.contains("snowflake")
        || message.contains("expected i")
        || message.contains("expected u")
    {
        "NUMBER_TYPE_COERCE"
    } else if message.contains("unknown variant") {
        "BASE_TYPE_CHOICES"
    } else {
        "BASE_TYPE_INVALID"
    };
    // serde's text (e.g. "invalid type: integer `5`, expected a string") names the
    // value and the expectation without any of our internals.
    FormErrors::single(&path.join("."), code, message)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::parse;
    use cloudcord_runtime::http_error::HttpError;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Message {
        content: String,
        reference: Option<Reference>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Reference {
        message_id: cloudcord_schemas::ids::MessageId,
    }

    fn errors(body: &str) -> (u32, serde_json::Value) {
        match parse::<Message>(body.as_bytes()) {
            Err(HttpError::Api { error, .. }) => (error.code, error.errors.unwrap_or_default()),
            other => panic!("expected an API error, got {other:?}"),
        }
    }

    #[test]
    fn a_nul_character_anywhere_is_named() {
        let (code, errors) = errors(r#"{"content": "ok", "reference": {"message_id": "1\u0000"}}"#);
        assert_eq!(code, 50035);
        assert_eq!(
            errors["reference"]["message_id"]["_errors"][0]["code"],
            "BASE_TYPE_INVALID"
        );
    }

    #[test]
    fn bytes_that_are_not_json_are_50109() {
        assert_eq!(errors("{\"content\":").0, 50109);
        assert_eq!(errors("not json").0, 50109);
    }

    #[test]
    fn a_missing_field_is_named() {
        let (code, errors) = errors("{}");
        assert_eq!(code, 50035);
        assert_eq!(
            errors["content"]["_errors"][0]["code"],
            "BASE_TYPE_REQUIRED"
        );
    }

    #[test]
    fn a_wrong_type_is_named_with_its_nested_path() {
        let (code, errors) = errors(r#"{"content": 5}"#);
        assert_eq!(code, 50035);
        assert_eq!(errors["content"]["_errors"][0]["code"], "BASE_TYPE_STRING");
        let (_, errors) = errors_of(r#"{"content": "", "reference": {"message_id": "x"}}"#);
        assert_eq!(
            errors["reference"]["message_id"]["_errors"][0]["code"],
            json!("NUMBER_TYPE_COERCE")
        );
    }

    fn errors_of(body: &str) -> (u32, serde_json::Value) {
        errors(body)
    }
}
