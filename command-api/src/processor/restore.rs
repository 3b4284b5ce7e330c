//! Restoring a partition's state from the log: the latest snapshot of the
//! same-numbered `snapshots` partition, then every committed event of the `events`
//! partition after the offset it covers (all of them when there is no usable
//! snapshot), and the results of the idempotency window from the `command-results`
//! partition, each read with `read_committed` up to the last stable offset.
//!
//! A snapshot is an optimisation, never a source of truth: one that does not decode,
//! or whose events do not continue its histories, is ignored with a warning and the
//! whole events partition is replayed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cloudcord_runtime::kafka::{EndOfPartitionContext, KafkaConfig};
use cloudcord_runtime::telemetry::ErrorChain;
use cloudcord_schemas::envelope::CommandId;
use cloudcord_schemas::topics::Topics;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message, Timestamp};
use rdkafka::{Offset, TopicPartitionList};

use super::state::{PartitionState, ResultRef, StateError};

/// A restored partition.
pub struct Restored {
    /// The state, equal to the committed log.
    pub state: PartitionState,
    /// The first events offset after every committed event the state holds.
    pub events_next_offset: i64,
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
/// fresh state.
pub fn restore(
    kafka: &KafkaConfig,
    topics: &Topics,
    partition: i32,
    window: Duration,
    stop: &AtomicBool,
) -> Result<Restored, RestoreError> {
    let started = Instant::now();
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
    let snapshot = latest_snapshot(&consumer, topics, partition, stop)?;
    let from_snapshot = snapshot.as_ref().map(|(_, next)| *next);
    let (mut state, events_next_offset, events) = match snapshot {
        Some((state, next)) => {
            match replay_events(&consumer, topics, partition, state, next, stop) {
                Ok(replayed) => replayed,
                Err(RestoreError::Log { offset, source }) => {
                    tracing::warn!(
                        offset,
                        error = %ErrorChain(&source),
                        snapshot_offset = next,
                        "the events do not continue the snapshot; replaying the whole partition"
                    );
                    replay_events(
                        &consumer,
                        topics,
                        partition,
                        PartitionState::default(),
                        0,
                        stop,
                    )?
                }
                Err(other) => return Err(other),
            }
        }
        None => replay_events(
            &consumer,
            topics,
            partition,
            PartitionState::default(),
            0,
            stop,
        )?,
    };
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
            Ok(())
        },
    )?;

    tracing::info!(
        partition,
        ?from_snapshot,
        events,
        events_next_offset,
        results,
        events_ms = events_elapsed.as_millis(),
        elapsed_ms = started.elapsed().as_millis(),
        "partition state restored"
    );
    Ok(Restored {
        state,
        events_next_offset,
        replayed: events,
    })
}

/// The latest snapshot of `partition` that decodes, with the events offset it
/// covers; `None` (full replay) when there is none or it is unusable.
fn latest_snapshot(
    consumer: &BaseConsumer<EndOfPartitionContext>,
    topics: &Topics,
    partition: i32,
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
            Ok(())
        },
    )?;
    let Some((offset, record)) = latest else {
        return Ok(None);
    };
    match PartitionState::from_snapshot(&record, partition) {
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

/// Replays the committed events of `partition` from `from` onto `state`; returns it
/// with the offset after the last event replayed (or `from`) and how many it replayed.
fn replay_events(
    consumer: &BaseConsumer<EndOfPartitionContext>,
    topics: &Topics,
    partition: i32,
    mut state: PartitionState,
    from: i64,
    stop: &AtomicBool,
) -> Result<(PartitionState, i64, u64), RestoreError> {
    let mut events = 0_u64;
    let mut next = from;
    let start = if from > 0 {
        Offset::Offset(from)
    } else {
        Offset::Beginning
    };
    read_to_end(
        consumer,
        &topics.events,
        partition,
        start,
        stop,
        |message| {
            let Some(payload) = message.payload() else {
                return Ok(());
            };
            events += 1;
            next = message.offset() + 1;
            state.replay(payload).map_err(|source| RestoreError::Log {
                offset: message.offset(),
                source,
            })
        },
    )?;
    Ok((state, next, events))
}

/// Feeds every committed record of `topic`/`partition` from `start` up to the last
/// stable offset to `each`.
fn read_to_end(
    consumer: &BaseConsumer<EndOfPartitionContext>,
    topic: &str,
    partition: i32,
    start: Offset,
    stop: &AtomicBool,
    mut each: impl FnMut(&BorrowedMessage<'_>) -> Result<(), RestoreError>,
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
            Some(Ok(message)) => each(&message)?,
        }
    }
}
