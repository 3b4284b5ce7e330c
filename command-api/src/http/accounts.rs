//! [`Accounts`]: the write side's own small read model — what the HTTP layer must
//! look up before it can even address a command.
//!
//! * username → user id, argon2 hash and profile snapshot (login, `POST
//!   /users/@me/relationships` by name, the author snapshot in `SendMessage`);
//! * a bot's current token generation (`Authorization: Bot …` must name it);
//! * channel id → where its commands go (a guild's shard or a DM channel's);
//! * guild membership and DM recipients (who may send typing indicators).
//!
//! It is built by consuming the `events` topic from offset 0 (read_committed, every
//! partition, no group, nothing committed) into memory, so it is a pure function of
//! the log and rebuilds itself at every start.
//!
//! **Read-your-writes.** A command's events commit in the same transaction as its
//! result, so by the time a request has its result the events are visible too — but
//! this projection may not have read them yet. A route that looks up what it just
//! wrote (login right after register, a bot token right after the application is
//! created) first calls [`Accounts::wait_until`] with a condition on the view (the
//! new user exists), or [`Accounts::wait_for_command`] with the command id. The
//! condition form also works for a repeated idempotency key, whose events may have
//! been applied long ago. A lookup that misses ([`Accounts::lookup`]) first
//! [`Accounts::sync`]s — waits until the view has read up to the log's end as of the
//! miss — so something created a moment ago through another process is found, and
//! a miss after that is a real 404.
//!
//! Cost: every command-api process reads the whole event log at start-up (messages
//! included, though it keeps none of them) and holds every account and membership in
//! memory. That is fine for development and small deployments; see the report on
//! the write-path issue for the compacted-topic alternative.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};
use std::time::Duration;

use cloudcord_runtime::auth::PasswordHash;
use cloudcord_runtime::kafka::{EndOfPartitionContext, KafkaConfig, retry_while_settling};
use cloudcord_runtime::telemetry::ErrorChain;
use cloudcord_schemas::dm_channel::DmChannelEvent;
use cloudcord_schemas::envelope::{AggregateType, CommandId, EventEnvelope};
use cloudcord_schemas::guild::{GuildEvent, MemberBanned, MemberKicked, MemberLeft};
use cloudcord_schemas::ids::{ApplicationId, GuildId, Snowflake, UserId};
use cloudcord_schemas::message::UserSnapshot;
use cloudcord_schemas::user::UserEvent;
use futures::StreamExt;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use cloudcord_runtime::http_error::HttpError;

/// How many recent command ids the view remembers for [`Accounts::wait_for_command`].
const RECENT_COMMANDS: usize = 65_536;

/// How long a metadata request may take at start-up.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// One account as the write side needs it.
#[derive(Debug, Clone)]
pub struct Account {
    /// The profile (what a message's author and a member's user look like).
    pub profile: UserSnapshot,
    /// The argon2id hash (`None` for bots).
    pub password_hash: Option<PasswordHash>,
    /// The e-mail address.
    pub email: Option<String>,
    /// A bot's application.
    pub application_id: Option<ApplicationId>,
    /// A bot's owner.
    pub owner_id: Option<UserId>,
    /// A bot's current token generation.
    pub bot_token_id: Option<u64>,
}

/// The aggregate a channel's commands go to.
///
/// Caveat for [`View::may_see`]: the view knows guild membership but not roles and
/// overwrites, so a member counts as seeing every channel of the guild. Commands are
/// checked exactly by the aggregate; only ephemeral typing relies on this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelHome {
    /// A guild channel: the guild's shard.
    Guild(GuildId),
    /// A DM channel: its own aggregate.
    Dm,
}

/// What the projection knows.
#[derive(Debug, Default)]
pub struct View {
    users: HashMap<UserId, Account>,
    by_username: HashMap<String, UserId>,
    guilds: HashMap<GuildId, UserId>,
    members: HashMap<GuildId, HashSet<UserId>>,
    dm_recipients: HashMap<Snowflake, [UserId; 2]>,
    channels: HashMap<Snowflake, ChannelHome>,
    /// Per partition of `events`: the next offset this view will read.
    positions: HashMap<i32, i64>,
    applications: HashMap<ApplicationId, UserId>,
    recent: HashSet<CommandId>,
    recent_order: VecDeque<CommandId>,
    caught_up: bool,
}

