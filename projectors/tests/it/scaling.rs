//! Two `projectors` instances share the partitions of `events` through their
//! stores' consumer groups; when one is killed, the other takes its partitions over
//! from the stored offsets. Every event ends up applied exactly once, in PostgreSQL
//! and in MongoDB, and on `projected`.

use std::time::Duration;

use crate::support::{PARTITIONS, Workload, World, send_workload, user_ref, user_registered};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_the_partitions_and_one_takes_over_from_a_killed_one() {
    let mut world = World::new().await;
    let mut workload = Workload::new();
    send_workload(&mut world, &mut workload, 200).await;

    let mut first = world.spawn_projectors("first");
    let mut second = world.spawn_projectors("second");
    // Each store's group gives each instance one of the two partitions.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for store in ["postgres", "mongo"] {
        loop {
            let mut assignments = world.group_assignments(store);
            assignments.sort_unstable();
            if assignments == [1, 1] {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{store}: the group never shared its {PARTITIONS} partitions: {assignments:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // Steady load while both run; SIGKILL one part-way through.
    let load = async {
        for _ in 0..20 {
            send_workload(&mut world, &mut workload, 40).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let kill = async {
        tokio::time::sleep(Duration::from_millis(600)).await;
        first.kill().expect("SIGKILL the first instance");
        first.wait().expect("reap it");
    };
    tokio::join!(load, kill);
    // Once the group's session times out, the survivor owns both partitions…
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for store in ["postgres", "mongo"] {
        while world.group_assignments(store) != [2] {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{store}: the survivor never took the killed instance's partition over: {:?}",
                world.group_assignments(store)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // …and projects both: what follows goes to every partition (the workload's
    // guilds may share one; new users spread over both).
    let mut partitions = send_workload(&mut world, &mut workload, 200).await;
    for user in 100..120 {
        let aggregate = user_ref(user);
        let value = world.record(aggregate, user_registered(user));
        partitions.insert(world.send_value(aggregate, &value).await);
    }
    assert_eq!(
        partitions.len(),
        usize::try_from(PARTITIONS).expect("a few"),
        "the workload missed a partition: {partitions:?}"
    );

    let pool = world.live_pool().await;
    let database = world.live_database().await;
    world.wait_until_caught_up(&pool, &database).await;
    second.kill().expect("stop the second instance");
    second.wait().expect("reap it");

    world.assert_exactly_once(&pool, &database, 1220).await;
}
