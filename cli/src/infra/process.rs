//! Running the programs that provision and serve the local infrastructure: one-shot
//! setup commands with their output kept in a log, and long-running daemons tracked
//! by pid files so that `up` is idempotent and `down` stops exactly what `up` started.

use std::fs::{self, OpenOptions};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use tokio::process::Command;

use super::error::InfraError;

/// How often a long setup step reports that it is still working.
const PROGRESS_EVERY: Duration = Duration::from_secs(20);

/// Runs a setup command to completion, appending its output to `log` and reporting
/// progress while it takes long (a cold Maven fetch or Go build takes minutes).
pub async fn run_logged(
    component: &'static str,
    step: &str,
    command: &mut Command,
    log: &Path,
) -> Result<(), InfraError> {
    let fail = |source: Box<dyn std::error::Error + Send + Sync>| {
        InfraError::new(component, step, source).with_log(log)
    };
    let out = open_log(log).map_err(|e| fail(e.into()))?;
    let err = out.try_clone().map_err(|e| fail(e.into()))?;
    let program = command.as_std().get_program().to_owned();
    let running = command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .status();
    tokio::pin!(running);
    let started = Instant::now();
    let mut progress =
        tokio::time::interval_at(tokio::time::Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);
    let status = loop {
        tokio::select! {
            status = &mut running => break status,
            _ = progress.tick() => tracing::info!(
                component,
                step,
                elapsed = %format!("{}s", started.elapsed().as_secs()),
                log = %log.display(),
                "still working"
            ),
        }
    }
    .map_err(|e| fail(format!("cannot run {program:?}: {e}").into()))?;
    if status.success() {
        Ok(())
    } else {
        Err(fail(format!("{status}").into()))
    }
}

fn open_log(log: &Path) -> std::io::Result<fs::File> {
    if let Some(dir) = log.parent() {
        fs::create_dir_all(dir)?;
    }
    OpenOptions::new().create(true).append(true).open(log)
}

/// Refuses to start a server on an address another process already listens on (a
/// system PostgreSQL on 5432, a second checkout's Kafka): the server would exit later
/// with the cause deep in its log. `setting` names where the address is configured.
pub fn ensure_free(component: &'static str, addr: &str, setting: &str) -> Result<(), InfraError> {
    match std::net::TcpListener::bind(addr) {
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(InfraError::new(
            component,
            format!("checking that {addr} is free"),
            format!(
                "another process uses {addr} ({e}): stop it, or give {component} a free \
                 port with {setting}"
            ),
        )),
        // Anything else (an unresolvable host, say) the server reports better itself.
        _ => Ok(()),
    }
}

/// A background server process known by its pid file.
#[derive(Debug, Clone)]
pub struct Daemon {
    /// The component it belongs to, for messages.
    pub component: &'static str,
    /// Where the process writes its pid (first line).
    pub pid_file: PathBuf,
    /// Where its output goes.
    pub log: PathBuf,
}

impl Daemon {
    /// The pid of the process if it is alive.
    pub fn running_pid(&self) -> Option<Pid> {
        let text = fs::read_to_string(&self.pid_file).ok()?;
        let pid = Pid::from_raw(text.lines().next()?.trim().parse().ok()?);
        // Signal 0 only asks whether the process exists.
        signal::kill(pid, None).ok()?;
        (!is_zombie(pid)).then_some(pid)
    }

    /// Starts `command` detached from our process group (so Ctrl-C on `make up`
    /// does not kill the infrastructure) and records its pid.
    pub fn spawn(&self, mut command: Command) -> Result<(), InfraError> {
        let fail = |source: std::io::Error| {
            InfraError::new(self.component, "starting the server", source).with_log(&self.log)
        };
        let out = open_log(&self.log).map_err(fail)?;
        let err = out.try_clone().map_err(fail)?;
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .kill_on_drop(false)
            .spawn()
            .map_err(fail)?;
        let pid = child
            .id()
            .ok_or_else(|| fail(std::io::Error::other("the process exited at once")))?;
        fs::write(&self.pid_file, format!("{pid}\n")).map_err(fail)
    }

    /// Sends `stop_signal` and waits up to `grace` for the process to exit, then
    /// kills it.
    pub async fn stop(&self, stop_signal: Signal, grace: Duration) -> Result<(), InfraError> {
        let Some(pid) = self.running_pid() else {
            return Ok(());
        };
        tracing::info!(component = self.component, %pid, "stopping");
        let deadline = Instant::now() + grace;
        let _ = signal::kill(pid, stop_signal);
        while self.running_pid().is_some() {
            if Instant::now() > deadline {
                tracing::warn!(component = self.component, %pid, ?grace, "did not stop in time; killing it");
                let _ = signal::kill(pid, Signal::SIGKILL);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = fs::remove_file(&self.pid_file);
        Ok(())
    }
}

/// A process that has exited but was not yet reaped by its parent still answers
/// signal 0; its state in `/proc` tells the truth.
fn is_zombie(pid: Pid) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

/// Polls `probe` until it succeeds, the daemon dies, or `timeout` passes.
pub async fn wait_until_ready<F, Fut, E>(
    daemon: &Daemon,
    timeout: Duration,
    mut probe: F,
) -> Result<(), InfraError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let started = Instant::now();
    loop {
        let last_error = match probe().await {
            Ok(()) => {
                tracing::info!(
                    component = daemon.component,
                    after = ?started.elapsed(),
                    "ready"
                );
                return Ok(());
            }
            Err(error) => error.to_string(),
        };
        let alive = daemon.running_pid().is_some_and(|pid| !is_zombie(pid));
        if !alive {
            return Err(InfraError::new(
                daemon.component,
                "waiting for readiness",
                format!("the server exited during start-up (last probe: {last_error})"),
            )
            .with_log(&daemon.log));
        }
        if started.elapsed() > timeout {
            return Err(InfraError::new(
                daemon.component,
                "waiting for readiness",
                format!("not ready after {timeout:?} (last probe: {last_error})"),
            )
            .with_log(&daemon.log));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::ensure_free;

    #[test]
    fn an_address_another_process_listens_on_is_refused_with_the_setting_to_change() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let addr = taken.local_addr().expect("its address").to_string();

        let error = ensure_free("postgres", &addr, "postgres.url").expect_err("in use");
        let message = format!(
            "{error}: {}",
            std::error::Error::source(&error).expect("a cause")
        );
        assert!(message.contains(&addr), "{message}");
        assert!(message.contains("postgres.url"), "{message}");

        drop(taken);
        ensure_free("postgres", &addr, "postgres.url").expect("free again");
    }
}
