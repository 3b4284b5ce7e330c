//! The SFU's integration tests, one binary: the sans-IO core with str0m client peers
//! on a simulated clock ([`core`], and its simulcast layer selection in
//! [`simulcast`], and forwarded video passing str0m's pacer in [`pacing`]); the endpoint
//! and media loop over real sockets
//! ([`signalling`]); two Chromium instances through the SFU ([`browser`], ignored
//! unless asked for).

mod browser;
mod core;
mod pacing;
mod signalling;
mod simulcast;

use std::net::SocketAddr;

use cloudcord_runtime::kafka::KafkaConfig;
use cloudcord_sfu::settings::Settings;

/// A Kafka nobody listens at: these tests run the SFU alone, and a session that
/// drops must not append its voice state correction to a real cluster's topics
/// (the append fails and is counted; the media loop never waits for it).
fn unreachable_kafka() -> KafkaConfig {
    KafkaConfig {
        bootstrap_servers: "127.0.0.1:1".to_owned(),
        ..KafkaConfig::default()
    }
}

/// The SFU's settings for these tests: an admin server on any port, and no wait
/// for the unreachable Kafka at start (there are no sessions of an earlier run to
/// read) or at the stop.
fn standalone_settings() -> Settings {
    let mut settings = Settings::default();
    settings.admin.listen_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    settings.restart_sweep_timeout_ms = 0;
    settings.stop_timeout_ms = 0;
    settings
}
