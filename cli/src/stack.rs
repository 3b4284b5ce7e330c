//! `cloudcord up` and `cloudcord down`: every service in one process for development,
//! behind the front door, with the local infrastructure under it.
//!
//! The services never depend on each other's crates; this module is the one place
//! that composes them. A pid file in the state directory makes a second `up` a
//! quick no-op and lets `down` stop the foreground stack from another terminal.

use std::error::Error;
use std::fs;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use cloudcord_runtime::auth::{MediaTokenVerifier, TokenVerifier, VerifyingKeys};
use cloudcord_runtime::config::Loader;
use cloudcord_runtime::files::FilesConfig;
use cloudcord_runtime::telemetry::ErrorChain;
use nix::sys::signal::Signal;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use {
    cloudcord_command_api as command_api, cloudcord_gateway_ws as gateway_ws,
    cloudcord_projectors as projectors, cloudcord_query_api as query_api, cloudcord_sfu as sfu,
};

use crate::front_door;
use crate::infra::process::Daemon;
use crate::settings::Settings;

/// Tasks of the stack; the first to fail stops the others.
type Tasks = JoinSet<anyhow::Result<()>>;

/// The foreground stack, known by its pid file like the infrastructure's servers.
/// The file is named after the front door's port: a stack on other ports (the web
/// client's end-to-end tests beside a `make up`) is another stack on the same
/// infrastructure, not the same one running twice.
fn stack_process(settings: &Settings) -> Daemon {
    let port = settings.front_door.listen_addr.port();
    Daemon {
        component: "stack",
        pid_file: settings.infra.state_dir.join(format!("stack-{port}.pid")),
        log: settings.infra.state_dir.join("logs/stack.log"),
    }
}

/// Runs every service and the front door until `shutdown` is cancelled. Returns at
/// once when a stack is already running.
pub async fn run(
    loader: &Loader,
    settings: &Settings,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let stack = stack_process(settings);
    let pid_file = &stack.pid_file;
    if let Some(pid) = stack.running_pid() {
        tracing::info!(
            %pid,
            url = %format!("http://{}", settings.front_door.listen_addr),
            "the CloudCord stack is already running; stop it with `make down`"
        );
        return Ok(());
    }
    fs::write(pid_file, format!("{}\n", std::process::id()))
        .with_context(|| format!("writing {}", pid_file.display()))?;

    let mut tasks = Tasks::new();
    // command-api's HTTP state (command bus, accounts projection, signing key) and
    // query-api's context are shared by their own listeners and the front door's `/api`.
    let mut command_config: command_api::Config = loader
        .load()
        .with_context(|| format!("loading the configuration of {}", command_api::NAME))?;
    cdn_at_front_door(&mut command_config.files, settings);
    let api_state = command_config
        .http_state(shutdown.clone())
        .await
        .context("starting command-api's HTTP API")?;
    let writes = command_api::http::routes(api_state.clone());
    // query-api verifies tokens with the issuer's public keys, handed over in-process
    // (on its own it fetches them from command-api's JWKS URL).
    let mut query_config: query_api::Config = loader
        .load()
        .with_context(|| format!("loading the configuration of {}", query_api::NAME))?;
    cdn_at_front_door(&mut query_config.files, settings);
    let verifier = TokenVerifier::from_jwks(&api_state.issuer().jwks(), &query_config.auth)
        .context("verifying with the issuer's JWKS")?;
    let query_context = query_config
        .http_context(verifier)
        .await
        .context("starting query-api's HTTP API")?;
    let reads = query_api::http::routes(query_context.clone());
    // The gateway's sessions are served both on its own listener and at the front
    // door's `/gateway`, so both share one `Gateway` (one hub, one Kafka consumer).
    let mut gateway_config: gateway_ws::Config = loader
        .load()
        .with_context(|| format!("loading the configuration of {}", gateway_ws::NAME))?;
    // The web client is served by the front door: its pages may open the gateway
    // wherever the front door listens.
    gateway_config
        .gateway_ws
        .http
        .allowed_origins
        .push(format!("http://{}", settings.front_door.listen_addr));
    cdn_at_front_door(&mut gateway_config.files, settings);
    // Op 4 calls command-api's voice routes, which the front door serves.
    gateway_config.gateway_ws.http.command_api_url =
        format!("http://{}", settings.front_door.listen_addr);
    let gateway_verifier =
        TokenVerifier::from_jwks(&api_state.issuer().jwks(), &gateway_config.auth)
            .context("verifying with the issuer's JWKS")?;
    let gateway = gateway_config
        .gateway(gateway_verifier, shutdown.clone())
        .context("starting the gateway")?;
    let gateway_listener = TcpListener::bind(gateway_config.gateway_ws.http.listen_addr)
        .await
        .with_context(|| {
            format!(
                "listening on {} for the gateway (set gateway_ws.http.listen_addr)",
                gateway_config.gateway_ws.http.listen_addr
            )
        })?;
    let gateway_admin = gateway_config.gateway_ws.admin.listen_addr;
    let socket = gateway_ws::router(gateway.clone());
    let token = shutdown.clone();
    tasks.spawn(async move {
        gateway_ws::serve(gateway_config, gateway, gateway_listener, token)
            .await
            .with_context(|| format!("{} failed", gateway_ws::NAME))
    });
    // The SFU checks media tokens with the issuer's keys, handed over in-process too;
    // its signalling is served at the front door's `/sfu`, its media on its own socket.
    let sfu_config: sfu::Config = loader
        .load()
        .with_context(|| format!("loading the configuration of {}", sfu::NAME))?;
    let sfu_keys = VerifyingKeys::from_jwks(&api_state.issuer().jwks())
        .context("verifying with the issuer's JWKS")?;
    let sfu_verifier = MediaTokenVerifier::new(sfu_keys, &sfu_config.auth);
    let sfu_admin = sfu_config.sfu.admin.listen_addr;
    let sfu_socket = sfu_config.bind_media().await?;
    let (media, sfu_service) = sfu::prepare(sfu_config, sfu_verifier, sfu_socket)?;
    let token = shutdown.clone();
    tasks.spawn(async move {
        sfu_service
            .run(token)
            .await
            .with_context(|| format!("{} failed", sfu::NAME))
    });
    let query_admin = query_config.query_api.admin.listen_addr;
    let command_admin = command_config.admin_addr();
    let token = shutdown.clone();
    tasks.spawn(async move {
        command_api::run_with_state(command_config, api_state, token)
            .await
            .with_context(|| format!("{} failed", command_api::NAME))
    });
    let token = shutdown.clone();
    tasks.spawn(async move {
        query_api::run_with_context(query_config, query_context, token)
            .await
            .with_context(|| format!("{} failed", query_api::NAME))
    });
    let services = vec![
        (command_api::NAME, command_admin),
        (query_api::NAME, query_admin),
        spawn(
            &mut tasks,
            loader,
            &shutdown,
            projectors::NAME,
            projectors::run,
            |c: &projectors::Config| c.projectors.admin.listen_addr,
        )?,
        (gateway_ws::NAME, gateway_admin),
        (sfu::NAME, sfu_admin),
    ];
    let front = settings.front_door.clone();
    let token = shutdown.clone();
    let routes = front_door::Routes {
        writes,
        reads,
        gateway: socket,
        media,
    };
    tasks.spawn(async move { Ok(front_door::serve(front, services, routes, token).await?) });

    let mut failure = None;
    while let Some(joined) = tasks.join_next().await {
        let outcome = joined
            .map_err(anyhow::Error::from)
            .and_then(|result| result);
        if let Err(error) = outcome {
            tracing::error!(error = %ErrorChain(error.as_ref()), "stopping the stack");
            shutdown.cancel();
            failure.get_or_insert(error);
        }
    }
    let _ = fs::remove_file(pid_file);
    failure.map_or(Ok(()), Err)
}

