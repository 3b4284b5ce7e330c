//! [`GridFsStore`]: the [`FileStore`] on MongoDB GridFS, through the driver's own
//! GridFS API (FerretDB 1.x serves everything it uses: plain inserts, finds, deletes
//! and the two indexes the driver creates).
//!
//! Uploads stream into the driver's upload stream chunk by chunk (255 KiB chunks),
//! so an upload never sits in memory whole. Range reads go to the chunks
//! collection directly for only the chunks the range covers: the driver's download
//! stream can only start at byte 0, and seeking in a video must not read the file
//! from its beginning.

use std::ops::Range;

use axum::body::Bytes;
use futures::future::BoxFuture;
use futures::{AsyncWriteExt as _, StreamExt as _, TryStreamExt as _};
use mongodb::bson::{Bson, Document, doc};
use mongodb::error::{ErrorKind, GridFsErrorKind};
use mongodb::gridfs::{FilesCollectionDocument, GridFsBucket};
use mongodb::options::GridFsBucketOptions;
use mongodb::{Collection, Database};

use super::{ByteStream, FileError, FileInfo, FileKey, FileStore};

/// Files in one GridFS bucket, keyed by snowflake (`_id` is the key as a string).
#[derive(Debug, Clone)]
pub struct GridFsStore {
    bucket: GridFsBucket,
    chunks: Collection<Document>,
}

impl GridFsStore {
    /// The bucket `name` in `database`.
    pub fn new(database: &Database, name: &str) -> Self {
        let options = GridFsBucketOptions::builder()
            .bucket_name(name.to_owned())
            .build();
        Self {
            bucket: database.gridfs_bucket(options),
            chunks: database.collection(&format!("{name}.chunks")),
        }
    }
}

/// A file's `_id` (and its chunks' `files_id`): a string, which FerretDB matches
/// in PostgreSQL (see [`crate::mongo::key`]).
fn id(key: FileKey) -> Bson {
    Bson::String(crate::mongo::key(key.0))
}

impl FileStore for GridFsStore {
    fn put<'a>(
        &'a self,
        key: FileKey,
        filename: &'a str,
        content_type: &'a str,
        mut bytes: ByteStream<'a>,
        limit: u64,
    ) -> BoxFuture<'a, Result<FileInfo, FileError>> {
        Box::pin(async move {
            let mut upload = self
                .bucket
                .open_upload_stream(filename)
                .id(id(key))
                .metadata(doc! { "content_type": content_type })
                .await?;
            let mut size: u64 = 0;
            let written = async {
                while let Some(chunk) = bytes.next().await {
                    let chunk = chunk?;
                    size += chunk.len() as u64;
                    if size > limit {
                        return Err(FileError::TooLarge { limit });
                    }
                    upload
                        .write_all(&chunk)
                        .await
                        .map_err(|error| FileError::Body(Box::new(error)))?;
                }
                Ok(())
            }
            .await;
            match written {
                Ok(()) => {
                    upload
                        .close()
                        .await
                        .map_err(|error| FileError::Body(Box::new(error)))?;
                    Ok(FileInfo {
                        filename: filename.to_owned(),
                        content_type: content_type.to_owned(),
                        size,
                    })
                }
                Err(error) => {
                    // Removes the chunks written so far; the files document is only
                    // written by `close`, so nothing of the file remains.
                    upload.abort().await?;
                    Err(error)
                }
            }
        })
    }

    fn info(&self, key: FileKey) -> BoxFuture<'_, Result<Option<FileInfo>, FileError>> {
        Box::pin(async move {
            let Some(file) = self.bucket.find_one(doc! { "_id": id(key) }).await? else {
                return Ok(None);
            };
            Ok(Some(info(&file)?))
        })
    }

    fn read(
        &self,
        key: FileKey,
        range: Range<u64>,
    ) -> BoxFuture<'_, Result<ByteStream<'static>, FileError>> {
        Box::pin(async move {
            let file = self
                .bucket
                .find_one(doc! { "_id": id(key) })
                .await?
                .ok_or_else(|| FileError::Malformed(format!("file {} vanished", key.0)))?;
            let chunk_size = u64::from(file.chunk_size_bytes.max(1));
            let end = range.end.min(file.length);
            let start = range.start.min(end);
            if start == end {
                return Ok(futures::stream::empty().boxed());
            }
            let first = start / chunk_size;
            let last = (end - 1) / chunk_size;
            let chunks = self
                .chunks
                .find(doc! {
                    "files_id": id(key),
                    "n": { "$gte": chunk_number(first)?, "$lte": chunk_number(last)? },
                })
                .sort(doc! { "n": 1 })
                .await?;
            let stream = chunks.map_err(FileError::from).map(move |chunk| {
                let chunk = chunk?;
                let n = chunk
                    .get_i32("n")
                    .map_err(|_| FileError::Malformed("chunk without n".to_owned()))?;
                let data = chunk
                    .get_binary_generic("data")
                    .map_err(|_| FileError::Malformed("chunk without data".to_owned()))?;
                // Where this chunk's bytes sit in the file, cut to the range.
                let offset = u64::try_from(n).unwrap_or(0) * chunk_size;
                let from = start.saturating_sub(offset).min(data.len() as u64);
                let to = (end - offset).min(data.len() as u64).max(from);
                // Both bounds are at most `data.len()`, a usize.
                Ok(Bytes::copy_from_slice(
                    &data[usize::try_from(from).unwrap_or(0)..usize::try_from(to).unwrap_or(0)],
                ))
            });
            Ok(stream.boxed())
        })
    }

    fn delete(&self, key: FileKey) -> BoxFuture<'_, Result<(), FileError>> {
        Box::pin(async move {
            match self.bucket.delete(id(key)).await {
                Ok(()) => Ok(()),
                Err(error)
                    if matches!(
                        *error.kind,
                        ErrorKind::GridFs(GridFsErrorKind::FileNotFound { .. })
                    ) =>
                {
                    Ok(())
                }
                Err(error) => Err(error.into()),
            }
        })
    }
}

fn chunk_number(n: u64) -> Result<i32, FileError> {
    i32::try_from(n).map_err(|_| FileError::Malformed(format!("chunk {n} out of range")))
}

fn info(file: &FilesCollectionDocument) -> Result<FileInfo, FileError> {
    let content_type = file
        .metadata
        .as_ref()
        .and_then(|metadata| metadata.get_str("content_type").ok())
        .ok_or_else(|| FileError::Malformed("file without a content type".to_owned()))?;
    Ok(FileInfo {
        filename: file.filename.clone().unwrap_or_default(),
        content_type: content_type.to_owned(),
        size: file.length,
    })
}
