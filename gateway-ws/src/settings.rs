//! The `[gateway_ws]` configuration section.

use std::net::{Ipv4Addr, SocketAddr};
use std::num::NonZeroU16;
use std::time::Duration;

use cloudcord_runtime::admin::AdminConfig;
use serde::Deserialize;

use crate::protocol::connection::ConnectionConfig;
use crate::protocol::intents::Intents;
use crate::protocol::session::ReplayLimits;
use crate::session_starts::StartLimits;

/// The `[gateway_ws]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The admin server (`/metrics`, `/healthz`, `/readyz`).
    pub admin: AdminConfig,
    /// The WebSocket listener and where the gateway finds what it needs.
    pub http: HttpSettings,
    /// Session rules: heartbeats, limits, queues, resume.
    pub sessions: SessionSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            admin: AdminConfig::loopback(9104),
            http: HttpSettings::default(),
            sessions: SessionSettings::default(),
        }
    }
}

/// The `[gateway_ws.http]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct HttpSettings {
    /// Where the gateway listens when it runs on its own.
    pub listen_addr: SocketAddr,
    /// Where the token issuer publishes its public keys (command-api's
    /// `/.well-known/jwks.json`), fetched at start-up.
    pub jwks_url: String,
    /// READY's `resume_gateway_url`: the public URL clients reach the gateway at.
    /// It may lead to any gateway process: a session resumed on another one is
    /// handed over. The default is the dev front door, which serves the gateway
    /// at `/gateway`.
    pub resume_gateway_url: String,
    /// The PostgreSQL schema of the read models (the projectors'
    /// `[projectors] postgres_schema`).
    pub postgres_schema: String,
    /// Web pages that may open the gateway from a browser (their `Origin`, e.g.
    /// `https://chat.example.org`). A browser always sends its page's origin, so
    /// another site cannot use a visitor's browser to connect; clients that are
    /// not browsers send none and are not affected.
    pub allowed_origins: Vec<String>,
    /// command-api's REST API (`http://host:port`), which carries out op 4 (Voice
    /// State Update) with the session's credential: see [`crate::voice`].
    pub command_api_url: String,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            listen_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 9204)),
            jwks_url: "http://127.0.0.1:9201/.well-known/jwks.json".to_owned(),
            resume_gateway_url: "ws://127.0.0.1:8080/gateway".to_owned(),
            postgres_schema: "read_models".to_owned(),
            allowed_origins: vec![
                "http://127.0.0.1:8080".to_owned(),
                "http://localhost:8080".to_owned(),
            ],
            command_api_url: "http://127.0.0.1:9201".to_owned(),
        }
    }
}

/// The `[gateway_ws.sessions]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SessionSettings {
    /// Hello's `heartbeat_interval`, in milliseconds (Discord: 41,250).
    pub heartbeat_interval_ms: u64,
    /// How late a heartbeat may be before the connection is closed as a zombie.
    pub heartbeat_grace_ms: u64,
    /// Most payloads a client may send per window (Discord: 120 per 60 s).
    pub rate_limit: u32,
    /// The rate limit's window, in seconds.
    pub rate_window_secs: u64,
    /// Frames a connection may be behind (numbered, not yet written) before it
    /// counts as too slow and is closed (resumable). Keep it below `replay_frames`.
    pub outbound_queue: usize,
    /// Most frames each session keeps for Resume.
    pub replay_frames: usize,
    /// Most bytes of frames each session keeps for Resume.
    pub replay_bytes: usize,
    /// How long a session without a connection can still be resumed, in seconds
    /// (also once handed over to another process).
    pub resume_window_secs: u64,
    /// The PostgreSQL schema of the gateway's own tables (sessions handed over
    /// between processes, bots' session starts); created and migrated at start-up.
    /// query-api's `[query_api.session_starts] store_schema` must name it too.
    pub store_schema: String,
    /// Sessions a bot may start (Identify) per 24 hours (Discord: 1,000); past it,
    /// Identify gets Invalid Session. query-api's `[query_api.session_starts]`
    /// must say the same.
    pub session_starts_per_day: u32,
    /// Identifies a bot may send per 5 seconds, one per bucket of shards
    /// (`shard_id % max_concurrency`; Discord: 1 for most bots). query-api's
    /// `[query_api.session_starts]` must say the same.
    pub max_concurrency: NonZeroU16,
    /// The privileged intents bots may use (there is no developer portal to enable
    /// them per application yet), e.g. `"GUILD_MEMBERS | MESSAGE_CONTENT"`; others
    /// close with 4014.
    pub allowed_privileged_intents: Intents,
    /// Most guilds one unsharded bot session may hold before 4011 (Discord: 2,500).
    pub max_guilds_per_session: usize,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            heartbeat_interval_ms: 41_250,
            heartbeat_grace_ms: 10_000,
            rate_limit: 120,
            rate_window_secs: 60,
            outbound_queue: 1_024,
            replay_frames: 4_096,
            replay_bytes: 4 << 20,
            resume_window_secs: 180,
            store_schema: "gateway".to_owned(),
            session_starts_per_day: 1_000,
            max_concurrency: NonZeroU16::MIN,
            allowed_privileged_intents: Intents::PRIVILEGED,
            max_guilds_per_session: 2_500,
        }
    }
}

impl SessionSettings {
    /// The connection rules.
    pub fn connection(&self) -> ConnectionConfig {
        ConnectionConfig {
            heartbeat_interval: Duration::from_millis(self.heartbeat_interval_ms),
            heartbeat_grace: Duration::from_millis(self.heartbeat_grace_ms),
            rate_limit: self.rate_limit,
            rate_window: Duration::from_secs(self.rate_window_secs),
        }
    }

    /// The replay buffer's bounds.
    pub fn replay(&self) -> ReplayLimits {
        ReplayLimits {
            frames: self.replay_frames,
            bytes: self.replay_bytes,
        }
    }

    /// The resume window.
    pub fn resume_window(&self) -> Duration {
        Duration::from_secs(self.resume_window_secs)
    }

    /// The session start limit of every bot.
    pub fn start_limits(&self) -> StartLimits {
        StartLimits {
            per_day: self.session_starts_per_day,
            max_concurrency: self.max_concurrency,
        }
    }
}
