//! [`InfraError`]: every failure names the component, the step and the log to read.

use std::error::Error;
use std::fmt;
use std::path::{Path, PathBuf};

/// A provisioning step that failed.
#[derive(Debug)]
pub struct InfraError {
    /// `kafka`, `postgres`, `ferretdb` or `tools`.
    pub component: &'static str,
    /// What was being done, e.g. `fetching broker jars with Maven`.
    pub step: String,
    /// The log file that says more, when there is one.
    pub log: Option<PathBuf>,
    source: Box<dyn Error + Send + Sync>,
}

impl InfraError {
    /// A failure of `step` of `component` caused by `source`.
    pub fn new(
        component: &'static str,
        step: impl Into<String>,
        source: impl Into<Box<dyn Error + Send + Sync>>,
    ) -> Self {
        Self {
            component,
            step: step.into(),
            log: None,
            source: source.into(),
        }
    }

    /// Points the reader at `log` for the details.
    pub fn with_log(mut self, log: &Path) -> Self {
        self.log = Some(log.to_owned());
        self
    }
}

impl fmt::Display for InfraError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} failed", self.component, self.step)?;
        if let Some(log) = &self.log {
            write!(f, " (read {})", log.display())?;
        }
        Ok(())
    }
}

impl Error for InfraError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(self.source.as_ref())
    }
}

/// The last `lines` lines of a log file, for error reports.
pub fn log_tail(log: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
