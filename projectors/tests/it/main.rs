//! Integration tests against the real Kafka, PostgreSQL and FerretDB the project
//! provisions (`make test` starts them), each in its own topics, schema and database.

mod crash_recovery;
mod file_sweeper;
mod replay;
mod scaling;
mod sequence_checks;
mod support;
