//! Certificate status: suspension (暂停, 挂失: reversible) and revocation (吊销: final), set by
//! the issuing department — through `POST /v1/certificates/{id}/status` at the issuing node or
//! as a case update carrying the certificate's new status — and published as this node's W3C
//! Bitstring Status List credentials (one list per purpose; a certificate's bit is its
//! `status_index`). A status change never re-signs the credential.
//!
//! Every change is a row of `certificate_status_changes`, forwarded up the tree like records, so
//! every tier above knows the status of the certificates it holds. Changes are applied in the
//! order they happened (`at`), whatever order they arrive in; once revoked, a certificate stays
//! revoked.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use domain::record::CertificateStatus;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use vc::ecert::StatusPurpose;
use vc::status_list::{ListCredentialInput, MIN_BITS, StatusList, issue_list_credential};

use super::Issuer;

/// One change of a certificate's status.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Change {
    pub change_id: Uuid,
    pub identifier: String,
    /// The node that issued the certificate (and publishes its status lists).
    pub issuer_node: String,
    pub status: CertificateStatus,
    pub reason: String,
    pub changed_by: String,
    /// `api` or `case_update`.
    pub source: String,
    pub at: DateTime<Utc>,
}

/// What applying a change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The certificate now has the new status.
    Changed,
    /// Recorded, but a later change (or revocation) decides the current status.
    Recorded,
    /// Already recorded (same change id), or the certificate already has this status.
    Unchanged,
    /// A revoked certificate cannot be suspended or reinstated.
    Final,
    /// No such certificate here.
    NotFound,
}

/// Apply `change` inside the caller's transaction (the certificate row is locked), queueing it
/// for the parent when `forward`. `forwarded_from` names the child it came from.
pub async fn apply(
    tx: &impl GenericClient,
    change: &Change,
    forwarded_from: Option<&str>,
    forward: bool,
) -> anyhow::Result<Applied> {
    let Some(row) = tx
        .query_opt(
            "SELECT status, status_changed_at FROM certificates WHERE identifier = $1 FOR UPDATE",
            &[&change.identifier],
        )
        .await?
    else {
        return Ok(Applied::NotFound);
    };
    let current = CertificateStatus::parse(row.get(0)).expect("checked by the table");
    let changed_at: Option<DateTime<Utc>> = row.get(1);
    let revoked = current == CertificateStatus::Revoked;
    if forwarded_from.is_none() && (current == change.status || revoked) {
        // A local request: nothing to record when it changes nothing or comes too late.
        return Ok(if revoked && change.status != current {
            Applied::Final
        } else {
            Applied::Unchanged
        });
    }
    let inserted = tx
        .execute(
            "INSERT INTO certificate_status_changes
               (change_id, identifier, issuer_node, status, reason, changed_by, source, at, forwarded_from)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (change_id) DO NOTHING",
            &[
                &change.change_id,
                &change.identifier,
                &change.issuer_node,
                &change.status.as_str(),
                &change.reason,
                &change.changed_by,
                &change.source,
                &change.at,
                &forwarded_from,
            ],
        )
        .await?;
    if inserted == 0 {
        return Ok(Applied::Unchanged);
    }
    if forward {
        crate::federation::outbox::queue(tx, "status", &[change.change_id]).await?;
    }
    // A change older than the one that set the current status is history only; revocation is
    // final whatever arrives later.
    let newer = changed_at.is_none_or(|t| change.at >= t);
    if revoked || !newer {
        return Ok(Applied::Recorded);
    }
    tx.execute(
        "UPDATE certificates SET status = $2, status_changed_at = $3 WHERE identifier = $1",
        &[&change.identifier, &change.status.as_str(), &change.at],
    )
    .await?;
    Ok(Applied::Changed)
}

/// Status changes by id, for forwarding.
pub async fn changes(tx: &impl GenericClient, ids: &[Uuid]) -> anyhow::Result<Vec<Change>> {
    let rows = tx
        .query(
            "SELECT change_id, identifier, issuer_node, status, reason, changed_by, source, at
             FROM certificate_status_changes WHERE change_id = ANY($1) ORDER BY at, change_id",
            &[&ids],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Change {
            change_id: r.get(0),
            identifier: r.get(1),
            issuer_node: r.get(2),
            status: CertificateStatus::parse(r.get(3)).expect("checked by the table"),
            reason: r.get(4),
            changed_by: r.get(5),
            source: r.get(6),
            at: r.get(7),
        })
        .collect())
}

/// The status of a certificate this node holds: (revoked, suspended).
pub async fn of(db: &impl GenericClient, identifier: &str) -> anyhow::Result<Option<(bool, bool)>> {
    Ok(db
        .query_opt(
            "SELECT status FROM certificates WHERE identifier = $1",
            &[&identifier],
        )
        .await?
        .map(|r| {
            let status: &str = r.get(0);
            (status == "revoked", status == "suspended")
        }))
}

/// This node's status list credential for `purpose`, signed now, valid for `ttl`.
pub async fn list_credential(
    db: &impl GenericClient,
    issuer: &Issuer,
    purpose: StatusPurpose,
    ttl: chrono::Duration,
) -> anyhow::Result<serde_json::Value> {
    let set = match purpose {
        StatusPurpose::Revocation => "revoked",
        StatusPurpose::Suspension => "suspended",
    };
    let node = issuer.node_region.as_str();
    let rows = db
        .query(
            "SELECT status_index FROM certificates WHERE issuer_node = $1 AND status = $2",
            &[&node, &set],
        )
        .await?;
    let highest = db
        .query_one(
            "SELECT coalesce(max(status_index), 0) FROM certificates WHERE issuer_node = $1",
            &[&node],
        )
        .await?
        .get::<_, i64>(0) as usize;
    // The list grows in 16 KB steps as the node issues more certificates (the spec's minimum).
    let bits = (highest + 1).div_ceil(MIN_BITS) * MIN_BITS;
    let mut list = StatusList::with_len(bits)?;
    for r in &rows {
        list.set(r.get::<_, i64>(0) as u64, true)?;
    }
    let now = Utc::now();
    let input = ListCredentialInput {
        url: vc::ecert::status_list_url(issuer.status_base_url(), &issuer.node_region, purpose),
        purpose,
        node_region: issuer.node_region.clone(),
        issuer_name: issuer.name.clone(),
        valid_from: now,
        valid_until: Some(now + ttl),
    };
    Ok(issue_list_credential(&input, &list, &*issuer.key()?, now)?)
}
