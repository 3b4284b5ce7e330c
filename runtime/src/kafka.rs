//! Kafka connection settings, client configuration builders and the readiness check.
//!
//! The builders set CloudCord's delivery defaults once, so no service inherits a
//! librdkafka default that bites (see `shared/NOTES.md`): producers are idempotent,
//! linger at most 1 ms on the chat path and partition like Java clients
//! (`murmur2_random`); consumers read only committed records and commit offsets
//! themselves.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cloudcord_schemas::topics::{TopicSpec, Topics};
use futures::future::BoxFuture;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{ClientConfig, ClientContext};
use rdkafka::{Offset, TopicPartitionList};
use serde::Deserialize;

use crate::readiness::{CheckError, DependencyCheck};

/// The `[kafka]` settings section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct KafkaConfig {
    /// Comma-separated `host:port` list of brokers to bootstrap from.
    pub bootstrap_servers: String,
    /// Prefix of every CloudCord topic, so deployments (and tests) can share a cluster.
    pub topic_prefix: String,
    /// Partitions of the co-partitioned topics when CloudCord creates them.
    pub partitions: i32,
    /// Whether services create missing topics at start (development); in production
    /// Strimzi's `KafkaTopic` resources own them.
    pub create_topics: bool,
    /// Mutual TLS to the brokers (`[kafka.tls]`), as Strimzi's `tls` listener asks of
    /// a `KafkaUser`; without it, plaintext.
    pub tls: Option<KafkaTls>,
}

/// The `[kafka.tls]` settings: PEM files, as Strimzi's operators write them into
/// Secrets (the cluster CA's `ca.crt`, the KafkaUser's `user.crt` and `user.key`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct KafkaTls {
    /// The CA certificates the brokers' certificates must chain to.
    pub ca_path: PathBuf,
    /// This client's certificate.
    pub certificate_path: PathBuf,
    /// Its private key (PKCS#8, unencrypted).
    pub key_path: PathBuf,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            bootstrap_servers: "127.0.0.1:9092".to_owned(),
            topic_prefix: "cloudcord.".to_owned(),
            partitions: 4,
            create_topics: true,
            tls: None,
        }
    }
}

impl KafkaConfig {
    /// The topic names under this deployment's prefix.
    pub fn topics(&self) -> Topics {
        Topics::with_prefix(&self.topic_prefix)
    }

    /// Creates the topics in `specs` that do not exist yet (no-op unless
    /// `create_topics`); existing topics are left as they are. Returns once every
    /// partition of every topic has a leader, so clients started right after do not
    /// see `NotLeaderForPartition` from a topic the broker is still setting up.
    pub async fn ensure_topics(&self, specs: &[TopicSpec]) -> Result<(), KafkaError> {
        if !self.create_topics {
            return Ok(());
        }
        let admin: AdminClient<DefaultClientContext> =
            self.client_config("cloudcord-topics").create()?;
        let new_topics: Vec<NewTopic<'_>> = specs
            .iter()
            .map(|spec| {
                spec.config.iter().fold(
                    NewTopic::new(&spec.name, spec.partitions, TopicReplication::Fixed(-1)),
                    |topic, (key, value)| topic.set(key, value),
                )
            })
            .collect();
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        for result in admin.create_topics(&new_topics, &options).await? {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => {
                    return Err(KafkaError::AdminOp(code)).inspect_err(|_| {
                        tracing::error!(%topic, %code, "cannot create topic");
                    });
                }
            }
        }
        let names: Vec<String> = specs.iter().map(|spec| spec.name.clone()).collect();
        let admin = Arc::new(admin);
        tokio::task::spawn_blocking(move || wait_for_leaders(&admin, &names))
            .await
            .map_err(|_| KafkaError::Canceled)?
    }

    /// Deletes the topics `names` (those that exist). Tests and benchmarks clean up
    /// after themselves with it: a single local broker slows to a crawl under the
    /// tens of thousands of partitions that leftover per-test topics add up to.
    pub async fn delete_topics(&self, names: &[String]) -> Result<(), KafkaError> {
        let admin: AdminClient<DefaultClientContext> =
            self.client_config("cloudcord-topics").create()?;
        // Each name once: the broker answers each topic once, and librdkafka then
        // leaves a repeated name's result empty, which rdkafka reads as a null
        // pointer (a segfault, not an error).
        let names: Vec<&str> = names
            .iter()
            .map(String::as_str)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        for result in admin.delete_topics(&names, &options).await? {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
                Err((_, code)) => return Err(KafkaError::AdminOp(code)),
            }
        }
        Ok(())
    }

    /// Settings every client shares: where the brokers are, who is asking, and how
    /// it proves it (mutual TLS, when configured; the brokers' names are checked
    /// against their certificates).
    pub fn client_config(&self, client_id: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap_servers)
            .set("client.id", client_id);
        if let Some(tls) = &self.tls {
            config
                .set("security.protocol", "ssl")
                .set("ssl.ca.location", tls.ca_path.to_string_lossy())
                .set(
                    "ssl.certificate.location",
                    tls.certificate_path.to_string_lossy(),
                )
                .set("ssl.key.location", tls.key_path.to_string_lossy())
                .set("ssl.endpoint.identification.algorithm", "https");
        }
        config
    }

    /// An idempotent producer for the chat path: no duplicates on retry, at most
    /// 1 ms of batching delay, Java-compatible key partitioning.
    pub fn producer_config(&self, client_id: &str) -> ClientConfig {
        let mut config = self.client_config(client_id);
        config
            .set("enable.idempotence", "true")
            .set("linger.ms", "1")
            .set("partitioner", "murmur2_random");
        config
    }

    /// A transactional producer: exactly-once appends fenced by `transactional_id`.
    pub fn transactional_producer_config(
        &self,
        client_id: &str,
        transactional_id: &str,
    ) -> ClientConfig {
        let mut config = self.producer_config(client_id);
        config.set("transactional.id", transactional_id);
        config
    }

    /// A consumer in `group_id` that sees only committed transactions and whose
    /// offsets move only when the caller commits them.
    pub fn read_committed_consumer_config(&self, client_id: &str, group_id: &str) -> ClientConfig {
        let mut config = self.client_config(client_id);
        config
            .set("group.id", group_id)
            .set("isolation.level", "read_committed")
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest");
        config
    }
}

