//! The node's per-minute totals (`ops_minutes`), summed over all of its processes.
//!
//! Each process adds its counts to an in-memory table (one mutex, a few map entries per batch,
//! no I/O on the request path) and [`flush`]es it every `ops.flush_interval_ms` as one
//! `INSERT … SELECT FROM UNNEST … ON CONFLICT DO UPDATE SET count = count + EXCLUDED.count`.
//! Rows go in key order, so two processes flushing the same minutes lock them in the same order
//! and cannot deadlock. A failed flush puts its cells back (merged with newer ones), keeping at
//! most [`MAX_PENDING_MINUTES`] minutes, so a database outage loses old totals, not memory.
//! A crash loses at most one interval of counts: these are monitoring figures; the durable
//! record of every batch is `ingest_batches`.

use std::collections::BTreeMap;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use crate::api::App;

/// A cell's identity: (minute as Unix seconds, kind, key, measure).
pub type CellKey = (i64, &'static str, String, &'static str);

/// What one minute of one series holds: how many (records, batches or samples), their sum
/// and their largest value (latency in ms, depth, lag in seconds; 0 for plain counts).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cell {
    pub count: i64,
    pub sum: f64,
    pub max: f64,
}

impl Cell {
    /// `n` things counted (records).
    pub fn count(n: i64) -> Cell {
        Cell {
            count: n,
            sum: 0.0,
            max: 0.0,
        }
    }

    /// One observation of `value` (a batch's latency, a sampled depth).
    pub fn observe(value: f64) -> Cell {
        Cell {
            count: 1,
            sum: value,
            max: value,
        }
    }

    fn merge(&mut self, other: Cell) {
        self.count += other.count;
        self.sum += other.sum;
        self.max = self.max.max(other.max);
    }
}

/// Minutes kept in memory while the database cannot be written.
pub const MAX_PENDING_MINUTES: i64 = 60;

/// This process's counts not yet added to the database.
#[derive(Debug, Default)]
pub struct Pending {
    cells: Mutex<BTreeMap<CellKey, Cell>>,
}

static PENDING: LazyLock<Pending> = LazyLock::new(Pending::default);

/// The process's pending totals.
pub fn pending() -> &'static Pending {
    &PENDING
}

/// The start of `at`'s minute, as Unix seconds.
pub fn minute_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(60) * 60
}

impl Pending {
    /// Add cells of the current minute, under one lock.
    pub fn add(&self, cells: impl IntoIterator<Item = (&'static str, String, &'static str, Cell)>) {
        self.add_at(minute_of(Utc::now()), cells);
    }

    pub fn add_at(
        &self,
        minute: i64,
        cells: impl IntoIterator<Item = (&'static str, String, &'static str, Cell)>,
    ) {
        let mut map = self.cells.lock().unwrap_or_else(|p| p.into_inner());
        for (kind, key, measure, cell) in cells {
            if cell.count == 0 {
                continue;
            }
            map.entry((minute, kind, key, measure))
                .or_default()
                .merge(cell);
        }
    }

