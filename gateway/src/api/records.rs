//! `GET /v1/records`: case records within a region subtree, answered by the node that covers
//! it (routed up the tree when this node does not). Every query states its purpose and is
//! audited before the answer leaves.

use std::sync::{Arc, LazyLock};

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use chrono::{DateTime, FixedOffset};
use http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::App;
use crate::api::auth::{self, Listener, Policy};
use crate::api::problem::Problem;
use crate::api::sharing;
use crate::audit::{self, Purpose};
use crate::federation::route;
use crate::tls::PeerIdentity;
use axum::response::{IntoResponse, Response};
use domain::codes::region::{Level, RegionCode};

pub const POLICY: Policy = Policy {
    exchange: &["peer"],
    web: &["approver", "supervisor"],
};

/// Most records in one answer.
const MAX_LIMIT: i64 = 500;

/// The filters of a listing, over a record `r` and its case's head `h` when the record is the
/// current version: case number, holder, item, `occurred` from / to (each NULL for any), and
/// whether to include history. The holder's expression is `case_records_holder`'s, character for
/// character (migration 0027).
const FILTERS: &str = "($2::text IS NULL OR r.case_no = $2)
           AND ($3::text IS NULL
                OR COALESCE(r.body->'applicant'->>'id_number', r.archive_holder_id) = $3)
           AND ($4::text IS NULL OR r.item_code = $4)
           AND ($5::timestamptz IS NULL OR r.occurred_at >= $5)
           AND ($6::timestamptz IS NULL OR r.occurred_at < $6)
           AND ($7 OR h.case_no IS NOT NULL)";

/// A record's case head (its supervision state row, migration 0029) when the record is the
/// current version: found by the case's key (a head has one version), no index by record id.
const HEAD: &str = "LEFT JOIN supervision_cases h
           ON h.source_system = r.source_system AND h.case_no = r.case_no AND h.version = r.version";

/// The listing over a wide subtree (a city or province): $1 the subtree's `LIKE` prefix, then the
/// [`FILTERS`], and $8 the limit. Prepared for each request, never cached: planned with its
/// values (a cached statement's generic plan would serve every filter with one access path), the
/// planner picks the one the filters allow: the case number's index; a holder's or an item's
/// newest records off `case_records_holder` or `case_records_item_time`; the subtree's newest
/// off `case_records_occurred`, read backward to the limit. The order is the indexes' (time,
/// then record id, both descending), so no plan sorts a large set.
pub static LISTING: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT r.record_id, r.version, (h.case_no IS NOT NULL) AS current, {BODY}
         FROM case_records r
         {HEAD}
         LEFT JOIN archive_segments s ON s.id = r.archive_segment
         WHERE r.region_code LIKE $1 AND {FILTERS}
         ORDER BY r.occurred_at DESC, r.record_id DESC
         LIMIT $8",
        BODY = crate::archive::BODY_COLUMNS
    )
});

/// The region codes the store holds under the `LIKE` prefix $1, in order: a loose index scan
/// (one descent of `case_records_region_time` per code, however many records each has).
const CODES: &str = "WITH RECURSIVE codes(code) AS (
             (SELECT region_code FROM case_records WHERE region_code LIKE $1
              ORDER BY region_code LIMIT 1)
           UNION ALL
             SELECT (SELECT n.region_code FROM case_records n
                     WHERE n.region_code > codes.code AND n.region_code LIKE $1
                     ORDER BY n.region_code LIMIT 1)
             FROM codes WHERE codes.code IS NOT NULL)";

/// Most region codes a subtree may hold to be listed by code ([`LISTING_BY_CODE`]). Reading a
/// page per code costs ~1 ms a code (2 M records spread evenly over 6,000 village codes: a
/// county of 300 codes took 327 ms by code, 14 ms newest-first over the time index; a township
/// of 10 codes 14 ms by code, 190 ms over the time index).
pub const BY_CODE_MAX: i64 = 32;

