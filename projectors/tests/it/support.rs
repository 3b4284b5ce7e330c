//! One test's private world — topics under a unique prefix, a PostgreSQL schema, a
//! MongoDB database — an event producer that keeps each aggregate's `seq` and
//! `prev_hash` chain, a deterministic workload, and the real `projectors` binary.
//!
//! A world removes what it made when it is dropped — its topics, its live schema and
//! database, and every replay target the test handed to [`World::track_schema`] /
//! [`World::track_database`] — also when the test fails; projectors it started are
//! killed first.

use std::collections::HashMap;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use cloudcord_projectors::mongo::{self as mongo_store, OFFSETS};
use cloudcord_projectors::postgres::open_schema;
use cloudcord_projectors::{digest, replay};
use cloudcord_runtime::config::Loader;
use cloudcord_runtime::kafka::KafkaConfig;
use cloudcord_runtime::mongo::MongoConfig;
use cloudcord_runtime::postgres::PostgresConfig;
use cloudcord_schemas::envelope::{
    Actor, AggregateRef, AggregateType, CommandId, ENVELOPE_VERSION, EventEnvelope, EventHash,
    event_id,
};
use cloudcord_schemas::events::EventType;
use cloudcord_schemas::guild::{
    ChannelType, GuildChannel, GuildCreated, GuildEvent, Role, RoleCreated,
};
use cloudcord_schemas::ids::{ChannelId, GuildId, MessageId, RoleId, Snowflake, UserId};
use cloudcord_schemas::message::{
    MessageDeleted, MessageEdited, MessagePinned, MessageSent, ReactionAdded, ReactionEmoji,
    UserSnapshot,
};
use cloudcord_schemas::permissions::Permissions;
use cloudcord_schemas::user::{UserEvent, UserRegistered, UserSettings, UserSettingsChanged};
use futures::TryStreamExt;
use mongodb::bson::{Document, doc};
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Row as _};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

/// Partitions of each test's topics.
pub const PARTITIONS: i32 = 2;

#[derive(Deserialize)]
struct Stores {
    #[serde(default)]
    kafka: KafkaConfig,
    #[serde(default)]
    postgres: PostgresConfig,
    #[serde(default)]
    mongo: MongoConfig,
}

/// One test's topics, schema and database, and its event producer.
pub struct World {
    pub kafka: KafkaConfig,
    pub postgres: PostgresConfig,
    pub mongo: MongoConfig,
    /// The live projectors' schema.
    pub schema: String,
    /// The live projectors' database.
    pub database: String,
    producer: FutureProducer,
    chains: HashMap<AggregateRef, (u64, Option<EventHash>)>,
    /// Schemas and databases to drop with the world, besides the live ones.
    schemas: Mutex<Vec<String>>,
    databases: Mutex<Vec<String>>,
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

impl World {
    pub async fn new() -> Self {
        cloudcord_runtime::telemetry::init_for_tests();
        let stores: Stores = Loader::from_environment()
            .load()
            .expect("the test configuration loads");
        let mut kafka = stores.kafka;
        kafka.topic_prefix = format!("{}.", unique("test"));
        kafka.partitions = PARTITIONS;
        kafka.create_topics = true;
        kafka
            .ensure_topics(&kafka.topics().specs(PARTITIONS))
            .await
            .expect("create the test's topics");
        let producer = kafka
            .producer_config("test-events")
            .create()
            .expect("producer");
        Self {
            schema: unique("live"),
            database: unique("live"),
            kafka,
            postgres: stores.postgres,
            mongo: stores.mongo,
            producer,
            chains: HashMap::new(),
            schemas: Mutex::default(),
            databases: Mutex::default(),
        }
    }

    /// Drops PostgreSQL `schema` (a replay's) together with the world.
    pub fn track_schema(&self, schema: &str) {
        self.schemas
            .lock()
            .expect("no test panics holding the lock")
            .push(schema.to_owned());
    }

    /// Drops MongoDB `database` (a replay's) together with the world.
    pub fn track_database(&self, database: &str) {
        self.databases
            .lock()
            .expect("no test panics holding the lock")
            .push(database.to_owned());
    }

