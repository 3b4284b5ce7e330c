//! The `query-api` binary; the library documents what it does.

fn main() -> std::process::ExitCode {
    cloudcord_runtime::process::run_service(cloudcord_query_api::NAME, cloudcord_query_api::run)
}
