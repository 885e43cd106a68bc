//! Issuing the certificates of a batch's accepted records, inside the batch transaction.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use domain::codes::cert_id::CertIdentifier;
use domain::record::Certificate;
use uuid::Uuid;
use vc::ecert::IssueInput;

use super::{Issuer, status};
use crate::ingest::Valid;
use crate::ingest::receipt::{CertificateOutcome, IssuedCertificate};

/// (issuing authority credit code, type code, certificate number).
type CertKey = (String, String, String);

fn cert_key(c: &Certificate) -> CertKey {
    (
        c.issuing_authority.credit_code.to_string(),
        c.type_code.clone(),
        c.number.clone(),
    )
}

/// What decides whether a certificate changed: its data, where it applies and for which item,
/// not which case version carried it, nor its status (a status change is published in the
/// status lists, never by re-signing).
fn content_hash(v: &Valid, c: &Certificate) -> Vec<u8> {
    let bytes = content_bytes(c, v.region.as_str(), v.item.as_str());
    ring::digest::digest(&ring::digest::SHA256, &bytes)
        .as_ref()
        .to_vec()
}

/// The RFC 8785 form [`content_hash`] hashes: `{"certificate", "jurisdiction", "item"}`, the
/// certificate without its status. Written straight from the structure; the general writer
/// (through a `serde_json::Value`) only if the direct one gives up, and both write the same
/// bytes (the stored hashes of certificates issued before depend on it; tested).
fn content_bytes(c: &Certificate, jurisdiction: &str, item: &str) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Content<'a> {
        certificate: &'a Certificate,
        jurisdiction: &'a str,
        item: &'a str,
    }
    let c = Certificate {
        status: None,
        status_reason: None,
        ..c.clone()
    };
    let content = Content {
        certificate: &c,
        jurisdiction,
        item,
    };
    match vc::jcs::to_vec_exact(&content, "certificate") {
        Some((bytes, _)) => bytes,
        None => general_content_bytes(&content),
    }
}

fn general_content_bytes(content: &impl serde::Serialize) -> Vec<u8> {
    let value = serde_json::to_value(content).expect("a certificate is JSON");
    vc::jcs::canonicalize(&value).expect("certificate data is JCS-safe")
}

struct Known {
    identifier: String,
    /// The certificate's latest version, counting what this transaction issued (0: none).
    version: i32,
    /// What the row's `current_version` holds. A row this transaction creates is inserted
    /// holding 1, the version its first issue gets, so that issue does not update the row.
    stored: i32,
    status_index: i64,
    hash: Option<Vec<u8>>,
}

