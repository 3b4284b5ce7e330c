//! The command processor: a consumer group on `commands` with exactly one writer
//! per partition, deciding commands into events in Kafka transactions.
//!
//! On assignment of partition *p* the processor splits *p*'s messages onto their
//! own queue and starts a `worker` thread for it, which fences any previous owner
//! (a `transactional.id` per partition), restores *p*'s state from the same-numbered
//! partitions of `snapshots` (the latest), `events` (those after it) and
//! `command-results` up to the last stable offset, and then decides commands batch
//! by batch, each batch one transaction that carries the events, the results, the
//! consumed offsets and, every `snapshot_every_events` events, a new snapshot. On revocation the worker
//! finishes its transaction and stops before the partition moves on.
//!
//! Module map: `worker` (the per-partition transaction loop), `state` (what a
//! partition decides with), `restore` (rebuilding it from the log), [`metrics`].

pub mod metrics;
mod restore;
mod state;
mod worker;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::Duration;

use cloudcord_runtime::kafka::KafkaConfig;
use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use self::metrics::ProcessorMetrics;
use self::worker::{WorkerHandle, WorkerSetup};

/// The `[command_api.processor]` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ProcessorSettings {
    /// How long the group waits for a silent member before moving its partitions
    /// (the failover time after a crash).
    pub session_timeout_ms: u32,
    /// How long a command id stays idempotent.
    pub idempotency_window_secs: u64,
    /// Events committed to a partition between two snapshots of its state, which
    /// bound what a restore replays; 0 never writes snapshots.
    pub snapshot_every_events: u64,
    /// Where each owned partition's message index is kept (one redb file per
    /// partition). Give every processor its own directory on a persistent volume: a
    /// processor that finds its partition's file current replays only what it lacks;
    /// one that finds none rebuilds it from the log.
    pub state_dir: PathBuf,
}

impl Default for ProcessorSettings {
    fn default() -> Self {
        Self {
            session_timeout_ms: 10_000,
            idempotency_window_secs: 24 * 60 * 60,
            snapshot_every_events: 10_000,
            state_dir: std::env::temp_dir().join("cloudcord-processor"),
        }
    }
}

/// Why the processor stopped.
#[derive(Debug, thiserror::Error)]
pub enum ProcessorError {
    /// Kafka refused the consumer's configuration or a request.
    #[error("the command processor's Kafka client failed")]
    Kafka(#[from] KafkaError),
    /// A partition worker failed beyond recovery (see the log for which and why).
    #[error("a partition worker failed; exiting so the group reassigns its partitions")]
    PartitionFailed,
    /// The poll thread could not be started or panicked.
    #[error("the processor's poll thread failed")]
    Thread(#[source] std::io::Error),
}

/// The consumer's context: starts and stops partition workers on rebalances.
struct ProcessorContext {
    consumer: OnceLock<Weak<BaseConsumer<ProcessorContext>>>,
    setup: Arc<WorkerSetup>,
    workers: Mutex<HashMap<i32, WorkerHandle>>,
}

impl ClientContext for ProcessorContext {}

impl ConsumerContext for ProcessorContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(partitions) => {
                let revoked: Vec<i32> = partitions
                    .elements()
                    .iter()
                    .map(|e| e.partition())
                    .collect();
                tracing::info!(?revoked, "partitions revoked");
                self.stop_workers(Some(&revoked));
            }
            Rebalance::Assign(partitions) => {
                let assigned: Vec<i32> = partitions
                    .elements()
                    .iter()
                    .map(|e| e.partition())
                    .collect();
                tracing::info!(?assigned, "partitions assigned");
                for partition in assigned {
                    self.start_worker(partition);
                }
            }
            Rebalance::Error(error) => tracing::error!(%error, "rebalance failed"),
        }
    }
}

impl ProcessorContext {
    fn start_worker(&self, partition: i32) {
        let Some(consumer) = self.consumer.get().and_then(Weak::upgrade) else {
            return;
        };
        // Split before the assignment takes effect, so no command of this partition
        // reaches the main queue.
        let Some(queue) = consumer.split_partition_queue(&self.setup.topics.commands, partition)
        else {
            tracing::error!(partition, "cannot split the partition's queue");
            self.setup.fatal.cancel();
            return;
        };
        match worker::spawn(Arc::clone(&self.setup), consumer, queue, partition) {
            Ok(handle) => {
                self.lock_workers().insert(partition, handle);
            }
            Err(error) => {
                tracing::error!(partition, %error, "cannot start a partition worker");
                self.setup.fatal.cancel();
            }
        }
    }

