//! One test's private world: a fresh PostgreSQL read-model schema filled by the
//! projectors' own PostgreSQL store from real event envelopes, the gateway router
//! served on port 0 over it, tokens from a fresh signing key, and a WebSocket client
//! that speaks the gateway protocol (with either transport compression).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime};

use cloudcord_gateway_ws::consumer::DispatchSource;
use cloudcord_gateway_ws::ephemeral::Publisher as EphemeralPublisher;
use cloudcord_gateway_ws::gateway::Gateway;
use cloudcord_gateway_ws::handover::Handovers;
use cloudcord_gateway_ws::read_models::ReadModels;
use cloudcord_gateway_ws::settings::{HttpSettings, SessionSettings, Settings};
use cloudcord_gateway_ws::store::GatewayStore;
use cloudcord_gateway_ws::{Config, serve};
use cloudcord_projectors::postgres::{PgStore, open_schema};
use cloudcord_projectors::projected::Publisher;
use cloudcord_projectors::projector::{Batch, Store};
use cloudcord_projectors::record::{DomainEvent, EventRecord};
use cloudcord_runtime::admin::AdminConfig;
use cloudcord_runtime::auth::bot_token::{self, BotTokenId};
use cloudcord_runtime::auth::{
    AuthConfig, NewAccessToken, SigningKey, TokenIssuer, TokenKind, TokenVerifier,
};
use cloudcord_runtime::config::Loader;
use cloudcord_runtime::kafka::KafkaConfig;
use cloudcord_runtime::postgres::PostgresConfig;
use cloudcord_runtime::push::PushConfig;
use cloudcord_schemas::envelope::{
    Actor, AggregateRef, AggregateType, CommandId, ENVELOPE_VERSION, EventEnvelope, event_id,
};
use cloudcord_schemas::guild::{
    ChannelType, GuildChannel, GuildCreated, GuildEvent, MemberJoined, Role,
};
use cloudcord_schemas::ids::{ApplicationId, ChannelId, GuildId, MessageId, RoleId, UserId};
use cloudcord_schemas::message::{MessageSent, UserSnapshot};
use cloudcord_schemas::permissions::Permissions;
use cloudcord_schemas::user::{UserEvent, UserRegistered};
use flate2::{Decompress, FlushDecompress};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;
use zstd::stream::raw::{Decoder, InBuffer, Operation, OutBuffer};

/// When the scenario's first event happens.
pub const T0: OffsetDateTime = datetime!(2026-11-28 12:00 UTC);

pub const OWNER: UserId = UserId::new(1001);
pub const ALICE: UserId = UserId::new(1002);
pub const BOT: UserId = UserId::new(1005);
pub const BOT_APPLICATION: ApplicationId = ApplicationId::new(1105);
pub const STRANGER: UserId = UserId::new(1009);

pub const GUILD: GuildId = GuildId::new(2000);
pub const GENERAL: ChannelId = ChannelId::new(3000);

/// How long a test waits for anything the gateway should send.
pub const PATIENCE: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
struct Stores {
    #[serde(default)]
    postgres: PostgresConfig,
    #[serde(default)]
    kafka: KafkaConfig,
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

pub fn snapshot(id: UserId, bot: bool) -> UserSnapshot {
    UserSnapshot {
        id,
        username: format!("user{id}"),
        global_name: None,
        avatar: None,
        bot,
    }
}

/// A test's read models, issuer and running gateway.
pub struct World {
    pg: PgStore,
    /// Publishes to this world's own `projected` topic, when it has Kafka.
    publisher: Option<Publisher>,
    /// The topics this world created, deleted when it is dropped.
    topics: Vec<String>,
    issuer: TokenIssuer,
    seqs: HashMap<AggregateRef, u64>,
    next_offset: i64,
    /// The read models' schema.
    pub schema: String,
    /// The schema of the gateways' own tables.
    pub store_schema: String,
    /// The sessions rules the world's gateways follow.
    pub sessions: SessionSettings,
    /// Where PostgreSQL and Kafka are; the topics under this world's own prefix.
    pub postgres: PostgresConfig,
    pub kafka: KafkaConfig,
    pub gateway: Gateway,
    pub addr: SocketAddr,
    pub shutdown: CancellationToken,
}

impl World {
    /// The scenario (OWNER's guild with ALICE and BOT as members; STRANGER in no
    /// guild) projected, and a gateway with `sessions` rules serving it.
    pub async fn new(sessions: SessionSettings) -> Self {
        Self::build(sessions, false, HttpSettings::default()).await
    }

