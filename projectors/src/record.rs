//! One record of the `events` topic as the projectors read it: the envelope with its
//! event lifted to the current version of its type (see `cloudcord_schemas::upcast`)
//! and decoded into its aggregate's event enum, plus where it sits in the topic.

use cloudcord_schemas::dm_channel::DmChannelEvent;
use cloudcord_schemas::envelope::{AggregateType, EventEnvelope};
use cloudcord_schemas::events::EventType;
use cloudcord_schemas::guild::GuildEvent;
use cloudcord_schemas::upcast::{self, UpcastError};
use cloudcord_schemas::user::UserEvent;
use cloudcord_schemas::username_claim::UsernameClaimEvent;
use serde::Serialize;

/// An event of any aggregate type, at its current version.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum DomainEvent {
    /// Something happened to a guild (or in it).
    Guild(GuildEvent),
    /// Something happened to a user account.
    User(UserEvent),
    /// Something happened in a DM channel.
    DmChannel(DmChannelEvent),
    /// A username was claimed or released.
    UsernameClaim(UsernameClaimEvent),
}

impl DomainEvent {
    /// The event's type name, e.g. `MessageSent`.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::Guild(event) => event.event_type(),
            Self::User(event) => event.event_type(),
            Self::DmChannel(event) => event.event_type(),
            Self::UsernameClaim(event) => event.event_type(),
        }
    }

    /// The version of the event's payload layout (always the current one).
    pub fn event_version(&self) -> u32 {
        match self {
            Self::Guild(event) => event.event_version(),
            Self::User(event) => event.event_version(),
            Self::DmChannel(event) => event.event_version(),
            Self::UsernameClaim(event) => event.event_version(),
        }
    }
}

/// A decoded event with its position in the `events` topic.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    /// The `events` partition it was read from.
    pub partition: i32,
    /// Its offset in that partition.
    pub offset: i64,
    /// The envelope and the event.
    pub envelope: EventEnvelope<DomainEvent>,
}

/// Why a record of the `events` topic could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The value is not an event envelope, or the event does not fit its type.
    #[error("the record is not a valid event envelope")]
    Json(#[from] serde_json::Error),
    /// The event's type or version is unknown to this build.
    #[error("the event cannot be lifted to its current version")]
    Upcast(#[from] UpcastError),
}

/// Decodes one record value of the `events` topic.
pub fn decode(value: &[u8]) -> Result<EventEnvelope<DomainEvent>, DecodeError> {
    let stored: EventEnvelope<serde_json::Value> = serde_json::from_slice(value)?;
    let kind = stored.aggregate.kind;
    let event_type = stored
        .event
        .get("type")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let EventEnvelope {
        event_id,
        aggregate,
        seq,
        prev_hash,
        command_id,
        actor,
        occurred_at,
        envelope_version,
        event_version: stored_version,
        event,
    } = stored;
    let current = upcast::to_current(kind, &event_type, stored_version, event)?;
    let event = match kind {
        AggregateType::Guild => DomainEvent::Guild(serde_json::from_value(current)?),
        AggregateType::User => DomainEvent::User(serde_json::from_value(current)?),
        AggregateType::DmChannel => DomainEvent::DmChannel(serde_json::from_value(current)?),
        AggregateType::UsernameClaim => {
            DomainEvent::UsernameClaim(serde_json::from_value(current)?)
        }
    };
    Ok(EventEnvelope {
        event_id,
        aggregate,
        seq,
        prev_hash,
        command_id,
        actor,
        occurred_at,
        envelope_version,
        // Lifted: the payload now has the current layout.
        event_version: event.event_version(),
        event,
    })
}
