//! Files sent with a message, the Discord way: a `multipart/form-data` body with a
//! `payload_json` part (the create-message JSON) and `files[n]` parts, which the
//! payload's `attachments: [{id, filename, description}]` name by `n`.
//!
//! Each file streams straight into the file store ([`Files`]): the first
//! [`SNIFF_BYTES`] are held to sniff its type, the rest pass through. Images of the
//! formats Discord previews are the exception: they are read whole (still within
//! the limit) so their metadata can be stripped, their size read and a preview
//! made ([`images`]). The files of
//! one message may hold `[files] max_upload_bytes` in all; the part that crosses it
//! is aborted (the store keeps none of it) and the request answers 413 40005 after
//! the files already stored are deleted. So nothing is ever buffered without bound
//! and a refused request leaves no file behind. This route has no body limit of
//! its own for that reason (`DefaultBodyLimit::disable`): every part is capped
//! here, `payload_json` at [`JSON_BODY_LIMIT`].
//!
//! Public images — avatars (`PATCH /users/@me`), guild icons and banners
//! (`PATCH /guilds/{id}`), sent as image data — are stored here too
//! ([`store_public_image`]).
//!
//! Files are stored *before* the command is appended, keyed by their attachment
//! snowflakes; the caller deletes them ([`StoredFiles::discard`]) when the command
//! is refused or turns out to repeat an earlier one.

use axum::body::Bytes;
use axum::extract::Multipart;
use axum::extract::multipart::{Field, MultipartError};
use axum::http::StatusCode;
use cloudcord_runtime::files::media::{SNIFF_BYTES, safe_filename, sniff};
use cloudcord_runtime::files::public_images::{self, PublicImage};
use cloudcord_runtime::files::{ByteStream, FileError, FileKey, Files, images};
use cloudcord_runtime::http_error::{FormErrors, HttpError};
use cloudcord_runtime::telemetry::ErrorChain;
use cloudcord_schemas::ids::AttachmentId;
use cloudcord_schemas::message::{Attachment, MAX_ATTACHMENTS};
use futures::{StreamExt as _, TryStreamExt as _};
use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::body::{self, JSON_BODY_LIMIT};

/// One entry of a payload's `attachments`: which `files[n]` part it describes.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct AttachmentRequest {
    /// The `n` of the `files[n]` part (a number, or a string holding one).
    pub id: PartIndex,
    /// Overrides the part's file name.
    #[serde(default)]
    pub filename: Option<String>,
    /// Alt text, at most 1024 characters.
    #[serde(default)]
    pub description: Option<String>,
}

/// A `files[n]` index as Discord's libraries send it: a number or a numeric string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[schemars(with = "String")]
pub struct PartIndex(pub u64);

impl<'de> Deserialize<'de> for PartIndex {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(n) => Ok(Self(n)),
            Raw::Text(text) => text
                .parse()
                .map(Self)
                .map_err(|_| serde::de::Error::custom("expected u64 index of a files[n] part")),
        }
    }
}

/// A public image just stored ([`store_public_image`]).
#[derive(Debug)]
pub struct StoredImage {
    /// Its content hash, which the command names.
    pub hash: String,
    key: FileKey,
    /// Whether this request put it there (it was not stored already).
    new: bool,
}

impl StoredImage {
    /// Removes the image when this request stored it: the command naming it was
    /// refused. One already stored is left alone, since its owner may use it (the
    /// same picture has the same key). A file that cannot be removed is logged and
    /// left as an orphan no one names.
    pub async fn discard(self, files: &Files) {
        if !self.new {
            return;
        }
        if let Err(error) = files.public_images().delete(self.key).await {
            tracing::warn!(file = self.key.0, error = %ErrorChain(&error), "an unused image could not be deleted");
        }
    }
}

/// Stores `owner`'s new `kind` image (an avatar, a guild icon or banner) from
/// Discord's image data (a `data:` URI of a PNG, JPEG, GIF or WebP, its metadata
/// stripped). Content-addressed ([`public_images::key`]): storing the same
/// picture again changes nothing. Anything else answers Discord's
/// `BINARY_TYPE_INVALID` form error on the kind's field.
pub async fn store_public_image(
    files: &Files,
    kind: PublicImage,
    owner: u64,
    data: &str,
) -> Result<StoredImage, HttpError> {
    let invalid = || {
        HttpError::from(FormErrors::single(
            kind.field(),
            "BINARY_TYPE_INVALID",
            "Must be a data URI of a PNG, JPEG, GIF or WebP image.",
        ))
    };
    let bytes = public_images::decode_data_uri(data).ok_or_else(invalid)?;
    let content_type = sniff(&bytes[..bytes.len().min(SNIFF_BYTES)]);
    if !images::is_prepared(&content_type) {
        return Err(invalid());
    }
    let sniffed = content_type.clone();
    let prepared = tokio::task::spawn_blocking(move || images::prepare(&sniffed, bytes))
        .await
        .map_err(|error| HttpError::internal("preparing an image", error))?
        .ok_or_else(invalid)?;
    let hash = public_images::hash(&prepared.bytes, content_type == "image/gif");
    let key = public_images::key(kind, owner, &hash);
    let store = files.public_images();
    let stored = store
        .info(key)
        .await
        .map_err(|error| HttpError::internal("looking for a stored image", error))?;
    if stored.is_none() {
        let extension = content_type.trim_start_matches("image/");
        let stream = futures::stream::iter([Ok(Bytes::from(prepared.bytes))]).boxed();
        store
            .put(
                key,
                &format!("{hash}.{extension}"),
                &content_type,
                stream,
                files.max_upload_bytes(),
            )
            .await
            .map_err(|error| match error {
                FileError::TooLarge { .. } => HttpError::PayloadTooLarge,
                other => HttpError::internal("storing an image", other),
            })?;
    }
    Ok(StoredImage {
        hash,
        key,
        new: stored.is_none(),
    })
}

