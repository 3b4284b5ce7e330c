//! [`CommandBus`]: appends commands to the `commands` topic and waits for the
//! processor's answer on `command-results`.
//!
//! ```text
//! handler ─ execute ─► register waiter (CommandId) ─► produce CommandEnvelope (key = aggregate id)
//!                                        ▲
//! results watcher ── read_committed, all partitions, from the end at start-up ──┘ completes it
//! ```
//!
//! * The producer is idempotent (`KafkaConfig::producer_config`): a retried send never
//!   appends the command twice; the processor's idempotency window covers the rest
//!   (a client repeating its `Idempotency-Key`).
//! * The watcher is one consumer for the whole process, assigned every partition of
//!   the results topic at the offsets that were the end when it started (resolved
//!   before the first command can be sent, so no result is missed). It belongs to no
//!   group and commits nothing: nothing here needs to survive a restart, because a
//!   waiting HTTP request does not survive it either.
//! * Waits are bounded ([`BusSettings::result_timeout_ms`]); a waiter is removed when
//!   its request ends for any reason (answered, timed out, client gone).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cloudcord_runtime::http_error::HttpError;
use cloudcord_runtime::kafka::{KafkaConfig, retry_while_settling};
use cloudcord_runtime::telemetry::ErrorChain;
use cloudcord_schemas::envelope::{
    Actor, AggregateRef, Authored, CommandEnvelope, CommandId, CommandResult, Outcome,
};
use cloudcord_schemas::ephemeral::Ephemeral;
use futures::StreamExt;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::metrics::HttpMetrics;

/// How long a metadata or watermark request to the brokers may take at start-up.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// How long librdkafka may keep retrying one command append.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// The result a command was answered with, once it arrives.
pub type Answer = Outcome;

/// The requests waiting for one command's result: (slot, where to send it).
type Waiting = Vec<(u64, oneshot::Sender<Answer>)>;

/// Requests waiting for their command's result, by command id. A command id may
/// have several waiters: two requests repeating the same `Idempotency-Key` at once.
#[derive(Default)]
struct Waiters {
    next_slot: AtomicU64,
    by_command: Mutex<HashMap<CommandId, Waiting>>,
}

impl Waiters {
    fn lock(&self) -> MutexGuard<'_, HashMap<CommandId, Waiting>> {
        self.by_command
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn register(
        self: &Arc<Self>,
        command_id: &CommandId,
    ) -> (Registration, oneshot::Receiver<Answer>) {
        let (sender, receiver) = oneshot::channel();
        let slot = self.next_slot.fetch_add(1, Ordering::Relaxed);
        self.lock()
            .entry(command_id.clone())
            .or_default()
            .push((slot, sender));
        let registration = Registration {
            waiters: Arc::clone(self),
            command_id: command_id.clone(),
            slot,
        };
        (registration, receiver)
    }

    fn complete(&self, result: CommandResult) {
        let Some(waiting) = self.lock().remove(&result.command_id) else {
            return;
        };
        for (_, sender) in waiting {
            // A waiter that went away meanwhile does not care.
            let _ = sender.send(result.outcome.clone());
        }
    }

    fn len(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }
}

/// Removes its waiter when the request ends, whether answered or not.
struct Registration {
    waiters: Arc<Waiters>,
    command_id: CommandId,
    slot: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut map = self.waiters.lock();
        if let Some(list) = map.get_mut(&self.command_id) {
            list.retain(|(slot, _)| *slot != self.slot);
            if list.is_empty() {
                map.remove(&self.command_id);
            }
        }
    }
}

/// The `[command_api.http]` settings the bus reads.
#[derive(Debug, Clone, Copy)]
pub struct BusSettings {
    /// How long a request waits for its command's result before answering 503.
    pub result_timeout_ms: u64,
}

/// Appends commands and waits for their results; also publishes the ephemeral
/// records (typing) that are not commands. Cheap to clone.
#[derive(Clone)]
pub struct CommandBus {
    producer: FutureProducer,
    commands_topic: String,
    ephemeral_topic: String,
    waiters: Arc<Waiters>,
    result_timeout: Duration,
    metrics: HttpMetrics,
}

