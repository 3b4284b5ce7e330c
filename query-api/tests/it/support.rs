//! One test's private world: a PostgreSQL schema and a MongoDB database filled by
//! the projectors' own projection and stores from real event envelopes, query-api's
//! router served on port 0 over them, and tokens from a fresh signing key.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::SystemTime;

use cloudcord_projectors::mongo::{MongoStore, open_database};
use cloudcord_projectors::postgres::{PgStore, open_schema};
use cloudcord_projectors::projector::{Batch, Store};
use cloudcord_projectors::record::{DomainEvent, EventRecord};
use cloudcord_projectors::replay;
use cloudcord_query_api::http::{ApiContext, HttpSettings, router};
use cloudcord_query_api::read_models::mongo::Documents;
use cloudcord_query_api::read_models::postgres::ReadModels;
use cloudcord_query_api::read_models::session_starts::{SessionStartSettings, SessionStarts};
use cloudcord_runtime::auth::bot_token::{self, BotTokenId};
use cloudcord_runtime::auth::{
    AuthConfig, NewAccessToken, SigningKey, TokenIssuer, TokenKind, TokenVerifier,
};
use cloudcord_runtime::config::Loader;
use cloudcord_runtime::files::{Files, FilesConfig};
use cloudcord_runtime::http_metrics::RequestMetrics;
use cloudcord_runtime::mongo::MongoConfig;
use cloudcord_runtime::postgres::PostgresConfig;
use cloudcord_runtime::rate_limit::{Quota, RateLimitSettings, RateLimiter};
use cloudcord_schemas::envelope::{
    Actor, AggregateRef, AggregateType, CommandId, ENVELOPE_VERSION, EventEnvelope, event_id,
};
use cloudcord_schemas::guild::{
    ChannelType, GuildChannel, GuildCreated, GuildEvent, MemberJoined, MemberUpdated, Role,
};
use cloudcord_schemas::ids::{ChannelId, GuildId, MessageId, RoleId, UserId};
use cloudcord_schemas::message::{MessageSent, UserSnapshot};
use cloudcord_schemas::permissions::{PermissionOverwrite, Permissions};
use cloudcord_schemas::user::{UserEvent, UserRegistered};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::macros::datetime;
use tokio::net::TcpListener;

/// When the scenario's first event happens.
pub const T0: OffsetDateTime = datetime!(2026-11-28 12:00 UTC);

pub const OWNER: UserId = UserId::new(1001);
pub const ALICE: UserId = UserId::new(1002);
pub const BOB: UserId = UserId::new(1003);
pub const EVE: UserId = UserId::new(1004);
pub const BOT: UserId = UserId::new(1005);
pub const BANNED: UserId = UserId::new(1006);

pub const GUILD: GuildId = GuildId::new(2000);
pub const MODS: RoleId = RoleId::new(2100);
pub const OTHER_GUILD: GuildId = GuildId::new(2500);

pub const GENERAL: ChannelId = ChannelId::new(3000);
/// Hidden from `@everyone` by an overwrite; the mods see it.
pub const SECRET: ChannelId = ChannelId::new(3001);
/// Visible, but `@everyone` may not read its history.
pub const ARCHIVE: ChannelId = ChannelId::new(3002);
pub const VOICE: ChannelId = ChannelId::new(3003);
pub const OTHER_CHANNEL: ChannelId = ChannelId::new(3500);
pub const DM: ChannelId = ChannelId::new(4000);

/// What `@everyone` may do in the scenario's guild.
pub const EVERYONE: Permissions = Permissions::VIEW_CHANNEL
    .union(Permissions::SEND_MESSAGES)
    .union(Permissions::READ_MESSAGE_HISTORY)
    .union(Permissions::ADD_REACTIONS)
    .union(Permissions::CREATE_INSTANT_INVITE);

