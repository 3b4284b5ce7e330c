//! [`Fanout`]: routing projected events to this process's sessions, in memory.
//!
//! * **Guilds.** Each guild that a session here follows has a [`GuildState`] and the
//!   set of following sessions. A guild event moves the state forward and each of
//!   its dispatches goes to the followers its [`Audience`] admits (VIEW_CHANNEL is
//!   checked against the state at that moment), then through the session's own
//!   intent and shard filter ([`crate::protocol::session::Session::wants`]).
//! * **Following a guild** ([`Fanout::follow`]: after READY, or when the user joins
//!   or creates a guild) sends GUILD_CREATE and subscribes the session, under the
//!   same lock as delivery, so no event falls between the two. A guild nobody here
//!   followed yet is loaded from the read models; because `projected` carries a
//!   record only after the read models committed it, a snapshot older than the last
//!   event already seen for that guild is simply read again, and events at or below
//!   the snapshot's `seq` are skipped when they arrive.
//! * **DMs** go to both recipients' sessions (the channel's recipients are learned at
//!   Identify and from DmChannelOpened).
//! * **Users**: a profile change is USER_UPDATE to the user's own sessions, and the
//!   kept guild members and DM recipients show the new profile from then on.
//!
//! One lock guards the routing tables; delivery to a session never waits (see
//! [`crate::hub`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use cloudcord_runtime::files::signing::{UrlSigner, now_secs};
use cloudcord_schemas::dm_channel::DmChannelEvent;
use cloudcord_schemas::ephemeral::{PresenceReport, TypingStarted};
use cloudcord_schemas::guild::GuildEvent;
use cloudcord_schemas::ids::{ChannelId, GuildId, UserId};
use cloudcord_schemas::message::UserSnapshot;
use cloudcord_schemas::user::{UserEvent, UserGuildSettingsObject, UserProfileUpdated};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::dispatches::{self, Audience, FileUrls, MessageEventRef, Routed};
use crate::guild_state::{GuildState, member_object, user_object};
use crate::hub::{Hub, Slot, lock};
use crate::objects::dm_channel;
use crate::presence::{Presences, Visible};
use crate::projected::Projected;
use crate::protocol::dispatch::{Dispatch, Scope};
use crate::protocol::intents::Intents;
use crate::protocol::payload::{MemberRequest, MemberSelection};
use crate::protocol::session::Session;
use crate::read_models::ReadModels;
use crate::relationships;
use crate::sight::Sight;

/// Where routing stands in the `projected` topic: each partition's next offset.
/// Every record before it has been routed, none at or after it.
pub type Position = BTreeMap<i32, i64>;

/// One session leaving this process, with what another process needs to go on
/// exactly where this one stopped.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionExport {
    /// The session, replay buffer included.
    pub session: Session,
    /// The guilds it follows (their states travel in the [`Handover`]).
    pub guilds: Vec<GuildId>,
    /// Its user's DM channels.
    pub dms: Vec<(ChannelId, [UserSnapshot; 2])>,
    /// Where routing stood: the session has had the dispatches of every record
    /// before it, and of none after.
    pub position: Position,
}

/// Sessions leaving this process and the states of the guilds they follow.
#[derive(Debug, Default)]
pub struct Handover {
    /// The sessions.
    pub sessions: Vec<SessionExport>,
    /// Each guild any of them follows, once.
    pub guilds: Vec<GuildState>,
}

/// A guild that sessions here follow.
struct Followed {
    state: GuildState,
    sessions: HashMap<Arc<str>, Arc<Slot>>,
}

#[derive(Default)]
struct Routing {
    guilds: HashMap<GuildId, Followed>,
    /// The last `seq` seen of every guild, followed or not: how a snapshot read
    /// while events flow is known to be recent enough.
    last_seen: HashMap<GuildId, u64>,
    /// DM channels of the users with sessions here.
    dms: HashMap<ChannelId, [UserSnapshot; 2]>,
    /// The last `seq` routed of every DM channel: a record seen again is dropped.
    dm_seen: HashMap<ChannelId, u64>,
    /// How far routing has read `projected` (empty until the consumer starts).
    position: Position,
    /// Everyone's presence, from every process's reports.
    presences: Presences,
}

