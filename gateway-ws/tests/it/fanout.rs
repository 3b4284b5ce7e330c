//! Fan-out from the real `projected` topic: events published as the projectors
//! publish them reach exactly the sessions allowed to see them.

use cloudcord_gateway_ws::protocol::intents::Intents;
use cloudcord_gateway_ws::settings::SessionSettings;
use cloudcord_projectors::record::DomainEvent;
use cloudcord_schemas::envelope::AggregateRef;
use cloudcord_schemas::guild::{
    ChannelCreated, ChannelOverwriteUpserted, GuildEvent, MemberKicked, MemberUpdated, Role,
    RoleCreated, RoleDeleted, RoleUpdated,
};
use cloudcord_schemas::ids::{AttachmentId, ChannelId, MessageId, RoleId, UserId};
use cloudcord_schemas::message::{Attachment, MessageEdited, MessageSent};
use cloudcord_schemas::permissions::{PermissionOverwrite, Permissions};
use serde_json::Value;

use crate::support::{
    ALICE, BOT, Client, GENERAL, GUILD, OWNER, STRANGER, T0, World, guild_event, joined,
    registered, sent, snapshot, text_channel,
};

/// Hidden from `@everyone` by an overwrite.
const SECRET: ChannelId = ChannelId::new(3001);

/// A second bot in GUILD.
const READER_BOT: UserId = UserId::new(1006);

/// GUILDS | GUILD_MESSAGES.
const MESSAGES: u64 = 513;

fn intents(intents: Intents) -> u64 {
    intents.bits()
}

fn secret_channel() -> (AggregateRef, DomainEvent) {
    let mut channel = text_channel(SECRET, "secret");
    channel.permission_overwrites = vec![PermissionOverwrite::role(
        RoleId::new(GUILD.get()),
        Permissions::empty(),
        Permissions::VIEW_CHANNEL,
    )];
    guild_event(
        GUILD,
        GuildEvent::ChannelCreated(ChannelCreated { channel }),
    )
}

fn overwrite_for(
    user: UserId,
    allow: Permissions,
    deny: Permissions,
) -> (AggregateRef, DomainEvent) {
    guild_event(
        GUILD,
        GuildEvent::ChannelOverwriteUpserted(ChannelOverwriteUpserted {
            channel_id: SECRET,
            overwrite: PermissionOverwrite::member(user, allow, deny),
        }),
    )
}

/// The next MESSAGE_CREATE's content, skipping other dispatches.
async fn next_message(client: &mut Client) -> Value {
    loop {
        let payload = client.expect_op(0).await;
        if payload["t"] == "MESSAGE_CREATE" {
            return payload["d"].clone();
        }
    }
}

#[tokio::test]
async fn a_message_reaches_members_as_message_create_in_discords_shape() {
    let mut world = World::with_kafka(SessionSettings::default()).await;
    let (mut alice, _) = world.identified(&world.token(ALICE), MESSAGES).await;
    world.publish(vec![sent(GENERAL, 1, OWNER)]).await;
    let payload = alice.expect_op(0).await;
    assert_eq!(payload["t"], "MESSAGE_CREATE");
    let message = &payload["d"];
    assert_eq!(message["content"], "message 1");
    assert_eq!(message["channel_id"], GENERAL.to_string());
    assert_eq!(message["guild_id"], GUILD.to_string());
    assert_eq!(message["author"]["id"], OWNER.to_string());
    assert_eq!(message["member"]["roles"], serde_json::json!([]));
    assert_eq!(message["edited_timestamp"], Value::Null);
    assert_eq!(message["timestamp"], "2026-11-28T12:00:00.000000+00:00");
}

