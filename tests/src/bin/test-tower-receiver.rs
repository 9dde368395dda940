//! The tower receiver binary, built inside this package so its process-level tests can
//! spawn it (`CARGO_BIN_EXE_test-tower-receiver`).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tower_receiver::run().await
}
