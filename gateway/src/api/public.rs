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
        // No control characters: PostgreSQL refuses NUL in text, and no case number has any.
        .filter(|c| (1..=64).contains(&c.chars().count()) && !c.chars().any(char::is_control))
        .ok_or_else(|| {
            Problem::new(
                "request.bad_query",
                "case_no (1-64 characters, no control characters) is required",
            )
        })?;
    let db = app.pool.get().await?;
    // From the records by case number (an index) to each one's head by its key: heads have no
    // case-number index, and a lookup starting from them read every head.
    let rows = db
        .query(
            &format!(
                "SELECT r.record_id, {} FROM case_records r
             JOIN supervision_cases h ON h.source_system = r.source_system AND h.case_no = r.case_no
                              AND h.record_id = r.record_id
             LEFT JOIN archive_segments s ON s.id = r.archive_segment
             WHERE r.case_no = $1
               AND COALESCE((r.body->'disclosure'->>'public')::boolean, r.archive_public)
             ORDER BY r.record_id LIMIT 20",
                crate::archive::BODY_COLUMNS
            ),
            &[&case_no],
        )
        .await?;
    if rows.is_empty() {
        return Err(not_found());
    }
    metrics::counter!("gateway_public_lookups_total").increment(1);
    let dir = app.config.archive.dir.as_deref();
    let cases = rows
        .iter()
        .map(|r| {
            let body = crate::archive::body(dir, r, 1)?;
            Ok(json!({"record_id": r.get::<_, uuid::Uuid>(0), "case": domain::masking::public_view(&body)}))
        })
        .collect::<Result<Vec<Value>, Problem>>()?;
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
            &format!(
                "SELECT {} FROM case_records r
             LEFT JOIN archive_segments s ON s.id = r.archive_segment
             WHERE r.record_id = $1
               AND COALESCE((r.body->'disclosure'->>'public')::boolean, r.archive_public)",
                crate::archive::BODY_COLUMNS
            ),
            &[&id],
        )
        .await?
        .ok_or_else(not_found)?;
    metrics::counter!("gateway_public_lookups_total").increment(1);
    let body = crate::archive::body(app.config.archive.dir.as_deref(), &row, 0)?;
    Ok(Json(
        json!({"record_id": id, "case": domain::masking::public_view(&body)}),
    ))
}