/// Issue, sign and store every certificate of `accepted`. `current` holds the record ids that
/// are their case's head: a record that went to history never re-issues a certificate a later
/// version already holds (its outcome is `superseded`). Returns, per record id, one entry per
/// certificate in the record's order.
pub async fn issue(
    tx: &impl GenericClient,
    issuer: &Issuer,
    accepted: &[&Valid],
    current: &HashSet<Uuid>,
    forward: bool,
    now: DateTime<Utc>,
) -> anyhow::Result<HashMap<Uuid, Vec<IssuedCertificate>>> {
    let mut out: HashMap<Uuid, Vec<IssuedCertificate>> = HashMap::new();
    let occurrences: Vec<(&Valid, usize, &Certificate)> = accepted
        .iter()
        .flat_map(|v| {
            v.certificates
                .iter()
                .enumerate()
                .map(move |(i, c)| (*v, i, c))
        })
        .collect();
    if occurrences.is_empty() {
        return Ok(out);
    }
    let mut keys: Vec<CertKey> = occurrences.iter().map(|(_, _, c)| cert_key(c)).collect();
    keys.sort();
    keys.dedup();

    let mut known = lock_existing(tx, &keys).await?;
    let missing: Vec<&CertKey> = keys.iter().filter(|k| !known.contains_key(*k)).collect();
    if !missing.is_empty() {
        // First sight of these certificates: choose identifiers and create their rows.
        let firsts: Vec<(&Valid, &Certificate)> = missing
            .iter()
            .map(|k| {
                let (v, _, c) = occurrences
                    .iter()
                    .find(|(_, _, c)| &cert_key(c) == *k)
                    .expect("key from occurrences");
                (*v, *c)
            })
            .collect();
        let created = create(tx, issuer, &firsts).await?;
        if created.len() < firsts.len() {
            // Another transaction created some of them meanwhile: read (and lock) them.
            known = lock_existing(tx, &keys).await?;
        }
        // Rows this transaction inserted are locked by it already; what a read gives for them
        // (`current_version` 1, no version issued yet) is replaced by what was inserted.
        known.extend(created);
    }

    // Sign what is new or changed, in batch order so later case versions win within a batch.
    let mut rows = Vec::new();
    let mut status_changes = Vec::new();
    // The key that signs now (checked when something is to be signed).
    let key = issuer.key();
    for (v, position, c) in occurrences {
        let k = known
            .get_mut(&cert_key(c))
            .expect("every certificate has a row now");
        let hash = content_hash(v, c);
        let is_current = current.contains(&v.record_id);
        let mut issued_id = None;
        let outcome = if k.hash.as_deref() == Some(hash.as_slice()) {
            CertificateOutcome::Unchanged
        } else if k.hash.is_some() && !is_current {
            CertificateOutcome::Superseded
        } else {
            let identifier = CertIdentifier::parse(&k.identifier)?;
            let input = IssueInput {
                certificate: Certificate {
                    status: None,
                    status_reason: None,
                    ..c.clone()
                },
                identifier,
                record_id: v.record_id,
                related_item_code: v.item.clone(),
                jurisdiction: v.region.clone(),
                node_region: issuer.node_region.clone(),
                issuer_name: issuer.name.clone(),
                status_base_url: issuer.status_base_url().to_owned(),
                revocation_index: k.status_index as u64,
                suspension_index: k.status_index as u64,
            };
            let key = key.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?;
            let credential = vc::ecert::issue(&input, key, now)?;
            // Stored as its RFC 8785 form, whose hash is its transparency-log leaf: the
            // sequencer appends that hash without reading the credential back.
            let json = vc::jcs::canonicalize(&credential)?;
            let leaf = tlog::leaf_hash(&json);
            k.version += 1;
            k.hash = Some(hash.clone());
            let credential_id = Uuid::now_v7();
            issued_id = Some(credential_id);
            rows.push(NewVersion {
                credential_id,
                identifier: k.identifier.clone(),
                version: k.version,
                record_id: v.record_id,
                hash,
                json,
                leaf,
            });
            CertificateOutcome::Issued
        };
        if let (Some(status), true) = (c.status, is_current) {
            let entry = (v.record_id, out.get(&v.record_id).map_or(0, Vec::len));
            status_changes.push((
                entry,
                status::Change {
                    change_id: Uuid::now_v7(),
                    identifier: k.identifier.clone(),
                    issuer_node: issuer.node_region.to_string(),
                    status,
                    reason: c
                        .status_reason
                        .clone()
                        .unwrap_or_else(|| format!("case {} version {}", v.case_no, v.version)),
                    changed_by: v.source_system.clone(),
                    source: "case_update".into(),
                    // When the gateway heard of it: the case's own times say when it was applied for.
                    at: v.ingested_at.with_timezone(&Utc),
                },
            ));
        }
        out.entry(v.record_id).or_default().push(IssuedCertificate {
            position,
            identifier: k.identifier.clone(),
            version: k.version,
            credential_id: issued_id,
            outcome,
            status_changed: None,
        });
    }
    if let Ok(key) = &key {
        store_versions(tx, &key.did(), &rows, now).await?;
    }
    // Move each certificate's current version where it is not what its row holds: a new
    // version of a certificate stored before, or a certificate first issued more than once here.
    let mut moved: Vec<(&str, i32)> = known
        .values()
        .filter(|k| k.version != k.stored)
        .map(|k| (k.identifier.as_str(), k.version))
        .collect();
    moved.sort_unstable();
    move_current(tx, &moved).await?;
    // After the credentials exist: a case update may state the status of a certificate it
    // issues in the same version.
    for ((record_id, index), change) in &status_changes {
        if status::apply(tx, change, None, forward).await? == status::Applied::Changed
            && let Some(c) = out.get_mut(record_id).and_then(|v| v.get_mut(*index))
        {
            c.status_changed = Some(change.status.as_str());
        }
    }
    Ok(out)
}

