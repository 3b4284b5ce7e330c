//! The thin tokio driver: one task owns the UDP socket and the [`Sfu`], and moves
//! datagrams, deadlines and signalling requests into it.
//!
//! Signalling handlers talk to it through [`SfuHandle`]: a bounded queue of
//! commands, each answered on a oneshot channel. When the queue is full the
//! handle says so at once ([`DriverError::Busy`]) rather than making HTTP requests
//! wait behind media; the core itself is never shared or locked.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use cloudcord_schemas::ids::UserId;
use str0m::change::{SdpAnswer, SdpOffer};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::core::{JoinError, Participant, PeerId, Sfu, SfuEvent};

/// The largest datagram read: above any path MTU, so nothing is truncated.
const RECEIVE_BUFFER: usize = 2048;

/// A request from signalling to the media loop.
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
    /// Its queue is full.
    #[error("the media loop is busy")]
    Busy,
    /// It has stopped (shutdown).
    #[error("the media loop has stopped")]
    Stopped,
}

/// The signalling side's handle on the media loop. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SfuHandle {
    commands: mpsc::Sender<Command>,
}

impl SfuHandle {
    /// Joins `who` to its channel with `offer`; the answer, or why not.
    pub async fn join(
        &self,
        who: Participant,
        offer: SdpOffer,
    ) -> Result<Result<(PeerId, SdpAnswer), JoinError>, DriverError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Join { who, offer, reply })?;
        answer.await.map_err(|_| DriverError::Stopped)
    }

    /// Removes `peer` if it is `user`'s; whether it was.
    pub async fn leave(&self, peer: PeerId, user: UserId) -> Result<bool, DriverError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Leave { peer, user, reply })?;
        answer.await.map_err(|_| DriverError::Stopped)
    }

    fn send(&self, command: Command) -> Result<(), DriverError> {
        self.commands
            .try_send(command)
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => DriverError::Busy,
                mpsc::error::TrySendError::Closed(_) => DriverError::Stopped,
            })
    }
}

/// The media loop: the socket, the core and the command queue.
pub struct Driver {
    socket: UdpSocket,
    sfu: Sfu,
    commands: mpsc::Receiver<Command>,
}

impl Driver {
    /// A driver for `sfu` on `socket`, and the handle signalling uses; at most
    /// `queue` commands wait.
    pub fn new(socket: UdpSocket, sfu: Sfu, queue: usize) -> (Self, SfuHandle) {
        let (commands, receiver) = mpsc::channel(queue.max(1));
        let driver = Self {
            socket,
            sfu,
            commands: receiver,
        };
        (driver, SfuHandle { commands })
    }

    /// Runs until `shutdown` is cancelled; fails only if the socket does.
    pub async fn run(mut self, shutdown: CancellationToken) -> io::Result<()> {
        let mut buffer = vec![0u8; RECEIVE_BUFFER];
        loop {
            self.flush().await;
            let deadline = self.sfu.poll_timeout().map(tokio::time::Instant::from_std);
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                received = self.socket.recv_from(&mut buffer) => {
                    match received {
                        Ok((len, source)) => self.datagram(source, &buffer[..len]),
                        // ICMP errors from a peer that went away surface here on
                        // Linux; they concern that peer only.
                        Err(error) if is_transient(&error) => {
                            tracing::debug!(%error, "UDP receive error");
                        }
                        Err(error) => return Err(error),
                    }
                }
                Some(command) = self.commands.recv() => self.command(command),
                () = sleep_until(deadline) => self.sfu.handle_timeout(Instant::now()),
            }
        }
    }

    fn datagram(&mut self, source: SocketAddr, datagram: &[u8]) {
        if let Err(error) = self.sfu.handle_datagram(Instant::now(), source, datagram) {
            // Counted in the metrics; a log line per stray datagram would be a flood.
            tracing::trace!(%source, %error, "datagram dropped");
        }
        // A burst may have passed a deadline while it was being read.
        if self
            .sfu
            .poll_timeout()
            .is_some_and(|at| at <= Instant::now())
        {
            self.sfu.handle_timeout(Instant::now());
        }
    }

    fn command(&mut self, command: Command) {
        let now = Instant::now();
        match command {
            Command::Join { who, offer, reply } => {
                // The requester may have given up; the peer then times out unconnected.
                let _ignored = reply.send(self.sfu.join(now, who, offer));
            }
            Command::Leave { peer, user, reply } => {
                let own = self.sfu.peer(peer).is_some_and(|(owner, _)| owner == user);
                let _ignored = reply.send(own && self.sfu.leave(now, peer));
            }
        }
    }

    /// Sends what the core has to send and reports its events.
    async fn flush(&mut self) {
        while let Some(transmit) = self.sfu.poll_transmit() {
            if let Err(error) = self
                .socket
                .send_to(&transmit.contents, transmit.destination)
                .await
            {
                tracing::debug!(destination = %transmit.destination, %error, "UDP send failed");
            }
        }
        while let Some(event) = self.sfu.poll_event() {
            match event {
                SfuEvent::Connected {
                    peer,
                    user,
                    channel,
                } => tracing::info!(%peer, %user, %channel, "peer connected"),
                SfuEvent::Left {
                    peer,
                    user,
                    channel,
                    reason,
                } => tracing::info!(%peer, %user, %channel, ?reason, "peer gone"),
                SfuEvent::Speaking {
                    peer,
                    user,
                    channel,
                    speaking,
                } => tracing::debug!(%peer, %user, %channel, speaking, "speaking changed"),
            }
        }
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Receive errors that concern one remote peer, not the socket.
fn is_transient(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
    )
}