/// How many region codes (up to [`BY_CODE_MAX`] + 1) the store holds under the prefix $1.
pub static SUBTREE_CODES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{CODES} SELECT count(*) FROM (SELECT code FROM codes WHERE code IS NOT NULL LIMIT {}) c",
        BY_CODE_MAX + 1
    )
});

/// [`LISTING`] over a subtree of few region codes, by code: each code's newest records off
/// `case_records_region_time` (region code, time, record id), merged. Newest-first over the time
/// index reads every newer record of the rest of the node before a quiet subtree's first one
/// (4.4 s at 12 M records in the growth bench, where one district's records are all older than
/// the rest); this reads at most a page per code.
pub static LISTING_BY_CODE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{CODES},
         picked AS (
             SELECT x.* FROM codes CROSS JOIN LATERAL (
                 SELECT r.record_id, r.occurred_at, (h.case_no IS NOT NULL) AS current
                 FROM case_records r
                 {HEAD}
                 WHERE r.region_code = codes.code AND {FILTERS}
                 ORDER BY r.occurred_at DESC, r.record_id DESC
                 LIMIT $8) x
             ORDER BY x.occurred_at DESC, x.record_id DESC
             LIMIT $8)
         SELECT r.record_id, r.version, p.current, {BODY}
         FROM picked p
         JOIN case_records r ON r.record_id = p.record_id
         LEFT JOIN archive_segments s ON s.id = r.archive_segment
         ORDER BY p.occurred_at DESC, p.record_id DESC",
        BODY = crate::archive::BODY_COLUMNS
    )
});

/// The listing for a subtree whose codes start with `prefix` (a `LIKE` pattern) of
/// `prefix_len` digits; `narrowed`: a case number, holder or item is given (each has an index
/// of its own, which the planner weighs). By code for a county or smaller that holds at most
/// [`BY_CODE_MAX`] codes.
async fn listing_for(
    db: &impl deadpool_postgres::GenericClient,
    prefix: &str,
    prefix_len: usize,
    narrowed: bool,
) -> Result<&'static str, Problem> {
    if prefix_len < Level::County.prefix_len() || narrowed {
        return Ok(LISTING.as_str());
    }
    let codes: i64 = db
        .query_one(SUBTREE_CODES.as_str(), &[&prefix])
        .await?
        .get(0);
    Ok(if codes <= BY_CODE_MAX {
        LISTING_BY_CODE.as_str()
    } else {
        LISTING.as_str()
    })
}

#[derive(Debug, Deserialize)]
pub struct RecordQuery {
    pub case_no: Option<String>,
    /// Applicant's identity number or credit code.
    pub holder: Option<String>,
    /// Catalog basic code.
    pub item: Option<String>,
    /// Region subtree (12 digits); default: the province for approvers, their own region
    /// (also the upper bound) for supervisors.
    pub region: Option<String>,
    /// `occurred` from / to (RFC 3339).
    pub from: Option<DateTime<FixedOffset>>,
    pub to: Option<DateTime<FixedOffset>>,
    /// Include history (lower versions); default: current versions only.
    #[serde(default)]
    pub history: bool,
    pub limit: Option<i64>,
    pub purpose: Option<String>,
    /// Required by purpose codes that ask for a free text.
    pub purpose_text: Option<String>,
}

