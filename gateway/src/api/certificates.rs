//! Certificates: look one up by its GB/T 36904 identifier with its verification verdict, and
//! verify a presented credential. Verdicts come from `vc::verify` against the node's trust
//! bundle; this node answers the status of the certificates it issued itself.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use domain::codes::cert_id::CertIdentifier;
use domain::codes::region::RegionCode;
use http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};
use vc::verify::{StatusLookup, Verdict, verify_credential};

use crate::api::App;
use crate::api::auth::{self, Listener, Policy};
use crate::api::problem::Problem;
use crate::audit::{self, Purpose};
use crate::federation::route;
use crate::tls::PeerIdentity;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

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

/// Status of a credential, when this node is its issuer and holds it: the node is the authority
/// for its own certificates. Others are left to the status lists (skipped here).
async fn own_status(
    app: &App,
    db: &deadpool_postgres::Client,
    credential: &Value,
) -> Result<Option<StatusLookup<'static>>, Problem> {
    let ours = credential["issuer"]["node"] == json!(vc::ecert::node_urn(&app.node_region));
    let Some(identifier) = credential["id"]
        .as_str()
        .and_then(|id| id.strip_prefix(vc::ecert::ID_PREFIX))
    else {
        return Ok(None);
    };
    if !ours {
        return Ok(None);
    }
    let held = db
        .query_opt(
            "SELECT 1 FROM certificates WHERE identifier = $1",
            &[&identifier],
        )
        .await?
        .is_some();
    // No certificate can be revoked or suspended yet (status changes arrive with issue 7).
    Ok(held.then(|| StatusLookup::known(false, false)))
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
    let caller = auth::caller(&db, &peer, &headers, listener).await?;
    LOOKUP.check(&caller, listener)?;
    let identifier = parse_identifier(&id)?;
    // Asked by a peer node: the query was routed; who asked and why come from the entry
    // node's signed statement, which is passed on unchanged if this node routes it further.
    let routed = if caller.role == "peer" {
        let text = |h: &str| {
            headers
                .get(h)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let (stmt_hex, sig_hex) = (text(route::STATEMENT_HEADER), text(route::SIGNATURE_HEADER));
        Some((
            route::Statement::verify(&app, &stmt_hex, &sig_hex)?,
            stmt_hex,
            sig_hex,
        ))
    } else {
        None
    };
    let (requester, purpose) = match &routed {
        Some((stmt, ..)) => (stmt_caller(stmt), stmt.purpose.clone()),
        None => (
            caller.clone(),
            Purpose {
                purpose: q.purpose.clone(),
            }
            .required()?,
        ),
    };
    let row = db
        .query_opt(
            "SELECT v.credential, v.version FROM certificates c
             JOIN credential_versions v ON v.identifier = c.identifier AND v.version = c.current_version
             WHERE c.identifier = $1",
            &[&identifier.to_string()],
        )
        .await?;
    let audit_lookup = |results: usize| audit::Entry {
        action: "certificate.lookup",
        target: identifier.to_string(),
        purpose: &purpose,
        results,
    };
    let Some(row) = row else {
        // Not here: route towards the node that covers the issuing authority's region.
        let next = route::region_of_authority(identifier.authority())
            .and_then(|r| route::next_hop(&app, &r));
        let Some(next) = next else {
            audit::record(&db, &requester, app.node_region.as_str(), audit_lookup(0)).await?;
            return Err(Problem::new(
                "certificate.not_found",
                format!("no certificate {identifier} in this node's network"),
            ));
        };
        let signed;
        let statement = match &routed {
            Some((_, stmt_hex, sig_hex)) => (stmt_hex.as_str(), sig_hex.as_str()),
            None => {
                signed = route::Statement::new(&caller, &purpose, &app.node_region)
                    .sign(&app.issuer.key);
                (signed.0.as_str(), signed.1.as_str())
            }
        };
        let path = format!("/v1/certificates/{identifier}?strict={}", q.strict);
        let (status, body) =
            route::forward_query(&app, next, &path, statement, &route::via(&headers)).await?;
        if routed.is_none() {
            // The entry node records its own user's lookup; the serving node records it too.
            audit::record(
                &db,
                &requester,
                app.node_region.as_str(),
                audit_lookup(usize::from(status == 200)),
            )
            .await?;
        }
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
        let content_type = if status.is_success() {
            "application/json"
        } else {
            "application/problem+json"
        };
        return Ok((
            status,
            [(header::CONTENT_TYPE, content_type)],
            body.to_string(),
        )
            .into_response());
    };
    audit::record(&db, &requester, app.node_region.as_str(), audit_lookup(1)).await?;
    let credential: Value = row.get(0);
    let version: i32 = row.get(1);
    let status = own_status(&app, &db, &credential).await?;
    let verdict = verify_credential(
        &credential,
        Some(&app.issuer.trust),
        chrono::Utc::now(),
        status,
        q.strict,
    );
    metrics::counter!("gateway_certificates_verified_total", "route" => "lookup", "valid" => verdict.valid.to_string()).increment(1);
    let extra = json!({
        "identifier": identifier.to_string(), "version": version, "credential": credential,
        "served_by": app.node_region.as_str(),
    });
    Ok(answer(verdict, extra).into_response())
}

