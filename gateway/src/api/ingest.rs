//! `POST /v1/ingest/{adapter}`: a departmental system pushes a native batch through its own
//! department's adapter; the answer is a receipt with one outcome per record.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::codes::region::RegionCode;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::api::App;
use crate::api::auth::{self, Listener, Policy};
use crate::api::problem::Problem;
use crate::ingest::receipt::Receipt;
use crate::ingest::store::{self, BatchMeta, QuarantineRow};
use crate::ingest::{self, Pusher};
use crate::tls::PeerIdentity;

/// Optional header naming the batch on the client's side; a retry with the same id gets the
/// stored receipt instead of being processed again.
pub const CLIENT_BATCH_HEADER: &str = "x-client-batch-id";

fn client_batch_id(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(v) = headers.get(CLIENT_BATCH_HEADER) else {
        return Ok(None);
    };
    let s = v.to_str().unwrap_or_default();
    let ok = (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
    if !ok {
        return Err(Problem::new(
            "request.bad_header",
            format!("{CLIENT_BATCH_HEADER} must be 1-128 characters of A-Z a-z 0-9 . _ : -"),
        ));
    }
    Ok(Some(s.to_owned()))
}

/// Database errors the server reported (SQL errors) are bugs; anything else means the database
/// could not be reached, and the client should retry.
fn storage_problem(err: anyhow::Error) -> Problem {
    if let Some(race) = err.downcast_ref::<crate::supervision::refresh::HeadRace>() {
        return Problem::case_busy(race);
    }
    match err.downcast_ref::<tokio_postgres::Error>() {
        // A server shutting down or refusing connections is unavailable, not a bug.
        Some(e) if !crate::api::problem::db_unavailable(e) => Problem::internal(e),
        _ => Problem::unavailable(err),
    }
}

/// Pushing is for departmental systems, on the exchange listener.
pub const POLICY: Policy = Policy {
    exchange: &["system"],
    web: &[],
};

#[derive(Debug, Deserialize)]
pub struct IngestQuery {
    /// Validate and answer exactly as a real push would, then store nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// The ingest route: the batch is handled by [`ingest_batch`]; adapters that speak their own
/// protocol (e.g. tax's SOAP) get the receipt and any refusal in that protocol.
pub async fn ingest(
    State(app): State<Arc<App>>,
    peer: axum::Extension<PeerIdentity>,
    listener: axum::Extension<Listener>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<IngestQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Path(adapter_id) = match path {
        Ok(p) => p,
        Err(e) => return Problem::from(e).into_response(),
    };
    let adapter = app.adapters.iter().find(|a| a.id() == adapter_id).cloned();
    let result = ingest_batch(
        State(app),
        peer,
        listener,
        Path(adapter_id),
        query,
        headers,
        body,
    )
    .await;
    let native = |n: adapters::NativeResponse| {
        let status = StatusCode::from_u16(n.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, [(header::CONTENT_TYPE, n.content_type)], n.body).into_response()
    };
    match (result, adapter) {
        (Ok(Json(receipt)), Some(a)) if a.native_receipts() => {
            let json = serde_json::to_value(&receipt).unwrap_or_default();
            a.native_receipt(&json)
                .map_or_else(|| Json(receipt).into_response(), native)
        }
        (Err(problem), Some(a)) => a
            .native_error(problem.status.as_u16(), problem.code, &problem.detail)
            .map_or_else(|| problem.into_response(), native),
        (result, _) => result.into_response(),
    }
}

pub async fn ingest_batch(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<PeerIdentity>,
    axum::Extension(listener): axum::Extension<Listener>,
    Path(adapter_id): Path<String>,
    query: Result<Query<IngestQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Receipt>, Problem> {
    let started = Instant::now();
    let Query(query) = query.map_err(|e| Problem::new("request.bad_query", e.body_text()))?;
    let adapter = app
        .adapters
        .iter()
        .find(|a| a.id() == adapter_id)
        .cloned()
        .ok_or_else(|| {
            Problem::new(
                "ingest.unknown_adapter",
                format!("no adapter '{adapter_id}'"),
            )
        })?;
    let db = app.pool.get().await?;
    let caller = auth::caller(&app, &db, &peer, &headers, listener).await?;
    POLICY.check(&caller, listener)?;
    if caller.department.as_deref() != Some(adapter.department()) {
        return Err(Problem::new(
            "auth.department",
            format!(
                "principal '{}' belongs to department '{}' and may not push through the '{}' adapter ({})",
                caller.id,
                caller.department.as_deref().unwrap_or("-"),
                adapter.id(),
                adapter.department()
            ),
        ));
    }
    let body = body.map_err(|e| match e.status().as_u16() {
        413 => Problem::new("request.body_too_large", e.body_text()),
        _ => Problem::new("request.body_unreadable", e.body_text()),
    })?;
    let client_batch_id = if query.dry_run {
        None
    } else {
        client_batch_id(&headers)?
    };
    if let Some(id) = &client_batch_id
        && let Some(receipt) = store::stored_receipt(&db, &caller.id, id)
            .await
            .map_err(storage_problem)?
    {
        return Ok(Json(receipt));
    }

    let now = chrono::Utc::now().with_timezone(&adapters::common::beijing());
    let meta = BatchMeta {
        batch_id: Uuid::now_v7(),
        client_batch_id,
        adapter: adapter.id().to_owned(),
        principal_id: caller.id.clone(),
        department: adapter.department().to_owned(),
        received_at: now,
        replay_of: Vec::new(),
        forward: app.config.federation.parent.is_some(),
        // A dry run is rolled back: nothing of it goes up.
        recent: app.recent_bodies().filter(|_| !query.dry_run),
    };
    let pusher = Pusher {
        principal_id: caller.id.clone(),
        department: adapter.department().to_owned(),
        node_region: app.node_region.clone(),
    };
    let (reference, max_records, payload) = (
        app.reference.get(),
        app.config.ingest.max_records_per_batch,
        body.clone(),
    );
    let prepared = crate::parallel::cpu(payload.len(), move || {
        ingest::prepare(
            adapter.as_ref(),
            &payload,
            &pusher,
            &reference,
            now,
            max_records,
        )
    })
    .await
    .map_err(Problem::internal)?;

    let prepared = match prepared {
        Ok(p) => p,
        Err(payload_error) if query.dry_run => {
            return Err(Problem::payload(payload_error.code, payload_error.message));
        }
        Err(payload_error) => {
            // Keep the whole payload for replay, then say why it could not be read.
            let quarantine_id = Uuid::now_v7();
            let row = QuarantineRow {
                id: quarantine_id,
                position: None,
                location: None,
                case_no: None,
                reason: "payload",
                errors: json!([{"path": "", "code": payload_error.code, "message": payload_error.message}]),
                raw: body.to_vec(),
            };
            store::insert_quarantine(&db, &meta, &[row])
                .await
                .map_err(storage_problem)?;
            metrics::counter!("gateway_payloads_rejected_total", "adapter" => meta.adapter.clone(), "code" => payload_error.code)
                .increment(1);
            return Err(Problem::payload(payload_error.code, payload_error.message)
                .with("quarantine_id", quarantine_id));
        }
    };

    authorize_regions(&app, &caller.region_code, &prepared)?;

    let receipt = if !query.dry_run && app.group.takes(prepared.len()) {
        // The connection goes back to the pool: the committer that writes the group uses its own.
        drop(db);
        app.group.commit(meta.clone(), prepared).await
    } else {
        store::commit(&db, &meta, prepared, &app.issuer, query.dry_run).await
    }
    .map_err(storage_problem)?;
    if !receipt.dry_run {
        crate::ops::record_batch(&app, &receipt, &meta.department, started);
    }
    tracing::info!(
        batch_id = %receipt.batch_id, adapter = %receipt.adapter, principal = %receipt.principal,
        dry_run = receipt.dry_run, records = receipt.summary.records, accepted = receipt.summary.accepted,
        duplicate = receipt.summary.duplicate, version_conflict = receipt.summary.version_conflict,
        rejected = receipt.summary.rejected, "batch committed"
    );
    Ok(Json(receipt))
}

/// `GET /v1/batches/{client_batch_id}`: the receipt of one of the caller's earlier pushes.
pub async fn batch(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<PeerIdentity>,
    axum::Extension(listener): axum::Extension<Listener>,
    client_batch_id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Json<Receipt>, Problem> {
    let Path(client_batch_id) = client_batch_id?;
    let db = app.pool.get().await?;
    let caller = auth::caller(&app, &db, &peer, &headers, listener).await?;
    POLICY.check(&caller, listener)?;
    store::stored_receipt(&db, &caller.id, &client_batch_id)
        .await
        .map_err(storage_problem)?
        .map(Json)
        .ok_or_else(|| {
            Problem::new(
                "batch.not_found",
                format!("no batch '{client_batch_id}' pushed by '{}'", caller.id),
            )
        })
}

/// A system may push only records of regions in its own subtree. One record outside refuses the
/// whole batch: a misrouted batch should be fixed at the source, not half stored.
pub(crate) fn authorize_regions(
    app: &App,
    principal_region: &str,
    prepared: &ingest::Prepared,
) -> Result<(), Problem> {
    let Ok(own) = RegionCode::parse(principal_region) else {
        return Err(Problem::internal(format!(
            "principal region {principal_region} is not a region code"
        )));
    };
    let outside: Vec<_> = prepared
        .valid
        .iter()
        .filter(|v| !app.reference.get().regions().is_within(&own, &v.region))
        .map(|v| json!({"position": v.position, "location": v.location, "region_code": v.region.as_str()}))
        .collect();
    if outside.is_empty() {
        return Ok(());
    }
    Err(Problem::new(
        "auth.region",
        format!(
            "{} record(s) are for regions outside {own}; nothing was stored",
            outside.len()
        ),
    )
    .with("records", outside))
}

#[cfg(test)]
mod tests {
    use super::storage_problem;
    use crate::supervision::refresh::HeadRace;

    /// A push that lost its case's head to other pushes on every run is told so, and to retry
    /// soon (`ingest::store::run_again` gives up after its retries); other failures keep their
    /// answers.
    #[test]
    fn a_case_that_kept_moving_is_answered_case_busy() {
        let race = HeadRace {
            source_system: "hr-county-01".into(),
            case_no: "SB-2026-0001".into(),
        };
        let p = storage_problem(anyhow::Error::new(race).context("storing batch"));
        assert_eq!(p.status.as_u16(), 503);
        assert_eq!(p.code, "ingest.case_busy");
        assert_eq!(p.retry_after, Some(1));
        let body = p.to_json();
        assert_eq!(body["case_no"], "SB-2026-0001");
        assert_eq!(body["source_system"], "hr-county-01");
        assert!(p.detail.contains("SB-2026-0001"), "{}", p.detail);

        let other = storage_problem(anyhow::anyhow!("connection closed"));
        assert_eq!(other.code, "service.database_unavailable");
    }
}