/// Longest attachment description, in characters.
const MAX_DESCRIPTION_CHARS: usize = 1024;

/// Files of one request, in the store, not yet named by any event.
pub struct StoredFiles {
    files: Files,
    attachments: Vec<Attachment>,
}

impl StoredFiles {
    /// No files (a JSON body).
    pub fn none(files: &Files) -> Self {
        Self {
            files: files.clone(),
            attachments: Vec::new(),
        }
    }

    /// The attachments, in `files[n]` order.
    pub fn attachments(&self) -> &[Attachment] {
        &self.attachments
    }

    /// Deletes the files: the command that would have named them was refused (or
    /// repeated an earlier one, whose own files are the ones it names). A file that
    /// cannot be deleted is logged and left as an orphan; it is never served, since
    /// no message names it.
    pub async fn discard(self) {
        for attachment in self.attachments {
            let key = FileKey(attachment.id.get());
            if let Err(error) = self.files.store().delete(key).await {
                tracing::warn!(
                    attachment = %attachment.id,
                    error = %ErrorChain(&error),
                    "an unused upload could not be deleted"
                );
            }
            discard_preview(&self.files, key).await;
        }
    }
}

/// A payload that may name `files[n]` parts.
pub trait WithAttachments {
    /// The payload's `attachments`.
    fn attachment_requests(&self) -> &[AttachmentRequest];
}

/// Reads a multipart create-message body: parses `payload_json` as `T` and stores
/// every `files[n]` part under a fresh id from `next_id`. On any error the files
/// stored so far are deleted before it is returned.
pub async fn read_form<T: DeserializeOwned + Default + WithAttachments>(
    files: &Files,
    mut next_id: impl FnMut() -> AttachmentId,
    mut multipart: Multipart,
) -> Result<(T, StoredFiles), HttpError> {
    let mut stored = StoredFiles::none(files);
    let mut parts: Vec<u64> = Vec::new();
    let mut payload = None;
    let read = async {
        while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
            let name = field.name().unwrap_or_default().to_owned();
            if name == "payload_json" {
                let bytes = capped(field, JSON_BODY_LIMIT).await?;
                payload = Some(body::parse::<T>(&bytes)?);
            } else if let Some(n) = file_part(&name) {
                if parts.contains(&n) || parts.len() >= MAX_ATTACHMENTS {
                    return Err(FormErrors::single(
                        &name,
                        "BASE_TYPE_INVALID",
                        format!("At most {MAX_ATTACHMENTS} distinct files[n] parts."),
                    )
                    .into());
                }
                let used: u64 = stored.attachments.iter().map(|a| a.size).sum();
                let budget = files.max_upload_bytes().saturating_sub(used);
                let attachment = store_part(files, next_id(), field, budget).await?;
                parts.push(n);
                stored.attachments.push(attachment);
            } else {
                return Err(FormErrors::single(
                    &name,
                    "BASE_TYPE_INVALID",
                    "Only payload_json and files[n] parts are accepted.",
                )
                .into());
            }
        }
        let payload = payload.unwrap_or_default();
        describe(&mut stored.attachments, &parts, &payload)?;
        Ok(payload)
    }
    .await;
    match read {
        Ok(payload) => Ok((payload, stored)),
        Err(error) => {
            stored.discard().await;
            Err(error)
        }
    }
}

/// `n` of a `files[n]` part name.
fn file_part(name: &str) -> Option<u64> {
    name.strip_prefix("files[")?.strip_suffix(']')?.parse().ok()
}

