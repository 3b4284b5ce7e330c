//! What query-api reads: the relational read models in PostgreSQL ([`postgres`]) and
//! the message documents and audit log in MongoDB ([`mongo`]), both written by the
//! projectors. Nothing here writes.

pub mod mongo;
pub mod postgres;
