//! Appending to the log. Credentials and status changes are committed with their batch or
//! request; a background sequencer (one process of the node at a time, under an advisory lock)
//! then gives them leaf indexes in the order they were made, stores the new complete
//! subtrees' hashes and signs a checkpoint for the new size, all in one transaction. A proof is
//! available once the next round ran (`transparency.sequence_interval_ms`).

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

/// One entry to log, as stored.
pub struct Pending {
    pub kind: &'static str,
    pub ref_id: Uuid,
    pub entry: Value,
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
                "SELECT credential FROM credential_versions WHERE credential_id = $1",
                &[&ref_id],
            )
            .await?
            .map(|r| r.get(0)),
        _ => crate::certificates::status::changes(db, &[ref_id])
            .await?
            .into_iter()
            .next()
            .map(|c| serde_json::to_value(c).expect("serializes")),
    })
}

/// Own credentials and status changes not yet in the log, oldest first.
async fn pending(db: &impl GenericClient, node: &str) -> anyhow::Result<Vec<Pending>> {
    let rows = db
        .query(
            "SELECT kind, ref_id FROM (
               SELECT 'credential' AS kind, v.credential_id AS ref_id, v.issued_at AS at
               FROM credential_versions v JOIN certificates c ON c.identifier = v.identifier
               WHERE c.issuer_node = $1
                 AND NOT EXISTS (SELECT 1 FROM tlog_leaves l WHERE l.ref_id = v.credential_id)
               UNION ALL
               SELECT 'status', s.change_id, s.at FROM certificate_status_changes s
               WHERE s.issuer_node = $1 AND s.forwarded_from IS NULL
                 AND NOT EXISTS (SELECT 1 FROM tlog_leaves l WHERE l.ref_id = s.change_id)
             ) p ORDER BY at, ref_id LIMIT $2",
            &[&node, &BATCH],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let kind = if r.get::<_, &str>(0) == "credential" {
            "credential"
        } else {
            "status"
        };
        let ref_id: Uuid = r.get(1);
        if let Some(entry) = entry(db, kind, ref_id).await? {
            out.push(Pending {
                kind,
                ref_id,
                entry,
            });
        }
    }
    Ok(out)
}

/// Append what is pending and sign a checkpoint; returns the number of leaves appended.
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
    let start = store::size(&tx).await?;
    let pending = pending(&tx, app.node_region.as_str()).await?;
    let has_checkpoint = store::checkpoint(&tx, Some(start)).await?.is_some();
    if pending.is_empty() && has_checkpoint {
        return Ok(0);
    }
    let leaves = pending
        .iter()
        .map(|p| vc::logged::leaf_hash(&p.entry))
        .collect::<Result<Vec<_>, _>>()?;
    let (mut known, new_nodes) = if leaves.is_empty() {
        Default::default()
    } else {
        let needed = tlog::nodes_for_append_batch(start, leaves.len() as u64)?;
        let known = store::nodes(&tx, &needed).await?;
        let new_nodes = tlog::append_batch_nodes(start, &leaves, &known)?;
        (known, new_nodes)
    };
    for (i, p) in pending.iter().enumerate() {
        tx.execute(
            "INSERT INTO tlog_leaves (leaf_index, kind, ref_id, leaf_hash) VALUES ($1, $2, $3, $4)",
            &[
                &((start + i as u64) as i64),
                &p.kind,
                &p.ref_id,
                &leaves[i].as_slice(),
            ],
        )
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
    Ok(leaves.len())
}

/// A C2SP checkpoint note for (size, root), signed by the node's checkpoint key.
pub fn sign_checkpoint(log: &Log, size: u64, root: &tlog::Hash) -> anyhow::Result<String> {
    let body = tlog::Checkpoint::new(&log.origin, size, *root).body();
    Ok(tlog::sign_note(&body, &log.origin, &log.key)?)
}
