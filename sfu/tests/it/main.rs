//! The SFU's integration tests, one binary: the sans-IO core with str0m client peers
//! on a simulated clock ([`core`]); the endpoint and media loop over real sockets
//! ([`signalling`]).

mod core;
mod signalling;