#[derive(Clone, Deserialize)]
struct Stores {
    #[serde(default)]
    postgres: PostgresConfig,
    #[serde(default)]
    mongo: MongoConfig,
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

impl Drop for World {
    /// Drops the world's schema and database, also after a failed test (best effort:
    /// leftovers cost the shared servers, not the verdict).
    fn drop(&mut self) {
        let (stores, schemas, database) = (
            self.stores.clone(),
            [
                self.schema.clone(),
                self.session_starts.store_schema.clone(),
            ],
            self.database.clone(),
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
                for schema in &schemas {
                    let _ = replay::drop_postgres(&stores.postgres, schema).await;
                }
                let _ = replay::drop_mongo(&stores.mongo, &database).await;
            });
        });
        let _ = cleanup.join();
    }
}

/// A user's profile as events carry it.
pub fn snapshot(id: UserId, bot: bool) -> UserSnapshot {
    UserSnapshot {
        id,
        username: format!("user{}", id.get()),
        global_name: Some(format!("User {}", id.get())),
        avatar: None,
        bot,
    }
}

/// Records with their aggregates' positions and the partition's next offset.
pub type Recorded = (Vec<EventRecord>, Vec<(AggregateRef, u64)>, Vec<(i32, i64)>);

/// One test's read models, API and credentials.
pub struct World {
    pg: PgStore,
    mongo: MongoStore,
    /// Where the world's schema and database live, dropped with the world.
    stores: Stores,
    schema: String,
    database: String,
    issuer: TokenIssuer,
    seqs: HashMap<AggregateRef, u64>,
    next_offset: i64,
    /// Where the gateway's session starts are read (a schema of the world's own,
    /// which the gateway has not created: no starts) and the limits reported.
    pub session_starts: SessionStartSettings,
    pub addr: SocketAddr,
    client: reqwest::Client,
    /// The API's rate limits (for their counter).
    pub rate_limiter: RateLimiter,
    /// The requests the read API answered.
    pub requests: RequestMetrics,
    /// The files the CDN serves (the world's own database), with the API's signer.
    pub files: Files,
}

impl World {
    /// A world with empty read models and the API served with `timeout_ms` for
    /// read-your-writes waits and rate limits no test reaches (tests call routes far
    /// faster than a client may; the rate-limit tests run with the real limits).
    pub async fn empty(timeout_ms: u64) -> Self {
        Self::serve(Self::unlimited(timeout_ms), SessionStartSettings::default()).await
    }

    /// HTTP settings with `timeout_ms` for read-your-writes waits and rate limits
    /// no test reaches.
    fn unlimited(timeout_ms: u64) -> HttpSettings {
        let plenty = Quota::new(10_000, 1_000);
        HttpSettings {
            read_your_writes_timeout_ms: timeout_ms,
            rate_limits: RateLimitSettings {
                global: plenty,
                default_route: plenty,
                ..RateLimitSettings::default()
            },
            ..HttpSettings::default()
        }
    }

    /// The scenario projected into a fresh world whose gateway allows
    /// `session_starts`' limits (its schema is the world's own).
    pub async fn with_session_starts(session_starts: SessionStartSettings) -> Self {
        let mut world = Self::serve(Self::unlimited(2_000), session_starts).await;
        world.apply(scenario()).await;
        world
    }

    /// A world with empty read models and the API served with `settings` (its schema
    /// is the world's own).
    pub async fn empty_with(settings: HttpSettings) -> Self {
        Self::serve(settings, SessionStartSettings::default()).await
    }