/// The original requester of a routed query, for the audit trail.
fn stmt_caller(stmt: &route::Statement) -> auth::Caller {
    auth::Caller {
        id: stmt.requester.clone(),
        kind: if stmt.kind == "account" {
            auth::CallerKind::Account
        } else {
            auth::CallerKind::Certificate
        },
        role: stmt.role.clone(),
        department: None,
        region_code: stmt.region.clone(),
    }
}

#[derive(Debug, Deserialize)]
pub struct HolderQuery {
    pub holder_code: Option<String>,
    pub purpose: Option<String>,
}

/// `GET /v1/certificates?holder_code=…&purpose=…`: the current credentials of a holder (by
/// identity number or credit code) within the caller's region. Audited.
pub async fn by_holder(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<PeerIdentity>,
    axum::Extension(listener): axum::Extension<Listener>,
    query: Result<Query<HolderQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Json<Value>, Problem> {
    let Query(q) = query.map_err(|e| Problem::new("request.bad_query", e.body_text()))?;
    let db = app.pool.get().await?;
    let caller = auth::caller(&db, &peer, &headers, listener).await?;
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
    let purpose = Purpose {
        purpose: q.purpose.clone(),
    }
    .required()?;
    let scope = RegionCode::parse(&caller.region_code).map_err(Problem::internal)?;
    let rows = db
        .query(
            "SELECT c.identifier, c.region_code, v.version, v.credential FROM certificates c
             JOIN credential_versions v ON v.identifier = c.identifier AND v.version = c.current_version
             WHERE c.holder_code = $1 ORDER BY c.identifier",
            &[&holder],
        )
        .await
        ?;
    let regions = &app.reference.regions;
    let certificates: Vec<Value> = rows
        .iter()
        .filter(|r| RegionCode::parse(r.get::<_, &str>(1)).is_ok_and(|region| regions.is_within(&scope, &region)))
        .map(|r| json!({"identifier": r.get::<_, String>(0), "version": r.get::<_, i32>(2), "credential": r.get::<_, Value>(3)}))
        .collect();
    let entry = audit::Entry {
        action: "certificate.lookup_by_holder",
        target: format!("holder_code={holder}"),
        purpose: &purpose,
        results: certificates.len(),
    };
    audit::record(&db, &caller, app.node_region.as_str(), entry).await?;
    Ok(Json(
        json!({"holder_code": holder, "scope": scope.as_str(), "certificates": certificates}),
    ))
}

/// `POST /v1/certificates/verify`: verify a presented credential (the body). Not audited per
/// call (nothing shared is disclosed); counted in metrics.
pub async fn verify(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<PeerIdentity>,
    axum::Extension(listener): axum::Extension<Listener>,
    query: Result<Query<VerifyOptions>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Problem> {
    let body = body?;
    let Query(opts) = query.map_err(|e| Problem::new("request.bad_query", e.body_text()))?;
    let db = app.pool.get().await?;
    let caller = match auth::caller(&db, &peer, &headers, listener).await {
        Ok(c) => c,
        // Anonymous verification is allowed on the web listener.
        Err(_) if listener == Listener::Web && !peer.has_certificate => auth::Caller::public(),
        Err(e) => return Err(e),
    };
    VERIFY.check(&caller, listener)?;
    let credential: Value = serde_json::from_slice(&body).map_err(|e| {
        Problem::new(
            "request.bad_json",
            format!("the body must be a credential (JSON): {e}"),
        )
    })?;
    if let Some(id) = credential["id"].as_str() {
        parse_identifier(id)?;
    }
    let status = own_status(&app, &db, &credential).await?;
    let verdict = verify_credential(
        &credential,
        Some(&app.issuer.trust),
        chrono::Utc::now(),
        status,
        opts.strict,
    );
    metrics::counter!("gateway_certificates_verified_total", "route" => "verify", "valid" => verdict.valid.to_string()).increment(1);
    Ok(answer(verdict, json!({})))
}
