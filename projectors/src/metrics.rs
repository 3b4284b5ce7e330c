//! The projectors' Prometheus metrics (prefixed `cloudcord_` by the service's
//! registry).

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabel {
    store: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartitionLabel {
    store: &'static str,
    partition: i32,
}

/// Counters and gauges of both projectors; cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    events: Family<StoreLabel, Counter>,
    duplicates: Family<StoreLabel, Counter>,
    gaps: Family<PartitionLabel, Counter>,
    stopped: Family<PartitionLabel, Gauge>,
    next_offset: Family<PartitionLabel, Gauge>,
    lag: Family<PartitionLabel, Gauge>,
    batch_seconds: Family<StoreLabel, Histogram>,
}

impl Metrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::unregistered();
        registry.register(
            "projector_events",
            "Events applied to a read-model store",
            metrics.events.clone(),
        );
        registry.register(
            "projector_duplicates",
            "Records skipped because their seq was already applied",
            metrics.duplicates.clone(),
        );
        registry.register(
            "projector_gaps",
            "Gaps found in an aggregate's seq (each stops its partition)",
            metrics.gaps.clone(),
        );
        registry.register(
            "projector_partition_stopped",
            "1 while a partition is stopped at a gap or an unreadable event",
            metrics.stopped.clone(),
        );
        registry.register(
            "projector_next_offset",
            "The stored next events offset of a partition",
            metrics.next_offset.clone(),
        );
        registry.register(
            "projector_lag",
            "How far a partition trails the events log: its end offset minus the stored next offset (transaction markers count)",
            metrics.lag.clone(),
        );
        registry.register(
            "projector_batch_seconds",
            "Time to judge and write one batch",
            metrics.batch_seconds.clone(),
        );
        metrics
    }

    /// Metrics that no registry exports (replay, tests).
    pub fn unregistered() -> Self {
        Self {
            events: Family::default(),
            duplicates: Family::default(),
            gaps: Family::default(),
            stopped: Family::default(),
            next_offset: Family::default(),
            lag: Family::default(),
            // 1 ms to about 16 s.
            batch_seconds: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.001, 2.0, 15))
            }),
        }
    }

    pub(crate) fn committed(
        &self,
        store: &'static str,
        offsets: &[(i32, i64)],
        events: usize,
        elapsed: Duration,
    ) {
        self.events
            .get_or_create(&StoreLabel { store })
            .inc_by(u64::try_from(events).unwrap_or(u64::MAX));
        // Duplicates, gaps and stopped partitions are exported at 0 from a store's
        // first commit on, so their series exist before anything goes wrong: an
        // alert on `increase(…gaps_total[…])` then sees the very first gap.
        drop(self.duplicates.get_or_create(&StoreLabel { store }));
        for &(partition, next) in offsets {
            let label = PartitionLabel { store, partition };
            self.next_offset.get_or_create(&label).set(next);
            drop(self.gaps.get_or_create(&label));
            drop(self.stopped.get_or_create(&label));
        }
        self.batch_seconds
            .get_or_create(&StoreLabel { store })
            .observe(elapsed.as_secs_f64());
    }

    /// Where the loop starts: each partition's stored next offset (0 when the
    /// store has none yet).
    pub(crate) fn positioned(
        &self,
        store: &'static str,
        partitions: &[i32],
        next: &std::collections::HashMap<i32, i64>,
    ) {
        for &partition in partitions {
            let offset = next.get(&partition).copied().unwrap_or(0);
            self.next_offset
                .get_or_create(&PartitionLabel { store, partition })
                .set(offset);
        }
    }

    /// `partition` went to another instance: its gauges are that instance's to
    /// export now (the counters stay, as counters do).
    pub(crate) fn released(&self, store: &'static str, partition: i32) {
        let label = PartitionLabel { store, partition };
        self.next_offset.remove(&label);
        self.lag.remove(&label);
        self.stopped.remove(&label);
    }

    /// `partition`'s log ends at `end`: its lag is what the store has not reached.
    pub(crate) fn sampled_end(&self, store: &'static str, partition: i32, end: i64) {
        let label = PartitionLabel { store, partition };
        let next = self.next_offset.get_or_create(&label).get();
        self.lag.get_or_create(&label).set((end - next).max(0));
    }

    pub(crate) fn duplicate(&self, store: &'static str) {
        self.duplicates.get_or_create(&StoreLabel { store }).inc();
    }

    pub(crate) fn gap(&self, store: &'static str, partition: i32) {
        self.gaps
            .get_or_create(&PartitionLabel { store, partition })
            .inc();
    }

    pub(crate) fn stopped(&self, store: &'static str, partition: i32) {
        self.stopped
            .get_or_create(&PartitionLabel { store, partition })
            .set(1);
    }

    /// `partition`'s lag at the last sample.
    pub fn lag(&self, store: &'static str, partition: i32) -> i64 {
        self.lag
            .get_or_create(&PartitionLabel { store, partition })
            .get()
    }

    /// How many gaps the store found in `partition` so far.
    pub fn gaps(&self, store: &'static str, partition: i32) -> u64 {
        self.gaps
            .get_or_create(&PartitionLabel { store, partition })
            .get()
    }
}
