//! Reading a record of the `projected` topic (see the projectors' crate docs for
//! its layout): the event envelope, decoded into its aggregate's event enum. A
//! record can come twice (a projector publishes again what a crash left
//! unconfirmed): routing drops what it has by the aggregate's `seq`. The
//! gateway fans out what the PostgreSQL projector made visible, so records of other
//! stores are skipped, as are aggregates no session follows (username claims).

use cloudcord_schemas::dm_channel::DmChannelEvent;
use cloudcord_schemas::envelope::{Actor, AggregateType, EventEnvelope};
use cloudcord_schemas::guild::GuildEvent;
use cloudcord_schemas::ids::{ChannelId, GuildId, UserId};
use cloudcord_schemas::user::UserEvent;
use serde::Deserialize;
use serde_json::Value;

/// The store whose records the gateway fans out: its reads show the event.
const STORE: &str = "postgres";

/// A projected event the gateway acts on.
#[derive(Debug, Clone, PartialEq)]
pub enum Projected {
    /// Something happened in a guild.
    Guild {
        /// The guild.
        guild: GuildId,
        /// The event's `seq` in the guild's history.
        seq: u64,
        /// Who caused it (`None`: the system).
        actor: Option<UserId>,
        /// The event.
        event: Box<GuildEvent>,
    },
    /// Something happened in a DM channel.
    Dm {
        /// The channel.
        channel: ChannelId,
        /// The event's `seq` in the channel's history.
        seq: u64,
        /// Who caused it.
        actor: Option<UserId>,
        /// The event.
        event: Box<DmChannelEvent>,
    },
    /// Something happened to a user account.
    User {
        /// The user.
        user: UserId,
        /// The event.
        event: Box<UserEvent>,
    },
}

/// Why a record could not be read (logged and skipped: one bad record must not
/// stop fan-out for everyone).
#[derive(Debug, thiserror::Error)]
#[error("the projected record is not a valid event envelope")]
pub struct DecodeError(#[from] serde_json::Error);

#[derive(Deserialize)]
struct Record {
    store: String,
    envelope: EventEnvelope<Value>,
}

/// Decodes one record's value; `Ok(None)` for records the gateway ignores.
pub fn decode(value: &[u8]) -> Result<Option<Projected>, DecodeError> {
    let record: Record = serde_json::from_slice(value)?;
    if record.store != STORE {
        return Ok(None);
    }
    let envelope = record.envelope;
    let actor = match envelope.actor {
        Actor::User(user) => Some(user),
        Actor::System => None,
    };
    let id = envelope.aggregate.id;
    Ok(Some(match envelope.aggregate.kind {
        AggregateType::Guild => Projected::Guild {
            guild: GuildId(id),
            seq: envelope.seq,
            actor,
            event: Box::new(serde_json::from_value(envelope.event)?),
        },
        AggregateType::DmChannel => Projected::Dm {
            channel: ChannelId(id),
            seq: envelope.seq,
            actor,
            event: Box::new(serde_json::from_value(envelope.event)?),
        },
        AggregateType::User => Projected::User {
            user: UserId(id),
            event: Box::new(serde_json::from_value(envelope.event)?),
        },
        AggregateType::UsernameClaim => return Ok(None),
    }))
}
