//! The bodies of records this process has just queued for the parent, kept in memory for its
//! drainers ([`super::forward`]).
//!
//! When the parent is up a record goes up within a second of its commit, and reading it back
//! from `case_records` (`body::text`: an index probe, the row, PostgreSQL printing the
//! `jsonb`) cost ~7 µs of PostgreSQL's CPU a record, a quarter of what forwarding costs the
//! child (bench/README.md). Bodies are put here in the transaction that queues them, before
//! its COMMIT, so a drainer that can claim the outbox row finds the body (one whose
//! transaction rolled back is never claimed, and ages out). Bounded in bytes
//! (`federation.recent_bodies_mb`) and in age ([`MAX_AGE`]), oldest out first. A body not
//! found here is read from the database as before: another process of the node stored it,
//! it was pushed out, the process restarted, or a failed send is being retried. The bodies
//! are shared with the pushes that made them (`Bytes`), not copied; and while the parent does
//! not answer nothing is kept (it would only be pushed out unsent: the copies and evictions
//! cost the child 3–4 % of its ingest rate with the parent down, bench/README.md).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use uuid::Uuid;

/// Bodies older than this are dropped: past it the parent is down or far behind, and the
/// backlog is read from the database anyway.
pub const MAX_AGE: Duration = Duration::from_secs(60);

/// The bodies, by record id. Cheap to share: one per process, in the `App`.
pub struct Recent {
    max_bytes: usize,
    /// Whether the parent answered the last request of a drainer (true until one fails).
    parent_up: AtomicBool,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Each body with when it was kept.
    bodies: HashMap<Uuid, (Instant, Bytes)>,
    /// Ids in the order kept, with when. Ids already taken stay until their turn (or a
    /// compaction, when they are most of it).
    order: VecDeque<(Instant, Uuid)>,
    bytes: usize,
}

impl Inner {
    fn remove(&mut self, id: &Uuid) -> Option<Bytes> {
        let (_, body) = self.bodies.remove(id)?;
        self.bytes -= body.len();
        Some(body)
    }

    /// Drop the oldest until within `max_bytes` and [`MAX_AGE`] of `now`.
    fn trim(&mut self, max_bytes: usize, now: Instant) {
        while let Some(&(at, id)) = self.order.front() {
            if self.bytes <= max_bytes && now.duration_since(at) < MAX_AGE {
                break;
            }
            self.order.pop_front();
            // Only the body kept then: one taken and kept again has a later place.
            if self.bodies.get(&id).is_some_and(|(kept, _)| *kept == at) {
                self.remove(&id);
            }
        }
        if self.order.len() > 1024 && self.order.len() > 4 * self.bodies.len() {
            let bodies = &self.bodies;
            self.order
                .retain(|(at, id)| bodies.get(id).is_some_and(|(kept, _)| kept == at));
        }
    }
}

impl std::fmt::Debug for Recent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("Recent")
            .field("max_bytes", &self.max_bytes)
            .field("bodies", &inner.bodies.len())
            .field("bytes", &inner.bytes)
            .finish()
    }
}

