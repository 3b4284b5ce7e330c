//! `cloudcord audit export`: copies one aggregate's committed event records from the
//! `events` topic, byte for byte, one per line.
//!
//! Reading is blocking (librdkafka's `BaseConsumer`, polled until each partition's
//! end-of-partition notice, which under `read_committed` means the last stable
//! offset); async callers run [`export`] on a blocking thread.

use std::io::Write;
use std::time::Duration;

use cloudcord_runtime::kafka::{EndOfPartitionContext, KafkaConfig, retry_while_settling};
use cloudcord_schemas::envelope::{AggregateRef, AggregateType};
use cloudcord_schemas::guild::GuildEvent;
use cloudcord_schemas::ids::{ChannelId, GuildId};
use cloudcord_schemas::upcast::{self, UpcastError};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde::Deserialize;

use super::Selector;

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Kafka refused or failed a request.
    #[error("reading the events topic failed")]
    Kafka(#[from] KafkaError),
    /// The events topic does not exist (or has no partitions).
    #[error("topic {0} does not exist")]
    NoTopic(String),
    /// Nothing in the log matches the selector.
    #[error("no events of {0} in the log")]
    NotFound(String),
    /// A record is not an event envelope, so it cannot be attributed to an aggregate.
    #[error("the record at partition {partition} offset {offset} is not an event envelope")]
    Undecodable {
        /// The events partition.
        partition: i32,
        /// Its offset.
        offset: i64,
        /// What the decoder said.
        source: serde_json::Error,
    },
    /// A guild event of an unknown type or version (searching a channel's guild).
    #[error("the record at partition {partition} offset {offset} cannot be upcast")]
    Upcast {
        /// The events partition.
        partition: i32,
        /// Its offset.
        offset: i64,
        /// What is unknown.
        source: UpcastError,
    },
    /// A record holds a newline byte, so it cannot be one line of the export without
    /// changing the bytes its successor's `prev_hash` covers.
    #[error("the record at partition {partition} offset {offset} contains a newline")]
    Multiline {
        /// The events partition.
        partition: i32,
        /// Its offset.
        offset: i64,
    },
    /// Writing the export failed.
    #[error("writing the export failed")]
    Write(#[source] std::io::Error),
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    /// The aggregate whose history it is.
    pub aggregate: AggregateRef,
    /// The events partition it was read from.
    pub partition: i32,
    /// Lines written.
    pub events: u64,
}

/// Writes the complete committed history of the aggregate `selector` names to `out`
/// (see the [module docs](super) for which aggregate that is). Blocks.
pub fn export(
    kafka: &KafkaConfig,
    selector: Selector,
    out: &mut dyn Write,
) -> Result<Exported, ExportError> {
    let log = EventLog::open(kafka)?;
    let exported = match selector {
        Selector::Guild(id) => log.copy(aggregate(AggregateType::Guild, id.0), out)?,
        Selector::User(id) => log.copy(aggregate(AggregateType::User, id.0), out)?,
        Selector::Channel(id) => {
            // A DM channel is its own aggregate, keyed by the channel id; only when
            // there is none is the id a guild channel, whose guild must be found.
            let dm = log.copy(aggregate(AggregateType::DmChannel, id.0), out)?;
            if dm.events > 0 {
                dm
            } else {
                let guild = log
                    .guild_of_channel(id)?
                    .ok_or_else(|| ExportError::NotFound(format!("channel {id}")))?;
                log.copy(aggregate(AggregateType::Guild, guild.0), out)?
            }
        }
    };
    if exported.events == 0 {
        return Err(ExportError::NotFound(format!(
            "{} {}",
            exported.aggregate.kind.as_str(),
            exported.aggregate.id
        )));
    }
    out.flush().map_err(ExportError::Write)?;
    Ok(exported)
}

fn aggregate(kind: AggregateType, id: cloudcord_schemas::ids::Snowflake) -> AggregateRef {
    AggregateRef { kind, id }
}

/// The partition Kafka's default partitioner — and librdkafka's `murmur2_random`,
/// which CloudCord's producers use — assigns to a non-empty `key`: the positive part
/// of its murmur2 hash modulo the partition count.
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    let count = partitions.unsigned_abs().max(1);
    let index = (murmur2(key) & 0x7fff_ffff) % count;
    // Invariant: `index < count <= i32::MAX`, so it fits.
    i32::try_from(index).expect("a partition index is below the partition count")
}

