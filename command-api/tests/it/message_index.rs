//! The processor's on-disk message index: rebuilt from the log by a processor that
//! has none (a new machine), and distrusted when it does not match the log.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cloudcord_command_api::aggregates::message_index::{IndexPosition, IndexStore};
use cloudcord_command_api::processor::ProcessorSettings;
use cloudcord_schemas::envelope::{CommandId, EventHash, Outcome};
use cloudcord_schemas::guild::GuildCommand;
use cloudcord_schemas::ids::{ChannelId, MessageId, Snowflake, UserId};
use cloudcord_schemas::message::{
    AddReaction, EditMessage, PinMessage, ReactionEmoji, SendMessage, UserSnapshot,
};
use serde_json::Value;

use crate::processor::create_guild;
use crate::support::{Bus, Results, Sender, fast_failover, random_guild};

const OWNER: UserId = UserId::new(11);

/// One guild's commands, each waited for.
struct Guild<'a> {
    id: Snowflake,
    sender: &'a Sender,
    results: &'a Results,
}

impl Guild<'_> {
    async fn decide(&self, command: GuildCommand) -> Outcome {
        let id = CommandId::random();
        self.sender.send(self.id, &id, OWNER, command).await;
        let mut found = self
            .results
            .wait_for(&id, 1, Duration::from_secs(120))
            .await;
        found.remove(0).outcome
    }

    fn channel(&self) -> ChannelId {
        ChannelId::new(self.id.get() + 1)
    }

    /// Edits `message` and returns the message object the author gets back, which
    /// shows what the index knows about it (reactions) and what the state knows (pins).
    async fn edit(&self, message: MessageId) -> Value {
        let outcome = self
            .decide(GuildCommand::EditMessage(EditMessage {
                channel_id: self.channel(),
                message_id: message,
                content: "edited".into(),
                allowed_mentions: None,
            }))
            .await;
        match outcome {
            Outcome::Accepted {
                body: Some(body), ..
            } => body,
            other => panic!("editing {message} was refused: {other:?}"),
        }
    }
}

fn settings(state_dir: &Path) -> ProcessorSettings {
    ProcessorSettings {
        snapshot_every_events: 3,
        state_dir: state_dir.to_owned(),
        ..fast_failover()
    }
}

fn machine(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("index-{name}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("state dir");
    dir
}

fn fire() -> ReactionEmoji {
    ReactionEmoji::parse("🔥").expect("emoji")
}

/// Checks that the restored index and state decide as the original did: the
/// reaction and the pin survived, and an unknown message is still unknown.
async fn assert_restored(guild: &Guild<'_>, reacted: MessageId) {
    let object = guild.edit(reacted).await;
    assert_eq!(object["pinned"], true, "the pin survived: {object}");
    assert_eq!(
        object["reactions"][0]["count"], 1,
        "the reaction survived: {object}"
    );
    let unknown = guild
        .decide(GuildCommand::PinMessage(PinMessage {
            channel_id: guild.channel(),
            message_id: MessageId::new(reacted.get() + 1_000),
        }))
        .await;
    assert!(
        matches!(&unknown, Outcome::Rejected { status: 404, error } if error.code == 10008),
        "an unknown message stays unknown: {unknown:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_processor_without_the_index_rebuilds_it_and_distrusts_one_from_another_log() {
    let bus = Bus::new().await;
    let results = bus.watch_results();
    let sender = bus.sender();
    let guild = Guild {
        id: random_guild(),
        sender: &sender,
        results: &results,
    };
    let first = MessageId::new(guild.id.get() + 100);

    // Machine A decides a history long enough to be snapshotted twice.
    let machine_a = machine("a");
    let (stop, processor, _) = bus.spawn_processor_with(settings(&machine_a));
    assert!(matches!(
        guild.decide(create_guild(guild.id, OWNER)).await,
        Outcome::Accepted { .. }
    ));
    for n in 0..3 {
        let sent = guild
            .decide(GuildCommand::SendMessage(SendMessage {
                attachments: Vec::new(),
                channel_id: guild.channel(),
                message_id: MessageId::new(first.get() + n),
                author: UserSnapshot {
                    id: OWNER,
                    username: "owner".into(),
                    global_name: None,
                    avatar: None,
                    bot: false,
                },
                content: format!("message {n}"),
                nonce: None,
                tts: false,
                message_reference: None,
                allowed_mentions: None,
            }))
            .await;
        assert!(matches!(sent, Outcome::Accepted { .. }), "{sent:?}");
    }
    for command in [
        GuildCommand::AddReaction(AddReaction {
            channel_id: guild.channel(),
            message_id: first,
            emoji: fire(),
        }),
        GuildCommand::PinMessage(PinMessage {
            channel_id: guild.channel(),
            message_id: first,
        }),
    ] {
        assert!(matches!(
            guild.decide(command).await,
            Outcome::Accepted { .. }
        ));
    }
    stop.cancel();
    processor.await.expect("processor");

    // Machine B has no index: the log (behind and after the snapshots) rebuilds it.
    let machine_b = machine("b");
    let (stop, processor, _) = bus.spawn_processor_with(settings(&machine_b));
    assert_restored(&guild, first).await;
    stop.cancel();
    processor.await.expect("processor");

    // Machine B's index files, with the first message removed behind the
    // processor's back: an index that matches the log is trusted as it is...
    let files: Vec<PathBuf> = std::fs::read_dir(&machine_b)
        .expect("state dir")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with(&bus.kafka.topic_prefix))
        })
        .collect();
    assert!(!files.is_empty(), "machine B keeps its indexes on disk");
    let rewrite = |last_event: Option<EventHash>| {
        for file in &files {
            let store = Arc::new(IndexStore::open(file).expect("index opens"));
            store.scope(guild.id).remove(first);
            if let Some(position) = store.position().expect("position") {
                let last_event = last_event.clone().or(position.last_event.clone());
                let position = IndexPosition {
                    last_event,
                    ..position
                };
                store.commit(&position, true).expect("rewritten");
            }
        }
    };
    rewrite(None);
    let (stop, processor, _) = bus.spawn_processor_with(settings(&machine_b));
    let trusted = guild
        .decide(GuildCommand::AddReaction(AddReaction {
            channel_id: guild.channel(),
            message_id: first,
            emoji: fire(),
        }))
        .await;
    assert!(
        matches!(&trusted, Outcome::Rejected { status: 404, .. }),
        "the matching index was used as it is: {trusted:?}"
    );
    stop.cancel();
    processor.await.expect("processor");

    // ...while one that claims to come from another log is emptied and rebuilt.
    rewrite(Some(EventHash::of_record(b"another log")));
    let (stop, processor, _) = bus.spawn_processor_with(settings(&machine_b));
    assert_restored(&guild, first).await;
    stop.cancel();
    processor.await.expect("processor");
    let _ = std::fs::remove_dir_all(machine_a);
    let _ = std::fs::remove_dir_all(machine_b);
}
