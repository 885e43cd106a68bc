//! `GET /v1/audit`: supervisors search the audit trail (who looked at this holder, what did
//! this approver look at). Searching it is itself audited.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use chrono::{DateTime, FixedOffset, Utc};
use http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::App;
use crate::api::auth::{self, Listener, Policy};
use crate::api::problem::Problem;
use crate::audit::{self, Purpose};
use crate::tls::PeerIdentity;

pub const POLICY: Policy = Policy {
    exchange: &[],
    web: &["supervisor"],
};

#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    /// Who looked (principal id or username).
    pub principal: Option<String>,
    /// What was looked at: a substring of the target (identifier, holder code, case number).
    pub target: Option<String>,
    pub from: Option<DateTime<FixedOffset>>,
    pub to: Option<DateTime<FixedOffset>>,
    pub limit: Option<i64>,
    pub purpose: Option<String>,
    pub purpose_text: Option<String>,
}

pub async fn search(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<PeerIdentity>,
    axum::Extension(listener): axum::Extension<Listener>,
    query: Result<Query<AuditQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Json<Value>, Problem> {
    let Query(q) = query.map_err(|e| Problem::new("request.bad_query", e.body_text()))?;
    let db = app.pool.get().await?;
    let caller = auth::caller(&app, &db, &peer, &headers, listener).await?;
    POLICY.check(&caller, listener)?;
    let purpose = Purpose::new(q.purpose.as_deref(), q.purpose_text.as_deref())
        .check(app.reference.get().purposes())?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let target = q.target.as_ref().map(|t| {
        // LIKE metacharacters in the search text match literally.
        let escaped = t
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{escaped}%")
    });
    let rows = db
        .query(
            "SELECT id, at, principal_id, principal_kind, role, node_region, action, target, purpose, results
             FROM audit_log
             WHERE ($1::text IS NULL OR principal_id = $1)
               AND ($2::text IS NULL OR target LIKE $2)
               AND ($3::timestamptz IS NULL OR at >= $3)
               AND ($4::timestamptz IS NULL OR at < $4)
             ORDER BY id DESC LIMIT $5",
            &[&q.principal, &target, &q.from, &q.to, &limit],
        )
        .await
        ?;
    let entries: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.get::<_, i64>(0), "at": r.get::<_, DateTime<Utc>>(1), "principal": r.get::<_, String>(2),
                "principal_kind": r.get::<_, String>(3), "role": r.get::<_, String>(4), "node_region": r.get::<_, String>(5),
                "action": r.get::<_, String>(6), "target": r.get::<_, String>(7), "purpose": r.get::<_, String>(8),
                "results": r.get::<_, i32>(9),
            })
        })
        .collect();
    let what = [
        ("principal", q.principal.as_deref()),
        ("target", q.target.as_deref()),
    ]
    .iter()
    .filter_map(|(k, v)| v.map(|v| format!("{k}={v}")))
    .collect::<Vec<_>>()
    .join("&");
    audit::record(
        &db,
        &caller,
        app.node_region.as_str(),
        audit::Entry {
            action: "audit.search",
            target: what,
            purpose: &purpose,
            results: entries.len(),
        },
    )
    .await?;
    Ok(Json(json!({"entries": entries})))
}

#[derive(Debug, Deserialize)]
pub struct UnusualQuery {
    /// The window (RFC 3339); default the last 7 days.
    pub from: Option<DateTime<FixedOffset>>,
    pub to: Option<DateTime<FixedOffset>>,
    pub purpose: Option<String>,
    pub purpose_text: Option<String>,
}

/// `GET /v1/audit/unusual`: the unusual-access report (`crate::audit::unusual`). Audited.
pub async fn unusual(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<PeerIdentity>,
    axum::Extension(listener): axum::Extension<Listener>,
    query: Result<Query<UnusualQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Json<Value>, Problem> {
    let Query(q) = query.map_err(|e| Problem::new("request.bad_query", e.body_text()))?;
    let db = app.pool.get().await?;
    let caller = auth::caller(&app, &db, &peer, &headers, listener).await?;
    POLICY.check(&caller, listener)?;
    let reference = app.reference.get();
    let purpose = Purpose::new(q.purpose.as_deref(), q.purpose_text.as_deref())
        .check(reference.purposes())?;
    let to = q.to.map_or_else(Utc::now, |t| t.with_timezone(&Utc));
    let from = q
        .from
        .map_or(to - chrono::Duration::days(7), |t| t.with_timezone(&Utc));
    if from >= to {
        return Err(Problem::new("request.bad_query", "from must be before to"));
    }
    let calendar = domain::calendar::Calendar::bundled().map_err(Problem::internal)?;
    let report = audit::unusual::report(&db, reference.purposes(), &calendar, from, to)
        .await
        .map_err(Problem::internal)?;
    let found =
        report.over_readers.len() + report.out_of_hours.len() + report.purpose_mismatches.len();
    let entry = audit::Entry {
        action: "audit.unusual_report",
        target: format!("{}..{}", from.to_rfc3339(), to.to_rfc3339()),
        purpose: &purpose,
        results: found,
    };
    audit::record(&db, &caller, app.node_region.as_str(), entry).await?;
    Ok(Json(
        serde_json::to_value(report).map_err(Problem::internal)?,
    ))
}
