//! Presence (op 3, PRESENCE_UPDATE, GUILD_CREATE's presences) and typing
//! (TYPING_START), which travel through the `ephemeral` topic between gateway
//! processes and never through the event log.

use cloudcord_gateway_ws::ephemeral::Publisher;
use cloudcord_gateway_ws::protocol::intents::Intents;
use cloudcord_gateway_ws::settings::SessionSettings;
use cloudcord_schemas::ephemeral::{Ephemeral, TypingStarted};
use cloudcord_schemas::ids::UserId;
use serde_json::{Value, json};

use crate::support::{ALICE, BOT, Client, GENERAL, GUILD, OWNER, STRANGER, World};

/// GUILDS | GUILD_PRESENCES.
const PRESENCES: u64 = 1 | 1 << 8;

/// GUILDS | GUILD_MESSAGES: a MESSAGE_CREATE marks the end of a stream.
const MESSAGES: u64 = 513;

/// The next PRESENCE_UPDATE about `user` (others, e.g. the watcher's own, are
/// skipped).
async fn presence_of(client: &mut Client, user: UserId) -> Value {
    loop {
        let update = client.dispatch("PRESENCE_UPDATE").await;
        if update["user"]["id"] == user.to_string() {
            return update;
        }
    }
}

/// The first PRESENCE_UPDATE that shows `user` with `status` (a process that reads
/// reports late may show earlier states first).
async fn until_status(client: &mut Client, user: UserId, status: &str) {
    while presence_of(client, user).await["status"] != status {}
}

/// A session of `user` identified with `status`.
async fn with_status(world: &World, client: &mut Client, user: UserId, status: &str) {
    client.hello().await;
    client
        .identify_as(
            &world.token(user),
            1,
            json!({ "status": status, "activities": [], "since": null, "afk": false }),
        )
        .await;
    client.ready(1).await;
}

/// `user`'s presence in the GUILD_CREATE of the owner's session identified on
/// `watcher` now.
async fn first_presence(world: &World, watcher: &mut Client, user: UserId) -> Value {
    watcher.hello().await;
    watcher.identify(&world.token(OWNER), PRESENCES).await;
    watcher.dispatch("READY").await;
    let create = watcher.dispatch("GUILD_CREATE").await;
    create["presences"]
        .as_array()
        .expect("presences")
        .iter()
        .find(|p| p["user"]["id"] == user.to_string())
        .cloned()
        .unwrap_or_else(|| panic!("{user}'s presence in {create}"))
}

#[tokio::test]
async fn presence_follows_the_session_that_changed_last_across_processes() {
    let mut world = World::with_kafka(SessionSettings::default()).await;
    let other = world.node().await;
    let (mut owner, _) = world.identified(&world.token(OWNER), PRESENCES).await;
    // The owner's session on the other process shows when that process has read
    // the reports (each process reads them from Kafka in its own time).
    let mut beside = other.connect("v=10&encoding=json").await;
    beside.hello().await;
    beside.identify(&world.token(OWNER), PRESENCES).await;
    beside.ready(PRESENCES).await;

    let mut phone = world.connect("v=10&encoding=json").await;
    with_status(&world, &mut phone, ALICE, "idle").await;
    let update = presence_of(&mut owner, ALICE).await;
    assert_eq!(update["status"], "idle");
    assert_eq!(update["guild_id"], GUILD.to_string());
    assert_eq!(update["client_status"], json!({ "web": "idle" }));

    phone
        .send(json!({ "op": 3, "d": { "status": "dnd", "activities": [{ "name": "chess", "type": 0 }], "since": null, "afk": false } }))
        .await;
    let update = presence_of(&mut owner, ALICE).await;
    assert_eq!(update["status"], "dnd");
    assert_eq!(update["activities"][0]["name"], "chess");

    // A second session, on another process, changes last: it decides…
    let mut desk = other.connect("v=10&encoding=json").await;
    with_status(&world, &mut desk, ALICE, "online").await;
    assert_eq!(presence_of(&mut owner, ALICE).await["status"], "online");
    // …until it ends, and the first one shows again.
    desk.close_normally().await;
    assert_eq!(presence_of(&mut owner, ALICE).await["status"], "dnd");
    until_status(&mut beside, ALICE, "online").await;
    until_status(&mut beside, ALICE, "dnd").await;

    // A session identified now, on a process that has read the reports, learns it
    // in GUILD_CREATE.
    let mut watcher = other.connect("v=10&encoding=json").await;
    assert_eq!(
        first_presence(&world, &mut watcher, ALICE).await["status"],
        "dnd"
    );

    // Invisible shows as offline; so does the end of the last session.
    phone
        .send(json!({ "op": 3, "d": { "status": "invisible", "activities": [], "since": null, "afk": false } }))
        .await;
    assert_eq!(presence_of(&mut owner, ALICE).await["status"], "offline");
}

