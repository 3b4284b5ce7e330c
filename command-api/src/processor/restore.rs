//! Restoring a partition's state from the log: every committed event of the
//! same-numbered `events` partition, and the results of the idempotency window from
//! the `command-results` partition, read with `read_committed` up to the last stable
//! offset.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cloudcord_runtime::kafka::KafkaConfig;
use cloudcord_schemas::envelope::CommandId;
use cloudcord_schemas::topics::Topics;
use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message, Timestamp};
use rdkafka::{Offset, TopicPartitionList};

use super::state::{PartitionState, ResultRef, StateError};

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

/// Reports client errors like rdkafka's default context, except the end-of-partition
/// notices that restoring asks for.
struct RestoreContext;

impl ClientContext for RestoreContext {
    fn error(&self, error: KafkaError, reason: &str) {
        let end_of_partition = matches!(
            error,
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)
        );
        if !end_of_partition {
            tracing::error!(%error, reason, "restore consumer error");
        }
    }
}

impl ConsumerContext for RestoreContext {}

/// Reads partition `partition` of the events and results topics into a fresh state.
pub fn restore(
    kafka: &KafkaConfig,
    topics: &Topics,
    partition: i32,
    window: Duration,
    stop: &AtomicBool,
) -> Result<PartitionState, RestoreError> {
    let started = Instant::now();
    let consumer: BaseConsumer<RestoreContext> = kafka
        .read_committed_consumer_config(
            &format!("processor-restore-{partition}"),
            &format!("{}processor-restore", kafka.topic_prefix),
        )
        .set("enable.partition.eof", "true")
        // Reaching the end is the goal here: do not let the broker hold an empty
        // fetch open waiting for data (the default waits 500 ms per fetch).
        .set("fetch.wait.max.ms", "10")
        .create_with_context(RestoreContext)?;
    let mut state = PartitionState::default();

    let mut events = 0_u64;
    read_to_end(
        &consumer,
        &topics.events,
        partition,
        Offset::Beginning,
        stop,
        |message| {
            let Some(payload) = message.payload() else {
                return Ok(());
            };
            events += 1;
            state.replay(payload).map_err(|source| RestoreError::Log {
                offset: message.offset(),
                source,
            })
        },
    )?;
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
        events,
        results,
        events_ms = events_elapsed.as_millis(),
        elapsed_ms = started.elapsed().as_millis(),
        "partition state restored"
    );
    Ok(state)
}

/// Feeds every committed record of `topic`/`partition` from `start` up to the last
/// stable offset to `each`.
fn read_to_end(
    consumer: &BaseConsumer<RestoreContext>,
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
