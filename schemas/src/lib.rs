//! # cloudcord-schemas
//!
//! The contract shared by every CloudCord service and by the data teams that consume
//! CloudCord's Kafka topics: snowflake identifiers, commands, events and their
//! envelope, topic names, the pure permission calculation, and the schema files
//! generated from these types.
//!
//! This crate stays free of I/O (no tokio, sqlx or rdkafka): it is plain data and pure
//! functions, so every consumer — including other languages, through the schema
//! files — can rely on it. Its README is the guide for data teams; the documentation
//! site's event reference (`docs/src/reference/events/`) is generated from its schema
//! files.

// The published contract: every public item is documented, in every build (the
// workspace only warns, and CI turns warnings into errors; here a plain build fails).
#![deny(missing_docs)]

pub mod catalog;
pub mod dm_channel;
pub mod envelope;
pub mod ephemeral;
pub mod events;
pub mod guild;
pub mod ids;
pub mod message;
pub mod permissions;
pub mod timestamp;
pub mod topics;
pub mod upcast;
pub mod user;
pub mod username_claim;
