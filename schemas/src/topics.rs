//! The Kafka topics CloudCord's services meet on.
//!
//! | topic | key | written by | kept |
//! |---|---|---|---|
//! | `commands` | aggregate id | command-api | days (replayable input) |
//! | `events` | aggregate id | command processor, in transactions | forever, never compacted |
//! | `command-results` | command id | command processor, same transaction | 7 days (≥ the 24 h idempotency window) |
//! | `snapshots` | partition number | command processor, in its transactions | compacted: the latest per partition |
//! | `projected` | aggregate id | projectors, after their commit | hours |
//! | `ephemeral` | channel, session or process id | command-api (typing), gateway (presence, session hand-over requests) | minutes |
//! | `voice-sessions` | SFU instance, user and channel | the SFU: who it has connected | compacted: the open sessions |
//!
//! `commands`, `events`, `command-results` and `snapshots` have the same partition
//! count: the processor that owns `commands` partition *p* writes to partition *p* of
//! the others, and restores its state from them (the latest snapshot of *p*, then the
//! events after it). Consumers must read with
//! `isolation.level=read_committed` (Java clients default to `read_uncommitted`).

/// The names of CloudCord's topics under one prefix (e.g. `cloudcord.`), so several
/// deployments — or isolated tests — can share a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// Commands from command-api to the processor.
    pub commands: String,
    /// The immutable event log.
    pub events: String,
    /// The processor's answers to command-api.
    pub results: String,
    /// The processor's partition-state snapshots, one live record per partition.
    pub snapshots: String,
    /// What projectors committed, for the gateway.
    pub projected: String,
    /// Typing, presence and session hand-over requests (see `ephemeral`).
    pub ephemeral: String,
    /// The SFU's open media sessions, so that a restarted SFU can disconnect the
    /// voice states of the sessions it forgot.
    pub voice_sessions: String,
}

impl Topics {
    /// The topics named `<prefix>commands`, `<prefix>events`, ….
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            commands: format!("{prefix}commands"),
            events: format!("{prefix}events"),
            results: format!("{prefix}command-results"),
            snapshots: format!("{prefix}snapshots"),
            projected: format!("{prefix}projected"),
            ephemeral: format!("{prefix}ephemeral"),
            voice_sessions: format!("{prefix}voice-sessions"),
        }
    }
}

/// How a topic must be created: a plain-data description that the runtime turns
/// into an admin request and `strimzi/` into `KafkaTopic` resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// Full topic name.
    pub name: String,
    /// Partition count.
    pub partitions: i32,
    /// Topic-level configuration.
    pub config: Vec<(&'static str, &'static str)>,
}

impl TopicSpec {
    /// The `voice-sessions` topic named `name`. An SFU reads the whole topic when it
    /// starts, so it is one partition, and compaction keeps only each session's last
    /// record (a tombstone once it ended); hour-long segments let compaction reach
    /// the records soon.
    pub fn voice_sessions(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            partitions: 1,
            config: vec![("cleanup.policy", "compact"), ("segment.ms", "3600000")],
        }
    }
}

const SEVEN_DAYS_MS: &str = "604800000";
/// Largest snapshot value the processor writes (50 MiB); it skips a snapshot that
/// would be larger instead of failing its transaction.
pub const MAX_SNAPSHOT_BYTES: usize = 52_428_800;
/// The snapshots topic's `max.message.bytes`: [`MAX_SNAPSHOT_BYTES`] plus 1 MiB of
/// room for the record batch's framing, key and headers.
const SNAPSHOT_TOPIC_MAX_MESSAGE_BYTES: &str = "53477376";

impl Topics {
    /// The specs of every topic, with `partitions` partitions for the four
    /// co-partitioned topics (commands, events, results, snapshots) and the others.
    pub fn specs(&self, partitions: i32) -> Vec<TopicSpec> {
        let spec = |name: &str, partitions, config| TopicSpec {
            name: name.to_owned(),
            partitions,
            config,
        };
        vec![
            spec(
                &self.commands,
                partitions,
                vec![("retention.ms", SEVEN_DAYS_MS)],
            ),
            // The event log is the system of record: kept forever, never compacted.
            spec(
                &self.events,
                partitions,
                vec![("retention.ms", "-1"), ("cleanup.policy", "delete")],
            ),
            spec(
                &self.results,
                partitions,
                vec![("retention.ms", SEVEN_DAYS_MS)],
            ),
            // Only the latest snapshot of a partition matters: compaction by key (the
            // partition number) keeps it and drops the older ones.
            spec(
                &self.snapshots,
                partitions,
                vec![
                    ("cleanup.policy", "compact"),
                    ("max.message.bytes", SNAPSHOT_TOPIC_MAX_MESSAGE_BYTES),
                ],
            ),
            spec(
                &self.projected,
                partitions,
                vec![("retention.ms", "86400000")],
            ),
            spec(
                &self.ephemeral,
                partitions,
                vec![("retention.ms", "600000")],
            ),
            TopicSpec::voice_sessions(&self.voice_sessions),
        ]
    }
}
