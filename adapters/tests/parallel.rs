//! Alone in its process (no other test maps at the same time), a big batch is split over
//! every core the process may use.

use std::collections::HashSet;

#[test]
fn an_idle_machine_gives_a_batch_every_core() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads =
        adapters::parallel::map((0..1000).collect(), 2, |_: u32| std::thread::current().id());
    let distinct: HashSet<_> = threads.iter().collect();
    assert_eq!(distinct.len(), cores.min(1000));
    assert!(distinct.contains(&std::thread::current().id()));
}
