//! The CDN's routes (Discord's `cdn.discordapp.com` paths under `/cdn`):
//! `GET /cdn/attachments/{channel.id}/{attachment.id}/{filename}` and, public and
//! content-addressed, `GET /cdn/avatars/{user.id}/{hash}.{ext}`,
//! `GET /cdn/icons/{guild.id}/{hash}.{ext}` and `GET /cdn/banners/{guild.id}/{hash}.{ext}`.
//!
//! Access is the URL itself: it must carry a valid, unexpired signature
//! ([`UrlSigner`]), issued only to readers who could see the channel when the
//! message was served. So this route reads no read model and needs no token —
//! browsers load images without an `Authorization` header. Without a valid
//! signature it answers 403 Missing Access.
//!
//! What is served: the bytes under their sniffed type only when that type is
//! passive ([`served_as`]); anything else as `application/octet-stream` with
//! `Content-Disposition: attachment`. Always `X-Content-Type-Options: nosniff` and
//! a sandboxing `Content-Security-Policy`, so even a browser that renders the bytes
//! runs nothing. Single byte ranges are honoured (206, `Content-Range`; 416 past
//! the end), as audio and video players need them. With Discord's media-proxy
//! parameters (`width`, `height`) an image's preview is served instead.

use std::ops::Range;

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cloudcord_runtime::files::FileKey;
use cloudcord_runtime::files::media::served_as;
use cloudcord_runtime::files::public_images::{self, PublicImage};
use cloudcord_runtime::files::signing::{Signature, UrlSigner, now_secs};
use cloudcord_runtime::http_error::HttpError;
use cloudcord_schemas::ids::{AttachmentId, ChannelId};

use super::ApiContext;

/// How long a browser may keep a file it fetched (its URL's bytes never change).
const CACHE_CONTROL: &str = "private, max-age=3600";

/// The CDN routes.
pub fn router() -> Router<ApiContext> {
    Router::new()
        .route(
            "/cdn/attachments/{channel_id}/{attachment_id}/{filename}",
            get(attachment),
        )
        // avatars, icons, banners (Discord's directories; any other is 404).
        .route("/cdn/{kind}/{owner_id}/{file}", get(public_image))
}

/// `GET /cdn/{avatars,icons,banners}/{owner.id}/{hash}.{ext}`: public, as on
/// Discord. The file is the one uploaded (no format conversion: the extension is
/// not looked at).
async fn public_image(
    State(context): State<ApiContext>,
    Path((kind, raw_owner, file)): Path<(String, String, String)>,
) -> Result<Response, HttpError> {
    let kind = PublicImage::from_cdn_dir(&kind).ok_or(HttpError::NotFound)?;
    // A user's or a guild's snowflake, as the kind says; keys take the number.
    let owner: u64 = raw_owner.parse().map_err(|_| HttpError::NotFound)?;
    let hash = file.split_once('.').map_or(file.as_str(), |(hash, _)| hash);
    if !public_images::is_hash(hash) {
        return Err(HttpError::NotFound);
    }
    let key = public_images::key(kind, owner, hash);
    let store = context.files().public_images();
    let info = store
        .info(key)
        .await
        .map_err(|error| HttpError::internal("reading an image's metadata", error))?
        .ok_or(HttpError::NotFound)?;
    let bytes = store
        .read(key, 0..info.size)
        .await
        .map_err(|error| HttpError::internal("reading an image", error))?;
    let (content_type, _) = served_as(&info.content_type);
    let mut response = Body::from_stream(bytes).into_response();
    insert(&mut response, header::CONTENT_TYPE, content_type);
    insert(
        &mut response,
        header::CONTENT_LENGTH,
        &info.size.to_string(),
    );
    // The hash names the content: the URL's bytes never change.
    insert(
        &mut response,
        header::CACHE_CONTROL,
        "public, max-age=31536000, immutable",
    );
    Ok(with_safety(response))
}

/// Discord's media-proxy parameters: asking for a size asks for the preview.
#[derive(Debug, Default, serde::Deserialize)]
struct Resize {
    width: Option<u32>,
    height: Option<u32>,
}

