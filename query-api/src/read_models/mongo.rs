//! Reads of the MongoDB read models the Mongo projector writes
//! (`projectors/src/mongo/documents.rs`): message documents, the guild audit log and
//! the per-aggregate positions. The collection names and document fields here are
//! that projector's; the integration tests fill the database through the projector
//! itself, so a drift between the two fails them.
//!
//! Every read filters by equality on a string id
//! ([`key`](cloudcord_runtime::mongo::key)), which FerretDB matches in PostgreSQL;
//! several ids are several lookups, never one `$in`, which it would answer by
//! reading the whole collection.

use cloudcord_runtime::mongo::find_each;
use futures::TryStreamExt as _;
use mongodb::Database;
use mongodb::bson::{DateTime, Document, doc};
use mongodb::options::FindOptions;
use serde::Deserialize;

/// One document per message, keyed by message id.
const MESSAGES: &str = "messages";
/// One entry per audited guild event, keyed by event id.
const AUDIT_LOG: &str = "audit_log";
/// One settings document per user, keyed by user id.
const USER_SETTINGS: &str = "user_settings";
/// The last applied `seq` per aggregate, keyed `<aggregate_type>/<id>`.
const POSITIONS: &str = "aggregate_positions";

/// A stored id as the documents hold it ([`cloudcord_runtime::mongo::key`]).
fn key(id: i64) -> String {
    cloudcord_runtime::mongo::key(id.cast_unsigned())
}

/// A message's author as the document keeps it (a snapshot at send time).
#[derive(Debug, Clone, Deserialize)]
pub struct AuthorDocument {
    /// The user.
    pub id: i64,
    /// Username at send time.
    pub username: String,
    /// Display name at send time.
    pub global_name: Option<String>,
    /// Avatar hash at send time.
    pub avatar: Option<String>,
    /// Whether the author is a bot.
    pub bot: bool,
}

/// A reply's reference.
#[derive(Debug, Clone, Deserialize)]
pub struct ReferenceDocument {
    /// The replied-to message.
    pub message_id: i64,
    /// Its channel.
    pub channel_id: i64,
    /// Its guild.
    pub guild_id: Option<i64>,
}

/// One user's reaction with one emoji.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ReactionDocument {
    /// A custom emoji's id.
    pub emoji_id: Option<i64>,
    /// The Unicode emoji, or the custom emoji's name.
    pub emoji_name: String,
    /// Who reacted.
    pub user_id: i64,
}

/// A message document.
#[derive(Debug, Clone, Deserialize)]
pub struct MessageDocument {
    /// The message (its `_id` is the same id as a string).
    pub id: i64,
    /// Its channel, as a string ([`key`](cloudcord_runtime::mongo::key)).
    pub channel_id: String,
    /// Its author.
    pub author: AuthorDocument,
    /// Its text.
    pub content: String,
    /// When it was sent.
    pub timestamp: DateTime,
    /// When it was last edited.
    pub edited_timestamp: Option<DateTime>,
    /// Text-to-speech.
    pub tts: bool,
    /// Mentions `@everyone` / `@here`.
    pub mention_everyone: bool,
    /// Mentioned users.
    pub mentions: Vec<i64>,
    /// Mentioned roles.
    pub mention_roles: Vec<i64>,
    /// What it replies to.
    pub message_reference: Option<ReferenceDocument>,
    /// Reactions, in the order they were first added.
    pub reactions: Vec<ReactionDocument>,
    /// Pinned in its channel.
    pub pinned: bool,
    /// When it was pinned.
    #[serde(default)]
    pub pinned_at: Option<DateTime>,
    /// Its files' metadata (none in documents of messages sent before attachments).
    #[serde(default)]
    pub attachments: Vec<AttachmentDocument>,
}

/// A message's file, as the projector writes it.
#[derive(Debug, Clone, Deserialize)]
pub struct AttachmentDocument {
    /// The attachment (the file store's key).
    pub id: i64,
    /// The file's name.
    pub filename: String,
    /// The sender's description.
    pub description: Option<String>,
    /// The sniffed media type.
    pub content_type: String,
    /// Bytes.
    pub size: i64,
    /// Pixels, for images.
    pub width: Option<i64>,
    /// Pixels, for images.
    pub height: Option<i64>,
}

/// An audit-log entry.
#[derive(Debug, Clone, Deserialize)]
pub struct AuditEntryDocument {
    /// The event's id.
    #[serde(rename = "_id")]
    pub id: String,
    /// The guild aggregate's `seq` of the event: the entries' order.
    pub seq: i64,
    /// Discord's audit-log action type.
    pub action_type: i32,
    /// Who acted (`None` for the system).
    pub user_id: Option<i64>,
    /// What was acted on.
    pub target_id: Option<i64>,
    /// `{key, new_value}` changes.
    pub changes: Vec<Document>,
    /// The reason given.
    pub reason: Option<String>,
    /// When the event happened.
    pub created_at: DateTime,
}

