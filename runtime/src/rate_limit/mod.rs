//! [`RateLimiter`]: Discord's REST rate limits (`developers/topics/rate-limits.mdx`)
//! for the write and read APIs, as a layer over a service's routes.
//!
//! What clients see, as on Discord:
//!
//! * Every response of a limited route carries `X-RateLimit-Limit`, `-Remaining`,
//!   `-Reset` (epoch seconds with millisecond decimals), `-Reset-After` (seconds with
//!   millisecond decimals), `-Bucket` and `X-RateLimit-Scope: user`.
//! * A spent route bucket answers `429` with those headers, `Retry-After` (whole
//!   seconds, rounded up) and `{"message": "You are being rate limited.",
//!   "retry_after": <seconds>, "global": false}`.
//! * A spent global limit answers `429` with `Retry-After`, `X-RateLimit-Global: true`,
//!   `X-RateLimit-Scope: global` and `"global": true`, without bucket headers (as in
//!   Discord's example: the route's own bucket was not consulted).
//!
//! Discord's page says `X-RateLimit-Scope` comes only with a 429; it is sent on every
//! limited response here because twilight 0.18 reads a response's bucket headers only
//! when the scope header is there (`parse_ratelimit_headers` in twilight-http's
//! `response/future.rs`) and otherwise retries a 429 at once, blind. discord.js and
//! serenity read the scope of a 429 only, so the extra header changes nothing for them.
//!
//! Buckets. A route bucket is per caller, route and top-level resource ([`route`]),
//! so two channels count apart; the global bucket is per caller over every route of
//! the service. A request counts against the global bucket first; one the global
//! limit refuses does not touch the route's bucket.
//!
//! Callers ([`caller`]) are the user or bot of a validly signed token, else the
//! client's address: the socket peer's, or what a trusted proxy forwards. Services
//! must be served with connection info (`into_make_service_with_connect_info`).
//!
//! Why hand-written fixed windows ([`window`]) and not the `governor` crate: Discord's
//! buckets are fixed windows — a bucket allows `limit` requests until `reset`, then
//! `limit` again — and clients (twilight, discord.js, serenity) model them so: they
//! stop at `remaining: 0` and wait for `reset`. governor implements GCRA, whose
//! capacity trickles back continuously: there is no moment at which its remaining
//! capacity returns to the limit for `X-RateLimit-Reset` to name, so headers would be
//! a translation that does not match its decisions. A fixed window is a counter and a
//! deadline, so the headers are exactly the state that decides.
//!
//! Known limits: counters live in the process (replicas do not share them, so N
//! replicas allow up to N times a limit; each service counts its own global limit);
//! Discord's invalid-request limit (10,000 401/403/429 per 10 minutes per address)
//! and shared resource limits (`X-RateLimit-Scope: shared`) are not implemented.
//!
//! Module map:
//! - [`settings`]: the `rate_limits` settings section and [`Quota`].
//! - [`window`]: the fixed-window arithmetic, pure, with an injected clock.
//! - [`route`]: a request's route bucket and its `X-RateLimit-Bucket`.
//! - [`caller`]: whom a request counts against.

