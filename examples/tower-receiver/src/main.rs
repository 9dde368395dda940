//! `cargo run -p tower-receiver`.

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
    receiver_common::announce(&receiver.config, "tower-receiver");
    receiver_common::exit(tower_receiver::serve(listener, &receiver).await)
}
