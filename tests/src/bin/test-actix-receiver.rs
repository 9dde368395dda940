//! The actix receiver binary, built inside this package so its process-level tests can
//! spawn it (`CARGO_BIN_EXE_test-actix-receiver`).

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    actix_receiver::run().await
}
