//! Read states and the mention inbox through the whole stack, as a person's client
//! uses them: a mention is sent (command-api → Kafka → the command processor →
//! the projectors), shows in the inbox and in READY's unread count, the ack is a
//! command like any other that comes back as MESSAGE_ACK and resets the count, and
//! a deleted message leaves the inbox.

use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::twilight::{Stack, post, register};

/// Generous: the stack runs as a debug build on a small machine.
const TIMEOUT: Duration = Duration::from_secs(60);

/// A person's gateway session, speaking plain JSON.
struct Session {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Session {
    /// Identifies as `token` (GUILDS | GUILD_MESSAGES); returns the session and
    /// READY's `d`.
    async fn identify(stack: &Stack, token: &str) -> (Self, Value) {
        let url = format!("ws://{}/gateway?v=10&encoding=json", stack.front_door);
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("the gateway accepts a connection");
        let mut session = Self { socket };
        assert_eq!(session.next().await["op"], json!(10), "Hello first");
        let identify = json!({"op": 2, "d": {
            "token": token,
            "intents": 513,
            "properties": {"os": "linux", "browser": "cloudcord-test", "device": "cloudcord-test"},
        }});
        session
            .socket
            .send(Message::text(identify.to_string()))
            .await
            .expect("Identify sent");
        let ready = session.dispatch("READY").await;
        (session, ready)
    }

    async fn next(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(TIMEOUT, self.socket.next())
                .await
                .expect("a payload in time")
                .expect("the connection is open")
                .expect("a readable payload");
            if let Message::Text(text) = message {
                return serde_json::from_str(&text).expect("JSON");
            }
        }
    }

    /// The next dispatch of type `event` (skipping others); its `d`.
    async fn dispatch(&mut self, event: &str) -> Value {
        loop {
            let payload = self.next().await;
            if payload["t"] == event {
                return payload["d"].clone();
            }
        }
    }
}

/// GET `path` as `authorization`, waiting for the write at `position` first.
async fn get(
    http: &reqwest::Client,
    stack: &Stack,
    path: &str,
    authorization: &str,
    position: &str,
) -> Value {
    let response = http
        .get(stack.api(path))
        .header("authorization", authorization)
        .header("x-cloudcord-position", position)
        .send()
        .await
        .expect("GET sent");
    assert!(
        response.status().is_success(),
        "GET {path}: {}",
        response.status()
    );
    response.json().await.expect("JSON")
}

/// POSTs as `post` does; also returns the write's `X-CloudCord-Position`.
async fn write(
    http: &reqwest::Client,
    url: &str,
    authorization: &str,
    body: Value,
) -> (Value, String) {
    let response = http
        .post(url)
        .header("authorization", authorization)
        .json(&body)
        .send()
        .await
        .expect("POST sent");
    let status = response.status();
    let position = response
        .headers()
        .get("x-cloudcord-position")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.text().await.expect("a body");
    assert!(status.is_success(), "POST {url}: {status} {body}");
    (serde_json::from_str(&body).unwrap_or(Value::Null), position)
}

/// The read state of `channel` in READY `ready`: (last_message_id, mention_count).
fn read_state(ready: &Value, channel: &str) -> Option<(String, u64)> {
    ready["read_state"]["entries"]
        .as_array()
        .expect("READY's read_state entries")
        .iter()
        .find(|entry| entry["id"] == channel)
        .map(|entry| {
            (
                entry["last_message_id"].as_str().expect("an id").to_owned(),
                entry["mention_count"].as_u64().expect("a count"),
            )
        })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mention_is_unread_in_ready_listed_in_the_inbox_and_acked_through_the_stack() {
    let mut stack = Stack::start().await;
    let http = reqwest::Client::new();
    let owner = format!("Bearer {}", register(&http, &stack).await);
    let registered: Value = http
        .post(stack.api("/auth/register"))
        .json(&json!({"username": "reader", "password": "correct horse battery"}))
        .send()
        .await
        .expect("POST /auth/register")
        .json()
        .await
        .expect("the registration's JSON");
    let reader_token = registered["token"].as_str().expect("a token").to_owned();
    let reader = format!("Bearer {reader_token}");

    // The owner's guild and channel; the reader joins by invite.
    let guild = post(
        &http,
        &stack.api("/guilds"),
        &owner,
        json!({"name": "Reads"}),
    )
    .await;
    let guild_id = guild["id"].as_str().expect("id");
    let channel = post(
        &http,
        &stack.api(&format!("/guilds/{guild_id}/channels")),
        &owner,
        json!({"name": "chat", "type": 0}),
    )
    .await;
    let channel_id = channel["id"].as_str().expect("id").to_owned();
    let invite = post(
        &http,
        &stack.api(&format!("/channels/{channel_id}/invites")),
        &owner,
        json!({}),
    )
    .await;
    let code = invite["code"].as_str().expect("a code");
    let (_, joined) = write(
        &http,
        &stack.api(&format!("/invites/{code}")),
        &reader,
        json!({}),
    )
    .await;
    let me = get(&http, &stack, "/users/@me", &reader, &joined).await;
    let reader_id = me["id"].as_str().expect("id").to_owned();

    // A mention and a plain message.
    let messages = stack.api(&format!("/channels/{channel_id}/messages"));
    let (mention, _) = write(
        &http,
        &messages,
        &owner,
        json!({"content": format!("look, <@{reader_id}>")}),
    )
    .await;
    let mention_id = mention["id"].as_str().expect("id").to_owned();
    let (plain, position) = write(&http, &messages, &owner, json!({"content": "plain"})).await;
    let plain_id = plain["id"].as_str().expect("id").to_owned();

    let inbox = get(&http, &stack, "/users/@me/mentions", &reader, &position).await;
    let listed: Vec<&Value> = inbox
        .as_array()
        .expect("a list")
        .iter()
        .map(|m| &m["id"])
        .collect();
    assert_eq!(listed, [&json!(mention_id)], "{inbox}");

    let (mut session, ready) = Session::identify(&stack, &reader_token).await;
    assert_eq!(
        read_state(&ready, &channel_id),
        Some(("0".to_owned(), 1)),
        "{}",
        ready["read_state"]
    );

    // The ack: a command like any other, heard back on the reader's session.
    let (answer, _) = write(
        &http,
        &stack.api(&format!("/channels/{channel_id}/messages/{plain_id}/ack")),
        &reader,
        json!({"token": null}),
    )
    .await;
    assert_eq!(answer, json!({"token": null}));
    let ack = session.dispatch("MESSAGE_ACK").await;
    assert_eq!(ack["message_id"], json!(plain_id), "{ack}");
    let (_, ready) = Session::identify(&stack, &reader_token).await;
    assert_eq!(read_state(&ready, &channel_id), Some((plain_id, 0)));

    // A deleted message leaves the inbox.
    let response = http
        .delete(stack.api(&format!("/channels/{channel_id}/messages/{mention_id}")))
        .header("authorization", &owner)
        .send()
        .await
        .expect("DELETE sent");
    assert!(response.status().is_success(), "{}", response.status());
    let deleted = response
        .headers()
        .get("x-cloudcord-position")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let inbox = get(&http, &stack, "/users/@me/mentions", &reader, &deleted).await;
    assert_eq!(inbox, json!([]));
    stack.stop().await;
}