    async fn serve(settings: HttpSettings, session_starts: SessionStartSettings) -> Self {
        let stores: Stores = Loader::from_environment()
            .load()
            .expect("the test configuration loads");
        let schema = unique("query_api");
        let database = unique("query_api");
        let pool = open_schema(&stores.postgres, &schema)
            .await
            .expect("a fresh read-model schema");
        let mongo = open_database(&stores.mongo, &database)
            .await
            .expect("a fresh read-model database");

        let auth = AuthConfig::default();
        let issuer = TokenIssuer::new(SigningKey::generate().expect("a key"), &auth);
        let verifier = TokenVerifier::from_jwks(&issuer.jwks(), &auth).expect("usable JWKS");
        let settings = HttpSettings {
            postgres_schema: schema.clone(),
            ..settings
        };
        let session_starts = SessionStartSettings {
            store_schema: unique("gateway_store"),
            ..session_starts
        };
        let files = Files::on_gridfs(&mongo, &FilesConfig::default());
        let context = ApiContext::new(
            ReadModels::new(
                stores
                    .postgres
                    .lazy_schema_pool(&settings.postgres_schema)
                    .expect("pool"),
            ),
            Documents::new(mongo.clone()),
            SessionStarts::new(
                stores
                    .postgres
                    .lazy_schema_pool(&session_starts.store_schema)
                    .expect("pool"),
                &session_starts,
            ),
            verifier,
            auth.origins(),
            files.clone(),
            &settings,
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let addr = listener.local_addr().expect("bound");
        let rate_limiter = context.rate_limiter().clone();
        let requests = context.request_metrics().clone();
        let app = router(context).into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serves");
        });
        Self {
            pg: PgStore::new(pool),
            mongo: MongoStore::new(mongo),
            stores,
            schema,
            database,
            issuer,
            seqs: HashMap::new(),
            next_offset: 0,
            session_starts,
            addr,
            client: reqwest::Client::new(),
            rate_limiter,
            requests,
            files,
        }
    }

    /// Where PostgreSQL is.
    pub fn postgres(&self) -> &PostgresConfig {
        &self.stores.postgres
    }

    /// The scenario (see the constants) projected into a fresh world.
    pub async fn new() -> Self {
        let mut world = Self::empty(2_000).await;
        world.apply(scenario()).await;
        world
    }

    /// Projects `events` (each of its aggregate) as one batch into both stores,
    /// exactly as the projectors do.
    pub async fn apply(&mut self, events: Vec<(AggregateRef, DomainEvent)>) {
        let batch = self.apply_to_postgres_only(events).await;
        self.catch_up_mongo(batch).await;
    }

    /// Projects `events` into PostgreSQL only: the MongoDB projector lags behind
    /// until [`World::catch_up_mongo`] gets the batch.
    pub async fn apply_to_postgres_only(
        &mut self,
        events: Vec<(AggregateRef, DomainEvent)>,
    ) -> Recorded {
        let batch = self.record(events);
        self.commit_postgres(&batch).await;
        batch
    }

    /// Projects into MongoDB a batch PostgreSQL already has.
    pub async fn catch_up_mongo(&mut self, (records, positions, offsets): Recorded) {
        let changes = records
            .iter()
            .map(|r| MongoStore::project(r).expect("projects"))
            .collect();
        self.mongo
            .commit(Batch {
                topic: "events".into(),
                changes,
                positions,
                offsets,
            })
            .await
            .expect("MongoDB batch");
    }

    /// The next records of the aggregates' histories, their positions and the
    /// partition's next offset.
    fn record(&mut self, events: Vec<(AggregateRef, DomainEvent)>) -> Recorded {
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
        (
            records,
            positions.into_iter().collect(),
            vec![(0, self.next_offset)],
        )
    }

    async fn commit_postgres(&mut self, (records, positions, offsets): &Recorded) {
        let changes = records
            .iter()
            .map(|r| PgStore::project(r).expect("projects"))
            .collect();
        self.pg
            .commit(Batch {
                topic: "events".into(),
                changes,
                positions: positions.clone(),
                offsets: offsets.clone(),
            })
            .await
            .expect("PostgreSQL batch");
    }

    /// The seq an aggregate has reached.
    pub fn seq(&self, aggregate: AggregateRef) -> u64 {
        self.seqs.get(&aggregate).copied().unwrap_or(0)
    }

    /// A session token of `user`.
    pub fn token(&self, user: UserId) -> String {
        let issued = self
            .issuer
            .issue(
                &NewAccessToken {
                    user_id: user,
                    client_id: "cloudcord".into(),
                    scopes: Vec::new(),
                    kind: TokenKind::Session,
                },
                SystemTime::now(),
            )
            .expect("issues");
        format!("Bearer {}", issued.token)
    }

    /// A third-party application's OAuth2 access token for `user` with `scopes`.
    pub fn oauth2_token(&self, user: UserId, scopes: &[&str]) -> String {
        let issued = self
            .issuer
            .issue(
                &NewAccessToken {
                    user_id: user,
                    client_id: "third-party-app".into(),
                    scopes: scopes.iter().map(|scope| (*scope).to_owned()).collect(),
                    kind: TokenKind::OAuth2,
                },
                SystemTime::now(),
            )
            .expect("issues");
        format!("Bearer {}", issued.token)
    }

    /// The bot token of `user`.
    pub fn bot_token(&self, user: UserId) -> String {
        format!(
            "Bot {}",
            bot_token::mint(user, BotTokenId(1), self.issuer.signing_key())
        )
    }

    /// `GET /api/v10{path}` with `authorization` and extra `headers`.
    pub async fn get_with(
        &self,
        path: &str,
        authorization: Option<&str>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut request = self
            .client
            .get(format!("http://{}/api/v10{path}", self.addr));
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, headers, body)
    }

    /// `GET /api/v10{path}` as `user`.
    pub async fn get(&self, path: &str, user: UserId) -> (StatusCode, Value) {
        let (status, _, body) = self.get_with(path, Some(&self.token(user)), &[]).await;
        (status, body)
    }
}