impl Recent {
    /// Holding at most `max_bytes` of bodies; 0 keeps nothing.
    pub fn new(max_bytes: usize) -> Self {
        Recent {
            max_bytes,
            parent_up: AtomicBool::new(true),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keep the canonical JSON bodies of records about to be queued for the parent.
    pub fn keep(&self, bodies: impl IntoIterator<Item = (Uuid, Bytes)>) {
        self.keep_at(bodies, Instant::now());
    }

    fn keep_at(&self, bodies: impl IntoIterator<Item = (Uuid, Bytes)>, now: Instant) {
        if self.max_bytes == 0 || !self.parent_up.load(Ordering::Relaxed) {
            return;
        }
        let mut inner = self.lock();
        for (id, body) in bodies {
            if body.len() > self.max_bytes {
                continue;
            }
            inner.bytes += body.len();
            // Kept again (a transaction run again): counted once, in its new place.
            if let Some((_, old)) = inner.bodies.insert(id, (now, body)) {
                inner.bytes -= old.len();
            }
            inner.order.push_back((now, id));
        }
        inner.trim(self.max_bytes, now);
    }

    /// Whether the parent answered a drainer's request: while it does not, nothing is kept
    /// and what was is let go.
    pub fn parent_answered(&self, answered: bool) {
        if !self.parent_up.swap(answered, Ordering::Relaxed) || answered {
            return;
        }
        let mut inner = self.lock();
        *inner = Inner::default();
    }

    /// Take out the bodies of `ids` that are here (each goes up once; a retry reads the
    /// database).
    pub fn take(&self, ids: &[Uuid]) -> Vec<(Uuid, Bytes)> {
        self.take_at(ids, Instant::now())
    }

    fn take_at(&self, ids: &[Uuid], now: Instant) -> Vec<(Uuid, Bytes)> {
        if self.max_bytes == 0 {
            return Vec::new();
        }
        let mut inner = self.lock();
        inner.trim(self.max_bytes, now);
        ids.iter()
            .filter_map(|id| Some((*id, inner.remove(id)?)))
            .collect()
    }

    /// Bodies held, and their bytes.
    pub fn held(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.bodies.len(), inner.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn a_kept_body_is_taken_once() {
        let recent = Recent::new(1 << 20);
        recent.keep([
            (id(1), Bytes::from_static(b"{\"a\":1}")),
            (id(2), Bytes::from_static(b"{\"b\":2}")),
        ]);
        let taken = recent.take(&[id(2), id(3)]);
        assert_eq!(taken, vec![(id(2), Bytes::from_static(b"{\"b\":2}"))]);
        assert!(recent.take(&[id(2)]).is_empty(), "taken already");
        assert_eq!(recent.held(), (1, 7));
    }

    #[test]
    fn the_oldest_go_first_when_the_bytes_are_spent() {
        let recent = Recent::new(20);
        for n in 0..5 {
            recent.keep([(id(n), Bytes::from_static(b"0123456789"))]);
        }
        assert_eq!(recent.held(), (2, 20));
        let taken: Vec<Uuid> = recent
            .take(&(0..5).map(id).collect::<Vec<_>>())
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(taken, vec![id(3), id(4)]);
    }

    #[test]
    fn bodies_age_out() {
        let recent = Recent::new(1 << 20);
        let then = Instant::now();
        recent.keep_at([(id(1), Bytes::from_static(b"{}"))], then);
        recent.keep_at([(id(2), Bytes::from_static(b"{}"))], then + MAX_AGE / 2);
        let taken = recent.take_at(&[id(1), id(2)], then + MAX_AGE);
        assert_eq!(taken, vec![(id(2), Bytes::from_static(b"{}"))]);
        assert_eq!(recent.held(), (0, 0));
    }

    #[test]
    fn keeping_the_same_record_again_counts_it_once() {
        let recent = Recent::new(1 << 20);
        recent.keep([(id(1), Bytes::from_static(b"{\"a\":1}"))]);
        recent.keep([(id(1), Bytes::from_static(b"{\"a\":1}"))]);
        assert_eq!(recent.held(), (1, 7));
        assert_eq!(recent.take(&[id(1)]).len(), 1);
    }

    #[test]
    fn a_body_taken_and_kept_again_keeps_its_new_place() {
        let recent = Recent::new(1 << 20);
        let then = Instant::now();
        recent.keep_at([(id(1), Bytes::from_static(b"{}"))], then);
        recent.take_at(&[id(1)], then);
        recent.keep_at([(id(1), Bytes::from_static(b"{}"))], then + MAX_AGE / 2);
        // The first place's turn comes; the body kept later stays.
        let taken = recent.take_at(&[id(1)], then + MAX_AGE);
        assert_eq!(taken, vec![(id(1), Bytes::from_static(b"{}"))]);
    }

    #[test]
    fn nothing_is_kept_while_the_parent_does_not_answer() {
        let recent = Recent::new(1 << 20);
        recent.keep([(id(1), Bytes::from_static(b"{}"))]);
        recent.parent_answered(false);
        assert_eq!(recent.held(), (0, 0), "let go");
        recent.keep([(id(2), Bytes::from_static(b"{}"))]);
        assert!(recent.take(&[id(2)]).is_empty());
        recent.parent_answered(true);
        recent.keep([(id(3), Bytes::from_static(b"{}"))]);
        assert_eq!(recent.take(&[id(3)]).len(), 1);
    }

    #[test]
    fn nothing_is_kept_at_zero_bytes_or_past_the_bound() {
        let off = Recent::new(0);
        off.keep([(id(1), Bytes::from_static(b"{}"))]);
        assert!(off.take(&[id(1)]).is_empty());
        let small = Recent::new(4);
        small.keep([(id(1), Bytes::from_static(b"{\"a\":1}"))]);
        assert_eq!(small.held(), (0, 0));
    }

    #[test]
    fn taken_ids_do_not_pile_up_in_the_order() {
        let recent = Recent::new(1 << 30);
        for n in 0..10_000 {
            recent.keep([(id(n), Bytes::from_static(b"{}"))]);
            recent.take(&[id(n)]);
        }
        assert!(recent.lock().order.len() <= 1025);
    }
}
