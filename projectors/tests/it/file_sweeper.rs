//! The file sweeper over the real FerretDB: a deleted message's files (and image
//! preview) are removed once the grace period after its deletion has passed, and
//! not before; other messages' files stay.

use std::time::Duration;

use cloudcord_projectors::file_sweeper::FileSweeper;
use cloudcord_projectors::mongo::{MongoStore, open_database};
use cloudcord_projectors::projector::{Batch, Store as _};
use cloudcord_projectors::record::{DomainEvent, EventRecord};
use cloudcord_runtime::config::Loader;
use cloudcord_runtime::files::{Bytes, FileKey, Files, FilesConfig};
use cloudcord_runtime::mongo::MongoConfig;
use cloudcord_schemas::envelope::{Actor, CommandId, ENVELOPE_VERSION, EventEnvelope, event_id};
use cloudcord_schemas::events::EventType as _;
use cloudcord_schemas::guild::GuildEvent;
use cloudcord_schemas::ids::{AttachmentId, MessageId, UserId};
use cloudcord_schemas::message::{Attachment, MessageDeleted};
use futures::StreamExt as _;
use mongodb::bson::DateTime;
use serde::Deserialize;

use crate::support::{at, channel_of, guild_ref, message_sent, unique};

#[derive(Deserialize)]
struct Section {
    #[serde(default)]
    mongo: MongoConfig,
}

const GUILD: u64 = 7_000_000;

fn record(seq: u64, event: GuildEvent) -> EventRecord {
    let aggregate = guild_ref(GUILD);
    EventRecord {
        partition: 0,
        offset: i64::try_from(seq).expect("small"),
        envelope: EventEnvelope {
            event_id: event_id(aggregate, seq),
            aggregate,
            seq,
            prev_hash: None,
            command_id: CommandId::random(),
            actor: Actor::User(UserId::new(1)),
            occurred_at: at(seq),
            envelope_version: ENVELOPE_VERSION,
            event_version: event.event_version(),
            event: DomainEvent::Guild(event),
        },
    }
}

fn with_file(message: u64, file: u64) -> GuildEvent {
    let GuildEvent::MessageSent(mut sent) = message_sent(GUILD, message) else {
        unreachable!("message_sent makes a MessageSent");
    };
    sent.attachments = vec![Attachment {
        id: AttachmentId::new(file),
        filename: "cat.png".into(),
        description: None,
        content_type: "image/png".into(),
        size: 3,
        height: None,
        width: None,
    }];
    GuildEvent::MessageSent(sent)
}

async fn put(files: &cloudcord_runtime::files::Files, file: u64) {
    for store in [files.store(), files.previews()] {
        let bytes = futures::stream::iter([Ok(Bytes::from_static(b"cat"))]).boxed();
        store
            .put(FileKey(file), "cat.png", "image/png", bytes, 1024)
            .await
            .expect("stored");
    }
}

async fn kept(files: &Files, file: u64) -> (bool, bool) {
    (
        files
            .store()
            .info(FileKey(file))
            .await
            .expect("info")
            .is_some(),
        files
            .previews()
            .info(FileKey(file))
            .await
            .expect("info")
            .is_some(),
    )
}

#[tokio::test]
async fn deleted_messages_lose_their_files_after_the_grace_period() {
    let section: Section = Loader::from_environment()
        .load()
        .expect("test configuration");
    let name = unique("sweeper");
    let database = open_database(&section.mongo, &name)
        .await
        .expect("a database");
    let files = Files::on_gridfs(&database, &FilesConfig::default());
    put(&files, 11).await;
    put(&files, 12).await;

    let deletion = record(
        3,
        GuildEvent::MessageDeleted(MessageDeleted {
            id: MessageId::new(100),
            channel_id: channel_of(GUILD),
        }),
    );
    let deleted_at = DateTime::from_millis(
        i64::try_from(deletion.envelope.occurred_at.unix_timestamp_nanos() / 1_000_000)
            .expect("a recent time"),
    );
    let records = [
        record(1, with_file(100, 11)),
        record(2, with_file(101, 12)),
        deletion,
    ];
    let mut store = MongoStore::new(database.clone());
    store
        .commit(Batch {
            topic: "events".into(),
            changes: records
                .iter()
                .map(|r| MongoStore::project(r).expect("projects"))
                .collect(),
            positions: vec![(guild_ref(GUILD), 3)],
            offsets: vec![(0, 3)],
        })
        .await
        .expect("projected");

    let grace = Duration::from_secs(3600);
    let sweeper = FileSweeper::new(&database, files.clone(), grace);
    let later = |secs: i64| DateTime::from_millis(deleted_at.timestamp_millis() + secs * 1000);

    assert_eq!(sweeper.sweep(later(3599)).await.expect("sweeps"), 0);
    assert_eq!(
        kept(&files, 11).await,
        (true, true),
        "within the grace period"
    );

    assert_eq!(sweeper.sweep(later(3600)).await.expect("sweeps"), 1);
    assert_eq!(
        kept(&files, 11).await,
        (false, false),
        "the file and its preview"
    );
    assert_eq!(
        kept(&files, 12).await,
        (true, true),
        "a live message's file stays"
    );
    assert_eq!(
        sweeper.sweep(later(7200)).await.expect("sweeps"),
        0,
        "each once"
    );

    database.drop().await.expect("dropped");
}
