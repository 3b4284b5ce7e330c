//! Voice states kept true to the media connections.
//!
//! * **A dropped connection** — its ICE fails, it vanishes, it never connects — makes
//!   its user leave the voice channel through the command path, so guild members see
//!   VOICE_STATE_UPDATE with `channel_id: null` instead of a ghost who stays "in" the
//!   channel forever.
//! * **A stop** ends every connection: each is a drop, corrected before the
//!   process exits (within `sfu.stop_timeout_ms`).
//! * **A crash** makes the SFU forget every connection it had, without a drop to
//!   report. So every connection is also recorded while it is open, on the
//!   compacted `voice-sessions` topic (key `<instance>/<user>/<channel>`, a
//!   tombstone when it ends), and an SFU that starts reads its instance's records
//!   first ([`Corrector::sweep`]): each is a connection it forgot, whose user it
//!   then disconnects like a dropped one, before it answers any offer. The same
//!   sweep makes the corrections a stop could not append in time.
//!
//! ```text
//! shard loop ── opened / closed / dropped ──► Corrections (bounded queue) ──► Corrector
//!   opened:  record          ──► voice-sessions topic
//!   closed:  tombstone       ──► voice-sessions topic
//!   dropped: DropVoiceConnection { channel_id }, actor = the user, key = the guild
//!            ──► commands topic ──► guild aggregate ──► events; then the tombstone
//! ```
//!
//! One task writes them all, in order, so a session's records and its correction
//! never swap. The tombstone of a dropped session follows its correction, and only
//! once Kafka took the correction: a restart in between, or after a failed append,
//! repeats the correction, which is harmless (below), rather than lose it.
//!
//! Why the SFU appends a command itself rather than calling command-api:
//!
//! * **The command path is the topic.** Joining and leaving are commands like any
//!   other (ARCHITECTURE.md); the processor decides and the event reaches members
//!   exactly as a REST or gateway leave does. Services meet through topics, not
//!   through each other's HTTP APIs.
//! * **No credential to borrow.** The SFU holds only the user's media token, which
//!   expires two minutes after the join while a call lasts hours; calling command-api
//!   would need a new service credential, a second way in for a single command.
//! * **No answer is needed.** The command is conditional: the aggregate clears the
//!   voice state only if the user is still in *that* channel, so a drop the user has
//!   moved past (they joined another channel, or left) changes nothing, and the SFU
//!   does not wait for the result. A repeated append is harmless for the same reason.
//!
//! The command is in the user's name: the SFU admitted this very user with a token
//! the issuer signed after the guild accepted the join, and the connection that
//! ended was theirs. Only drops are corrected: a peer that left on request
//! (`DELETE /sfu/sessions/{id}`) belongs to a client that leaves voice itself, and a
//! replaced peer's user is still connected through the new one (whose record has the
//! same key, so the replaced one's is not ended either).
//!
//! Media never waits for Kafka: a full queue drops the change (counted in
//! `sfu_voice_state_corrections_total` or `sfu_voice_session_records_total` with
//! `outcome="dropped"`), leaving the voice state to the client's next join or leave.
//!
//! One race is left, narrow: a client that joins again while the SFU restarts,
//! whose join the processor carries out just before the restart's correction, and
//! whose offer reaches the SFU only after that correction was appended, is
//! connected with its voice state cleared until it joins or leaves again.

use std::collections::BTreeMap;
use std::time::Duration;

use cloudcord_runtime::kafka::KafkaConfig;
use cloudcord_runtime::telemetry::ErrorChain;
use cloudcord_schemas::envelope::{
    Actor, AggregateRef, AggregateType, Authored, CommandEnvelope, CommandId,
};
use cloudcord_schemas::guild::GuildCommand;
use cloudcord_schemas::ids::{ChannelId, GuildId, UserId};
use cloudcord_schemas::topics::TopicSpec;
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::metrics::{Metrics, Outcome};

/// How long librdkafka may keep retrying one append before it is given up (its
/// `message.timeout.ms`; librdkafka's default is five minutes).
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// A user's media connection to a voice channel through this SFU; also the value of
/// its record on the `voice-sessions` topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    /// The user.
    pub user: UserId,
    /// The channel's guild.
    pub guild: GuildId,
    /// The voice channel.
    pub channel: ChannelId,
}

