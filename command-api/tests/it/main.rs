//! The command path against the real Kafka broker that `make test` provisions.
//! Each test uses its own topic prefix, so tests run in parallel and never collide.

mod bot_authorization;
mod http;
mod message_index;
mod oauth;
mod processor;
mod push;
mod rate_limits;
mod read_states;
mod support;
mod uploads;
