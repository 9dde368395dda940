//! `cargo run -p actix-receiver`.

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    let config = match receiver_common::startup() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let listener = match std::net::TcpListener::bind(config.addr) {
        Ok(l) => l,
        Err(e) => return receiver_common::cannot_listen(&config, &e),
    };
    receiver_common::announce(&config, "actix-receiver");
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    match actix_receiver::server(listener, &config, workers) {
        Ok(server) => receiver_common::exit(server.await),
        Err(e) => receiver_common::exit(Err(e)),
    }
}
