//! The grants admin API: `GET /v1/grants` (the grants in force at this node), and at the
//! province `POST /v1/grants` and `DELETE /v1/grants/{id}`, which publish a new `grants`
//! version signed by the trust root (`federation.publisher_key`), so it reaches every tier.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use domain::sharing::Grant;
use http::HeaderMap;
use serde_json::{Value, json};

use crate::api::App;
use crate::api::auth::{self, Listener, Policy};
use crate::api::problem::Problem;
use crate::tls::PeerIdentity;

/// Reading: operators and supervisors. Changing: operators of the province node.
pub const READ: Policy = Policy {
    exchange: &[],
    web: &["operator", "supervisor"],
};
pub const CHANGE: Policy = Policy {
    exchange: &[],
    web: &["operator"],
};

async fn caller_may(
    app: &App,
    peer: &PeerIdentity,
    headers: &HeaderMap,
    listener: Listener,
    policy: &Policy,
) -> Result<deadpool_postgres::Client, Problem> {
    let db = app.pool.get().await?;
    let caller = auth::caller(app, &db, peer, headers, listener).await?;
    policy.check(&caller, listener)?;
    Ok(db)
}

pub async fn list(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<PeerIdentity>,
    axum::Extension(listener): axum::Extension<Listener>,
    headers: HeaderMap,
) -> Result<Json<Value>, Problem> {
    let db = caller_may(&app, &peer, &headers, listener, &READ).await?;
    app.reference
        .refresh(&app.config, &db)
        .await
        .map_err(Problem::internal)?;
    let reference = app.reference.get();
    Ok(Json(json!({
        "version": reference.grant_lists.now().meta.version,
        "grants": reference.grants().grants,
    })))
}

/// The publisher key, present only at the province node.
fn publisher_key(app: &App) -> Result<std::path::PathBuf, Problem> {
    match (
        &app.config.federation.parent,
        &app.config.federation.publisher_key,
    ) {
        (None, Some(key)) => Ok(key.clone()),
        _ => Err(Problem::new(
            "grants.not_publisher",
            "grants are changed at the province node, with federation.publisher_key configured",
        )),
    }
}

pub async fn add(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<PeerIdentity>,
    axum::Extension(listener): axum::Extension<Listener>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Problem> {
    let body = body?;
    let db = caller_may(&app, &peer, &headers, listener, &CHANGE).await?;
    let key = publisher_key(&app)?;
    let grant: Grant = serde_json::from_slice(&body)
        .map_err(|e| Problem::new("request.bad_json", format!("not a grant: {e}")))?;
    let id = grant.id.clone();
    let version = crate::grants::add(&app.config, &db, &key, grant)
        .await
        .map_err(|e| Problem::new("grants.invalid", format!("{e:#}")))?;
    Ok(Json(json!({"id": id, "version": version})))
}

pub async fn revoke(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<PeerIdentity>,
    axum::Extension(listener): axum::Extension<Listener>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Json<Value>, Problem> {
    let Path(id) = id?;
    let db = caller_may(&app, &peer, &headers, listener, &CHANGE).await?;
    let key = publisher_key(&app)?;
    let version = crate::grants::revoke(&app.config, &db, &key, &id)
        .await
        .map_err(Problem::internal)?
        .ok_or_else(|| Problem::new("grants.not_found", format!("no grant {id} in force")))?;
    Ok(Json(json!({"id": id, "version": version})))
}
