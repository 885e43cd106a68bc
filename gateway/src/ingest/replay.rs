//! Replaying quarantined records after a catalog or mapping fix (`gateway quarantine replay`).
//!
//! A rejected record is re-decoded from its batch's kept payload (so adapter context such as a
//! CSV header or an XML encoding declaration is there), re-normalized against the reference
//! data in force now, and stored through the same batch transaction as a push, under the
//! original pushing principal. A record that now passes is stored once and leaves the
//! quarantine in that transaction; one that still fails stays, with its new reasons. A payload
//! that could not be read at all is replayed as a whole batch.

use std::collections::BTreeMap;

use deadpool_postgres::Pool;
use domain::codes::region::RegionCode;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::receipt::Outcome;
use super::store::{self, BatchMeta};
use super::{Prepared, Pusher, Reference, prepare};
use crate::certificates::Issuer;

/// Which quarantined records to try again.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub ids: Vec<Uuid>,
    pub adapter: Option<String>,
    /// Queue stored records for the parent node (the node has one).
    pub forward: bool,
}

/// What happened to one quarantined record.
#[derive(Debug, Clone, Serialize)]
pub struct Replayed {
    pub quarantine_id: Uuid,
    pub adapter: String,
    pub position: Option<i32>,
    /// `stored`, `duplicate`, `still_rejected`, `conflict` or `unavailable`.
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<domain::FieldError>,
}

struct Row {
    id: Uuid,
    batch_id: Uuid,
    adapter: String,
    principal_id: String,
    department: String,
    position: Option<i32>,
    raw: Vec<u8>,
}

