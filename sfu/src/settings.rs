//! The `[sfu]` configuration section.

use std::net::{Ipv4Addr, SocketAddr};

use cloudcord_runtime::admin::AdminConfig;
use serde::Deserialize;

use crate::turn::TurnSettings;

/// The `[sfu]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The admin server (`/metrics`, `/healthz`, `/readyz`).
    pub admin: AdminConfig,
    /// The signalling endpoint (`sfu.http`).
    pub http: HttpSettings,
    /// The media socket (`sfu.media`).
    pub media: MediaSettings,
    /// A TURN server for clients that cannot reach the media socket (`sfu.turn`);
    /// none by default.
    pub turn: Option<TurnSettings>,
    /// This SFU's name on the `voice-sessions` topic, where it records its open
    /// sessions to disconnect their voice states after a restart: the same across
    /// its restarts, different for each SFU sharing the Kafka cluster's topics.
    pub instance: String,
    /// How long a starting SFU waits for Kafka to read the sessions an earlier run of
    /// this instance left, whose voice states it disconnects before it answers any
    /// offer (see [`crate::voice_state`]); past it, it serves without (and logs an
    /// error).
    pub restart_sweep_timeout_ms: u64,
    /// How long a stopping SFU waits for Kafka to take the voice state corrections
    /// of the sessions it ends (see [`crate::voice_state`]); past it, it exits and
    /// leaves them to this instance's next start (and logs an error).
    pub stop_timeout_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            admin: AdminConfig::loopback(9105),
            http: HttpSettings::default(),
            media: MediaSettings::default(),
            turn: None,
            instance: "sfu".to_owned(),
            restart_sweep_timeout_ms: 30_000,
            stop_timeout_ms: 5_000,
        }
    }
}

/// The `[sfu.http]` section: the signalling endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct HttpSettings {
    /// Where the signalling endpoint listens.
    pub listen_addr: SocketAddr,
    /// Where the token issuer publishes its public keys (command-api's
    /// `/.well-known/jwks.json`), fetched at start-up.
    pub jwks_url: String,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            listen_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 9106)),
            jwks_url: "http://127.0.0.1:9201/.well-known/jwks.json".to_owned(),
        }
    }
}

/// The `[sfu.media]` section: the one UDP socket all media of the process uses.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct MediaSettings {
    /// The address the UDP socket binds. Port 0 (the default, on loopback) takes any
    /// free port, which suits development: clients learn the port from the SDP
    /// answer. Behind a firewall or load balancer, fix it (the Helm chart's 3478).
    pub udp_listen_addr: SocketAddr,
    /// The address clients reach that socket at, announced as the only ICE candidate:
    /// the node's public address behind NAT or a UDP load balancer. Unset, it is the
    /// bound address, which then must not be unspecified (`0.0.0.0`).
    pub public_addr: Option<SocketAddr>,
    /// Shards: cores running rooms (1 to 255). Unset, one per core the process may
    /// use.
    pub shards: Option<u8>,
    /// Signalling requests waiting per shard; when full, the endpoint answers 503
    /// instead of queueing more.
    pub command_queue: usize,
    /// Datagrams waiting per shard; when full, more are dropped (and counted), as a
    /// congested link would.
    pub datagram_queue: usize,
}

impl Default for MediaSettings {
    fn default() -> Self {
        Self {
            udp_listen_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            public_addr: None,
            shards: None,
            command_queue: 256,
            datagram_queue: 4096,
        }
    }
}
