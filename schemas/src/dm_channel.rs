//! DM channel commands and events: a direct-message channel between two users and
//! the messages in it. The aggregate id is the channel id.
//!
//! # One channel per pair, without a lookup
//!
//! Discord's `POST /users/@me/channels` returns the existing DM with a user if there
//! is one. CloudCord derives the DM channel's id from the two user ids
//! ([`dm_channel_id`]) instead of keeping a (pair → channel) lookup: a lookup fed by
//! events lags behind, so two users opening a DM with each other at the same moment
//! would each get a new channel; with a derived id both requests land on the same
//! single writer, which opens the channel once and returns it to the second. It
//! also lets the HTTP layer find a pair's channel for a block without reading
//! anything. The price: the id is a hash, not a time-ordered snowflake, so the
//! timestamp a client decodes from a DM channel's id is meaningless (Discord's
//! clients use it only for display; message ids stay real snowflakes), and a
//! collision with another channel's id, with 63 hashed bits, is negligible.
//!
//! # Messages
//!
//! Messages use the payloads of [`crate::message`], wrapped in this aggregate's own
//! enums (`DmChannelCommand::SendMessage(SendMessage)`), so the message projection
//! reads DM and guild messages alike. Only the two recipients may act.
//!
//! # Blocks
//!
//! Whether one recipient blocked the other lives on the user aggregates, which the
//! DM aggregate cannot read. So the block saga (see [`crate::user`]) ends with a
//! step on the pair's DM channel: after `BlockUser` the HTTP layer sends
//! [`DmChannelCommand::RecordBlock`], after an unblock [`DmChannelCommand::RecordUnblock`]
//! — even before the DM was ever opened (the channel then knows the block only).
//! While either recipient blocks the other, sending a message (50007) and adding a
//! reaction (90001) are refused. If that step is lost, messages still get through
//! until it is retried; the same reconciler that repairs relationship sagas
//! re-sends it from the users' `UserBlocked` / `RelationshipRemoved` events.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::{ChannelId, UserId};
use crate::message::{
    AckMessage, AddReaction, DeleteMessage, EditMessage, MessageAcked, MessageDeleted,
    MessageEdited, MessagePinned, MessageSent, MessageUnpinned, PinMessage, ReactionAdded,
    ReactionRemoved, RemoveReaction, SendMessage, UnpinMessage, UserSnapshot,
};

/// The id of the DM channel between `a` and `b` (in either order).
///
/// Recipe (stable forever — data teams recompute it): with `low` and `high` the
/// two user ids in ascending numeric order, take the SHA-256 digest of the ASCII
/// text `cloudcord/dm/v1:{low}:{high}` (decimal ids), read its first 8 bytes as a
/// big-endian unsigned 64-bit integer, and clear the top bit. In Python:
/// `int.from_bytes(hashlib.sha256(f"cloudcord/dm/v1:{low}:{high}".encode()).digest()[:8], "big") & (2**63 - 1)`.
pub fn dm_channel_id(a: UserId, b: UserId) -> ChannelId {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    let digest = Sha256::digest(format!("cloudcord/dm/v1:{low}:{high}").as_bytes());
    let first = digest
        .iter()
        .take(8)
        .fold(0_u64, |acc, byte| (acc << 8) | u64::from(*byte));
    ChannelId::new(first & (u64::MAX >> 1))
}

/// What can be asked of a DM channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DmChannelCommand {
    /// Open the DM between two users (`POST /users/@me/channels`), by one of them.
    /// Opening an open DM returns it unchanged.
    OpenDmChannel {
        /// [`dm_channel_id`] of the two recipients (also the aggregate id).
        channel_id: ChannelId,
        /// Both users' profiles, from command-api's accounts projection.
        recipients: [UserSnapshot; 2],
    },
    /// Record that `blocker` blocked `blocked` (the last step of the block saga).
    RecordBlock {
        /// Who blocks.
        blocker: UserId,
        /// Who is blocked.
        blocked: UserId,
    },
    /// Record that `blocker` no longer blocks `blocked`.
    RecordUnblock {
        /// Who blocked.
        blocker: UserId,
        /// Who was blocked.
        blocked: UserId,
    },
    /// Send a message.
    SendMessage(SendMessage),
    /// Edit a message's content.
    EditMessage(EditMessage),
    /// Delete a message (only one's own: a DM has no moderators).
    DeleteMessage(DeleteMessage),
    /// React to a message.
    AddReaction(AddReaction),
    /// Remove one's reaction.
    RemoveReaction(RemoveReaction),
    /// Pin a message.
    PinMessage(PinMessage),
    /// Unpin a message.
    UnpinMessage(UnpinMessage),
    /// Mark the channel read up to a message, for the actor.
    AckMessage(AckMessage),
}

/// The DM channel between two users exists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DmChannelOpened {
    /// The channel.
    pub channel_id: ChannelId,
    /// The two users as they were when it was opened.
    pub recipients: [UserSnapshot; 2],
}

/// One recipient blocked the other: no new messages or reactions between them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DmRecipientBlocked {
    /// Who blocks.
    pub blocker: UserId,
    /// Who is blocked.
    pub blocked: UserId,
}

/// A block between the recipients was lifted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DmRecipientUnblocked {
    /// Who blocked.
    pub blocker: UserId,
    /// Who was blocked.
    pub blocked: UserId,
}

crate::event_enum! {
    /// What happened in a DM channel.
    pub enum DmChannelEvent {
        DmChannelOpened = 1,
        DmRecipientBlocked = 1,
        DmRecipientUnblocked = 1,
        MessageSent = 1,
        MessageEdited = 1,
        MessageDeleted = 1,
        ReactionAdded = 1,
        ReactionRemoved = 1,
        MessagePinned = 1,
        MessageUnpinned = 1,
        MessageAcked = 1,
    }
}

#[cfg(test)]
mod tests {
    use super::dm_channel_id;
    use crate::ids::UserId;

    #[test]
    fn a_pairs_dm_channel_id_is_the_documented_hash_in_either_order() {
        // Computed independently with Python's hashlib (see the docs).
        let expected = 6_697_331_112_376_332_849;
        assert_eq!(
            dm_channel_id(UserId::new(10), UserId::new(20)).get(),
            expected
        );
        assert_eq!(
            dm_channel_id(UserId::new(20), UserId::new(10)).get(),
            expected
        );
        assert_ne!(
            dm_channel_id(UserId::new(10), UserId::new(21)).get(),
            expected
        );
    }
}
