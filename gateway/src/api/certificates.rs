//! Certificates: look one up by its GB/T 36904 identifier with its verification verdict, and
//! verify a presented credential. Verdicts come from `vc::verify` against the node's trust
//! bundle; this node answers the status of the certificates it holds (its own, and those
//! forwarded from below with their status changes), and their transparency-log inclusion with
//! a proof from the issuing node's log.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use domain::codes::cert_id::CertIdentifier;
use domain::codes::region::RegionCode;
use http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};
use vc::json::JsonNode;
use vc::logged::Evidence;
use vc::verify::{
    StatusLookup, Verdict, prepare_signature, verify_credential_proven, verify_credential_signed,
};

use crate::api::App;
use crate::api::auth::{self, Listener, Policy};
use crate::api::problem::Problem;
use crate::api::sharing;
use crate::audit::{self, Purpose};
use crate::db::row_cache;
use crate::federation::route;
use crate::tls::PeerIdentity;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

#[derive(Debug, Deserialize)]
pub struct VerifyOptions {
    /// Every skipped check counts as a failure.
    #[serde(default)]
    pub strict: bool,
}

/// Accepts `urn:ecert:{id}` or the bare identifier; anything else is a 400 that says why.
pub fn parse_identifier(s: &str) -> Result<CertIdentifier, Problem> {
    let bare = s.strip_prefix(vc::ecert::ID_PREFIX).unwrap_or(s);
    CertIdentifier::parse(bare).map_err(|e| {
        Problem::new(
            "certificate.bad_identifier",
            format!("'{s}' is not a GB/T 36904 identifier: {e}"),
        )
        .with("reason", e.code())
    })
}

/// What stays true of the credentials this node holds, kept in memory so a verification does
/// not ask PostgreSQL again (`credential_versions` rows are never overwritten, a leaf's index
/// never changes, subtree hashes are final, and a proof against a cosigned checkpoint stays a
/// proof). A certificate's *status* is never remembered: it is read on every call.
mod memo {
    use std::collections::HashMap;
    use std::hash::Hash;
    use std::sync::{Mutex, MutexGuard};

    use uuid::Uuid;

    /// A process-wide map that forgets everything when full (the entries are cheap to find
    /// again; a bound keeps memory flat however many credentials are verified).
    pub struct Memo<K, V>(Mutex<Option<HashMap<K, V>>>);

    const MAX: usize = 100_000;

    impl<K: Hash + Eq, V: Clone> Memo<K, V> {
        pub const fn new() -> Self {
            Memo(Mutex::new(None))
        }
        fn map(&self) -> MutexGuard<'_, Option<HashMap<K, V>>> {
            self.0.lock().unwrap_or_else(|e| e.into_inner())
        }
        pub fn get(&self, key: &K) -> Option<V> {
            self.map().as_ref()?.get(key).cloned()
        }
        pub fn contains(&self, key: &K) -> bool {
            self.map().as_ref().is_some_and(|m| m.contains_key(key))
        }
        pub fn put(&self, key: K, value: V) {
            let mut map = self.map();
            let map = map.get_or_insert_with(HashMap::new);
            if map.len() >= MAX {
                map.clear();
            }
            map.insert(key, value);
        }
    }

    /// [`super::held_key`]: this node's log origin, a presented identifier and its proof value,
    /// hashed → the stored version it is. Only identifiers that parsed are remembered.
    pub static HELD: Memo<[u8; 32], (Uuid, i32)> = Memo::new();
    /// (this node's log origin, credential id) → the credential's leaf index in that log.
    pub static LEAVES: Memo<(String, Uuid), u64> = Memo::new();
    /// (this node's log origin, credential id, version) → the proof last built for it from
    /// this node's log, with the checkpoint (size, note) it proves against: the same while no
    /// witness has cosigned a newer one, and shared, not rebuilt, by every verification then.
    pub static BUILT: Memo<(String, Uuid, i32), std::sync::Arc<super::Built>> = Memo::new();
    /// (this node's log origin, credential id) → a proof that verified as `logged` (against a
    /// cosigned checkpoint), from this node's log or the issuing node's. Shared, not copied:
    /// a proof is a score of strings, and every verification of the credential reads it.
    pub static PROOFS: Memo<(String, Uuid), std::sync::Arc<vc::logged::Evidence>> = Memo::new();
}