#[tokio::test]
async fn a_bot_without_message_content_gets_emptied_content_unless_mentioned() {
    let mut world = World::with_kafka(SessionSettings::default()).await;
    // Another bot reads with MESSAGE_CONTENT: BOT itself may start only one
    // session per 5 seconds.
    world
        .apply(vec![
            registered(READER_BOT, true),
            joined(GUILD, READER_BOT, true),
        ])
        .await;
    let (mut bot, _) = world.identified(&world.bot_token(BOT), MESSAGES).await;
    let (mut reader, _) = world
        .identified(
            &world.bot_token(READER_BOT),
            MESSAGES | intents(Intents::MESSAGE_CONTENT),
        )
        .await;
    let mut mentioning = sent(GENERAL, 2, OWNER);
    if let DomainEvent::Guild(GuildEvent::MessageSent(message)) = &mut mentioning.1 {
        message.mentions = vec![BOT];
    }
    world
        .publish(vec![sent(GENERAL, 1, OWNER), mentioning])
        .await;
    assert_eq!(next_message(&mut bot).await["content"], "");
    assert_eq!(next_message(&mut bot).await["content"], "message 2");
    assert_eq!(next_message(&mut reader).await["content"], "message 1");
}

#[tokio::test]
async fn sessions_get_only_the_intents_they_asked_for() {
    let mut world = World::with_kafka(SessionSettings::default()).await;
    let guilds_only = intents(Intents::GUILDS);
    let (mut alice, _) = world.identified(&world.token(ALICE), guilds_only).await;
    world
        .publish(vec![sent(GENERAL, 1, OWNER), secret_channel()])
        .await;
    // The message needs GUILD_MESSAGES and SECRET is hidden from her, so the first
    // dispatch she gets is the CHANNEL_CREATE of a channel she can see.
    world
        .publish(vec![guild_event(
            GUILD,
            GuildEvent::ChannelCreated(ChannelCreated {
                channel: text_channel(ChannelId::new(3002), "marker"),
            }),
        )])
        .await;
    let payload = alice.expect_op(0).await;
    assert_eq!(payload["t"], "CHANNEL_CREATE");
    assert_eq!(payload["d"]["name"], "marker");
}

#[tokio::test]
async fn a_member_without_view_channel_never_gets_its_events_also_after_overwrites_change() {
    let mut world = World::with_kafka(SessionSettings::default()).await;
    let (mut alice, _) = world.identified(&world.token(ALICE), MESSAGES).await;
    let (mut owner, _) = world.identified(&world.token(OWNER), MESSAGES).await;
    world
        .publish(vec![
            secret_channel(),
            sent(SECRET, 1, OWNER),
            sent(GENERAL, 2, OWNER),
        ])
        .await;
    // The owner sees everything; ALICE's first message is the marker in GENERAL.
    assert_eq!(next_message(&mut owner).await["content"], "message 1");
    assert_eq!(next_message(&mut alice).await["content"], "message 2");

    // An overwrite lets ALICE in mid-session…
    world
        .publish(vec![
            overwrite_for(ALICE, Permissions::VIEW_CHANNEL, Permissions::empty()),
            sent(SECRET, 3, OWNER),
        ])
        .await;
    assert_eq!(next_message(&mut alice).await["content"], "message 3");

    // …and another shuts her out again.
    world
        .publish(vec![
            overwrite_for(ALICE, Permissions::empty(), Permissions::VIEW_CHANNEL),
            sent(SECRET, 4, OWNER),
            sent(GENERAL, 5, OWNER),
        ])
        .await;
    assert_eq!(next_message(&mut alice).await["content"], "message 5");
}

/// A plain role.
fn role(id: RoleId, name: &str, position: u32, permissions: Permissions) -> Role {
    Role {
        id,
        name: name.into(),
        color: 0,
        hoist: false,
        position,
        permissions,
        managed: false,
        mentionable: false,
    }
}

/// ALICE's roles become `roles`.
fn alice_has(roles: &[RoleId]) -> (AggregateRef, DomainEvent) {
    guild_event(
        GUILD,
        GuildEvent::MemberUpdated(MemberUpdated {
            user_id: ALICE,
            nick: None,
            roles: roles.to_vec(),
            communication_disabled_until: None,
            mute: false,
            deaf: false,
        }),
    )
}

/// The next dispatch's name and its channel's id (or the member's user id).
async fn next_dispatch(client: &mut Client) -> (String, String) {
    let payload = client.expect_op(0).await;
    let data = &payload["d"];
    let id = data["id"]
        .as_str()
        .or(data["user"]["id"].as_str())
        .unwrap_or_default();
    (
        payload["t"].as_str().unwrap_or_default().to_owned(),
        id.to_owned(),
    )
}

