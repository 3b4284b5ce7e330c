//! The `sfu` binary; the library documents what it does.

fn main() -> std::process::ExitCode {
    cloudcord_runtime::process::run_service(cloudcord_sfu::NAME, cloudcord_sfu::run)
}
