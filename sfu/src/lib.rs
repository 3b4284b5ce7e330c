//! # cloudcord-sfu
//!
//! The selective forwarding unit for voice and video: a sans-IO core over
//! `str0m::Rtc` (rooms per voice channel, peers, track routing, explicit `now`) and a
//! thin tokio driver owning the UDP socket (see the voice issue).
//!
//! Today it runs its admin server; it has no dependency to wait for.

pub mod core;
pub mod metrics;
pub mod sim;

use cloudcord_runtime::service::{Service, ServiceError, ServiceSettings};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

/// The service's name in logs and metrics.
pub const NAME: &str = "sfu";

/// Everything the SFU reads from the layered configuration.
#[derive(Debug, Deserialize)]
pub struct Config {
    /// The `[sfu]` section.
    #[serde(default = "local_settings")]
    pub sfu: ServiceSettings,
}

fn local_settings() -> ServiceSettings {
    ServiceSettings::loopback(9105)
}

/// Runs the SFU until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), ServiceError> {
    Service::new(NAME, config.sfu.admin).run(shutdown).await
}
