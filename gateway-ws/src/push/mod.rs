//! Web Push: mentions, replies and DMs pushed to the browsers of people who are
//! offline (RFC 8030 delivery, RFC 8291 encryption, RFC 8292 VAPID).
//!
//! The gateway decides, because it already has what the decision needs: the
//! `projected` topic (what PostgreSQL shows, so a notification never points at a
//! message a read cannot find), every session's presence across processes, the
//! guild states it routes with (`Fanout::with_guild`, else loaded from the read
//! models as READY's read states do), and the read models (notification settings,
//! subscriptions).
//!
//! * **Once per message across processes.** The [`Notifier`] is a Kafka consumer
//!   of `projected` in a group shared by every gateway process
//!   (`<prefix>gateway-push`), so Kafka splits the partitions among them (the
//!   fan-out consumer, by contrast, reads every partition in every process). Its
//!   offsets are committed after a record's pushes went out: at least once, so a
//!   crash between the two repeats that record's pushes — a duplicate
//!   notification, which is better than a lost one. Records older than
//!   [`MAX_AGE`] are skipped: a push about an hour-old message is noise (a new
//!   group's first start, or a long outage).
//! * **Who.** In a guild: the users mentioned directly (a pinging reply names the
//!   replied-to author there, as command-api records it), the members holding a
//!   mentioned role, and every member for `@everyone` (`@here` names only people
//!   who are online, so it never pushes); each must see the channel, and their
//!   notification settings must count it ([`GuildNotificationSettings::counts_mention`],
//!   the same rule as READY's unread mentions). In a DM: the other user. Never the
//!   author, and never anyone with a session on any gateway process (invisible
//!   included, and a session waiting to be resumed: its client will get the
//!   message from the replay).
//! * **What.** The JSON of [`Payload`], encrypted per subscription
//!   ([`encryption`]) and delivered with a VAPID JWT ([`delivery`]). A push
//!   service answering 404/410 means the browser dropped the subscription: it is
//!   removed with a `RemovePushSubscription` command on the `commands` topic
//!   (actor CloudCord), the same path every state change takes.

pub mod delivery;
pub mod encryption;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cloudcord_runtime::kafka::KafkaConfig;
use cloudcord_runtime::push::{PushConfig, VapidError, VapidKey};
use cloudcord_runtime::telemetry::ErrorChain;
use cloudcord_schemas::dm_channel::DmChannelEvent;
use cloudcord_schemas::envelope::{
    Actor, AggregateRef, AggregateType, Authored, CommandEnvelope, CommandId,
};
use cloudcord_schemas::guild::GuildEvent;
use cloudcord_schemas::ids::{ChannelId, GuildId, UserId};
use cloudcord_schemas::message::{MessageSent, UserSnapshot};
use cloudcord_schemas::user::{
    GuildNotificationSettings, MentionKinds, PushSubscription, UserCommand,
};
use futures::StreamExt as _;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message as _;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::gateway::{Gateway, unix_ms};
use crate::guild_state::GuildState;
use crate::projected::{self, Projected};
use delivery::{Delivered, Sender};

/// Records older than this are not pushed.
pub const MAX_AGE: Duration = Duration::from_secs(10 * 60);

/// How long a VAPID JWT is valid (RFC 8292 allows at most 24 hours).
const JWT_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);

/// The longest `body`, in characters.
const MAX_BODY_CHARS: usize = 200;

/// Deliveries of one message in flight at once.
const CONCURRENT_DELIVERIES: usize = 16;

/// How long a removal command may wait in the producer's queue.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a push went out (the payload's `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The message names them (directly, by a role, or `@everyone`).
    Mention,
    /// It replies to their message (and pings them).
    Reply,
    /// A direct message to them.
    Dm,
}

/// The author as the payload shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PayloadAuthor {
    /// Their id.
    pub id: UserId,
    /// Their username.
    pub username: String,
    /// Their display name.
    pub global_name: Option<String>,
}