    /// Everything pending, in key order; the table is left empty.
    pub fn take(&self) -> BTreeMap<CellKey, Cell> {
        std::mem::take(&mut *self.cells.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Cells a flush could not write go back, merged with what arrived meanwhile; minutes older
    /// than [`MAX_PENDING_MINUTES`] before `now` are dropped.
    pub fn put_back(&self, cells: BTreeMap<CellKey, Cell>, now: DateTime<Utc>) {
        let oldest = minute_of(now) - MAX_PENDING_MINUTES * 60;
        let mut map = self.cells.lock().unwrap_or_else(|p| p.into_inner());
        for (key, cell) in cells {
            if key.0 >= oldest {
                map.entry(key).or_default().merge(cell);
            }
        }
        map.retain(|k, _| k.0 >= oldest);
    }
}

/// One flush at a time per process, so a flush on read (`GET /v1/ops/series`) and the periodic
/// one never split a cell between them.
static FLUSHING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Add this process's pending cells to `ops_minutes`. Returns how many rows were upserted.
pub async fn flush(app: &App) -> anyhow::Result<usize> {
    let _one = FLUSHING.lock().await;
    let cells = pending().take();
    if cells.is_empty() {
        return Ok(0);
    }
    match write(app, &cells).await {
        Ok(()) => Ok(cells.len()),
        Err(e) => {
            pending().put_back(cells, Utc::now());
            Err(e)
        }
    }
}

async fn write(app: &App, cells: &BTreeMap<CellKey, Cell>) -> anyhow::Result<()> {
    let n = cells.len();
    let (mut minutes, mut kinds, mut keys, mut measures) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut counts, mut sums, mut maxes) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    // BTreeMap order: every process writes shared rows in the same order.
    for ((minute, kind, key, measure), cell) in cells {
        minutes.push(
            Utc.timestamp_opt(*minute, 0)
                .single()
                .ok_or_else(|| anyhow::anyhow!("minute {minute} out of range"))?,
        );
        kinds.push(*kind);
        keys.push(key.as_str());
        measures.push(*measure);
        counts.push(cell.count);
        sums.push(cell.sum);
        maxes.push(cell.max);
    }
    let db = app.pool.get().await?;
    let stmt = db
        .prepare_cached(
            "INSERT INTO ops_minutes (minute, kind, key, measure, count, sum, max)
             SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[],
                                  $5::int8[], $6::float8[], $7::float8[])
             ON CONFLICT (minute, kind, key, measure) DO UPDATE
             SET count = ops_minutes.count + EXCLUDED.count,
                 sum = ops_minutes.sum + EXCLUDED.sum,
                 max = greatest(ops_minutes.max, EXCLUDED.max)",
        )
        .await?;
    db.execute(
        &stmt,
        &[&minutes, &kinds, &keys, &measures, &counts, &sums, &maxes],
    )
    .await?;
    Ok(())
}

/// Delete totals older than `ops.retention_hours`.
pub async fn prune(app: &App) -> anyhow::Result<u64> {
    let hours = i64::try_from(app.config.ops.retention_hours).unwrap_or(i64::MAX / 3600);
    let db = app.pool.get().await?;
    Ok(db
        .execute(
            "DELETE FROM ops_minutes WHERE minute < now() - $1::int8 * interval '1 hour'",
            &[&hours],
        )
        .await?)
}

/// How often [`prune`] runs.
pub const PRUNE_EVERY: Duration = Duration::from_secs(600);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_merge_by_key_and_zero_counts_are_skipped() {
        let p = Pending::default();
        p.add_at(
            60,
            [
                ("adapter", "a".into(), "accepted", Cell::count(3)),
                ("adapter", "a".into(), "rejected", Cell::count(0)),
                ("batch", "a".into(), "latency_ms", Cell::observe(12.0)),
            ],
        );
        p.add_at(
            60,
            [
                ("adapter", "a".into(), "accepted", Cell::count(2)),
                ("batch", "a".into(), "latency_ms", Cell::observe(30.0)),
            ],
        );
        let cells = p.take();
        assert_eq!(cells.len(), 2);
        assert_eq!(
            cells[&(60, "adapter", "a".into(), "accepted")],
            Cell::count(5)
        );
        assert_eq!(
            cells[&(60, "batch", "a".into(), "latency_ms")],
            Cell {
                count: 2,
                sum: 42.0,
                max: 30.0
            }
        );
        assert!(p.take().is_empty(), "take empties the table");
    }

    #[test]
    fn put_back_merges_and_drops_minutes_too_old_to_keep() {
        let p = Pending::default();
        let now = Utc.timestamp_opt(100 * 60 + 5, 0).unwrap();
        let mut failed = BTreeMap::new();
        failed.insert((99 * 60, "tier", "city".into(), "accepted"), Cell::count(4));
        failed.insert((10 * 60, "tier", "city".into(), "accepted"), Cell::count(1));
        p.add_at(
            99 * 60,
            [("tier", "city".into(), "accepted", Cell::count(1))],
        );
        p.put_back(failed, now);
        let cells = p.take();
        assert_eq!(cells.len(), 1, "{cells:?}");
        assert_eq!(
            cells[&(99 * 60, "tier", "city".into(), "accepted")],
            Cell::count(5)
        );
    }

    #[test]
    fn minutes_start_on_the_minute() {
        let t = Utc.timestamp_opt(3_600 + 59, 999).unwrap();
        assert_eq!(minute_of(t), 3_600);
        let before_epoch = Utc.timestamp_opt(-1, 0).unwrap();
        assert_eq!(minute_of(before_epoch), -60);
    }
}
