//! Bad input and missing rights get Discord's status and code, never data: unknown
//! and malformed ids, another guild's channel, a channel hidden by overwrites,
//! missing `READ_MESSAGE_HISTORY`, missing guild permissions, and credentials.

use cloudcord_runtime::auth::{AuthConfig, NewAccessToken, SigningKey, TokenIssuer, TokenKind};
use reqwest::StatusCode;

use cloudcord_projectors::record::DomainEvent;
use cloudcord_schemas::user::{BotTokenReset, UserEvent};

use crate::support::{
    ALICE, ARCHIVE, BOB, BOT, EVE, GENERAL, GUILD, OTHER_CHANNEL, OTHER_GUILD, OWNER, SECRET,
    World, assert_error, message_id, user_ref,
};

#[tokio::test(flavor = "multi_thread")]
async fn a_channel_hidden_by_an_overwrite_is_missing_access_and_unlisted() {
    let world = World::new().await;
    let hidden_message = message_id(SECRET, 1);
    for path in [
        format!("/channels/{SECRET}"),
        format!("/channels/{SECRET}/messages"),
        format!("/channels/{SECRET}/messages/{hidden_message}"),
        format!("/channels/{SECRET}/pins"),
        format!("/channels/{SECRET}/messages/{hidden_message}/reactions/%F0%9F%94%A5"),
    ] {
        let (status, body) = world.get(&path, BOB).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, 50001);
    }
    let (_, channels) = world.get(&format!("/guilds/{GUILD}/channels"), BOB).await;
    let listed: Vec<&str> = channels
        .as_array()
        .expect("channels")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert!(!listed.contains(&SECRET.to_string().as_str()), "{channels}");
    assert!(listed.contains(&GENERAL.to_string().as_str()));
    // The role the overwrite allows sees it, and so does the owner.
    for user in [ALICE, OWNER] {
        let (status, body) = world
            .get(&format!("/channels/{SECRET}/messages"), user)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body.as_array().map(Vec::len), Some(3));
    }
    // Refusals and answers alike are counted (RED metrics).
    assert_eq!(world.requests.answered("GET", "4xx"), 5);
    assert_eq!(world.requests.answered("GET", "2xx"), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_read_message_history_the_list_is_empty_and_single_reads_are_refused() {
    let world = World::new().await;
    let (status, body) = world
        .get(&format!("/channels/{ARCHIVE}/messages"), BOB)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        serde_json::json!([]),
        "Discord: no messages are returned"
    );
    let message = message_id(ARCHIVE, 1);
    for path in [
        format!("/channels/{ARCHIVE}/messages/{message}"),
        format!("/channels/{ARCHIVE}/pins"),
    ] {
        let (status, body) = world.get(&path, BOB).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, 50001);
    }
    // The channel itself is visible.
    let (status, _) = world.get(&format!("/channels/{ARCHIVE}"), BOB).await;
    assert_eq!(status, StatusCode::OK);
    let (_, owners) = world
        .get(&format!("/channels/{ARCHIVE}/messages"), OWNER)
        .await;
    assert_eq!(owners.as_array().map(Vec::len), Some(3));
}

#[tokio::test(flavor = "multi_thread")]
async fn another_guilds_channel_and_guild_are_missing_access() {
    let world = World::new().await;
    let theirs = message_id(OTHER_CHANNEL, 1);
    for path in [
        format!("/channels/{OTHER_CHANNEL}"),
        format!("/channels/{OTHER_CHANNEL}/messages"),
        format!("/channels/{OTHER_CHANNEL}/messages/{theirs}"),
        format!("/guilds/{OTHER_GUILD}"),
        format!("/guilds/{OTHER_GUILD}/channels"),
        format!("/guilds/{OTHER_GUILD}/members"),
        format!("/guilds/{OTHER_GUILD}/roles"),
    ] {
        let (status, body) = world.get(&path, ALICE).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, 50001);
    }
    // A message id of another channel is unknown in this one.
    let (status, body) = world
        .get(&format!("/channels/{GENERAL}/messages/{theirs}"), ALICE)
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, 10008);
    // Not a member at all.
    let (status, body) = world
        .get(&format!("/guilds/{GUILD}/members/{ALICE}"), EVE)
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, 50001);
}