/// What the service worker receives after decryption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Payload {
    /// Always `message`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The message.
    pub message_id: cloudcord_schemas::ids::MessageId,
    /// Its channel.
    pub channel_id: ChannelId,
    /// Its guild (`None` in a DM).
    pub guild_id: Option<GuildId>,
    /// Who wrote it.
    pub author: PayloadAuthor,
    /// The notification's title.
    pub title: String,
    /// The text, shortened.
    pub body: String,
    /// Where the web client shows it.
    pub url: String,
    /// Why this person got it.
    pub reason: Reason,
}

impl Payload {
    /// The payload of `message` for one recipient; `guild` is the guild and the
    /// channel's name (`None` in a DM).
    pub fn new(
        message: &MessageSent,
        guild: Option<(GuildId, &str)>,
        body: String,
        reason: Reason,
    ) -> Self {
        let author = &message.author;
        let name = author.global_name.as_deref().unwrap_or(&author.username);
        let (title, url) = match guild {
            Some((guild_id, channel)) => (
                format!("{name} in #{channel}"),
                format!("/channels/{guild_id}/{}", message.channel_id),
            ),
            None => (
                name.to_owned(),
                format!("/channels/@me/{}", message.channel_id),
            ),
        };
        Self {
            kind: "message",
            message_id: message.id,
            channel_id: message.channel_id,
            guild_id: guild.map(|(id, _)| id),
            author: PayloadAuthor {
                id: author.id,
                username: author.username.clone(),
                global_name: author.global_name.clone(),
            },
            title,
            body,
            url,
            reason,
        }
    }
}

/// `content` as a notification shows it: `<@id>`, `<@&id>` and `<#id>` as the
/// names `names` knows (the raw token otherwise), at most 200 characters (an
/// ellipsis marks a cut).
pub fn render_body(content: &str, names: impl Fn(char, &str) -> Option<String>) -> String {
    let mut text = String::with_capacity(content.len());
    let mut rest = content;
    while let Some(start) = rest.find('<') {
        text.push_str(&rest[..start]);
        let tail = &rest[start..];
        let token = tail.find('>').map(|end| &tail[..=end]);
        let rendered = token.and_then(|token| {
            let inner = &token[1..token.len() - 1];
            let (sigil, id) = if let Some(id) = inner.strip_prefix("@&") {
                ('&', id)
            } else if let Some(id) = inner.strip_prefix("@!") {
                ('@', id)
            } else if let Some(id) = inner.strip_prefix('@') {
                ('@', id)
            } else if let Some(id) = inner.strip_prefix('#') {
                ('#', id)
            } else {
                return None;
            };
            names(sigil, id).map(|name| (token.len(), name))
        });
        match rendered {
            Some((len, name)) => {
                text.push_str(&name);
                rest = &tail[len..];
            }
            None => {
                text.push('<');
                rest = &tail[1..];
            }
        }
    }
    text.push_str(rest);
    if text.chars().count() > MAX_BODY_CHARS {
        let mut cut: String = text.chars().take(MAX_BODY_CHARS - 1).collect();
        cut.push('…');
        cut
    } else {
        text
    }
}

/// The members of `state` that `message` names in `channel`, and how, among those
/// who can see the channel; never the author. `@here` names nobody here: it
/// addresses only people who are online, who get no push anyway.
pub fn named_members(state: &GuildState, message: &MessageSent) -> Vec<(UserId, MentionKinds)> {
    let everyone = message.mention_everyone && message.content.contains("@everyone");
    let mut named: BTreeMap<UserId, MentionKinds> = BTreeMap::new();
    for user in &message.mentions {
        named.entry(*user).or_default().direct = true;
    }
    if everyone || !message.mention_roles.is_empty() {
        for (user, member) in &state.members {
            let kinds = named.entry(*user).or_default();
            kinds.everyone = everyone;
            kinds.role = member
                .roles
                .iter()
                .any(|role| message.mention_roles.contains(role));
        }
    }
    named
        .into_iter()
        .filter(|(user, kinds)| {
            *user != message.author.id
                && (kinds.direct || kinds.role || kinds.everyone)
                && state.can_view(*user, message.channel_id)
        })
        .collect()
}

