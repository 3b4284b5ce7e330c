//! Every read route's happy path, each answer checked against Discord's OpenAPI
//! description.

use cloudcord_projectors::record::DomainEvent;
use cloudcord_schemas::dm_channel::{DmChannelEvent, DmChannelOpened};
use cloudcord_schemas::envelope::{AggregateRef, AggregateType};
use cloudcord_schemas::guild::{GuildEvent, GuildUpdated, InviteCreated};
use cloudcord_schemas::message::{MessagePinned, MessageReference, ReactionAdded, ReactionEmoji};
use cloudcord_schemas::user::{FriendRequestAccepted, UserEvent};
use reqwest::StatusCode;
use serde_json::Value;

use crate::openapi::{assert_route_conforms, assert_schema_conforms};
use crate::support::{
    ALICE, BANNED, BOB, BOT, DM, GENERAL, GENERAL_MESSAGES, GUILD, MODS, OWNER, SECRET, T0, VOICE,
    World, guild_event, message_id, snapshot, user_ref,
};

/// The scenario plus what only these tests need: a reply that mentions, a
/// reaction, a pin, an invite, a DM and a friendship.
async fn world() -> World {
    let mut world = World::new().await;
    let mut reply = crate::support::sent(GENERAL, GENERAL_MESSAGES + 1, BOB);
    reply.content = format!("<@{ALICE}> agreed");
    reply.mentions = vec![ALICE];
    reply.message_reference = Some(MessageReference {
        message_id: message_id(GENERAL, 1),
        channel_id: GENERAL,
        guild_id: Some(GUILD),
    });
    let reacted = message_id(GENERAL, 1);
    let dm = AggregateRef {
        kind: AggregateType::DmChannel,
        id: DM.0,
    };
    let mut in_dm = crate::support::sent(DM, 1, ALICE);
    in_dm.content = "psst".into();
    world
        .apply(vec![
            guild_event(GUILD, GuildEvent::MessageSent(reply)),
            guild_event(
                GUILD,
                GuildEvent::ReactionAdded(ReactionAdded {
                    user_id: BOB,
                    message_id: reacted,
                    channel_id: GENERAL,
                    emoji: ReactionEmoji {
                        id: None,
                        name: "🔥".into(),
                    },
                }),
            ),
            guild_event(
                GUILD,
                GuildEvent::ReactionAdded(ReactionAdded {
                    user_id: ALICE,
                    message_id: reacted,
                    channel_id: GENERAL,
                    emoji: ReactionEmoji {
                        id: None,
                        name: "🔥".into(),
                    },
                }),
            ),
            guild_event(
                GUILD,
                GuildEvent::MessagePinned(MessagePinned {
                    message_id: reacted,
                    channel_id: GENERAL,
                    pinned_at: T0,
                }),
            ),
            guild_event(
                GUILD,
                GuildEvent::InviteCreated(InviteCreated {
                    code: "welcome".into(),
                    channel_id: GENERAL,
                    inviter_id: OWNER,
                    max_age: 0,
                    max_uses: 0,
                    temporary: false,
                    created_at: T0,
                }),
            ),
            (
                dm,
                DomainEvent::DmChannel(DmChannelEvent::DmChannelOpened(DmChannelOpened {
                    channel_id: DM,
                    recipients: [snapshot(ALICE, false), snapshot(BOB, false)],
                })),
            ),
            (
                dm,
                DomainEvent::DmChannel(DmChannelEvent::MessageSent(in_dm)),
            ),
            (
                user_ref(ALICE),
                DomainEvent::User(UserEvent::FriendRequestAccepted(FriendRequestAccepted {
                    user_id: BOB,
                })),
            ),
        ])
        .await;
    world
}