    /// [`Self::new`] with op 4 calling the command-api at `command_api_url`.
    pub async fn with_command_api(command_api_url: String) -> Self {
        let http = HttpSettings {
            command_api_url,
            ..HttpSettings::default()
        };
        Self::build(SessionSettings::default(), false, http).await
    }

    /// [`Self::new`] with the real fan-out: the gateway consumes this world's own
    /// `projected` topic (a unique topic prefix on the real broker), and
    /// [`Self::publish`] produces to it as the projectors do.
    pub async fn with_kafka(sessions: SessionSettings) -> Self {
        Self::build(sessions, true, HttpSettings::default()).await
    }

    async fn build(sessions: SessionSettings, with_kafka: bool, http: HttpSettings) -> Self {
        let stores: Stores = Loader::from_environment()
            .load()
            .expect("the test configuration loads");
        let schema = unique("gateway");
        let pool = open_schema(&stores.postgres, &schema)
            .await
            .expect("a fresh read-model schema");
        let auth = AuthConfig::default();
        let issuer = TokenIssuer::new(SigningKey::generate().expect("a key"), &auth);
        let verifier = TokenVerifier::from_jwks(&issuer.jwks(), &auth).expect("usable JWKS");
        let http = HttpSettings {
            postgres_schema: schema.clone(),
            resume_gateway_url: "ws://gateway.test".to_owned(),
            ..http
        };
        let shutdown = CancellationToken::new();
        let kafka = KafkaConfig {
            topic_prefix: format!("{}.", unique("gateway-test")),
            partitions: 2,
            create_topics: true,
            ..stores.kafka.clone()
        };
        let store_schema = unique("gateway_store");
        let store = GatewayStore::connect_lazy(&stores.postgres, &store_schema).expect("pool");
        store.migrate().await.expect("the gateway's tables");
        let handovers = with_kafka.then(|| {
            Handovers::new(
                EphemeralPublisher::new(&kafka).expect("an ephemeral producer"),
                &kafka,
                &store,
                sessions.resume_window(),
            )
            .expect("hand-overs")
        });
        let gateway = Gateway::new(
            verifier,
            ReadModels::connect_lazy(&stores.postgres, &schema).expect("pool"),
            store,
            handovers,
            &http,
            &sessions,
            cloudcord_runtime::files::signing::UrlSigner::new(
                &cloudcord_runtime::files::FilesConfig::default(),
            ),
            shutdown.clone(),
        );
        let mut topics = Vec::new();
        let publisher = if with_kafka {
            // Only `projected` and `ephemeral`: creating every topic per test loads
            // the broker for nothing.
            let names = [kafka.topics().projected, kafka.topics().ephemeral];
            let specs: Vec<_> = kafka
                .topics()
                .specs(kafka.partitions)
                .into_iter()
                .filter(|spec| names.contains(&spec.name))
                .collect();
            // The shared broker holds many tests' topics and answers slowly under
            // load: a timed-out creation is tried again (it is idempotent).
            let mut attempts = 0;
            while let Err(error) = kafka.ensure_topics(&specs).await {
                attempts += 1;
                assert!(attempts < 5, "the world's topics: {error}");
            }
            let source = DispatchSource::start(&kafka, "gateway-test")
                .await
                .expect("the projected consumer starts");
            let (caught_up, presences_read) = tokio::sync::oneshot::channel();
            tokio::spawn(source.run(gateway.clone(), shutdown.clone(), caught_up));
            presences_read
                .await
                .expect("the consumer reads the recent presences");
            topics.extend(names);
            Some(Publisher::new(&kafka).expect("a producer"))
        } else {
            None
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let addr = listener.local_addr().expect("bound");
        let router = cloudcord_gateway_ws::router(gateway.clone());
        let token = shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(token.cancelled_owned())
                .await
                .expect("serves");
        });
        let mut world = Self {
            pg: PgStore::new(pool),
            publisher,
            topics,
            schema: schema.clone(),
            store_schema,
            sessions,
            postgres: stores.postgres.clone(),
            kafka,
            issuer,
            seqs: HashMap::new(),
            next_offset: 0,
            gateway,
            addr,
            shutdown,
        };
        world.apply(scenario()).await;
        world
    }

