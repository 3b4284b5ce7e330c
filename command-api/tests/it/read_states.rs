//! Read states and notification settings on the write side: acks go to the
//! channel's aggregate (guild or DM) and answer Discord's `{"token": null}`; user
//! guild settings go to the user's aggregate and answer Discord's settings object.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::http::{Body, World, assert_error, unique};

#[tokio::test(flavor = "multi_thread")]
async fn acks_answer_a_null_token_in_guilds_and_dms_and_refuse_what_the_caller_cannot_see() {
    let world = World::new().await;
    let owner = world.register(&unique("owner")).await;
    let stranger_name = unique("stranger");
    let stranger = world.register(&stranger_name).await;
    let (_, channel_id) = world.guild(&owner).await;
    let (status, message) = world
        .post(
            &format!("/api/v10/channels/{channel_id}/messages"),
            Some(&owner),
            json!({"content": "read me"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{message}");
    let message_id = message["id"].as_str().expect("id");
    let ack = format!("/api/v10/channels/{channel_id}/messages/{message_id}/ack");

    let (status, body) = world
        .post(
            &ack,
            Some(&owner),
            json!({"token": null, "manual": true, "mention_count": 0}),
        )
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"token": null})));
    // Discord's clients sometimes send no body at all.
    let (status, body) = world
        .call(Method::POST, &ack, Some(&owner), Body::None, &[])
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"token": null})));

    let (status, body) = world.post(&ack, Some(&stranger), json!({})).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, 50001);
    let unknown = format!("/api/v10/channels/{channel_id}/messages/1/ack");
    let (status, body) = world.post(&unknown, Some(&owner), json!({})).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, 10008);

    // A DM: either recipient acks.
    let stranger_id = world.user_id(&stranger_name).await;
    let (status, dm) = world
        .post(
            "/api/v10/users/@me/channels",
            Some(&owner),
            json!({"recipient_id": stranger_id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{dm}");
    let dm_id = dm["id"].as_str().expect("dm id");
    let (_, dm_message) = world
        .post(
            &format!("/api/v10/channels/{dm_id}/messages"),
            Some(&owner),
            json!({"content": "psst"}),
        )
        .await;
    let dm_message_id = dm_message["id"].as_str().expect("id");
    let (status, body) = world
        .post(
            &format!("/api/v10/channels/{dm_id}/messages/{dm_message_id}/ack"),
            Some(&stranger),
            json!({"token": null}),
        )
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"token": null})));
}

#[tokio::test(flavor = "multi_thread")]
async fn guild_settings_merge_answer_discords_object_and_refuse_other_guilds_and_levels() {
    let world = World::new().await;
    let owner = world.register(&unique("owner")).await;
    let stranger = world.register(&unique("stranger")).await;
    let (guild_id, channel_id) = world.guild(&owner).await;
    let path = format!("/api/v10/users/@me/guilds/{guild_id}/settings");
    let patch = |auth: &str, body: serde_json::Value| {
        let auth = auth.to_owned();
        let path = path.clone();
        let world = &world;
        async move {
            world
                .call(Method::PATCH, &path, Some(&auth), Body::Json(body), &[])
                .await
        }
    };

    let (status, settings) = patch(
        &owner,
        json!({
            "message_notifications": 1,
            "suppress_everyone": true,
            "channel_overrides": {
                channel_id.clone(): {
                    "muted": true,
                    "mute_config": {"end_time": "2030-01-01T00:00:00+00:00", "selected_time_window": 3600}
                }
            }
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{settings}");
    assert_eq!(settings["guild_id"], json!(guild_id));
    assert_eq!(settings["message_notifications"], json!(1));
    assert_eq!(settings["suppress_everyone"], json!(true));
    assert_eq!(settings["muted"], json!(false));
    assert_eq!(
        settings["channel_overrides"],
        json!([{
            "channel_id": channel_id,
            "message_notifications": 3,
            "muted": true,
            "mute_config": {"end_time": "2030-01-01T00:00:00.000000+00:00", "selected_time_window": 3600},
            "collapsed": false
        }])
    );

    // Absent fields keep their value.
    let (status, settings) = patch(&owner, json!({"muted": true})).await;
    assert_eq!(status, StatusCode::OK, "{settings}");
    assert_eq!(settings["message_notifications"], json!(1));
    assert_eq!(settings["muted"], json!(true));
    assert_eq!(
        settings["channel_overrides"].as_array().map(Vec::len),
        Some(1)
    );

    // A channel created a moment ago is found (the lookup syncs on a miss).
    let (status, fresh) = world
        .post(
            &format!("/api/v10/guilds/{guild_id}/channels"),
            Some(&owner),
            json!({"name": "fresh", "type": 0}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{fresh}");
    let fresh_id = fresh["id"].as_str().expect("id").to_owned();
    let (status, settings) = patch(
        &owner,
        json!({"channel_overrides": {fresh_id.clone(): {"message_notifications": 2}}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{settings}");
    assert_eq!(
        settings["channel_overrides"].as_array().map(Vec::len),
        Some(2)
    );

    let too_many: serde_json::Map<String, serde_json::Value> = (1..=501)
        .map(|n| (n.to_string(), json!({"muted": true})))
        .collect();
    let (status, body) = patch(&owner, json!({"channel_overrides": too_many})).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, 50035);
    let (status, body) = patch(&owner, json!({"message_notifications": 7})).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, 50035);
    assert!(
        body["errors"]["message_notifications"].is_object(),
        "{body}"
    );
    let (status, body) = patch(&owner, json!({"channel_overrides": {"1": {"muted": true}}})).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, 50035);
    let (status, body) = patch(&stranger, json!({"muted": true})).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, 10004);
}
