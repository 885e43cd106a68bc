//! Receiving what a child node forwards. Records keep the id, `source` and `ingested_at` the
//! first node gave them; a record is stored once whatever the arrival order or the number of
//! retries (its id and its (source, case, version) key are both unique), and the highest
//! version of a case is its head. What is stored is queued for this node's own parent.

use std::collections::HashSet;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use domain::codes::region::RegionCode;
use domain::record::CaseRecord;
use uuid::Uuid;

use super::{ForwardReceipt, Forwarded};
use crate::api::App;
use crate::api::problem::Problem;
use crate::certificates::status;
use crate::tls::PeerIdentity;

/// The child node this request comes from: a peer certificate naming a configured child.
pub fn child_of(app: &App, peer: &PeerIdentity) -> Result<RegionCode, Problem> {
    let region = peer
        .node_region
        .as_deref()
        .filter(|_| peer.ca_role.as_deref() == Some("peer"));
    let Some(region) = region else {
        return Err(Problem::new(
            "federation.not_a_node",
            "only peer nodes (node certificates from the peer CA) may forward",
        ));
    };
    if !app
        .config
        .federation
        .children
        .iter()
        .any(|c| c.region == region)
    {
        return Err(Problem::new(
            "federation.unknown_node",
            format!("node {region} is not a configured child of this node"),
        ));
    }
    RegionCode::parse(region).map_err(Problem::internal)
}