/// The in-memory router.
pub struct Fanout {
    routing: Mutex<Routing>,
    /// Signs the attachment URLs of MESSAGE_CREATE.
    signer: UrlSigner,
}

/// What an event asks of the caller, which can do I/O: sessions of these users
/// must start following this guild, or be told of a relationship's change.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FollowUps {
    /// (guild, user) pairs to [`Fanout::follow`].
    pub follow: Vec<(GuildId, UserId)>,
    /// A relationship change of a user with sessions here.
    pub relationship: Option<relationships::Change>,
}

impl Fanout {
    /// An empty router signing attachment URLs with `signer`.
    pub fn new(signer: UrlSigner) -> Self {
        Self {
            routing: Mutex::default(),
            signer,
        }
    }

    /// Sends GUILD_CREATE for `guild` to `slot` and subscribes it, loading the
    /// guild from `read_models` if nobody here follows it yet. Does nothing if the
    /// guild is gone or the user is not (or no longer) a member.
    pub async fn follow(
        &self,
        read_models: &ReadModels,
        slot: &Arc<Slot>,
        guild: GuildId,
    ) -> Result<(), sqlx::Error> {
        loop {
            if self.try_follow(slot, guild, None) {
                return Ok(());
            }
            let Some(snapshot) = read_models.guild(guild).await? else {
                return Ok(());
            };
            if self.try_follow(slot, guild, Some(snapshot)) {
                return Ok(());
            }
            // The snapshot predates events already routed: read it again (the read
            // models already hold those events).
        }
    }

    /// Whether `user` sees `channel` of `guild`, by the guild's state in memory;
    /// `None` when no session here follows the guild.
    pub fn can_view(&self, guild: GuildId, user: UserId, channel: ChannelId) -> Option<bool> {
        lock(&self.routing)
            .guilds
            .get(&guild)
            .map(|followed| followed.state.can_view(user, channel))
    }

    /// `read` of `guild`'s state in memory; `None` when no session here follows
    /// the guild.
    pub fn with_guild<R>(&self, guild: GuildId, read: impl FnOnce(&GuildState) -> R) -> Option<R> {
        lock(&self.routing)
            .guilds
            .get(&guild)
            .map(|followed| read(&followed.state))
    }

    /// Whether `user` has a session on any gateway process (by the presence
    /// reports, so an invisible session counts).
    pub fn has_session(&self, user: UserId) -> bool {
        lock(&self.routing).presences.has_session(user)
    }

    /// Follows with the guild in memory, or installs `snapshot` if it is recent
    /// enough; `false` when a (newer) snapshot is needed.
    fn try_follow(&self, slot: &Arc<Slot>, guild: GuildId, snapshot: Option<GuildState>) -> bool {
        let mut routing = lock(&self.routing);
        let Routing {
            guilds,
            last_seen,
            presences,
            ..
        } = &mut *routing;
        let user = slot.user_id();
        let followed = match (guilds.get_mut(&guild), snapshot) {
            (Some(followed), _) => followed,
            (None, None) => return false,
            (None, Some(snapshot)) => {
                if snapshot.position < last_seen.get(&guild).copied().unwrap_or(0) {
                    return false;
                }
                if !snapshot.members.contains_key(&user) {
                    return true; // Not a member (any more): nothing to follow.
                }
                guilds.entry(guild).or_insert(Followed {
                    state: snapshot,
                    sessions: HashMap::new(),
                })
            }
        };
        if !followed.state.members.contains_key(&user) || followed.sessions.contains_key(slot.id())
        {
            return true; // Not a member, or already following.
        }
        let (large_threshold, all_members) = slot.with_session(|session| {
            // Discord lists every member, and presences, only to people and to
            // bots that may see presences.
            let all =
                !session.identity().bot || session.intents().contains(Intents::GUILD_PRESENCES);
            (session.large_threshold(), all)
        });
        let presences = all_members.then_some(&*presences);
        let create = Dispatch {
            event: "GUILD_CREATE",
            data: Arc::from(
                followed
                    .state
                    .guild_create(user, large_threshold, presences)
                    .to_string(),
            ),
            scope: Scope::Guild(guild),
            intents: Intents::GUILDS,
            always_for: None,
            content: None,
        };
        slot.offer(&create);
        followed
            .sessions
            .insert(Arc::clone(slot.id()), Arc::clone(slot));
        true
    }