/// The status of certificate `identifier` as this node holds it (its issuer knows it, and
/// every tier above hears of every change through forwarding); `None` when it holds no such
/// certificate (the status lists answer for it then; skipped here). Kept in the row cache,
/// which hears of every status change.
async fn own_status(
    app: &App,
    db: &deadpool_postgres::Client,
    identifier: &str,
) -> Result<Option<String>, Problem> {
    let held = &app.rows.statuses;
    if let Some(status) = held.get(identifier) {
        return Ok(Some(status));
    }
    let ticket = held.ticket();
    let stmt = db
        .prepare_cached("SELECT status FROM certificates WHERE identifier = $1")
        .await?;
    let status: Option<String> = db.query_opt(&stmt, &[&identifier]).await?.map(|r| r.get(0));
    if let Some(status) = &status {
        held.keep(ticket, identifier, status.clone());
    }
    Ok(status)
}

/// A held certificate's status as the verifier's lookup.
fn status_lookup(status: Option<&str>) -> Option<StatusLookup<'static>> {
    status.map(|s| StatusLookup::known(s == "revoked", s == "suspended"))
}

/// The log evidence and the status of a credential, with `held` the stored version it is
/// (`None` when this node does not hold it as presented: then there is no proof to give).
///
/// The inclusion proof comes from this node's log when it issued the credential, else from the
/// issuing node (routed like `GET /v1/certificates/{id}/proof`; the proof verifies by itself
/// against the trust bundle, so it may come from anywhere). No proof before the sequencer ran,
/// or when the issuer does not answer in time: then `logged` is skipped, never failed, and the
/// answer is not held up. A proof that already verified as logged is reused.
async fn evidence(
    app: &App,
    db: &deadpool_postgres::Client,
    credential: &impl JsonNode,
    held: Option<(uuid::Uuid, i32)>,
    headers: &HeaderMap,
) -> Result<(Option<Arc<Evidence>>, Option<String>), Problem> {
    let Some(identifier) = credential
        .get("id")
        .and_then(JsonNode::as_str)
        .and_then(|id| id.strip_prefix(vc::ecert::ID_PREFIX))
    else {
        return Ok((None, None));
    };
    let Some((credential_id, version)) = held else {
        return Ok((None, own_status(app, db, identifier).await?));
    };
    let origin = &app.log.origin;
    if let Some(proof) = memo::PROOFS.get(&(origin.clone(), credential_id)) {
        return Ok((Some(proof), own_status(app, db, identifier).await?));
    }
    let issuer = vc::status_list::credential_node(credential);
    if issuer.as_ref() != Some(&app.node_region) {
        let status = own_status(app, db, identifier).await?;
        let Some(next) = issuer.and_then(|r| route::next_hop(app, &r)) else {
            return Ok((None, status));
        };
        let path = format!("/v1/certificates/{identifier}/proof?version={version}");
        let proof = match route::forward_query(app, next, &path, ("", ""), &route::via(headers))
            .await
        {
            // Read here; one that cannot be read fails `logged` as malformed.
            Ok((200, proof)) => Some(Arc::new(vc::logged::LogProof::from_json(&proof))),
            Ok((status, body)) => {
                tracing::debug!(%identifier, status, %body, "no inclusion proof from the issuer");
                None
            }
            Err(problem) => {
                tracing::info!(%identifier, code = problem.code, detail = %problem.detail, "the issuer gave no inclusion proof");
                None
            }
        };
        return Ok((proof, status));
    }
    // Our own log: the leaf's index (final once sequenced), then the status and the checkpoint
    // to prove against, from the row cache when it can tell, else in one statement.
    let leaf_key = (origin.clone(), credential_id);
    let leaf = match memo::LEAVES.get(&leaf_key) {
        Some(index) => Some(index),
        None => {
            let stmt = db
                .prepare_cached("SELECT leaf_index FROM tlog_leaves WHERE ref_id = $1")
                .await?;
            let index = db
                .query_opt(&stmt, &[&credential_id])
                .await?
                .map(|r| r.get::<_, i64>(0) as u64);
            if let Some(index) = index {
                memo::LEAVES.put(leaf_key, index);
            }
            index
        }
    };
    let Some(index) = leaf else {
        return Ok((None, own_status(app, db, identifier).await?));
    };
    let (status, checkpoint) = match held_checkpoint(app, db, index).await? {
        // No cosigned checkpoint contains the leaf (yet): the latest is the one.
        Some(latest) => (own_status(app, db, identifier).await?, latest),
        None => checkpoint_to_prove(db, identifier, index).await?,
    };
    let Some((size, note)) = checkpoint else {
        return Ok((None, status));
    };
    let built_key = (origin.clone(), credential_id, version);
    if let Some(built) = memo::BUILT.get(&built_key)
        && built.size == size
        && built.note == note
    {
        return Ok((Some(Arc::clone(&built.proof)), status));
    }
    let ids = tlog::nodes_for_inclusion(index, size).map_err(Problem::internal)?;
    let nodes = crate::transparency::store::nodes(db, &ids)
        .await
        .map_err(Problem::internal)?;
    let path: Vec<String> = tlog::inclusion_proof(index, size, &nodes)
        .map_err(Problem::internal)?
        .iter()
        .map(|h| STANDARD.encode(h))
        .collect();
    let proof = Arc::new(Ok(vc::logged::LogProof {
        kind: vc::logged::PROOF_TYPE.into(),
        identifier: identifier.to_owned(),
        version,
        log: origin.clone(),
        leaf_index: index,
        tree_size: size,
        inclusion_proof: path,
        checkpoint: note.clone(),
    }));
    let built = Built {
        size,
        note,
        proof: Arc::clone(&proof),
    };
    memo::BUILT.put(built_key, Arc::new(built));
    Ok((Some(proof), status))
}

