//! The whole service as `run` starts it: listener, admin server, topics, the
//! projected consumer, and a graceful shutdown.

use std::net::{Ipv4Addr, SocketAddr};

use cloudcord_gateway_ws::settings::{HttpSettings, SessionSettings, Settings};
use cloudcord_gateway_ws::{Config, serve};
use cloudcord_runtime::admin::AdminConfig;
use cloudcord_runtime::auth::AuthConfig;
use cloudcord_runtime::kafka::KafkaConfig;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::support::{Client, Ended, PATIENCE, STRANGER, World, unique};

#[tokio::test]
async fn serve_runs_until_shutdown_then_asks_clients_to_reconnect() {
    let mut world = World::new(SessionSettings::default()).await;
    let config = Config {
        kafka: KafkaConfig {
            topic_prefix: format!("{}.", unique("gateway-service")),
            partitions: 1,
            create_topics: true,
            ..world.kafka.clone()
        },
        postgres: world.postgres.clone(),
        auth: AuthConfig::default(),
        gateway_ws: Settings {
            admin: AdminConfig {
                listen_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            },
            http: HttpSettings {
                postgres_schema: world.schema.clone(),
                ..HttpSettings::default()
            },
            sessions: SessionSettings::default(),
        },
    };
    world.delete_on_drop(
        config
            .kafka
            .topics()
            .specs(1)
            .into_iter()
            .map(|spec| spec.name),
    );
    let shutdown = CancellationToken::new();
    let gateway = config
        .gateway(world.verifier(), shutdown.clone())
        .expect("the gateway state");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let addr = listener.local_addr().expect("bound");
    let service = tokio::spawn(serve(config, gateway, listener, shutdown.clone()));

    // The connection waits in the listen backlog while serve creates the topics and
    // positions the consumer.
    let mut client = Client::connect(&format!("ws://{addr}/?v=10&encoding=json")).await;
    client.hello().await;
    client.identify(&world.token(STRANGER), 513).await;
    client.ready(513).await;

    shutdown.cancel();
    client.expect_op(7).await;
    assert_eq!(client.ended().await, Ended::Closed(4000));
    tokio::time::timeout(PATIENCE, service)
        .await
        .expect("the service stops in time")
        .expect("the service task did not panic")
        .expect("the service stops cleanly");
}
