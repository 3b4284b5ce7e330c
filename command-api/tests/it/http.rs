//! The HTTP write API end to end: real HTTP on port 0, the real broker, the command
//! processor in-process. Every refusal is checked for Discord's status and JSON code
//! and for leaving the event log untouched.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use cloudcord_runtime::auth::{NewAccessToken, SigningKey, TokenIssuer, TokenKind};
use cloudcord_schemas::ids::UserId;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::support::{Api, Bus};

/// One test's world: topics, a processor and the API.
pub struct World {
    bus: Arc<Bus>,
    pub api: Api,
    http: reqwest::Client,
    processor: CancellationToken,
}

impl World {
    /// The API with rate limits no test reaches.
    pub async fn new() -> Self {
        let bus = Arc::new(Bus::new().await);
        let api = bus.spawn_api().await;
        Self::over(bus, api)
    }

    /// The API with `settings`.
    pub async fn with_settings(settings: cloudcord_command_api::http::HttpSettings) -> Self {
        let bus = Arc::new(Bus::new().await);
        let api = bus.spawn_api_with(settings).await;
        Self::over(bus, api)
    }

    /// The API storing uploads as `files` says.
    pub async fn with_files(files: &cloudcord_runtime::files::FilesConfig) -> Self {
        let bus = Arc::new(Bus::new().await);
        let api = bus
            .spawn_api_with_files(
                cloudcord_command_api::http::HttpSettings {
                    rate_limits: crate::support::generous_rate_limits(),
                    ..crate::support::realistic_http_settings()
                },
                cloudcord_runtime::auth::AuthConfig {
                    signing_key_path: std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
                        .join(format!("{}api.pem", bus.kafka.topic_prefix)),
                    ..cloudcord_runtime::auth::AuthConfig::default()
                },
                files,
            )
            .await;
        Self::over(bus, api)
    }

    /// The test's bus (topics, stores).
    pub fn bus(&self) -> &Arc<Bus> {
        &self.bus
    }

