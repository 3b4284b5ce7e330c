//! A real, independently written Discord client proves compatibility: twilight-http
//! and twilight-gateway 0.18 drive the whole stack, started in-process the way
//! `cloudcord up` does, as a bot.
//!
//! The stack runs on its own topics, projectors schema, Mongo database and ports, so
//! it disturbs no other test and no `make up` stack; `Stack`'s drop removes them.
//! Setting up the user, guild and bot goes through plain HTTP (twilight is a bot
//! library: it cannot register users); everything the bot does goes through twilight.

use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::time::Duration;

use cloudcord::settings::Settings;
use cloudcord_runtime::config::Loader;
use cloudcord_runtime::kafka::KafkaConfig;
use cloudcord_runtime::mongo::MongoConfig;
use cloudcord_runtime::postgres::PostgresConfig;
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use twilight_gateway::{
    ConfigBuilder, Event, EventTypeFlags, Intents, Shard, ShardId, StreamExt as _,
};
use twilight_http::request::channel::reaction::RequestReactionType;
use twilight_model::channel::message::EmojiReactionType;
use twilight_model::gateway::payload::incoming::{GuildCreate, Ready};
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, GuildMarker};

/// Generous: the stack runs as a debug build on a small machine.
const EVENT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the stack may take to accept its first registration.
const START_TIMEOUT: Duration = Duration::from_secs(180);

/// The whole stack in this process, on private topics, schema, database and ports
/// (the voice test starts one too).
pub(crate) struct Stack {
    /// `127.0.0.1:<port>` of the front door.
    pub(crate) front_door: String,
    shutdown: CancellationToken,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    kafka: KafkaConfig,
    postgres: PostgresConfig,
    mongo: MongoConfig,
    name: String,
    state_dir: PathBuf,
}

/// A loopback port nobody listens on right now (the front door's address must be
/// known before it binds: it is also the gateway's `resume_gateway_url`).
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// The configuration of the stack `name`: its own topics, schemas, database, state
/// directory and ports (the environment can still override them).
fn loader(name: &str, state_dir: &std::path::Path, front_door: &str) -> Loader {
    let gateway_url = format!("ws://{front_door}/gateway");
    let any_port = "127.0.0.1:0";
    let state = state_dir.to_str().expect("a UTF-8 temp path");
    Loader::from_environment()
        .default_value("kafka.topic_prefix", &format!("{name}."))
        .default_value("projectors.postgres_schema", name)
        .default_value("query_api.http.postgres_schema", name)
        .default_value("gateway_ws.http.postgres_schema", name)
        // command-api's own tables (OAuth2 sessions, codes) migrate separately.
        .default_value("command_api.http.oauth.schema", &format!("{name}_oauth"))
        .default_value("mongo.database", name)
        .default_value("infra.state_dir", state)
        .default_value("command_api.processor.state_dir", state)
        .default_value("auth.signing_key_path", &format!("{state}/ed25519.pem"))
        .default_value("front_door.listen_addr", front_door)
        .default_value("query_api.http.gateway_url", &gateway_url)
        .default_value("gateway_ws.http.resume_gateway_url", &gateway_url)
        .default_value("command_api.admin.listen_addr", any_port)
        .default_value("command_api.http.listen_addr", any_port)
        .default_value("query_api.admin.listen_addr", any_port)
        .default_value("query_api.http.listen_addr", any_port)
        .default_value("projectors.admin.listen_addr", any_port)
        .default_value("gateway_ws.admin.listen_addr", any_port)
        .default_value("gateway_ws.http.listen_addr", any_port)
        .default_value("sfu.admin.listen_addr", any_port)
}

/// Runs the stack in a task, until the token is cancelled.
fn run(loader: Loader, settings: Settings) -> (CancellationToken, JoinHandle<anyhow::Result<()>>) {
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let task = tokio::spawn(async move { cloudcord::stack::run(&loader, &settings, token).await });
    (shutdown, task)
}

impl Stack {
    pub(crate) async fn start() -> Self {
        cloudcord_runtime::telemetry::init_for_tests();
        let name = format!("twilight_{}", uuid::Uuid::new_v4().simple());
        let state_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(&name);
        std::fs::create_dir_all(&state_dir).expect("the stack's state directory");
        let front_door = format!("127.0.0.1:{}", free_port());
        let loader = loader(&name, &state_dir, &front_door);
        let settings: Settings = loader.load().expect("the stack's settings");
        let (kafka, postgres, mongo) = (
            settings.kafka.clone(),
            settings.postgres.clone(),
            settings.mongo.clone(),
        );
        assert_eq!(
            kafka.topic_prefix,
            format!("{name}."),
            "env overrides the prefix"
        );
        let (shutdown, task) = run(loader, settings);
        Self {
            front_door,
            shutdown,
            task: Some(task),
            kafka,
            postgres,
            mongo,
            name,
            state_dir,
        }
    }

