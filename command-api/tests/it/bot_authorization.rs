//! Adding a bot with OAuth2's `bot` scope, over real HTTP with the real broker:
//! Discord's authorization URL leads to the web client's page, and the page's
//! `POST /api/v10/oauth2/authorize` adds the bot for someone with `MANAGE_GUILD`.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::http::{Body, World, assert_error, unique};

/// An application owned by a new user: (owner's authorization, application id, the
/// bot's authorization).
async fn application(world: &World) -> (String, String, String) {
    let owner = world.register(&unique("dev")).await;
    let (status, app) = world
        .post(
            "/api/v10/applications",
            Some(&owner),
            json!({"name": "Helper"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    let bot = format!("Bot {}", app["token"].as_str().expect("token"));
    (owner, app["id"].as_str().expect("id").to_owned(), bot)
}

/// The page's request: add application `client_id`'s bot to `guild_id`.
async fn authorize(
    world: &World,
    auth: &str,
    client_id: &str,
    scope: &str,
    body: Value,
) -> (StatusCode, Value) {
    let (status, _, body) = world
        .send(
            Method::POST,
            &format!("/api/v10/oauth2/authorize?client_id={client_id}&scope={scope}"),
            Some(auth),
            Body::Json(body),
            &[],
        )
        .await;
    (status, body)
}

/// Posts a message as `auth` in `channel_id`; the status.
async fn speak(world: &World, auth: &str, channel_id: &str) -> (StatusCode, Value) {
    world
        .post(
            &format!("/api/v10/channels/{channel_id}/messages"),
            Some(auth),
            json!({"content": "beep"}),
        )
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn discords_bot_url_leads_to_the_web_clients_page() {
    let world = World::new().await;
    let (_, app_id, _) = application(&world).await;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let open = |query: String| {
        let request = browser.get(format!("{}/oauth2/authorize?{query}", world.api.base));
        async move { request.send().await.expect("GET /oauth2/authorize") }
    };

    let page = open(format!(
        "client_id={app_id}&scope=bot&permissions=2048&guild_id=42&redirect_uri=x"
    ))
    .await;
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    let location = page.headers()["location"].to_str().expect("ASCII");
    assert_eq!(
        location,
        format!(
            "{}/oauth2/bot?client_id={app_id}&permissions=2048&guild_id=42",
            world.api.base
        )
    );

    for refused in [
        format!("client_id={app_id}&scope=bot+identify"),
        "client_id=1&scope=bot".to_owned(),
        "client_id=not-a-snowflake&scope=bot".to_owned(),
    ] {
        let page = open(refused.clone()).await;
        assert_eq!(page.status(), StatusCode::BAD_REQUEST, "{refused}");
        assert!(page.headers().get("location").is_none(), "{refused}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bot_is_added_by_someone_who_manages_the_guild_and_nobody_else() {
    let world = World::new().await;
    let (developer, app_id, bot) = application(&world).await;
    let owner = world.register(&unique("owner")).await;
    let (guild_id, channel_id) = world.guild(&owner).await;
    let mallory = world.register(&unique("mallory")).await;
    let add = |permissions: &str| json!({"guild_id": guild_id, "permissions": permissions, "authorize": true});

    // Not the guild's: the developer and a stranger learn nothing about it.
    for outsider in [&developer, &mallory] {
        let (status, body) = authorize(&world, outsider, &app_id, "bot", add("2048")).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, 50001);
    }
    let (status, body) = authorize(&world, &bot, &app_id, "bot", add("2048")).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, 20001);
    let (status, body) = authorize(&world, &owner, "1", "bot", add("2048")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, 10002);
    let (status, body) = authorize(&world, &owner, &app_id, "identify", add("2048")).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, 50035);
    assert_eq!(
        body["errors"]["scope"]["_errors"][0]["code"],
        "SCOPE_INVALID"
    );

    // Declining adds nothing.
    let (status, body) = authorize(
        &world,
        &owner,
        &app_id,
        "bot",
        json!({"guild_id": guild_id, "authorize": false}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["location"]
            .as_str()
            .expect("location")
            .ends_with("/channels/@me")
    );
    let (status, body) = speak(&world, &bot, &channel_id).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, 50001);

    // The owner adds it with SEND_MESSAGES and VIEW_CHANNEL; it can speak at once.
    let (status, body) = authorize(&world, &owner, &app_id, "bot", add("3072")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["location"],
        json!(format!("{}/channels/{guild_id}", world.api.base))
    );
    let (status, body) = speak(&world, &bot, &channel_id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Adding it again changes nothing and still answers where to go.
    let (status, body) = authorize(&world, &owner, &app_id, "bot", add("3072")).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Banned, it cannot be added back.
    let bot_id = &app_id;
    let (status, _, body) = world
        .send(
            Method::PUT,
            &format!("/api/v10/guilds/{guild_id}/bans/{bot_id}"),
            Some(&owner),
            Body::Json(json!({})),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = authorize(&world, &owner, &app_id, "bot", add("0")).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, 40007);
}
