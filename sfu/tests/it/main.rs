//! The SFU's integration tests, one binary: the sans-IO core with str0m client peers
//! on a simulated clock ([`core`]).

mod core;
