//! The router: the socket's only reader; hands each datagram to its peer's shard.
//!
//! Its map from source address to shard is learnt from STUN requests (whose ufrag
//! names the shard) and trimmed by the shards, which report the addresses their
//! departed peers used. With one shard everything goes to it and nothing is learnt.
//! The router cannot check a request's integrity (the shard's str0m does), so a
//! request with a spoofed source address can point that address at the wrong shard
//! until its peer's next consent check (a few seconds) points it back.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::shard::Datagram;
use crate::core::{Shard, stun_local_ufrag};
use crate::metrics::{Metrics, Refusal};

/// The largest datagram read: above any path MTU, so nothing is truncated.
const RECEIVE_BUFFER: usize = 2048;

/// See the module docs.
pub(super) struct Router {
    socket: Arc<UdpSocket>,
    shards: Vec<mpsc::Sender<Datagram>>,
    by_addr: HashMap<SocketAddr, u8>,
    released: mpsc::Receiver<(SocketAddr, u8)>,
    metrics: Metrics,
}

impl Router {
    pub(super) fn new(
        socket: Arc<UdpSocket>,
        shards: Vec<mpsc::Sender<Datagram>>,
        released: mpsc::Receiver<(SocketAddr, u8)>,
        metrics: Metrics,
    ) -> Self {
        Self {
            socket,
            shards,
            by_addr: HashMap::new(),
            released,
            metrics,
        }
    }

    pub(super) async fn run(mut self, shutdown: CancellationToken) -> io::Result<()> {
        let mut buffer = vec![0u8; RECEIVE_BUFFER];
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                received = self.socket.recv_from(&mut buffer) => match received {
                    Ok((len, source)) => self.route(source, &buffer[..len]),
                    // ICMP errors from a peer that went away surface here on
                    // Linux; they concern that peer only.
                    Err(error) if is_transient(&error) => {
                        tracing::debug!(%error, "UDP receive error");
                    }
                    Err(error) => return Err(error),
                },
                Some((addr, shard)) = self.released.recv() => {
                    // Only if no peer of another shard took the address over since.
                    if self.by_addr.get(&addr) == Some(&shard) {
                        self.by_addr.remove(&addr);
                    }
                }
            }
        }
    }

    fn route(&mut self, source: SocketAddr, datagram: &[u8]) {
        let shard = if self.shards.len() == 1 {
            0
        } else if let Some(ufrag) = stun_local_ufrag(datagram) {
            // A STUN request names its shard even from an address seen before
            // (a client reusing its port for a new session).
            match Shard::of_ufrag(&ufrag) {
                Some(shard) => {
                    self.by_addr.insert(source, shard);
                    shard
                }
                None => return self.metrics.refused(Refusal::Unroutable),
            }
        } else {
            match self.by_addr.get(&source) {
                Some(shard) => *shard,
                None => return self.metrics.refused(Refusal::Unroutable),
            }
        };
        let Some(queue) = self.shards.get(usize::from(shard)) else {
            return self.metrics.refused(Refusal::Unroutable);
        };
        let datagram = Datagram {
            source,
            contents: datagram.to_vec(),
        };
        if queue.try_send(datagram).is_err() {
            self.metrics.refused(Refusal::Overloaded);
        }
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