#[tokio::test]
async fn a_channel_a_member_comes_to_see_or_stops_seeing_through_roles_arrives_or_goes() {
    let readers = role(RoleId::new(2200), "readers", 1, Permissions::empty());
    let mut world = World::with_kafka(SessionSettings::default()).await;
    world
        .publish(vec![
            secret_channel(),
            guild_event(
                GUILD,
                GuildEvent::RoleCreated(RoleCreated {
                    role: readers.clone(),
                }),
            ),
        ])
        .await;
    let (mut alice, _) = world.identified(&world.token(ALICE), MESSAGES).await;
    let (mut owner, _) = world.identified(&world.token(OWNER), MESSAGES).await;
    let secret = SECRET.to_string();
    let general = GENERAL.to_string();
    let event = |name: &str, id: &str| (name.to_owned(), id.to_owned());

    // The readers' role may see the secret channel: giving it to ALICE shows it
    // to her, before her own member update; taking it hides it again.
    world
        .publish(vec![
            guild_event(
                GUILD,
                GuildEvent::ChannelOverwriteUpserted(ChannelOverwriteUpserted {
                    channel_id: SECRET,
                    overwrite: PermissionOverwrite::role(
                        readers.id,
                        Permissions::VIEW_CHANNEL,
                        Permissions::empty(),
                    ),
                }),
            ),
            alice_has(&[readers.id]),
            alice_has(&[]),
        ])
        .await;
    let alice_id = ALICE.to_string();
    for expected in [
        event("CHANNEL_CREATE", &secret),
        event("GUILD_MEMBER_UPDATE", &alice_id),
        event("CHANNEL_DELETE", &secret),
        event("GUILD_MEMBER_UPDATE", &alice_id),
    ] {
        assert_eq!(next_dispatch(&mut alice).await, expected);
    }

    // A role's permissions: @everyone without VIEW_CHANNEL hides GENERAL from
    // ALICE (the owner sees everything anyway); a rename changes nothing; then
    // VIEW_CHANNEL back shows it again.
    let everyone = |name: &str, permissions| {
        guild_event(
            GUILD,
            GuildEvent::RoleUpdated(RoleUpdated {
                role: role(GUILD.everyone_role(), name, 0, permissions),
            }),
        )
    };
    world
        .publish(vec![
            everyone("@everyone", Permissions::SEND_MESSAGES),
            everyone("@all", Permissions::SEND_MESSAGES),
            everyone(
                "@all",
                Permissions::VIEW_CHANNEL | Permissions::SEND_MESSAGES,
            ),
        ])
        .await;
    for expected in [
        event("CHANNEL_DELETE", &general),
        event("GUILD_ROLE_UPDATE", ""),
        event("GUILD_ROLE_UPDATE", ""),
        event("CHANNEL_CREATE", &general),
        event("GUILD_ROLE_UPDATE", ""),
    ] {
        assert_eq!(next_dispatch(&mut alice).await, expected);
    }

    // Deleting a role she holds takes its channels away.
    world
        .publish(vec![
            alice_has(&[readers.id]),
            guild_event(
                GUILD,
                GuildEvent::RoleDeleted(RoleDeleted {
                    role_id: readers.id,
                }),
            ),
        ])
        .await;
    for expected in [
        event("CHANNEL_CREATE", &secret),
        event("GUILD_MEMBER_UPDATE", &alice_id),
        event("CHANNEL_DELETE", &secret),
        event("GUILD_ROLE_DELETE", ""),
    ] {
        assert_eq!(next_dispatch(&mut alice).await, expected);
    }

    // The owner saw every channel throughout: none came or went for them (the
    // overwrite's CHANNEL_UPDATE is all).
    loop {
        let (name, _) = next_dispatch(&mut owner).await;
        assert!(
            name != "CHANNEL_CREATE" && name != "CHANNEL_DELETE",
            "the owner got {name}"
        );
        if name == "GUILD_ROLE_DELETE" {
            break;
        }
    }
}

