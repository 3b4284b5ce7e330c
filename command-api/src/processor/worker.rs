//! One partition's worker: a dedicated thread (librdkafka's transactional calls
//! block) that owns the partition's transactional producer and decision state.
//!
//! The loop, per batch of commands read from the partition's own queue:
//! `begin_transaction` → decide each command, producing its events to the same
//! partition of `events` and its result to the same partition of
//! `command-results` → `send_offsets_to_transaction` → `commit_transaction`.
//! A repeated command id re-sends the original result and appends nothing.
//!
//! Once at least `snapshot_every_events` events were committed since the last
//! snapshot, the next transaction starts with a snapshot of the state to the same
//! partition of `snapshots`. Between transactions the state equals the committed
//! log, and the worker knows the offset after its last committed event from the
//! delivery reports, so the snapshot says exactly which events it covers; writing it
//! in the transaction makes it visible only together with the batch that follows.
//!
//! The partition's message index (on disk, see
//! [`message_index`](crate::aggregates::message_index)) is committed right after each
//! Kafka commit and aborted with each Kafka abort, so it never runs ahead of the log.
//!
//! Failure handling follows librdkafka's transactional contract: an abortable error
//! aborts the transaction, throws the in-memory state away, restores it from the log
//! and rewinds the partition to the first uncommitted command; a fatal error (we
//! were fenced by a newer owner of the partition's `transactional.id`) stops the
//! processor, because only a rebalance may decide who owns the partition now.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cloudcord_runtime::kafka::KafkaConfig;
use cloudcord_runtime::telemetry::ErrorChain;
use cloudcord_schemas::envelope::{CommandId, EventHash};
use cloudcord_schemas::topics::{MAX_SNAPSHOT_BYTES, Topics};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::metrics::ProcessorMetrics;
use super::restore::{RestoreError, Restored, now_ms, restore};
use super::state::{Decision, EventRecord, PartitionState, ResultRef};
use crate::aggregates::message_index::{IndexError, IndexPosition, IndexStore};

/// Most commands decided in one transaction.
const MAX_BATCH: usize = 500;
/// How long a blocking Kafka call may take before it is retried or fails.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// What every worker of a processor shares.
pub struct WorkerSetup {
    /// Where the brokers are.
    pub kafka: KafkaConfig,
    /// The topic names.
    pub topics: Topics,
    /// Counters.
    pub metrics: ProcessorMetrics,
    /// Cancelled when a worker fails beyond recovery.
    pub fatal: CancellationToken,
    /// How long command results stay idempotent.
    pub idempotency_window: Duration,
    /// Committed events between snapshots of a partition (0: never snapshot).
    pub snapshot_every_events: u64,
    /// Where the partitions' message indexes live.
    pub state_dir: PathBuf,
}

/// How often the message index is committed durably; in between, a crash may lose
/// index commits (never log ones), which the next restore replays.
const DURABLE_INDEX_EVERY: Duration = Duration::from_secs(1);

/// Where the committed log stands, as far as snapshots and the index are concerned.
struct LogPosition {
    /// The offset after the last committed event and that event's hash.
    index: IndexPosition,
    /// Events committed (or replayed) since the last snapshot.
    since_snapshot: u64,
    /// When the index was last committed durably.
    durable_at: Instant,
}

