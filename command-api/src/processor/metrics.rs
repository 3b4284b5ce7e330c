//! The command processor's metrics.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// How a command ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// `accepted`, `rejected`, `duplicate` or `malformed`.
    pub outcome: &'static str,
}

/// How a transaction ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransactionLabel {
    /// `committed` or `aborted`.
    pub result: &'static str,
}

/// Counters and gauges shared by every partition worker.
#[derive(Clone)]
pub struct ProcessorMetrics {
    /// Commands decided, by outcome.
    pub commands: Family<OutcomeLabel, Counter>,
    /// Events appended (committed).
    pub events: Counter,
    /// Transactions, by result.
    pub transactions: Family<TransactionLabel, Counter>,
    /// Partitions this process serves.
    pub partitions: Gauge,
    /// Commands per transaction.
    pub batch_size: Histogram,
    /// Time from `begin_transaction` to a finished commit.
    pub transaction_duration: Histogram,
    /// Partition snapshots committed.
    pub snapshots: Counter,
    /// Events replayed by restores (after the snapshot they started from).
    pub restore_events: Counter,
}

impl ProcessorMetrics {
    /// Creates the metrics and registers them.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            commands: Family::default(),
            events: Counter::default(),
            transactions: Family::default(),
            partitions: Gauge::default(),
            batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
            transaction_duration: Histogram::new(exponential_buckets(0.000_5, 2.0, 14)),
            snapshots: Counter::default(),
            restore_events: Counter::default(),
        };
        registry.register(
            "processor_commands",
            "Commands decided by the command processor, by outcome",
            metrics.commands.clone(),
        );
        registry.register(
            "processor_events",
            "Events appended to the event log",
            metrics.events.clone(),
        );
        registry.register(
            "processor_transactions",
            "Kafka transactions of the command processor, by result",
            metrics.transactions.clone(),
        );
        registry.register(
            "processor_partitions",
            "Partitions of the commands topic this process decides",
            metrics.partitions.clone(),
        );
        registry.register_with_unit(
            "processor_batch_size",
            "Commands decided per transaction",
            Unit::Other("commands".to_owned()),
            metrics.batch_size.clone(),
        );
        registry.register_with_unit(
            "processor_transaction_duration",
            "Time from begin_transaction to a committed transaction",
            Unit::Seconds,
            metrics.transaction_duration.clone(),
        );
        registry.register(
            "processor_snapshots",
            "Partition state snapshots committed by the command processor",
            metrics.snapshots.clone(),
        );
        registry.register(
            "processor_restore_events",
            "Events replayed while restoring partition state (after its snapshot)",
            metrics.restore_events.clone(),
        );
        metrics
    }

    /// Counts one command with `outcome`.
    pub fn command(&self, outcome: &'static str) {
        self.commands.get_or_create(&OutcomeLabel { outcome }).inc();
    }
}
