//! Draining the outbox to the parent node. Rows are claimed with `FOR UPDATE SKIP LOCKED`, so
//! several requests in flight (`federation.forward_concurrency` per process) and several
//! gateway processes of one node share the work without sending a row twice at once; a row is
//! deleted only after the parent answered 2xx, in the transaction that claimed it (a crash in
//! between sends it again: a duplicate there). Each request is self-contained (a credential
//! brings its record, a status change its certificate), so requests may arrive in any order.
//! When the parent is down or refuses, the rows get an attempt count and a growing delay, and
//! local ingest goes on untouched. The outbox holds only what is still to send: what went up,
//! and when, is at the parent (`forwarded_from`, `stored_at`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use uuid::Uuid;

use super::{ForwardReceipt, Forwarded, ForwardedCredential, ForwardedRecord};
use crate::api::App;
use crate::client::ExchangeClient;
use crate::config::PeerNode;

/// Start the drainers for `parent` (background tasks for the life of the process): one per
/// request kept in flight, so the parent's time to store one batch is not the drain's pace.
pub fn spawn(app: Arc<App>, parent: PeerNode) -> anyhow::Result<()> {
    let config = &app.config;
    let client = Arc::new(ExchangeClient::to_parent(config, &parent)?);
    let interval = Duration::from_millis(config.federation.forward_interval_ms);
    let batch = config.federation.forward_batch.max(1);
    for worker in 0..config.federation.forward_concurrency.max(1) {
        let (app, client, parent) = (app.clone(), client.clone(), parent.clone());
        tokio::spawn(async move {
            let mut failures = 0u32;
            let mut reported = None;
            let mut rows = super::outbox::first_estimate(batch);
            loop {
                match drain_once(&app, &client, batch, &mut rows).await {
                    Ok(0) => {
                        failures = 0;
                        report_depth(&app, worker, &mut reported).await;
                        tokio::time::sleep(interval).await;
                    }
                    Ok(_) => failures = 0,
                    Err(e) => {
                        failures += 1;
                        // One warning per round of failures, not one per worker.
                        if worker == 0 {
                            tracing::warn!(parent = %parent.region, error = format!("{e:#}"), "forwarding to the parent failed; will retry");
                        }
                        report_depth(&app, worker, &mut reported).await;
                        let backoff = Duration::from_millis(200 * 2u64.pow(failures.min(8)))
                            .min(Duration::from_secs(30));
                        tokio::time::sleep(backoff).await;
                    }
                }
            }
        });
    }
    Ok(())
}

/// Outbox depth and the age of the oldest unsent row, as gauges fresher than the operations
/// sampler's (`ops.sample_interval_ms`): from the first drainer only, at most once a second.
/// Every drainer reported on every idle round until 2026-12-06: 8 counts a second, and one
/// planned on statistics taken during a backlog scanned the whole table (sent rows were then
/// kept a week: ~75 ms of CPU at a million rows, half a core together; bench/README.md).
async fn report_depth(app: &App, worker: usize, last: &mut Option<std::time::Instant>) {
    if !reports_depth(worker, *last, std::time::Instant::now()) {
        return;
    }
    *last = Some(std::time::Instant::now());
    let _ = crate::ops::report_outbox(app).await;
}

/// Whether drainer `worker`, which last reported at `last`, reports the depth at `now`.
fn reports_depth(worker: usize, last: Option<std::time::Instant>, now: std::time::Instant) -> bool {
    worker == 0 && last.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
}

