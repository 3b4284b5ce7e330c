//! RELATIONSHIP_ADD and RELATIONSHIP_REMOVE to the user's own sessions, and READY's
//! `relationships`, over events the test projects and publishes.

use cloudcord_gateway_ws::settings::SessionSettings;
use cloudcord_projectors::record::DomainEvent;
use cloudcord_schemas::envelope::AggregateRef;
use cloudcord_schemas::ids::UserId;
use cloudcord_schemas::user::{
    FriendRequestAccepted, FriendRequestReceived, FriendRequestSent, FriendshipConfirmed,
    RelationshipRemoved, RelationshipType, UserBlocked, UserEvent,
};
use serde_json::{Value, json};

use crate::support::{ALICE, BOT, Client, OWNER, STRANGER, World, user_ref};

/// GUILDS (READY then waits out the GUILD_CREATEs); relationships need no intent.
const GUILDS: u64 = 1;

fn of(user: UserId, event: UserEvent) -> (AggregateRef, DomainEvent) {
    (user_ref(user), DomainEvent::User(event))
}

/// The relationship object READY and RELATIONSHIP_ADD carry for `other`.
fn relationship(other: UserId, kind: u8) -> Value {
    json!({
        "id": other.to_string(),
        "type": kind,
        "user": {
            "id": other.to_string(),
            "username": format!("user{other}"),
            "discriminator": "0",
            "global_name": null,
            "avatar": null,
            "public_flags": 0,
        },
        "nickname": null,
    })
}

/// Asserts that `client` has no dispatch waiting: a heartbeat's ACK comes next.
async fn nothing_for(client: &mut Client) {
    client.send(json!({ "op": 1, "d": null })).await;
    client.expect_op(11).await;
}

#[tokio::test]
async fn a_friendship_reaches_both_users_sessions_as_it_changes() {
    let mut world = World::with_kafka(SessionSettings::default()).await;
    let (mut alice, ready) = world.identified(&world.token(ALICE), GUILDS).await;
    assert_eq!(ready["relationships"], json!([]));
    let (mut owner, _) = world.identified(&world.token(OWNER), GUILDS).await;
    let (mut stranger, _) = world.identified(&world.token(STRANGER), GUILDS).await;

    // Alice asks the owner.
    world
        .publish(vec![
            of(
                ALICE,
                UserEvent::FriendRequestSent(FriendRequestSent { user_id: OWNER }),
            ),
            of(
                OWNER,
                UserEvent::FriendRequestReceived(FriendRequestReceived { user_id: ALICE }),
            ),
        ])
        .await;
    assert_eq!(
        alice.dispatch("RELATIONSHIP_ADD").await,
        relationship(OWNER, 4)
    );
    assert_eq!(
        owner.dispatch("RELATIONSHIP_ADD").await,
        relationship(ALICE, 3)
    );

    // The owner accepts.
    world
        .publish(vec![
            of(
                OWNER,
                UserEvent::FriendRequestAccepted(FriendRequestAccepted { user_id: ALICE }),
            ),
            of(
                ALICE,
                UserEvent::FriendshipConfirmed(FriendshipConfirmed { user_id: OWNER }),
            ),
        ])
        .await;
    assert_eq!(
        owner.dispatch("RELATIONSHIP_ADD").await,
        relationship(ALICE, 1)
    );
    assert_eq!(
        alice.dispatch("RELATIONSHIP_ADD").await,
        relationship(OWNER, 1)
    );

    // A new session of Alice's starts with the friendship in READY.
    let (mut again, ready) = world.identified(&world.token(ALICE), GUILDS).await;
    assert_eq!(ready["relationships"], json!([relationship(OWNER, 1)]));

    // Alice ends it: every session of both is told, with what it was.
    world
        .publish(vec![
            of(
                ALICE,
                UserEvent::RelationshipRemoved(RelationshipRemoved {
                    user_id: OWNER,
                    kind: RelationshipType::Friend,
                }),
            ),
            of(
                OWNER,
                UserEvent::RelationshipRemoved(RelationshipRemoved {
                    user_id: ALICE,
                    kind: RelationshipType::Friend,
                }),
            ),
        ])
        .await;
    let removed = json!({ "id": OWNER.to_string(), "type": 1 });
    assert_eq!(alice.dispatch("RELATIONSHIP_REMOVE").await, removed);
    assert_eq!(again.dispatch("RELATIONSHIP_REMOVE").await, removed);
    assert_eq!(
        owner.dispatch("RELATIONSHIP_REMOVE").await,
        json!({ "id": ALICE.to_string(), "type": 1 })
    );

    // Nobody else heard of any of it.
    nothing_for(&mut stranger).await;
}

#[tokio::test]
async fn a_block_replaces_the_relationship_and_is_in_ready() {
    let mut world = World::with_kafka(SessionSettings::default()).await;
    let (mut alice, _) = world.identified(&world.token(ALICE), GUILDS).await;
    let (mut stranger, _) = world.identified(&world.token(STRANGER), GUILDS).await;

    world
        .publish(vec![of(
            ALICE,
            UserEvent::UserBlocked(UserBlocked { user_id: STRANGER }),
        )])
        .await;

    assert_eq!(
        alice.dispatch("RELATIONSHIP_ADD").await,
        relationship(STRANGER, 2)
    );
    // The blocked user is not told.
    nothing_for(&mut stranger).await;
    let (_, ready) = world.identified(&world.token(ALICE), GUILDS).await;
    assert_eq!(ready["relationships"], json!([relationship(STRANGER, 2)]));
}

#[tokio::test]
async fn a_bots_ready_has_no_relationships() {
    let mut world = World::with_kafka(SessionSettings::default()).await;
    world
        .apply(vec![of(
            BOT,
            UserEvent::UserBlocked(UserBlocked { user_id: STRANGER }),
        )])
        .await;

    let (_, ready) = world.identified(&world.bot_token(BOT), GUILDS).await;

    assert_eq!(ready["relationships"], json!([]));
}
