//! [`Gateway`]: what every connection of this process shares — the sessions, the
//! token verifier, the read models and the rules — and the two handshakes that need
//! them: Identify (a new session, READY) and Resume (replay, RESUMED).

use std::sync::Arc;
use std::time::Instant;

use cloudcord_runtime::auth::TokenVerifier;
use cloudcord_runtime::telemetry::ErrorChain;
use cloudcord_schemas::ids::GuildId;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{AuthError, authenticate};
use crate::fanout::{Fanout, FollowUps};
use crate::hub::{Attachment, Hub, ResumeRefused, Slot};
use crate::metrics::Metrics;
use crate::objects::Ready;
use crate::projected::Projected;
use crate::protocol::close_code::CloseCode;
use crate::protocol::connection::ConnectionConfig;
use crate::protocol::payload::{IdentifyRequest, MemberRequest, Resume, Shard};
use crate::protocol::session::{Identity, Session};
use crate::read_models::ReadModels;
use crate::settings::{HttpSettings, SessionSettings};

/// How a Resume ended when it did not resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumeFailure {
    /// Invalid Session (`d: false`): identify anew.
    SessionInvalid,
    /// Close with this code.
    Close(CloseCode),
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
    sessions: SessionSettings,
    resume_gateway_url: String,
    shutdown: CancellationToken,
    connections: TaskTracker,
}

impl Gateway {
    /// A gateway verifying tokens with `verifier` and reading `read_models`; its
    /// connections end (with Reconnect) when `shutdown` is cancelled.
    pub fn new(
        verifier: TokenVerifier,
        read_models: ReadModels,
        http: &HttpSettings,
        sessions: &SessionSettings,
        shutdown: CancellationToken,
    ) -> Self {
        let metrics = Metrics::default();
        Self(Arc::new(Inner {
            hub: Hub::new(sessions.outbound_queue, metrics.clone()),
            metrics,
            fanout: Fanout::new(),
            verifier,
            read_models,
            sessions: sessions.clone(),
            resume_gateway_url: http.resume_gateway_url.clone(),
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

    /// The read models.
    pub fn read_models(&self) -> &ReadModels {
        &self.0.read_models
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

    /// Drops sessions whose resume window has passed.
    pub fn expire_sessions(&self, now: Instant) {
        let expired = self.0.hub.expire(now, self.0.sessions.resume_window());
        self.0.fanout.forget(&expired);
    }

    /// The connection of `attachment` ended; a `resumable` end keeps the session
    /// for the resume window.
    pub fn detach(&self, attachment: &Attachment, resumable: bool) {
        if self.0.hub.detach(attachment, resumable, Instant::now()) {
            self.0
                .fanout
                .forget(std::slice::from_ref(&attachment.session_id));
        }
    }

    /// Answers a member request of the session held by `attachment`.
    pub fn request_guild_members(&self, attachment: &Attachment, request: &MemberRequest) {
        self.0.fanout.request_members(&attachment.slot, request);
    }

    /// Routes one projected event to the sessions it concerns.
    pub fn route(&self, projected: &Projected) {
        let FollowUps { follow } = self.0.fanout.route(&self.0.hub, projected);
        for (guild, user) in follow {
            for slot in self.0.hub.sessions_of_user(user) {
                self.spawn_follow_one(slot, guild);
            }
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

    /// Identify: verifies the token, checks privileged intents and sharding,
    /// creates the session and returns it with the frames to write first (READY).
    pub async fn identify(
        &self,
        request: &IdentifyRequest,
    ) -> Result<(Attachment, Vec<String>), CloseCode> {
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
            return Err(CloseCode::ShardingRequired);
        }
        // A shard's READY lists only its own guilds.
        let guilds: Vec<GuildId> = guilds
            .into_iter()
            .filter(|guild| {
                request
                    .shard
                    .is_none_or(|shard| shard.owns_guild(guild.get()))
            })
            .collect();
        let session_id = uuid::Uuid::new_v4().simple().to_string();
        let ready = Ready {
            user: &user,
            guilds: &guilds,
            session_id: &session_id,
            resume_gateway_url: &self.0.resume_gateway_url,
            shard: request.shard,
        }
        .to_json();
        let session = Session::new(session_id, identity, request, self.0.sessions.replay());
        let dms = self
            .0
            .read_models
            .dm_channels(identity.user_id)
            .await
            .map_err(|error| close_code(AuthError::ReadModels(error)))?;
        self.0.fanout.learn_dms(dms);
        let (attachment, ready_frame) = self.0.hub.create(session, &ready);
        // After READY (which the connection writes first), one GUILD_CREATE per guild.
        self.spawn_follow(Arc::clone(&attachment.slot), guilds, request.shard);
        tracing::info!(
            session = &*attachment.session_id,
            user = %identity.user_id,
            bot = identity.bot,
            "session identified"
        );
        Ok((attachment, vec![ready_frame]))
    }

    /// Resume: verifies the token, finds the session and returns it with the frames
    /// to write first (the missed dispatches, then RESUMED).
    pub async fn resume(
        &self,
        resume: &Resume,
    ) -> Result<(Attachment, Vec<String>), ResumeFailure> {
        let identity = self
            .authenticate(&resume.token)
            .await
            .map_err(ResumeFailure::Close)?;
        match self
            .0
            .hub
            .resume(&resume.session_id, identity.user_id, resume.seq)
        {
            Ok(resumed) => {
                tracing::info!(session = %resume.session_id, seq = resume.seq, "session resumed");
                Ok(resumed)
            }
            Err(ResumeRefused::UnknownSession) => Err(ResumeFailure::SessionInvalid),
            Err(ResumeRefused::NotOwner) => {
                Err(ResumeFailure::Close(CloseCode::AuthenticationFailed))
            }
            Err(ResumeRefused::InvalidSeq) => {
                let ended: Arc<str> = Arc::from(resume.session_id.as_str());
                self.0.fanout.forget(&[ended]);
                Err(ResumeFailure::Close(CloseCode::InvalidSeq))
            }
        }
    }
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