pub mod caller;
pub mod route;
pub mod settings;
pub mod window;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{ConnectInfo, MatchedPath, RawPathParams, Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

pub use self::caller::{CallerKey, ClientAddress};
pub use self::route::Route;
pub use self::settings::{
    ForwardedHeader, InvalidRouteName, Quota, RateLimitSettings, RouteName, RouteQuota,
};
use self::window::{Decision, Status, Windows};
use crate::auth::TokenVerifier;
use crate::http_error::{HttpError, seconds_in_millis};

/// The rate-limit headers' names, as Discord spells them (HTTP names are
/// case-insensitive; these are the lowercase forms HTTP/2 requires).
pub mod headers {
    /// Requests a bucket allows per window.
    pub const LIMIT: &str = "x-ratelimit-limit";
    /// Requests the bucket still allows in this window.
    pub const REMAINING: &str = "x-ratelimit-remaining";
    /// When the window ends, in epoch seconds with millisecond decimals.
    pub const RESET: &str = "x-ratelimit-reset";
    /// Seconds until the window ends, with millisecond decimals.
    pub const RESET_AFTER: &str = "x-ratelimit-reset-after";
    /// The bucket's id, the same for every caller and resource of the route.
    pub const BUCKET: &str = "x-ratelimit-bucket";
    /// `user` or `global`: which limit a 429 is about.
    pub const SCOPE: &str = "x-ratelimit-scope";
    /// `true` on a 429 of the global limit.
    pub const GLOBAL: &str = "x-ratelimit-global";
}

/// Labels of the rate-limit counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HitLabels {
    service: &'static str,
    /// `user` (a route bucket) or `global`.
    scope: &'static str,
    /// The route's name (a template: bounded cardinality).
    route: String,
}

/// A window's key: the caller's global bucket, or one of its route buckets.
#[derive(Debug, PartialEq, Eq, Hash)]
enum Slot {
    Global(CallerKey),
    Route(CallerKey, RouteName, Option<Box<str>>),
}

/// What the limiter decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Go on; the route bucket's state.
    Allowed(Status),
    /// The route bucket is spent.
    Route(Status),
    /// The caller's global limit is spent for `retry_after`.
    Global(Duration),
}

/// A service's rate limits and their counters. Cheap to clone (shared inside).
#[derive(Clone)]
pub struct RateLimiter(Arc<Inner>);

struct Inner {
    service: &'static str,
    enabled: bool,
    global: Quota,
    default_route: Quota,
    routes: HashMap<RouteName, Quota>,
    clients: ClientAddress,
    verifier: TokenVerifier,
    windows: Mutex<Windows<Slot>>,
    hits: Family<HitLabels, Counter>,
}

impl RateLimiter {
    /// `service`'s limiter: `settings`, over the service's `built_in` route quotas
    /// (`("POST /channels/{channel_id}/messages", Quota::new(5, 5_000))`, …; a route in
    /// `settings.routes` replaces one), identifying callers with `verifier`.
    ///
    /// # Panics
    ///
    /// When a built-in route name is not `METHOD /template`.
    pub fn new(
        service: &'static str,
        settings: &RateLimitSettings,
        built_in: &[(&str, Quota)],
        verifier: TokenVerifier,
    ) -> Self {
        let routes = built_in
            .iter()
            .map(|(name, quota)| {
                // Built-in tables are constants of the services, and each service's
                // tests build its limiter: a malformed name never gets past them.
                let name = RouteName::try_from((*name).to_owned())
                    .expect("built-in route names are `METHOD /template`");
                (name, *quota)
            })
            .chain(
                settings
                    .routes
                    .iter()
                    .map(|route| (route.route.clone(), route.quota)),
            )
            .collect();
        Self(Arc::new(Inner {
            service,
            enabled: settings.enabled,
            global: settings.global,
            default_route: settings.default_route,
            routes,
            clients: ClientAddress::new(
                settings.trusted_proxies.clone(),
                settings.forwarded_header,
            ),
            verifier,
            windows: Mutex::new(Windows::new(Instant::now())),
            hits: Family::default(),
        }))
    }