/// Names for [`render_body`] from a guild's state.
fn guild_names(state: &GuildState, sigil: char, id: &str) -> Option<String> {
    let id: u64 = id.parse().ok()?;
    match sigil {
        '@' => state.members.get(&UserId::new(id)).map(|member| {
            let user = &member.user;
            let name = member
                .nick
                .as_deref()
                .or(user.global_name.as_deref())
                .unwrap_or(&user.username);
            format!("@{name}")
        }),
        '&' => state
            .roles
            .get(&cloudcord_schemas::ids::RoleId::new(id))
            .map(|role| format!("@{}", role.name)),
        _ => state
            .channels
            .get(&ChannelId::new(id))
            .map(|channel| format!("#{}", channel.name)),
    }
}

/// Names for [`render_body`] in a DM: its two users.
fn dm_names(users: &[UserSnapshot], sigil: char, id: &str) -> Option<String> {
    let id: u64 = id.parse().ok()?;
    (sigil == '@')
        .then(|| users.iter().find(|user| user.id.get() == id))
        .flatten()
        .map(|user| format!("@{}", user.global_name.as_deref().unwrap_or(&user.username)))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// The notifier's metrics. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct PushMetrics {
    /// Deliveries, by outcome: `sent`, `gone`, `refused`, `throttled`,
    /// `unavailable`, `unencryptable`.
    deliveries: Family<OutcomeLabel, Counter>,
}

impl PushMetrics {
    /// Registers the metrics in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "gateway_push_deliveries",
            "Web Push deliveries, by outcome",
            self.deliveries.clone(),
        );
    }

    fn count(&self, outcome: &'static str) {
        self.deliveries
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }
}