#[tokio::test(flavor = "multi_thread")]
async fn user_routes_answer_discord_objects() {
    let world = world().await;

    let (status, me) = world.get("/users/@me", ALICE).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_route_conforms("/users/@me", &me);
    assert_eq!(me["id"], ALICE.to_string());
    assert_eq!(me["email"], "user1002@example.test");
    assert_eq!(me["locale"], "en-US");

    let (status, bob) = world.get(&format!("/users/{BOB}"), ALICE).await;
    assert_eq!(status, StatusCode::OK, "{bob}");
    assert_route_conforms("/users/{user_id}", &bob);
    assert!(bob.get("email").is_none(), "another user's e-mail: {bob}");

    let (status, guilds) = world.get("/users/@me/guilds?with_counts=true", ALICE).await;
    assert_eq!(status, StatusCode::OK, "{guilds}");
    assert_route_conforms("/users/@me/guilds", &guilds);
    assert_eq!(guilds.as_array().map(Vec::len), Some(1), "{guilds}");
    assert_eq!(guilds[0]["owner"], false);
    assert_eq!(guilds[0]["approximate_member_count"], 4);
    let (_, owners) = world.get("/users/@me/guilds", OWNER).await;
    assert_eq!(owners[0]["owner"], true);
    assert_eq!(
        owners[0]["permissions"],
        cloudcord_schemas::permissions::Permissions::all()
            .bits()
            .to_string()
    );

    let (status, dms) = world.get("/users/@me/channels", ALICE).await;
    assert_eq!(status, StatusCode::OK, "{dms}");
    assert_eq!(dms.as_array().map(Vec::len), Some(1), "{dms}");
    assert_schema_conforms("PrivateChannelResponse", &dms[0]);
    assert_eq!(dms[0]["recipients"][0]["id"], BOB.to_string());
    assert_eq!(dms[0]["last_message_id"], message_id(DM, 1).to_string());

    let (status, relationships) = world.get("/users/@me/relationships", ALICE).await;
    assert_eq!(status, StatusCode::OK, "{relationships}");
    assert_eq!(relationships[0]["id"], BOB.to_string());
    assert_eq!(relationships[0]["type"], 1, "friends: {relationships}");
    assert_schema_conforms("UserResponse", &relationships[0]["user"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn guild_routes_answer_discord_objects() {
    let world = world().await;

    let (status, guild) = world
        .get(&format!("/guilds/{GUILD}?with_counts=true"), ALICE)
        .await;
    assert_eq!(status, StatusCode::OK, "{guild}");
    assert_route_conforms("/guilds/{guild_id}", &guild);
    assert_eq!(guild["approximate_member_count"], 4);
    assert_eq!(guild["roles"].as_array().map(Vec::len), Some(2));
    let (_, plain) = world.get(&format!("/guilds/{GUILD}"), ALICE).await;
    assert!(plain.get("approximate_member_count").is_none());

    let (status, channels) = world.get(&format!("/guilds/{GUILD}/channels"), ALICE).await;
    assert_eq!(status, StatusCode::OK, "{channels}");
    assert_route_conforms("/guilds/{guild_id}/channels", &channels);
    let voice = channels
        .as_array()
        .and_then(|all| all.iter().find(|c| c["id"] == VOICE.to_string()))
        .expect("the voice channel");
    assert_eq!(voice["type"], 2);
    assert_eq!(voice["bitrate"], 64_000);

    let (status, roles) = world.get(&format!("/guilds/{GUILD}/roles"), BOB).await;
    assert_eq!(status, StatusCode::OK, "{roles}");
    assert_route_conforms("/guilds/{guild_id}/roles", &roles);
    assert_eq!(roles[0]["name"], "@everyone");
    assert_eq!(roles[1]["id"], MODS.to_string());

    let (status, member) = world
        .get(&format!("/guilds/{GUILD}/members/{ALICE}"), BOB)
        .await;
    assert_eq!(status, StatusCode::OK, "{member}");
    assert_route_conforms("/guilds/{guild_id}/members/{user_id}", &member);
    assert_eq!(member["nick"], "Al");
    assert_eq!(member["roles"][0], MODS.to_string());
    let (_, me) = world
        .get(&format!("/guilds/{GUILD}/members/@me"), BOB)
        .await;
    assert_eq!(me["user"]["id"], BOB.to_string());

    let (status, bans) = world.get(&format!("/guilds/{GUILD}/bans"), ALICE).await;
    assert_eq!(status, StatusCode::OK, "{bans}");
    assert_route_conforms("/guilds/{guild_id}/bans", &bans);
    assert_eq!(bans[0]["user"]["id"], BANNED.to_string());
    assert_eq!(bans[0]["reason"], "spam");

    let (status, invites) = world.get(&format!("/guilds/{GUILD}/invites"), ALICE).await;
    assert_eq!(status, StatusCode::OK, "{invites}");
    assert_route_conforms("/guilds/{guild_id}/invites", &invites);
    assert_eq!(invites[0]["code"], "welcome");
    assert_eq!(
        invites[0]["uses"], 0,
        "metadata with MANAGE_GUILD: {invites}"
    );

    let (status, log) = world
        .get(&format!("/guilds/{GUILD}/audit-logs"), ALICE)
        .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    assert_route_conforms("/guilds/{guild_id}/audit-logs", &log);
    let entries = log["audit_log_entries"].as_array().expect("entries");
    // Newest first: the invite, the pin, the ban, the member update, the bot added
    // (it joined without an invite), the role.
    let actions: Vec<&Value> = entries.iter().map(|e| &e["action_type"]).collect();
    assert_eq!(actions, [40, 74, 22, 24, 28, 30], "{log}");
    assert_eq!(entries[2]["reason"], "spam");
    let (_, bans_only) = world
        .get(&format!("/guilds/{GUILD}/audit-logs?action_type=22"), ALICE)
        .await;
    assert_eq!(
        bans_only["audit_log_entries"].as_array().map(Vec::len),
        Some(1)
    );
    let newest = entries[0]["id"].as_str().expect("id");
    let (_, older) = world
        .get(
            &format!("/guilds/{GUILD}/audit-logs?before={newest}&limit=2"),
            ALICE,
        )
        .await;
    let older: Vec<&Value> = older["audit_log_entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| &e["action_type"])
        .collect();
    assert_eq!(older, [74, 22]);
}

#[tokio::test(flavor = "multi_thread")]
async fn guilds_show_their_icon_and_banner_hashes() {
    let mut world = World::new().await;
    let icon = "0123456789abcdef0123456789abcdef";
    let banner = "a_0123456789abcdef0123456789abcdef";
    world
        .apply(vec![guild_event(
            GUILD,
            GuildEvent::GuildUpdated(GuildUpdated {
                icon: Some(Some(icon.into())),
                banner: Some(Some(banner.into())),
                ..GuildUpdated::default()
            }),
        )])
        .await;
    let (status, guild) = world.get(&format!("/guilds/{GUILD}"), ALICE).await;
    assert_eq!(status, StatusCode::OK, "{guild}");
    assert_route_conforms("/guilds/{guild_id}", &guild);
    assert_eq!(
        (&guild["icon"], &guild["icon_hash"], &guild["banner"]),
        (&Value::from(icon), &Value::from(icon), &Value::from(banner))
    );
    let (_, guilds) = world.get("/users/@me/guilds", ALICE).await;
    assert_eq!(guilds[0]["icon"], icon, "{guilds}");
    assert_eq!(guilds[0]["banner"], banner, "{guilds}");

    // Removing the icon keeps the banner.
    world
        .apply(vec![guild_event(
            GUILD,
            GuildEvent::GuildUpdated(GuildUpdated {
                icon: Some(None),
                ..GuildUpdated::default()
            }),
        )])
        .await;
    let (_, guild) = world.get(&format!("/guilds/{GUILD}"), ALICE).await;
    assert!(guild["icon"].is_null(), "{guild}");
    assert_eq!(guild["banner"], banner);
}

#[tokio::test(flavor = "multi_thread")]
async fn channel_message_invite_and_gateway_routes_answer_discord_objects() {
    let world = world().await;

    let (status, channel) = world.get(&format!("/channels/{GENERAL}"), BOB).await;
    assert_eq!(status, StatusCode::OK, "{channel}");
    assert_route_conforms("/channels/{channel_id}", &channel);
    assert_eq!(
        channel["last_message_id"],
        message_id(GENERAL, GENERAL_MESSAGES + 1).to_string()
    );
    let (status, secret) = world.get(&format!("/channels/{SECRET}"), ALICE).await;
    assert_eq!(status, StatusCode::OK, "a mod sees it: {secret}");
    assert_eq!(
        secret["permission_overwrites"].as_array().map(Vec::len),
        Some(2)
    );
    let (status, dm) = world.get(&format!("/channels/{DM}"), BOB).await;
    assert_eq!(status, StatusCode::OK, "{dm}");
    assert_route_conforms("/channels/{channel_id}", &dm);
    assert_eq!(dm["recipients"][0]["id"], ALICE.to_string());

    let (status, page) = world
        .get(&format!("/channels/{GENERAL}/messages?limit=2"), ALICE)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_route_conforms("/channels/{channel_id}/messages", &page);
    let reply = &page[0];
    assert_eq!(reply["type"], 19, "{reply}");
    assert_eq!(reply["mentions"][0]["id"], ALICE.to_string());
    assert_eq!(
        reply["message_reference"]["message_id"],
        message_id(GENERAL, 1).to_string()
    );

    let reacted = message_id(GENERAL, 1);
    let (status, message) = world
        .get(&format!("/channels/{GENERAL}/messages/{reacted}"), ALICE)
        .await;
    assert_eq!(status, StatusCode::OK, "{message}");
    assert_route_conforms("/channels/{channel_id}/messages/{message_id}", &message);
    assert_eq!(message["pinned"], true);
    assert_eq!(message["reactions"][0]["count"], 2);
    assert_eq!(message["reactions"][0]["me"], true);
    assert_eq!(message["reactions"][0]["emoji"]["name"], "🔥");
    let (_, seen_by_owner) = world
        .get(&format!("/channels/{GENERAL}/messages/{reacted}"), OWNER)
        .await;
    assert_eq!(seen_by_owner["reactions"][0]["me"], false);

    let (status, dm_messages) = world.get(&format!("/channels/{DM}/messages"), BOB).await;
    assert_eq!(status, StatusCode::OK, "{dm_messages}");
    assert_eq!(dm_messages[0]["content"], "psst");

    let (status, pins) = world.get(&format!("/channels/{GENERAL}/pins"), BOB).await;
    assert_eq!(status, StatusCode::OK, "{pins}");
    assert_route_conforms("/channels/{channel_id}/pins", &pins);
    assert_eq!(pins.as_array().map(Vec::len), Some(1));

    let (status, reactors) = world
        .get(
            &format!("/channels/{GENERAL}/messages/{reacted}/reactions/%F0%9F%94%A5"),
            BOB,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reactors}");
    assert_route_conforms(
        "/channels/{channel_id}/messages/{message_id}/reactions/{emoji_name}",
        &reactors,
    );
    let ids: Vec<&str> = reactors
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|u| u["id"].as_str())
        .collect();
    assert_eq!(ids, [ALICE.to_string(), BOB.to_string()]);
    let (_, after_alice) = world
        .get(
            &format!("/channels/{GENERAL}/messages/{reacted}/reactions/%F0%9F%94%A5?after={ALICE}&limit=1"),
            BOB,
        )
        .await;
    assert_eq!(after_alice[0]["id"], BOB.to_string());

    let (status, _, invite) = world
        .get_with("/invites/welcome?with_counts=true", None, &[])
        .await;
    assert_eq!(status, StatusCode::OK, "{invite}");
    assert_route_conforms("/invites/{code}", &invite);
    assert_eq!(invite["guild"]["id"], GUILD.to_string());
    assert_eq!(invite["approximate_member_count"], 4);
    assert!(
        invite.get("uses").is_none(),
        "no metadata for anyone: {invite}"
    );

    let (status, _, gateway) = world.get_with("/gateway", None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_route_conforms("/gateway", &gateway);
    let (status, _, bot) = world
        .get_with("/gateway/bot", Some(&world.bot_token(BOT)), &[])
        .await;
    assert_eq!(status, StatusCode::OK, "{bot}");
    assert_route_conforms("/gateway/bot", &bot);
    assert_eq!(bot["shards"], 1);
    // The gateway has not created its table in this world's schema: no starts.
    assert_eq!(
        bot["session_start_limit"],
        serde_json::json!({
            "total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1,
        })
    );
}
