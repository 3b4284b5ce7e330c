//! [`Gateway`]: what every connection of this process shares — the sessions, the
//! token verifier, the read models and the rules — and the two handshakes that need
//! them: Identify (a new session, READY) and Resume (replay, RESUMED).

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use cloudcord_runtime::auth::TokenVerifier;
use cloudcord_runtime::files::signing::UrlSigner;
use cloudcord_runtime::origin::AllowedOrigins;
use cloudcord_runtime::telemetry::ErrorChain;
use cloudcord_schemas::ids::{ChannelId, GuildId, UserId};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{AuthError, authenticate};
use crate::fanout::{Fanout, FollowUps, Position};
use crate::handover::Handovers;
use crate::handover::catch_up::CatchUp;
use crate::hub::{Attachment, Hub, ResumeRefused, Slot};
use crate::metrics::{Metrics, ResumeOutcome};
use crate::objects::Ready;
use crate::projected::Projected;
use crate::protocol::close_code::CloseCode;
use crate::protocol::connection::ConnectionConfig;
use crate::protocol::payload::{
    IdentifyRequest, MemberRequest, PresenceUpdate, Resume, Shard, VoiceStateUpdate,
};
use crate::protocol::session::{Identity, Session};
use crate::read_models::ReadModels;
use crate::read_states;
use crate::relationships::Relationships;
use crate::session_starts::{Admission, SessionStarts};
use crate::settings::{HttpSettings, SessionSettings};
use crate::store::GatewayStore;
use crate::voice::{self, VoiceRoutes};
use cloudcord_schemas::ephemeral::{Ephemeral, PresenceReport, SessionPresence, Status};

/// How long a handed-over session may take to catch up with this process.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(5);

/// Age past which a hand-over request or a typing record is not acted on.
const STALE: Duration = Duration::from_secs(10);

/// Most sessions per presence report (a record stays far below Kafka's 1 MB).
const PRESENCES_PER_REPORT: usize = 500;

/// Now, in Unix milliseconds (presence changes, `ephemeral` record ages).
pub(crate) fn unix_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX)
}

/// How an Identify or a Resume ended when it started or resumed no session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeFailure {
    /// Invalid Session. `d: false`: identify anew (the Resume's session is gone),
    /// or later (the Identify was past the bot's session start limit). `d: true`:
    /// the session could not be reached just now and may be resumed later.
    SessionInvalid {
        /// Op 9's `d`.
        resumable: bool,
    },
    /// Close with this code.
    Close(CloseCode),
}

impl From<CloseCode> for HandshakeFailure {
    fn from(code: CloseCode) -> Self {
        Self::Close(code)
    }
}

/// The shared state of one gateway process. Cheap to clone.
#[derive(Clone)]
pub struct Gateway(Arc<Inner>);

struct Inner {
    metrics: Metrics,
    hub: Hub,
    fanout: Fanout,
    verifier: TokenVerifier,
    read_models: ReadModels,
    /// The gateway's own tables.
    store: GatewayStore,
    session_starts: SessionStarts,
    /// `None`: sessions never leave this process and nothing is published to
    /// `ephemeral` (no Kafka, as in some tests).
    handovers: Option<Handovers>,
    /// This process's name in presence reports.
    process_id: String,
    sessions: SessionSettings,
    resume_gateway_url: String,
    allowed_origins: AllowedOrigins,
    /// command-api's voice routes, for op 4.
    voice: VoiceRoutes,
    /// RELATIONSHIP_ADD and RELATIONSHIP_REMOVE, sent in order.
    relationships: Relationships,
    shutdown: CancellationToken,
    connections: TaskTracker,
}