struct NewVersion {
    credential_id: Uuid,
    identifier: String,
    version: i32,
    record_id: Uuid,
    hash: Vec<u8>,
    /// The signed credential, RFC 8785.
    json: Vec<u8>,
    /// Its transparency-log leaf hash (RFC 6962, of `json`).
    leaf: tlog::Hash,
}

/// The rows of these certificates, locked for the rest of the transaction so concurrent
/// batches issue versions one after another.
async fn lock_existing(
    tx: &impl GenericClient,
    keys: &[CertKey],
) -> anyhow::Result<HashMap<CertKey, Known>> {
    let authorities: Vec<&str> = keys.iter().map(|k| k.0.as_str()).collect();
    let types: Vec<&str> = keys.iter().map(|k| k.1.as_str()).collect();
    let numbers: Vec<&str> = keys.iter().map(|k| k.2.as_str()).collect();
    let stmt = tx
        .prepare_cached(
            "SELECT c.authority_code, c.type_code, c.number, c.identifier, c.current_version, c.status_index, v.content_hash
             FROM certificates c
             JOIN UNNEST($1::text[], $2::text[], $3::text[]) AS k(a, t, n)
               ON c.authority_code = k.a AND c.type_code = k.t AND c.number = k.n
             LEFT JOIN credential_versions v ON v.identifier = c.identifier AND v.version = c.current_version
             ORDER BY c.identifier
             FOR UPDATE OF c",
        )
        .await?;
    let rows = tx.query(&stmt, &[&authorities, &types, &numbers]).await?;
    Ok(rows
        .iter()
        .map(|r| {
            let key = (r.get(0), r.get(1), r.get(2));
            let known = Known {
                identifier: r.get(3),
                version: r.get(4),
                stored: r.get(4),
                status_index: r.get(5),
                hash: r.get(6),
            };
            (key, known)
        })
        .collect())
}

/// Create certificate rows with their identifiers and status-list indices; returns the rows
/// this transaction inserted. A row another transaction created meanwhile wins (its identifier
/// is used; it is not returned). A source identifier that already names another certificate is
/// not reused: this node mints one instead.
async fn create(
    tx: &impl GenericClient,
    issuer: &Issuer,
    firsts: &[(&Valid, &Certificate)],
) -> anyhow::Result<Vec<(CertKey, Known)>> {
    let (mut created, left) = create_rows(tx, issuer, firsts, true).await?;
    if left.is_empty() {
        return Ok(created);
    }
    let (more, left) = create_rows(tx, issuer, &left, false).await?;
    anyhow::ensure!(
        left.is_empty(),
        "could not create {} certificate rows",
        left.len()
    );
    created.extend(more);
    Ok(created)
}

