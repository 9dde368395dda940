//! `cargo run -p tower-receiver`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config = match receiver_common::startup() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let listener = match tokio::net::TcpListener::bind(config.addr).await {
        Ok(l) => l,
        Err(e) => return receiver_common::cannot_listen(&config, &e),
    };
    receiver_common::announce(&config, "tower-receiver");
    receiver_common::exit(tower_receiver::serve(listener, &config).await)
}
