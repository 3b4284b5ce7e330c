//! [`HttpError`]: every way a CloudCord HTTP request can fail — on the write side
//! (`command-api`) and the read side (`query-api`) alike — each answered in Discord's
//! JSON error shape (`developers/reference.mdx`, "Error Messages") with Discord's
//! status code.
//!
//! * Field validation fails with `400 {"code": 50035, "message": "Invalid Form Body",
//!   "errors": {<field>: {"_errors": [{"code", "message"}]}}}`, built with
//!   [`FormErrors`], which nests dotted paths (`embeds.0.title`) as Discord does.
//! * A lookup that finds nothing: `404` with an `Unknown …` code; a thing that exists
//!   but is not the caller's to see: `403` 50001 Missing Access; a permission the
//!   route needs: `403` 50013 Missing Permissions.
//! * Credentials fail with `401 {"message": "401: Unauthorized", "code": 0}`.
//! * A refusal of the command processor travels through unchanged ([`HttpError::Api`]).
//! * A result or read model that is not there in time: `503`, with `Retry-After` when
//!   the caller should simply wait.
//! * A spent rate limit: `429` with Discord's rate-limit body (`message`,
//!   `retry_after`, `global`; no `code`), `Retry-After` and `X-RateLimit-Scope`
//!   ([`crate::rate_limit`] adds the bucket's headers).
//! * Internal failures are logged with their whole cause chain and answered with a
//!   generic 500 that says nothing about the cause.

use std::error::Error as StdError;
use std::time::Duration;

use axum::Json;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cloudcord_schemas::envelope::ApiError;
use serde_json::{Map, Value, json};

use crate::rate_limit::headers;
use crate::telemetry::ErrorChain;

/// Discord's JSON error codes that CloudCord's HTTP layers produce themselves
/// (`developers/topics/opcodes-and-status-codes.mdx`).
pub mod codes {
    /// Unknown account.
    pub const UNKNOWN_ACCOUNT: u32 = 10001;
    /// Unknown application.
    pub const UNKNOWN_APPLICATION: u32 = 10002;
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
    /// Cannot send an empty message.
    pub const EMPTY_MESSAGE: u32 = 50006;
    /// You lack permissions to perform that action.
    pub const MISSING_PERMISSIONS: u32 = 50013;
    /// Invalid form body.
    pub const INVALID_FORM_BODY: u32 = 50035;
    /// The request body contains invalid JSON.
    pub const INVALID_JSON: u32 = 50109;
}