/// What happened to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    /// It is open (the SFU answered its offer).
    Opened(Connection),
    /// It ended as its client asked.
    Closed(Connection),
    /// It ended without its user leaving.
    Dropped(Connection),
}

/// Where the shard loops report connections. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Corrections {
    queue: mpsc::Sender<Change>,
    metrics: Metrics,
}

impl Corrections {
    /// `connection` is open.
    pub(crate) fn opened(&self, connection: Connection) {
        self.report(Change::Opened(connection));
    }

    /// `connection` ended as its client asked.
    pub(crate) fn closed(&self, connection: Connection) {
        self.report(Change::Closed(connection));
    }

    /// `connection` ended without its user leaving: its voice state is corrected.
    pub(crate) fn dropped(&self, connection: Connection) {
        self.report(Change::Dropped(connection));
    }

    /// Queues `change`, or drops it if the queue is full.
    fn report(&self, change: Change) {
        if self.queue.try_send(change).is_err() {
            match change {
                Change::Dropped(dropped) => {
                    tracing::warn!(user = %dropped.user, channel = %dropped.channel,
                        "voice state correction queue full; the voice state stays stale");
                    self.metrics.correction(Outcome::Dropped);
                }
                Change::Opened(connection) | Change::Closed(connection) => {
                    tracing::warn!(user = %connection.user, channel = %connection.channel,
                        "voice state correction queue full; a restart may miss this session, \
                         or correct it after it ended");
                    self.metrics.session_record(Outcome::Dropped);
                }
            }
        }
    }
}

/// Records connections and appends corrections, in the order they were reported.
pub struct Corrector {
    producer: FutureProducer,
    kafka: KafkaConfig,
    commands_topic: String,
    sessions_topic: String,
    /// This SFU's name in the records' keys (`sfu.instance`).
    instance: String,
    queue: mpsc::Receiver<Change>,
    metrics: Metrics,
}

impl Corrector {
    /// A corrector producing to `kafka`'s topics as SFU `instance`, with a queue of
    /// `capacity` changes, and the handle the shard loops report to.
    pub fn new(
        kafka: &KafkaConfig,
        instance: &str,
        capacity: usize,
        metrics: &Metrics,
    ) -> Result<(Self, Corrections), KafkaError> {
        let producer = kafka
            .producer_config(&format!("{}-voice-state", crate::NAME))
            .set("message.timeout.ms", SEND_TIMEOUT.as_millis().to_string())
            .create()?;
        let (queue_tx, queue) = mpsc::channel(capacity.max(1));
        let topics = kafka.topics();
        let corrector = Self {
            producer,
            kafka: kafka.clone(),
            commands_topic: topics.commands,
            sessions_topic: topics.voice_sessions,
            instance: instance.to_owned(),
            queue,
            metrics: metrics.clone(),
        };
        let corrections = Corrections {
            queue: queue_tx,
            metrics: metrics.clone(),
        };
        Ok((corrector, corrections))
    }

    /// Disconnects the voice states of the connections this instance recorded and
    /// never ended: a start after a crash or restart forgot them all. Returns once
    /// each correction and its tombstone was appended; gives up (logged) after
    /// `timeout` without Kafka — media does not need Kafka — and when `shutdown` is
    /// cancelled.
    pub async fn sweep(&self, timeout: Duration, shutdown: &CancellationToken) {
        tokio::select! {
            () = shutdown.cancelled() => {}
            swept = tokio::time::timeout(timeout, self.sweep_records()) => match swept {
                Ok(Ok(0)) => {}
                Ok(Ok(forgotten)) => tracing::info!(forgotten, instance = %self.instance,
                    "disconnected the voice states of the sessions a restart forgot"),
                Ok(Err(error)) => tracing::error!(error = %ErrorChain(&error),
                    "cannot read the voice-sessions topic; voice states of sessions from before \
                     this start stay until their users leave"),
                Err(_) => tracing::error!(?timeout,
                    "Kafka did not answer; voice states of sessions from before this start \
                     stay until their users leave"),
            },
        }
    }

