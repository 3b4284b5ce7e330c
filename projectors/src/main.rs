//! The `projectors` binary; the library documents what it does.

fn main() -> std::process::ExitCode {
    cloudcord_runtime::process::run_service(cloudcord_projectors::NAME, cloudcord_projectors::run)
}
