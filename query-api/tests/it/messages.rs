//! Message and member pagination as Discord documents it: `before`, `after`,
//! `around` (centred, the anchor included), `limit` 1–100 with a default of 50 for
//! messages; `after` and `limit` 1–1000 with a default of 1 for members.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{
    ALICE, BOB, BOT, GENERAL, GENERAL_MESSAGES, GUILD, OWNER, World, assert_error, message_id,
};

/// The message numbers (`n` of [`message_id`]) of a page, in answer order.
fn numbers(page: &Value) -> Vec<u64> {
    page.as_array()
        .expect("a page is an array")
        .iter()
        .map(|m| {
            m["id"]
                .as_str()
                .and_then(|id| id.parse::<u64>().ok())
                .expect("id")
                - GENERAL.get() * 1000
        })
        .collect()
}

async fn page(world: &World, query: &str) -> Vec<u64> {
    let (status, body) = world
        .get(&format!("/channels/{GENERAL}/messages{query}"), BOB)
        .await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    numbers(&body)
}

#[tokio::test(flavor = "multi_thread")]
async fn message_pages_follow_discords_before_after_around_and_limit() {
    let world = World::new().await;
    let at = |n| message_id(GENERAL, n);

    // No anchor: the 50 newest, newest first.
    let newest = page(&world, "").await;
    assert_eq!(newest.len(), 50);
    assert_eq!(newest.first(), Some(&GENERAL_MESSAGES));
    assert_eq!(newest.last(), Some(&(GENERAL_MESSAGES - 49)));

    // before: the newest older ones; after: the ones right after, newest first.
    assert_eq!(
        page(&world, &format!("?before={}&limit=3", at(50))).await,
        [49, 48, 47]
    );
    assert_eq!(
        page(&world, &format!("?after={}&limit=3", at(50))).await,
        [53, 52, 51]
    );
    assert_eq!(
        page(&world, &format!("?after={}", at(110))).await,
        (111..=120).rev().collect::<Vec<_>>()
    );
    assert!(page(&world, &format!("?before={}", at(1))).await.is_empty());

    // around: centred on the anchor, which is included.
    assert_eq!(
        page(&world, &format!("?around={}&limit=5", at(50))).await,
        [52, 51, 50, 49, 48]
    );
    assert_eq!(
        page(&world, &format!("?around={}&limit=1", at(50))).await,
        [50]
    );
    let centred = page(&world, &format!("?around={}", at(60))).await;
    assert_eq!(
        centred,
        (36..=85).rev().collect::<Vec<_>>(),
        "25 older with it, 25 newer"
    );
    // Near the end only what exists on that side.
    assert_eq!(
        page(&world, &format!("?around={}&limit=6", at(119))).await,
        [120, 119, 118, 117]
    );

    // The largest page.
    assert_eq!(page(&world, "?limit=100").await.len(), 100);
}

#[tokio::test(flavor = "multi_thread")]
async fn paging_after_from_zero_reads_every_message_once_in_order() {
    let world = World::new().await;
    let mut seen: Vec<u64> = Vec::new();
    let mut cursor = 0;
    loop {
        let answer = page(&world, &format!("?after={cursor}&limit=100")).await;
        let Some(&newest) = answer.first() else { break };
        seen.extend(answer.iter().rev());
        cursor = message_id(GENERAL, newest).get();
    }
    assert_eq!(seen, (1..=GENERAL_MESSAGES).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_limit_outside_1_to_100_or_two_anchors_is_refused_with_50035() {
    let world = World::new().await;
    for (query, field) in [
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?limit=-1", "limit"),
        ("?limit=fifty", "limit"),
        ("?before=abc", "before"),
        ("?around=-5", "around"),
        ("?before=10&after=5", "after"),
    ] {
        let (status, body) = world
            .get(&format!("/channels/{GENERAL}/messages{query}"), BOB)
            .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, 50035);
        assert!(
            body["errors"][field]["_errors"][0]["code"].is_string(),
            "{query}: {body}"
        );
    }
    // 50035 comes before any data, even for a caller who cannot see the channel.
    let (status, body) = world
        .get(
            &format!("/channels/{GENERAL}/messages?limit=0"),
            crate::support::EVE,
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, 50035);
}

#[tokio::test(flavor = "multi_thread")]
async fn members_page_by_user_id_with_after_and_limit() {
    let world = World::new().await;
    let ids = |body: &Value| -> Vec<String> {
        body.as_array()
            .expect("members")
            .iter()
            .map(|m| m["user"]["id"].as_str().expect("id").to_owned())
            .collect()
    };
    let path = format!("/guilds/{GUILD}/members");
    let (status, first) = world.get(&path, BOB).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(ids(&first), [OWNER.to_string()], "the default limit is 1");
    crate::openapi::assert_route_conforms("/guilds/{guild_id}/members", &first);

    // Every member (the banned one is gone), by ascending id.
    let (_, all) = world.get(&format!("{path}?limit=1000"), BOB).await;
    assert_eq!(ids(&all), [OWNER, ALICE, BOB, BOT].map(|u| u.to_string()));
    let (_, next) = world
        .get(&format!("{path}?after={ALICE}&limit=2"), BOB)
        .await;
    assert_eq!(ids(&next), [BOB, BOT].map(|u| u.to_string()));
    let (_, none) = world.get(&format!("{path}?after={BOT}&limit=2"), BOB).await;
    assert_eq!(ids(&none), Vec::<String>::new());

    for query in ["?limit=0", "?limit=1001", "?after=me"] {
        let (status, body) = world.get(&format!("{path}{query}"), BOB).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, 50035);
    }
}