impl Gateway {
    /// A gateway verifying tokens with `verifier`, reading `read_models`, keeping
    /// its own tables in `store` and handing sessions over through `handovers`,
    /// signing attachment URLs with `signer`; its connections end (with Reconnect)
    /// when `shutdown` is cancelled.
    #[expect(
        clippy::too_many_arguments,
        reason = "each is a separately configured part; a builder would only rename them"
    )]
    pub fn new(
        verifier: TokenVerifier,
        read_models: ReadModels,
        store: GatewayStore,
        handovers: Option<Handovers>,
        http: &HttpSettings,
        sessions: &SessionSettings,
        signer: UrlSigner,
        shutdown: CancellationToken,
    ) -> Self {
        let metrics = Metrics::default();
        Self(Arc::new_cyclic(|inner: &Weak<Inner>| Inner {
            relationships: Relationships::start(
                read_models.clone(),
                {
                    let inner = inner.clone();
                    move |user| {
                        inner
                            .upgrade()
                            .map(|inner| inner.hub.sessions_of_user(user))
                            .unwrap_or_default()
                    }
                },
                shutdown.clone(),
            ),
            hub: Hub::new(sessions.outbound_queue, metrics.clone()),
            metrics,
            fanout: Fanout::new(signer),
            verifier,
            read_models,
            session_starts: SessionStarts::new(&store, sessions.start_limits()),
            store,
            handovers,
            process_id: uuid::Uuid::new_v4().simple().to_string(),
            sessions: sessions.clone(),
            resume_gateway_url: http.resume_gateway_url.clone(),
            allowed_origins: AllowedOrigins::listed(&http.allowed_origins),
            voice: VoiceRoutes::new(&http.command_api_url),
            shutdown,
            connections: TaskTracker::new(),
        }))
    }

    /// The sessions.
    pub fn hub(&self) -> &Hub {
        &self.0.hub
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    /// The in-memory router (guild states, presences).
    pub fn fanout(&self) -> &Fanout {
        &self.0.fanout
    }

    /// The read models.
    pub fn read_models(&self) -> &ReadModels {
        &self.0.read_models
    }

    /// The web pages that may open the gateway (`[gateway_ws.http] allowed_origins`).
    pub fn allowed_origins(&self) -> &AllowedOrigins {
        &self.0.allowed_origins
    }

    /// The gateway's own tables (to migrate them).
    pub fn store(&self) -> &GatewayStore {
        &self.0.store
    }

    /// The bots' session starts (to sweep them).
    pub fn session_starts(&self) -> &SessionStarts {
        &self.0.session_starts
    }

    /// The connection rules.
    pub fn connection_config(&self) -> ConnectionConfig {
        self.0.sessions.connection()
    }

    /// Cancelled when the process shuts down.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.0.shutdown
    }

    /// The connection tasks, so shutdown can wait for their close frames.
    pub fn connections(&self) -> &TaskTracker {
        &self.0.connections
    }

    /// Drops sessions whose resume window has passed, and presences no process
    /// reports any more.
    pub fn expire_sessions(&self, now: Instant) {
        let expired = self.0.hub.expire(now, self.0.sessions.resume_window());
        let ids: Vec<Arc<str>> = expired.iter().map(|slot| Arc::clone(slot.id())).collect();
        self.0.fanout.forget(&ids);
        self.announce_ended(
            expired
                .iter()
                .map(|slot| (slot.id().to_string(), slot.user_id())),
        );
        self.0.fanout.expire_presences(now);
    }

    /// The connection of `attachment` ended; a `resumable` end keeps the session
    /// for the resume window.
    pub fn detach(&self, attachment: &Attachment, resumable: bool) {
        if self.0.hub.detach(attachment, resumable, Instant::now()) {
            self.0
                .fanout
                .forget(std::slice::from_ref(&attachment.session_id));
            let slot = &attachment.slot;
            self.announce_ended([(slot.id().to_string(), slot.user_id())]);
        }
    }

    /// A Presence Update from the session held by `attachment`.
    pub fn update_presence(&self, attachment: &Attachment, update: &PresenceUpdate) {
        let presence = attachment.slot.update_presence(update, unix_ms());
        self.announce(vec![presence]);
    }

    /// Starts carrying out the Voice State Updates of the session held by
    /// `attachment`, whose credential is `authorization`, one at a time in the
    /// background (see [`crate::voice`]); they stop when the sender is dropped.
    pub fn voice_requests(
        &self,
        attachment: &Attachment,
        authorization: String,
    ) -> mpsc::Sender<VoiceStateUpdate> {
        let (requests, mut queue) = mpsc::channel(voice::QUEUE);
        let slot = Arc::clone(&attachment.slot);
        let gateway = self.clone();
        self.0.connections.spawn(async move {
            // The channel this connection last joined, per guild.
            let mut joined = HashMap::new();
            while let Some(update) = queue.recv().await {
                gateway
                    .update_voice_state(&slot, &authorization, &mut joined, update)
                    .await;
            }
        });
        requests
    }

    async fn update_voice_state(
        &self,
        slot: &Slot,
        authorization: &str,
        joined: &mut HashMap<GuildId, ChannelId>,
        update: VoiceStateUpdate,
    ) {
        let guild = update.guild_id;
        let Some(seen) = self
            .0
            .fanout
            .voice_channel_of(slot, guild, update.channel_id)
        else {
            tracing::debug!(%guild, "op 4 for a guild or channel the session does not see");
            return;
        };
        let outcome = match update.channel_id {
            Some(channel) => {
                self.0
                    .voice
                    .join(authorization, channel, update)
                    .await
                    .map(|server| {
                        joined.insert(guild, channel);
                        (seen != Some(channel)).then_some(server)
                    })
            }
            None => match seen.or_else(|| joined.remove(&guild)) {
                Some(channel) => self
                    .0
                    .voice
                    .leave(authorization, channel)
                    .await
                    .map(|()| None),
                None => Ok(None),
            },
        };
        match outcome {
            Ok(Some(server)) => match serde_json::to_string(&server) {
                Ok(data) => slot.push("VOICE_SERVER_UPDATE", &data),
                Err(error) => tracing::error!(%error, "cannot serialize VOICE_SERVER_UPDATE"),
            },
            Ok(None) => {}
            Err(error) => {
                tracing::info!(user = %slot.user_id(), error = %ErrorChain(&error), "op 4 had no effect");
            }
        }
    }

    /// Reports the presence of every session here (periodically: a process that
    /// starts later learns them, and they expire if this process dies).
    pub fn report_presences(&self) {
        let all: Vec<SessionPresence> = self
            .0
            .hub
            .all()
            .iter()
            .map(|slot| slot.presence())
            .collect();
        for chunk in all.chunks(PRESENCES_PER_REPORT) {
            self.announce(chunk.to_vec());
        }
    }

    /// Reports `sessions` (user and id) as ended.
    fn announce_ended(&self, sessions: impl IntoIterator<Item = (String, UserId)>) {
        let ended: Vec<SessionPresence> = sessions
            .into_iter()
            .map(|(session_id, user_id)| SessionPresence {
                session_id,
                user_id,
                status: Status::Offline,
                activities: Vec::new(),
                changed_at_ms: unix_ms(),
            })
            .collect();
        if !ended.is_empty() {
            self.announce(ended);
        }
    }

    /// Publishes a presence report of `sessions` to every gateway process (this
    /// one included: it applies reports as it reads them back), in the background.
    fn announce(&self, sessions: Vec<SessionPresence>) {
        let Some(publisher) = self.0.handovers.as_ref().map(Handovers::publisher) else {
            return;
        };
        let publisher = publisher.clone();
        let record = Ephemeral::Presences(PresenceReport {
            process: self.0.process_id.clone(),
            sessions,
        });
        let key = self.0.process_id.clone();
        self.0.connections.spawn(async move {
            if let Err(error) = publisher.publish(&key, &record).await {
                tracing::warn!(error = %ErrorChain(&error), "cannot publish presences");
            }
        });
    }

    /// Answers a member request of the session held by `attachment`.
    pub fn request_guild_members(&self, attachment: &Attachment, request: &MemberRequest) {
        self.0.fanout.request_members(&attachment.slot, request);
    }

    /// The hand-overs, if sessions can leave this process.
    pub fn handovers(&self) -> Option<&Handovers> {
        self.0.handovers.as_ref()
    }

    /// Routing starts at `position` (where the consumer was assigned).
    pub fn start_at(&self, position: Position) {
        self.0.fanout.start_at(position);
    }

    /// Routes the `projected` record at `offset` of `partition` (`None`: one the
    /// gateway ignores) to the sessions it concerns.
    pub fn route(&self, partition: i32, offset: i64, projected: Option<&Projected>) {
        let follow_ups = self
            .0
            .fanout
            .route(&self.0.hub, partition, offset, projected);
        self.follow_up(follow_ups);
    }

    fn follow_up(
        &self,
        FollowUps {
            follow,
            relationship,
        }: FollowUps,
    ) {
        for (guild, user) in follow {
            for slot in self.0.hub.sessions_of_user(user) {
                self.spawn_follow_one(slot, guild);
            }
        }
        if let Some(change) = relationship {
            self.0.relationships.push(change);
        }
    }

    /// Acts on an `ephemeral` record published `age` ago. The consumer starts a
    /// little in the past to learn presences, so stale requests and typing are
    /// ignored.
    pub fn on_ephemeral(&self, record: Ephemeral, age: Duration) {
        match record {
            Ephemeral::HandoverRequest { session_id } => {
                if age < STALE && self.0.hub.holds(&session_id) {
                    self.spawn_hand_over(Some(session_id));
                }
            }
            Ephemeral::TypingStarted(typing) => {
                if age < STALE {
                    self.0.fanout.typing(&self.0.hub, &typing);
                }
            }
            Ephemeral::Presences(report) => {
                self.0.fanout.apply_presences(&report, Instant::now());
            }
        }
    }

    /// Hands the session `session_id` (or every session: `None`) over for another
    /// process to resume, in the background; shutdown waits for it.
    fn spawn_hand_over(&self, session_id: Option<String>) {
        let gateway = self.clone();
        self.0
            .connections
            .spawn(async move { gateway.hand_over(session_id.as_deref()).await });
    }

    /// Hands the session `session_id` (or every session: `None`) over.
    pub async fn hand_over(&self, session_id: Option<&str>) {
        let Some(handovers) = &self.0.handovers else {
            return;
        };
        let Some(handover) = self.0.fanout.hand_over(&self.0.hub, session_id) else {
            return;
        };
        let sessions = handover.sessions.len();
        match handovers.save(&handover).await {
            Ok(()) => tracing::info!(sessions, "sessions handed over"),
            Err(error) => tracing::error!(
                sessions,
                error = %ErrorChain(&error),
                "cannot hand sessions over; their clients will identify anew"
            ),
        }
    }

    /// After Identify: GUILD_CREATE for each of READY's `guilds`, subscribing the
    /// session, in the background (each may need a database read). Then the
    /// member list is read again: a guild joined between READY's read and the
    /// session's registration (whose join event found no session to tell) gets its
    /// GUILD_CREATE too, as a join after READY does.
    fn spawn_follow(&self, slot: Arc<Slot>, guilds: Vec<GuildId>, shard: Option<Shard>) {
        let gateway = self.clone();
        self.0.connections.spawn(async move {
            for guild in &guilds {
                gateway.follow(&slot, *guild).await;
            }
            let user = slot.user_id();
            match gateway.0.read_models.guild_ids(user).await {
                Ok(now) => {
                    for guild in now.into_iter().filter(|guild| {
                        !guilds.contains(guild)
                            && shard.is_none_or(|shard| shard.owns_guild(guild.get()))
                    }) {
                        gateway.follow(&slot, guild).await;
                    }
                }
                Err(error) => tracing::error!(
                    error = %ErrorChain(&error),
                    "cannot read a user's guilds after READY"
                ),
            }
        });
    }

    /// GUILD_CREATE for one guild (a join or a new guild), in the background.
    fn spawn_follow_one(&self, slot: Arc<Slot>, guild: GuildId) {
        let gateway = self.clone();
        self.0
            .connections
            .spawn(async move { gateway.follow(&slot, guild).await });
    }

    async fn follow(&self, slot: &Arc<Slot>, guild: GuildId) {
        if let Err(error) = self.0.fanout.follow(&self.0.read_models, slot, guild).await {
            tracing::error!(
                %guild,
                error = %ErrorChain(&error),
                "cannot load a guild for GUILD_CREATE"
            );
        }
    }

    async fn authenticate(&self, token: &str) -> Result<Identity, CloseCode> {
        authenticate(token, &self.0.verifier, &self.0.read_models)
            .await
            .map(|(identity, _)| identity)
            .map_err(close_code)
    }

    /// Identify: verifies the token, checks privileged intents, sharding and a
    /// bot's session start limit and creates the session, READY first.
    pub async fn identify(
        &self,
        request: &IdentifyRequest,
    ) -> Result<Attachment, HandshakeFailure> {
        let (identity, user) = authenticate(&request.token, &self.0.verifier, &self.0.read_models)
            .await
            .map_err(close_code)?;
        request
            .intents
            .check_privileged(identity.bot, self.0.sessions.allowed_privileged_intents)?;
        let guilds = self
            .0
            .read_models
            .guild_ids(identity.user_id)
            .await
            .map_err(|error| close_code(AuthError::ReadModels(error)))?;
        if identity.bot
            && request.shard.is_none()
            && guilds.len() > self.0.sessions.max_guilds_per_session
        {
            return Err(CloseCode::ShardingRequired.into());
        }
        self.count_session_start(identity, request.shard).await?;
        // A shard's READY lists only its own guilds.
        let guilds: Vec<GuildId> = guilds
            .into_iter()
            .filter(|guild| {
                request
                    .shard
                    .is_none_or(|shard| shard.owns_guild(guild.get()))
            })
            .collect();
        let dms = self
            .0
            .read_models
            .dm_channels(identity.user_id)
            .await
            .map_err(|error| close_code(AuthError::ReadModels(error)))?;
        // Bots read nothing, are notified of nothing and have no relationships (as
        // on Discord).
        let (read_states, relationships) = if identity.bot {
            (None, Vec::new())
        } else {
            let read_states = read_states::ready_lists(
                &self.0.read_models,
                &self.0.fanout,
                identity.user_id,
                time::OffsetDateTime::now_utc(),
            )
            .await;
            let relationships = self.0.read_models.relationships(identity.user_id).await;
            let ready_error = |error| close_code(AuthError::ReadModels(error));
            (
                Some(read_states.map_err(ready_error)?),
                relationships.map_err(ready_error)?,
            )
        };
        let session_id = uuid::Uuid::new_v4().simple().to_string();
        let ready = Ready {
            user: &user,
            guilds: &guilds,
            session_id: &session_id,
            resume_gateway_url: &self.0.resume_gateway_url,
            shard: request.shard,
            private_channels: &dms,
            read_states,
            relationships: &relationships,
        }
        .to_json();
        let session = Session::new(
            session_id,
            identity,
            request,
            self.0.sessions.replay(),
            unix_ms(),
        );
        self.0.fanout.learn_dms(dms);
        let attachment = self.0.hub.create(session, ready);
        self.announce(vec![attachment.slot.presence()]);
        // After READY, one GUILD_CREATE per guild.
        self.spawn_follow(Arc::clone(&attachment.slot), guilds, request.shard);
        tracing::info!(
            session = &*attachment.session_id,
            user = %identity.user_id,
            bot = identity.bot,
            "session identified"
        );
        Ok(attachment)
    }

    /// Counts a bot's Identify as a session start (people are not limited):
    /// Invalid Session when its limit refuses it. When the store cannot answer,
    /// the client is told to retry (4000) and the cause logged, rather than
    /// refused as if it were over its limit.
    async fn count_session_start(
        &self,
        identity: Identity,
        shard: Option<Shard>,
    ) -> Result<(), HandshakeFailure> {
        if !identity.bot {
            return Ok(());
        }
        match self.0.session_starts.start(identity.user_id, shard).await {
            Ok(Admission::Started) => Ok(()),
            Ok(refusal) => {
                tracing::info!(
                    user = %identity.user_id,
                    ?shard,
                    ?refusal,
                    "session start refused"
                );
                Err(HandshakeFailure::SessionInvalid { resumable: false })
            }
            Err(error) => {
                tracing::error!(
                    user = %identity.user_id,
                    error = %ErrorChain(&error),
                    "cannot count a bot's session start"
                );
                Err(CloseCode::UnknownError.into())
            }
        }
    }

    /// Resume: verifies the token, finds the session (here, or handed over from
    /// another process) and attaches it: the missed dispatches, then RESUMED.
    pub async fn resume(&self, resume: &Resume) -> Result<Attachment, HandshakeFailure> {
        let identity = self
            .authenticate(&resume.token)
            .await
            .map_err(HandshakeFailure::Close)?;
        let metrics = &self.0.metrics;
        let mut outcome = self
            .0
            .hub
            .resume(&resume.session_id, identity.user_id, resume.seq);
        let mut from = ResumeOutcome::Resumed;
        if outcome.as_ref().err() == Some(&ResumeRefused::UnknownSession) {
            match self.take_over(&resume.session_id, identity.user_id).await {
                TakeOver::Here => {
                    from = ResumeOutcome::TakenOver;
                    outcome = self
                        .0
                        .hub
                        .resume(&resume.session_id, identity.user_id, resume.seq);
                }
                TakeOver::Nowhere => {}
                TakeOver::Unreachable => {
                    metrics.resumed(ResumeOutcome::Unreachable);
                    return Err(HandshakeFailure::SessionInvalid { resumable: true });
                }
            }
        }
        match outcome {
            Ok(resumed) => {
                metrics.resumed(from);
                tracing::info!(session = %resume.session_id, seq = resume.seq, "session resumed");
                Ok(resumed)
            }
            Err(ResumeRefused::UnknownSession) => {
                metrics.resumed(ResumeOutcome::Unknown);
                Err(HandshakeFailure::SessionInvalid { resumable: false })
            }
            Err(ResumeRefused::NotOwner) => {
                metrics.resumed(ResumeOutcome::NotOwner);
                Err(HandshakeFailure::Close(CloseCode::AuthenticationFailed))
            }
            Err(ResumeRefused::InvalidSeq) => {
                metrics.resumed(ResumeOutcome::InvalidSeq);
                let ended: Arc<str> = Arc::from(resume.session_id.as_str());
                self.0.fanout.forget(&[ended]);
                self.announce_ended([(resume.session_id.clone(), identity.user_id)]);
                Err(HandshakeFailure::Close(CloseCode::InvalidSeq))
            }
        }
    }

    /// Brings `session_id` of `user` here from a hand-over and catches it up.
    async fn take_over(&self, session_id: &str, user: UserId) -> TakeOver {
        let Some(handovers) = &self.0.handovers else {
            return TakeOver::Nowhere;
        };
        let (export, guilds) = match handovers.receive(session_id, user).await {
            Ok(Some(received)) => received,
            Ok(None) => return TakeOver::Nowhere,
            Err(error) => {
                // Nothing was claimed: the session is still stored, or still held
                // by its process, for a later Resume.
                tracing::error!(
                    session = session_id,
                    error = %ErrorChain(&error),
                    "cannot take a session over; its client may resume later"
                );
                return TakeOver::Unreachable;
            }
        };
        let mut session = export.session.clone();
        session.limit(self.0.sessions.replay());
        let shard = session.shard();
        let slot = self.0.hub.slot(session);
        let private = self.0.fanout.for_handover(&export, guilds, &slot);
        let private_hub = Hub::new(1, Metrics::default());
        private_hub.adopt(Arc::clone(&slot));
        let catch_up = CatchUp {
            main: &self.0.fanout,
            hub: &self.0.hub,
            private: &private,
            private_hub: &private_hub,
            slot: &slot,
        };
        let deadline = tokio::time::Instant::now() + CATCH_UP_LIMIT;
        let topic = handovers.kafka().topics().projected;
        match catch_up.run(handovers.kafka(), &topic, deadline).await {
            Ok(follow_ups) => {
                self.follow_up(follow_ups);
                self.announce(vec![slot.presence()]);
                // Guilds whose GUILD_CREATE had not been sent yet when the session
                // left its process (and any joined since) are followed now.
                self.spawn_follow(slot, export.guilds, shard);
                TakeOver::Here
            }
            Err(error) => {
                tracing::warn!(
                    session = session_id,
                    error = %ErrorChain(&error),
                    "cannot catch a handed-over session up; its client will identify anew"
                );
                TakeOver::Nowhere
            }
        }
    }
}

/// Where a session asked for by a Resume ended up.
enum TakeOver {
    /// Here, caught up.
    Here,
    /// Nowhere: no process holds it any more (or it is another user's).
    Nowhere,
    /// Where it was: the store or the brokers could not be reached to ask.
    Unreachable,
}

fn close_code(error: AuthError) -> CloseCode {
    match error {
        AuthError::Refused => CloseCode::AuthenticationFailed,
        AuthError::ReadModels(error) => {
            tracing::error!(error = %ErrorChain(&error), "cannot read the accounts for a handshake");
            CloseCode::UnknownError
        }
    }
}
