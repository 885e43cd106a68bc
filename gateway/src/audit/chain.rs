//! The hash chain over the audit trail. Rows are inserted without chain columns (autocommit,
//! before the answer leaves); the chainer links committed rows shortly after, in id order:
//!
//! ```text
//! row_hash(seq) = SHA-256(prev_hash || JCS(audited fields of the row))
//! prev_hash(1)  = 32 zero bytes, prev_hash(seq) = row_hash(seq - 1)
//! ```
//!
//! JCS is RFC 8785 ([`vc::jcs::canonicalize`]) of the object `{id, at, principal_id,
//! principal_kind, role, node_region, action, target, purpose, results, request_id}` with `at`
//! as RFC 3339 UTC with microseconds (`2026-11-18T08:00:00.123456Z`), `id` and `results` as
//! numbers and a missing `request_id` as `null` (docs/audit.md).
//!
//! **Invariant:** one chainer at a time across every process of a node (a transaction-level
//! advisory lock); each round continues from the stored head, so seq has no gaps and every
//! `prev_hash` is the previous row's `row_hash`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use deadpool_postgres::GenericClient;
use serde_json::json;
use tokio_postgres::Row;

use crate::api::App;

/// The `prev_hash` of the first row.
pub const GENESIS: [u8; 32] = [0; 32];

/// Identifies the chainer's lock among advisory locks ("egw_audc").
const LOCK_KEY: i64 = 0x6567_775f_6175_6463;

/// Rows linked per transaction.
const BATCH: i64 = 2_000;

/// The columns a row's hash covers, in the order [`Audited::from_row`] reads them.
pub const FIELDS: &str = "id, at, principal_id, principal_kind, role, node_region, action, target, purpose, results, request_id";

/// The audited fields of one row of `audit_log`: what its hash covers.
#[derive(Debug, Clone)]
pub struct Audited {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub principal_id: String,
    pub principal_kind: String,
    pub role: String,
    pub node_region: String,
    pub action: String,
    pub target: String,
    pub purpose: String,
    pub results: i32,
    pub request_id: Option<String>,
}

impl Audited {
    /// Read [`FIELDS`] from `row`, starting at column `first`.
    pub fn from_row(row: &Row, first: usize) -> Audited {
        Audited {
            id: row.get(first),
            at: row.get(first + 1),
            principal_id: row.get(first + 2),
            principal_kind: row.get(first + 3),
            role: row.get(first + 4),
            node_region: row.get(first + 5),
            action: row.get(first + 6),
            target: row.get(first + 7),
            purpose: row.get(first + 8),
            results: row.get(first + 9),
            request_id: row.get(first + 10),
        }
    }

    /// The RFC 8785 canonical form of the audited fields.
    pub fn canonical(&self) -> Vec<u8> {
        let value = json!({
            "id": self.id,
            "at": self.at.to_rfc3339_opts(SecondsFormat::Micros, true),
            "principal_id": self.principal_id,
            "principal_kind": self.principal_kind,
            "role": self.role,
            "node_region": self.node_region,
            "action": self.action,
            "target": self.target,
            "purpose": self.purpose,
            "results": self.results,
            "request_id": self.request_id,
        });
        // Strings, null and integers far below 2^53: always canonicalizable.
        vc::jcs::canonicalize(&value).expect("audited fields canonicalize")
    }

    /// `SHA-256(prev || JCS(self))`.
    pub fn hash(&self, prev: &[u8]) -> [u8; 32] {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(prev);
        ctx.update(&self.canonical());
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        out
    }
}

/// The newest link of the chain: its seq and row hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub seq: i64,
    pub hash: Vec<u8>,
}

/// The chain's head as stored (`None` before the first row is chained).
pub async fn head(db: &impl GenericClient) -> Result<Option<Head>, tokio_postgres::Error> {
    let row = db
        .query_opt(
            "SELECT chain_seq, row_hash FROM audit_log WHERE chain_seq IS NOT NULL
             ORDER BY chain_seq DESC LIMIT 1",
            &[],
        )
        .await?;
    Ok(row.map(|r| Head {
        seq: r.get(0),
        hash: r.get(1),
    }))
}

