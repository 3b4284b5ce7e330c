//! The `gateway-ws` binary; the library documents what it does.

fn main() -> std::process::ExitCode {
    cloudcord_runtime::process::run_service(cloudcord_gateway_ws::NAME, cloudcord_gateway_ws::run)
}
