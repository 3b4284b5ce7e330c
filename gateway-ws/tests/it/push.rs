//! Web Push end to end: a gateway process (`serve`, with its push consumer) over
//! the world's read models and `projected`, and a push service of the test's own
//! on loopback that records what it receives. The browser's side is the `ece`
//! crate, an independent RFC 8291 implementation: it makes the subscription's keys
//! and decrypts what arrives; the VAPID JWT is checked with jsonwebtoken.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cloudcord_projectors::record::DomainEvent;
use cloudcord_runtime::push::PushConfig;
use cloudcord_schemas::dm_channel::{DmChannelEvent, DmChannelOpened};
use cloudcord_schemas::envelope::{AggregateRef, AggregateType};
use cloudcord_schemas::guild::{ChannelCreated, GuildEvent};
use cloudcord_schemas::ids::{ChannelId, MessageId, UserId};
use cloudcord_schemas::message::{MessageReference, MessageSent};
use cloudcord_schemas::user::{
    ChannelNotificationOverride, GuildNotificationSettings, MuteConfig, PushSubscription,
    PushSubscriptionAdded, UserEvent, UserGuildSettingsChanged,
};
use ece::crypto::EcKeyComponents;
use rdkafka::message::Message as _;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::support::{
    ALICE, GENERAL, GUILD, OWNER, PATIENCE, T0, World, guild_event, snapshot, text_channel,
    user_ref,
};

/// RFC 8291 Appendix A's application server key, as the raw scalar.
const VAPID_KEY: &str = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";

/// A second channel of GUILD.
const RANDOM: ChannelId = ChannelId::new(3001);

/// How long a test waits to be sure that no (further) push comes.
const QUIET: Duration = Duration::from_secs(3);

