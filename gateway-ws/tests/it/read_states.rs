//! READY's `read_state` and `user_guild_settings`, and the dispatches that keep a
//! client's copy live (MESSAGE_ACK, USER_GUILD_SETTINGS_UPDATE): unread mention
//! counts that follow messages, acks, edits, deletions, roles, hidden channels
//! and notification settings.

use std::collections::BTreeMap;

use cloudcord_gateway_ws::settings::SessionSettings;
use cloudcord_projectors::record::DomainEvent;
use cloudcord_schemas::dm_channel::{DmChannelEvent, DmChannelOpened, dm_channel_id};
use cloudcord_schemas::envelope::{AggregateRef, AggregateType};
use cloudcord_schemas::guild::{
    ChannelCreated, ChannelDeleted, GuildEvent, MemberUpdated, Role, RoleCreated,
};
use cloudcord_schemas::ids::{ChannelId, MessageId, RoleId, UserId};
use cloudcord_schemas::message::{MessageAcked, MessageDeleted, MessageEdited, MessageSent};
use cloudcord_schemas::permissions::{PermissionOverwrite, Permissions};
use cloudcord_schemas::user::{
    ChannelNotificationOverride, GuildNotificationSettings, MuteConfig, NotificationLevel,
    UserEvent, UserGuildSettingsChanged,
};
use serde_json::{Value, json};
use time::macros::datetime;

use crate::support::{
    ALICE, BOT, GENERAL, GUILD, OWNER, T0, World, guild_event, snapshot, text_channel, user_ref,
};

/// Hidden from `@everyone`.
const SECRET: ChannelId = ChannelId::new(3001);
const MODS: RoleId = RoleId::new(2100);
/// GUILDS.
const GUILDS: u64 = 1;

/// Message `n` of `channel` (of a DM's id, a large hash, only the low digits).
fn id(channel: ChannelId, n: u64) -> MessageId {
    MessageId::new(channel.get() % 1_000_000 * 1000 + n)
}

/// Message `n` of `channel` by OWNER with these mentions.
fn mentioning(
    channel: ChannelId,
    n: u64,
    users: &[UserId],
    roles: &[RoleId],
    everyone: bool,
) -> (AggregateRef, DomainEvent) {
    guild_event(
        GUILD,
        GuildEvent::MessageSent(message(channel, n, users, roles, everyone)),
    )
}

fn message(
    channel: ChannelId,
    n: u64,
    users: &[UserId],
    roles: &[RoleId],
    everyone: bool,
) -> MessageSent {
    MessageSent {
        attachments: Vec::new(),
        id: id(channel, n),
        channel_id: channel,
        author: snapshot(OWNER, false),
        content: format!("message {n}"),
        timestamp: T0,
        tts: false,
        mention_everyone: everyone,
        mentions: users.to_vec(),
        mention_roles: roles.to_vec(),
        message_reference: None,
        nonce: None,
    }
}

fn edited(n: u64, users: &[UserId], roles: &[RoleId]) -> (AggregateRef, DomainEvent) {
    guild_event(
        GUILD,
        GuildEvent::MessageEdited(MessageEdited {
            id: id(GENERAL, n),
            channel_id: GENERAL,
            content: "edited".into(),
            edited_timestamp: T0,
            mention_everyone: false,
            mentions: users.to_vec(),
            mention_roles: roles.to_vec(),
            attachments: Vec::new(),
        }),
    )
}

fn acked(channel: ChannelId, message: MessageId) -> MessageAcked {
    MessageAcked {
        user_id: ALICE,
        channel_id: channel,
        message_id: message,
        manual: false,
    }
}

fn settings(settings: GuildNotificationSettings) -> (AggregateRef, DomainEvent) {
    (
        user_ref(ALICE),
        DomainEvent::User(UserEvent::UserGuildSettingsChanged(
            UserGuildSettingsChanged {
                guild_id: GUILD,
                settings,
            },
        )),
    )
}

/// ALICE is a mod; #secret is hidden from everyone.
fn roles_and_secret() -> Vec<(AggregateRef, DomainEvent)> {
    let mut secret = text_channel(SECRET, "secret");
    secret.permission_overwrites = vec![PermissionOverwrite::role(
        RoleId::new(GUILD.get()),
        Permissions::empty(),
        Permissions::VIEW_CHANNEL,
    )];
    vec![
        guild_event(
            GUILD,
            GuildEvent::RoleCreated(RoleCreated {
                role: Role {
                    id: MODS,
                    name: "mods".into(),
                    color: 0,
                    hoist: false,
                    position: 1,
                    permissions: Permissions::empty(),
                    managed: false,
                    mentionable: true,
                },
            }),
        ),
        guild_event(
            GUILD,
            GuildEvent::MemberUpdated(MemberUpdated {
                user_id: ALICE,
                nick: None,
                roles: vec![MODS],
                communication_disabled_until: None,
                mute: false,
                deaf: false,
            }),
        ),
        guild_event(
            GUILD,
            GuildEvent::ChannelCreated(ChannelCreated { channel: secret }),
        ),
    ]
}

