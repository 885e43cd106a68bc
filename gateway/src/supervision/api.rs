//! `GET /v1/supervision/alerts` and `GET /v1/supervision/stats` (web listener; supervisors and
//! operators). Both answer from this node's `supervision_cases`, within a region subtree that
//! defaults to, and may not leave, the caller's own region. The answers carry case numbers,
//! items and times, no applicant data, so (like `/metrics`) they state no purpose.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use chrono::{DateTime, FixedOffset, Utc};
use domain::calendar::china_standard_time;
use domain::codes::region::RegionCode;
use http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::App;
use crate::api::auth::{self, Listener, Policy};
use crate::api::problem::Problem;
use crate::federation::route;
use crate::tls::PeerIdentity;

pub const POLICY: Policy = Policy {
    exchange: &[],
    web: &["supervisor", "operator"],
};

/// The kinds of alarm, as the `level` filter and `alarms` name them: the entry alarm, then the
/// processing levels that are alarms.
pub const ALARMS: [&str; 4] = ["late_entry", "warning", "overdue", "error"];

/// Most alerts in one answer.
const MAX_LIMIT: i64 = 1000;

/// The default stats window, before `to`.
const DEFAULT_WINDOW_DAYS: i64 = 30;

#[derive(Debug, Deserialize)]
pub struct AlertQuery {
    /// Region subtree (12 digits); default and upper bound: the caller's region.
    pub region: Option<String>,
    pub department: Option<String>,
    /// One of [`ALARMS`].
    pub level: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct StatsQuery {
    pub region: Option<String>,
    pub department: Option<String>,
    /// Completion window: `from` inclusive, `to` exclusive; default the 30 days before now.
    pub from: Option<DateTime<FixedOffset>>,
    pub to: Option<DateTime<FixedOffset>>,
}

/// The query, a database connection and the region subtree asked for (or the caller's own),
/// once the caller is authenticated and authorized.
async fn begin<Q>(
    app: &App,
    peer: &PeerIdentity,
    headers: &HeaderMap,
    listener: Listener,
    query: Result<Query<Q>, QueryRejection>,
    region: impl Fn(&Q) -> Option<&str>,
) -> Result<(Q, deadpool_postgres::Client, RegionCode), Problem> {
    let Query(q) = query.map_err(|e| Problem::new("request.bad_query", e.body_text()))?;
    let db = app.pool.get().await?;
    let caller = auth::caller(app, &db, peer, headers, listener).await?;
    POLICY.check(&caller, listener)?;
    let own = RegionCode::parse(&caller.region_code).map_err(Problem::internal)?;
    let scope = match region(&q) {
        Some(r) => route::region_param("region", r, app)?,
        None => own.clone(),
    };
    if !app.reference.get().regions().is_within(&own, &scope) {
        return Err(Problem::new(
            "auth.region",
            format!("region {scope} is outside your region {own}"),
        ));
    }
    Ok((q, db, scope))
}

/// `LIKE` pattern of a region's subtree (by its level's prefix, never by trailing zeros).
fn subtree(app: &App, scope: &RegionCode) -> Result<String, Problem> {
    let level = app.reference.get().regions().level(scope).ok_or_else(|| {
        Problem::new(
            "request.bad_query",
            format!("region {scope} is not in the region table"),
        )
    })?;
    Ok(format!("{}%", &scope.as_str()[..level.prefix_len()]))
}

fn cst(t: Option<DateTime<Utc>>) -> Value {
    json!(t.map(|t| t.with_timezone(&china_standard_time())))
}

pub async fn alerts(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<PeerIdentity>,
    axum::Extension(listener): axum::Extension<Listener>,
    query: Result<Query<AlertQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Json<Value>, Problem> {
    let (q, db, scope) = begin(&app, &peer, &headers, listener, query, |q| {
        q.region.as_deref()
    })
    .await?;
    if let Some(level) = q.level.as_deref().filter(|l| !ALARMS.contains(l)) {
        return Err(Problem::new(
            "request.bad_query",
            format!("level {level:?}: expected one of {}", ALARMS.join(", ")),
        ));
    }
    let prefix = subtree(&app, &scope)?;
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_LIMIT);
    let rows = db
        .query(
            "SELECT source_system, case_no, version, record_id, region_code, department, item_code, item_name, status,
                    level, late_entry, occurred_at, entered_at, entry_delay_secs, accepted_at, limit_days, deadline,
                    warning_at, on_hold_since, error, updated_at
             FROM supervision_cases
             WHERE (late_entry OR level IN ('warning', 'overdue', 'error'))
               AND region_code LIKE $1
               AND ($2::text IS NULL OR department = $2)
               AND ($3::text IS NULL OR level = $3 OR ($3 = 'late_entry' AND late_entry))
             ORDER BY CASE level WHEN 'overdue' THEN 0 WHEN 'warning' THEN 1 WHEN 'error' THEN 2 ELSE 3 END,
                      deadline NULLS LAST, entered_at, source_system, case_no
             LIMIT $4",
            &[&prefix, &q.department, &q.level, &(limit + 1)],
        )
        .await?;
    let truncated = rows.len() as i64 > limit;
    let alerts: Vec<Value> = rows
        .iter()
        .take(limit as usize)
        .map(|r| {
            let (level, late): (String, bool) = (r.get(9), r.get(10));
            let alarms: Vec<&str> = ALARMS
                .iter()
                .copied()
                .filter(|a| {
                    if *a == "late_entry" {
                        late
                    } else {
                        *a == level
                    }
                })
                .collect();
            json!({
                "source_system": r.get::<_, String>(0), "case_no": r.get::<_, String>(1),
                "version": r.get::<_, i64>(2), "record_id": r.get::<_, uuid::Uuid>(3),
                "region_code": r.get::<_, String>(4), "department": r.get::<_, String>(5),
                "item": {"basic_code": r.get::<_, String>(6), "name": r.get::<_, String>(7)},
                "status": r.get::<_, String>(8), "level": level, "alarms": alarms,
                "entry": {"occurred_at": cst(r.get(11)), "entered_at": cst(r.get(12)),
                          "delay_seconds": r.get::<_, i64>(13), "late": late},
                "accepted_at": cst(r.get(14)), "limit_days": r.get::<_, i32>(15),
                "deadline": cst(r.get(16)), "warning_at": cst(r.get(17)),
                "on_hold_since": cst(r.get(18)), "error": r.get::<_, Option<String>>(19),
                "updated_at": cst(r.get(20)),
            })
        })
        .collect();
    Ok(Json(json!({
        "scope": scope.as_str(),
        "served_by": app.node_region.as_str(),
        "as_of": Utc::now().with_timezone(&china_standard_time()),
        "alerts": alerts,
        "truncated": truncated,
    })))
}

/// Completions of a group: how many, how many could be measured, on time, early.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    completed: i64,
    assessed: i64,
    on_time: i64,
    early: i64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.completed += other.completed;
        self.assessed += other.assessed;
        self.on_time += other.on_time;
        self.early += other.early;
    }

    fn json(self, mut head: serde_json::Map<String, Value>) -> Value {
        let rate = |n: i64| (self.assessed > 0).then(|| n as f64 / self.assessed as f64);
        let body = json!({
            "completed": self.completed, "assessed": self.assessed, "on_time": self.on_time,
            "late": self.assessed - self.on_time, "early": self.early,
            "on_time_rate": rate(self.on_time), "early_rate": rate(self.early),
        });
        head.extend(body.as_object().cloned().unwrap_or_default());
        Value::Object(head)
    }
}

