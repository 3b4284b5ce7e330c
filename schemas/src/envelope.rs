//! The envelopes every command, event and command result travels in on Kafka.
//!
//! * A [`CommandEnvelope`] is what `command-api` appends to the `commands` topic: who
//!   asks ([`Actor`]), when, under which idempotency key ([`CommandId`]), and the
//!   command for one aggregate.
//! * An [`EventEnvelope`] is what the command processor appends to the `events`
//!   topic for each decided event: its place in its aggregate's history (gap-free
//!   `seq` and the hash of the previous record, so an export can be verified
//!   offline), what caused it, and the event itself.
//! * A [`CommandResult`] answers the HTTP caller: the Discord object it asked for,
//!   or a Discord-shaped error.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::ids::{Snowflake, UserId};

/// The version of the envelope layout itself (each event type has its own too).
pub const ENVELOPE_VERSION: u32 = 1;

/// Identifies one command for idempotency: a repeated `CommandId` returns the
/// original result and appends nothing.
///
/// Client-supplied keys (the `Idempotency-Key` header, a message `nonce`) are scoped
/// to their actor, so two users can never collide on the same key.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct CommandId(String);

/// Why a client-supplied idempotency key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an idempotency key must be 1 to 128 visible ASCII characters")]
pub struct InvalidCommandId;

impl CommandId {
    /// Longest accepted client key.
    pub const MAX_KEY_LEN: usize = 128;

    /// A command id from a client's key, scoped to `actor`.
    pub fn from_client_key(actor: &Actor, key: &str) -> Result<Self, InvalidCommandId> {
        let valid = !key.is_empty()
            && key.len() <= Self::MAX_KEY_LEN
            && key.bytes().all(|b| b.is_ascii_graphic());
        if !valid {
            return Err(InvalidCommandId);
        }
        Ok(Self(format!("{actor}/{key}")))
    }

    /// A command id from a client's key for one request, `scope` (its method and
    /// path): the same key on another route, or for another resource, is another
    /// command, never the replay of an unrelated one.
    pub fn from_request_key(
        actor: &Actor,
        scope: &str,
        key: &str,
    ) -> Result<Self, InvalidCommandId> {
        // Neither the actor, the key (visible ASCII) nor the path holds a space, so
        // the three parts cannot run into each other.
        Self::from_client_key(actor, key).map(|_| Self(format!("{actor} {scope} {key}")))
    }

    /// This command id as sent to `target`. A client key names one command on one
    /// aggregate: the same key reaching another aggregate — a saga step whose target
    /// was generated afresh, a key reused for another resource — is another command,
    /// never the replay of an unrelated command's result (the processor remembers
    /// results by command id within a partition, which many aggregates share).
    #[must_use]
    pub fn on(self, target: &AggregateRef) -> Self {
        Self(format!(
            "{} @{}:{}",
            self.0,
            target.kind.as_str(),
            target.id
        ))
    }

    /// A fresh id for a command whose client gave no key.
    pub fn random() -> Self {
        Self(Uuid::new_v4().to_string())
    }

    /// The id as text (also the Kafka key of its result record).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CommandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who caused a command and its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Actor {
    /// A user or bot account.
    User(UserId),
    /// CloudCord itself (e.g. an expiry).
    System,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User(id) => write!(f, "user:{id}"),
            Self::System => f.write_str("system"),
        }
    }
}

/// A command as an aggregate receives it: the request plus who asked and when.
///
/// The time is assigned once by `command-api`, so deciding the same command again
/// (after a failover) sees the same clock and decides the same way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Authored<C> {
    /// Who asked.
    pub actor: Actor,
    /// When the request was accepted.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// What was asked.
    pub command: C,
}

/// The kind of aggregate an envelope is about; also its shard: the aggregate id
/// is the Kafka key of its commands and events.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AggregateType {
    /// A guild with everything inside it (channels, roles, members, messages).
    Guild,
    /// A user account (profile, settings, relationships).
    User,
    /// A direct-message channel and its messages.
    DmChannel,
    /// The claim on one username, which makes usernames unique across shards. Its
    /// id is [`crate::ids::Snowflake`]-sized hash of the normalized name.
    UsernameClaim,
}

impl AggregateType {
    /// Every aggregate type.
    pub const ALL: [Self; 4] = [
        Self::Guild,
        Self::User,
        Self::DmChannel,
        Self::UsernameClaim,
    ];

