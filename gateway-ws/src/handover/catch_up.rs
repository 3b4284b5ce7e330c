//! Bringing a handed-over session up to this process: the records of `projected`
//! between the export's position and this process's are routed into a router of
//! the session's own (built from the export), and once both routers stand at the
//! same position it is merged into this process's ([`Fanout::absorb`]). From then
//! on this process's consumer routes to it like to any other session.
//!
//! This process's consumer keeps going meanwhile, so the target moves: the loop
//! reads until the private router reaches the current target, and a record at or
//! past the target is held back (its partition paused) until the target passes it
//! or the merge happens without it. When the exporting process was ahead of this
//! one, the private router waits for this process's consumer instead.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cloudcord_runtime::kafka::{KafkaConfig, retry_while_settling};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};
use tokio::time::Instant;

use crate::fanout::{Fanout, FollowUps, Position};
use crate::hub::{Hub, Slot};
use crate::projected;

/// How long a metadata or offsets request may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one wait for a record (or for this process's consumer) lasts before
/// the target is read again.
const POLL: Duration = Duration::from_millis(20);

/// Why a session could not be caught up (the client then identifies anew).
#[derive(Debug, thiserror::Error)]
pub enum CatchUpError {
    /// Reading `projected` failed.
    #[error("cannot read the projected topic to catch a session up")]
    Kafka(#[from] KafkaError),
    /// The export's position is older than what `projected` still keeps.
    #[error(
        "the projected topic no longer holds the records from partition {partition} offset {offset}"
    )]
    Expired {
        /// The partition.
        partition: i32,
        /// The export's offset there.
        offset: i64,
    },
    /// The routers did not meet before the deadline.
    #[error("the session did not catch up in time")]
    TooSlow,
}

/// One catch-up: the session's own router and hub, and where to merge them.
pub struct CatchUp<'a> {
    /// This process's router.
    pub main: &'a Fanout,
    /// This process's sessions.
    pub hub: &'a Hub,
    /// The session's own router ([`Fanout::for_handover`]).
    pub private: &'a Fanout,
    /// A hub holding only the session (DMs and USER_UPDATE find sessions there).
    pub private_hub: &'a Hub,
    /// The session.
    pub slot: &'a Arc<Slot>,
}

impl CatchUp<'_> {
    /// Routes the missing records into the private router and merges it; returns
    /// the guilds the session must now follow (joins while it was in transit).
    pub async fn run(
        &self,
        kafka: &KafkaConfig,
        topic: &str,
        deadline: Instant,
    ) -> Result<FollowUps, CatchUpError> {
        let start = self.private.position();
        let consumer = assign(kafka, topic, &start).await?;
        let mut held: HashMap<i32, OwnedMessage> = HashMap::new();
        let mut follow_ups = FollowUps::default();
        loop {
            let target = match self.main.absorb(self.hub, self.private, self.slot) {
                Ok(()) => return Ok(follow_ups),
                Err(target) => target,
            };
            if Instant::now() >= deadline {
                return Err(CatchUpError::TooSlow);
            }
            // Held records the target has passed are due now.
            let due: Vec<i32> = held
                .iter()
                .filter(|(partition, message)| message.offset() < end(&target, **partition))
                .map(|(partition, _)| *partition)
                .collect();
            for partition in due {
                if let Some(message) = held.remove(&partition) {
                    self.route(&message, &mut follow_ups);
                    consumer.resume(&partition_list(topic, partition)?)?;
                }
            }
            let mine = self.private.position();
            if mine
                .iter()
                .any(|(partition, offset)| *offset > end(&target, *partition))
            {
                // The exporter was ahead: wait for this process's consumer.
                tokio::time::sleep(POLL).await;
                continue;
            }
            let Ok(received) = tokio::time::timeout(POLL, consumer.recv()).await else {
                continue;
            };
            let message = received?.detach();
            let partition = message.partition();
            if message.offset() < end(&target, partition) {
                self.route(&message, &mut follow_ups);
            } else {
                consumer.pause(&partition_list(topic, partition)?)?;
                held.insert(partition, message);
            }
        }
    }

    fn route(&self, message: &OwnedMessage, follow_ups: &mut FollowUps) {
        // A record that does not decode is skipped here as the main consumer skips
        // it (and logs it); it still moves the position.
        let projected = projected::decode(message.payload().unwrap_or_default())
            .ok()
            .flatten();
        let more = self.private.route(
            self.private_hub,
            message.partition(),
            message.offset(),
            projected.as_ref(),
        );
        follow_ups.follow.extend(more.follow);
    }
}

/// `position`'s next offset of `partition` (0 for a partition it does not know).
fn end(position: &Position, partition: i32) -> i64 {
    position.get(&partition).copied().unwrap_or(0)
}

fn partition_list(topic: &str, partition: i32) -> Result<TopicPartitionList, KafkaError> {
    let mut list = TopicPartitionList::new();
    list.add_partition(topic, partition);
    Ok(list)
}

/// A consumer of `topic` at `position`, after checking that the topic still holds
/// every record from there.
async fn assign(
    kafka: &KafkaConfig,
    topic: &str,
    position: &Position,
) -> Result<StreamConsumer, CatchUpError> {
    // A group of its own for fetch sessions; nothing is committed to it.
    let group = format!(
        "{}gateway-catch-up-{}",
        kafka.topic_prefix,
        uuid::Uuid::new_v4().simple()
    );
    let consumer: StreamConsumer = kafka
        .read_committed_consumer_config("gateway-catch-up", &group)
        .set("fetch.wait.max.ms", "10")
        .create()?;
    let consumer = Arc::new(consumer);
    let blocking = Arc::clone(&consumer);
    let (topic, position) = (topic.to_owned(), position.clone());
    // librdkafka's watermark calls block their thread.
    tokio::task::spawn_blocking(move || -> Result<(), CatchUpError> {
        let mut assignment = TopicPartitionList::new();
        for (&partition, &offset) in &position {
            let (low, _) = retry_while_settling(|| {
                blocking.fetch_watermarks(&topic, partition, METADATA_TIMEOUT)
            })?;
            if offset < low {
                return Err(CatchUpError::Expired { partition, offset });
            }
            assignment.add_partition_offset(&topic, partition, Offset::Offset(offset))?;
        }
        blocking.assign(&assignment)?;
        Ok(())
    })
    .await
    .map_err(|_| KafkaError::Canceled)??;
    Arc::into_inner(consumer).ok_or(CatchUpError::Kafka(KafkaError::Canceled))
}
