//! The SFU as a process would run it: the signalling endpoint over real HTTP and the
//! media loop on a real UDP socket (both on port 0), with a str0m client over
//! loopback and requests that must be refused.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use cloudcord_runtime::auth::{
    AuthConfig, MediaGrant, MediaTokenVerifier, SigningKey, TokenIssuer, VerifyingKeys,
};
use cloudcord_schemas::ids::{ChannelId, GuildId, UserId};
use cloudcord_sfu::Config;
use cloudcord_sfu::core::Shard;
use cloudcord_sfu::turn::TurnSettings;
use cloudcord_sfu::udp_client::UdpClient;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;

use crate::{standalone_settings, unreachable_kafka};

const ALICE: UserId = UserId::new(1001);
const BOB: UserId = UserId::new(1002);
const LOBBY: ChannelId = ChannelId::new(2001);
/// How long a client may take to connect over loopback.
const CONNECT_WITHIN: Duration = Duration::from_secs(10);

struct Server {
    base: String,
    media: SocketAddr,
    issuer: TokenIssuer,
    http: reqwest::Client,
    shutdown: CancellationToken,
}

impl Server {
    async fn start() -> Self {
        Self::with_shards(1).await
    }

    async fn with_shards(shards: u8) -> Self {
        Self::with(shards, None).await
    }

