//! Real WebRTC stacks through the SFU, with the SFU in-process on real sockets:
//!
//! * two headless Chromium instances (Debian's, driven by playwright-core) publish
//!   their fake camera and microphone and each receive the other's, also with the
//!   cameras in simulcast (each receives one layer);
//! * an independent peer, aiortc (Python), publishes and a Chromium subscriber
//!   receives it;
//! * two Chromium instances that may only use relay candidates reach the SFU
//!   through a real coturn (Debian's `turnserver`) with the SFU's TURN credentials.
//!
//! `tests/browser/two_peers.mjs` checks each browser's `getStats()`: decoded video
//! frames, audio packets, under 1% loss. These need `/usr/bin/chromium` (or
//! `CHROMIUM`), playwright-core (the repository's `web/node_modules` after `npm ci`,
//! or `PLAYWRIGHT_CORE`) and, for aiortc, a Python with `pip install aiortc`
//! (`AIORTC_PYTHON`, default `python3`), for TURN `/usr/bin/turnserver` (`apt-get
//! install coturn`), so the plain test run skips them and `make voice-test` (part of
//! `make test`) provides all of that and runs them.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::SystemTime;

use cloudcord_runtime::auth::{
    AuthConfig, MediaGrant, MediaTokenVerifier, SigningKey, TokenIssuer, VerifyingKeys,
};
use cloudcord_schemas::ids::{ChannelId, GuildId, UserId};
use cloudcord_sfu::Config;
use cloudcord_sfu::turn::TurnSettings;
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{standalone_settings, unreachable_kafka};

const CHANNEL: ChannelId = ChannelId::new(4242);

/// The SFU on `media` (signalling on loopback), and tokens for the channel.
struct Sfu {
    base: String,
    issuer: TokenIssuer,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), cloudcord_sfu::Error>>,
}

impl Sfu {
    async fn start(media: UdpSocket) -> Self {
        Self::with_turn(media, None).await
    }