    /// Answers a member request of `slot`'s session with GUILD_MEMBERS_CHUNKs, from
    /// memory. Only a guild the session follows is answered; asking for every
    /// member needs GUILD_MEMBERS, and without it nothing is sent (as Discord, whose
    /// libraries then time out).
    pub fn request_members(&self, slot: &Slot, request: &MemberRequest) {
        let may_list_all =
            slot.with_session(|session| session.intents().contains(Intents::GUILD_MEMBERS));
        if request.members == MemberSelection::All && !may_list_all {
            return;
        }
        let routing = lock(&self.routing);
        let Some(followed) = routing.guilds.get(&request.guild_id) else {
            return;
        };
        if !followed.sessions.contains_key(slot.id()) {
            return;
        }
        for chunk in followed.state.member_chunks(request) {
            slot.offer(&Dispatch {
                event: "GUILD_MEMBERS_CHUNK",
                data: Arc::from(chunk.to_string()),
                scope: Scope::Guild(request.guild_id),
                intents: Intents::empty(),
                always_for: None,
                content: None,
            });
        }
    }

    /// Where the user of `slot` is in `guild`'s voice (`Some(None)`: nowhere), if
    /// the session follows `guild` and `wanted`, when given, is one of its channels;
    /// `None` otherwise (an op 4 naming a guild or channel that does not fit).
    pub fn voice_channel_of(
        &self,
        slot: &Slot,
        guild: GuildId,
        wanted: Option<ChannelId>,
    ) -> Option<Option<ChannelId>> {
        let routing = lock(&self.routing);
        let followed = routing.guilds.get(&guild)?;
        if !followed.sessions.contains_key(slot.id()) {
            return None;
        }
        if wanted.is_some_and(|channel| !followed.state.channels.contains_key(&channel)) {
            return None;
        }
        Some(
            followed
                .state
                .voice_states
                .get(&slot.user_id())
                .and_then(|state| state.channel_id),
        )
    }

    /// Remembers `user`'s DM channels (at Identify).
    pub fn learn_dms(&self, channels: Vec<(ChannelId, [UserSnapshot; 2])>) {
        lock(&self.routing).dms.extend(channels);
    }

    /// Stops routing anything to the sessions `ids` (they ended); guilds nobody
    /// follows any more are dropped from memory.
    pub fn forget(&self, ids: &[Arc<str>]) {
        if ids.is_empty() {
            return;
        }
        let mut routing = lock(&self.routing);
        routing.guilds.retain(|_, followed| {
            for id in ids {
                followed.sessions.remove(id);
            }
            !followed.sessions.is_empty()
        });
    }

    /// Routes the `projected` record at `offset` of `partition` to the sessions in
    /// `hub`; `None` is a record the gateway ignores, which still moves the
    /// position. One lock covers the routing and the position, so a hand-over never
    /// sees one without the other.
    pub fn route(
        &self,
        hub: &Hub,
        partition: i32,
        offset: i64,
        projected: Option<&Projected>,
    ) -> FollowUps {
        let mut routing = lock(&self.routing);
        routing.position.insert(partition, offset + 1);
        let urls = FileUrls {
            signer: &self.signer,
            now: now_secs(),
        };
        match projected {
            None => FollowUps::default(),
            Some(Projected::Guild {
                guild,
                seq,
                actor,
                event,
            }) => routing.route_guild(*guild, *seq, *actor, event, urls),
            Some(Projected::Dm {
                channel,
                seq,
                actor,
                event,
            }) => {
                let seen = routing.dm_seen.entry(*channel).or_default();
                if *seq > *seen {
                    *seen = *seq;
                    routing.route_dm(hub, *channel, *seq, *actor, event, urls);
                }
                FollowUps::default()
            }
            Some(Projected::User { user, event }) => {
                if let Some(change) = relationships::Change::of(*user, event)
                    && !hub.sessions_of_user(*user).is_empty()
                {
                    return FollowUps {
                        relationship: Some(change),
                        ..FollowUps::default()
                    };
                }
                match &**event {
                    UserEvent::UserProfileUpdated(profile) => {
                        routing.profile_updated(hub, *user, profile);
                    }
                    UserEvent::UserGuildSettingsChanged(changed) => offer_to_user(
                        hub,
                        *user,
                        "USER_GUILD_SETTINGS_UPDATE",
                        &UserGuildSettingsObject::new(changed.guild_id, &changed.settings)
                            .to_json(),
                        Scope::User,
                    ),
                    _ => {}
                }
                FollowUps::default()
            }
        }
    }

