//! # cloudcord-sfu
//!
//! The selective forwarding unit for voice and video. Every voice channel with
//! someone in it is a room; each participant is one WebRTC session (a peer) that
//! publishes its microphone and camera and receives everyone else's, forwarded as RTP
//! packets without decoding or repacketizing.
//!
//! * **Media**: one UDP socket per process, ICE-lite, the configured public address
//!   as the only candidate; str0m 0.25 in RTP mode does ICE, DTLS-SRTP and RTCP.
//! * **Signalling**: WHIP-style HTTP on the SFU's own server, or at the dev stack's
//!   front door (POST an SDP offer with a media token, get the answer; see
//!   [`signalling`]), then SFU-initiated renegotiation, and speaking notices, over
//!   the session's data channel.
//! * **Authentication**: a short-lived media token, minted by command-api's
//!   `POST /api/v10/channels/{id}/voice` after the guild decided the join (CONNECT,
//!   the user limit), bound to one user and one voice channel and saying whether the
//!   user may be heard (SPEAK, server mute) and share their screen (STREAM: a second
//!   video track is otherwise not forwarded); verified with the issuer's JWKS.
//!
//! A client's whole path: `POST /api/v10/channels/{id}/voice` → `{token, endpoint}`
//! → open a data channel labelled [`core::SIGNALLING_LABEL`], add send-only tracks,
//! `POST` the offer to `endpoint` with `Authorization: Bearer <token>` → apply the
//! answer → answer every `{"type":"offer"}` that arrives on the data channel.
//! `sfu/tests/browser/page.html` is a complete client in 40 lines.
//!
//! Rooms are sharded across cores: each voice channel's room lives on one shard (a
//! core with its own [`core::Sfu`]), and the driver's router hands each datagram to
//! its peer's shard (see [`driver`] and [`core::Shard`]).
//!
//! * **Voice state**: when a session drops (ICE failure, a vanished or never
//!   connected peer), the user leaves the channel through the command path
//!   ([`voice_state`]): the SFU appends a command to Kafka's `commands` topic. Open
//!   sessions are recorded on the `voice-sessions` topic, so that after a restart
//!   the SFU disconnects the voice states of the sessions it forgot, before it
//!   answers any offer.
//!
//! * **Simulcast**: a publisher may send its camera as several layers (RIDs,
//!   declared lowest first, e.g. `q`, `h`, `f`). Each subscriber receives one layer
//!   per track on its one stream: the highest that fits its share of str0m's
//!   bandwidth estimate (TWCC feedback) and the size it shows the video at (a
//!   `video_size` message on the data channel; see `core::peer`'s docs), switched at
//!   a keyframe requested from that layer, with sequence numbers and timestamps
//!   continuing across the switch.
//!
//! Module map:
//! - [`core`]: the sans-IO core ([`core::Sfu`]): rooms, peers, routing by address
//!   and ufrag, forwarding, simulcast layer selection, keyframe requests, speaking
//!   detection; explicit `now`.
//! - [`driver`]: the tokio tasks: the router reading the UDP socket, one per shard.
//! - [`signalling`]: the HTTP endpoint.
//! - [`voice_state`]: dropped sessions' voice states cleared through the command path.
//! - [`metrics`]: rooms, peers, forwarded packets and bytes, refused datagrams,
//!   round-trip time and loss, layer switches, voice state corrections.
//! - [`settings`]: the `[sfu]` configuration section.
//! - [`turn`]: time-limited TURN credentials, and a coturn set-up.
//! - [`sim`]: str0m client peers on an in-memory network, for tests and the
//!   benchmark (`cargo run --release -p cloudcord-sfu --example bench`);
//!   [`udp_client`]: one over a real UDP socket, for tests of a running SFU.

pub mod core;
pub mod driver;
pub mod metrics;
pub mod settings;
pub mod signalling;
pub mod sim;
pub mod turn;
pub mod udp_client;
pub mod voice_state;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use cloudcord_runtime::auth::{AuthConfig, JwksError, MediaTokenVerifier};
use cloudcord_runtime::kafka::KafkaConfig;
use cloudcord_runtime::service::{Service, ServiceError};
use serde::Deserialize;
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;

use crate::driver::{Driver, DriverSettings};
use crate::metrics::Metrics;
use crate::settings::Settings;
use crate::signalling::Signalling;
use crate::voice_state::Corrector;

/// The service's name in logs and metrics.
pub const NAME: &str = "sfu";

/// Voice state corrections and session records waiting for Kafka; beyond that, more
/// are dropped (see [`voice_state`]). They come one or two per peer, so this is a
/// burst of hundreds of joins or drops.
const CORRECTION_QUEUE: usize = 1024;

/// Everything the SFU reads from the layered configuration.
#[derive(Debug, Deserialize)]
pub struct Config {
    /// The `[auth]` section: which issuer and audience media tokens must name.
    #[serde(default)]
    pub auth: AuthConfig,
    /// The `[sfu]` section.
    #[serde(default)]
    pub sfu: Settings,
    /// The `[kafka]` section: where voice state corrections are appended and open
    /// sessions recorded.
    #[serde(default)]
    pub kafka: KafkaConfig,
}

/// Why the SFU stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The admin server failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The Kafka producer cannot be created (its configuration is invalid).
    #[error("cannot create the Kafka producer")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// The issuer's keys are unusable.
    #[error("the token issuer's JWKS is unusable")]
    Jwks(#[from] JwksError),
    /// A port is taken or not allowed.
    #[error("cannot bind {addr} for the {what} (set sfu.{what}.*listen_addr)")]
    Bind {
        /// `http` or `media`.
        what: &'static str,
        /// The address tried.
        addr: SocketAddr,
        /// The operating system's answer.
        source: std::io::Error,
    },
    /// No usable public address: set `sfu.media.public_addr`.
    #[error(
        "the media socket is bound to {0}, which clients cannot reach: set sfu.media.public_addr"
    )]
    PublicAddr(SocketAddr),
    /// The signalling server or the media socket failed.
    #[error("the {what} failed")]
    Serve {
        /// `signalling server` or `media socket`.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
}

