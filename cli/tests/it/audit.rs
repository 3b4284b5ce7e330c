//! `cloudcord audit export | verify` against the real Kafka: hash-chained histories
//! of a guild, a user and a DM channel are produced to a private `events` topic,
//! exported byte for byte, verified, and then tampered with — a modified, a removed
//! and a reordered event must each be reported at the exact line where the chain
//! breaks.

use std::path::{Path, PathBuf};
use std::process::Command;

use cloudcord::audit::export::partition_for_key;
use cloudcord::audit::verify::{BreakKind, ChainBreak, verify};
use cloudcord::audit::{ExportArgs, SelectorArgs, run_export};
use cloudcord_runtime::config::Loader;
use cloudcord_runtime::kafka::KafkaConfig;
use cloudcord_schemas::dm_channel::{DmChannelEvent, DmChannelOpened, dm_channel_id};
use cloudcord_schemas::envelope::{
    Actor, AggregateRef, AggregateType, CommandId, ENVELOPE_VERSION, EventEnvelope, EventHash,
    event_id,
};
use cloudcord_schemas::events::EventType;
use cloudcord_schemas::guild::{
    ChannelCreated, ChannelType, GuildChannel, GuildCreated, GuildEvent, GuildUpdated,
};
use cloudcord_schemas::ids::{ChannelId, GuildId, UserId};
use cloudcord_schemas::message::UserSnapshot;
use cloudcord_schemas::user::{UserEvent, UserProfileUpdated};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::{Deserialize, Serialize};

/// Partitions of each test's topics: more than one, so the export must pick.
const PARTITIONS: i32 = 3;

const GUILD: GuildId = GuildId::new(1001);
/// Created with the guild.
const GENERAL: ChannelId = ChannelId::new(1002);
/// Created later by `ChannelCreated`.
const LATER: ChannelId = ChannelId::new(1003);
const ALICE: UserId = UserId::new(2001);
const BOB: UserId = UserId::new(2002);

#[derive(Deserialize)]
struct KafkaSection {
    #[serde(default)]
    kafka: KafkaConfig,
}

/// A private `events` topic (and its siblings) under a fresh prefix, deleted when
/// dropped (also after a failed test).
struct PrivateLog(KafkaConfig);

impl std::ops::Deref for PrivateLog {
    type Target = KafkaConfig;

    fn deref(&self) -> &KafkaConfig {
        &self.0
    }
}

impl Drop for PrivateLog {
    fn drop(&mut self) {
        let kafka = self.0.clone();
        let names: Vec<String> = kafka
            .topics()
            .specs(PARTITIONS)
            .into_iter()
            .map(|spec| spec.name)
            .collect();
        // Drop cannot await inside the test's runtime: a thread with its own does.
        // Best effort: a leftover topic costs the broker, not the verdict.
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|runtime| runtime.block_on(kafka.delete_topics(&names)))
        })
        .join();
    }
}

async fn private_log() -> PrivateLog {
    let mut kafka = Loader::from_environment()
        .load::<KafkaSection>()
        .expect("test configuration")
        .kafka;
    kafka.topic_prefix = format!("test-audit-{}.", uuid::Uuid::new_v4().simple());
    kafka.partitions = PARTITIONS;
    kafka.create_topics = true;
    kafka
        .ensure_topics(&kafka.topics().specs(PARTITIONS))
        .await
        .expect("create the test's topics");
    PrivateLog(kafka)
}

/// The records of one aggregate's history, chained as the command processor chains
/// them: seq from 1, each `prev_hash` the hash of the previous record's bytes.
fn chain<E: Serialize + EventType>(aggregate: AggregateRef, events: Vec<E>) -> Vec<Vec<u8>> {
    let mut prev_hash = None;
    events
        .into_iter()
        .zip(1..)
        .map(|(event, seq)| {
            let envelope = EventEnvelope {
                event_id: event_id(aggregate, seq),
                aggregate,
                seq,
                prev_hash: prev_hash.take(),
                command_id: CommandId::random(),
                actor: Actor::User(ALICE),
                occurred_at: stamped().occurred_at,
                envelope_version: ENVELOPE_VERSION,
                event_version: event.event_version(),
                event,
            };
            let record = serde_json::to_vec(&envelope).expect("envelopes serialize");
            prev_hash = Some(EventHash::of_record(&record));
            record
        })
        .collect()
}

