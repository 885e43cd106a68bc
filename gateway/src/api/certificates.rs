//! Certificates: look one up by its GB/T 36904 identifier with its verification verdict, and
//! verify a presented credential. Verdicts come from `vc::verify` against the node's trust
//! bundle; this node answers the status of the certificates it issued itself.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use domain::codes::cert_id::CertIdentifier;
use serde::Deserialize;
use serde_json::{Value, json};
use vc::verify::{StatusLookup, Verdict, verify_credential};

use crate::api::problem::Problem;
use crate::api::{App, auth};
use crate::tls::PeerIdentity;

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
        .await
        .map_err(Problem::unavailable)?
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

/// `GET /v1/certificates/{id}`: the current credential of a certificate this node holds, with
/// its verdict.
pub async fn get(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<PeerIdentity>,
    Path(id): Path<String>,
    Query(opts): Query<VerifyOptions>,
) -> Result<Json<Value>, Problem> {
    let identifier = parse_identifier(&id)?;
    let db = app.pool.get().await?;
    let principal = auth::principal(&db, &peer).await?;
    auth::require_role(&principal, &["approver", "supervisor", "peer"])?;
    let row = db
        .query_opt(
            "SELECT v.credential, v.version FROM certificates c
             JOIN credential_versions v ON v.identifier = c.identifier AND v.version = c.current_version
             WHERE c.identifier = $1",
            &[&identifier.to_string()],
        )
        .await
        .map_err(Problem::unavailable)?
        .ok_or_else(|| Problem::new("certificate.not_found", format!("no certificate {identifier} on this node")))?;
    let credential: Value = row.get(0);
    let version: i32 = row.get(1);
    let status = own_status(&app, &db, &credential).await?;
    let verdict = verify_credential(
        &credential,
        Some(&app.issuer.trust),
        chrono::Utc::now(),
        status,
        opts.strict,
    );
    metrics::counter!("gateway_certificates_verified_total", "route" => "lookup", "valid" => verdict.valid.to_string()).increment(1);
    Ok(answer(
        verdict,
        json!({"identifier": identifier.to_string(), "version": version, "credential": credential}),
    ))
}

/// `POST /v1/certificates/verify`: verify a presented credential (the body).
pub async fn verify(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<PeerIdentity>,
    Query(opts): Query<VerifyOptions>,
    body: Bytes,
) -> Result<Json<Value>, Problem> {
    let db = app.pool.get().await?;
    auth::principal(&db, &peer).await?;
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
