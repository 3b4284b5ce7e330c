//! Restoring a partition's state from the log: the latest snapshot of the
//! same-numbered `snapshots` partition, then every committed event of the `events`
//! partition after the offset it covers (all of them when there is no usable
//! snapshot), and the results of the idempotency window from the `command-results`
//! partition, each read with `read_committed` up to the last stable offset.
//!
//! A snapshot is an optimisation, never a source of truth: one that does not decode,
//! or whose events do not continue its histories, is ignored with a warning and the
//! whole events partition is replayed.
//!
//! The message index is on disk and outside snapshots, so it has its own position.
//! It is trusted only if the record just before its position is the one it says it
//! saw (otherwise it was built from another log, and is emptied). Events it lacks but
//! the snapshot covers are applied to the index alone; from the snapshot on, events
//! are applied to both (re-applying what the index already holds is harmless, see
//! [`message_index`](crate::aggregates::message_index)). Once restored, the index is
//! committed at the restored position.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cloudcord_runtime::kafka::{EndOfPartitionContext, KafkaConfig};
use cloudcord_runtime::telemetry::ErrorChain;
use cloudcord_schemas::envelope::{CommandId, EventHash};
use cloudcord_schemas::topics::Topics;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message, Timestamp};
use rdkafka::{Offset, TopicPartitionList};

use super::state::{PartitionState, ResultRef, StateError};
use crate::aggregates::message_index::{IndexError, IndexPosition, IndexStore};

/// A restored partition.
pub struct Restored {
    /// The state, equal to the committed log.
    pub state: PartitionState,
    /// Where the state (and the committed message index) stands in the events log.
    pub position: IndexPosition,
    /// Events replayed on top of the snapshot (all of them without one).
    pub replayed: u64,
}

