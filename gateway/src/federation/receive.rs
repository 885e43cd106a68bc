//! Receiving what a child node forwards. Records keep the id, `source` and `ingested_at` the
//! first node gave them; a record is stored once whatever the arrival order or the number of
//! retries (its id and its (source, case, version) key are both unique), and the highest
//! version of a case is its head. What is stored is queued for this node's own parent.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use chrono::{DateTime, FixedOffset};
use deadpool_postgres::Transaction;
use domain::codes::region::RegionCode;
use domain::record::CaseRecord;
use uuid::Uuid;

use super::recent::Recent;
use super::{ForwardReceipt, Forwarded, ForwardedCredential, ForwardedRecord};
use crate::api::App;
use crate::api::problem::Problem;
use crate::certificates::status;
use crate::ingest::Reference;
use crate::ingest::store::{self, RecordRow};
use crate::supervision::Facts;
use crate::supervision::refresh::Written;
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

/// Forwarded records at least this many are checked in parallel chunks.
const PARALLEL_FROM: usize = 64;

/// A forwarded record that passed the checks, with what its row needs.
struct Incoming {
    record_id: Uuid,
    system: String,
    case_no: String,
    version: i64,
    department: String,
    region: String,
    item: String,
    status: String,
    occurred: DateTime<FixedOffset>,
    ingested: DateTime<FixedOffset>,
    /// The node that first accepted it (for the metrics).
    origin: RegionCode,
    content_hash: Vec<u8>,
    /// The body as JSON text, from the same RFC 8785 pass as the hash.
    json: bytes::Bytes,
    /// What the supervision state is computed from, taken from the typed record (as a push's
    /// are), so the parsed body is dropped with the checks.
    facts: Facts,
    item_name: String,
}

impl Incoming {
    fn key(&self) -> (&str, &str, i64) {
        (&self.system, &self.case_no, self.version)
    }
}

/// Check one forwarded record: canonical (schema), inside the child's region. CPU-bound.
fn check(
    r: ForwardedRecord,
    child: &RegionCode,
    reference: &Reference,
) -> Result<Incoming, Problem> {
    let body: serde_json::Value = serde_json::from_str(r.body.get())
        .map_err(|e| Problem::new("request.bad_json", format!("record {}: {e}", r.record_id)))?;
    let errors = reference.schema.errors(&body);
    if let Some(first) = errors.first() {
        return Err(Problem::new(
            "request.bad_json",
            format!("record {} is not canonical: {first}", r.record_id),
        ));
    }
    // The stored form first, then the typed record takes the tree's strings instead of copies.
    let canonical = crate::ingest::canonical::canonical(&body);
    let record: CaseRecord = serde_json::from_value(body)
        .map_err(|e| Problem::new("request.bad_json", format!("record {}: {e}", r.record_id)))?;
    if !reference.regions().is_within(child, &record.region_code) {
        return Err(Problem::new(
            "auth.region",
            format!(
                "record {} is for {}, outside node {child}'s region",
                r.record_id, record.region_code
            ),
        ));
    }
    Ok(Incoming {
        record_id: r.record_id,
        region: record.region_code.to_string(),
        item: record.service_item.basic_code.to_string(),
        status: record.status.as_str().to_owned(),
        occurred: record.timestamps.occurred,
        ingested: record.ingested_at,
        origin: record.source.node_region,
        system: record.source.system,
        department: record.source.department,
        case_no: record.case_no,
        version: record.version,
        content_hash: canonical.content_hash,
        item_name: record.service_item.name,
        facts: Facts {
            timestamps: record.timestamps,
            time_limits: record.time_limits,
            status: record.status,
            holds: record.holds,
        },
        json: canonical.json.into(),
    })
}

