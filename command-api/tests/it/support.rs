//! A private set of topics, a command sender and a result watcher for one test, and
//! processors run in-process or as real `command-api` processes.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use cloudcord_command_api::http::ROUTE_LIMITS;
use cloudcord_command_api::processor::metrics::ProcessorMetrics;
use cloudcord_command_api::processor::{self, ProcessorSettings};
use cloudcord_runtime::config::Loader;
use cloudcord_runtime::files::{Files, FilesConfig};
use cloudcord_runtime::kafka::KafkaConfig;
use cloudcord_runtime::mongo::MongoConfig;
use cloudcord_runtime::postgres::{PostgresConfig, quote_identifier};
use cloudcord_runtime::rate_limit::{Quota, RateLimitSettings, RouteName, RouteQuota};
use cloudcord_schemas::envelope::{
    Actor, AggregateRef, AggregateType, Authored, CommandEnvelope, CommandId, CommandResult,
    EventHash,
};
use cloudcord_schemas::guild::GuildCommand;
use cloudcord_schemas::ids::{Snowflake, UserId};
use cloudcord_schemas::topics::Topics;
use futures::StreamExt;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use serde::Deserialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Drops a test's schema (best effort).
async fn drop_schema(postgres: &PostgresConfig, schema: &str) -> Result<(), sqlx::Error> {
    use sqlx::Connection as _;
    let mut connection = sqlx::PgConnection::connect_with(&postgres.connect_options()?).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {} CASCADE",
        quote_identifier(schema)
    )))
    .execute(&mut connection)
    .await?;
    connection.close().await
}

/// Partitions of each test's topics: enough to spread aggregates over workers.
pub const PARTITIONS: i32 = 4;

#[derive(Deserialize)]
struct KafkaSection {
    #[serde(default)]
    kafka: KafkaConfig,
    #[serde(default)]
    postgres: PostgresConfig,
    #[serde(default)]
    mongo: MongoConfig,
}

/// One test's private topics (and PostgreSQL schema for the OAuth2 provider).
pub struct Bus {
    pub kafka: KafkaConfig,
    pub topics: Topics,
    /// Where the test's database is.
    pub postgres: PostgresConfig,
    /// The test's own schema for command-api's OAuth2 tables.
    pub oauth_schema: String,
    /// The test's own database for uploaded files.
    pub mongo: MongoConfig,
}

