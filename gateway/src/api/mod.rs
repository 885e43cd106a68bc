//! The HTTP API on the exchange listener. Handlers are small: they authenticate, call into
//! `ingest` (or later modules), and answer JSON or problem+json.

pub mod auth;
pub mod certificates;
pub mod health;
pub mod ingest;
pub mod problem;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use deadpool_postgres::Pool;
use domain::codes::region::RegionCode;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::Config;
use crate::ingest::Reference;
use problem::Problem;

/// Everything a request handler may need; one per process, shared by all connections.
pub struct App {
    pub pool: Pool,
    pub reference: Arc<Reference>,
    pub adapters: Vec<Arc<dyn adapters::Adapter>>,
    pub node_region: RegionCode,
    pub config: Arc<Config>,
    pub metrics: Option<PrometheusHandle>,
    pub issuer: Arc<crate::certificates::Issuer>,
}

pub fn router(app: Arc<App>) -> Router {
    let max_body = app.config.ingest.max_body_bytes;
    Router::new()
        .route("/v1/ingest/{adapter}", post(ingest::ingest))
        .route("/v1/certificates/verify", post(certificates::verify))
        .route("/v1/certificates/{id}", get(certificates::get))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .fallback(|| async { Problem::new("route.not_found", "no such route") })
        .method_not_allowed_fallback(|| async {
            Problem::new(
                "route.method_not_allowed",
                "method not allowed on this route",
            )
        })
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(app)
}
