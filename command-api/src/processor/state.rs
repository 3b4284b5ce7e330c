//! A partition's decision state: the aggregates whose shard lives in the partition,
//! each with its place in its history, and the recent command results that make
//! commands idempotent.
//!
//! The state is only ever ahead of the log inside an open transaction; when a
//! transaction aborts, the worker throws the state away and restores it from the log.
//!
//! Between transactions the aggregates can be written out as a [snapshot](PartitionState::snapshot)
//! that says which events offset it covers, so a restore replays only what follows.
//! The idempotency window is not part of it: it is restored from `command-results`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use cloudcord_schemas::envelope::{
    AggregateRef, AggregateType, ApiError, Authored, CommandEnvelope, CommandId, CommandResult,
    ENVELOPE_VERSION, EventEnvelope, EventHash, Outcome, Position, event_id,
};
use cloudcord_schemas::events::EventType;
use cloudcord_schemas::ids::Snowflake;
use cloudcord_schemas::upcast;
use serde::{Deserialize, Serialize};

use crate::aggregates::dm_channel::DmChannel;
use crate::aggregates::guild::Guild;
use crate::aggregates::message_index::IndexStore;
use crate::aggregates::user::User;
use crate::aggregates::username_claim::UsernameClaim;
use crate::aggregates::{Decider, decide};

