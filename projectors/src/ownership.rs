//! Which partitions of `events` a projector instance projects.
//!
//! Live, the instances of one store's projector form a Kafka consumer group
//! ([`crate::group_id`]), and Kafka shares the partitions among them
//! (`cooperative-sticky`: an instance that joins takes some partitions without
//! stopping the others), so a deployment scales out up to one instance per
//! partition. A replay reads every partition itself.
//!
//! The group decides *who* projects a partition; the store decides *where from*: the
//! loop seeks each partition it gains to the store's next offset. librdkafka runs
//! the rebalance callbacks inside the loop's own `recv`, between batches, so an
//! instance has committed its last batch of a partition before it lets it go. The
//! callbacks only note what changed ([`OwnershipContext::take_changes`]); the loop
//! acts on it after the batch it was reading, whose records of those partitions it
//! drops (they are read again from the stored offset).
//!
//! An instance that stalls past the group's session timeout in the middle of a batch
//! can still write after another has taken its partitions over. The PostgreSQL
//! store fences such a write off; the MongoDB store's writes are idempotent and never
//! move a position or an offset back.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use cloudcord_runtime::kafka::EndOfPartitionContext;
use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use tokio::sync::Notify;

/// What the group changed since the loop last looked.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    /// Assigned to this instance (including lost and given back meanwhile): to be
    /// positioned at the store's offsets.
    pub gained: BTreeSet<i32>,
    /// Taken away (and not given back): to be forgotten.
    pub lost: BTreeSet<i32>,
}

impl Changes {
    /// Whether `partition` was gained or lost.
    pub fn touches(&self, partition: i32) -> bool {
        self.gained.contains(&partition) || self.lost.contains(&partition)
    }

    fn assigned(&mut self, partition: i32) {
        self.lost.remove(&partition);
        self.gained.insert(partition);
    }

    fn revoked(&mut self, partition: i32) {
        self.gained.remove(&partition);
        self.lost.insert(partition);
    }
}

/// The projector consumer's context: notes rebalances for the loop, and logs client
/// errors like [`EndOfPartitionContext`] (replays ask for end-of-partition notices).
pub struct OwnershipContext {
    store: &'static str,
    changes: Mutex<Changes>,
    changed: Notify,
}

impl OwnershipContext {
    /// A context for `store`'s projector.
    pub fn new(store: &'static str) -> Self {
        Self {
            store,
            changes: Mutex::new(Changes::default()),
            changed: Notify::new(),
        }
    }

    /// Completes once the group has changed something (at once if it did since the
    /// last wait), so a loop waiting for records can act on it first.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// What changed since the last call, if anything.
    pub fn take_changes(&self) -> Option<Changes> {
        let changes = std::mem::take(&mut *lock(&self.changes));
        (changes != Changes::default()).then_some(changes)
    }
}

impl ClientContext for OwnershipContext {
    fn error(&self, error: KafkaError, reason: &str) {
        EndOfPartitionContext.error(error, reason);
    }
}

impl ConsumerContext for OwnershipContext {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let store = self.store;
        let (list, gained) = match rebalance {
            Rebalance::Assign(list) => (list, true),
            Rebalance::Revoke(list) => (list, false),
            Rebalance::Error(error) => {
                tracing::error!(store, %error, "rebalance failed");
                return;
            }
        };
        let partitions: Vec<i32> = list.elements().iter().map(|e| e.partition()).collect();
        // A cooperative rebalance tells every member, most of them of nothing.
        if partitions.is_empty() {
            return;
        }
        let mut changes = lock(&self.changes);
        if gained {
            tracing::info!(store, ?partitions, "partitions assigned");
            partitions.into_iter().for_each(|p| changes.assigned(p));
        } else {
            tracing::info!(store, ?partitions, "partitions revoked");
            partitions.into_iter().for_each(|p| changes.revoked(p));
        }
        self.changed.notify_one();
    }
}

/// The partitions the loop has positioned and projects, shared with the lag sampler
/// so that it samples those and no others.
#[derive(Debug, Clone, Default)]
pub struct Owned {
    partitions: Arc<Mutex<BTreeSet<i32>>>,
    gained: Arc<Notify>,
}

impl Owned {
    /// The owned partitions now.
    pub fn snapshot(&self) -> Vec<i32> {
        lock(&self.partitions).iter().copied().collect()
    }

    /// Adds `partitions`.
    pub fn gain(&self, partitions: &[i32]) {
        lock(&self.partitions).extend(partitions);
        self.gained.notify_one();
    }

    /// Completes once partitions were gained (at once if they were since the last
    /// wait), so the sampler reports them without waiting for its next round.
    pub async fn gained(&self) {
        self.gained.notified().await;
    }

    /// Removes `partitions`, running `forget` for each while no one can sample it.
    pub fn lose(&self, partitions: impl IntoIterator<Item = i32>, mut forget: impl FnMut(i32)) {
        let mut owned = lock(&self.partitions);
        for partition in partitions {
            owned.remove(&partition);
            forget(partition);
        }
    }

    /// Runs `record` for each of `samples` whose partition is still owned.
    pub fn record(&self, samples: Vec<(i32, i64)>, mut record: impl FnMut(i32, i64)) {
        let owned = lock(&self.partitions);
        for (partition, value) in samples {
            if owned.contains(&partition) {
                record(partition, value);
            }
        }
    }
}

/// A poisoned lock only means a panic elsewhere; the sets stay usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::Changes;

    #[test]
    fn a_partition_lost_and_given_back_is_positioned_again() {
        let mut changes = Changes::default();
        changes.revoked(1);
        changes.assigned(1);
        assert_eq!(changes.gained.into_iter().collect::<Vec<_>>(), [1]);
        assert!(changes.lost.is_empty());
    }

    #[test]
    fn a_partition_given_and_taken_back_is_forgotten() {
        let mut changes = Changes::default();
        changes.assigned(2);
        changes.revoked(2);
        assert!(changes.gained.is_empty());
        assert_eq!(changes.lost.into_iter().collect::<Vec<_>>(), [2]);
    }
}