pub async fn forward(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<PeerIdentity>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ForwardReceipt>, Problem> {
    let child = child_of(&app, &peer)?;
    let body = body?;
    // Parsing, schema checks and hashing are CPU work: off the async threads (unless small), over the cores.
    let reference = app.reference.get();
    let (records, batch) = {
        let child = child.clone();
        let reference = reference.clone();
        crate::parallel::cpu(body.len(), move || -> Result<_, Problem> {
            let mut batch: Forwarded = serde_json::from_slice(&body).map_err(|e| {
                Problem::new("request.bad_json", format!("not a forwarding batch: {e}"))
            })?;
            let records = std::mem::take(&mut batch.records);
            let records =
                crate::parallel::map(records, PARALLEL_FROM, |r| check(r, &child, &reference))
                    .into_iter()
                    .collect::<Result<Vec<Incoming>, Problem>>()?;
            Ok((records, batch))
        })
        .await
        .map_err(Problem::internal)??
    };
    // A child forwards its own subtree's data only.
    let regions = reference.regions();
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
    let recent = app.recent_bodies();
    let (receipt, stored, changed) = store(
        &mut db,
        &child,
        &records,
        &batch,
        forward,
        recent.as_deref(),
    )
    .await
    .map_err(|e| match e.downcast::<tokio_postgres::Error>() {
        Ok(db) => Problem::from(db),
        Err(other) => match other.downcast_ref::<crate::supervision::refresh::HeadRace>() {
            Some(race) => Problem::case_busy(race),
            None => Problem::internal(other),
        },
    })?;
    metrics::counter!("gateway_forwarded_in_total", "kind" => "record", "outcome" => "stored")
        .increment(receipt.records_stored as u64);
    metrics::counter!("gateway_forwarded_in_total", "kind" => "credential", "outcome" => "stored")
        .increment(receipt.credentials_stored as u64);
    // Sent again: by a retry whose answer was lost, or by two requests carrying one item.
    metrics::counter!("gateway_forwarded_in_total", "kind" => "record", "outcome" => "duplicate")
        .increment(receipt.records_duplicate as u64);
    metrics::counter!("gateway_forwarded_in_total", "kind" => "credential", "outcome" => "duplicate")
        .increment(receipt.credentials_duplicate as u64);
    crate::ops::record_forwarded(
        &app,
        records.iter().map(|r| {
            (
                r.department.as_str(),
                &r.origin,
                stored.contains(&r.record_id),
            )
        }),
    );
    crate::ops::record_forwarded_status(changed);
    Ok(Json(receipt))
}

/// Store a forwarding batch in one transaction, in bulk statements: records, the supervision
/// rows that are their cases' heads, certificates and credential versions, outbox rows for this
/// node's parent. Rows are written in key order, so concurrent batches (a child keeps several
/// in flight) lock in one order and never deadlock. Written fast first, and run again with
/// `ON CONFLICT` when a key is stored already (a request sent again), or after a head race (a
/// version of one of the cases stored meanwhile by another transaction): `store::run_again`.
async fn store(
    db: &mut deadpool_postgres::Client,
    child: &RegionCode,
    records: &[Incoming],
    batch: &Forwarded,
    forward: bool,
    recent: Option<&Recent>,
) -> anyhow::Result<(ForwardReceipt, HashSet<Uuid>, Vec<&'static str>)> {
    let source = format!("child {child}");
    let source = [source.as_str()];
    let mut writes = store::DUPLICATES.first_writes(source, std::time::Instant::now());
    let mut races = 0;
    loop {
        match store_once(db, child, records, batch, forward, recent, writes).await {
            Err(e) if store::run_again(&e, &mut races, &mut writes, source) => continue,
            outcome => return outcome,
        }
    }
}

async fn store_once(
    db: &mut deadpool_postgres::Client,
    child: &RegionCode,
    records: &[Incoming],
    batch: &Forwarded,
    forward: bool,
    recent: Option<&Recent>,
    writes: store::Writes,
) -> anyhow::Result<(ForwardReceipt, HashSet<Uuid>, Vec<&'static str>)> {
    let tx = db.transaction().await?;
    let mut receipt = ForwardReceipt::default();
    let mut sorted: Vec<&Incoming> = records.iter().collect();
    sorted.sort_by(|a, b| a.key().cmp(&b.key()));
    let batch_id = Uuid::now_v7();
    let rows: Vec<RecordRow> = sorted
        .iter()
        .map(|r| RecordRow {
            record_id: r.record_id,
            batch_id,
            source_system: &r.system,
            case_no: &r.case_no,
            version: r.version,
            department: &r.department,
            region_code: &r.region,
            item_code: &r.item,
            status: &r.status,
            occurred_at: r.occurred,
            ingested_at: r.ingested,
            content_hash: &r.content_hash,
            body_json: &r.json,
        })
        .collect();
    let inserted = store::insert_rows(&tx, Some(child.as_str()), &rows, writes).await?;
    receipt.records_stored = inserted.len();
    let stored: HashSet<Uuid> = inserted.keys().copied().collect();
    // The rest is already here (a retry, or another path): the same content is a duplicate.
    let missing: Vec<&Incoming> = sorted
        .iter()
        .copied()
        .filter(|r| !stored.contains(&r.record_id))
        .collect();
    for (r, existing) in missing.iter().zip(existing_hashes(&tx, &missing).await?) {
        if existing.as_deref() == Some(r.content_hash.as_slice()) {
            receipt.records_duplicate += 1;
        } else {
            receipt.records_conflict += 1;
            tracing::warn!(record_id = %r.record_id, from = %child, "forwarded record conflicts with a stored one");
        }
    }
    // Electronic supervision follows each touched case's head, from the records in memory.
    let written: Vec<Written> = sorted
        .iter()
        .filter(|r| stored.contains(&r.record_id))
        .map(|r| Written {
            source_system: &r.system,
            case_no: &r.case_no,
            record_id: r.record_id,
            version: r.version,
            region_code: r.region.clone(),
            department: &r.department,
            item_code: &r.item,
            status: &r.status,
            occurred_at: r.occurred,
            ingested_at: r.ingested,
            body: crate::supervision::refresh::Body::Facts {
                facts: &r.facts,
                item_name: &r.item_name,
            },
            head: inserted[&r.record_id],
        })
        .collect();
    let supervised = crate::supervision::refresh::refresh_heads(&tx, &written, writes).await?;
    let stored_ids: Vec<Uuid> = records
        .iter()
        .map(|r| r.record_id)
        .filter(|id| stored.contains(id))
        .collect();
    if forward {
        // Before the COMMIT that makes the outbox rows claimable (see `super::recent`).
        if let Some(recent) = recent {
            recent.keep(
                sorted
                    .iter()
                    .filter(|r| stored.contains(&r.record_id))
                    .map(|r| (r.record_id, r.json.clone())),
            );
        }
        super::outbox::queue(&tx, "record", &stored_ids).await?;
    }
    let (stored_credentials, duplicates) = insert_credentials(&tx, &batch.credentials).await?;
    receipt.credentials_stored = stored_credentials.len();
    receipt.credentials_duplicate = duplicates;
    if forward {
        // Those of records queued above go up with them (see `forward.rs`).
        let alone: Vec<Uuid> = batch
            .credentials
            .iter()
            .filter(|c| {
                stored_credentials.contains(&c.credential_id) && !stored.contains(&c.record_id)
            })
            .map(|c| c.credential_id)
            .collect();
        super::outbox::queue(&tx, "certificate", &alone).await?;
    }
    // Status changes after the credentials: their certificates are here by now.
    let mut changed = Vec::new();
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
    Ok((receipt, stored, changed))
}

/// For each row, the content hash stored under its case version, or else under its id.
async fn existing_hashes(
    tx: &Transaction<'_>,
    rows: &[&Incoming],
) -> anyhow::Result<Vec<Option<Vec<u8>>>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.record_id).collect();
    let systems: Vec<&str> = rows.iter().map(|r| r.system.as_str()).collect();
    let cases: Vec<&str> = rows.iter().map(|r| r.case_no.as_str()).collect();
    let versions: Vec<i64> = rows.iter().map(|r| r.version).collect();
    let stmt = tx
        .prepare_cached(
            "SELECT k.n, coalesce(
                (SELECT c.content_hash FROM case_records c
                  WHERE c.source_system = k.sys AND c.case_no = k.case_no AND c.version = k.ver),
                (SELECT c.content_hash FROM case_records c WHERE c.record_id = k.id))
             FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::int8[]) WITH ORDINALITY AS k(id, sys, case_no, ver, n)
             ORDER BY k.n",
        )
        .await?;
    Ok(tx
        .query(&stmt, &[&ids, &systems, &cases, &versions])
        .await?
        .iter()
        .map(|r| r.get(1))
        .collect())
}

