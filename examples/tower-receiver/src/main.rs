//! `cargo run -p tower-receiver`.

#[tokio::main]
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
    let listener = match tokio::net::TcpListener::bind(config.addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("cannot listen on {}: {e}", config.addr);
            return std::process::ExitCode::FAILURE;
        }
    };
    eprintln!("{}", config.banner("tower-receiver"));
    match tower_receiver::serve(listener, &config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("server error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
