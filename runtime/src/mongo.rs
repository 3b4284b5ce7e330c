//! MongoDB (FerretDB locally) connection settings, the client builder and the
//! readiness check.

use std::time::Duration;

use futures::future::BoxFuture;
use futures::{StreamExt as _, TryStreamExt as _};
use mongodb::bson::{Document, doc};
use mongodb::options::ClientOptions;
use mongodb::{Client, Collection, Database};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::readiness::{CheckError, DependencyCheck};

/// The `[mongo]` settings section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct MongoConfig {
    /// A `mongodb://host:port` connection string.
    pub url: String,
    /// The database CloudCord's collections live in.
    pub database: String,
}

impl Default for MongoConfig {
    fn default() -> Self {
        Self {
            url: "mongodb://127.0.0.1:27017".to_owned(),
            database: "cloudcord".to_owned(),
        }
    }
}

impl MongoConfig {
    /// Parsed client options, with short timeouts so a missing server is reported
    /// within seconds instead of the driver's default 30 s.
    pub async fn client_options(&self, app_name: &str) -> mongodb::error::Result<ClientOptions> {
        let mut options = ClientOptions::parse(&self.url).await?;
        options.app_name = Some(app_name.to_owned());
        options.server_selection_timeout = Some(Duration::from_secs(2));
        options.connect_timeout = Some(Duration::from_secs(2));
        Ok(options)
    }

    /// The configured database; the driver connects on first use.
    pub async fn database(&self, app_name: &str) -> mongodb::error::Result<Database> {
        let client = Client::with_options(self.client_options(app_name).await?)?;
        Ok(client.database(&self.database))
    }
}

/// How documents hold the ids they are looked up by (a message's `_id`, its
/// `channel_id`, a file's `_id`): as decimal strings.
///
/// FerretDB v1 filters in PostgreSQL only for equality, and not for 64-bit integers
/// beyond 2^53 — every snowflake — which it cannot compare exactly there: such a
/// filter makes it read and decode the whole collection in Go (800 ms per lookup at
/// 20,000 messages, growing with the collection). A string is matched in PostgreSQL
/// (15 ms at the same size). Orders and ranges still need the number, so documents
/// that are paged also keep it as an `Int64` field.
pub fn key(id: u64) -> String {
    id.to_string()
}

/// Most lookups of [`find_each`] in flight at once (FerretDB holds a PostgreSQL
/// connection for each).
const LOOKUPS_AT_ONCE: usize = 8;

/// The document each filter finds, in no particular order (a filter that finds
/// none adds nothing): one `find_one` per filter, a few in flight. For several ids
/// instead of one `$in`, which FerretDB v1 answers by reading the whole collection
/// while it matches each equality on a [`key`] in PostgreSQL.
pub async fn find_each<T: DeserializeOwned + Send + Sync>(
    collection: &Collection<T>,
    filters: impl IntoIterator<Item = Document, IntoIter: Send>,
) -> mongodb::error::Result<Vec<T>> {
    futures::stream::iter(filters)
        .map(|filter| {
            let collection = collection.clone();
            async move { collection.find_one(filter).await }
        })
        .buffer_unordered(LOOKUPS_AT_ONCE)
        .try_filter_map(|found| async move { Ok(found) })
        .try_collect()
        .await
}

/// Ready when the server answers `ping`.
pub struct MongoCheck {
    database: Database,
}

impl MongoCheck {
    /// Checks through `database`, the same handle the service uses.
    pub fn new(database: Database) -> Self {
        Self { database }
    }
}

impl DependencyCheck for MongoCheck {
    fn name(&self) -> &'static str {
        "mongo"
    }

    fn check(&self) -> BoxFuture<'_, Result<(), CheckError>> {
        Box::pin(async move {
            self.database.run_command(doc! { "ping": 1 }).await?;
            Ok(())
        })
    }
}
