//! The `gateway` binary. All behaviour lives in the library; see `gateway --help`.

use clap::Parser;

/// mimalloc instead of glibc malloc: the ingest path allocates many small JSON values, and
/// glibc's malloc/free took about 30 % of the node's CPU under load (bench/README.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Exactly one crypto provider: ring. Installed first so nothing picks another one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    gateway::cli::main(gateway::cli::Cli::parse()).await
}
