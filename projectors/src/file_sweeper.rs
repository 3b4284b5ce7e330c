//! The file sweeper: removes the files of deleted messages once `[files]
//! deleted_grace_secs` have passed since their deletion.
//!
//! This is not a projection (it has a clock and deletes from the file store); it
//! follows the message documents the MongoDB projector writes, which carry
//! `deleted_at`, the deleting event's time. Its progress is a watermark
//! (`deleted_at`, message `id`) in its own document of the `file_sweeper` collection, so
//! each deleted message is looked at once, and a message deleted twice (say, by
//! itself and then with its channel) keeps the first watermark position it
//! passed. Deleting a file that is already gone succeeds, so a sweep repeated after
//! a crash between the deletions and the watermark update is harmless.

use std::time::Duration;

use cloudcord_runtime::files::{FileError, FileKey, Files};
use cloudcord_runtime::telemetry::ErrorChain;
use futures::TryStreamExt as _;
use mongodb::bson::{DateTime, Document, doc};
use mongodb::{Collection, Database};
use tokio_util::sync::CancellationToken;

/// Most deleted messages one sweep step looks at.
const STEP: i64 = 500;

/// The watermark document's id in `file_sweeper`.
const WATERMARK: &str = "messages";

/// Sweeps `database`'s deleted messages' files from `files`.
pub struct FileSweeper {
    messages: Collection<Document>,
    progress: Collection<Document>,
    files: Files,
    grace: Duration,
}

impl FileSweeper {
    /// A sweeper over the message documents in `database`.
    pub fn new(database: &Database, files: Files, grace: Duration) -> Self {
        Self {
            messages: database.collection("messages"),
            progress: database.collection("file_sweeper"),
            files,
            grace,
        }
    }

    /// Removes the files of every message deleted at least the grace period before
    /// `now`; returns how many files it removed.
    pub async fn sweep(&self, now: DateTime) -> Result<usize, FileError> {
        let grace = i64::try_from(self.grace.as_millis()).unwrap_or(i64::MAX);
        let cutoff = DateTime::from_millis(now.timestamp_millis().saturating_sub(grace));
        let mut removed = 0;
        loop {
            let (after, after_id) = self.watermark().await?;
            let batch: Vec<Document> = self
                .messages
                .find(doc! {
                    "deleted": true,
                    "deleted_at": { "$lte": cutoff },
                    "$or": [
                        { "deleted_at": { "$gt": after } },
                        { "deleted_at": after, "id": { "$gt": after_id } },
                    ],
                })
                .sort(doc! { "deleted_at": 1, "id": 1 })
                .limit(STEP)
                .projection(doc! { "deleted_at": 1, "id": 1, "attachments.id": 1 })
                .await?
                .try_collect()
                .await?;
            let Some(last) = batch.last() else {
                return Ok(removed);
            };
            for message in &batch {
                for id in attachment_ids(message) {
                    self.files.store().delete(FileKey(id)).await?;
                    self.files.previews().delete(FileKey(id)).await?;
                    removed += 1;
                }
            }
            let position = (
                last.get_datetime("deleted_at")
                    .map_err(|_| malformed("deleted_at"))?,
                last.get_i64("id").map_err(|_| malformed("id"))?,
            );
            self.progress
                .update_one(
                    doc! { "_id": WATERMARK },
                    doc! { "$set": { "deleted_at": position.0, "message_id": position.1 } },
                )
                .upsert(true)
                .await?;
        }
    }

    /// Where the last sweep stopped: nothing swept yet is before every message.
    async fn watermark(&self) -> Result<(DateTime, i64), FileError> {
        let found = self.progress.find_one(doc! { "_id": WATERMARK }).await?;
        Ok(found.map_or((DateTime::MIN, i64::MIN), |watermark| {
            (
                watermark
                    .get_datetime("deleted_at")
                    .copied()
                    .unwrap_or(DateTime::MIN),
                watermark.get_i64("message_id").unwrap_or(i64::MIN),
            )
        }))
    }

    /// Sweeps every `interval` until `shutdown`; a failed sweep is logged and
    /// retried at the next one.
    pub async fn run(self, interval: Duration, shutdown: CancellationToken) {
        loop {
            match self.sweep(DateTime::now()).await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "removed the files of deleted messages"),
                Err(error) => {
                    tracing::warn!(error = %ErrorChain(&error), "sweeping deleted messages' files failed");
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }
}

fn attachment_ids(message: &Document) -> Vec<u64> {
    message
        .get_array("attachments")
        .map(|attachments| {
            attachments
                .iter()
                .filter_map(|a| a.as_document()?.get_i64("id").ok())
                .filter_map(|id| u64::try_from(id).ok())
                .collect()
        })
        .unwrap_or_default()
}

fn malformed(field: &str) -> FileError {
    FileError::Malformed(format!("a deleted message document without {field}"))
}
