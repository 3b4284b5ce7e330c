//! Delivering one encrypted push message to a push service (RFC 8030 section 5):
//! `POST` to the subscription's endpoint with the VAPID `Authorization`, `TTL`,
//! `Urgency` and `Content-Encoding: aes128gcm`.
//!
//! Push services are HTTPS, so deliveries need TLS. The workspace enables only
//! rustls's `ring` provider (twilight, in the cli's tests, needs rustls to find
//! exactly one provider by itself), and reqwest's rustls features either add
//! aws-lc-rs as a second provider (`rustls`) or build every reqwest client in
//! the process, not just this one, through a process-wide default provider that
//! must be installed first (`rustls-no-provider`). So deliveries use hyper's client
//! with hyper-rustls, configured here with the `ring` provider by name and the
//! platform's certificate verifier; reqwest stays plain HTTP for everyone else.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use hyper::{Method, Request, StatusCode};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls_platform_verifier::BuilderVerifierExt;
use url::Url;

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Attempts per message for answers that say "later" (429, 5xx) or failed
/// connections; the waits between them double from [`FIRST_BACKOFF`].
const ATTEMPTS: u32 = 3;

/// The first wait before trying again.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// The longest wait a `Retry-After` may ask for before we give up instead (the
/// notifier's partition waits meanwhile).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// How long a push service keeps a message for a browser that is offline: a
/// mention a day later is still worth showing.
pub const TTL_SECS: u64 = 24 * 60 * 60;

/// What a delivery came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    /// The push service accepted it (201).
    Sent,
    /// The subscription is gone (404, 410): forget it.
    Gone,
    /// Refused or failed after the retries; the label says how.
    Failed(&'static str),
}

impl Delivered {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Gone => "gone",
            Self::Failed(reason) => reason,
        }
    }
}

/// One message for one subscription.
pub struct Message<'a> {
    /// The endpoint.
    pub endpoint: &'a Url,
    /// The `Authorization` value (VAPID).
    pub authorization: &'a str,
    /// The `aes128gcm` body.
    pub body: Vec<u8>,
    /// Whether to ask for `Urgency: high` (mentions, replies, DMs).
    pub urgent: bool,
}

/// Why the HTTPS client could not be built (the platform's certificate store is
/// unusable).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up TLS for Web Push deliveries")]
pub struct ClientError(#[from] rustls::Error);

/// Why one attempt failed before an answer.
#[derive(Debug, thiserror::Error)]
enum AttemptError {
    #[error("the request could not be built")]
    Request(#[from] hyper::http::Error),
    #[error("the push service is unreachable")]
    Unreachable(#[from] hyper_util::client::legacy::Error),
    #[error("no answer in time")]
    Timeout,
}

/// The HTTPS client of push services. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Sender {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Sender {
    /// A client over rustls with the `ring` provider and the platform verifier.
    pub fn new() -> Result<Self, ClientError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_platform_verifier()?
            .with_no_client_auth();
        // http:// only reaches here when `push.allow_http_endpoints` let it in.
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    /// One `POST`, answered with its status and headers (the body is drained and
    /// logged on refusals only).
    async fn attempt(
        &self,
        message: &Message<'_>,
    ) -> Result<(StatusCode, HeaderMap, Bytes), AttemptError> {
        let request = Request::builder()
            .method(Method::POST)
            .uri(message.endpoint.as_str())
            .header("TTL", TTL_SECS)
            .header("Content-Encoding", "aes128gcm")
            .header("Content-Type", "application/octet-stream")
            .header("Urgency", if message.urgent { "high" } else { "normal" })
            .header("Authorization", message.authorization)
            .body(Full::new(Bytes::from(message.body.clone())))?;
        let exchange = async {
            let response = self.client.request(request).await?;
            let (parts, body) = response.into_parts();
            // A push service's answer body is a short error text at most.
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            Ok::<_, AttemptError>((parts.status, parts.headers, body))
        };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| AttemptError::Timeout)?
    }

    /// Delivers `message`, retrying what may succeed later.
    pub async fn deliver(&self, message: Message<'_>) -> Delivered {
        let mut backoff = FIRST_BACKOFF;
        for attempt in 1..=ATTEMPTS {
            let wait = match self.attempt(&message).await {
                Ok((status, _, _)) if status.is_success() => return Delivered::Sent,
                Ok((StatusCode::NOT_FOUND | StatusCode::GONE, _, _)) => return Delivered::Gone,
                Ok((status, headers, _))
                    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() =>
                {
                    tracing::debug!(%status, attempt, "the push service asks to retry");
                    match retry_after(&headers) {
                        Some(wait) if wait > MAX_RETRY_AFTER => {
                            return Delivered::Failed("throttled");
                        }
                        Some(wait) => wait,
                        None => backoff,
                    }
                }
                Ok((status, _, body)) => {
                    tracing::warn!(
                        %status,
                        body = %String::from_utf8_lossy(&body).chars().take(200).collect::<String>(),
                        "the push service refused a message"
                    );
                    return Delivered::Failed("refused");
                }
                Err(error) => {
                    tracing::debug!(
                        error = %cloudcord_runtime::telemetry::ErrorChain(&error),
                        attempt,
                        "a push delivery failed"
                    );
                    backoff
                }
            };
            if attempt < ATTEMPTS {
                tokio::time::sleep(wait).await;
                backoff *= 2;
            }
        }
        Delivered::Failed("unavailable")
    }
}

/// A `Retry-After` given in seconds (the HTTP-date form is rare here and treated
/// as absent).
fn retry_after(headers: &HeaderMap<HeaderValue>) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
        .map(Duration::from_secs)
}
