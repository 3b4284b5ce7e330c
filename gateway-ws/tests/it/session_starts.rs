//! Bots' session start limit: an Identify past it gets Invalid Session (`d: false`),
//! counted in the gateway's own PostgreSQL schema; people are never limited.

use std::num::NonZeroU16;
use std::sync::Arc;

use cloudcord_gateway_ws::session_starts::{Admission, SessionStarts};
use cloudcord_gateway_ws::settings::SessionSettings;
use cloudcord_gateway_ws::store::GatewayStore;
use cloudcord_runtime::postgres::quote_identifier;
use serde_json::{Value, json};
use tokio::sync::Barrier;

use crate::support::{ALICE, BOT, Client, Ended, World};

/// Invalid Session, identify anew later.
fn invalid_session() -> Value {
    json!({ "op": 9, "d": false, "s": null, "t": null })
}

fn limits(per_day: u32, max_concurrency: u16) -> SessionSettings {
    SessionSettings {
        session_starts_per_day: per_day,
        max_concurrency: NonZeroU16::new(max_concurrency).expect("non-zero"),
        ..SessionSettings::default()
    }
}

/// Connects and identifies with `token`, as shard `[id, count]` if given (no
/// intents: READY is all that follows); returns the client and the gateway's
/// answer.
async fn identify(world: &World, token: &str, shard: Option<[u64; 2]>) -> (Client, Value) {
    let mut client = world.connect("v=10&encoding=json").await;
    client.hello().await;
    let mut d = json!({
        "token": token,
        "intents": 0,
        "properties": { "os": "linux", "browser": "test", "device": "test" },
    });
    if let Some(shard) = shard {
        d["shard"] = json!(shard);
    }
    client.send(json!({ "op": 2, "d": d })).await;
    let answer = client.next().await.expect("an answer to Identify");
    (client, answer)
}

fn is_ready(answer: &Value) -> bool {
    answer["op"] == 0 && answer["t"] == "READY"
}

#[tokio::test]
async fn a_second_identify_within_5_s_in_a_bucket_is_invalid_session_while_another_bucket_starts() {
    let world = World::new(limits(100, 2)).await;
    let token = world.bot_token(BOT);
    let (_first, answer) = identify(&world, &token, Some([0, 2])).await;
    assert!(is_ready(&answer), "{answer}");
    let (mut refused, answer) = identify(&world, &token, Some([0, 2])).await;
    assert_eq!(answer, invalid_session());
    // Shard 1 is in the other bucket.
    let (_second, answer) = identify(&world, &token, Some([1, 2])).await;
    assert!(is_ready(&answer), "{answer}");
    // The refused connection stays open for a later Identify.
    refused.send(json!({ "op": 1, "d": null })).await;
    refused.expect_op(11).await;
}

#[tokio::test]
async fn a_bot_that_used_up_its_days_session_starts_gets_invalid_session() {
    let world = World::new(limits(2, 3)).await;
    let token = world.bot_token(BOT);
    for shard in [0, 1] {
        let (_client, answer) = identify(&world, &token, Some([shard, 3])).await;
        assert!(is_ready(&answer), "shard {shard}: {answer}");
    }
    // A bucket of its own, but the day's two starts are spent.
    let (_client, answer) = identify(&world, &token, Some([2, 3])).await;
    assert_eq!(answer, invalid_session());
}

#[tokio::test]
async fn people_are_never_limited() {
    // Not a single start a day: bots cannot identify at all.
    let world = World::new(limits(0, 1)).await;
    let token = world.token(ALICE);
    for _ in 0..3 {
        let (_client, answer) = identify(&world, &token, None).await;
        assert!(is_ready(&answer), "{answer}");
    }
    let (_client, answer) = identify(&world, &world.bot_token(BOT), None).await;
    assert_eq!(answer, invalid_session());
}

#[tokio::test]
async fn a_bots_identify_the_store_cannot_count_closes_with_4000() {
    let world = World::new(SessionSettings::default()).await;
    let store = GatewayStore::connect_lazy(&world.postgres, &world.store_schema).expect("pool");
    let drop_table = format!(
        "DROP TABLE {}.session_starts",
        quote_identifier(&world.store_schema)
    );
    sqlx::query(sqlx::AssertSqlSafe(drop_table))
        .execute(store.pool())
        .await
        .expect("the table is dropped");
    let mut client = world.connect("v=10&encoding=json").await;
    client.hello().await;
    client.identify(&world.bot_token(BOT), 0).await;
    assert_eq!(client.ended().await, Ended::Closed(4000));
    // People do not need the table.
    let (_client, answer) = identify(&world, &world.token(ALICE), None).await;
    assert!(is_ready(&answer), "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_processes_starting_a_bot_at_once_admit_no_more_than_its_limit() {
    const ATTEMPTS: usize = 16;
    // One start a day: whatever the timing, exactly one attempt may pass.
    let world = World::new(limits(1, 1)).await;
    // Two processes: two pools over the same schema, each with its connections
    // open already, so the attempts below overlap in the database.
    let mut processes = Vec::new();
    for _ in 0..2 {
        let store = GatewayStore::connect_lazy(&world.postgres, &world.store_schema).expect("pool");
        let mut connections = Vec::new();
        for _ in 0..ATTEMPTS / 2 {
            connections.push(store.pool().acquire().await.expect("a connection"));
        }
        drop(connections);
        processes.push(SessionStarts::new(&store, world.sessions.start_limits()));
    }
    let go = Arc::new(Barrier::new(ATTEMPTS));
    let attempts: Vec<_> = (0..ATTEMPTS)
        .map(|n| {
            let (starts, go) = (processes[n % 2].clone(), Arc::clone(&go));
            tokio::spawn(async move {
                go.wait().await;
                starts.start(BOT, None).await
            })
        })
        .collect();
    let mut admissions = Vec::new();
    for attempt in attempts {
        admissions.push(
            attempt
                .await
                .expect("the attempt ran")
                .expect("the store answers"),
        );
    }
    let started = admissions
        .iter()
        .filter(|admission| **admission == Admission::Started)
        .count();
    assert_eq!(started, 1, "{admissions:?}");
}