    async fn with(shards: u8, turn: Option<TurnSettings>) -> Self {
        let key = SigningKey::generate().expect("key generation works");
        let auth = AuthConfig::default();
        let verifier = MediaTokenVerifier::new(VerifyingKeys::from(&key), &auth);
        let mut settings = standalone_settings();
        settings.media.shards = Some(shards);
        settings.turn = turn;
        let config = Config {
            auth,
            sfu: settings,
            kafka: unreachable_kafka(),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("a free port");
        let base = format!("http://{}", listener.local_addr().expect("bound"));
        let media = socket.local_addr().expect("bound");
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        tokio::spawn(async move {
            cloudcord_sfu::serve(config, verifier, listener, socket, token)
                .await
                .expect("the SFU serves");
        });
        Self {
            base,
            media,
            issuer: TokenIssuer::new(key, &AuthConfig::default()),
            http: reqwest::Client::new(),
            shutdown,
        }
    }

    fn token(&self, user: UserId, at: SystemTime) -> String {
        self.token_for(user, LOBBY, at)
    }

    fn token_for(&self, user: UserId, channel: ChannelId, at: SystemTime) -> String {
        let grant = MediaGrant {
            user_id: user,
            guild_id: GuildId::new(2000),
            channel_id: channel,
            may_speak: true,
            may_stream: true,
        };
        self.issuer.issue_media_token(grant, at).expect("mints")
    }

    async fn post_offer(
        &self,
        token: Option<&str>,
        content_type: &str,
        body: String,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}/sfu/sessions", self.base))
            .header("content-type", content_type)
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("the server answers")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn json(response: reqwest::Response) -> Value {
    response.json().await.expect("a JSON body")
}

#[tokio::test]
async fn a_client_joins_over_http_and_connects_over_udp() {
    let server = Server::start().await;
    let (mut client, offer) = UdpClient::offer().await.expect("a client");

    let token = server.token(ALICE, SystemTime::now());
    let response = server
        .post_offer(Some(&token), "application/sdp", offer)
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["content-type"], "application/sdp");
    let location = response.headers()["location"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    assert!(location.starts_with("/sfu/sessions/"));
    let answer = response.text().await.expect("a body");
    assert!(
        answer.contains(&server.media.port().to_string()),
        "the answer names the media socket"
    );
    client
        .accept_answer(&answer)
        .expect("the answer fits the offer");

    // Garbage on the media port first: refused, and nobody else is harmed.
    client
        .socket()
        .send_to(b"definitely not webrtc", server.media)
        .await
        .expect("sends");

    assert!(
        client.connect(CONNECT_WITHIN).await.expect("connects"),
        "ICE-lite and DTLS complete over loopback"
    );

    // Only the session's own user may end it.
    let url = format!("{}{location}", server.base);
    let bob = server.token(BOB, SystemTime::now());
    let response = server
        .http
        .delete(&url)
        .bearer_auth(&bob)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = server
        .http
        .delete(&url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = server
        .http
        .delete(&url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_missing_or_expired_token_is_unauthorized() {
    let server = Server::start().await;
    let (_, offer) = UdpClient::offer().await.expect("a client");

    let response = server
        .post_offer(None, "application/sdp", offer.clone())
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json(response).await["code"], 0);

    let long_ago = SystemTime::now() - Duration::from_secs(3600);
    let expired = server.token(ALICE, long_ago);
    let response = server
        .post_offer(Some(&expired), "application/sdp", offer.clone())
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let response = server
        .post_offer(Some("not.a.token"), "application/sdp", offer)
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body = json(response).await;
    assert_eq!(body["message"], "401: Unauthorized");
}

#[tokio::test]
async fn a_malformed_offer_is_refused_with_a_discord_error() {
    let server = Server::start().await;
    let token = server.token(ALICE, SystemTime::now());

    let response = server
        .post_offer(
            Some(&token),
            "application/sdp",
            "v=0\r\nthis is not sdp".to_owned(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = json(response).await;
    assert_eq!(body["code"], 50035);
    assert_eq!(body["message"], "Invalid SDP offer");

    let response = server
        .post_offer(Some(&token), "application/json", "{}".to_owned())
        .await;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(json(response).await["message"].is_string());

    let response = server
        .post_offer(Some(&token), "application/sdp", "x".repeat(100 * 1024))
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(json(response).await["code"], 40005);
}

#[tokio::test]
async fn unknown_paths_and_methods_get_discord_errors() {
    let server = Server::start().await;
    let response = server
        .http
        .get(format!("{}/nowhere", server.base))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(json(response).await["message"], "404: Not Found");
    let response = server
        .http
        .get(format!("{}/sfu/sessions", server.base))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(json(response).await["code"], 0);
}

#[tokio::test]
async fn rooms_on_different_shards_share_one_socket() {
    let server = Server::with_shards(4).await;
    // Two channels whose rooms live on different shards.
    let first = ChannelId::new(3001);
    let second = (3002..4000)
        .map(ChannelId::new)
        .find(|channel| Shard::of_channel(*channel, 4) != Shard::of_channel(first, 4))
        .expect("channels spread over shards");
    for (user, channel) in [(ALICE, first), (BOB, second)] {
        let (mut client, offer) = UdpClient::offer().await.expect("a client");
        let token = server.token_for(user, channel, SystemTime::now());
        let response = server
            .post_offer(Some(&token), "application/sdp", offer)
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let location = response.headers()["location"]
            .to_str()
            .expect("ASCII")
            .to_owned();
        client
            .accept_answer(&response.text().await.expect("a body"))
            .expect("the answer fits the offer");
        assert!(
            client.connect(CONNECT_WITHIN).await.expect("connects"),
            "the router finds the shard"
        );
        // The session id names its shard too.
        let response = server
            .http
            .delete(format!("{}{location}", server.base))
            .bearer_auth(&token)
            .send()
            .await
            .expect("answers");
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
}

#[tokio::test]
async fn a_media_token_gets_turn_credentials() {
    let turn = TurnSettings {
        urls: vec!["turn:127.0.0.1:3479?transport=udp".to_owned()],
        secret: "north-wind".to_owned(),
        ttl_secs: 600,
    };
    let server = Server::with(1, Some(turn)).await;
    let url = format!("{}/sfu/ice-servers", server.base);
    let response = server.http.get(&url).send().await.expect("answers");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let token = server.token(ALICE, SystemTime::now());
    let body = json(
        server
            .http
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .expect("answers"),
    )
    .await;
    let servers = body["ice_servers"].as_array().expect("a list");
    assert_eq!(servers.len(), 1, "{body}");
    assert_eq!(servers[0]["urls"][0], "turn:127.0.0.1:3479?transport=udp");
    let username = servers[0]["username"].as_str().expect("a username");
    assert!(username.ends_with(&format!(":{ALICE}")), "{username}");
    assert!(servers[0]["credential"].is_string(), "{body}");

    // Without a TURN server there is nothing to hand out.
    let plain = Server::start().await;
    let token = plain.token(ALICE, SystemTime::now());
    let body = json(
        plain
            .http
            .get(format!("{}/sfu/ice-servers", plain.base))
            .bearer_auth(&token)
            .send()
            .await
            .expect("answers"),
    )
    .await;
    assert_eq!(body["ice_servers"], serde_json::json!([]));
}