#[tokio::test]
async fn a_member_who_joins_online_is_online_to_the_others() {
    let mut world = World::with_kafka(SessionSettings::default()).await;
    let (mut owner, _) = world.identified(&world.token(OWNER), PRESENCES).await;
    // STRANGER is online (in no guild yet, so nobody is told)…
    let mut newcomer = world.connect("v=10&encoding=json").await;
    with_status(&world, &mut newcomer, STRANGER, "idle").await;
    // …then joins: the members learn of the member and of their presence.
    world
        .publish(vec![crate::support::joined(GUILD, STRANGER, false)])
        .await;
    let update = presence_of(&mut owner, STRANGER).await;
    assert_eq!(update["status"], "idle");
    assert_eq!(update["guild_id"], GUILD.to_string());
}

#[tokio::test]
async fn bots_see_presences_only_with_the_privileged_intent() {
    let mut world = World::with_kafka(SessionSettings::default()).await;
    let bot_token = world.bot_token(BOT);
    let (mut without, _) = world.identified(&bot_token, MESSAGES).await;
    // A bot starts one session per 5 s (max_concurrency 1).
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let (mut with, _) = world
        .identified(&bot_token, 1 | Intents::GUILD_PRESENCES.bits())
        .await;
    let mut alice = world.connect("v=10&encoding=json").await;
    with_status(&world, &mut alice, ALICE, "idle").await;
    assert_eq!(presence_of(&mut with, ALICE).await["status"], "idle");
    // The marker proves nothing came before it.
    world
        .publish(vec![crate::support::sent(GENERAL, 1, OWNER)])
        .await;
    let next = without.expect_op(0).await;
    assert_ne!(next["t"], "PRESENCE_UPDATE", "{next}");
}

#[tokio::test]
async fn typing_reaches_who_may_see_the_channel_with_the_typing_intent() {
    let mut world = World::with_kafka(SessionSettings::default()).await;
    let typing_intents = 1 | Intents::GUILD_MESSAGE_TYPING.bits();
    let (mut owner, _) = world.identified(&world.token(OWNER), typing_intents).await;
    let (mut deaf, _) = world.identified(&world.token(ALICE), MESSAGES).await;
    let publisher = Publisher::new(&world.kafka).expect("a producer");
    publisher
        .publish(
            "typing",
            &Ephemeral::TypingStarted(TypingStarted {
                channel_id: GENERAL,
                guild_id: Some(GUILD),
                user_id: ALICE,
                timestamp: 1_700_000_000,
            }),
        )
        .await
        .expect("published");
    let typing = owner.dispatch("TYPING_START").await;
    assert_eq!(typing["channel_id"], GENERAL.to_string());
    assert_eq!(typing["guild_id"], GUILD.to_string());
    assert_eq!(typing["user_id"], ALICE.to_string());
    assert_eq!(typing["timestamp"], 1_700_000_000);
    assert_eq!(typing["member"]["user"]["id"], ALICE.to_string());
    // ALICE asked for no typing events: the next thing she gets is the marker.
    world
        .publish(vec![crate::support::sent(GENERAL, 1, OWNER)])
        .await;
    assert_eq!(deaf.expect_op(0).await["t"], "MESSAGE_CREATE");
}

#[tokio::test]
async fn a_process_that_starts_later_shows_who_is_online_from_its_first_guild_create() {
    let mut world = World::with_kafka(SessionSettings::default()).await;
    let (mut owner, _) = world.identified(&world.token(OWNER), PRESENCES).await;
    let mut phone = world.connect("v=10&encoding=json").await;
    with_status(&world, &mut phone, ALICE, "dnd").await;
    assert_eq!(presence_of(&mut owner, ALICE).await["status"], "dnd");

    // A new process serves only once it has read the recent reports.
    let late = world.node().await;
    let mut watcher = late.connect("v=10&encoding=json").await;
    assert_eq!(
        first_presence(&world, &mut watcher, ALICE).await["status"],
        "dnd"
    );
}
