//! The `gateway` binary. All behaviour lives in the library; see `gateway --help`.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Exactly one crypto provider: ring. Installed first so nothing picks another one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    gateway::cli::main(gateway::cli::Cli::parse()).await
}