impl CommandBus {
    /// Connects the producer, positions the results watcher at the current end of
    /// every results partition and starts it; it runs until `shutdown`.
    pub async fn start(
        kafka: &KafkaConfig,
        settings: BusSettings,
        metrics: HttpMetrics,
        shutdown: CancellationToken,
    ) -> Result<Self, KafkaError> {
        let topics = kafka.topics();
        let producer: FutureProducer = kafka
            .producer_config(&format!("{}-commands", crate::NAME))
            .create()?;
        let consumer: StreamConsumer = kafka
            .read_committed_consumer_config(
                &format!("{}-results", crate::NAME),
                // Required by librdkafka, never joined: the watcher assigns partitions
                // itself and commits nothing.
                &format!("{}command-api-results-unused", kafka.topic_prefix),
            )
            .set("enable.auto.offset.store", "false")
            .set("fetch.wait.max.ms", "10")
            .create()?;
        let consumer = Arc::new(consumer);
        let assignment = {
            let consumer = Arc::clone(&consumer);
            let topic = topics.results.clone();
            tokio::task::spawn_blocking(move || {
                retry_while_settling(|| end_offsets(&consumer, &topic))
            })
            .await
            .map_err(|_| KafkaError::Canceled)??
        };
        consumer.assign(&assignment)?;
        let waiters = Arc::new(Waiters::default());
        tokio::spawn(watch_results(consumer, Arc::clone(&waiters), shutdown));
        Ok(Self {
            producer,
            commands_topic: topics.commands,
            ephemeral_topic: topics.ephemeral,
            waiters,
            result_timeout: Duration::from_millis(settings.result_timeout_ms),
            metrics,
        })
    }

    /// Publishes `record` to the `ephemeral` topic under `key` and waits for the
    /// broker's acknowledgement (no result: nothing decides on it).
    pub async fn announce(&self, key: &str, record: &Ephemeral) -> Result<(), HttpError> {
        let value = record.encode();
        self.producer
            .send(
                FutureRecord::to(&self.ephemeral_topic)
                    .key(key)
                    .payload(&value),
                self.result_timeout,
            )
            .await
            .map(|_| ())
            .map_err(|(error, _)| HttpError::internal("publishing an ephemeral record", error))
    }

    /// Appends `command` for `target` and waits for its result.
    pub async fn execute<C: Serialize>(
        &self,
        target: AggregateRef,
        command_id: CommandId,
        actor: Actor,
        command: C,
    ) -> Result<Answer, HttpError> {
        let command_id = command_id.on(&target);
        let envelope = CommandEnvelope {
            command_id: command_id.clone(),
            target,
            body: Authored {
                actor,
                at: time::OffsetDateTime::now_utc(),
                command,
            },
        };
        let payload = serde_json::to_vec(&envelope)
            .map_err(|error| HttpError::internal("serializing a command", error))?;
        let key = target.shard_key();
        // Registered before the append, so the result cannot overtake the waiter.
        let (_registration, answer) = self.waiters.register(&command_id);
        let started = std::time::Instant::now();
        let traceparent = super::TRACEPARENT.try_with(Clone::clone).ok();
        let mut record = FutureRecord::to(&self.commands_topic)
            .key(&key)
            .payload(&payload);
        if let Some(traceparent) = &traceparent {
            record = record.headers(OwnedHeaders::new().insert(Header {
                key: "traceparent",
                value: Some(traceparent.as_bytes()),
            }));
        }
        self.producer
            .send(record, Timeout::After(SEND_TIMEOUT))
            .await
            .map_err(|(error, _)| HttpError::internal("appending a command", error))?;
        match tokio::time::timeout(self.result_timeout, answer).await {
            Ok(Ok(outcome)) => {
                self.metrics
                    .result_wait
                    .observe(started.elapsed().as_secs_f64());
                Ok(outcome)
            }
            Ok(Err(_)) | Err(_) => {
                self.metrics.result_timeouts.inc();
                tracing::warn!(%command_id, "no result within the time limit");
                Err(HttpError::busy())
            }
        }
    }

