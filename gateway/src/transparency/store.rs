//! Reading the log's tables: complete-subtree hashes fetched in one query per computation (the
//! `tlog` crate lists exactly which it needs), sizes and checkpoints.

use std::collections::HashMap;

use deadpool_postgres::GenericClient;
use tlog::{Hash, NodeId};

/// The hashes of `ids` as stored; missing ones are absent (the computation then fails).
pub async fn nodes(
    db: &impl GenericClient,
    ids: &[NodeId],
) -> anyhow::Result<HashMap<NodeId, Hash>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let levels: Vec<i16> = ids.iter().map(|(l, _)| *l as i16).collect();
    let indexes: Vec<i64> = ids.iter().map(|(_, i)| *i as i64).collect();
    let rows = db
        .query(
            "SELECT n.level, n.idx, n.hash FROM tlog_nodes n
             JOIN UNNEST($1::int2[], $2::int8[]) AS w(level, idx) ON n.level = w.level AND n.idx = w.idx",
            &[&levels, &indexes],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let hash: Vec<u8> = r.get(2);
            let hash = Hash::try_from(hash.as_slice())
                .map_err(|_| anyhow::anyhow!("a stored node hash is not 32 bytes"))?;
            Ok(((r.get::<_, i16>(0) as u8, r.get::<_, i64>(1) as u64), hash))
        })
        .collect()
}

/// The number of leaves.
pub async fn size(db: &impl GenericClient) -> anyhow::Result<u64> {
    let row = db
        .query_one(
            "SELECT coalesce(max(leaf_index) + 1, 0) FROM tlog_leaves",
            &[],
        )
        .await?;
    Ok(row.get::<_, i64>(0) as u64)
}

/// A stored checkpoint: (size, note).
pub async fn checkpoint(
    db: &impl GenericClient,
    size: Option<u64>,
) -> anyhow::Result<Option<(u64, String)>> {
    let row = match size {
        Some(s) => {
            db.query_opt(
                "SELECT tree_size, note FROM tlog_checkpoints WHERE tree_size = $1",
                &[&(s as i64)],
            )
            .await?
        }
        None => {
            db.query_opt(
                "SELECT tree_size, note FROM tlog_checkpoints ORDER BY tree_size DESC LIMIT 1",
                &[],
            )
            .await?
        }
    };
    Ok(row.map(|r| (r.get::<_, i64>(0) as u64, r.get(1))))
}

/// This node's latest checkpoint, and the size of its latest cosigned one: enough to tell,
/// for a leaf no cosigned checkpoint contains, which checkpoint proves it (the latest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestCheckpoints {
    /// (size, note).
    pub latest: Option<(u64, String)>,
    pub cosigned_size: Option<u64>,
}

pub async fn latest_checkpoints(db: &impl GenericClient) -> anyhow::Result<LatestCheckpoints> {
    let row = db
        .query_one(
            "SELECT l.tree_size, l.note,
                    (SELECT max(tree_size) FROM tlog_checkpoints WHERE witnesses > 0)
             FROM (SELECT 1) one
             LEFT JOIN LATERAL (SELECT tree_size, note FROM tlog_checkpoints
                                ORDER BY tree_size DESC LIMIT 1) l ON true",
            &[],
        )
        .await?;
    Ok(LatestCheckpoints {
        latest: row
            .get::<_, Option<i64>>(0)
            .map(|size| (size as u64, row.get(1))),
        cosigned_size: row.get::<_, Option<i64>>(2).map(|size| size as u64),
    })
}

/// The smallest checkpoint at least `min_size` that a witness cosigned (its note has a
/// cosignature line), else the latest checkpoint at least that size.
pub async fn best_checkpoint(
    db: &impl GenericClient,
    min_size: u64,
) -> anyhow::Result<Option<(u64, String, bool)>> {
    let row = db
        .query_opt(
            "SELECT tree_size, note, witnesses > 0 FROM tlog_checkpoints WHERE tree_size >= $1
             ORDER BY witnesses > 0 DESC, CASE WHEN witnesses > 0 THEN tree_size ELSE -tree_size END
             LIMIT 1",
            &[&(min_size as i64)],
        )
        .await?;
    Ok(row.map(|r| (r.get::<_, i64>(0) as u64, r.get(1), r.get(2))))
}
