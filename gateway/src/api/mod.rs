//! The HTTP API on the exchange listener. Handlers are small: they authenticate, call into
//! `ingest` (or later modules), and answer JSON or problem+json.

pub mod audit;
pub mod auth;
pub mod certificates;
pub mod grants;
pub mod health;
pub mod ingest;
pub mod limits;
pub mod problem;
pub mod public;
pub mod purposes;
pub mod records;
pub mod reference;
pub mod request_id;
pub mod session;
pub mod sharing;
pub mod status;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use deadpool_postgres::Pool;
use domain::codes::region::RegionCode;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::Config;
use crate::transparency::proof;
use auth::Listener;
use problem::Problem;

/// Everything a request handler may need; one per process, shared by all connections.
pub struct App {
    pub pool: Pool,
    pub reference: crate::reference::Shared,
    pub adapters: Vec<Arc<dyn adapters::Adapter>>,
    pub node_region: RegionCode,
    pub config: Arc<Config>,
    pub metrics: Option<PrometheusHandle>,
    pub issuer: Arc<crate::certificates::Issuer>,
    /// Small pushes wait here for a shared transaction (group commit).
    pub group: crate::ingest::group::GroupCommit,
    pub log: Arc<crate::transparency::Log>,
    /// Principals and certificate statuses in memory, kept current across processes.
    pub rows: Arc<crate::db::row_cache::Rows>,
    /// Bodies of records just queued for the parent, for the drainers.
    pub recent: Arc<crate::federation::recent::Recent>,
}

impl App {
    /// Where a push keeps the bodies it queues for the parent: nowhere on the root node.
    pub fn recent_bodies(&self) -> Option<Arc<crate::federation::recent::Recent>> {
        self.config
            .federation
            .parent
            .is_some()
            .then(|| self.recent.clone())
    }
}

/// Routes of the exchange listener (mTLS required): departmental systems and peer nodes.
pub fn exchange_router(app: Arc<App>) -> Router {
    let max_body = app.config.ingest.max_body_bytes;
    Router::new()
        .route("/v1/ingest/{adapter}", post(ingest::ingest))
        .route("/v1/batches/{client_batch_id}", get(ingest::batch))
        .route("/v1/certificates/verify", post(certificates::verify))
        .route(
            "/v1/certificates/verify/batch",
            post(certificates::verify_batch),
        )
        .route("/v1/certificates/{id}", get(certificates::get))
        .route("/v1/certificates/{id}/status", post(status::change))
        .route("/v1/certificates/{id}/proof", get(proof::certificate_proof))
        .route("/v1/log/checkpoint", get(proof::checkpoint))
        .route("/v1/log/consistency", get(proof::consistency))
        .route(
            "/v1/log/witness",
            post(crate::transparency::witness::add_checkpoint),
        )
        .route("/v1/federation/key-request", post(crate::keys::receive))
        .route("/v1/certificates", get(certificates::by_holder))
        .route("/v1/status/{node}/{purpose}", get(status::list))
        .route("/v1/records", get(records::query))
        .route(
            "/v1/federation/forward",
            post(crate::federation::receive::forward),
        )
        .route(
            "/v1/federation/audit-head",
            post(crate::audit::heads::receive).get(crate::audit::heads::get),
        )
        .route(
            "/v1/federation/principals",
            post(crate::principals::receive),
        )
        .route("/v1/reference", get(reference::list))
        .route("/v1/reference/{kind}/{version}", get(reference::get))
        .merge(common_routes())
        // Again after the merge: axum applies it only to the routes registered before it.
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(
            limits::Guard::exchange(&app.config),
            limits::guard,
        ))
        // Peers speaking another major are refused before anything else (docs/federation.md).
        .layer(axum::middleware::from_fn_with_state(
            crate::federation::protocol::announced(&app.config)
                .unwrap_or(crate::federation::protocol::CURRENT),
            crate::federation::protocol::layer,
        ))
        .layer(axum::Extension(Listener::Exchange))
        .layer(axum::middleware::from_fn(request_id::layer))
        .with_state(app)
}

/// Routes of the web listener (server TLS, client certificates optional): staff with a
/// certificate or an account, and the public.
pub fn web_router(app: Arc<App>) -> Router {
    Router::new()
        .route(
            "/v1/session",
            post(session::login)
                .get(session::whoami)
                .delete(session::logout),
        )
        .route("/v1/certificates/verify", post(certificates::verify))
        .route(
            "/v1/certificates/verify/batch",
            post(certificates::verify_batch),
        )
        .route("/v1/certificates/{id}", get(certificates::get))
        .route("/v1/certificates", get(certificates::by_holder))
        .route("/v1/status/{node}/{purpose}", get(status::list))
        .route("/v1/certificates/{id}/proof", get(proof::certificate_proof))
        .route("/v1/log/checkpoint", get(proof::checkpoint))
        .route("/v1/log/consistency", get(proof::consistency))
        .route("/v1/records", get(records::query))
        .route("/public/v1/cases", get(public::by_case_no))
        .route("/public/v1/cases/{record_id}", get(public::by_record_id))
        .route("/v1/audit", get(audit::search))
        .route("/v1/audit/unusual", get(audit::unusual))
        .route("/v1/grants", get(grants::list).post(grants::add))
        .route("/v1/grants/{id}", axum::routing::delete(grants::revoke))
        .route(
            "/v1/supervision/alerts",
            get(crate::supervision::api::alerts),
        )
        .route("/v1/supervision/stats", get(crate::supervision::api::stats))
        .route("/v1/federation/audit-head", get(crate::audit::heads::get))
        .route("/v1/reference", get(reference::list))
        .route("/v1/reference/{kind}/{version}", get(reference::get))
        .route("/metrics", get(health::metrics))
        .route("/ops", get(crate::ops::page::page))
        .route("/verify", get(crate::verify_page::page::page))
        .route(
            "/v1/certificates/{id}/qr.svg",
            get(crate::verify_page::qr::qr_svg),
        )
        .route("/v1/purposes", get(purposes::list))
        .route("/v1/ops/series", get(crate::ops::series::series))
        .route("/v1/ops/expiring", get(crate::ops::expiry::list))
        .merge(common_routes())
        // Again after the merge: axum applies it only to the routes registered before it.
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(app.config.limits.web_max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            limits::Guard::web(&app.config),
            limits::guard,
        ))
        .layer(axum::Extension(Listener::Web))
        .layer(axum::middleware::from_fn(request_id::layer))
        .with_state(app)
}

/// Health and the API description, on both listeners; errors for unknown routes.
fn common_routes() -> Router<Arc<App>> {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/openapi.json", get(health::openapi))
        .route("/v1/pki/crl/{role}", get(crate::crl::get))
        .fallback(|| async { Problem::new("route.not_found", "no such route") })
        .method_not_allowed_fallback(method_not_allowed)
}

async fn method_not_allowed() -> Problem {
    Problem::new(
        "route.method_not_allowed",
        "method not allowed on this route",
    )
}