/// The log contradicts itself; the partition cannot be served until it is fixed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// An event record does not decode.
    #[error("undecodable event record")]
    Undecodable(#[from] serde_json::Error),
    /// An old event version cannot be lifted to the current one.
    #[error("event cannot be upcast")]
    Upcast(#[from] upcast::UpcastError),
    /// An event's `seq` does not follow its aggregate's previous one.
    #[error("{aggregate:?}: expected seq {expected}, found {found}")]
    Gap {
        /// The aggregate.
        aggregate: AggregateRef,
        /// The next seq the history needed.
        expected: u64,
        /// What the record says.
        found: u64,
    },
    /// An event's `prev_hash` is not the hash of the previous record.
    #[error("{aggregate:?}: seq {seq} does not chain to the previous event")]
    BrokenChain {
        /// The aggregate.
        aggregate: AggregateRef,
        /// The event whose link is wrong.
        seq: u64,
    },
}

/// An aggregate and its place in its history.
#[derive(Debug)]
struct Tracked<A> {
    aggregate: A,
    seq: u64,
    last_hash: Option<EventHash>,
}

/// A snapshot record that cannot be used; the caller replays the whole log instead.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// It does not decode (a changed aggregate layout, a corrupt record).
    #[error("undecodable snapshot")]
    Undecodable(#[from] serde_json::Error),
    /// It was written in a layout this version does not read.
    #[error("snapshot version {0} is not {SNAPSHOT_VERSION}")]
    Version(u32),
    /// It belongs to another partition.
    #[error("snapshot of partition {0}")]
    Partition(i32),
}

/// The layout version of snapshot records; bump it when their shape changes, so old
/// records are ignored (full replay) rather than misread.
pub const SNAPSHOT_VERSION: u32 = 1;

/// A snapshot record: the aggregates of one partition after every event before
/// `events_next_offset`.
#[derive(Serialize, Deserialize)]
struct Snapshot<G, U, D, C> {
    snapshot_version: u32,
    partition: i32,
    /// The first offset of the events partition that the snapshot does not cover.
    events_next_offset: i64,
    aggregates: SnapshotAggregates<G, U, D, C>,
}

/// Per aggregate type, every tracked aggregate.
#[derive(Serialize, Deserialize)]
struct SnapshotAggregates<G, U, D, C> {
    guild: Vec<SnapshotEntry<G>>,
    user: Vec<SnapshotEntry<U>>,
    dm_channel: Vec<SnapshotEntry<D>>,
    username_claim: Vec<SnapshotEntry<C>>,
}

/// One aggregate with its place in its history (`S` is `&A` when writing).
#[derive(Serialize, Deserialize)]
struct SnapshotEntry<S> {
    id: Snowflake,
    seq: u64,
    last_hash: Option<EventHash>,
    state: S,
}

/// Just the version of a snapshot, read before the rest.
#[derive(Deserialize)]
struct SnapshotHead {
    snapshot_version: u32,
    partition: i32,
}

/// An event record ready to append.
#[derive(Debug, Clone)]
pub struct EventRecord {
    /// The shard key (aggregate id).
    pub key: String,
    /// The JSON envelope.
    pub value: Vec<u8>,
    /// `ce_id`: the event id.
    pub event_id: String,
    /// `ce_type`: `dev.cloudcord.<aggregate>.<EventType>.v<n>`.
    pub ce_type: String,
    /// `ce_source`: `/cloudcord/<aggregate>/<id>`.
    pub ce_source: String,
    /// `ce_time`: when the command was accepted (RFC 3339).
    pub ce_time: String,
    /// The hash of `value`, which the next event of the aggregate chains to.
    pub hash: EventHash,
}

/// What deciding one command produced.
#[derive(Debug)]
pub struct Decision {
    /// The events to append (empty when refused).
    pub events: Vec<EventRecord>,
    /// The result record's value.
    pub result: Vec<u8>,
    /// Whether the command was accepted.
    pub accepted: bool,
}

/// The aggregates of one type in this partition.
struct Store<A: Decider> {
    tracked: HashMap<Snowflake, Tracked<A>>,
    index: Arc<IndexStore>,
}

impl<A: Decider + Default> Store<A> {
    fn new(index: Arc<IndexStore>) -> Self {
        Self {
            tracked: HashMap::new(),
            index,
        }
    }

    /// The aggregate `id`, created empty (and attached to the index) if unknown.
    fn tracked(&mut self, id: Snowflake) -> &mut Tracked<A> {
        self.tracked.entry(id).or_insert_with(|| {
            let mut aggregate = A::default();
            aggregate.attach_index(self.index.scope(id));
            Tracked {
                aggregate,
                seq: 0,
                last_hash: None,
            }
        })
    }

    /// Every aggregate, by id (sorted, so equal states give equal snapshots).
    fn entries(&self) -> Vec<SnapshotEntry<&A>> {
        let mut entries: Vec<SnapshotEntry<&A>> = self
            .tracked
            .iter()
            .map(|(id, tracked)| SnapshotEntry {
                id: *id,
                seq: tracked.seq,
                last_hash: tracked.last_hash.clone(),
                state: &tracked.aggregate,
            })
            .collect();
        entries.sort_unstable_by_key(|entry| entry.id);
        entries
    }

    fn from_entries(entries: Vec<SnapshotEntry<A>>, index: Arc<IndexStore>) -> Self {
        let tracked = entries
            .into_iter()
            .map(|entry| {
                let mut aggregate = entry.state;
                aggregate.attach_index(index.scope(entry.id));
                (
                    entry.id,
                    Tracked {
                        aggregate,
                        seq: entry.seq,
                        last_hash: entry.last_hash,
                    },
                )
            })
            .collect();
        Self { tracked, index }
    }

    fn replay(&mut self, record: &[u8]) -> Result<(), StateError> {
        let (stored, event) = decode::<A>(record)?;
        let aggregate = stored.aggregate;
        let tracked = self.tracked(aggregate.id);
        if stored.seq != tracked.seq + 1 {
            return Err(StateError::Gap {
                aggregate,
                expected: tracked.seq + 1,
                found: stored.seq,
            });
        }
        if stored.prev_hash != tracked.last_hash {
            return Err(StateError::BrokenChain {
                aggregate,
                seq: stored.seq,
            });
        }
        tracked.aggregate.apply(crate::aggregates::Domain(event));
        tracked.seq = stored.seq;
        tracked.last_hash = Some(EventHash::of_record(record));
        Ok(())
    }

    /// Applies an event's effect on the message index alone.
    fn replay_index(&self, record: &[u8]) -> Result<(), StateError> {
        let (stored, event) = decode::<A>(record)?;
        A::index_event(&mut self.index.scope(stored.aggregate.id), &event);
        Ok(())
    }

    fn decide(&mut self, envelope: CommandEnvelope<serde_json::Value>) -> Decision {
        let CommandEnvelope {
            command_id,
            target,
            body,
        } = envelope;
        let request = match serde_json::from_value::<A::Request>(body.command) {
            Ok(request) => request,
            Err(error) => return malformed(command_id, &error),
        };
        let (actor, at) = (body.actor, body.at);
        let tracked = self.tracked(target.id);
        let decided = decide(
            &mut tracked.aggregate,
            Authored {
                actor,
                at,
                command: request,
            },
        );
        let (events, outcome) = match decided {
            Ok((changes, accepted)) => {
                let events = changes
                    .into_iter()
                    .map(|change| {
                        tracked.seq += 1;
                        let ce_type = format!(
                            "dev.cloudcord.{}.{}.v{}",
                            A::KIND.as_str(),
                            change.event_type(),
                            change.event_version()
                        );
                        let envelope = EventEnvelope {
                            event_id: event_id(target, tracked.seq),
                            aggregate: target,
                            seq: tracked.seq,
                            prev_hash: tracked.last_hash.take(),
                            command_id: command_id.clone(),
                            actor,
                            occurred_at: at,
                            envelope_version: ENVELOPE_VERSION,
                            event_version: change.event_version(),
                            event: change,
                        };
                        let value = to_json(&envelope);
                        let hash = EventHash::of_record(&value);
                        tracked.last_hash = Some(hash.clone());
                        EventRecord {
                            hash,
                            key: target.shard_key(),
                            event_id: envelope.event_id.to_string(),
                            ce_type,
                            ce_source: format!("/cloudcord/{}/{}", A::KIND.as_str(), target.id),
                            ce_time: rfc3339(at),
                            value,
                        }
                    })
                    .collect();
                (
                    events,
                    Outcome::Accepted {
                        status: accepted.status,
                        body: accepted.body,
                        position: Some(Position {
                            aggregate: target,
                            seq: tracked.seq,
                        }),
                    },
                )
            }
            Err(refusal) => {
                // A refused command on an unknown id must not leave an empty aggregate.
                if tracked.seq == 0 {
                    self.tracked.remove(&target.id);
                }
                (
                    Vec::new(),
                    Outcome::Rejected {
                        status: refusal.status,
                        error: refusal.error,
                    },
                )
            }
        };
        Decision {
            accepted: matches!(outcome, Outcome::Accepted { .. }),
            events,
            result: to_json(&CommandResult {
                command_id,
                outcome,
            }),
        }
    }
}

/// An event record's envelope and its event, lifted to the current version: events
/// written by an older version of their type are upcast before an aggregate sees them.
fn decode<A: Decider>(
    record: &[u8],
) -> Result<(EventEnvelope<serde_json::Value>, A::Change), StateError> {
    let mut stored: EventEnvelope<serde_json::Value> = serde_json::from_slice(record)?;
    let current = upcast::lift(
        stored.aggregate.kind,
        stored.event_version,
        std::mem::take(&mut stored.event),
    )?;
    Ok((stored, serde_json::from_value(current)?))
}

fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn to_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Invariant: our envelopes hold only strings, numbers and string-keyed maps,
    // which serde_json always serializes.
    serde_json::to_vec(value).expect("envelopes serialize")
}

