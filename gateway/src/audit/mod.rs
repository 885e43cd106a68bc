//! The audit trail of shared-data lookups. Every lookup of a certificate (by identifier or
//! holder) or of case records states a purpose (申请事由) and is recorded — who, in which role,
//! on which node, what, how many results, why, when — and the row is committed before the answer
//! leaves: no answer without its audit row.
//!
//! The trail is tamper-evident:
//! - [`chain`]: one chainer at a time (advisory lock) links committed rows into a SHA-256 hash
//!   chain shortly after they are written (`chain_seq`, `prev_hash`, `row_hash`).
//! - [`heads`]: each node sends its chain head to its parent, which acknowledges and keeps it,
//!   so a truncated or rewritten chain is detectable (`/v1/federation/audit-head`).
//! - [`verify`]: `gateway audit verify` recomputes the chain and checks it against the parent's
//!   head, reporting the first broken link.

pub mod chain;
pub mod heads;
pub mod verify;

use deadpool_postgres::GenericClient;
use serde::Deserialize;

use crate::api::auth::Caller;
use crate::api::problem::Problem;

/// The `purpose` query parameter every lookup must carry.
#[derive(Debug, Deserialize, Default)]
pub struct Purpose {
    pub purpose: Option<String>,
}

impl Purpose {
    /// The stated purpose, trimmed; refused when missing, blank or longer than 500 characters.
    pub fn required(&self) -> Result<String, Problem> {
        let p = self.purpose.as_deref().map(str::trim).unwrap_or_default();
        if p.is_empty() || p.chars().count() > 500 {
            return Err(Problem::new(
                "audit.purpose_required",
                "lookups of shared data must state their purpose (申请事由): ?purpose=… (1-500 characters)",
            ));
        }
        Ok(p.to_owned())
    }
}

/// One lookup to record.
pub struct Entry<'a> {
    pub action: &'a str,
    pub target: String,
    pub purpose: &'a str,
    pub results: usize,
}

/// Record a lookup (autocommit: the row is durable when this returns).
pub async fn record(
    db: &impl GenericClient,
    caller: &Caller,
    node_region: &str,
    entry: Entry<'_>,
) -> Result<(), Problem> {
    let stmt = db
        .prepare_cached(
            "INSERT INTO audit_log (principal_id, principal_kind, role, node_region, action, target, purpose, results)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .await
        ?;
    db.execute(
        &stmt,
        &[
            &caller.id,
            &caller.kind.as_str(),
            &caller.role,
            &node_region,
            &entry.action,
            &entry.target,
            &entry.purpose,
            &(entry.results as i32),
        ],
    )
    .await?;
    Ok(())
}
