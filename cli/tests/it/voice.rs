//! Voice through the whole stack, as the web client will do it: two users join a
//! voice channel over REST (`POST /api/v10/channels/{id}/voice`: the guild decides,
//! command-api mints the media tokens), then two headless Chromium instances send
//! their offers to the front door's `/sfu/sessions` and must each decode the other's
//! video and receive the other's audio (the SFU's own browser script,
//! `sfu/tests/browser/two_peers.mjs`).
//!
//! Needs `/usr/bin/chromium` (or `CHROMIUM`) and playwright-core (`web/node_modules`
//! or `PLAYWRIGHT_CORE`), so it is ignored by default:
//! `cargo test -p cloudcord --test it voice -- --ignored`.
//!
//! Without a browser, with a str0m client over UDP and twilight as the bot: a
//! client that connects to the SFU and then vanishes must leave its voice channel
//! (a bot in the guild sees it go); so must a connected client's user when the SFU
//! stops, and the user of a session a crashed SFU left recorded when it starts
//! again; and a bot joins voice with gateway op 4, gets VOICE_SERVER_UPDATE, and its
//! media token admits it to the SFU, while a channel without CONNECT refuses it.

use std::path::Path;
use std::time::Duration;

use cloudcord_schemas::ids::{ChannelId, GuildId, UserId};
use cloudcord_sfu::settings as sfu;
use cloudcord_sfu::udp_client::UdpClient;
use cloudcord_sfu::voice_state::{Connection, session_key};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};
use twilight_gateway::{Event, Intents, Shard};
use twilight_model::gateway::payload::incoming::{GuildCreate, VoiceServerUpdate};
use twilight_model::gateway::payload::outgoing::UpdateVoiceState;
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, GuildMarker, UserMarker};
use twilight_model::voice::VoiceState;

use crate::twilight::{Stack, bot_member, connect_shard, post, register, snowflake, until};

