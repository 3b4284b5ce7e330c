//! The GridFS file store against the real FerretDB: a multi-chunk file streams in,
//! reads back whole and in ranges that cross chunk boundaries, and is deleted; a
//! file over its limit leaves nothing behind.

use axum::body::Bytes;
use cloudcord_runtime::files::gridfs::GridFsStore;
use cloudcord_runtime::files::{FileError, FileKey, FileStore};
use futures::{StreamExt as _, TryStreamExt as _};
use mongodb::bson::{Document, doc};

use crate::support::{stores, unique};

/// 600 KiB of a repeating pattern: three 255 KiB GridFS chunks, the last partial.
fn pattern() -> Vec<u8> {
    (0..600 * 1024_u32)
        .map(|i| (i % 251).to_le_bytes()[0])
        .collect()
}

/// `bytes` as an upload arriving in uneven pieces, as a multipart body does.
fn pieces(bytes: &[u8]) -> cloudcord_runtime::files::ByteStream<'static> {
    let pieces: Vec<Result<Bytes, FileError>> = bytes
        .chunks(100_003)
        .map(|piece| Ok(Bytes::copy_from_slice(piece)))
        .collect();
    futures::stream::iter(pieces).boxed()
}

async fn read(store: &GridFsStore, key: FileKey, range: std::ops::Range<u64>) -> Vec<u8> {
    let parts: Vec<Bytes> = store
        .read(key, range)
        .await
        .expect("open")
        .try_collect()
        .await
        .expect("read");
    parts.concat()
}

#[tokio::test]
async fn gridfs_stores_reads_ranges_and_deletes() {
    let mut config = stores().mongo;
    config.database = unique("files");
    let database = config.database("files-test").await.expect("client");
    let store = GridFsStore::new(&database, "attachments");
    let bytes = pattern();
    let key = FileKey(1_234_567_890_123);

    let info = store
        .put(key, "clip.bin", "video/mp4", pieces(&bytes), 1024 * 1024)
        .await
        .expect("put");
    assert_eq!(info.size, bytes.len() as u64);
    let found = store.info(key).await.expect("info").expect("stored");
    assert_eq!(found, info);
    assert_eq!(found.content_type, "video/mp4");

    assert_eq!(read(&store, key, 0..bytes.len() as u64).await, bytes);
    // Across the first chunk boundary (255 KiB) and into the last, partial chunk.
    let range = 261_000..530_000;
    assert_eq!(
        read(&store, key, range.clone()).await,
        bytes[261_000..530_000]
    );
    assert_eq!(
        read(&store, key, 599 * 1024..600 * 1024).await,
        bytes[599 * 1024..]
    );

    store.delete(key).await.expect("delete");
    assert_eq!(store.info(key).await.expect("info"), None);
    store.delete(key).await.expect("deleting again is fine");
}

#[tokio::test]
async fn a_file_over_its_limit_leaves_nothing() {
    let mut config = stores().mongo;
    config.database = unique("files");
    let database = config.database("files-test").await.expect("client");
    let store = GridFsStore::new(&database, "attachments");
    let key = FileKey(42);

    let refused = store
        .put(
            key,
            "big.bin",
            "application/octet-stream",
            pieces(&pattern()),
            300 * 1024,
        )
        .await;
    assert!(matches!(refused, Err(FileError::TooLarge { limit }) if limit == 300 * 1024));
    assert_eq!(store.info(key).await.expect("info"), None);
    for collection in ["attachments.files", "attachments.chunks"] {
        let left = database
            .collection::<Document>(collection)
            .count_documents(doc! {})
            .await
            .expect("count");
        assert_eq!(left, 0, "{collection} is empty");
    }
}
