//! Proofs from the log: inclusion of a credential (`GET /v1/certificates/{id}/proof`, routed to
//! the issuing node when it is not this one), consistency between two sizes
//! (`GET /v1/log/consistency?from=&to=`) and the latest checkpoint (`GET /v1/log/checkpoint`).

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use deadpool_postgres::GenericClient;
use domain::codes::region::RegionCode;
use http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;
use vc::logged::{LogProof, PROOF_TYPE};

use super::{Log, store};
use crate::api::App;
use crate::api::auth::{self, Listener, Policy};
use crate::api::certificates::parse_identifier;
use crate::api::problem::Problem;
use crate::federation::route;
use crate::tls::PeerIdentity;

/// Proofs and checkpoints disclose hashes only: anyone may ask.
pub const POLICY: Policy = Policy {
    exchange: &["system", "peer", "approver", "operator", "supervisor"],
    web: &["public", "approver", "supervisor", "operator"],
};

async fn caller_allowed(
    app: &App,
    db: &deadpool_postgres::Client,
    peer: &PeerIdentity,
    headers: &HeaderMap,
    listener: Listener,
) -> Result<(), Problem> {
    let caller = match auth::caller(app, db, peer, headers, listener).await {
        Ok(c) => c,
        Err(_) if listener == Listener::Web && !peer.has_certificate => auth::Caller::public(),
        Err(e) => return Err(e),
    };
    POLICY.check(&caller, listener)
}

/// The inclusion proof of credential `credential_id` in this node's log, against the smallest
/// cosigned checkpoint that contains it (else the latest one). `None` until it is sequenced.
pub async fn inclusion(
    db: &impl GenericClient,
    log: &Log,
    credential_id: Uuid,
    identifier: &str,
    version: i32,
) -> anyhow::Result<Option<LogProof>> {
    let Some(row) = db
        .query_opt(
            "SELECT leaf_index FROM tlog_leaves WHERE ref_id = $1",
            &[&credential_id],
        )
        .await?
    else {
        return Ok(None);
    };
    let index = row.get::<_, i64>(0) as u64;
    let Some((size, note, _)) = store::best_checkpoint(db, index + 1).await? else {
        return Ok(None);
    };
    let ids = tlog::nodes_for_inclusion(index, size)?;
    let path = tlog::inclusion_proof(index, size, &store::nodes(db, &ids).await?)?;
    Ok(Some(LogProof {
        kind: PROOF_TYPE.into(),
        identifier: identifier.to_owned(),
        version,
        log: log.origin.clone(),
        leaf_index: index,
        tree_size: size,
        inclusion_proof: path.iter().map(|h| STANDARD.encode(h)).collect(),
        checkpoint: note,
    }))
}

#[derive(Debug, Deserialize)]
pub struct ProofQuery {
    /// The credential version; default the current one.
    pub version: Option<i32>,
}

pub async fn certificate_proof(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<PeerIdentity>,
    axum::Extension(listener): axum::Extension<Listener>,
    id: Result<Path<String>, PathRejection>,
    query: Result<Query<ProofQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let Path(id) = id?;
    let Query(q) = query.map_err(|e| Problem::new("request.bad_query", e.body_text()))?;
    let db = app.pool.get().await?;
    caller_allowed(&app, &db, &peer, &headers, listener).await?;
    let identifier = parse_identifier(&id)?;
    let held = db
        .query_opt(
            "SELECT c.issuer_node, v.credential_id, v.version FROM certificates c
             JOIN credential_versions v ON v.identifier = c.identifier
              AND v.version = coalesce($2, c.current_version)
             WHERE c.identifier = $1",
            &[&identifier.to_string(), &q.version],
        )
        .await?;
    let issuer = match &held {
        Some(r) => RegionCode::parse(r.get::<_, &str>(0)).ok(),
        None => route::region_of_authority(identifier.authority()),
    };
    let ours = issuer.as_ref() == Some(&app.node_region);
    if let (Some(row), true) = (&held, ours) {
        let proof = inclusion(&db, &app.log, row.get(1), identifier.as_ref(), row.get(2))
            .await
            .map_err(Problem::internal)?
            .ok_or_else(|| {
                Problem::new(
                    "log.not_logged",
                    format!(
                        "certificate {identifier} is not in the log yet; retry in a few seconds"
                    ),
                )
            })?;
        return Ok(Json(proof).into_response());
    }
    // Only the issuing node's log proves it: route there.
    let next = issuer
        .and_then(|r| route::next_hop(&app, &r))
        .ok_or_else(|| {
            Problem::new(
                "certificate.not_found",
                format!("no certificate {identifier} in this node's network"),
            )
        })?;
    let mut path = format!("/v1/certificates/{identifier}/proof");
    if let Some(v) = q.version {
        path.push_str(&format!("?version={v}"));
    }
    let (status, body) =
        route::forward_query(&app, next, &path, ("", ""), &route::via(&headers)).await?;
    Ok(route::relay(status, &body))
}

#[derive(Debug, Deserialize)]
pub struct ConsistencyQuery {
    pub from: u64,
    pub to: u64,
}

pub async fn consistency(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<PeerIdentity>,
    axum::Extension(listener): axum::Extension<Listener>,
    query: Result<Query<ConsistencyQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Json<Value>, Problem> {
    let Query(q) = query.map_err(|e| Problem::new("request.bad_query", e.body_text()))?;
    let db = app.pool.get().await?;
    caller_allowed(&app, &db, &peer, &headers, listener).await?;
    let size = store::size(&db).await.map_err(Problem::internal)?;
    if q.from > q.to || q.to > size {
        return Err(Problem::new(
            "log.bad_range",
            format!("need 0 <= from <= to <= {size} (the log's size)"),
        ));
    }
    let ids = tlog::nodes_for_consistency(q.from, q.to).map_err(Problem::internal)?;
    let nodes = store::nodes(&db, &ids).await.map_err(Problem::internal)?;
    let proof = tlog::consistency_proof(q.from, q.to, &nodes).map_err(Problem::internal)?;
    Ok(Json(json!({
        "log": app.log.origin,
        "from": q.from,
        "to": q.to,
        "proof": proof.iter().map(|h| STANDARD.encode(h)).collect::<Vec<_>>(),
    })))
}

pub async fn checkpoint(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<PeerIdentity>,
    axum::Extension(listener): axum::Extension<Listener>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let db = app.pool.get().await?;
    caller_allowed(&app, &db, &peer, &headers, listener).await?;
    let (_, note) = store::checkpoint(&db, None)
        .await
        .map_err(Problem::internal)?
        .ok_or_else(|| Problem::new("log.not_logged", "the log has no checkpoint yet"))?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], note).into_response())
}
