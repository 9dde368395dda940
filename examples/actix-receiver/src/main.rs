//! `cargo run -p actix-receiver`.

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    actix_receiver::run().await
}