#[tokio::test]
async fn a_new_member_gets_guild_create_and_members_get_guild_member_add() {
    let mut world = World::with_kafka(SessionSettings::default()).await;
    let watching = MESSAGES | intents(Intents::GUILD_MEMBERS);
    let (mut owner, _) = world.identified(&world.token(OWNER), watching).await;
    let (mut stranger, ready) = world.identified(&world.token(STRANGER), MESSAGES).await;
    assert_eq!(ready["guilds"], serde_json::json!([]));
    world.publish(vec![joined(GUILD, STRANGER, false)]).await;

    let added = owner.dispatch("GUILD_MEMBER_ADD").await;
    assert_eq!(added["user"]["id"], STRANGER.to_string());
    assert_eq!(added["guild_id"], GUILD.to_string());
    let create = stranger.dispatch("GUILD_CREATE").await;
    assert_eq!(create["id"], GUILD.to_string());
    assert_eq!(create["member_count"], 4);
    assert!(
        create["channels"]
            .as_array()
            .is_some_and(|channels| channels.iter().any(|c| c["id"] == GENERAL.to_string()))
    );
    // From now on the newcomer receives the guild's messages.
    world.publish(vec![sent(GENERAL, 1, OWNER)]).await;
    assert_eq!(next_message(&mut stranger).await["content"], "message 1");
}

#[tokio::test]
async fn a_kicked_member_gets_guild_delete_and_nothing_more() {
    let mut world = World::with_kafka(SessionSettings::default()).await;
    let (mut alice, _) = world.identified(&world.token(ALICE), MESSAGES).await;
    world
        .publish(vec![
            guild_event(
                GUILD,
                GuildEvent::MemberKicked(MemberKicked { user_id: ALICE }),
            ),
            sent(GENERAL, 1, OWNER),
        ])
        .await;
    let deleted = alice.dispatch("GUILD_DELETE").await;
    assert_eq!(deleted["id"], GUILD.to_string());
    // The message after the kick does not come: the next payload is the ACK.
    alice.send(serde_json::json!({ "op": 1, "d": null })).await;
    alice.expect_op(11).await;
}

#[tokio::test]
async fn message_edits_are_message_update_with_the_author_and_the_files() {
    let mut world = World::with_kafka(SessionSettings::default()).await;
    let (mut alice, _) = world.identified(&world.token(ALICE), MESSAGES).await;
    world
        .publish(vec![guild_event(
            GUILD,
            GuildEvent::MessageEdited(MessageEdited {
                id: MessageId::new(GENERAL.get() * 1000 + 1),
                channel_id: GENERAL,
                content: "edited".into(),
                edited_timestamp: T0,
                mention_everyone: false,
                mentions: Vec::new(),
                mention_roles: Vec::new(),
                attachments: vec![Attachment {
                    id: AttachmentId::new(GENERAL.get() * 1000 + 2),
                    filename: "notes.txt".into(),
                    description: None,
                    content_type: "text/plain".into(),
                    size: 12,
                    width: None,
                    height: None,
                }],
            }),
        )])
        .await;
    let update = alice.dispatch("MESSAGE_UPDATE").await;
    assert_eq!(update["content"], "edited");
    assert_eq!(
        update["edited_timestamp"],
        "2026-11-28T12:00:00.000000+00:00"
    );
    // The support world's events are by OWNER.
    assert_eq!(update["author"]["id"], OWNER.to_string());
    let file = &update["attachments"][0];
    assert_eq!(file["filename"], "notes.txt", "{update}");
    let url = file["url"].as_str().expect("a signed url");
    assert!(
        url.contains("/cdn/attachments/") && url.contains("&hm="),
        "{url}"
    );
}