    /// Applies a presence report received at `now` and sends PRESENCE_UPDATE for
    /// every user who now looks different, in each guild followed here that they
    /// are in.
    pub fn apply_presences(&self, report: &PresenceReport, now: Instant) {
        let mut routing = lock(&self.routing);
        let changed = routing.presences.apply(report, now);
        for user in changed {
            routing.presence_changed(user);
        }
    }

    /// Expires the presences no process reports any more, as
    /// [`Self::apply_presences`] does for changes.
    pub fn expire_presences(&self, now: Instant) {
        let mut routing = lock(&self.routing);
        let changed = routing.presences.expire(now);
        for user in changed {
            routing.presence_changed(user);
        }
    }

    /// TYPING_START to the sessions that may see the channel: in a guild, those
    /// with VIEW_CHANNEL on it; in a DM, both recipients.
    pub fn typing(&self, hub: &Hub, typing: &TypingStarted) {
        let routing = lock(&self.routing);
        match typing.guild_id {
            Some(guild) => {
                let Some(followed) = routing.guilds.get(&guild) else {
                    return;
                };
                let Some(member) = followed.state.members.get(&typing.user_id) else {
                    return;
                };
                let data = serde_json::json!({
                    "channel_id": typing.channel_id,
                    "guild_id": guild,
                    "user_id": typing.user_id,
                    "timestamp": typing.timestamp,
                    "member": member_object(member),
                });
                deliver(
                    followed,
                    &Routed {
                        dispatch: Dispatch {
                            event: "TYPING_START",
                            data: Arc::from(data.to_string()),
                            scope: Scope::Guild(guild),
                            intents: Intents::GUILD_MESSAGE_TYPING,
                            always_for: None,
                            content: None,
                        },
                        audience: Audience::Channel(typing.channel_id),
                    },
                );
            }
            None => {
                let Some(recipients) = routing.dms.get(&typing.channel_id) else {
                    return;
                };
                if !recipients.iter().any(|r| r.id == typing.user_id) {
                    return;
                }
                let data = serde_json::json!({
                    "channel_id": typing.channel_id,
                    "user_id": typing.user_id,
                    "timestamp": typing.timestamp,
                });
                let dispatch = Dispatch {
                    event: "TYPING_START",
                    data: Arc::from(data.to_string()),
                    scope: Scope::Direct,
                    intents: Intents::DIRECT_MESSAGE_TYPING,
                    always_for: None,
                    content: None,
                };
                offer_to_recipients(hub, recipients, &dispatch);
            }
        }
    }

    /// Starts routing at `position` (where the consumer was assigned).
    pub fn start_at(&self, position: Position) {
        lock(&self.routing).position = position;
    }

    /// How far routing has read `projected`.
    pub fn position(&self) -> Position {
        lock(&self.routing).position.clone()
    }

