//! [`Session`]: what outlives a connection — who identified, what they asked for,
//! the sequence numbers handed out and the replay buffer a Resume draws from.
//!
//! A session is created by a successful Identify and ends when its owner identifies
//! anew, its resume window passes, or a close code that is not
//! [resumable](super::close_code::CloseCode::resumable) ends it. Between
//! connections it keeps receiving dispatches into its buffer, so a Resume replays
//! exactly what the client missed, in order, then RESUMED.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Arc;

use cloudcord_schemas::ephemeral::{SessionPresence, Status};
use cloudcord_schemas::ids::UserId;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::close_code::CloseCode;
use super::dispatch::{Dispatch, Scope};
use super::intents::Intents;
use super::payload::{self, IdentifyRequest, PresenceUpdate, Shard};

/// Who a session belongs to, from a verified token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The user (or bot user).
    pub user_id: UserId,
    /// Whether they identified with a bot token.
    pub bot: bool,
}

/// How much a session keeps for its connection and for Resume: the oldest frames
/// go first when either bound is passed, and a Resume from before the oldest kept
/// frame is 4007.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplayLimits {
    /// Most frames kept.
    pub frames: usize,
    /// Most bytes of frames kept.
    pub bytes: usize,
}

/// One identified session. It serializes whole (with its replay buffer but not its
/// limits, which are the process's) to be handed over to another gateway process.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    id: String,
    identity: Identity,
    intents: Intents,
    shard: Option<Shard>,
    large_threshold: u64,
    /// What the session shows others.
    status: Status,
    activities: Vec<Value>,
    /// When it last changed that, in Unix milliseconds.
    presence_changed_at_ms: i64,
    /// The `s` of the last dispatch numbered (0 before READY).
    seq: u64,
    /// The last dispatches numbered, oldest first: those the connection has yet to
    /// write and those written but not yet acknowledged.
    replay: VecDeque<Frame>,
    /// The sum of their [`Frame::weight`]s.
    replay_bytes: usize,
    #[serde(skip)]
    limits: ReplayLimits,
}

/// One dispatch numbered for one session. Its `d` is shared with every other
/// session that received the same event; the frame's text is only made when the
/// connection writes it, so fan-out copies no bytes per session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    /// `s`.
    pub seq: u64,
    /// `t`.
    pub event: Cow<'static, str>,
    /// `d` as JSON text.
    pub data: Arc<str>,
}

impl Frame {
    /// The frame as sent: `{"op":0,"d":…,"s":…,"t":…}`.
    pub fn render(&self) -> String {
        payload::dispatch(&self.event, self.seq, &self.data)
    }

    /// At least the bytes of its rendered text, which is what the replay limit
    /// bounds (the shared `d` counts in full for every session that holds it).
    fn weight(&self) -> usize {
        payload::DISPATCH_FRAMING + self.event.len() + self.data.len()
    }
}

impl Session {
    /// A session named `id` for `identity`, as `request` asked, at `now_ms` (Unix
    /// milliseconds). The caller has checked the privileged intents
    /// ([`Intents::check_privileged`]).
    pub fn new(
        id: String,
        identity: Identity,
        request: &IdentifyRequest,
        limits: ReplayLimits,
        now_ms: i64,
    ) -> Self {
        let (status, activities) = request
            .presence
            .as_ref()
            .map_or((Status::Online, Vec::new()), |presence| {
                (presence.status(), presence.activities.clone())
            });
        Self {
            id,
            identity,
            intents: request.intents,
            shard: request.shard,
            large_threshold: request.large_threshold,
            status,
            activities,
            presence_changed_at_ms: now_ms,
            seq: 0,
            replay: VecDeque::new(),
            replay_bytes: 0,
            limits,
        }
    }

    /// Applies this process's replay `limits` (a session handed over from another
    /// process arrives without them).
    pub fn limit(&mut self, limits: ReplayLimits) {
        self.limits = limits;
        self.trim();
    }

    /// READY's `session_id`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whose session it is.
    pub fn identity(&self) -> Identity {
        self.identity
    }

    /// The intents it identified with.
    pub fn intents(&self) -> Intents {
        self.intents
    }

    /// Its shard, if it shards.
    pub fn shard(&self) -> Option<Shard> {
        self.shard
    }

    /// Identify's `large_threshold`.
    pub fn large_threshold(&self) -> u64 {
        self.large_threshold
    }

    /// The session's presence, as reported to every gateway process.
    pub fn presence(&self) -> SessionPresence {
        SessionPresence {
            session_id: self.id.clone(),
            user_id: self.identity.user_id,
            status: self.status,
            activities: self.activities.clone(),
            changed_at_ms: self.presence_changed_at_ms,
        }
    }