/// One attempt: the rows inserted, and the certificates that still have no row (neither
/// inserted here nor created by another transaction).
#[allow(clippy::type_complexity)]
async fn create_rows<'a>(
    tx: &impl GenericClient,
    issuer: &Issuer,
    firsts: &[(&'a Valid, &'a Certificate)],
    use_supplied: bool,
) -> anyhow::Result<(Vec<(CertKey, Known)>, Vec<(&'a Valid, &'a Certificate)>)> {
    let stmt = tx
        .prepare_cached(
            "SELECT nextval('certificate_serial_seq'), nextval('status_index_seq') FROM generate_series(1, $1::int)",
        )
        .await?;
    let seqs = tx.query(&stmt, &[&(firsts.len() as i32)]).await?;
    let mut cols = CertColumns::default();
    for ((v, c), seq) in firsts.iter().zip(&seqs) {
        let supplied = c
            .identifier
            .as_deref()
            .and_then(|s| CertIdentifier::parse(s).ok())
            .filter(|id| use_supplied && vc::ecert::identifier_matches(c, id));
        let (identifier, minted) = match supplied {
            Some(id) => (id, false),
            None => (
                vc::ecert::mint_identifier(c, &issuer.node_region, seq.get::<_, i64>(0) as u64)?,
                true,
            ),
        };
        cols.push(v, c, identifier.to_string(), minted, seq.get(1));
    }
    // `current_version` 1: a row is created only for a certificate this transaction issues,
    // and its first issue is version 1 (`issue` moves it on if it issues more).
    let stmt = tx
        .prepare_cached(
            "INSERT INTO certificates (identifier, authority_code, type_code, number, holder_code, holder_name,
                region_code, minted, current_version, status_index, issuer_node)
             SELECT u.id, u.a, u.t, u.n, u.hc, u.hn, u.r, u.m, 1, u.s, $10
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                         $8::bool[], $9::int8[]) AS u(id, a, t, n, hc, hn, r, m, s)
             ON CONFLICT DO NOTHING
             RETURNING identifier",
        )
        .await?;
    let inserted: HashSet<String> = tx
        .query(
            &stmt,
            &[
                &cols.identifier,
                &cols.authority,
                &cols.type_code,
                &cols.number,
                &cols.holder_code,
                &cols.holder_name,
                &cols.region,
                &cols.minted,
                &cols.status_index,
                &issuer.node_region.as_str(),
            ],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut created = Vec::with_capacity(inserted.len());
    let mut not_inserted = Vec::new();
    for (((v, c), identifier), status_index) in
        firsts.iter().zip(cols.identifier).zip(cols.status_index)
    {
        if inserted.contains(&identifier) {
            let known = Known {
                identifier,
                version: 0,
                stored: 1,
                status_index,
                hash: None,
            };
            created.push((cert_key(c), known));
        } else {
            not_inserted.push((*v, *c));
        }
    }
    if not_inserted.is_empty() {
        return Ok((created, not_inserted));
    }
    let keys: Vec<CertKey> = not_inserted.iter().map(|(_, c)| cert_key(c)).collect();
    let found = lock_existing(tx, &keys).await?;
    not_inserted.retain(|(_, c)| !found.contains_key(&cert_key(c)));
    Ok((created, not_inserted))
}

#[derive(Default)]
struct CertColumns {
    identifier: Vec<String>,
    authority: Vec<String>,
    type_code: Vec<String>,
    number: Vec<String>,
    holder_code: Vec<String>,
    holder_name: Vec<String>,
    region: Vec<String>,
    minted: Vec<bool>,
    status_index: Vec<i64>,
}

impl CertColumns {
    fn push(
        &mut self,
        v: &Valid,
        c: &Certificate,
        identifier: String,
        minted: bool,
        status_index: i64,
    ) {
        self.identifier.push(identifier);
        self.authority
            .push(c.issuing_authority.credit_code.to_string());
        self.type_code.push(c.type_code.clone());
        self.number.push(c.number.clone());
        self.holder_code.push(c.holder.code.clone());
        self.holder_name.push(c.holder.name.clone());
        self.region.push(v.region.to_string());
        self.minted.push(minted);
        self.status_index.push(status_index);
    }
}