impl View {
    /// The account of `user_id`.
    pub fn user(&self, user_id: UserId) -> Option<&Account> {
        self.users.get(&user_id)
    }

    /// The account holding the (normalized) `username`.
    pub fn by_username(&self, username: &str) -> Option<(UserId, &Account)> {
        let id = *self.by_username.get(username)?;
        Some((id, self.users.get(&id)?))
    }

    /// The owner of `guild_id`, if the guild exists.
    pub fn guild_owner(&self, guild_id: GuildId) -> Option<UserId> {
        self.guilds.get(&guild_id).copied()
    }

    /// Whether `user_id` is a member of `guild_id`.
    pub fn is_member(&self, guild_id: GuildId, user_id: UserId) -> bool {
        self.members
            .get(&guild_id)
            .is_some_and(|members| members.contains(&user_id))
    }

    /// Whether `user_id` may see `channel_id` (see the caveat on [`ChannelHome`]):
    /// a member of its guild, or one of its DM's two recipients.
    pub fn may_see(&self, channel_id: Snowflake, user_id: UserId) -> Option<bool> {
        Some(match self.channel(channel_id)? {
            ChannelHome::Guild(guild_id) => self.is_member(guild_id, user_id),
            ChannelHome::Dm => self
                .dm_recipients
                .get(&channel_id)
                .is_some_and(|pair| pair.contains(&user_id)),
        })
    }

    /// Where the commands of `channel_id` go, if the channel exists.
    pub fn channel(&self, channel_id: Snowflake) -> Option<ChannelHome> {
        self.channels.get(&channel_id).copied()
    }

    /// The bot user of `application_id`.
    pub fn application_bot(&self, application_id: ApplicationId) -> Option<UserId> {
        self.applications.get(&application_id).copied()
    }

    /// Whether an event of `command_id` was applied recently.
    pub fn applied(&self, command_id: &CommandId) -> bool {
        self.recent.contains(command_id)
    }

    /// Whether the view has read everything that was committed when it started.
    pub fn caught_up(&self) -> bool {
        self.caught_up
    }

    fn remember(&mut self, command_id: CommandId) {
        if self.recent.insert(command_id.clone()) {
            self.recent_order.push_back(command_id);
            if self.recent_order.len() > RECENT_COMMANDS
                && let Some(old) = self.recent_order.pop_front()
            {
                self.recent.remove(&old);
            }
        }
    }

    /// Applies one event record (unknown aggregate or event types are skipped).
    pub fn apply(&mut self, record: &[u8]) -> Result<(), serde_json::Error> {
        let envelope: EventEnvelope<serde_json::Value> = serde_json::from_slice(record)?;
        let id = envelope.aggregate.id;
        match envelope.aggregate.kind {
            AggregateType::User => {
                let event: UserEvent = serde_json::from_value(envelope.event)?;
                self.apply_user(UserId(id), event);
            }
            AggregateType::Guild => {
                let event: GuildEvent = serde_json::from_value(envelope.event)?;
                self.apply_guild(GuildId(id), event);
            }
            AggregateType::DmChannel => {
                let event: DmChannelEvent = serde_json::from_value(envelope.event)?;
                if let DmChannelEvent::DmChannelOpened(opened) = event {
                    self.channels.insert(id, ChannelHome::Dm);
                    self.dm_recipients
                        .insert(id, opened.recipients.map(|user| user.id));
                }
            }
            AggregateType::UsernameClaim => {}
        }
        self.remember(envelope.command_id);
        Ok(())
    }