#[tokio::test(flavor = "multi_thread")]
async fn guild_routes_that_need_a_permission_answer_missing_permissions() {
    let world = World::new().await;
    for path in ["bans", "audit-logs", "invites"] {
        let (status, body) = world.get(&format!("/guilds/{GUILD}/{path}"), BOB).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, 50013);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_ids_are_404_and_malformed_ids_are_50035() {
    let world = World::new().await;
    for (path, code) in [
        ("/channels/999999".to_owned(), 10003),
        ("/channels/999999/messages".to_owned(), 10003),
        ("/guilds/999999".to_owned(), 10004),
        ("/users/999999".to_owned(), 10013),
        (format!("/channels/{GENERAL}/messages/999999"), 10008),
        (format!("/guilds/{GUILD}/members/{EVE}"), 10007),
        ("/invites/nope".to_owned(), 10006),
    ] {
        let (status, body) = world.get(&path, BOB).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, code);
    }
    for (path, field) in [
        ("/channels/abc".to_owned(), "channel_id"),
        ("/channels/-1/messages".to_owned(), "channel_id"),
        ("/guilds/12x".to_owned(), "guild_id"),
        ("/users/99999999999999999999".to_owned(), "user_id"),
        (format!("/channels/{GENERAL}/messages/0x1"), "message_id"),
        (format!("/guilds/{GUILD}/members/bob"), "user_id"),
    ] {
        let (status, body) = world.get(&path, BOB).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, 50035);
        assert_eq!(
            body["errors"][field]["_errors"][0]["code"], "NUMBER_TYPE_COERCE",
            "{path}: {body}"
        );
    }
    let (status, body) = world
        .get(
            &format!(
                "/channels/{GENERAL}/messages/{}/reactions/abc",
                message_id(GENERAL, 1)
            ),
            BOB,
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, 10014);
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_forged_and_misused_credentials_are_401() {
    let world = World::new().await;
    let forger = TokenIssuer::new(
        SigningKey::generate().expect("a key"),
        &AuthConfig::default(),
    );
    let forged = forger
        .issue(
            &NewAccessToken {
                user_id: ALICE,
                client_id: "cloudcord".into(),
                scopes: Vec::new(),
                kind: TokenKind::Session,
            },
            std::time::SystemTime::now(),
        )
        .expect("issues")
        .token;
    let bearer = format!("Bearer {forged}");
    // A bot token minted for a user who is not a bot.
    let not_a_bot = world.bot_token(ALICE);
    for authorization in [
        None,
        Some("Bearer"),
        Some("Bearer x.y.z"),
        Some(bearer.as_str()),
        Some(not_a_bot.as_str()),
        Some("Basic abc"),
    ] {
        let (status, _, body) = world.get_with("/users/@me", authorization, &[]).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, 0);
        let (status, _, body) = world
            .get_with(&format!("/channels/{GENERAL}/messages"), authorization, &[])
            .await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, 0);
    }
    // The bot's own token works; a user's token is not for /gateway/bot.
    let (status, _, me) = world
        .get_with("/users/@me", Some(&world.bot_token(BOT)), &[])
        .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["bot"], true);
    let (status, _, body) = world
        .get_with("/gateway/bot", Some(&world.token(ALICE)), &[])
        .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, 0);
    // Discord's clients send a user token without a scheme.
    let bare = world.token(ALICE).trim_start_matches("Bearer ").to_owned();
    let (status, _, _) = world.get_with("/users/@me", Some(&bare), &[]).await;
    assert_eq!(status, StatusCode::OK);
    // Unknown paths are Discord's JSON 404.
    let (status, _, body) = world.get_with("/nowhere", Some(&bare), &[]).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oauth2_applications_token_reads_only_what_its_scopes_open() {
    let world = World::new().await;
    let identify = world.oauth2_token(ALICE, &["identify"]);
    let (status, _, me) = world.get_with("/users/@me", Some(&identify), &[]).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["id"], ALICE.to_string());
    assert!(
        me.get("email").is_none(),
        "email needs the email scope: {me}"
    );
    let (status, _, body) = world
        .get_with("/users/@me/guilds", Some(&identify), &[])
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, 50001);

    let everything = world.oauth2_token(ALICE, &["identify", "email", "guilds"]);
    let (status, _, me) = world.get_with("/users/@me", Some(&everything), &[]).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert!(me.get("email").is_some(), "{me}");
    let (status, _, guilds) = world
        .get_with("/users/@me/guilds", Some(&everything), &[])
        .await;
    assert_eq!(status, StatusCode::OK, "{guilds}");
    assert!(
        guilds
            .as_array()
            .is_some_and(|guilds| guilds.iter().any(|g| g["id"] == GUILD.to_string())),
        "{guilds}"
    );

    // No scope opens anything else: not the guild, its messages, nor the DMs.
    let (status, _, body) = world
        .get_with(
            "/users/@me",
            Some(&world.oauth2_token(ALICE, &["guilds"])),
            &[],
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, 50001);
    for path in [
        format!("/guilds/{GUILD}"),
        format!("/channels/{GENERAL}/messages"),
        "/users/@me/channels".to_owned(),
    ] {
        let (status, _, body) = world.get_with(&path, Some(&everything), &[]).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, 0);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bot_token_its_owner_reset_is_refused_once_the_reset_is_projected() {
    let mut world = World::new().await;
    let old = world.bot_token(BOT);
    let (status, _, body) = world.get_with("/users/@me", Some(&old), &[]).await;
    assert_eq!(status, StatusCode::OK, "the current token reads: {body}");
    world
        .apply(vec![(
            user_ref(BOT),
            DomainEvent::User(UserEvent::BotTokenReset(BotTokenReset { token_id: 2 })),
        )])
        .await;
    let (status, _, body) = world.get_with("/users/@me", Some(&old), &[]).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn browsers_may_read_only_from_the_issuers_origin() {
    let world = World::new().await;
    let alice = world.token(ALICE);
    let (status, _, body) = world
        .get_with(
            "/users/@me",
            Some(&alice),
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, 0);
    // The issuer (AuthConfig's default) is where the web client lives.
    for headers in [&[("origin", "http://127.0.0.1:8080")][..], &[]] {
        let (status, _, body) = world.get_with("/users/@me", Some(&alice), headers).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}
