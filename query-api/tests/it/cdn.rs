//! The CDN route over the real FerretDB's GridFS: signed URLs handed out only with
//! messages the reader may see, the sniffed type (never the name's), `nosniff`,
//! byte ranges for media, and refusals of expired, tampered and unsigned URLs.

use cloudcord_runtime::files::media::sniff;
use cloudcord_runtime::files::public_images::{self, PublicImage};
use cloudcord_runtime::files::signing::{UrlSigner, now_secs};
use cloudcord_runtime::files::{ByteStream, FileKey};
use cloudcord_schemas::ids::AttachmentId;
use cloudcord_schemas::message::Attachment;
use futures::StreamExt as _;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::support::{ALICE, BOB, EVE, GENERAL, GUILD, World, assert_error, guild_event, sent};

/// A PNG's signature and IHDR start, then padding: sniffed as `image/png`.
fn png() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0".to_vec();
    bytes.resize(1000, 0);
    bytes
}

/// An MP4 (`ftyp` box) of 300 KiB: two GridFS chunks, so ranges cross a boundary.
fn mp4() -> Vec<u8> {
    let mut bytes = b"\0\0\0\x18ftypisom\0\0\x02\0isomiso2".to_vec();
    bytes.extend((0..300 * 1024_u32).map(|i| (i % 253).to_le_bytes()[0]));
    bytes
}

const HTML: &[u8] = b"<!DOCTYPE html><html><script>fetch('/api/v10/users/@me')</script></html>";

/// Stores `bytes` as command-api does (type sniffed) and returns the attachment.
async fn store(world: &World, id: u64, filename: &str, bytes: &[u8]) -> Attachment {
    let content_type = sniff(bytes);
    let body: ByteStream<'static> =
        futures::stream::iter([Ok(axum::body::Bytes::copy_from_slice(bytes))]).boxed();
    world
        .files
        .store()
        .put(FileKey(id), filename, &content_type, body, u64::MAX)
        .await
        .expect("stored");
    Attachment {
        id: AttachmentId::new(id),
        filename: filename.to_owned(),
        description: None,
        content_type,
        size: bytes.len() as u64,
        height: None,
        width: None,
    }
}