    /// The next record of `aggregate`'s history, with its chain.
    pub fn record<E: Serialize + EventType>(
        &mut self,
        aggregate: AggregateRef,
        event: E,
    ) -> Vec<u8> {
        let (seq, prev_hash) = self.chains.entry(aggregate).or_default();
        *seq += 1;
        let envelope = EventEnvelope {
            event_id: event_id(aggregate, *seq),
            aggregate,
            seq: *seq,
            prev_hash: prev_hash.take(),
            command_id: CommandId::random(),
            actor: Actor::User(UserId::new(1)),
            occurred_at: at(*seq),
            envelope_version: ENVELOPE_VERSION,
            event_version: event.event_version(),
            event,
        };
        let value = serde_json::to_vec(&envelope).expect("envelopes serialize");
        *prev_hash = Some(EventHash::of_record(&value));
        value
    }

    /// Appends a record value to `events`, keyed by its aggregate.
    /// Appends `value` as `aggregate`'s event; returns the partition it went to.
    pub async fn send_value(&self, aggregate: AggregateRef, value: &[u8]) -> i32 {
        let key = aggregate.shard_key();
        self.producer
            .send(
                FutureRecord::to(&self.kafka.topics().events)
                    .key(&key)
                    .payload(value),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(error, _)| error)
            .expect("append an event")
            .partition
    }

    /// Appends the next event of `aggregate`.
    pub async fn send<E: Serialize + EventType>(&mut self, aggregate: AggregateRef, event: E) {
        let value = self.record(aggregate, event);
        self.send_value(aggregate, &value).await;
    }

    /// The end offset of each events partition.
    pub fn end_offsets(&self) -> Vec<i64> {
        let consumer: BaseConsumer = self
            .kafka
            .read_committed_consumer_config("test-watermarks", &unique("watermarks"))
            .create()
            .expect("consumer");
        (0..PARTITIONS)
            .map(|p| {
                consumer
                    .fetch_watermarks(&self.kafka.topics().events, p, Duration::from_secs(10))
                    .expect("watermarks")
                    .1
            })
            .collect()
    }

    /// Every `(aggregate type, aggregate id, seq)` the PostgreSQL projector put on
    /// `projected`, in topic order per partition (duplicates included).
    pub fn read_projected(&self) -> Vec<(String, String, u64)> {
        self.kafka
            .read_to_end(&self.kafka.topics().projected, Duration::from_secs(30))
            .expect("projected reads to its end")
            .iter()
            .filter_map(|message| {
                let payload = rdkafka::Message::payload(message).expect("payload");
                let value: serde_json::Value = serde_json::from_slice(payload).expect("json");
                (value["store"] == "postgres").then(|| {
                    (
                        value["aggregate_type"].as_str().expect("type").to_owned(),
                        value["aggregate_id"].as_str().expect("id").to_owned(),
                        value["seq"].as_u64().expect("seq"),
                    )
                })
            })
            .collect()
    }

    /// Asserts that the live read models, with `events` events sent, equal a replay
    /// of the log from offset 0, that each event was applied once (the positions
    /// add up), and that every event is on `projected`.
    pub async fn assert_exactly_once(
        &self,
        pool: &PgPool,
        database: &mongodb::Database,
        events: u64,
    ) {
        let live_pg = digest::postgres(pool, &self.schema).await.expect("digest");
        let live_mongo = digest::mongo(database).await.expect("digest");
        let (pg, mongo) = replay::replay(
            &self.kafka,
            &self.postgres,
            &self.mongo,
            &CancellationToken::new(),
        )
        .await
        .expect("replay");
        self.track_schema(&pg.target);
        self.track_database(&mongo.target);
        assert_eq!(pg.outcome.applied, events);
        assert_eq!(live_pg, pg.digest, "PostgreSQL live and replay differ");
        assert_eq!(live_mongo, mongo.digest, "MongoDB live and replay differ");
        let positions: i64 = sqlx::query("SELECT sum(seq)::int8 FROM aggregate_positions")
            .fetch_one(pool)
            .await
            .expect("positions")
            .get(0);
        assert_eq!(
            u64::try_from(positions).ok(),
            Some(events),
            "every event applied exactly once"
        );
        let published: std::collections::HashSet<_> = self.read_projected().into_iter().collect();
        assert_eq!(published.len() as u64, events, "every event on projected");
    }