    fn apply_user(&mut self, user_id: UserId, event: UserEvent) {
        match event {
            UserEvent::UserRegistered(registered) => {
                let password_hash = registered.password_hash.and_then(|phc| {
                    PasswordHash::parse(phc)
                        .inspect_err(|error| {
                            tracing::warn!(%user_id, error = %ErrorChain(error), "unusable password hash");
                        })
                        .ok()
                });
                self.by_username
                    .insert(registered.username.clone(), user_id);
                if let Some(application_id) = registered.application_id {
                    self.applications.insert(application_id, user_id);
                }
                self.users.insert(
                    user_id,
                    Account {
                        profile: UserSnapshot {
                            id: user_id,
                            username: registered.username,
                            global_name: registered.global_name,
                            avatar: None,
                            bot: registered.bot,
                        },
                        password_hash,
                        email: registered.email,
                        application_id: registered.application_id,
                        owner_id: registered.owner_id,
                        bot_token_id: registered.bot_token_id,
                    },
                );
            }
            UserEvent::UserProfileUpdated(updated) => {
                let Some(account) = self.users.get_mut(&user_id) else {
                    return;
                };
                if account.profile.username != updated.username {
                    if self.by_username.get(&account.profile.username) == Some(&user_id) {
                        self.by_username.remove(&account.profile.username);
                    }
                    self.by_username.insert(updated.username.clone(), user_id);
                }
                account.profile.username = updated.username;
                account.profile.global_name = updated.global_name;
                account.profile.avatar = updated.avatar;
            }
            UserEvent::BotTokenReset(reset) => {
                if let Some(account) = self.users.get_mut(&user_id) {
                    account.bot_token_id = Some(reset.token_id);
                }
            }
            UserEvent::PasswordChanged(changed) => {
                let Some(account) = self.users.get_mut(&user_id) else {
                    return;
                };
                match PasswordHash::parse(changed.password_hash) {
                    Ok(hash) => account.password_hash = Some(hash),
                    // The aggregate accepts only argon2id strings, so this is a
                    // corrupt record: no password then, rather than the old one.
                    Err(error) => {
                        tracing::warn!(%user_id, error = %ErrorChain(&error), "unusable password hash");
                        account.password_hash = None;
                    }
                }
            }
            _ => {}
        }
    }

    fn apply_guild(&mut self, guild_id: GuildId, event: GuildEvent) {
        match event {
            GuildEvent::GuildCreated(created) => {
                self.guilds.insert(guild_id, created.owner.id);
                self.members
                    .entry(guild_id)
                    .or_default()
                    .insert(created.owner.id);
                for channel in created.channels {
                    self.channels
                        .insert(channel.id.0, ChannelHome::Guild(guild_id));
                }
            }
            GuildEvent::GuildUpdated(updated) => {
                if let Some(owner) = updated.owner_id {
                    self.guilds.insert(guild_id, owner);
                }
            }
            GuildEvent::GuildDeleted(_) => {
                self.guilds.remove(&guild_id);
                self.members.remove(&guild_id);
                self.channels
                    .retain(|_, home| *home != ChannelHome::Guild(guild_id));
            }
            GuildEvent::ChannelCreated(created) => {
                self.channels
                    .insert(created.channel.id.0, ChannelHome::Guild(guild_id));
            }
            GuildEvent::ChannelDeleted(deleted) => {
                self.channels.remove(&deleted.channel.id.0);
            }
            GuildEvent::MemberJoined(joined) => {
                self.members
                    .entry(guild_id)
                    .or_default()
                    .insert(joined.user.id);
            }
            GuildEvent::MemberLeft(MemberLeft { user_id })
            | GuildEvent::MemberKicked(MemberKicked { user_id })
            | GuildEvent::MemberBanned(MemberBanned { user_id, .. }) => {
                if let Some(members) = self.members.get_mut(&guild_id) {
                    members.remove(&user_id);
                }
            }
            _ => {}
        }
    }

    /// Whether this view has read every partition up to `targets` (offsets).
    fn reached(&self, targets: &[(i32, i64)]) -> bool {
        targets.iter().all(|(partition, target)| {
            self.positions.get(partition).copied().unwrap_or(0) >= *target
        })
    }
}

