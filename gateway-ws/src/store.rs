//! [`GatewayStore`]: the gateway's own tables in PostgreSQL, in a schema of their
//! own (`[gateway_ws.sessions] store_schema`) beside the read models, which belong
//! to the projectors. The schema is created and migrated from
//! `gateway-ws/migrations` at start-up; every gateway process shares it.
//!
//! The tables' users keep their own queries ([`crate::handover::store`]); they
//! share this pool, so the gateway holds one set of connections to its schema.

use cloudcord_runtime::postgres::PostgresConfig;
use sqlx::PgPool;
use sqlx::migrate::MigrateError;

/// The pool to the gateway's schema, and its migrations.
#[derive(Debug, Clone)]
pub struct GatewayStore {
    pool: PgPool,
    schema: String,
    postgres: PostgresConfig,
}

impl GatewayStore {
    /// The store in `schema` of `postgres`: connections resolve unqualified table
    /// names there. Connects on first use, so the gateway starts (unready) while
    /// the database is down.
    pub fn connect_lazy(postgres: &PostgresConfig, schema: &str) -> Result<Self, sqlx::Error> {
        Ok(Self {
            pool: postgres.lazy_schema_pool(schema)?,
            schema: schema.to_owned(),
            postgres: postgres.clone(),
        })
    }

    /// Creates the schema and its tables (idempotent; several processes may race).
    pub async fn migrate(&self) -> Result<(), MigrateError> {
        self.postgres.create_schema(&self.schema).await?;
        sqlx::migrate!("./migrations").run(&self.pool).await
    }

    /// The pool, whose connections use the gateway's schema.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}
