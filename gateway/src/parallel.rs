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
/// another thread). On a single-threaded runtime (where `block_in_place` would panic) it
/// runs inline; `gateway serve` runs the multi-threaded one.
pub fn cpu_in_place<R>(bytes: usize, f: impl FnOnce() -> R) -> R {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if bytes < INLINE_BELOW || !multi_thread {
        f()
    } else {
        tokio::task::block_in_place(f)
    }
}

/// `map`: `f` over `items`, results in order, spread over the cores other batches leave idle
/// from `from` items (blocking: call from [`cpu`] or `spawn_blocking`); `map_chunks`: the
/// same, `f` getting each core's share whole; `Working`: a batch a handler counts as taking a
/// core from its start to its end. The adapters' own, which they split batches with.
pub use adapters::parallel::{Working, map, map_chunks};

#[cfg(test)]
mod tests {
    use super::*;

    /// Borrowed work gets its answer on either runtime, and outside one.
    fn sum_in_place() -> u64 {
        let numbers: Vec<u64> = (1..=1000).collect();
        cpu_in_place(INLINE_BELOW, || numbers.iter().sum())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn in_place_on_the_multi_threaded_runtime() {
        assert_eq!(sum_in_place(), 500_500);
    }

    #[tokio::test]
    async fn inline_on_the_single_threaded_runtime() {
        assert_eq!(sum_in_place(), 500_500);
    }

    #[test]
    fn inline_outside_a_runtime() {
        assert_eq!(sum_in_place(), 500_500);
    }
}
