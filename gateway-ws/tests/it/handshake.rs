//! Hello, Identify, READY, heartbeats and shutdown over a real socket.

use std::num::NonZeroU16;

use cloudcord_gateway_ws::settings::SessionSettings;
use serde_json::json;

use crate::support::{ALICE, BOT, BOT_APPLICATION, Ended, GUILD, STRANGER, World};

/// GUILDS | GUILD_MESSAGES.
const INTENTS: u64 = 513;

#[tokio::test]
async fn identify_with_a_user_token_gets_ready_with_the_session_and_guilds() {
    let world = World::new(SessionSettings::default()).await;
    let mut client = world.connect("v=10&encoding=json").await;
    assert_eq!(client.hello().await, 41_250);
    client.identify(&world.token(ALICE), INTENTS).await;
    let ready = client.expect_op(0).await;
    assert_eq!(ready["t"], "READY");
    assert_eq!(ready["s"], 1);
    let d = &ready["d"];
    assert_eq!(d["v"], 10);
    assert_eq!(d["user"]["id"], ALICE.to_string());
    assert_eq!(d["user"]["bot"], false);
    assert_eq!(
        d["guilds"],
        json!([{ "id": GUILD.to_string(), "unavailable": true }])
    );
    assert_eq!(d["session_id"].as_str().map(str::len), Some(32));
    assert_eq!(d["resume_gateway_url"], "ws://gateway.test");
    assert_eq!(d["application"], serde_json::Value::Null);
}

#[tokio::test]
async fn a_bot_identifies_with_its_bare_token_and_gets_its_application() {
    let world = World::new(SessionSettings::default()).await;
    let (_client, ready) = world.identified(&world.bot_token(BOT), INTENTS).await;
    assert_eq!(ready["user"]["id"], BOT.to_string());
    assert_eq!(ready["user"]["bot"], true);
    assert_eq!(
        ready["application"],
        json!({ "id": BOT_APPLICATION.to_string(), "flags": 0 })
    );
}

#[tokio::test]
async fn a_user_in_no_guild_gets_an_empty_guild_list() {
    let world = World::new(SessionSettings::default()).await;
    let (_client, ready) = world.identified(&world.token(STRANGER), INTENTS).await;
    assert_eq!(ready["guilds"], json!([]));
}

#[tokio::test]
async fn heartbeats_are_acknowledged_before_and_after_identify() {
    let world = World::new(SessionSettings::default()).await;
    let mut client = world.connect("v=10&encoding=json").await;
    client.hello().await;
    client.send(json!({ "op": 1, "d": null })).await;
    client.expect_op(11).await;
    client.identify(&world.token(ALICE), INTENTS).await;
    client.ready(513).await;
    client.send(json!({ "op": 1, "d": 1 })).await;
    client.expect_op(11).await;
}

#[tokio::test]
async fn a_silent_client_is_asked_for_a_heartbeat_then_closed_with_4009() {
    let world = World::new(SessionSettings {
        heartbeat_interval_ms: 200,
        heartbeat_grace_ms: 400,
        ..SessionSettings::default()
    })
    .await;
    // STRANGER has no guild, so no GUILD_CREATE races with the heartbeat request.
    let (mut client, _) = world.identified(&world.token(STRANGER), INTENTS).await;
    let request = client.expect_op(1).await;
    assert_eq!(request["d"], serde_json::Value::Null);
    assert_eq!(client.ended().await, Ended::Closed(4009));
}

#[tokio::test]
async fn answering_the_heartbeat_request_keeps_the_connection() {
    let world = World::new(SessionSettings {
        heartbeat_interval_ms: 400,
        heartbeat_grace_ms: 1_000,
        ..SessionSettings::default()
    })
    .await;
    let (mut client, _) = world.identified(&world.token(STRANGER), INTENTS).await;
    for _ in 0..3 {
        client.expect_op(1).await;
        client.send(json!({ "op": 1, "d": 1 })).await;
        client.expect_op(11).await;
    }
}

#[tokio::test]
async fn shutdown_sends_reconnect_then_a_resumable_close() {
    let world = World::new(SessionSettings::default()).await;
    let (mut client, _) = world.identified(&world.token(ALICE), INTENTS).await;
    world.shutdown.cancel();
    client.expect_op(7).await;
    assert_eq!(client.ended().await, Ended::Closed(4000));
}

#[tokio::test]
async fn the_router_serves_the_gateway_nested_under_a_prefix() {
    let world = World::new(SessionSettings::default()).await;
    // As the front door mounts it.
    let front_door = axum::Router::new().nest_service(
        "/gateway",
        cloudcord_gateway_ws::router(world.gateway.clone()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let addr = listener.local_addr().expect("bound");
    tokio::spawn(async move { axum::serve(listener, front_door).await });
    // twilight appends `/?v=…`, discord.js and serenity `?v=…`.
    for url in [
        format!("ws://{addr}/gateway/?v=10&encoding=json"),
        format!("ws://{addr}/gateway?v=10&encoding=json"),
    ] {
        let mut client = crate::support::Client::connect(&url).await;
        assert_eq!(client.hello().await, 41_250, "{url}");
    }
}

#[tokio::test]
async fn a_shards_ready_lists_only_its_own_guilds() {
    // Two buckets, so the second shard may start right after the first.
    let world = World::new(SessionSettings {
        max_concurrency: NonZeroU16::new(2).expect("non-zero"),
        ..SessionSettings::default()
    })
    .await;
    // GUILD (2000) has timestamp part 0: shard 0 of 2.
    for (shard, expected) in [(0, 1), (1, 0)] {
        let mut client = world.connect("v=10&encoding=json").await;
        client.hello().await;
        client
            .send(json!({
                "op": 2,
                "d": {
                    "token": world.bot_token(BOT),
                    "intents": INTENTS,
                    "shard": [shard, 2],
                    "properties": { "os": "linux", "browser": "test", "device": "test" },
                },
            }))
            .await;
        let ready = client.ready(INTENTS).await;
        assert_eq!(ready["shard"], json!([shard, 2]));
        assert_eq!(ready["guilds"].as_array().map(Vec::len), Some(expected));
    }
}

#[tokio::test]
async fn browsers_connect_only_from_allowed_origins() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::http::HeaderValue;

    let world = World::new(SessionSettings::default()).await;
    let url = format!("ws://{}/?v=10&encoding=json", world.addr);
    let with_origin = |origin: &'static str| {
        let mut request = url.as_str().into_client_request().expect("a request");
        request
            .headers_mut()
            .insert("origin", HeaderValue::from_static(origin));
        request
    };
    // The dev front door's own page may; another site may not.
    let allowed = tokio_tungstenite::connect_async(with_origin("http://127.0.0.1:8080")).await;
    assert!(allowed.is_ok(), "{allowed:?}");
    match tokio_tungstenite::connect_async(with_origin("https://evil.example")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403);
        }
        other => panic!("expected 403, got {other:?}"),
    }
}