/// One round: under the chainer lock, link up to [`BATCH`] committed unchained rows to the
/// stored head. Returns how many were linked (`None`: another process holds the lock).
pub async fn link_once(db: &mut deadpool_postgres::Client) -> anyhow::Result<Option<usize>> {
    let tx = db.transaction().await?;
    let locked: bool = tx
        .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await?
        .get(0);
    if !locked {
        return Ok(None);
    }
    let rows = tx
        .query(
            &format!("SELECT {FIELDS} FROM audit_log WHERE chain_seq IS NULL ORDER BY id LIMIT $1"),
            &[&BATCH],
        )
        .await?;
    if rows.is_empty() {
        return Ok(Some(0));
    }
    let (mut seq, mut prev) = match head(&tx).await? {
        Some(h) => (h.seq, h.hash),
        None => (0, GENESIS.to_vec()),
    };
    let (mut ids, mut seqs, mut prevs, mut hashes) = (vec![], vec![], vec![], vec![]);
    for row in &rows {
        let audited = Audited::from_row(row, 0);
        let hash = audited.hash(&prev).to_vec();
        seq += 1;
        ids.push(audited.id);
        seqs.push(seq);
        prevs.push(std::mem::replace(&mut prev, hash.clone()));
        hashes.push(hash);
    }
    tx.execute(
        "UPDATE audit_log a SET chain_seq = u.seq, prev_hash = u.prev, row_hash = u.hash
         FROM unnest($1::bigint[], $2::bigint[], $3::bytea[], $4::bytea[]) AS u(id, seq, prev, hash)
         WHERE a.id = u.id",
        &[&ids, &seqs, &prevs, &hashes],
    )
    .await?;
    tx.commit().await?;
    metrics::counter!("gateway_audit_chained_total").increment(ids.len() as u64);
    metrics::gauge!("gateway_audit_chain_seq").set(seq as f64);
    Ok(Some(ids.len()))
}

/// Rows not chained yet (the chain's lag), as a gauge.
async fn report_lag(db: &impl GenericClient) {
    if let Ok(row) = db
        .query_one(
            "SELECT count(*) FROM audit_log WHERE chain_seq IS NULL",
            &[],
        )
        .await
    {
        metrics::gauge!("gateway_audit_chain_lag_rows").set(row.get::<_, i64>(0) as f64);
    }
}

/// Start the chainer: a background task for the life of the process, one round every
/// `audit.chain_interval_ms` (at once again while a round fills a whole batch).
pub fn spawn(app: Arc<App>) {
    let interval = Duration::from_millis(app.config.audit.chain_interval_ms.max(1));
    tokio::spawn(async move {
        loop {
            let round = async {
                let mut db = app.pool.get().await?;
                let linked = link_once(&mut db).await?;
                report_lag(&db).await;
                anyhow::Ok(linked)
            }
            .await;
            match round {
                Ok(Some(n)) if n as i64 == BATCH => continue,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        "chaining the audit trail failed; will retry"
                    )
                }
            }
            tokio::time::sleep(interval).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> Audited {
        Audited {
            id: 7,
            at: "2026-11-18T08:00:00.5Z".parse().unwrap(),
            principal_id: "xifeng-approver".into(),
            principal_kind: "certificate".into(),
            role: "approver".into(),
            node_region: "621000000000".into(),
            action: "records.query".into(),
            target: "case_no=SCJG-1".into(),
            purpose: "审批核验".into(),
            results: 1,
            request_id: None,
        }
    }

    /// The canonical form is the documented one (docs/audit.md): sorted keys, microseconds.
    #[test]
    fn canonical_form_is_the_documented_one() {
        let text = String::from_utf8(row().canonical()).unwrap();
        assert_eq!(
            text,
            r#"{"action":"records.query","at":"2026-11-18T08:00:00.500000Z","id":7,"node_region":"621000000000","principal_id":"xifeng-approver","principal_kind":"certificate","purpose":"审批核验","request_id":null,"results":1,"role":"approver","target":"case_no=SCJG-1"}"#
        );
    }

    /// The hash covers the previous hash and every audited field.
    #[test]
    fn hash_links_to_the_previous_hash_and_covers_every_field() {
        let r = row();
        let first = r.hash(&GENESIS);
        let mut expected = GENESIS.to_vec();
        expected.extend(r.canonical());
        assert_eq!(
            first.as_slice(),
            ring::digest::digest(&ring::digest::SHA256, &expected).as_ref()
        );
        assert_ne!(r.hash(&first), first, "another prev, another hash");
        let mut changed = r.clone();
        changed.purpose = "其他".into();
        assert_ne!(changed.hash(&GENESIS), first);
        let mut changed = r;
        changed.at += chrono::Duration::microseconds(1);
        assert_ne!(changed.hash(&GENESIS), first);
    }
}
