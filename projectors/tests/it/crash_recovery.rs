//! A projector killed with SIGKILL in the middle of its batches under steady load,
//! then restarted, ends with the read models a replay from zero builds: no event
//! missing, none applied twice — in PostgreSQL and in MongoDB — and every event on
//! `projected`.

use std::time::Duration;

use sqlx::Row;

use crate::support::{Workload, World, send_workload};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projector_killed_mid_batch_resumes_to_the_replayed_read_models() {
    let mut world = World::new().await;
    let mut workload = Workload::new();
    send_workload(&mut world, &mut workload, 200).await;

    let mut first = world.spawn_projectors("first");
    // Steady load while the projector runs; kill it part-way through.
    let load = async {
        for _ in 0..30 {
            send_workload(&mut world, &mut workload, 40).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let kill = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        first.kill().expect("SIGKILL the projectors");
        first.wait().expect("reap the projectors");
    };
    tokio::join!(load, kill);
    send_workload(&mut world, &mut workload, 200).await;

    let mut second = world.spawn_projectors("second");
    let pool = world.live_pool().await;
    let database = world.live_database().await;
    world.wait_until_caught_up(&pool, &database).await;
    second.kill().expect("stop the projectors");
    second.wait().expect("reap the projectors");

    // The gateway's feed has every event at least once too, however the kill fell
    // between a commit and its deliveries.
    world.assert_exactly_once(&pool, &database, 1600).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_crash_left_unconfirmed_on_projected_is_published_again() {
    let mut world = World::new().await;
    let mut workload = Workload::new();
    send_workload(&mut world, &mut workload, 60).await;
    let pool = world.live_pool().await;
    let database = world.live_database().await;
    let mut first = world.spawn_projectors("first");
    world.wait_until_caught_up(&pool, &database).await;
    first.kill().expect("stop the projectors");
    first.wait().expect("reap the projectors");
    let once = world.read_projected();
    assert_eq!(once.len(), 60);

    // As if the process died after its commits and before their deliveries.
    sqlx::query("UPDATE projected_offsets SET next_offset = 0")
        .execute(&pool)
        .await
        .expect("forget the deliveries");
    let mut second = world.spawn_projectors("second");
    send_workload(&mut world, &mut workload, 1).await;
    world.wait_until_caught_up(&pool, &database).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let behind: i64 = sqlx::query(
            "SELECT count(*) FROM projector_offsets o LEFT JOIN projected_offsets p \
             USING (topic, partition) WHERE p.next_offset IS DISTINCT FROM o.next_offset",
        )
        .fetch_one(&pool)
        .await
        .expect("offsets")
        .get(0);
        if behind == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "projected_offsets never caught up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    second.kill().expect("stop the projectors");
    second.wait().expect("reap the projectors");

    let twice = world.read_projected();
    assert_eq!(twice.len(), 60 + 60 + 1, "the 60 again, then the new one");
    for event in &once {
        assert_eq!(twice.iter().filter(|e| *e == event).count(), 2, "{event:?}");
    }
}