/// The projection's handle. Cheap to clone.
#[derive(Clone)]
pub struct Accounts {
    view: Arc<RwLock<View>>,
    consumer: Arc<StreamConsumer<EndOfPartitionContext>>,
    topic: String,
    partitions: Vec<i32>,
    /// Bumped after every applied record, so waiters re-check their condition.
    version: watch::Receiver<u64>,
}

impl Accounts {
    /// Starts consuming the events topic from its beginning; runs until `shutdown`.
    pub async fn start(
        kafka: &KafkaConfig,
        shutdown: CancellationToken,
    ) -> Result<Self, KafkaError> {
        let topic = kafka.topics().events;
        let consumer: StreamConsumer<EndOfPartitionContext> = kafka
            .read_committed_consumer_config(
                &format!("{}-accounts", crate::NAME),
                // Required by librdkafka, never joined: partitions are assigned here.
                &format!("{}command-api-accounts-unused", kafka.topic_prefix),
            )
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            .set("fetch.wait.max.ms", "10")
            .create_with_context(EndOfPartitionContext)?;
        let consumer = Arc::new(consumer);
        let partitions = {
            let consumer = Arc::clone(&consumer);
            let topic = topic.clone();
            tokio::task::spawn_blocking(move || {
                retry_while_settling(|| partitions_of(&consumer, &topic))
            })
            .await
            .map_err(|_| KafkaError::Canceled)??
        };
        let mut assignment = TopicPartitionList::new();
        for partition in &partitions {
            assignment.add_partition_offset(&topic, *partition, Offset::Beginning)?;
        }
        consumer.assign(&assignment)?;
        let view = Arc::new(RwLock::new(View::default()));
        let (sender, version) = watch::channel(0);
        tokio::spawn(consume(
            Arc::clone(&consumer),
            topic.clone(),
            Arc::clone(&view),
            sender,
            partitions.len(),
            shutdown,
        ));
        Ok(Self {
            view,
            consumer,
            topic,
            partitions,
            version,
        })
    }

    /// Reads the view as it is now.
    pub fn read(&self) -> RwLockReadGuard<'_, View> {
        self.view.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits (at most `limit`) until the view has caught up with the log and
    /// `condition` holds, then returns what `condition` found.
    pub async fn wait_until<T>(
        &self,
        limit: Duration,
        mut condition: impl FnMut(&View) -> Option<T>,
    ) -> Result<T, HttpError> {
        let mut version = self.version.clone();
        let waited = tokio::time::timeout(limit, async {
            loop {
                {
                    let view = self.read();
                    if view.caught_up
                        && let Some(found) = condition(&view)
                    {
                        return Some(found);
                    }
                }
                if version.changed().await.is_err() {
                    // The projection stopped (shutdown): nothing more will arrive.
                    return None;
                }
            }
        })
        .await;
        match waited {
            Ok(Some(found)) => Ok(found),
            Ok(None) | Err(_) => Err(HttpError::busy()),
        }
    }

    /// Waits (at most `limit`) until an event of `command_id` has been applied.
    pub async fn wait_for_command(
        &self,
        limit: Duration,
        command_id: &CommandId,
    ) -> Result<(), HttpError> {
        self.wait_until(limit, |view| view.applied(command_id).then_some(()))
            .await
    }