impl Drop for Bus {
    /// Removes the test's topics, schema and message index files, also when it failed.
    fn drop(&mut self) {
        let kafka = self.kafka.clone();
        let (postgres, schema) = (self.postgres.clone(), self.oauth_schema.clone());
        let mongo = self.mongo.clone();
        let names: Vec<String> = self
            .topics
            .specs(PARTITIONS)
            .into_iter()
            .map(|spec| spec.name)
            .collect();
        // Drop cannot await, and may run inside the test's runtime: a thread with a
        // runtime of its own deletes the topics. Best effort: a leftover topic costs
        // the broker, not the test's verdict.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a cleanup runtime");
            runtime.block_on(async {
                let _ = kafka.delete_topics(&names).await;
                let _ = drop_schema(&postgres, &schema).await;
                if let Ok(database) = mongo.database("command-api-test").await {
                    let _ = database.drop().await;
                }
            })
        })
        .join();
        let Ok(entries) = std::fs::read_dir(processor_state_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            if entry
                .file_name()
                .to_str()
                .is_some_and(|name| name.starts_with(&self.kafka.topic_prefix))
            {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

impl Bus {
    pub async fn new() -> Self {
        let section = Loader::from_environment()
            .load::<KafkaSection>()
            .expect("test configuration");
        let (mut kafka, postgres, mut mongo) = (section.kafka, section.postgres, section.mongo);
        kafka.topic_prefix = format!("test-{}.", uuid::Uuid::new_v4().simple());
        kafka.partitions = PARTITIONS;
        kafka.create_topics = true;
        let topics = kafka.topics();
        kafka
            .ensure_topics(&topics.specs(PARTITIONS))
            .await
            .expect("create the test's topics");
        let oauth_schema = format!(
            "test_oauth_{}",
            kafka
                .topic_prefix
                .trim_start_matches("test-")
                .trim_end_matches('.')
        );
        mongo.database = oauth_schema.replace("test_oauth_", "test_files_");
        Self {
            kafka,
            topics,
            postgres,
            oauth_schema,
            mongo,
        }
    }

    /// Runs a processor in this process until the returned token is cancelled.
    pub fn spawn_processor(&self) -> (CancellationToken, tokio::task::JoinHandle<()>) {
        let (token, handle, _) = self.spawn_processor_with(fast_failover());
        (token, handle)
    }

    /// Runs a processor with `settings` in this process until the returned token is
    /// cancelled; its metrics are returned for inspection.
    pub fn spawn_processor_with(
        &self,
        settings: ProcessorSettings,
    ) -> (
        CancellationToken,
        tokio::task::JoinHandle<()>,
        ProcessorMetrics,
    ) {
        let token = CancellationToken::new();
        let metrics =
            ProcessorMetrics::register(&mut prometheus_client::registry::Registry::default());
        let task = tokio::spawn(processor::run(
            self.kafka.clone(),
            settings,
            metrics.clone(),
            token.clone(),
        ));
        let handle = tokio::spawn(async move {
            task.await
                .expect("processor task")
                .expect("processor stops cleanly");
        });
        (token, handle, metrics)
    }

    /// Starts the real `command-api` binary as a separate process (for SIGKILL and
    /// SIGSTOP), sharing this test's topics.
    pub fn spawn_process(&self, name: &str) -> Child {
        let log = std::fs::File::create(
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("{}{name}.log", self.kafka.topic_prefix)),
        )
        .expect("log file");
        Command::new(env!("CARGO_BIN_EXE_command-api"))
            .env(
                "CLOUDCORD__KAFKA__BOOTSTRAP_SERVERS",
                &self.kafka.bootstrap_servers,
            )
            .env("CLOUDCORD__KAFKA__TOPIC_PREFIX", &self.kafka.topic_prefix)
            .env("CLOUDCORD__KAFKA__PARTITIONS", PARTITIONS.to_string())
            .env("CLOUDCORD__POSTGRES__URL", &self.postgres.url)
            .env(
                "CLOUDCORD__COMMAND_API__HTTP__OAUTH__SCHEMA",
                &self.oauth_schema,
            )
            .env("CLOUDCORD__COMMAND_API__ADMIN__LISTEN_ADDR", "127.0.0.1:0")
            // The HTTP API runs in every command-api process: a free port and a key
            // under the target directory, so parallel processes never collide.
            .env("CLOUDCORD__COMMAND_API__HTTP__LISTEN_ADDR", "127.0.0.1:0")
            .env(
                "CLOUDCORD__AUTH__SIGNING_KEY_PATH",
                std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
                    .join(format!("{}{name}.pem", self.kafka.topic_prefix)),
            )
            .env(
                "CLOUDCORD__COMMAND_API__PROCESSOR__STATE_DIR",
                processor_state_dir(),
            )
            .env(
                "CLOUDCORD__COMMAND_API__PROCESSOR__SESSION_TIMEOUT_MS",
                fast_failover().session_timeout_ms.to_string(),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("start command-api")
    }

    /// A producer of commands (idempotent, Java-compatible partitioning).
    pub fn sender(&self) -> Sender {
        Sender {
            producer: self
                .kafka
                .producer_config("test-sender")
                .create()
                .expect("producer"),
            topic: self.topics.commands.clone(),
        }
    }

    /// Watches the results topic from the beginning.
    pub fn watch_results(&self) -> Results {
        let consumer: StreamConsumer = self
            .kafka
            .read_committed_consumer_config(
                "test-results",
                &format!("{}results", self.kafka.topic_prefix),
            )
            .create()
            .expect("results consumer");
        let mut assignment = TopicPartitionList::new();
        for partition in 0..PARTITIONS {
            assignment
                .add_partition_offset(&self.topics.results, partition, Offset::Beginning)
                .expect("partition");
        }
        consumer.assign(&assignment).expect("assign");
        let results = Results::default();
        let inner = Arc::clone(&results.inner);
        let notify = Arc::clone(&results.notify);
        tokio::spawn(async move {
            let mut stream = consumer.stream();
            while let Some(message) = stream.next().await {
                let message = message.expect("results stream");
                let result: CommandResult =
                    serde_json::from_slice(message.payload().expect("payload")).expect("result");
                inner
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entry(result.command_id.clone())
                    .or_default()
                    .push(result);
                notify.notify_waiters();
            }
        });
        results
    }

    /// Every committed event record, per partition in order, read to the end.
    pub fn read_events(&self) -> Vec<EventRecord> {
        self.read_topic(&self.topics.events)
    }

    /// Every committed record of `topic` (one of the bus's), per partition in
    /// order, read to the end.
    pub fn read_topic(&self, topic: &str) -> Vec<EventRecord> {
        self.kafka
            .read_to_end(topic, Duration::from_secs(30))
            .expect("the topic reads to its end")
            .iter()
            .map(|message| EventRecord {
                partition: message.partition(),
                value: message.payload().expect("payload").to_vec(),
            })
            .collect()
    }
}

impl Bus {
    /// The latest committed snapshot record of each partition.
    pub fn read_snapshots(&self) -> HashMap<i32, Vec<u8>> {
        // Later records of a partition replace earlier ones.
        self.read_topic(&self.topics.snapshots)
            .into_iter()
            .map(|record| (record.partition, record.value))
            .collect()
    }

    /// Appends `value` as the latest snapshot of `partition` (outside any transaction).
    pub fn write_snapshot(&self, partition: i32, value: &[u8]) {
        let producer: rdkafka::producer::BaseProducer = self
            .kafka
            .producer_config("test-snapshot-writer")
            .create()
            .expect("producer");
        let key = partition.to_string();
        producer
            .send(
                rdkafka::producer::BaseRecord::to(&self.topics.snapshots)
                    .partition(partition)
                    .key(&key)
                    .payload(value),
            )
            .map_err(|(error, _)| error)
            .expect("snapshot enqueued");
        rdkafka::producer::Producer::flush(&producer, Duration::from_secs(30))
            .expect("snapshot appended");
    }
}

/// The API's settings for tests: the default (Discord's) rate limits, and time for
/// the processor's first assignment, which takes a few seconds.
pub fn realistic_http_settings() -> cloudcord_command_api::http::HttpSettings {
    cloudcord_command_api::http::HttpSettings {
        result_timeout_ms: 60_000,
        ..cloudcord_command_api::http::HttpSettings::default()
    }
}

/// Rate limits no test reaches: every quota, the built-in ones included, at 10,000
/// requests per second. Tests call routes far faster than a client may; the rate-limit
/// tests run with the real limits.
pub fn generous_rate_limits() -> RateLimitSettings {
    let plenty = Quota::new(10_000, 1_000);
    RateLimitSettings {
        global: plenty,
        default_route: plenty,
        routes: ROUTE_LIMITS
            .iter()
            .map(|(route, _)| RouteQuota {
                route: RouteName::try_from((*route).to_owned()).expect("a built-in route"),
                quota: plenty,
            })
            .collect(),
        ..RateLimitSettings::default()
    }
}

/// A running HTTP API (real listener on port 0) over a test's topics.
pub struct Api {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The file holding the API's signing key (to mint tokens the API must refuse).
    pub signing_key_path: std::path::PathBuf,
    /// The auth settings the API runs with.
    pub auth: cloudcord_runtime::auth::AuthConfig,
    /// Stops the API's server, command bus and projection.
    pub shutdown: CancellationToken,
    /// The API's shared state (command bus, projection).
    pub state: cloudcord_command_api::http::ApiState,
}

impl Bus {
    /// Starts the HTTP API in this process on port 0, over this test's topics, with
    /// [`generous_rate_limits`].
    pub async fn spawn_api(&self) -> Api {
        self.spawn_api_with(cloudcord_command_api::http::HttpSettings {
            rate_limits: generous_rate_limits(),
            ..realistic_http_settings()
        })
        .await
    }

    /// [`Self::spawn_api`] with explicit settings.
    pub async fn spawn_api_with(&self, settings: cloudcord_command_api::http::HttpSettings) -> Api {
        let signing_key_path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("{}api.pem", self.kafka.topic_prefix));
        let auth = cloudcord_runtime::auth::AuthConfig {
            signing_key_path,
            ..cloudcord_runtime::auth::AuthConfig::default()
        };
        self.spawn_api_with_auth(settings, auth).await
    }

    /// [`Self::spawn_api_with`] with explicit auth settings; the issuer (`iss`) is
    /// the API's own address, as relying parties expect of an OpenID provider.
    pub async fn spawn_api_with_auth(
        &self,
        settings: cloudcord_command_api::http::HttpSettings,
        auth: cloudcord_runtime::auth::AuthConfig,
    ) -> Api {
        self.spawn_api_with_files(settings, auth, &FilesConfig::default())
            .await
    }

    /// [`Self::spawn_api_with_auth`] with explicit file settings (uploads go to the
    /// test's own database, [`Self::mongo`]).
    pub async fn spawn_api_with_files(
        &self,
        mut settings: cloudcord_command_api::http::HttpSettings,
        mut auth: cloudcord_runtime::auth::AuthConfig,
        files: &FilesConfig,
    ) -> Api {
        use cloudcord_command_api::http::{self, ApiState};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the HTTP API");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        auth.issuer = base.clone();
        settings.oauth.schema = self.oauth_schema.clone();
        let signing_key_path = auth.signing_key_path.clone();
        // A VAPID key of the test's own (generated on first use); production's
        // rule for endpoints (https only).
        let push = cloudcord_runtime::push::PushConfig {
            vapid_key_path: std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("{}vapid.pem", self.kafka.topic_prefix)),
            ..cloudcord_runtime::push::PushConfig::default()
        };
        let shutdown = CancellationToken::new();
        let files = Files::connect(&self.mongo, files, "command-api-test")
            .await
            .expect("the file store's settings");
        let state = ApiState::start(
            &self.kafka,
            &self.postgres,
            &auth,
            &push,
            &settings,
            files,
            shutdown.clone(),
        )
        .await
        .expect("start the HTTP API");
        tokio::spawn(http::serve(listener, state.clone(), shutdown.clone()));
        Api {
            base,
            signing_key_path,
            auth,
            shutdown,
            state,
        }
    }

    /// The `traceparent` header of every committed event record.
    pub async fn event_traceparents(&self) -> Vec<Option<String>> {
        use rdkafka::message::Headers as _;
        let kafka = self.kafka.clone();
        let topic = self.topics.events.clone();
        tokio::task::spawn_blocking(move || {
            kafka
                .read_to_end(&topic, Duration::from_secs(30))
                .expect("the events read to their end")
                .iter()
                .map(|message| {
                    message.headers().and_then(|headers| {
                        headers
                            .iter()
                            .find(|h| h.key == "traceparent")
                            .and_then(|h| h.value)
                            .map(|v| String::from_utf8_lossy(v).into_owned())
                    })
                })
                .collect()
        })
        .await
        .expect("read event headers")
    }

    /// How many event records are committed (all partitions).
    pub async fn event_count(self: &Arc<Self>) -> usize {
        let bus = Arc::clone(self);
        tokio::task::spawn_blocking(move || bus.read_events().len())
            .await
            .expect("read events")
    }
}

