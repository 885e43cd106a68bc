//! Certificate status over HTTP.
//!
//! - `POST /v1/certificates/{id}/status`: the issuing department's system suspends, reinstates
//!   or revokes a certificate of this node, with a reason.
//! - `GET /v1/status/{node}/{purpose}`: a node's Bitstring Status List credential (the URL its
//!   credentials' `credentialStatus` entries name, under the network's base URL). Any node
//!   answers: its own lists it signs; others it fetches from the issuing node.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use domain::codes::region::RegionCode;
use domain::record::CertificateStatus;
use http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;
use vc::ecert::StatusPurpose;

use crate::api::App;
use crate::api::auth::{self, Listener, Policy};
use crate::api::certificates::parse_identifier;
use crate::api::problem::Problem;
use crate::certificates::status::{self, Applied, Change};
use crate::federation::route;
use crate::tls::PeerIdentity;

/// Departmental systems, on the exchange listener.
pub const CHANGE: Policy = Policy {
    exchange: &["system"],
    web: &[],
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    /// `suspended`, `revoked` or `valid` (lifting a suspension).
    pub status: String,
    pub reason: String,
}

pub async fn change(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<PeerIdentity>,
    axum::Extension(listener): axum::Extension<Listener>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Problem> {
    let Path(id) = id?;
    let body = body?;
    let mut db = app.pool.get().await?;
    let caller = auth::caller(&app, &db, &peer, &headers, listener).await?;
    CHANGE.check(&caller, listener)?;
    let identifier = parse_identifier(&id)?;
    let req: StatusRequest = serde_json::from_slice(&body).map_err(|e| {
        Problem::new(
            "request.bad_json",
            format!("the body must be {{\"status\", \"reason\"}}: {e}"),
        )
    })?;
    let new_status = CertificateStatus::parse(&req.status).ok_or_else(|| {
        Problem::new(
            "request.bad_json",
            format!(
                "status '{}' is not one of suspended, revoked, valid",
                req.status
            ),
        )
    })?;
    let reason = req.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(Problem::new(
            "request.bad_json",
            "reason must be 1-500 characters",
        ));
    }
    // Whose certificate: issued here, by the caller's department, within the caller's region.
    let row = db
        .query_opt(
            "SELECT c.issuer_node, c.region_code, r.department FROM certificates c
             JOIN credential_versions v ON v.identifier = c.identifier AND v.version = c.current_version
             JOIN case_records r ON r.record_id = v.record_id
             WHERE c.identifier = $1",
            &[&identifier.to_string()],
        )
        .await?
        .ok_or_else(|| {
            Problem::new(
                "certificate.not_found",
                format!("no certificate {identifier} on this node"),
            )
        })?;
    let (issuer_node, region, department): (String, String, String) =
        (row.get(0), row.get(1), row.get(2));
    if issuer_node != app.node_region.as_str() {
        return Err(Problem::new(
            "certificate.not_issuer",
            format!(
                "certificate {identifier} was issued by node {issuer_node}: change its status there"
            ),
        ));
    }
    if caller.department.as_deref() != Some(department.as_str()) {
        return Err(Problem::new(
            "auth.department",
            format!("certificate {identifier} was issued by department {department}"),
        ));
    }
    let inside = RegionCode::parse(&caller.region_code)
        .ok()
        .zip(RegionCode::parse(&region).ok())
        .is_some_and(|(own, r)| app.reference.get().regions().is_within(&own, &r));
    if !inside {
        return Err(Problem::new(
            "auth.region",
            format!("certificate {identifier} is for {region}, outside your region"),
        ));
    }
    let change = Change {
        change_id: Uuid::now_v7(),
        identifier: identifier.to_string(),
        issuer_node,
        status: new_status,
        reason: reason.to_owned(),
        changed_by: caller.id.clone(),
        source: "api".into(),
        at: Utc::now(),
    };
    let forward = app.config.federation.parent.is_some();
    let tx = db.transaction().await?;
    let applied = status::apply(&tx, &change, None, forward)
        .await
        .map_err(Problem::internal)?;
    tx.commit().await?;
    if applied == Applied::Final {
        return Err(Problem::new(
            "certificate.revoked",
            format!("certificate {identifier} is revoked: revocation is final"),
        ));
    }
    let changed = applied == Applied::Changed;
    if changed {
        metrics::counter!("gateway_certificates_status_changed_total", "status" => new_status.as_str(), "source" => "api").increment(1);
    }
    Ok(Json(json!({
        "identifier": identifier.to_string(),
        "status": new_status.as_str(),
        "changed": changed,
        "change_id": changed.then_some(change.change_id),
        "at": changed.then_some(change.at),
    })))
}

/// Anyone may fetch a status list (it discloses only bits).
pub const LIST: Policy = Policy {
    exchange: &["system", "peer", "approver", "operator", "supervisor"],
    web: &["public", "approver", "supervisor", "operator"],
};

pub async fn list(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<PeerIdentity>,
    axum::Extension(listener): axum::Extension<Listener>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let Path((node, purpose)) = path?;
    let db = app.pool.get().await?;
    let caller = match auth::caller(&app, &db, &peer, &headers, listener).await {
        Ok(c) => c,
        Err(_) if listener == Listener::Web && !peer.has_certificate => auth::Caller::public(),
        Err(e) => return Err(e),
    };
    LIST.check(&caller, listener)?;
    let not_found = || {
        Problem::new(
            "status.not_found",
            format!(
                "no status list {node}/{purpose}: give a node's region code and revocation or suspension"
            ),
        )
    };
    let purpose = match purpose.as_str() {
        "revocation" => StatusPurpose::Revocation,
        "suspension" => StatusPurpose::Suspension,
        _ => return Err(not_found()),
    };
    let node = RegionCode::parse(&node).map_err(|_| not_found())?;
    if node == app.node_region {
        let ttl = chrono::Duration::seconds(app.config.certificates.status_list_ttl_secs as i64);
        let list = status::list_credential(&db, &app.issuer, purpose, ttl)
            .await
            .map_err(Problem::internal)?;
        return Ok(Json(list).into_response());
    }
    // Another node's list: only it can sign it.
    let next = route::next_hop(&app, &node).ok_or_else(not_found)?;
    let path = format!("/v1/status/{node}/{}", purpose.as_str());
    let (status, body) =
        route::forward_query(&app, next, &path, ("", ""), &route::via(&headers)).await?;
    Ok(route::relay(status, &body))
}
