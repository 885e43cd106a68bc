//! Liveness, readiness and Prometheus metrics.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use crate::api::App;
use crate::api::problem::Problem;
use crate::db::migrate;

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
        .await
        .map_err(Problem::unavailable)?;
    let applied: i32 = row.get(0);
    if applied < migrate::latest() {
        return Err(Problem::unavailable(format!(
            "schema at migration {applied}, binary expects {}",
            migrate::latest()
        )));
    }
    Ok(Json(json!({"status": "ready", "migration": applied})))
}

/// Prometheus text format.
pub async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    let body = app.metrics.as_ref().map(|h| h.render()).unwrap_or_default();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        body,
    )
}