/// Why a request failed; the response is Discord-shaped in every case.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// A Discord error with its status: a processor refusal, a lookup that found
    /// nothing, a validation failure.
    #[error("{status}: {error}")]
    Api {
        /// The HTTP status.
        status: StatusCode,
        /// The body.
        error: ApiError,
    },
    /// Missing, malformed, expired or forged credentials.
    #[error("401: Unauthorized")]
    Unauthorized,
    /// No route matches the path.
    #[error("404: Not Found")]
    NotFound,
    /// The path exists, the method does not.
    #[error("405: Method Not Allowed")]
    MethodNotAllowed,
    /// The body is larger than the route accepts.
    #[error("413: Request entity too large")]
    PayloadTooLarge,
    /// What the request needs is not there in time: a command's result (the command
    /// may still be decided; a retry with the same `Idempotency-Key` returns its
    /// result without deciding it twice), or read models that have not caught up.
    #[error("503: {message}")]
    Unavailable {
        /// What the caller is told.
        message: &'static str,
        /// Sent as `Retry-After` (whole seconds, rounded up) when set.
        retry_after: Option<Duration>,
    },
    /// A rate limit is spent: a route bucket of the caller's, or its global limit.
    #[error("429: rate limited (global: {global})")]
    RateLimited {
        /// When the limit allows the next request.
        retry_after: Duration,
        /// Whether it is the caller's global limit rather than a route bucket.
        global: bool,
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

impl HttpError {
    /// A Discord error with `status`, `code` and `message`.
    pub fn api(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        Self::Api {
            status,
            error: ApiError {
                code,
                message: message.into(),
                errors: None,
            },
        }
    }

    /// `404` with one of the `Unknown …` codes.
    pub fn unknown(code: u32, what: &str) -> Self {
        Self::api(StatusCode::NOT_FOUND, code, format!("Unknown {what}"))
    }

    /// `404 Unknown Channel`.
    pub fn unknown_channel() -> Self {
        Self::unknown(codes::UNKNOWN_CHANNEL, "Channel")
    }

    /// `404 Unknown Guild`.
    pub fn unknown_guild() -> Self {
        Self::unknown(codes::UNKNOWN_GUILD, "Guild")
    }

    /// `404 Unknown User`.
    pub fn unknown_user() -> Self {
        Self::unknown(codes::UNKNOWN_USER, "User")
    }

    /// `404 Unknown Member`.
    pub fn unknown_member() -> Self {
        Self::unknown(codes::UNKNOWN_MEMBER, "Member")
    }

    /// `404 Unknown Message`.
    pub fn unknown_message() -> Self {
        Self::unknown(codes::UNKNOWN_MESSAGE, "Message")
    }

    /// `404 Unknown Invite`.
    pub fn unknown_invite() -> Self {
        Self::unknown(codes::UNKNOWN_INVITE, "Invite")
    }

    /// `400 Unknown Emoji` (Discord answers 400, not 404, for an emoji it cannot
    /// parse).
    pub fn unknown_emoji() -> Self {
        Self::api(
            StatusCode::BAD_REQUEST,
            codes::UNKNOWN_EMOJI,
            "Unknown Emoji",
        )
    }

    /// `403 Missing Permissions`.
    pub fn missing_permissions() -> Self {
        Self::api(
            StatusCode::FORBIDDEN,
            codes::MISSING_PERMISSIONS,
            "Missing Permissions",
        )
    }

    /// `403 Missing Access`.
    pub fn missing_access() -> Self {
        Self::api(
            StatusCode::FORBIDDEN,
            codes::MISSING_ACCESS,
            "Missing Access",
        )
    }

    /// `400 The request body contains invalid JSON.`
    pub fn invalid_json() -> Self {
        Self::api(
            StatusCode::BAD_REQUEST,
            codes::INVALID_JSON,
            "The request body contains invalid JSON.",
        )
    }

    /// `503`: a command's result did not arrive in time.
    pub fn busy() -> Self {
        Self::Unavailable {
            message: "The service is busy; retry with the same Idempotency-Key.",
            retry_after: None,
        }
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
            Self::Api { status, error } => (*status, to_value(error)),
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
            Self::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"message": "Request entity too large", "code": 40005}),
            ),
            Self::Unavailable {
                message,
                retry_after,
            } => {
                let mut body = json!({"message": message, "code": 0});
                if let (Some(after), Some(map)) = (retry_after, body.as_object_mut()) {
                    map.insert("retry_after".to_owned(), after.as_secs_f64().into());
                }
                (StatusCode::SERVICE_UNAVAILABLE, body)
            }
            Self::RateLimited {
                retry_after,
                global,
            } => (
                StatusCode::TOO_MANY_REQUESTS,
                json!({
                    "message": "You are being rate limited.",
                    "retry_after": seconds_in_millis(*retry_after),
                    "global": global,
                }),
            ),
            Self::Internal { .. } => (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"message": "500: Internal Server Error", "code": 0}),
            ),
        }
    }
}

fn to_value(error: &ApiError) -> Value {
    let mut body = Map::new();
    body.insert("code".to_owned(), error.code.into());
    body.insert("message".to_owned(), error.message.clone().into());
    if let Some(errors) = &error.errors {
        body.insert("errors".to_owned(), errors.clone());
    }
    Value::Object(body)
}

impl From<FormErrors> for HttpError {
    fn from(errors: FormErrors) -> Self {
        Self::Api {
            status: StatusCode::BAD_REQUEST,
            error: ApiError {
                code: codes::INVALID_FORM_BODY,
                message: "Invalid Form Body".to_owned(),
                errors: Some(errors.into_value()),
            },
        }
    }
}

impl From<sqlx::Error> for HttpError {
    fn from(source: sqlx::Error) -> Self {
        Self::internal("querying PostgreSQL", source)
    }
}

