//! Integration tests of the `cloudcord` command against real servers it provisions.

mod audit;
mod kafka_tls;
mod readiness;
mod twilight;
mod voice;
