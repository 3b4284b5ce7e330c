//! Op 4 (Voice State Update) from a real gateway client: the gateway calls
//! command-api's voice routes with the session's credential and answers a join with
//! VOICE_SERVER_UPDATE. command-api itself is stood in for by a recording HTTP
//! server (its routes are tested in command-api; the whole path, guild rules
//! included, in the CLI's stack tests).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::routing::post;
use cloudcord_schemas::guild::{GuildEvent, VoiceState, VoiceStateUpdated};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::support::{ALICE, GENERAL, GUILD, PATIENCE, STRANGER, World, guild_event};

/// GUILDS | GUILD_VOICE_STATES.
const INTENTS: u64 = 1 | 1 << 7;

/// One call the stand-in received.
#[derive(Debug, Clone, PartialEq)]
struct Call {
    method: Method,
    channel: String,
    authorization: String,
    body: Value,
}

type Calls = Arc<Mutex<Vec<Call>>>;

/// A stand-in for command-api's voice routes that records every call and admits
/// every join; returns its URL and the calls.
async fn command_api() -> (String, Calls) {
    let calls = Calls::default();
    let router = Router::new()
        .route("/api/v10/channels/{id}/voice", post(record).delete(record))
        .with_state(Arc::clone(&calls));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let url = format!("http://{}", listener.local_addr().expect("bound"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, calls)
}

async fn record(
    State(calls): State<Calls>,
    method: Method,
    Path(channel): Path<String>,
    headers: HeaderMap,
    body: String,
) -> axum::Json<Value> {
    calls.lock().expect("not poisoned").push(Call {
        method,
        channel,
        authorization: headers["authorization"].to_str().expect("ASCII").to_owned(),
        body: serde_json::from_str(&body).unwrap_or(Value::Null),
    });
    axum::Json(json!({
        "token": "a-media-token",
        "endpoint": "/sfu/sessions",
        "expires_in": 120,
        "voice_state": {},
    }))
}

/// The calls so far, once there are `count` of them (or after a while).
async fn calls_when(calls: &Calls, count: usize) -> Vec<Call> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let seen = calls.lock().expect("not poisoned").clone();
        if seen.len() >= count || tokio::time::Instant::now() > deadline {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn op_4_joins_through_command_api_and_answers_with_voice_server_update() {
    let (url, calls) = command_api().await;
    let world = World::with_command_api(url).await;
    let token = world.token(ALICE);
    let (mut client, _) = world.identified(&token, INTENTS).await;
    client
        .send(json!({"op": 4, "d": {
            "guild_id": GUILD.to_string(),
            "channel_id": GENERAL.to_string(),
            "self_mute": true,
            "self_deaf": false,
        }}))
        .await;

    let server = client.dispatch("VOICE_SERVER_UPDATE").await;
    assert_eq!(
        server,
        json!({"token": "a-media-token", "guild_id": GUILD.to_string(), "endpoint": "/sfu/sessions"})
    );
    let calls = calls_when(&calls, 1).await;
    assert_eq!(
        calls,
        vec![Call {
            method: Method::POST,
            channel: GENERAL.to_string(),
            authorization: format!("Bearer {token}"),
            body: json!({"self_mute": true, "self_deaf": false}),
        }],
        "the join goes to command-api in the user's name"
    );
}

#[tokio::test]
async fn op_4_leaves_the_channel_the_guild_shows_the_user_in() {
    let (url, calls) = command_api().await;
    let mut world = World::with_command_api(url).await;
    world
        .apply(vec![guild_event(
            GUILD,
            GuildEvent::VoiceStateUpdated(VoiceStateUpdated {
                state: VoiceState {
                    user_id: ALICE,
                    channel_id: Some(GENERAL),
                    session_id: None,
                    deaf: false,
                    mute: false,
                    self_deaf: false,
                    self_mute: false,
                    suppress: false,
                },
            }),
        )])
        .await;
    let (mut client, _) = world.identified(&world.token(ALICE), INTENTS).await;
    client
        .send(json!({"op": 4, "d": {"guild_id": GUILD.to_string(), "channel_id": null}}))
        .await;
    let calls = calls_when(&calls, 1).await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].method, Method::DELETE);
    assert_eq!(calls[0].channel, GENERAL.to_string());
}

#[tokio::test]
async fn op_4_for_a_guild_the_session_does_not_see_calls_nothing() {
    let (url, calls) = command_api().await;
    let world = World::with_command_api(url).await;
    let (mut client, _) = world.identified(&world.token(STRANGER), INTENTS).await;
    client
        .send(json!({"op": 4, "d": {
            "guild_id": GUILD.to_string(),
            "channel_id": GENERAL.to_string(),
        }}))
        .await;
    // The session stays up: a heartbeat is still acknowledged.
    client.send(json!({"op": 1, "d": null})).await;
    client.expect_op(11).await;
    assert!(calls.lock().expect("not poisoned").is_empty());
}