/// A result refusing a command that does not decode (a client bug or version skew).
fn malformed(command_id: CommandId, error: &serde_json::Error) -> Decision {
    Decision {
        events: Vec::new(),
        accepted: false,
        result: to_json(&CommandResult {
            command_id,
            outcome: Outcome::Rejected {
                status: 400,
                error: ApiError {
                    code: 50109,
                    message: format!("The request body contains invalid JSON: {error}"),
                    errors: None,
                },
            },
        }),
    }
}

/// Where a remembered result can be found again.
#[derive(Debug, Clone)]
pub enum ResultRef {
    /// Committed on the results partition at this offset.
    Offset(i64),
    /// Produced in the open transaction; its bytes until it commits.
    Pending(Arc<Vec<u8>>),
}

/// Command ids seen within the idempotency window, oldest first.
#[derive(Debug, Default)]
pub struct RecentResults {
    by_id: HashMap<CommandId, ResultRef>,
    order: VecDeque<(i64, CommandId)>,
}

impl RecentResults {
    /// What is known about `command_id`.
    pub fn get(&self, command_id: &CommandId) -> Option<&ResultRef> {
        self.by_id.get(command_id)
    }

    /// Remembers a result (first sighting wins; committed offsets replace pending bytes).
    pub fn remember(&mut self, command_id: CommandId, at_ms: i64, result: ResultRef) {
        match self.by_id.get_mut(&command_id) {
            Some(existing @ ResultRef::Pending(_)) if matches!(result, ResultRef::Offset(_)) => {
                *existing = result;
            }
            Some(_) => {}
            None => {
                self.order.push_back((at_ms, command_id.clone()));
                self.by_id.insert(command_id, result);
            }
        }
    }

