//! The contract's integration tests, one binary for the crate:
//!
//! * [`schema_files`]: the committed JSON Schema files under `schemas/json/` match
//!   the Rust types (or are rewritten with `CLOUDCORD_UPDATE_SCHEMAS=1`), and every
//!   published version keeps its file.
//! * [`golden`]: every golden event under `schemas/golden/` — one per event type and
//!   published version — still decodes through the upcasters into today's enums and
//!   matches its schema file.
//! * [`layout`]: where those files live and how their names are read.

mod golden;
mod layout;
mod schema_files;
