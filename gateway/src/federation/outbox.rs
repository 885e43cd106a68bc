//! The forwarding outbox: what this node still has to send its parent, written in the
//! transaction that stored it. A row names up to [`ROW_ITEMS`] items of one kind (record ids,
//! credential ids, status-change ids), so a pushed batch costs a few rows, not one per record
//! (migration 0032). A request to the parent carries whole rows: at least one, then as many as
//! keep it within `federation.forward_batch` items.

use deadpool_postgres::GenericClient;
use uuid::Uuid;

/// At most this many ids in one outbox row: under PostgreSQL's 2 KB threshold, so a row's ids
/// stay in the row (not in its TOAST table), and several rows fill a request of the default
/// `forward_batch` (500).
pub const ROW_ITEMS: usize = 100;

/// Queue `ids` of `kind` ("record", "certificate", "status") for the parent, in rows of at
/// most [`ROW_ITEMS`], in the order given.
pub async fn queue(tx: &impl GenericClient, kind: &str, ids: &[Uuid]) -> anyhow::Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let stmt = tx
        .prepare_cached(
            "INSERT INTO outbox (kind, ref_ids)
             SELECT $1, array_agg(id ORDER BY n) FROM unnest($2::uuid[]) WITH ORDINALITY AS u(id, n)
             GROUP BY (n - 1) / $3 ORDER BY (n - 1) / $3",
        )
        .await?;
    tx.execute(&stmt, &[&kind, &ids, &(ROW_ITEMS as i64)])
        .await?;
    Ok(())
}

/// Rows claimed by one drain round, in the claim's order.
pub struct Claimed {
    /// The rows (deleted when the parent has their items).
    pub ids: Vec<i64>,
    /// Their items, kind and id.
    pub items: Vec<(String, Uuid)>,
}

impl Claimed {
    /// The items of `kind`.
    pub fn of_kind(&self, kind: &str) -> Vec<Uuid> {
        self.items
            .iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, id)| *id)
            .collect()
    }
}

/// Claim due rows (`FOR UPDATE SKIP LOCKED`: other drainers and processes skip them) for one
/// request of at most `batch` items. `rows` is how many rows to claim, the drainer's estimate
/// from its last claim, updated here: rows are full under load and single items when records
/// come one by one. Rows claimed beyond `batch` items are let go at once (a savepoint rolled
/// back), not held unsent while the request is out.
pub async fn claim(
    tx: &impl GenericClient,
    batch: usize,
    rows: &mut usize,
) -> anyhow::Result<Claimed> {
    let due = tx
        .prepare_cached(
            "SELECT id, kind, ref_ids FROM outbox WHERE next_attempt_at <= now()
             ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED",
        )
        .await?;
    // Full rows never overshoot: no savepoint then (the usual case under load).
    let may_overshoot = *rows * ROW_ITEMS > batch;
    if may_overshoot {
        tx.batch_execute("SAVEPOINT claim").await?;
    }
    let mut claimed = tx.query(&due, &[&(*rows as i64)]).await?;
    let sizes: Vec<usize> = claimed
        .iter()
        .map(|r| r.get::<_, Vec<Uuid>>(2).len())
        .collect();
    *rows = rows_to_claim(&sizes, batch).unwrap_or(*rows);
    let sent = within(&sizes, batch);
    if sent < claimed.len() {
        debug_assert!(may_overshoot);
        let ids: Vec<i64> = claimed[..sent].iter().map(|r| r.get(0)).collect();
        tx.batch_execute("ROLLBACK TO SAVEPOINT claim").await?;
        let again = tx
            .prepare_cached(
                "SELECT id, kind, ref_ids FROM outbox WHERE id = ANY($1)
                 ORDER BY next_attempt_at, id FOR UPDATE SKIP LOCKED",
            )
            .await?;
        // Another drainer may have taken some of them meanwhile: this request sends the rest.
        claimed = tx.query(&again, &[&ids]).await?;
    }
    let mut out = Claimed {
        ids: Vec::with_capacity(claimed.len()),
        items: Vec::new(),
    };
    for r in &claimed {
        out.ids.push(r.get(0));
        let kind: String = r.get(1);
        for id in r.get::<_, Vec<Uuid>>(2) {
            out.items.push((kind.clone(), id));
        }
    }
    Ok(out)
}

/// How many of the claimed rows (their sizes, in order) one request of at most `batch` items
/// sends: at least one, then while the total stays within `batch`.
fn within(sizes: &[usize], batch: usize) -> usize {
    let mut total = 0;
    sizes
        .iter()
        .take_while(|&&n| {
            total += n;
            total <= batch || total == n
        })
        .count()
}

/// The rows to claim next for `batch` items, from the sizes of the rows just claimed (none
/// claimed: no estimate).
fn rows_to_claim(sizes: &[usize], batch: usize) -> Option<usize> {
    let items: usize = sizes.iter().sum();
    if items == 0 {
        return None;
    }
    // batch / (items / rows), rounded up.
    Some((batch * sizes.len()).div_ceil(items).clamp(1, batch.max(1)))
}

/// The first estimate of a drainer: rows full, as under load.
pub fn first_estimate(batch: usize) -> usize {
    batch.div_ceil(ROW_ITEMS).max(1)
}

#[cfg(test)]
mod tests {
    use super::{rows_to_claim, within};

    /// Whole rows within the batch, and always at least one (a row larger than a small
    /// `forward_batch` still goes, alone).
    #[test]
    fn a_request_takes_whole_rows_within_the_batch() {
        assert_eq!(within(&[100, 100, 100, 100, 100], 500), 5);
        assert_eq!(within(&[100, 100, 100, 100, 100, 100], 500), 5);
        assert_eq!(within(&[100, 60, 100, 100, 100, 50], 500), 5);
        assert_eq!(within(&[100, 60, 100, 100, 100, 40, 1], 500), 6);
        assert_eq!(within(&[1; 700], 500), 500);
        assert_eq!(within(&[100, 1], 50), 1);
        assert_eq!(within(&[], 500), 0);
    }

    /// Full rows: a request's worth of them; single items: the batch; a mix in between.
    #[test]
    fn the_next_claim_follows_the_size_of_the_rows_just_claimed() {
        assert_eq!(rows_to_claim(&[100; 5], 500), Some(5));
        assert_eq!(rows_to_claim(&[1; 5], 500), Some(500));
        assert_eq!(rows_to_claim(&[1; 500], 500), Some(500));
        assert_eq!(rows_to_claim(&[100, 1], 500), Some(10));
        assert_eq!(rows_to_claim(&[100, 100], 50), Some(1));
        assert_eq!(rows_to_claim(&[], 500), None);
    }
}