/// A proof built from this node's log ([`memo::BUILT`]).
struct Built {
    size: u64,
    note: String,
    proof: Arc<Evidence>,
}

/// The checkpoint to prove leaf `index` of this node's log against, when the row cache can
/// tell without a query: when no cosigned checkpoint contains the leaf, the latest one if it
/// does (`Some(None)`: none yet). `None` when it cannot tell (a cosigned checkpoint contains
/// the leaf: the smallest such is the one, read by [`checkpoint_to_prove`]; or no copy).
async fn held_checkpoint(
    app: &App,
    db: &deadpool_postgres::Client,
    index: u64,
) -> Result<Option<Option<(u64, String)>>, Problem> {
    let held = &app.rows.checkpoints;
    let log = match held.get(row_cache::OWN_LOG) {
        Some(log) => log,
        None if !held.listening() => return Ok(None),
        None => {
            let ticket = held.ticket();
            let log = crate::transparency::store::latest_checkpoints(db)
                .await
                .map_err(Problem::internal)?;
            held.keep(ticket, row_cache::OWN_LOG, log.clone());
            log
        }
    };
    if log.cosigned_size.is_some_and(|size| size > index) {
        return Ok(None);
    }
    Ok(Some(log.latest.filter(|(size, _)| *size > index)))
}

/// The status of certificate `identifier` and, in the same statement, the checkpoint to prove
/// leaf `index` against: the smallest cosigned one containing the leaf, else the latest (as
/// `transparency::store::best_checkpoint` picks; the smallest cosigned one has the earliest
/// cosignature, the time the signing key must have been trusted at).
async fn checkpoint_to_prove(
    db: &deadpool_postgres::Client,
    identifier: &str,
    index: u64,
) -> Result<(Option<String>, Option<(u64, String)>), Problem> {
    let stmt = db
        .prepare_cached(
            "SELECT c.status, cp.tree_size, cp.note FROM certificates c
             LEFT JOIN LATERAL (
                (SELECT tree_size, note FROM tlog_checkpoints
                 WHERE tree_size >= $2 AND witnesses > 0 ORDER BY tree_size LIMIT 1)
                UNION ALL
                (SELECT tree_size, note FROM tlog_checkpoints
                 WHERE tree_size >= $2 ORDER BY tree_size DESC LIMIT 1)
                LIMIT 1
             ) cp ON true
             WHERE c.identifier = $1",
        )
        .await?;
    let Some(row) = db
        .query_opt(&stmt, &[&identifier, &(index as i64 + 1)])
        .await?
    else {
        return Ok((None, None));
    };
    let checkpoint = match (
        row.get::<_, Option<i64>>(1),
        row.get::<_, Option<String>>(2),
    ) {
        (Some(size), Some(note)) => Some((size as u64, note)),
        _ => None,
    };
    Ok((Some(row.get(0)), checkpoint))
}

/// Remember a proof that established `logged`: it stays a proof.
fn remember_proof(
    app: &App,
    held: Option<(uuid::Uuid, i32)>,
    proof: Option<&Arc<Evidence>>,
    verdict: &Verdict,
) {
    if let (Some((credential_id, _)), Some(proof)) = (held, proof)
        && proof.is_ok()
        && verdict.checks.logged == vc::verify::CheckResult::Pass
    {
        let key = (app.log.origin.clone(), credential_id);
        if !memo::PROOFS.contains(&key) {
            memo::PROOFS.put(key, Arc::clone(proof));
        }
    }
}

fn answer(verdict: Verdict, extra: Value) -> Json<Value> {
    let mut body = serde_json::to_value(verdict).expect("a verdict serializes");
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
        body.extend(extra);
    }
    Json(body)
}

