//! Voice state corrections: when a peer's media connection drops — its ICE fails,
//! it vanishes, it never connects — its user leaves the voice channel through the
//! command path, so guild members see VOICE_STATE_UPDATE with `channel_id: null`
//! instead of a ghost who stays "in" the channel forever.
//!
//! ```text
//! shard loop ── SfuEvent::Left { reason: Disconnected } ──► Corrections (bounded queue)
//!   ──► Corrector ── DropVoiceConnection { channel_id }, actor = the user,
//!                    key = the guild ──► commands topic ──► guild aggregate ──► events
//! ```
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
//! ended was theirs. Only drops are reported: a peer that left on request
//! (`DELETE /sfu/sessions/{id}`) belongs to a client that leaves voice itself, and a
//! replaced peer's user is still connected through the new one.
//!
//! Media never waits for Kafka: a full queue drops the correction (counted in
//! `sfu_voice_state_corrections_total{outcome="dropped"}`), leaving the voice state
//! to the client's next join or leave.

use std::time::Duration;

use cloudcord_runtime::kafka::KafkaConfig;
use cloudcord_runtime::telemetry::ErrorChain;
use cloudcord_schemas::envelope::{
    Actor, AggregateRef, AggregateType, Authored, CommandEnvelope, CommandId,
};
use cloudcord_schemas::guild::GuildCommand;
use cloudcord_schemas::ids::{ChannelId, GuildId, UserId};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::metrics::{Correction, Metrics};

/// How long librdkafka may keep retrying one append before the correction is lost
/// (its `message.timeout.ms`; librdkafka's default is five minutes).
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// A user's media connection to a voice channel ended without them leaving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DroppedConnection {
    /// The user.
    pub user: UserId,
    /// The channel's guild.
    pub guild: GuildId,
    /// The voice channel.
    pub channel: ChannelId,
}

/// Where the shard loops report dropped connections. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Corrections {
    queue: mpsc::Sender<DroppedConnection>,
    metrics: Metrics,
}

impl Corrections {
    /// Queues the correction for `dropped`, or drops it if the queue is full.
    pub(crate) fn report(&self, dropped: DroppedConnection) {
        if self.queue.try_send(dropped).is_err() {
            tracing::warn!(user = %dropped.user, channel = %dropped.channel,
                "voice state correction queue full; the voice state stays stale");
            self.metrics.correction(Correction::Dropped);
        }
    }
}

/// Appends the queued corrections to the `commands` topic.
pub struct Corrector {
    producer: FutureProducer,
    commands_topic: String,
    queue: mpsc::Receiver<DroppedConnection>,
    metrics: Metrics,
}

impl Corrector {
    /// A corrector producing to `kafka`'s `commands` topic, with a queue of
    /// `capacity` corrections, and the handle the shard loops report to.
    pub fn new(
        kafka: &KafkaConfig,
        capacity: usize,
        metrics: &Metrics,
    ) -> Result<(Self, Corrections), KafkaError> {
        let producer = kafka
            .producer_config(&format!("{}-voice-state", crate::NAME))
            .set("message.timeout.ms", SEND_TIMEOUT.as_millis().to_string())
            .create()?;
        let (queue_tx, queue) = mpsc::channel(capacity.max(1));
        let corrector = Self {
            producer,
            commands_topic: kafka.topics().commands,
            queue,
            metrics: metrics.clone(),
        };
        let corrections = Corrections {
            queue: queue_tx,
            metrics: metrics.clone(),
        };
        Ok((corrector, corrections))
    }

    /// Appends corrections as they come until `shutdown` is cancelled; an append
    /// still waiting for Kafka then is abandoned, so an unreachable broker never
    /// holds up the shutdown.
    pub async fn run(mut self, shutdown: CancellationToken) {
        loop {
            let dropped = tokio::select! {
                () = shutdown.cancelled() => return,
                dropped = self.queue.recv() => dropped,
            };
            let Some(dropped) = dropped else { return };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.append(dropped) => {}
            }
        }
    }

    async fn append(&self, dropped: DroppedConnection) {
        let (key, envelope) = command(dropped, OffsetDateTime::now_utc());
        let payload = match serde_json::to_vec(&envelope) {
            Ok(payload) => payload,
            // Ids, a timestamp and a tag: serializing them cannot fail.
            Err(error) => {
                tracing::error!(error = %ErrorChain(&error), "cannot serialize a command");
                return;
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
                self.metrics.correction(Correction::Appended);
            }
            Err((error, _)) => {
                tracing::warn!(user = %dropped.user, channel = %dropped.channel,
                    error = %ErrorChain(&error), "cannot append a voice state correction");
                self.metrics.correction(Correction::Failed);
            }
        }
    }
}

/// The Kafka key and the command correcting `dropped`'s voice state, as of `at`.
fn command(
    dropped: DroppedConnection,
    at: OffsetDateTime,
) -> (String, CommandEnvelope<GuildCommand>) {
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

    use super::{DroppedConnection, command};

    #[test]
    fn a_dropped_connection_becomes_the_users_drop_command_keyed_by_the_guild() {
        let dropped = DroppedConnection {
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
}