    /// Takes sessions out of this process for another to go on with: the one named
    /// `session_id`, or every one (`None`, at shutdown). It happens under the
    /// routing lock, so each export holds the dispatches of exactly the records
    /// before its position. `None` when there is nothing to hand over, or before
    /// routing has started (no position to go on from).
    pub fn hand_over(&self, hub: &Hub, session_id: Option<&str>) -> Option<Handover> {
        let mut routing = lock(&self.routing);
        if routing.position.is_empty() {
            return None;
        }
        let slots = match session_id {
            Some(id) => hub.take(id).into_iter().collect(),
            None => hub.take_all(),
        };
        if slots.is_empty() {
            return None;
        }
        let mut guilds: HashMap<GuildId, GuildState> = HashMap::new();
        let mut sessions = Vec::with_capacity(slots.len());
        for slot in &slots {
            let mut followed_ids = Vec::new();
            for (id, followed) in &mut routing.guilds {
                if followed.sessions.remove(slot.id()).is_some() {
                    followed_ids.push(*id);
                    guilds.entry(*id).or_insert_with(|| followed.state.clone());
                }
            }
            let user = slot.user_id();
            let dms = routing
                .dms
                .iter()
                .filter(|(_, recipients)| recipients.iter().any(|r| r.id == user))
                .map(|(channel, recipients)| (*channel, recipients.clone()))
                .collect();
            sessions.push(SessionExport {
                session: slot.session(),
                guilds: followed_ids,
                dms,
                position: routing.position.clone(),
            });
        }
        routing
            .guilds
            .retain(|_, followed| !followed.sessions.is_empty());
        Some(Handover {
            sessions,
            guilds: guilds.into_values().collect(),
        })
    }

    /// A router holding only the handed-over `export`, following `guilds` (their
    /// states from the hand-over) with `slot`, at the export's position. The
    /// catch-up routes into it the records this process routed since, then
    /// [`Self::absorb`] merges it into this process's router. It signs as this one.
    pub fn for_handover(
        &self,
        export: &SessionExport,
        guilds: Vec<GuildState>,
        slot: &Arc<Slot>,
    ) -> Self {
        let mut routing = Routing {
            position: export.position.clone(),
            dms: export.dms.iter().cloned().collect(),
            ..Routing::default()
        };
        for state in guilds {
            routing.last_seen.insert(state.id, state.position);
            let sessions = HashMap::from([(Arc::clone(slot.id()), Arc::clone(slot))]);
            routing
                .guilds
                .insert(state.id, Followed { state, sessions });
        }
        Self {
            routing: Mutex::new(routing),
            signer: self.signer.clone(),
        }
    }

    /// Merges `private` (see [`Self::for_handover`]) into this router and registers
    /// `slot` in `hub`, when both routers have routed the same records. Otherwise
    /// returns this router's position, which `private` must reach first.
    pub fn absorb(&self, hub: &Hub, private: &Fanout, slot: &Arc<Slot>) -> Result<(), Position> {
        let mut routing = lock(&self.routing);
        let mut theirs = lock(&private.routing);
        if theirs.position != routing.position {
            return Err(routing.position.clone());
        }
        for (id, followed) in std::mem::take(&mut theirs.guilds) {
            match routing.guilds.get_mut(&id) {
                // Both states have seen the same events: ours serves everyone.
                Some(ours) => ours.sessions.extend(followed.sessions),
                None => {
                    routing.guilds.insert(id, followed);
                }
            }
        }
        for (guild, seq) in theirs.last_seen.drain() {
            let seen = routing.last_seen.entry(guild).or_default();
            *seen = (*seen).max(seq);
        }
        routing.dms.extend(theirs.dms.drain());
        hub.adopt(Arc::clone(slot));
        Ok(())
    }
}

impl Routing {
    /// PRESENCE_UPDATE of `user` in each followed guild they are in.
    fn presence_changed(&self, user: UserId) {
        let visible = self.presences.visible(user);
        for (guild, followed) in &self.guilds {
            if followed.state.members.contains_key(&user) {
                deliver(followed, &presence_update(*guild, user, visible.as_ref()));
            }
        }
    }

