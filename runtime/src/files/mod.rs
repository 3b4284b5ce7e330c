//! Files: message attachments, avatars and guild images kept outside the
//! event log. Events carry a file's metadata; its bytes live in a [`FileStore`].
//!
//! * [`FileStore`] is the one storage trait; [`gridfs::GridFsStore`] implements it on
//!   MongoDB GridFS (FerretDB locally). An S3-compatible store would be a second
//!   implementation chosen by configuration; nothing else would change.
//! * [`media`] decides a file's type from its bytes (never from the client's claim)
//!   and how the CDN may serve it; [`images`] strips images' metadata, reads their
//!   size and makes their previews.
//! * [`signing::UrlSigner`] issues and checks the CDN's expiring attachment URLs
//!   (Discord's `ex` / `is` / `hm` parameters); [`public_images`] names avatars,
//!   guild icons and banners by their content.
//!
//! Writers (command-api) store the bytes before they append the command that names
//! them, and delete them again when the command is refused; readers (query-api's
//! `/cdn`) only read.

pub mod gridfs;
pub mod images;
pub mod media;
pub mod public_images;
pub mod signing;

use std::ops::Range;
use std::sync::Arc;

/// The byte chunks files stream in (re-exported so callers need no `bytes` crate).
pub use axum::body::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use serde::Deserialize;

use crate::mongo::MongoConfig;

/// The `[files]` settings section, shared by every service that writes, signs or
/// serves files.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct FilesConfig {
    /// Most bytes of files one message may carry (Discord's default: 25 MiB); more
    /// answers 413 and keeps nothing.
    pub max_upload_bytes: u64,
    /// Where the CDN routes are reachable from clients, without a trailing slash:
    /// attachment URLs start with it.
    pub cdn_url: String,
    /// How long a signed attachment URL stays valid, in seconds (Discord: 24 h).
    pub url_ttl_secs: u64,
    /// The HMAC-SHA256 key of attachment URLs. Every service that signs or checks
    /// URLs needs the same one; production sets its own (the default is public).
    pub signing_secret: String,
    /// The GridFS bucket (collections `<bucket>.files` and `<bucket>.chunks`).
    pub bucket: String,
    /// How long the files of a deleted message are kept after its deletion, in
    /// seconds (links already handed out keep working until then).
    pub deleted_grace_secs: u64,
    /// How often the projectors look for files to remove, in seconds.
    pub sweep_interval_secs: u64,
}

impl Default for FilesConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 25 * 1024 * 1024,
            cdn_url: "http://127.0.0.1:8080/cdn".to_owned(),
            url_ttl_secs: 24 * 60 * 60,
            signing_secret: "cloudcord-development-only-attachment-url-key".to_owned(),
            bucket: "attachments".to_owned(),
            deleted_grace_secs: 24 * 60 * 60,
            sweep_interval_secs: 5 * 60,
        }
    }
}

/// A stored file's key: the snowflake of what it belongs to (an attachment's id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileKey(pub u64);

/// What is known about a stored file besides its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// The file's name.
    pub filename: String,
    /// The media type sniffed from its bytes ([`media::sniff`]).
    pub content_type: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Why a file operation failed.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The bytes exceeded the limit the writer set; nothing was kept.
    #[error("the file is larger than {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The body the bytes came from failed (the client went away, bad multipart).
    #[error("reading the upload failed")]
    Body(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The store failed.
    #[error("the file store failed")]
    Store(#[from] mongodb::error::Error),
    /// The store holds something it cannot have written.
    #[error("the file store holds a malformed file: {0}")]
    Malformed(String),
}

/// Bytes on their way into or out of a store.
pub type ByteStream<'a> = BoxStream<'a, Result<Bytes, FileError>>;

/// Where files' bytes live. Implementations stream: no file is ever held in memory
/// whole by the store.
pub trait FileStore: Send + Sync {
    /// Stores `bytes` under `key`. When they exceed `limit` bytes, stops reading,
    /// removes whatever it wrote and answers [`FileError::TooLarge`]; on any other
    /// failure it removes what it wrote too, so a failed put leaves nothing.
    fn put<'a>(
        &'a self,
        key: FileKey,
        filename: &'a str,
        content_type: &'a str,
        bytes: ByteStream<'a>,
        limit: u64,
    ) -> BoxFuture<'a, Result<FileInfo, FileError>>;

    /// The file's metadata, or `None` when there is no such file.
    fn info(&self, key: FileKey) -> BoxFuture<'_, Result<Option<FileInfo>, FileError>>;

    /// The bytes of `range` (within the file's size) of the file.
    fn read(
        &self,
        key: FileKey,
        range: Range<u64>,
    ) -> BoxFuture<'_, Result<ByteStream<'static>, FileError>>;

    /// Removes the file; removing a missing file succeeds.
    fn delete(&self, key: FileKey) -> BoxFuture<'_, Result<(), FileError>>;
}

/// The file store and URL signer a service was configured with. Cheap to clone.
#[derive(Clone)]
pub struct Files {
    store: Arc<dyn FileStore>,
    previews: Arc<dyn FileStore>,
    public_images: Arc<dyn FileStore>,
    signer: signing::UrlSigner,
    max_upload_bytes: u64,
}

impl Files {
    /// The configured stores (GridFS buckets `<bucket>`, `<bucket>.previews` and
    /// `<bucket>.avatars` in `mongo`'s database) and signer; connects lazily, on
    /// first use. The public images' bucket keeps the name it had when it held
    /// only avatars, so the avatars stored then are still found.
    pub async fn connect(
        mongo: &MongoConfig,
        config: &FilesConfig,
        app_name: &str,
    ) -> mongodb::error::Result<Self> {
        let database = mongo.database(app_name).await?;
        Ok(Self::on_gridfs(&database, config))
    }

    /// The GridFS stores in `database`, signing as `config` says.
    pub fn on_gridfs(database: &mongodb::Database, config: &FilesConfig) -> Self {
        Self::new(
            Arc::new(gridfs::GridFsStore::new(database, &config.bucket)),
            Arc::new(gridfs::GridFsStore::new(
                database,
                &format!("{}.previews", config.bucket),
            )),
            Arc::new(gridfs::GridFsStore::new(
                database,
                &format!("{}.avatars", config.bucket),
            )),
            config,
        )
    }

    /// Files over `store`, their image previews (same keys) in `previews`, avatars
    /// and guild images ([`public_images::key`]) in `public_images`, signing as
    /// `config` says.
    pub fn new(
        store: Arc<dyn FileStore>,
        previews: Arc<dyn FileStore>,
        public_images: Arc<dyn FileStore>,
        config: &FilesConfig,
    ) -> Self {
        Self {
            store,
            previews,
            public_images,
            signer: signing::UrlSigner::new(config),
            max_upload_bytes: config.max_upload_bytes,
        }
    }

    /// The store.
    pub fn store(&self) -> &dyn FileStore {
        self.store.as_ref()
    }

    /// The image previews, under their files' keys.
    pub fn previews(&self) -> &dyn FileStore {
        self.previews.as_ref()
    }

    /// Avatars, guild icons and banners, under [`public_images::key`].
    pub fn public_images(&self) -> &dyn FileStore {
        self.public_images.as_ref()
    }

    /// The URL signer.
    pub fn signer(&self) -> &signing::UrlSigner {
        &self.signer
    }

    /// Most bytes of files per message.
    pub fn max_upload_bytes(&self) -> u64 {
        self.max_upload_bytes
    }
}