    /// Projects `events` (each of its aggregate) as one batch, as the PostgreSQL
    /// projector does; returns the records.
    pub async fn apply(&mut self, events: Vec<(AggregateRef, DomainEvent)>) -> Vec<EventRecord> {
        let mut records = Vec::with_capacity(events.len());
        let mut positions: HashMap<AggregateRef, u64> = HashMap::new();
        for (aggregate, event) in events {
            let seq = self.seqs.entry(aggregate).or_default();
            *seq += 1;
            positions.insert(aggregate, *seq);
            let offset = self.next_offset;
            self.next_offset += 1;
            records.push(EventRecord {
                partition: 0,
                offset,
                envelope: EventEnvelope {
                    event_id: event_id(aggregate, *seq),
                    aggregate,
                    seq: *seq,
                    prev_hash: None,
                    command_id: CommandId::random(),
                    actor: Actor::User(OWNER),
                    occurred_at: T0 + time::Duration::seconds(offset),
                    envelope_version: ENVELOPE_VERSION,
                    event_version: event.event_version(),
                    event,
                },
            });
        }
        let changes = records
            .iter()
            .map(|record| PgStore::project(record).expect("projects"))
            .collect();
        self.pg
            .commit(Batch {
                topic: "events".into(),
                changes,
                positions: positions.into_iter().collect(),
                offsets: vec![(0, self.next_offset)],
            })
            .await
            .expect("PostgreSQL batch");
        records
    }

    /// Projects `events` and publishes them to `projected`, as the PostgreSQL
    /// projector does after its commit.
    pub async fn publish(&mut self, events: Vec<(AggregateRef, DomainEvent)>) {
        let records = self.apply(events).await;
        self.publisher
            .as_ref()
            .expect("a world with Kafka")
            .publish("postgres", &records)
            .await
            .expect("delivered to projected");
    }

    /// Deletes `topics` with the world's own when it is dropped.
    pub fn delete_on_drop(&mut self, topics: impl IntoIterator<Item = String>) {
        self.topics.extend(topics);
    }

    /// A verifier trusting this world's issuer.
    pub fn verifier(&self) -> TokenVerifier {
        TokenVerifier::from_jwks(&self.issuer.jwks(), &AuthConfig::default()).expect("usable JWKS")
    }

    /// A session token of `user`, as Identify carries it (bare).
    pub fn token(&self, user: UserId) -> String {
        self.issuer
            .issue(
                &NewAccessToken {
                    user_id: user,
                    client_id: "cloudcord".into(),
                    scopes: Vec::new(),
                    kind: TokenKind::Session,
                },
                SystemTime::now(),
            )
            .expect("issues")
            .token
    }

    /// The bot token of `user`, without `Bot ` (as Discord's libraries send it).
    pub fn bot_token(&self, user: UserId) -> String {
        bot_token::mint(user, BotTokenId(1), self.issuer.signing_key())
    }

    /// A client connected with `query` (e.g. `v=10&encoding=json`).
    pub async fn connect(&self, query: &str) -> Client {
        Client::connect(&format!("ws://{}/?{query}", self.addr)).await
    }

    /// Another gateway process over this world, as `gateway_ws::run` serves it
    /// (own consumer, admin server, graceful shutdown with hand-over), without
    /// Web Push.
    pub async fn node(&mut self) -> Node {
        let push = PushConfig {
            enabled: false,
            ..PushConfig::default()
        };
        self.node_with_push(push).await
    }

