//! The documentation site's tests, one binary for the crate:
//!
//! * [`generated_pages`]: the committed reference pages are what the generator
//!   writes from `schemas/` and `openapi/cloudcord.json` today.
//! * [`runbooks`]: every Prometheus alert has a runbook section.

use std::path::{Path, PathBuf};

mod generated_pages;
mod runbooks;

/// The workspace root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
