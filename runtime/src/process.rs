//! Process-level concerns: the `main` of every service binary and shutdown on
//! SIGINT/SIGTERM.

use std::error::Error;
use std::process::ExitCode;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use crate::config::Loader;
use crate::telemetry::{self, ErrorChain, TelemetryConfig};

/// The `[telemetry]` section, read on its own before anything else starts.
#[derive(Debug, Default, Deserialize)]
pub struct TelemetrySection {
    /// Logging settings.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
}

/// Runs a service binary: loads its configuration, installs logging, starts a tokio
/// runtime and calls `run` with a token that is cancelled on SIGINT or SIGTERM.
///
/// Failures are logged with their causes and turn into a non-zero exit code.
pub fn run_service<C, F, Fut, E>(service: &'static str, run: F) -> ExitCode
where
    C: DeserializeOwned,
    F: FnOnce(C, CancellationToken) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Error + 'static,
{
    let loader = Loader::from_environment();
    let setup = loader
        .load::<TelemetrySection>()
        .map_err(Box::<dyn Error>::from)
        .and_then(|section| Ok(telemetry::init(&section.telemetry)?))
        .and_then(|()| Ok(loader.load::<C>()?));
    let config = match setup {
        Ok(config) => config,
        Err(error) => {
            report_before_logging(service, error.as_ref());
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(error = %ErrorChain(&error), "cannot start the tokio runtime");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        tokio::spawn(cancel_on_signal(shutdown.clone()));
        match run(config, shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                tracing::error!(service, error = %ErrorChain(&error), "service failed");
                ExitCode::FAILURE
            }
        }
    })
}

#[expect(
    clippy::print_stderr,
    reason = "logging may not be installed yet, and this must reach the operator"
)]
fn report_before_logging(service: &str, error: &(dyn Error + 'static)) {
    eprintln!("{service}: cannot start: {}", ErrorChain(error));
}

/// Cancels `token` on the first SIGINT (Ctrl-C) or SIGTERM (Kubernetes, `make down`).
pub async fn cancel_on_signal(token: CancellationToken) {
    let (mut interrupt, mut terminate) = match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(interrupt), Ok(terminate)) => (interrupt, terminate),
        (Err(error), _) | (_, Err(error)) => {
            tracing::error!(error = %ErrorChain(&error), "cannot listen for shutdown signals");
            return;
        }
    };
    let name = tokio::select! {
        _ = interrupt.recv() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
        () = token.cancelled() => return,
    };
    tracing::info!(signal = name, "shutting down");
    token.cancel();
}