pub async fn stats(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<PeerIdentity>,
    axum::Extension(listener): axum::Extension<Listener>,
    query: Result<Query<StatsQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Json<Value>, Problem> {
    let (q, db, scope) = begin(&app, &peer, &headers, listener, query, |q| {
        q.region.as_deref()
    })
    .await?;
    let to = q.to.unwrap_or_else(|| Utc::now().fixed_offset());
    let from = q
        .from
        .unwrap_or(to - chrono::Duration::days(DEFAULT_WINDOW_DAYS));
    if from >= to {
        return Err(Problem::new(
            "request.bad_query",
            format!("from ({from}) must be before to ({to})"),
        ));
    }
    let prefix = subtree(&app, &scope)?;
    let rows = db
        .query(
            "SELECT region_code, department, count(*), count(completed_on_time),
                    count(*) FILTER (WHERE completed_on_time), count(*) FILTER (WHERE completed_early)
             FROM supervision_cases
             WHERE completed_at >= $1 AND completed_at < $2 AND region_code LIKE $3
               AND ($4::text IS NULL OR department = $4)
             GROUP BY region_code, department",
            &[&from, &to, &prefix, &q.department],
        )
        .await?;
    // Regions roll up to the scope's direct children (a city's counties); cases registered at
    // the scope itself, or at a code the table does not place, count under the scope.
    let reference = app.reference.get();
    let regions = reference.regions();
    let children = regions.children(&scope);
    let mut total = Tally::default();
    let mut by_department: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_region: BTreeMap<RegionCode, Tally> = BTreeMap::new();
    for r in &rows {
        let tally = Tally {
            completed: r.get(2),
            assessed: r.get(3),
            on_time: r.get(4),
            early: r.get(5),
        };
        let region = RegionCode::parse(r.get::<_, &str>(0)).ok();
        let group = children
            .iter()
            .find(|c| {
                region
                    .as_ref()
                    .is_some_and(|r| regions.is_within(&c.code, r))
            })
            .map_or(scope.clone(), |c| c.code.clone());
        total.add(tally);
        by_department.entry(r.get(1)).or_default().add(tally);
        by_region.entry(group).or_default().add(tally);
    }
    let head = |pairs: Value| pairs.as_object().cloned().unwrap_or_default();
    Ok(Json(json!({
        "scope": scope.as_str(),
        "served_by": app.node_region.as_str(),
        "from": from,
        "to": to,
        "total": total.json(serde_json::Map::new()),
        "by_department": by_department
            .into_iter()
            .map(|(d, t)| t.json(head(json!({"department": d}))))
            .collect::<Vec<_>>(),
        "by_region": by_region
            .into_iter()
            .map(|(code, t)| t.json(head(json!({"region_code": code.as_str(), "name": regions.name(&code)}))))
            .collect::<Vec<_>>(),
    })))
}
