//! The whole service as `run` starts it: listener, admin server, topics, the
//! projected consumer, and a graceful shutdown.

use cloudcord_gateway_ws::settings::SessionSettings;

use crate::support::{Ended, STRANGER, World};

#[tokio::test]
async fn serve_runs_until_shutdown_then_asks_clients_to_reconnect() {
    let mut world = World::new(SessionSettings::default()).await;
    let node = world.node().await;

    // The connection waits in the listen backlog while serve creates the topics and
    // positions the consumer.
    let mut client = node.connect("v=10&encoding=json").await;
    client.hello().await;
    client.identify(&world.token(STRANGER), 513).await;
    client.ready(513).await;

    let stopped = tokio::spawn(node.stop());
    client.expect_op(7).await;
    assert_eq!(client.ended().await, Ended::Closed(4000));
    stopped.await.expect("the service stops cleanly");
}
