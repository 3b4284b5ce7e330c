//! Deterministic digests of the read models, to prove that two builds of them —
//! live and replayed, or two replays — hold the same data.
//!
//! * PostgreSQL: SHA-256 over every table of the schema (by name) and each of its
//!   rows as PostgreSQL's row text, in byte order of that text.
//! * MongoDB: SHA-256 over every read-model collection (by name) and each of its
//!   documents as canonical JSON (keys sorted at every level), in `_id` order.
//!
//! Offset bookkeeping (`projector_offsets`, `projected_offsets`, `_sqlx_migrations`) is left out: it
//! says how far a projector got, not what the read models hold. The per-aggregate
//! positions are included — they are part of the state every build must agree on.

use futures::TryStreamExt;
use mongodb::Database;
use mongodb::bson::{Bson, Document, doc};
use sha2::{Digest, Sha256};
use sqlx::{AssertSqlSafe, PgPool, Row};

use crate::mongo::POSITIONS;
use crate::mongo::documents::Collection;
use cloudcord_runtime::postgres::quote_identifier;

/// Lowercase hex of a finished hash.
fn hex(hasher: Sha256) -> String {
    use std::fmt::Write as _;
    hasher
        .finalize()
        .iter()
        .fold(String::with_capacity(64), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}

/// The digest of the PostgreSQL read models in `schema`.
pub async fn postgres(pool: &PgPool, schema: &str) -> Result<String, sqlx::Error> {
    let tables: Vec<String> = sqlx::query_scalar!(
        r#"SELECT table_name::text AS "name!" FROM information_schema.tables
        WHERE table_schema = $1 AND table_type = 'BASE TABLE'
          AND table_name NOT IN ('projector_offsets', 'projected_offsets', '_sqlx_migrations')
        ORDER BY table_name COLLATE "C""#,
        schema
    )
    .fetch_all(pool)
    .await?;
    let mut hasher = Sha256::new();
    for table in tables {
        hasher.update(format!("table {table}\n").as_bytes());
        // Names come from the catalog and are quoted; nothing here is input.
        let sql = format!(
            "SELECT t::text FROM {}.{} AS t ORDER BY t::text COLLATE \"C\"",
            quote_identifier(schema),
            quote_identifier(&table)
        );
        let mut rows = sqlx::query(AssertSqlSafe(sql)).fetch(pool);
        while let Some(row) = rows.try_next().await? {
            let text: String = row.try_get(0)?;
            hasher.update(text.as_bytes());
            hasher.update(b"\n");
        }
    }
    Ok(hex(hasher))
}

/// `document` with its keys sorted at every level.
fn canonical(document: &Document) -> Document {
    let mut entries: Vec<(&String, &Bson)> = document.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
        .into_iter()
        .map(|(key, value)| (key.clone(), canonical_value(value)))
        .collect()
}

fn canonical_value(value: &Bson) -> Bson {
    match value {
        Bson::Document(inner) => Bson::Document(canonical(inner)),
        Bson::Array(items) => Bson::Array(items.iter().map(canonical_value).collect()),
        other => other.clone(),
    }
}

/// The digest of the MongoDB read models in `database`.
pub async fn mongo(database: &Database) -> Result<String, mongodb::error::Error> {
    let mut hasher = Sha256::new();
    let names = Collection::ALL
        .iter()
        .map(|c| c.name())
        .chain(std::iter::once(POSITIONS));
    for name in names {
        hasher.update(format!("collection {name}\n").as_bytes());
        let mut documents = database
            .collection::<Document>(name)
            .find(doc! {})
            .sort(doc! { "_id": 1 })
            .await?;
        while let Some(document) = documents.try_next().await? {
            let json = Bson::Document(canonical(&document)).into_relaxed_extjson();
            hasher.update(json.to_string().as_bytes());
            hasher.update(b"\n");
        }
    }
    Ok(hex(hasher))
}

#[cfg(test)]
mod tests {
    use mongodb::bson::doc;

    use super::canonical;

    #[test]
    fn canonical_documents_ignore_key_order() {
        let a = doc! { "b": 1, "a": { "y": [ { "q": 1, "p": 2 } ], "x": 2 } };
        let b = doc! { "a": { "x": 2, "y": [ { "p": 2, "q": 1 } ] }, "b": 1 };
        assert_eq!(
            mongodb::bson::Bson::Document(canonical(&a))
                .into_relaxed_extjson()
                .to_string(),
            mongodb::bson::Bson::Document(canonical(&b))
                .into_relaxed_extjson()
                .to_string()
        );
    }
}