    /// How many partitions each member of `store`'s live consumer group is
    /// assigned, once the group is stable (empty while it is not).
    pub fn group_assignments(&self, store: &str) -> Vec<usize> {
        let consumer: BaseConsumer = self
            .kafka
            .client_config("test-groups")
            .create()
            .expect("consumer");
        let group = cloudcord_projectors::group_id(&self.kafka, store);
        let list = consumer
            .fetch_group_list(Some(&group), Duration::from_secs(10))
            .expect("describe the group");
        list.groups()
            .iter()
            .filter(|info| info.state() == "Stable")
            .flat_map(|info| info.members())
            .map(|member| assigned_partitions(member.assignment().unwrap_or_default()))
            .collect()
    }

    /// Starts the real `projectors` binary on this world.
    pub fn spawn_projectors(&self, name: &str) -> Projectors {
        let log = std::fs::File::create(
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("{}{name}.log", self.kafka.topic_prefix)),
        )
        .expect("log file");
        Command::new(env!("CARGO_BIN_EXE_projectors"))
            .env(
                "CLOUDCORD__KAFKA__BOOTSTRAP_SERVERS",
                &self.kafka.bootstrap_servers,
            )
            .env("CLOUDCORD__KAFKA__TOPIC_PREFIX", &self.kafka.topic_prefix)
            .env("CLOUDCORD__KAFKA__PARTITIONS", PARTITIONS.to_string())
            .env("CLOUDCORD__POSTGRES__URL", &self.postgres.url)
            .env("CLOUDCORD__MONGO__URL", &self.mongo.url)
            .env("CLOUDCORD__MONGO__DATABASE", &self.database)
            .env("CLOUDCORD__PROJECTORS__POSTGRES_SCHEMA", &self.schema)
            .env("CLOUDCORD__PROJECTORS__ADMIN__LISTEN_ADDR", "127.0.0.1:0")
            // Small batches, so a kill lands between and inside many of them.
            .env("CLOUDCORD__PROJECTORS__BATCH_MAX", "50")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .map(Projectors)
            .expect("start projectors")
    }

    pub async fn live_pool(&self) -> PgPool {
        open_schema(&self.postgres, &self.schema)
            .await
            .expect("open the live schema")
    }

    pub async fn live_database(&self) -> mongodb::Database {
        mongo_store::open_database(&self.mongo, &self.database)
            .await
            .expect("open the live database")
    }

    /// Waits (up to 120 s: a loaded CI machine is slow) until both live projectors
    /// stored every partition's end.
    pub async fn wait_until_caught_up(&self, pool: &PgPool, database: &mongodb::Database) {
        let ends = self.end_offsets();
        let topic = self.kafka.topics().events;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            let mut pg = Vec::new();
            for p in 0..PARTITIONS {
                pg.push(
                    cloudcord_projectors::postgres::projected_through(pool, &topic, p)
                        .await
                        .expect("read offsets")
                        .unwrap_or(0),
                );
            }
            let mongo: Vec<Document> = database
                .collection::<Document>(OFFSETS)
                .find(doc! { "topic": &topic })
                .await
                .expect("read offsets")
                .try_collect()
                .await
                .expect("read offsets");
            let mut mongo_offsets = vec![0; ends.len()];
            for d in mongo {
                let p = usize::try_from(d.get_i32("partition").expect("partition")).expect("p");
                mongo_offsets[p] = d.get_i64("next_offset").expect("offset");
            }
            if pg == ends && mongo_offsets == ends {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "projectors did not catch up: postgres {pg:?}, mongo {mongo_offsets:?}, end {ends:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let kafka = self.kafka.clone();
        let (postgres, mongo) = (self.postgres.clone(), self.mongo.clone());
        let mut schemas = std::mem::take(self.schemas.get_mut().unwrap_or_else(|e| e.into_inner()));
        schemas.push(self.schema.clone());
        let mut databases =
            std::mem::take(self.databases.get_mut().unwrap_or_else(|e| e.into_inner()));
        databases.push(self.database.clone());
        // Drop cannot await, and the test's runtime may be unwinding: clean up on a
        // thread of its own with a runtime of its own.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the clean-up");
            runtime.block_on(async {
                for schema in &schemas {
                    if let Err(error) = replay::drop_postgres(&postgres, schema).await {
                        tracing::warn!(schema, %error, "a test schema was left behind");
                    }
                }
                for database in &databases {
                    if let Err(error) = replay::drop_mongo(&mongo, database).await {
                        tracing::warn!(database, ?error, "a test database was left behind");
                    }
                }
                delete_topics(&kafka).await;
            });
        });
        if cleanup.join().is_err() {
            tracing::warn!("cleaning up a test's world panicked");
        }
    }
}

