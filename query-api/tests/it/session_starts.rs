//! `GET /gateway/bot`'s `session_start_limit` from the starts the gateway records,
//! written through the gateway's own store into the world's gateway schema.

use std::num::NonZeroU16;

use cloudcord_gateway_ws::protocol::payload::Shard;
use cloudcord_gateway_ws::session_starts::{Admission, SessionStarts, StartLimits};
use cloudcord_gateway_ws::store::GatewayStore;
use cloudcord_query_api::read_models::session_starts::SessionStartSettings;
use cloudcord_runtime::postgres::quote_identifier;
use reqwest::StatusCode;
use serde_json::Value;

use crate::openapi::assert_route_conforms;
use crate::support::{BOT, World, assert_error};

/// A day in milliseconds.
const DAY_MS: u64 = 86_400_000;

/// Five starts a day, two buckets.
fn settings() -> SessionStartSettings {
    SessionStartSettings {
        session_starts_per_day: 5,
        max_concurrency: NonZeroU16::new(2).expect("non-zero"),
        ..SessionStartSettings::default()
    }
}

/// The world's gateway store, migrated as the gateway does at start-up.
async fn gateway_store(world: &World) -> GatewayStore {
    let store = GatewayStore::connect_lazy(world.postgres(), &world.session_starts.store_schema)
        .expect("pool");
    store.migrate().await.expect("the gateway's tables");
    store
}

async fn session_start_limit(world: &World) -> Value {
    let (status, _, body) = world
        .get_with("/gateway/bot", Some(&world.bot_token(BOT)), &[])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_route_conforms("/gateway/bot", &body);
    body["session_start_limit"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn remaining_and_reset_after_follow_the_starts_the_gateway_recorded() {
    let world = World::with_session_starts(settings()).await;
    let store = gateway_store(&world).await;
    let before = session_start_limit(&world).await;
    assert_eq!(
        before,
        serde_json::json!({ "total": 5, "remaining": 5, "reset_after": 0, "max_concurrency": 2 })
    );

    let starts = SessionStarts::new(
        &store,
        StartLimits {
            per_day: 5,
            max_concurrency: NonZeroU16::new(2).expect("non-zero"),
        },
    );
    for id in [0, 1] {
        let shard = Shard { id, count: 2 };
        assert_eq!(
            starts.start(BOT, Some(shard)).await.expect("recorded"),
            Admission::Started
        );
    }
    let after = session_start_limit(&world).await;
    assert_eq!(after["total"], 5);
    assert_eq!(after["remaining"], 3);
    assert_eq!(after["max_concurrency"], 2);
    // Until the first start is a day old: just under a day from now.
    let reset_after = after["reset_after"].as_u64().expect("milliseconds");
    assert!(
        (DAY_MS - 60_000..=DAY_MS).contains(&reset_after),
        "{reset_after}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn starts_that_cannot_be_read_are_a_discord_shaped_500() {
    let world = World::with_session_starts(settings()).await;
    let store = gateway_store(&world).await;
    // A table query-api cannot read (not one that does not exist yet).
    let schema = quote_identifier(&world.session_starts.store_schema);
    for statement in [
        format!("DROP TABLE {schema}.session_starts"),
        format!("CREATE TABLE {schema}.session_starts (user_id text)"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(store.pool())
            .await
            .expect("the table is replaced");
    }
    let (status, _, body) = world
        .get_with("/gateway/bot", Some(&world.bot_token(BOT)), &[])
        .await;
    assert_error(status, &body, StatusCode::INTERNAL_SERVER_ERROR, 0);
}