    /// Registers the counter of refused requests (`cloudcord_http_rate_limited_total`
    /// in a service registry).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "http_rate_limited",
            "Requests refused with 429 by a rate limit, by service, scope (user: a route bucket; global) and route",
            self.0.hits.clone(),
        );
    }

    /// `routes` with every route limited (unchanged when limits are disabled). Call it
    /// on the routes before nesting them under `/api/v{n}`; it limits matched routes
    /// only, never the 404/405 fallbacks.
    pub fn limit<S>(&self, routes: Router<S>) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        if self.0.enabled {
            routes.route_layer(from_fn_with_state(self.clone(), enforce))
        } else {
            routes
        }
    }

    /// Counts a request of `caller` on `route` at `now`.
    fn check(&self, caller: CallerKey, route: &Route, now: Instant) -> Verdict {
        let quota = self
            .0
            .routes
            .get(&route.name)
            .copied()
            .unwrap_or(self.0.default_route);
        // Held for two map operations; nothing inside awaits or blocks.
        let mut windows = self
            .0
            .windows
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Decision::Limited(status) = windows.acquire(Slot::Global(caller), self.0.global, now)
        {
            return Verdict::Global(status.reset_after);
        }
        let slot = Slot::Route(caller, route.name.clone(), route.resource.clone());
        match windows.acquire(slot, quota, now) {
            Decision::Allowed(status) => Verdict::Allowed(status),
            Decision::Limited(status) => Verdict::Route(status),
        }
    }

    /// Counts and logs a refusal: a security event (scraping, brute force, a bot
    /// that ignores the headers).
    fn refused(&self, caller: CallerKey, route: &Route, scope: &'static str, after: Duration) {
        self.0
            .hits
            .get_or_create(&HitLabels {
                service: self.0.service,
                scope,
                route: route.name.to_string(),
            })
            .inc();
        let retry_after_ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX);
        if scope == "global" {
            tracing::warn!(%caller, route = %route.name, scope, retry_after_ms, "rate limited");
        } else {
            tracing::info!(%caller, route = %route.name, scope, retry_after_ms, "rate limited");
        }
    }
}

/// The middleware: decides before the route runs, and adds the bucket's headers to
/// whatever the route answers.
async fn enforce(
    State(limiter): State<RateLimiter>,
    matched: Option<MatchedPath>,
    params: Result<RawPathParams, axum::extract::rejection::RawPathParamsRejection>,
    request: Request,
    next: Next,
) -> Response {
    // A route layer always runs on a matched route; without one there is no bucket.
    let Some(matched) = matched else {
        return next.run(request).await;
    };
    let params = params.ok();
    let route = Route::of(
        request.method().as_str(),
        matched.as_str(),
        params.iter().flatten(),
    );
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip());
    let client = limiter.0.clients.resolve(peer, request.headers());
    let caller = CallerKey::identify(&limiter.0.verifier, request.headers(), client);
    match limiter.check(caller, &route, Instant::now()) {
        Verdict::Allowed(status) => {
            let mut response = next.run(request).await;
            bucket_headers(response.headers_mut(), &status, &route);
            response
        }
        Verdict::Route(status) => {
            limiter.refused(caller, &route, "user", status.reset_after);
            let mut response = HttpError::RateLimited {
                retry_after: status.reset_after,
                global: false,
            }
            .into_response();
            bucket_headers(response.headers_mut(), &status, &route);
            response
        }
        Verdict::Global(retry_after) => {
            limiter.refused(caller, &route, "global", retry_after);
            HttpError::RateLimited {
                retry_after,
                global: true,
            }
            .into_response()
        }
    }
}

