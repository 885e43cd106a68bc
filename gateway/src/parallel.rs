//! CPU-bound work on a batch, spread over the cores: a batch's latency is then its share of
//! the cores, not one core's time for all of it; and small work kept on the async thread that
//! has it, where a hand-off would cost more than the work.

/// Inputs below this many bytes (a few records) are worked on inline by [`cpu`]: handing them
/// to the blocking pool and back costs two thread wake-ups, more than their work, and a
/// single-record push spent a fifth of its CPU on that hand-off.
pub const INLINE_BELOW: usize = 8 * 1024;

/// Run CPU-bound `f` over an input of `bytes` bytes: inline when small, else on the blocking
/// pool so the async threads keep serving.
pub async fn cpu<R: Send + 'static>(
    bytes: usize,
    f: impl FnOnce() -> R + Send + 'static,
) -> Result<R, tokio::task::JoinError> {
    if bytes < INLINE_BELOW {
        Ok(f())
    } else {
        tokio::task::spawn_blocking(f).await
    }
}

/// [`cpu`] for work that borrows from its caller: when big, the async thread itself turns
/// into a blocking one for the while (`block_in_place`: the runtime hands its other tasks to
/// another thread). Needs the multi-threaded runtime, which `gateway serve` runs.
pub fn cpu_in_place<R>(bytes: usize, f: impl FnOnce() -> R) -> R {
    if bytes < INLINE_BELOW {
        f()
    } else {
        tokio::task::block_in_place(f)
    }
}

/// `f` over `items`, results in order, spread over the cores from `from` items (blocking:
/// call from [`cpu`] or `spawn_blocking`). The adapters' own, which they split batches with.
pub use adapters::parallel::map;