    /// The type whose [`Self::as_str`] is `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// The name used in headers and schema file names.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Guild => "guild",
            Self::User => "user",
            Self::DmChannel => "dm_channel",
            Self::UsernameClaim => "username_claim",
        }
    }
}

/// One aggregate instance: its type and id.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub struct AggregateRef {
    /// Its type.
    #[serde(rename = "aggregate_type")]
    pub kind: AggregateType,
    /// Its id (a guild, user or channel id).
    #[serde(rename = "aggregate_id")]
    pub id: Snowflake,
}

impl AggregateRef {
    /// The Kafka key of its commands and events.
    pub fn shard_key(&self) -> String {
        self.id.to_string()
    }
}

/// A point in one aggregate's history: every event up to `seq`.
///
/// Written in HTTP headers (`X-CloudCord-Position`) as `<aggregate_type>:<id>:<seq>`,
/// e.g. `guild:1234:57`, by [`Display`](fmt::Display) and parsed by
/// [`FromStr`](std::str::FromStr), so the write and read sides agree on the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Position {
    /// The aggregate.
    #[serde(flatten)]
    pub aggregate: AggregateRef,
    /// Its last event's `seq` (0: no events yet).
    pub seq: u64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.aggregate.kind.as_str(),
            self.aggregate.id,
            self.seq
        )
    }
}

/// A position header value that is not `<aggregate_type>:<id>:<seq>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a position is <aggregate_type>:<id>:<seq>, e.g. guild:1234:57")]
pub struct InvalidPosition;

impl std::str::FromStr for Position {
    type Err = InvalidPosition;

    fn from_str(text: &str) -> Result<Self, InvalidPosition> {
        let mut parts = text.trim().split(':');
        let (Some(kind), Some(id), Some(seq), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(InvalidPosition);
        };
        let kind = AggregateType::from_name(kind).ok_or(InvalidPosition)?;
        Ok(Self {
            aggregate: AggregateRef {
                kind,
                id: Snowflake::new(id.parse().map_err(|_| InvalidPosition)?),
            },
            seq: seq.parse().map_err(|_| InvalidPosition)?,
        })
    }
}

/// A command on its way to the processor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandEnvelope<C> {
    /// The idempotency key.
    pub command_id: CommandId,
    /// The aggregate it addresses.
    #[serde(flatten)]
    pub target: AggregateRef,
    /// The command, with who asked and when.
    #[serde(flatten)]
    pub body: Authored<C>,
}

/// SHA-256 of an event record's value bytes, in lowercase hex. Each event carries
/// the hash of the previous event of its aggregate, chaining the history.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct EventHash(#[schemars(regex(pattern = r"^[0-9a-f]{64}$"))] String);

impl EventHash {
    /// The hash of a record value exactly as it is stored in Kafka.
    pub fn of_record(value: &[u8]) -> Self {
        use std::fmt::Write as _;
        let digest = Sha256::digest(value);
        let mut hex = String::with_capacity(64);
        for byte in digest.iter() {
            let _ = write!(hex, "{byte:02x}");
        }
        Self(hex)
    }

    /// The hex text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One decided event with its place in its aggregate's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EventEnvelope<E> {
    /// Unique and deterministic: UUIDv5 of the aggregate and `seq`, so every
    /// consumer can deduplicate by it.
    pub event_id: Uuid,
    /// The aggregate whose history this extends.
    #[serde(flatten)]
    pub aggregate: AggregateRef,
    /// 1 for the aggregate's first event, then +1 without gaps.
    pub seq: u64,
    /// Hash of the previous event record of this aggregate (`None` for `seq` 1).
    pub prev_hash: Option<EventHash>,
    /// The command that produced it.
    pub command_id: CommandId,
    /// Who caused it.
    pub actor: Actor,
    /// When the command was accepted.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub occurred_at: OffsetDateTime,
    /// Layout version of this envelope ([`ENVELOPE_VERSION`]).
    pub envelope_version: u32,
    /// Payload version of this event's type, so a record read on its own (an
    /// export, a replay) can be upcast without its Kafka headers.
    pub event_version: u32,
    /// The event.
    pub event: E,
}

/// The namespace of CloudCord's event ids.
const EVENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6c0d_c0de_0000_4000_8000_c1ad_c0de_0001);