    /// Forgets results older than `cutoff_ms`.
    pub fn expire(&mut self, cutoff_ms: i64) {
        while let Some((at, _)) = self.order.front() {
            if *at >= cutoff_ms {
                break;
            }
            if let Some((_, id)) = self.order.pop_front() {
                self.by_id.remove(&id);
            }
        }
    }
}

/// Just enough of an envelope to route it.
#[derive(Deserialize)]
struct Head {
    aggregate_type: AggregateType,
}

/// Everything one partition's processor decides with: the aggregates of every type
/// whose shard key falls in this partition.
pub struct PartitionState {
    guilds: Store<Guild>,
    users: Store<User>,
    dm_channels: Store<DmChannel>,
    username_claims: Store<UsernameClaim>,
    /// Results within the idempotency window.
    pub results: RecentResults,
}

impl PartitionState {
    /// An empty state whose aggregates keep their messages in `index`.
    pub fn new(index: &Arc<IndexStore>) -> Self {
        Self {
            guilds: Store::new(Arc::clone(index)),
            users: Store::new(Arc::clone(index)),
            dm_channels: Store::new(Arc::clone(index)),
            username_claims: Store::new(Arc::clone(index)),
            results: RecentResults::default(),
        }
    }

    /// Re-applies one committed event record (restore).
    pub fn replay(&mut self, record: &[u8]) -> Result<(), StateError> {
        let head: Head = serde_json::from_slice(record)?;
        match head.aggregate_type {
            AggregateType::Guild => self.guilds.replay(record),
            AggregateType::User => self.users.replay(record),
            AggregateType::DmChannel => self.dm_channels.replay(record),
            AggregateType::UsernameClaim => self.username_claims.replay(record),
        }
    }

    /// Applies one committed event record to the message index alone (restore, for
    /// events a snapshot covers but the index does not).
    pub fn replay_index(&self, record: &[u8]) -> Result<(), StateError> {
        let head: Head = serde_json::from_slice(record)?;
        match head.aggregate_type {
            AggregateType::Guild => self.guilds.replay_index(record),
            AggregateType::DmChannel => self.dm_channels.replay_index(record),
            AggregateType::User | AggregateType::UsernameClaim => Ok(()),
        }
    }

