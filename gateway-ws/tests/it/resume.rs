//! Resume: what was missed comes back in order, then RESUMED; what cannot be
//! resumed says so. The sessions are STRANGER's, who is in no guild, so READY is the
//! only dispatch before the test's own.

use cloudcord_gateway_ws::settings::SessionSettings;
use serde_json::{Value, json};

use crate::support::{ALICE, Client, Ended, STRANGER, World};

const INTENTS: u64 = 513;

fn resume(token: &str, session_id: &str, seq: u64) -> Value {
    json!({ "op": 6, "d": { "token": token, "session_id": session_id, "seq": seq } })
}

fn push_to(world: &World, user: cloudcord_schemas::ids::UserId, event: &'static str, n: u64) {
    for slot in world.gateway.hub().sessions_of_user(user) {
        slot.push(event, &json!({ "n": n }).to_string());
    }
}

/// A new connection that sends Resume.
async fn resumed(world: &World, token: &str, session_id: &str, seq: u64) -> Client {
    let mut client = world.connect("v=10&encoding=json").await;
    client.hello().await;
    client.send(resume(token, session_id, seq)).await;
    client
}

#[tokio::test]
async fn resume_after_a_drop_replays_what_was_missed_in_order_then_resumed() {
    let world = World::new(SessionSettings::default()).await;
    let token = world.token(STRANGER);
    let (mut client, ready) = world.identified(&token, INTENTS).await;
    let session_id = ready["session_id"]
        .as_str()
        .expect("a session id")
        .to_owned();
    push_to(&world, STRANGER, "TEST", 1);
    assert_eq!(client.dispatch("TEST").await["n"], 1);
    assert_eq!(client.seq, Some(2));
    client.drop_connection().await;
    for n in 2..=4 {
        push_to(&world, STRANGER, "TEST", n);
    }

    let mut client = resumed(&world, &token, &session_id, 2).await;
    for (n, s) in [(2, 3), (3, 4), (4, 5)] {
        let payload = client.expect_op(0).await;
        assert_eq!(
            (payload["d"]["n"].as_u64(), payload["s"].as_u64()),
            (Some(n), Some(s))
        );
    }
    let resumed = client.expect_op(0).await;
    assert_eq!(
        (resumed["t"].as_str(), resumed["s"].as_u64()),
        (Some("RESUMED"), Some(6))
    );
    // The session goes on live.
    push_to(&world, STRANGER, "TEST", 5);
    assert_eq!(client.dispatch("TEST").await["n"], 5);
}

#[tokio::test]
async fn resume_of_an_unknown_session_gets_invalid_session_false() {
    let world = World::new(SessionSettings::default()).await;
    let mut client = resumed(&world, &world.token(STRANGER), "no-such-session", 1).await;
    let invalid = client.expect_op(9).await;
    assert_eq!(invalid["d"], false);
    // The connection may identify instead.
    client.identify(&world.token(STRANGER), INTENTS).await;
    client.ready(513).await;
}

#[tokio::test]
async fn resume_from_a_seq_never_sent_closes_with_4007() {
    let world = World::new(SessionSettings::default()).await;
    let token = world.token(STRANGER);
    let (client, ready) = world.identified(&token, INTENTS).await;
    let session_id = ready["session_id"]
        .as_str()
        .expect("a session id")
        .to_owned();
    client.drop_connection().await;
    let mut client = resumed(&world, &token, &session_id, 99).await;
    assert_eq!(client.ended().await, Ended::Closed(4007));
}

#[tokio::test]
async fn resume_from_before_the_replay_buffer_closes_with_4007() {
    let world = World::new(SessionSettings {
        replay_frames: 3,
        ..SessionSettings::default()
    })
    .await;
    let token = world.token(STRANGER);
    let (client, ready) = world.identified(&token, INTENTS).await;
    let session_id = ready["session_id"]
        .as_str()
        .expect("a session id")
        .to_owned();
    client.drop_connection().await;
    for n in 0..5 {
        push_to(&world, STRANGER, "TEST", n);
    }
    let mut client = resumed(&world, &token, &session_id, 1).await;
    assert_eq!(client.ended().await, Ended::Closed(4007));
}

#[tokio::test]
async fn resume_with_another_users_token_closes_with_4004() {
    let world = World::new(SessionSettings::default()).await;
    let (client, ready) = world.identified(&world.token(STRANGER), INTENTS).await;
    let session_id = ready["session_id"]
        .as_str()
        .expect("a session id")
        .to_owned();
    client.drop_connection().await;
    let mut client = resumed(&world, &world.token(ALICE), &session_id, 1).await;
    assert_eq!(client.ended().await, Ended::Closed(4004));
}

#[tokio::test]
async fn a_slow_client_is_closed_with_4000_and_resumes_without_loss() {
    let world = World::new(SessionSettings {
        outbound_queue: 2,
        ..SessionSettings::default()
    })
    .await;
    let token = world.token(STRANGER);
    let (mut client, ready) = world.identified(&token, INTENTS).await;
    let session_id = ready["session_id"]
        .as_str()
        .expect("a session id")
        .to_owned();
    // Faster than the connection can write: the queue of 2 overflows.
    for n in 1..=50 {
        push_to(&world, STRANGER, "TEST", n);
    }
    let mut received = Vec::new();
    let ended = loop {
        match client.next().await {
            Ok(payload) => received.push(payload["d"]["n"].as_u64().expect("n")),
            Err(ended) => break ended,
        }
    };
    assert_eq!(ended, Ended::Closed(4000));
    assert!(received.len() < 50, "the queue overflowed");
    assert_eq!(world.gateway.metrics().overflows.get(), 1);
    let seq = client.seq.expect("READY at least");

    let mut client = resumed(&world, &token, &session_id, seq).await;
    for n in received.len() as u64 + 1..=50 {
        assert_eq!(client.dispatch("TEST").await["n"], n);
    }
    client.dispatch("RESUMED").await;
}

#[tokio::test]
async fn resuming_elsewhere_closes_the_old_connection_resumably() {
    let world = World::new(SessionSettings::default()).await;
    let token = world.token(STRANGER);
    let (mut old, ready) = world.identified(&token, INTENTS).await;
    let session_id = ready["session_id"]
        .as_str()
        .expect("a session id")
        .to_owned();
    let mut new = resumed(&world, &token, &session_id, 1).await;
    new.dispatch("RESUMED").await;
    assert_eq!(old.ended().await, Ended::Closed(4000));
}

#[tokio::test]
async fn a_session_closed_with_1000_cannot_be_resumed() {
    let world = World::new(SessionSettings::default()).await;
    let token = world.token(STRANGER);
    let (client, ready) = world.identified(&token, INTENTS).await;
    let session_id = ready["session_id"]
        .as_str()
        .expect("a session id")
        .to_owned();
    client.close_normally().await;
    let mut client = resumed(&world, &token, &session_id, 1).await;
    assert_eq!(client.expect_op(9).await["d"], false);
}
