//! The SFU's integration tests, one binary: the sans-IO core with str0m client peers
//! on a simulated clock ([`core`]); the endpoint and media loop over real sockets
//! ([`signalling`]); two Chromium instances through the SFU ([`browser`], ignored
//! unless asked for).

mod browser;
mod core;
mod signalling;