/// Why a partition could not be restored.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// Kafka refused or failed a request.
    #[error("reading the log failed")]
    Kafka(#[from] KafkaError),
    /// The event log is inconsistent at `offset`.
    #[error("event at offset {offset} cannot be replayed")]
    Log {
        /// Where in the events partition.
        offset: i64,
        /// What is wrong.
        source: StateError,
    },
    /// The message index could not be read or written.
    #[error("restoring the message index failed")]
    Index(#[from] IndexError),
    /// The worker was told to stop while restoring.
    #[error("stopped while restoring")]
    Stopped,
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// Reads partition `partition` of the snapshots, events and results topics into a
/// fresh state whose aggregates keep their messages in `index`.
pub fn restore(
    kafka: &KafkaConfig,
    topics: &Topics,
    partition: i32,
    window: Duration,
    index: &Arc<IndexStore>,
    stop: &AtomicBool,
) -> Result<Restored, RestoreError> {
    let started = Instant::now();
    // Whatever an aborted transaction wrote is not in the log.
    index.abort();
    let consumer: BaseConsumer<EndOfPartitionContext> = kafka
        .read_committed_consumer_config(
            &format!("processor-restore-{partition}"),
            &format!("{}processor-restore", kafka.topic_prefix),
        )
        .set("enable.partition.eof", "true")
        // Reaching the end is the goal here: do not let the broker hold an empty
        // fetch open waiting for data (the default waits 500 ms per fetch).
        .set("fetch.wait.max.ms", "10")
        .create_with_context(EndOfPartitionContext)?;
    let log = Log {
        consumer: &consumer,
        topic: &topics.events,
        partition,
        stop,
    };
    let indexed = trusted_index_position(&log, index)?;
    let snapshot = latest_snapshot(&consumer, topics, partition, index, stop)?;
    let from_snapshot = snapshot.as_ref().map(|(_, next)| *next);
    let (mut state, replay) = match snapshot {
        Some((state, covered)) => match replay_events(&log, state, covered, indexed.clone()) {
            Ok(replayed) => replayed,
            Err(RestoreError::Log { offset, source }) => {
                tracing::warn!(
                    offset,
                    error = %ErrorChain(&source),
                    snapshot_offset = covered,
                    "the events do not continue the snapshot; replaying the whole partition"
                );
                replay_events(&log, PartitionState::new(index), 0, indexed)?
            }
            Err(other) => return Err(other),
        },
        None => replay_events(&log, PartitionState::new(index), 0, indexed)?,
    };
    index.commit(&replay.position, true)?;
    let (position, events) = (replay.position, replay.events);
    let events_elapsed = started.elapsed();

    let window_start = now_ms() - i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
    let mut by_time = TopicPartitionList::new();
    by_time.add_partition_offset(&topics.results, partition, Offset::Offset(window_start))?;
    let results_start = consumer
        .offsets_for_times(by_time, Duration::from_secs(30))?
        .find_partition(&topics.results, partition)
        .map_or(Offset::Beginning, |element| element.offset());
    let mut results = 0_u64;
    read_to_end(
        &consumer,
        &topics.results,
        partition,
        results_start,
        stop,
        |message| {
            let key = message.key().and_then(|k| std::str::from_utf8(k).ok());
            let command_id = key.and_then(|k| serde_json::from_value::<CommandId>(k.into()).ok());
            if let Some(command_id) = command_id {
                let at = match message.timestamp() {
                    Timestamp::CreateTime(ms) | Timestamp::LogAppendTime(ms) => ms,
                    Timestamp::NotAvailable => now_ms(),
                };
                state
                    .results
                    .remember(command_id, at, ResultRef::Offset(message.offset()));
                results += 1;
            }
            Ok(ControlFlow::Continue(()))
        },
    )?;

    tracing::info!(
        partition,
        ?from_snapshot,
        events,
        events_next_offset = position.events_next_offset,
        results,
        events_ms = events_elapsed.as_millis(),
        elapsed_ms = started.elapsed().as_millis(),
        "partition state restored"
    );
    Ok(Restored {
        state,
        position,
        replayed: events,
    })
}

/// The latest snapshot of `partition` that decodes, with the events offset it
/// covers; `None` (full replay) when there is none or it is unusable.
fn latest_snapshot(
    consumer: &BaseConsumer<EndOfPartitionContext>,
    topics: &Topics,
    partition: i32,
    index: &Arc<IndexStore>,
    stop: &AtomicBool,
) -> Result<Option<(PartitionState, i64)>, RestoreError> {
    let key = partition.to_string();
    let mut latest: Option<(i64, Vec<u8>)> = None;
    read_to_end(
        consumer,
        &topics.snapshots,
        partition,
        Offset::Beginning,
        stop,
        |message| {
            if message.key() == Some(key.as_bytes())
                && let Some(payload) = message.payload()
            {
                latest = Some((message.offset(), payload.to_vec()));
            }
            Ok(ControlFlow::Continue(()))
        },
    )?;
    let Some((offset, record)) = latest else {
        return Ok(None);
    };
    match PartitionState::from_snapshot(&record, partition, index) {
        Ok(restored) => Ok(Some(restored)),
        Err(error) => {
            tracing::warn!(
                offset,
                error = %ErrorChain(&error),
                "the latest snapshot is unusable; replaying the whole partition"
            );
            Ok(None)
        }
    }
}

/// One partition of the events topic, read through the restore consumer.
struct Log<'a> {
    consumer: &'a BaseConsumer<EndOfPartitionContext>,
    topic: &'a str,
    partition: i32,
    stop: &'a AtomicBool,
}

impl Log<'_> {
    fn read(
        &self,
        from: i64,
        each: impl FnMut(&BorrowedMessage<'_>) -> Result<ControlFlow<()>, RestoreError>,
    ) -> Result<(), RestoreError> {
        let start = if from > 0 {
            Offset::Offset(from)
        } else {
            Offset::Beginning
        };
        read_to_end(
            self.consumer,
            self.topic,
            self.partition,
            start,
            self.stop,
            each,
        )
    }
}

/// The index's position if the log confirms it: the record before it must be the
/// one whose hash the index recorded. Otherwise the index is emptied.
fn trusted_index_position(
    log: &Log<'_>,
    index: &IndexStore,
) -> Result<IndexPosition, RestoreError> {
    let empty = IndexPosition {
        events_next_offset: 0,
        last_event: None,
    };
    let Some(position) = index.position()? else {
        return Ok(empty);
    };
    if position.events_next_offset == 0 {
        return Ok(empty);
    }
    let expected = position.events_next_offset - 1;
    let mut found = None;
    log.read(expected, |message| {
        found = Some((
            message.offset(),
            message.payload().map(EventHash::of_record),
        ));
        Ok(ControlFlow::Break(()))
    })?;
    if found == Some((expected, position.last_event.clone())) {
        return Ok(position);
    }
    tracing::warn!(
        index_offset = position.events_next_offset,
        "the message index was not built from this log; rebuilding it"
    );
    index.clear()?;
    Ok(empty)
}

/// What a replay ended with.
struct Replay {
    /// The position after the last event read (or the index's, if none was).
    position: IndexPosition,
    /// Events applied to the aggregates.
    events: u64,
}

/// Replays the committed events of the partition onto `state` from `covered` (the
/// first offset it lacks), and onto the message index from where `indexed` says it
/// stops, whichever comes first.
fn replay_events(
    log: &Log<'_>,
    mut state: PartitionState,
    covered: i64,
    indexed: IndexPosition,
) -> Result<(PartitionState, Replay), RestoreError> {
    let mut events = 0_u64;
    let mut last: Option<(i64, Vec<u8>)> = None;
    let from = covered.min(indexed.events_next_offset);
    log.read(from, |message| {
        let Some(payload) = message.payload() else {
            return Ok(ControlFlow::Continue(()));
        };
        let offset = message.offset();
        let replayed = if offset < covered {
            state.replay_index(payload)
        } else {
            events += 1;
            state.replay(payload)
        };
        replayed.map_err(|source| RestoreError::Log { offset, source })?;
        // Only the last record's hash is needed; keep its bytes, hash once at the end.
        let (last_offset, bytes) = last.get_or_insert_with(|| (offset, Vec::new()));
        *last_offset = offset;
        bytes.clear();
        bytes.extend_from_slice(payload);
        Ok(ControlFlow::Continue(()))
    })?;
    let position = match last {
        Some((offset, bytes)) => IndexPosition {
            events_next_offset: offset + 1,
            last_event: Some(EventHash::of_record(&bytes)),
        },
        None if indexed.events_next_offset >= covered => indexed,
        None => IndexPosition {
            events_next_offset: covered,
            last_event: None,
        },
    };
    Ok((state, Replay { position, events }))
}

/// Feeds every committed record of `topic`/`partition` from `start` up to the last
/// stable offset to `each`, or until it breaks.
fn read_to_end(
    consumer: &BaseConsumer<EndOfPartitionContext>,
    topic: &str,
    partition: i32,
    start: Offset,
    stop: &AtomicBool,
    mut each: impl FnMut(&BorrowedMessage<'_>) -> Result<ControlFlow<()>, RestoreError>,
) -> Result<(), RestoreError> {
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, partition, start)?;
    consumer.assign(&assignment)?;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Err(RestoreError::Stopped);
        }
        match consumer.poll(Duration::from_millis(500)) {
            None => {}
            // With read_committed, the end is the last stable offset.
            Some(Err(KafkaError::PartitionEOF(_))) => return Ok(()),
            Some(Err(error)) => return Err(error.into()),
            Some(Ok(message)) if each(&message)?.is_break() => return Ok(()),
            Some(Ok(_)) => {}
        }
    }
}
