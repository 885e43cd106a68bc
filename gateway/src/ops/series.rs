//! `GET /v1/ops/series?minutes=15`: the node's per-minute totals of the last minutes (all of its
//! processes, from `ops_minutes`), shaped for plotting: one value per minute, oldest first, the
//! last being the current minute. This process's pending counts are flushed first, so what it
//! just committed is in the answer; other processes' counts are at most
//! `ops.flush_interval_ms` late.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use chrono::{TimeZone, Utc};
use http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{POLICY, totals};
use crate::api::App;
use crate::api::auth::{self, Listener};
use crate::api::problem::Problem;
use crate::tls::PeerIdentity;

/// The longest window one answer covers.
pub const MAX_MINUTES: i64 = 180;

/// The record measures of the `adapter` and `tier` kinds, in answer order.
const RECORD_MEASURES: [&str; 5] = [
    "received",
    "accepted",
    "duplicate",
    "version_conflict",
    "rejected",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesQuery {
    /// How many minutes, the current one included (default 15, at most [`MAX_MINUTES`]).
    pub minutes: Option<i64>,
}

/// One stored row: (minute, kind, key, measure) → count, sum, max.
struct Row {
    minute: i64,
    kind: String,
    key: String,
    measure: String,
    cell: totals::Cell,
}

pub async fn series(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<PeerIdentity>,
    axum::Extension(listener): axum::Extension<Listener>,
    query: Result<Query<SeriesQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Json<Value>, Problem> {
    let Query(q) = query.map_err(|e| Problem::new("request.bad_query", e.body_text()))?;
    {
        let db = app.pool.get().await?;
        let caller = auth::caller(&app, &db, &peer, &headers, listener).await?;
        POLICY.check(&caller, listener)?;
    }
    let minutes = q.minutes.unwrap_or(15);
    if !(1..=MAX_MINUTES).contains(&minutes) {
        return Err(Problem::new(
            "request.bad_query",
            format!("minutes must be between 1 and {MAX_MINUTES}"),
        ));
    }
    if let Err(e) = totals::flush(&app).await {
        tracing::debug!(
            error = format!("{e:#}"),
            "flush before reading the totals failed"
        );
    }
    let now = Utc::now();
    let last = totals::minute_of(now);
    let first = last - (minutes - 1) * 60;
    let at = |m: i64| Utc.timestamp_opt(m, 0).single().unwrap_or(now);
    let db = app.pool.get().await?;
    let rows: Vec<Row> = db
        .query(
            "SELECT extract(epoch FROM minute)::int8, kind, key, measure, count, sum, max
             FROM ops_minutes WHERE minute >= $1 AND minute <= $2",
            &[&at(first), &at(last)],
        )
        .await?
        .iter()
        .map(|r| Row {
            minute: r.get(0),
            kind: r.get(1),
            key: r.get(2),
            measure: r.get(3),
            cell: totals::Cell {
                count: r.get(4),
                sum: r.get(5),
                max: r.get(6),
            },
        })
        .collect();
    let outbox_now = match app.config.federation.parent {
        Some(_) => Some(
            super::outbox_now(&app)
                .await
                .map_err(Problem::unavailable)?,
        ),
        None => None,
    };
    Ok(Json(answer(
        &app,
        first,
        minutes as usize,
        &rows,
        outbox_now,
    )))
}

/// The answer from the stored rows of the window starting at `first` (Unix seconds).
fn answer(app: &App, first: i64, n: usize, rows: &[Row], outbox_now: Option<(i64, f64)>) -> Value {
    let cst = domain::calendar::china_standard_time();
    let slot = |m: i64| usize::try_from((m - first) / 60).ok().filter(|i| *i < n);
    // kind → key → measure → cells per minute
    let mut grid: BTreeMap<&str, BTreeMap<&str, BTreeMap<&str, Vec<totals::Cell>>>> =
        BTreeMap::new();
    for r in rows {
        let Some(i) = slot(r.minute) else { continue };
        let cells = grid
            .entry(r.kind.as_str())
            .or_default()
            .entry(r.key.as_str())
            .or_default()
            .entry(r.measure.as_str())
            .or_insert_with(|| vec![totals::Cell::default(); n]);
        cells[i] = r.cell;
    }
    let empty = BTreeMap::new();
    let records = |kind: &str| -> Vec<Value> {
        grid.get(kind)
            .unwrap_or(&empty)
            .iter()
            .map(|(key, measures)| {
                let mut entry = serde_json::Map::new();
                entry.insert("key".into(), json!(key));
                let mut total = serde_json::Map::new();
                for m in RECORD_MEASURES {
                    let counts: Vec<i64> = measures
                        .get(m)
                        .map_or_else(|| vec![0; n], |c| c.iter().map(|c| c.count).collect());
                    total.insert(m.into(), json!(counts.iter().sum::<i64>()));
                    entry.insert(m.into(), json!(counts));
                }
                entry.insert("total".into(), Value::Object(total));
                Value::Object(entry)
            })
            .collect()
    };
    let latency: Vec<Value> = grid
        .get("batch")
        .unwrap_or(&empty)
        .iter()
        .filter_map(|(key, measures)| {
            let cells = measures.get("latency_ms")?;
            let mean = |c: &totals::Cell| (c.count > 0).then(|| round(c.sum / c.count as f64));
            let max = |c: &totals::Cell| (c.count > 0).then(|| round(c.max));
            Some(json!({
                "key": key,
                "batches": cells.iter().map(|c| c.count).collect::<Vec<_>>(),
                "mean_ms": cells.iter().map(mean).collect::<Vec<_>>(),
                "max_ms": cells.iter().map(max).collect::<Vec<_>>(),
            }))
        })
        .collect();
    // Gauges sampled during the minute: their largest value (null: no sample). The reading
    // taken for this answer is a sample of the current minute too.
    let sampled = |measure: &str, now: Option<f64>| -> Vec<Option<f64>> {
        let mut values: Vec<Option<f64>> = grid
            .get("outbox")
            .and_then(|k| k.get(""))
            .and_then(|m| m.get(measure))
            .map_or_else(
                || vec![None; n],
                |c| {
                    c.iter()
                        .map(|c| (c.count > 0).then(|| round(c.max)))
                        .collect()
                },
            );
        if let (Some(now), Some(last)) = (now, values.last_mut()) {
            *last = Some(last.map_or(round(now), |v| v.max(round(now))));
        }
        values
    };
    let ops = &app.config.ops;
    let mut alerts = Vec::new();
    if let Some((depth, lag)) = outbox_now {
        let level = if lag >= ops.lag_alarm_secs as f64 {
            Some("alarm")
        } else if lag >= ops.lag_warning_secs as f64 {
            Some("warning")
        } else {
            None
        };
        if let Some(level) = level {
            alerts.push(json!({
                "source": "forwarding",
                "kind": "outbox_lag",
                "level": level,
                "value": round(lag),
                "message": format!(
                    "{depth} record(s) wait to be forwarded to the parent; the oldest for {} s",
                    lag.round()
                ),
            }));
        }
    }
    let minutes: Vec<_> = (0..n as i64)
        .map(|i| {
            Utc.timestamp_opt(first + i * 60, 0)
                .single()
                .map(|t| t.with_timezone(&cst))
        })
        .collect();
    let tier = super::tier(app, &app.node_region);
    json!({
        "node": {"region": app.node_region.as_str(), "name": app.config.node.name, "tier": tier},
        "as_of": Utc::now().with_timezone(&cst),
        "minutes": minutes,
        "throughput": {"adapter": records("adapter"), "tier": records("tier")},
        "latency": latency,
        "outbox": {
            "forwarding": outbox_now.is_some(),
            "depth": sampled("depth", outbox_now.map(|o| o.0 as f64)),
            "lag_seconds": sampled("lag_seconds", outbox_now.map(|o| o.1)),
            "now": outbox_now.map(|(depth, lag)| json!({"depth": depth, "lag_seconds": round(lag)})),
        },
        "alerts": alerts,
        "flush_interval_ms": ops.flush_interval_ms,
    })
}

/// Three decimals are plenty for a plot.
fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
