//! Files sent with messages (multipart `files[n]` + `payload_json`), end to end:
//! the real broker and processor, the real FerretDB's GridFS. Checks what is
//! stored, what the event says, and that every refusal leaves no file behind.

use cloudcord_runtime::files::gridfs::GridFsStore;
use cloudcord_runtime::files::public_images::{self, PublicImage};
use cloudcord_runtime::files::{FileKey, FileStore as _, FilesConfig};
use cloudcord_schemas::message::Attachment;
use futures::TryStreamExt as _;
use mongodb::bson::{Document, doc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::http::{Body, World, assert_error, unique};

/// The first bytes of a PNG (signature and the start of IHDR): enough to sniff.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";

/// A multipart/form-data body of `parts` (name, file name, bytes).
fn form(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "cloudcord-test-boundary-7d1c";
    let mut body = Vec::new();
    for (name, filename, bytes) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let disposition = match filename {
            Some(file) => format!("form-data; name=\"{name}\"; filename=\"{file}\""),
            None => format!("form-data; name=\"{name}\""),
        };
        body.extend_from_slice(format!("Content-Disposition: {disposition}\r\n").as_bytes());
        // The client's claim, which the server must ignore.
        body.extend_from_slice(b"Content-Type: image/png\r\n\r\n");
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn send_form(
    world: &World,
    channel: &str,
    auth: &str,
    parts: &[(&str, Option<&str>, &[u8])],
    key: &str,
) -> (StatusCode, Value) {
    let (content_type, body) = form(parts);
    world
        .call(
            Method::POST,
            &format!("/api/v10/channels/{channel}/messages"),
            Some(auth),
            Body::Form(content_type, body),
            &[("idempotency-key", key)],
        )
        .await
}

/// The whole of a stored file of `size` bytes.
async fn read_whole(store: &GridFsStore, key: FileKey, size: u64) -> Vec<u8> {
    let chunks: Vec<_> = store
        .read(key, 0..size)
        .await
        .expect("open")
        .try_collect()
        .await
        .expect("read");
    chunks.concat()
}

/// The test's MongoDB database (its GridFS buckets).
async fn database(world: &World) -> mongodb::Database {
    world
        .bus()
        .mongo
        .database("command-api-test")
        .await
        .expect("the test's database")
}

/// The test's GridFS bucket and the number of documents in its collections and
/// those of its previews.
async fn bucket(world: &World) -> (GridFsStore, u64) {
    let database = database(world).await;
    let mut documents = 0;
    for collection in [
        "attachments.files",
        "attachments.chunks",
        "attachments.previews.files",
        "attachments.previews.chunks",
    ] {
        documents += database
            .collection::<Document>(collection)
            .count_documents(doc! {})
            .await
            .expect("count");
    }
    (GridFsStore::new(&database, "attachments"), documents)
}

/// The `attachments` of every `MessageSent` event, and the size of its record.
fn sent_attachments(world: &World) -> Vec<(Vec<Attachment>, usize)> {
    world
        .bus()
        .read_events()
        .into_iter()
        .filter_map(|record| {
            let envelope: Value = serde_json::from_slice(&record.value).expect("JSON");
            (envelope["event"]["type"] == "MessageSent").then(|| {
                let attachments = serde_json::from_value(envelope["event"]["attachments"].clone())
                    .expect("attachments");
                (attachments, record.value.len())
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn files_are_stored_by_id_and_the_event_carries_only_their_metadata() {
    let world = World::new().await;
    let owner = world.register(&unique("uploader")).await;
    let (_, channel) = world.guild(&owner).await;
    let html = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>";
    let payload = json!({
        "content": "look",
        "attachments": [{"id": 0, "description": "a cat"}, {"id": "1", "filename": "evil page.png"}],
    })
    .to_string();
    let (status, message) = send_form(
        &world,
        &channel,
        &owner,
        &[
            ("payload_json", None, payload.as_bytes()),
            ("files[0]", Some("cat picture.png"), PNG),
            ("files[1]", Some("x.png"), html),
        ],
        "upload-1",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{message}");
    let attachments = message["attachments"].as_array().expect("attachments");
    assert_eq!(attachments.len(), 2, "{message}");
    let (cat, page) = (&attachments[0], &attachments[1]);
    assert_eq!(cat["filename"], "cat_picture.png");
    assert_eq!(cat["description"], "a cat");
    assert_eq!(cat["content_type"], "image/png");
    assert_eq!(cat["size"], PNG.len());
    let cat_id = cat["id"].as_str().expect("an id");
    let url = cat["url"].as_str().expect("a signed url");
    assert!(
        url.starts_with(&format!(
            "http://127.0.0.1:8080/cdn/attachments/{channel}/{cat_id}/cat_picture.png?ex="
        )) && url.contains("&is=")
            && url.contains("&hm="),
        "{url}"
    );
    assert_eq!(cat["proxy_url"], cat["url"]);
    // Named .png, claimed image/png, but HTML: the type comes from the bytes.
    assert_eq!(page["filename"], "evil_page.png");
    assert_eq!(page["content_type"], "text/html");

    let (store, _) = bucket(&world).await;
    let key = FileKey(cat_id.parse().expect("a snowflake"));
    let info = store
        .info(key)
        .await
        .expect("info")
        .expect("the file is stored");
    assert_eq!(info.content_type, "image/png");
    let bytes = read_whole(&store, key, info.size).await;
    assert_eq!(bytes, PNG);

    let events = sent_attachments(&world);
    assert_eq!(events.len(), 1);
    let (attachments, record_size) = &events[0];
    let ids: Vec<String> = attachments.iter().map(|a| a.id.to_string()).collect();
    assert_eq!(ids, [cat_id, page["id"].as_str().expect("an id")]);
    assert_eq!(attachments[0].size, PNG.len() as u64);
    assert_eq!(attachments[1].content_type, "text/html");
    assert!(*record_size < 4096, "metadata only, never the bytes");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edit_keeps_the_files_and_answers_them_signed() {
    let world = World::new().await;
    let owner = world.register(&unique("editor")).await;
    let (_, channel) = world.guild(&owner).await;
    let payload = json!({"content": "before", "attachments": [{"id": 0}]}).to_string();
    let (status, sent) = send_form(
        &world,
        &channel,
        &owner,
        &[
            ("payload_json", None, payload.as_bytes()),
            ("files[0]", Some("cat.png"), PNG),
        ],
        "edit-upload-1",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    let message = sent["id"].as_str().expect("an id");

    let (status, edited) = world
        .call(
            Method::PATCH,
            &format!("/api/v10/channels/{channel}/messages/{message}"),
            Some(&owner),
            Body::Json(json!({"content": "after"})),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["content"], "after");
    let kept = &edited["attachments"][0];
    assert_eq!(kept["id"], sent["attachments"][0]["id"], "{edited}");
    assert_eq!(kept["filename"], "cat.png");
    assert_eq!(kept["size"], PNG.len());
    let url = kept["url"].as_str().expect("a signed url");
    assert!(
        url.contains("/cdn/attachments/") && url.contains("&hm="),
        "{url}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_upload_is_413_and_stores_nothing() {
    let world = World::with_files(&FilesConfig {
        max_upload_bytes: 64 * 1024,
        ..FilesConfig::default()
    })
    .await;
    let owner = world.register(&unique("uploader")).await;
    let (_, channel) = world.guild(&owner).await;
    let events = world.events().await;
    // Files that fit alone but not together: the last crosses the limit. The
    // photo (stored with a preview) must go too; so must an image over the limit.
    let half = vec![7_u8; 40 * 1024];
    let photo = photo_with_exif();
    let big_photo: Vec<u8> = photo.iter().copied().cycle().take(70 * 1024).collect();
    for (key, parts) in [
        (
            "too-big",
            [
                ("files[0]", Some("a.bin"), &half[..]),
                ("files[1]", Some("b.bin"), &half[..]),
            ],
        ),
        (
            "photo-then-too-big",
            [
                ("files[0]", Some("a.jpg"), &photo[..]),
                ("files[1]", Some("b.bin"), &half[..]),
            ],
        ),
        (
            "big-photo",
            [
                ("files[0]", Some("a.bin"), &half[..8]),
                ("files[1]", Some("b.jpg"), &big_photo[..]),
            ],
        ),
    ] {
        let (status, body) = send_form(
            &world,
            &channel,
            &owner,
            &[
                ("payload_json", None, br#"{"content": "big"}"#),
                parts[0],
                parts[1],
            ],
            key,
        )
        .await;
        assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE, 40005);
        assert_eq!(body["message"], "Request entity too large");
        assert_eq!(
            bucket(&world).await.1,
            0,
            "{key}: no file, chunk or preview is left"
        );
    }
    assert_eq!(world.events().await, events, "no event was appended");
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_and_repeated_sends_keep_no_files() {
    let world = World::new().await;
    let owner = world.register(&unique("owner")).await;
    let stranger = world.register(&unique("stranger")).await;
    let (_, channel) = world.guild(&owner).await;
    let parts: [(&str, Option<&str>, &[u8]); 2] = [
        ("payload_json", None, br#"{"content": "hi"}"#),
        ("files[0]", Some("cat.png"), PNG),
    ];

    // Not a member: refused by the processor after the file was stored.
    let (status, body) = send_form(&world, &channel, &stranger, &parts, "stranger-1").await;
    assert_error(status, &body, StatusCode::FORBIDDEN, 50001);
    assert_eq!(bucket(&world).await.1, 0, "the refused send's file is gone");

    // The same idempotency key twice: one message, one file.
    let (status, first) = send_form(&world, &channel, &owner, &parts, "twice").await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (status, second) = send_form(&world, &channel, &owner, &parts, "twice").await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(first["id"], second["id"]);
    assert_eq!(
        first["attachments"][0]["id"],
        second["attachments"][0]["id"]
    );
    let (store, documents) = bucket(&world).await;
    assert_eq!(documents, 2, "one files document and one chunk");
    let key = FileKey(
        first["attachments"][0]["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .expect("an id"),
    );
    assert!(store.info(key).await.expect("info").is_some());

    // A part the payload does not describe correctly is refused, and dropped.
    let (status, body) = send_form(
        &world,
        &channel,
        &owner,
        &[
            ("payload_json", None, br#"{"attachments": [{"id": 3}]}"#),
            ("files[0]", Some("cat.png"), PNG),
        ],
        "bad-index",
    )
    .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, 50035);
    assert_eq!(bucket(&world).await.1, 2);
}

/// A 640×480 JPEG carrying an EXIF segment with a GPS position.
fn photo_with_exif() -> Vec<u8> {
    let image = image::RgbImage::from_fn(640, 480, |x, y| {
        image::Rgb([x.to_le_bytes()[0], y.to_le_bytes()[0], 90])
    });
    let mut plain = Vec::new();
    image
        .write_to(
            &mut std::io::Cursor::new(&mut plain),
            image::ImageFormat::Jpeg,
        )
        .expect("encodes");
    let exif = b"Exif\0\0MM\0*\0\0\0\x08GPSLatitude 52.52N 13.40E";
    let mut tagged = plain[..2].to_vec();
    tagged.extend_from_slice(&[0xFF, 0xE1]);
    tagged.extend_from_slice(&u16::try_from(exif.len() + 2).expect("short").to_be_bytes());
    tagged.extend_from_slice(exif);
    tagged.extend_from_slice(&plain[2..]);
    tagged
}

#[tokio::test(flavor = "multi_thread")]
async fn an_image_gets_its_size_loses_its_exif_and_has_a_preview() {
    let world = World::new().await;
    let owner = world.register(&unique("photographer")).await;
    let (_, channel) = world.guild(&owner).await;
    let photo = photo_with_exif();
    let (status, message) = send_form(
        &world,
        &channel,
        &owner,
        &[("files[0]", Some("holiday.jpg"), &photo)],
        "photo",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{message}");
    assert_eq!(message["content"], "");
    let file = &message["attachments"][0];
    assert_eq!(file["content_type"], "image/jpeg");
    assert_eq!(
        (file["width"].clone(), file["height"].clone()),
        (json!(640), json!(480))
    );
    let key = FileKey(
        file["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .expect("an id"),
    );

    let (store, _) = bucket(&world).await;
    let info = store.info(key).await.expect("info").expect("stored");
    assert_eq!(json!(info.size), file["size"]);
    let stored = read_whole(&store, key, info.size).await;
    assert!(stored.len() < photo.len());
    assert!(
        !stored.windows(11).any(|w| w == b"GPSLatitude"),
        "the EXIF segment is gone"
    );
    let decoded = image::load_from_memory(&stored).expect("still a JPEG");
    assert_eq!((decoded.width(), decoded.height()), (640, 480));

    let database = database(&world).await;
    let previews = GridFsStore::new(&database, "attachments.previews");
    let preview = previews.info(key).await.expect("info").expect("a preview");
    assert_eq!(preview.content_type, "image/png");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_avatar_is_stored_under_its_content_hash() {
    use base64::Engine as _;
    let world = World::new().await;
    let name = unique("face");
    let auth = world.register(&name).await;
    let user_id = world.user_id(&name).await;
    let picture = photo_with_exif();
    let data = format!(
        "data:image/jpeg;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(&picture)
    );
    let (status, user) = world
        .call(
            Method::PATCH,
            "/api/v10/users/@me",
            Some(&auth),
            Body::Json(json!({ "avatar": data })),
            &[("idempotency-key", "avatar-1")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{user}");
    let hash = user["avatar"].as_str().expect("an avatar hash");
    assert_eq!(hash.len(), 32, "{hash}");

    let database = database(&world).await;
    let avatars = GridFsStore::new(&database, "attachments.avatars");
    let key = cloudcord_runtime::files::public_images::key(
        PublicImage::Avatar,
        user_id.parse().expect("an id"),
        hash,
    );
    let info = avatars.info(key).await.expect("info").expect("stored");
    assert_eq!(info.content_type, "image/jpeg");
    assert!(info.size < picture.len() as u64, "its EXIF is gone");

    let (status, body) = world
        .call(
            Method::PATCH,
            "/api/v10/users/@me",
            Some(&auth),
            Body::Json(json!({ "avatar": "data:image/png;base64,PGh0bWw+PC9odG1sPg==" })),
            &[("idempotency-key", "avatar-2")],
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, 50035);
    assert!(body["errors"]["avatar"].is_object(), "{body}");
}

/// `bytes` as Discord's image data.
fn image_data(content_type: &str, bytes: &[u8]) -> String {
    use base64::Engine as _;
    format!(
        "data:{content_type};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// A 2×2 PNG of one colour.
fn tiny_png(colour: [u8; 4]) -> Vec<u8> {
    let mut bytes = Vec::new();
    image::RgbaImage::from_pixel(2, 2, image::Rgba(colour))
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .expect("a PNG");
    bytes
}

#[tokio::test(flavor = "multi_thread")]
async fn guild_icons_and_banners_are_stored_by_hash_and_need_manage_guild() {
    let world = World::new().await;
    let owner = world.register(&unique("iconowner")).await;
    let member = world.register(&unique("iconmember")).await;
    let (guild_id, channel_id) = world.guild(&owner).await;
    let guild: u64 = guild_id.parse().expect("an id");
    let database = database(&world).await;
    let images = GridFsStore::new(&database, "attachments.avatars");
    let patch_guild = async |auth: &str, body: Value, key: &str| {
        world
            .call(
                Method::PATCH,
                &format!("/api/v10/guilds/{guild_id}"),
                Some(auth),
                Body::Json(body),
                &[("idempotency-key", key)],
            )
            .await
    };
    let stored = async |kind, hash: &str| {
        let key = public_images::key(kind, guild, hash);
        let info = images.info(key).await.expect("info")?;
        let bytes = read_whole(&images, key, info.size).await;
        Some((info.content_type, bytes))
    };

    // Set both: the answer names their hashes; the store holds the stripped bytes.
    let photo = photo_with_exif();
    let banner = tiny_png([0, 128, 255, 255]);
    let (status, body) = patch_guild(
        owner.as_str(),
        json!({
            "icon": image_data("image/jpeg", &photo),
            "banner": image_data("image/png", &banner),
        }),
        "icon-1",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let icon_hash = body["icon"].as_str().expect("an icon hash").to_owned();
    let banner_hash = body["banner"].as_str().expect("a banner hash").to_owned();
    assert!(public_images::is_hash(&icon_hash), "{icon_hash}");
    assert_eq!(body["icon_hash"], icon_hash.as_str());
    let stripped = cloudcord_runtime::files::images::prepare("image/jpeg", photo.clone())
        .expect("a JPEG")
        .bytes;
    assert!(stripped.len() < photo.len(), "the EXIF segment is gone");
    assert_eq!(icon_hash, public_images::hash(&stripped, false));
    assert_eq!(
        stored(PublicImage::GuildIcon, &icon_hash).await,
        Some(("image/jpeg".to_owned(), stripped))
    );
    let (banner_type, _) = stored(PublicImage::GuildBanner, &banner_hash)
        .await
        .expect("the banner is stored");
    assert_eq!(banner_type, "image/png");
    // An icon is not stored as the guild's banner or as anyone's avatar.
    assert_eq!(stored(PublicImage::GuildBanner, &icon_hash).await, None);
    let as_avatar = public_images::key(PublicImage::Avatar, guild, &icon_hash);
    assert_eq!(images.info(as_avatar).await.expect("info"), None);

    // Not an image: Discord's form error on the field, nothing appended.
    let before = world.events().await;
    let (status, body) = patch_guild(
        owner.as_str(),
        json!({ "icon": "data:image/png;base64,PGh0bWw+PC9odG1sPg==" }),
        "icon-2",
    )
    .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, 50035);
    assert_eq!(
        body["errors"]["icon"]["_errors"][0]["code"], "BINARY_TYPE_INVALID",
        "{body}"
    );
    assert_eq!(world.events().await, before);

    // A member without MANAGE_GUILD: 403, and the picture does not stay behind.
    world.join(&owner, &member, &channel_id).await;
    let red = tiny_png([255, 0, 0, 255]);
    let (status, body) = patch_guild(
        member.as_str(),
        json!({ "icon": image_data("image/png", &red) }),
        "icon-3",
    )
    .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, 50013);
    let refused = cloudcord_runtime::files::images::prepare("image/png", red)
        .expect("a PNG")
        .bytes;
    let refused_hash = public_images::hash(&refused, false);
    assert_eq!(stored(PublicImage::GuildIcon, &refused_hash).await, None);
    // Nor does it take the guild's own icon away when it sends the same picture.
    let (status, body) = patch_guild(
        member.as_str(),
        json!({ "icon": image_data("image/jpeg", &photo) }),
        "icon-4",
    )
    .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, 50013);
    assert!(stored(PublicImage::GuildIcon, &icon_hash).await.is_some());

    // `null` removes the icon and leaves the banner.
    let (status, body) = patch_guild(owner.as_str(), json!({ "icon": null }), "icon-5").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["icon"].is_null(), "{body}");
    assert!(body["icon_hash"].is_null(), "{body}");
    assert_eq!(body["banner"], banner_hash.as_str());
}
