//! `cargo run -p actix-receiver`.

#[actix_web::main]
#[allow(clippy::print_stderr)] // the banner is for the person who started the receiver
async fn main() -> std::process::ExitCode {
    receiver_common::init_tracing();
    let config = match receiver_common::Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    let listener = match std::net::TcpListener::bind(config.addr) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("cannot listen on {}: {e}", config.addr);
            return std::process::ExitCode::FAILURE;
        }
    };
    eprintln!("{}", config.banner("actix-receiver"));
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    match actix_receiver::server(listener, &config, workers) {
        Ok(server) => match server.await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!("server error: {e}");
                std::process::ExitCode::FAILURE
            }
        },
        Err(e) => {
            tracing::error!("cannot start: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