impl From<mongodb::error::Error> for HttpError {
    fn from(source: mongodb::error::Error) -> Self {
        Self::internal("querying MongoDB", source)
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        match &self {
            Self::Internal { .. } => {
                tracing::error!(error = %ErrorChain(&self), "request failed");
            }
            Self::Unavailable { .. } => tracing::warn!(error = %self, "request not served in time"),
            _ => tracing::debug!(error = %self, "request refused"),
        }
        let (status, body) = self.parts();
        let denied = match &self {
            Self::Unauthorized => Some(Denied { code: 0 }),
            Self::Api { status, error } if *status == StatusCode::FORBIDDEN => {
                Some(Denied { code: error.code })
            }
            _ => None,
        };
        let mut response = match self {
            // The oversized body was left unread, so the server drops the connection
            // after answering; saying so stops a pooling client from sending its next
            // request down a connection that is about to close.
            Self::PayloadTooLarge => {
                (status, [(header::CONNECTION, "close")], Json(body)).into_response()
            }
            Self::Unavailable {
                retry_after: Some(after),
                ..
            } => (
                status,
                [(header::RETRY_AFTER, retry_after(after))],
                Json(body),
            )
                .into_response(),
            Self::RateLimited {
                retry_after: after,
                global,
            } => {
                let scope = if global { "global" } else { "user" };
                let mut response = (
                    status,
                    [
                        (header::RETRY_AFTER, retry_after(after)),
                        (HeaderName::from_static(headers::SCOPE), scope.to_owned()),
                    ],
                    Json(body),
                )
                    .into_response();
                if global {
                    response.headers_mut().insert(
                        HeaderName::from_static(headers::GLOBAL),
                        HeaderValue::from_static("true"),
                    );
                }
                response
            }
            _ => (status, Json(body)).into_response(),
        };
        if let Some(denied) = denied {
            response.extensions_mut().insert(denied);
        }
        response
    }
}

/// Marks the answer to a request refused for want of credentials (401, `code` 0)
/// or of rights (403, with its Discord JSON code): the request metrics count these
/// as security events ([`crate::http_metrics`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denied {
    /// The Discord JSON error code of the refusal.
    pub code: u32,
}

/// A `Retry-After` value: whole seconds, rounded up (the header takes no fractions),
/// at least 1.
fn retry_after(after: Duration) -> String {
    let seconds = after.as_secs() + u64::from(after.subsec_nanos() > 0);
    seconds.max(1).to_string()
}

/// `after` in seconds, rounded up to whole milliseconds: the precision of Discord's
/// `retry_after` and `X-RateLimit-Reset-After`, never shorter than the real wait.
/// One division of whole milliseconds, so it prints as its three decimals
/// (`64.57`, not `64.57000000000001`); exact below 2^53 ms (285,000 years).
pub(crate) fn seconds_in_millis(after: Duration) -> f64 {
    after.as_nanos().div_ceil(1_000_000) as f64 / 1000.0
}

/// Field errors in Discord's nested layout, collected before answering 50035.
///
/// Paths are dotted: `content`, `message_reference.message_id`, `embeds.0.title`
/// (array indices are object keys, as in Discord's "Array Error" example); the empty
/// path is the body as a whole (a "Request Error").
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FormErrors {
    root: Map<String, Value>,
}

impl FormErrors {
    /// No errors yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// One error at `path`.
    pub fn single(path: &str, code: &str, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add(path, code, message);
        errors
    }

