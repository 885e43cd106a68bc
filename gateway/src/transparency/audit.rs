//! `gateway log audit`: recompute the log from the stored credentials and status changes and
//! compare it with the signed checkpoint. A changed credential row, a deleted row, a gap in
//! the leaves or an edited node hash is reported; the checkpoint's signature makes the stored
//! leaf hashes themselves untrustworthy, so every leaf is recomputed from its source row.

use clap::Subcommand;
use serde::Serialize;
use tlog::{Hash, VerifierKey};

use super::sequencer;
use super::store;
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum LogCommand {
    /// Recompute the transparency log from the stored rows; exit 1 on any difference.
    Audit {
        /// Print the findings as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// One difference between the rows and the log.
#[derive(Debug, Serialize)]
pub struct Finding {
    /// `changed`, `missing`, `gap`, `node` or `checkpoint`.
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leaf_index: Option<u64>,
    pub message: String,
}

pub async fn run(cmd: LogCommand, config: &Config) -> anyhow::Result<()> {
    let LogCommand::Audit { json } = cmd;
    let pool = crate::db::connect(config).await?;
    let db = pool.get().await?;
    let (size, findings) = audit(&db, config).await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"tree_size": size, "findings": findings})
            )?
        );
    } else {
        for f in &findings {
            match f.leaf_index {
                Some(i) => println!("{} leaf {i}: {}", f.kind, f.message),
                None => println!("{}: {}", f.kind, f.message),
            }
        }
        println!("{size} leaves checked, {} finding(s)", findings.len());
    }
    if findings.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("the transparency log does not match the stored rows")
    }
}

/// (log size, findings).
pub async fn audit(
    db: &deadpool_postgres::Client,
    config: &Config,
) -> anyhow::Result<(u64, Vec<Finding>)> {
    let mut findings = Vec::new();
    let rows = db
        .query(
            "SELECT l.leaf_index, l.kind, l.ref_id, l.leaf_hash,
                    coalesce(v.identifier || ' version ' || v.version, s.identifier || ' status ' || s.status)
             FROM tlog_leaves l
             LEFT JOIN credential_versions v ON v.credential_id = l.ref_id
             LEFT JOIN certificate_status_changes s ON s.change_id = l.ref_id
             ORDER BY l.leaf_index",
            &[],
        )
        .await?;
    let mut log = tlog::MemoryLog::new();
    for r in &rows {
        let index = r.get::<_, i64>(0) as u64;
        let (kind, ref_id): (&str, uuid::Uuid) = (r.get(1), r.get(2));
        let stored = Hash::try_from(r.get::<_, &[u8]>(3))?;
        let what: Option<String> = r.get(4);
        if index != log.size() {
            findings.push(Finding {
                kind: "gap",
                leaf_index: Some(log.size()),
                message: format!("leaves {}..{index} are missing", log.size()),
            });
            break;
        }
        let leaf = match sequencer::entry(db, kind, ref_id).await? {
            Some(entry) => {
                let leaf = vc::logged::leaf_hash(&entry)?;
                if leaf != stored {
                    findings.push(Finding {
                        kind: "changed",
                        leaf_index: Some(index),
                        message: format!(
                            "{kind} {} ({ref_id}) differs from what was logged",
                            what.unwrap_or_default()
                        ),
                    });
                }
                leaf
            }
            None => {
                findings.push(Finding {
                    kind: "missing",
                    leaf_index: Some(index),
                    message: format!("the {kind} row {ref_id} is gone"),
                });
                stored
            }
        };
        log.push_leaf_hash(leaf);
    }
    let size = log.size();
    // Every stored complete subtree must be the recomputed one.
    let stored_nodes = db
        .query(
            "SELECT level, idx, hash FROM tlog_nodes ORDER BY level, idx",
            &[],
        )
        .await?;
    let recomputed: std::collections::HashMap<_, _> = log.nodes().collect();
    for r in &stored_nodes {
        let id = (r.get::<_, i16>(0) as u8, r.get::<_, i64>(1) as u64);
        let hash: &[u8] = r.get(2);
        if recomputed.get(&id).map(|h| h.as_slice()) != Some(hash) {
            findings.push(Finding {
                kind: "node",
                leaf_index: None,
                message: format!("stored node (level {}, index {}) differs", id.0, id.1),
            });
        }
    }
    // The latest checkpoint, under the node's checkpoint key, must commit to the recomputed root.
    if let Some((cp_size, note)) = store::checkpoint(db, None).await? {
        let node = domain::codes::region::RegionCode::parse(&config.node.region)?;
        let trust = crate::certificates::load_trust_bundle(config)?;
        let log_key = super::Log::load(config, &node, &trust.network_base_url)?;
        let public: [u8; 32] = ring::signature::KeyPair::public_key(&log_key.key)
            .as_ref()
            .try_into()?;
        let verifier = VerifierKey::ed25519(&log_key.origin, &public)?;
        match tlog::open_note(&note, &[verifier]) {
            Ok((checkpoint, _)) if cp_size <= size => {
                let root = log.root_at(cp_size)?;
                if root != checkpoint.root {
                    findings.push(Finding {
                        kind: "checkpoint",
                        leaf_index: None,
                        message: format!(
                            "the signed checkpoint of size {cp_size} commits to another root than the stored rows give"
                        ),
                    });
                }
            }
            Ok(_) => findings.push(Finding {
                kind: "checkpoint",
                leaf_index: None,
                message: format!(
                    "the signed checkpoint has size {cp_size}, the stored leaves {size}"
                ),
            }),
            Err(e) => findings.push(Finding {
                kind: "checkpoint",
                leaf_index: None,
                message: format!("the latest checkpoint does not verify: {e}"),
            }),
        }
    }
    Ok((size, findings))
}