    /// [`Self::node`] pushing as `push` says.
    pub async fn node_with_push(&mut self, push: PushConfig) -> Node {
        let config = Config {
            kafka: self.kafka.clone(),
            postgres: self.postgres.clone(),
            auth: AuthConfig::default(),
            files: cloudcord_runtime::files::FilesConfig::default(),
            gateway_ws: Settings {
                admin: AdminConfig {
                    listen_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
                },
                http: HttpSettings {
                    postgres_schema: self.schema.clone(),
                    ..HttpSettings::default()
                },
                sessions: SessionSettings {
                    store_schema: self.store_schema.clone(),
                    ..self.sessions.clone()
                },
            },
            push,
        };
        // `serve` creates every topic; the world deletes them.
        let names: Vec<String> = config
            .kafka
            .topics()
            .specs(1)
            .into_iter()
            .map(|spec| spec.name)
            .collect();
        self.delete_on_drop(names);
        let shutdown = CancellationToken::new();
        let gateway = config
            .gateway(self.verifier(), shutdown.clone())
            .expect("the gateway state");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let addr = listener.local_addr().expect("bound");
        let task = tokio::spawn(serve(config, gateway, listener, shutdown.clone()));
        Node {
            addr,
            shutdown,
            task,
        }
    }

    /// A client that has received Hello and READY as `token` with `intents`.
    pub async fn identified(&self, token: &str, intents: u64) -> (Client, Value) {
        let mut client = self.connect("v=10&encoding=json").await;
        client.hello().await;
        client.identify(token, intents).await;
        let ready = client.ready(intents).await;
        (client, ready)
    }
}

/// A gateway process started by [`World::node`].
pub struct Node {
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), cloudcord_gateway_ws::Error>>,
}

impl Node {
    /// A client connected with `query`.
    pub async fn connect(&self, query: &str) -> Client {
        Client::connect(&format!("ws://{}/?{query}", self.addr)).await
    }