/// Applies the payload's `attachments` entries (file name, description) to the
/// stored files; an entry naming no part is refused as Discord does.
fn describe<T: WithAttachments>(
    attachments: &mut [Attachment],
    parts: &[u64],
    payload: &T,
) -> Result<(), HttpError> {
    let mut errors = FormErrors::new();
    for (i, request) in payload.attachment_requests().iter().enumerate() {
        let Some(position) = parts.iter().position(|&n| n == request.id.0) else {
            errors.add(
                &format!("attachments.{i}.id"),
                "ATTACHMENT_NOT_FOUND",
                "No files[n] part has this index.",
            );
            continue;
        };
        let attachment = &mut attachments[position];
        if let Some(filename) = &request.filename {
            attachment.filename = safe_filename(filename);
        }
        if let Some(description) = &request.description {
            errors.length(
                &format!("attachments.{i}.description"),
                description,
                0,
                MAX_DESCRIPTION_CHARS,
            );
            attachment.description = Some(description.clone());
        }
    }
    errors.into_result()
}

/// Streams one file part into the store, sniffing its type from its first bytes.
/// Images ([`images::is_prepared`]) are read whole (within `budget`) to strip their
/// metadata, read their size and make a preview, which is stored beside them.
async fn store_part(
    files: &Files,
    id: AttachmentId,
    mut field: Field<'_>,
    budget: u64,
) -> Result<Attachment, HttpError> {
    let filename = safe_filename(field.file_name().unwrap_or_default());
    let mut head: Vec<Bytes> = Vec::new();
    let mut held = 0;
    while held < SNIFF_BYTES {
        match field.chunk().await.map_err(multipart_error)? {
            Some(chunk) => {
                held += chunk.len();
                head.push(chunk);
            }
            None => break,
        }
    }
    let content_type = sniff(&head.concat());
    let key = FileKey(id.get());
    let mut attachment = Attachment {
        id,
        filename,
        description: None,
        content_type,
        size: 0,
        height: None,
        width: None,
    };
    let bytes: ByteStream<'_> = if images::is_prepared(&attachment.content_type) {
        let mut whole = head.concat();
        if whole.len() as u64 > budget {
            return Err(HttpError::PayloadTooLarge);
        }
        while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
            if (whole.len() + chunk.len()) as u64 > budget {
                return Err(HttpError::PayloadTooLarge);
            }
            whole.extend_from_slice(&chunk);
        }
        let content_type = attachment.content_type.clone();
        // Decoding is CPU work: off the async workers.
        let prepared = tokio::task::spawn_blocking(move || {
            let fallback = whole.clone();
            images::prepare(&content_type, whole).ok_or(fallback)
        })
        .await
        .map_err(|error| HttpError::internal("preparing an image", error))?;
        let whole = match prepared {
            Ok(prepared) => {
                attachment.width = Some(prepared.width);
                attachment.height = Some(prepared.height);
                if let Some(preview) = prepared.thumbnail {
                    store_preview(files, key, &attachment.filename, preview).await?;
                }
                prepared.bytes
            }
            Err(unparsed) => unparsed,
        };
        futures::stream::iter([Ok(Bytes::from(whole))]).boxed()
    } else {
        futures::stream::iter(head.into_iter().map(Ok))
            .chain(field.map_err(|error| FileError::Body(Box::new(error))))
            .boxed()
    };
    let stored = files
        .store()
        .put(
            key,
            &attachment.filename,
            &attachment.content_type,
            bytes,
            budget,
        )
        .await;
    let info = match stored {
        Ok(info) => info,
        Err(error) => {
            // Nothing names the preview without its file.
            discard_preview(files, key).await;
            return Err(match error {
                FileError::TooLarge { .. } => HttpError::PayloadTooLarge,
                FileError::Body(_) => multipart_refusal(),
                other => HttpError::internal("storing an upload", other),
            });
        }
    };
    attachment.size = info.size;
    Ok(attachment)
}

async fn store_preview(
    files: &Files,
    key: FileKey,
    filename: &str,
    preview: Vec<u8>,
) -> Result<(), HttpError> {
    let bytes = futures::stream::iter([Ok(Bytes::from(preview))]).boxed();
    files
        .previews()
        .put(key, filename, "image/png", bytes, u64::MAX)
        .await
        .map(drop)
        .map_err(|error| HttpError::internal("storing an image preview", error))
}

async fn discard_preview(files: &Files, key: FileKey) {
    if let Err(error) = files.previews().delete(key).await {
        tracing::warn!(file = key.0, error = %ErrorChain(&error), "an unused preview could not be deleted");
    }
}

/// The whole of a part, refused past `limit` bytes.
async fn capped(mut field: Field<'_>, limit: usize) -> Result<Bytes, HttpError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if bytes.len() + chunk.len() > limit {
            return Err(HttpError::PayloadTooLarge);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes.into())
}

fn multipart_error(error: MultipartError) -> HttpError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        HttpError::PayloadTooLarge
    } else {
        tracing::debug!(error = %ErrorChain(&error), "malformed multipart body");
        multipart_refusal()
    }
}

fn multipart_refusal() -> HttpError {
    FormErrors::single(
        "files",
        "BASE_TYPE_INVALID",
        "The multipart/form-data body is malformed.",
    )
    .into()
}
