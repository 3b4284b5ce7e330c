//! [`Session`]: what outlives a connection — who identified, what they asked for,
//! the sequence numbers handed out and the replay buffer a Resume draws from.
//!
//! A session is created by a successful Identify and ends when its owner identifies
//! anew, its resume window passes, or a close code that is not
//! [resumable](super::close_code::CloseCode::resumable) ends it. Between
//! connections it keeps receiving dispatches into its buffer, so a Resume replays
//! exactly what the client missed, in order, then RESUMED.

use std::collections::VecDeque;

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

/// How much a session keeps for Resume: the oldest frames go first when either
/// bound is passed, and a Resume from before the oldest kept frame is 4007.
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
    /// The `s` of the last dispatch sent (0 before READY).
    seq: u64,
    /// The last dispatches sent, oldest first, each with its `s`.
    replay: VecDeque<(u64, String)>,
    replay_bytes: usize,
    #[serde(skip)]
    limits: ReplayLimits,
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
    pub fn wants<'a>(&self, dispatch: &'a Dispatch) -> Option<&'a str> {
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

    /// Numbers `event` with the next `s`, keeps it for Resume and returns the frame
    /// to send.
    pub fn push(&mut self, event: &str, data: &str) -> String {
        self.seq += 1;
        let frame = payload::dispatch(event, self.seq, data);
        self.replay_bytes += frame.len();
        self.replay.push_back((self.seq, frame.clone()));
        self.trim();
        frame
    }

    /// Drops the oldest frames until the buffer is within its limits.
    fn trim(&mut self) {
        while self.replay.len() > self.limits.frames || self.replay_bytes > self.limits.bytes {
            match self.replay.pop_front() {
                Some((_, old)) => self.replay_bytes -= old.len(),
                None => break,
            }
        }
    }

    /// [`Self::wants`] then [`Self::push`]: the frame for this session, if any.
    pub fn offer(&mut self, dispatch: &Dispatch) -> Option<String> {
        let data = self.wants(dispatch)?;
        Some(self.push(dispatch.event, data))
    }

    /// The client has every dispatch up to `seq` (its heartbeat says so, and a
    /// Resume never asks for less than a client has): they leave the replay buffer,
    /// so an idle session keeps nothing. A `seq` beyond what was sent is ignored.
    pub fn acknowledge(&mut self, seq: u64) {
        if seq > self.seq {
            return;
        }
        while let Some((_, old)) = self.replay.pop_front_if(|(s, _)| *s <= seq) {
            self.replay_bytes -= old.len();
        }
    }

    /// Resumes after the client's last `seq`: every frame after it, in order, then
    /// RESUMED. A `seq` this session never sent, or one older than what it still
    /// keeps, is 4007.
    pub fn resume(&mut self, seq: u64) -> Result<Vec<String>, CloseCode> {
        if seq > self.seq {
            return Err(CloseCode::InvalidSeq);
        }
        // The frames still kept run from `oldest` to `self.seq` without a gap.
        let oldest = self.replay.front().map_or(self.seq + 1, |(s, _)| *s);
        if seq + 1 < oldest {
            return Err(CloseCode::InvalidSeq);
        }
        let mut frames: Vec<String> = self
            .replay
            .iter()
            .filter(|(s, _)| *s > seq)
            .map(|(_, frame)| frame.clone())
            .collect();
        frames.push(self.push("RESUMED", "null"));
        Ok(frames)
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

    fn seqs(frames: &[String]) -> Vec<(u64, String)> {
        frames
            .iter()
            .map(|frame| {
                let value: Value = serde_json::from_str(frame).expect("json");
                (
                    value["s"].as_u64().expect("s"),
                    value["t"].as_str().expect("t").to_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn dispatches_get_consecutive_seqs_from_1() {
        let mut session = session(false, Intents::all(), None);
        let frames = [
            session.push("READY", "{}"),
            session.push("GUILD_CREATE", "{}"),
        ];
        assert_eq!(
            seqs(&frames),
            [(1, "READY".to_owned()), (2, "GUILD_CREATE".to_owned())]
        );
        assert_eq!(session.seq(), 2);
    }

    #[test]
    fn sessions_receive_only_dispatches_of_intents_they_asked_for() {
        let mut session = session(false, Intents::GUILDS, None);
        assert_eq!(
            session.offer(&message(Scope::Guild(GUILD), OTHER, vec![])),
            None
        );
        let mut member_update = message(Scope::Guild(GUILD), OTHER, vec![]);
        member_update.intents = Intents::GUILD_MEMBERS;
        member_update.content = None;
        assert_eq!(session.offer(&member_update), None);
        // Discord sends a member's own GUILD_MEMBER_UPDATE without GUILD_MEMBERS.
        member_update.always_for = Some(BOT);
        assert!(session.offer(&member_update).is_some());
        // Events that need no intent reach everyone.
        member_update.always_for = None;
        member_update.intents = Intents::empty();
        assert!(session.offer(&member_update).is_some());
    }

    #[test]
    fn bots_without_message_content_get_emptied_content() {
        let session = session(
            true,
            Intents::GUILD_MESSAGES | Intents::DIRECT_MESSAGES,
            None,
        );
        let guild_message = message(Scope::Guild(GUILD), OTHER, vec![]);
        assert_eq!(session.wants(&guild_message), Some(r#"{"content":""}"#));
        // The documented exceptions: its own messages, DMs, and mentions of it.
        for exception in [
            message(Scope::Guild(GUILD), BOT, vec![]),
            message(Scope::Direct, OTHER, vec![]),
            message(Scope::Guild(GUILD), OTHER, vec![BOT]),
        ] {
            assert_eq!(session.wants(&exception), Some(r#"{"content":"hi"}"#));
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
            Some(r#"{"content":"hi"}"#)
        );
        assert_eq!(person.wants(&guild_message), Some(r#"{"content":"hi"}"#));
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
            session.push(event, "{}");
        }
        let frames = session.resume(2).expect("resumable");
        assert_eq!(
            seqs(&frames),
            [
                (3, "B".to_owned()),
                (4, "C".to_owned()),
                (5, "RESUMED".to_owned())
            ]
        );
        // Up to date: only RESUMED.
        assert_eq!(
            seqs(&session.resume(5).expect("resumable")),
            [(6, "RESUMED".to_owned())]
        );
    }

    #[test]
    fn resume_from_a_seq_never_sent_closes_with_4007() {
        let mut session = session(false, Intents::all(), None);
        session.push("READY", "{}");
        assert_eq!(session.resume(2), Err(CloseCode::InvalidSeq));
    }

    #[test]
    fn resume_from_before_the_replay_buffer_closes_with_4007() {
        let mut session = session(false, Intents::all(), None);
        for n in 0..6 {
            session.push(&format!("E{n}"), "{}");
        }
        // Four frames kept: seqs 3..=6, so the client must have seen at least 2.
        assert_eq!(session.resume(1), Err(CloseCode::InvalidSeq));
        assert_eq!(seqs(&session.resume(2).expect("resumable")).len(), 5);
    }

    #[test]
    fn acknowledged_frames_leave_the_replay_buffer() {
        let mut session = session(false, Intents::all(), None);
        for event in ["READY", "A", "B"] {
            session.push(event, "{}");
        }
        session.acknowledge(2);
        assert_eq!(
            seqs(
                &session
                    .replay
                    .iter()
                    .map(|(_, f)| f.clone())
                    .collect::<Vec<_>>()
            ),
            [(3, "B".to_owned())]
        );
        // A heartbeat claiming more than was sent forgets nothing.
        session.acknowledge(9);
        assert_eq!(session.replay.len(), 1);
        // Resuming from the acknowledged point still works; from before it is 4007.
        assert_eq!(session.resume(1), Err(CloseCode::InvalidSeq));
        assert_eq!(seqs(&session.resume(2).expect("resumable")).len(), 2);
        session.acknowledge(session.seq());
        assert!(session.replay.is_empty() && session.replay_bytes == 0);
    }

    #[test]
    fn replay_buffer_is_bounded_by_bytes_too() {
        let mut session = session(false, Intents::all(), None);
        session.limits.bytes = 100;
        for _ in 0..3 {
            session.push("E", &format!(r#""{}""#, "x".repeat(40)));
        }
        assert_eq!(session.replay.len(), 1);
        assert!(session.replay_bytes <= 100);
    }
}
