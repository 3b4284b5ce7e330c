//! The MongoDB projector's store: message documents, the guild audit log and user
//! settings ([`documents`]), written per batch in event order per collection
//! (consecutive inserts or updates in one command each), then the aggregates' positions, then the partitions' offsets — in
//! that order, so a crash between the steps only ever replays idempotent writes
//! (see [`documents`]) or skips events as duplicates.
//!
//! MongoDB has no transaction here (FerretDB v1 has none), so unlike the PostgreSQL
//! store this one cannot fence off an instance that still writes a partition
//! another has taken over ([`crate::ownership`]). Its writes are idempotent and
//! positions and offsets never go back, so such a late write at worst repeats
//! what is there — except for user settings, which are replaced whole.

pub mod documents;

use std::collections::{BTreeMap, HashMap};

use cloudcord_runtime::mongo::{MongoConfig, find_each};
use cloudcord_runtime::telemetry::ErrorChain;
use cloudcord_schemas::envelope::AggregateRef;
use futures::TryStreamExt as _;
use mongodb::bson::{Bson, Document, doc};
use mongodb::{Client, Database, IndexModel};

use self::documents::{Collection, Operation, Write};
use crate::int64::Unrepresentable;
use crate::projector::{Batch, Store, StoreError};
use crate::record::EventRecord;

/// Where each aggregate's last applied `seq` is kept.
pub const POSITIONS: &str = "aggregate_positions";
/// Where each partition's next offset is kept (excluded from digests).
pub const OFFSETS: &str = "projector_offsets";
/// Where the database's document format is recorded (excluded from digests).
const FORMAT_COLLECTION: &str = "projection_format";

/// The shape of the documents this version writes and reads. 2: the ids filtered
/// on are strings (`cloudcord_runtime::mongo::key`); 1 (unrecorded) had numbers.
const FORMAT: i32 = 2;

/// Most statements per `update` command (MongoDB accepts 100,000).
const STATEMENTS_PER_COMMAND: usize = 10_000;

/// MongoDB's code for "the collection exists already".
const NAMESPACE_EXISTS: i32 = 48;

/// Opens `database` on the configured server and creates its collections, one at a
/// time: FerretDB v1 stalls when collections are created implicitly by concurrent
/// or batched upserts.
pub async fn open_database(config: &MongoConfig, database: &str) -> Result<Database, StoreError> {
    let client = Client::with_options(config.client_options(crate::NAME).await?)?;
    let database = client.database(database);
    let names =
        Collection::ALL
            .iter()
            .map(|c| c.name())
            .chain([POSITIONS, OFFSETS, FORMAT_COLLECTION]);
    for name in names {
        match database.create_collection(name).await {
            Ok(()) => {}
            Err(error)
                if matches!(
                    *error.kind,
                    mongodb::error::ErrorKind::Command(ref e) if e.code == NAMESPACE_EXISTS
                ) => {}
            Err(error) => return Err(error.into()),
        }
    }
    check_format(&database).await?;
    if is_ferretdb(&database).await? {
        // Its filters cannot use them (infra/ferretdb/indexes.sql makes its own in
        // PostgreSQL); each would only cost DDL under FerretDB's global metadata
        // lock at every start, and a write per document.
        return Ok(database);
    }
    for (collection, keys) in indexes() {
        let created = database
            .collection::<Document>(collection.name())
            .create_index(IndexModel::builder().keys(keys.clone()).build())
            .await;
        // Only reads get slower without one: the next start tries again.
        if let Err(error) = created {
            tracing::warn!(
                collection = collection.name(),
                %keys,
                error = %ErrorChain(&error),
                "creating an index failed"
            );
        }
    }
    Ok(database)
}

/// Whether the server is FerretDB, which names its version in `buildInfo`.
async fn is_ferretdb(database: &Database) -> Result<bool, StoreError> {
    let info = database.run_command(doc! { "buildInfo": 1 }).await?;
    Ok(info.contains_key("ferretdbVersion"))
}

/// The indexes the readers' filters and orders need on MongoDB proper (creating an
/// existing one changes nothing).
fn indexes() -> [(Collection, Document); 4] {
    [
        // A channel's pages and pins, newest first.
        (Collection::Messages, doc! { "channel_id": 1, "id": -1 }),
        // A deleted guild's or a banned member's messages.
        (Collection::Messages, doc! { "guild_id": 1 }),
        // The file sweeper's walk through deleted messages.
        (
            Collection::Messages,
            doc! { "deleted": 1, "deleted_at": 1, "id": 1 },
        ),
        // A guild's audit log, newest first.
        (Collection::AuditLog, doc! { "guild_id": 1, "seq": -1 }),
    ]
}

