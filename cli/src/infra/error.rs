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

/// How much of a log's end [`log_excerpt`] reads: a few runs of a server's start-up.
const EXCERPT_WINDOW: usize = 1000;
/// At most this many error lines in an excerpt.
const EXCERPT_ERRORS: usize = 12;
/// The log's last lines an excerpt ends with.
const EXCERPT_TAIL: usize = 10;

/// What a failed server's log says, for error reports: the distinct lines near its
/// end that report an error or its cause, then its last lines. A Kafka node that
/// cannot bind its port logs the cause once per layer of its start-up and then
/// hundreds of lines of orderly shutdown, so its tail alone says nothing.
pub fn log_excerpt(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    let recent = &all[all.len().saturating_sub(EXCERPT_WINDOW)..];
    let mut errors: Vec<&str> = Vec::new();
    for line in recent.iter().rev() {
        if errors.len() < EXCERPT_ERRORS && reports_error(line) && !errors.contains(line) {
            errors.push(line);
        }
    }
    errors.reverse();
    let tail = &recent[recent.len().saturating_sub(EXCERPT_TAIL)..];
    let mut excerpt = String::new();
    if !errors.is_empty() {
        excerpt.push_str(&format!(
            "errors it reported last:\n{}\n",
            errors.join("\n")
        ));
    }
    excerpt.push_str(&format!("its last lines:\n{}", tail.join("\n")));
    excerpt
}

/// Whether a log line reports an error: a level (Kafka's `ERROR`, PostgreSQL's
/// `FATAL:`, FerretDB's `level=ERROR`) or a line of a JVM exception's cause chain.
fn reports_error(line: &str) -> bool {
    line.contains("ERROR")
        || line.contains("FATAL")
        || line.starts_with("Caused by: ")
        || line.split_once(": ").is_some_and(|(head, _)| {
            head.ends_with("Exception") && !head.contains(char::is_whitespace)
        })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::log_excerpt;

    fn write_log(text: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("cloudcord-log-{}", uuid::Uuid::new_v4()));
        std::fs::write(&path, text).expect("writing the log");
        path
    }

    #[test]
    fn an_excerpt_shows_each_error_once_before_the_shutdown_noise() {
        let mut text = String::from("1 [main] INFO kafka.Kafka - starting\n");
        for layer in ["DataPlaneAcceptor", "BrokerServer"] {
            text.push_str(&format!(
                "7 [main] ERROR kafka.{layer} - Unable to start acceptor\n\
                 org.apache.kafka.common.KafkaException: Socket server failed to bind to \
                 127.0.0.1:49092: Address already in use.\n\
                 \tat kafka.network.Acceptor.openServerSocket(SocketServer.scala:730)\n\
                 Caused by: java.net.BindException: Address already in use\n"
            ));
        }
        for n in 0..300 {
            text.push_str(&format!(
                "8 [kafka-shutdown-hook] INFO shutting down part {n}\n"
            ));
        }
        let log = write_log(&text);

        let excerpt = log_excerpt(&log);
        std::fs::remove_file(log).expect("removing the log");

        let (errors, tail) = excerpt.split_once("its last lines:\n").expect("a tail");
        assert_eq!(
            errors.lines().collect::<Vec<_>>(),
            [
                "errors it reported last:",
                "7 [main] ERROR kafka.DataPlaneAcceptor - Unable to start acceptor",
                "7 [main] ERROR kafka.BrokerServer - Unable to start acceptor",
                "org.apache.kafka.common.KafkaException: Socket server failed to bind to \
                 127.0.0.1:49092: Address already in use.",
                "Caused by: java.net.BindException: Address already in use",
            ]
        );
        assert_eq!(tail.lines().count(), 10);
        assert!(tail.ends_with("shutting down part 299"));
    }

    #[test]
    fn an_excerpt_of_a_log_without_errors_is_its_tail() {
        let log = write_log("LOG:  starting\nLOG:  ready\n");

        let excerpt = log_excerpt(&log);
        std::fs::remove_file(log).expect("removing the log");

        assert_eq!(excerpt, "its last lines:\nLOG:  starting\nLOG:  ready");
    }
}
