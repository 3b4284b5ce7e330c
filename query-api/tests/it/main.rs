//! query-api's read routes against the real PostgreSQL and FerretDB that `make test`
//! provisions. Each test projects its own scenario, through the projectors' own
//! projection and stores, into a fresh schema and database, and serves the router
//! over them on port 0.

mod access;
mod cdn;
mod mentions;
mod messages;
mod openapi;
mod rate_limits;
mod read_your_writes;
mod routes;
mod session_starts;
mod support;
