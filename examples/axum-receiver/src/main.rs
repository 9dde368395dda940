//! `cargo run -p axum-receiver`: the main receiver.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let receiver = match receiver_common::startup().await {
        Ok(r) => r,
        Err(code) => return code,
    };
    let listener = match tokio::net::TcpListener::bind(receiver.config.addr).await {
        Ok(l) => l,
        Err(e) => return receiver_common::cannot_listen(&receiver.config, &e),
    };
    receiver_common::announce(&receiver.config, "axum-receiver");
    receiver_common::exit(axum_receiver::serve(listener, &receiver).await)
}
