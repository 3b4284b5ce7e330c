//! The command processor's delivery guarantees on the real broker.

use std::sync::Arc;
use std::time::Duration;

use cloudcord_schemas::envelope::{Actor, CommandId, Outcome};
use cloudcord_schemas::guild::GuildCommand;
use cloudcord_schemas::ids::{Snowflake, UserId};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::support::{Bus, random_guild, stream_commands, verify_histories};

const RESULT_WAIT: Duration = Duration::from_secs(120);

fn assert_accepted(outcome: &Outcome) {
    assert!(
        matches!(outcome, Outcome::Accepted { .. }),
        "expected acceptance, got {outcome:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_commands_from_eight_clients_become_exactly_ten_thousand_gap_free_events() {
    const CLIENTS: u64 = 8;
    const PER_CLIENT: usize = 1_250;
    const GUILDS_PER_CLIENT: usize = 5;
    let bus = Arc::new(Bus::new().await);
    let results = bus.watch_results();
    let (stop, processor) = bus.spawn_processor();

    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let bus = Arc::clone(&bus);
            tokio::spawn(async move {
                let sender = bus.sender();
                let owner = UserId::new(1_000 + client);
                let guilds: Vec<Snowflake> =
                    (0..GUILDS_PER_CLIENT).map(|_| random_guild()).collect();
                let mut ids = Vec::with_capacity(PER_CLIENT);
                for (i, guild) in guilds.iter().enumerate() {
                    let id = CommandId::random();
                    let name = format!("client {client} guild {i}");
                    sender
                        .send(
                            *guild,
                            &id,
                            owner,
                            GuildCommand::CreateGuild {
                                guild_id: (*guild).into(),
                                name,
                                owner: cloudcord_schemas::message::UserSnapshot {
                                    id: owner,
                                    username: format!("owner{}", owner),
                                    global_name: None,
                                    avatar: None,
                                    bot: false,
                                },
                                text_channel_id: cloudcord_schemas::ids::ChannelId::new(
                                    guild.get() + 1,
                                ),
                                voice_channel_id: cloudcord_schemas::ids::ChannelId::new(
                                    guild.get() + 2,
                                ),
                                text_category_id: None,
                                voice_category_id: None,
                            },
                        )
                        .await;
                    ids.push(id);
                }
                for i in GUILDS_PER_CLIENT..PER_CLIENT {
                    let id = CommandId::random();
                    let name = Some(format!("client {client} rename {i}"));
                    let guild = guilds[i % GUILDS_PER_CLIENT];
                    sender
                        .send(
                            guild,
                            &id,
                            owner,
                            GuildCommand::ModifyGuild(cloudcord_schemas::guild::ModifyGuild {
                                name,
                                ..Default::default()
                            }),
                        )
                        .await;
                    ids.push(id);
                }
                ids
            })
        })
        .collect();
    let mut command_ids = Vec::new();
    for client in clients {
        command_ids.extend(client.await.expect("client"));
    }
    for id in &command_ids {
        let found = results.wait_for(id, 1, RESULT_WAIT).await;
        assert_eq!(found.len(), 1, "{id}: one result");
        assert_accepted(&found[0].outcome);
    }
    stop.cancel();
    processor.await.expect("processor");

    let records = bus.read_events();
    assert_eq!(records.len(), 10_000);
    let per_command = verify_histories(&records);
    assert_eq!(per_command.len(), 10_000);
    assert!(
        per_command.values().all(|&n| n == 1),
        "every command produced one event"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_command_id_appends_nothing_and_returns_the_original_result() {
    let bus = Bus::new().await;
    let results = bus.watch_results();
    let sender = bus.sender();
    let owner = UserId::new(7);
    let (stop, processor) = bus.spawn_processor();

    // Repeated after the first result was delivered.
    let guild = random_guild();
    let id = CommandId::from_client_key(&Actor::User(owner), "create-once").expect("key");
    let create = || GuildCommand::CreateGuild {
        guild_id: guild.into(),
        name: "Once".into(),
        owner: cloudcord_schemas::message::UserSnapshot {
            id: owner,
            username: format!("owner{}", owner),
            global_name: None,
            avatar: None,
            bot: false,
        },
        text_channel_id: cloudcord_schemas::ids::ChannelId::new(guild.get() + 1),
        voice_channel_id: cloudcord_schemas::ids::ChannelId::new(guild.get() + 2),
        text_category_id: None,
        voice_category_id: None,
    };
    sender.send(guild, &id, owner, create()).await;
    let first = results.wait_for(&id, 1, RESULT_WAIT).await;
    assert_accepted(&first[0].outcome);
    sender.send(guild, &id, owner, create()).await;
    let second = results.wait_for(&id, 2, RESULT_WAIT).await;
    assert_eq!(
        second[1], first[0],
        "the repeat returns the original result"
    );

    // Repeated back to back, so both may land in one transaction.
    let other_guild = random_guild();
    let other_id = CommandId::random();
    sender.send(other_guild, &other_id, owner, create()).await;
    sender.send(other_guild, &other_id, owner, create()).await;
    let both = results.wait_for(&other_id, 2, RESULT_WAIT).await;
    assert_accepted(&both[0].outcome);
    assert_eq!(both[0], both[1]);

    // Repeated after the processor restarted: the window survives failover.
    stop.cancel();
    processor.await.expect("processor");
    let (stop, processor) = bus.spawn_processor();
    sender.send(guild, &id, owner, create()).await;
    let third = results.wait_for(&id, 3, RESULT_WAIT).await;
    assert_eq!(
        third[2], first[0],
        "the repeat after a restart returns the original result"
    );
    stop.cancel();
    processor.await.expect("processor");

    let per_command = verify_histories(&bus.read_events());
    assert_eq!(per_command.get(&id), Some(&1));
    assert_eq!(per_command.get(&other_id), Some(&1));
    assert_eq!(per_command.len(), 2, "nothing else was appended");
}

/// Stops a `command-api` process gracefully.
fn terminate(child: &mut std::process::Child) {
    signal(child, Signal::SIGTERM);
    let _ = child.wait();
}

fn signal(child: &std::process::Child, signal: Signal) {
    let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid fits"));
    nix::sys::signal::kill(pid, signal).expect("signal sent");
}

/// Every command produced exactly one committed result and one event, and every
/// aggregate's history is gap-free and chained.
async fn assert_exactly_once(bus: &Bus, results: &crate::support::Results, ids: &[CommandId]) {
    for id in ids {
        let found = results.wait_for(id, 1, RESULT_WAIT).await;
        assert_accepted(&found[0].outcome);
    }
    // Give any straggler (a zombie's late commit) time to become visible.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for id in ids {
        assert_eq!(
            results.get(id).map(|r| r.len()),
            Some(1),
            "{id}: exactly one result"
        );
    }
    let per_command = verify_histories(&bus.read_events());
    assert_eq!(
        per_command.len(),
        ids.len(),
        "one event per command, no extras"
    );
    assert!(
        per_command.values().all(|&n| n == 1),
        "no command decided twice"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_processor_killed_mid_stream_and_replaced_loses_and_duplicates_nothing() {
    let bus = Arc::new(Bus::new().await);
    let results = bus.watch_results();
    let mut first = bus.spawn_process("killed");
    let stream = stream_commands(&bus, 3_000, 40);
    results.wait_for_count(500, RESULT_WAIT).await;
    first.kill().expect("SIGKILL");
    let _ = first.wait();
    let seen_at_kill = results.count();
    let mut replacement = bus.spawn_process("replacement");
    let ids = stream.await.expect("stream");
    assert!(seen_at_kill < ids.len(), "the kill happened mid-stream");
    assert_exactly_once(&bus, &results, &ids).await;
    terminate(&mut replacement);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paused_processor_whose_partitions_moved_cannot_commit_after_it_resumes() {
    let bus = Arc::new(Bus::new().await);
    let results = bus.watch_results();
    let mut paused = bus.spawn_process("paused");
    let mut other = bus.spawn_process("other");
    let stream = stream_commands(&bus, 3_000, 40);
    results.wait_for_count(300, RESULT_WAIT).await;
    signal(&paused, Signal::SIGSTOP);
    // Past the session timeout the group moves the paused member's partitions, and
    // the new owner's init_transactions fences its transactional ids.
    let before = results.count();
    tokio::time::sleep(Duration::from_millis(
        u64::from(crate::support::fast_failover().session_timeout_ms) * 2,
    ))
    .await;
    signal(&paused, Signal::SIGCONT);
    let ids = stream.await.expect("stream");
    assert!(before < ids.len(), "the pause happened mid-stream");
    assert_exactly_once(&bus, &results, &ids).await;
    terminate(&mut paused);
    terminate(&mut other);
}

pub fn create_guild(guild: Snowflake, owner: UserId) -> GuildCommand {
    GuildCommand::CreateGuild {
        guild_id: guild.into(),
        name: format!("guild {guild}"),
        owner: cloudcord_schemas::message::UserSnapshot {
            id: owner,
            username: format!("owner{owner}"),
            global_name: None,
            avatar: None,
            bot: false,
        },
        text_channel_id: cloudcord_schemas::ids::ChannelId::new(guild.get() + 1),
        voice_channel_id: cloudcord_schemas::ids::ChannelId::new(guild.get() + 2),
        text_category_id: None,
        voice_category_id: None,
    }
}

fn rename_guild(name: String) -> GuildCommand {
    GuildCommand::ModifyGuild(cloudcord_schemas::guild::ModifyGuild {
        name: Some(name),
        ..Default::default()
    })
}

const SNAPSHOT_GUILDS: usize = 8;
const BEFORE_RESTART: usize = 600;
const AFTER_RESTART: usize = 100;

/// Decides [`BEFORE_RESTART`] commands over a few guilds with a processor that
/// snapshots every 100 events, stops it, lets `between` change the log, starts a new
/// one and decides [`AFTER_RESTART`] more; checks that the restored state decided
/// correctly and every command is in the log exactly once, and returns how many
/// events the second processor replayed and how many snapshots the first wrote.
async fn restart_with_snapshots(between: impl FnOnce(&Bus)) -> (u64, u64) {
    const WAVE: usize = 40;
    let bus = Bus::new().await;
    let results = bus.watch_results();
    let sender = bus.sender();
    let owner = UserId::new(11);
    let settings = || cloudcord_command_api::processor::ProcessorSettings {
        snapshot_every_events: 100,
        ..crate::support::fast_failover()
    };
    let guilds: Vec<Snowflake> = (0..SNAPSHOT_GUILDS).map(|_| random_guild()).collect();
    // Commands in waves, each answered before the next, so every partition commits
    // many small transactions and snapshots fall due between them.
    let send_wave = async |commands: &[(Snowflake, GuildCommand)]| {
        let mut ids = Vec::with_capacity(commands.len());
        for (guild, command) in commands {
            let id = CommandId::random();
            sender.send(*guild, &id, owner, command.clone()).await;
            ids.push(id);
        }
        let mut outcomes = Vec::with_capacity(ids.len());
        for id in &ids {
            let found = results.wait_for(id, 1, RESULT_WAIT).await;
            outcomes.push(found[0].outcome.clone());
        }
        (ids, outcomes)
    };

    let (stop, processor, metrics) = bus.spawn_processor_with(settings());
    let mut accepted_ids = Vec::new();
    let commands: Vec<(Snowflake, GuildCommand)> = guilds
        .iter()
        .map(|guild| (*guild, create_guild(*guild, owner)))
        .chain((SNAPSHOT_GUILDS..BEFORE_RESTART).map(|i| {
            (
                guilds[i % SNAPSHOT_GUILDS],
                rename_guild(format!("before restart {i}")),
            )
        }))
        .collect();
    for wave in commands.chunks(WAVE) {
        let (ids, outcomes) = send_wave(wave).await;
        outcomes.iter().for_each(assert_accepted);
        accepted_ids.extend(ids);
    }
    stop.cancel();
    processor.await.expect("processor");
    let snapshots = metrics.snapshots.get();

    between(&bus);

    let (stop, processor, metrics) = bus.spawn_processor_with(settings());
    // The guilds exist only in the restored state: creating them again is refused.
    let creates: Vec<(Snowflake, GuildCommand)> = guilds
        .iter()
        .map(|guild| (*guild, create_guild(*guild, owner)))
        .collect();
    let (_, refusals) = send_wave(&creates).await;
    for refusal in &refusals {
        assert!(
            matches!(refusal, Outcome::Rejected { .. }),
            "a guild that exists cannot be created again: {refusal:?}"
        );
    }
    let commands: Vec<(Snowflake, GuildCommand)> = (0..AFTER_RESTART)
        .map(|i| {
            (
                guilds[i % SNAPSHOT_GUILDS],
                rename_guild(format!("after restart {i}")),
            )
        })
        .collect();
    for wave in commands.chunks(WAVE) {
        let (ids, outcomes) = send_wave(wave).await;
        outcomes.iter().for_each(assert_accepted);
        accepted_ids.extend(ids);
    }
    stop.cancel();
    processor.await.expect("processor");

    // The new events continue the histories the snapshots ended with.
    let per_command = verify_histories(&bus.read_events());
    assert_eq!(
        per_command.len(),
        BEFORE_RESTART + AFTER_RESTART,
        "one event per accepted command"
    );
    for id in &accepted_ids {
        assert_eq!(per_command.get(id), Some(&1), "{id}: exactly one event");
        assert_eq!(
            results.get(id).map(|r| r.len()),
            Some(1),
            "{id}: one result"
        );
    }
    (metrics.restore_events.get(), snapshots)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_processor_restores_from_its_snapshots_and_replays_only_the_events_after_them()
{
    let (replayed, snapshots) = restart_with_snapshots(|_| {}).await;
    assert!(snapshots > 0, "the first processor wrote snapshots");
    assert!(
        replayed < u64::try_from(BEFORE_RESTART).expect("small"),
        "the restore replayed {replayed} of {BEFORE_RESTART} events: the snapshots were not used"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unusable_snapshots_fall_back_to_replaying_the_whole_partition() {
    let (replayed, snapshots) = restart_with_snapshots(|bus| {
        let latest = bus.read_snapshots();
        for partition in 0..crate::support::PARTITIONS {
            let mut value = serde_json::json!({ "snapshot_version": 99 });
            if let Some(record) = latest.get(&partition) {
                // A decodable snapshot that claims to cover nothing: replaying every
                // event onto it breaks its histories' seq continuity.
                value = serde_json::from_slice(record).expect("snapshot json");
                value["events_next_offset"] = 0.into();
            }
            bus.write_snapshot(partition, &serde_json::to_vec(&value).expect("json"));
        }
    })
    .await;
    assert!(snapshots > 0, "the first processor wrote snapshots");
    // At least: a restore after an aborted transaction would replay again.
    assert!(
        replayed >= u64::try_from(BEFORE_RESTART).expect("small"),
        "every partition was replayed in full, but only {replayed} events were"
    );
}
