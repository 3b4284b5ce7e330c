//! The `web` binary; the library documents what it does.

fn main() -> std::process::ExitCode {
    cloudcord_runtime::process::run_service(cloudcord_web::NAME, cloudcord_web::run)
}