/// Looking certificates up: approvers and supervisors on the web listener, peer nodes (routed
/// queries) on the exchange listener.
pub const LOOKUP: Policy = Policy {
    exchange: &["peer"],
    web: &["approver", "supervisor"],
};
/// Verifying a presented credential: anyone on the web listener (no login needed to check a
/// file), systems and peers on the exchange listener.
pub const VERIFY: Policy = Policy {
    exchange: &["system", "peer"],
    web: &["public", "approver", "supervisor", "operator"],
};

#[derive(Debug, Deserialize)]
pub struct LookupQuery {
    #[serde(default)]
    pub strict: bool,
    pub purpose: Option<String>,
    /// Required by purpose codes that ask for a free text.
    pub purpose_text: Option<String>,
}

/// `GET /v1/certificates/{id}?purpose=…`: the current credential of a certificate this node
/// holds, with its verdict. Audited.
pub async fn get(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<PeerIdentity>,
    axum::Extension(listener): axum::Extension<Listener>,
    id: Result<Path<String>, PathRejection>,
    query: Result<Query<LookupQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let Path(id) = id?;
    let Query(q) = query.map_err(|e| Problem::new("request.bad_query", e.body_text()))?;
    let db = app.pool.get().await?;
    let caller = auth::caller(&app, &db, &peer, &headers, listener).await?;
    LOOKUP.check(&caller, listener)?;
    let identifier = parse_identifier(&id)?;
    let lookup = route::Lookup::begin(
        &app,
        &caller,
        &headers,
        &Purpose::new(q.purpose.as_deref(), q.purpose_text.as_deref()),
    )?;
    let row = db
        .query_opt(
            "SELECT coalesce(v.credential_text, v.credential::text), v.version, v.credential_id,
                    c.type_code, c.region_code FROM certificates c
             JOIN credential_versions v ON v.identifier = c.identifier AND v.version = c.current_version
             WHERE c.identifier = $1",
            &[&identifier.to_string()],
        )
        .await?;
    let audit_lookup = |results: usize| audit::Entry {
        action: "certificate.lookup",
        target: identifier.to_string(),
        purpose: &lookup.purpose,
        results,
    };
    let here = app.node_region.as_str();
    let Some(row) = row else {
        // Not here: route towards the node that covers the issuing authority's region.
        let next = route::region_of_authority(identifier.authority())
            .and_then(|r| route::next_hop(&app, &r));
        let Some(next) = next else {
            audit::record(&db, &lookup.requester, here, audit_lookup(0)).await?;
            return Err(Problem::new(
                "certificate.not_found",
                format!("no certificate {identifier} in this node's network"),
            ));
        };
        let path = format!("/v1/certificates/{identifier}?strict={}", q.strict);
        let (status, body) = lookup.forward(&app, next, &path, &headers).await?;
        if !lookup.is_routed() {
            // The entry node records its own user's lookup; the serving node records it too.
            let found = usize::from(status == 200);
            audit::record(&db, &lookup.requester, here, audit_lookup(found)).await?;
        }
        return Ok(route::relay(status, &body));
    };
    // The sharing policy decides whether, and how much of, it is disclosed.
    let fields = match shared(&app, &lookup, row.get(3), row.get(4)) {
        Ok(fields) => fields,
        Err(refusal) => {
            audit::record(&db, &lookup.requester, here, audit_lookup(0)).await?;
            return Err(sharing::refused(refusal));
        }
    };
    audit::record(&db, &lookup.requester, here, audit_lookup(1)).await?;
    let credential =
        crate::certificates::stored_credential(row.get(0)).map_err(Problem::internal)?;
    let version: i32 = row.get(1);
    let held = Some((row.get(2), version));
    let (proof, status) = evidence(&app, &db, &credential, held, &headers).await?;
    let presented = Presented {
        credential,
        held,
        proof,
        status,
    };
    let verdict = check(&app, &presented, chrono::Utc::now(), q.strict);
    counted("lookup", verdict.valid, 1);
    let credential = presented.credential;
    let mut extra = json!({
        "identifier": identifier.to_string(), "version": version,
        "served_by": app.node_region.as_str(),
    });
    disclose(&mut extra, &credential, &fields);
    Ok(answer(verdict, extra).into_response())
}