    /// Shuts the process down as SIGTERM does and waits until it has.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        tokio::time::timeout(PATIENCE, &mut self.task)
            .await
            .expect("the gateway stops in time")
            .expect("the gateway task did not panic")
            .expect("the gateway stops cleanly");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Drop for World {
    /// Deletes the world's topics and drops its schema, so test runs do not pile up
    /// on the shared broker (which slows every metadata request) and database.
    /// Best effort, also after a failed test.
    fn drop(&mut self) {
        // Stop the gateway first, so no session still reads the schema being dropped.
        self.shutdown.cancel();
        let topics = std::mem::take(&mut self.topics);
        let (kafka, postgres, schemas) = (
            self.kafka.clone(),
            self.postgres.clone(),
            [self.schema.clone(), self.store_schema.clone()],
        );
        // Drop cannot await inside the test's runtime: a thread with its own does.
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if !topics.is_empty() {
                    let _ = kafka.delete_topics(&topics).await;
                }
                for schema in &schemas {
                    let _ = cloudcord_projectors::replay::drop_postgres(&postgres, schema).await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

pub fn guild_ref(guild: GuildId) -> AggregateRef {
    AggregateRef {
        kind: AggregateType::Guild,
        id: guild.0,
    }
}

pub fn user_ref(user: UserId) -> AggregateRef {
    AggregateRef {
        kind: AggregateType::User,
        id: user.0,
    }
}

pub fn registered(user: UserId, bot: bool) -> (AggregateRef, DomainEvent) {
    (
        user_ref(user),
        DomainEvent::User(UserEvent::UserRegistered(UserRegistered {
            user_id: user,
            username: format!("user{user}"),
            global_name: None,
            email: (!bot).then(|| format!("user{user}@example.test")),
            password_hash: None,
            bot,
            application_id: bot.then_some(BOT_APPLICATION),
            owner_id: bot.then_some(OWNER),
            bot_token_id: bot.then_some(1),
        })),
    )
}

pub fn guild_event(guild: GuildId, event: GuildEvent) -> (AggregateRef, DomainEvent) {
    (guild_ref(guild), DomainEvent::Guild(event))
}

/// Message `n` in `channel` of GUILD, by `author`.
pub fn sent(channel: ChannelId, n: u64, author: UserId) -> (AggregateRef, DomainEvent) {
    guild_event(
        GUILD,
        GuildEvent::MessageSent(MessageSent {
            attachments: Vec::new(),
            id: MessageId::new(channel.get() * 1000 + n),
            channel_id: channel,
            author: snapshot(author, author == BOT),
            content: format!("message {n}"),
            timestamp: T0,
            tts: false,
            mention_everyone: false,
            mentions: Vec::new(),
            mention_roles: Vec::new(),
            message_reference: None,
            nonce: None,
        }),
    )
}

pub fn text_channel(id: ChannelId, name: &str) -> GuildChannel {
    GuildChannel {
        id,
        kind: ChannelType::GuildText,
        name: name.to_owned(),
        position: 0,
        parent_id: None,
        topic: None,
        nsfw: false,
        rate_limit_per_user: 0,
        bitrate: None,
        user_limit: None,
        permission_overwrites: Vec::new(),
    }
}

pub fn joined(guild: GuildId, user: UserId, bot: bool) -> (AggregateRef, DomainEvent) {
    guild_event(
        guild,
        GuildEvent::MemberJoined(MemberJoined {
            user: snapshot(user, bot),
            joined_at: T0,
            invite_code: None,
        }),
    )
}

/// OWNER's guild with one text channel; ALICE and BOT are members; STRANGER is
/// registered but in no guild.
pub fn scenario() -> Vec<(AggregateRef, DomainEvent)> {
    vec![
        registered(OWNER, false),
        registered(ALICE, false),
        registered(BOT, true),
        registered(STRANGER, false),
        guild_event(
            GUILD,
            GuildEvent::GuildCreated(GuildCreated {
                id: GUILD,
                name: "guild".into(),
                owner: snapshot(OWNER, false),
                roles: vec![Role {
                    id: RoleId::new(GUILD.get()),
                    name: "@everyone".into(),
                    color: 0,
                    hoist: false,
                    position: 0,
                    permissions: Permissions::VIEW_CHANNEL | Permissions::SEND_MESSAGES,
                    managed: false,
                    mentionable: false,
                }],
                channels: vec![text_channel(GENERAL, "general")],
                system_channel_id: Some(GENERAL),
                created_at: T0,
            }),
        ),
        joined(GUILD, ALICE, false),
        joined(GUILD, BOT, true),
    ]
}

/// Which stream decompressor the client runs.
enum Inflater {
    Plain,
    Zlib(Box<Decompress>),
    Zstd(Box<Decoder<'static>>),
}

/// A gateway client over tokio-tungstenite.
pub struct Client {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    inflater: Inflater,
    /// The last `s` received.
    pub seq: Option<u64>,
}

/// How a connection ended, seen from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// A close frame with this code.
    Closed(u16),
    /// The connection dropped without one.
    Dropped,
}

impl Client {
    pub async fn connect(url: &str) -> Self {
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("the gateway accepts the WebSocket");
        let inflater = if url.contains("compress=zlib-stream") {
            Inflater::Zlib(Box::new(Decompress::new(true)))
        } else if url.contains("compress=zstd-stream") {
            Inflater::Zstd(Box::new(Decoder::new().expect("zstd decoder")))
        } else {
            Inflater::Plain
        };
        Self {
            socket,
            inflater,
            seq: None,
        }
    }

    pub async fn send(&mut self, payload: Value) {
        self.send_text(payload.to_string()).await;
    }

    pub async fn send_text(&mut self, text: String) {
        self.socket
            .send(Message::Text(text.into()))
            .await
            .expect("the gateway reads");
    }

    /// The next payload, or how the connection ended.
    pub async fn next(&mut self) -> Result<Value, Ended> {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.socket.next())
                .await
                .expect("the gateway answers in time");
            let text = match message {
                Some(Ok(Message::Text(text))) => text.to_string(),
                Some(Ok(Message::Binary(bytes))) => self.inflate(&bytes),
                Some(Ok(Message::Close(frame))) => {
                    return Err(
                        frame.map_or(Ended::Dropped, |frame| Ended::Closed(u16::from(frame.code)))
                    );
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Err(Ended::Dropped),
            };
            let value: Value = serde_json::from_str(&text).expect("the gateway sends JSON");
            if let Some(seq) = value["s"].as_u64() {
                self.seq = Some(seq);
            }
            return Ok(value);
        }
    }

    fn inflate(&mut self, bytes: &[u8]) -> String {
        match &mut self.inflater {
            // Payload compression (`compress: true`): each message a whole zlib stream.
            Inflater::Plain => {
                let mut text = String::new();
                std::io::Read::read_to_string(
                    &mut flate2::read::ZlibDecoder::new(bytes),
                    &mut text,
                )
                .expect("a whole zlib stream");
                text
            }
            Inflater::Zlib(inflate) => {
                assert_eq!(bytes[bytes.len() - 4..], [0, 0, 0xff, 0xff], "Z_SYNC_FLUSH");
                let mut out = Vec::with_capacity(1 << 20);
                inflate
                    .decompress_vec(bytes, &mut out, FlushDecompress::Sync)
                    .expect("inflates");
                assert!(out.len() < out.capacity(), "larger than the test buffer");
                String::from_utf8(out).expect("utf-8")
            }
            Inflater::Zstd(decoder) => {
                let mut out = vec![0u8; 1 << 20];
                let mut input = InBuffer::around(bytes);
                let mut output = OutBuffer::around(&mut out[..]);
                while input.pos() < bytes.len() {
                    decoder.run(&mut input, &mut output).expect("decompresses");
                }
                let written = output.pos();
                String::from_utf8(out[..written].to_vec()).expect("utf-8")
            }
        }
    }

    /// The next payload, which must be op `op`.
    pub async fn expect_op(&mut self, op: u64) -> Value {
        let payload = self.next().await.expect("a payload, not the end");
        assert_eq!(payload["op"], op, "{payload}");
        payload
    }

    /// Hello; returns its heartbeat interval.
    pub async fn hello(&mut self) -> u64 {
        let hello = self.expect_op(10).await;
        hello["d"]["heartbeat_interval"]
            .as_u64()
            .expect("an interval")
    }

    pub async fn identify(&mut self, token: &str, intents: u64) {
        self.identify_as(token, intents, Value::Null).await;
    }

    /// Identify with an initial `presence` (`null`: none).
    pub async fn identify_as(&mut self, token: &str, intents: u64, presence: Value) {
        self.send(json!({
            "op": 2,
            "d": {
                "token": token,
                "intents": intents,
                "properties": { "os": "linux", "browser": "cloudcord-test", "device": "cloudcord-test" },
                "presence": presence,
            },
        }))
        .await;
    }

    /// READY, then (with the GUILDS intent) one GUILD_CREATE per guild it lists;
    /// returns READY's `d`.
    pub async fn ready(&mut self, intents: u64) -> Value {
        let ready = self.dispatch("READY").await;
        if intents & 1 == 1 {
            let mut expected: Vec<Value> = ready["guilds"]
                .as_array()
                .expect("guilds")
                .iter()
                .map(|guild| guild["id"].clone())
                .collect();
            while !expected.is_empty() {
                let create = self.dispatch("GUILD_CREATE").await;
                expected.retain(|id| *id != create["id"]);
            }
        }
        ready
    }

    /// The next dispatch, which must be `event`; returns its `d`.
    pub async fn dispatch(&mut self, event: &str) -> Value {
        let payload = self.expect_op(0).await;
        assert_eq!(payload["t"], event, "{payload}");
        payload["d"].clone()
    }

    /// Reads until the connection ends; returns how.
    pub async fn ended(&mut self) -> Ended {
        loop {
            if let Err(ended) = self.next().await {
                return ended;
            }
        }
    }

    /// Closes from the client side with `code`; whether the gateway answered with a
    /// close frame of its own, as RFC 6455 asks.
    pub async fn close_and_await_echo(mut self, code: u16) -> bool {
        let _ = self
            .socket
            .close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: WsCloseCode::from(code),
                reason: "test".into(),
            }))
            .await;
        loop {
            match tokio::time::timeout(PATIENCE, self.socket.next()).await {
                Ok(Some(Ok(Message::Close(_)))) => return true,
                Ok(Some(Ok(_))) => {}
                _ => return false,
            }
        }
    }

    /// Closes from the client side with 1000: done with the session.
    pub async fn close_normally(mut self) {
        let _ = self
            .socket
            .close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: WsCloseCode::Normal,
                reason: "bye".into(),
            }))
            .await;
        // Wait for the gateway's answer, so the close has been handled.
        let _ = tokio::time::timeout(PATIENCE, self.socket.next()).await;
    }

    /// Closes from the client side with a resumable code (not 1000/1001), as a
    /// client that intends to resume does.
    pub async fn drop_connection(mut self) {
        let _ = self
            .socket
            .close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: WsCloseCode::Library(4900),
                reason: "test".into(),
            }))
            .await;
    }
}