    async fn sweep_records(&self) -> Result<usize, KafkaError> {
        let spec = TopicSpec::voice_sessions(&self.sessions_topic);
        self.kafka
            .ensure_topics(std::slice::from_ref(&spec))
            .await?;
        let (kafka, topic) = (self.kafka.clone(), self.sessions_topic.clone());
        let records =
            tokio::task::spawn_blocking(move || kafka.read_to_end(&topic, Duration::from_secs(10)))
                .await
                .map_err(|_| KafkaError::Canceled)??;
        let forgotten = open_sessions(
            &self.instance,
            records
                .iter()
                .map(|record| (record.key(), record.payload())),
        );
        for connection in &forgotten {
            self.change(Change::Dropped(*connection)).await;
        }
        Ok(forgotten.len())
    }

    /// Writes changes as they come until every [`Corrections`] is gone: the shard
    /// loops report their sessions as dropped when they stop. After `shutdown` is
    /// cancelled, what is left gets `stop_timeout` to reach Kafka; then it is
    /// abandoned (logged), so an unreachable broker never holds up the shutdown, and
    /// those sessions' records stay for the next start's sweep.
    pub async fn run(mut self, shutdown: CancellationToken, stop_timeout: Duration) {
        let written = async {
            while let Some(change) = self.queue.recv().await {
                self.change(change).await;
            }
        };
        tokio::pin!(written);
        tokio::select! {
            () = &mut written => return,
            () = shutdown.cancelled() => {}
        }
        if tokio::time::timeout(stop_timeout, written).await.is_err() {
            tracing::error!(
                ?stop_timeout,
                "Kafka did not take every voice state correction \
                before the stop; the next start of this instance makes the rest"
            );
        }
    }

    async fn change(&self, change: Change) {
        match change {
            Change::Opened(connection) => self.record(connection, true).await,
            Change::Closed(connection) => self.record(connection, false).await,
            Change::Dropped(connection) => {
                // Without its correction, the record stays for a restart to retry.
                if self.append(connection).await {
                    self.record(connection, false).await;
                }
            }
        }
    }

    /// Records `connection` as open, or ends its record with a tombstone.
    async fn record(&self, connection: Connection, open: bool) {
        let key = session_key(&self.instance, connection);
        let payload = match open.then(|| serde_json::to_vec(&connection)).transpose() {
            Ok(payload) => payload,
            // Three ids: serializing them cannot fail.
            Err(error) => {
                tracing::error!(error = %ErrorChain(&error), "cannot serialize a session record");
                return;
            }
        };
        let mut record = FutureRecord::<_, Vec<u8>>::to(&self.sessions_topic).key(&key);
        if let Some(payload) = &payload {
            record = record.payload(payload);
        }
        match self
            .producer
            .send(record, Timeout::After(SEND_TIMEOUT))
            .await
        {
            Ok(_) => self.metrics.session_record(Outcome::Appended),
            Err((error, _)) => {
                tracing::warn!(user = %connection.user, channel = %connection.channel,
                    error = %ErrorChain(&error), "cannot record a voice session");
                self.metrics.session_record(Outcome::Failed);
            }
        }
    }

    /// Appends the correction of `dropped`; whether Kafka took it.
    async fn append(&self, dropped: Connection) -> bool {
        let (key, envelope) = command(dropped, OffsetDateTime::now_utc());
        let payload = match serde_json::to_vec(&envelope) {
            Ok(payload) => payload,
            // Ids, a timestamp and a tag: serializing them cannot fail.
            Err(error) => {
                tracing::error!(error = %ErrorChain(&error), "cannot serialize a command");
                return false;
            }
        };
        let record = FutureRecord::to(&self.commands_topic)
            .key(&key)
            .payload(&payload);
        match self
            .producer
            .send(record, Timeout::After(SEND_TIMEOUT))
            .await
        {
            Ok(_) => {
                tracing::info!(user = %dropped.user, channel = %dropped.channel,
                    command_id = %envelope.command_id, "voice state correction appended");
                self.metrics.correction(Outcome::Appended);
                true
            }
            Err((error, _)) => {
                tracing::warn!(user = %dropped.user, channel = %dropped.channel,
                    error = %ErrorChain(&error), "cannot append a voice state correction");
                self.metrics.correction(Outcome::Failed);
                false
            }
        }
    }
}

/// A connection's key on the `voice-sessions` topic, as SFU `instance` records it
/// (its value is the [`Connection`] as JSON).
pub fn session_key(instance: &str, connection: Connection) -> String {
    format!("{instance}/{}/{}", connection.user, connection.channel)
}

