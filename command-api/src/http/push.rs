//! Web Push subscriptions (issue 10): the browser's side of the contract.
//!
//! | route | commands | answer |
//! |---|---|---|
//! | `GET /push/vapid-public-key` | — | 200 `{public_key}`: the VAPID key the browser subscribes with (`applicationServerKey`) |
//! | `PUT /users/@me/push-subscriptions` | `AddPushSubscription` | 204 |
//! | `DELETE /users/@me/push-subscriptions` | `RemovePushSubscription` | 204 |
//!
//! The body of `PUT` is what `PushSubscription.toJSON()` gives in the browser.
//! It is checked here, where the user can still fix it, so the gateway never
//! meets an endpoint it must not call or keys it cannot encrypt to: an absolute
//! https URL (http only with `[push] allow_http_endpoints`, for tests and
//! development), `p256dh` an uncompressed P-256 point, `auth` 16 bytes, both
//! base64url. The key is served by command-api rather than query-api because it
//! is configuration, not a read model, and the `[push]` key is loaded here anyway.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cloudcord_runtime::described_by_schemars;
use cloudcord_runtime::http_error::{FormErrors, HttpError};
use cloudcord_runtime::openapi::Refusals;
use cloudcord_runtime::push::is_p256_point;
use cloudcord_schemas::user::{PushSubscription, UserCommand};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use url::{Host, Url};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::body::Body;
use super::bus::respond;
use super::users::user_ref;
use super::{ApiState, IdempotencyKey};

/// Longest endpoint URL accepted (push services' URLs are a few hundred bytes).
const MAX_ENDPOINT_LEN: usize = 2048;

/// The push routes under `/api/v10`.
pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(vapid_public_key))
        .routes(routes!(put_subscription, delete_subscription))
}

/// The VAPID public key.
#[derive(Debug, Serialize, JsonSchema)]
struct VapidPublicKey {
    /// The uncompressed P-256 point (65 bytes), base64url without padding.
    public_key: String,
}

/// `GET /push/vapid-public-key` → 200 `{public_key}`.
#[utoipa::path(
    get,
    path = "/push/vapid-public-key",
    tag = "push",
    responses((status = 200, description = "The key browsers subscribe with", body = VapidPublicKey), Refusals)
)]
async fn vapid_public_key(State(state): State<ApiState>, _caller: Caller) -> Json<VapidPublicKey> {
    Json(VapidPublicKey {
        public_key: state.push().public_key.clone(),
    })
}

/// The keys of `PushSubscription.toJSON()`.
#[derive(Debug, Deserialize, JsonSchema)]
struct SubscriptionKeys {
    /// The browser's P-256 public key, base64url.
    p256dh: String,
    /// The browser's 16-byte auth secret, base64url.
    auth: String,
}

/// `PushSubscription.toJSON()`. Its `expirationTime` is accepted and ignored: a
/// push service answers 410 for an expired subscription, which removes it.
#[derive(Debug, Deserialize, JsonSchema)]
struct SubscriptionRequest {
    /// The push service URL.
    endpoint: String,
    /// The encryption keys.
    keys: SubscriptionKeys,
}

/// A subscription's endpoint.
#[derive(Debug, Deserialize, JsonSchema)]
struct EndpointRequest {
    /// The push service URL.
    endpoint: String,
}

/// `PUT /users/@me/push-subscriptions` → 204: register (or renew) the browser's
/// subscription; the user's oldest goes when they have 10 already.
#[utoipa::path(
    put,
    path = "/users/@me/push-subscriptions",
    tag = "push",
    params(IdempotencyKey),
    request_body = SubscriptionRequest,
    responses((status = 204, description = "Registered"), Refusals)
)]
async fn put_subscription(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Body(request): Body<SubscriptionRequest>,
) -> Result<Response, HttpError> {
    let mut errors = FormErrors::new();
    check_endpoint(&request.endpoint, state.push().allow_http, &mut errors);
    let decoded = |text: &str| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok();
    if !decoded(&request.keys.p256dh).is_some_and(|key| is_p256_point(&key)) {
        errors.add(
            "keys.p256dh",
            "BASE_TYPE_INVALID",
            "Must be an uncompressed P-256 public key in base64url.",
        );
    }
    if decoded(&request.keys.auth).is_none_or(|auth| auth.len() != 16) {
        errors.add(
            "keys.auth",
            "BASE_TYPE_INVALID",
            "Must be 16 bytes in base64url.",
        );
    }
    errors.into_result()?;
    let actor = caller.actor();
    // Stored as the browser sent them, without padding, as the gateway reads them.
    let subscription = PushSubscription {
        endpoint: request.endpoint,
        p256dh: request.keys.p256dh.trim_end_matches('=').to_owned(),
        auth: request.keys.auth.trim_end_matches('=').to_owned(),
    };
    respond(
        state
            .bus()
            .execute(
                user_ref(caller.user_id),
                key.command_id(&actor)?,
                actor,
                UserCommand::AddPushSubscription { subscription },
            )
            .await?,
    )
}

/// `DELETE /users/@me/push-subscriptions` with `{endpoint}` → 204 (also for an
/// endpoint the user does not have: the browser's unsubscribe is done either way).
#[utoipa::path(
    delete,
    path = "/users/@me/push-subscriptions",
    tag = "push",
    params(IdempotencyKey),
    request_body = EndpointRequest,
    responses((status = 204, description = "Forgotten"), Refusals)
)]
async fn delete_subscription(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    Body(request): Body<EndpointRequest>,
) -> Result<Response, HttpError> {
    let actor = caller.actor();
    respond(
        state
            .bus()
            .execute(
                user_ref(caller.user_id),
                key.command_id(&actor)?,
                actor,
                UserCommand::RemovePushSubscription {
                    endpoint: request.endpoint,
                },
            )
            .await?,
    )
}

/// An absolute https URL with a public host (http, and any host, too when
/// `allow_http`: tests and development run their push service on loopback).
/// The gateway POSTs to whatever is stored, so a loopback or private address
/// would let anyone make it call services inside the cluster; names that resolve
/// to such addresses are not caught here.
fn check_endpoint(endpoint: &str, allow_http: bool, errors: &mut FormErrors) {
    let internal = |host: Host<&str>| match host {
        Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => {
            ip.is_loopback() || ip.is_private() || ip.is_link_local() || ip.is_unspecified()
        }
        Host::Ipv6(ip) => {
            ip.is_loopback()
                || ip.is_unspecified()
                || ip.is_unique_local()
                || ip.is_unicast_link_local()
                || ip.to_ipv4_mapped().is_some()
        }
    };
    let url = Url::parse(endpoint).ok().filter(|url| match url.host() {
        None => false,
        Some(_) if allow_http => url.scheme() == "https" || url.scheme() == "http",
        Some(host) => url.scheme() == "https" && !internal(host),
    });
    if endpoint.len() > MAX_ENDPOINT_LEN {
        errors.add(
            "endpoint",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 2048 or fewer in length.",
        );
    } else if url.is_none() {
        errors.add(
            "endpoint",
            "URL_TYPE_INVALID_URL",
            if allow_http {
                "Not a well formed http(s) URL."
            } else {
                "Not a well formed https URL of a public host."
            },
        );
    }
}

described_by_schemars!(VapidPublicKey, SubscriptionRequest, EndpointRequest);
