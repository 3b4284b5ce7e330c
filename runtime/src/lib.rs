//! # cloudcord-runtime
//!
//! The plumbing every CloudCord service shares, so that each service crate holds only
//! its own domain logic. Nothing here knows about guilds or messages; that contract
//! lives in `cloudcord-schemas`.
//!
//! Module map:
//! - [`config`]: typed, layered configuration (defaults → file → `CLOUDCORD__…` env).
//! - [`telemetry`]: the `tracing` subscriber (JSON for machines, compact for people)
//!   and [`telemetry::ErrorChain`] for logging errors with their causes.
//! - [`readiness`]: the [`readiness::DependencyCheck`] trait and the readiness report.
//! - [`admin`]: the admin HTTP server with `/metrics`, `/healthz` and `/readyz`.
//! - [`auth`]: password hashing, signing keys and JWKS, access tokens, bot tokens.
//! - [`http_error`]: Discord-shaped HTTP errors for the write and read APIs.
//! - [`origin`]: the `Origin` allowlist for browsers (REST and the gateway).
//! - [`rate_limit`]: Discord's REST rate limits (per-route buckets, the global limit,
//!   their headers) as a layer over a service's routes.
//! - [`issuer`]: fetching the token issuer's JWKS.
//! - [`files`]: the file store trait and its GridFS implementation, content sniffing
//!   and the CDN's signed attachment URLs.
//! - [`kafka`], [`postgres`], [`mongo`]: connection settings, client builders and a
//!   readiness check for each store.
//! - [`service`]: [`service::Service`], which runs a service's admin server and tasks
//!   until shutdown.
//! - [`process`]: signal handling and the `main` of every service binary.
//! - [`push`]: the `[push]` settings and the VAPID key of Web Push (RFC 8292).

pub mod admin;
pub mod auth;
pub mod config;
pub mod files;
pub mod http_error;
pub mod http_metrics;
pub mod issuer;
pub mod kafka;
pub mod mongo;
pub mod openapi;
pub mod origin;
pub mod postgres;
pub mod process;
pub mod push;
pub mod rate_limit;
pub mod readiness;
pub mod service;
pub mod telemetry;
