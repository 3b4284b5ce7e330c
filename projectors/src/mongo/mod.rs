//! The MongoDB projector's store: message documents, the guild audit log and user
//! settings ([`documents`]), written per batch as ordered `update` commands (one per
//! collection), then the aggregates' positions, then the partitions' offsets — in
//! that order, so a crash between the steps only ever replays idempotent writes
//! (see [`documents`]) or skips events as duplicates.
//!
//! MongoDB has no transaction here (FerretDB v1 has none), so unlike the PostgreSQL
//! store this one assumes a single writer per database.

pub mod documents;

use std::collections::{BTreeMap, HashMap};

use cloudcord_runtime::mongo::MongoConfig;
use cloudcord_schemas::envelope::AggregateRef;
use futures::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};
use mongodb::{Client, Database};

use self::documents::{Collection, Write};
use crate::int64::Unrepresentable;
use crate::projector::{Batch, Store, StoreError};
use crate::record::EventRecord;

/// Where each aggregate's last applied `seq` is kept.
pub const POSITIONS: &str = "aggregate_positions";
/// Where each partition's next offset is kept (excluded from digests).
pub const OFFSETS: &str = "projector_offsets";

/// Most statements per `update` command (MongoDB accepts 100,000).
const STATEMENTS_PER_COMMAND: usize = 10_000;

/// Opens `database` on the configured server.
pub async fn open_database(config: &MongoConfig, database: &str) -> Result<Database, StoreError> {
    let client = Client::with_options(config.client_options(crate::NAME).await?)?;
    Ok(client.database(database))
}

/// The MongoDB read models as a [`Store`].
pub struct MongoStore {
    database: Database,
}

impl MongoStore {
    /// The store over `database`.
    pub fn new(database: Database) -> Self {
        Self { database }
    }

    /// The database the store writes to.
    pub fn database(&self) -> &Database {
        &self.database
    }

    async fn update(
        &self,
        collection: &'static str,
        statements: Vec<Document>,
    ) -> Result<(), StoreError> {
        for chunk in statements.chunks(STATEMENTS_PER_COMMAND) {
            let reply = self
                .database
                .run_command(doc! { "update": collection, "updates": chunk, "ordered": true })
                .await?;
            if let Ok(errors) = reply.get_array("writeErrors")
                && !errors.is_empty()
            {
                return Err(StoreError::MongoWrite {
                    collection,
                    errors: Bson::Array(errors.clone()).to_string(),
                });
            }
        }
        Ok(())
    }
}

/// The `_id` of an aggregate's position document.
fn position_id(aggregate: AggregateRef) -> String {
    format!("{}/{}", aggregate.kind.as_str(), aggregate.id)
}

impl Store for MongoStore {
    const NAME: &'static str = "mongo";
    type Changes = Vec<Write>;
    type ProjectionError = Unrepresentable;

    fn project(record: &EventRecord) -> Result<Vec<Write>, Unrepresentable> {
        documents::project(record)
    }

    async fn next_offsets(&mut self, topic: &str) -> Result<HashMap<i32, i64>, StoreError> {
        let documents: Vec<Document> = self
            .database
            .collection::<Document>(OFFSETS)
            .find(doc! { "topic": topic })
            .await?
            .try_collect()
            .await?;
        Ok(documents
            .iter()
            .filter_map(|d| Some((d.get_i32("partition").ok()?, d.get_i64("next_offset").ok()?)))
            .collect())
    }

    async fn positions(
        &mut self,
        aggregates: &[AggregateRef],
    ) -> Result<HashMap<AggregateRef, u64>, StoreError> {
        let by_id: HashMap<String, AggregateRef> =
            aggregates.iter().map(|a| (position_id(*a), *a)).collect();
        let keys: Vec<&String> = by_id.keys().collect();
        let documents: Vec<Document> = self
            .database
            .collection::<Document>(POSITIONS)
            .find(doc! { "_id": { "$in": keys } })
            .await?
            .try_collect()
            .await?;
        Ok(documents
            .iter()
            .filter_map(|d| {
                let aggregate = by_id.get(d.get_str("_id").ok()?)?;
                Some((*aggregate, u64::try_from(d.get_i64("seq").ok()?).ok()?))
            })
            .collect())
    }

    async fn commit(&mut self, batch: Batch<Vec<Write>>) -> Result<(), StoreError> {
        // Collections never depend on each other, so each gets one ordered command.
        let mut by_collection: BTreeMap<Collection, Vec<Document>> = BTreeMap::new();
        for write in batch.changes.into_iter().flatten() {
            by_collection
                .entry(write.collection)
                .or_default()
                .push(write.statement);
        }
        for (collection, statements) in by_collection {
            self.update(collection.name(), statements).await?;
        }
        let positions = batch
            .positions
            .iter()
            .map(|&(aggregate, seq)| {
                let id = position_id(aggregate);
                doc! {
                    "q": { "_id": &id },
                    "u": { "_id": &id, "seq": i64::try_from(seq).unwrap_or(i64::MAX) },
                    "upsert": true,
                }
            })
            .collect::<Vec<_>>();
        if !positions.is_empty() {
            self.update(POSITIONS, positions).await?;
        }
        let offsets = batch
            .offsets
            .iter()
            .map(|&(partition, next)| {
                let id = format!("{}/{partition}", batch.topic);
                doc! {
                    "q": { "_id": &id },
                    "u": { "_id": &id, "topic": &batch.topic, "partition": partition, "next_offset": next },
                    "upsert": true,
                }
            })
            .collect::<Vec<_>>();
        if !offsets.is_empty() {
            self.update(OFFSETS, offsets).await?;
        }
        Ok(())
    }
}