/// Sends `count` commands over `guilds` new guilds at a steady pace (so faults can be
/// injected mid-stream) and returns their ids in order.
pub fn stream_commands(
    bus: &Arc<Bus>,
    count: usize,
    guilds: usize,
) -> tokio::task::JoinHandle<Vec<CommandId>> {
    let bus = Arc::clone(bus);
    tokio::spawn(async move {
        let sender = bus.sender();
        let owner = UserId::new(42);
        let targets: Vec<Snowflake> = (0..guilds)
            .map(|_| Snowflake::new(uuid::Uuid::new_v4().as_u64_pair().0 >> 2))
            .collect();
        let mut ids = Vec::with_capacity(count);
        for i in 0..count {
            let guild = targets[i % guilds];
            let command = if i < guilds {
                GuildCommand::CreateGuild {
                    guild_id: guild.into(),
                    name: format!("guild {i}"),
                    owner: cloudcord_schemas::message::UserSnapshot {
                        id: owner,
                        username: format!("owner{}", owner),
                        global_name: None,
                        avatar: None,
                        bot: false,
                    },
                    text_channel_id: cloudcord_schemas::ids::ChannelId::new(guild.get() + 1),
                    voice_channel_id: cloudcord_schemas::ids::ChannelId::new(guild.get() + 2),
                    text_category_id: None,
                    voice_category_id: None,
                }
            } else {
                GuildCommand::ModifyGuild(cloudcord_schemas::guild::ModifyGuild {
                    name: Some(format!("rename {i}")),
                    ..Default::default()
                })
            };
            let id = CommandId::random();
            sender.send(guild, &id, owner, command).await;
            ids.push(id);
            if i % 50 == 49 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        ids
    })
}

/// Where test processors keep their message indexes; [`Bus`] removes its own files
/// when dropped.
pub fn processor_state_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("processor-state")
}