/// The id of the event at `seq` of `aggregate`.
pub fn event_id(aggregate: AggregateRef, seq: u64) -> Uuid {
    let name = format!("{}/{}/{seq}", aggregate.kind.as_str(), aggregate.id);
    Uuid::new_v5(&EVENT_ID_NAMESPACE, name.as_bytes())
}

/// An error in Discord's shape: `{"code": 50013, "message": "Missing Permissions"}`,
/// with `errors` for field validation failures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// Discord's JSON error code (`developers/topics/opcodes-and-status-codes.mdx`).
    pub code: u32,
    /// Human-readable text.
    pub message: String,
    /// Per-field details, in Discord's nested `_errors` layout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<serde_json::Value>,
}

/// How a command was decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Accepted: the events are appended; `body` is what the HTTP caller receives
    /// (`None` for 204 No Content).
    Accepted {
        /// The HTTP status (200, 201 or 204).
        status: u16,
        /// The Discord object, when there is one.
        body: Option<serde_json::Value>,
        /// Where the aggregate's history stands after the command: a read that waits
        /// for the read models to reach it sees the command's effect.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        position: Option<Position>,
    },
    /// Refused: nothing was appended.
    Rejected {
        /// The HTTP status of the error.
        status: u16,
        /// The error body.
        error: ApiError,
    },
}

/// The answer to one command, on the results topic keyed by its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CommandResult {
    /// The command answered.
    pub command_id: CommandId,
    /// How it was decided.
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[cfg(test)]
mod tests {
    use super::{Actor, AggregateRef, AggregateType, CommandId, EventHash, Position, event_id};

    #[test]
    fn a_position_round_trips_through_its_header_form() {
        let position = Position {
            aggregate: AggregateRef {
                kind: AggregateType::DmChannel,
                id: Snowflake::new(1234),
            },
            seq: 57,
        };
        assert_eq!(position.to_string(), "dm_channel:1234:57");
        assert_eq!("dm_channel:1234:57".parse(), Ok(position));
        for bad in [
            "",
            "guild:1",
            "guild:x:1",
            "guild:1:-1",
            "team:1:1",
            "guild:1:1:1",
        ] {
            assert!(bad.parse::<Position>().is_err(), "{bad:?} parsed");
        }
    }
    use crate::ids::{Snowflake, UserId};

    #[test]
    fn client_keys_are_scoped_to_their_actor() {
        let alice = Actor::User(UserId::new(1));
        let bob = Actor::User(UserId::new(2));
        let a = CommandId::from_client_key(&alice, "retry-7").expect("valid");
        let b = CommandId::from_client_key(&bob, "retry-7").expect("valid");
        assert_ne!(a, b);
        assert_eq!(a.as_str(), "user:1/retry-7");
    }

    #[test]
    fn client_keys_must_be_short_visible_ascii() {
        let actor = Actor::System;
        assert!(CommandId::from_client_key(&actor, "").is_err());
        assert!(CommandId::from_client_key(&actor, "has space").is_err());
        assert!(CommandId::from_client_key(&actor, &"x".repeat(129)).is_err());
        assert!(CommandId::from_client_key(&actor, &"x".repeat(128)).is_ok());
        let post = CommandId::from_request_key(&actor, "POST /guilds", "k").expect("valid");
        let patch = CommandId::from_request_key(&actor, "PATCH /guilds/1", "k").expect("valid");
        assert_ne!(post, patch);
        assert!(CommandId::from_request_key(&actor, "POST /guilds", "has space").is_err());
        let user = |id| AggregateRef {
            kind: AggregateType::User,
            id: Snowflake::new(id),
        };
        assert_ne!(post.clone().on(&user(1)), post.clone().on(&user(2)));
        assert_eq!(post.clone().on(&user(1)), post.on(&user(1)));
    }

    #[test]
    fn event_ids_are_deterministic_per_aggregate_and_seq() {
        let guild = AggregateRef {
            kind: AggregateType::Guild,
            id: Snowflake::new(42),
        };
        let user = AggregateRef {
            kind: AggregateType::User,
            id: Snowflake::new(42),
        };
        assert_eq!(event_id(guild, 1), event_id(guild, 1));
        assert_ne!(event_id(guild, 1), event_id(guild, 2));
        assert_ne!(event_id(guild, 1), event_id(user, 1));
    }

    #[test]
    fn record_hash_is_sha256_hex() {
        assert_eq!(
            EventHash::of_record(b"abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
