//! Ingest: a native batch in, a receipt out, and in between nothing lost.
//!
//! 1. [`prepare`] (CPU, off the async threads): the adapter splits the batch into records and
//!    maps each to a draft; `domain::normalize` stamps, catalog-maps and validates it; valid
//!    records get a record id, and one RFC 8785 pass over the typed record ([`canonical`])
//!    gives their content hash and stored JSON. Large batches are normalized in parallel chunks, one per core.
//! 2. The caller checks authorization on the normalized records (region subtree).
//! 3. [`store::commit`] writes the whole outcome in one transaction: accepted records and their
//!    case heads (one bulk `INSERT … SELECT FROM UNNEST` statement), supervision rows,
//!    forwarding-outbox rows, quarantined records with their raw bytes, and the batch receipt,
//!    all with prepared statements. Only after COMMIT is anything acknowledged.

pub mod canonical;
pub mod group;
pub mod receipt;
pub mod replay;
pub mod store;

use chrono::{DateTime, FixedOffset};
use domain::FieldError;
use domain::codes::region::RegionCode;
use domain::normalize::{Context, Stamp, normalize};
use uuid::Uuid;

use adapters::{Adapter, PayloadError};

pub use crate::reference::Reference;

/// A record that passed every check, ready to be stored.
#[derive(Debug, Clone)]
pub struct Valid {
    pub position: usize,
    pub location: String,
    pub raw: Vec<u8>,
    pub record_id: Uuid,
    pub source_system: String,
    pub case_no: String,
    pub version: i64,
    pub department: String,
    pub region: RegionCode,
    pub item_code: String,
    pub item: domain::codes::item::BasicCode,
    /// The certificates the record issues (its `result.certificates`).
    pub certificates: Vec<domain::record::Certificate>,
    pub status: String,
    pub occurred_at: DateTime<FixedOffset>,
    pub ingested_at: DateTime<FixedOffset>,
    /// SHA-256 of the RFC 8785 form of the body without `ingested_at`: equal hashes mean the
    /// same canonical content, whenever and wherever it was pushed.
    pub content_hash: Vec<u8>,
    /// The canonical body as JSON text (RFC 8785), written with the hash straight from the
    /// typed record: what `case_records.body` stores.
    /// Shared, not copied, with [`crate::federation::recent`].
    pub body_json: bytes::Bytes,
    /// What supervision reads of the record, taken from the typed record here (in parallel,
    /// before the transaction) instead of parsed from `body_json` in the commit.
    pub facts: crate::supervision::assess::Facts,
    pub item_name: String,
    pub warnings: Vec<FieldError>,
}

/// A record that failed decoding, mapping or validation.
#[derive(Debug, Clone)]
pub struct Invalid {
    pub position: usize,
    pub location: String,
    pub raw: Vec<u8>,
    pub case_no: Option<String>,
    pub errors: Vec<FieldError>,
}

#[derive(Debug, Default)]
pub struct Prepared {
    pub valid: Vec<Valid>,
    pub invalid: Vec<Invalid>,
    /// The batch as received; kept when any record of it is quarantined, for replay.
    pub payload: bytes::Bytes,
}

impl Prepared {
    pub fn len(&self) -> usize {
        self.valid.len() + self.invalid.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Who pushed, as the gateway decides it.
#[derive(Debug, Clone)]
pub struct Pusher {
    pub principal_id: String,
    pub department: String,
    pub node_region: RegionCode,
}

/// Content identity of a canonical body: the hash of its RFC 8785 form without `ingested_at`.
pub fn content_hash(body: &serde_json::Value) -> Vec<u8> {
    canonical::canonical(body).content_hash
}

/// Batches at least this long are normalized in parallel chunks (one per core): a batch's
/// latency is then its share of the cores, not one core's time for all of it.
const PARALLEL_FROM: usize = 64;

/// Decode and normalize a whole batch. CPU-bound: call through [`crate::parallel::cpu`].
pub fn prepare(
    adapter: &dyn Adapter,
    payload: &[u8],
    pusher: &Pusher,
    reference: &Reference,
    now: DateTime<FixedOffset>,
    max_records: usize,
) -> Result<Prepared, PayloadError> {
    // PostgreSQL keeps microseconds: a stamp with more would be stored rounded at one tier and
    // truncated at another, and the first entry time must be the same everywhere.
    let now = chrono::SubsecRound::trunc_subsecs(now, 6);
    let records = adapter.decode(payload)?;
    if records.len() > max_records {
        return Err(PayloadError::new(
            "payload.too_many_records",
            format!(
                "{} records in one batch; the limit is {max_records}",
                records.len()
            ),
        ));
    }
    let stamp = Stamp {
        department: pusher.department.clone(),
        system: pusher.principal_id.clone(),
        node_region: pusher.node_region.clone(),
        ingested_at: now,
    };
    let mut out = Prepared {
        payload: bytes::Bytes::copy_from_slice(payload),
        ..Prepared::default()
    };
    let results = crate::parallel::map(records, PARALLEL_FROM, |rec| {
        prepare_one(rec, &stamp, reference, now)
    });
    for r in results {
        match r {
            Ok(v) => out.valid.push(v),
            Err(i) => out.invalid.push(i),
        }
    }
    Ok(out)
}

/// Normalize one decoded record and, when valid, give it its id and content hash.
fn prepare_one(
    rec: adapters::DecodedRecord,
    stamp: &Stamp,
    reference: &Reference,
    now: DateTime<FixedOffset>,
) -> Result<Valid, Invalid> {
    let normalized = rec.draft.and_then(|draft| {
        // The catalog and region table in force when the case event occurred.
        let occurred = domain::normalize::at(&draft, "/timestamps/occurred")
            .and_then(|v| v.as_str())
            .and_then(|s| domain::rfc3339::parse_strict(s).ok())
            .unwrap_or(now);
        let ctx = Context {
            catalog: reference.catalog_at(occurred),
            regions: reference.regions_at(occurred),
            schema: &reference.schema,
            legacy_credit_prefixes: &reference.legacy_credit_prefixes,
            max_clock_skew: reference.max_clock_skew,
        };
        normalize(draft, stamp, &ctx)
    });
    match normalized {
        Ok(n) => {
            let r = &n.record;
            let canonical = canonical::of_record(r);
            Ok(Valid {
                position: rec.position,
                location: rec.location,
                raw: rec.raw,
                record_id: Uuid::now_v7(),
                source_system: r.source.system.clone(),
                case_no: r.case_no.clone(),
                version: r.version,
                department: r.source.department.clone(),
                region: r.region_code.clone(),
                item_code: r.service_item.basic_code.to_string(),
                item: r.service_item.basic_code.clone(),
                certificates: r.certificates().to_vec(),
                status: r.status.as_str().to_owned(),
                occurred_at: r.timestamps.occurred,
                ingested_at: r.ingested_at,
                content_hash: canonical.content_hash,
                body_json: canonical.json.into(),
                facts: crate::supervision::assess::Facts {
                    timestamps: r.timestamps.clone(),
                    time_limits: r.time_limits.clone(),
                    status: r.status,
                    holds: r.holds.clone(),
                },
                item_name: r.service_item.name.clone(),
                warnings: n.warnings,
            })
        }
        Err(errors) => Err(Invalid {
            position: rec.position,
            location: rec.location,
            raw: rec.raw,
            case_no: rec.case_no,
            errors,
        }),
    }
}