/// One request the push service received.
struct Received {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

/// The test's push service: `POST /push/{id}`, answered with `status`.
struct PushService {
    origin: String,
    status: Arc<AtomicU16>,
    received: mpsc::UnboundedReceiver<Received>,
}

#[derive(Clone)]
struct ServiceState {
    status: Arc<AtomicU16>,
    sink: mpsc::UnboundedSender<Received>,
}

async fn receive(
    State(state): State<ServiceState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let _ = state.sink.send(Received {
        path: format!("/push/{id}"),
        headers,
        body,
    });
    StatusCode::from_u16(state.status.load(Ordering::SeqCst)).unwrap_or(StatusCode::CREATED)
}

impl PushService {
    async fn start() -> Self {
        let (sink, received) = mpsc::unbounded_channel();
        let status = Arc::new(AtomicU16::new(201));
        let router = Router::new()
            .route("/push/{id}", post(receive))
            .with_state(ServiceState {
                status: Arc::clone(&status),
                sink,
            });
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let origin = format!("http://{}", listener.local_addr().expect("bound"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self {
            origin,
            status,
            received,
        }
    }

    /// The next request (failing after [`PATIENCE`]).
    async fn next(&mut self) -> Received {
        tokio::time::timeout(PATIENCE, self.received.recv())
            .await
            .expect("a push in time")
            .expect("the service runs")
    }

    /// Asserts that nothing arrives for [`QUIET`].
    async fn quiet(&mut self) {
        if let Ok(Some(extra)) = tokio::time::timeout(QUIET, self.received.recv()).await {
            panic!("an unexpected push to {}", extra.path);
        }
    }
}

/// A browser: its subscription's keys, made by `ece`.
struct Browser {
    components: EcKeyComponents,
    auth: Vec<u8>,
    subscription: PushSubscription,
}

impl Browser {
    fn new(service: &PushService, id: &str) -> Self {
        let (pair, auth) = ece::generate_keypair_and_auth_secret().expect("browser keys");
        let components = pair.raw_components().expect("raw keys");
        let subscription = PushSubscription {
            endpoint: format!("{}/push/{id}", service.origin),
            p256dh: URL_SAFE_NO_PAD.encode(components.public_key()),
            auth: URL_SAFE_NO_PAD.encode(auth),
        };
        Self {
            components,
            auth: auth.to_vec(),
            subscription,
        }
    }

    fn subscribed(&self, user: UserId) -> (AggregateRef, DomainEvent) {
        (
            user_ref(user),
            DomainEvent::User(UserEvent::PushSubscriptionAdded(PushSubscriptionAdded {
                subscription: self.subscription.clone(),
                evicted: None,
            })),
        )
    }

    /// What the service worker gets: `ece`'s decryption of the body, as JSON.
    fn decrypt(&self, received: &Received) -> Value {
        let plain = ece::decrypt(&self.components, &self.auth, &received.body)
            .expect("ece decrypts the RFC 8291 body");
        serde_json::from_slice(&plain).expect("the payload is JSON")
    }
}

fn push_config() -> PushConfig {
    PushConfig {
        vapid_private_key: Some(VAPID_KEY.to_owned()),
        contact: "mailto:push@cloudcord.test".to_owned(),
        allow_http_endpoints: true,
        ..PushConfig::default()
    }
}

/// A message in GUILD by `author`.
fn message(channel: ChannelId, n: u64, author: UserId, content: &str) -> MessageSent {
    MessageSent {
        id: MessageId::new(channel.get() * 1000 + n),
        channel_id: channel,
        author: snapshot(author, false),
        content: content.to_owned(),
        timestamp: T0,
        tts: false,
        mention_everyone: false,
        mentions: Vec::new(),
        mention_roles: Vec::new(),
        message_reference: None,
        nonce: None,
        attachments: Vec::new(),
    }
}

fn mentioning(mut sent: MessageSent, user: UserId) -> (AggregateRef, DomainEvent) {
    sent.mentions.push(user);
    guild_event(GUILD, GuildEvent::MessageSent(sent))
}

/// The VAPID public key of [`VAPID_KEY`].
fn vapid_public_key() -> Vec<u8> {
    let key = cloudcord_runtime::push::VapidKey::load(&push_config()).expect("the key");
    key.public_key().to_vec()
}

/// Checks the delivery's headers and its VAPID JWT (signature by the public key
/// in `k`, audience, expiry, contact).
fn check_headers(received: &Received, origin: &str) {
    let header = |name: &str| {
        received
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(header("content-encoding"), "aes128gcm");
    assert_eq!(header("urgency"), "high");
    assert!(header("ttl").parse::<u64>().expect("a TTL") > 0);
    let authorization = header("authorization");
    let (token, k) = authorization
        .strip_prefix("vapid t=")
        .and_then(|rest| rest.split_once(", k="))
        .expect("vapid t=…, k=…");
    let public_key = vapid_public_key();
    assert_eq!(URL_SAFE_NO_PAD.decode(k).expect("base64url"), public_key);
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&[origin]);
    validation.set_required_spec_claims(&["exp", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_ec_der(&public_key),
        &validation,
    )
    .expect("the JWT verifies with the VAPID public key")
    .claims;
    assert_eq!(claims["sub"], "mailto:push@cloudcord.test");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let exp = claims["exp"].as_u64().expect("exp");
    assert!(
        exp > now && exp <= now + 24 * 60 * 60,
        "exp within 24 hours"
    );
}

#[tokio::test]
async fn an_offline_member_mentioned_gets_one_push_they_can_decrypt() {
    let mut world = World::with_kafka(Default::default()).await;
    let mut service = PushService::start().await;
    let browser = Browser::new(&service, "alice");
    world.publish(vec![browser.subscribed(ALICE)]).await;
    let _node = world.node_with_push(push_config()).await;

    let sent = message(GENERAL, 1, OWNER, "hey <@1002>, look");
    world.publish(vec![mentioning(sent.clone(), ALICE)]).await;
    let received = service.next().await;
    assert_eq!(received.path, "/push/alice");
    check_headers(&received, &service.origin);
    assert_eq!(
        browser.decrypt(&received),
        json!({
            "type": "message",
            "message_id": sent.id.to_string(),
            "channel_id": GENERAL.to_string(),
            "guild_id": GUILD.to_string(),
            "author": {"id": OWNER.to_string(), "username": "user1001", "global_name": null},
            "title": "user1001 in #general",
            "body": "hey @user1002, look",
            "url": format!("/channels/{GUILD}/{GENERAL}"),
            "reason": "mention",
        })
    );
    service.quiet().await;
}

#[tokio::test]
async fn a_reply_pushes_to_the_replied_author_and_a_muted_channel_pushes_nothing() {
    let mut world = World::with_kafka(Default::default()).await;
    let mut service = PushService::start().await;
    let browser = Browser::new(&service, "alice");
    let muted = GuildNotificationSettings {
        channel_overrides: [(
            GENERAL,
            ChannelNotificationOverride {
                message_notifications: None,
                muted: true,
                mute_config: Some(MuteConfig {
                    end_time: None,
                    selected_time_window: Some(-1),
                }),
            },
        )]
        .into(),
        ..GuildNotificationSettings::default()
    };
    world
        .publish(vec![
            browser.subscribed(ALICE),
            guild_event(
                GUILD,
                GuildEvent::ChannelCreated(ChannelCreated {
                    channel: text_channel(RANDOM, "random"),
                }),
            ),
            (
                user_ref(ALICE),
                DomainEvent::User(UserEvent::UserGuildSettingsChanged(
                    UserGuildSettingsChanged {
                        guild_id: GUILD,
                        settings: muted,
                    },
                )),
            ),
            guild_event(
                GUILD,
                GuildEvent::MessageSent(message(RANDOM, 1, ALICE, "anyone?")),
            ),
        ])
        .await;
    let _node = world.node_with_push(push_config()).await;

    // The muted channel first, then a reply in the other one: the guild's
    // messages are read in order, so only the reply's push may arrive.
    world
        .publish(vec![mentioning(
            message(GENERAL, 1, OWNER, "<@1002> in a muted channel"),
            ALICE,
        )])
        .await;
    let mut reply = message(RANDOM, 2, OWNER, "me!");
    reply.message_reference = Some(MessageReference {
        message_id: MessageId::new(RANDOM.get() * 1000 + 1),
        channel_id: RANDOM,
        guild_id: Some(GUILD),
    });
    world.publish(vec![mentioning(reply.clone(), ALICE)]).await;
    let payload = browser.decrypt(&service.next().await);
    assert_eq!(payload["message_id"], reply.id.to_string());
    assert_eq!(payload["reason"], "reply");
    assert_eq!(payload["title"], "user1001 in #random");
    service.quiet().await;
}

#[tokio::test]
async fn nobody_with_a_session_gets_a_push() {
    let mut world = World::with_kafka(Default::default()).await;
    let mut service = PushService::start().await;
    let alice = Browser::new(&service, "alice");
    let owner = Browser::new(&service, "owner");
    world
        .publish(vec![alice.subscribed(ALICE), owner.subscribed(OWNER)])
        .await;
    let node = world.node_with_push(push_config()).await;
    // Alice is online on this gateway process (invisible would count the same).
    let mut client = node.connect("v=10&encoding=json").await;
    client.hello().await;
    client.identify(&world.token(ALICE), 1).await;
    client.ready(1).await;

    world
        .publish(vec![mentioning(
            message(GENERAL, 1, OWNER, "<@1002>?"),
            ALICE,
        )])
        .await;
    let answer = message(GENERAL, 2, ALICE, "<@1001> here");
    world.publish(vec![mentioning(answer.clone(), OWNER)]).await;
    let received = service.next().await;
    assert_eq!(received.path, "/push/owner");
    assert_eq!(
        owner.decrypt(&received)["message_id"],
        answer.id.to_string()
    );
    service.quiet().await;
}

#[tokio::test]
async fn a_dm_to_someone_offline_pushes_with_reason_dm() {
    let mut world = World::with_kafka(Default::default()).await;
    let mut service = PushService::start().await;
    let browser = Browser::new(&service, "alice");
    let dm = ChannelId::new(4000);
    let dm_ref = AggregateRef {
        kind: AggregateType::DmChannel,
        id: dm.0,
    };
    world
        .publish(vec![
            browser.subscribed(ALICE),
            (
                dm_ref,
                DomainEvent::DmChannel(DmChannelEvent::DmChannelOpened(DmChannelOpened {
                    channel_id: dm,
                    recipients: [snapshot(OWNER, false), snapshot(ALICE, false)],
                })),
            ),
        ])
        .await;
    let _node = world.node_with_push(push_config()).await;

    let sent = message(dm, 1, OWNER, "psst <@1002>");
    world
        .publish(vec![(
            dm_ref,
            DomainEvent::DmChannel(DmChannelEvent::MessageSent(sent.clone())),
        )])
        .await;
    let received = service.next().await;
    check_headers(&received, &service.origin);
    assert_eq!(
        browser.decrypt(&received),
        json!({
            "type": "message",
            "message_id": sent.id.to_string(),
            "channel_id": dm.to_string(),
            "guild_id": null,
            "author": {"id": OWNER.to_string(), "username": "user1001", "global_name": null},
            "title": "user1001",
            "body": "psst @user1002",
            "url": format!("/channels/@me/{dm}"),
            "reason": "dm",
        })
    );
    service.quiet().await;
}

#[tokio::test]
async fn a_subscription_the_push_service_calls_gone_is_removed_by_a_command() {
    let mut world = World::with_kafka(Default::default()).await;
    let mut service = PushService::start().await;
    service.status.store(410, Ordering::SeqCst);
    let browser = Browser::new(&service, "alice");
    world.publish(vec![browser.subscribed(ALICE)]).await;
    let _node = world.node_with_push(push_config()).await;

    world
        .publish(vec![mentioning(
            message(GENERAL, 1, OWNER, "<@1002>"),
            ALICE,
        )])
        .await;
    service.next().await;
    // The gateway asks ALICE's aggregate, as CloudCord, to forget it.
    let kafka = world.kafka.clone();
    let topic = kafka.topics().commands;
    let command = tokio::time::timeout(PATIENCE, async {
        loop {
            let records = {
                let (kafka, topic) = (kafka.clone(), topic.clone());
                tokio::task::spawn_blocking(move || {
                    kafka.read_to_end(&topic, Duration::from_secs(5))
                })
                .await
                .expect("reads")
                .expect("the commands topic")
            };
            let found = records.iter().find_map(|record| {
                serde_json::from_slice::<Value>(record.payload().unwrap_or_default()).ok()
            });
            if let Some(found) = found {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("a removal command in time");
    assert_eq!(command["aggregate_type"], "user");
    assert_eq!(command["aggregate_id"], ALICE.to_string());
    assert_eq!(command["actor"], json!({"type": "system"}));
    assert_eq!(
        command["command"],
        json!({"type": "remove_push_subscription", "endpoint": browser.subscription.endpoint})
    );
}
