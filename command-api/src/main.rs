//! The `command-api` binary; the library documents what it does.

fn main() -> std::process::ExitCode {
    cloudcord_runtime::process::run_service(cloudcord_command_api::NAME, cloudcord_command_api::run)
}