/// Attachment URLs point at the front door, which serves `/cdn`, wherever it
/// listens (tests run stacks on free ports) — unless `[files] cdn_url` was set.
fn cdn_at_front_door(files: &mut FilesConfig, settings: &Settings) {
    if files.cdn_url == FilesConfig::default().cdn_url {
        files.cdn_url = format!("http://{}/cdn", settings.front_door.listen_addr);
    }
}

/// Loads a service's configuration and runs it as a task; returns its name and
/// admin address for the front door's page.
fn spawn<C, F, Fut, E>(
    tasks: &mut Tasks,
    loader: &Loader,
    shutdown: &CancellationToken,
    name: &'static str,
    run: F,
    admin: impl Fn(&C) -> SocketAddr,
) -> anyhow::Result<(&'static str, SocketAddr)>
where
    C: DeserializeOwned + Send + 'static,
    F: FnOnce(C, CancellationToken) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Error + Send + Sync + 'static,
{
    let config: C = loader
        .load()
        .with_context(|| format!("loading the configuration of {name}"))?;
    let admin = admin(&config);
    let token = shutdown.clone();
    tasks.spawn(async move {
        run(config, token)
            .await
            .with_context(|| format!("{name} failed"))
    });
    Ok((name, admin))
}

/// Stops a stack started by `up` in another terminal, if one runs (SIGTERM, then
/// SIGKILL after 15 s).
pub async fn stop(settings: &Settings) -> anyhow::Result<()> {
    let stack = stack_process(settings);
    if let Some(pid) = stack.running_pid() {
        tracing::info!(%pid, "stopping the CloudCord stack");
    }
    Ok(stack.stop(Signal::SIGTERM, Duration::from_secs(15)).await?)
}
