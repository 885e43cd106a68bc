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
pub mod unusual;
pub mod verify;

use deadpool_postgres::GenericClient;
use serde::Deserialize;

use crate::api::auth::Caller;
use crate::api::problem::Problem;

/// The purpose every lookup must state: a code from the purpose list in force (`purpose=`) and,
/// where the code requires it, a free text (`purpose_text=`).
#[derive(Debug, Deserialize, Default, Clone)]
pub struct Purpose {
    pub purpose: Option<String>,
    pub purpose_text: Option<String>,
}

impl Purpose {
    pub fn new(purpose: Option<&str>, purpose_text: Option<&str>) -> Purpose {
        Purpose {
            purpose: purpose.map(str::to_owned),
            purpose_text: purpose_text.map(str::to_owned),
        }
    }

    /// The purpose as the audit trail records it: the code, or `code: text`. Refused when the
    /// code is missing or not in the list, or its required text is missing; a text is 1-500
    /// characters.
    pub fn check(&self, list: &domain::purposes::PurposeList) -> Result<String, Problem> {
        let code = self.purpose.as_deref().map(str::trim).unwrap_or_default();
        if code.is_empty() {
            return Err(Problem::new(
                "audit.purpose_required",
                "lookups of shared data must state their purpose (申请事由): ?purpose=<code>",
            ));
        }
        let Some(known) = list.get(code) else {
            let codes: Vec<&str> = list.purposes.iter().map(|p| p.code.as_str()).collect();
            return Err(Problem::new(
                "audit.purpose_unknown",
                format!(
                    "'{code}' is not a purpose code; use one of: {}",
                    codes.join(", ")
                ),
            ));
        };
        let text = self
            .purpose_text
            .as_deref()
            .map(str::trim)
            .unwrap_or_default();
        // The stored `code: text` fits the audit trail's column (1000) for any code under 498.
        if text.chars().count() > 500
            || code.chars().count() + text.chars().count() > 998
            || (known.requires_text && text.is_empty())
        {
            return Err(Problem::new(
                "audit.purpose_required",
                format!(
                    "purpose {code} ({}) needs a purpose_text of 1-500 characters",
                    known.name
                ),
            ));
        }
        Ok(if text.is_empty() {
            code.to_owned()
        } else {
            format!("{code}: {text}")
        })
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
            "INSERT INTO audit_log (principal_id, principal_kind, role, node_region, action, target, purpose, results, request_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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
            &crate::api::request_id::current(),
        ],
    )
    .await?;
    Ok(())
}