/// An envelope read from JSON, whose `occurred_at` is the tests' one fixed instant:
/// the CLI crate does not depend on `time`, so the instant is taken from here rather
/// than built.
fn stamped() -> EventEnvelope<serde_json::Value> {
    let aggregate = AggregateRef {
        kind: AggregateType::Guild,
        id: GUILD.0,
    };
    serde_json::from_value(serde_json::json!({
        "event_id": event_id(aggregate, 1),
        "aggregate_type": "guild",
        "aggregate_id": GUILD,
        "seq": 1,
        "prev_hash": null,
        "command_id": "stamp",
        "actor": {"type": "system"},
        "occurred_at": "2025-03-01T12:00:00Z",
        "envelope_version": ENVELOPE_VERSION,
        "event_version": 1,
        "event": {},
    }))
    .expect("a valid envelope")
}

fn snapshot(id: UserId, username: &str) -> UserSnapshot {
    UserSnapshot {
        id,
        username: username.to_owned(),
        global_name: None,
        avatar: None,
        bot: false,
    }
}

fn text_channel(id: ChannelId, name: &str, position: u32) -> GuildChannel {
    GuildChannel {
        id,
        kind: ChannelType::GuildText,
        name: name.to_owned(),
        position,
        parent_id: None,
        topic: None,
        nsfw: false,
        rate_limit_per_user: 0,
        bitrate: None,
        user_limit: None,
        permission_overwrites: Vec::new(),
    }
}

fn renamed(name: &str) -> GuildEvent {
    GuildEvent::GuildUpdated(GuildUpdated {
        name: Some(name.to_owned()),
        ..GuildUpdated::default()
    })
}

/// The three histories every test starts from.
struct Histories {
    guild: Vec<Vec<u8>>,
    user: Vec<Vec<u8>>,
    dm: Vec<Vec<u8>>,
}

fn histories() -> Histories {
    let guild = chain(
        AggregateRef {
            kind: AggregateType::Guild,
            id: GUILD.0,
        },
        vec![
            GuildEvent::GuildCreated(GuildCreated {
                id: GUILD,
                name: "Auditors".to_owned(),
                owner: snapshot(ALICE, "alice"),
                roles: Vec::new(),
                channels: vec![text_channel(GENERAL, "general", 0)],
                system_channel_id: Some(GENERAL),
                created_at: stamped().occurred_at,
            }),
            GuildEvent::ChannelCreated(ChannelCreated {
                channel: text_channel(LATER, "ledger", 1),
            }),
            renamed("Auditors 2"),
            renamed("Auditors 3"),
            renamed("Auditors 4"),
        ],
    );
    let user = chain(
        AggregateRef {
            kind: AggregateType::User,
            id: ALICE.0,
        },
        ["alice", "alice2", "alice3"]
            .into_iter()
            .map(|username| {
                UserEvent::UserProfileUpdated(UserProfileUpdated {
                    username: username.to_owned(),
                    global_name: None,
                    avatar: None,
                })
            })
            .collect(),
    );
    let dm_id = dm_channel_id(ALICE, BOB);
    let dm = chain(
        AggregateRef {
            kind: AggregateType::DmChannel,
            id: dm_id.0,
        },
        vec![DmChannelEvent::DmChannelOpened(DmChannelOpened {
            channel_id: dm_id,
            recipients: [snapshot(ALICE, "alice"), snapshot(BOB, "bob")],
        })],
    );
    Histories { guild, user, dm }
}

