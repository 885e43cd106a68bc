//! Liveness, readiness and Prometheus metrics.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use crate::api::App;
use crate::api::auth::{self, Listener, Policy};
use crate::api::problem::Problem;
use crate::db::migrate;
use crate::tls::PeerIdentity;
use http::HeaderMap;

/// The process is up.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Ready to take traffic: the database answers and every migration this binary knows is applied.
pub async fn readyz(State(app): State<Arc<App>>) -> Result<Json<serde_json::Value>, Problem> {
    let db = app.pool.get().await?;
    let row = db
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )
        .await?;
    let applied: i32 = row.get(0);
    if applied < migrate::latest() {
        return Err(Problem::unavailable(format!(
            "schema at migration {applied}, binary expects {}",
            migrate::latest()
        )));
    }
    Ok(Json(json!({"status": "ready", "migration": applied})))
}

/// Metrics are for operators (web listener; certificate or account).
pub const METRICS: Policy = Policy {
    exchange: &[],
    web: &["operator"],
};

/// Prometheus text format.
pub async fn metrics(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<PeerIdentity>,
    axum::Extension(listener): axum::Extension<Listener>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, Problem> {
    let db = app.pool.get().await?;
    let caller = auth::caller(&app, &db, &peer, &headers, listener).await?;
    METRICS.check(&caller, listener)?;
    let body = app.metrics.as_ref().map(|h| h.render()).unwrap_or_default();
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        body,
    ))
}

/// The OpenAPI 3.1 description of both listeners' API (`schemas/openapi.json`).
pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

pub const OPENAPI: &str = include_str!("../../../schemas/openapi.json");
