//! `GET /v1/records`: case records held by this node, within the caller's region subtree.
//! Every query states its purpose and is audited before the answer leaves.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use chrono::{DateTime, FixedOffset};
use domain::codes::region::RegionCode;
use http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::App;
use crate::api::auth::{self, Listener, Policy};
use crate::api::problem::Problem;
use crate::audit::{self, Purpose};
use crate::tls::PeerIdentity;

pub const POLICY: Policy = Policy {
    exchange: &["peer"],
    web: &["approver", "supervisor"],
};

/// Most records in one answer.
const MAX_LIMIT: i64 = 500;

#[derive(Debug, Deserialize)]
pub struct RecordQuery {
    pub case_no: Option<String>,
    /// Applicant's identity number or credit code.
    pub holder: Option<String>,
    /// Catalog basic code.
    pub item: Option<String>,
    /// Region subtree (12 digits); default and upper bound: the caller's region.
    pub region: Option<String>,
    /// `occurred` from / to (RFC 3339).
    pub from: Option<DateTime<FixedOffset>>,
    pub to: Option<DateTime<FixedOffset>>,
    /// Include history (lower versions); default: current versions only.
    #[serde(default)]
    pub history: bool,
    pub limit: Option<i64>,
    pub purpose: Option<String>,
}

pub async fn query(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<PeerIdentity>,
    axum::Extension(listener): axum::Extension<Listener>,
    query: Result<Query<RecordQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Json<Value>, Problem> {
    let Query(q) = query.map_err(|e| Problem::new("request.bad_query", e.body_text()))?;
    let db = app.pool.get().await?;
    let caller = auth::caller(&db, &peer, &headers, listener).await?;
    POLICY.check(&caller, listener)?;
    let purpose = Purpose {
        purpose: q.purpose.clone(),
    }
    .required()?;
    if q.case_no.is_none()
        && q.holder.is_none()
        && q.item.is_none()
        && q.region.is_none()
        && q.from.is_none()
    {
        return Err(Problem::new(
            "request.bad_query",
            "give at least one of case_no, holder, item, region, from",
        ));
    }
    let own = RegionCode::parse(&caller.region_code).map_err(Problem::internal)?;
    let scope = match &q.region {
        Some(r) => {
            let r = RegionCode::parse(r)
                .map_err(|e| Problem::new("request.bad_query", format!("region: {e}")))?;
            if !app.reference.regions.is_within(&own, &r) {
                return Err(Problem::new(
                    "auth.region",
                    format!("region {r} is outside your region {own}"),
                ));
            }
            r
        }
        None => own,
    };
    let level = app.reference.regions.level(&scope).ok_or_else(|| {
        Problem::new(
            "request.bad_query",
            format!("region {scope} is not in the region table"),
        )
    })?;
    // Level-based prefix: the subtree of `scope` is every code starting with its first digits.
    let prefix = format!("{}%", &scope.as_str()[..level.prefix_len()]);
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_LIMIT);
    let holder = q.holder.as_deref().map(adapters::common::clean_code);
    let rows = db
        .query(
            "SELECT r.record_id, r.version, r.body, (h.record_id IS NOT NULL) AS current
             FROM case_records r
             LEFT JOIN case_heads h ON h.record_id = r.record_id
             WHERE r.region_code LIKE $1
               AND ($2::text IS NULL OR r.case_no = $2)
               AND ($3::text IS NULL OR r.body->'applicant'->>'id_number' = $3)
               AND ($4::text IS NULL OR r.item_code = $4)
               AND ($5::timestamptz IS NULL OR r.occurred_at >= $5)
               AND ($6::timestamptz IS NULL OR r.occurred_at < $6)
               AND ($7 OR h.record_id IS NOT NULL)
             ORDER BY r.occurred_at DESC, r.record_id
             LIMIT $8",
            &[
                &prefix, &q.case_no, &holder, &q.item, &q.from, &q.to, &q.history, &limit,
            ],
        )
        .await?;
    let records: Vec<Value> = rows
        .iter()
        .map(|r| json!({"record_id": r.get::<_, uuid::Uuid>(0), "version": r.get::<_, i64>(1), "current": r.get::<_, bool>(3), "record": r.get::<_, Value>(2)}))
        .collect();
    let target = [
        ("case_no", q.case_no.as_deref()),
        ("holder", holder.as_deref()),
        ("item", q.item.as_deref()),
        ("region", Some(scope.as_str())),
    ]
    .iter()
    .filter_map(|(k, v)| v.map(|v| format!("{k}={v}")))
    .collect::<Vec<_>>()
    .join("&");
    let entry = audit::Entry {
        action: "records.query",
        target,
        purpose: &purpose,
        results: records.len(),
    };
    audit::record(&db, &caller, app.node_region.as_str(), entry).await?;
    Ok(Json(json!({"scope": scope.as_str(), "records": records})))
}