/// `GET` of a CDN URL (as handed out, for the front door) on the world's listener.
async fn fetch(
    world: &World,
    url: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let url = url.replace(
        "http://127.0.0.1:8080/cdn",
        &format!("http://{}/cdn", world.addr),
    );
    let mut request = reqwest::Client::new().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("the CDN answers");
    let status = response.status();
    let headers = response.headers().clone();
    (
        status,
        headers,
        response.bytes().await.expect("body").to_vec(),
    )
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// A world with one message in `GENERAL` carrying a PNG, an MP4 and HTML named
/// `.png`; returns the world, the message id and its attachments as BOB sees them.
async fn world_with_files() -> (World, String, Vec<Value>) {
    let mut world = World::new().await;
    let attachments = vec![
        store(&world, 9_000_001, "cat.png", &png()).await,
        store(&world, 9_000_002, "clip.mp4", &mp4()).await,
        store(&world, 9_000_003, "innocent.png", HTML).await,
    ];
    let mut message = sent(GENERAL, 500, ALICE);
    message.attachments = attachments;
    let id = message.id.to_string();
    world
        .apply(vec![guild_event(
            GUILD,
            cloudcord_schemas::guild::GuildEvent::MessageSent(message),
        )])
        .await;
    let (status, body) = world
        .get(&format!("/channels/{GENERAL}/messages/{id}"), BOB)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let attachments = body["attachments"].as_array().expect("attachments").clone();
    (world, id, attachments)
}

#[tokio::test(flavor = "multi_thread")]
async fn members_get_signed_urls_that_serve_the_sniffed_type_with_nosniff() {
    let (world, _, attachments) = world_with_files().await;
    assert_eq!(attachments.len(), 3);
    let cat = &attachments[0];
    assert_eq!(cat["content_type"], "image/png");
    assert_eq!(cat["size"], 1000);
    assert_eq!(cat["filename"], "cat.png");
    assert_eq!(cat["proxy_url"], cat["url"]);
    let url = cat["url"].as_str().expect("a url");
    assert!(
        url.starts_with(&format!(
            "http://127.0.0.1:8080/cdn/attachments/{GENERAL}/9000001/cat.png?ex="
        )),
        "{url}"
    );

    let (status, headers, bytes) = fetch(&world, url, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, png());
    assert_eq!(header(&headers, "content-type"), "image/png");
    assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
    assert!(header(&headers, "content-disposition").starts_with("inline"));

    // Discord's media-proxy size parameters ask for the preview, when there is one.
    let preview = b"\x89PNG\r\n\x1a\n a stand-in preview".to_vec();
    let body: ByteStream<'static> =
        futures::stream::iter([Ok(axum::body::Bytes::from(preview.clone()))]).boxed();
    world
        .files
        .previews()
        .put(FileKey(9_000_001), "cat.png", "image/png", body, u64::MAX)
        .await
        .expect("stored");
    let (status, headers, bytes) = fetch(&world, &format!("{url}&width=200&height=100"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, preview);
    assert_eq!(header(&headers, "content-type"), "image/png");
    // The MP4 has no preview: its sized URL is the file.
    let clip = attachments[1]["url"].as_str().expect("url");
    let (status, _, bytes) = fetch(&world, &format!("{clip}&width=200"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, mp4());

    // HTML named .png: never served as an image or as HTML.
    let page = &attachments[2];
    assert_eq!(page["content_type"], "text/html");
    let (status, headers, bytes) = fetch(&world, page["url"].as_str().expect("url"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, HTML);
    assert_eq!(header(&headers, "content-type"), "application/octet-stream");
    assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
    assert!(header(&headers, "content-disposition").starts_with("attachment"));
}

#[tokio::test(flavor = "multi_thread")]
async fn media_is_served_in_byte_ranges() {
    let (world, _, attachments) = world_with_files().await;
    let clip = &attachments[1];
    assert_eq!(clip["content_type"], "video/mp4");
    let url = clip["url"].as_str().expect("url");
    let whole = mp4();
    let size = whole.len();

    let (status, headers, bytes) = fetch(&world, url, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "accept-ranges"), "bytes");
    assert_eq!(header(&headers, "content-type"), "video/mp4");
    assert_eq!(bytes, whole);

    let (status, headers, bytes) = fetch(&world, url, &[("range", "bytes=0-99")]).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        header(&headers, "content-range"),
        format!("bytes 0-99/{size}")
    );
    assert_eq!(bytes, whole[..100]);

    // Across the first 255 KiB chunk's end.
    let (status, headers, bytes) = fetch(&world, url, &[("range", "bytes=260000-270000")]).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        header(&headers, "content-range"),
        format!("bytes 260000-270000/{size}")
    );
    assert_eq!(header(&headers, "content-length"), "10001");
    assert_eq!(bytes, whole[260_000..=270_000]);

    let (status, _, bytes) = fetch(&world, url, &[("range", "bytes=-10")]).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(bytes, whole[size - 10..]);

    let (status, headers, _) = fetch(&world, url, &[("range", &format!("bytes={size}-"))]).await;
    assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(header(&headers, "content-range"), format!("bytes */{size}"));
}

#[tokio::test(flavor = "multi_thread")]
async fn non_members_get_no_url_and_bad_signatures_are_refused() {
    let (world, id, attachments) = world_with_files().await;
    // EVE is not in the guild: the message (and so any URL of its files) is refused.
    let (status, body) = world
        .get(&format!("/channels/{GENERAL}/messages/{id}"), EVE)
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, 50001);
    let (status, body) = world
        .get(&format!("/channels/{GENERAL}/messages"), EVE)
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, 50001);

    let url = attachments[0]["url"].as_str().expect("url");
    let (path, query) = url.split_once('?').expect("a query");
    let refused = |status: StatusCode| assert_eq!(status, StatusCode::FORBIDDEN);

    // No signature at all: guessing the path is not enough.
    refused(fetch(&world, path, &[]).await.0);
    // The signature with one hex digit changed.
    let last = url.chars().last().expect("a digit");
    let flipped = if last == '0' { '1' } else { '0' };
    let tampered = format!("{}{flipped}", &url[..url.len() - 1]);
    refused(fetch(&world, &tampered, &[]).await.0);
    // A later expiry with the old signature.
    let later = query.replacen("ex=", "ex=f", 1);
    refused(fetch(&world, &format!("{path}?{later}"), &[]).await.0);
    // The signature of one file on another's path.
    let other = path.replace("9000001", "9000002");
    refused(fetch(&world, &format!("{other}?{query}"), &[]).await.0);
    // A correctly signed URL whose time has passed.
    let signer = world.files.signer();
    let two_days_ago = now_secs() - 2 * 24 * 60 * 60;
    let expired = signer.sign(
        &UrlSigner::attachment_path(GENERAL, AttachmentId::new(9_000_001), "cat.png"),
        two_days_ago,
    );
    refused(fetch(&world, &expired, &[]).await.0);
    // …while the one handed out still works.
    assert_eq!(fetch(&world, url, &[]).await.0, StatusCode::OK);
}

