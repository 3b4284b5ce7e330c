//! [`Hub`]: this process's sessions, whether connected or waiting to be resumed,
//! and the bounded queue of frames to each connected one.
//!
//! Every frame for a session is numbered and kept in the session's replay buffer
//! under the session's own lock, and its connection is woken: the buffer is also
//! the connection's queue, which remembers how far it has written. Fan-out never
//! waits for a client and copies nothing per session (frames share their `d`). A
//! connection more than `outbound_queue` frames behind means the client reads
//! slower than events arrive; the hub then detaches it, and the connection closes
//! with 4000 — resumable, so the client resumes and the buffer fills the gap.
//!
//! A session outlives its connection for the resume window
//! (`[gateway_ws.sessions] resume_window_secs`); [`Hub::expire`] drops the ones
//! past it.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use cloudcord_schemas::ephemeral::SessionPresence;
use cloudcord_schemas::ids::UserId;
use tokio::sync::Notify;

use crate::metrics::Metrics;
use crate::protocol::dispatch::Dispatch;
use crate::protocol::payload::PresenceUpdate;
use crate::protocol::session::{Frame, Session};

/// Locks `mutex`, also after a panic elsewhere: every update under the gateway's
/// locks leaves the state consistent before anything that could panic, so the data
/// is still good.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One session and its connection, if it has one.
#[derive(Debug)]
pub struct Slot {
    id: Arc<str>,
    user_id: UserId,
    state: Mutex<SlotState>,
}

#[derive(Debug)]
struct SlotState {
    session: Session,
    /// The connection writing the session's frames; `None` while detached (or
    /// after an overflow).
    connection: Option<Writer>,
    /// The latest attachment, so a stale connection's detach never unplugs a
    /// newer one.
    attachment: u64,
    /// Since when no connection holds the session.
    detached_since: Option<Instant>,
    metrics: Metrics,
}

/// How far the attached connection has written, and how to wake it.
#[derive(Debug)]
struct Writer {
    /// The `s` of the last frame it has taken to write.
    written: u64,
    /// Most frames it may lag behind before it counts as too slow.
    capacity: u64,
    wake: Arc<Notify>,
}

impl SlotState {
    /// A frame was numbered: wakes the connection, or detaches it when it is too
    /// far behind (the frame is kept for Resume either way).
    fn numbered(&mut self) {
        let Some(writer) = &self.connection else {
            return;
        };
        let lag = self.session.seq() - writer.written;
        // The replay limits may also have dropped frames it had yet to write.
        if lag <= writer.capacity && self.session.oldest() <= writer.written + 1 {
            self.metrics.frames.inc();
            writer.wake.notify_one();
            return;
        }
        self.metrics.overflows.inc();
        tracing::info!(
            session = self.session.id(),
            "a slow client is too far behind; closing it (resumable)"
        );
        self.unplug();
    }

    /// Detaches the connection, which notices when it wakes.
    fn unplug(&mut self) {
        if let Some(writer) = self.connection.take() {
            writer.wake.notify_one();
        }
    }

    /// Attaches a connection that has every frame up to `written`.
    fn plug(&mut self, attachment: u64, written: u64, capacity: usize) -> Arc<Notify> {
        self.unplug();
        let wake = Arc::new(Notify::new());
        // It has something to write at once if frames are kept after `written`.
        wake.notify_one();
        self.attachment = attachment;
        self.connection = Some(Writer {
            written,
            capacity: u64::try_from(capacity).unwrap_or(u64::MAX),
            wake: Arc::clone(&wake),
        });
        self.detached_since = None;
        wake
    }
}

impl Slot {
    /// Offers `dispatch` to the session: numbered, kept and written if it wants it.
    pub fn offer(&self, dispatch: &Dispatch) {
        let mut state = lock(&self.state);
        if state.session.offer(dispatch) {
            state.numbered();
        }
    }

    /// Sends `event` with `data` to the session whatever its intents and shard (a
    /// server-made event; the integration tests inject dispatches with it).
    pub fn push(&self, event: &'static str, data: &str) {
        let mut state = lock(&self.state);
        state.session.push(event, Arc::from(data));
        state.numbered();
    }

    /// The client has every frame up to `seq` (see [`Session::acknowledge`]); a
    /// client cannot acknowledge what its connection has not written yet.
    pub fn acknowledge(&self, seq: u64) {
        let mut state = lock(&self.state);
        let written = state
            .connection
            .as_ref()
            .map_or(seq, |writer| writer.written);
        state.session.acknowledge(seq.min(written));
    }

    /// The session's id.
    pub fn id(&self) -> &Arc<str> {
        &self.id
    }