/// ALICE's READY `read_state` entries by channel: (last_message_id, mention_count).
async fn read_states(world: &World) -> BTreeMap<String, (String, u64)> {
    let (_, ready) = world.identified(&world.token(ALICE), GUILDS).await;
    assert_eq!(ready["read_state"]["partial"], json!(false), "{ready}");
    ready["read_state"]["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|entry| {
            (
                entry["id"].as_str().expect("id").to_owned(),
                (
                    entry["last_message_id"].as_str().expect("last").to_owned(),
                    entry["mention_count"].as_u64().expect("count"),
                ),
            )
        })
        .collect()
}

async fn general(world: &World) -> (String, u64) {
    read_states(world)
        .await
        .remove(&GENERAL.to_string())
        .unwrap_or_else(|| ("none".into(), 0))
}

#[tokio::test]
async fn unread_mention_counts_follow_messages_acks_edits_and_deletions() {
    let mut world = World::new(SessionSettings::default()).await;
    world.apply(roles_and_secret()).await;
    world
        .apply(vec![
            mentioning(GENERAL, 1, &[], &[], false),
            mentioning(GENERAL, 2, &[ALICE], &[], false),
            mentioning(GENERAL, 3, &[], &[], true),
            mentioning(GENERAL, 4, &[], &[MODS], false),
            mentioning(GENERAL, 5, &[OWNER], &[], false),
            // ALICE cannot see #secret: its @everyone counts nothing.
            mentioning(SECRET, 1, &[], &[], true),
        ])
        .await;
    let states = read_states(&world).await;
    assert_eq!(
        states.get(&GENERAL.to_string()),
        Some(&("0".to_owned(), 3)),
        "direct, @everyone and role mentions, never acked: {states:?}"
    );
    assert!(!states.contains_key(&SECRET.to_string()), "{states:?}");

    // Acking resets to the mentions after the acked message.
    world
        .apply(vec![guild_event(
            GUILD,
            GuildEvent::MessageAcked(acked(GENERAL, id(GENERAL, 2))),
        )])
        .await;
    assert_eq!(general(&world).await, (id(GENERAL, 2).to_string(), 2));

    // Deleting an unread mention, and editing one away, take them off; an edit
    // that adds a mention after the ack adds one, before it nothing.
    world
        .apply(vec![
            guild_event(
                GUILD,
                GuildEvent::MessageDeleted(MessageDeleted {
                    id: id(GENERAL, 3),
                    channel_id: GENERAL,
                }),
            ),
            edited(4, &[], &[]),
            edited(5, &[ALICE], &[]),
            edited(1, &[ALICE], &[]),
        ])
        .await;
    assert_eq!(general(&world).await, (id(GENERAL, 2).to_string(), 1));

    // "Mark unread": acking an earlier message counts again from there.
    world
        .apply(vec![guild_event(
            GUILD,
            GuildEvent::MessageAcked(MessageAcked {
                manual: true,
                ..acked(GENERAL, id(GENERAL, 1))
            }),
        )])
        .await;
    assert_eq!(general(&world).await, (id(GENERAL, 1).to_string(), 2));

    // Bots have no read states.
    let (_, ready) = world.identified(&world.bot_token(BOT), GUILDS).await;
    assert!(ready.get("read_state").is_none(), "{ready}");
}

/// With the guild followed here already (the owner's session), READY tells who
/// sees which channel from that state in memory instead of loading the guild:
/// the hidden channel's @everyone still counts nothing.
#[tokio::test]
async fn a_guild_followed_here_counts_from_its_state_in_memory() {
    let mut world = World::new(SessionSettings::default()).await;
    world.apply(roles_and_secret()).await;
    world
        .apply(vec![
            mentioning(GENERAL, 1, &[ALICE], &[], false),
            mentioning(SECRET, 1, &[], &[], true),
        ])
        .await;
    // `identified` waits for its GUILD_CREATE: the guild is followed from then on.
    let (_owner, _) = world.identified(&world.token(OWNER), GUILDS).await;
    let states = read_states(&world).await;
    assert_eq!(
        states.get(&GENERAL.to_string()),
        Some(&("0".to_owned(), 1)),
        "{states:?}"
    );
    assert!(!states.contains_key(&SECRET.to_string()), "{states:?}");
}

