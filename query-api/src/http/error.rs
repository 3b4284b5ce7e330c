//! [`ApiError`]: every way a read can fail, each answered in Discord's JSON error shape
//! (`developers/reference.mdx`, "Error Messages") with Discord's status code.
//!
//! * A lookup that finds nothing: `404` with an `Unknown …` code (10003 Unknown
//!   Channel, …). A thing that exists but is not the caller's to see: `403` 50001
//!   Missing Access; a permission the route needs: `403` 50013 Missing Permissions.
//! * Malformed path or query values: `400 {"code": 50035, "message": "Invalid Form
//!   Body", "errors": {<field>: {"_errors": [{"code", "message"}]}}}` ([`FormErrors`]).
//! * Missing or forged credentials: `401 {"message": "401: Unauthorized", "code": 0}`.
//! * A read-your-writes wait that ran out: `503` with `Retry-After`.
//! * Internal failures are logged with their cause chain and answered with a generic
//!   500 that says nothing about the cause.

use std::error::Error as StdError;
use std::time::Duration;

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use cloudcord_runtime::telemetry::ErrorChain;
use serde_json::{Map, Value, json};

/// Discord's JSON error codes the read routes answer with
/// (`developers/topics/opcodes-and-status-codes.mdx`).
pub mod codes {
    /// Unknown channel.
    pub const UNKNOWN_CHANNEL: u32 = 10003;
    /// Unknown guild.
    pub const UNKNOWN_GUILD: u32 = 10004;
    /// Unknown invite.
    pub const UNKNOWN_INVITE: u32 = 10006;
    /// Unknown member.
    pub const UNKNOWN_MEMBER: u32 = 10007;
    /// Unknown message.
    pub const UNKNOWN_MESSAGE: u32 = 10008;
    /// Unknown user.
    pub const UNKNOWN_USER: u32 = 10013;
    /// Unknown emoji.
    pub const UNKNOWN_EMOJI: u32 = 10014;
    /// Missing access.
    pub const MISSING_ACCESS: u32 = 50001;
    /// You lack permissions to perform that action.
    pub const MISSING_PERMISSIONS: u32 = 50013;
    /// Invalid form body.
    pub const INVALID_FORM_BODY: u32 = 50035;
}

/// Why a read failed; the response is Discord-shaped in every case.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A Discord error with its status, code and message.
    #[error("{status}: {code} {message}")]
    Discord {
        /// The HTTP status.
        status: StatusCode,
        /// Discord's JSON error code.
        code: u32,
        /// Discord's message for it.
        message: &'static str,
    },
    /// Path or query values that do not parse or are out of range (50035).
    #[error("invalid form body: {0}")]
    InvalidForm(FormErrors),
    /// Missing, malformed, expired or forged credentials.
    #[error("401: Unauthorized")]
    Unauthorized,
    /// No route matches the path.
    #[error("404: Not Found")]
    NotFound,
    /// The path exists, the method does not.
    #[error("405: Method Not Allowed")]
    MethodNotAllowed,
    /// The read models did not reach the position the request asked for in time.
    #[error("the read models did not reach the requested position in time")]
    NotYetVisible {
        /// What the client is told to wait before retrying.
        retry_after: Duration,
    },
    /// Something on our side failed; logged with its cause chain, never shown.
    #[error("internal error: {context}")]
    Internal {
        /// What was being done.
        context: &'static str,
        /// Why it failed.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

impl ApiError {
    const fn discord(status: StatusCode, code: u32, message: &'static str) -> Self {
        Self::Discord {
            status,
            code,
            message,
        }
    }

    /// `404 Unknown Channel`.
    pub const fn unknown_channel() -> Self {
        Self::discord(
            StatusCode::NOT_FOUND,
            codes::UNKNOWN_CHANNEL,
            "Unknown Channel",
        )
    }

    /// `404 Unknown Guild`.
    pub const fn unknown_guild() -> Self {
        Self::discord(StatusCode::NOT_FOUND, codes::UNKNOWN_GUILD, "Unknown Guild")
    }

    /// `404 Unknown Invite`.
    pub const fn unknown_invite() -> Self {
        Self::discord(
            StatusCode::NOT_FOUND,
            codes::UNKNOWN_INVITE,
            "Unknown Invite",
        )
    }

    /// `404 Unknown Member`.
    pub const fn unknown_member() -> Self {
        Self::discord(
            StatusCode::NOT_FOUND,
            codes::UNKNOWN_MEMBER,
            "Unknown Member",
        )
    }

    /// `404 Unknown Message`.
    pub const fn unknown_message() -> Self {
        Self::discord(
            StatusCode::NOT_FOUND,
            codes::UNKNOWN_MESSAGE,
            "Unknown Message",
        )
    }

    /// `404 Unknown User`.
    pub const fn unknown_user() -> Self {
        Self::discord(StatusCode::NOT_FOUND, codes::UNKNOWN_USER, "Unknown User")
    }

    /// `400 Unknown Emoji` (Discord answers 400, not 404, for an emoji it cannot
    /// parse).
    pub const fn unknown_emoji() -> Self {
        Self::discord(
            StatusCode::BAD_REQUEST,
            codes::UNKNOWN_EMOJI,
            "Unknown Emoji",
        )
    }

    /// `403 Missing Access`: the thing exists, the caller may not see it.
    pub const fn missing_access() -> Self {
        Self::discord(
            StatusCode::FORBIDDEN,
            codes::MISSING_ACCESS,
            "Missing Access",
        )
    }

    /// `403 Missing Permissions`: the caller sees it but lacks the route's permission.
    pub const fn missing_permissions() -> Self {
        Self::discord(
            StatusCode::FORBIDDEN,
            codes::MISSING_PERMISSIONS,
            "Missing Permissions",
        )
    }

    /// An internal failure while doing `context`.
    pub fn internal(
        context: &'static str,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        Self::Internal {
            context,
            source: source.into(),
        }
    }

    /// The status and body of this error.
    fn parts(&self) -> (StatusCode, Value) {
        match self {
            Self::Discord {
                status,
                code,
                message,
            } => (*status, json!({"code": code, "message": message})),
            Self::InvalidForm(errors) => (
                StatusCode::BAD_REQUEST,
                json!({
                    "code": codes::INVALID_FORM_BODY,
                    "message": "Invalid Form Body",
                    "errors": errors.to_value(),
                }),
            ),
            Self::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                json!({"message": "401: Unauthorized", "code": 0}),
            ),
            Self::NotFound => (
                StatusCode::NOT_FOUND,
                json!({"message": "404: Not Found", "code": 0}),
            ),
            Self::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                json!({"message": "405: Method Not Allowed", "code": 0}),
            ),
            Self::NotYetVisible { retry_after } => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({
                    "message": "The read models have not caught up with your write yet; retry shortly.",
                    "code": 0,
                    "retry_after": retry_after.as_secs_f64(),
                }),
            ),
            Self::Internal { .. } => (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"message": "500: Internal Server Error", "code": 0}),
            ),
        }
    }
}