/// Replay every open quarantined record matching `filter`.
pub async fn replay(
    pool: &Pool,
    adapters: &[std::sync::Arc<dyn adapters::Adapter>],
    reference: &Reference,
    issuer: &Issuer,
    node_region: &RegionCode,
    filter: &Filter,
    max_records: usize,
) -> anyhow::Result<Vec<Replayed>> {
    let db = pool.get().await?;
    let rows = db
        .query(
            "SELECT id, batch_id, adapter, principal_id, department, position, raw FROM quarantine
             WHERE replayed_at IS NULL AND reason IN ('rejected', 'payload')
               AND (cardinality($1::uuid[]) = 0 OR id = ANY($1))
               AND ($2::text IS NULL OR adapter = $2)
             ORDER BY received_at, position",
            &[&filter.ids, &filter.adapter],
        )
        .await?;
    let rows: Vec<Row> = rows
        .iter()
        .map(|r| Row {
            id: r.get(0),
            batch_id: r.get(1),
            adapter: r.get(2),
            principal_id: r.get(3),
            department: r.get(4),
            position: r.get(5),
            raw: r.get(6),
        })
        .collect();
    drop(db);
    // One replay batch per original batch (and per unreadable payload).
    let mut groups: BTreeMap<(Uuid, bool), Vec<Row>> = BTreeMap::new();
    for row in rows {
        groups
            .entry((row.batch_id, row.position.is_none()))
            .or_default()
            .push(row);
    }
    let mut out = Vec::new();
    for ((batch_id, whole_payload), rows) in groups {
        out.extend(
            replay_group(
                pool,
                adapters.iter().find(|a| a.id() == rows[0].adapter).cloned(),
                reference,
                issuer,
                node_region,
                batch_id,
                whole_payload,
                rows,
                max_records,
                filter.forward,
            )
            .await?,
        );
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
async fn replay_group(
    pool: &Pool,
    adapter: Option<std::sync::Arc<dyn adapters::Adapter>>,
    reference: &Reference,
    issuer: &Issuer,
    node_region: &RegionCode,
    batch_id: Uuid,
    whole_payload: bool,
    rows: Vec<Row>,
    max_records: usize,
    forward: bool,
) -> anyhow::Result<Vec<Replayed>> {
    let first = &rows[0];
    let unavailable = |rows: &[Row], why: &str| -> Vec<Replayed> {
        rows.iter()
            .map(|r| Replayed {
                quarantine_id: r.id,
                adapter: r.adapter.clone(),
                position: r.position,
                outcome: "unavailable".into(),
                record_id: None,
                errors: vec![domain::FieldError::new("", "replay.unavailable", why)],
            })
            .collect()
    };
    let Some(adapter) = adapter else {
        return Ok(unavailable(
            &rows,
            "this gateway has no such adapter any more",
        ));
    };
    let db = pool.get().await?;
    let payload: Vec<u8> = if whole_payload {
        first.raw.clone()
    } else {
        match db
            .query_opt(
                "SELECT payload FROM ingest_payloads WHERE batch_id = $1",
                &[&batch_id],
            )
            .await?
        {
            Some(r) => r.get(0),
            None => return Ok(unavailable(&rows, "the batch's payload was not kept")),
        }
    };
    let principal = crate::principals::get(&db, &first.principal_id).await?;
    let Some(principal) = principal.filter(|p| p.status == "active") else {
        return Ok(unavailable(
            &rows,
            "the pushing principal is no longer active",
        ));
    };
    let pusher = Pusher {
        principal_id: first.principal_id.clone(),
        department: first.department.clone(),
        node_region: node_region.clone(),
    };
    let now = chrono::Utc::now().with_timezone(&adapters::common::beijing());
    let prepared = match prepare(
        adapter.as_ref(),
        &payload,
        &pusher,
        reference,
        now,
        max_records,
    ) {
        Ok(p) => p,
        Err(e) => {
            let error = domain::FieldError::new("", e.code, e.message);
            mark_attempt(&db, &rows, std::slice::from_ref(&error)).await?;
            return Ok(rows
                .iter()
                .map(|r| replayed(r, "still_rejected", None, vec![error.clone()]))
                .collect());
        }
    };
    // Records outside the principal's region stay quarantined (the push would be refused).
    let own = RegionCode::parse(&principal.region_code)?;
    let wanted: Vec<(usize, Uuid)> = if whole_payload {
        Vec::new()
    } else {
        rows.iter()
            .filter_map(|r| r.position.map(|p| (p as usize, r.id)))
            .collect()
    };
    let keep = |position: usize| whole_payload || wanted.iter().any(|(p, _)| *p == position);
    let selected = Prepared {
        valid: prepared
            .valid
            .into_iter()
            .filter(|v| keep(v.position) && reference.regions().is_within(&own, &v.region))
            .collect(),
        // A whole payload's bad records are quarantined anew, each on its own.
        invalid: if whole_payload {
            prepared.invalid.clone()
        } else {
            Vec::new()
        },
        payload: prepared.payload,
    };
    let meta = BatchMeta {
        batch_id: Uuid::now_v7(),
        client_batch_id: None,
        adapter: adapter.id().to_owned(),
        principal_id: first.principal_id.clone(),
        department: first.department.clone(),
        received_at: now,
        replay_of: wanted.clone(),
        forward,
        // `gateway quarantine replay` is a process of its own, with no drainers.
        recent: None,
    };
    let receipt = store::commit(&db, &meta, selected, issuer, false).await?;
    if whole_payload {
        db.execute(
            "UPDATE quarantine SET replayed_at = now(), last_replay_at = now(), replay_attempts = replay_attempts + 1 WHERE id = $1",
            &[&first.id],
        )
        .await?;
        return Ok(vec![replayed(first, "stored", None, Vec::new())]);
    }
    let mut out = Vec::new();
    for row in &rows {
        let position = row.position.unwrap_or_default() as usize;
        let outcome = receipt
            .records
            .iter()
            .find(|o| o.position == position)
            .map(|o| &o.outcome);
        let result = match outcome {
            Some(Outcome::Accepted { record_id, .. }) => {
                replayed(row, "stored", Some(*record_id), Vec::new())
            }
            Some(Outcome::Duplicate { record_id }) => {
                replayed(row, "duplicate", Some(*record_id), Vec::new())
            }
            Some(Outcome::VersionConflict { errors, .. }) => {
                replayed(row, "conflict", None, errors.clone())
            }
            Some(Outcome::Rejected { errors, .. }) => {
                replayed(row, "still_rejected", None, errors.clone())
            }
            None => {
                let errors = prepared
                    .invalid
                    .iter()
                    .find(|i| i.position == position)
                    .map(|i| i.errors.clone())
                    .unwrap_or_else(|| {
                        vec![domain::FieldError::new(
                            "/region_code",
                            "auth.region",
                            "the record is outside the pushing principal's region",
                        )]
                    });
                replayed(row, "still_rejected", None, errors)
            }
        };
        if result.record_id.is_none() {
            mark_attempt(&db, std::slice::from_ref(row), &result.errors).await?;
        }
        out.push(result);
    }
    Ok(out)
}

fn replayed(
    row: &Row,
    outcome: &str,
    record_id: Option<Uuid>,
    errors: Vec<domain::FieldError>,
) -> Replayed {
    Replayed {
        quarantine_id: row.id,
        adapter: row.adapter.clone(),
        position: row.position,
        outcome: outcome.into(),
        record_id,
        errors,
    }
}

/// A replay that did not store the record: count it, and keep the latest reasons.
async fn mark_attempt(
    db: &deadpool_postgres::Client,
    rows: &[Row],
    errors: &[domain::FieldError],
) -> anyhow::Result<()> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    db.execute(
        "UPDATE quarantine SET replay_attempts = replay_attempts + 1, last_replay_at = now(), errors = $2 WHERE id = ANY($1)",
        &[&ids, &json!(errors)],
    )
    .await?;
    Ok(())
}
