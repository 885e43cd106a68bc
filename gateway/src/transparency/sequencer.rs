//! Appending to the log. Credentials and status changes are committed with their batch or
//! request; a background sequencer (one process of the node at a time, under an advisory lock)
//! then gives them leaf indexes in the order they were made, stores the new complete
//! subtrees' hashes and signs a checkpoint for the new size, all in one transaction. A proof is
//! available once the next round ran (`transparency.sequence_interval_ms`).
//!
//! What is still to be logged waits in `tlog_pending` (migration 0013), written in the
//! transaction that made the credential (`certificates::issue`) or status change (a trigger);
//! the round that appends a leaf deletes its row, so a round costs what is pending, however
//! large the log grows.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::GenericClient;
use serde_json::Value;
use uuid::Uuid;

use super::{Log, SEQUENCER_LOCK, store};
use crate::api::App;

/// Most leaves appended per round.
const BATCH: i64 = 2_000;

pub fn spawn(app: Arc<App>) {
    let interval = Duration::from_millis(app.config.transparency.sequence_interval_ms.max(10));
    tokio::spawn(async move {
        loop {
            match sequence_once(&app).await {
                Ok(n) if n as i64 == BATCH => continue,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        "sequencing the transparency log failed; will retry"
                    )
                }
            }
            tokio::time::sleep(interval).await;
        }
    });
}

/// One entry to log, with its leaf hash.
pub struct Pending {
    pub kind: &'static str,
    pub ref_id: Uuid,
    pub leaf: tlog::Hash,
}

/// What a leaf stands for, read back from its source row (the same JSON the sequencer hashed).
pub async fn entry(
    db: &impl GenericClient,
    kind: &str,
    ref_id: Uuid,
) -> anyhow::Result<Option<Value>> {
    Ok(match kind {
        "credential" => db
            .query_opt(
                "SELECT coalesce(credential_text, credential::text) FROM credential_versions
                 WHERE credential_id = $1",
                &[&ref_id],
            )
            .await?
            .map(|r| crate::certificates::stored_credential(r.get(0)))
            .transpose()?,
        _ => crate::certificates::status::changes(db, &[ref_id])
            .await?
            .into_iter()
            .next()
            .map(|c| serde_json::to_value(c).expect("serializes")),
    })
}

/// Own credentials and status changes not yet in the log, oldest first, from the
/// `tlog_pending` queue (migration 0013): its cost follows what is pending, not the store.
/// Returns them with how many rows this round dropped from the queue.
async fn pending(db: &impl GenericClient, node: &str) -> anyhow::Result<(Vec<Pending>, usize)> {
    // The next rows of the queue. A row with a leaf hash was queued with the credential this
    // node issued (migration 0024) and is taken as it is. The others are checked: rows another
    // node issued (left by migration 0013's backfill) and rows already logged leave the queue
    // without a leaf, and the rest are hashed from their source rows. Only this round's rows
    // are checked (checking the whole queue every round cost ~30 ms a round under load).
    // "Already logged" is a lateral probe of tlog_leaves' ref_id index per row: as a `NOT
    // EXISTS` in the select list PostgreSQL hashed the whole log every round instead (17 % of
    // its statement time during sustained ingest with 170,000 leaves, and growing with the log).
    // The credential is read the same way, so a row that carries its leaf hash reads nothing
    // (as a join PostgreSQL fetched every pending row's credential, then dropped it).
    let stmt = db
        .prepare_cached(
            "WITH next AS (
               SELECT p.kind, p.ref_id, p.at, p.leaf_hash,
                      p.leaf_hash IS NOT NULL
                      OR (l.logged IS NULL
                          AND CASE p.kind
                            WHEN 'credential' THEN EXISTS (
                              SELECT 1 FROM credential_versions v JOIN certificates c ON c.identifier = v.identifier
                              WHERE v.credential_id = p.ref_id AND c.issuer_node = $1)
                            ELSE EXISTS (
                              SELECT 1 FROM certificate_status_changes s
                              WHERE s.change_id = p.ref_id AND s.issuer_node = $1 AND s.forwarded_from IS NULL)
                          END) AS ours
               FROM (SELECT * FROM tlog_pending ORDER BY at, ref_id LIMIT $2) p
               LEFT JOIN LATERAL (SELECT true AS logged FROM tlog_leaves l
                                  WHERE p.leaf_hash IS NULL AND l.ref_id = p.ref_id LIMIT 1) l ON true),
             dropped AS (
               DELETE FROM tlog_pending p USING next n WHERE p.ref_id = n.ref_id AND NOT n.ours
               RETURNING 1)
             -- one row at least, with how many were dropped, when none is to be logged
             SELECT d.count, x.kind, x.ref_id, x.credential, x.leaf_hash
             FROM (SELECT count(*) FROM dropped) d
             LEFT JOIN (SELECT n.kind, n.ref_id, n.at, n.leaf_hash, v.credential FROM next n
                        LEFT JOIN LATERAL (SELECT coalesce(v.credential_text, v.credential::text) AS credential
                                           FROM credential_versions v
                                           WHERE n.kind = 'credential' AND n.leaf_hash IS NULL
                                             AND v.credential_id = n.ref_id LIMIT 1) v ON true
                        WHERE n.ours) x ON true
             ORDER BY x.at, x.ref_id",
        )
        .await?;
    let rows = db.query(&stmt, &[&node, &BATCH]).await?;
    let dropped = rows.first().map_or(0, |r| r.get::<_, i64>(0) as usize);
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|r| r.get::<_, Option<&str>>(1).is_some())
        .collect();
    let status_ids: Vec<Uuid> = rows
        .iter()
        .filter(|r| r.get::<_, &str>(1) == "status" && r.get::<_, Option<&[u8]>>(4).is_none())
        .map(|r| r.get(2))
        .collect();
    let mut changes: std::collections::HashMap<Uuid, Value> =
        crate::certificates::status::changes(db, &status_ids)
            .await?
            .into_iter()
            .map(|c| (c.change_id, serde_json::to_value(c).expect("serializes")))
            .collect();
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let ref_id: Uuid = r.get(2);
        let kind = if r.get::<_, &str>(1) == "credential" {
            "credential"
        } else {
            "status"
        };
        let leaf = if let Some(leaf) = r.get::<_, Option<&[u8]>>(4) {
            leaf.try_into()
                .map_err(|_| anyhow::anyhow!("queued leaf hash of {ref_id} is not 32 bytes"))?
        } else {
            let entry = match kind {
                "credential" => r
                    .get::<_, Option<&str>>(3)
                    .map(crate::certificates::stored_credential)
                    .transpose()?,
                _ => changes.remove(&ref_id),
            };
            // Both exist: their rows were checked above, in this transaction.
            let Some(entry) = entry else { continue };
            vc::logged::leaf_hash(&entry)?
        };
        out.push(Pending { kind, ref_id, leaf });
    }
    Ok((out, dropped))
}

