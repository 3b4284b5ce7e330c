//! Files through the whole stack at its one front door, as a client uses them: a
//! message with a file goes up as Discord's multipart body (command-api stores it,
//! the command processor decides, the projectors write the message document), and
//! its attachment URL — pointing at this front door's `/cdn` — downloads the bytes
//! from query-api, whole and in ranges, also from a later `GET` of the message. A
//! guild icon set with image data is read back and downloads from `/cdn/icons`.

use serde_json::Value;

use crate::twilight::{Stack, post, register};

/// An MP4's `ftyp` box and some bytes: a video, served in ranges.
fn clip() -> Vec<u8> {
    let mut bytes = b"\0\0\0\x18ftypisom\0\0\x02\0isomiso2".to_vec();
    bytes.extend((0..5000_u32).map(|i| (i % 251).to_le_bytes()[0]));
    bytes
}

/// The write position an answer carries, for a read to wait for.
fn position(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-cloudcord-position")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// A new person's `Authorization` value and the id of a guild they made, `name`.
async fn owner_of_a_guild(http: &reqwest::Client, stack: &Stack, name: &str) -> (String, String) {
    let owner = format!("Bearer {}", register(http, stack).await);
    let guild = post(
        http,
        &stack.api("/guilds"),
        &owner,
        serde_json::json!({ "name": name }),
    )
    .await;
    let guild_id = guild["id"].as_str().expect("id").to_owned();
    (owner, guild_id)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_sent_with_a_message_downloads_from_the_front_doors_cdn() {
    let mut stack = Stack::start().await;
    let http = reqwest::Client::new();
    let (owner, guild_id) = owner_of_a_guild(&http, &stack, "Files").await;
    let guild_id = guild_id.as_str();
    let channel = post(
        &http,
        &stack.api(&format!("/guilds/{guild_id}/channels")),
        &owner,
        serde_json::json!({"name": "media", "type": 0}),
    )
    .await;
    let channel_id = channel["id"].as_str().expect("id");

    let boundary = "cloudcord-files-e2e";
    let clip = clip();
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"payload_json\"\r\n\r\n\
         {{\"content\": \"a clip\", \"attachments\": [{{\"id\": 0, \"description\": \"waves\"}}]}}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"files[0]\"; filename=\"waves.mp4\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&clip);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let response = http
        .post(stack.api(&format!("/channels/{channel_id}/messages")))
        .header("authorization", &owner)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .expect("POST sent");
    assert!(response.status().is_success(), "{}", response.status());
    let position = position(&response);
    let message: Value = response.json().await.expect("the message");
    let attachment = &message["attachments"][0];
    assert_eq!(attachment["content_type"], "video/mp4");
    assert_eq!(attachment["description"], "waves");
    let url = attachment["url"].as_str().expect("a url");
    assert!(
        url.starts_with(&format!(
            "http://{}/cdn/attachments/{channel_id}/",
            stack.front_door
        )),
        "{url}"
    );

    let whole = http.get(url).send().await.expect("GET the file");
    assert_eq!(whole.status(), reqwest::StatusCode::OK);
    assert_eq!(whole.headers()["content-type"], "video/mp4");
    assert_eq!(whole.headers()["x-content-type-options"], "nosniff");
    assert_eq!(whole.bytes().await.expect("bytes"), clip);
    let part = http
        .get(url)
        .header("range", "bytes=100-199")
        .send()
        .await
        .expect("GET a range");
    assert_eq!(part.status(), reqwest::StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.bytes().await.expect("bytes"), clip[100..200]);

    // The read side hands out a fresh URL for the same file once it has the message.
    let read: Value = http
        .get(stack.api(&format!(
            "/channels/{channel_id}/messages/{}",
            message["id"].as_str().expect("id")
        )))
        .header("authorization", &owner)
        .header("x-cloudcord-position", position)
        .send()
        .await
        .expect("GET the message")
        .json()
        .await
        .expect("JSON");
    assert_eq!(read["attachments"][0]["id"], attachment["id"]);
    let again = read["attachments"][0]["url"].as_str().expect("a url");
    let fetched = http.get(again).send().await.expect("GET the file again");
    assert_eq!(fetched.bytes().await.expect("bytes"), clip);

    stack.stop().await;
}

/// A 1×1 PNG as Discord's image data.
const PIXEL: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

#[tokio::test(flavor = "multi_thread")]
async fn a_guild_icon_set_with_image_data_shows_on_reads_and_downloads_from_the_cdn() {
    use cloudcord_runtime::files::{images, public_images};

    let mut stack = Stack::start().await;
    let http = reqwest::Client::new();
    let (owner, guild_id) = owner_of_a_guild(&http, &stack, "Icons").await;
    let response = http
        .patch(stack.api(&format!("/guilds/{guild_id}")))
        .header("authorization", &owner)
        .json(&serde_json::json!({ "icon": PIXEL }))
        .send()
        .await
        .expect("PATCH sent");
    assert!(response.status().is_success(), "{}", response.status());
    let position = position(&response);
    let patched: Value = response.json().await.expect("the guild");
    let hash = patched["icon"].as_str().expect("an icon hash").to_owned();

    // query-api shows it once it has the change.
    let read: Value = http
        .get(stack.api(&format!("/guilds/{guild_id}")))
        .header("authorization", &owner)
        .header("x-cloudcord-position", position)
        .send()
        .await
        .expect("GET the guild")
        .json()
        .await
        .expect("JSON");
    assert_eq!(read["icon"], hash.as_str(), "{read}");

    // The front door's CDN serves the stored (metadata-free) bytes as a PNG.
    let uploaded = public_images::decode_data_uri(PIXEL).expect("image data");
    let stored = images::prepare("image/png", uploaded).expect("a PNG").bytes;
    let icon = http
        .get(format!(
            "http://{}/cdn/icons/{guild_id}/{hash}.png",
            stack.front_door
        ))
        .send()
        .await
        .expect("GET the icon");
    assert_eq!(icon.status(), reqwest::StatusCode::OK);
    assert_eq!(icon.headers()["content-type"], "image/png");
    assert_eq!(icon.bytes().await.expect("bytes"), stored);

    stack.stop().await;
}
