//! One record of the `events` topic as the projectors read it: the envelope with its
//! event lifted to the current version of its type (see `cloudcord_schemas::upcast`)
//! and decoded into its aggregate's event enum, plus where it sits in the topic.

use std::borrow::Cow;

use cloudcord_schemas::dm_channel::DmChannelEvent;
use cloudcord_schemas::envelope::{
    Actor, AggregateRef, AggregateType, CommandId, EventEnvelope, EventHash,
};
use cloudcord_schemas::events::EventType;
use cloudcord_schemas::guild::GuildEvent;
use cloudcord_schemas::ids::Snowflake;
use cloudcord_schemas::upcast::{self, UpcastError};
use cloudcord_schemas::user::UserEvent;
use cloudcord_schemas::username_claim::UsernameClaimEvent;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

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
///
/// Almost every record holds its event at the current version, so the value is
/// decoded straight into the typed envelope (one pass, no intermediate JSON tree);
/// only a record that does not decode that way — an older version, or a broken
/// record — takes the general path through the upcasters, which also names what is
/// wrong.
///
/// U+0000 in any string becomes U+FFFD: PostgreSQL's `text` and FerretDB's `jsonb`
/// cannot hold it, and a record that fails every write would stall its partition's
/// projection for good.
pub fn decode(value: &[u8]) -> Result<EventEnvelope<DomainEvent>, DecodeError> {
    let value = without_nul(value)?;
    match decode_current(&value) {
        Some(envelope) => Ok(envelope),
        None => decode_lifted(&value),
    }
}

/// `value` with every U+0000 in its strings replaced by U+FFFD. JSON writes U+0000
/// only as the escape `\u0000`, so a record without those six bytes is returned as it
/// is, unparsed.
fn without_nul(value: &[u8]) -> Result<Cow<'_, [u8]>, serde_json::Error> {
    fn clean(value: &mut Value) {
        match value {
            Value::String(text) if text.contains('\0') => *text = text.replace('\0', "\u{fffd}"),
            Value::Array(items) => items.iter_mut().for_each(clean),
            Value::Object(map) => map.values_mut().for_each(clean),
            _ => {}
        }
    }
    if !value.windows(6).any(|window| window == b"\\u0000") {
        return Ok(Cow::Borrowed(value));
    }
    let mut tree: Value = serde_json::from_slice(value)?;
    clean(&mut tree);
    serde_json::to_vec(&tree).map(Cow::Owned)
}

/// The aggregate type alone: which event enum the record's event belongs to.
#[derive(Deserialize)]
struct Kind {
    aggregate_type: AggregateType,
}

/// [`EventEnvelope`] with its aggregate's fields inline: the same JSON without
/// `#[serde(flatten)]`, which would buffer the whole record before decoding it.
#[derive(Deserialize)]
struct Stored<E> {
    event_id: Uuid,
    aggregate_type: AggregateType,
    aggregate_id: Snowflake,
    seq: u64,
    prev_hash: Option<EventHash>,
    command_id: CommandId,
    actor: Actor,
    #[serde(with = "time::serde::rfc3339")]
    occurred_at: OffsetDateTime,
    envelope_version: u32,
    event_version: u32,
    event: E,
}

impl<E: EventType> Stored<E> {
    /// The envelope, if its event is stored at its type's current version (so no
    /// upcaster applies and the typed decoding is the whole story).
    fn current(self, wrap: fn(E) -> DomainEvent) -> Option<EventEnvelope<DomainEvent>> {
        if self.event.event_version() != self.event_version {
            return None;
        }
        Some(EventEnvelope {
            event_id: self.event_id,
            aggregate: AggregateRef {
                kind: self.aggregate_type,
                id: self.aggregate_id,
            },
            seq: self.seq,
            prev_hash: self.prev_hash,
            command_id: self.command_id,
            actor: self.actor,
            occurred_at: self.occurred_at,
            envelope_version: self.envelope_version,
            event_version: self.event_version,
            event: wrap(self.event),
        })
    }
}