/// Records [`FORMAT`] in a database nothing was projected into yet, and refuses
/// one written in another format: its documents would not be found. The events
/// topic rebuilds them (FerretDB cannot rewrite ids in place).
async fn check_format(database: &Database) -> Result<(), StoreError> {
    let formats = database.collection::<Document>(FORMAT_COLLECTION);
    let recorded = formats
        .find_one(doc! { "_id": "documents" })
        .await?
        .and_then(|d| d.get_i32("format").ok());
    if recorded == Some(FORMAT) {
        return Ok(());
    }
    let projected = database
        .collection::<Document>(OFFSETS)
        .find_one(doc! {})
        .await?
        .is_some();
    if recorded.is_some() || projected {
        return Err(StoreError::MongoFormat {
            database: database.name().to_owned(),
            found: recorded.unwrap_or(1),
            expected: FORMAT,
        });
    }
    // Several instances may start at once; the first one's insert is enough.
    let reply = database
        .run_command(doc! {
            "insert": FORMAT_COLLECTION,
            "documents": [{ "_id": "documents", "format": FORMAT }],
        })
        .await?;
    check(FORMAT_COLLECTION, &reply, true)
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

    /// Runs `operations` on `collection` in order, consecutive ones of a kind in
    /// one command.
    async fn write(
        &self,
        collection: &'static str,
        operations: Vec<Operation>,
    ) -> Result<(), StoreError> {
        let mut inserts = Vec::new();
        let mut updates = Vec::new();
        for operation in operations {
            match operation {
                Operation::Insert(document) => {
                    self.update(collection, std::mem::take(&mut updates))
                        .await?;
                    inserts.push(document);
                }
                Operation::Update(statement) => {
                    self.insert(collection, std::mem::take(&mut inserts))
                        .await?;
                    updates.push(statement);
                }
            }
        }
        self.insert(collection, inserts).await?;
        self.update(collection, updates).await
    }

    /// Inserts `documents`, skipping those whose `_id` exists.
    async fn insert(
        &self,
        collection: &'static str,
        documents: Vec<Document>,
    ) -> Result<(), StoreError> {
        for chunk in documents.chunks(STATEMENTS_PER_COMMAND) {
            let reply = self
                .database
                .run_command(doc! { "insert": collection, "documents": chunk, "ordered": false })
                .await?;
            check(collection, &reply, true)?;
        }
        Ok(())
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
            check(collection, &reply, false)?;
        }
        Ok(())
    }

    /// Writes `documents` whole (keyed by `_id`): replaces those whose `rising`
    /// field is lower, inserts the others. A write from an instance that lost its
    /// partition while it wrote can then never move a position or an offset back.
    async fn put(
        &self,
        collection: &'static str,
        documents: Vec<Document>,
        rising: &str,
    ) -> Result<(), StoreError> {
        let replacements = documents
            .iter()
            .filter_map(|d| {
                let q = doc! { "_id": d.get("_id")?, rising: { "$lt": d.get(rising)? } };
                Some(doc! { "q": q, "u": d })
            })
            .collect();
        self.update(collection, replacements).await?;
        self.insert(collection, documents).await
    }
}

/// MongoDB's code for a duplicate key.
const DUPLICATE_KEY: i32 = 11000;

/// Fails on a reply's write errors (except duplicate keys, when `duplicates_ok`).
fn check(
    collection: &'static str,
    reply: &Document,
    duplicates_ok: bool,
) -> Result<(), StoreError> {
    let Ok(errors) = reply.get_array("writeErrors") else {
        return Ok(());
    };
    let fatal: Vec<Bson> = errors
        .iter()
        .filter(|e| {
            let code = e.as_document().and_then(|d| d.get_i32("code").ok());
            !(duplicates_ok && code == Some(DUPLICATE_KEY))
        })
        .cloned()
        .collect();
    if fatal.is_empty() {
        Ok(())
    } else {
        Err(StoreError::MongoWrite {
            collection,
            errors: Bson::Array(fatal).to_string(),
        })
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
        let filters: Vec<Document> = by_id.keys().map(|id| doc! { "_id": id }).collect();
        let documents =
            find_each(&self.database.collection::<Document>(POSITIONS), filters).await?;
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
        let mut by_collection: BTreeMap<Collection, Vec<Operation>> = BTreeMap::new();
        for write in batch.changes.into_iter().flatten() {
            by_collection
                .entry(write.collection)
                .or_default()
                .push(write.operation);
        }
        for (collection, operations) in by_collection {
            self.write(collection.name(), operations).await?;
        }
        let positions = batch
            .positions
            .iter()
            .map(|&(aggregate, seq)| {
                doc! {
                    "_id": position_id(aggregate),
                    "seq": i64::try_from(seq).unwrap_or(i64::MAX),
                }
            })
            .collect::<Vec<_>>();
        self.put(POSITIONS, positions, "seq").await?;
        let offsets = batch
            .offsets
            .iter()
            .map(|&(partition, next)| {
                doc! {
                    "_id": format!("{}/{partition}", batch.topic),
                    "topic": &batch.topic,
                    "partition": partition,
                    "next_offset": next,
                }
            })
            .collect::<Vec<_>>();
        self.put(OFFSETS, offsets, "next_offset").await?;
        Ok(())
    }
}