/// Stores `picture` as `owner`'s `kind` image, as command-api does; its hash.
async fn store_public_image(
    world: &World,
    kind: PublicImage,
    owner: u64,
    picture: &[u8],
) -> String {
    let hash = public_images::hash(picture, false);
    let body: ByteStream<'static> =
        futures::stream::iter([Ok(axum::body::Bytes::copy_from_slice(picture))]).boxed();
    world
        .files
        .public_images()
        .put(
            public_images::key(kind, owner, &hash),
            "a.png",
            "image/png",
            body,
            u64::MAX,
        )
        .await
        .expect("stored");
    hash
}

#[tokio::test(flavor = "multi_thread")]
async fn avatars_are_public_at_their_content_hash() {
    let world = World::empty(2_000).await;
    let picture = png();
    let hash = store_public_image(&world, PublicImage::Avatar, ALICE.get(), &picture).await;

    let url = format!("http://127.0.0.1:8080/cdn/avatars/{ALICE}/{hash}.png");
    let (status, headers, bytes) = fetch(&world, &url, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, picture);
    assert_eq!(header(&headers, "content-type"), "image/png");
    assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
    // Another user's path, or another hash, is nobody's avatar.
    for other in [
        format!("http://127.0.0.1:8080/cdn/avatars/{BOB}/{hash}.png"),
        format!(
            "http://127.0.0.1:8080/cdn/avatars/{ALICE}/{}.png",
            public_images::hash(b"x", false)
        ),
    ] {
        assert_eq!(fetch(&world, &other, &[]).await.0, StatusCode::NOT_FOUND);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn guild_icons_and_banners_are_public_and_never_anothers_image() {
    let world = World::empty(2_000).await;
    let icon = png();
    let mut banner = png();
    banner[999] = 1;
    let icon_hash = store_public_image(&world, PublicImage::GuildIcon, GUILD.get(), &icon).await;
    let banner_hash =
        store_public_image(&world, PublicImage::GuildBanner, GUILD.get(), &banner).await;

    for (path, picture) in [
        (format!("icons/{GUILD}/{icon_hash}.png"), &icon),
        (format!("banners/{GUILD}/{banner_hash}.png"), &banner),
    ] {
        let url = format!("http://127.0.0.1:8080/cdn/{path}");
        let (status, headers, bytes) = fetch(&world, &url, &[]).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(&bytes, picture, "{path}");
        assert_eq!(header(&headers, "content-type"), "image/png");
        assert_eq!(
            header(&headers, "cache-control"),
            "public, max-age=31536000, immutable"
        );
    }
    // The icon is not the guild's banner, nor an avatar of a user with the guild's
    // id; a malformed hash is nothing.
    for other in [
        format!("banners/{GUILD}/{icon_hash}.png"),
        format!("avatars/{GUILD}/{icon_hash}.png"),
        format!("icons/{GUILD}/{}.png", icon_hash.to_uppercase()),
        format!("icons/{GUILD}/..png"),
        format!("splashes/{GUILD}/{icon_hash}.png"),
    ] {
        let url = format!("http://127.0.0.1:8080/cdn/{other}");
        assert_eq!(
            fetch(&world, &url, &[]).await.0,
            StatusCode::NOT_FOUND,
            "{other}"
        );
    }
}