/// The number of partitions in a consumer-protocol assignment: a version (int16),
/// then per topic its name (int16 length + bytes) and its partitions (int32 count +
/// int32 each), then user data.
fn assigned_partitions(assignment: &[u8]) -> usize {
    let read = |at: usize, len: usize| -> Option<i64> {
        let bytes = assignment.get(at..at + len)?;
        Some(bytes.iter().fold(0_i64, |n, &b| (n << 8) | i64::from(b)))
    };
    let mut at = 2;
    let Some(topics) = read(at, 4) else { return 0 };
    at += 4;
    let mut partitions = 0;
    for _ in 0..topics {
        let Some(name) = read(at, 2) else { return 0 };
        at += 2 + usize::try_from(name).unwrap_or(0);
        let Some(count) = read(at, 4) else { return 0 };
        at += 4 + 4 * usize::try_from(count).unwrap_or(0);
        partitions += usize::try_from(count).unwrap_or(0);
    }
    partitions
}

/// Deletes the world's topics (everything under its prefix).
async fn delete_topics(kafka: &KafkaConfig) {
    let admin: AdminClient<DefaultClientContext> =
        match kafka.client_config("test-cleanup").create() {
            Ok(admin) => admin,
            Err(error) => {
                tracing::warn!(%error, "the test's topics were left behind");
                return;
            }
        };
    let specs = kafka.topics().specs(PARTITIONS);
    let names: Vec<&str> = specs.iter().map(|spec| spec.name.as_str()).collect();
    if let Err(error) = admin.delete_topics(&names, &AdminOptions::new()).await {
        tracing::warn!(%error, "the test's topics were left behind");
    }
}

/// A running `projectors` process, killed when dropped (a failed test leaves none
/// behind).
pub struct Projectors(Child);

impl Projectors {
    /// Sends SIGKILL.
    pub fn kill(&mut self) -> std::io::Result<()> {
        self.0.kill()
    }

    /// Waits for the process to exit.
    pub fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.0.wait()
    }
}

impl Drop for Projectors {
    fn drop(&mut self) {
        // Already gone when the test killed and reaped it.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A fixed clock for event `seq`: projections never look at the real one.
pub fn at(seq: u64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_790_000_000 + i64::try_from(seq).expect("small"))
        .expect("valid time")
}

pub fn guild_ref(guild: u64) -> AggregateRef {
    AggregateRef {
        kind: AggregateType::Guild,
        id: Snowflake::new(guild),
    }
}

pub fn user_ref(user: u64) -> AggregateRef {
    AggregateRef {
        kind: AggregateType::User,
        id: Snowflake::new(user),
    }
}

pub fn snapshot(user: u64) -> UserSnapshot {
    UserSnapshot {
        id: UserId::new(user),
        username: format!("user{user}"),
        global_name: None,
        avatar: None,
        bot: false,
    }
}

/// The text channel of guild `guild` in the workload.
pub fn channel_of(guild: u64) -> ChannelId {
    ChannelId::new(guild + 1)
}

/// `user` registering, as `user<id>`.
pub fn user_registered(user: u64) -> UserEvent {
    UserEvent::UserRegistered(UserRegistered {
        user_id: UserId::new(user),
        username: format!("user{user}"),
        global_name: None,
        email: None,
        password_hash: None,
        bot: false,
        application_id: None,
        owner_id: None,
        bot_token_id: None,
    })
}

pub fn guild_created(guild: u64) -> GuildEvent {
    GuildEvent::GuildCreated(GuildCreated {
        id: GuildId::new(guild),
        name: format!("guild {guild}"),
        owner: snapshot(1),
        roles: vec![Role {
            id: RoleId::new(guild),
            name: "@everyone".into(),
            color: 0,
            hoist: false,
            position: 0,
            permissions: Permissions::from_bits_retain(104_324_673),
            managed: false,
            mentionable: false,
        }],
        channels: vec![GuildChannel {
            id: channel_of(guild),
            kind: ChannelType::GuildText,
            name: "general".into(),
            position: 0,
            parent_id: None,
            topic: None,
            nsfw: false,
            rate_limit_per_user: 0,
            bitrate: None,
            user_limit: None,
            permission_overwrites: Vec::new(),
        }],
        system_channel_id: Some(channel_of(guild)),
        created_at: at(1),
    })
}

pub fn message_sent(guild: u64, message: u64) -> GuildEvent {
    GuildEvent::MessageSent(MessageSent {
        attachments: Vec::new(),
        id: MessageId::new(message),
        channel_id: channel_of(guild),
        author: snapshot(1 + message % 3),
        content: format!("message {message}"),
        timestamp: at(message),
        tts: false,
        mention_everyone: false,
        mentions: vec![UserId::new(2)],
        mention_roles: Vec::new(),
        message_reference: None,
        nonce: None,
    })
}

/// The guilds of a [`Workload`]: ids far apart so channels and roles never collide.
pub const GUILDS: [u64; 4] = [1_000_000, 2_000_000, 3_000_000, 4_000_000];

/// A deterministic mix of guild, message and user events: every guild first, then
/// mostly messages with edits, reactions, pins, deletes and new roles between them.
pub struct Workload {
    step: u64,
}

impl Workload {
    pub fn new() -> Self {
        Self { step: 0 }
    }