/// Why a worker stopped serving its partition.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The state could not be restored.
    #[error("restoring the partition failed")]
    Restore(#[from] RestoreError),
    /// The producer is fenced or otherwise unusable.
    #[error("the transactional producer failed fatally (fenced by a newer owner?)")]
    Fatal(#[source] KafkaError),
    /// Kafka failed outside a transaction.
    #[error("a Kafka call failed")]
    Kafka(#[from] KafkaError),
    /// The message index failed.
    #[error("the partition's message index failed")]
    Index(#[from] IndexError),
    /// The transaction was aborted; resume from this commands offset.
    #[error("transaction aborted")]
    Aborted {
        /// The first command not committed.
        resume_at: i64,
    },
}

/// A running worker.
pub struct WorkerHandle {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl WorkerHandle {
    /// Asks the worker to stop after its current transaction.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Waits until the worker has stopped.
    pub fn join(self) {
        self.stop();
        if self.thread.join().is_err() {
            tracing::error!("a partition worker panicked");
        }
    }
}

/// Starts the worker of `partition`, reading commands from `queue`.
pub fn spawn<C: ConsumerContext + 'static>(
    setup: Arc<WorkerSetup>,
    consumer: Arc<BaseConsumer<C>>,
    queue: rdkafka::consumer::base_consumer::PartitionQueue<C>,
    partition: i32,
) -> std::io::Result<WorkerHandle> {
    let stop = Arc::new(AtomicBool::new(false));
    let worker = Worker {
        setup,
        consumer,
        queue,
        partition,
        stop: Arc::clone(&stop),
    };
    let thread = std::thread::Builder::new()
        .name(format!("processor-{partition}"))
        .spawn(move || worker.run())?;
    Ok(WorkerHandle { stop, thread })
}

/// What the open transaction's delivery reports said.
#[derive(Default)]
struct Delivered {
    /// Result records by command id, so committed results are remembered by offset
    /// instead of by their bytes.
    results: Vec<(String, i64)>,
    /// Event records delivered.
    events: u64,
    /// The highest offset of a delivered event record.
    last_event_offset: Option<i64>,
}

/// Collects the delivery reports of the transaction's result and event records.
struct ResultDeliveries {
    results_topic: String,
    events_topic: String,
    delivered: Mutex<Delivered>,
}

impl ClientContext for ResultDeliveries {}

impl ProducerContext for ResultDeliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, (): ()) {
        let Ok(message) = result else {
            return;
        };
        if message.topic() == self.results_topic
            && let Some(key) = message.key().and_then(|k| std::str::from_utf8(k).ok())
        {
            self.lock().results.push((key.to_owned(), message.offset()));
        } else if message.topic() == self.events_topic {
            let mut delivered = self.lock();
            delivered.events += 1;
            delivered.last_event_offset = delivered.last_event_offset.max(Some(message.offset()));
        }
    }
}

impl ResultDeliveries {
    fn lock(&self) -> std::sync::MutexGuard<'_, Delivered> {
        self.delivered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn take(&self) -> Delivered {
        std::mem::take(
            &mut *self
                .delivered
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }
}

type TxnProducer = ThreadedProducer<ResultDeliveries>;

struct Worker<C: ConsumerContext + 'static> {
    setup: Arc<WorkerSetup>,
    consumer: Arc<BaseConsumer<C>>,
    queue: rdkafka::consumer::base_consumer::PartitionQueue<C>,
    partition: i32,
    stop: Arc<AtomicBool>,
}

#[derive(Deserialize)]
struct CommandIdOnly {
    command_id: CommandId,
}

impl<C: ConsumerContext + 'static> Worker<C> {
    fn run(self) {
        let span = tracing::info_span!("partition", partition = self.partition);
        let _entered = span.enter();
        self.setup.metrics.partitions.inc();
        match self.serve() {
            Ok(()) | Err(WorkerError::Restore(RestoreError::Stopped)) => {
                tracing::info!("partition worker stopped");
            }
            Err(error) => {
                tracing::error!(
                    error = %ErrorChain(&error),
                    "partition worker failed; stopping the processor so the group can rebalance"
                );
                self.setup.fatal.cancel();
            }
        }
        self.setup.metrics.partitions.dec();
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn serve(&self) -> Result<(), WorkerError> {
        let producer = self.init_producer()?;
        let index = Arc::new(IndexStore::open(&self.setup.state_dir.join(format!(
            "{}events-{}.redb",
            self.setup.kafka.topic_prefix, self.partition
        )))?);
        loop {
            let Restored {
                mut state,
                position,
                replayed,
            } = restore(
                &self.setup.kafka,
                &self.setup.topics,
                self.partition,
                self.setup.idempotency_window,
                &index,
                &self.stop,
            )?;
            self.setup.metrics.restore_events.inc_by(replayed);
            // Anything delivered before an abort is not in the restored state.
            let _ = producer.context().take();
            let mut position = LogPosition {
                index: position,
                since_snapshot: replayed,
                durable_at: Instant::now(),
            };
            match self.process(&producer, &index, &mut state, &mut position) {
                Err(WorkerError::Aborted { resume_at }) => {
                    tracing::warn!(resume_at, "transaction aborted; restoring and rewinding");
                    self.consumer.seek(
                        &self.setup.topics.commands,
                        self.partition,
                        Offset::Offset(resume_at),
                        CALL_TIMEOUT,
                    )?;
                }
                other => return other,
            }
        }
    }

    /// Creates the partition's transactional producer; `init_transactions` fences
    /// any previous owner and aborts its open transaction.
    fn init_producer(&self) -> Result<TxnProducer, WorkerError> {
        let transactional_id = format!(
            "{}processor-{}",
            self.setup.kafka.topic_prefix, self.partition
        );
        let producer: TxnProducer = self
            .setup
            .kafka
            .transactional_producer_config(&transactional_id, &transactional_id)
            .set("transaction.timeout.ms", "30000")
            // Room for a snapshot record (the snapshots topic accepts as much).
            .set(
                "message.max.bytes",
                (MAX_SNAPSHOT_BYTES + 1_048_576).to_string(),
            )
            .create_with_context(ResultDeliveries {
                results_topic: self.setup.topics.results.clone(),
                events_topic: self.setup.topics.events.clone(),
                delivered: Mutex::new(Delivered::default()),
            })?;
        loop {
            match producer.init_transactions(CALL_TIMEOUT) {
                Ok(()) => return Ok(producer),
                Err(KafkaError::Transaction(error)) if error.is_retriable() && !self.stopped() => {
                    tracing::warn!(%error, "init_transactions will be retried");
                }
                Err(error) => return Err(WorkerError::Fatal(error)),
            }
        }
    }

    fn process(
        &self,
        producer: &TxnProducer,
        index: &IndexStore,
        state: &mut PartitionState,
        position: &mut LogPosition,
    ) -> Result<(), WorkerError> {
        while !self.stopped() {
            let batch = self.next_batch();
            if batch.is_empty() {
                let window =
                    i64::try_from(self.setup.idempotency_window.as_millis()).unwrap_or(i64::MAX);
                state.results.expire(now_ms() - window);
                continue;
            }
            self.transact(producer, index, state, position, &batch)?;
        }
        Ok(())
    }

    /// Up to [`MAX_BATCH`] commands: waits briefly for the first, then takes what is
    /// already buffered.
    fn next_batch(&self) -> Vec<OwnedMessage> {
        let mut batch = Vec::new();
        let mut timeout = Duration::from_millis(100);
        while batch.len() < MAX_BATCH {
            match self.queue.poll(timeout) {
                Some(Ok(message)) => batch.push(message.detach()),
                Some(Err(error)) => tracing::warn!(%error, "reading commands failed"),
                None => break,
            }
            timeout = Duration::ZERO;
        }
        batch
    }

    fn transact(
        &self,
        producer: &TxnProducer,
        index: &IndexStore,
        state: &mut PartitionState,
        position: &mut LogPosition,
        batch: &[OwnedMessage],
    ) -> Result<(), WorkerError> {
        let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
            return Ok(());
        };
        let resume_at = first.offset();
        // Taken before the batch touches the state, which then equals the log up to
        // `events_next_offset`.
        let snapshot = self.due_snapshot(state, position);
        let started = std::time::Instant::now();
        let outcome = producer
            .begin_transaction()
            .and_then(|()| match &snapshot {
                Some(record) => self.send_snapshot(producer, record),
                None => Ok(()),
            })
            .and_then(|()| self.decide_batch(producer, state, batch));
        // Nothing decided after a failed index read may be committed.
        let index_failure = index.take_failure();
        let outcome = match (outcome, index_failure) {
            (Ok(last_event), None) => self
                .commit(producer, last.offset() + 1)
                .map(|()| last_event),
            (Err(error), _) => Err(error),
            (Ok(_), Some(failure)) => {
                self.abort(producer)?;
                index.abort();
                return Err(failure.into());
            }
        };
        let delivered = producer.context().take();
        match outcome {
            Ok(last_event) => {
                if snapshot.is_some() {
                    position.since_snapshot = 0;
                    self.setup.metrics.snapshots.inc();
                    tracing::info!(
                        events_next_offset = position.index.events_next_offset,
                        "partition snapshot committed"
                    );
                }
                position.since_snapshot += delivered.events;
                if let (Some(offset), Some(hash)) = (delivered.last_event_offset, last_event) {
                    position.index = IndexPosition {
                        events_next_offset: offset + 1,
                        last_event: Some(hash),
                    };
                }
                let durable =
                    snapshot.is_some() || position.durable_at.elapsed() >= DURABLE_INDEX_EVERY;
                index.commit(&position.index, durable)?;
                if durable {
                    position.durable_at = Instant::now();
                }
                for (key, offset) in delivered.results {
                    if let Ok(command_id) = serde_json::from_value::<CommandId>(key.into()) {
                        state
                            .results
                            .remember(command_id, now_ms(), ResultRef::Offset(offset));
                    }
                }
                let metrics = &self.setup.metrics;
                metrics
                    .transactions
                    .get_or_create(&super::metrics::TransactionLabel {
                        result: "committed",
                    })
                    .inc();
                metrics
                    .transaction_duration
                    .observe(started.elapsed().as_secs_f64());
                metrics
                    .batch_size
                    .observe(f64::from(u32::try_from(batch.len()).unwrap_or(u32::MAX)));
                Ok(())
            }
            Err(KafkaError::Transaction(error)) if error.is_fatal() => {
                Err(WorkerError::Fatal(KafkaError::Transaction(error)))
            }
            Err(error) => {
                tracing::warn!(error = %ErrorChain(&error), "aborting the transaction");
                self.abort(producer)?;
                index.abort();
                self.setup
                    .metrics
                    .transactions
                    .get_or_create(&super::metrics::TransactionLabel { result: "aborted" })
                    .inc();
                Err(WorkerError::Aborted { resume_at })
            }
        }
    }

    fn abort(&self, producer: &TxnProducer) -> Result<(), WorkerError> {
        loop {
            match producer.abort_transaction(CALL_TIMEOUT) {
                Ok(()) => return Ok(()),
                Err(KafkaError::Transaction(e)) if e.is_retriable() => {}
                Err(fatal) => return Err(WorkerError::Fatal(fatal)),
            }
        }
    }

    /// Decides and sends every command of `batch`; returns the hash of the last event
    /// sent, if any.
    fn decide_batch(
        &self,
        producer: &TxnProducer,
        state: &mut PartitionState,
        batch: &[OwnedMessage],
    ) -> Result<Option<EventHash>, KafkaError> {
        let metrics = &self.setup.metrics;
        let mut last_event = None;
        for message in batch {
            let traceparent = header(message, "traceparent");
            let Some(payload) = message.payload() else {
                metrics.command("malformed");
                continue;
            };
            let Ok(CommandIdOnly { command_id }) = serde_json::from_slice(payload) else {
                tracing::warn!(
                    offset = message.offset(),
                    "command without a command_id skipped"
                );
                metrics.command("malformed");
                continue;
            };
            if let Some(known) = state.results.get(&command_id).cloned() {
                let original = match known {
                    ResultRef::Pending(bytes) => bytes,
                    ResultRef::Offset(offset) => Arc::new(self.committed_result(offset)?),
                };
                self.send_result(producer, &command_id, &original, traceparent)?;
                metrics.command("duplicate");
                continue;
            }
            let Decision {
                events,
                result,
                accepted,
            } = state.decide(command_id.clone(), payload);
            for event in &events {
                self.send_event(producer, event, traceparent)?;
            }
            if let Some(event) = events.last() {
                last_event = Some(event.hash.clone());
            }
            let result = Arc::new(result);
            self.send_result(producer, &command_id, &result, traceparent)?;
            state
                .results
                .remember(command_id, now_ms(), ResultRef::Pending(result));
            metrics.command(if accepted { "accepted" } else { "rejected" });
            metrics.events.inc_by(events.len() as u64);
        }
        Ok(last_event)
    }

    fn commit(&self, producer: &TxnProducer, next_offset: i64) -> Result<(), KafkaError> {
        let mut offsets = TopicPartitionList::new();
        offsets.add_partition_offset(
            &self.setup.topics.commands,
            self.partition,
            Offset::Offset(next_offset),
        )?;
        // No group metadata means we are not (or no longer) a group member: abort.
        let group = self
            .consumer
            .group_metadata()
            .ok_or(KafkaError::ConsumerCommit(
                RDKafkaErrorCode::UnknownMemberId,
            ))?;
        producer.send_offsets_to_transaction(&offsets, &group, CALL_TIMEOUT)?;
        wait_for_deliveries(producer);
        loop {
            match producer.commit_transaction(CALL_TIMEOUT) {
                Ok(()) => return Ok(()),
                // The commit first flushes; a slow flush leaves the transaction open.
                Err(KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut)) => {}
                Err(KafkaError::Transaction(error)) if error.is_retriable() => {}
                Err(error) => return Err(error),
            }
        }
    }

    fn send_event(
        &self,
        producer: &TxnProducer,
        event: &EventRecord,
        traceparent: Option<&[u8]>,
    ) -> Result<(), KafkaError> {
        let mut headers = OwnedHeaders::new_with_capacity(7)
            .insert(header_of("ce_specversion", b"1.0"))
            .insert(header_of("ce_id", event.event_id.as_bytes()))
            .insert(header_of("ce_type", event.ce_type.as_bytes()))
            .insert(header_of("ce_source", event.ce_source.as_bytes()))
            .insert(header_of("ce_time", event.ce_time.as_bytes()))
            .insert(header_of("content-type", b"application/json"));
        if let Some(traceparent) = traceparent {
            headers = headers.insert(header_of("traceparent", traceparent));
        }
        send(
            producer,
            BaseRecord::to(&self.setup.topics.events)
                .partition(self.partition)
                .key(event.key.as_str())
                .payload(event.value.as_slice())
                .headers(headers),
        )
    }

    /// The snapshot record to write at the start of the next transaction, if one is
    /// due. One that cannot be written (too large, unserializable) is skipped with a
    /// warning until as many events again have been committed: failing the
    /// transaction for it would stop the partition.
    fn due_snapshot(&self, state: &PartitionState, position: &mut LogPosition) -> Option<Vec<u8>> {
        let every = self.setup.snapshot_every_events;
        if every == 0 || position.since_snapshot < every {
            return None;
        }
        match state.snapshot(self.partition, position.index.events_next_offset) {
            Ok(record) if record.len() <= MAX_SNAPSHOT_BYTES => Some(record),
            Ok(record) => {
                tracing::warn!(
                    bytes = record.len(),
                    limit = MAX_SNAPSHOT_BYTES,
                    "the partition's snapshot is too large; skipping it"
                );
                position.since_snapshot = 0;
                None
            }
            Err(error) => {
                tracing::warn!(
                    error = %ErrorChain(&error),
                    "the partition's state does not serialize; skipping its snapshot"
                );
                position.since_snapshot = 0;
                None
            }
        }
    }

    fn send_snapshot(&self, producer: &TxnProducer, record: &[u8]) -> Result<(), KafkaError> {
        let key = self.partition.to_string();
        send(
            producer,
            BaseRecord::to(&self.setup.topics.snapshots)
                .partition(self.partition)
                .key(key.as_str())
                .payload(record)
                .headers(
                    OwnedHeaders::new().insert(header_of("content-type", b"application/json")),
                ),
        )
    }

    fn send_result(
        &self,
        producer: &TxnProducer,
        command_id: &CommandId,
        result: &[u8],
        traceparent: Option<&[u8]>,
    ) -> Result<(), KafkaError> {
        let mut headers =
            OwnedHeaders::new().insert(header_of("content-type", b"application/json"));
        if let Some(traceparent) = traceparent {
            headers = headers.insert(header_of("traceparent", traceparent));
        }
        send(
            producer,
            BaseRecord::to(&self.setup.topics.results)
                .partition(self.partition)
                .key(command_id.as_str())
                .payload(result)
                .headers(headers),
        )
    }

    /// Reads back a committed result (a command repeated after its transaction
    /// committed, possibly before a failover).
    fn committed_result(&self, offset: i64) -> Result<Vec<u8>, KafkaError> {
        let consumer: BaseConsumer = self
            .setup
            .kafka
            .read_committed_consumer_config(
                &format!("processor-results-{}", self.partition),
                &format!("{}processor-restore", self.setup.kafka.topic_prefix),
            )
            .create()?;
        let mut assignment = TopicPartitionList::new();
        assignment.add_partition_offset(
            &self.setup.topics.results,
            self.partition,
            Offset::Offset(offset),
        )?;
        consumer.assign(&assignment)?;
        loop {
            match consumer.poll(CALL_TIMEOUT) {
                Some(Ok(message)) if message.offset() == offset => {
                    return Ok(message.payload().unwrap_or_default().to_vec());
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error),
                None => {
                    return Err(KafkaError::MessageConsumption(
                        RDKafkaErrorCode::OperationTimedOut,
                    ));
                }
            }
        }
    }
}

fn header<'a>(message: &'a OwnedMessage, key: &str) -> Option<&'a [u8]> {
    message
        .headers()?
        .iter()
        .find(|h| h.key == key)
        .and_then(|h| h.value)
}

fn header_of<'a>(key: &'a str, value: &'a [u8]) -> Header<'a, &'a [u8]> {
    Header {
        key,
        value: Some(value),
    }
}

/// Waits (briefly, in small steps) until every record of the transaction is
/// acknowledged. rust-rdkafka's `commit_transaction` flushes first, and its flush
/// sleeps in 100 ms steps on an event queue that the `ThreadedProducer`'s own thread
/// drains, so without this every commit would take at least 100 ms. The commit's own
/// flush still guards correctness; this only makes it find nothing left to wait for.
fn wait_for_deliveries(producer: &TxnProducer) {
    let deadline = std::time::Instant::now() + CALL_TIMEOUT;
    while producer.in_flight_count() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Enqueues a record, waiting while librdkafka's local queue is full.
fn send(producer: &TxnProducer, record: BaseRecord<'_, str, [u8]>) -> Result<(), KafkaError> {
    let mut record = record;
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                record = returned;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err((error, _)) => return Err(error),
        }
    }
}
