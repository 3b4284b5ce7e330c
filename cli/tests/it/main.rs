//! Integration tests of the `cloudcord` command against real servers it provisions.

mod audit;
mod readiness;
mod twilight;
mod voice;