/// The sharing decision for a certificate of `type_code` in `region` (as its row says).
fn shared(
    app: &App,
    lookup: &route::Lookup,
    type_code: String,
    region: String,
) -> Result<Option<Vec<String>>, domain::sharing::Refusal> {
    let reference = app.reference.get();
    let catalog = reference.catalog_at(chrono::Utc::now().fixed_offset());
    let policy = catalog.certificate_sharing(&type_code);
    // A region code that does not parse falls outside every grant's scope.
    let region = RegionCode::parse(&region).unwrap_or_else(|_| app.node_region.clone());
    sharing::check(
        &reference,
        &lookup.requester,
        &lookup.purpose,
        domain::sharing::ResourceRef::CertificateType(type_code),
        &region,
        &policy,
    )
}

/// Put what the consumer may receive of `credential` into `out`: the whole signed credential,
/// or (when the grant leaves it out) the allowed groups of its subject, masked where personal.
fn disclose(out: &mut Value, credential: &Value, fields: &Option<Vec<String>>) {
    let has = |g: &str| fields.as_ref().is_none_or(|f| f.iter().any(|x| x == g));
    if has("credential") {
        out["credential"] = credential.clone();
        return;
    }
    let subject = &credential["credentialSubject"];
    let mut view = serde_json::Map::new();
    if has("subject") {
        for key in [
            "certificateName",
            "certificateNumber",
            "certificateTypeCode",
            "issuingAuthority",
            "issueDate",
            "jurisdiction",
        ] {
            if let Some(v) = subject.get(key) {
                view.insert(key.into(), v.clone());
            }
        }
        for key in ["validFrom", "validUntil"] {
            if let Some(v) = credential.get(key) {
                view.insert(key.into(), v.clone());
            }
        }
    }
    let mut masked = json!({
        "holder": {"name": subject["holder"]["name"], "code": subject["holder"]["code"], "code_type": subject["holder"]["codeType"]},
        "surface": subject["surface"],
    });
    domain::masking::mask_certificate(&mut masked);
    view.insert(
        "holder".into(),
        if has("holder") {
            subject["holder"].clone()
        } else {
            json!({"name": masked["holder"]["name"], "code": masked["holder"]["code"]})
        },
    );
    if has("surface") {
        view.insert("surface".into(), subject["surface"].clone());
    }
    out["subject"] = Value::Object(view);
    out["fields"] = json!(fields);
}

#[derive(Debug, Deserialize)]
pub struct HolderQuery {
    pub holder_code: Option<String>,
    /// Region subtree to search (12 digits); default: the whole province.
    pub scope: Option<String>,
    pub purpose: Option<String>,
    /// Required by purpose codes that ask for a free text.
    pub purpose_text: Option<String>,
}

/// `GET /v1/certificates?holder_code=…&scope=…&purpose=…`: the current credentials of a holder
/// (by identity number or credit code) issued within `scope`. Answered by the node covering
/// the scope, routed there when needed; audited.
pub async fn by_holder(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<PeerIdentity>,
    axum::Extension(listener): axum::Extension<Listener>,
    query: Result<Query<HolderQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let Query(q) = query.map_err(|e| Problem::new("request.bad_query", e.body_text()))?;
    let db = app.pool.get().await?;
    let caller = auth::caller(&app, &db, &peer, &headers, listener).await?;
    LOOKUP.check(&caller, listener)?;
    let holder = q
        .holder_code
        .as_deref()
        .map(adapters::common::clean_code)
        .filter(|h| (1..=64).contains(&h.len()))
        .ok_or_else(|| {
            Problem::new(
                "request.bad_query",
                "holder_code (an identity number or credit code) is required",
            )
        })?;
    let lookup = route::Lookup::begin(
        &app,
        &caller,
        &headers,
        &Purpose::new(q.purpose.as_deref(), q.purpose_text.as_deref()),
    )?;
    let scope = route::lookup_scope(&app, &lookup.requester, "scope", q.scope.as_deref())?;
    let here = app.node_region.as_str();
    let entry = |results: usize| audit::Entry {
        action: "certificate.lookup_by_holder",
        target: format!("holder_code={holder}&scope={scope}"),
        purpose: &lookup.purpose,
        results,
    };
    if let Some(next) = route::scope_hop(&app, &scope)? {
        let query = [("holder_code", holder.as_str()), ("scope", scope.as_str())];
        let query = serde_urlencoded::to_string(query).map_err(Problem::internal)?;
        let path = format!("/v1/certificates?{query}");
        let (status, body) = lookup.forward(&app, next, &path, &headers).await?;
        if !lookup.is_routed() {
            let found = body["certificates"].as_array().map_or(0, Vec::len);
            audit::record(&db, &lookup.requester, here, entry(found)).await?;
        }
        return Ok(route::relay(status, &body));
    }
    let rows = db
        .query(
            "SELECT c.identifier, c.region_code, v.version, coalesce(v.credential_text, v.credential::text),
                    c.type_code FROM certificates c
             JOIN credential_versions v ON v.identifier = c.identifier AND v.version = c.current_version
             WHERE c.holder_code = $1 ORDER BY c.identifier",
            &[&holder],
        )
        .await?;
    let reference = app.reference.get();
    let regions = reference.regions();
    let mut certificates: Vec<Value> = Vec::new();
    let mut withheld = 0;
    let in_scope = rows.iter().filter(|r| {
        RegionCode::parse(r.get::<_, &str>(1))
            .is_ok_and(|region| regions.is_within(&scope, &region))
    });
    for r in in_scope {
        match shared(&app, &lookup, r.get(4), r.get(1)) {
            Ok(fields) => {
                let mut entry =
                    json!({"identifier": r.get::<_, String>(0), "version": r.get::<_, i32>(2)});
                disclose(
                    &mut entry,
                    &crate::certificates::stored_credential(r.get(3)).map_err(Problem::internal)?,
                    &fields,
                );
                certificates.push(entry);
            }
            // Not-shared certificates are not even counted.
            Err(domain::sharing::Refusal::NotShared) => {}
            Err(_) => withheld += 1,
        }
    }
    audit::record(&db, &lookup.requester, here, entry(certificates.len())).await?;
    let answer = json!({
        "holder_code": holder, "scope": scope.as_str(), "served_by": here,
        "certificates": certificates, "withheld": withheld,
    });
    Ok(Json(answer).into_response())
}