pub async fn forward(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<PeerIdentity>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ForwardReceipt>, Problem> {
    let child = child_of(&app, &peer)?;
    let body = body?;
    let batch: Forwarded = serde_json::from_slice(&body)
        .map_err(|e| Problem::new("request.bad_json", format!("not a forwarding batch: {e}")))?;
    // A child forwards its own subtree's data only, in the canonical shape.
    let reference = app.reference.get();
    let regions = reference.regions();
    // (record id, department, node that first accepted it), for the metrics.
    let mut origins = Vec::with_capacity(batch.records.len());
    for r in &batch.records {
        let errors = reference.schema.errors(&r.body);
        if !errors.is_empty() {
            return Err(Problem::new(
                "request.bad_json",
                format!("record {} is not canonical: {}", r.record_id, errors[0]),
            ));
        }
        let record: CaseRecord = serde_json::from_value(r.body.clone()).map_err(|e| {
            Problem::new("request.bad_json", format!("record {}: {e}", r.record_id))
        })?;
        if !regions.is_within(&child, &record.region_code) {
            return Err(Problem::new(
                "auth.region",
                format!(
                    "record {} is for {}, outside node {child}'s region",
                    r.record_id, record.region_code
                ),
            ));
        }
        origins.push((
            r.record_id,
            record.source.department,
            record.source.node_region,
        ));
    }
    for c in &batch.credentials {
        let inside = RegionCode::parse(&c.region_code).is_ok_and(|r| regions.is_within(&child, &r));
        if !inside {
            return Err(Problem::new(
                "auth.region",
                format!(
                    "credential {} is outside node {child}'s region",
                    c.identifier
                ),
            ));
        }
    }
    for s in &batch.status_changes {
        let inside = RegionCode::parse(&s.issuer_node).is_ok_and(|r| regions.is_within(&child, &r));
        if !inside {
            return Err(Problem::new(
                "auth.region",
                format!(
                    "status change {} is for a certificate of node {}, outside node {child}'s region",
                    s.change_id, s.issuer_node
                ),
            ));
        }
    }
    let mut db = app.pool.get().await?;
    let forward = app.config.federation.parent.is_some();
    let (receipt, stored, changed) = store(&mut db, &child, batch, forward).await.map_err(|e| {
        match e.downcast::<tokio_postgres::Error>() {
            Ok(db) => Problem::from(db),
            Err(other) => Problem::internal(other),
        }
    })?;
    metrics::counter!("gateway_forwarded_in_total", "kind" => "record", "outcome" => "stored")
        .increment(receipt.records_stored as u64);
    metrics::counter!("gateway_forwarded_in_total", "kind" => "credential", "outcome" => "stored")
        .increment(receipt.credentials_stored as u64);
    crate::ops::record_forwarded(
        &app,
        origins
            .iter()
            .map(|(id, department, origin)| (department.as_str(), origin, stored.contains(id))),
    );
    crate::ops::record_forwarded_status(changed);
    Ok(Json(receipt))
}

/// Store a forwarding batch in one transaction.
async fn store(
    db: &mut deadpool_postgres::Client,
    child: &RegionCode,
    batch: Forwarded,
    forward: bool,
) -> anyhow::Result<(ForwardReceipt, HashSet<Uuid>, Vec<&'static str>)> {
    let tx = db.transaction().await?;
    let mut receipt = ForwardReceipt::default();
    // Certificate statuses this batch changed here, for the metrics (counted after COMMIT).
    let mut changed = Vec::new();
    let batch_id = Uuid::now_v7();
    let mut stored_records: HashSet<Uuid> = HashSet::new();
    for r in &batch.records {
        let body = &r.body;
        let hash = crate::ingest::content_hash(body);
        let key = |k: &str| body["source"][k].as_str().unwrap_or_default().to_owned();
        let (system, case_no, version) = (
            key("system"),
            body["case_no"].as_str().unwrap_or_default().to_owned(),
            body["version"].as_i64().unwrap_or_default(),
        );
        let inserted = tx
            .execute(
                "INSERT INTO case_records (record_id, source_system, case_no, version, department, region_code, item_code,
                    status, occurred_at, ingested_at, batch_id, content_hash, body, forwarded_from)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, ($9::text)::timestamptz, ($10::text)::timestamptz, $11, $12, $13, $14)
                 ON CONFLICT DO NOTHING",
                &[
                    &r.record_id,
                    &system,
                    &case_no,
                    &version,
                    &body["source"]["department"].as_str().unwrap_or_default(),
                    &body["region_code"].as_str().unwrap_or_default(),
                    &body["service_item"]["basic_code"].as_str().unwrap_or_default(),
                    &body["status"].as_str().unwrap_or_default(),
                    &body["timestamps"]["occurred"].as_str().unwrap_or_default(),
                    &body["ingested_at"].as_str().unwrap_or_default(),
                    &batch_id,
                    &hash,
                    body,
                    &child.as_str(),
                ],
            )
            .await?;
        if inserted == 1 {
            receipt.records_stored += 1;
            stored_records.insert(r.record_id);
            tx.execute(
                "INSERT INTO case_heads (source_system, case_no, version, record_id) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (source_system, case_no) DO UPDATE SET version = EXCLUDED.version, record_id = EXCLUDED.record_id
                 WHERE case_heads.version < EXCLUDED.version",
                &[&system, &case_no, &version, &r.record_id],
            )
            .await?;
            continue;
        }
        // Already here (a retry, or another path): the same content is a duplicate.
        let existing = tx
            .query_opt(
                "SELECT content_hash FROM case_records WHERE record_id = $1 OR (source_system = $2 AND case_no = $3 AND version = $4)",
                &[&r.record_id, &system, &case_no, &version],
            )
            .await?;
        match existing {
            Some(row) if row.get::<_, Vec<u8>>(0) == hash => receipt.records_duplicate += 1,
            _ => {
                receipt.records_conflict += 1;
                tracing::warn!(record_id = %r.record_id, from = %child, "forwarded record conflicts with a stored one");
            }
        }
    }
    // Electronic supervision follows each touched case's head.
    let stored: Vec<Uuid> = stored_records.iter().copied().collect();
    let supervised = crate::supervision::refresh_records(&tx, &stored).await?;
    if forward && !stored_records.is_empty() {
        let ids: Vec<Uuid> = batch
            .records
            .iter()
            .map(|r| r.record_id)
            .filter(|id| stored_records.contains(id))
            .collect();
        tx.execute(
            "INSERT INTO outbox (kind, ref_id) SELECT 'record', unnest($1::uuid[])",
            &[&ids],
        )
        .await?;
    }
    for c in &batch.credentials {
        // The credential's record must be here: it was forwarded before it (or in this batch).
        let has_record = tx
            .query_opt(
                "SELECT 1 FROM case_records WHERE record_id = $1",
                &[&c.record_id],
            )
            .await?
            .is_some();
        if !has_record {
            anyhow::bail!(
                "credential {} arrived before its record {}",
                c.credential_id,
                c.record_id
            );
        }
        tx.execute(
            "INSERT INTO certificates (identifier, authority_code, type_code, number, holder_code, holder_name, region_code,
                minted, current_version, status_index, issuer_node)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (identifier) DO UPDATE SET current_version = GREATEST(certificates.current_version, EXCLUDED.current_version)",
            &[
                &c.identifier,
                &c.authority_code,
                &c.type_code,
                &c.number,
                &c.holder_code,
                &c.holder_name,
                &c.region_code,
                &c.minted,
                &c.version,
                &c.status_index,
                &c.issuer_node,
            ],
        )
        .await?;
        let hash = hex::decode(&c.content_hash)?;
        let inserted = tx
            .execute(
                "INSERT INTO credential_versions (credential_id, identifier, version, record_id, content_hash, signing_key,
                    issued_at, credential)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
                &[&c.credential_id, &c.identifier, &c.version, &c.record_id, &hash, &c.signing_key, &c.issued_at, &c.credential],
            )
            .await?;
        if inserted == 1 {
            receipt.credentials_stored += 1;
            if forward {
                tx.execute(
                    "INSERT INTO outbox (kind, ref_id) VALUES ('certificate', $1)",
                    &[&c.credential_id],
                )
                .await?;
            }
        } else {
            receipt.credentials_duplicate += 1;
        }
    }
    // Status changes after the credentials: their certificates are here by now.
    for change in &batch.status_changes {
        match status::apply(&tx, change, Some(child.as_str()), forward).await? {
            status::Applied::NotFound => anyhow::bail!(
                "status change {} arrived before its certificate {}",
                change.change_id,
                change.identifier
            ),
            status::Applied::Unchanged => receipt.status_changes_duplicate += 1,
            applied => {
                receipt.status_changes_stored += 1;
                if applied == status::Applied::Changed {
                    changed.push(change.status.as_str());
                }
            }
        }
    }
    tx.commit().await?;
    supervised.committed();
    Ok((receipt, stored_records, changed))
}