    /// USER_UPDATE to the user's own sessions; the guilds and DMs kept here show
    /// the new profile from now on.
    fn profile_updated(&mut self, hub: &Hub, user: UserId, profile: &UserProfileUpdated) {
        let mut bot = false;
        let renamed = |snapshot: &mut UserSnapshot| {
            snapshot.username.clone_from(&profile.username);
            snapshot.global_name.clone_from(&profile.global_name);
            snapshot.avatar.clone_from(&profile.avatar);
        };
        for followed in self.guilds.values_mut() {
            if let Some(member) = followed.state.members.get_mut(&user) {
                bot = member.user.bot;
                renamed(&mut member.user);
            }
        }
        for recipients in self.dms.values_mut() {
            for recipient in recipients.iter_mut().filter(|r| r.id == user) {
                bot = recipient.bot;
                renamed(recipient);
            }
        }
        let sessions = hub.sessions_of_user(user);
        let Some(first) = sessions.first() else {
            return;
        };
        bot |= first.with_session(|session| session.identity().bot);
        let data = user_object(&UserSnapshot {
            id: user,
            username: profile.username.clone(),
            global_name: profile.global_name.clone(),
            avatar: profile.avatar.clone(),
            bot,
        });
        let update = Dispatch {
            event: "USER_UPDATE",
            data: Arc::from(data.to_string()),
            scope: Scope::User,
            intents: Intents::empty(),
            always_for: None,
            content: None,
        };
        for slot in sessions {
            slot.offer(&update);
        }
    }

    fn route_guild(
        &mut self,
        guild: GuildId,
        seq: u64,
        actor: Option<UserId>,
        event: &GuildEvent,
        urls: FileUrls<'_>,
    ) -> FollowUps {
        let seen = self.last_seen.entry(guild).or_default();
        *seen = (*seen).max(seq);
        let Some(followed) = self.guilds.get_mut(&guild) else {
            // Nobody here follows the guild; someone may be about to.
            let newcomer = match event {
                GuildEvent::GuildCreated(created) => Some(created.owner.id),
                GuildEvent::MemberJoined(joined) => Some(joined.user.id),
                _ => None,
            };
            return FollowUps {
                follow: newcomer.map(|user| (guild, user)).into_iter().collect(),
                ..FollowUps::default()
            };
        };
        let position = followed.state.position;
        if seq <= position {
            return FollowUps::default(); // Already in the snapshot.
        }
        if seq > position + 1 {
            // Should not happen (`projected` is at least once): the state misses
            // what was lost, so say so loudly.
            tracing::error!(
                %guild,
                missing_from = position + 1,
                missing_to = seq - 1,
                "projected guild events are missing"
            );
        }
        let followers = followed.sessions.values().map(|slot| slot.user_id());
        let sight = Sight::before(&followed.state, event, followers);
        let outcome = dispatches::guild_event(&mut followed.state, seq, event, actor, urls);
        // A channel someone now sees arrives before the update that revealed it.
        if let Some(changes) = sight.map(|sight| sight.changes(&followed.state)) {
            for slot in followed.sessions.values() {
                for dispatch in changes.get(&slot.user_id()).into_iter().flatten() {
                    slot.offer(dispatch);
                }
            }
        }
        for routed in &outcome.routed {
            deliver(followed, routed);
        }
        // Someone who joins while online is online to the others from now on (as on
        // Discord, GUILD_MEMBER_ADD is followed by the member's presence); otherwise
        // they would look offline until their status next changes.
        if let GuildEvent::MemberJoined(joined) = event
            && let Some(visible) = self.presences.visible(joined.user.id)
        {
            deliver(
                followed,
                &presence_update(guild, joined.user.id, Some(&visible)),
            );
        }
        if !outcome.unsubscribe.is_empty() {
            let gone: HashSet<UserId> = outcome.unsubscribe.iter().copied().collect();
            followed
                .sessions
                .retain(|_, slot| !gone.contains(&slot.user_id()));
        }
        if outcome.deleted || followed.sessions.is_empty() {
            self.guilds.remove(&guild);
        }
        FollowUps {
            follow: outcome
                .subscribe
                .into_iter()
                .map(|user| (guild, user))
                .collect(),
            ..FollowUps::default()
        }
    }