/// A random 62-bit id: unique per test run without coordination.
pub fn random_guild() -> Snowflake {
    Snowflake::new(uuid::Uuid::new_v4().as_u64_pair().0 >> 2)
}

/// Settings that let a dead processor's partitions move within seconds.
pub fn fast_failover() -> ProcessorSettings {
    ProcessorSettings {
        state_dir: processor_state_dir(),
        session_timeout_ms: 6_000,
        ..ProcessorSettings::default()
    }
}

/// One committed event record.
pub struct EventRecord {
    pub partition: i32,
    pub value: Vec<u8>,
}

#[derive(Deserialize)]
struct EventHead {
    aggregate_type: AggregateType,
    aggregate_id: Snowflake,
    seq: u64,
    prev_hash: Option<EventHash>,
    command_id: CommandId,
}

/// Checks that every aggregate's history is gap-free from seq 1 and hash-chained,
/// and returns the number of events per command id.
pub fn verify_histories(records: &[EventRecord]) -> HashMap<CommandId, usize> {
    let mut last: HashMap<(AggregateType, Snowflake), (u64, EventHash, i32)> = HashMap::new();
    let mut per_command = HashMap::new();
    for record in records {
        let head: EventHead = serde_json::from_slice(&record.value).expect("event envelope");
        let key = (head.aggregate_type, head.aggregate_id);
        let expected = last.get(&key).map_or(1, |(seq, _, _)| seq + 1);
        assert_eq!(head.seq, expected, "{key:?}: seq gap or duplicate");
        assert_eq!(
            head.prev_hash,
            last.get(&key).map(|(_, hash, _)| hash.clone()),
            "{key:?}: broken hash chain at seq {}",
            head.seq
        );
        if let Some((_, _, partition)) = last.get(&key) {
            assert_eq!(*partition, record.partition, "{key:?} moved partitions");
        }
        last.insert(
            key,
            (
                head.seq,
                EventHash::of_record(&record.value),
                record.partition,
            ),
        );
        *per_command.entry(head.command_id).or_insert(0) += 1;
    }
    per_command
}