    /// Adds an error with Discord's `code` (e.g. `BASE_TYPE_REQUIRED`) at `path`.
    pub fn add(&mut self, path: &str, code: &str, message: impl Into<String>) {
        let mut node = &mut self.root;
        for segment in path.split('.').filter(|s| !s.is_empty()) {
            let child = node
                .entry(segment.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !child.is_object() {
                *child = Value::Object(Map::new());
            }
            match child {
                Value::Object(child) => node = child,
                _ => return,
            }
        }
        let list = node
            .entry("_errors".to_owned())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = list {
            list.push(json!({"code": code, "message": message.into()}));
        }
    }

    /// `BASE_TYPE_REQUIRED` at `path`.
    pub fn required(&mut self, path: &str) {
        self.add(path, "BASE_TYPE_REQUIRED", "This field is required");
    }

    /// Checks that `value` has `min..=max` characters (Discord counts characters).
    pub fn length(&mut self, path: &str, value: &str, min: usize, max: usize) {
        let count = value.chars().count();
        if count > max && min == 0 {
            self.add(
                path,
                "BASE_TYPE_MAX_LENGTH",
                format!("Must be {max} or fewer in length."),
            );
        } else if !(min..=max).contains(&count) {
            self.add(
                path,
                "BASE_TYPE_BAD_LENGTH",
                format!("Must be between {min} and {max} in length."),
            );
        }
    }

    /// Runs `check` on a fresh collector: `Ok(())` when it added nothing, else 50035.
    pub fn checked(check: impl FnOnce(&mut Self)) -> Result<(), HttpError> {
        let mut errors = Self::new();
        check(&mut errors);
        errors.into_result()
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.root.is_empty()
    }

    /// `Ok(())` when empty, else the 50035 error.
    pub fn into_result(self) -> Result<(), HttpError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self.into())
        }
    }

    /// The nested `errors` object.
    pub fn into_value(self) -> Value {
        Value::Object(self.root)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::body::to_bytes;
    use axum::response::IntoResponse;
    use serde_json::{Value, json};

    use super::{FormErrors, HttpError};

    /// The status, the named headers (absent ones as `None`) and the JSON body.
    async fn answer(error: HttpError, names: &[&str]) -> (u16, Vec<Option<String>>, Value) {
        let response = error.into_response();
        let status = response.status().as_u16();
        let headers = names
            .iter()
            .map(|name| {
                let value = response.headers().get(*name)?;
                value.to_str().ok().map(str::to_owned)
            })
            .collect();
        let body = to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("a body");
        (
            status,
            headers,
            serde_json::from_slice(&body).expect("JSON"),
        )
    }

    #[tokio::test]
    async fn a_spent_route_bucket_answers_like_discords_user_rate_limit() {
        let names = ["retry-after", "x-ratelimit-scope", "x-ratelimit-global"];
        let error = HttpError::RateLimited {
            retry_after: Duration::from_micros(64_569_400),
            global: false,
        };
        assert_eq!(
            answer(error, &names).await,
            (
                429,
                vec![Some("65".to_owned()), Some("user".to_owned()), None],
                json!({"message": "You are being rate limited.", "retry_after": 64.57, "global": false})
            )
        );
    }

    #[tokio::test]
    async fn a_spent_global_limit_says_so_in_headers_and_body() {
        let names = ["retry-after", "x-ratelimit-scope", "x-ratelimit-global"];
        let error = HttpError::RateLimited {
            retry_after: Duration::from_millis(250),
            global: true,
        };
        assert_eq!(
            answer(error, &names).await,
            (
                429,
                vec![
                    Some("1".to_owned()),
                    Some("global".to_owned()),
                    Some("true".to_owned())
                ],
                json!({"message": "You are being rate limited.", "retry_after": 0.25, "global": true})
            )
        );
    }

    #[test]
    fn form_errors_nest_dotted_paths_like_discord() {
        let mut errors = FormErrors::new();
        errors.required("access_token");
        errors.add(
            "activities.0.type",
            "BASE_TYPE_CHOICES",
            "Value must be one of (0, 1).",
        );
        errors.length("content", &"x".repeat(2001), 0, 2000);
        assert_eq!(
            errors.into_value(),
            json!({
                "access_token": {"_errors": [{"code": "BASE_TYPE_REQUIRED", "message": "This field is required"}]},
                "activities": {"0": {"type": {"_errors": [{"code": "BASE_TYPE_CHOICES", "message": "Value must be one of (0, 1)."}]}}},
                "content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]},
            })
        );
    }

    #[test]
    fn form_errors_at_the_root_are_request_errors() {
        let errors = FormErrors::single("", "BASE_TYPE_REQUIRED", "x");
        assert_eq!(
            errors.into_value(),
            json!({"_errors": [{"code": "BASE_TYPE_REQUIRED", "message": "x"}]})
        );
    }
}
