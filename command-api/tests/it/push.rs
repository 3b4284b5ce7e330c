//! Web Push subscriptions on the write side: the VAPID key for browsers, and
//! subscriptions checked before they become commands on the user's aggregate.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::http::{Body, World, assert_error, unique};

/// RFC 8291 Appendix A's user agent public key and auth secret: a valid pair.
const P256DH: &str =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";

const ROUTE: &str = "/api/v10/users/@me/push-subscriptions";

fn subscription(endpoint: &str, p256dh: &str, auth: &str) -> Value {
    json!({"endpoint": endpoint, "expirationTime": null, "keys": {"p256dh": p256dh, "auth": auth}})
}

#[tokio::test(flavor = "multi_thread")]
async fn the_vapid_public_key_is_a_p256_point_for_signed_in_users() {
    let world = World::new().await;
    let user = world.register(&unique("nelly")).await;
    let (status, body) = world
        .call(
            Method::GET,
            "/api/v10/push/vapid-public-key",
            Some(&user),
            Body::None,
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let key = body["public_key"].as_str().expect("public_key");
    use base64::Engine as _;
    let point = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(key)
        .expect("base64url without padding");
    assert_eq!((point.len(), point[0]), (65, 4), "an uncompressed point");
    let (status, body) = world
        .call(
            Method::GET,
            "/api/v10/push/vapid-public-key",
            None,
            Body::None,
            &[],
        )
        .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn subscriptions_are_added_and_removed_and_bad_ones_refused_field_by_field() {
    let world = World::new().await;
    let user = world.register(&unique("nelly")).await;
    let endpoint = "https://push.example.net/send/abc";
    let put = |body: Value| world.call(Method::PUT, ROUTE, Some(&user), Body::Json(body), &[]);

    let (status, body) = put(subscription(endpoint, P256DH, AUTH)).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    // The browser registers the same subscription on every start.
    let (status, _) = put(subscription(endpoint, P256DH, AUTH)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let (status, body) = put(subscription(
        "http://push.example.net/send/abc",
        "AAAA",
        "short",
    ))
    .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, 50035);
    let errors = &body["errors"];
    assert_eq!(
        errors["endpoint"]["_errors"][0]["code"], "URL_TYPE_INVALID_URL",
        "{body}"
    );
    assert_eq!(
        errors["keys"]["p256dh"]["_errors"][0]["code"], "BASE_TYPE_INVALID",
        "{body}"
    );
    assert_eq!(
        errors["keys"]["auth"]["_errors"][0]["code"], "BASE_TYPE_INVALID",
        "{body}"
    );
    // A point off the curve is not a key either.
    let mut off_curve = P256DH.to_owned();
    off_curve.replace_range(10..12, "AA");
    let (status, body) = put(subscription(endpoint, &off_curve, AUTH)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, 50035);
    assert!(body["errors"]["keys"]["p256dh"].is_object(), "{body}");
    let (status, body) = put(json!({"endpoint": "not a url"})).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, 50035);
    // The gateway must not be made to call inside the cluster.
    for internal in [
        "https://127.0.0.1/push",
        "https://10.0.0.7/push",
        "https://[::1]/push",
        "https://localhost/push",
    ] {
        let (status, body) = put(subscription(internal, P256DH, AUTH)).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, 50035);
        assert!(body["errors"]["endpoint"].is_object(), "{internal}: {body}");
    }

    let delete = |endpoint: &str| {
        world.call(
            Method::DELETE,
            ROUTE,
            Some(&user),
            Body::Json(json!({"endpoint": endpoint})),
            &[],
        )
    };
    let (status, _) = delete(endpoint).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Unsubscribing twice (or something never subscribed) is done either way.
    let (status, _) = delete(endpoint).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = world
        .call(
            Method::DELETE,
            ROUTE,
            None,
            Body::Json(json!({"endpoint": endpoint})),
            &[],
        )
        .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, 0);
}
