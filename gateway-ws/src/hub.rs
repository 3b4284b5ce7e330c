//! [`Hub`]: this process's sessions, whether connected or waiting to be resumed,
//! and the bounded queue of frames to each connected one.
//!
//! Every frame for a session is numbered and kept for Resume under the session's
//! own lock, then offered to its connection's queue with `try_send`: fan-out never
//! waits for a client. A queue that is full means the client reads slower than
//! events arrive; the hub then drops the queue's sender, and the connection, once it
//! has written what was queued, closes with 4000 — resumable, so the client resumes
//! and the replay buffer fills the gap.
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
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use crate::metrics::Metrics;
use crate::protocol::dispatch::Dispatch;
use crate::protocol::payload::PresenceUpdate;
use crate::protocol::session::Session;

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
    /// The connected socket's queue; `None` while detached (or after an overflow).
    outbound: Option<mpsc::Sender<String>>,
    /// Which attachment the queue belongs to, so a stale connection's detach
    /// never unplugs a newer one.
    attachment: u64,
    /// Since when no connection holds the session.
    detached_since: Option<Instant>,
    metrics: Metrics,
}

impl SlotState {
    /// Queues `frame` for the connection, or drops the connection when its queue
    /// is full (the frame is kept for Resume either way).
    fn send(&mut self, frame: String) {
        let Some(outbound) = &self.outbound else {
            return;
        };
        match outbound.try_send(frame) {
            Ok(()) => {
                self.metrics.frames.inc();
            }
            Err(TrySendError::Full(_)) => {
                self.metrics.overflows.inc();
                tracing::info!(
                    session = self.session.id(),
                    "a slow client's queue is full; closing it (resumable)"
                );
                self.outbound = None;
            }
            Err(TrySendError::Closed(_)) => self.outbound = None,
        }
    }
}

impl Slot {
    /// Offers `dispatch` to the session: numbered, kept and queued if it wants it.
    pub fn offer(&self, dispatch: &Dispatch) {
        let mut state = lock(&self.state);
        if let Some(frame) = state.session.offer(dispatch) {
            state.send(frame);
        }
    }

    /// Sends `event` with `data` to the session whatever its intents and shard (a
    /// server-made event; the integration tests inject dispatches with it).
    pub fn push(&self, event: &str, data: &str) {
        let mut state = lock(&self.state);
        let frame = state.session.push(event, data);
        state.send(frame);
    }

    /// The client has every frame up to `seq` (see [`Session::acknowledge`]).
    pub fn acknowledge(&self, seq: u64) {
        lock(&self.state).session.acknowledge(seq);
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
    /// The frames to write, in order.
    pub frames: mpsc::Receiver<String>,
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

    fn attach(&self, state: &mut SlotState) -> (u64, mpsc::Receiver<String>) {
        let (sender, receiver) = mpsc::channel(self.queue_capacity);
        let id = self.next_attachment.fetch_add(1, Ordering::Relaxed);
        state.outbound = Some(sender);
        state.attachment = id;
        state.detached_since = None;
        (id, receiver)
    }

    /// A slot for `session` handed over from another process: registered nowhere
    /// and detached until [`Self::adopt`] and [`Self::resume`].
    pub fn slot(&self, session: Session) -> Arc<Slot> {
        Arc::new(Slot {
            id: Arc::from(session.id()),
            user_id: session.identity().user_id,
            state: Mutex::new(SlotState {
                session,
                outbound: None,
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
        lock(&slot.state).outbound = None;
        Some(slot)
    }

    /// [`Self::take`] for every session (at shutdown).
    pub fn take_all(&self) -> Vec<Arc<Slot>> {
        let ids: Vec<Arc<str>> = lock(&self.registry).sessions.keys().cloned().collect();
        ids.iter().filter_map(|id| self.take(id)).collect()
    }

    /// Registers a new session, numbers READY (`s` 1) with `ready` as its `d`, and
    /// attaches the calling connection. Returns the attachment and READY's frame,
    /// which the connection writes before anything queued.
    pub fn create(&self, session: Session, ready: &str) -> (Attachment, String) {
        let session_id: Arc<str> = Arc::from(session.id());
        let user_id = session.identity().user_id;
        let mut state = SlotState {
            session,
            outbound: None,
            attachment: 0,
            detached_since: None,
            metrics: self.metrics.clone(),
        };
        let ready_frame = state.session.push("READY", ready);
        let (id, frames) = self.attach(&mut state);
        let slot = Arc::new(Slot {
            id: Arc::clone(&session_id),
            user_id,
            state: Mutex::new(state),
        });
        self.adopt(Arc::clone(&slot));
        (
            Attachment {
                slot,
                session_id,
                id,
                frames,
            },
            ready_frame,
        )
    }

    /// Attaches a connection to the existing session `session_id` of `user_id` and
    /// returns the frames after `seq` and RESUMED, which the connection writes
    /// before anything queued: nothing is lost or sent twice, because numbering and
    /// queueing happen under the same lock.
    pub fn resume(
        &self,
        session_id: &str,
        user_id: UserId,
        seq: u64,
    ) -> Result<(Attachment, Vec<String>), ResumeRefused> {
        let slot = lock(&self.registry)
            .sessions
            .get(session_id)
            .cloned()
            .ok_or(ResumeRefused::UnknownSession)?;
        if slot.user_id != user_id {
            return Err(ResumeRefused::NotOwner);
        }
        let mut state = lock(&slot.state);
        let replay = match state.session.resume(seq) {
            Ok(replay) => replay,
            Err(_) => {
                drop(state);
                let mut registry = lock(&self.registry);
                registry.remove(session_id);
                self.count(&registry);
                return Err(ResumeRefused::InvalidSeq);
            }
        };
        // A connection still holding the session loses it to the resumer (its
        // queue closes, so it closes too).
        let (id, frames) = self.attach(&mut state);
        drop(state);
        Ok((
            Attachment {
                session_id: Arc::from(session_id),
                slot,
                id,
                frames,
            },
            replay,
        ))
    }

    /// The connection of `attachment` ended. A `resumable` end keeps the session
    /// for the resume window; any other ends it (`true`).
    pub fn detach(&self, attachment: &Attachment, resumable: bool, now: Instant) -> bool {
        let mut state = lock(&attachment.slot.state);
        if state.attachment != attachment.id {
            return false; // A newer connection resumed the session meanwhile.
        }
        state.outbound = None;
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