/// `POST /v1/certificates/verify`: verify a presented credential (the body). Not audited per
/// call (nothing shared is disclosed); counted in metrics.
pub async fn verify(State(app): State<Arc<App>>, v: Verifying) -> Result<Json<Verdict>, Problem> {
    let credential = vc::json::Json::parse_bytes(&v.body).map_err(|e| {
        Problem::new(
            "request.bad_json",
            format!("the body must be a credential (JSON): {e}"),
        )
    })?;
    let presented = present(&app, &v.db, credential, &v.headers).await?;
    let verdict = check(&app, &presented, chrono::Utc::now(), v.opts.strict);
    counted("verify", verdict.valid, 1);
    Ok(Json(verdict))
}

/// At most this many credentials in one `POST /v1/certificates/verify/batch`.
pub const VERIFY_BATCH_MAX: usize = 100;

/// The body of `POST /v1/certificates/verify/batch`, read in one pass: each credential a tree
/// borrowed from the body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, bound(deserialize = "'a: 'de"))]
struct VerifyBatch<'a> {
    #[serde(borrow)]
    credentials: Vec<vc::json::Json<'a>>,
}

/// `POST /v1/certificates/verify/batch`: verify up to [`VERIFY_BATCH_MAX`] presented
/// credentials in one request (the certificates attached to one application, say), answering
/// their verdicts in the order sent. Each verdict is the one `POST /v1/certificates/verify`
/// gives for that credential; a credential that cannot be checked at all (its `id` is not a
/// GB/T 36904 identifier) gets `valid: false` with the problem it would have got alone, and
/// the others are still answered. The signatures are checked on every core.
pub async fn verify_batch(
    State(app): State<Arc<App>>,
    v: Verifying,
) -> Result<Json<VerifyBatchAnswer>, Problem> {
    // Counted from here: several batches at once keep the cores busy between their checks.
    let _working = crate::parallel::Working::start();
    // Checked as UTF-8 once, as a whole (as bytes, every string would be checked on its own).
    let batch: Result<VerifyBatch, _> = match std::str::from_utf8(&v.body) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(&v.body),
    };
    let batch = batch.map_err(|e| {
        Problem::new(
            "request.bad_json",
            format!("the body must be {{\"credentials\": [credential, …]}}: {e}"),
        )
    })?;
    if batch.credentials.len() > VERIFY_BATCH_MAX {
        return Err(Problem::new(
            "verify.too_many_credentials",
            format!(
                "{} credentials in one request; the limit is {VERIFY_BATCH_MAX}",
                batch.credentials.len()
            ),
        )
        .with("limit", VERIFY_BATCH_MAX));
    }
    // The database's part one credential after another (most of it is remembered), then the
    // signatures on every core.
    let mut presented = Vec::with_capacity(batch.credentials.len());
    for credential in batch.credentials {
        match present(&app, &v.db, credential, &v.headers).await {
            Err(problem) if !problem.status.is_client_error() => return Err(problem),
            outcome => presented.push(outcome),
        }
    }
    drop(v.db);
    let now = chrono::Utc::now();
    let strict = v.opts.strict;
    let results = crate::parallel::cpu_in_place(v.body.len(), || {
        crate::parallel::map_chunks(presented.iter().collect(), 8, |chunk| {
            check_chunk(&app, chunk, now, strict)
        })
    });
    drop(presented);
    let valid = results.iter().filter(|(v, _)| *v == Some(true)).count();
    let checked = results.iter().filter(|(v, _)| v.is_some()).count();
    counted("verify_batch", true, valid);
    counted("verify_batch", false, checked - valid);
    let results: Vec<_> = results.into_iter().map(|(_, raw)| raw).collect();
    Ok(Json(VerifyBatchAnswer {
        valid,
        invalid: results.len() - valid,
        results,
    }))
}

