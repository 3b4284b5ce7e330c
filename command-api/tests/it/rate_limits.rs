//! The write API's rate limits as a bot sees them, with the real (Discord's) limits:
//! message creation allows 5 per 5 s per caller and channel.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::registry::Registry;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::http::{Body, World, unique};
use crate::support::realistic_http_settings;

/// A header as text (panics when absent).
fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {headers:?}"))
        .to_str()
        .expect("a text header")
}

/// `X-RateLimit-Reset-After` in seconds, checked against `X-RateLimit-Reset` (epoch
/// seconds) and the window's length.
fn reset_after(headers: &HeaderMap, window: f64) -> f64 {
    let after: f64 = header(headers, "x-ratelimit-reset-after")
        .parse()
        .expect("seconds");
    assert!(after > 0.0 && after <= window, "reset-after {after}");
    let reset: f64 = header(headers, "x-ratelimit-reset")
        .parse()
        .expect("epoch seconds");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64();
    assert!(
        (reset - (now + after)).abs() < 2.0,
        "reset {reset} is not now + {after}"
    );
    for name in ["x-ratelimit-reset", "x-ratelimit-reset-after"] {
        let (_, decimals) = header(headers, name)
            .split_once('.')
            .expect("millisecond decimals");
        assert_eq!(decimals.len(), 3, "{name}");
    }
    after
}

/// Asserts the bucket headers of an answer: limit, remaining, scope; returns the
/// bucket id.
fn bucket(headers: &HeaderMap, limit: u32, remaining: u32) -> String {
    assert_eq!(header(headers, "x-ratelimit-limit"), limit.to_string());
    assert_eq!(
        header(headers, "x-ratelimit-remaining"),
        remaining.to_string()
    );
    assert_eq!(header(headers, "x-ratelimit-scope"), "user");
    reset_after(headers, 5.0);
    header(headers, "x-ratelimit-bucket").to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_channels_message_bucket_answers_like_discord_is_spent_after_five_and_refills() {
    let world = World::with_settings(realistic_http_settings()).await;
    let auth = world.register(&unique("limited")).await;
    let (guild_id, channel) = world.guild(&auth).await;
    let (status, other) = world
        .post(
            &format!("/api/v10/guilds/{guild_id}/channels"),
            Some(&auth),
            json!({"name": "other", "type": 0}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{other}");
    let other = other["id"].as_str().expect("channel id").to_owned();
    let post = |channel: String, body: Value| {
        let world = &world;
        let auth = auth.clone();
        async move {
            world
                .send(
                    Method::POST,
                    &format!("/api/v10/channels/{channel}/messages"),
                    Some(&auth),
                    Body::Json(body),
                    &[],
                )
                .await
        }
    };
    // The other channel first: once its message is answered, both channels are
    // known to the API, so the five below are quick and fit one 5 s window.
    let (status, headers, body) = post(other.clone(), json!({"content": "warm"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let bucket_id = bucket(&headers, 5, 4);

    // A normal answer carries the bucket's headers (and no Retry-After).
    let (status, headers, body) = post(channel.clone(), json!({"content": "one"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(bucket(&headers, 5, 4), bucket_id, "one bucket id per route");
    assert!(headers.get("retry-after").is_none());
    // Refused requests count too, as on Discord.
    for remaining in (0..4).rev() {
        let (status, headers, body) = post(channel.clone(), json!({})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(bucket(&headers, 5, remaining), bucket_id);
    }

    let (status, headers, body) = post(channel.clone(), json!({"content": "six"})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(bucket(&headers, 5, 0), bucket_id);
    assert!(headers.get("x-ratelimit-global").is_none());
    let after = reset_after(&headers, 5.0);
    // Whole seconds, rounded up.
    let retry_after: f64 = header(&headers, "retry-after").parse().expect("seconds");
    assert!(retry_after.fract() == 0.0 && retry_after >= after && retry_after < after + 1.0);
    assert_eq!(
        body,
        json!({"message": "You are being rate limited.", "retry_after": after, "global": false})
    );

    // The other channel has its own bucket.
    let (status, headers, body) = post(other.clone(), json!({"content": "still"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(bucket(&headers, 5, 3), bucket_id);

    // The refusal is a security event on the admin server.
    let mut registry = Registry::with_prefix("cloudcord");
    world.api.state.rate_limiter().register(&mut registry);
    let mut metrics = String::new();
    prometheus_client::encoding::text::encode(&mut metrics, &registry).expect("encodes");
    assert!(
        metrics.contains(
            r#"cloudcord_http_rate_limited_total{service="command-api",scope="user",route="POST /channels/{channel_id}/messages"} 1"#
        ),
        "{metrics}"
    );

    // After the reset the whole limit is back.
    tokio::time::sleep(Duration::from_secs_f64(after)).await;
    let (status, headers, body) = post(channel, json!({"content": "again"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(bucket(&headers, 5, 4), bucket_id);
}
