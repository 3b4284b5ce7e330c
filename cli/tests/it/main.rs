//! Integration tests of the `cloudcord` command against real servers it provisions.

mod audit;
mod files;
mod kafka_tls;
mod read_states;
mod readiness;
mod twilight;
mod voice;