impl From<FormErrors> for ApiError {
    fn from(errors: FormErrors) -> Self {
        Self::InvalidForm(errors)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(source: sqlx::Error) -> Self {
        Self::internal("reading the PostgreSQL read models", source)
    }
}

impl From<mongodb::error::Error> for ApiError {
    fn from(source: mongodb::error::Error) -> Self {
        Self::internal("reading the MongoDB read models", source)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            Self::Internal { .. } => {
                tracing::error!(error = %ErrorChain(&self), "request failed");
            }
            Self::NotYetVisible { .. } => tracing::warn!(error = %self, "read-your-writes timeout"),
            _ => tracing::debug!(error = %self, "request refused"),
        }
        let (status, body) = self.parts();
        if let Self::NotYetVisible { retry_after } = self {
            // Whole seconds, rounded up: `Retry-After` takes no fractions.
            let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            return (
                status,
                [(header::RETRY_AFTER, seconds.max(1).to_string())],
                Json(body),
            )
                .into_response();
        }
        (status, Json(body)).into_response()
    }
}

/// Field errors of Discord's 50035 answer, one level deep (query and path fields are
/// flat): `{"limit": {"_errors": [{"code", "message"}]}}`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FormErrors {
    fields: Map<String, Value>,
}

impl std::fmt::Display for FormErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.fields.keys().map(String::as_str).collect();
        write!(f, "{}", names.join(", "))
    }
}

impl FormErrors {
    /// One error on `field`.
    pub fn single(field: &str, code: &str, message: impl Into<String>) -> Self {
        let mut errors = Self::default();
        errors.add(field, code, message);
        errors
    }

    /// Adds an error with Discord's `code` (e.g. `NUMBER_TYPE_COERCE`) on `field`.
    pub fn add(&mut self, field: &str, code: &str, message: impl Into<String>) {
        let entry = self
            .fields
            .entry(field.to_owned())
            .or_insert_with(|| json!({"_errors": []}));
        if let Some(list) = entry.get_mut("_errors").and_then(Value::as_array_mut) {
            list.push(json!({"code": code, "message": message.into()}));
        }
    }

    /// `Ok(())` when nothing was added, else the 50035 error.
    pub fn into_result(self) -> Result<(), ApiError> {
        if self.fields.is_empty() {
            Ok(())
        } else {
            Err(self.into())
        }
    }

    fn to_value(&self) -> Value {
        Value::Object(self.fields.clone())
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use serde_json::json;

    use super::{ApiError, FormErrors};

    #[test]
    fn form_errors_answer_50035_with_the_field() {
        let mut errors = FormErrors::single("limit", "NUMBER_TYPE_MAX", "too big");
        errors.add("before", "NUMBER_TYPE_COERCE", "nope");
        let (status, body) = ApiError::from(errors).parts();
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body,
            json!({
                "code": 50035,
                "message": "Invalid Form Body",
                "errors": {
                    "limit": {"_errors": [{"code": "NUMBER_TYPE_MAX", "message": "too big"}]},
                    "before": {"_errors": [{"code": "NUMBER_TYPE_COERCE", "message": "nope"}]},
                },
            })
        );
    }
}
