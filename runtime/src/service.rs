//! [`Service`]: what every CloudCord service process runs — its admin server with the
//! readiness checks of its dependencies — until it is told to shut down.

use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::admin::{self, AdminConfig};
use crate::readiness::{DependencyCheck, Readiness};

/// Why a service stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The admin port is taken or not allowed.
    #[error(
        "{service}: cannot listen on {addr} for the admin server (another process may hold it; change the service's admin.listen_addr)"
    )]
    AdminBind {
        /// The service's name.
        service: &'static str,
        /// The address it tried.
        addr: SocketAddr,
        /// The operating system's answer.
        source: std::io::Error,
    },
    /// The admin server stopped serving.
    #[error("{service}: the admin server failed")]
    AdminServe {
        /// The service's name.
        service: &'static str,
        /// The I/O failure.
        source: std::io::Error,
    },
    /// A store client could not be built from its settings.
    #[error("cannot create the {dependency} client")]
    Client {
        /// `kafka`, `postgres` or `mongo`.
        dependency: &'static str,
        /// The client library's error.
        source: Box<dyn Error + Send + Sync>,
    },
}

impl From<rdkafka::error::KafkaError> for ServiceError {
    fn from(source: rdkafka::error::KafkaError) -> Self {
        Self::Client {
            dependency: "kafka",
            source: source.into(),
        }
    }
}

impl From<sqlx::Error> for ServiceError {
    fn from(source: sqlx::Error) -> Self {
        Self::Client {
            dependency: "postgres",
            source: source.into(),
        }
    }
}

impl From<mongodb::error::Error> for ServiceError {
    fn from(source: mongodb::error::Error) -> Self {
        Self::Client {
            dependency: "mongo",
            source: source.into(),
        }
    }
}

/// The section every service has under its own name (e.g. `[command_api]`), until a
/// service needs settings of its own beside these.
#[derive(Debug, Clone, Deserialize)]
pub struct ServiceSettings {
    /// The admin server (`/metrics`, `/healthz`, `/readyz`).
    pub admin: AdminConfig,
}

impl ServiceSettings {
    /// Settings for a developer machine: the admin server on loopback at `admin_port`.
    pub fn loopback(admin_port: u16) -> Self {
        Self {
            admin: AdminConfig::loopback(admin_port),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildInfo {
    service: &'static str,
    version: &'static str,
}

/// A service process: its name, admin server, metrics registry and dependency checks.
pub struct Service {
    name: &'static str,
    admin: AdminConfig,
    registry: Registry,
    checks: Vec<Arc<dyn DependencyCheck>>,
}

impl Service {
    /// A service with no dependencies yet; its metrics are prefixed `cloudcord_`.
    pub fn new(name: &'static str, admin: AdminConfig) -> Self {
        let mut registry = Registry::with_prefix("cloudcord");
        let build_info = Family::<BuildInfo, Gauge>::default();
        build_info
            .get_or_create(&BuildInfo {
                service: name,
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register(
            "build_info",
            "The running service and its version (always 1)",
            build_info,
        );
        Self {
            name,
            admin,
            registry,
            checks: Vec::new(),
        }
    }

    /// The metrics registry, for the service's own metrics (prefixed `cloudcord_`).
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// Adds a dependency that must answer for the service to be ready.
    pub fn with_check(mut self, check: impl DependencyCheck) -> Self {
        self.checks.push(Arc::new(check));
        self
    }

    /// Binds the configured admin address and serves until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), ServiceError> {
        let addr = self.admin.listen_addr;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServiceError::AdminBind {
                service: self.name,
                addr,
                source,
            })?;
        self.serve(listener, shutdown).await
    }

    /// Serves the admin endpoints on `listener` until `shutdown` is cancelled (tests
    /// pass a listener bound to port 0).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), ServiceError> {
        let Self {
            name,
            mut registry,
            checks,
            ..
        } = self;
        let readiness = Readiness::new(checks, &mut registry);
        let addr = listener
            .local_addr()
            .map_or_else(|_| "unknown".to_owned(), |addr| addr.to_string());
        tracing::info!(service = name, admin_addr = %addr, "service started");
        axum::serve(listener, admin::router(registry, readiness))
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
            .map_err(|source| ServiceError::AdminServe {
                service: name,
                source,
            })?;
        tracing::info!(service = name, "service stopped");
        Ok(())
    }
}
