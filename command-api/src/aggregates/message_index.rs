//! The message index: per message, only what decisions need — its channel, its
//! author and who reacted with what, never content — kept on disk, one redb database
//! per partition, so an aggregate's memory does not grow with its message history.
//!
//! An [`IndexStore`] is the partition's database; a [`MessageIndex`] is one
//! aggregate's view of it (its key space is the aggregate id), held by the aggregate's
//! [`Messages`](super::messages::Messages) component but never part of a snapshot.
//!
//! # Transactions
//!
//! Every read and write goes through one open redb write transaction that mirrors
//! the worker's open Kafka transaction: the worker [commits](IndexStore::commit) it,
//! with the events offset it then covers, only after Kafka committed, and
//! [aborts](IndexStore::abort) it when Kafka aborts. So the index is never ahead of
//! the committed log; after a crash it may be behind, and the restore replays the gap.
//! Its operations are last-writer-wins per message (a send writes the whole entry) and
//! set-like per reaction, so replaying, in log order, events the index already holds
//! leaves it as it was: a restore may start before the index's position.
//!
//! # Failures
//!
//! `apply` cannot fail, so a storage failure is remembered by the store and makes
//! every later operation a no-op; the worker [checks](IndexStore::take_failure) before
//! committing, so nothing decided after a failed read is ever committed.
//!
//! Aggregates built without a store (unit tests) get a private in-memory one on
//! their first write.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use cloudcord_runtime::telemetry::ErrorChain;
use cloudcord_schemas::envelope::EventHash;
use cloudcord_schemas::ids::{ChannelId, MessageId, Snowflake, UserId};
use cloudcord_schemas::message::{
    Attachment, MessageSent, ReactionAdded, ReactionEmoji, ReactionRemoved,
};
use redb::{
    Database, DatabaseError, Durability, ReadableDatabase, ReadableTable, Table, TableDefinition,
    WriteTransaction,
};
use serde::{Deserialize, Serialize};

/// (aggregate id, message id) → the JSON of an [`IndexedMessage`].
const MESSAGES: TableDefinition<'_, (u64, u64), &[u8]> = TableDefinition::new("messages");
/// `"position"` → the JSON of an [`IndexPosition`].
const POSITION: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("position");
const POSITION_KEY: &str = "position";

/// What decisions need to know about one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexedMessage {
    /// The channel it was sent in.
    pub channel_id: ChannelId,
    /// Who sent it.
    pub author_id: UserId,
    /// Who reacted with what.
    pub reactions: BTreeSet<(ReactionEmoji, UserId)>,
    /// Its files' metadata, which an edit's answer repeats (empty in entries
    /// written before the index kept them).
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

impl IndexedMessage {
    /// How many distinct emojis the message's reactions use.
    pub fn emoji_count(&self) -> usize {
        let mut emojis: Vec<&ReactionEmoji> = self.reactions.iter().map(|(e, _)| e).collect();
        emojis.dedup();
        emojis.len()
    }
}

/// How far into the events partition a committed index reaches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexPosition {
    /// The first events offset the index does not cover.
    pub events_next_offset: i64,
    /// The hash of the record at `events_next_offset - 1`, which a restore compares
    /// with the log to prove the file belongs to this log (a recreated topic, a file
    /// copied from elsewhere) before trusting it.
    pub last_event: Option<EventHash>,
}

/// The index could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The database file could not be opened or created.
    #[error("opening the message index at {path}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: DatabaseError,
    },
    /// redb failed.
    #[error("the message index failed")]
    Storage(#[from] redb::Error),
    /// A stored entry does not decode.
    #[error("a message index entry does not decode")]
    Corrupt(#[from] serde_json::Error),
}

/// One partition's message index database.
pub struct IndexStore {
    inner: Mutex<Inner>,
    /// A file this store created for itself alone, removed when it is dropped.
    private_file: Option<PathBuf>,
}

struct Inner {
    db: Database,
    open: Option<WriteTransaction>,
    failure: Option<IndexError>,
}

impl std::fmt::Debug for IndexStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexStore")
            .field("private_file", &self.private_file)
            .finish_non_exhaustive()
    }
}

