//! The gateway protocol without I/O, in the style of str0m: no sockets, no tokio, no
//! clock — every time-dependent call takes `now`. Errors are bad input (a close
//! code); a panic would be a broken invariant.
//!
//! - [`payload`]: opcodes, decoding what clients send, rendering what we send.
//! - [`close_code`]: 4000–4014 and whether a client may reconnect or resume.
//! - [`intents`]: the intent bits, privileged intents, validation.
//! - [`connection`]: [`connection::Connection`], one socket's state machine (Hello,
//!   Identify, Resume, heartbeats, zombies, flood and size limits).
//! - [`session`]: [`session::Session`], what survives a connection (sequence numbers,
//!   replay buffer, intents and content filtering).
//! - [`dispatch`]: [`dispatch::Dispatch`], an event rendered once for all sessions.
//! - [`compression`]: `zlib-stream`, `zstd-stream` and payload compression.
//! - [`query`]: the connection URL's `v`, `encoding` and `compress`.

pub mod close_code;
pub mod compression;
pub mod connection;
pub mod dispatch;
pub mod intents;
pub mod payload;
pub mod query;
pub mod session;