/// Retries a blocking metadata or offsets call while Kafka answers with the errors a
/// topic gives for a moment after it was created or its leader moved (no leader yet,
/// not yet serving, not yet known), for up to 30 s.
pub fn retry_while_settling<T>(
    mut call: impl FnMut() -> Result<T, KafkaError>,
) -> Result<T, KafkaError> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match call() {
            Err(error) if settling(&error) && std::time::Instant::now() < deadline => {
                tracing::debug!(%error, "partition not ready yet; retrying");
                std::thread::sleep(Duration::from_millis(100));
            }
            outcome => return outcome,
        }
    }
}

fn settling(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::NotLeaderForPartition
                | RDKafkaErrorCode::LeaderNotAvailable
                | RDKafkaErrorCode::UnknownTopicOrPartition
                | RDKafkaErrorCode::UnknownPartition
        )
    )
}

/// Waits (up to 30 s) until every partition of `topics` reports a leader.
fn wait_for_leaders(
    admin: &AdminClient<DefaultClientContext>,
    topics: &[String],
) -> Result<(), KafkaError> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let metadata = admin.inner().fetch_metadata(None, Duration::from_secs(5))?;
        let ready = topics.iter().all(|name| {
            metadata.topics().iter().any(|topic| {
                topic.name() == name
                    && topic.error().is_none()
                    && !topic.partitions().is_empty()
                    && topic
                        .partitions()
                        .iter()
                        .all(|p| p.error().is_none() && p.leader() >= 0)
            })
        });
        if ready {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(KafkaError::MetadataFetch(
                RDKafkaErrorCode::LeaderNotAvailable,
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl KafkaConfig {
    /// Every committed record of `topic`, partition after partition, each in order,
    /// read from the beginning to the current end. Blocking: for tools and tests
    /// that inspect a topic, and for a small compacted topic read once at start (the
    /// SFU's `voice-sessions`); a service that follows a topic reads with its own
    /// consumer loop.
    pub fn read_to_end(
        &self,
        topic: &str,
        timeout: Duration,
    ) -> Result<Vec<OwnedMessage>, KafkaError> {
        let consumer: BaseConsumer<EndOfPartitionContext> = self
            // Assigned, never joined or committed: the group only names the client.
            .read_committed_consumer_config(
                "read-to-end",
                &format!("{}read-to-end", self.topic_prefix),
            )
            .set("enable.partition.eof", "true")
            .create_with_context(EndOfPartitionContext)?;
        let metadata = retry_while_settling(|| consumer.fetch_metadata(Some(topic), timeout))?;
        let mut assignment = TopicPartitionList::new();
        let mut open = std::collections::BTreeSet::new();
        for partition in metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic)
            .flat_map(|t| t.partitions())
        {
            assignment.add_partition_offset(topic, partition.id(), Offset::Beginning)?;
            open.insert(partition.id());
        }
        consumer.assign(&assignment)?;
        let mut records = Vec::new();
        while !open.is_empty() {
            match consumer.poll(timeout) {
                Some(Ok(message)) => records.push(message.detach()),
                Some(Err(KafkaError::PartitionEOF(partition))) => {
                    open.remove(&partition);
                }
                Some(Err(error)) => return Err(error),
                None => return Err(KafkaError::NoMessageReceived),
            }
        }
        records.sort_by_key(|record| record.partition());
        Ok(records)
    }
}

/// A consumer context for readers that ask for end-of-partition notices
/// (`enable.partition.eof`): it logs client errors like rdkafka's default context,
/// except those notices, which librdkafka also reports as "global errors".
pub struct EndOfPartitionContext;

impl ClientContext for EndOfPartitionContext {
    fn error(&self, error: KafkaError, reason: &str) {
        let end_of_partition = matches!(
            error,
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)
        );
        if !end_of_partition {
            tracing::error!(%error, reason, "Kafka consumer error");
        }
    }
}

impl ConsumerContext for EndOfPartitionContext {}

/// Ready when a broker answers a metadata request.
pub struct KafkaCheck {
    client: Arc<AdminClient<DefaultClientContext>>,
}

impl KafkaCheck {
    /// Creates the client the check uses; it connects lazily.
    pub fn new(config: &KafkaConfig, client_id: &str) -> Result<Self, KafkaError> {
        Ok(Self {
            client: Arc::new(config.client_config(client_id).create()?),
        })
    }
}

impl DependencyCheck for KafkaCheck {
    fn name(&self) -> &'static str {
        "kafka"
    }

    fn check(&self) -> BoxFuture<'_, Result<(), CheckError>> {
        let client = Arc::clone(&self.client);
        Box::pin(async move {
            // librdkafka's metadata call blocks its thread until a broker answers.
            let metadata = tokio::task::spawn_blocking(move || {
                client.inner().fetch_metadata(None, Duration::from_secs(2))
            })
            .await??;
            if metadata.brokers().is_empty() {
                return Err("the cluster reports no brokers".into());
            }
            Ok(())
        })
    }
}
