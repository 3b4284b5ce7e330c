//! RELATIONSHIP_ADD and RELATIONSHIP_REMOVE: a person's friends, blocks and friend
//! requests, live, to their own sessions (as Discord sends them to user accounts;
//! bots have no relationships).
//!
//! The user aggregate's events name only the other user, and RELATIONSHIP_ADD
//! carries the other user's profile, so each addition needs a read. Routing never
//! touches the database ([`crate::read_models`]), so [`Relationships`] takes the
//! changes from routing and one task of this process sends them, in the order they
//! came, reading each profile on the way. When the read fails, the dispatch goes out
//! with `user: null`, and the client reads `GET /users/@me/relationships` instead.
//!
//! Unlike the dispatches routing offers itself, a change still queued when its
//! session is handed over to another process (or, at Identify, one routed between
//! READY's read and the session's registration) does not reach that session; it
//! is a window of one database read, and READY or the REST list has it.

use std::sync::Arc;

use cloudcord_runtime::telemetry::ErrorChain;
use cloudcord_schemas::ids::UserId;
use cloudcord_schemas::user::{RelationshipType, UserEvent};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::hub::Slot;
use crate::objects::relationship_object;
use crate::protocol::dispatch::{Dispatch, Scope};
use crate::protocol::intents::Intents;
use crate::read_models::ReadModels;

/// One relationship of `user` that changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// Whose relationship it is (whose sessions are told).
    pub user: UserId,
    /// The other user.
    pub other: UserId,
    /// What it is now (an addition) or was (a removal).
    pub kind: RelationshipType,
    /// Whether it is gone.
    pub removed: bool,
}

impl Change {
    /// The change `event` of `user`'s aggregate makes, if it is a relationship's.
    pub fn of(user: UserId, event: &UserEvent) -> Option<Self> {
        let (other, kind, removed) = match event {
            UserEvent::FriendRequestSent(e) => {
                (e.user_id, RelationshipType::OutgoingRequest, false)
            }
            UserEvent::FriendRequestReceived(e) => {
                (e.user_id, RelationshipType::IncomingRequest, false)
            }
            UserEvent::FriendRequestAccepted(e) => (e.user_id, RelationshipType::Friend, false),
            UserEvent::FriendshipConfirmed(e) => (e.user_id, RelationshipType::Friend, false),
            UserEvent::UserBlocked(e) => (e.user_id, RelationshipType::Blocked, false),
            UserEvent::RelationshipRemoved(e) => (e.user_id, e.kind, true),
            _ => return None,
        };
        Some(Self {
            user,
            other,
            kind,
            removed,
        })
    }
}

/// Sends relationship changes to their users' sessions, in order.
pub struct Relationships {
    queue: mpsc::UnboundedSender<Change>,
}

impl Relationships {
    /// Starts the sending task, which finds a user's sessions with `sessions_of`;
    /// it ends with `shutdown` or when this is dropped.
    pub fn start(
        read_models: ReadModels,
        sessions_of: impl Fn(UserId) -> Vec<Arc<Slot>> + Send + 'static,
        shutdown: CancellationToken,
    ) -> Self {
        let (queue, mut changes) = mpsc::unbounded_channel::<Change>();
        tokio::spawn(async move {
            loop {
                let change = tokio::select! {
                    () = shutdown.cancelled() => return,
                    change = changes.recv() => match change {
                        Some(change) => change,
                        None => return,
                    },
                };
                let dispatch = dispatch(&read_models, change).await;
                for slot in sessions_of(change.user) {
                    slot.offer(&dispatch);
                }
            }
        });
        Self { queue }
    }

    /// Queues `change` for its user's sessions (routing calls this only when the
    /// user has sessions here).
    pub fn push(&self, change: Change) {
        // Only fails once the task has ended, at shutdown: nobody is left to tell.
        let _ = self.queue.send(change);
    }
}

/// RELATIONSHIP_REMOVE, or RELATIONSHIP_ADD with the other user's profile as it
/// reads now.
async fn dispatch(read_models: &ReadModels, change: Change) -> Dispatch {
    let kind = change.kind.discord_type();
    let (event, data) = if change.removed {
        (
            "RELATIONSHIP_REMOVE",
            json!({ "id": change.other.to_string(), "type": kind }),
        )
    } else {
        let profile = match read_models.user_snapshot(change.other).await {
            Ok(profile) => profile,
            Err(error) => {
                tracing::warn!(
                    user = %change.other,
                    error = %ErrorChain(&error),
                    "cannot read a user for RELATIONSHIP_ADD; sending it without the profile"
                );
                None
            }
        };
        (
            "RELATIONSHIP_ADD",
            relationship_object(kind, change.other, profile.as_ref()),
        )
    };
    Dispatch {
        event,
        data: Arc::from(data.to_string()),
        scope: Scope::User,
        intents: Intents::empty(),
        always_for: None,
        content: None,
    }
}