async fn attachment(
    State(context): State<ApiContext>,
    Path((raw_channel, raw_attachment, filename)): Path<(String, String, String)>,
    signature: Result<Query<Signature>, QueryRejection>,
    resize: Result<Query<Resize>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let (Ok(channel), Ok(attachment)) = (
        raw_channel.parse::<ChannelId>(),
        raw_attachment.parse::<AttachmentId>(),
    ) else {
        return Err(HttpError::NotFound);
    };
    let Query(signature) = signature.map_err(|_| HttpError::missing_access())?;
    let path = UrlSigner::attachment_path(channel, attachment, &filename);
    if let Err(refused) = context
        .files()
        .signer()
        .verify(&path, &signature, now_secs())
    {
        tracing::debug!(%path, %refused, "CDN request refused");
        return Err(HttpError::missing_access());
    }
    let key = FileKey(attachment.get());
    let Query(resize) = resize.unwrap_or_default();
    // A preview (images have one, at most 400 px a side) when a size is asked for
    // and there is one; the file itself otherwise.
    let mut store = context.files().store();
    let mut info = None;
    if resize.width.is_some() || resize.height.is_some() {
        let previews = context.files().previews();
        info = previews
            .info(key)
            .await
            .map_err(|error| HttpError::internal("reading a preview's metadata", error))?;
        if info.is_some() {
            store = previews;
        }
    }
    let info = match info {
        Some(info) => info,
        None => store
            .info(key)
            .await
            .map_err(|error| HttpError::internal("reading a file's metadata", error))?
            .ok_or(HttpError::NotFound)?,
    };
    let (content_type, inline) = served_as(&info.content_type);
    let mut response = match byte_range(
        headers.get(header::RANGE).and_then(|v| v.to_str().ok()),
        info.size,
    ) {
        Ranged::Unsatisfiable => {
            let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            insert(
                &mut response,
                header::CONTENT_RANGE,
                &format!("bytes */{}", info.size),
            );
            return Ok(with_safety(response));
        }
        Ranged::Full => {
            let bytes = store
                .read(key, 0..info.size)
                .await
                .map_err(|error| HttpError::internal("reading a file", error))?;
            let mut response = Body::from_stream(bytes).into_response();
            insert(
                &mut response,
                header::CONTENT_LENGTH,
                &info.size.to_string(),
            );
            response
        }
        Ranged::Partial(range) => {
            let bytes = store
                .read(key, range.clone())
                .await
                .map_err(|error| HttpError::internal("reading a file", error))?;
            let mut response =
                (StatusCode::PARTIAL_CONTENT, Body::from_stream(bytes)).into_response();
            insert(
                &mut response,
                header::CONTENT_RANGE,
                &format!("bytes {}-{}/{}", range.start, range.end - 1, info.size),
            );
            insert(
                &mut response,
                header::CONTENT_LENGTH,
                &(range.end - range.start).to_string(),
            );
            response
        }
    };
    insert(&mut response, header::CONTENT_TYPE, content_type);
    insert(&mut response, header::ACCEPT_RANGES, "bytes");
    insert(&mut response, header::CACHE_CONTROL, CACHE_CONTROL);
    // The file name is URL-path safe (`safe_filename`), so it needs no quoting rules.
    let disposition = if inline { "inline" } else { "attachment" };
    insert(
        &mut response,
        header::CONTENT_DISPOSITION,
        &format!("{disposition}; filename=\"{filename}\""),
    );
    Ok(with_safety(response))
}

/// The headers every CDN answer carries: no type sniffing, and nothing runs even if
/// a browser renders the bytes as a document.
fn with_safety(mut response: Response) -> Response {
    insert(&mut response, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    insert(
        &mut response,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; sandbox",
    );
    response
}

fn insert(response: &mut Response, name: header::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
enum Ranged {
    /// No range (or one this route does not honour: several ranges, another unit,
    /// a malformed header): the whole file, 200.
    Full,
    /// One satisfiable range, 206.
    Partial(Range<u64>),
    /// A range wholly past the end, 416.
    Unsatisfiable,
}

/// RFC 9110 §14.1.2 single byte ranges: `bytes=a-b`, `bytes=a-`, `bytes=-n`.
fn byte_range(header: Option<&str>, size: u64) -> Ranged {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ranged::Full;
    };
    let Some((first, last)) = spec.split_once('-') else {
        return Ranged::Full;
    };
    if spec.contains(',') {
        return Ranged::Full;
    }
    let (first, last) = (first.trim(), last.trim());
    let parse = |s: &str| s.parse::<u64>().ok();
    match (first.is_empty(), last.is_empty()) {
        // A suffix: the last n bytes.
        (true, false) => match parse(last) {
            Some(0) => Ranged::Unsatisfiable,
            Some(_) if size == 0 => Ranged::Unsatisfiable,
            Some(n) => Ranged::Partial(size - n.min(size)..size),
            None => Ranged::Full,
        },
        (false, _) => {
            let Some(start) = parse(first) else {
                return Ranged::Full;
            };
            let end = if last.is_empty() {
                size
            } else {
                match parse(last) {
                    Some(last) if last >= start => last.saturating_add(1).min(size),
                    _ => return Ranged::Full,
                }
            };
            if start >= size {
                Ranged::Unsatisfiable
            } else {
                Ranged::Partial(start..end)
            }
        }
        (true, true) => Ranged::Full,
    }
}

#[cfg(test)]
mod tests {
    use super::{Ranged, byte_range};

    #[test]
    fn ranges_are_cut_to_the_file() {
        assert_eq!(
            byte_range(Some("bytes=0-99"), 1000),
            Ranged::Partial(0..100)
        );
        assert_eq!(
            byte_range(Some("bytes=900-"), 1000),
            Ranged::Partial(900..1000)
        );
        assert_eq!(
            byte_range(Some("bytes=900-5000"), 1000),
            Ranged::Partial(900..1000)
        );
        assert_eq!(
            byte_range(Some("bytes=-100"), 1000),
            Ranged::Partial(900..1000)
        );
        assert_eq!(
            byte_range(Some("bytes=-5000"), 1000),
            Ranged::Partial(0..1000)
        );
    }

    #[test]
    fn ranges_past_the_end_are_unsatisfiable() {
        assert_eq!(byte_range(Some("bytes=1000-"), 1000), Ranged::Unsatisfiable);
        assert_eq!(byte_range(Some("bytes=-0"), 1000), Ranged::Unsatisfiable);
    }

    #[test]
    fn other_ranges_get_the_whole_file() {
        assert_eq!(byte_range(None, 1000), Ranged::Full);
        assert_eq!(byte_range(Some("bytes=0-1,5-6"), 1000), Ranged::Full);
        assert_eq!(byte_range(Some("items=0-1"), 1000), Ranged::Full);
        assert_eq!(byte_range(Some("bytes=5-1"), 1000), Ranged::Full);
    }
}