/// Append what is pending and sign a checkpoint; returns the number of queue rows taken
/// (leaves appended, and rows dropped as not this node's to log).
pub async fn sequence_once(app: &App) -> anyhow::Result<usize> {
    let mut db = app.pool.get().await?;
    let tx = db.transaction().await?;
    let locked: bool = tx
        .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&SEQUENCER_LOCK])
        .await?
        .get(0);
    if !locked {
        return Ok(0);
    }
    super::fork::guard(&tx).await?;
    let start = store::size(&tx).await?;
    let (pending, dropped) = pending(&tx, app.node_region.as_str()).await?;
    let has_checkpoint = store::checkpoint(&tx, Some(start)).await?.is_some();
    if pending.is_empty() && has_checkpoint {
        // Keep what `pending` dropped from the queue (rows another node issued).
        tx.commit().await?;
        return Ok(dropped);
    }
    let leaves: Vec<tlog::Hash> = pending.iter().map(|p| p.leaf).collect();
    let (mut known, new_nodes) = if leaves.is_empty() {
        Default::default()
    } else {
        let needed = tlog::nodes_for_append_batch(start, leaves.len() as u64)?;
        let known = store::nodes(&tx, &needed).await?;
        let new_nodes = tlog::append_batch_nodes(start, &leaves, &known)?;
        (known, new_nodes)
    };
    if !pending.is_empty() {
        let indexes: Vec<i64> = (0..pending.len())
            .map(|i| (start + i as u64) as i64)
            .collect();
        let kinds: Vec<&str> = pending.iter().map(|p| p.kind).collect();
        let refs: Vec<Uuid> = pending.iter().map(|p| p.ref_id).collect();
        let hashes: Vec<&[u8]> = leaves.iter().map(|h| h.as_slice()).collect();
        tx.execute(
            "INSERT INTO tlog_leaves (leaf_index, kind, ref_id, leaf_hash)
             SELECT * FROM UNNEST($1::int8[], $2::text[], $3::uuid[], $4::bytea[])",
            &[&indexes, &kinds, &refs, &hashes],
        )
        .await?;
        tx.execute("DELETE FROM tlog_pending WHERE ref_id = ANY($1)", &[&refs])
            .await?;
    }
    let (levels, indexes, hashes): (Vec<i16>, Vec<i64>, Vec<&[u8]>) = new_nodes
        .iter()
        .map(|((l, i), h)| (*l as i16, *i as i64, h.as_slice()))
        .fold((vec![], vec![], vec![]), |mut acc, (l, i, h)| {
            acc.0.push(l);
            acc.1.push(i);
            acc.2.push(h);
            acc
        });
    tx.execute(
        "INSERT INTO tlog_nodes (level, idx, hash) SELECT * FROM UNNEST($1::int2[], $2::int8[], $3::bytea[])",
        &[&levels, &indexes, &hashes],
    )
    .await?;
    let size = start + leaves.len() as u64;
    known.extend(new_nodes);
    let missing = tlog::nodes_for_root(size)
        .into_iter()
        .filter(|id| !known.contains_key(id))
        .collect::<Vec<_>>();
    known.extend(store::nodes(&tx, &missing).await?);
    let root = tlog::root(size, &known)?;
    let note = sign_checkpoint(&app.log, size, &root)?;
    tx.execute(
        "INSERT INTO tlog_checkpoints (tree_size, root, note) VALUES ($1, $2, $3)",
        &[&(size as i64), &root.as_slice(), &note],
    )
    .await?;
    tx.commit().await?;
    metrics::counter!("gateway_tlog_leaves_total").increment(leaves.len() as u64);
    metrics::gauge!("gateway_tlog_size").set(size as f64);
    Ok(leaves.len() + dropped)
}

/// A C2SP checkpoint note for (size, root), signed by the node's checkpoint key.
pub fn sign_checkpoint(log: &Log, size: u64, root: &tlog::Hash) -> anyhow::Result<String> {
    let body = tlog::Checkpoint::new(&log.origin, size, *root).body();
    Ok(tlog::sign_note(&body, &log.origin, &log.key)?)
}
