//! The aggregates that decide commands into events, on top of `cqrs-es`.
//!
//! `cqrs-es` supplies the [`Aggregate`] trait (`handle` decides and writes events
//! through a sink, `apply` changes state) and the given/when/then `TestFramework`;
//! CloudCord drives them from its own Kafka command processor instead of the
//! crate's persistence layer. [`Decider`] adds what the processor needs on top:
//! which aggregate type it is, the HTTP answer for an accepted command, and the
//! Discord error for a refused one.
//!
//! Handlers must check every rule before writing the first event: a refused command
//! must leave the aggregate untouched.

pub mod dm_channel;
pub mod guild;
pub mod message_index;
pub mod messages;
pub mod user;
pub mod username_claim;

use cloudcord_schemas::envelope::{AggregateType, ApiError, Authored};
use cloudcord_schemas::events::EventType;
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use self::message_index::MessageIndex;

/// A schema event (from `cloudcord-schemas`, which stays free of `cqrs-es`) as a
/// `cqrs-es` domain event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Domain<E>(pub E);

impl<E> DomainEvent for Domain<E>
where
    E: EventType + Serialize + DeserializeOwned + Clone + PartialEq + std::fmt::Debug + Send + Sync,
{
    fn event_type(&self) -> String {
        self.0.event_type().to_owned()
    }

    fn event_version(&self) -> String {
        self.0.event_version().to_string()
    }
}

/// The HTTP answer to an accepted command.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    /// 200, 201 or 204.
    pub status: u16,
    /// The Discord object, unless 204.
    pub body: Option<serde_json::Value>,
}

/// A refusal in Discord's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status.
    pub status: u16,
    /// The error body.
    pub error: ApiError,
}

/// An aggregate the command processor can drive.
pub trait Decider:
    Aggregate<Services = (), Command = Authored<Self::Request>, Event = Domain<Self::Change>> + Clone
{
    /// The command payload on the wire (inside [`Authored`]).
    type Request: DeserializeOwned + Serialize + Send;
    /// The schema event type.
    type Change: EventType
        + Serialize
        + DeserializeOwned
        + Clone
        + PartialEq
        + std::fmt::Debug
        + Send
        + Sync;

    /// Which aggregate type this is.
    const KIND: AggregateType;

    /// Makes the aggregate keep its messages in `index` (the partition's on-disk
    /// store); aggregates that hold no messages ignore it.
    fn attach_index(&mut self, _index: MessageIndex) {}

    /// What `event` changes in the message index. `apply` does this first; a restore
    /// also calls it alone for events that a snapshot already covers but the index
    /// does not.
    fn index_event(_index: &mut MessageIndex, _event: &Self::Change) {}

    /// What the HTTP caller receives once `events` (the command's outcome) are applied.
    fn accepted(&self, events: &[Self::Change]) -> Accepted;

    /// The Discord error for a refusal.
    fn refused(error: &Self::Error) -> Refusal;
}

/// Decides `command` on `aggregate`: the events (already applied to it) or the refusal
/// (the aggregate unchanged).
pub fn decide<A: Decider>(
    aggregate: &mut A,
    command: Authored<A::Request>,
) -> Result<(Vec<A::Change>, Accepted), Refusal> {
    let sink = EventSink::<A>::default();
    // `handle` is async only by the trait's shape; aggregates never await I/O, so
    // polling it to completion on the processor's thread is immediate.
    let handled = futures::executor::block_on(aggregate.handle(command, &(), &sink));
    let events: Vec<A::Change> = futures::executor::block_on(sink.collect())
        .into_iter()
        .map(|Domain(event)| event)
        .collect();
    match handled {
        Ok(()) => {
            let accepted = aggregate.accepted(&events);
            Ok((events, accepted))
        }
        Err(error) => {
            debug_assert!(events.is_empty(), "a refused command wrote events");
            Err(A::refused(&error))
        }
    }
}
