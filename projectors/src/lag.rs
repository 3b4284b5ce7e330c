//! How far each store trails the `events` log: `cloudcord_projector_lag{store,
//! partition}`, the partition's end offset minus the store's next offset, sampled
//! every [`SAMPLE_EVERY`] while the loop runs, as soon as it gains partitions, and
//! once more when it stops, for the partitions this instance owns ([`Owned`]).
//!
//! The stores, not Kafka, hold the offsets the projectors resume from; the copy
//! they commit to their consumer groups (for KEDA) may trail by a batch, so this
//! gauge is the one to alert on. The end offset is the high watermark, which counts the commit markers
//! of the processor's transactions too: a caught-up partition reads 1 (the marker
//! after its last event), and a partition behind by N events reads N plus one per
//! transaction among them. That is the right scale for alerting (thousands behind,
//! or growing), not an exact event count.

use std::sync::Arc;
use std::time::Duration;

use cloudcord_runtime::telemetry::ErrorChain;
use rdkafka::consumer::{Consumer, StreamConsumer};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::ownership::{Owned, OwnershipContext};

/// How often the end offsets are fetched (Prometheus scrapes every 15 s).
pub const SAMPLE_EVERY: Duration = Duration::from_secs(10);

/// How long one sample's end-offset requests may take together: with the brokers
/// gone, one request per partition each waiting its own timeout would hold a
/// stopping projector for minutes.
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(5);

/// The sampling task of one projector loop.
pub struct Sampler {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Sampler {
    /// Starts sampling the `owned` partitions of `topic` through the loop's
    /// `consumer`.
    pub fn start(
        consumer: Arc<StreamConsumer<OwnershipContext>>,
        topic: &str,
        owned: Owned,
        metrics: Metrics,
        store: &'static str,
    ) -> Self {
        let stop = CancellationToken::new();
        let topic = topic.to_owned();
        let task = tokio::spawn({
            let stop = stop.clone();
            async move {
                loop {
                    let ends = ends(&consumer, &topic, owned.snapshot()).await;
                    // A partition lost while its end was fetched is not sampled.
                    owned.record(ends, |partition, end| {
                        metrics.sampled_end(store, partition, end);
                    });
                    if stop.is_cancelled() {
                        return;
                    }
                    tokio::select! {
                        () = stop.cancelled() => {}
                        () = tokio::time::sleep(SAMPLE_EVERY) => {}
                        () = owned.gained() => {}
                    }
                }
            }
        });
        Self { stop, task }
    }

    /// Takes a last sample (what the loop left behind) and stops.
    pub async fn stop(self) {
        self.stop.cancel();
        if let Err(error) = self.task.await {
            tracing::warn!(error = %ErrorChain(&error), "the lag sampler failed");
        }
    }
}

/// The end offset of each partition the broker answers for; one that does not is
/// left out (its lag keeps its last value) and logged.
pub(crate) async fn ends(
    consumer: &Arc<StreamConsumer<OwnershipContext>>,
    topic: &str,
    partitions: Vec<i32>,
) -> Vec<(i32, i64)> {
    let consumer = Arc::clone(consumer);
    let topic = topic.to_owned();
    // librdkafka's offset requests block until a broker answers.
    tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + SAMPLE_TIMEOUT;
        partitions
            .into_iter()
            .map_while(|partition| {
                let left = deadline.checked_duration_since(std::time::Instant::now())?;
                Some((partition, consumer.fetch_watermarks(&topic, partition, left)))
            })
            .filter_map(|(partition, answer)| match answer {
                Ok((_, end)) => Some((partition, end)),
                Err(error) => {
                    tracing::debug!(partition, error = %ErrorChain(&error), "cannot fetch an end offset");
                    None
                }
            })
            .collect()
    })
    .await
    .unwrap_or_default()
}