    /// Waits (at most `limit`) until the view has read everything committed to the
    /// events topic before this call, then reads it.
    ///
    /// For a lookup that missed: what the caller looks for may have been committed a
    /// moment ago (another client just created the channel) — after this, a miss is
    /// a real miss.
    pub async fn sync(&self, limit: Duration) -> Result<RwLockReadGuard<'_, View>, HttpError> {
        let consumer = Arc::clone(&self.consumer);
        let topic = self.topic.clone();
        let partitions = self.partitions.clone();
        let targets = tokio::task::spawn_blocking(move || {
            partitions
                .into_iter()
                .map(|partition| {
                    retry_while_settling(|| {
                        consumer.fetch_watermarks(&topic, partition, METADATA_TIMEOUT)
                    })
                    .map(|(_, high)| (partition, high))
                })
                .collect::<Result<Vec<_>, KafkaError>>()
        })
        .await
        .map_err(|error| HttpError::internal("reading the event log's end", error))?
        .map_err(|error| HttpError::internal("reading the event log's end", error))?;
        self.wait_until(limit, |view| view.reached(&targets).then_some(()))
            .await?;
        Ok(self.read())
    }

    /// Looks `find` up; on a miss, [`Self::sync`]s and looks again.
    pub async fn lookup<T>(
        &self,
        limit: Duration,
        mut find: impl FnMut(&View) -> Option<T>,
    ) -> Result<Option<T>, HttpError> {
        if let Some(found) = find(&*self.ready(limit).await?) {
            return Ok(Some(found));
        }
        Ok(find(&*self.sync(limit).await?))
    }

    /// Waits (at most `limit`) until the view has caught up with the log as it was
    /// at start-up, then reads it.
    pub async fn ready(&self, limit: Duration) -> Result<RwLockReadGuard<'_, View>, HttpError> {
        self.wait_until(limit, |_| Some(())).await?;
        Ok(self.read())
    }
}

fn partitions_of(
    consumer: &StreamConsumer<EndOfPartitionContext>,
    topic: &str,
) -> Result<Vec<i32>, KafkaError> {
    let metadata = consumer.fetch_metadata(Some(topic), METADATA_TIMEOUT)?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(KafkaError::MetadataFetch(
            rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition,
        ));
    }
    Ok(partitions)
}

async fn consume(
    consumer: Arc<StreamConsumer<EndOfPartitionContext>>,
    topic: String,
    view: Arc<RwLock<View>>,
    version: watch::Sender<u64>,
    partitions: usize,
    shutdown: CancellationToken,
) {
    let mut at_end: HashSet<i32> = HashSet::new();
    let mut stream = consumer.stream();
    loop {
        let message = tokio::select! {
            () = shutdown.cancelled() => break,
            message = stream.next() => message,
        };
        match message {
            None => break,
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                // At the end the position may lie past what the last message says
                // (a transaction's commit marker takes an offset too): ask the client.
                let position = consumer.position().ok().and_then(|list| {
                    list.elements_for_topic(&topic)
                        .iter()
                        .find(|e| e.partition() == partition)
                        .and_then(|e| e.offset().to_raw())
                });
                let mut view = view.write().unwrap_or_else(PoisonError::into_inner);
                if let Some(position) = position {
                    let known = view.positions.entry(partition).or_insert(0);
                    *known = (*known).max(position);
                }
                if at_end.insert(partition) && at_end.len() == partitions {
                    view.caught_up = true;
                    tracing::info!("accounts projection caught up with the event log");
                }
                drop(view);
                version.send_modify(|v| *v += 1);
            }
            Some(Err(error)) => {
                tracing::warn!(error = %ErrorChain(&error), "accounts projection: consumer error");
            }
            Some(Ok(message)) => {
                let Some(payload) = message.payload() else {
                    continue;
                };
                let applied = {
                    let mut view = view.write().unwrap_or_else(PoisonError::into_inner);
                    view.positions
                        .insert(message.partition(), message.offset() + 1);
                    view.apply(payload)
                };
                if let Err(error) = applied {
                    // An event this build does not know (a newer producer): skipping it
                    // only hides lookups the old code could not serve anyway.
                    tracing::warn!(
                        error = %ErrorChain(&error),
                        partition = message.partition(),
                        offset = message.offset(),
                        "accounts projection: skipped an undecodable event"
                    );
                }
                version.send_modify(|v| *v += 1);
            }
        }
    }
    tracing::debug!("accounts projection stopped");
}

#[cfg(test)]
mod tests {
    use cloudcord_schemas::dm_channel::{DmChannelEvent, DmChannelOpened, dm_channel_id};
    use cloudcord_schemas::envelope::{
        Actor, AggregateRef, AggregateType, CommandId, ENVELOPE_VERSION, EventEnvelope, event_id,
    };
    use cloudcord_schemas::ids::{Snowflake, UserId};
    use cloudcord_schemas::message::UserSnapshot;
    use cloudcord_schemas::user::{BotTokenReset, UserEvent, UserProfileUpdated, UserRegistered};
    use serde::Serialize;

