//! Two headless Chromium instances (Debian's, driven by playwright-core) publish
//! their fake camera and microphone through the SFU and each receive the other's:
//! `tests/browser/two_peers.mjs` checks `getStats()` (decoded video frames, audio
//! packets, under 1% loss). The SFU runs here, in-process, on real sockets.
//!
//! Needs `/usr/bin/chromium` (or `CHROMIUM`) and playwright-core (the repository's
//! `web/node_modules` after `npm ci`, or `PLAYWRIGHT_CORE`), so it is ignored by
//! default: `cargo test -p cloudcord-sfu --test it browser -- --ignored`.

use std::net::SocketAddr;
use std::path::Path;
use std::time::SystemTime;

use cloudcord_runtime::auth::{
    AuthConfig, MediaGrant, MediaTokenVerifier, SigningKey, TokenIssuer, VerifyingKeys,
};
use cloudcord_schemas::ids::{ChannelId, UserId};
use cloudcord_sfu::Config;
use cloudcord_sfu::settings::Settings;
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Chromium and playwright-core; run with --ignored"]
async fn two_browsers_receive_each_others_audio_and_video() {
    let key = SigningKey::generate().expect("key generation works");
    let auth = AuthConfig::default();
    let verifier = MediaTokenVerifier::new(VerifyingKeys::from(&key), &auth);
    let issuer = TokenIssuer::new(key, &auth);
    let mut settings = Settings::default();
    settings.admin.listen_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    let config = Config {
        auth,
        sfu: settings,
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("a free port");
    let base = format!("http://{}", listener.local_addr().expect("bound"));
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(cloudcord_sfu::serve(
        config,
        verifier,
        listener,
        socket,
        shutdown.clone(),
    ));

    let channel = ChannelId::new(4242);
    let tokens: Vec<String> = [UserId::new(1), UserId::new(2)]
        .into_iter()
        .map(|user_id| {
            let grant = MediaGrant {
                user_id,
                channel_id: channel,
                may_speak: true,
            };
            issuer
                .issue_media_token(grant, SystemTime::now())
                .expect("mints")
        })
        .collect();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/two_peers.mjs");
    let output = tokio::process::Command::new("node")
        .arg(script)
        .arg(&base)
        .args(&tokens)
        .output()
        .await
        .expect("node runs");
    shutdown.cancel();
    server
        .await
        .expect("the SFU task ends")
        .expect("the SFU stops cleanly");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "both browsers must receive: {stdout}\n{stderr}"
    );
    // The script's own verdict, checked again from what it reports.
    let reports: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON report"))
        .collect();
    assert_eq!(reports.len(), 2, "{stdout}");
    for report in &reports {
        assert!(report["video"]["frames"].as_u64() > Some(0), "{report}");
        assert!(report["audio"]["packets"].as_u64() > Some(0), "{report}");
    }
}