    /// A processor over `bus`, next to `api`.
    fn over(bus: Arc<Bus>, api: Api) -> Self {
        let (processor, _handle) = bus.spawn_processor();
        Self {
            bus,
            api,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(90))
                .build()
                .expect("client"),
            processor,
        }
    }

    /// Sends `body` (JSON, raw text or nothing) and returns the status and JSON body
    /// (`Value::Null` when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        auth: Option<&str>,
        body: Body<'_>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let (status, _, value) = self.send(method, path, auth, body, headers).await;
        (status, value)
    }

    /// [`Self::call`], also returning the response's headers.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        auth: Option<&str>,
        body: Body<'_>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.api.base));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request = match body {
            Body::None => request,
            Body::Json(value) => request.json(&value),
            Body::Raw(text) => request
                .header("content-type", "application/json")
                .body(text.to_owned()),
            Body::Form(content_type, bytes) => {
                request.header("content-type", content_type).body(bytes)
            }
        };
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let response_headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body");
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("{path}: not JSON: {}", String::from_utf8_lossy(&bytes)))
        };
        (status, response_headers, value)
    }

    pub async fn post(&self, path: &str, auth: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, auth, Body::Json(body), &[])
            .await
    }

    /// Registers `username` and returns its `Bearer` authorization.
    pub async fn register(&self, username: &str) -> String {
        let (status, body) = self
            .post(
                "/api/v10/auth/register",
                None,
                json!({"username": username, "password": "correct horse battery", "global_name": "Test"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "register: {body}");
        format!("Bearer {}", body["token"].as_str().expect("token"))
    }

    /// The id of `username` (registered with [`Self::register`]), from a login.
    pub async fn user_id(&self, username: &str) -> String {
        let (status, login) = self
            .post(
                "/api/v10/auth/login",
                None,
                json!({"login": username, "password": "correct horse battery"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login: {login}");
        login["user_id"].as_str().expect("an id").to_owned()
    }

    /// Creates a guild; returns its id and its first text channel's id.
    pub async fn guild(&self, auth: &str) -> (String, String) {
        let (status, guild) = self
            .post("/api/v10/guilds", Some(auth), json!({"name": "Rustaceans"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "create guild: {guild}");
        openapi::assert_conforms("GuildResponse", &guild);
        let guild_id = guild["id"].as_str().expect("guild id").to_owned();
        let (status, channel) = self
            .post(
                &format!("/api/v10/guilds/{guild_id}/channels"),
                Some(auth),
                json!({"name": "chat", "type": 0}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "create channel: {channel}");
        (
            guild_id,
            channel["id"].as_str().expect("channel id").to_owned(),
        )
    }

    /// `member` joins the guild of `channel_id` with an invite `owner` makes.
    pub async fn join(&self, owner: &str, member: &str, channel_id: &str) {
        let (status, invite) = self
            .post(
                &format!("/api/v10/channels/{channel_id}/invites"),
                Some(owner),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{invite}");
        let code = invite["code"].as_str().expect("code");
        let (status, joined) = self
            .post(&format!("/api/v10/invites/{code}"), Some(member), json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{joined}");
    }

    pub async fn events(&self) -> usize {
        self.bus.event_count().await
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.api.shutdown.cancel();
        self.processor.cancel();
    }
}

pub enum Body<'a> {
    None,
    Json(Value),
    Raw(&'a str),
    /// A body with its own content type (a multipart form).
    Form(String, Vec<u8>),
}

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

pub fn assert_error(status: StatusCode, body: &Value, want_status: StatusCode, code: u64) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["code"], json!(code), "{body}");
    assert!(body["message"].is_string(), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn register_login_guild_channel_message_edit_delete() {
    let world = World::new().await;
    let name = unique("nelly");
    let auth = world.register(&name).await;

    let (status, login) = world
        .post(
            "/api/v10/auth/login",
            None,
            json!({"login": name, "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    assert!(
        login["user_id"].is_string() && login["token"].is_string(),
        "{login}"
    );
    let (status, wrong) = world
        .post(
            "/api/v10/auth/login",
            None,
            json!({"login": name, "password": "wrong password"}),
        )
        .await;
    assert_error(status, &wrong, StatusCode::BAD_REQUEST, 50035);
    assert_eq!(
        wrong["errors"]["login"]["_errors"][0]["code"],
        "INVALID_LOGIN"
    );

    // The access token also works bare, as Discord's own clients send theirs.
    let bare = auth.trim_start_matches("Bearer ").to_owned();
    let (guild_id, channel_id) = world.guild(&bare).await;
    let (_, channel) = world
        .call(
            Method::PATCH,
            &format!("/api/v10/channels/{channel_id}"),
            Some(&auth),
            Body::Json(json!({"topic": "all things Rust"})),
            &[],
        )
        .await;
    openapi::assert_conforms("GuildChannelResponse", &channel);
    assert_eq!(channel["guild_id"], json!(guild_id));

    let (status, message) = world
        .post(
            &format!("/api/v10/channels/{channel_id}/messages"),
            Some(&auth),
            json!({"content": "hello, world", "nonce": "n-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{message}");
    openapi::assert_conforms("MessageResponse", &message);
    assert_eq!(message["content"], "hello, world");
    let message_id = message["id"].as_str().expect("id").to_owned();

    let (status, edited) = world
        .call(
            Method::PATCH,
            &format!("/api/v10/channels/{channel_id}/messages/{message_id}"),
            Some(&auth),
            Body::Json(json!({"content": "hello, CloudCord"})),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    openapi::assert_conforms("MessageResponse", &edited);
    assert_eq!(edited["content"], "hello, CloudCord");
    assert!(edited["edited_timestamp"].is_string(), "{edited}");

    let (status, body) = world
        .call(
            Method::DELETE,
            &format!("/api/v10/channels/{channel_id}/messages/{message_id}"),
            Some(&auth),
            Body::None,
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = world
        .call(
            Method::PATCH,
            &format!("/api/v10/channels/{channel_id}/messages/{message_id}"),
            Some(&auth),
            Body::Json(json!({"content": "too late"})),
            &[],
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, 10008);
}

#[tokio::test(flavor = "multi_thread")]
async fn browsers_may_call_only_from_the_issuers_origin() {
    let world = World::new().await;
    let auth = world.register(&unique("origin")).await;
    let (_, channel_id) = world.guild(&auth).await;
    let messages = format!("/api/v10/channels/{channel_id}/messages");
    let before = world.events().await;
    for page in ["https://evil.example", "null", "http://localhost:8080"] {
        let (status, body) = world
            .call(
                Method::POST,
                &messages,
                Some(&auth),
                Body::Json(json!({"content": "from another site"})),
                &[("origin", page)],
            )
            .await;
        assert_error(status, &body, StatusCode::FORBIDDEN, 0);
    }
    // The provider's sign-in form and registration are refused the same way.
    let (status, _) = world
        .call(
            Method::POST,
            "/oauth2/authorize",
            None,
            Body::Raw(""),
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(world.events().await, before, "nothing was appended");

    // The web client's own origin (the issuer's) and clients without one pass.
    let own = world.api.base.clone();
    for headers in [&[("origin", own.as_str())][..], &[]] {
        let (status, body) = world
            .call(
                Method::POST,
                &messages,
                Some(&auth),
                Body::Json(json!({"content": "from the web client"})),
                headers,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_bodies_are_refused_at_the_edge_and_append_nothing() {
    let world = World::new().await;
    let auth = world.register(&unique("shape")).await;
    let (guild_id, channel_id) = world.guild(&auth).await;
    let messages = format!("/api/v10/channels/{channel_id}/messages");
    let before = world.events().await;

    // Bytes that are not JSON.
    let (status, body) = world
        .call(
            Method::POST,
            &messages,
            Some(&auth),
            Body::Raw("{\"content\": "),
            &[],
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, 50109);
    assert_eq!(body["message"], "The request body contains invalid JSON.");

    // JSON of the wrong type, naming the field.
    let (status, body) = world
        .post(&messages, Some(&auth), json!({"content": 5}))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, 50035);
    assert_eq!(body["message"], "Invalid Form Body");
    assert_eq!(
        body["errors"]["content"]["_errors"][0]["code"],
        "BASE_TYPE_STRING"
    );

    // A missing required field.
    let (status, body) = world
        .post(
            &format!("/api/v10/guilds/{guild_id}/channels"),
            Some(&auth),
            json!({}),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, 50035);
    assert_eq!(
        body["errors"]["name"]["_errors"][0]["code"],
        "BASE_TYPE_REQUIRED"
    );

    // Content over 2,000 characters.
    let (status, body) = world
        .post(&messages, Some(&auth), json!({"content": "x".repeat(2001)}))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, 50035);
    assert_eq!(
        body["errors"]["content"]["_errors"][0]["code"],
        "BASE_TYPE_MAX_LENGTH"
    );

    // An empty message.
    let (status, body) = world
        .post(&messages, Some(&auth), json!({"content": ""}))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, 50006);

    assert_eq!(world.events().await, before, "nothing was appended");
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_carry_discords_codes_and_append_nothing() {
    let world = World::new().await;
    let owner = world.register(&unique("owner")).await;
    let member = world.register(&unique("member")).await;
    let (guild_id, channel_id) = world.guild(&owner).await;

    let (status, invite) = world
        .post(
            &format!("/api/v10/channels/{channel_id}/invites"),
            Some(&owner),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{invite}");
    let code = invite["code"].as_str().expect("code").to_owned();
    let (status, joined) = world
        .post(
            &format!("/api/v10/invites/{code}"),
            Some(&member),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    let before = world.events().await;

    // A member without MANAGE_CHANNELS.
    let (status, body) = world
        .post(
            &format!("/api/v10/guilds/{guild_id}/channels"),
            Some(&member),
            json!({"name": "mine"}),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, 50013);

    // Unknown channel and unknown guild.
    let (status, body) = world
        .post(
            "/api/v10/channels/123456789012345678/messages",
            Some(&owner),
            json!({"content": "anyone?"}),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, 10003);
    let (status, body) = world
        .call(
            Method::PATCH,
            "/api/v10/guilds/123456789012345678",
            Some(&owner),
            Body::Json(json!({"name": "Nope"})),
            &[],
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, 10004);

    assert_eq!(world.events().await, before, "nothing was appended");
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_forged_and_missing_credentials_are_401() {
    let world = World::new().await;
    let auth = world.register(&unique("tok")).await;
    let (_, channel_id) = world.guild(&auth).await;
    let path = format!("/api/v10/channels/{channel_id}/messages");
    let before = world.events().await;

    let user_id = UserId::new(1);
    let request = NewAccessToken {
        user_id,
        client_id: "cloudcord".into(),
        scopes: Vec::new(),
        kind: TokenKind::Session,
    };
    let real_key = SigningKey::load(&world.api.signing_key_path).expect("key");
    let expired = TokenIssuer::new(real_key, &world.api.auth)
        .issue(&request, SystemTime::now() - Duration::from_secs(3 * 3600))
        .expect("issue")
        .token;
    let forged = TokenIssuer::new(SigningKey::generate().expect("key"), &world.api.auth)
        .issue(&request, SystemTime::now())
        .expect("issue")
        .token;
    for auth in [
        Some(format!("Bearer {expired}")),
        Some(format!("Bearer {forged}")),
        Some("Bearer not.a.token".to_owned()),
        Some("Bot MTk4NjIyNDgzNDcxOTI1MjQ4.AAAAAAAAAAE.abc".to_owned()),
        None,
    ] {
        let (status, body) = world
            .post(&path, auth.as_deref(), json!({"content": "let me in"}))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth:?}: {body}");
        assert_eq!(body, json!({"message": "401: Unauthorized", "code": 0}));
    }
    assert_eq!(world.events().await, before, "nothing was appended");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_idempotency_key_returns_the_same_body_and_appends_one_event() {
    let world = World::new().await;
    let auth = world.register(&unique("idem")).await;
    let (guild_id, channel_id) = world.guild(&auth).await;
    let path = format!("/api/v10/channels/{channel_id}/messages");
    let before = world.events().await;

    let send = || {
        world.call(
            Method::POST,
            &path,
            Some(&auth),
            Body::Json(json!({"content": "exactly once"})),
            &[("idempotency-key", "retry-42")],
        )
    };
    let (first_status, first) = send().await;
    assert_eq!(first_status, StatusCode::OK, "{first}");
    let (second_status, second) = send().await;
    assert_eq!(second_status, first_status);
    assert_eq!(
        second, first,
        "the repeat answers with the original message"
    );

    // `nonce` + `enforce_nonce` is Discord's own form of the same guarantee.
    let nonce = json!({"content": "once by nonce", "nonce": "abc123", "enforce_nonce": true});
    let (_, a) = world.post(&path, Some(&auth), nonce.clone()).await;
    let (_, b) = world.post(&path, Some(&auth), nonce).await;
    assert_eq!(a["id"], b["id"], "{a} {b}");

    assert_eq!(
        world.events().await,
        before + 2,
        "one event per distinct key"
    );

    // A key repeats only the request it was first used for: the same key on another
    // route is another command, not a replay of the message above.
    let (status, role) = world
        .call(
            Method::POST,
            &format!("/api/v10/guilds/{guild_id}/roles"),
            Some(&auth),
            Body::Json(json!({"name": "keyed"})),
            &[("idempotency-key", "retry-42")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{role}");
    assert_eq!(role["name"], "keyed", "{role}");
    assert_eq!(world.events().await, before + 3);

    // A saga whose steps target aggregates it names itself (a new application's bot
    // and its username) repeats as a whole.
    let create = || {
        world.call(
            Method::POST,
            "/api/v10/applications",
            Some(&auth),
            Body::Json(json!({"name": "Keyed Bot"})),
            &[("idempotency-key", "app-7")],
        )
    };
    let (status, first) = create().await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, again) = create().await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_eq!(again["id"], first["id"], "one application, not two");
    assert_eq!(again["bot"]["username"], first["bot"]["username"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_routes_and_methods_answer_like_discord() {
    let world = World::new().await;
    let (status, body) = world
        .call(Method::GET, "/api/v10/nothing/here", None, Body::None, &[])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"message": "404: Not Found", "code": 0}));
    let (status, body) = world
        .call(Method::GET, "/api/v10/auth/login", None, Body::None, &[])
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert_eq!(body["code"], 0);

    let (status, jwks) = world
        .call(Method::GET, "/.well-known/jwks.json", None, Body::None, &[])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(jwks["keys"][0]["kty"], "OKP");
    let (_, keys) = world
        .call(Method::GET, "/api/v10/oauth2/keys", None, Body::None, &[])
        .await;
    assert_eq!(keys, jwks);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bot_authenticates_with_the_token_its_application_returned_once() {
    let world = World::new().await;
    let owner = world.register(&unique("dev")).await;
    let (status, app) = world
        .post(
            "/api/v10/applications",
            Some(&owner),
            json!({"name": "Test Bot"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    openapi::assert_conforms("PrivateApplicationResponse", &app);
    openapi::assert_conforms("UserResponse", &app["bot"]);
    assert_eq!(app["bot"]["bot"], true);
    let bot = format!("Bot {}", app["token"].as_str().expect("token"));

    let (guild_id, channel_id) = world.guild(&owner).await;
    let (_, invite) = world
        .post(
            &format!("/api/v10/channels/{channel_id}/invites"),
            Some(&owner),
            json!({"max_age": 0}),
        )
        .await;
    let code = invite["code"].as_str().expect("code");
    let (status, body) = world
        .post(&format!("/api/v10/invites/{code}"), Some(&bot), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, message) = world
        .post(
            &format!("/api/v10/channels/{channel_id}/messages"),
            Some(&bot),
            json!({"content": "beep boop"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{message}");
    assert_eq!(message["author"]["bot"], true, "{message}");
    let (status, _) = world
        .call(
            Method::POST,
            &format!("/api/v10/channels/{channel_id}/typing"),
            Some(&bot),
            Body::None,
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // A reset voids the old token at once and the new one works at once.
    let application_id = app["id"].as_str().expect("application id");
    let (status, reset) = world
        .post(
            &format!("/api/v10/applications/{application_id}/bot/reset"),
            Some(&owner),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reset}");
    let renewed = format!("Bot {}", reset["token"].as_str().expect("token"));
    let modify = format!("/api/v10/guilds/{guild_id}/members/@me");
    let (status, body) = world
        .call(
            Method::PATCH,
            &modify,
            Some(&bot),
            Body::Json(json!({"nick": "Bot"})),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = world
        .call(
            Method::PATCH,
            &modify,
            Some(&renewed),
            Body::Json(json!({"nick": "Bot"})),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Only the owner may reset it.
    let (status, body) = world
        .post(
            &format!("/api/v10/applications/{application_id}/bot/reset"),
            Some(&renewed),
            json!({}),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, 50001);
}

/// A small checker over the component schemas of Discord's OpenAPI description:
/// required properties present, and every present property of the JSON type the
/// schema names (through `$ref`, `oneOf`/`anyOf`/`allOf` and nullable type lists).
/// Nested objects are checked for their type only.
mod openapi {
    use std::sync::OnceLock;

    use serde_json::Value;

    fn spec() -> &'static Value {
        static SPEC: OnceLock<Value> = OnceLock::new();
        SPEC.get_or_init(|| {
            let path = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/reference/discord-api-spec/openapi.json"
            );
            let text = std::fs::read_to_string(path).expect("Discord's OpenAPI description");
            serde_json::from_str(&text).expect("valid JSON")
        })
    }

    fn resolve(schema: &Value) -> &Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let name = reference.rsplit('/').next().unwrap_or_default();
                resolve(&spec()["components"]["schemas"][name])
            }
            None => schema,
        }
    }

    fn type_ok(schema: &Value, value: &Value) -> bool {
        let schema = resolve(schema);
        for key in ["oneOf", "anyOf"] {
            if let Some(options) = schema.get(key).and_then(Value::as_array) {
                return options.iter().any(|option| type_ok(option, value));
            }
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            return all.iter().all(|part| type_ok(part, value));
        }
        let types: Vec<&str> = match schema.get("type") {
            Some(Value::String(one)) => vec![one.as_str()],
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
            _ => return true,
        };
        types.iter().any(|kind| match *kind {
            "null" => value.is_null(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => true,
        })
    }

    /// The ways `value` fails the component schema `name`.
    pub fn violations(name: &str, value: &Value) -> Vec<String> {
        let schema = resolve(&spec()["components"]["schemas"][name]);
        let mut problems = Vec::new();
        if !value.is_object() {
            return vec![format!("{name}: not an object")];
        }
        for field in schema["required"].as_array().into_iter().flatten() {
            let field = field.as_str().unwrap_or_default();
            if value.get(field).is_none() {
                problems.push(format!("{name}.{field}: required, missing"));
            }
        }
        if let Some(properties) = schema["properties"].as_object() {
            for (field, property) in properties {
                if let Some(present) = value.get(field)
                    && !type_ok(property, present)
                {
                    problems.push(format!("{name}.{field}: wrong type: {present}"));
                }
            }
        }
        problems
    }

    pub fn assert_conforms(name: &str, value: &Value) {
        let problems = violations(name, value);
        assert!(problems.is_empty(), "{value}\n{}", problems.join("\n"));
    }

    #[test]
    fn the_checker_catches_missing_and_mistyped_fields() {
        let problems = violations(
            "GuildRoleResponse",
            &serde_json::json!({"id": 5, "name": "x"}),
        );
        assert!(
            problems.iter().any(|p| p.contains("id: wrong type")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("permissions: required")),
            "{problems:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dms_relationships_and_renames_run_their_sagas() {
    let world = World::new().await;
    let alice_name = unique("alice");
    let bob_name = unique("bob");
    let alice = world.register(&alice_name).await;
    let bob = world.register(&bob_name).await;
    let bob_id = world.user_id(&bob_name).await;

    // A DM, opened twice, is one channel; messages go to it.
    let (status, dm) = world
        .post(
            "/api/v10/users/@me/channels",
            Some(&alice),
            json!({"recipient_id": bob_id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{dm}");
    let dm_id = dm["id"].as_str().expect("dm id").to_owned();
    let (_, again) = world
        .post(
            "/api/v10/users/@me/channels",
            Some(&alice),
            json!({"recipient_id": bob_id}),
        )
        .await;
    assert_eq!(again["id"], dm["id"]);
    let (status, message) = world
        .post(
            &format!("/api/v10/channels/{dm_id}/messages"),
            Some(&bob),
            json!({"content": "hi alice"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{message}");
    openapi::assert_conforms("MessageResponse", &message);

    // Friend request by name, accepted by a PUT from the other side.
    let (status, body) = world
        .post(
            "/api/v10/users/@me/relationships",
            Some(&alice),
            json!({"username": bob_name}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let alice_id = world.user_id(&alice_name).await;
    let (status, body) = world
        .call(
            Method::PUT,
            &format!("/api/v10/users/@me/relationships/{alice_id}"),
            Some(&bob),
            Body::Json(json!({})),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    // A block stops DMs (50007); an unblock lets them through again.
    let (status, body) = world
        .call(
            Method::PUT,
            &format!("/api/v10/users/@me/relationships/{alice_id}"),
            Some(&bob),
            Body::Json(json!({"type": 2})),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = world
        .post(
            &format!("/api/v10/channels/{dm_id}/messages"),
            Some(&alice),
            json!({"content": "still there?"}),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, 50007);
    let (status, body) = world
        .call(
            Method::DELETE,
            &format!("/api/v10/users/@me/relationships/{alice_id}"),
            Some(&bob),
            Body::None,
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = world
        .post(
            &format!("/api/v10/channels/{dm_id}/messages"),
            Some(&alice),
            json!({"content": "hello again"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, settings) = world
        .call(
            Method::PATCH,
            "/api/v10/users/@me/settings",
            Some(&alice),
            Body::Json(
                json!({"theme": "light", "status": "dnd", "custom_status": {"text": "busy"}}),
            ),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{settings}");

    // A rename frees the old name and logs in with the new one at once.
    let new_name = unique("alicia");
    let (status, user) = world
        .call(
            Method::PATCH,
            "/api/v10/users/@me",
            Some(&alice),
            Body::Json(json!({"username": new_name})),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["username"], json!(new_name));
    let (status, body) = world
        .post(
            "/api/v10/auth/login",
            None,
            json!({"login": new_name, "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = world
        .post(
            "/api/v10/auth/login",
            None,
            json!({"login": alice_name, "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread")]
async fn moderation_routes_answer_with_discords_statuses() {
    let world = World::new().await;
    let owner_name = unique("mod");
    let owner = world.register(&owner_name).await;
    let member_name = unique("user");
    let member = world.register(&member_name).await;
    let member_id = world.user_id(&member_name).await;
    let (guild_id, channel_id) = world.guild(&owner).await;
    let guild = format!("/api/v10/guilds/{guild_id}");
    let (_, invite) = world
        .post(
            &format!("/api/v10/channels/{channel_id}/invites"),
            Some(&owner),
            json!({}),
        )
        .await;
    let code = invite["code"].as_str().expect("code").to_owned();
    let (status, body) = world
        .post(
            &format!("/api/v10/invites/{code}"),
            Some(&member),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let call = |method: Method, path: String, auth: &'static str, body: Value| {
        let auth = if auth == "owner" {
            owner.clone()
        } else {
            member.clone()
        };
        let world = &world;
        async move {
            world
                .call(method, &path, Some(&auth), Body::Json(body), &[])
                .await
        }
    };

    let (status, role) = call(
        Method::POST,
        format!("{guild}/roles"),
        "owner",
        json!({"name": "mods", "permissions": "8192"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{role}");
    openapi::assert_conforms("GuildRoleResponse", &role);
    let role_id = role["id"].as_str().expect("role id").to_owned();
    let (status, body) = call(
        Method::PATCH,
        format!("{guild}/roles/{role_id}"),
        "owner",
        json!({"hoist": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = call(
        Method::PUT,
        format!("{guild}/members/{member_id}/roles/{role_id}"),
        "owner",
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = call(
        Method::PATCH,
        format!("{guild}/members/{member_id}"),
        "owner",
        json!({"nick": "Member"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = call(
        Method::PATCH,
        format!("{guild}/members/@me"),
        "member",
        json!({"nick": null}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = call(
        Method::PUT,
        format!("/api/v10/channels/{channel_id}/permissions/{role_id}"),
        "owner",
        json!({"type": 0, "allow": "1024", "deny": "0"}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    let (_, message) = call(
        Method::POST,
        format!("/api/v10/channels/{channel_id}/messages"),
        "member",
        json!({"content": "pin me"}),
    )
    .await;
    let message_id = message["id"].as_str().expect("message id").to_owned();
    let reactions =
        format!("/api/v10/channels/{channel_id}/messages/{message_id}/reactions/%F0%9F%94%A5/@me");
    let (status, body) = call(Method::PUT, reactions.clone(), "member", json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = call(Method::DELETE, reactions, "member", json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = call(
        Method::PUT,
        format!("/api/v10/channels/{channel_id}/messages/pins/{message_id}"),
        "owner",
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = call(
        Method::DELETE,
        format!("/api/v10/channels/{channel_id}/pins/{message_id}"),
        "owner",
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    let (status, body) = world
        .call(
            Method::PUT,
            &format!("{guild}/bans/{member_id}"),
            Some(&owner),
            Body::Json(json!({"delete_message_seconds": 0})),
            &[("x-audit-log-reason", "spam%20bot")],
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = world
        .call(
            Method::POST,
            &format!("/api/v10/channels/{channel_id}/typing"),
            Some(&member),
            Body::None,
            &[],
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, 50001);
    let (status, body) = call(
        Method::DELETE,
        format!("{guild}/bans/{member_id}"),
        "owner",
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    // A refused ban (the owner banning themselves) answers at once: nothing waits for
    // a membership that the refusal left in place.
    let owner_id = world.user_id(&owner_name).await;
    let (status, body) = call(
        Method::PUT,
        format!("{guild}/bans/{owner_id}"),
        "owner",
        json!({}),
    )
    .await;
    assert!(status.is_client_error(), "{status} {body}");
    let (status, body) = call(
        Method::DELETE,
        format!("{guild}/roles/{role_id}"),
        "owner",
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = call(
        Method::DELETE,
        format!("/api/v10/channels/{channel_id}"),
        "owner",
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = call(Method::DELETE, guild.clone(), "owner", json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_result_that_never_comes_is_a_bounded_503_and_leaves_no_waiter() {
    // No processor: commands are appended and never answered.
    let bus = Arc::new(Bus::new().await);
    let api = bus
        .spawn_api_with(cloudcord_command_api::http::HttpSettings {
            result_timeout_ms: 1_000,
            ..cloudcord_command_api::http::HttpSettings::default()
        })
        .await;
    let issuer = TokenIssuer::new(
        SigningKey::load(&api.signing_key_path).expect("key"),
        &api.auth,
    );
    let token = issuer
        .issue(
            &NewAccessToken {
                user_id: UserId::new(77),
                client_id: "cloudcord".into(),
                scopes: Vec::new(),
                kind: TokenKind::Session,
            },
            SystemTime::now(),
        )
        .expect("issue")
        .token;
    let started = std::time::Instant::now();
    let response = reqwest::Client::new()
        .patch(format!("{}/api/v10/guilds/123456789012345678", api.base))
        .header("authorization", format!("Bearer {token}"))
        .json(&json!({"name": "Anyone"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["code"], 0, "{body}");
    assert!(body["message"].is_string(), "{body}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(api.state.bus().waiting(), 0, "the timed-out waiter is gone");
    api.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_bodies_and_bad_idempotency_keys_are_refused() {
    let world = World::new().await;
    let auth = world.register(&unique("big")).await;
    let (_, channel_id) = world.guild(&auth).await;
    let path = format!("/api/v10/channels/{channel_id}/messages");
    let before = world.events().await;

    let huge = format!("{{\"content\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let sent = world
        .http
        .post(format!("{}{path}", world.api.base))
        .header("authorization", &auth)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await;
    match sent {
        Ok(response) => {
            let status = response.status();
            assert_eq!(
                response.headers().get("connection").map(|v| v.as_bytes()),
                Some(&b"close"[..]),
                "a 413 says the connection will close"
            );
            let body: Value = response.json().await.expect("JSON error body");
            assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE, 40005);
        }
        // The server answers 413 from the Content-Length alone and closes the
        // connection without reading the body; a client still writing it may see the
        // connection close before it reads the answer. Either way it was refused, and
        // the check below proves nothing was appended.
        Err(error) => assert!(
            error.is_request() || error.is_body(),
            "unexpected failure sending an oversized body: {error}"
        ),
    }

    let (status, body) = world
        .call(
            Method::POST,
            &path,
            Some(&auth),
            Body::Json(json!({"content": "keyed"})),
            &[("idempotency-key", "has spaces in it")],
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, 50035);
    assert_eq!(world.events().await, before, "nothing was appended");
}

#[tokio::test(flavor = "multi_thread")]
async fn members_leave_get_kicked_and_messages_are_bulk_deleted() {
    let world = World::new().await;
    let owner = world.register(&unique("boss")).await;
    let member_name = unique("temp");
    let member = world.register(&member_name).await;
    let member_id = world.user_id(&member_name).await;
    let (guild_id, channel_id) = world.guild(&owner).await;
    let (_, invite) = world
        .post(
            &format!("/api/v10/channels/{channel_id}/invites"),
            Some(&owner),
            json!({"max_uses": 5}),
        )
        .await;
    let join = format!(
        "/api/v10/invites/{}",
        invite["code"].as_str().expect("code")
    );
    let typing = format!("/api/v10/channels/{channel_id}/typing");

    let (status, body) = world.post(&join, Some(&member), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = world
        .call(Method::POST, &typing, Some(&member), Body::None, &[])
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "a member may type");
    // Typing goes to the ephemeral topic for the gateways, never to the event log.
    let announced: Vec<Value> = world
        .bus
        .read_topic(&world.bus.topics.ephemeral)
        .iter()
        .map(|record| serde_json::from_slice(&record.value).expect("json"))
        .collect();
    assert_eq!(
        announced,
        [json!({
            "type": "typing_started",
            "channel_id": channel_id,
            "guild_id": guild_id,
            "user_id": member_id,
            "timestamp": announced[0]["timestamp"],
        })]
    );
    assert!(announced[0]["timestamp"].as_i64().is_some());
    let (status, body) = world
        .call(
            Method::DELETE,
            &format!("/api/v10/users/@me/guilds/{guild_id}"),
            Some(&member),
            Body::None,
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = world
        .call(Method::POST, &typing, Some(&member), Body::None, &[])
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, 50001);

    let (status, body) = world.post(&join, Some(&member), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = world
        .call(
            Method::DELETE,
            &format!("/api/v10/guilds/{guild_id}/members/{member_id}"),
            Some(&owner),
            Body::None,
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    let messages = format!("/api/v10/channels/{channel_id}/messages");
    let mut ids = Vec::new();
    for content in ["one", "two"] {
        let (_, message) = world
            .post(&messages, Some(&owner), json!({"content": content}))
            .await;
        ids.push(message["id"].clone());
    }
    let bulk = format!("{messages}/bulk-delete");
    let (status, body) = world
        .post(&bulk, Some(&owner), json!({"messages": [ids[0]]}))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, 50016);
    let (status, body) = world
        .post(&bulk, Some(&owner), json!({"messages": ids}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_requests_traceparent_travels_onto_its_events() {
    let world = World::new().await;
    let auth = world.register(&unique("trace")).await;
    let (_, channel_id) = world.guild(&auth).await;
    let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let (status, body) = world
        .call(
            Method::POST,
            &format!("/api/v10/channels/{channel_id}/messages"),
            Some(&auth),
            Body::Json(json!({"content": "traced"})),
            &[("traceparent", trace)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let headers = world.bus.event_traceparents().await;
    assert!(
        headers.iter().any(|h| h.as_deref() == Some(trace)),
        "{headers:?}"
    );
    assert!(headers.iter().all(Option::is_some), "every event is traced");
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_answer_with_the_position_a_read_can_wait_for() {
    let world = World::new().await;
    let auth = world.register(&unique("pos")).await;
    let (guild_id, channel_id) = world.guild(&auth).await;
    let mut positions = Vec::new();
    for content in ["first", "second"] {
        let response = world
            .http
            .post(format!(
                "{}/api/v10/channels/{channel_id}/messages",
                world.api.base
            ))
            .header("authorization", &auth)
            .json(&json!({ "content": content }))
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status(), StatusCode::OK);
        let header = response
            .headers()
            .get("x-cloudcord-position")
            .and_then(|value| value.to_str().ok())
            .expect("a position header");
        let position: cloudcord_schemas::envelope::Position =
            header.parse().expect("a well-formed position");
        assert_eq!(position.aggregate.id.to_string(), guild_id);
        positions.push(position.seq);
    }
    assert_eq!(positions[1], positions[0] + 1, "one event per message");

    // A write that answers 204 carries its position too (pinning, here).
    let (_, message) = world
        .post(
            &format!("/api/v10/channels/{channel_id}/messages"),
            Some(&auth),
            json!({"content": "pin me"}),
        )
        .await;
    let message_id = message["id"].as_str().expect("id");
    let (status, headers, _) = world
        .send(
            Method::PUT,
            &format!("/api/v10/channels/{channel_id}/pins/{message_id}"),
            Some(&auth),
            Body::None,
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let pinned: cloudcord_schemas::envelope::Position = headers
        .get("x-cloudcord-position")
        .and_then(|value| value.to_str().ok())
        .expect("a position header on a 204")
        .parse()
        .expect("a well-formed position");
    assert_eq!(pinned.seq, positions[1] + 2, "after the third message");

    // A relationship saga answers at the caller's own position: their read of the
    // relationships waits for their side of it.
    let friend_name = unique("posfriend");
    world.register(&friend_name).await;
    let (status, headers, _) = world
        .send(
            Method::POST,
            "/api/v10/users/@me/relationships",
            Some(&auth),
            Body::Json(json!({ "username": friend_name })),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let requested: cloudcord_schemas::envelope::Position = headers
        .get("x-cloudcord-position")
        .and_then(|value| value.to_str().ok())
        .expect("a position header on the saga's 204")
        .parse()
        .expect("a well-formed position");
    assert_eq!(
        requested.aggregate.kind,
        cloudcord_schemas::envelope::AggregateType::User
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn joining_voice_mints_a_media_token_only_when_the_guild_allows_it() {
    use cloudcord_runtime::auth::{MediaTokenVerifier, VerifyingKeys};
    use cloudcord_schemas::ids::ChannelId;

    let world = World::new().await;
    let owner = world.register(&unique("host")).await;
    let guest_name = unique("guest");
    let guest = world.register(&guest_name).await;
    let guest_id: UserId = world.user_id(&guest_name).await.parse().expect("a user id");
    let (guild_id, text_id) = world.guild(&owner).await;
    let (status, voice) = world
        .post(
            &format!("/api/v10/guilds/{guild_id}/channels"),
            Some(&owner),
            json!({"name": "Lounge", "type": 2, "user_limit": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{voice}");
    let voice_id = voice["id"].as_str().expect("id").to_owned();
    let (_, invite) = world
        .post(
            &format!("/api/v10/channels/{text_id}/invites"),
            Some(&owner),
            json!({}),
        )
        .await;
    let code = invite["code"].as_str().expect("code");
    let (status, body) = world
        .post(&format!("/api/v10/invites/{code}"), Some(&guest), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let join = format!("/api/v10/channels/{voice_id}/voice");

    // A text channel has no voice (50024).
    let (status, body) = world
        .post(
            &format!("/api/v10/channels/{text_id}/voice"),
            Some(&guest),
            json!({}),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, 50024);

    // The guest joins: a token the SFU accepts, naming the guest and the channel.
    let (status, grant) = world.post(&join, Some(&guest), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{grant}");
    assert_eq!(grant["endpoint"], "/sfu/sessions");
    assert_eq!(grant["expires_in"], 120);
    let jwks = world
        .http
        .get(format!("{}/.well-known/jwks.json", world.api.base))
        .send()
        .await
        .expect("JWKS")
        .json()
        .await
        .expect("JWKS is JSON");
    let verifier = MediaTokenVerifier::new(
        VerifyingKeys::from_jwks(&jwks).expect("usable keys"),
        &world.api.auth,
    );
    let media = verifier
        .verify_at(grant["token"].as_str().expect("token"), SystemTime::now())
        .expect("the SFU would accept it");
    assert_eq!(media.user_id, guest_id);
    assert_eq!(media.channel_id, voice_id.parse::<ChannelId>().expect("id"));
    assert_eq!(
        media.guild_id.to_string(),
        guild_id,
        "the SFU corrects the voice state in the channel's guild"
    );
    assert!(media.may_speak, "members have SPEAK by default");
    assert!(media.may_stream, "members have STREAM by default");
    assert!(
        grant["voice_state"].get("may_stream").is_none(),
        "the voice state stays Discord's object: {grant}"
    );
    assert_eq!(grant["voice_state"]["channel_id"], json!(voice_id));

    // The channel holds one. The guest leaves, the owner joins; now it is full for
    // the guest, who lacks MOVE_MEMBERS (the owner could exceed the limit).
    let (status, body) = world
        .call(Method::DELETE, &join, Some(&guest), Body::None, &[])
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = world.post(&join, Some(&owner), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let events = world.events().await;
    let (status, body) = world.post(&join, Some(&guest), json!({})).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, 50013);
    assert!(
        body["token"].is_null(),
        "no token for a refused join: {body}"
    );
    assert_eq!(world.events().await, events, "a refusal appends nothing");

    // Without SPEAK in the channel the guest joins suppressed, and the token says
    // the SFU must not forward the guest's microphone.
    let (status, body) = world
        .call(Method::DELETE, &join, Some(&owner), Body::None, &[])
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let speak = 1u64 << 21;
    let (status, body) = world
        .call(
            Method::PUT,
            &format!("/api/v10/channels/{voice_id}/permissions/{guest_id}"),
            Some(&owner),
            Body::Json(json!({"type": 1, "allow": "0", "deny": speak.to_string()})),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, grant) = world.post(&join, Some(&guest), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{grant}");
    assert_eq!(grant["voice_state"]["suppress"], true, "{grant}");
    let media = verifier
        .verify_at(grant["token"].as_str().expect("token"), SystemTime::now())
        .expect("the SFU would accept it");
    assert!(!media.may_speak, "a suppressed member is not heard");
}

#[tokio::test(flavor = "multi_thread")]
async fn voice_in_a_dm_tells_an_outsider_nothing() {
    let world = World::new().await;
    let alice = world.register(&unique("alice")).await;
    let bob_name = unique("bob");
    let bob = world.register(&bob_name).await;
    let outsider = world.register(&unique("eve")).await;
    let bob_id = world.user_id(&bob_name).await;
    let (status, dm) = world
        .post(
            "/api/v10/users/@me/channels",
            Some(&alice),
            json!({"recipient_id": bob_id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{dm}");
    let voice = format!("/api/v10/channels/{}/voice", dm["id"].as_str().expect("id"));

    let (status, body) = world.post(&voice, Some(&bob), json!({})).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, 50003);
    let (status, body) = world.post(&voice, Some(&outsider), json!({})).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, 50001);
}
