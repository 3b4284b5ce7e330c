//! Smoke tests proving the infrastructure is real: Kafka transactions and fencing on
//! the real broker, sqlx migrations on the real PostgreSQL, and the mongodb driver on
//! the real FerretDB. `make test` provisions them first (`cloudcord infra up`).
//!
//! Each test isolates itself with unique topic, transactional id, database and
//! collection names, so tests run in parallel and reruns never collide.

mod files;
mod kafka_topics;
mod kafka_transactions;
mod mongo;
mod postgres;
mod support;
