//! The programs the infrastructure needs (Java, Maven, Go, PostgreSQL), installed from
//! Debian's packages when missing and we are root; otherwise a message that names the
//! package to install.

use std::path::Path;

use tokio::process::Command;

use super::error::InfraError;
use super::process::run_logged;

/// Oldest Java that runs Kafka 4.x brokers.
const MIN_JAVA: u32 = 17;

/// Output of `program args` (stdout and stderr), or `None` when it cannot run.
async fn probe(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().await.ok()?;
    output.status.success().then(|| {
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr)
    })
}

/// The major version in `java -version` output (`openjdk version "17.0.15"`).
fn java_major(version_output: &str) -> Option<u32> {
    let quoted = version_output.split('"').nth(1)?;
    quoted.split(['.', '-', '+']).next()?.parse().ok()
}

/// Makes sure `java` (17 or newer) and `mvn` are on the PATH.
pub async fn ensure_java_and_maven(log: &Path) -> Result<(), InfraError> {
    let java_ok = probe("java", &["-version"])
        .await
        .and_then(|out| java_major(&out))
        .is_some_and(|major| major >= MIN_JAVA);
    if !java_ok {
        apt_install("kafka", &["openjdk-17-jre-headless"], log).await?;
    }
    if probe("mvn", &["-v"]).await.is_none() {
        apt_install("kafka", &["maven"], log).await?;
    }
    Ok(())
}

/// Makes sure a Go toolchain is on the PATH (Debian's is too old for FerretDB, so it
/// is never installed from there).
pub async fn ensure_go() -> Result<(), InfraError> {
    match probe("go", &["version"]).await {
        Some(_) => Ok(()),
        None => Err(InfraError::new(
            "ferretdb",
            "finding the Go toolchain",
            "`go` is not on the PATH; install Go 1.22 or newer (https://go.dev/doc/install) \
             or put /usr/local/go/bin on the PATH",
        )),
    }
}

/// Makes sure PostgreSQL's server binaries exist in `bin_dir`.
pub async fn ensure_postgres(bin_dir: &Path, log: &Path) -> Result<(), InfraError> {
    if bin_dir.join("postgres").is_file() {
        return Ok(());
    }
    // Debian's package would create and start a "main" cluster of its own on port
    // 5432; the project runs its own cluster, so switch that off first.
    let conf_dir = Path::new("/etc/postgresql-common/createcluster.d");
    std::fs::create_dir_all(conf_dir)
        .and_then(|()| {
            std::fs::write(
                conf_dir.join("cloudcord.conf"),
                "create_main_cluster = false\n",
            )
        })
        .map_err(|e| InfraError::new("postgres", "configuring the Debian package", e))?;
    apt_install("postgres", &["postgresql-15"], log).await
}

/// Installs Debian packages, or explains what to install when we cannot.
async fn apt_install(
    component: &'static str,
    packages: &[&str],
    log: &Path,
) -> Result<(), InfraError> {
    let step = format!("installing {}", packages.join(" "));
    if !nix::unistd::geteuid().is_root() {
        return Err(InfraError::new(
            component,
            step,
            format!(
                "not running as root; install it yourself: sudo apt-get install {}",
                packages.join(" ")
            ),
        ));
    }
    tracing::info!(
        component,
        packages = packages.join(" "),
        "installing Debian packages"
    );
    run_logged(component, &step, Command::new("apt-get").arg("update"), log).await?;
    run_logged(
        component,
        &step,
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
        log,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::java_major;

    #[test]
    fn java_major_reads_modern_and_legacy_version_strings() {
        assert_eq!(
            java_major(r#"openjdk version "17.0.15" 2025-04-15"#),
            Some(17)
        );
        assert_eq!(java_major(r#"openjdk version "25" 2025-09-16"#), Some(25));
        assert_eq!(java_major(r#"java version "1.8.0_392""#), Some(1));
        assert_eq!(java_major("no version here"), None);
    }
}