    /// The session's user.
    pub fn user_id(&self) -> UserId {
        self.user_id
    }

    /// Runs `f` on the session.
    pub fn with_session<T>(&self, f: impl FnOnce(&Session) -> T) -> T {
        f(&lock(&self.state).session)
    }

    /// Applies a Presence Update at `now_ms`; returns the session's new presence.
    pub fn update_presence(&self, update: &PresenceUpdate, now_ms: i64) -> SessionPresence {
        lock(&self.state).session.update_presence(update, now_ms)
    }

    /// The session's presence.
    pub fn presence(&self) -> SessionPresence {
        lock(&self.state).session.presence()
    }

    /// A copy of the session, replay buffer included (to hand it over).
    pub fn session(&self) -> Session {
        lock(&self.state).session.clone()
    }
}

/// A connection's hold on a session.
#[derive(Debug)]
pub struct Attachment {
    /// The session.
    pub slot: Arc<Slot>,
    /// The session's id.
    pub session_id: Arc<str>,
    /// Which attachment this is ([`Hub::detach`] needs it).
    pub id: u64,
    /// Woken when the session has frames to write, or has been taken away.
    pub wake: Arc<Notify>,
}

impl Attachment {
    /// The next frames to write, oldest first, about `max_bytes` of them at most
    /// (always at least one when any is waiting); `None` once the session is no
    /// longer this connection's (it overflowed, or another connection resumed it).
    pub fn take(&self, max_bytes: usize) -> Option<Vec<Frame>> {
        let mut state = lock(&self.slot.state);
        if state.attachment != self.id {
            return None;
        }
        let SlotState {
            session,
            connection,
            ..
        } = &mut *state;
        let writer = connection.as_mut()?;
        if session.oldest() > writer.written + 1 {
            // The replay limits dropped frames it had yet to write.
            state.unplug();
            return None;
        }
        let mut frames = Vec::new();
        let mut bytes = 0;
        for frame in session.after(writer.written) {
            if bytes >= max_bytes {
                // More to write than fits: come back at once.
                writer.wake.notify_one();
                break;
            }
            bytes += frame.data.len();
            frames.push(frame.clone());
        }
        if let Some(last) = frames.last() {
            writer.written = last.seq;
        }
        Some(frames)
    }
}

/// Why a Resume found nothing to resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumeRefused {
    /// No such session here (expired, never existed, or on another process):
    /// Invalid Session, `d: false`.
    UnknownSession,
    /// The token names another user than the session's (4004).
    NotOwner,
    /// The `seq` cannot be replayed from (4007).
    InvalidSeq,
}

/// This process's sessions.
#[derive(Debug)]
pub struct Hub {
    registry: Mutex<Registry>,
    queue_capacity: usize,
    next_attachment: AtomicU64,
    metrics: Metrics,
}

#[derive(Debug, Default)]
struct Registry {
    sessions: HashMap<Arc<str>, Arc<Slot>>,
    by_user: HashMap<UserId, HashSet<Arc<str>>>,
}

impl Registry {
    fn remove(&mut self, session_id: &str) {
        let Some(slot) = self.sessions.remove(session_id) else {
            return;
        };
        if let Some(ids) = self.by_user.get_mut(&slot.user_id) {
            ids.remove(session_id);
            if ids.is_empty() {
                self.by_user.remove(&slot.user_id);
            }
        }
    }
}

impl Hub {
    /// A hub whose connections each queue at most `queue_capacity` frames.
    pub fn new(queue_capacity: usize, metrics: Metrics) -> Self {
        Self {
            registry: Mutex::default(),
            queue_capacity: queue_capacity.max(1),
            next_attachment: AtomicU64::new(1),
            metrics,
        }
    }

    fn count(&self, registry: &Registry) {
        self.metrics
            .sessions
            .set(i64::try_from(registry.sessions.len()).unwrap_or(i64::MAX));
    }

    /// Attaches a connection that has every frame up to `written` to `slot`.
    fn attach(&self, slot: &Arc<Slot>, state: &mut SlotState, written: u64) -> Attachment {
        let id = self.next_attachment.fetch_add(1, Ordering::Relaxed);
        let wake = state.plug(id, written, self.queue_capacity);
        Attachment {
            slot: Arc::clone(slot),
            session_id: Arc::clone(&slot.id),
            id,
            wake,
        }
    }

    /// A slot for `session` handed over from another process: registered nowhere
    /// and detached until [`Self::adopt`] and [`Self::resume`].
    pub fn slot(&self, session: Session) -> Arc<Slot> {
        Arc::new(Slot {
            id: Arc::from(session.id()),
            user_id: session.identity().user_id,
            state: Mutex::new(SlotState {
                session,
                connection: None,
                attachment: 0,
                detached_since: Some(Instant::now()),
                metrics: self.metrics.clone(),
            }),
        })
    }