#[tokio::test]
async fn a_resumed_session_gets_the_guild_events_it_missed() {
    let mut world = World::with_kafka(SessionSettings::default()).await;
    let token = world.token(ALICE);
    let (alice, ready) = world.identified(&token, MESSAGES).await;
    let session_id = ready["session_id"]
        .as_str()
        .expect("a session id")
        .to_owned();
    let seq = alice.seq.expect("READY and GUILD_CREATE");
    alice.drop_connection().await;
    world
        .publish(vec![sent(GENERAL, 1, OWNER), sent(GENERAL, 2, OWNER)])
        .await;
    // Wait until fan-out has reached the detached session.
    let slot = world
        .gateway
        .hub()
        .sessions_of_user(ALICE)
        .pop()
        .expect("kept");
    tokio::time::timeout(crate::support::PATIENCE, async {
        while slot.with_session(|session| session.seq()) < seq + 2 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the messages reach the session");

    let mut alice = world.connect("v=10&encoding=json").await;
    alice.hello().await;
    alice
        .send(serde_json::json!({
            "op": 6,
            "d": { "token": token, "session_id": session_id, "seq": seq },
        }))
        .await;
    assert_eq!(
        alice.dispatch("MESSAGE_CREATE").await["content"],
        "message 1"
    );
    assert_eq!(
        alice.dispatch("MESSAGE_CREATE").await["content"],
        "message 2"
    );
    alice.dispatch("RESUMED").await;
    assert_eq!(alice.seq, Some(seq + 3));
}

#[tokio::test]
async fn direct_messages_reach_both_recipients_and_no_one_else() {
    use cloudcord_schemas::dm_channel::{DmChannelEvent, DmChannelOpened};
    use cloudcord_schemas::envelope::AggregateType;

    let dm = ChannelId::new(4000);
    let dm_ref = AggregateRef {
        kind: AggregateType::DmChannel,
        id: dm.0,
    };
    let mut world = World::with_kafka(SessionSettings::default()).await;
    let dms = intents(Intents::DIRECT_MESSAGES);
    let (mut alice, _) = world.identified(&world.token(ALICE), dms).await;
    let (mut stranger, _) = world.identified(&world.token(STRANGER), dms).await;
    let (mut owner, _) = world.identified(&world.token(OWNER), dms).await;
    let message = MessageSent {
        attachments: Vec::new(),
        id: MessageId::new(4_000_001),
        channel_id: dm,
        author: snapshot(ALICE, false),
        content: "psst".into(),
        timestamp: T0,
        tts: false,
        mention_everyone: false,
        mentions: Vec::new(),
        mention_roles: Vec::new(),
        message_reference: None,
        nonce: None,
    };
    world
        .publish(vec![
            (
                dm_ref,
                DomainEvent::DmChannel(DmChannelEvent::DmChannelOpened(DmChannelOpened {
                    channel_id: dm,
                    recipients: [snapshot(ALICE, false), snapshot(STRANGER, false)],
                })),
            ),
            (
                dm_ref,
                DomainEvent::DmChannel(DmChannelEvent::MessageSent(message)),
            ),
        ])
        .await;
    for (client, other) in [(&mut alice, STRANGER), (&mut stranger, ALICE)] {
        let created = client.dispatch("CHANNEL_CREATE").await;
        assert_eq!(created["id"], dm.to_string());
        assert_eq!(created["type"], 1);
        assert_eq!(created["recipients"][0]["id"], other.to_string());
        assert_eq!(created["recipients"].as_array().map(Vec::len), Some(1));
        let message = client.dispatch("MESSAGE_CREATE").await;
        assert_eq!(message["content"], "psst");
        assert_eq!(message["channel_id"], dm.to_string());
        assert_eq!(message.get("guild_id"), None);
    }
    owner.send(serde_json::json!({ "op": 1, "d": null })).await;
    owner.expect_op(11).await;
    // A new session of ALICE lists the DM in READY.
    let (_, ready) = world.identified(&world.token(ALICE), dms).await;
    assert_eq!(ready["private_channels"][0]["id"], dm.to_string());
    assert_eq!(
        ready["private_channels"][0]["recipients"][0]["id"],
        STRANGER.to_string()
    );
}

#[tokio::test]
async fn every_kind_of_guild_event_becomes_its_dispatch_in_order() {
    use cloudcord_schemas::guild::{
        ChannelDeleted, ChannelUpdated, GuildDeleted, GuildUpdated, InviteCreated, InviteRevoked,
        MemberBanned, MemberUnbanned, MemberUpdated, Role, RoleCreated, RoleDeleted, RoleUpdated,
        VoiceState, VoiceStateUpdated,
    };
    use cloudcord_schemas::message::ReactionEmoji;
    use cloudcord_schemas::message::{
        MessageDeleted, MessagePinned, MessagesBulkDeleted, ReactionAdded, ReactionRemoved,
    };

    let mut world = World::with_kafka(SessionSettings::default()).await;
    let everything = Intents::all() & !Intents::GUILD_PRESENCES;
    let (mut owner, _) = world
        .identified(&world.token(OWNER), intents(everything))
        .await;
    let message = MessageId::new(GENERAL.get() * 1000 + 1);
    let fire = ReactionEmoji {
        id: None,
        name: "🔥".into(),
    };
    let role = role(RoleId::new(2100), "mods", 1, Permissions::empty());
    let mut renamed = text_channel(GENERAL, "general");
    renamed.topic = Some("news".into());
    let g = |event| guild_event(GUILD, event);
    world
        .publish(vec![
            g(GuildEvent::ReactionAdded(ReactionAdded {
                user_id: ALICE,
                message_id: message,
                channel_id: GENERAL,
                emoji: fire.clone(),
            })),
            g(GuildEvent::ReactionRemoved(ReactionRemoved {
                user_id: ALICE,
                message_id: message,
                channel_id: GENERAL,
                emoji: fire,
            })),
            g(GuildEvent::MessagePinned(MessagePinned {
                message_id: message,
                channel_id: GENERAL,
                pinned_at: T0,
            })),
            g(GuildEvent::MessageDeleted(MessageDeleted {
                id: message,
                channel_id: GENERAL,
            })),
            g(GuildEvent::MessagesBulkDeleted(MessagesBulkDeleted {
                ids: vec![MessageId::new(1), MessageId::new(2)],
                channel_id: GENERAL,
            })),
            g(GuildEvent::RoleCreated(RoleCreated { role: role.clone() })),
            g(GuildEvent::RoleUpdated(RoleUpdated {
                role: Role {
                    name: "moderators".into(),
                    ..role
                },
            })),
            g(GuildEvent::MemberUpdated(MemberUpdated {
                user_id: ALICE,
                nick: Some("al".into()),
                roles: vec![RoleId::new(2100)],
                communication_disabled_until: None,
                mute: false,
                deaf: false,
            })),
            g(GuildEvent::RoleDeleted(RoleDeleted {
                role_id: RoleId::new(2100),
            })),
            g(GuildEvent::ChannelUpdated(ChannelUpdated {
                channel: renamed,
            })),
            g(GuildEvent::InviteCreated(InviteCreated {
                code: "abc".into(),
                channel_id: GENERAL,
                inviter_id: OWNER,
                max_age: 0,
                max_uses: 0,
                temporary: false,
                created_at: T0,
            })),
            g(GuildEvent::InviteRevoked(InviteRevoked {
                code: "abc".into(),
                channel_id: GENERAL,
            })),
            g(GuildEvent::VoiceStateUpdated(VoiceStateUpdated {
                state: VoiceState {
                    user_id: ALICE,
                    channel_id: None,
                    session_id: None,
                    deaf: false,
                    mute: false,
                    self_deaf: false,
                    self_mute: false,
                    suppress: false,
                },
            })),
            g(GuildEvent::MemberBanned(MemberBanned {
                user_id: ALICE,
                user: None,
                reason: None,
                delete_message_seconds: 0,
                banned_at: T0,
            })),
            g(GuildEvent::MemberUnbanned(MemberUnbanned {
                user_id: ALICE,
            })),
            g(GuildEvent::GuildUpdated(GuildUpdated {
                name: Some("renamed".into()),
                ..GuildUpdated::default()
            })),
            g(GuildEvent::ChannelDeleted(ChannelDeleted {
                channel: text_channel(GENERAL, "general"),
            })),
            g(GuildEvent::GuildDeleted(GuildDeleted {})),
        ])
        .await;
    let expected = [
        "MESSAGE_REACTION_ADD",
        "MESSAGE_REACTION_REMOVE",
        "CHANNEL_PINS_UPDATE",
        "MESSAGE_DELETE",
        "MESSAGE_DELETE_BULK",
        "GUILD_ROLE_CREATE",
        "GUILD_ROLE_UPDATE",
        "GUILD_MEMBER_UPDATE",
        "GUILD_ROLE_DELETE",
        "CHANNEL_UPDATE",
        "INVITE_CREATE",
        "INVITE_DELETE",
        "VOICE_STATE_UPDATE",
        "GUILD_BAN_ADD",
        "GUILD_MEMBER_REMOVE",
        "GUILD_BAN_REMOVE",
        "GUILD_UPDATE",
        "CHANNEL_DELETE",
        "GUILD_DELETE",
    ];
    let mut received = Vec::new();
    for _ in expected {
        let payload = owner.expect_op(0).await;
        received.push(payload["t"].as_str().unwrap_or_default().to_owned());
        match payload["t"].as_str() {
            Some("MESSAGE_REACTION_ADD") => {
                assert_eq!(payload["d"]["emoji"]["name"], "🔥");
                assert_eq!(payload["d"]["member"]["user"]["id"], ALICE.to_string());
            }
            Some("GUILD_MEMBER_UPDATE") => {
                assert_eq!(payload["d"]["nick"], "al");
                assert_eq!(payload["d"]["roles"], serde_json::json!(["2100"]));
            }
            Some("GUILD_UPDATE") => assert_eq!(payload["d"]["name"], "renamed"),
            Some("CHANNEL_UPDATE") => assert_eq!(payload["d"]["topic"], "news"),
            _ => {}
        }
    }
    assert_eq!(received, expected);
}

#[tokio::test]
async fn guild_update_and_later_guild_creates_carry_the_icon_and_banner() {
    use cloudcord_schemas::guild::GuildUpdated;

    let mut world = World::with_kafka(SessionSettings::default()).await;
    let (mut owner, _) = world.identified(&world.token(OWNER), MESSAGES).await;
    let icon = "0123456789abcdef0123456789abcdef";
    let banner = "a_0123456789abcdef0123456789abcdef";
    world
        .publish(vec![guild_event(
            GUILD,
            GuildEvent::GuildUpdated(GuildUpdated {
                icon: Some(Some(icon.into())),
                banner: Some(Some(banner.into())),
                ..GuildUpdated::default()
            }),
        )])
        .await;
    let update = owner.dispatch("GUILD_UPDATE").await;
    assert_eq!(update["id"], GUILD.to_string());
    assert_eq!(update["icon"], icon, "{update}");
    assert_eq!(update["icon_hash"], icon, "{update}");
    assert_eq!(update["banner"], banner, "{update}");

    // A session that starts afterwards sees them in its GUILD_CREATE.
    let mut alice = world.connect("v=10&encoding=json").await;
    alice.hello().await;
    alice.identify(&world.token(ALICE), MESSAGES).await;
    alice.dispatch("READY").await;
    let create = alice.dispatch("GUILD_CREATE").await;
    assert_eq!(create["icon"], icon, "{create}");
    assert_eq!(create["banner"], banner, "{create}");

    // Removed, it is null again.
    world
        .publish(vec![guild_event(
            GUILD,
            GuildEvent::GuildUpdated(GuildUpdated {
                icon: Some(None),
                ..GuildUpdated::default()
            }),
        )])
        .await;
    let update = owner.dispatch("GUILD_UPDATE").await;
    assert!(update["icon"].is_null(), "{update}");
    assert_eq!(update["banner"], banner, "{update}");
}

#[tokio::test]
async fn a_profile_change_is_user_update_to_the_users_own_sessions() {
    use cloudcord_schemas::user::{UserEvent, UserProfileUpdated};

    let mut world = World::with_kafka(SessionSettings::default()).await;
    let (mut alice, _) = world.identified(&world.token(ALICE), MESSAGES).await;
    let (mut owner, _) = world.identified(&world.token(OWNER), MESSAGES).await;
    world
        .publish(vec![(
            crate::support::user_ref(ALICE),
            DomainEvent::User(UserEvent::UserProfileUpdated(UserProfileUpdated {
                username: "alice".into(),
                global_name: Some("Alice".into()),
                avatar: None,
            })),
        )])
        .await;
    let update = alice.dispatch("USER_UPDATE").await;
    assert_eq!(update["id"], ALICE.to_string());
    assert_eq!(update["username"], "alice");
    assert_eq!(update["global_name"], "Alice");
    // Nobody else is told.
    owner.send(serde_json::json!({ "op": 1, "d": null })).await;
    owner.expect_op(11).await;
}
