//! Readiness: a service is ready only while every dependency it needs answers.
//!
//! Checks run when `/readyz` is asked (not on a timer), concurrently and each under a
//! deadline, so a probe reflects the dependencies' state at that moment and a dead
//! dependency can never hang the probe.

use std::collections::BTreeMap;
use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::{BoxFuture, join_all};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use serde::Serialize;

use crate::telemetry::ErrorChain;

/// Why a dependency is not answering.
pub type CheckError = Box<dyn Error + Send + Sync>;

/// One dependency a service needs in order to do its work.
pub trait DependencyCheck: Send + Sync + 'static {
    /// The dependency's name in reports and metric labels, e.g. `kafka`.
    fn name(&self) -> &'static str;

    /// Answers `Ok` when the dependency serves requests right now.
    fn check(&self) -> BoxFuture<'_, Result<(), CheckError>>;
}

/// How long one check may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DependencyLabel {
    dependency: &'static str,
}

/// The outcome of one readiness probe, as served by `/readyz`.
#[derive(Debug, Serialize)]
pub struct ReadinessReport {
    /// True when every check passed.
    pub ready: bool,
    /// `"ok"` or the failure (with causes) per dependency.
    pub checks: BTreeMap<&'static str, String>,
}

/// The set of checks of one service, with their metrics.
#[derive(Clone)]
pub struct Readiness {
    checks: Vec<Arc<dyn DependencyCheck>>,
    up: Family<DependencyLabel, Gauge>,
    duration: Family<DependencyLabel, Histogram>,
}

impl Readiness {
    /// Creates the checks and registers their metrics in `registry`.
    pub fn new(checks: Vec<Arc<dyn DependencyCheck>>, registry: &mut Registry) -> Self {
        let up = Family::<DependencyLabel, Gauge>::default();
        let duration = Family::<DependencyLabel, Histogram>::new_with_constructor(|| {
            Histogram::new([0.001, 0.005, 0.025, 0.1, 0.5, 1.0, 3.0])
        });
        registry.register(
            "dependency_up",
            "Whether the dependency answered the last readiness check (1) or not (0)",
            up.clone(),
        );
        registry.register_with_unit(
            "dependency_check_duration",
            "Time taken by readiness checks of a dependency",
            prometheus_client::registry::Unit::Seconds,
            duration.clone(),
        );
        Self {
            checks,
            up,
            duration,
        }
    }

    /// Runs every check concurrently and reports the result.
    pub async fn report(&self) -> ReadinessReport {
        let outcomes = join_all(self.checks.iter().map(|check| async move {
            let started = Instant::now();
            let outcome = match tokio::time::timeout(CHECK_TIMEOUT, check.check()).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(error)) => Err(ErrorChain(error.as_ref()).to_string()),
                Err(_) => Err(format!("no answer within {CHECK_TIMEOUT:?}")),
            };
            let label = DependencyLabel {
                dependency: check.name(),
            };
            self.duration
                .get_or_create(&label)
                .observe(started.elapsed().as_secs_f64());
            self.up
                .get_or_create(&label)
                .set(i64::from(outcome.is_ok()));
            if let Err(error) = &outcome {
                tracing::warn!(dependency = check.name(), %error, "dependency not ready");
            }
            (check.name(), outcome)
        }))
        .await;
        ReadinessReport {
            ready: outcomes.iter().all(|(_, outcome)| outcome.is_ok()),
            checks: outcomes
                .into_iter()
                .map(|(name, outcome)| (name, outcome.err().unwrap_or_else(|| "ok".to_owned())))
                .collect(),
        }
    }
}
