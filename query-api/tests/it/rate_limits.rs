//! The read API's rate limits: route buckets with the real (default) limits, the
//! global limit, and whose address an anonymous request counts against.

use cloudcord_query_api::http::HttpSettings;
use cloudcord_runtime::rate_limit::{Quota, RateLimitSettings};
use prometheus_client::registry::Registry;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::json;

use crate::support::{ALICE, ARCHIVE, BOB, GENERAL, GUILD, World, scenario};

/// A header as text, `None` when absent.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .map(|value| value.to_str().expect("a text header"))
}

/// The scenario served with `rate_limits`.
async fn world(rate_limits: RateLimitSettings) -> World {
    let mut world = World::empty_with(HttpSettings {
        rate_limits,
        ..HttpSettings::default()
    })
    .await;
    world.apply(scenario()).await;
    world
}

/// The rate-limit counter's line for `scope` and `route`, as the admin server
/// exports it.
fn refusals(world: &World, scope: &str, route: &str) -> String {
    let mut registry = Registry::with_prefix("cloudcord");
    world.rate_limiter.register(&mut registry);
    let mut metrics = String::new();
    prometheus_client::encoding::text::encode(&mut metrics, &registry).expect("encodes");
    let prefix = format!(
        r#"cloudcord_http_rate_limited_total{{service="query-api",scope="{scope}",route="{route}"}} "#
    );
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or("none")
        .to_owned()
}

#[tokio::test]
async fn reads_carry_the_buckets_headers_and_a_spent_bucket_answers_429() {
    // Discord's limits: 10 requests per 10 s per route and channel for reads.
    let world = world(RateLimitSettings::default()).await;
    let alice = world.token(ALICE);
    let channel = format!("/channels/{GENERAL}");
    let mut bucket = None;
    for remaining in (0..10).rev() {
        let (status, headers, body) = world.get_with(&channel, Some(&alice), &[]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(header(&headers, "x-ratelimit-limit"), Some("10"));
        assert_eq!(
            header(&headers, "x-ratelimit-remaining"),
            Some(remaining.to_string().as_str())
        );
        assert_eq!(header(&headers, "x-ratelimit-scope"), Some("user"));
        assert_eq!(header(&headers, "retry-after"), None);
        let id = header(&headers, "x-ratelimit-bucket").expect("a bucket");
        assert_eq!(*bucket.get_or_insert_with(|| id.to_owned()), id);
    }

    let (status, headers, body) = world.get_with(&channel, Some(&alice), &[]).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(header(&headers, "x-ratelimit-remaining"), Some("0"));
    assert_eq!(header(&headers, "x-ratelimit-bucket"), bucket.as_deref());
    assert_eq!(header(&headers, "x-ratelimit-global"), None);
    let after: f64 = header(&headers, "x-ratelimit-reset-after")
        .expect("reset-after")
        .parse()
        .expect("seconds");
    assert!(after > 0.0 && after <= 10.0, "{after}");
    assert_eq!(
        body,
        json!({"message": "You are being rate limited.", "retry_after": after, "global": false})
    );
    assert_eq!(refusals(&world, "user", "GET /channels/{channel_id}"), "1");

    // Another channel, another caller: buckets of their own, with the same id.
    let (status, headers, _) = world
        .get_with(&format!("/channels/{ARCHIVE}"), Some(&alice), &[])
        .await;
    assert_ne!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&headers, "x-ratelimit-remaining"), Some("9"));
    assert_eq!(header(&headers, "x-ratelimit-bucket"), bucket.as_deref());
    let (status, headers, _) = world.get_with(&channel, Some(&world.token(BOB)), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "x-ratelimit-remaining"), Some("9"));
}

#[tokio::test]
async fn a_spent_global_limit_refuses_every_route_with_discords_global_answer() {
    // A minute-long window, so the test does not race the clock.
    let world = world(RateLimitSettings {
        global: Quota::new(4, 60_000),
        ..RateLimitSettings::default()
    })
    .await;
    let alice = world.token(ALICE);
    for path in [
        format!("/channels/{GENERAL}"),
        format!("/channels/{ARCHIVE}"),
        format!("/guilds/{GUILD}"),
        "/users/@me".to_owned(),
    ] {
        let (status, _, body) = world.get_with(&path, Some(&alice), &[]).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }

    let (status, headers, body) = world
        .get_with(&format!("/guilds/{GUILD}/channels"), Some(&alice), &[])
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(header(&headers, "x-ratelimit-global"), Some("true"));
    assert_eq!(header(&headers, "x-ratelimit-scope"), Some("global"));
    // As in Discord's example: no route bucket was consulted.
    assert_eq!(header(&headers, "x-ratelimit-bucket"), None);
    let retry_after = body["retry_after"].as_f64().expect("seconds");
    assert!(retry_after > 0.0 && retry_after <= 60.0, "{body}");
    let whole: f64 = header(&headers, "retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!(whole.fract() == 0.0 && whole >= retry_after && whole < retry_after + 1.0);
    assert_eq!(
        body,
        json!({"message": "You are being rate limited.", "retry_after": retry_after, "global": true})
    );
    assert_eq!(
        refusals(&world, "global", "GET /guilds/{guild_id}/channels"),
        "1"
    );

    // The global limit is the caller's, not everyone's.
    let (status, _, body) = world
        .get_with(&format!("/guilds/{GUILD}"), Some(&world.token(BOB)), &[])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Two anonymous requests naming different clients in `X-Forwarded-For`, against a
/// route that allows one per minute: whether the second is refused.
async fn second_forwarded_client_is_refused(trusted_proxies: &[&str]) -> bool {
    let world = World::empty_with(HttpSettings {
        rate_limits: RateLimitSettings {
            default_route: Quota::new(1, 60_000),
            trusted_proxies: trusted_proxies
                .iter()
                .map(|net| net.parse().expect("a CIDR"))
                .collect(),
            ..RateLimitSettings::default()
        },
        ..HttpSettings::default()
    })
    .await;
    let forwarded = |client| [("x-forwarded-for", client)];
    let (status, headers, _) = world
        .get_with("/users/@me", None, &forwarded("198.51.100.1"))
        .await;
    // Anonymous requests count too (by address); this one is refused by auth only.
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(header(&headers, "x-ratelimit-remaining"), Some("0"));
    let (status, _, _) = world
        .get_with("/users/@me", None, &forwarded("198.51.100.2"))
        .await;
    status == StatusCode::TOO_MANY_REQUESTS
}

#[tokio::test]
async fn x_forwarded_for_names_the_client_only_when_the_peer_is_a_trusted_proxy() {
    // The test's requests come from 127.0.0.1.
    assert!(
        second_forwarded_client_is_refused(&[]).await,
        "a client named itself another address and got a fresh bucket"
    );
    assert!(
        second_forwarded_client_is_refused(&["192.0.2.0/24"]).await,
        "an untrusted peer's header was believed"
    );
    assert!(
        !second_forwarded_client_is_refused(&["127.0.0.0/8"]).await,
        "behind a trusted proxy, clients count apart"
    );
}
