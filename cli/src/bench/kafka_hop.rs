//! The bare Kafka hop: one record produced and consumed back, one at a time, on a
//! topic of its own, with the command path's producer settings — the floor any
//! Kafka-based path (the write path, a MESSAGE_CREATE's way to the gateway) stands
//! on.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use cloudcord_runtime::kafka::KafkaConfig;
use cloudcord_schemas::topics::TopicSpec;
use futures::StreamExt;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use super::{Summary, histogram, micros};

/// `samples` produce→consume round trips; the topic (retention one hour) is left
/// for the broker to expire.
pub async fn kafka_hop(kafka: &KafkaConfig, samples: usize) -> anyhow::Result<Summary> {
    let topic = format!(
        "{}bench-hop-{}",
        kafka.topic_prefix,
        uuid::Uuid::new_v4().simple()
    );
    kafka
        .ensure_topics(&[TopicSpec {
            name: topic.clone(),
            partitions: 1,
            config: vec![("retention.ms", "3600000")],
        }])
        .await?;
    let producer: FutureProducer = kafka.producer_config("bench-hop").create()?;
    let consumer: StreamConsumer = kafka
        .read_committed_consumer_config("bench-hop", &format!("{topic}-reader"))
        .set("fetch.wait.max.ms", "1")
        .create()?;
    // The topic is new, so its beginning is where the first sample will be.
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(&topic, 0, Offset::Beginning)?;
    consumer.assign(&assignment)?;
    let mut stream = consumer.stream();
    // One round trip first, so no sample includes connection and fetch setup.
    producer
        .send(
            FutureRecord::<(), _>::to(&topic).payload("warm-up"),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(error, _)| error)?;
    stream.next().await.context("warm-up record")??;
    let mut latencies = histogram()?;
    let started = Instant::now();
    for i in 0..samples {
        let payload = i.to_string();
        let sent = Instant::now();
        producer
            .send(
                FutureRecord::<(), _>::to(&topic).payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(error, _)| error)?;
        loop {
            let message = stream.next().await.context("consumer stream ended")??;
            if message.payload() == Some(payload.as_bytes()) {
                break;
            }
        }
        latencies.record(micros(sent.elapsed()))?;
    }
    Ok(Summary::new(
        "kafka produce→consume".to_owned(),
        &latencies,
        started.elapsed(),
    ))
}