    /// The next event and its aggregate.
    pub fn next(&mut self, world: &mut World) -> (AggregateRef, Vec<u8>) {
        let step = self.step;
        self.step += 1;
        let guilds = GUILDS.len() as u64;
        if step < guilds {
            let guild = GUILDS[usize::try_from(step).expect("small")];
            return (
                guild_ref(guild),
                world.record(guild_ref(guild), guild_created(guild)),
            );
        }
        if step == guilds {
            let user = user_ref(2);
            return (user, world.record(user, user_registered(2)));
        }
        if step == guilds + 1 {
            let user = user_ref(2);
            let settings = UserSettings {
                locale: "fr".into(),
                ..UserSettings::default()
            };
            return (
                user,
                world.record(
                    user,
                    UserEvent::UserSettingsChanged(UserSettingsChanged { settings }),
                ),
            );
        }
        let guild = GUILDS[usize::try_from(step % guilds).expect("small")];
        let aggregate = guild_ref(guild);
        // Every message id is the step that sent it; earlier ones of the same guild
        // are `step - guilds`, `step - 2 * guilds`, ….
        let earlier = MessageId::new(guild + step.saturating_sub(guilds));
        let event = match step % 10 {
            3 => GuildEvent::MessageEdited(MessageEdited {
                id: earlier,
                channel_id: channel_of(guild),
                content: format!("edited at {step}"),
                edited_timestamp: at(step),
                mention_everyone: false,
                mentions: Vec::new(),
                mention_roles: Vec::new(),
                attachments: Vec::new(),
            }),
            5 => GuildEvent::ReactionAdded(ReactionAdded {
                user_id: UserId::new(1 + step % 3),
                message_id: earlier,
                channel_id: channel_of(guild),
                emoji: ReactionEmoji {
                    id: None,
                    name: "🔥".into(),
                },
            }),
            7 => GuildEvent::MessagePinned(MessagePinned {
                message_id: earlier,
                channel_id: channel_of(guild),
                pinned_at: at(step),
            }),
            8 if step % 40 == 8 => GuildEvent::MessageDeleted(MessageDeleted {
                id: earlier,
                channel_id: channel_of(guild),
            }),
            9 if step % 100 == 9 => GuildEvent::RoleCreated(RoleCreated {
                role: Role {
                    id: RoleId::new(guild + step),
                    name: format!("role {step}"),
                    color: 0,
                    hoist: false,
                    position: 1,
                    permissions: Permissions::empty(),
                    managed: false,
                    mentionable: false,
                },
            }),
            _ => message_sent(guild, guild + step),
        };
        (aggregate, world.record(aggregate, event))
    }
}

/// Sends `count` workload events as fast as the producer takes them.
/// Sends the workload's next `count` events; returns the partitions they went to.
pub async fn send_workload(
    world: &mut World,
    workload: &mut Workload,
    count: usize,
) -> std::collections::BTreeSet<i32> {
    let mut partitions = std::collections::BTreeSet::new();
    for _ in 0..count {
        let (aggregate, value) = workload.next(world);
        partitions.insert(world.send_value(aggregate, &value).await);
    }
    partitions
}