    /// The aggregates as a snapshot record of `partition` that covers every event
    /// before `events_next_offset` (JSON; see [`SNAPSHOT_VERSION`]). Fails only if an
    /// aggregate's state does not serialize to JSON (e.g. a map with non-text keys).
    pub fn snapshot(
        &self,
        partition: i32,
        events_next_offset: i64,
    ) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(&Snapshot {
            snapshot_version: SNAPSHOT_VERSION,
            partition,
            events_next_offset,
            aggregates: SnapshotAggregates {
                guild: self.guilds.entries(),
                user: self.users.entries(),
                dm_channel: self.dm_channels.entries(),
                username_claim: self.username_claims.entries(),
            },
        })
    }

    /// Rebuilds the aggregates from a snapshot record of `partition`, attached to
    /// `index`; returns the state (with an empty idempotency window) and the first
    /// events offset to replay after it.
    pub fn from_snapshot(
        record: &[u8],
        partition: i32,
        index: &Arc<IndexStore>,
    ) -> Result<(Self, i64), SnapshotError> {
        let head: SnapshotHead = serde_json::from_slice(record)?;
        if head.snapshot_version != SNAPSHOT_VERSION {
            return Err(SnapshotError::Version(head.snapshot_version));
        }
        if head.partition != partition {
            return Err(SnapshotError::Partition(head.partition));
        }
        let snapshot: Snapshot<Guild, User, DmChannel, UsernameClaim> =
            serde_json::from_slice(record)?;
        let SnapshotAggregates {
            guild,
            user,
            dm_channel,
            username_claim,
        } = snapshot.aggregates;
        let state = Self {
            guilds: Store::from_entries(guild, Arc::clone(index)),
            users: Store::from_entries(user, Arc::clone(index)),
            dm_channels: Store::from_entries(dm_channel, Arc::clone(index)),
            username_claims: Store::from_entries(username_claim, Arc::clone(index)),
            results: RecentResults::default(),
        };
        Ok((state, snapshot.events_next_offset))
    }

    /// Decides one command record whose `command_id` the caller already read (it
    /// needs it first, for the idempotency check). A record that does not decode
    /// is refused with Discord's invalid-JSON error.
    pub fn decide(&mut self, command_id: CommandId, record: &[u8]) -> Decision {
        let envelope: CommandEnvelope<serde_json::Value> = match serde_json::from_slice(record) {
            Ok(envelope) => envelope,
            Err(error) => return malformed(command_id, &error),
        };
        match envelope.target.kind {
            AggregateType::Guild => self.guilds.decide(envelope),
            AggregateType::User => self.users.decide(envelope),
            AggregateType::DmChannel => self.dm_channels.decide(envelope),
            AggregateType::UsernameClaim => self.username_claims.decide(envelope),
        }
    }
}

#[cfg(test)]
mod tests {
    use cloudcord_schemas::envelope::{
        Actor, AggregateRef, AggregateType, Authored, CommandEnvelope, CommandId,
    };
    use cloudcord_schemas::guild::{GuildCommand, ModifyGuild};
    use cloudcord_schemas::ids::{ChannelId, Snowflake, UserId};
    use cloudcord_schemas::message::UserSnapshot;

    use std::sync::Arc;

    use super::{PartitionState, SNAPSHOT_VERSION, SnapshotError};
    use crate::aggregates::message_index::IndexStore;

    fn index() -> Arc<IndexStore> {
        Arc::new(IndexStore::in_memory().expect("opens"))
    }

    const OWNER: UserId = UserId::new(7);

    fn record(guild: Snowflake, command: GuildCommand) -> Vec<u8> {
        serde_json::to_vec(&CommandEnvelope {
            command_id: CommandId::random(),
            target: AggregateRef {
                kind: AggregateType::Guild,
                id: guild,
            },
            body: Authored {
                actor: Actor::User(OWNER),
                at: time::OffsetDateTime::UNIX_EPOCH,
                command,
            },
        })
        .expect("serialize")
    }