/// Why the notifier could not start.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The VAPID key or contact is unusable.
    #[error(transparent)]
    Vapid(#[from] VapidError),
    /// TLS could not be set up.
    #[error(transparent)]
    Client(#[from] delivery::ClientError),
    /// The consumer or producer could not be created.
    #[error("cannot consume the projected topic for Web Push")]
    Kafka(#[from] KafkaError),
}

/// The push consumer of one gateway process.
pub struct Notifier {
    gateway: Gateway,
    consumer: StreamConsumer,
    producer: FutureProducer,
    commands: String,
    key: Arc<VapidKey>,
    sender: Sender,
    metrics: PushMetrics,
    allow_http: bool,
}

impl Notifier {
    /// Loads the VAPID key (start-up fails here, naming the setting, when it is
    /// missing or invalid) and joins the push group on `projected`.
    pub fn start(
        kafka: &KafkaConfig,
        push: &PushConfig,
        gateway: Gateway,
        metrics: PushMetrics,
    ) -> Result<Self, PushError> {
        let key = VapidKey::load(push)?;
        let group = format!("{}gateway-push", kafka.topic_prefix);
        let consumer: StreamConsumer = kafka
            .read_committed_consumer_config("gateway-push", &group)
            .create()?;
        let topics = kafka.topics();
        consumer.subscribe(&[topics.projected.as_str()])?;
        Ok(Self {
            gateway,
            consumer,
            producer: kafka.producer_config("gateway-push").create()?,
            commands: topics.commands,
            key: Arc::new(key),
            sender: Sender::new()?,
            metrics,
            allow_http: push.allow_http_endpoints,
        })
    }

    /// Pushes for every record until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let received = tokio::select! {
                () = shutdown.cancelled() => return,
                received = self.consumer.recv() => received,
            };
            let message = match received {
                Ok(message) => message,
                Err(error) => {
                    tracing::error!(error = %ErrorChain(&error), "cannot read projected for Web Push");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            };
            let produced = message.timestamp().to_millis().unwrap_or(0);
            let fresh = unix_ms().saturating_sub(produced)
                < i64::try_from(MAX_AGE.as_millis()).unwrap_or(i64::MAX);
            if fresh {
                match projected::decode(message.payload().unwrap_or_default()) {
                    Ok(Some(record)) => self.on_record(&record).await,
                    Ok(None) => {}
                    Err(error) => {
                        tracing::warn!(error = %ErrorChain(&error), "skipping a projected record")
                    }
                }
            }
            // After the pushes: at least once (see the module docs).
            let mut position = TopicPartitionList::new();
            let next = Offset::Offset(message.offset() + 1);
            if let Err(error) = position
                .add_partition_offset(message.topic(), message.partition(), next)
                .and_then(|()| self.consumer.commit(&position, CommitMode::Async))
            {
                tracing::warn!(error = %ErrorChain(&error), "cannot commit the push position");
            }
        }
    }

    async fn on_record(&self, record: &Projected) {
        let outcome = match record {
            Projected::Guild { guild, event, .. } => match &**event {
                GuildEvent::MessageSent(message) => self.guild_message(*guild, message).await,
                _ => Ok(()),
            },
            Projected::Dm { channel, event, .. } => match &**event {
                DmChannelEvent::MessageSent(message) => self.dm_message(*channel, message).await,
                _ => Ok(()),
            },
            Projected::User { .. } => Ok(()),
        };
        if let Err(error) = outcome {
            // The read models are unreachable: these pushes are lost (a retry
            // would hold up every later message of the partition).
            tracing::warn!(error = %ErrorChain(&error), "cannot decide a message's pushes");
        }
    }

    async fn guild_message(
        &self,
        guild: GuildId,
        message: &MessageSent,
    ) -> Result<(), sqlx::Error> {
        let anyone = !message.mentions.is_empty()
            || !message.mention_roles.is_empty()
            || message.mention_everyone;
        if !anyone {
            return Ok(());
        }
        let read_models = self.gateway.read_models();
        let decide = |state: &GuildState| {
            let named = named_members(state, message);
            let channel = state
                .channels
                .get(&message.channel_id)
                .map(|channel| channel.name.clone())
                .unwrap_or_default();
            let body = render_body(&message.content, |sigil, id| guild_names(state, sigil, id));
            (named, channel, body)
        };
        let fanout = self.gateway.fanout();
        let (named, channel, body) = match fanout.with_guild(guild, decide) {
            Some(decided) => decided,
            None => match read_models.guild(guild).await? {
                Some(state) => decide(&state),
                None => return Ok(()),
            },
        };
        // The cheap filters first (presence in memory, then who has a browser
        // subscribed at all), so an @everyone in a large guild costs two queries
        // for the few who are offline and subscribed, not one per member.
        let offline: Vec<(UserId, MentionKinds)> = named
            .into_iter()
            .filter(|(user, _)| self.offline(*user))
            .collect();
        let users: Vec<UserId> = offline.iter().map(|(user, _)| *user).collect();
        let subscriptions = read_models.push_subscriptions(&users).await?;
        if subscriptions.is_empty() {
            return Ok(());
        }
        let mut subscribed: Vec<UserId> = subscriptions.iter().map(|(user, _)| *user).collect();
        subscribed.dedup();
        let settings = read_models.guild_settings_of(guild, &subscribed).await?;
        let replied_author = match &message.message_reference {
            Some(reference) => read_models.message_author(reference.message_id).await?,
            None => None,
        };
        let now = OffsetDateTime::now_utc();
        let defaults = GuildNotificationSettings::default();
        let reasons: HashMap<UserId, Reason> = offline
            .into_iter()
            .filter(|(user, kinds)| {
                settings.get(user).unwrap_or(&defaults).counts_mention(
                    message.channel_id,
                    *kinds,
                    now,
                )
            })
            .map(|(user, kinds)| {
                let reply = kinds.direct && replied_author == Some(user);
                (
                    user,
                    if reply {
                        Reason::Reply
                    } else {
                        Reason::Mention
                    },
                )
            })
            .collect();
        self.deliver_all(
            message,
            Some((guild, channel.as_str())),
            &body,
            subscriptions,
            &reasons,
        )
        .await;
        Ok(())
    }

    /// Whether `user` has no session on any gateway process: the presence reports,
    /// and this process's own sessions (known before their first report arrives).
    fn offline(&self, user: UserId) -> bool {
        !self.gateway.fanout().has_session(user)
            && self.gateway.hub().sessions_of_user(user).is_empty()
    }

    async fn dm_message(
        &self,
        channel: ChannelId,
        message: &MessageSent,
    ) -> Result<(), sqlx::Error> {
        let Some(users) = self.gateway.read_models().dm_users(channel).await? else {
            return Ok(());
        };
        let read_models = self.gateway.read_models();
        let reasons: HashMap<UserId, Reason> = users
            .into_iter()
            .filter(|user| *user != message.author.id && self.offline(*user))
            .map(|user| (user, Reason::Dm))
            .collect();
        let recipients: Vec<UserId> = reasons.keys().copied().collect();
        let subscriptions = read_models.push_subscriptions(&recipients).await?;
        if subscriptions.is_empty() {
            return Ok(());
        }
        let mut snapshots = vec![message.author.clone()];
        for user in recipients {
            if let Some(row) = read_models.user(user).await? {
                snapshots.push(UserSnapshot {
                    id: user,
                    username: row.username,
                    global_name: row.global_name,
                    avatar: None,
                    bot: row.bot,
                });
            }
        }
        let body = render_body(&message.content, |sigil, id| {
            dm_names(&snapshots, sigil, id)
        });
        self.deliver_all(message, None, &body, subscriptions, &reasons)
            .await;
        Ok(())
    }

    /// Encrypts and delivers the payload to each of `subscriptions` whose user has
    /// a reason to get it, [`CONCURRENT_DELIVERIES`] at a time (a slow push
    /// service holds up its own deliveries, not everyone's).
    async fn deliver_all(
        &self,
        message: &MessageSent,
        guild: Option<(GuildId, &str)>,
        body: &str,
        subscriptions: Vec<(UserId, PushSubscription)>,
        reasons: &HashMap<UserId, Reason>,
    ) {
        let jobs = subscriptions
            .into_iter()
            .filter_map(|(user, subscription)| {
                let reason = *reasons.get(&user)?;
                Some((user, subscription, reason))
            });
        futures::stream::iter(jobs)
            .for_each_concurrent(
                CONCURRENT_DELIVERIES,
                |(user, subscription, reason)| async move {
                    let payload = Payload::new(message, guild, body.to_owned(), reason);
                    let outcome = self.deliver(&subscription, &payload).await;
                    self.metrics.count(outcome.label());
                    if outcome == Delivered::Gone {
                        self.remove(user, subscription.endpoint).await;
                    }
                },
            )
            .await;
    }

    async fn deliver(&self, subscription: &PushSubscription, payload: &Payload) -> Delivered {
        let endpoint = match Url::parse(&subscription.endpoint) {
            Ok(url) if url.scheme() == "https" || (self.allow_http && url.scheme() == "http") => {
                url
            }
            _ => return Delivered::Failed("bad_endpoint"),
        };
        // Invariant: the payload is plain data, which always serializes.
        let json = serde_json::to_vec(payload).unwrap_or_default();
        let keys = URL_SAFE_NO_PAD
            .decode(&subscription.p256dh)
            .ok()
            .zip(URL_SAFE_NO_PAD.decode(&subscription.auth).ok());
        let body = match keys.map(|(p256dh, auth)| encryption::encrypt(&json, &p256dh, &auth)) {
            Some(Ok(body)) => body,
            Some(Err(error)) => {
                tracing::warn!(error = %ErrorChain(&error), "cannot encrypt a push");
                return Delivered::Failed("unencryptable");
            }
            None => return Delivered::Failed("unencryptable"),
        };
        let audience = endpoint.origin().ascii_serialization();
        let exp = SystemTime::now()
            .checked_add(JWT_LIFETIME)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        let authorization = match self.key.authorization(&audience, exp) {
            Ok(value) => value,
            Err(error) => {
                tracing::warn!(error = %ErrorChain(&error), "cannot sign a VAPID JWT");
                return Delivered::Failed("unsigned");
            }
        };
        self.sender
            .deliver(delivery::Message {
                endpoint: &endpoint,
                authorization: &authorization,
                body,
                // Every push here is a mention, a reply or a DM.
                urgent: true,
            })
            .await
    }

    /// Asks the user's aggregate to forget `endpoint` (the push service said it
    /// is gone); best effort: a failure leaves it for the next 410.
    async fn remove(&self, user: UserId, endpoint: String) {
        let target = AggregateRef {
            kind: AggregateType::User,
            id: user.0,
        };
        let envelope = CommandEnvelope {
            command_id: CommandId::random().on(&target),
            target,
            body: Authored {
                actor: Actor::System,
                at: OffsetDateTime::now_utc(),
                command: UserCommand::RemovePushSubscription { endpoint },
            },
        };
        // Invariant: a command envelope is plain data, which always serializes.
        let value = serde_json::to_vec(&envelope).unwrap_or_default();
        let key = target.shard_key();
        let sent = self
            .producer
            .send(
                FutureRecord::to(&self.commands).key(&key).payload(&value),
                QUEUE_TIMEOUT,
            )
            .await;
        if let Err((error, _)) = sent {
            tracing::warn!(error = %ErrorChain(&error), "cannot remove a gone push subscription");
        }
    }
}

