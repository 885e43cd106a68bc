//! The `gateway` binary. All behaviour lives in the library; see `gateway --help`.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Exactly one crypto provider: ring. Installed first so nothing picks another one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = gateway::cli::Cli::parse();
    match gateway::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
