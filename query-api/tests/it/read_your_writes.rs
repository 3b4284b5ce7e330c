//! Read-your-writes: a read carrying `X-CloudCord-Position` waits until the
//! projectors have reached it — at once when they have, up to the configured time
//! otherwise, then 503 with `Retry-After`.

use std::time::{Duration, Instant};

use cloudcord_schemas::guild::GuildEvent;
use reqwest::StatusCode;

use crate::support::{
    BOB, GENERAL, GENERAL_MESSAGES, GUILD, Recorded, World, assert_error, guild_event, guild_ref,
    message_id, scenario, sent,
};

const HEADER: &str = "x-cloudcord-position";

/// A world (read-your-writes timeout `timeout_ms`) whose MongoDB lacks the newest
/// message PostgreSQL has, and the batch that brings MongoDB up to date.
async fn mongo_one_message_behind(timeout_ms: u64) -> (World, Recorded) {
    let mut world = World::empty(timeout_ms).await;
    world.apply(scenario()).await;
    let batch = world
        .apply_to_postgres_only(vec![guild_event(
            GUILD,
            GuildEvent::MessageSent(sent(GENERAL, GENERAL_MESSAGES + 1, BOB)),
        )])
        .await;
    (world, batch)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reached_position_answers_at_once() {
    let world = World::new().await;
    let position = format!("guild:{GUILD}:{}", world.seq(guild_ref(GUILD)));
    let token = world.token(BOB);
    for path in [
        format!("/channels/{GENERAL}"),
        format!("/channels/{GENERAL}/messages?limit=1"),
    ] {
        let started = Instant::now();
        let (status, _, body) = world
            .get_with(&path, Some(&token), &[(HEADER, &position)])
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreached_position_waits_then_answers_503_with_retry_after() {
    let mut world = World::empty(400).await;
    world.apply(scenario()).await;
    let ahead = format!("guild:{GUILD}:{}", world.seq(guild_ref(GUILD)) + 1);
    let started = Instant::now();
    let (status, headers, body) = world
        .get_with(
            &format!("/channels/{GENERAL}/messages"),
            Some(&world.token(BOB)),
            &[(HEADER, &ahead)],
        )
        .await;
    assert_error(status, &body, StatusCode::SERVICE_UNAVAILABLE, 0);
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(
        headers.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("1")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_waiting_for_a_write_answers_once_the_write_is_projected() {
    let mut world = World::empty(5_000).await;
    world.apply(scenario()).await;
    let next = world.seq(guild_ref(GUILD)) + 1;
    let url = format!(
        "http://{}/api/v10/channels/{GENERAL}/messages?limit=1",
        world.addr
    );
    let token = world.token(BOB);
    let read = async {
        reqwest::Client::new()
            .get(url)
            .header("authorization", token)
            .header(HEADER, format!("guild:{GUILD}:{next}"))
            .send()
            .await
            .expect("answers")
    };
    let write = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        world
            .apply(vec![guild_event(
                GUILD,
                GuildEvent::MessageSent(sent(GENERAL, GENERAL_MESSAGES + 1, BOB)),
            )])
            .await;
    };
    let (response, ()) = tokio::join!(read, write);
    assert_eq!(response.status(), StatusCode::OK);
    let page: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(
        page[0]["id"],
        message_id(GENERAL, GENERAL_MESSAGES + 1).to_string()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn document_routes_wait_for_mongo_too() {
    let (world, _) = mongo_one_message_behind(300).await;
    let position = format!("guild:{GUILD}:{}", world.seq(guild_ref(GUILD)));
    let token = world.token(BOB);
    let (status, _, body) = world
        .get_with(
            &format!("/channels/{GENERAL}"),
            Some(&token),
            &[(HEADER, &position)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "PostgreSQL has it: {body}");
    let (status, _, body) = world
        .get_with(
            &format!("/channels/{GENERAL}/messages"),
            Some(&token),
            &[(HEADER, &position)],
        )
        .await;
    assert_error(status, &body, StatusCode::SERVICE_UNAVAILABLE, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_position_is_50035() {
    let world = World::new().await;
    for bad in ["guild:1", "guild:01:1", "team:1:1", "guild:1:1,,"] {
        let (status, _, body) = world
            .get_with(
                &format!("/channels/{GENERAL}"),
                Some(&world.token(BOB)),
                &[(HEADER, bad)],
            )
            .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, 50035);
        assert!(body["errors"]["X-CloudCord-Position"].is_object(), "{body}");
    }
}

/// Without any position named, a message read waits until MongoDB shows what
/// PostgreSQL shows of the channel's guild: the gateway dispatches what PostgreSQL
/// has, so a client reading history after a new session must find it there.
#[tokio::test(flavor = "multi_thread")]
async fn message_reads_wait_until_mongo_shows_what_postgres_shows() {
    let (mut world, batch) = mongo_one_message_behind(5_000).await;
    let next = message_id(GENERAL, GENERAL_MESSAGES + 1).to_string();
    let token = world.token(BOB);
    let url = format!(
        "http://{}/api/v10/channels/{GENERAL}/messages?limit=1",
        world.addr
    );
    let started = Instant::now();
    let read = async {
        reqwest::Client::new()
            .get(url)
            .header("authorization", &token)
            .send()
            .await
            .expect("answers")
    };
    let catch_up = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        world.catch_up_mongo(batch).await;
    };
    let (response, ()) = tokio::join!(read, catch_up);
    assert_eq!(response.status(), StatusCode::OK);
    let page: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(page[0]["id"], next.as_str(), "{page}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    let (status, _, body) = world
        .get_with(
            &format!("/channels/{GENERAL}/messages/{next}"),
            Some(&token),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn message_reads_answer_503_while_mongo_trails_postgres() {
    let (world, _) = mongo_one_message_behind(300).await;
    let token = world.token(BOB);
    for path in [
        format!("/channels/{GENERAL}/messages"),
        format!("/channels/{GENERAL}/pins"),
    ] {
        let (status, headers, body) = world.get_with(&path, Some(&token), &[]).await;
        assert_error(status, &body, StatusCode::SERVICE_UNAVAILABLE, 0);
        assert!(headers.contains_key("retry-after"), "{path}");
    }
    let (status, _, body) = world
        .get_with(&format!("/channels/{GENERAL}"), Some(&token), &[])
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "PostgreSQL-only routes do not wait: {body}"
    );
}