    use super::{ChannelHome, View};

    const NELLY: UserId = UserId::new(10);
    const BOT: UserId = UserId::new(20);

    fn record<E: Serialize>(kind: AggregateType, id: Snowflake, seq: u64, event: E) -> Vec<u8> {
        let aggregate = AggregateRef { kind, id };
        serde_json::to_vec(&EventEnvelope {
            event_id: event_id(aggregate, seq),
            aggregate,
            seq,
            prev_hash: None,
            command_id: CommandId::from_client_key(&Actor::System, &format!("c{seq}"))
                .expect("key"),
            actor: Actor::System,
            occurred_at: time::OffsetDateTime::UNIX_EPOCH,
            envelope_version: ENVELOPE_VERSION,
            event_version: 1,
            event,
        })
        .expect("serializes")
    }

    fn registered(user_id: UserId, username: &str, bot: bool) -> UserEvent {
        UserEvent::UserRegistered(UserRegistered {
            user_id,
            username: username.into(),
            global_name: None,
            email: None,
            password_hash: None,
            bot,
            application_id: None,
            owner_id: None,
            bot_token_id: bot.then_some(1),
        })
    }

    fn snapshot(id: UserId, username: &str) -> UserSnapshot {
        UserSnapshot {
            id,
            username: username.into(),
            global_name: None,
            avatar: None,
            bot: false,
        }
    }

    #[test]
    fn a_rename_moves_the_username_lookup_to_the_new_name() {
        let mut view = View::default();
        view.apply(&record(
            AggregateType::User,
            NELLY.0,
            1,
            registered(NELLY, "nelly", false),
        ))
        .expect("applies");
        view.apply(&record(
            AggregateType::User,
            NELLY.0,
            2,
            UserEvent::UserProfileUpdated(UserProfileUpdated {
                username: "nelly.dev".into(),
                global_name: Some("Nelly".into()),
                avatar: None,
            }),
        ))
        .expect("applies");
        assert!(view.by_username("nelly").is_none());
        let (id, account) = view.by_username("nelly.dev").expect("found");
        assert_eq!(id, NELLY);
        assert_eq!(account.profile.global_name.as_deref(), Some("Nelly"));
        let applied = cloudcord_schemas::envelope::CommandId::from_client_key(&Actor::System, "c2")
            .expect("key");
        assert!(view.applied(&applied));
    }

    #[test]
    fn a_bot_token_reset_moves_the_current_generation() {
        let mut view = View::default();
        view.apply(&record(
            AggregateType::User,
            BOT.0,
            1,
            registered(BOT, "bot", true),
        ))
        .expect("applies");
        assert_eq!(view.user(BOT).and_then(|a| a.bot_token_id), Some(1));
        view.apply(&record(
            AggregateType::User,
            BOT.0,
            2,
            UserEvent::BotTokenReset(BotTokenReset { token_id: 7 }),
        ))
        .expect("applies");
        assert_eq!(view.user(BOT).and_then(|a| a.bot_token_id), Some(7));
    }

    #[test]
    fn only_a_dms_two_recipients_may_see_it() {
        let mut view = View::default();
        let channel = dm_channel_id(NELLY, BOT);
        view.apply(&record(
            AggregateType::DmChannel,
            channel.0,
            1,
            DmChannelEvent::DmChannelOpened(DmChannelOpened {
                channel_id: channel,
                recipients: [snapshot(NELLY, "nelly"), snapshot(BOT, "bot")],
            }),
        ))
        .expect("applies");
        assert_eq!(view.channel(channel.0), Some(ChannelHome::Dm));
        assert_eq!(view.may_see(channel.0, NELLY), Some(true));
        assert_eq!(view.may_see(channel.0, UserId::new(99)), Some(false));
        assert_eq!(view.may_see(Snowflake::new(5), NELLY), None);
    }
}