/// Asserts a Discord error answer.
#[track_caller]
pub fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, code: u64) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(body["message"].is_string(), "{body}");
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
    let profile = snapshot(user, bot);
    (
        user_ref(user),
        DomainEvent::User(UserEvent::UserRegistered(UserRegistered {
            user_id: user,
            username: profile.username,
            global_name: profile.global_name,
            email: Some(format!("user{}@example.test", user.get())),
            password_hash: None,
            bot,
            application_id: None,
            owner_id: None,
            bot_token_id: bot.then_some(1),
        })),
    )
}

pub fn guild_event(guild: GuildId, event: GuildEvent) -> (AggregateRef, DomainEvent) {
    (guild_ref(guild), DomainEvent::Guild(event))
}

pub fn text_channel(
    id: ChannelId,
    name: &str,
    position: u32,
    overwrites: Vec<PermissionOverwrite>,
) -> GuildChannel {
    GuildChannel {
        id,
        kind: ChannelType::GuildText,
        name: name.into(),
        position,
        parent_id: None,
        topic: Some(format!("all about {name}")),
        nsfw: false,
        rate_limit_per_user: 0,
        bitrate: None,
        user_limit: None,
        permission_overwrites: overwrites,
    }
}

pub fn created(
    guild: GuildId,
    owner: UserId,
    channels: Vec<GuildChannel>,
) -> (AggregateRef, DomainEvent) {
    guild_event(
        guild,
        GuildEvent::GuildCreated(GuildCreated {
            id: guild,
            name: format!("guild {}", guild.get()),
            owner: snapshot(owner, false),
            roles: vec![Role {
                id: guild.everyone_role(),
                name: "@everyone".into(),
                color: 0,
                hoist: false,
                position: 0,
                permissions: EVERYONE,
                managed: false,
                mentionable: false,
            }],
            system_channel_id: channels.first().map(|c| c.id),
            channels,
            created_at: T0,
        }),
    )
}

pub fn joined(guild: GuildId, user: UserId) -> (AggregateRef, DomainEvent) {
    guild_event(
        guild,
        GuildEvent::MemberJoined(MemberJoined {
            user: snapshot(user, user == BOT),
            joined_at: T0,
            invite_code: None,
        }),
    )
}

/// The message with index `n` of `channel`: id `channel * 1000 + n`.
pub fn message_id(channel: ChannelId, n: u64) -> MessageId {
    MessageId::new(channel.get() * 1000 + n)
}