    /// How many requests are waiting for a result (for tests and metrics).
    pub fn waiting(&self) -> usize {
        self.waiters.len()
    }
}

/// The response header carrying the aggregate's
/// [`Position`](cloudcord_schemas::envelope::Position) after a write: sent back
/// on a read, it makes the read wait until the read models reflect the write.
pub const POSITION_HEADER: &str = "x-cloudcord-position";

/// The HTTP answer for a command's outcome: its status and Discord object (with the
/// [`POSITION_HEADER`]), or its Discord error.
pub fn respond(outcome: Answer) -> Result<Response, HttpError> {
    match outcome {
        Outcome::Accepted {
            status,
            body,
            position,
        } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut response = match body {
                Some(body) if status != StatusCode::NO_CONTENT => {
                    (status, Json(body)).into_response()
                }
                _ => status.into_response(),
            };
            if let Some(value) = position.and_then(|p| HeaderValue::from_str(&p.to_string()).ok()) {
                response.headers_mut().insert(POSITION_HEADER, value);
            }
            Ok(response)
        }
        Outcome::Rejected { status, error } => Err(HttpError::Api {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            error,
        }),
    }
}

/// Every partition of `topic` at its current high watermark.
fn end_offsets(consumer: &StreamConsumer, topic: &str) -> Result<TopicPartitionList, KafkaError> {
    let metadata = consumer.fetch_metadata(Some(topic), METADATA_TIMEOUT)?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(KafkaError::MetadataFetch(
            rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition,
        ));
    }
    let mut assignment = TopicPartitionList::new();
    for partition in partitions {
        let (_, high) = consumer.fetch_watermarks(topic, partition, METADATA_TIMEOUT)?;
        assignment.add_partition_offset(topic, partition, Offset::Offset(high))?;
    }
    Ok(assignment)
}

async fn watch_results(
    consumer: Arc<StreamConsumer>,
    waiters: Arc<Waiters>,
    shutdown: CancellationToken,
) {
    let mut stream = consumer.stream();
    loop {
        let message = tokio::select! {
            () = shutdown.cancelled() => break,
            message = stream.next() => message,
        };
        match message {
            None => break,
            Some(Err(error)) => {
                tracing::warn!(error = %ErrorChain(&error), "results watcher: consumer error");
            }
            Some(Ok(message)) => {
                let Some(payload) = message.payload() else {
                    continue;
                };
                match serde_json::from_slice::<CommandResult>(payload) {
                    Ok(result) => waiters.complete(result),
                    Err(error) => tracing::warn!(
                        error = %ErrorChain(&error),
                        partition = message.partition(),
                        offset = message.offset(),
                        "results watcher: undecodable result"
                    ),
                }
            }
        }
    }
    tracing::debug!("results watcher stopped");
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use cloudcord_schemas::envelope::{CommandId, CommandResult, Outcome};

    use super::Waiters;

    #[tokio::test]
    async fn a_result_completes_every_waiter_of_its_command_and_leaves_nothing_behind() {
        let waiters = Arc::new(Waiters::default());
        let id = CommandId::random();
        let (first, a) = waiters.register(&id);
        let (second, b) = waiters.register(&id);
        let (other, _c) = waiters.register(&CommandId::random());
        assert_eq!(waiters.len(), 3);
        let outcome = Outcome::Accepted {
            status: 204,
            body: None,
            position: None,
        };
        waiters.complete(CommandResult {
            command_id: id,
            outcome: outcome.clone(),
        });
        assert_eq!(a.await.ok(), Some(outcome.clone()));
        assert_eq!(b.await.ok(), Some(outcome));
        drop((first, second));
        assert_eq!(waiters.len(), 1);
        drop(other);
        assert_eq!(waiters.len(), 0, "a dropped request removes its waiter");
    }
}
