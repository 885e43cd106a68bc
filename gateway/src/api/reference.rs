//! `GET /v1/reference`: the reference data versions this node holds and the ones in force
//! now (children poll their parent with it; operators check what a node runs on).
//! `GET /v1/reference/{kind}/{version}`: one published version's signed envelope.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use http::HeaderMap;
use serde_json::{Value, json};

use crate::api::App;
use crate::api::auth::{self, Listener, Policy};
use crate::api::problem::Problem;
use crate::reference::store;
use crate::tls::PeerIdentity;

/// Peer nodes (children pulling) on the exchange listener, operators and supervisors on the web
/// listener. Reference data is not personal data, but it is not public either.
pub const POLICY: Policy = Policy {
    exchange: &["peer"],
    web: &["operator", "supervisor"],
};

pub async fn list(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<PeerIdentity>,
    axum::Extension(listener): axum::Extension<Listener>,
    headers: HeaderMap,
) -> Result<Json<Value>, Problem> {
    let db = app.pool.get().await?;
    let caller = auth::caller(&app, &db, &peer, &headers, listener).await?;
    POLICY.check(&caller, listener)?;
    // What the database holds now, also versions stored moments ago by another process or
    // the CLI.
    app.reference
        .refresh(&app.config, &db)
        .await
        .map_err(Problem::internal)?;
    let reference = app.reference.get();
    Ok(Json(json!({
        "node": app.node_region.as_str(),
        "in_force": reference.in_force_now(),
        "held": reference.held(),
    })))
}

pub async fn get(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<PeerIdentity>,
    axum::Extension(listener): axum::Extension<Listener>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Result<Json<Value>, Problem> {
    let Path((kind, version)) = path?;
    let db = app.pool.get().await?;
    let caller = auth::caller(&app, &db, &peer, &headers, listener).await?;
    POLICY.check(&caller, listener)?;
    let not_found = || {
        Problem::new(
            "reference.not_found",
            format!("this node holds no published {kind} version {version}"),
        )
    };
    let version: i64 = version.parse().map_err(|_| not_found())?;
    let envelope = store::envelope(&db, &kind, version)
        .await
        .map_err(Problem::internal)?
        .ok_or_else(not_found)?;
    Ok(Json(envelope))
}