/// The answer of `POST /v1/certificates/verify/batch`; each result was serialized on the core
/// that checked it, and is written out as it is (a `json!` value would parse it again).
#[derive(serde::Serialize)]
pub struct VerifyBatchAnswer {
    valid: usize,
    invalid: usize,
    results: Vec<Box<serde_json::value::RawValue>>,
}

/// Where both verification routes start: the body and options read, and the caller let in
/// (anyone on the web listener, without logging in: checking a file discloses nothing).
pub struct Verifying {
    db: deadpool_postgres::Object,
    opts: VerifyOptions,
    headers: HeaderMap,
    body: Bytes,
}

impl axum::extract::FromRequest<Arc<App>> for Verifying {
    type Rejection = Problem;

    async fn from_request(req: axum::extract::Request, app: &Arc<App>) -> Result<Self, Problem> {
        let (parts, body) = req.into_parts();
        let query = Query::<VerifyOptions>::try_from_uri(&parts.uri);
        let peer = parts.extensions.get::<PeerIdentity>().cloned();
        let listener = parts.extensions.get::<Listener>().copied();
        let (Some(peer), Some(listener)) = (peer, listener) else {
            return Err(Problem::internal("a verification route outside a listener"));
        };
        let headers = parts.headers.clone();
        let request = axum::extract::Request::from_parts(parts, body);
        let body = <Bytes as axum::extract::FromRequest<_>>::from_request(request, app).await?;
        let Query(opts) = query.map_err(|e| Problem::new("request.bad_query", e.body_text()))?;
        let db = app.pool.get().await?;
        let caller = match auth::caller(app, &db, &peer, &headers, listener).await {
            Ok(c) => c,
            Err(_) if listener == Listener::Web && !peer.has_certificate => auth::Caller::public(),
            Err(e) => return Err(e),
        };
        VERIFY.check(&caller, listener)?;
        Ok(Verifying {
            db,
            opts,
            headers,
            body,
        })
    }
}

/// A presented credential (a stored `Value`, or a tree borrowed from a request) with what this
/// node knows of it: the stored version it is (when it holds it as presented), its log
/// evidence and its status.
struct Presented<N> {
    credential: N,
    held: Option<(uuid::Uuid, i32)>,
    proof: Option<Arc<Evidence>>,
    status: Option<String>,
}

/// The key of [`memo::HELD`]: SHA-256 of this node's log origin, a presented identifier and
/// its proof value, each but the last after its length (no two triples share one).
fn held_key(origin: &str, identifier: &str, proof_value: &str) -> [u8; 32] {
    let mut key = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [origin, identifier] {
        key.update(&(part.len() as u64).to_le_bytes());
        key.update(part.as_bytes());
    }
    key.update(proof_value.as_bytes());
    key.finish()
        .as_ref()
        .try_into()
        .expect("SHA-256 is 32 bytes")
}