#[tokio::test(flavor = "multi_thread")]
async fn a_peer_that_vanishes_leaves_its_voice_channel() {
    let mut stack = Stack::start().await;
    let mut call = OwnerInVoice::join(&stack).await;
    let client = call.connect_media(&stack).await;

    // The client vanishes without a word. The SFU notices when ICE consent runs out
    // (str0m's ICE-lite allows 15 s after the last STUN request, well within
    // `until`'s minute) and the owner leaves through the command path.
    drop(client);
    let left = owner_voice_state(&mut call.shard, call.owner_id).await;
    assert_eq!(
        left.channel_id, None,
        "VOICE_STATE_UPDATE with channel_id null"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_sfu_disconnects_the_voice_states_of_its_sessions() {
    let mut stack = Stack::start().await;
    let call = OwnerInVoice::join(&stack).await;
    let _client = call.connect_media(&stack).await;
    call.assert_in_voice(&stack).await;

    // Every service stops and starts again, the SFU under another name: the new one
    // finds no session of its own to sweep, so only the stopping one can have
    // disconnected the owner.
    stack.restart_with(&[("sfu.instance", "sfu-next")]).await;
    call.assert_left_voice(&stack).await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_sfu_disconnects_the_voice_states_a_crashed_run_left() {
    let mut stack = Stack::start().await;
    let call = OwnerInVoice::join(&stack).await;
    call.assert_in_voice(&stack).await;

    // What an SFU that crashed with the owner connected leaves behind: the session's
    // record and no tombstone. (An SFU that stops ends its sessions itself; this
    // owner never connected media, so that changes nothing here.)
    let owner = Connection {
        user: UserId::new(call.owner_id.get()),
        guild: GuildId::new(call.guild_id.get()),
        channel: ChannelId::new(call.voice_id.get()),
    };
    let producer: FutureProducer = stack
        .kafka()
        .producer_config("voice-test")
        .create()
        .expect("a producer");
    let value = serde_json::to_vec(&owner).expect("a session record");
    let key = session_key(&sfu::Settings::default().instance, owner);
    producer
        .send(
            FutureRecord::to(&stack.kafka().topics().voice_sessions)
                .key(&key)
                .payload(&value),
            Duration::from_secs(30),
        )
        .await
        .expect("the record is appended");

    // The restarted SFU reads it before it answers any offer.
    stack.restart().await;
    call.assert_left_voice(&stack).await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Chromium and playwright-core: `make voice-test` runs it"]
async fn two_browsers_talk_in_a_voice_channel_through_the_stack() {
    let mut stack = Stack::start().await;
    let http = reqwest::Client::new();
    let owner = format!("Bearer {}", register(&http, &stack).await);
    let guild = post(
        &http,
        &stack.api("/guilds"),
        &owner,
        json!({"name": "Voice"}),
    )
    .await;
    let guild_id = guild["id"].as_str().expect("a guild id");
    let voice = post(
        &http,
        &stack.api(&format!("/guilds/{guild_id}/channels")),
        &owner,
        json!({"name": "Lounge", "type": 2}),
    )
    .await;
    let voice_id = voice["id"].as_str().expect("a channel id");

    let guest: Value = http
        .post(stack.api("/auth/register"))
        .json(&json!({"username": "guest", "password": "correct horse battery"}))
        .send()
        .await
        .expect("registers")
        .json()
        .await
        .expect("JSON");
    let guest = format!("Bearer {}", guest["token"].as_str().expect("a token"));
    let invite = post(
        &http,
        &stack.api(&format!("/channels/{voice_id}/invites")),
        &owner,
        json!({}),
    )
    .await;
    let code = invite["code"].as_str().expect("an invite code");
    post(
        &http,
        &stack.api(&format!("/invites/{code}")),
        &guest,
        json!({}),
    )
    .await;

    let mut tokens = Vec::new();
    for who in [&owner, &guest] {
        let grant = post(
            &http,
            &stack.api(&format!("/channels/{voice_id}/voice")),
            who,
            json!({}),
        )
        .await;
        assert_eq!(grant["endpoint"], "/sfu/sessions", "{grant}");
        tokens.push(grant["token"].as_str().expect("a media token").to_owned());
    }

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sfu/tests/browser/two_peers.mjs");
    let output = tokio::process::Command::new("node")
        .arg(script)
        .arg(format!("http://{}", stack.front_door))
        .args(&tokens)
        .output()
        .await
        .expect("node runs");
    stack.stop().await;
    assert!(
        output.status.success(),
        "both browsers must receive: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn twilight_joins_voice_with_op_4_and_its_media_token_admits_it_to_the_sfu() {
    let mut stack = Stack::start().await;
    let http = reqwest::Client::new();
    let owner = format!("Bearer {}", register(&http, &stack).await);
    let guild_id = new_guild(&http, &stack, &owner).await;
    let lounge = voice_channel(&http, &stack, &owner, guild_id, "Lounge", json!([])).await;
    // @everyone (the guild's id) may see the stage but not connect (1 << 20).
    let deny_connect =
        json!([{"id": guild_id.to_string(), "type": 0, "allow": "0", "deny": "1048576"}]);
    let stage = voice_channel(&http, &stack, &owner, guild_id, "Stage", deny_connect).await;
    let (bot_token, _) = bot_member(&http, &stack, &owner, guild_id, lounge).await;
    let (mut shard, ready, _) = connect_shard(&stack, &bot_token, VOICE_INTENTS, guild_id).await;
    let bot_id = ready.user.id;

    // Join: the guild sees the bot's voice state, the bot gets its media server.
    shard.command(&UpdateVoiceState::new(guild_id, lounge, false, true));
    let mut joined = None;
    let mut server = None;
    while joined.is_none() || server.is_none() {
        match until(&mut shard, voice_events).await {
            VoiceEvent::State(state) if state.user_id == bot_id => joined = Some(state),
            VoiceEvent::Server(update) => server = Some(update),
            VoiceEvent::State(_) => {}
        }
    }
    let (joined, server) = (joined.expect("joined"), server.expect("a server"));
    assert_eq!(joined.channel_id, Some(lounge));
    assert!(joined.self_mute, "op 4's self_mute is kept");
    assert_eq!(server.guild_id, guild_id);
    let endpoint = server.endpoint.expect("an endpoint");
    // The media token admits the bot to the SFU.
    let _client = connect_to_sfu(&http, &stack, &endpoint, &server.token).await;

    // A move to a channel without CONNECT is refused by the guild: nothing changes
    // and no media server is handed out. Leaving then clears the voice state.
    shard.command(&UpdateVoiceState::new(guild_id, stage, false, false));
    shard.command(&UpdateVoiceState::new(guild_id, None, false, false));
    loop {
        match until(&mut shard, voice_events).await {
            VoiceEvent::State(state) if state.user_id == bot_id => {
                assert_eq!(state.channel_id, None, "the refused move did not happen");
                break;
            }
            VoiceEvent::Server(update) => panic!("a media server for a refused move: {update:?}"),
            VoiceEvent::State(_) => {}
        }
    }
    stack.stop().await;
}

/// A new guild of `owner`.
async fn new_guild(http: &reqwest::Client, stack: &Stack, owner: &str) -> Id<GuildMarker> {
    let guild = post(http, &stack.api("/guilds"), owner, json!({"name": "Voice"})).await;
    snowflake(&guild["id"])
}

/// A new voice channel `name` of `guild_id` with `overwrites`.
async fn voice_channel(
    http: &reqwest::Client,
    stack: &Stack,
    owner: &str,
    guild_id: Id<GuildMarker>,
    name: &str,
    overwrites: Value,
) -> Id<ChannelMarker> {
    let body = json!({"name": name, "type": 2, "permission_overwrites": overwrites});
    let url = stack.api(&format!("/guilds/{guild_id}/channels"));
    snowflake(&post(http, &url, owner, body).await["id"])
}

/// What the bot of the voice tests subscribes to.
const VOICE_INTENTS: Intents = Intents::GUILDS.union(Intents::GUILD_VOICE_STATES);

/// A guild with a voice channel, a bot member watching its voice states, and its
/// owner joined over REST, with the media token for the SFU.
struct OwnerInVoice {
    bot_token: String,
    guild_id: Id<GuildMarker>,
    voice_id: Id<ChannelMarker>,
    owner_id: Id<UserMarker>,
    /// The bot's gateway session, past the owner's joining VOICE_STATE_UPDATE.
    shard: Shard,
    media_token: String,
}

impl OwnerInVoice {
    async fn join(stack: &Stack) -> Self {
        let http = reqwest::Client::new();
        let owner = format!("Bearer {}", register(&http, stack).await);
        let guild_id = new_guild(&http, stack, &owner).await;
        let voice_id = voice_channel(&http, stack, &owner, guild_id, "Lounge", json!([])).await;
        let (bot_token, _) = bot_member(&http, stack, &owner, guild_id, voice_id).await;
        let (mut shard, ..) = connect_shard(stack, &bot_token, VOICE_INTENTS, guild_id).await;
        let grant = post(
            &http,
            &stack.api(&format!("/channels/{voice_id}/voice")),
            &owner,
            json!({}),
        )
        .await;
        let owner_id: Id<UserMarker> = snowflake(&grant["voice_state"]["user_id"]);
        let joined = owner_voice_state(&mut shard, owner_id).await;
        assert_eq!(joined.channel_id, Some(voice_id));
        let media_token = grant["token"].as_str().expect("a media token").to_owned();
        Self {
            bot_token,
            guild_id,
            voice_id,
            owner_id,
            shard,
            media_token,
        }
    }

    /// The owner's media connection to the SFU.
    async fn connect_media(&self, stack: &Stack) -> UdpClient {
        let http = reqwest::Client::new();
        connect_to_sfu(&http, stack, "/sfu/sessions", &self.media_token).await
    }

    /// A new bot session's GUILD_CREATE lists the owner in voice.
    async fn assert_in_voice(&self, stack: &Stack) {
        let (_, _, guild) =
            connect_shard(stack, &self.bot_token, VOICE_INTENTS, self.guild_id).await;
        assert!(
            in_voice(&guild, self.owner_id),
            "GUILD_CREATE lists the owner in voice"
        );
    }

    /// After a restart: a new bot session sees the owner out of voice, at once or
    /// in a VOICE_STATE_UPDATE (the correction may still be on its way).
    async fn assert_left_voice(&self, stack: &Stack) {
        // Waits for the restarted stack (a registration is retried until it answers).
        register(&reqwest::Client::new(), stack).await;
        let (mut shard, _, guild) =
            connect_shard(stack, &self.bot_token, VOICE_INTENTS, self.guild_id).await;
        if in_voice(&guild, self.owner_id) {
            let left = owner_voice_state(&mut shard, self.owner_id).await;
            assert_eq!(
                left.channel_id, None,
                "VOICE_STATE_UPDATE with channel_id null"
            );
        }
    }
}

/// The next VOICE_STATE_UPDATE of `owner` the bot's `shard` sees.
async fn owner_voice_state(shard: &mut Shard, owner: Id<UserMarker>) -> VoiceState {
    until(shard, |event| match event {
        Event::VoiceStateUpdate(update) if update.0.user_id == owner => Some(update.0),
        _ => None,
    })
    .await
}

/// Whether `guild`'s GUILD_CREATE lists `user` in a voice channel.
fn in_voice(guild: &GuildCreate, user: Id<UserMarker>) -> bool {
    let GuildCreate::Available(guild) = guild else {
        panic!("the guild is unavailable");
    };
    guild
        .voice_states
        .iter()
        .any(|state| state.user_id == user && state.channel_id.is_some())
}

/// A str0m client connected over UDP to the SFU, admitted at the front door's
/// `endpoint` by the media `token`.
async fn connect_to_sfu(
    http: &reqwest::Client,
    stack: &Stack,
    endpoint: &str,
    token: &str,
) -> UdpClient {
    let (mut client, offer) = UdpClient::offer().await.expect("a client");
    let answer = http
        .post(format!("http://{}{endpoint}", stack.front_door))
        .bearer_auth(token)
        .header("content-type", "application/sdp")
        .body(offer)
        .send()
        .await
        .expect("the SFU answers");
    assert_eq!(answer.status(), reqwest::StatusCode::CREATED);
    client
        .accept_answer(&answer.text().await.expect("an SDP answer"))
        .expect("the answer fits the offer");
    assert!(
        client
            .connect(Duration::from_secs(10))
            .await
            .expect("connects"),
        "ICE-lite and DTLS complete over loopback"
    );
    client
}

/// What the voice test watches on the gateway.
enum VoiceEvent {
    State(Box<VoiceState>),
    Server(VoiceServerUpdate),
}

fn voice_events(event: Event) -> Option<VoiceEvent> {
    match event {
        Event::VoiceStateUpdate(update) => Some(VoiceEvent::State(Box::new(update.0))),
        Event::VoiceServerUpdate(update) => Some(VoiceEvent::Server(update)),
        _ => None,
    }
}
