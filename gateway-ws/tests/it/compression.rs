//! Transport and payload compression, decompressed by the client with one context
//! for the whole connection.

use cloudcord_gateway_ws::settings::SessionSettings;
use serde_json::json;

use crate::support::{ALICE, World};

/// Hello, an ACK, READY and a dispatch big enough to span compressor buffers all
/// decompress in order with the connection's single client-side context.
async fn round_trip(compress: &str) {
    let world = World::new(SessionSettings::default()).await;
    let mut client = world
        .connect(&format!("v=10&encoding=json&compress={compress}"))
        .await;
    client.hello().await;
    client.send(json!({ "op": 1, "d": null })).await;
    client.expect_op(11).await;
    client.identify(&world.token(ALICE), 513).await;
    client.ready(513).await;
    let big = "y".repeat(200_000);
    for slot in world.gateway.hub().sessions_of_user(ALICE) {
        slot.push("TEST_BIG", &json!({ "content": big }).to_string());
        slot.push("TEST_SMALL", r#"{"n":1}"#);
    }
    assert_eq!(client.dispatch("TEST_BIG").await["content"], big.as_str());
    assert_eq!(client.dispatch("TEST_SMALL").await["n"], 1);
    client.send(json!({ "op": 1, "d": 3 })).await;
    client.expect_op(11).await;
}

#[tokio::test]
async fn zlib_stream_messages_inflate_with_one_context() {
    round_trip("zlib-stream").await;
}

#[tokio::test]
async fn zstd_stream_messages_decompress_with_one_context() {
    round_trip("zstd-stream").await;
}

#[tokio::test]
async fn compress_true_in_identify_compresses_each_payload() {
    let world = World::new(SessionSettings::default()).await;
    let mut client = world.connect("v=10&encoding=json").await;
    client.hello().await;
    client
        .send(json!({
            "op": 2,
            "d": {
                "token": world.token(ALICE),
                "intents": 513,
                "compress": true,
                "properties": { "os": "linux", "browser": "test", "device": "test" },
            },
        }))
        .await;
    // The client decodes a binary message as one whole zlib stream.
    let ready = client.ready(513).await;
    assert_eq!(ready["user"]["id"], ALICE.to_string());
}
