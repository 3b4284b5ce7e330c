//! Gap and duplicate detection from each aggregate's `seq`, and read models the log
//! is younger than.

use cloudcord_projectors::metrics::Metrics;
use cloudcord_projectors::postgres::{PgStore, open_schema};
use cloudcord_projectors::projector::{self, Batch, Options, ProjectorError, Stop, Store as _};
use cloudcord_projectors::replay;
use cloudcord_schemas::envelope::AggregateType;
use sqlx::Row;
use tokio_util::sync::CancellationToken;

use crate::support::{World, guild_created, guild_ref, message_sent, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_record_is_skipped() {
    let mut world = World::new().await;
    let guild = guild_ref(7_000_000);
    world.send(guild, guild_created(7_000_000)).await;
    let first = world.record(guild, message_sent(7_000_000, 7_000_100));
    world.send_value(guild, &first).await;
    // The same record again, as a producer retry without idempotence would write it.
    world.send_value(guild, &first).await;
    world.send(guild, message_sent(7_000_000, 7_000_101)).await;

    let schema = unique("dup");
    world.track_schema(&schema);
    let report = replay::postgres(
        &world.kafka,
        &world.postgres,
        &schema,
        &CancellationToken::new(),
    )
    .await
    .expect("replay");

    assert_eq!(report.outcome.applied, 3);
    assert_eq!(report.outcome.duplicates, 1);
    assert!(report.outcome.stopped.is_empty());
    let pool = open_schema(&world.postgres, &schema).await.expect("schema");
    let messages: i64 = sqlx::query("SELECT count(*) FROM message_index")
        .fetch_one(&pool)
        .await
        .expect("count")
        .get(0);
    assert_eq!(messages, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_stops_its_partition_and_is_reported() {
    let mut world = World::new().await;
    let broken = guild_ref(8_000_000);
    world.send(broken, guild_created(8_000_000)).await;
    // seq 2 and 3 are never appended.
    let _lost = world.record(broken, message_sent(8_000_000, 8_000_100));
    let _lost = world.record(broken, message_sent(8_000_000, 8_000_101));
    world.send(broken, message_sent(8_000_000, 8_000_102)).await;
    world.send(broken, message_sent(8_000_000, 8_000_103)).await;
    // Healthy guilds on both partitions keep being projected.
    let healthy: Vec<u64> = (1..=6).map(|g| 9_000_000 + g * 1000).collect();
    for &g in &healthy {
        world.send(guild_ref(g), guild_created(g)).await;
        world.send(guild_ref(g), message_sent(g, g + 1)).await;
    }

    let schema = unique("gap");
    world.track_schema(&schema);
    let pool = open_schema(&world.postgres, &schema).await.expect("schema");
    let metrics = Metrics::unregistered();
    let outcome = projector::run(
        &world.kafka,
        &mut PgStore::new(pool.clone()),
        &Options {
            group_id: unique("gap"),
            batch_max: 100,
            linger: std::time::Duration::from_millis(10),
            until_end: true,
            session_timeout: std::time::Duration::ZERO,
        },
        &metrics,
        None,
        &CancellationToken::new(),
    )
    .await
    .expect("projector");

    assert_eq!(outcome.stopped.len(), 1, "{:?}", outcome.stopped);
    let (&partition, (_, stop)) = outcome.stopped.iter().next().expect("one stop");
    match stop {
        Stop::Gap {
            aggregate,
            missing_from,
            missing_to,
        } => {
            assert_eq!(aggregate.kind, AggregateType::Guild);
            assert_eq!(aggregate.id.get(), 8_000_000);
            assert_eq!((*missing_from, *missing_to), (2, 3));
        }
        other => panic!("expected a gap, got {other:?}"),
    }
    assert_eq!(metrics.gaps("postgres", partition), 1);
    // The stopped partition trails its log by at least the two events after the
    // gap; the other one is caught up (at most its last commit marker behind).
    assert!(
        metrics.lag("postgres", partition) >= 2,
        "{}",
        metrics.lag("postgres", partition)
    );
    for other in (0..2).filter(|&p| p != partition) {
        assert!(
            metrics.lag("postgres", other) <= 1,
            "partition {other}: {}",
            metrics.lag("postgres", other)
        );
    }
    // The broken guild stays at its last good seq; its later messages are not shown.
    let seq: i64 = sqlx::query(
        "SELECT seq FROM aggregate_positions WHERE aggregate_type = 'guild' AND aggregate_id = 8000000",
    )
    .fetch_one(&pool)
    .await
    .expect("position")
    .get(0);
    assert_eq!(seq, 1);
    // Healthy guilds on the other partition went through; on the stopped one, those
    // before the gap did.
    let guilds: i64 = sqlx::query("SELECT count(*) FROM guilds")
        .fetch_one(&pool)
        .await
        .expect("count")
        .get(0);
    assert!(guilds >= 2, "only {guilds} guilds projected");
    let other_partition_messages: i64 =
        sqlx::query("SELECT count(*) FROM message_index WHERE guild_id <> 8000000")
            .fetch_one(&pool)
            .await
            .expect("count")
            .get(0);
    assert!(other_partition_messages >= 1);
}

/// Read models built from an earlier incarnation of the topic (their offsets lie
/// beyond its end) are refused, not silently projected onto.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_offset_beyond_the_log_is_refused() {
    let mut world = World::new().await;
    let guild = guild_ref(10_000_000);
    world.send(guild, guild_created(10_000_000)).await;
    let sent = world.record(guild, message_sent(10_000_000, 10_000_100));
    let partition = world.send_value(guild, &sent).await;

    let schema = unique("younger");
    world.track_schema(&schema);
    let pool = open_schema(&world.postgres, &schema).await.expect("schema");
    let mut store = PgStore::new(pool);
    // What read models built from a longer log keep.
    store
        .commit(Batch {
            topic: world.kafka.topics().events,
            changes: Vec::new(),
            positions: Vec::new(),
            offsets: vec![(partition, 1_000)],
        })
        .await
        .expect("offsets stored");
    let refused = projector::run(
        &world.kafka,
        &mut store,
        &Options {
            group_id: unique("younger"),
            batch_max: 100,
            linger: std::time::Duration::from_millis(10),
            until_end: true,
            session_timeout: std::time::Duration::ZERO,
        },
        &Metrics::unregistered(),
        None,
        &CancellationToken::new(),
    )
    .await;
    match refused {
        Err(ProjectorError::LogBehindReadModels {
            partition: p,
            stored,
            end,
        }) => {
            assert_eq!((p, stored), (partition, 1_000));
            assert!(end < 1_000, "{end}");
        }
        other => panic!("expected the log to be refused, got {other:?}"),
    }
}