    /// Stops the stack and starts it again on the same topics, databases, state
    /// and front door: every service restarts, as after a deployment.
    pub(crate) async fn restart(&mut self) {
        self.restart_with(&[]).await;
    }

    /// [`Stack::restart`] with some settings changed (`key`, `value`).
    pub(crate) async fn restart_with(&mut self, changed: &[(&str, &str)]) {
        self.stop().await;
        let loader = changed.iter().fold(
            loader(&self.name, &self.state_dir, &self.front_door),
            |loader, (key, value)| loader.default_value(key, value),
        );
        let settings: Settings = loader.load().expect("the stack's settings");
        let (shutdown, task) = run(loader, settings);
        self.shutdown = shutdown;
        self.task = Some(task);
    }

    /// The stack's Kafka settings (its topics are under its own prefix).
    pub(crate) fn kafka(&self) -> &KafkaConfig {
        &self.kafka
    }

    pub(crate) fn api(&self, path: &str) -> String {
        format!("http://{}/api/v10{path}", self.front_door)
    }

    /// Stops the stack and reports how it ended.
    pub(crate) async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let outcome = tokio::time::timeout(Duration::from_secs(60), task).await;
            let result = outcome
                .expect("the stack stops within a minute")
                .expect("the stack's task");
            result.expect("the stack stops cleanly");
        }
    }
}

impl Drop for Stack {
    /// Deletes the stack's topics, schema and database and its state directory, also
    /// after a failed test. Best effort: leftovers cost the shared servers, not the
    /// verdict.
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.abort();
        }
        let (kafka, postgres, mongo, name) = (
            self.kafka.clone(),
            self.postgres.clone(),
            self.mongo.clone(),
            self.name.clone(),
        );
        // Drop cannot await inside the test's runtime: a thread with its own does.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                let prefix = format!("{name}.");
                let topics: Vec<String> = kafka
                    .client_config("twilight-cleanup")
                    .create::<AdminClient<DefaultClientContext>>()
                    .ok()
                    .and_then(|admin| {
                        admin
                            .inner()
                            .fetch_metadata(None, Duration::from_secs(10))
                            .ok()
                    })
                    .map(|metadata| {
                        metadata
                            .topics()
                            .iter()
                            .map(|topic| topic.name().to_owned())
                            .filter(|topic| topic.starts_with(&prefix))
                            .collect()
                    })
                    .unwrap_or_default();
                if !topics.is_empty() {
                    let _ = kafka.delete_topics(&topics).await;
                }
                let _ = cloudcord_projectors::replay::drop_postgres(&postgres, &name).await;
                let _ = cloudcord_projectors::replay::drop_postgres(
                    &postgres,
                    &format!("{name}_oauth"),
                )
                .await;
                let _ = cloudcord_projectors::replay::drop_mongo(&mongo, &name).await;
            });
        })
        .join();
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }
}

/// POSTs `body` with `authorization`; returns the JSON answer of a 2xx.
pub(crate) async fn post(
    http: &reqwest::Client,
    url: &str,
    authorization: &str,
    body: Value,
) -> Value {
    let response = http
        .post(url)
        .header("authorization", authorization)
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|error| panic!("POST {url}: {error}"));
    let status = response.status();
    let text = response.text().await.expect("the answer's body");
    assert!(status.is_success(), "POST {url}: {status} {text}");
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("POST {url}: {error}: {text}"))
}

/// A snowflake from a JSON `"id"` string.
pub(crate) fn snowflake<T>(value: &Value) -> Id<T> {
    let id = value
        .as_str()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("a snowflake string, not {value}"));
    Id::new(id)
}