impl IndexStore {
    /// Opens (or creates) the index at `path`. When another process holds it (two
    /// processors sharing a state directory), builds a private one beside it instead,
    /// which a restore fills from the log and which is deleted when dropped.
    pub fn open(path: &Path) -> Result<Self, IndexError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|error| IndexError::Open {
                path: path.to_owned(),
                source: DatabaseError::Storage(error.into()),
            })?;
        }
        let open = |path: &Path| {
            Database::create(path).map_err(|source| IndexError::Open {
                path: path.to_owned(),
                source,
            })
        };
        match open(path) {
            Ok(db) => Ok(Self::with(db, None)),
            Err(IndexError::Open {
                source: DatabaseError::DatabaseAlreadyOpen,
                ..
            }) => {
                let private = path.with_extension(format!("{}.redb", std::process::id()));
                tracing::warn!(
                    path = %path.display(),
                    private = %private.display(),
                    "the message index is in use by another process; building a private one"
                );
                // A leftover from an earlier process with the same pid is stale.
                let _ = std::fs::remove_file(&private);
                Ok(Self::with(open(&private)?, Some(private)))
            }
            Err(other) => Err(other),
        }
    }

    /// An index that lives in memory only (unit tests).
    pub fn in_memory() -> Result<Self, IndexError> {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(|source| IndexError::Open {
                path: PathBuf::from(":memory:"),
                source,
            })?;
        Ok(Self::with(db, None))
    }

    fn with(db: Database, private_file: Option<PathBuf>) -> Self {
        Self {
            inner: Mutex::new(Inner {
                db,
                open: None,
                failure: None,
            }),
            private_file,
        }
    }

    /// The view of aggregate `id`.
    pub fn scope(self: &Arc<Self>, id: Snowflake) -> MessageIndex {
        MessageIndex {
            scope: id.get(),
            store: Some(Arc::clone(self)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The committed position; `None` for a new index.
    pub fn position(&self) -> Result<Option<IndexPosition>, IndexError> {
        let inner = self.lock();
        let read = inner.db.begin_read().map_err(redb::Error::from)?;
        let table = match read.open_table(POSITION) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(error) => return Err(redb::Error::from(error).into()),
        };
        let Some(bytes) = table.get(POSITION_KEY).map_err(redb::Error::from)? else {
            return Ok(None);
        };
        Ok(Some(serde_json::from_slice(bytes.value())?))
    }

    /// Commits what the open transaction wrote, as covering the log up to `position`.
    /// `durable` waits for the disk; otherwise a crash may lose the commit, which is
    /// safe (the index falls behind, never ahead) and much cheaper per batch.
    pub fn commit(&self, position: &IndexPosition, durable: bool) -> Result<(), IndexError> {
        let mut inner = self.lock();
        if let Some(failure) = inner.failure.take() {
            return Err(failure);
        }
        let mut txn = match inner.open.take() {
            Some(txn) => txn,
            None => inner.db.begin_write().map_err(redb::Error::from)?,
        };
        txn.set_durability(if durable {
            Durability::Immediate
        } else {
            Durability::None
        })
        .map_err(redb::Error::from)?;
        {
            let mut table = txn.open_table(POSITION).map_err(redb::Error::from)?;
            let bytes = serde_json::to_vec(position)?;
            table
                .insert(POSITION_KEY, bytes.as_slice())
                .map_err(redb::Error::from)?;
        }
        txn.commit().map_err(redb::Error::from)?;
        Ok(())
    }

    /// Throws away what the open transaction wrote (and any remembered failure).
    pub fn abort(&self) {
        let mut inner = self.lock();
        inner.failure = None;
        if let Some(txn) = inner.open.take()
            && let Err(error) = txn.abort()
        {
            tracing::warn!(%error, "aborting the message index transaction failed");
        }
    }

    /// Empties the index and its position, durably (a file that does not match the log).
    pub fn clear(&self) -> Result<(), IndexError> {
        self.abort();
        let inner = self.lock();
        let txn = inner.db.begin_write().map_err(redb::Error::from)?;
        txn.delete_table(MESSAGES).map_err(redb::Error::from)?;
        txn.delete_table(POSITION).map_err(redb::Error::from)?;
        txn.commit().map_err(redb::Error::from)?;
        Ok(())
    }

    /// The storage failure since the last commit or abort, if any.
    pub fn take_failure(&self) -> Option<IndexError> {
        self.lock().failure.take()
    }

    /// Runs `op` on the messages table inside the open transaction (opening one if
    /// needed). `None` once anything failed; see the module docs.
    fn with_messages<R>(
        &self,
        op: impl FnOnce(&mut Table<'_, (u64, u64), &[u8]>) -> Result<R, IndexError>,
    ) -> Option<R> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        if inner.failure.is_some() {
            return None;
        }
        match in_transaction(&inner.db, &mut inner.open, op) {
            Ok(value) => Some(value),
            Err(error) => {
                tracing::error!(error = %ErrorChain(&error), "the message index failed");
                inner.failure = Some(error);
                None
            }
        }
    }
}

fn in_transaction<R>(
    db: &Database,
    open: &mut Option<WriteTransaction>,
    op: impl FnOnce(&mut Table<'_, (u64, u64), &[u8]>) -> Result<R, IndexError>,
) -> Result<R, IndexError> {
    let txn = match open {
        Some(txn) => txn,
        None => open.insert(db.begin_write().map_err(redb::Error::from)?),
    };
    let mut table = txn.open_table(MESSAGES).map_err(redb::Error::from)?;
    op(&mut table)
}

impl Drop for IndexStore {
    fn drop(&mut self) {
        if let Some(path) = &self.private_file {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// One aggregate's messages in the partition's [`IndexStore`].
#[derive(Clone, Default)]
pub struct MessageIndex {
    scope: u64,
    store: Option<Arc<IndexStore>>,
}

impl std::fmt::Debug for MessageIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageIndex")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

fn decode(bytes: &[u8]) -> Result<IndexedMessage, IndexError> {
    Ok(serde_json::from_slice(bytes)?)
}

impl MessageIndex {
    fn store(&mut self) -> Option<&IndexStore> {
        if self.store.is_none() {
            match IndexStore::in_memory() {
                Ok(store) => self.store = Some(Arc::new(store)),
                Err(error) => {
                    tracing::error!(%error, "an in-memory message index failed to open");
                }
            }
        }
        self.store.as_deref()
    }

    fn keys(&self) -> std::ops::RangeInclusive<(u64, u64)> {
        (self.scope, 0)..=(self.scope, u64::MAX)
    }

    /// The message, if it exists.
    pub fn get(&self, id: MessageId) -> Option<IndexedMessage> {
        let key = (self.scope, id.get());
        self.store.as_deref()?.with_messages(|table| {
            table
                .get(key)
                .map_err(redb::Error::from)?
                .map(|bytes| decode(bytes.value()))
                .transpose()
        })?
    }

    /// Records (or replaces) a message.
    pub fn insert(&mut self, id: MessageId, message: &IndexedMessage) {
        let key = (self.scope, id.get());
        if let Some(store) = self.store() {
            store.with_messages(|table| {
                let bytes = serde_json::to_vec(message)?;
                table
                    .insert(key, bytes.as_slice())
                    .map_err(redb::Error::from)?;
                Ok(())
            });
        }
    }

    /// Forgets a message.
    pub fn remove(&mut self, id: MessageId) {
        let key = (self.scope, id.get());
        if let Some(store) = self.store() {
            store.with_messages(|table| {
                table.remove(key).map_err(redb::Error::from)?;
                Ok(())
            });
        }
    }

    fn update(&mut self, id: MessageId, change: impl FnOnce(&mut IndexedMessage)) {
        if let Some(mut message) = self.get(id) {
            change(&mut message);
            self.insert(id, &message);
        }
    }

    /// Forgets every message of the aggregate, or only those `keep` rejects.
    fn retain(&mut self, mut keep: impl FnMut(MessageId, &IndexedMessage) -> bool) {
        let keys = self.keys();
        if let Some(store) = self.store() {
            store.with_messages(|table| {
                // A predicate cannot fail, so an undecodable entry is kept and the
                // failure reported after the pass.
                let mut corrupt = None;
                table
                    .retain_in(keys, |(_, id), bytes| match decode(bytes) {
                        Ok(message) => keep(MessageId::new(id), &message),
                        Err(error) => {
                            corrupt = Some(error);
                            true
                        }
                    })
                    .map_err(redb::Error::from)?;
                corrupt.map_or(Ok(()), Err)
            });
        }
    }

    /// Applies [`MessageSent`].
    pub fn on_sent(&mut self, event: &MessageSent) {
        self.insert(
            event.id,
            &IndexedMessage {
                channel_id: event.channel_id,
                author_id: event.author.id,
                reactions: BTreeSet::new(),
                attachments: event.attachments.clone(),
            },
        );
    }

    /// Applies [`ReactionAdded`].
    pub fn on_reaction_added(&mut self, event: &ReactionAdded) {
        self.update(event.message_id, |m| {
            m.reactions.insert((event.emoji.clone(), event.user_id));
        });
    }

    /// Applies [`ReactionRemoved`].
    pub fn on_reaction_removed(&mut self, event: &ReactionRemoved) {
        self.update(event.message_id, |m| {
            m.reactions.remove(&(event.emoji.clone(), event.user_id));
        });
    }

    /// Forgets every message of a deleted channel.
    pub fn remove_channel(&mut self, channel: ChannelId) {
        self.retain(|_, m| m.channel_id != channel);
    }

    /// Forgets the messages `author` sent from `since` on (a ban's purge; message ids
    /// carry their creation time).
    pub fn remove_by_author_since(&mut self, author: UserId, since: MessageId) {
        self.retain(|id, m| m.author_id != author || id < since);
    }

    /// Forgets every message (the aggregate was deleted).
    pub fn clear(&mut self) {
        self.retain(|_, _| false);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use cloudcord_schemas::ids::{ChannelId, MessageId, Snowflake, UserId};

    use super::{IndexPosition, IndexStore, IndexedMessage};

    fn message(channel: u64, author: u64) -> IndexedMessage {
        IndexedMessage {
            channel_id: ChannelId::new(channel),
            author_id: UserId::new(author),
            reactions: std::collections::BTreeSet::new(),
            attachments: Vec::new(),
        }
    }

    fn store(dir: &std::path::Path) -> Arc<IndexStore> {
        Arc::new(IndexStore::open(&dir.join("p0.redb")).expect("opens"))
    }

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "cloudcord-index-test-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn committed_writes_survive_a_reopen_and_aborted_ones_do_not() {
        let dir = temp_dir("reopen");
        let position = IndexPosition {
            events_next_offset: 7,
            last_event: None,
        };
        {
            let store = store(&dir);
            let mut index = store.scope(Snowflake::new(1));
            index.insert(MessageId::new(10), &message(5, 1));
            store.commit(&position, true).expect("commits");
            index.insert(MessageId::new(11), &message(5, 1));
            assert!(index.get(MessageId::new(11)).is_some(), "reads its writes");
            store.abort();
            assert!(index.get(MessageId::new(11)).is_none(), "aborted");
        }
        let store = store(&dir);
        let index = store.scope(Snowflake::new(1));
        assert_eq!(index.get(MessageId::new(10)), Some(message(5, 1)));
        assert_eq!(store.position().expect("reads"), Some(position));
        assert!(
            store
                .scope(Snowflake::new(2))
                .get(MessageId::new(10))
                .is_none(),
            "aggregates do not see each other's messages"
        );
        store.clear().expect("clears");
        assert_eq!(store.position().expect("reads"), None);
        assert!(index.get(MessageId::new(10)).is_none());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_second_opener_builds_a_private_index_and_removes_it() {
        let dir = temp_dir("shared");
        let first = store(&dir);
        let second = store(&dir);
        let private = second.private_file.clone().expect("private file");
        assert!(private.exists());
        first
            .scope(Snowflake::new(1))
            .insert(MessageId::new(1), &message(1, 1));
        assert!(
            second
                .scope(Snowflake::new(1))
                .get(MessageId::new(1))
                .is_none(),
            "separate databases"
        );
        drop(second);
        assert!(!private.exists(), "removed on drop");
        drop(first);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn channel_author_and_aggregate_removals_touch_only_their_messages() {
        let store = Arc::new(IndexStore::in_memory().expect("opens"));
        let mut index = store.scope(Snowflake::new(1));
        let mut other = store.scope(Snowflake::new(2));
        for (id, channel, author) in [(1, 5, 1), (2, 6, 1), (3, 5, 2), (4, 5, 1)] {
            index.insert(MessageId::new(id), &message(channel, author));
        }
        other.insert(MessageId::new(1), &message(5, 1));
        index.remove_channel(ChannelId::new(6));
        assert!(index.get(MessageId::new(2)).is_none());
        index.remove_by_author_since(UserId::new(1), MessageId::new(4));
        assert!(index.get(MessageId::new(4)).is_none(), "purged");
        assert!(
            index.get(MessageId::new(1)).is_some(),
            "older than the purge"
        );
        assert!(index.get(MessageId::new(3)).is_some(), "another author");
        index.clear();
        assert!(index.get(MessageId::new(1)).is_none());
        assert!(index.get(MessageId::new(3)).is_none());
        assert!(other.get(MessageId::new(1)).is_some(), "another aggregate");
        assert!(store.take_failure().is_none());
    }
}
