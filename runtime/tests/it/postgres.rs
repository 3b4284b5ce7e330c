//! sqlx against the real PostgreSQL: migrations run and a query round-trips, in a
//! database of the test's own.

use cloudcord_runtime::postgres::PostgresConfig;
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection, Row};

use crate::support::{stores, unique};

/// A fresh database, dropped again by [`TestDatabase::drop_now`].
struct TestDatabase {
    admin: PgConnection,
    name: String,
}

impl TestDatabase {
    async fn create(config: &PostgresConfig) -> (Self, sqlx::PgPool) {
        let options = config.connect_options().expect("postgres.url parses");
        let mut admin = PgConnection::connect_with(&options)
            .await
            .expect("the project's PostgreSQL answers (run `make test`, which starts it)");
        let name = unique("smoke");
        // The name is ours (a UUID), not input.
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create database");
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .connect_with(options.database(&name))
            .await
            .expect("connect to the test database");
        (Self { admin, name }, pool)
    }

    async fn drop_now(mut self, pool: sqlx::PgPool) {
        pool.close().await;
        sqlx::query(AssertSqlSafe(format!(
            "DROP DATABASE {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut self.admin)
        .await
        .expect("drop database");
    }
}

#[tokio::test]
async fn migrations_run_and_a_query_round_trips() {
    let (database, pool) = TestDatabase::create(&stores().postgres).await;

    sqlx::migrate!("tests/it/migrations")
        .run(&pool)
        .await
        .expect("migrations apply");

    let inserted = sqlx::query("INSERT INTO smoke_notes (body) VALUES ($1) RETURNING id")
        .bind("hello from sqlx")
        .fetch_one(&pool)
        .await
        .expect("insert");
    let id: i64 = inserted.get("id");
    let row = sqlx::query("SELECT body FROM smoke_notes WHERE id = $1")
        .bind(id)
        .fetch_one(&pool)
        .await
        .expect("select");
    assert_eq!(row.get::<String, _>("body"), "hello from sqlx");

    let applied: i64 = sqlx::query("SELECT count(*) AS n FROM _sqlx_migrations WHERE success")
        .fetch_one(&pool)
        .await
        .expect("migration bookkeeping")
        .get("n");
    assert_eq!(applied, 1);

    database.drop_now(pool).await;
}

#[tokio::test]
async fn instances_starting_together_all_create_the_schema() {
    let (database, pool) = TestDatabase::create(&stores().postgres).await;
    let mut config = stores().postgres;
    config.url = format!(
        "{}/{}",
        config
            .url
            .rsplit_once('/')
            .expect("a URL with a database")
            .0,
        database.name
    );
    // Every instance checks "if not exists" before any has created it.
    let schema = unique("schema");
    let starts = (0..8).map(|_| config.create_schema(&schema));
    for created in futures::future::join_all(starts).await {
        created.expect("a concurrent start creates the schema or finds it");
    }
    let found: i64 = sqlx::query("SELECT count(*) FROM pg_namespace WHERE nspname = $1")
        .bind(&schema)
        .fetch_one(&pool)
        .await
        .expect("count schemas")
        .get(0);
    assert_eq!(found, 1);
    database.drop_now(pool).await;
}