pub async fn query(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<PeerIdentity>,
    axum::Extension(listener): axum::Extension<Listener>,
    query: Result<Query<RecordQuery>, QueryRejection>,
    uri: http::Uri,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let Query(q) = query.map_err(|e| Problem::new("request.bad_query", e.body_text()))?;
    let db = app.pool.get().await?;
    let caller = auth::caller(&app, &db, &peer, &headers, listener).await?;
    POLICY.check(&caller, listener)?;
    let lookup = route::Lookup::begin(
        &app,
        &caller,
        &headers,
        &Purpose::new(q.purpose.as_deref(), q.purpose_text.as_deref()),
    )?;
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
    // No code or case number has control characters, and PostgreSQL refuses NUL in text.
    if [&q.case_no, &q.holder, &q.item]
        .into_iter()
        .flatten()
        .any(|v| v.chars().any(char::is_control))
    {
        return Err(Problem::new(
            "request.bad_query",
            "case_no, holder and item may not contain control characters",
        ));
    }
    let scope = route::lookup_scope(&app, &lookup.requester, "region", q.region.as_deref())?;
    let holder = q.holder.as_deref().map(adapters::common::clean_code);
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
    let here = app.node_region.as_str();
    let entry = |results: usize| audit::Entry {
        action: "records.query",
        target: target.clone(),
        purpose: &lookup.purpose,
        results,
    };
    if let Some(next) = route::scope_hop(&app, &scope)? {
        // The same query, with the scope made explicit (the next node's default differs).
        let mut params: Vec<(String, String)> =
            serde_urlencoded::from_str(uri.query().unwrap_or_default()).unwrap_or_default();
        params.retain(|(k, _)| k != "region" && k != "purpose");
        params.push(("region".into(), scope.to_string()));
        let query = serde_urlencoded::to_string(&params).map_err(Problem::internal)?;
        let (status, body) = lookup
            .forward(&app, next, &format!("/v1/records?{query}"), &headers)
            .await?;
        if !lookup.is_routed() {
            let found = body["records"].as_array().map_or(0, Vec::len);
            audit::record(&db, &lookup.requester, here, entry(found)).await?;
        }
        return Ok(route::relay(status, &body));
    }
    let level = app
        .reference
        .get()
        .regions()
        .level(&scope)
        .expect("checked");
    // Level-based prefix: the subtree of `scope` is every code starting with its first digits.
    let prefix = format!("{}%", &scope.as_str()[..level.prefix_len()]);
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_LIMIT);
    let narrowed = q.case_no.is_some() || holder.is_some() || q.item.is_some();
    let listing = listing_for(&db, &prefix, level.prefix_len(), narrowed).await?;
    let rows = db
        .query(
            listing,
            &[
                &prefix, &q.case_no, &holder, &q.item, &q.from, &q.to, &q.history, &limit,
            ],
        )
        .await?;
    // The sharing policy, per record: its item's class and the consumer's grants.
    let reference = app.reference.get();
    let catalog = reference.catalog_at(chrono::Utc::now().fixed_offset());
    let mut records: Vec<Value> = Vec::new();
    let mut withheld = 0;
    for r in &rows {
        // An archived record is read back from its segment and checked.
        let record = crate::archive::body(app.config.archive.dir.as_deref(), r, 3)?;
        let item = record["service_item"]["basic_code"]
            .as_str()
            .unwrap_or_default();
        let region = record["region_code"]
            .as_str()
            .and_then(|c| RegionCode::parse(c).ok())
            .unwrap_or_else(|| scope.clone());
        let resource = domain::sharing::ResourceRef::Item(item.to_owned());
        let policy = catalog.item_sharing(item);
        let decided = sharing::check(
            &reference,
            &lookup.requester,
            &lookup.purpose,
            resource,
            &region,
            &policy,
        );
        match decided {
            Ok(fields) => records.push(json!({
                "record_id": r.get::<_, uuid::Uuid>(0), "version": r.get::<_, i64>(1),
                "current": r.get::<_, bool>(2), "record": sharing::project_record(&record, &fields),
            })),
            // Not-shared case data is not even counted.
            Err(domain::sharing::Refusal::NotShared) => {}
            Err(_) => withheld += 1,
        }
    }
    audit::record(&db, &lookup.requester, here, entry(records.len())).await?;
    let answer = json!({
        "scope": scope.as_str(), "served_by": here, "records": records, "withheld": withheld,
    });
    Ok(Json(answer).into_response())
}
