//! A Kafka-dependent service's `/readyz` follows the broker: it turns non-200 after
//! the broker stops and back to 200 after it restarts, without restarting the service.
//!
//! The test runs a private single-node broker (its own ports and state directory, the
//! shared jar cache), so stopping it disturbs no other test.

use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cloudcord::infra::kafka::Kafka;
use cloudcord::settings::Settings;
use cloudcord_runtime::config::Loader;
use cloudcord_runtime::kafka::{KafkaCheck, KafkaConfig};
use cloudcord_runtime::service::{Service, ServiceSettings};
use tokio_util::sync::CancellationToken;

/// Two adjacent free loopback ports (client and controller listeners).
fn free_port_pair() -> u16 {
    loop {
        let first = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let port = first.local_addr().expect("addr").port();
        if port < u16::MAX && TcpListener::bind((Ipv4Addr::LOCALHOST, port + 1)).is_ok() {
            return port;
        }
    }
}

/// Polls `url` until its status satisfies `wanted` or `limit` passes; returns the
/// time it took.
async fn until_status(url: &str, wanted: impl Fn(u16) -> bool, limit: Duration) -> Duration {
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        let status = client
            .get(url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map(|response| response.status().as_u16());
        if status.as_ref().is_ok_and(|s| wanted(*s)) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "{url} still answered {status:?} after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
#[expect(
    clippy::print_stdout,
    reason = "the measured times are the test's report"
)]
async fn readyz_follows_the_kafka_broker_without_a_service_restart() {
    let settings: Settings = Loader::from_environment().load().expect("settings");
    let state_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("readiness-{}", uuid::Uuid::new_v4().simple()));
    let cache_dir = settings
        .infra
        .cache_dir
        .clone()
        .unwrap_or_else(|| settings.infra.state_dir.join("cache"));
    let kafka_config = KafkaConfig {
        bootstrap_servers: format!("127.0.0.1:{}", free_port_pair()),
        ..KafkaConfig::default()
    };
    let broker = Kafka::new(&kafka_config, 1, &state_dir, &cache_dir).expect("plan broker");
    broker.prepare().await.expect("prepare broker");
    broker.start().expect("start broker");
    broker.wait_ready().await.expect("broker ready");

    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind admin");
    let readyz = format!("http://{}/readyz", listener.local_addr().expect("addr"));
    let shutdown = CancellationToken::new();
    let service = Service::new("readiness-test", ServiceSettings::loopback(0).admin)
        .with_check(KafkaCheck::new(&kafka_config, "readiness-test").expect("check"));
    let server = tokio::spawn(service.serve(listener, shutdown.clone()));

    until_status(&readyz, |s| s == 200, Duration::from_secs(30)).await;
    broker.stop().await.expect("stop broker");
    let down = until_status(&readyz, |s| s != 200, Duration::from_secs(30)).await;
    broker.start().expect("restart broker");
    let up = until_status(&readyz, |s| s == 200, Duration::from_secs(90)).await;
    println!("readyz non-200 {down:?} after the broker stopped; 200 again {up:?} after restart");

    shutdown.cancel();
    server.await.expect("join").expect("service stops cleanly");
    broker.stop().await.expect("stop broker");
    let _ = std::fs::remove_dir_all(&state_dir);
}
