//! # cloudcord (the command line)
//!
//! The developer's entry point: provisions the local infrastructure and runs the
//! whole stack in one process, as `make up` and `make test` do.
//!
//! Module map:
//! - [`audit`]: `cloudcord audit export | verify` — an aggregate's event history as
//!   JSON lines, and the offline check of its hash chain.
//! - [`chaos`]: `cloudcord chaos` — faults injected into a multi-process stack on a
//!   three-broker cluster, and a checker for lost or duplicated messages.
//! - [`infra`]: `cloudcord infra up | down | status` — real Kafka, PostgreSQL and
//!   FerretDB on loopback.
//! - [`stack`]: `cloudcord up | down` — every service in-process, behind the front
//!   door.
//! - [`front_door`]: the single origin at `http://127.0.0.1:8080`.
//! - [`bench`](mod@bench): `cloudcord bench write-path` — end-to-end write latency and
//!   throughput next to a bare Kafka hop; `bench gateway-memory | gateway-fanout |
//!   gateway-latency` — the gateway's memory per connection, fan-out per CPU-second
//!   and REST → MESSAGE_CREATE latency, with the project's own gateway load generator.
//! - [`openapi`]: `cloudcord openapi` — the REST API's OpenAPI 3.1 document.
//! - [`read_models`]: `cloudcord replay | digest` and `cloudcord bench replay |
//!   projection-lag` — rebuilding, digesting and measuring the read side.
//! - [`settings`]: what the command reads from the layered configuration.

pub mod audit;
pub mod bench;
pub mod chaos;
pub mod front_door;
pub mod infra;
pub mod openapi;
pub mod read_models;
pub mod settings;
pub mod stack;