/// Store credential versions (their records must be here: forwarded before them or in this
/// batch) with their certificates' rows. Returns the credential ids stored, in batch order,
/// and how many were here already.
async fn insert_credentials(
    tx: &Transaction<'_>,
    credentials: &[ForwardedCredential],
) -> anyhow::Result<(Vec<Uuid>, usize)> {
    if credentials.is_empty() {
        return Ok((Vec::new(), 0));
    }
    let record_ids: Vec<Uuid> = credentials.iter().map(|c| c.record_id).collect();
    let here: HashSet<Uuid> = tx
        .query(
            "SELECT record_id FROM case_records WHERE record_id = ANY($1)",
            &[&record_ids],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if let Some(c) = credentials.iter().find(|c| !here.contains(&c.record_id)) {
        anyhow::bail!(
            "credential {} arrived before its record {}",
            c.credential_id,
            c.record_id
        );
    }
    // One row per certificate (a statement may not upsert a row twice): the lowest version's
    // fields, as the issuing node kept them, and the highest version as current.
    let mut certificates: BTreeMap<&str, (&ForwardedCredential, i32)> = BTreeMap::new();
    for c in credentials {
        let entry = certificates.entry(&c.identifier).or_insert((c, c.version));
        if c.version < entry.0.version {
            entry.0 = c;
        }
        entry.1 = entry.1.max(c.version);
    }
    let certs: Vec<(&ForwardedCredential, i32)> = certificates.into_values().collect();
    let text = |f: fn(&ForwardedCredential) -> &str| {
        certs.iter().map(|(c, _)| f(c)).collect::<Vec<&str>>()
    };
    let minted: Vec<bool> = certs.iter().map(|(c, _)| c.minted).collect();
    let current: Vec<i32> = certs.iter().map(|(_, v)| *v).collect();
    let indexes: Vec<i64> = certs.iter().map(|(c, _)| c.status_index).collect();
    tx.execute(
        "INSERT INTO certificates (identifier, authority_code, type_code, number, holder_code, holder_name, region_code,
            minted, current_version, status_index, issuer_node)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                              $8::bool[], $9::int4[], $10::int8[], $11::text[])
         ON CONFLICT (identifier) DO UPDATE SET current_version = GREATEST(certificates.current_version, EXCLUDED.current_version)",
        &[
            &text(|c| &c.identifier),
            &text(|c| &c.authority_code),
            &text(|c| &c.type_code),
            &text(|c| &c.number),
            &text(|c| &c.holder_code),
            &text(|c| &c.holder_name),
            &text(|c| &c.region_code),
            &minted,
            &current,
            &indexes,
            &text(|c| &c.issuer_node),
        ],
    )
    .await?;
    let mut sorted: Vec<&ForwardedCredential> = credentials.iter().collect();
    sorted.sort_by_key(|c| c.credential_id);
    let hashes = sorted
        .iter()
        .map(|c| hex::decode(&c.content_hash))
        .collect::<Result<Vec<Vec<u8>>, _>>()?;
    let inserted: HashSet<Uuid> = tx
        .query(
            "INSERT INTO credential_versions (credential_id, identifier, version, record_id, content_hash, signing_key,
                issued_at, credential_text)
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::int4[], $4::uuid[], $5::bytea[], $6::text[],
                                  $7::timestamptz[], $8::text[])
             ON CONFLICT DO NOTHING RETURNING credential_id",
            &[
                &sorted.iter().map(|c| c.credential_id).collect::<Vec<_>>(),
                &sorted.iter().map(|c| c.identifier.as_str()).collect::<Vec<_>>(),
                &sorted.iter().map(|c| c.version).collect::<Vec<_>>(),
                &sorted.iter().map(|c| c.record_id).collect::<Vec<_>>(),
                &hashes,
                &sorted.iter().map(|c| c.signing_key.as_str()).collect::<Vec<_>>(),
                &sorted.iter().map(|c| c.issued_at).collect::<Vec<_>>(),
                // As the child sent it (migration 0033: stored as text).
                &sorted
                    .iter()
                    .map(|c| c.credential.get())
                    .collect::<Vec<_>>(),
            ],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let stored: Vec<Uuid> = credentials
        .iter()
        .map(|c| c.credential_id)
        .filter(|id| inserted.contains(id))
        .collect();
    Ok((stored.clone(), credentials.len() - stored.len()))
}
