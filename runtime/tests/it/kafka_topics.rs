//! Creating and deleting topics on the real broker, as tests and tools clean up.

use std::time::Duration;

use cloudcord_schemas::topics::TopicSpec;
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;

use crate::support::{stores, unique};

/// A name given twice, before another, is deleted once: librdkafka would leave the
/// repeated name's result empty, which rdkafka reads as a null pointer (the process
/// died of SIGSEGV in gateway tests that listed topics twice).
#[tokio::test]
async fn deleting_a_name_listed_twice_deletes_it_once() {
    let kafka = stores().kafka;
    let (first, second) = (unique("delete_twice"), unique("delete_twice"));
    let specs: Vec<TopicSpec> = [&first, &second]
        .into_iter()
        .map(|name| TopicSpec {
            name: name.clone(),
            partitions: 1,
            config: Vec::new(),
        })
        .collect();
    kafka.ensure_topics(&specs).await.expect("topics created");

    let never_created = unique("delete_twice");
    kafka
        .delete_topics(&[first.clone(), second.clone(), first.clone(), never_created])
        .await
        .expect("deleted");

    // Deleted topics leave the metadata soon after.
    let admin: AdminClient<DefaultClientContext> = kafka
        .client_config("delete-twice")
        .create()
        .expect("admin client");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let metadata = admin
            .inner()
            .fetch_metadata(None, Duration::from_secs(10))
            .expect("metadata");
        let left: Vec<&str> = metadata
            .topics()
            .iter()
            .map(|topic| topic.name())
            .filter(|name| *name == first || *name == second)
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{left:?} still listed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
