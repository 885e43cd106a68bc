//! Public disclosure (办件公示): `GET /public/v1/cases?case_no=…` and
//! `GET /public/v1/cases/{record_id}` on the web listener, for anyone. Only cases whose record
//! says `disclosure.public`, masked by the one rule set (`domain::masking::public_view`); a case
//! that is not public answers exactly like one that does not exist.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::App;
use crate::api::problem::Problem;

/// The same answer for "no such case" and "not public".
fn not_found() -> Problem {
    Problem::new("public.not_found", "no public case matches")
}

#[derive(Debug, Deserialize)]
pub struct CaseQuery {
    pub case_no: Option<String>,
}

/// The current version of every public case with this case number (several source systems may
/// use the same number).
pub async fn by_case_no(
    State(app): State<Arc<App>>,
    query: Result<Query<CaseQuery>, QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let Query(q) = query.map_err(|e| Problem::new("request.bad_query", e.body_text()))?;
    let case_no = q
        .case_no
        .map(|c| c.trim().to_owned())
        .filter(|c| (1..=64).contains(&c.chars().count()))
        .ok_or_else(|| {
            Problem::new("request.bad_query", "case_no (1-64 characters) is required")
        })?;
    let db = app.pool.get().await?;
    let rows = db
        .query(
            "SELECT r.record_id, r.body FROM case_heads h
             JOIN case_records r ON r.record_id = h.record_id
             WHERE h.case_no = $1 AND (r.body->'disclosure'->>'public')::boolean
             ORDER BY r.record_id LIMIT 20",
            &[&case_no],
        )
        .await?;
    if rows.is_empty() {
        return Err(not_found());
    }
    metrics::counter!("gateway_public_lookups_total").increment(1);
    let cases: Vec<Value> = rows
        .iter()
        .map(|r| json!({"record_id": r.get::<_, uuid::Uuid>(0), "case": domain::masking::public_view(&r.get(1))}))
        .collect();
    Ok(Json(json!({"cases": cases})))
}

/// One record version, if it is public.
pub async fn by_record_id(
    State(app): State<Arc<App>>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, Problem> {
    let Path(id) = id?;
    let id: uuid::Uuid = id.parse().map_err(|_| not_found())?;
    let db = app.pool.get().await?;
    let row = db
        .query_opt(
            "SELECT body FROM case_records
             WHERE record_id = $1 AND (body->'disclosure'->>'public')::boolean",
            &[&id],
        )
        .await?
        .ok_or_else(not_found)?;
    metrics::counter!("gateway_public_lookups_total").increment(1);
    Ok(Json(
        json!({"record_id": id, "case": domain::masking::public_view(&row.get(0))}),
    ))
}
