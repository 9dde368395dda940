//! The axum receiver binary, built inside this package so its process-level tests can
//! spawn it (`CARGO_BIN_EXE_test-axum-receiver`).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    axum_receiver::run().await
}