/// Produces the histories interleaved (so partitions hold mixed aggregates), keyed by
/// shard key like the processor, and checks that Kafka put each aggregate where the
/// export will look for it.
async fn produce(kafka: &KafkaConfig, histories: &Histories) {
    let producer: FutureProducer = kafka
        .producer_config("audit-test")
        .create()
        .expect("producer");
    let topic = kafka.topics().events;
    let keyed = [
        (GUILD.to_string(), &histories.guild),
        (ALICE.to_string(), &histories.user),
        (dm_channel_id(ALICE, BOB).to_string(), &histories.dm),
    ];
    let longest = keyed.iter().map(|(_, records)| records.len()).max();
    for index in 0..longest.unwrap_or_default() {
        for (key, records) in &keyed {
            let Some(record) = records.get(index) else {
                continue;
            };
            let delivery = producer
                .send(
                    FutureRecord::to(&topic).key(key).payload(record),
                    std::time::Duration::from_secs(10),
                )
                .await
                .expect("produce");
            assert_eq!(
                delivery.partition,
                partition_for_key(key.as_bytes(), PARTITIONS)
            );
        }
    }
}

fn scratch_file(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("audit-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir.join(name)
}

fn export_to_file(kafka: &KafkaConfig, selector: SelectorArgs) -> PathBuf {
    let out = scratch_file("export.jsonl");
    run_export(
        kafka,
        &ExportArgs {
            selector,
            out: Some(out.clone()),
        },
    )
    .expect("export");
    out
}

fn guild_selector() -> SelectorArgs {
    SelectorArgs {
        guild: Some(GUILD),
        channel: None,
        user: None,
    }
}

/// The lines of a file, without their `\n`.
fn lines(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).expect("read the export");
    let body = bytes.strip_suffix(b"\n").expect("ends with a newline");
    body.split(|byte| *byte == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn write_lines(path: &Path, lines: &[Vec<u8>]) {
    let mut bytes = lines.join(&b'\n');
    bytes.push(b'\n');
    std::fs::write(path, bytes).expect("write the tampered export");
}

fn cloudcord(kafka: &KafkaConfig, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cloudcord"))
        .args(args)
        .env(
            "CLOUDCORD__KAFKA__BOOTSTRAP_SERVERS",
            &kafka.bootstrap_servers,
        )
        .env("CLOUDCORD__KAFKA__TOPIC_PREFIX", &kafka.topic_prefix)
        .output()
        .expect("run cloudcord")
}

fn guild_ref() -> AggregateRef {
    AggregateRef {
        kind: AggregateType::Guild,
        id: GUILD.0,
    }
}

#[tokio::test]
async fn exports_hold_each_aggregates_exact_records_and_verify() {
    let kafka = private_log().await;
    let histories = histories();
    produce(&kafka, &histories).await;

    // Through the binary, as an auditor runs it.
    let out = scratch_file("guild.jsonl");
    let path = out.to_str().expect("a UTF-8 path");
    let exported = cloudcord(
        &kafka,
        &[
            "audit",
            "export",
            "--guild",
            &GUILD.to_string(),
            "--out",
            path,
        ],
    );
    assert!(exported.status.success(), "{exported:?}");
    assert_eq!(lines(&out), histories.guild);
    let verified = cloudcord(&kafka, &["audit", "verify", path]);
    assert!(verified.status.success(), "{verified:?}");
    let report = String::from_utf8_lossy(&verified.stdout);
    assert!(
        report.starts_with("verified 5 events in 1 aggregates\n"),
        "{report}"
    );
    let head = EventHash::of_record(histories.guild.last().expect("events"));
    assert!(report.contains(&format!("guild {GUILD}")), "{report}");
    assert!(report.contains(head.as_str()), "{report}");

    let user = export_to_file(
        &kafka,
        SelectorArgs {
            guild: None,
            channel: None,
            user: Some(ALICE),
        },
    );
    assert_eq!(lines(&user), histories.user);

    // Concatenated exports verify aggregate by aggregate.
    let both = scratch_file("both.jsonl");
    write_lines(&both, &[lines(&out), lines(&user)].concat());
    let verified = verify(std::io::BufReader::new(
        std::fs::File::open(&both).expect("open"),
    ))
    .expect("an intact export verifies");
    assert_eq!(verified.events, 8);
    assert_eq!(verified.aggregates.len(), 2);
    assert_eq!(verified.aggregates[&guild_ref()].seq, 5);
}

#[tokio::test]
async fn a_guild_channel_exports_its_whole_guild_and_a_dm_channel_itself() {
    let kafka = private_log().await;
    let histories = histories();
    produce(&kafka, &histories).await;
    let by_channel = |channel: ChannelId| {
        export_to_file(
            &kafka,
            SelectorArgs {
                guild: None,
                channel: Some(channel),
                user: None,
            },
        )
    };

    assert_eq!(lines(&by_channel(GENERAL)), histories.guild);
    assert_eq!(lines(&by_channel(LATER)), histories.guild);
    assert_eq!(lines(&by_channel(dm_channel_id(ALICE, BOB))), histories.dm);

    // An unknown channel is an error, and leaves no file that could pass for an export.
    let missing = scratch_file("missing.jsonl");
    let path = missing.to_str().expect("a UTF-8 path");
    let output = cloudcord(
        &kafka,
        &["audit", "export", "--channel", "999", "--out", path],
    );
    assert!(!output.status.success());
    assert!(!missing.exists());
}

/// Exports the guild, lets `tamper` edit its lines, and returns the verifier's
/// report on the result with the original lines.
async fn tampered(tamper: impl FnOnce(&mut Vec<Vec<u8>>)) -> (ChainBreak, Vec<Vec<u8>>) {
    let kafka = private_log().await;
    let histories = histories();
    produce(&kafka, &histories).await;
    let out = export_to_file(&kafka, guild_selector());
    let original = lines(&out);
    let mut edited = original.clone();
    tamper(&mut edited);
    write_lines(&out, &edited);
    let file = std::io::BufReader::new(std::fs::File::open(&out).expect("open"));
    match verify(file) {
        Err(cloudcord::audit::VerifyError::Break(chain_break)) => (chain_break, original),
        other => panic!("the tampered export was not refused: {other:?}"),
    }
}

#[tokio::test]
async fn verify_reports_a_modified_event_at_the_next_events_prev_hash() {
    let (chain_break, original) = tampered(|lines| {
        let text = String::from_utf8(lines[1].clone()).expect("UTF-8");
        assert!(text.contains("\"ledger\""));
        lines[1] = text.replace("\"ledger\"", "\"forged\"").into_bytes();
    })
    .await;
    let modified = String::from_utf8(original[1].clone())
        .expect("UTF-8")
        .replace("\"ledger\"", "\"forged\"")
        .into_bytes();
    assert_eq!(
        chain_break,
        ChainBreak {
            line: 3,
            kind: BreakKind::PrevHash {
                aggregate: guild_ref(),
                seq: 3,
                expected: Some(EventHash::of_record(&modified)),
                found: Some(EventHash::of_record(&original[1])),
            },
        }
    );
}

#[tokio::test]
async fn verify_reports_a_removed_event_as_a_seq_gap_where_it_was() {
    let (chain_break, _) = tampered(|lines| {
        lines.remove(2);
    })
    .await;
    assert_eq!(
        chain_break,
        ChainBreak {
            line: 3,
            kind: BreakKind::Seq {
                aggregate: guild_ref(),
                expected: 3,
                found: 4,
            },
        }
    );
}

#[tokio::test]
async fn verify_reports_a_reordered_event_at_the_first_line_out_of_order() {
    let (chain_break, _) = tampered(|lines| lines.swap(1, 3)).await;
    assert_eq!(
        chain_break,
        ChainBreak {
            line: 2,
            kind: BreakKind::Seq {
                aggregate: guild_ref(),
                expected: 2,
                found: 4,
            },
        }
    );
}

#[tokio::test]
async fn verify_exits_non_zero_and_names_the_break() {
    let kafka = private_log().await;
    let histories = histories();
    produce(&kafka, &histories).await;
    let out = export_to_file(&kafka, guild_selector());
    let mut edited = lines(&out);
    edited.remove(0);
    write_lines(&out, &edited);
    let output = cloudcord(
        &kafka,
        &["audit", "verify", out.to_str().expect("a UTF-8 path")],
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("chain broken at line 1: guild {GUILD}: expected seq 1, found seq 2\n")
    );
}
