//! The services' `[kafka.tls]` settings (what Strimzi's `tls` listener asks of a
//! KafkaUser) against the shared local broker's mutual-TLS listener: a client with
//! the certificate creates a topic, produces and reads back; a plaintext client and a
//! TLS client without a certificate are refused there.

use std::path::PathBuf;
use std::time::Duration;

use cloudcord::infra::kafka::Kafka;
use cloudcord::settings::Settings;
use cloudcord_runtime::config::Loader;
use cloudcord_runtime::kafka::KafkaConfig;
use cloudcord_schemas::topics::TopicSpec;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// The shared broker's TLS listener, and a plaintext config for the same port.
fn tls_and_plaintext() -> (KafkaConfig, KafkaConfig) {
    let settings: Settings = Loader::from_environment().load().expect("settings");
    let cache_dir = settings
        .infra
        .cache_dir
        .clone()
        .unwrap_or_else(|| settings.infra.state_dir.join("cache"));
    let broker = Kafka::new(&settings.kafka, 1, &settings.infra.state_dir, &cache_dir)
        .expect("the shared broker");
    let tls = KafkaConfig {
        bootstrap_servers: broker.tls_bootstrap_servers(),
        topic_prefix: format!("tls_{}.", uuid::Uuid::new_v4().simple()),
        tls: Some(broker.tls().client()),
        ..settings.kafka.clone()
    };
    let plaintext = KafkaConfig {
        tls: None,
        ..tls.clone()
    };
    (tls, plaintext)
}

/// Whether a client made from `config` gets the cluster's metadata within 5 s.
async fn gets_metadata(config: ClientConfig) -> bool {
    let client: BaseConsumer = config.create().expect("client");
    tokio::task::spawn_blocking(move || client.fetch_metadata(None, Duration::from_secs(5)))
        .await
        .expect("metadata call")
        .is_ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn clients_with_a_certificate_use_the_tls_listener_and_others_are_refused() {
    let (tls, plaintext) = tls_and_plaintext();
    let topic = format!("{}probe", tls.topic_prefix);
    tls.ensure_topics(&[TopicSpec {
        name: topic.clone(),
        partitions: 1,
        config: Vec::new(),
    }])
    .await
    .expect("creates a topic over TLS");

    let producer: FutureProducer = tls.producer_config("tls-test").create().expect("producer");
    producer
        .send(
            FutureRecord::to(&topic).key("k").payload("over tls"),
            Duration::from_secs(30),
        )
        .await
        .expect("produced over TLS");
    let consumer: BaseConsumer = tls
        .client_config("tls-test")
        .set("group.id", format!("{}reader", tls.topic_prefix))
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(&topic, 0, Offset::Beginning)
        .expect("partition");
    consumer.assign(&assignment).expect("assign");
    let payload = tokio::task::spawn_blocking(move || {
        let message = consumer
            .poll(Duration::from_secs(30))
            .expect("a record within 30 s")
            .expect("readable");
        message.payload().map(<[u8]>::to_vec)
    })
    .await
    .expect("poll");
    assert_eq!(payload.as_deref(), Some(&b"over tls"[..]));

    // Without TLS, or with TLS but no client certificate, the listener answers
    // nothing usable: the broker requires one.
    assert!(!gets_metadata(plaintext.client_config("plain-test")).await);
    let mut anonymous = tls.client_config("anonymous-test");
    anonymous.remove("ssl.certificate.location");
    anonymous.remove("ssl.key.location");
    assert!(!gets_metadata(anonymous).await);

    // A client certificate missing on disk is a clear error at creation.
    let mut broken = tls.clone();
    if let Some(files) = &mut broken.tls {
        files.certificate_path = PathBuf::from("/nonexistent/user.crt");
    }
    let created = broken.client_config("broken").create::<BaseConsumer>();
    assert!(
        created.is_err(),
        "a missing certificate must not create a client"
    );
    tls.delete_topics(&[topic]).await.expect("cleanup");
}