/// Which audit-log entries a request wants.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuditFilter {
    /// Only entries by this user.
    pub user_id: Option<i64>,
    /// Only entries of this action type.
    pub action_type: Option<i32>,
}

/// Which end of the audit log a page starts from, by the guild's event `seq`.
#[derive(Debug, Clone, Copy)]
pub enum AuditPage {
    /// The newest entries.
    Latest,
    /// The newest entries older than this `seq`.
    Before(i64),
    /// The oldest entries newer than this `seq`.
    After(i64),
}

/// The MongoDB read models.
#[derive(Debug, Clone)]
pub struct Documents {
    database: Database,
}

impl Documents {
    /// Reads from `database` (the projector's `[mongo] database`).
    pub fn new(database: Database) -> Self {
        Self { database }
    }

    /// The database, for the readiness check.
    pub fn database(&self) -> &Database {
        &self.database
    }

    async fn find<T: serde::de::DeserializeOwned + Send + Sync>(
        &self,
        collection: &str,
        filter: Document,
        sort: Document,
        limit: i64,
    ) -> mongodb::error::Result<Vec<T>> {
        let options = FindOptions::builder().sort(sort).limit(limit).build();
        self.database
            .collection::<T>(collection)
            .find(filter)
            .with_options(options)
            .await?
            .try_collect()
            .await
    }

    /// One visible message of `channel_id`.
    pub async fn message(
        &self,
        channel_id: i64,
        id: i64,
    ) -> mongodb::error::Result<Option<MessageDocument>> {
        self.database
            .collection::<MessageDocument>(MESSAGES)
            .find_one(doc! { "_id": key(id), "channel_id": key(channel_id), "deleted": false })
            .await
    }

    /// The visible messages among `ids`, newest first; one lookup per id.
    pub async fn messages_by_id(
        &self,
        ids: &[i64],
    ) -> mongodb::error::Result<Vec<MessageDocument>> {
        let filters: Vec<Document> = ids
            .iter()
            .map(|&id| doc! { "_id": key(id), "deleted": false })
            .collect();
        let mut found = find_each(
            &self.database.collection::<MessageDocument>(MESSAGES),
            filters,
        )
        .await?;
        found.sort_by_key(|message| std::cmp::Reverse(message.id));
        Ok(found)
    }

    /// A guild's audit-log entries matching `filter` on `page`, newest first, at
    /// most `limit`.
    pub async fn audit_entries(
        &self,
        guild_id: i64,
        filter: AuditFilter,
        page: AuditPage,
        limit: u32,
    ) -> mongodb::error::Result<Vec<AuditEntryDocument>> {
        let mut query = doc! { "guild_id": key(guild_id) };
        if let Some(user) = filter.user_id {
            query.insert("user_id", user);
        }
        if let Some(action) = filter.action_type {
            query.insert("action_type", action);
        }
        let direction = match page {
            AuditPage::Latest => -1,
            AuditPage::Before(seq) => {
                query.insert("seq", doc! { "$lt": seq });
                -1
            }
            AuditPage::After(seq) => {
                query.insert("seq", doc! { "$gt": seq });
                1
            }
        };
        let mut entries: Vec<AuditEntryDocument> = self
            .find(
                AUDIT_LOG,
                query,
                doc! { "seq": direction },
                i64::from(limit),
            )
            .await?;
        entries.sort_by_key(|e| std::cmp::Reverse(e.seq));
        Ok(entries)
    }

    /// The user's locale setting, if their settings are projected.
    pub async fn locale(&self, user_id: i64) -> mongodb::error::Result<Option<String>> {
        #[derive(Deserialize)]
        struct SettingsDocument {
            locale: String,
        }
        Ok(self
            .database
            .collection::<SettingsDocument>(USER_SETTINGS)
            .find_one(doc! { "_id": key(user_id) })
            .await?
            .map(|settings| settings.locale))
    }

    /// The last applied `seq` of each aggregate in `keys` (`<aggregate_type>/<id>`)
    /// that has one.
    pub async fn positions(&self, keys: &[String]) -> mongodb::error::Result<Vec<(String, i64)>> {
        #[derive(Deserialize)]
        struct PositionDocument {
            #[serde(rename = "_id")]
            id: String,
            seq: i64,
        }
        let filters: Vec<Document> = keys.iter().map(|id| doc! { "_id": id }).collect();
        let found = find_each(
            &self.database.collection::<PositionDocument>(POSITIONS),
            filters,
        )
        .await?;
        Ok(found.into_iter().map(|p| (p.id, p.seq)).collect())
    }
}
