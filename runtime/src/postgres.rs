//! PostgreSQL connection settings, the pool builder and the readiness check.

use std::str::FromStr;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::Deserialize;
use sqlx::PgPool;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::readiness::{CheckError, DependencyCheck};

/// The `[postgres]` settings section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct PostgresConfig {
    /// A `postgres://user:password@host:port/database` URL.
    pub url: String,
    /// Upper bound on pooled connections per process.
    pub max_connections: u32,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        Self {
            url: "postgres://cloudcord:cloudcord@127.0.0.1:5432/cloudcord".to_owned(),
            max_connections: 10,
        }
    }
}

impl PostgresConfig {
    /// Parsed connection options (host, port, credentials, database).
    pub fn connect_options(&self) -> Result<PgConnectOptions, sqlx::Error> {
        PgConnectOptions::from_str(&self.url)
    }

    /// [`Self::connect_options`] whose `search_path` is `schema`, so unqualified
    /// table names resolve there: the read models live in a schema of the
    /// projector's choosing (a replay builds a fresh one beside the live one).
    pub fn schema_options(&self, schema: &str) -> Result<PgConnectOptions, sqlx::Error> {
        Ok(self
            .connect_options()?
            .options([("search_path", quote_identifier(schema))]))
    }

    /// Creates `schema` if it does not exist (migrations then fill it through a
    /// pool from [`Self::schema_options`]).
    pub async fn create_schema(&self, schema: &str) -> Result<(), sqlx::Error> {
        use sqlx::Connection as _;
        let mut admin = sqlx::PgConnection::connect_with(&self.connect_options()?).await?;
        let created = sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS {}",
            quote_identifier(schema)
        )))
        .execute(&mut admin)
        .await;
        match created {
            // Two instances starting together both pass the "if not exists" check;
            // the second's insert then collides with the first's (unique_violation).
            Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some("23505") => {}
            other => {
                other?;
            }
        }
        admin.close().await
    }

    /// A pool that connects on first use, so a service starts (unready) while the
    /// database is still down instead of crashing.
    pub fn lazy_pool(&self) -> Result<PgPool, sqlx::Error> {
        Ok(self.lazy_pool_with(self.connect_options()?))
    }

    /// [`Self::lazy_pool`] whose connections use `schema` (see [`Self::schema_options`]).
    pub fn lazy_schema_pool(&self, schema: &str) -> Result<PgPool, sqlx::Error> {
        Ok(self.lazy_pool_with(self.schema_options(schema)?))
    }

    fn lazy_pool_with(&self, options: PgConnectOptions) -> PgPool {
        PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(Duration::from_secs(2))
            .connect_lazy_with(options)
    }
}

/// A schema a service owns (its own tables beside the projectors' read models):
/// a pool whose connections resolve unqualified names there, created and migrated
/// by the service at start-up.
#[derive(Debug, Clone)]
pub struct OwnedSchema {
    pool: PgPool,
    schema: String,
    postgres: PostgresConfig,
}

impl OwnedSchema {
    /// `schema` of `postgres`. Connects on first use, so the service starts
    /// (unready) while the database is down.
    pub fn connect_lazy(postgres: &PostgresConfig, schema: &str) -> Result<Self, sqlx::Error> {
        Ok(Self {
            pool: postgres.lazy_schema_pool(schema)?,
            schema: schema.to_owned(),
            postgres: postgres.clone(),
        })
    }

    /// Creates the schema and runs the service's `migrations` in it (idempotent;
    /// several processes may race).
    pub async fn migrate(&self, migrations: &Migrator) -> Result<(), MigrateError> {
        self.postgres.create_schema(&self.schema).await?;
        migrations.run(&self.pool).await
    }

    /// The pool, whose connections use the schema.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// `name` as a quoted SQL identifier (for the identifiers SQL cannot bind).
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Ready when the database answers `SELECT 1`.
pub struct PostgresCheck {
    pool: PgPool,
}

impl PostgresCheck {
    /// Checks through `pool`, the same pool the service uses.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

impl DependencyCheck for PostgresCheck {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn check(&self) -> BoxFuture<'_, Result<(), CheckError>> {
        Box::pin(async move {
            sqlx::query("SELECT 1").execute(&self.pool).await?;
            Ok(())
        })
    }
}
