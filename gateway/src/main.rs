//! The `gateway` binary. All behaviour lives in the library; see `gateway --help`.

use clap::Parser;

/// mimalloc instead of glibc malloc: the ingest path allocates many small JSON values, and
/// glibc's malloc/free took about 30 % of the node's CPU under load (bench/README.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    no_transparent_huge_pages();
    // Exactly one crypto provider: ring. Installed first so nothing picks another one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    gateway::cli::main(gateway::cli::Cli::parse()).await
}

/// mimalloc asks for transparent huge pages on its arenas, and under ingest the kernel then
/// zeroed a fresh 2 MiB page on every refault of memory mimalloc had purged: 8.5 % of the
/// node's CPU in `clear_page_erms` (bench/README.md). Set before the heap grows; it holds for
/// the whole process (the kernel checks it at every fault).
fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes one integer argument and touches no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}
