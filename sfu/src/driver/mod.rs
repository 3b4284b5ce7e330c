//! The thin tokio driver: one socket, a router, and one task per shard.
//!
//! * The **router** (`router.rs`) is the socket's only reader. It hands each datagram
//!   to the shard of its peer: by source address once known, else by the shard named
//!   in a STUN request's ufrag (see [`crate::core::Shard`]). It does no WebRTC work.
//! * Each **shard** (`shard.rs`) owns one sans-IO [`Sfu`] core with its rooms (a room
//!   is on the shard its voice channel hashes to), and moves datagrams, deadlines and
//!   signalling requests into it; it sends on the shared socket itself.
//!
//! Signalling talks to the shards through [`SfuHandle`]: a bounded command queue
//! per shard, each command answered on a oneshot channel. When a queue is full the
//! handle says so at once ([`DriverError::Busy`]) rather than making HTTP requests
//! wait behind media; datagrams for a shard whose queue is full are dropped and
//! counted (`refused_datagrams{reason="overloaded"}`), as a congested link would.
//! No core is ever shared or locked.

mod router;
mod shard;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use cloudcord_schemas::ids::UserId;
use str0m::change::{SdpAnswer, SdpOffer};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::core::{JoinError, Participant, PeerId, Sfu, Shard};
use crate::metrics::Metrics;
use crate::voice_state::Corrections;

/// A request from signalling to a shard.
enum Command {
    Join {
        who: Participant,
        offer: SdpOffer,
        reply: oneshot::Sender<Result<(PeerId, SdpAnswer), JoinError>>,
    },
    Leave {
        peer: PeerId,
        user: UserId,
        reply: oneshot::Sender<bool>,
    },
}

/// Why the media loop did not answer.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The shard's queue is full.
    #[error("the media loop is busy")]
    Busy,
    /// It has stopped (shutdown).
    #[error("the media loop has stopped")]
    Stopped,
}

/// The signalling side's handle on the shards. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SfuHandle {
    shards: Arc<[mpsc::Sender<Command>]>,
}

impl SfuHandle {
    /// Joins `who` to its channel (on the channel's shard) with `offer`; the answer,
    /// or why not.
    pub async fn join(
        &self,
        who: Participant,
        offer: SdpOffer,
    ) -> Result<Result<(PeerId, SdpAnswer), JoinError>, DriverError> {
        let (reply, answer) = oneshot::channel();
        let shard = Shard::of_channel(who.channel, self.count());
        self.send(shard, Command::Join { who, offer, reply })?;
        answer.await.map_err(|_| DriverError::Stopped)
    }

    /// Removes `peer` if it is `user`'s; whether it was.
    pub async fn leave(&self, peer: PeerId, user: UserId) -> Result<bool, DriverError> {
        let (reply, answer) = oneshot::channel();
        self.send(Shard::of_peer(peer), Command::Leave { peer, user, reply })?;
        answer.await.map_err(|_| DriverError::Stopped)
    }

    fn count(&self) -> u8 {
        u8::try_from(self.shards.len()).unwrap_or(u8::MAX)
    }

    fn send(&self, shard: u8, command: Command) -> Result<(), DriverError> {
        // A peer id naming no shard of ours names no session either.
        let Some(queue) = self.shards.get(usize::from(shard)) else {
            return match command {
                Command::Leave { reply, .. } => {
                    let _ignored = reply.send(false);
                    Ok(())
                }
                Command::Join { .. } => Err(DriverError::Stopped),
            };
        };
        queue.try_send(command).map_err(|error| match error {
            mpsc::error::TrySendError::Full(_) => DriverError::Busy,
            mpsc::error::TrySendError::Closed(_) => DriverError::Stopped,
        })
    }
}

/// How the driver is sized.
#[derive(Debug, Clone, Copy)]
pub struct DriverSettings {
    /// Shards (cores running rooms), 1 to 255.
    pub shards: u8,
    /// Signalling commands waiting per shard.
    pub command_queue: usize,
    /// Datagrams waiting per shard.
    pub datagram_queue: usize,
}

/// The router and the shards, ready to run.
pub struct Driver {
    router: router::Router,
    shards: Vec<shard::ShardLoop>,
}

impl Driver {
    /// A driver on `socket` announcing `public_addr`, reporting dropped connections
    /// to `corrections`, and the handle signalling uses.
    pub fn new(
        socket: UdpSocket,
        public_addr: SocketAddr,
        metrics: &Metrics,
        settings: DriverSettings,
        corrections: &Corrections,
    ) -> (Self, SfuHandle) {
        let socket = Arc::new(socket);
        let count = settings.shards.max(1);
        let (released, released_rx) = mpsc::channel(settings.datagram_queue.max(1));
        let mut commands = Vec::new();
        let mut datagrams = Vec::new();
        let mut shards = Vec::new();
        for index in 0..count {
            let Some(shard) = Shard::new(index, count) else {
                continue;
            };
            let sfu = if count == 1 {
                Sfu::new(public_addr, metrics.clone())
            } else {
                Sfu::sharded(public_addr, metrics.clone(), shard)
            };
            let (command_tx, command_rx) = mpsc::channel(settings.command_queue.max(1));
            let (datagram_tx, datagram_rx) = mpsc::channel(settings.datagram_queue.max(1));
            commands.push(command_tx);
            datagrams.push(datagram_tx);
            shards.push(shard::ShardLoop::new(
                shard,
                sfu,
                Arc::clone(&socket),
                command_rx,
                datagram_rx,
                released.clone(),
                corrections.clone(),
            ));
        }
        let router = router::Router::new(socket, datagrams, released_rx, metrics.clone());
        let handle = SfuHandle {
            shards: commands.into(),
        };
        (Self { router, shards }, handle)
    }

    /// Runs until `shutdown` is cancelled; fails only if the socket does.
    pub async fn run(self, shutdown: CancellationToken) -> io::Result<()> {
        let mut tasks = tokio::task::JoinSet::new();
        for shard in self.shards {
            tasks.spawn(shard.run(shutdown.clone()));
        }
        let routed = self.router.run(shutdown.clone()).await;
        shutdown.cancel();
        while let Some(joined) = tasks.join_next().await {
            if let Err(error) = joined {
                tracing::error!(%error, "a shard task failed");
            }
        }
        routed
    }
}
