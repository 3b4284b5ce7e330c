//! [`Demux`]: which peer an incoming datagram belongs to, in O(1).
//!
//! All peers share one UDP socket, so the remote address is the whole 5-tuple that
//! varies (protocol, local address and port are the same for every datagram). A
//! peer's address is learnt from its first STUN binding request: the request's
//! USERNAME starts with the ICE ufrag the SFU gave that peer in its SDP answer, which
//! is unique per peer. Everything after that (STUN, DTLS, SRTP, SRTCP) is routed by
//! source address alone.

use std::collections::HashMap;
use std::net::SocketAddr;

use str0m::ice::StunMessage;

use super::PeerId;

/// The local ICE ufrag a STUN request names (the start of its USERNAME), if the
/// datagram is one.
pub fn stun_local_ufrag(datagram: &[u8]) -> Option<String> {
    // RFC 7983: STUN's first byte is 0 or 1. str0m's own parser reads the attributes
    // (it is the same parser str0m's ICE agent uses).
    if datagram.first().is_none_or(|byte| *byte >= 2) {
        return None;
    }
    let message = StunMessage::parse(datagram).ok()?;
    // Owned: str0m ties the borrow to the parsed message. STUN requests come every
    // few seconds per peer, so the allocation is not on the media path.
    message
        .split_username()
        .map(|(local, _remote)| local.to_owned())
}

/// The two lookup tables; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct Demux {
    by_addr: HashMap<SocketAddr, PeerId>,
    by_ufrag: HashMap<String, PeerId>,
}

impl Demux {
    /// The peer a datagram from `source` belongs to, if any. A known address wins;
    /// otherwise a STUN message is routed by the local ufrag in its USERNAME.
    pub(crate) fn route(&self, source: SocketAddr, datagram: &[u8]) -> Option<PeerId> {
        if let Some(peer) = self.by_addr.get(&source) {
            return Some(*peer);
        }
        stun_local_ufrag(datagram).and_then(|ufrag| self.by_ufrag.get(&ufrag).copied())
    }

    /// Remembers `ufrag` as `peer`'s local ICE ufrag.
    pub(crate) fn add_ufrag(&mut self, ufrag: String, peer: PeerId) {
        self.by_ufrag.insert(ufrag, peer);
    }

    /// Routes datagrams from `source` to `peer` from now on (taking the address over
    /// from a peer that had it before).
    pub(crate) fn learn_addr(&mut self, source: SocketAddr, peer: PeerId) {
        self.by_addr.insert(source, peer);
    }

    /// Forgets `peer`'s ufrag and the addresses that still point at it (an address
    /// a later peer has taken over stays with that peer).
    pub(crate) fn forget(&mut self, peer: PeerId, ufrag: &str, addrs: &[SocketAddr]) {
        if self.by_ufrag.get(ufrag) == Some(&peer) {
            self.by_ufrag.remove(ufrag);
        }
        for addr in addrs {
            if self.by_addr.get(addr) == Some(&peer) {
                self.by_addr.remove(addr);
            }
        }
    }
}
