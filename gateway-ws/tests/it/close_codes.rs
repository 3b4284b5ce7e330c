//! Bad input gets its documented close code, and other sessions carry on.

use cloudcord_gateway_ws::protocol::intents::Intents;
use cloudcord_gateway_ws::settings::SessionSettings;
use serde_json::json;

use cloudcord_projectors::record::DomainEvent;
use cloudcord_schemas::user::{BotTokenReset, UserEvent};

use crate::support::{ALICE, BOT, Ended, STRANGER, World, user_ref};

const INTENTS: u64 = 513;

/// Connects, reads Hello, sends `payloads` and returns how the connection ended.
async fn closed_by(world: &World, payloads: Vec<String>) -> Ended {
    let mut client = world.connect("v=10&encoding=json").await;
    client.hello().await;
    for payload in payloads {
        client.send_text(payload).await;
    }
    client.ended().await
}

fn identify(token: &str, extra: serde_json::Value) -> String {
    let mut d = json!({
        "token": token,
        "intents": INTENTS,
        "properties": { "os": "linux", "browser": "test", "device": "test" },
    });
    if let (Some(d), Some(extra)) = (d.as_object_mut(), extra.as_object()) {
        d.extend(extra.clone());
    }
    json!({ "op": 2, "d": d }).to_string()
}

#[tokio::test]
async fn invalid_json_closes_with_4002() {
    let world = World::new(SessionSettings::default()).await;
    assert_eq!(
        closed_by(&world, vec!["{not json".to_owned()]).await,
        Ended::Closed(4002)
    );
}

#[tokio::test]
async fn an_unknown_opcode_closes_with_4001() {
    let world = World::new(SessionSettings::default()).await;
    assert_eq!(
        closed_by(&world, vec![r#"{"op":42,"d":null}"#.to_owned()]).await,
        Ended::Closed(4001)
    );
}

#[tokio::test]
async fn a_payload_before_identify_closes_with_4003() {
    let world = World::new(SessionSettings::default()).await;
    let presence = json!({ "op": 3, "d": { "since": null, "activities": [], "status": "online", "afk": false } });
    assert_eq!(
        closed_by(&world, vec![presence.to_string()]).await,
        Ended::Closed(4003)
    );
}

#[tokio::test]
async fn a_bad_token_closes_with_4004() {
    let world = World::new(SessionSettings::default()).await;
    assert_eq!(
        closed_by(&world, vec![identify("not-a-token", json!({}))]).await,
        Ended::Closed(4004)
    );
    // A user token presented as a bot token is no better.
    let bot_prefixed = format!("Bot {}", world.token(ALICE));
    assert_eq!(
        closed_by(&world, vec![identify(&bot_prefixed, json!({}))]).await,
        Ended::Closed(4004)
    );
}

#[tokio::test]
async fn a_bot_token_its_owner_reset_closes_with_4004() {
    let mut world = World::new(SessionSettings::default()).await;
    let old = world.bot_token(BOT);
    let (client, _) = world.identified(&old, INTENTS).await;
    drop(client);
    world
        .apply(vec![(
            user_ref(BOT),
            DomainEvent::User(UserEvent::BotTokenReset(BotTokenReset { token_id: 2 })),
        )])
        .await;
    assert_eq!(
        closed_by(&world, vec![identify(&old, json!({}))]).await,
        Ended::Closed(4004)
    );
}

#[tokio::test]
async fn a_client_close_is_answered_with_a_close_frame() {
    let world = World::new(SessionSettings::default()).await;
    let (client, _) = world.identified(&world.token(ALICE), INTENTS).await;
    assert!(
        client.close_and_await_echo(4900).await,
        "the gateway echoes the client's close frame"
    );
}

#[tokio::test]
async fn a_second_identify_closes_with_4005() {
    let world = World::new(SessionSettings::default()).await;
    let (mut client, _) = world.identified(&world.token(ALICE), INTENTS).await;
    client
        .send_text(identify(&world.token(ALICE), json!({})))
        .await;
    assert_eq!(client.ended().await, Ended::Closed(4005));
}

#[tokio::test]
async fn a_payload_over_4096_bytes_closes_with_4002() {
    let world = World::new(SessionSettings::default()).await;
    let big = identify(&world.token(ALICE), json!({ "pad": "x".repeat(4096) }));
    assert_eq!(closed_by(&world, vec![big]).await, Ended::Closed(4002));
    // Far over: refused while being read, same code.
    let huge = identify(&world.token(ALICE), json!({ "pad": "x".repeat(100_000) }));
    assert_eq!(closed_by(&world, vec![huge]).await, Ended::Closed(4002));
}

#[tokio::test]
async fn a_flood_closes_with_4008_and_other_sessions_carry_on() {
    let world = World::new(SessionSettings::default()).await;
    let (mut bystander, _) = world.identified(&world.token(STRANGER), INTENTS).await;
    let heartbeat = json!({ "op": 1, "d": null }).to_string();
    assert_eq!(
        closed_by(&world, vec![heartbeat; 121]).await,
        Ended::Closed(4008)
    );
    bystander.send(json!({ "op": 1, "d": 1 })).await;
    bystander.expect_op(11).await;
}

#[tokio::test]
async fn a_version_other_than_10_closes_with_4012() {
    let world = World::new(SessionSettings::default()).await;
    let mut client = world.connect("v=9&encoding=json").await;
    assert_eq!(client.ended().await, Ended::Closed(4012));
}

#[tokio::test]
async fn undefined_intents_close_with_4013() {
    let world = World::new(SessionSettings::default()).await;
    let payload = identify(&world.token(ALICE), json!({ "intents": 1u64 << 17 }));
    assert_eq!(closed_by(&world, vec![payload]).await, Ended::Closed(4013));
}

#[tokio::test]
async fn a_bot_asking_for_a_privileged_intent_it_is_not_allowed_closes_with_4014() {
    let world = World::new(SessionSettings {
        allowed_privileged_intents: Intents::GUILD_MEMBERS,
        ..SessionSettings::default()
    })
    .await;
    let content = INTENTS | Intents::MESSAGE_CONTENT.bits();
    let payload = identify(&world.bot_token(BOT), json!({ "intents": content }));
    assert_eq!(closed_by(&world, vec![payload]).await, Ended::Closed(4014));
    let members = INTENTS | Intents::GUILD_MEMBERS.bits();
    let (_client, ready) = world.identified(&world.bot_token(BOT), members).await;
    assert_eq!(ready["user"]["id"], BOT.to_string());
}

#[tokio::test]
async fn an_invalid_shard_closes_with_4010() {
    let world = World::new(SessionSettings::default()).await;
    let payload = identify(&world.bot_token(BOT), json!({ "shard": [2, 2] }));
    assert_eq!(closed_by(&world, vec![payload]).await, Ended::Closed(4010));
}

#[tokio::test]
async fn a_bot_in_too_many_guilds_without_sharding_closes_with_4011() {
    let world = World::new(SessionSettings {
        max_guilds_per_session: 0,
        ..SessionSettings::default()
    })
    .await;
    let unsharded = identify(&world.bot_token(BOT), json!({}));
    assert_eq!(
        closed_by(&world, vec![unsharded]).await,
        Ended::Closed(4011)
    );
    // Sharded, it may connect.
    let sharded = identify(&world.bot_token(BOT), json!({ "shard": [0, 1] }));
    let mut client = world.connect("v=10&encoding=json").await;
    client.hello().await;
    client.send_text(sharded).await;
    client.ready(INTENTS).await;
}