/// Registers a user, retrying while the freshly started stack cannot answer yet;
/// returns the access token.
pub(crate) async fn register(http: &reqwest::Client, stack: &Stack) -> String {
    let started = tokio::time::Instant::now();
    for attempt in 0.. {
        // A fresh name per attempt: a timed-out attempt may still have claimed its own.
        let body =
            json!({"username": format!("owner{attempt}"), "password": "correct horse battery"});
        let answer = http
            .post(stack.api("/auth/register"))
            .json(&body)
            .timeout(Duration::from_secs(30))
            .send()
            .await;
        if let Ok(response) = answer
            && response.status().is_success()
        {
            let body: Value = response.json().await.expect("the registration's JSON");
            return body["token"].as_str().expect("a token").to_owned();
        }
        assert!(
            started.elapsed() < START_TIMEOUT,
            "the stack did not accept a registration within {START_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    unreachable!("the loop returns or panics")
}

/// The next event the shard yields, failing the test on a timeout, a closed stream or
/// a payload twilight cannot read (an incompatibility).
async fn next_event(shard: &mut Shard) -> Event {
    let event = tokio::time::timeout(EVENT_TIMEOUT, shard.next_event(EventTypeFlags::all()))
        .await
        .unwrap_or_else(|_| panic!("no gateway event within {EVENT_TIMEOUT:?}"))
        .expect("the shard's stream ended");
    event.unwrap_or_else(|error| panic!("twilight rejected a gateway message: {error:?}"))
}

/// Skips events until `wanted` picks one (heartbeat acks alone would keep
/// `next_event` from timing out, hence the overall deadline).
pub(crate) async fn until<T>(shard: &mut Shard, mut wanted: impl FnMut(Event) -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + EVENT_TIMEOUT;
    loop {
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        let event = tokio::time::timeout(remaining, next_event(shard))
            .await
            .unwrap_or_else(|_| panic!("not the awaited event within {EVENT_TIMEOUT:?}"));
        if let Some(found) = wanted(event) {
            return found;
        }
    }
}

/// A new bot, made a member of `guild_id` by `owner` through an invite to
/// `channel_id`, once the membership is projected (READY is built from the same read
/// models); returns the bot's token and a twilight-http client of the bot pointed at
/// the front door over plain HTTP.
pub(crate) async fn bot_member(
    http: &reqwest::Client,
    stack: &Stack,
    owner: &str,
    guild_id: Id<GuildMarker>,
    channel_id: Id<ChannelMarker>,
) -> (String, twilight_http::Client) {
    let application = post(
        http,
        &stack.api("/applications"),
        owner,
        json!({"name": "Twilight Bot"}),
    )
    .await;
    let bot_token = application["token"].as_str().expect("the bot token, once");
    let invite = post(
        http,
        &stack.api(&format!("/channels/{channel_id}/invites")),
        owner,
        json!({}),
    )
    .await;
    let code = invite["code"].as_str().expect("an invite code");
    post(
        http,
        &stack.api(&format!("/invites/{code}")),
        &format!("Bot {bot_token}"),
        json!({}),
    )
    .await;
    let client = twilight_http::Client::builder()
        .proxy(stack.front_door.clone(), true)
        .token(bot_token.to_owned())
        .timeout(EVENT_TIMEOUT)
        .build();
    // Until the bot's account is projected, the read side does not know its token
    // (401); then until its membership is, the guild is not listed.
    let started = tokio::time::Instant::now();
    loop {
        let listed = match client.current_user_guilds().await {
            Ok(response) => response
                .models()
                .await
                .expect("twilight reads GET /users/@me/guilds")
                .iter()
                .any(|g| g.id == guild_id),
            Err(_) => false,
        };
        if listed {
            return (bot_token.to_owned(), client);
        }
        assert!(started.elapsed() < EVENT_TIMEOUT, "the bot's membership");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A twilight-gateway shard of `bot_token` at the front door's `/gateway`
/// (zstd-stream compressed), once READY and `guild_id`'s GUILD_CREATE arrived.
pub(crate) async fn connect_shard(
    stack: &Stack,
    bot_token: &str,
    intents: Intents,
    guild_id: Id<GuildMarker>,
) -> (Shard, Ready, Box<GuildCreate>) {
    let config = ConfigBuilder::new(bot_token.to_owned(), intents)
        .proxy_url(format!("ws://{}/gateway", stack.front_door))
        .build();
    let mut shard = Shard::with_config(ShardId::ONE, config);
    let ready = until(&mut shard, |event| match event {
        Event::Ready(ready) => Some(ready),
        _ => None,
    })
    .await;
    let guild = until(&mut shard, |event| match event {
        Event::GuildCreate(created) if created.id() == guild_id => Some(created),
        _ => None,
    })
    .await;
    (shard, ready, guild)
}

#[tokio::test(flavor = "multi_thread")]
async fn twilight_bot_sees_its_guild_and_messages_and_resumes_without_loss() {
    let mut stack = Stack::start().await;
    let http = reqwest::Client::new();

    // The user, their guild and channel, and the bot, over plain HTTP.
    let user = format!("Bearer {}", register(&http, &stack).await);
    let guild = post(
        &http,
        &stack.api("/guilds"),
        &user,
        json!({"name": "Twilight"}),
    )
    .await;
    let guild_id: Id<GuildMarker> = snowflake(&guild["id"]);
    let channel = post(
        &http,
        &stack.api(&format!("/guilds/{guild_id}/channels")),
        &user,
        json!({"name": "chat", "type": 0}),
    )
    .await;
    let channel_id: Id<ChannelMarker> = snowflake(&channel["id"]);
    let (bot_token, client) = bot_member(&http, &stack, &user, guild_id, channel_id).await;

    // twilight-gateway at the front door's `/gateway`, zstd-stream compressed.
    let intents = Intents::GUILDS
        | Intents::GUILD_MESSAGES
        | Intents::MESSAGE_CONTENT
        | Intents::GUILD_MESSAGE_REACTIONS;
    let (mut shard, ready, _) = connect_shard(&stack, &bot_token, intents, guild_id).await;
    assert!(ready.user.bot, "READY names the bot");

    // Send, edit, react and delete with twilight-http; see each on the gateway.
    let sent = client
        .create_message(channel_id)
        .content("hello from twilight")
        .await
        .expect("POST /channels/{id}/messages")
        .model()
        .await
        .expect("twilight reads POST /channels/{id}/messages");
    assert_eq!(sent.content, "hello from twilight");
    let created = until(&mut shard, |event| match event {
        Event::MessageCreate(created) if created.message.id == sent.id => Some(created),
        _ => None,
    })
    .await;
    assert_eq!(created.message.content, "hello from twilight");
    assert_eq!(created.message.author.id, ready.user.id);

    let edited = client
        .update_message(channel_id, sent.id)
        .content(Some("edited by twilight"))
        .await
        .expect("PATCH /channels/{id}/messages/{id}")
        .model()
        .await
        .expect("twilight reads PATCH /channels/{id}/messages/{id}");
    assert_eq!(edited.content, "edited by twilight");
    let updated = until(&mut shard, |event| match event {
        Event::MessageUpdate(updated) if updated.0.id == sent.id => Some(updated),
        _ => None,
    })
    .await;
    assert_eq!(updated.0.content, "edited by twilight");

    let emoji = RequestReactionType::Unicode { name: "👍" };
    client
        .create_reaction(channel_id, sent.id, &emoji)
        .await
        .expect("PUT /channels/{id}/messages/{id}/reactions/{emoji}/@me");
    let reaction = until(&mut shard, |event| match event {
        Event::ReactionAdd(added) if added.0.message_id == sent.id => Some(added),
        _ => None,
    })
    .await;
    assert_eq!(reaction.0.user_id, ready.user.id);
    assert!(
        matches!(&reaction.0.emoji, EmojiReactionType::Unicode { name } if name == "👍"),
        "{:?}",
        reaction.0.emoji
    );

    client
        .delete_message(channel_id, sent.id)
        .await
        .expect("DELETE /channels/{id}/messages/{id}");
    until(&mut shard, |event| match event {
        Event::MessageDelete(deleted) if deleted.id == sent.id => Some(()),
        _ => None,
    })
    .await;

    // Drop the TCP connection (the shard, without a close frame), let the user send
    // five messages while the bot is away, then resume the session with a new shard:
    // RESUMED, no second READY, and exactly the five, in order.
    let session = shard.session().cloned().expect("an identified session");
    let resume_url = shard
        .resume_url()
        .expect("READY's resume_gateway_url")
        .to_owned();
    drop(shard);
    let contents: Vec<String> = (1..=5).map(|n| format!("while away {n}")).collect();
    for content in &contents {
        post(
            &http,
            &stack.api(&format!("/channels/{channel_id}/messages")),
            &user,
            json!({ "content": content }),
        )
        .await;
    }
    let config = ConfigBuilder::new(bot_token.to_owned(), intents)
        .proxy_url(format!("ws://{}/gateway", stack.front_door))
        .session(session)
        .resume_url(resume_url)
        .build();
    let mut shard = Shard::with_config(ShardId::ONE, config);
    // Discord replays the missed events first and finishes with RESUMED; any of the
    // five not yet projected at that point follow live.
    let mut resumed = false;
    let mut received = Vec::new();
    while received.len() < contents.len() || !resumed {
        match next_event(&mut shard).await {
            Event::Resumed => resumed = true,
            Event::Ready(_) => panic!("the shard identified again instead of resuming"),
            Event::MessageCreate(created) => received.push(created.message.content.clone()),
            _ => {}
        }
    }
    assert_eq!(received, contents, "all five, in order, none doubled");
    // Nothing else (no duplicate) follows shortly; a heartbeat ack at most.
    let extra = tokio::time::timeout(
        Duration::from_secs(3),
        until(&mut shard, |event| match event {
            Event::MessageCreate(created) => Some(created.message.content.clone()),
            _ => None,
        }),
    )
    .await;
    assert!(extra.is_err(), "an extra MESSAGE_CREATE: {extra:?}");

    stack.stop().await;
}