/// Store the signed credential versions (with their transparency-log leaves). Nothing is
/// queued for forwarding here: a version goes up with the outbox row of its record, which the
/// same transaction queues (see `federation/forward.rs`).
async fn store_versions(
    tx: &impl GenericClient,
    signing_key: &str,
    rows: &[NewVersion],
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.credential_id).collect();
    let identifiers: Vec<&str> = rows.iter().map(|r| r.identifier.as_str()).collect();
    let versions: Vec<i32> = rows.iter().map(|r| r.version).collect();
    let records: Vec<Uuid> = rows.iter().map(|r| r.record_id).collect();
    let hashes: Vec<&[u8]> = rows.iter().map(|r| r.hash.as_slice()).collect();
    // Stored as text, the bytes that were signed and logged (migration 0033).
    let credentials = rows
        .iter()
        .map(|r| std::str::from_utf8(&r.json))
        .collect::<Result<Vec<&str>, _>>()?;
    let leaves: Vec<&[u8]> = rows.iter().map(|r| r.leaf.as_slice()).collect();
    // Each new version also waits in tlog_pending, with its leaf hash, for the sequencer.
    let stmt = tx
        .prepare_cached(
            "WITH v AS (
               INSERT INTO credential_versions (credential_id, identifier, version, record_id, content_hash,
                   signing_key, issued_at, credential_text)
               SELECT u.id, u.ident, u.ver, u.rec, u.hash, $6, $7, u.cred
               FROM UNNEST($1::uuid[], $2::text[], $3::int4[], $4::uuid[], $5::bytea[], $8::text[])
                    AS u(id, ident, ver, rec, hash, cred)
               RETURNING credential_id, issued_at)
             INSERT INTO tlog_pending (ref_id, kind, at, leaf_hash)
             SELECT v.credential_id, 'credential', v.issued_at, u.leaf
             FROM v JOIN UNNEST($1::uuid[], $9::bytea[]) AS u(id, leaf) ON u.id = v.credential_id",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &ids,
            &identifiers,
            &versions,
            &records,
            &hashes,
            &signing_key,
            &now,
            &credentials,
            &leaves,
        ],
    )
    .await?;
    Ok(())
}

/// Set the current version of these certificates (each named once).
async fn move_current(tx: &impl GenericClient, moved: &[(&str, i32)]) -> anyhow::Result<()> {
    if moved.is_empty() {
        return Ok(());
    }
    let identifiers: Vec<&str> = moved.iter().map(|m| m.0).collect();
    let versions: Vec<i32> = moved.iter().map(|m| m.1).collect();
    let stmt = tx
        .prepare_cached(
            "UPDATE certificates c SET current_version = u.ver
             FROM UNNEST($1::text[], $2::int4[]) AS u(ident, ver)
             WHERE c.identifier = u.ident",
        )
        .await?;
    tx.execute(&stmt, &[&identifiers, &versions]).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The direct writer and the general one write the same content bytes, whatever the
    /// certificate holds: the hashes stored for certificates issued before must still match.
    #[test]
    fn content_bytes_are_the_general_writers() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas/examples");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let Ok(record) = serde_json::from_str::<domain::record::CaseRecord>(&text) else {
                continue;
            };
            let Some(result) = record.result else {
                continue;
            };
            for mut c in result.certificates {
                let mut variants = vec![c.clone()];
                c.status = Some(domain::record::CertificateStatus::Revoked);
                c.status_reason = Some("撤销 \"quoted\" \u{1}".into());
                c.valid_until = c.valid_until.or(Some(c.valid_from));
                c.surface.insert("\u{e9}\u{1F600}".into(), "a\\b\n".into());
                c.identifier = None;
                variants.push(c.clone());
                c.surface.clear();
                variants.push(c);
                for c in variants {
                    let stripped = Certificate {
                        status: None,
                        status_reason: None,
                        ..c.clone()
                    };
                    let general = general_content_bytes(&serde_json::json!({
                        "certificate": stripped, "jurisdiction": "621002000000", "item": "11620000MB1234567X"
                    }));
                    let direct = content_bytes(&c, "621002000000", "11620000MB1234567X");
                    assert_eq!(
                        String::from_utf8(direct).unwrap(),
                        String::from_utf8(general).unwrap()
                    );
                    seen += 1;
                }
            }
        }
        assert!(
            seen >= 6,
            "the examples' certificates were compared: {seen}"
        );
    }
}
