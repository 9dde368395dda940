//! `cargo run -p tower-receiver`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tower_receiver::run().await
}