/// Runs the SFU until `shutdown` is cancelled: fetches the issuer's JWKS (kept fresh), binds the
/// configured ports and serves.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), Error> {
    let Some(keys) =
        cloudcord_runtime::issuer::trusted_keys(&config.sfu.http.jwks_url, &shutdown).await
    else {
        return Ok(());
    };
    let verifier = MediaTokenVerifier::new(keys?, &config.auth);
    let http = config.sfu.http.listen_addr;
    let listener = TcpListener::bind(http)
        .await
        .map_err(|source| Error::Bind {
            what: "http",
            addr: http,
            source,
        })?;
    let socket = config.bind_media().await?;
    serve(config, verifier, listener, socket, shutdown).await
}

impl Config {
    /// Binds the media socket as configured.
    pub async fn bind_media(&self) -> Result<UdpSocket, Error> {
        let addr = self.sfu.media.udp_listen_addr;
        UdpSocket::bind(addr).await.map_err(|source| Error::Bind {
            what: "media",
            addr,
            source,
        })
    }
}

/// The media side of a running SFU: the media loop, the voice state corrector and
/// the admin server.
pub struct MediaService {
    service: Service,
    sweep_timeout: Duration,
    stop_timeout: Duration,
    driver: Driver,
    corrector: Corrector,
}

impl MediaService {
    /// Runs the media loop, the corrector and the admin server until `shutdown` is
    /// cancelled; the media loop failing cancels `shutdown` (nothing else can carry
    /// media). The media loop starts after the corrector's sweep of the sessions a
    /// restart forgot ([`voice_state::Corrector::sweep`]); when it stops, the
    /// corrector gets `sfu.stop_timeout_ms` for the corrections of the sessions it
    /// ended.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), Error> {
        let Self {
            service,
            sweep_timeout,
            stop_timeout,
            driver,
            corrector,
        } = self;
        let media = async {
            // Before the shards answer any offer: the voice states of the sessions
            // an earlier run of this instance left.
            corrector.sweep(sweep_timeout, &shutdown).await;
            let corrector = tokio::spawn(corrector.run(shutdown.clone(), stop_timeout));
            let result = driver.run(shutdown.clone()).await;
            shutdown.cancel();
            if let Err(error) = corrector.await {
                tracing::error!(%error, "the voice state corrector failed");
            }
            result.map_err(|source| Error::Serve {
                what: "media socket",
                source,
            })
        };
        let (admin, media) = tokio::join!(service.run(shutdown.clone()), media);
        admin?;
        media
    }
}

/// Sets up the SFU on `socket`: the signalling routes (without fallbacks, for a
/// router that has its own — the dev stack's front door) and the [`MediaService`]
/// that must run for them to be answered.
pub fn prepare(
    config: Config,
    verifier: MediaTokenVerifier,
    socket: UdpSocket,
) -> Result<(Router, MediaService), Error> {
    let bound = socket.local_addr().map_err(|source| Error::Serve {
        what: "media socket",
        source,
    })?;
    let public_addr = config.sfu.media.public_addr.unwrap_or(bound);
    if public_addr.ip().is_unspecified() {
        return Err(Error::PublicAddr(public_addr));
    }
    let metrics = Metrics::default();
    let mut service = Service::new(NAME, config.sfu.admin);
    metrics.register(service.registry_mut());
    let media = &config.sfu.media;
    let settings = DriverSettings {
        shards: media.shards.unwrap_or_else(default_shards),
        command_queue: media.command_queue,
        datagram_queue: media.datagram_queue,
    };
    let (corrector, corrections) = Corrector::new(
        &config.kafka,
        &config.sfu.instance,
        CORRECTION_QUEUE,
        &metrics,
    )?;
    let (driver, handle) = Driver::new(socket, public_addr, &metrics, settings, &corrections);
    tracing::info!(media = %bound, %public_addr, "SFU media socket ready");
    let routes = Signalling::new(handle, verifier, config.sfu.turn.clone()).routes();
    Ok((
        routes,
        MediaService {
            service,
            sweep_timeout: Duration::from_millis(config.sfu.restart_sweep_timeout_ms),
            stop_timeout: Duration::from_millis(config.sfu.stop_timeout_ms),
            driver,
            corrector,
        },
    ))
}

/// One shard per core the process may use (at most 255).
fn default_shards() -> u8 {
    std::thread::available_parallelism()
        .map_or(1, |cores| u8::try_from(cores.get()).unwrap_or(u8::MAX))
}

/// Serves signalling on `listener` and media on `socket` (tests bind both to port
/// 0), with the admin server, until `shutdown` is cancelled.
pub async fn serve(
    config: Config,
    verifier: MediaTokenVerifier,
    listener: TcpListener,
    socket: UdpSocket,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let (routes, media) = prepare(config, verifier, socket)?;
    let signalling = async {
        axum::serve(listener, signalling::with_fallbacks(routes))
            .with_graceful_shutdown(shutdown.clone().cancelled_owned())
            .await
            .map_err(|source| Error::Serve {
                what: "signalling server",
                source,
            })
    };
    let (media, signalling) = tokio::join!(media.run(shutdown.clone()), signalling);
    media?;
    signalling
}