/// Sends commands to the commands topic.
pub struct Sender {
    producer: FutureProducer,
    topic: String,
}

impl Sender {
    pub async fn send(
        &self,
        guild: Snowflake,
        command_id: &CommandId,
        actor: UserId,
        command: GuildCommand,
    ) {
        let envelope = CommandEnvelope {
            command_id: command_id.clone(),
            target: AggregateRef {
                kind: AggregateType::Guild,
                id: guild,
            },
            body: Authored {
                actor: Actor::User(actor),
                at: time::OffsetDateTime::now_utc(),
                command,
            },
        };
        let payload = serde_json::to_vec(&envelope).expect("serialize");
        let key = guild.to_string();
        self.producer
            .send(
                FutureRecord::to(&self.topic).key(&key).payload(&payload),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(error, _)| error)
            .expect("command appended");
    }
}

/// Results seen so far, by command id.
#[derive(Default, Clone)]
pub struct Results {
    inner: Arc<Mutex<HashMap<CommandId, Vec<CommandResult>>>>,
    notify: Arc<Notify>,
}

impl Results {
    /// Waits until `command_id` has at least `count` results and returns them.
    pub async fn wait_for(
        &self,
        command_id: &CommandId,
        count: usize,
        limit: Duration,
    ) -> Vec<CommandResult> {
        tokio::time::timeout(limit, async {
            loop {
                let notified = self.notify.notified();
                if let Some(found) = self.get(command_id).filter(|r| r.len() >= count) {
                    return found;
                }
                notified.await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no result for {command_id} within {limit:?}"))
    }

    pub fn get(&self, command_id: &CommandId) -> Option<Vec<CommandResult>> {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(command_id)
            .cloned()
    }

    /// How many command ids have a result.
    pub fn count(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Waits until at least `count` command ids have a result.
    pub async fn wait_for_count(&self, count: usize, limit: Duration) {
        tokio::time::timeout(limit, async {
            while self.count() < count {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("fewer than {count} results within {limit:?}"));
    }
}
