//! What query-api reads: the relational read models in PostgreSQL ([`postgres`]) and
//! the message documents and audit log in MongoDB ([`mongo`]), both written by the
//! projectors, and bots' session starts, written by the gateway
//! ([`session_starts`]). Nothing here writes.

pub mod mongo;
pub mod postgres;
pub mod session_starts;