/// Look up what this node knows of `credential`. A client error (4xx) is about this credential
/// alone; anything else is the node's.
async fn present<'a>(
    app: &App,
    db: &deadpool_postgres::Client,
    credential: vc::json::Json<'a>,
    headers: &HeaderMap,
) -> Result<Presented<vc::json::Json<'a>>, Problem> {
    let id = credential.get("id").and_then(JsonNode::as_str);
    // A credential this node holds is checked against its issuer's log. The stored version a
    // credential is, is the one with its identifier and its signature (the proof value): the
    // signature covers every other member, so a body that differs from that version in
    // anything fails the signature check (and the log's, whose leaf is the stored version),
    // and one that differs only in spelling (spacing, member order) is that version. That
    // never changes, so it is remembered, and so is that its identifier parsed (only parsed
    // ones are): a remembered credential is not parsed again.
    let proof_value = credential
        .get("proof")
        .and_then(|p| p.get("proofValue"))
        .and_then(JsonNode::as_str);
    let presented = id
        .and_then(|id| id.strip_prefix(vc::ecert::ID_PREFIX))
        .zip(proof_value);
    let key = presented
        .map(|(identifier, proof_value)| held_key(&app.log.origin, identifier, proof_value));
    let remembered = key.as_ref().and_then(|key| memo::HELD.get(key));
    if remembered.is_none()
        && let Some(id) = id
    {
        parse_identifier(id)?;
    }
    let held = match (remembered, presented, key) {
        (Some(held), _, _) => Some(held),
        (None, Some((identifier, proof_value)), Some(key)) => {
            let stmt = db
                .prepare_cached(
                    "SELECT credential_id, version FROM credential_versions
                     WHERE identifier = $1
                       AND coalesce(credential_text::jsonb, credential) #>> '{proof,proofValue}' = $2
                     ORDER BY version DESC LIMIT 1",
                )
                .await?;
            let held = db
                .query_opt(&stmt, &[&identifier, &proof_value])
                .await?
                .map(|r| (r.get::<_, uuid::Uuid>(0), r.get::<_, i32>(1)));
            if let Some(held) = held {
                memo::HELD.put(key, held);
            }
            held
        }
        _ => None,
    };
    let (proof, status) = evidence(app, db, &credential, held, headers).await?;
    Ok(Presented {
        credential,
        held,
        proof,
        status,
    })
}

/// The verdict on a presented credential (CPU only); the caller counts it ([`counted`]).
fn check<N: JsonNode>(
    app: &App,
    presented: &Presented<N>,
    now: chrono::DateTime<chrono::Utc>,
    strict: bool,
) -> Verdict {
    let verdict = verify_credential_proven(
        &presented.credential,
        Some(app.reference.get().trust()),
        now,
        status_lookup(presented.status.as_deref()),
        presented.proof.as_deref(),
        strict,
    );
    remember_proof(app, presented.held, presented.proof.as_ref(), &verdict);
    verdict
}

/// [`check`] for a batch's share of one core: the signatures checked together
/// (`vc::verify_prepared`: one batch verification, each alone only when it does not hold),
/// then each credential's other checks. Each answer, serialized, with its `valid` (`None`:
/// the credential could not be checked at all).
fn check_chunk<N: JsonNode>(
    app: &App,
    chunk: Vec<&Result<Presented<N>, Problem>>,
    now: chrono::DateTime<chrono::Utc>,
    strict: bool,
) -> Vec<(Option<bool>, Box<serde_json::value::RawValue>)> {
    let reference = app.reference.get();
    let trust = Some(reference.trust());
    let prepared = chunk
        .iter()
        .filter_map(|p| p.as_ref().ok())
        .map(|p| prepare_signature(&p.credential, trust))
        .collect();
    let checked = vc::verify_prepared(prepared);
    if let Some(held) = checked.batch_held {
        let held = if held { "true" } else { "false" };
        metrics::counter!("gateway_certificates_signature_batches_total", "held" => held)
            .increment(1);
    }
    let mut signed = checked.results.into_iter();
    chunk
        .into_iter()
        .map(|p| match p {
            Ok(p) => {
                let signed = signed.next().expect("one signature a presented credential");
                let verdict = verify_credential_signed(
                    &p.credential,
                    signed,
                    trust,
                    now,
                    status_lookup(p.status.as_deref()),
                    p.proof.as_deref(),
                    strict,
                );
                remember_proof(app, p.held, p.proof.as_ref(), &verdict);
                let raw = serde_json::value::to_raw_value(&verdict).expect("a verdict serializes");
                (Some(verdict.valid), raw)
            }
            Err(problem) => {
                let item = json!({"valid": false, "problem": problem.to_json()});
                (
                    None,
                    serde_json::value::to_raw_value(&item).expect("serializes"),
                )
            }
        })
        .collect()
}

/// Count `n` verdicts of `route` (`valid` or not): once per request, not per credential.
fn counted(route: &'static str, valid: bool, n: usize) {
    if n > 0 {
        let valid = if valid { "true" } else { "false" };
        metrics::counter!("gateway_certificates_verified_total", "route" => route, "valid" => valid)
            .increment(n as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::held_key;

    /// Each part is hashed after its length: moving a boundary between parts, or changing
    /// the node, gives another key.
    #[test]
    fn held_keys_of_different_triples_differ() {
        let key = held_key("node", "ab", "cd");
        assert_eq!(key, held_key("node", "ab", "cd"));
        assert_ne!(key, held_key("node", "a", "bcd"));
        assert_ne!(key, held_key("node", "abc", "d"));
        assert_ne!(key, held_key("nodea", "b", "cd"));
        assert_ne!(key, held_key("other", "ab", "cd"));
    }
}
