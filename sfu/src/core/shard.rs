//! [`Shard`]: which of the process's cores a room lives on, and how a datagram or
//! a session id names it without a lookup shared between cores.
//!
//! Rooms are spread over cores by voice channel, so all peers of a room share one
//! core and forwarding never crosses cores. What arrives from outside must find that
//! core:
//!
//! * a peer's local ICE ufrag starts with its shard's index in two hex digits, so
//!   the first STUN request of a new peer (whose USERNAME starts with that ufrag)
//!   names its shard; later datagrams follow the address that request came from;
//! * a peer id carries its shard in its top byte, so a session URL does too.

use cloudcord_schemas::ids::ChannelId;

use super::PeerId;

/// Bits of a [`PeerId`] below its shard byte.
const PEER_BITS: u32 = 56;

/// One core's share of the rooms: its index among `count` shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u8,
    count: u8,
}

impl Shard {
    /// The only shard of an unsharded process.
    pub const SOLE: Self = Self { index: 0, count: 1 };

    /// Shard `index` of `count` (`None` if out of range or `count` is 0).
    pub fn new(index: u8, count: u8) -> Option<Self> {
        (index < count).then_some(Self { index, count })
    }

    /// This shard's index.
    pub fn index(self) -> u8 {
        self.index
    }

    /// The shard, of `count`, that holds voice channel `channel`'s room.
    pub fn of_channel(channel: ChannelId, count: u8) -> u8 {
        // Snowflakes' low bits are a per-process counter: mix them all before the
        // modulo so consecutive channels spread evenly.
        let mixed = channel.get().wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
        u8::try_from(mixed % u64::from(count.max(1))).unwrap_or(0)
    }

    /// The shard a peer id belongs to.
    pub fn of_peer(peer: PeerId) -> u8 {
        u8::try_from(peer.0 >> PEER_BITS).unwrap_or(u8::MAX)
    }

    /// The shard named by the start of a local ICE ufrag, if it names one.
    pub fn of_ufrag(ufrag: &str) -> Option<u8> {
        ufrag
            .get(..2)
            .and_then(|prefix| u8::from_str_radix(prefix, 16).ok())
    }

    /// The first peer id this shard hands out.
    pub(crate) fn first_peer(self) -> PeerId {
        PeerId((u64::from(self.index) << PEER_BITS) | 1)
    }

    /// `ufrag` prefixed with this shard's index.
    pub(crate) fn tag_ufrag(self, ufrag: &str) -> String {
        format!("{:02x}{ufrag}", self.index)
    }

    /// Whether this is one of several shards.
    pub(crate) fn is_sharded(self) -> bool {
        self.count > 1
    }
}

#[cfg(test)]
mod tests {
    use cloudcord_schemas::ids::ChannelId;

    use super::Shard;

    #[test]
    fn ids_and_ufrags_name_their_shard() {
        let shard = Shard::new(7, 8).expect("in range");
        assert_eq!(Shard::of_peer(shard.first_peer()), 7);
        assert_eq!(Shard::of_ufrag(&shard.tag_ufrag("abcdEFGH")), Some(7));
        assert_eq!(Shard::of_ufrag("zz"), None);
        assert_eq!(Shard::new(8, 8), None);
    }

    #[test]
    fn channels_spread_over_shards() {
        let mut counts = [0usize; 4];
        for raw in 1_000_000u64..1_004_000 {
            counts[usize::from(Shard::of_channel(ChannelId::new(raw), 4))] += 1;
        }
        assert!(counts.iter().all(|&n| n > 800), "{counts:?}");
    }
}
