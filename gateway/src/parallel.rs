//! CPU-bound work on a batch, spread over the cores: a batch's latency is then its share of
//! the cores, not one core's time for all of it; and small work kept on the async thread that
//! has it, where a hand-off would cost more than the work.

use std::sync::LazyLock;

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

/// The cores this process may use, asked once: the answer reads the cgroup files, which cost
/// a tenth of a single-record push when asked on every call.
static THREADS: LazyLock<usize> =
    LazyLock::new(|| std::thread::available_parallelism().map_or(1, |n| n.get()));

/// `f` over `items`, results in order; in one chunk per core when there are at least `from`.
/// Blocking when it splits: call from [`cpu`] or `spawn_blocking`.
pub fn map<T: Send, R: Send>(items: Vec<T>, from: usize, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    if items.len() < from.max(2) || *THREADS < 2 {
        return items.into_iter().map(f).collect();
    }
    let threads = *THREADS;
    let chunk = items.len().div_ceil(threads);
    let mut chunks: Vec<Vec<T>> = Vec::with_capacity(threads);
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        chunks.push(items.by_ref().take(chunk).collect());
    }
    let f = &f;
    std::thread::scope(|s| {
        let mut chunks = chunks.into_iter();
        let first = chunks.next().unwrap_or_default();
        let others: Vec<_> = chunks
            .map(|c| s.spawn(move || c.into_iter().map(f).collect::<Vec<R>>()))
            .collect();
        // This thread takes the first chunk instead of waiting idle.
        let mut all: Vec<R> = first.into_iter().map(f).collect();
        for h in others {
            all.extend(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        }
        all
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_order_whether_split_or_not() {
        let items: Vec<u32> = (0..1000).collect();
        let doubled = super::map(items.clone(), 64, |x| x * 2);
        assert_eq!(doubled, items.iter().map(|x| x * 2).collect::<Vec<_>>());
        assert_eq!(super::map(vec![1, 2, 3], 64, |x| x + 1), vec![2, 3, 4]);
        assert!(super::map(Vec::<u8>::new(), 0, |x| x).is_empty());
    }
}
