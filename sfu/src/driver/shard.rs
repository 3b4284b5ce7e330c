//! One shard's loop: its core, its queues of datagrams and commands, its deadlines.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Command;
use crate::core::{LeaveReason, Sfu, SfuEvent, Shard};
use crate::voice_state::{Connection, Corrections};

/// A datagram the router read for this shard.
pub(super) struct Datagram {
    pub(super) source: SocketAddr,
    pub(super) contents: Vec<u8>,
}

/// See the module docs.
pub(super) struct ShardLoop {
    shard: Shard,
    sfu: Sfu,
    socket: Arc<UdpSocket>,
    commands: mpsc::Receiver<Command>,
    datagrams: mpsc::Receiver<Datagram>,
    released: mpsc::Sender<(SocketAddr, u8)>,
    corrections: Corrections,
}

impl ShardLoop {
    pub(super) fn new(
        shard: Shard,
        sfu: Sfu,
        socket: Arc<UdpSocket>,
        commands: mpsc::Receiver<Command>,
        datagrams: mpsc::Receiver<Datagram>,
        released: mpsc::Sender<(SocketAddr, u8)>,
        corrections: Corrections,
    ) -> Self {
        Self {
            shard,
            sfu,
            socket,
            commands,
            datagrams,
            released,
            corrections,
        }
    }

    pub(super) async fn run(mut self, shutdown: CancellationToken) {
        loop {
            self.flush().await;
            let deadline = self.sfu.poll_timeout().map(tokio::time::Instant::from_std);
            tokio::select! {
                () = shutdown.cancelled() => break,
                Some(datagram) = self.datagrams.recv() => self.datagram(&datagram),
                Some(command) = self.commands.recv() => self.command(command),
                () = sleep_until(deadline) => self.sfu.handle_timeout(Instant::now()),
            }
        }
        // Its users' voice states go with the sessions, rather than wait for this
        // instance's next start, which may never come.
        self.sfu.stop(Instant::now());
        self.flush().await;
    }

    fn datagram(&mut self, datagram: &Datagram) {
        let now = Instant::now();
        if let Err(error) = self
            .sfu
            .handle_datagram(now, datagram.source, &datagram.contents)
        {
            // Counted in the metrics; a log line per stray datagram would be a flood.
            tracing::trace!(source = %datagram.source, %error, "datagram dropped");
        }
        // A burst may have passed a deadline while it waited.
        if self.sfu.poll_timeout().is_some_and(|at| at <= now) {
            self.sfu.handle_timeout(now);
        }
    }

    fn command(&mut self, command: Command) {
        let now = Instant::now();
        match command {
            Command::Join { who, offer, reply } => {
                let joined = self.sfu.join(now, who, offer);
                if joined.is_ok() {
                    self.corrections.opened(Connection {
                        user: who.user,
                        guild: who.guild,
                        channel: who.channel,
                    });
                }
                // The requester may have given up; the peer then times out unconnected.
                let _ignored = reply.send(joined);
            }
            Command::Leave { peer, user, reply } => {
                let own = self.sfu.peer(peer).is_some_and(|(owner, _)| owner == user);
                let _ignored = reply.send(own && self.sfu.leave(now, peer));
            }
        }
    }

    /// Sends what the core has to send, reports its events (connections that end
    /// to [`crate::voice_state`]), and tells the router which addresses it may forget.
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
        while let Some(addr) = self.sfu.poll_released_addr() {
            // Waits if the router is behind: a map entry must not be lost, or the
            // router's map would only grow.
            let _stopped = self.released.send((addr, self.shard.index())).await;
        }
        while let Some(event) = self.sfu.poll_event() {
            let shard = self.shard.index();
            match event {
                SfuEvent::Connected {
                    peer,
                    user,
                    channel,
                } => tracing::info!(shard, %peer, %user, %channel, "peer connected"),
                SfuEvent::Left {
                    peer,
                    user,
                    guild,
                    channel,
                    reason,
                } => {
                    tracing::info!(shard, %peer, %user, %channel, ?reason, "peer gone");
                    let connection = Connection {
                        user,
                        guild,
                        channel,
                    };
                    match reason {
                        LeaveReason::Disconnected | LeaveReason::Stopped => {
                            self.corrections.dropped(connection);
                        }
                        LeaveReason::Left => self.corrections.closed(connection),
                        // The replacing peer's connection has the same record.
                        LeaveReason::Replaced => {}
                    }
                }
                SfuEvent::Speaking {
                    peer,
                    user,
                    channel,
                    speaking,
                } => tracing::debug!(shard, %peer, %user, %channel, speaking, "speaking changed"),
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
