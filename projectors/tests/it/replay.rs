//! Replays are deterministic: the same log gives the same digests, whatever the
//! batching and whichever consumer group reads it.

use cloudcord_projectors::replay;
use tokio_util::sync::CancellationToken;

use crate::support::{Workload, World, send_workload, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replays_of_the_same_log_have_equal_digests() {
    let mut world = World::new().await;
    send_workload(&mut world, &mut Workload::new(), 600).await;
    let shutdown = CancellationToken::new();

    let (schema, database) = (unique("replay"), unique("replay"));
    world.track_schema(&schema);
    world.track_database(&database);
    let (pg_a, mongo_a) = (
        replay::postgres(&world.kafka, &world.postgres, &schema, &shutdown)
            .await
            .expect("first postgres replay"),
        replay::mongo(&world.kafka, &world.mongo, &database, &shutdown)
            .await
            .expect("first mongo replay"),
    );
    let (pg_b, mongo_b) = replay::replay(&world.kafka, &world.postgres, &world.mongo, &shutdown)
        .await
        .expect("second replay");
    world.track_schema(&pg_b.target);
    world.track_database(&mongo_b.target);

    assert_eq!(pg_a.outcome.applied, 600);
    assert_eq!(mongo_a.outcome.applied, 600);
    assert!(pg_a.outcome.stopped.is_empty() && mongo_a.outcome.stopped.is_empty());
    assert_eq!(pg_a.digest, pg_b.digest);
    assert_eq!(mongo_a.digest, mongo_b.digest);
}