    fn create(guild: Snowflake) -> Vec<u8> {
        record(
            guild,
            GuildCommand::CreateGuild {
                guild_id: guild.into(),
                name: "Snap".into(),
                owner: UserSnapshot {
                    id: OWNER,
                    username: "owner".into(),
                    global_name: None,
                    avatar: None,
                    bot: false,
                },
                text_channel_id: ChannelId::new(guild.get() + 1),
                voice_channel_id: ChannelId::new(guild.get() + 2),
                text_category_id: None,
                voice_category_id: None,
            },
        )
    }

    fn rename(guild: Snowflake, name: &str) -> Vec<u8> {
        record(
            guild,
            GuildCommand::ModifyGuild(ModifyGuild {
                name: Some(name.into()),
                ..Default::default()
            }),
        )
    }

    /// Decides `command`; returns the outcome and the event records' bytes.
    fn decide(state: &mut PartitionState, command: &[u8]) -> (bool, Vec<Vec<u8>>) {
        let command_id =
            serde_json::from_slice::<serde_json::Value>(command).expect("JSON")["command_id"]
                .as_str()
                .map(|id| serde_json::from_value(id.into()).expect("command id"))
                .expect("command_id");
        let decision = state.decide(command_id, command);
        (
            decision.accepted,
            decision.events.into_iter().map(|e| e.value).collect(),
        )
    }

    #[test]
    fn a_partition_state_round_trips_through_its_snapshot() {
        let mut state = PartitionState::new(&index());
        let guilds = [Snowflake::new(1_000), Snowflake::new(2_000)];
        for guild in guilds {
            assert!(decide(&mut state, &create(guild)).0);
            for i in 0..3 {
                assert!(decide(&mut state, &rename(guild, &format!("name {i}"))).0);
            }
        }
        let snapshot = state.snapshot(3, 42).expect("serializes");
        let value: serde_json::Value = serde_json::from_slice(&snapshot).expect("json");
        assert_eq!(value["snapshot_version"], SNAPSHOT_VERSION);
        assert_eq!(value["partition"], 3);
        assert_eq!(value["events_next_offset"], 42);
        assert_eq!(value["aggregates"]["guild"][0]["seq"], 4);

        let (mut restored, next) =
            PartitionState::from_snapshot(&snapshot, 3, &index()).expect("decodes");
        assert_eq!(next, 42);
        assert_eq!(
            restored.snapshot(3, 42).expect("serializes"),
            snapshot,
            "nothing lost or changed"
        );
        // The restored state decides exactly as the original: the same refusals and
        // the same next events, chained to the same history.
        assert_eq!(
            decide(&mut restored, &create(guilds[0])).0,
            decide(&mut state, &create(guilds[0])).0
        );
        assert!(
            !decide(&mut restored, &create(guilds[0])).0,
            "already exists"
        );
        let next_rename = rename(guilds[1], "after");
        assert_eq!(
            decide(&mut restored, &next_rename),
            decide(&mut state, &next_rename)
        );
    }

    #[test]
    fn a_snapshot_of_another_version_or_partition_is_not_used() {
        let state = PartitionState::new(&index());
        let mut value: serde_json::Value =
            serde_json::from_slice(&state.snapshot(1, 0).expect("serializes")).expect("json");
        assert!(matches!(
            PartitionState::from_snapshot(&serde_json::to_vec(&value).expect("json"), 2, &index()),
            Err(SnapshotError::Partition(1))
        ));
        value["snapshot_version"] = (SNAPSHOT_VERSION + 1).into();
        assert!(matches!(
            PartitionState::from_snapshot(&serde_json::to_vec(&value).expect("json"), 1, &index()),
            Err(SnapshotError::Version(_))
        ));
        assert!(matches!(
            PartitionState::from_snapshot(br#"{"snapshot_version":1,"partition":1}"#, 1, &index()),
            Err(SnapshotError::Undecodable(_))
        ));
    }
}