/// Kafka's 32-bit murmur2 (seed `0x9747b28c`), as its Java client computes it.
fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    // Java hashes the length as an int; keys are far shorter than 4 GiB.
    let length = u32::try_from(data.len()).unwrap_or(u32::MAX);
    let mut h = SEED ^ length;
    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        let mut k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        for (i, byte) in tail.iter().enumerate() {
            h ^= u32::from(*byte) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

/// The `events` topic, read with `read_committed` from offset 0.
struct EventLog {
    consumer: BaseConsumer<EndOfPartitionContext>,
    topic: String,
    partitions: i32,
}

/// Just enough of a guild record to find the channels it creates.
#[derive(Deserialize)]
struct Stored {
    #[serde(flatten)]
    aggregate: AggregateRef,
    event_version: u32,
    event: serde_json::Value,
}

impl EventLog {
    fn open(kafka: &KafkaConfig) -> Result<Self, ExportError> {
        let topic = kafka.topics().events;
        let consumer: BaseConsumer<EndOfPartitionContext> = kafka
            // Assigned partitions only, nothing committed: the group id is a formality.
            .read_committed_consumer_config("audit-export", &format!("{}audit", kafka.topic_prefix))
            .set("enable.partition.eof", "true")
            // Reaching the end is the goal: do not let the broker hold empty fetches.
            .set("fetch.wait.max.ms", "10")
            .create_with_context(EndOfPartitionContext)?;
        let metadata = retry_while_settling(|| {
            consumer.fetch_metadata(Some(&topic), Duration::from_secs(10))
        })?;
        let partitions = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none())
            .map_or(0, |t| t.partitions().len());
        let partitions = i32::try_from(partitions).unwrap_or(0);
        if partitions == 0 {
            return Err(ExportError::NoTopic(topic));
        }
        Ok(Self {
            consumer,
            topic,
            partitions,
        })
    }

    /// Copies every record of `aggregate` from its shard's partition to `out`.
    fn copy(&self, aggregate: AggregateRef, out: &mut dyn Write) -> Result<Exported, ExportError> {
        let partition = partition_for_key(aggregate.shard_key().as_bytes(), self.partitions);
        let mut events = 0;
        self.read(partition, |offset, payload| {
            let stored = serde_json::from_slice::<AggregateRef>(payload).map_err(|source| {
                ExportError::Undecodable {
                    partition,
                    offset,
                    source,
                }
            })?;
            if stored != aggregate {
                return Ok(true);
            }
            // Compact JSON escapes every newline; a raw one would split the record.
            if payload.contains(&b'\n') {
                return Err(ExportError::Multiline { partition, offset });
            }
            out.write_all(payload)
                .and_then(|()| out.write_all(b"\n"))
                .map_err(ExportError::Write)?;
            events += 1;
            Ok(true)
        })?;
        tracing::info!(
            aggregate = %format_args!("{} {}", aggregate.kind.as_str(), aggregate.id),
            partition,
            events,
            "exported"
        );
        Ok(Exported {
            aggregate,
            partition,
            events,
        })
    }

    /// The guild that created `channel` (in `GuildCreated` or `ChannelCreated`),
    /// searching every partition, since nothing keyed by the channel id leads to it.
    fn guild_of_channel(&self, channel: ChannelId) -> Result<Option<GuildId>, ExportError> {
        let mut found = None;
        for partition in 0..self.partitions {
            self.read(partition, |offset, payload| {
                let stored: Stored =
                    serde_json::from_slice(payload).map_err(|source| ExportError::Undecodable {
                        partition,
                        offset,
                        source,
                    })?;
                let event_type = stored.event.get("type").and_then(serde_json::Value::as_str);
                let creates_channels = stored.aggregate.kind == AggregateType::Guild
                    && matches!(event_type, Some("GuildCreated" | "ChannelCreated"));
                if !creates_channels {
                    return Ok(true);
                }
                let current =
                    upcast::lift(AggregateType::Guild, stored.event_version, stored.event)
                        .map_err(|source| ExportError::Upcast {
                            partition,
                            offset,
                            source,
                        })?;
                let event: GuildEvent =
                    serde_json::from_value(current).map_err(|source| ExportError::Undecodable {
                        partition,
                        offset,
                        source,
                    })?;
                let created = match &event {
                    GuildEvent::GuildCreated(created) => {
                        created.channels.iter().any(|c| c.id == channel)
                    }
                    GuildEvent::ChannelCreated(created) => created.channel.id == channel,
                    _ => false,
                };
                if created {
                    found = Some(GuildId(stored.aggregate.id));
                }
                Ok(!created)
            })?;
            if found.is_some() {
                break;
            }
        }
        Ok(found)
    }

    /// Feeds `(offset, value)` of every committed record of `partition`, from offset 0
    /// up to the last stable offset, to `each` until it returns `false`.
    fn read(
        &self,
        partition: i32,
        mut each: impl FnMut(i64, &[u8]) -> Result<bool, ExportError>,
    ) -> Result<(), ExportError> {
        let mut assignment = TopicPartitionList::new();
        assignment.add_partition_offset(&self.topic, partition, Offset::Beginning)?;
        self.consumer.assign(&assignment)?;
        loop {
            match self.consumer.poll(Duration::from_millis(500)) {
                None => {}
                // With read_committed, the end of a partition is its last stable offset.
                Some(Err(KafkaError::PartitionEOF(at))) if at == partition => return Ok(()),
                Some(Err(KafkaError::PartitionEOF(_))) => {}
                Some(Err(error)) => return Err(error.into()),
                Some(Ok(message)) => {
                    // A fetch left over from the previous assignment is not ours.
                    if message.partition() != partition {
                        continue;
                    }
                    let payload = message.payload().unwrap_or_default();
                    if !payload.is_empty() && !each(message.offset(), payload)? {
                        return Ok(());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{murmur2, partition_for_key};

    #[test]
    fn murmur2_matches_kafkas_java_client() {
        // The expected values are the signed ints Kafka's own Utils tests assert.
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (key, expected) in cases {
            assert_eq!(
                murmur2(key),
                u32::from_ne_bytes(expected.to_ne_bytes()),
                "{key:?}"
            );
        }
    }

    #[test]
    fn partitions_are_the_positive_hash_modulo_the_count() {
        // murmur2("21") & 0x7fffffff = 1173551340.
        assert_eq!(partition_for_key(b"21", 4), 1_173_551_340 % 4);
        assert!((0..7).contains(&partition_for_key(b"foobar", 7)));
    }
}