/// The one-pass decoding of a record whose event is at its current version.
fn decode_current(value: &[u8]) -> Option<EventEnvelope<DomainEvent>> {
    fn typed<E: EventType + DeserializeOwned>(
        value: &[u8],
        kind: AggregateType,
        wrap: fn(E) -> DomainEvent,
    ) -> Option<EventEnvelope<DomainEvent>> {
        let stored = serde_json::from_slice::<Stored<E>>(value).ok()?;
        // A wrong guess of the kind decodes as something else or not at all.
        (stored.aggregate_type == kind).then(|| stored.current(wrap))?
    }
    let kind = match peek_kind(value) {
        Some(kind) => kind,
        None => serde_json::from_slice::<Kind>(value).ok()?.aggregate_type,
    };
    match kind {
        AggregateType::Guild => typed(value, kind, DomainEvent::Guild),
        AggregateType::User => typed(value, kind, DomainEvent::User),
        AggregateType::DmChannel => typed(value, kind, DomainEvent::DmChannel),
        AggregateType::UsernameClaim => typed(value, kind, DomainEvent::UsernameClaim),
    }
}

/// The aggregate type as envelopes spell it near their start
/// (`"aggregate_type":"guild"`), found without parsing the record: a guess (the
/// key could in principle sit in a nested object first) that the typed decoding
/// confirms, saving a pass over the record.
fn peek_kind(value: &[u8]) -> Option<AggregateType> {
    const KEY: &[u8] = br#""aggregate_type":""#;
    let start = value.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let rest = value.get(start..)?;
    let name = rest.get(..rest.iter().position(|&b| b == b'"')?)?;
    AggregateType::from_name(std::str::from_utf8(name).ok()?)
}

/// The general decoding: the event as JSON, lifted by the upcasters to its current
/// version, then typed.
fn decode_lifted(value: &[u8]) -> Result<EventEnvelope<DomainEvent>, DecodeError> {
    let stored: EventEnvelope<serde_json::Value> = serde_json::from_slice(value)?;
    let kind = stored.aggregate.kind;
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
    let current = upcast::lift(kind, stored_version, event)?;
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

#[cfg(test)]
mod tests {
    use cloudcord_schemas::envelope::EventEnvelope;

    use super::{DecodeError, decode, decode_current, decode_lifted, peek_kind};
    use crate::test_events::{in_guild, message_sent};

    fn stored(envelope: &EventEnvelope<super::DomainEvent>) -> Vec<u8> {
        serde_json::to_vec(envelope).expect("envelopes serialize")
    }

    #[test]
    fn nul_characters_become_replacement_characters() {
        let record = in_guild(3, message_sent(100));
        let mut value: serde_json::Value =
            serde_json::from_slice(&stored(&record.envelope)).expect("json");
        let content = value
            .pointer_mut("/event/content")
            .expect("a message has content");
        *content = "a\u{0}b".into();
        let decoded = decode(&serde_json::to_vec(&value).expect("json")).expect("decodes");
        let decoded = serde_json::to_value(&decoded).expect("json");
        assert_eq!(decoded["event"]["content"], "a\u{fffd}b");
    }

    #[test]
    fn a_current_record_decodes_in_one_pass_to_what_the_upcasting_path_gives() {
        let record = in_guild(3, message_sent(100));
        let value = stored(&record.envelope);
        assert!(
            decode_current(&value).is_some(),
            "the one-pass path applies"
        );
        assert_eq!(peek_kind(&value), Some(record.envelope.aggregate.kind));
        let fast = decode(&value).expect("decodes");
        assert_eq!(fast, record.envelope);
        assert_eq!(fast, decode_lifted(&value).expect("decodes"));
    }

    #[test]
    fn a_record_of_an_unknown_version_is_refused_with_the_reason() {
        let mut record = in_guild(3, message_sent(100));
        record.envelope.event_version = 99;
        let error = decode(&stored(&record.envelope)).expect_err("v99 is unknown");
        assert!(matches!(error, DecodeError::Upcast(_)), "{error:?}");
    }

    #[test]
    fn a_record_that_is_not_an_envelope_is_refused() {
        let error = decode(br#"{"event": 1}"#).expect_err("not an envelope");
        assert!(matches!(error, DecodeError::Json(_)), "{error:?}");
    }
}
