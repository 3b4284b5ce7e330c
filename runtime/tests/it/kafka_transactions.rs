//! Kafka transactions on the real broker: commit, abort, zombie fencing, and a
//! `read_committed` consumer that sees only committed records.

use std::time::Duration;

use cloudcord_runtime::kafka::KafkaConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

use crate::support::{stores, unique};

const TIMEOUT: Duration = Duration::from_secs(30);

async fn create_topic(kafka: &KafkaConfig, topic: &str) {
    let admin: AdminClient<DefaultClientContext> = kafka
        .client_config("smoke-admin")
        .create()
        .expect("admin client");
    let results = admin
        .create_topics(
            [&NewTopic::new(topic, 1, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
        )
        .await
        .expect("create_topics request");
    for result in results {
        result.expect("topic created");
    }
}

/// Polls delivery reports on its own thread, as the transactional API requires.
type TxnProducer = ThreadedProducer<DefaultProducerContext>;

fn send(producer: &TxnProducer, topic: &str, payload: &str) {
    producer
        .send(BaseRecord::to(topic).key("smoke").payload(payload))
        .map_err(|(error, _)| error)
        .expect("record enqueued");
}

/// Reads the topic from the start with `read_committed` until the end (the last
/// stable offset) and returns the payloads.
fn read_committed(kafka: &KafkaConfig, topic: &str) -> Vec<String> {
    kafka
        .read_to_end(topic, TIMEOUT)
        .expect("the topic reads to its end")
        .iter()
        .map(|message| {
            String::from_utf8(message.payload().expect("payload").to_vec()).expect("utf-8")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn committed_records_are_visible_aborted_ones_are_not_and_zombies_are_fenced() {
    let kafka = stores().kafka;
    let topic = unique("smoke-transactions");
    create_topic(&kafka, &topic).await;
    let transactional_id = unique("smoke-txn");

    // The transactional API blocks its thread; keep it off the async workers.
    let payloads = tokio::task::spawn_blocking(move || {
        let config = kafka.transactional_producer_config("smoke-first", &transactional_id);
        let first: TxnProducer = config.create().expect("first producer");
        first.init_transactions(TIMEOUT).expect("init first");

        first.begin_transaction().expect("begin");
        for i in 0..3 {
            send(&first, &topic, &format!("committed-{i}"));
        }
        first.commit_transaction(TIMEOUT).expect("commit");

        first.begin_transaction().expect("begin");
        send(&first, &topic, "aborted");
        first.abort_transaction(TIMEOUT).expect("abort");

        // The first producer starts a transaction, then a second one with the same
        // transactional.id takes over: the first must now be a fenced zombie.
        first.begin_transaction().expect("begin");
        send(&first, &topic, "zombie");
        let second: TxnProducer = config.create().expect("second producer");
        second
            .init_transactions(TIMEOUT)
            .expect("init second fences the first");

        let error = first
            .commit_transaction(TIMEOUT)
            .expect_err("a fenced producer cannot commit");
        let KafkaError::Transaction(rd_error) = &error else {
            panic!("expected a transaction error, got {error}");
        };
        assert!(rd_error.is_fatal(), "fencing is fatal: {rd_error}");
        assert!(
            matches!(
                rd_error.code(),
                RDKafkaErrorCode::Fenced
                    | RDKafkaErrorCode::ProducerFenced
                    | RDKafkaErrorCode::InvalidProducerEpoch
            ),
            "expected a fencing error, got {rd_error}"
        );
        read_committed(&kafka, &topic)
    })
    .await
    .expect("transaction thread");

    assert_eq!(payloads, ["committed-0", "committed-1", "committed-2"]);
}