#[tokio::test]
async fn notification_settings_decide_what_counts() {
    let mut world = World::new(SessionSettings::default()).await;
    world.apply(roles_and_secret()).await;
    world
        .apply(vec![
            mentioning(GENERAL, 1, &[ALICE], &[], false),
            mentioning(GENERAL, 2, &[], &[], true),
            mentioning(GENERAL, 3, &[], &[MODS], false),
        ])
        .await;
    assert_eq!(general(&world).await.1, 3);

    let cases = [
        (
            "suppress @everyone",
            GuildNotificationSettings {
                suppress_everyone: true,
                ..GuildNotificationSettings::default()
            },
            2,
        ),
        (
            "suppress roles",
            GuildNotificationSettings {
                suppress_roles: true,
                ..GuildNotificationSettings::default()
            },
            2,
        ),
        (
            "only mentions still counts mentions",
            GuildNotificationSettings {
                message_notifications: NotificationLevel::OnlyMentions,
                ..GuildNotificationSettings::default()
            },
            3,
        ),
        (
            "nothing",
            GuildNotificationSettings {
                message_notifications: NotificationLevel::Nothing,
                ..GuildNotificationSettings::default()
            },
            0,
        ),
        (
            "muted until unmuted",
            GuildNotificationSettings {
                muted: true,
                ..GuildNotificationSettings::default()
            },
            0,
        ),
        (
            "a mute that has ended",
            GuildNotificationSettings {
                muted: true,
                mute_config: Some(MuteConfig {
                    end_time: Some(datetime!(2020-01-01 0:00 UTC)),
                    selected_time_window: Some(3600),
                }),
                ..GuildNotificationSettings::default()
            },
            3,
        ),
        (
            "the channel muted for a while yet",
            GuildNotificationSettings {
                channel_overrides: BTreeMap::from([(
                    GENERAL,
                    ChannelNotificationOverride {
                        message_notifications: None,
                        muted: true,
                        mute_config: Some(MuteConfig {
                            end_time: Some(datetime!(2100-01-01 0:00 UTC)),
                            selected_time_window: None,
                        }),
                    },
                )]),
                ..GuildNotificationSettings::default()
            },
            0,
        ),
        (
            "the channel set to nothing",
            GuildNotificationSettings {
                channel_overrides: BTreeMap::from([(
                    GENERAL,
                    ChannelNotificationOverride {
                        message_notifications: Some(NotificationLevel::Nothing),
                        muted: false,
                        mute_config: None,
                    },
                )]),
                ..GuildNotificationSettings::default()
            },
            0,
        ),
    ];
    for (name, case, expected) in cases {
        world.apply(vec![settings(case.clone())]).await;
        assert_eq!(general(&world).await.1, expected, "{name}");
        let (_, ready) = world.identified(&world.token(ALICE), GUILDS).await;
        let entries = &ready["user_guild_settings"]["entries"];
        assert_eq!(entries[0]["guild_id"], json!(GUILD.to_string()), "{ready}");
        assert_eq!(
            entries[0]["message_notifications"],
            json!(case.message_notifications.discord_value()),
            "{name}"
        );
    }
}

#[tokio::test]
async fn every_message_of_the_other_recipient_counts_in_a_dm() {
    let mut world = World::new(SessionSettings::default()).await;
    let dm = dm_channel_id(OWNER, ALICE);
    let dm_ref = AggregateRef {
        kind: AggregateType::DmChannel,
        id: dm.0,
    };
    let in_dm = |event: DmChannelEvent| (dm_ref, DomainEvent::DmChannel(event));
    let mut from_alice = message(dm, 3, &[], &[], false);
    from_alice.author = snapshot(ALICE, false);
    world
        .apply(vec![
            in_dm(DmChannelEvent::DmChannelOpened(DmChannelOpened {
                channel_id: dm,
                recipients: [snapshot(OWNER, false), snapshot(ALICE, false)],
            })),
            in_dm(DmChannelEvent::MessageSent(message(dm, 1, &[], &[], false))),
            in_dm(DmChannelEvent::MessageSent(message(dm, 2, &[], &[], false))),
            in_dm(DmChannelEvent::MessageSent(from_alice)),
        ])
        .await;
    let states = read_states(&world).await;
    assert_eq!(states.get(&dm.to_string()), Some(&("0".to_owned(), 2)));
    world
        .apply(vec![in_dm(DmChannelEvent::MessageAcked(acked(
            dm,
            id(dm, 1),
        )))])
        .await;
    let states = read_states(&world).await;
    assert_eq!(
        states.get(&dm.to_string()),
        Some(&(id(dm, 1).to_string(), 1))
    );
}

