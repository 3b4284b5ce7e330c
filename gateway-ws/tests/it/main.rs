//! gateway-ws integration tests: a real WebSocket client against the real router on
//! port 0, over read models projected into a fresh PostgreSQL schema.

mod close_codes;
mod compression;
mod fanout;
mod handover;
mod handshake;
mod member_requests;
mod presence;
mod push;
mod read_states;
mod relationships;
mod resume;
mod service;
mod session_starts;
mod support;
mod voice;