#[cfg(test)]
mod tests {
    use cloudcord_schemas::ids::{ChannelId, MessageId, UserId};
    use cloudcord_schemas::message::MessageSent;
    use cloudcord_schemas::permissions::{PermissionOverwrite, Permissions};
    use cloudcord_schemas::user::MentionKinds;
    use time::macros::datetime;

    use super::{named_members, render_body};
    use crate::guild_state::tests::{ALICE, BOB, MODS, OWNER, guild};

    const CHANNEL: ChannelId = ChannelId::new(10);

    fn sent(content: &str) -> MessageSent {
        MessageSent {
            id: MessageId::new(1),
            channel_id: CHANNEL,
            author: guild().members[&OWNER].user.clone(),
            content: content.to_owned(),
            timestamp: datetime!(2026-11-28 12:00 UTC),
            tts: false,
            mention_everyone: false,
            mentions: Vec::new(),
            mention_roles: Vec::new(),
            message_reference: None,
            nonce: None,
            attachments: Vec::new(),
        }
    }

    fn kinds(direct: bool, role: bool, everyone: bool) -> MentionKinds {
        MentionKinds {
            direct,
            role,
            everyone,
        }
    }

    #[test]
    fn members_are_named_directly_by_role_or_by_everyone_where_they_see_the_channel() {
        let mut state = guild();
        state.members.get_mut(&ALICE).expect("alice").roles = vec![MODS];
        // BOB does not see the channel.
        state
            .channels
            .get_mut(&CHANNEL)
            .expect("channel")
            .permission_overwrites = vec![PermissionOverwrite::member(
            BOB,
            Permissions::empty(),
            Permissions::VIEW_CHANNEL,
        )];
        let direct = MessageSent {
            mentions: vec![ALICE, BOB, OWNER],
            ..sent("<@2> <@3> <@1>")
        };
        let by_role = MessageSent {
            mention_roles: vec![MODS],
            ..sent("<@&200>")
        };
        let everyone = MessageSent {
            mention_everyone: true,
            ..sent("@everyone")
        };
        let here = MessageSent {
            mention_everyone: true,
            ..sent("@here")
        };
        let table: [(&MessageSent, Vec<(UserId, MentionKinds)>); 4] = [
            // Never the author; never someone who cannot see the channel.
            (&direct, vec![(ALICE, kinds(true, false, false))]),
            (&by_role, vec![(ALICE, kinds(false, true, false))]),
            (&everyone, vec![(ALICE, kinds(false, false, true))]),
            // @here addresses people who are online, who get no push.
            (&here, vec![]),
        ];
        for (message, expected) in table {
            assert_eq!(
                named_members(&state, message),
                expected,
                "{}",
                message.content
            );
        }
    }

    #[test]
    fn bodies_name_mentions_and_stay_short() {
        let names = |sigil: char, id: &str| match (sigil, id) {
            ('@', "1") => Some("@alice".to_owned()),
            ('#', "2") => Some("#general".to_owned()),
            _ => None,
        };
        assert_eq!(
            render_body("hi <@1> and <@!1>, see <#2> <@&9> <b>", names),
            "hi @alice and @alice, see #general <@&9> <b>"
        );
        let long = "é".repeat(300);
        let body = render_body(&long, names);
        assert_eq!(body.chars().count(), 200);
        assert!(body.ends_with('…'));
    }
}
