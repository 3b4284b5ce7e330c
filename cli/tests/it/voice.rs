//! Voice through the whole stack, as the web client will do it: two users join a
//! voice channel over REST (`POST /api/v10/channels/{id}/voice`: the guild decides,
//! command-api mints the media tokens), then two headless Chromium instances send
//! their offers to the front door's `/sfu/sessions` and must each decode the other's
//! video and receive the other's audio (the SFU's own browser script,
//! `sfu/tests/browser/two_peers.mjs`).
//!
//! Needs `/usr/bin/chromium` (or `CHROMIUM`) and playwright-core (`web/node_modules`
//! or `PLAYWRIGHT_CORE`), so it is ignored by default:
//! `cargo test -p cloudcord --test it voice -- --ignored`.

use std::path::Path;

use serde_json::{Value, json};

use crate::twilight::{Stack, post, register};

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Chromium and playwright-core: `make voice-test` runs it"]
async fn two_browsers_talk_in_a_voice_channel_through_the_stack() {
    let mut stack = Stack::start().await;
    let http = reqwest::Client::new();
    let owner = format!("Bearer {}", register(&http, &stack).await);
    let guild = post(
        &http,
        &stack.api("/guilds"),
        &owner,
        json!({"name": "Voice"}),
    )
    .await;
    let guild_id = guild["id"].as_str().expect("a guild id");
    let voice = post(
        &http,
        &stack.api(&format!("/guilds/{guild_id}/channels")),
        &owner,
        json!({"name": "Lounge", "type": 2}),
    )
    .await;
    let voice_id = voice["id"].as_str().expect("a channel id");

    let guest: Value = http
        .post(stack.api("/auth/register"))
        .json(&json!({"username": "guest", "password": "correct horse battery"}))
        .send()
        .await
        .expect("registers")
        .json()
        .await
        .expect("JSON");
    let guest = format!("Bearer {}", guest["token"].as_str().expect("a token"));
    let invite = post(
        &http,
        &stack.api(&format!("/channels/{voice_id}/invites")),
        &owner,
        json!({}),
    )
    .await;
    let code = invite["code"].as_str().expect("an invite code");
    post(
        &http,
        &stack.api(&format!("/invites/{code}")),
        &guest,
        json!({}),
    )
    .await;

    let mut tokens = Vec::new();
    for who in [&owner, &guest] {
        let grant = post(
            &http,
            &stack.api(&format!("/channels/{voice_id}/voice")),
            who,
            json!({}),
        )
        .await;
        assert_eq!(grant["endpoint"], "/sfu/sessions", "{grant}");
        tokens.push(grant["token"].as_str().expect("a media token").to_owned());
    }

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sfu/tests/browser/two_peers.mjs");
    let output = tokio::process::Command::new("node")
        .arg(script)
        .arg(format!("http://{}", stack.front_door))
        .args(&tokens)
        .output()
        .await
        .expect("node runs");
    stack.stop().await;
    assert!(
        output.status.success(),
        "both browsers must receive: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