    async fn with_turn(media: UdpSocket, turn: Option<TurnSettings>) -> Self {
        let key = SigningKey::generate().expect("key generation works");
        let auth = AuthConfig::default();
        let verifier = MediaTokenVerifier::new(VerifyingKeys::from(&key), &auth);
        let issuer = TokenIssuer::new(key, &auth);
        let mut settings = standalone_settings();
        settings.turn = turn;
        let config = Config {
            auth,
            sfu: settings,
            kafka: unreachable_kafka(),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let base = format!("http://{}", listener.local_addr().expect("bound"));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(cloudcord_sfu::serve(
            config,
            verifier,
            listener,
            media,
            shutdown.clone(),
        ));
        Self {
            base,
            issuer,
            shutdown,
            task,
        }
    }

    fn token(&self, user: u64) -> String {
        let grant = MediaGrant {
            user_id: UserId::new(user),
            guild_id: GuildId::new(4241),
            channel_id: CHANNEL,
            may_speak: true,
            may_stream: true,
        };
        self.issuer
            .issue_media_token(grant, SystemTime::now())
            .expect("mints")
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task
            .await
            .expect("the SFU task ends")
            .expect("the SFU stops cleanly");
    }
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/browser")
        .join(name)
}

/// How the browsers of [`browsers`] connect and publish.
#[derive(Debug, Clone, Copy, Default)]
struct Mode {
    /// Only through TURN.
    relay: bool,
    /// The camera in three simulcast layers.
    simulcast: bool,
}

/// Runs `two_peers.mjs` for browsers holding `tokens` in `mode`; fails unless each
/// receives; returns their reports.
async fn browsers(base: &str, tokens: &[String], mode: Mode) -> Vec<serde_json::Value> {
    let flag = |on: bool| if on { "1" } else { "0" };
    let output = tokio::process::Command::new("node")
        .env("RELAY", flag(mode.relay))
        .env("SIMULCAST", flag(mode.simulcast))
        .arg(script("two_peers.mjs"))
        .arg(base)
        .args(tokens)
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "every browser must receive: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The script's own verdict, checked again from what it reports.
    let reports: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON report"))
        .collect();
    assert_eq!(reports.len(), tokens.len(), "{stdout}");
    for report in &reports {
        assert!(report["video"]["frames"].as_u64() > Some(0), "{report}");
        assert!(report["audio"]["packets"].as_u64() > Some(0), "{report}");
    }
    reports
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Chromium and playwright-core: `make voice-test` runs it"]
async fn two_browsers_receive_each_others_audio_and_video() {
    let media = UdpSocket::bind("127.0.0.1:0").await.expect("a free port");
    let sfu = Sfu::start(media).await;
    browsers(&sfu.base, &[sfu.token(1), sfu.token(2)], Mode::default()).await;
    sfu.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Chromium and playwright-core: `make voice-test` runs it"]
async fn two_browsers_with_simulcast_cameras_receive_each_others_video() {
    let media = UdpSocket::bind("127.0.0.1:0").await.expect("a free port");
    let sfu = Sfu::start(media).await;
    let mode = Mode {
        simulcast: true,
        ..Mode::default()
    };
    let reports = browsers(&sfu.base, &[sfu.token(1), sfu.token(2)], mode).await;
    for report in &reports {
        // Chromium really sends several layers; the SFU forwards one of them.
        assert!(report["layers_sent"].as_u64() >= Some(2), "{report}");
    }
    sfu.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Chromium, playwright-core and aiortc: `make voice-test` runs it"]
async fn an_aiortc_publisher_reaches_a_chromium_subscriber() {
    // aiortc never offers loopback candidates, so the SFU announces the address of
    // the interface with the default route (connecting a UDP socket sends nothing).
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").expect("a socket");
    probe
        .connect("198.51.100.1:9")
        .expect("a route off loopback");
    let host: IpAddr = probe.local_addr().expect("an address").ip();
    let media = UdpSocket::bind((host, 0)).await.expect("a free port");
    let sfu = Sfu::start(media).await;

    let python = std::env::var("AIORTC_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let publisher = tokio::process::Command::new(python)
        .arg(script("aiortc_peer.py"))
        .arg(&sfu.base)
        .arg(sfu.token(1))
        .arg("20")
        .kill_on_drop(true)
        .output();
    let publisher = tokio::spawn(publisher);
    browsers(&sfu.base, &[sfu.token(2)], Mode::default()).await;

    let Output { status, stdout, .. } = publisher
        .await
        .expect("the publisher task")
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&stdout);
    assert!(status.success(), "aiortc: {stdout}");
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("a JSON report");
    assert_eq!(report["state"], "connected", "{report}");
    sfu.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Chromium, playwright-core and coturn: `make voice-test` runs it"]
async fn browsers_that_may_only_relay_reach_the_sfu_through_coturn() {
    let port = {
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").expect("a free port");
        probe.local_addr().expect("bound").port()
    };
    let secret = "a secret shared with coturn only";
    // Everything on loopback, which coturn refuses to relay to unless told.
    let _turnserver = tokio::process::Command::new("turnserver")
        .args([
            "--use-auth-secret",
            &format!("--static-auth-secret={secret}"),
            "--realm=cloudcord",
            "--listening-ip=127.0.0.1",
            "--relay-ip=127.0.0.1",
            &format!("--listening-port={port}"),
            "--allow-loopback-peers",
            "--no-cli",
            "--no-tls",
            "--no-dtls",
            "--fingerprint",
            "--log-file=stdout",
        ])
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("turnserver runs");
    let turn = TurnSettings {
        urls: vec![format!("turn:127.0.0.1:{port}?transport=udp")],
        secret: secret.to_owned(),
        ttl_secs: 600,
    };
    let media = UdpSocket::bind("127.0.0.1:0").await.expect("a free port");
    let sfu = Sfu::with_turn(media, Some(turn)).await;
    let mode = Mode {
        relay: true,
        ..Mode::default()
    };
    let reports = browsers(&sfu.base, &[sfu.token(1), sfu.token(2)], mode).await;
    for report in &reports {
        assert_eq!(report["path"], "relay", "{report}");
    }
    sfu.stop().await;
}