#[tokio::test]
async fn acks_and_settings_changes_reach_only_the_users_own_sessions() {
    let mut world = World::with_kafka(SessionSettings::default()).await;
    // GUILDS | GUILD_MESSAGES.
    let (mut alice, _) = world.identified(&world.token(ALICE), 513).await;
    let (mut owner, _) = world.identified(&world.token(OWNER), 513).await;
    world
        .publish(vec![
            mentioning(GENERAL, 1, &[ALICE], &[], false),
            guild_event(
                GUILD,
                GuildEvent::MessageAcked(acked(GENERAL, id(GENERAL, 1))),
            ),
            settings(GuildNotificationSettings {
                muted: true,
                ..GuildNotificationSettings::default()
            }),
            mentioning(GENERAL, 2, &[], &[], false),
        ])
        .await;
    // The guild's dispatches keep their order; the user's settings (another
    // aggregate, perhaps another partition) may come anywhere among them.
    let mut heard = Vec::new();
    for _ in 0..4 {
        let payload = alice.expect_op(0).await;
        heard.push((
            payload["t"].as_str().expect("t").to_owned(),
            payload["d"].clone(),
        ));
    }
    let update = heard
        .iter()
        .position(|(t, _)| t == "USER_GUILD_SETTINGS_UPDATE")
        .map(|at| heard.remove(at).1)
        .expect("USER_GUILD_SETTINGS_UPDATE");
    assert_eq!(update["guild_id"], json!(GUILD.to_string()));
    assert_eq!(update["muted"], json!(true));
    let kinds: Vec<&str> = heard.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(kinds, ["MESSAGE_CREATE", "MESSAGE_ACK", "MESSAGE_CREATE"]);
    let ack: &Value = &heard[1].1;
    assert_eq!(ack["channel_id"], json!(GENERAL.to_string()));
    assert_eq!(ack["message_id"], json!(id(GENERAL, 1).to_string()));
    assert!(ack["version"].as_u64().is_some_and(|v| v > 0), "{ack}");
    // The owner hears the messages and nothing in between.
    assert_eq!(
        owner.dispatch("MESSAGE_CREATE").await["id"],
        json!(id(GENERAL, 1).to_string())
    );
    assert_eq!(
        owner.dispatch("MESSAGE_CREATE").await["id"],
        json!(id(GENERAL, 2).to_string())
    );
}

#[tokio::test]
async fn a_deleted_channel_takes_its_read_states_with_it() {
    let mut world = World::new(SessionSettings::default()).await;
    world.apply(roles_and_secret()).await;
    world
        .apply(vec![
            mentioning(SECRET, 1, &[ALICE], &[], false),
            guild_event(
                GUILD,
                GuildEvent::MessageAcked(acked(SECRET, id(SECRET, 1))),
            ),
            mentioning(GENERAL, 1, &[], &[], false),
            guild_event(
                GUILD,
                GuildEvent::MessageAcked(acked(GENERAL, id(GENERAL, 1))),
            ),
        ])
        .await;
    assert!(read_states(&world).await.contains_key(&SECRET.to_string()));
    let mut secret = text_channel(SECRET, "secret");
    secret.permission_overwrites = Vec::new();
    world
        .apply(vec![guild_event(
            GUILD,
            GuildEvent::ChannelDeleted(ChannelDeleted { channel: secret }),
        )])
        .await;
    let states = read_states(&world).await;
    assert!(!states.contains_key(&SECRET.to_string()), "{states:?}");
    assert!(states.contains_key(&GENERAL.to_string()), "{states:?}");
}

#[tokio::test]
async fn guild_create_gives_each_text_channels_newest_message_beside_the_read_state() {
    let mut world = World::new(SessionSettings::default()).await;
    world
        .apply(vec![
            mentioning(GENERAL, 1, &[], &[], false),
            mentioning(GENERAL, 2, &[], &[], false),
            mentioning(GENERAL, 3, &[], &[], false),
            // The newest one is gone: the one before it is the channel's newest.
            guild_event(
                GUILD,
                GuildEvent::MessageDeleted(MessageDeleted {
                    id: id(GENERAL, 3),
                    channel_id: GENERAL,
                }),
            ),
            guild_event(
                GUILD,
                GuildEvent::MessageAcked(acked(GENERAL, id(GENERAL, 1))),
            ),
        ])
        .await;
    let mut client = world.connect("v=10&encoding=json").await;
    client.hello().await;
    client.identify(&world.token(ALICE), GUILDS).await;
    let ready = client.dispatch("READY").await;
    let create = client.dispatch("GUILD_CREATE").await;
    // Newer than what ALICE read: a client shows #general unread.
    assert_eq!(
        create["channels"][0]["last_message_id"],
        json!(id(GENERAL, 2).to_string()),
        "{create}"
    );
    assert_eq!(
        ready["read_state"]["entries"][0]["last_message_id"],
        json!(id(GENERAL, 1).to_string()),
        "{ready}"
    );
}
