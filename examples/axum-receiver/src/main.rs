//! `cargo run -p axum-receiver`: the main receiver.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    axum_receiver::run().await
}
