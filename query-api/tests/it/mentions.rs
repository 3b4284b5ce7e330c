//! The mention inbox (`GET /users/@me/mentions`) following messages, edits and
//! deletions: direct, role and `@everyone` mentions, newest first, with `before`,
//! `limit`, `guild_id`, `roles` and `everyone`, only in channels whose history the
//! caller may read and guilds they are still in.

use cloudcord_projectors::record::DomainEvent;
use cloudcord_schemas::envelope::AggregateRef;
use cloudcord_schemas::guild::GuildEvent;
use cloudcord_schemas::ids::{ChannelId, GuildId, MessageId, RoleId, UserId};
use cloudcord_schemas::message::{MessageDeleted, MessageEdited, MessageSent};
use reqwest::StatusCode;
use serde_json::Value;

use crate::openapi::assert_schema_conforms;
use crate::support::{
    ALICE, ARCHIVE, BOB, EVE, GENERAL, GUILD, MODS, OTHER_CHANNEL, OTHER_GUILD, OWNER, SECRET, T0,
    World, assert_error, guild_event, message_id, sent,
};

/// Message `n` of `channel` by `author` with these mentions.
fn mentioning(
    channel: ChannelId,
    n: u64,
    author: UserId,
    users: &[UserId],
    roles: &[RoleId],
    everyone: bool,
) -> MessageSent {
    MessageSent {
        mentions: users.to_vec(),
        mention_roles: roles.to_vec(),
        mention_everyone: everyone,
        ..sent(channel, n, author)
    }
}

fn send(guild: GuildId, message: MessageSent) -> (AggregateRef, DomainEvent) {
    guild_event(guild, GuildEvent::MessageSent(message))
}

/// The ids of an inbox page, in answer order.
fn ids(page: &Value) -> Vec<MessageId> {
    page.as_array()
        .expect("a page is an array")
        .iter()
        .map(|m| {
            MessageId::new(
                m["id"]
                    .as_str()
                    .and_then(|id| id.parse().ok())
                    .expect("an id"),
            )
        })
        .collect()
}

async fn inbox(world: &World, user: UserId, query: &str) -> Vec<MessageId> {
    let (status, body) = world
        .get(&format!("/users/@me/mentions{query}"), user)
        .await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    for message in body.as_array().into_iter().flatten() {
        assert_schema_conforms("MessageResponse", message);
    }
    ids(&body)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_mention_inbox_follows_messages_edits_and_deletions() {
    let mut world = World::new().await;
    let direct = message_id(GENERAL, 201);
    let everyone = message_id(GENERAL, 202);
    let role = message_id(GENERAL, 203);
    let secret = message_id(SECRET, 10);
    world
        .apply(vec![
            send(GUILD, mentioning(GENERAL, 201, BOB, &[ALICE], &[], false)),
            send(GUILD, mentioning(GENERAL, 202, OWNER, &[], &[], true)),
            send(GUILD, mentioning(GENERAL, 203, BOB, &[], &[MODS], false)),
            // Only mods see #secret; #archive hides its history from everyone.
            send(
                GUILD,
                mentioning(SECRET, 10, OWNER, &[ALICE, BOB], &[], false),
            ),
            send(
                GUILD,
                mentioning(ARCHIVE, 10, OWNER, &[ALICE, BOB], &[], false),
            ),
            // A guild ALICE is not in.
            send(
                OTHER_GUILD,
                mentioning(OTHER_CHANNEL, 10, EVE, &[ALICE], &[], true),
            ),
            // One's own mention of oneself is no notification.
            send(GUILD, mentioning(GENERAL, 204, ALICE, &[ALICE], &[], false)),
        ])
        .await;

    let mut all = vec![direct, everyone, role, secret];
    all.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(inbox(&world, ALICE, "").await, all, "newest first");
    assert_eq!(
        inbox(&world, BOB, "").await,
        [everyone],
        "BOB sees neither #secret nor #archive's history"
    );

    // Filters.
    let without = |excluded: MessageId| -> Vec<MessageId> {
        all.iter().copied().filter(|id| *id != excluded).collect()
    };
    assert_eq!(inbox(&world, ALICE, "?roles=false").await, without(role));
    assert_eq!(
        inbox(&world, ALICE, "?everyone=false").await,
        without(everyone)
    );
    assert_eq!(
        inbox(&world, ALICE, &format!("?guild_id={GUILD}")).await,
        all
    );
    assert!(
        inbox(&world, ALICE, &format!("?guild_id={OTHER_GUILD}"))
            .await
            .is_empty()
    );

    // Pages.
    assert_eq!(inbox(&world, ALICE, "?limit=2").await, all[..2]);
    assert_eq!(
        inbox(&world, ALICE, &format!("?limit=2&before={}", all[1])).await,
        all[2..]
    );
    let (status, body) = world.get("/users/@me/mentions?limit=101", ALICE).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, 50035);

    // An edit that drops the mention drops the message; one that adds a mention
    // brings it in; a deleted message drops out.
    let edited = |n: u64, mentions: Vec<UserId>| {
        guild_event(
            GUILD,
            GuildEvent::MessageEdited(MessageEdited {
                id: message_id(GENERAL, n),
                channel_id: GENERAL,
                content: "edited".into(),
                edited_timestamp: T0,
                mention_everyone: false,
                mentions,
                mention_roles: Vec::new(),
                attachments: Vec::new(),
            }),
        )
    };
    let added = message_id(GENERAL, 5);
    world
        .apply(vec![
            edited(201, Vec::new()),
            edited(5, vec![ALICE]),
            guild_event(
                GUILD,
                GuildEvent::MessageDeleted(MessageDeleted {
                    id: everyone,
                    channel_id: GENERAL,
                }),
            ),
        ])
        .await;
    let mut now = vec![role, secret, added];
    now.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(inbox(&world, ALICE, "").await, now);
    assert!(inbox(&world, BOB, "").await.is_empty());
}