/// Sets a route bucket's headers from its `status`.
fn bucket_headers(headers: &mut HeaderMap, status: &Status, route: &Route) {
    // Rounded up to the millisecond, so a client that waits exactly this long is never
    // early.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let seconds = |after: Duration| format!("{:.3}", seconds_in_millis(after));
    let pairs = [
        (headers::LIMIT, status.limit.to_string()),
        (headers::REMAINING, status.remaining.to_string()),
        (headers::RESET, seconds(now + status.reset_after)),
        (headers::RESET_AFTER, seconds(status.reset_after)),
        (headers::BUCKET, route.bucket()),
        (headers::SCOPE, "user".to_owned()),
    ];
    for (name, value) in pairs {
        // Digits, dots and hex only: always a valid header value.
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::{Duration, Instant};

    use super::{Quota, RateLimitSettings, RateLimiter, Route, Verdict};
    use crate::auth::{AuthConfig, SigningKey, TokenIssuer, TokenVerifier};
    use crate::rate_limit::CallerKey;
    use crate::rate_limit::window::Status;

    fn limiter(settings: &RateLimitSettings, built_in: &[(&str, Quota)]) -> RateLimiter {
        let auth = AuthConfig::default();
        let issuer = TokenIssuer::new(SigningKey::generate().expect("a key"), &auth);
        let verifier = TokenVerifier::from_jwks(&issuer.jwks(), &auth).expect("usable JWKS");
        RateLimiter::new("test", settings, built_in, verifier)
    }

    fn caller(last: u8) -> CallerKey {
        CallerKey::Address(IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)))
    }

    fn messages(channel: &str) -> Route {
        Route::of(
            "POST",
            "/api/v10/channels/{channel_id}/messages",
            [("channel_id", channel)],
        )
    }

    #[test]
    fn built_in_quotas_apply_unless_settings_replace_them_and_others_get_the_default() {
        let built_in = [("POST /channels/{channel_id}/messages", Quota::new(5, 5_000))];
        let t0 = Instant::now();
        let defaults = limiter(&RateLimitSettings::default(), &built_in);
        assert_eq!(
            defaults.check(caller(1), &messages("1"), t0),
            Verdict::Allowed(Status {
                limit: 5,
                remaining: 4,
                reset_after: Duration::from_secs(5),
            })
        );
        let other = Route::of("GET", "/api/v10/users/@me", []);
        assert_eq!(
            defaults.check(caller(1), &other, t0),
            Verdict::Allowed(Status {
                limit: 10,
                remaining: 9,
                reset_after: Duration::from_secs(10),
            })
        );
        let settings: RateLimitSettings = serde_json::from_value(serde_json::json!({
            "routes": [{"route": "POST /channels/{channel_id}/messages", "limit": 1, "window_ms": 100}]
        }))
        .expect("settings");
        let replaced = limiter(&settings, &built_in);
        assert_eq!(
            replaced.check(caller(1), &messages("1"), t0),
            Verdict::Allowed(Status {
                limit: 1,
                remaining: 0,
                reset_after: Duration::from_millis(100),
            })
        );
    }

    #[test]
    fn the_global_limit_spans_routes_and_resources_and_is_checked_first() {
        let settings = RateLimitSettings {
            global: Quota::new(3, 1_000),
            ..RateLimitSettings::default()
        };
        let limiter = limiter(&settings, &[]);
        let t0 = Instant::now();
        for channel in ["1", "2", "3"] {
            assert!(matches!(
                limiter.check(caller(1), &messages(channel), t0),
                Verdict::Allowed(_)
            ));
        }
        assert_eq!(
            limiter.check(caller(1), &messages("4"), t0 + Duration::from_millis(400)),
            Verdict::Global(Duration::from_millis(600))
        );
        // Another caller has its own global bucket.
        assert!(matches!(
            limiter.check(caller(2), &messages("4"), t0),
            Verdict::Allowed(_)
        ));
        // A globally refused request did not spend channel 4's bucket.
        let later = t0 + Duration::from_secs(1);
        assert_eq!(
            limiter.check(caller(1), &messages("4"), later),
            Verdict::Allowed(Status {
                limit: 10,
                remaining: 9,
                reset_after: Duration::from_secs(10),
            })
        );
    }

    #[test]
    fn a_spent_route_bucket_refuses_only_its_own_resource_and_caller() {
        let limiter = limiter(
            &RateLimitSettings::default(),
            &[("POST /channels/{channel_id}/messages", Quota::new(1, 5_000))],
        );
        let t0 = Instant::now();
        assert!(matches!(
            limiter.check(caller(1), &messages("1"), t0),
            Verdict::Allowed(_)
        ));
        assert!(matches!(
            limiter.check(caller(1), &messages("1"), t0),
            Verdict::Route(Status { remaining: 0, .. })
        ));
        assert!(matches!(
            limiter.check(caller(1), &messages("2"), t0),
            Verdict::Allowed(_)
        ));
        assert!(matches!(
            limiter.check(caller(2), &messages("1"), t0),
            Verdict::Allowed(_)
        ));
    }
}
