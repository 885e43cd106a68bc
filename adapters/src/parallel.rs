//! Work on a batch's records spread over the cores: a 500-record batch is decoded in its share
//! of the machine's time, not one core's. Plain scoped threads, so the adapters need no
//! runtime; the gateway calls them off its async threads (`gateway::parallel::cpu`).
//!
//! Only idle cores are worth a thread: when other batches are being mapped at the same time
//! the cores are busy already, and starting threads would only add their cost (a thread's
//! start and end cost as much as checking a signature).

use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Batches with fewer records than this are mapped on the calling thread: starting a thread
/// costs more than a few records' work.
pub const FROM: usize = 64;

/// The cores this process may use, asked once: the answer reads the cgroup files, which cost
/// a tenth of a single-record push when asked on every call.
static THREADS: LazyLock<usize> =
    LazyLock::new(|| std::thread::available_parallelism().map_or(1, |n| n.get()));

/// How many [`map`] calls are running, in this process.
static MAPPING: AtomicUsize = AtomicUsize::new(0);

/// One running [`map`] call, counted in [`MAPPING`] while it lives.
struct Mapping;

impl Mapping {
    /// Count this call in; the answer is how many are running, this one included.
    fn enter() -> (Mapping, usize) {
        (Mapping, MAPPING.fetch_add(1, Ordering::Relaxed) + 1)
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        MAPPING.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How many batches handlers have said they are working on ([`Working`]).
static WORKING: AtomicUsize = AtomicUsize::new(0);

/// A batch a handler works on from start to end, between its own `map` calls too (parsing,
/// looking things up): held, it counts as a core taken, so that many such batches at once
/// do not each start threads for cores the others keep busy.
pub struct Working(());

impl Working {
    pub fn start() -> Working {
        WORKING.fetch_add(1, Ordering::Relaxed);
        Working(())
    }
}

impl Drop for Working {
    fn drop(&mut self) {
        WORKING.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `f` over `items`, results in order; when there are at least `from`, in one chunk per core
/// not taken by another `map` running at the same time, or by more [`Working`] batches (on
/// the calling thread alone when all are). Blocks the calling thread until every chunk is done.
pub fn map<T: Send, R: Send>(items: Vec<T>, from: usize, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    map_chunks(items, from, |chunk| chunk.into_iter().map(&f).collect())
}

/// [`map`] for work that is cheaper done on many items together (checking signatures in one
/// batch): `f` gets each chunk whole (all `items` at once when they are not split) and must
/// answer one result per item, in order.
pub fn map_chunks<T: Send, R: Send>(
    items: Vec<T>,
    from: usize,
    f: impl Fn(Vec<T>) -> Vec<R> + Sync,
) -> Vec<R> {
    let (_mapping, running) = Mapping::enter();
    let running = running.max(WORKING.load(Ordering::Relaxed));
    let threads = (*THREADS + 1).saturating_sub(running);
    if items.len() < from.max(2) || threads < 2 {
        return f(items);
    }
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
        let others: Vec<_> = chunks.map(|c| s.spawn(move || f(c))).collect();
        // This thread takes the first chunk instead of waiting idle.
        let mut all: Vec<R> = f(first);
        for h in others {
            all.extend(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        }
        all
    })
}

/// [`map`] over `items` with each one's position, from [`FROM`] items: how the adapters map
/// the records they split a batch into.
pub fn map_records<T: Sync, R: Send>(items: &[T], f: impl Fn(usize, &T) -> R + Sync) -> Vec<R> {
    map(items.iter().enumerate().collect(), FROM, |(i, item)| {
        f(i, item)
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
        let positions = super::map_records(&items, |i, x| (i as u32) == *x);
        // Chunks come whole and in order; split, each is one core's share.
        let tagged = super::map_chunks(items.clone(), 64, |chunk| {
            let first = chunk[0];
            chunk.iter().map(|x| (first, *x)).collect()
        });
        assert!(tagged.iter().map(|(_, x)| *x).eq(items.iter().copied()));
        assert!(tagged.iter().all(|(first, x)| first <= x));
        assert!(positions.len() == 1000 && positions.iter().all(|same| *same));
    }

    /// With every core taken by other calls, or by batches being worked on, a batch is mapped
    /// on the calling thread alone.
    #[test]
    fn busy_cores_get_no_threads() {
        let others: Vec<_> = (0..*super::THREADS)
            .map(|_| super::Mapping::enter())
            .collect();
        let here = std::thread::current().id();
        let threads = super::map((0..1000).collect(), 2, |_: u32| std::thread::current().id());
        assert!(threads.iter().all(|t| *t == here));
        drop(others);
        let working: Vec<_> = (0..*super::THREADS)
            .map(|_| super::Working::start())
            .collect();
        let threads = super::map((0..1000).collect(), 2, |_: u32| std::thread::current().id());
        assert!(threads.iter().all(|t| *t == here));
        drop(working);
    }
}