    /// Registers `slot`'s session here.
    pub fn adopt(&self, slot: Arc<Slot>) {
        let mut registry = lock(&self.registry);
        registry
            .by_user
            .entry(slot.user_id)
            .or_default()
            .insert(Arc::clone(&slot.id));
        registry.sessions.insert(Arc::clone(&slot.id), slot);
        self.count(&registry);
    }

    /// Unregisters the session `session_id` (to hand it over) and drops its
    /// connection's queue, so a connection still holding it closes (resumable).
    pub fn take(&self, session_id: &str) -> Option<Arc<Slot>> {
        let mut registry = lock(&self.registry);
        let slot = registry.sessions.get(session_id).cloned()?;
        registry.remove(session_id);
        self.count(&registry);
        drop(registry);
        lock(&slot.state).unplug();
        Some(slot)
    }

    /// [`Self::take`] for every session (at shutdown).
    pub fn take_all(&self) -> Vec<Arc<Slot>> {
        let ids: Vec<Arc<str>> = lock(&self.registry).sessions.keys().cloned().collect();
        ids.iter().filter_map(|id| self.take(id)).collect()
    }

    /// Registers a new session, numbers READY (`s` 1) with `ready` as its `d`, and
    /// attaches the calling connection, which writes READY first.
    pub fn create(&self, mut session: Session, ready: String) -> Attachment {
        session.push("READY", Arc::from(ready));
        let slot = self.slot(session);
        let attachment = self.attach(&slot, &mut lock(&slot.state), 0);
        self.adopt(slot);
        attachment
    }

    /// Attaches a connection to the existing session `session_id` of `user_id`; it
    /// writes the frames after `seq`, then RESUMED, then what follows: nothing is
    /// lost or sent twice, because numbering and writing both go by the session's
    /// buffer, under its lock.
    pub fn resume(
        &self,
        session_id: &str,
        user_id: UserId,
        seq: u64,
    ) -> Result<Attachment, ResumeRefused> {
        let slot = lock(&self.registry)
            .sessions
            .get(session_id)
            .cloned()
            .ok_or(ResumeRefused::UnknownSession)?;
        if slot.user_id != user_id {
            return Err(ResumeRefused::NotOwner);
        }
        let mut state = lock(&slot.state);
        if state.session.resume(seq).is_err() {
            drop(state);
            let mut registry = lock(&self.registry);
            registry.remove(session_id);
            self.count(&registry);
            return Err(ResumeRefused::InvalidSeq);
        }
        // A connection still holding the session loses it to the resumer (it is
        // woken, finds itself detached and closes).
        Ok(self.attach(&slot, &mut state, seq))
    }

    /// The connection of `attachment` ended. A `resumable` end keeps the session
    /// for the resume window; any other ends it (`true`).
    pub fn detach(&self, attachment: &Attachment, resumable: bool, now: Instant) -> bool {
        let mut state = lock(&attachment.slot.state);
        if state.attachment != attachment.id {
            return false; // A newer connection resumed the session meanwhile.
        }
        state.connection = None;
        state.detached_since = Some(now);
        drop(state);
        let ends = !resumable;
        if ends {
            let mut registry = lock(&self.registry);
            registry.remove(&attachment.session_id);
            self.count(&registry);
        }
        ends
    }

    /// Drops the sessions detached for longer than `window` at `now`; returns them.
    pub fn expire(&self, now: Instant, window: Duration) -> Vec<Arc<Slot>> {
        let mut registry = lock(&self.registry);
        let expired: Vec<Arc<Slot>> = registry
            .sessions
            .values()
            .filter(|slot| {
                lock(&slot.state)
                    .detached_since
                    .is_some_and(|since| now.duration_since(since) >= window)
            })
            .cloned()
            .collect();
        for slot in &expired {
            registry.remove(&slot.id);
        }
        self.count(&registry);
        expired
    }

    /// Every session here.
    pub fn all(&self) -> Vec<Arc<Slot>> {
        lock(&self.registry).sessions.values().cloned().collect()
    }

    /// Whether the session `session_id` is here.
    pub fn holds(&self, session_id: &str) -> bool {
        lock(&self.registry).sessions.contains_key(session_id)
    }

    /// The sessions of `user`.
    pub fn sessions_of_user(&self, user: UserId) -> Vec<Arc<Slot>> {
        let registry = lock(&self.registry);
        registry
            .by_user
            .get(&user)
            .into_iter()
            .flatten()
            .filter_map(|id| registry.sessions.get(id).cloned())
            .collect()
    }
}