pub fn sent(channel: ChannelId, n: u64, author: UserId) -> MessageSent {
    MessageSent {
        attachments: Vec::new(),
        id: message_id(channel, n),
        channel_id: channel,
        author: snapshot(author, author == BOT),
        content: format!("message {n}"),
        timestamp: T0 + time::Duration::seconds(i64::try_from(n).expect("small")),
        tts: false,
        mention_everyone: false,
        mentions: Vec::new(),
        mention_roles: Vec::new(),
        message_reference: None,
        nonce: None,
    }
}

/// Messages in `GENERAL` (and the other channels) of the scenario.
pub const GENERAL_MESSAGES: u64 = 120;

/// The scenario: six users, the guild with four channels, its mods role, members,
/// 120 messages in `GENERAL`, a few in `SECRET` and `ARCHIVE`, and another guild.
pub fn scenario() -> Vec<(AggregateRef, DomainEvent)> {
    let mut events: Vec<_> = [OWNER, ALICE, BOB, EVE, BANNED]
        .into_iter()
        .map(|user| registered(user, false))
        .collect();
    events.push(registered(BOT, true));
    let everyone = GUILD.everyone_role();
    let mut voice = text_channel(VOICE, "voice", 3, Vec::new());
    voice.kind = ChannelType::GuildVoice;
    voice.topic = None;
    voice.bitrate = Some(64_000);
    voice.user_limit = Some(0);
    events.push(created(
        GUILD,
        OWNER,
        vec![
            text_channel(GENERAL, "general", 0, Vec::new()),
            text_channel(
                SECRET,
                "secret",
                1,
                vec![
                    PermissionOverwrite::role(
                        everyone,
                        Permissions::empty(),
                        Permissions::VIEW_CHANNEL,
                    ),
                    PermissionOverwrite::role(
                        MODS,
                        Permissions::VIEW_CHANNEL,
                        Permissions::empty(),
                    ),
                ],
            ),
            text_channel(
                ARCHIVE,
                "archive",
                2,
                vec![PermissionOverwrite::role(
                    everyone,
                    Permissions::empty(),
                    Permissions::READ_MESSAGE_HISTORY,
                )],
            ),
            voice,
        ],
    ));
    events.push(guild_event(
        GUILD,
        GuildEvent::RoleCreated(cloudcord_schemas::guild::RoleCreated {
            role: Role {
                id: MODS,
                name: "mods".into(),
                color: 0x3498db,
                hoist: true,
                position: 1,
                permissions: Permissions::BAN_MEMBERS
                    | Permissions::VIEW_AUDIT_LOG
                    | Permissions::MANAGE_GUILD,
                managed: false,
                mentionable: true,
            },
        }),
    ));
    for user in [ALICE, BOB, BOT, BANNED] {
        events.push(joined(GUILD, user));
    }
    events.push(guild_event(
        GUILD,
        GuildEvent::MemberUpdated(MemberUpdated {
            user_id: ALICE,
            nick: Some("Al".into()),
            roles: vec![MODS],
            communication_disabled_until: None,
            mute: false,
            deaf: false,
        }),
    ));
    events.push(guild_event(
        GUILD,
        GuildEvent::MemberBanned(cloudcord_schemas::guild::MemberBanned {
            user_id: BANNED,
            user: Some(snapshot(BANNED, false)),
            reason: Some("spam".into()),
            delete_message_seconds: 0,
            banned_at: T0,
        }),
    ));
    for n in 1..=GENERAL_MESSAGES {
        let author = if n % 2 == 0 { ALICE } else { BOB };
        events.push(guild_event(
            GUILD,
            GuildEvent::MessageSent(sent(GENERAL, n, author)),
        ));
    }
    for channel in [SECRET, ARCHIVE] {
        for n in 1..=3 {
            events.push(guild_event(
                GUILD,
                GuildEvent::MessageSent(sent(channel, n, ALICE)),
            ));
        }
    }
    events.push(created(
        OTHER_GUILD,
        EVE,
        vec![text_channel(OTHER_CHANNEL, "elsewhere", 0, Vec::new())],
    ));
    events.push(guild_event(
        OTHER_GUILD,
        GuildEvent::MessageSent(sent(OTHER_CHANNEL, 1, EVE)),
    ));
    events
}