    /// Applies a Presence Update at `now_ms`; returns the new presence.
    pub fn update_presence(&mut self, update: &PresenceUpdate, now_ms: i64) -> SessionPresence {
        self.status = update.status();
        self.activities.clone_from(&update.activities);
        // Never back in time, so this stays the session's latest change.
        self.presence_changed_at_ms = now_ms.max(self.presence_changed_at_ms + 1);
        self.presence()
    }

    /// The `s` of the last dispatch.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The `d` this session gets of `dispatch`, or `None` when its intents or shard
    /// leave it out. Visibility (membership, VIEW_CHANNEL) is the router's business.
    pub fn wants<'a>(&self, dispatch: &'a Dispatch) -> Option<&'a Arc<str>> {
        let own = dispatch.always_for == Some(self.identity.user_id);
        if !own && !dispatch.intents.is_empty() && !self.intents.intersects(dispatch.intents) {
            return None;
        }
        let on_shard = match (self.shard, dispatch.scope) {
            (None, _) | (Some(_), Scope::User) => true,
            (Some(shard), Scope::Guild(guild)) => shard.owns_guild(guild.get()),
            (Some(shard), Scope::Direct) => shard.owns_direct_messages(),
        };
        if !on_shard {
            return None;
        }
        Some(match &dispatch.content {
            Some(content) if !self.sees_content(dispatch.scope, content) => &content.redacted,
            _ => &dispatch.data,
        })
    }

    fn sees_content(&self, scope: Scope, content: &super::dispatch::MessageContent) -> bool {
        let me = self.identity.user_id;
        !self.identity.bot
            || self.intents.contains(Intents::MESSAGE_CONTENT)
            || scope == Scope::Direct
            || content.author == me
            || content.mentions.contains(&me)
    }

    /// Numbers `event` with the next `s` and keeps it for the connection and for
    /// Resume; returns its `s`.
    pub fn push(&mut self, event: impl Into<Cow<'static, str>>, data: Arc<str>) -> u64 {
        self.keep(Frame {
            seq: self.seq + 1,
            event: event.into(),
            data,
        });
        self.seq
    }

    /// Keeps `frame`, the next in sequence.
    fn keep(&mut self, frame: Frame) {
        self.seq = frame.seq;
        self.replay_bytes += frame.weight();
        self.replay.push_back(frame);
        self.trim();
    }

    /// Drops the oldest frames until the buffer is within its limits.
    fn trim(&mut self) {
        while self.replay.len() > self.limits.frames || self.replay_bytes > self.limits.bytes {
            match self.replay.pop_front() {
                Some(old) => self.replay_bytes -= old.weight(),
                None => break,
            }
        }
    }

    /// [`Self::wants`] then [`Self::push`]: whether the session took `dispatch`.
    pub fn offer(&mut self, dispatch: &Dispatch) -> bool {
        let Some(data) = self.wants(dispatch) else {
            return false;
        };
        self.push(dispatch.event, Arc::clone(data));
        true
    }

    /// The `s` of the oldest frame kept (one past [`Self::seq`] when none is).
    pub fn oldest(&self) -> u64 {
        self.replay.front().map_or(self.seq + 1, |frame| frame.seq)
    }

    /// The kept frames after `seq`, oldest first; those kept after the first
    /// missing one when frames after `seq` were dropped ([`Self::oldest`] tells).
    pub fn after(&self, seq: u64) -> impl Iterator<Item = &Frame> {
        // `s` runs without a gap from the oldest kept frame.
        let skip = usize::try_from((seq + 1).saturating_sub(self.oldest())).unwrap_or(usize::MAX);
        self.replay.iter().skip(skip)
    }

    /// The client has every dispatch up to `seq` (its heartbeat says so, and a
    /// Resume never asks for less than a client has): they leave the replay buffer,
    /// so an idle session keeps nothing. A `seq` beyond what was numbered is
    /// ignored.
    pub fn acknowledge(&mut self, seq: u64) {
        if seq > self.seq {
            return;
        }
        while let Some(old) = self.replay.pop_front_if(|frame| frame.seq <= seq) {
            self.replay_bytes -= old.weight();
        }
    }

    /// Resumes after the client's last `seq`: the frames after it are still kept,
    /// and RESUMED is numbered after them. A `seq` this session never sent, or one
    /// older than what it still keeps, is 4007.
    pub fn resume(&mut self, seq: u64) -> Result<(), CloseCode> {
        if seq > self.seq || seq + 1 < self.oldest() {
            return Err(CloseCode::InvalidSeq);
        }
        self.acknowledge(seq);
        let resumed = Frame {
            seq: self.seq + 1,
            event: Cow::Borrowed("RESUMED"),
            data: Arc::from("null"),
        };
        // RESUMED must not push out a frame the client has yet to get.
        if self.replay.len() >= self.limits.frames
            || self.replay_bytes + resumed.weight() > self.limits.bytes
        {
            return Err(CloseCode::InvalidSeq);
        }
        self.keep(resumed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use cloudcord_schemas::ids::{GuildId, UserId};
    use serde_json::Value;

    use super::{Identity, ReplayLimits, Session};
    use crate::protocol::close_code::CloseCode;
    use crate::protocol::dispatch::{Dispatch, MessageContent, Scope};
    use crate::protocol::intents::Intents;
    use crate::protocol::payload::{IdentifyRequest, Shard};

    const BOT: UserId = UserId::new(10);
    const OTHER: UserId = UserId::new(11);
    const GUILD: GuildId = GuildId::new(1 << 22);

    fn session(bot: bool, intents: Intents, shard: Option<Shard>) -> Session {
        let request = IdentifyRequest {
            token: String::new(),
            intents,
            shard,
            large_threshold: 50,
            compress: false,
            presence: None,
        };
        Session::new(
            "s".to_owned(),
            Identity { user_id: BOT, bot },
            &request,
            ReplayLimits {
                frames: 4,
                bytes: 1 << 20,
            },
            0,
        )
    }

    fn message(scope: Scope, author: UserId, mentions: Vec<UserId>) -> Dispatch {
        Dispatch {
            event: "MESSAGE_CREATE",
            data: Arc::from(r#"{"content":"hi"}"#),
            scope,
            intents: Intents::GUILD_MESSAGES | Intents::DIRECT_MESSAGES,
            always_for: None,
            content: Some(MessageContent {
                redacted: Arc::from(r#"{"content":""}"#),
                author,
                mentions,
            }),
        }
    }

    /// `s` and `t` of the frames kept after `seq`, as the client receives them.
    fn after(session: &Session, seq: u64) -> Vec<(u64, String)> {
        session
            .after(seq)
            .map(|frame| {
                let value: Value = serde_json::from_str(&frame.render()).expect("json");
                (
                    value["s"].as_u64().expect("s"),
                    value["t"].as_str().expect("t").to_owned(),
                )
            })
            .collect()
    }

    fn push(session: &mut Session, event: &'static str) {
        session.push(event, Arc::from("{}"));
    }

    #[test]
    fn dispatches_get_consecutive_seqs_from_1() {
        let mut session = session(false, Intents::all(), None);
        push(&mut session, "READY");
        push(&mut session, "GUILD_CREATE");
        assert_eq!(
            after(&session, 0),
            [(1, "READY".to_owned()), (2, "GUILD_CREATE".to_owned())]
        );
        assert_eq!(session.seq(), 2);
    }

    #[test]
    fn sessions_receive_only_dispatches_of_intents_they_asked_for() {
        let mut session = session(false, Intents::GUILDS, None);
        assert!(!session.offer(&message(Scope::Guild(GUILD), OTHER, vec![])));
        let mut member_update = message(Scope::Guild(GUILD), OTHER, vec![]);
        member_update.intents = Intents::GUILD_MEMBERS;
        member_update.content = None;
        assert!(!session.offer(&member_update));
        // Discord sends a member's own GUILD_MEMBER_UPDATE without GUILD_MEMBERS.
        member_update.always_for = Some(BOT);
        assert!(session.offer(&member_update));
        // Events that need no intent reach everyone.
        member_update.always_for = None;
        member_update.intents = Intents::empty();
        assert!(session.offer(&member_update));
    }

    #[test]
    fn bots_without_message_content_get_emptied_content() {
        let session = session(
            true,
            Intents::GUILD_MESSAGES | Intents::DIRECT_MESSAGES,
            None,
        );
        let guild_message = message(Scope::Guild(GUILD), OTHER, vec![]);
        assert_eq!(
            session.wants(&guild_message),
            Some(&Arc::from(r#"{"content":""}"#))
        );
        // The documented exceptions: its own messages, DMs, and mentions of it.
        for exception in [
            message(Scope::Guild(GUILD), BOT, vec![]),
            message(Scope::Direct, OTHER, vec![]),
            message(Scope::Guild(GUILD), OTHER, vec![BOT]),
        ] {
            assert_eq!(
                session.wants(&exception),
                Some(&Arc::from(r#"{"content":"hi"}"#))
            );
        }
    }

    #[test]
    fn message_content_intent_and_people_see_content() {
        let with_intent = session(
            true,
            Intents::GUILD_MESSAGES | Intents::MESSAGE_CONTENT,
            None,
        );
        let person = session(false, Intents::GUILD_MESSAGES, None);
        let guild_message = message(Scope::Guild(GUILD), OTHER, vec![]);
        assert_eq!(
            with_intent.wants(&guild_message),
            Some(&Arc::from(r#"{"content":"hi"}"#))
        );
        assert_eq!(
            person.wants(&guild_message),
            Some(&Arc::from(r#"{"content":"hi"}"#))
        );
    }

    #[test]
    fn sharded_sessions_receive_only_their_guilds_and_dms_on_shard_0() {
        let shard_0 = session(false, Intents::all(), Some(Shard { id: 0, count: 2 }));
        let shard_1 = session(false, Intents::all(), Some(Shard { id: 1, count: 2 }));
        // GUILD's timestamp part is 1: odd, so shard 1.
        let in_guild = message(Scope::Guild(GUILD), OTHER, vec![]);
        let in_dm = message(Scope::Direct, OTHER, vec![]);
        let mut about_user = in_dm.clone();
        about_user.scope = Scope::User;
        assert!(shard_0.wants(&in_guild).is_none());
        assert!(shard_1.wants(&in_guild).is_some());
        assert!(shard_0.wants(&in_dm).is_some());
        assert!(shard_1.wants(&in_dm).is_none());
        assert!(shard_0.wants(&about_user).is_some() && shard_1.wants(&about_user).is_some());
    }

    #[test]
    fn resume_replays_every_missed_dispatch_in_order_then_resumed() {
        let mut session = session(false, Intents::all(), None);
        for event in ["READY", "A", "B", "C"] {
            push(&mut session, event);
        }
        session.resume(2).expect("resumable");
        assert_eq!(
            after(&session, 2),
            [
                (3, "B".to_owned()),
                (4, "C".to_owned()),
                (5, "RESUMED".to_owned())
            ]
        );
        // What the client had is no longer kept.
        assert_eq!(session.oldest(), 3);
        // Up to date: only RESUMED.
        session.resume(5).expect("resumable");
        assert_eq!(after(&session, 5), [(6, "RESUMED".to_owned())]);
    }

    #[test]
    fn resume_from_a_seq_never_sent_closes_with_4007() {
        let mut session = session(false, Intents::all(), None);
        push(&mut session, "READY");
        assert_eq!(session.resume(2), Err(CloseCode::InvalidSeq));
    }

    #[test]
    fn resume_from_before_the_replay_buffer_closes_with_4007() {
        let mut session = session(false, Intents::all(), None);
        for _ in 0..6 {
            push(&mut session, "E");
        }
        // Four frames kept: seqs 3..=6, and RESUMED (7) pushes 3 out, so the
        // client must have seen at least 3.
        assert_eq!(session.resume(2), Err(CloseCode::InvalidSeq));
        let mut fresh = super::tests::session(false, Intents::all(), None);
        for _ in 0..6 {
            push(&mut fresh, "E");
        }
        fresh.resume(3).expect("resumable");
        assert_eq!(
            after(&fresh, 3),
            [
                (4, "E".to_owned()),
                (5, "E".to_owned()),
                (6, "E".to_owned()),
                (7, "RESUMED".to_owned())
            ]
        );
    }

    #[test]
    fn acknowledged_frames_leave_the_replay_buffer() {
        let mut session = session(false, Intents::all(), None);
        for event in ["READY", "A", "B"] {
            push(&mut session, event);
        }
        session.acknowledge(2);
        assert_eq!(after(&session, 0), [(3, "B".to_owned())]);
        // A heartbeat claiming more than was sent forgets nothing.
        session.acknowledge(9);
        assert_eq!(session.replay.len(), 1);
        // Resuming from the acknowledged point still works; from before it is 4007.
        assert_eq!(session.resume(1), Err(CloseCode::InvalidSeq));
        session.resume(2).expect("resumable");
        assert_eq!(after(&session, 2).len(), 2);
        session.acknowledge(session.seq());
        assert!(session.replay.is_empty() && session.replay_bytes == 0);
    }

    #[test]
    fn replay_buffer_is_bounded_by_bytes_too() {
        let mut session = session(false, Intents::all(), None);
        session.limits.bytes = 150;
        for _ in 0..3 {
            session.push("E", Arc::from(format!(r#""{}""#, "x".repeat(40))));
        }
        assert_eq!(session.replay.len(), 1);
        assert!(session.replay_bytes <= 150);
    }

    #[test]
    fn sessions_share_the_data_of_one_dispatch() {
        let dispatch = message(Scope::Guild(GUILD), OTHER, vec![]);
        let mut first = session(false, Intents::all(), None);
        let mut second = session(false, Intents::all(), None);
        assert!(first.offer(&dispatch) && second.offer(&dispatch));
        let first_data = &first.replay[0].data;
        assert!(Arc::ptr_eq(first_data, &second.replay[0].data));
        assert!(Arc::ptr_eq(first_data, &dispatch.data));
    }

    #[test]
    fn a_handed_over_session_keeps_its_frames() {
        let mut session = session(false, Intents::all(), None);
        push(&mut session, "READY");
        let json = serde_json::to_string(&session).expect("serializes");
        let back: Session = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back.replay, session.replay);
        assert_eq!(back.seq(), 1);
    }
}