/// Send one batch of due outbox items; returns how many were sent.
/// `rows` is the drainer's estimate of the outbox rows that make one request
/// ([`super::outbox::claim`]).
pub async fn drain_once(
    app: &App,
    client: &ExchangeClient,
    batch: usize,
    rows: &mut usize,
) -> anyhow::Result<usize> {
    let mut db = app.pool.get().await?;
    let tx = db.transaction().await?;
    let claimed = super::outbox::claim(&tx, batch, rows).await?;
    if claimed.ids.is_empty() {
        return Ok(0);
    }
    let ids = &claimed.ids;
    let of_kind = |kind: &str| claimed.of_kind(kind);
    let record_ids = of_kind("record");
    let status_changes = crate::certificates::status::changes(&tx, &of_kind("status")).await?;
    // A record travels with the credentials issued with it (they have no outbox row of their
    // own: two rows claimed by two requests in flight would both carry the record, and the
    // parent would make the second wait for the first one's commit). A status change travels
    // with its certificate's versions, and a credential with its record: a failed request may
    // have delayed one, or another request in flight may carry it. The parent refuses a
    // credential whose record it does not hold; what is sent twice is a duplicate there.
    let identifiers: Vec<&str> = status_changes
        .iter()
        .map(|c| c.identifier.as_str())
        .collect();
    let mut credentials = Vec::new();
    credentials_where(
        &tx,
        "credential_id",
        &of_kind("certificate"),
        &mut credentials,
    )
    .await?;
    credentials_where(&tx, "identifier", &identifiers, &mut credentials).await?;
    credentials_where(&tx, "record_id", &record_ids, &mut credentials).await?;
    // A credential may be wanted on two counts (its record, and a status change): send it once.
    credentials.sort_by(|a, b| (&a.identifier, a.version).cmp(&(&b.identifier, b.version)));
    credentials.dedup_by_key(|c| c.credential_id);
    let mut wanted: Vec<Uuid> = credentials.iter().map(|c| c.record_id).collect();
    wanted.extend_from_slice(&record_ids);
    wanted.sort_unstable();
    wanted.dedup();
    // Bodies as JSON text, sent as they are: those just queued by this process from memory
    // (`super::recent`), the rest from the database.
    let mut records = app
        .recent
        .take(&wanted)
        .into_iter()
        .map(|(record_id, body)| -> anyhow::Result<ForwardedRecord> {
            let body = String::from_utf8(body.to_vec())?;
            Ok(ForwardedRecord {
                record_id,
                body: serde_json::value::RawValue::from_string(body)?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let from_memory = records.len();
    if from_memory < wanted.len() {
        let held: std::collections::HashSet<Uuid> = records.iter().map(|r| r.record_id).collect();
        let rest: Vec<Uuid> = wanted.into_iter().filter(|id| !held.contains(id)).collect();
        let records_stmt = tx
            .prepare_cached(
                "SELECT record_id, body::text FROM case_records
                 -- an archived record went up before it was archived
                 WHERE record_id = ANY($1) AND body IS NOT NULL",
            )
            .await?;
        for r in tx.query(&records_stmt, &[&rest]).await? {
            records.push(ForwardedRecord {
                record_id: r.get(0),
                body: serde_json::value::RawValue::from_string(r.get(1))?,
            });
        }
    }
    let from_database = records.len() - from_memory;
    records.sort_unstable_by_key(|r| r.record_id);
    let body = serde_json::to_vec(&Forwarded {
        records,
        credentials,
        status_changes,
    })?;
    let sent_items = claimed.items.len();
    let sent = async {
        let resp = client
            .post("/v1/federation/forward", "application/json", body)
            .await?;
        anyhow::ensure!(
            resp.status.is_success(),
            "parent answered {}: {}",
            resp.status,
            String::from_utf8_lossy(&resp.body)
        );
        let receipt: ForwardReceipt =
            serde_json::from_slice(&resp.body).context("parent's receipt")?;
        if receipt.records_conflict > 0 {
            metrics::counter!("gateway_forward_conflicts_total")
                .increment(receipt.records_conflict as u64);
        }
        Ok(receipt)
    }
    .await;
    app.recent.parent_answered(sent.is_ok());
    match sent {
        Ok(_) => {
            // Deleted, not marked sent: the mark of before migration 0031 (an update of the
            // pending index's column) cost a new row version and index entry per item, and a
            // purge later.
            tx.execute("DELETE FROM outbox WHERE id = ANY($1)", &[ids])
                .await?;
            tx.commit().await?;
            metrics::counter!("gateway_forwarded_out_total").increment(sent_items as u64);
            metrics::counter!("gateway_forward_bodies_total", "from" => "memory")
                .increment(from_memory as u64);
            metrics::counter!("gateway_forward_bodies_total", "from" => "database")
                .increment(from_database as u64);
            Ok(sent_items)
        }
        Err(e) => {
            metrics::counter!("gateway_forward_failed_total").increment(sent_items as u64);
            tx.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = $2,
                    next_attempt_at = now() + make_interval(secs => least(60, power(2, least(attempts, 6))))
                 WHERE id = ANY($1)",
                &[ids, &format!("{e:#}")],
            )
            .await?;
            tx.commit().await?;
            Err(e)
        }
    }
}

/// Appends the credential versions (with their certificates' fields) whose `column` is one of
/// `ids`. One condition per statement, prepared: an `OR` of three `= ANY(..)` conditions was
/// re-planned on every call (1.6 ms with 500 ids) and, planned on young statistics, scanned the
/// whole table once per batch (30 ms, half of the drain's database time).
async fn credentials_where<T>(
    tx: &deadpool_postgres::Transaction<'_>,
    column: &str,
    ids: &[T],
    out: &mut Vec<ForwardedCredential>,
) -> anyhow::Result<()>
where
    T: tokio_postgres::types::ToSql + Sync,
{
    if ids.is_empty() {
        return Ok(());
    }
    let stmt = tx
        .prepare_cached(&format!(
            "SELECT v.credential_id, v.identifier, v.version, v.record_id, v.signing_key, v.issued_at,
                    coalesce(v.credential_text, v.credential::text), v.content_hash,
                    c.authority_code, c.type_code, c.number, c.holder_code, c.holder_name, c.region_code, c.minted,
                    c.status_index, c.issuer_node
             FROM credential_versions v JOIN certificates c ON c.identifier = v.identifier
             WHERE v.{column} = ANY($1)"
        ))
        .await?;
    for r in tx.query(&stmt, &[&ids]).await? {
        out.push(ForwardedCredential {
            credential_id: r.get(0),
            identifier: r.get(1),
            version: r.get(2),
            record_id: r.get(3),
            signing_key: r.get(4),
            issued_at: r.get(5),
            credential: serde_json::value::RawValue::from_string(r.get(6))?,
            content_hash: hex::encode(r.get::<_, Vec<u8>>(7)),
            authority_code: r.get(8),
            type_code: r.get(9),
            number: r.get(10),
            holder_code: r.get(11),
            holder_name: r.get(12),
            region_code: r.get(13),
            minted: r.get(14),
            status_index: r.get(15),
            issuer_node: r.get(16),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::reports_depth;

    /// One drainer counts the outbox, at most once a second, however many are idle.
    #[test]
    fn only_the_first_drainer_reports_the_depth_once_a_second() {
        let now = Instant::now();
        assert!(reports_depth(0, None, now));
        assert!(!reports_depth(1, None, now));
        assert!(!reports_depth(3, None, now));
        assert!(!reports_depth(
            0,
            Some(now),
            now + Duration::from_millis(500)
        ));
        assert!(reports_depth(0, Some(now), now + Duration::from_secs(1)));
    }
}
