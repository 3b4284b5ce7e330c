//! Request Guild Members (op 8) answered with GUILD_MEMBERS_CHUNK from memory.

use cloudcord_gateway_ws::settings::SessionSettings;
use serde_json::json;

use crate::support::{ALICE, BOT, GUILD, OWNER, World};

/// GUILDS | GUILD_MEMBERS | GUILD_MESSAGES.
const MEMBERS: u64 = 1 | 2 | 512;

#[tokio::test]
async fn a_member_request_is_answered_with_chunks() {
    let world = World::new(SessionSettings::default()).await;
    let (mut owner, _) = world.identified(&world.token(OWNER), MEMBERS).await;
    owner
        .send(json!({ "op": 8, "d": { "guild_id": GUILD.to_string(), "query": "", "limit": 0, "nonce": "all" } }))
        .await;
    let chunk = owner.dispatch("GUILD_MEMBERS_CHUNK").await;
    assert_eq!(chunk["guild_id"], GUILD.to_string());
    assert_eq!(chunk["nonce"], "all");
    assert_eq!(
        (chunk["chunk_index"].as_u64(), chunk["chunk_count"].as_u64()),
        (Some(0), Some(1))
    );
    let ids: Vec<&str> = chunk["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|member| member["user"]["id"].as_str())
        .collect();
    assert_eq!(ids, [OWNER.to_string(), ALICE.to_string(), BOT.to_string()]);

    owner
        .send(json!({ "op": 8, "d": { "guild_id": GUILD.to_string(), "user_ids": [ALICE.to_string(), "999"] } }))
        .await;
    let chunk = owner.dispatch("GUILD_MEMBERS_CHUNK").await;
    assert_eq!(chunk["members"][0]["user"]["id"], ALICE.to_string());
    assert_eq!(chunk["not_found"], json!(["999"]));
}

#[tokio::test]
async fn the_whole_member_list_needs_the_guild_members_intent() {
    let world = World::new(SessionSettings::default()).await;
    let (mut owner, _) = world.identified(&world.token(OWNER), 513).await;
    owner
        .send(json!({ "op": 8, "d": { "guild_id": GUILD.to_string(), "query": "", "limit": 0 } }))
        .await;
    // No chunk comes: the next payload answers the heartbeat.
    owner.send(json!({ "op": 1, "d": null })).await;
    owner.expect_op(11).await;
    // A prefix query is fine without it.
    owner
        .send(
            json!({ "op": 8, "d": { "guild_id": GUILD.to_string(), "query": "user", "limit": 1 } }),
        )
        .await;
    let chunk = owner.dispatch("GUILD_MEMBERS_CHUNK").await;
    assert_eq!(chunk["members"].as_array().map(Vec::len), Some(1));
}