    fn route_dm(
        &mut self,
        hub: &Hub,
        channel: ChannelId,
        seq: u64,
        actor: Option<UserId>,
        event: &DmChannelEvent,
        urls: FileUrls<'_>,
    ) {
        if let DmChannelEvent::MessageAcked(ack) = event {
            // Only the acker's own sessions hear of it.
            offer_to_user(
                hub,
                ack.user_id,
                "MESSAGE_ACK",
                &dispatches::message_ack(ack, seq),
                Scope::Direct,
            );
            return;
        }
        if let DmChannelEvent::DmChannelOpened(opened) = event {
            // People's sessions learn of the new DM (bots no longer do on Discord:
            // their first sign is a message).
            let mut present = false;
            for recipient in &opened.recipients {
                let data = dm_channel(channel, &opened.recipients, recipient.id);
                let create = Dispatch {
                    event: "CHANNEL_CREATE",
                    data: Arc::from(data.to_string()),
                    scope: Scope::Direct,
                    intents: Intents::empty(),
                    always_for: None,
                    content: None,
                };
                for slot in hub.sessions_of_user(recipient.id) {
                    present = true;
                    if !slot.with_session(|session| session.identity().bot) {
                        slot.offer(&create);
                    }
                }
            }
            if present {
                self.dms.insert(channel, opened.recipients.clone());
            }
            return;
        }
        let Some(recipients) = self.dms.get(&channel) else {
            return; // No recipient has a session here.
        };
        let message = match event {
            DmChannelEvent::MessageSent(e) => MessageEventRef::Sent(e),
            DmChannelEvent::MessageEdited(e) => MessageEventRef::Edited(e),
            DmChannelEvent::MessageDeleted(e) => MessageEventRef::Deleted {
                id: e.id,
                channel_id: e.channel_id,
            },
            DmChannelEvent::ReactionAdded(e) => MessageEventRef::ReactionAdded(e),
            DmChannelEvent::ReactionRemoved(e) => MessageEventRef::ReactionRemoved(e),
            DmChannelEvent::MessagePinned(e) => MessageEventRef::PinsChanged {
                channel_id: e.channel_id,
                last_pin_timestamp: Some(e.pinned_at),
            },
            DmChannelEvent::MessageUnpinned(e) => MessageEventRef::PinsChanged {
                channel_id: e.channel_id,
                last_pin_timestamp: None,
            },
            DmChannelEvent::DmChannelOpened(_)
            | DmChannelEvent::DmRecipientBlocked(_)
            | DmChannelEvent::DmRecipientUnblocked(_)
            | DmChannelEvent::MessageAcked(_) => return,
        };
        let dispatch = dispatches::message_event(&message, Scope::Direct, actor, recipients, urls);
        offer_to_recipients(hub, recipients, &dispatch);
    }
}

/// Offers a dispatch meant for `user` alone (whatever their intents) to each of
/// their sessions.
fn offer_to_user(hub: &Hub, user: UserId, event: &'static str, data: &Value, scope: Scope) {
    let dispatch = Dispatch {
        event,
        data: Arc::from(data.to_string()),
        scope,
        intents: Intents::empty(),
        always_for: None,
        content: None,
    };
    for slot in hub.sessions_of_user(user) {
        slot.offer(&dispatch);
    }
}

/// Offers `dispatch` to every session of a DM's two recipients.
fn offer_to_recipients(hub: &Hub, recipients: &[UserSnapshot; 2], dispatch: &Dispatch) {
    for recipient in recipients {
        for slot in hub.sessions_of_user(recipient.id) {
            slot.offer(dispatch);
        }
    }
}

/// Offers `routed` to the followers its audience admits.
/// PRESENCE_UPDATE of `user` (`None`: offline) for the members of `guild`.
fn presence_update(guild: GuildId, user: UserId, visible: Option<&Visible>) -> Routed {
    let mut data = Visible::object(user, visible);
    data["guild_id"] = serde_json::json!(guild);
    Routed {
        dispatch: Dispatch {
            event: "PRESENCE_UPDATE",
            data: Arc::from(data.to_string()),
            scope: Scope::Guild(guild),
            intents: Intents::GUILD_PRESENCES,
            always_for: None,
            content: None,
        },
        audience: Audience::Guild,
    }
}

fn deliver(followed: &Followed, routed: &Routed) {
    for slot in followed.sessions.values() {
        let admitted = match &routed.audience {
            Audience::Guild => true,
            Audience::Channel(channel) => followed.state.can_view(slot.user_id(), *channel),
            Audience::Users(users) => users.contains(&slot.user_id()),
        };
        if admitted {
            slot.offer(&routed.dispatch);
        }
    }
}