/// The connections `instance` left open, from the topic's records (key, value) in
/// order: the last record of a key counts, a tombstone (no value) ends it, and a
/// value that does not parse is skipped (logged).
fn open_sessions<'r>(
    instance: &str,
    records: impl IntoIterator<Item = (Option<&'r [u8]>, Option<&'r [u8]>)>,
) -> Vec<Connection> {
    let prefix = format!("{instance}/");
    let mut open = BTreeMap::new();
    for (key, value) in records {
        let Some(key) = key.and_then(|key| std::str::from_utf8(key).ok()) else {
            continue;
        };
        if !key.starts_with(&prefix) {
            continue;
        }
        match value.map(serde_json::from_slice::<Connection>) {
            Some(Ok(connection)) => {
                open.insert(key.to_owned(), connection);
            }
            Some(Err(error)) => {
                tracing::warn!(key, error = %ErrorChain(&error), "skipping an unreadable session record");
            }
            None => {
                open.remove(key);
            }
        }
    }
    open.into_values().collect()
}

/// The Kafka key and the command correcting `dropped`'s voice state, as of `at`.
fn command(dropped: Connection, at: OffsetDateTime) -> (String, CommandEnvelope<GuildCommand>) {
    let target = AggregateRef {
        kind: AggregateType::Guild,
        id: dropped.guild.0,
    };
    let envelope = CommandEnvelope {
        command_id: CommandId::random().on(&target),
        target,
        body: Authored {
            actor: Actor::User(dropped.user),
            at,
            command: GuildCommand::DropVoiceConnection {
                channel_id: dropped.channel,
            },
        },
    };
    (target.shard_key(), envelope)
}

#[cfg(test)]
mod tests {
    use cloudcord_schemas::envelope::{Actor, AggregateType};
    use cloudcord_schemas::guild::GuildCommand;
    use cloudcord_schemas::ids::{ChannelId, GuildId, UserId};
    use time::OffsetDateTime;

    use super::{Connection, command, open_sessions, session_key};

    #[test]
    fn a_dropped_connection_becomes_the_users_drop_command_keyed_by_the_guild() {
        let dropped = Connection {
            user: UserId::new(11),
            guild: GuildId::new(22),
            channel: ChannelId::new(33),
        };
        let (key, envelope) = command(dropped, OffsetDateTime::UNIX_EPOCH);
        assert_eq!(key, "22", "commands are keyed by their guild's shard key");
        assert_eq!(envelope.target.kind, AggregateType::Guild);
        assert_eq!(envelope.body.actor, Actor::User(UserId::new(11)));
        assert_eq!(
            envelope.body.command,
            GuildCommand::DropVoiceConnection {
                channel_id: ChannelId::new(33)
            }
        );
        let (_, again) = command(dropped, OffsetDateTime::UNIX_EPOCH);
        assert_ne!(
            envelope.command_id, again.command_id,
            "each drop is its own command"
        );
    }

    #[test]
    fn a_start_finds_the_sessions_its_instance_left_open() {
        let connection = |user, channel| Connection {
            user: UserId::new(user),
            guild: GuildId::new(22),
            channel: ChannelId::new(channel),
        };
        let (kept, ended, moved, elsewhere) = (
            connection(1, 33),
            connection(2, 33),
            connection(3, 44),
            connection(4, 33),
        );
        let record = |instance, connection: Connection, open: bool| {
            (
                session_key(instance, connection).into_bytes(),
                open.then(|| serde_json::to_vec(&connection).expect("JSON")),
            )
        };
        let moved_again = Connection {
            channel: ChannelId::new(55),
            ..moved
        };
        let records = [
            record("sfu", kept, true),
            record("sfu", ended, true),
            record("sfu", moved, true),
            record("other", elsewhere, true),
            record("sfu", ended, false),
            record("sfu", moved, false),
            record("sfu", moved_again, true),
            (b"sfu/5/33".to_vec(), Some(b"not JSON".to_vec())),
            // A prefix of the instance's name is another instance.
            record("sf", kept, true),
        ];
        let open = open_sessions(
            "sfu",
            records
                .iter()
                .map(|(key, value)| (Some(key.as_slice()), value.as_deref())),
        );
        assert_eq!(open, vec![kept, moved_again]);
    }
}