    /// Stops the workers of `partitions` (all when `None`), each after its current
    /// transaction, and waits for them.
    fn stop_workers(&self, partitions: Option<&[i32]>) {
        let stopping: Vec<WorkerHandle> = {
            let mut workers = self.lock_workers();
            let chosen: Vec<i32> = match partitions {
                Some(partitions) => partitions.to_vec(),
                None => workers.keys().copied().collect(),
            };
            chosen.iter().filter_map(|p| workers.remove(p)).collect()
        };
        for worker in &stopping {
            worker.stop();
        }
        for worker in stopping {
            worker.join();
        }
    }

    fn lock_workers(&self) -> std::sync::MutexGuard<'_, HashMap<i32, WorkerHandle>> {
        self.workers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs the processor until `shutdown` is cancelled or a partition fails.
pub async fn run(
    kafka: KafkaConfig,
    settings: ProcessorSettings,
    metrics: ProcessorMetrics,
    shutdown: CancellationToken,
) -> Result<(), ProcessorError> {
    let topics = kafka.topics();
    kafka.ensure_topics(&topics.specs(kafka.partitions)).await?;
    let fatal = CancellationToken::new();
    let setup = Arc::new(WorkerSetup {
        kafka: kafka.clone(),
        topics,
        metrics,
        fatal: fatal.clone(),
        idempotency_window: Duration::from_secs(settings.idempotency_window_secs),
        snapshot_every_events: settings.snapshot_every_events,
        state_dir: settings.state_dir,
    });
    let consumer: Arc<BaseConsumer<ProcessorContext>> = Arc::new(
        kafka
            .read_committed_consumer_config(
                &format!("processor-{}", std::process::id()),
                &format!("{}processor", kafka.topic_prefix),
            )
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set(
                "session.timeout.ms",
                settings.session_timeout_ms.to_string(),
            )
            .set(
                "heartbeat.interval.ms",
                (settings.session_timeout_ms / 5).to_string(),
            )
            .create_with_context(ProcessorContext {
                consumer: OnceLock::new(),
                setup: Arc::clone(&setup),
                workers: Mutex::new(HashMap::new()),
            })?,
    );
    let _ = consumer.context().consumer.set(Arc::downgrade(&consumer));
    consumer.subscribe(&[&setup.topics.commands])?;

    let stop = Arc::new(AtomicBool::new(false));
    let poll_stop = Arc::clone(&stop);
    let poll_fatal = fatal.clone();
    let poller = std::thread::Builder::new()
        .name("processor-poll".to_owned())
        .spawn(move || poll(&consumer, &poll_stop, &poll_fatal))
        .map_err(ProcessorError::Thread)?;

    tokio::select! {
        () = shutdown.cancelled() => {}
        () = fatal.cancelled() => {}
    }
    stop.store(true, Ordering::Relaxed);
    match tokio::task::spawn_blocking(move || poller.join()).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => {
            return Err(ProcessorError::Thread(std::io::Error::other(
                "the poll thread panicked",
            )));
        }
        // The runtime is shutting down under us (e.g. a test that already failed).
        Err(error) => {
            return Err(ProcessorError::Thread(std::io::Error::other(format!(
                "waiting for the poll thread failed: {error}"
            ))));
        }
    }
    if fatal.is_cancelled() {
        return Err(ProcessorError::PartitionFailed);
    }
    Ok(())
}

/// The group consumer's own loop: it serves rebalances and heartbeats; commands
/// arrive on the partition queues that the workers poll.
fn poll(
    consumer: &Arc<BaseConsumer<ProcessorContext>>,
    stop: &AtomicBool,
    fatal: &CancellationToken,
) {
    while !stop.load(Ordering::Relaxed) {
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(message)) => {
                // Every assigned partition is split before assignment; a command here
                // would be consumed by nobody and its offset could be committed past it.
                tracing::error!(
                    partition = rdkafka::message::Message::partition(&message),
                    "a command reached the main queue; stopping to avoid losing it"
                );
                fatal.cancel();
                break;
            }
            Some(Err(error)) => tracing::warn!(%error, "processor consumer error"),
        }
    }
    consumer.context().stop_workers(None);
    consumer.unsubscribe();
}
