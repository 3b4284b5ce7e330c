//! Logging through `tracing`: JSON lines for log collectors, a compact coloured
//! format for people running the dev stack.

use std::error::Error;
use std::fmt;

use serde::Deserialize;
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line on stdout (the default, for collectors).
    #[default]
    Json,
    /// Compact human-readable lines on stderr.
    Pretty,
}

/// The `[telemetry]` settings section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct TelemetryConfig {
    /// Output format.
    pub format: LogFormat,
    /// A `tracing` filter directive, e.g. `info,cloudcord_runtime=debug`.
    pub filter: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Json,
            filter: "info".to_owned(),
        }
    }
}

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The filter directive does not parse.
    #[error("invalid telemetry.filter {filter:?}")]
    Filter {
        /// The rejected directive.
        filter: String,
        /// What the parser said.
        source: tracing_subscriber::filter::ParseError,
    },
    /// Another subscriber was installed first.
    #[error("a tracing subscriber is already installed")]
    AlreadyInstalled(#[source] Box<dyn Error + Send + Sync>),
}

/// Installs the global `tracing` subscriber for this process.
pub fn init(config: &TelemetryConfig) -> Result<(), TelemetryError> {
    let filter = EnvFilter::try_new(&config.filter).map_err(|source| TelemetryError::Filter {
        filter: config.filter.clone(),
        source,
    })?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match config.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_writer(std::io::stdout)
            .try_init(),
        LogFormat::Pretty => builder
            .compact()
            .with_target(false)
            .with_writer(std::io::stderr)
            .try_init(),
    }
    .map_err(TelemetryError::AlreadyInstalled)
}

/// Logs to the test harness's captured output, which a failing test prints:
/// warnings and errors, or what `RUST_LOG` selects. Integration tests call it
/// first; only the first call of a test binary installs it.
pub fn init_for_tests() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_test_writer()
        .try_init();
}

/// Displays an error followed by each of its causes: `outer: inner: root`.
///
/// Log errors as `error = %ErrorChain(&err)` so the root cause is never lost. A cause
/// whose text its parent already printed (many libraries embed it) is not repeated.
pub struct ErrorChain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut previous = self.0.to_string();
        f.write_str(&previous)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            if !previous.contains(&text) {
                write!(f, ": {text}")?;
            }
            previous = text;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorChain;

    #[derive(Debug, thiserror::Error)]
    #[error("{message}")]
    struct Layer {
        message: &'static str,
        #[source]
        source: Option<Box<Layer>>,
    }

    fn chain(messages: &[&'static str]) -> Layer {
        messages
            .iter()
            .rev()
            .fold(None, |source, message| {
                Some(Layer {
                    message,
                    source: source.map(Box::new),
                })
            })
            .expect("at least one layer")
    }

    #[test]
    fn every_cause_is_shown_outermost_first() {
        let error = chain(&["starting failed", "connecting failed", "connection refused"]);
        assert_eq!(
            ErrorChain(&error).to_string(),
            "starting failed: connecting failed: connection refused"
        );
    }

    #[test]
    fn a_cause_already_embedded_in_its_parent_is_not_repeated() {
        let error = chain(&["fetch failed: transport failure", "transport failure"]);
        assert_eq!(
            ErrorChain(&error).to_string(),
            "fetch failed: transport failure"
        );
    }
}
