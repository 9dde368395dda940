//! `cargo run -p actix-receiver`.

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    let receiver = match receiver_common::startup().await {
        Ok(r) => r,
        Err(code) => return code,
    };
    let listener = match std::net::TcpListener::bind(receiver.config.addr) {
        Ok(l) => l,
        Err(e) => return receiver_common::cannot_listen(&receiver.config, &e),
    };
    receiver_common::announce(&receiver.config, "actix-receiver");
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    match actix_receiver::server(listener, &receiver, workers) {
        Ok(server) => receiver_common::exit(server.await),
        Err(e) => receiver_common::exit(Err(e)),
    }
}
