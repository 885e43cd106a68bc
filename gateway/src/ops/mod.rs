//! Operations: what a node's operators watch (docs/operations.md).
//!
//! - Prometheus metrics of the ingest paths, with bounded labels: [`record_batch`] (a committed
//!   push, from any listener) and [`record_forwarded`] (records a child forwarded).
//! - [`totals`]: the node's per-minute totals in `ops_minutes`, summed over all its processes;
//!   each process aggregates in memory and flushes every few seconds.
//! - [`spawn`]: the per-process task that flushes the totals, samples the outbox and pool
//!   gauges, and prunes old minutes.
//! - [`series`]: `GET /v1/ops/series`, the totals of the last minutes as plot-ready series,
//!   with forwarding alerts.
//! - [`page`]: `GET /ops`, the operator page (HTML, JS and CSS embedded in the binary).

pub mod expiry;
pub mod page;
pub mod series;
pub mod totals;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use domain::codes::region::RegionCode;
use domain::regions::RegionTable;
use metrics::Label;

use crate::api::App;
use crate::api::auth::Policy;
use crate::ingest::receipt::{CertificateOutcome, Outcome, Receipt, Summary};
use totals::Cell;

/// `/ops` and `/v1/ops/series` are for operators (web listener; certificate or account).
pub const POLICY: Policy = Policy {
    exchange: &[],
    web: &["operator"],
};

/// The `adapter` label (and totals key) of records a child node forwarded.
pub const FORWARDED: &str = "forwarded";

/// The tier (`province` … `village`) of a region in the table in force; `unknown` if absent.
pub fn tier(app: &App, region: &RegionCode) -> &'static str {
    tier_in(app.reference.get().regions(), region)
}

fn tier_in(regions: &RegionTable, region: &RegionCode) -> &'static str {
    regions.level(region).map_or("unknown", |l| l.as_str())
}

/// Distinct `reason` label values one process uses at most; later ones become `other`.
const MAX_REASONS: usize = 200;

/// A rejection code as a label value: well-formed codes (they are the documented codes of
/// docs/errors.md) up to [`MAX_REASONS`] distinct ones per process, else `other`, so a faulty
/// mapping file cannot blow up the label set.
pub fn reason_label(code: &str) -> String {
    static SEEN: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(Default::default);
    let well_formed = (1..=64).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if !well_formed {
        return "other".into();
    }
    let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
    if seen.contains(code) || seen.len() < MAX_REASONS {
        seen.insert(code.to_owned());
        code.to_owned()
    } else {
        "other".into()
    }
}

/// The record outcomes, as `gateway_records_total`'s `outcome` label and the totals' measures.
const OUTCOMES: [&str; 4] = ["accepted", "duplicate", "version_conflict", "rejected"];

fn outcome_counts(s: &Summary) -> [(&'static str, usize); 4] {
    [
        (OUTCOMES[0], s.accepted),
        (OUTCOMES[1], s.duplicate),
        (OUTCOMES[2], s.version_conflict),
        (OUTCOMES[3], s.rejected),
    ]
}

fn with(labels: &[Label], key: &'static str, value: impl Into<String>) -> Vec<Label> {
    let mut l = labels.to_vec();
    l.push(Label::new(key, value.into()));
    l
}

/// Counters for `n` records of one (adapter, department, tier) by outcome.
fn count_records(labels: &[Label], s: &Summary) {
    metrics::counter!("gateway_records_received_total", labels.to_vec())
        .increment(s.records as u64);
    metrics::counter!("gateway_records_accepted_total", labels.to_vec())
        .increment(s.accepted as u64);
    for (outcome, n) in outcome_counts(s) {
        metrics::counter!("gateway_records_total", with(labels, "outcome", outcome))
            .increment(n as u64);
    }
}

/// Totals cells of one summary under `kind`/`key` (zero counts are skipped when added).
fn outcome_cells(
    kind: &'static str,
    key: &str,
    s: &Summary,
) -> impl Iterator<Item = (&'static str, String, &'static str, Cell)> {
    let received = (
        kind,
        key.to_owned(),
        "received",
        Cell::count(s.records as i64),
    );
    let outcomes = outcome_counts(s).map(|(m, n)| (kind, key.to_owned(), m, Cell::count(n as i64)));
    std::iter::once(received).chain(outcomes)
}

/// A committed push (HTTP or MLLP; not a dry run): Prometheus counters and histogram, and
/// this minute's totals. Called once per batch, after COMMIT.
pub fn record_batch(app: &App, receipt: &Receipt, department: &str, started: Instant) {
    let elapsed = started.elapsed();
    let tier = tier(app, &app.node_region);
    let adapter = receipt.adapter.as_str();
    let s = &receipt.summary;
    let labels = [
        Label::new("adapter", adapter.to_owned()),
        Label::new("department", department.to_owned()),
        Label::new("tier", tier),
    ];
    count_records(&labels, s);
    // Rejections by reason: each rejected record once, by its first error's code.
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    let mut issued = 0u64;
    let mut status_changes: BTreeMap<&'static str, u64> = BTreeMap::new();
    for r in &receipt.records {
        match &r.outcome {
            Outcome::Rejected { errors, .. } => {
                let code = errors.first().map_or("unknown", |e| e.code.as_str());
                *reasons.entry(reason_label(code)).or_default() += 1;
            }
            Outcome::Accepted { certificates, .. } => {
                for c in certificates {
                    if c.outcome == CertificateOutcome::Issued {
                        issued += 1;
                    }
                    if let Some(status) = c.status_changed {
                        *status_changes.entry(status).or_default() += 1;
                    }
                }
            }
            _ => {}
        }
    }
    for (reason, n) in reasons {
        metrics::counter!(
            "gateway_records_rejected_total",
            with(&labels, "reason", reason)
        )
        .increment(n);
    }
    metrics::counter!("gateway_certificates_issued_total", labels[1..].to_vec()).increment(issued);
    for (status, n) in status_changes {
        metrics::counter!("gateway_certificates_status_changed_total", "status" => status, "source" => "case_update")
            .increment(n);
    }
    metrics::histogram!("gateway_batch_seconds", "adapter" => adapter.to_owned())
        .record(elapsed.as_secs_f64());
    let latency = (
        "batch",
        adapter.to_owned(),
        "latency_ms",
        Cell::observe(elapsed.as_secs_f64() * 1000.0),
    );
    totals::pending().add(
        outcome_cells("adapter", adapter, s)
            .chain(outcome_cells("tier", tier, s))
            .chain(std::iter::once(latency)),
    );
}

/// Records a child forwarded, after COMMIT: (department, region of the node that first
/// accepted the record, stored now (else a duplicate)) each. Counted under the `forwarded`
/// adapter and the tier of that first node.
pub fn record_forwarded<'a>(
    app: &App,
    records: impl IntoIterator<Item = (&'a str, &'a RegionCode, bool)>,
) {
    let reference = app.reference.get();
    let mut groups: BTreeMap<(&str, &'static str), Summary> = BTreeMap::new();
    for (department, origin, stored) in records {
        let s = groups
            .entry((department, tier_in(reference.regions(), origin)))
            .or_default();
        s.records += 1;
        if stored {
            s.accepted += 1;
        } else {
            s.duplicate += 1;
        }
    }
    let mut cells = Vec::new();
    let mut all = Summary::default();
    for ((department, tier), s) in &groups {
        let labels = [
            Label::new("adapter", FORWARDED),
            Label::new("department", department.to_string()),
            Label::new("tier", *tier),
        ];
        count_records(&labels, s);
        cells.extend(outcome_cells("tier", tier, s));
        all.records += s.records;
        all.accepted += s.accepted;
        all.duplicate += s.duplicate;
    }
    cells.extend(outcome_cells("adapter", FORWARDED, &all));
    totals::pending().add(cells);
}

/// Status changes a child forwarded that changed a certificate's status here, after COMMIT.
pub fn record_forwarded_status(statuses: impl IntoIterator<Item = &'static str>) {
    for status in statuses {
        metrics::counter!("gateway_certificates_status_changed_total", "status" => status, "source" => "forwarded")
            .increment(1);
    }
}

/// The outbox's depth (items still to send) and the age of its oldest unsent row (forwarding
/// lag), in seconds.
pub async fn outbox_now(app: &App) -> anyhow::Result<(i64, f64)> {
    let db = app.pool.get().await?;
    let row = db
        .query_one(
            "SELECT coalesce(sum(cardinality(ref_ids)), 0)::int8,
                    coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
             FROM outbox",
            &[],
        )
        .await?;
    Ok((row.get(0), row.get(1)))
}

/// [`outbox_now`], also set as the gauges `gateway_outbox_depth` and
/// `gateway_forward_lag_seconds` (by the first drainer when idle or failing, at most once a
/// second, and by [`spawn`]'s sampler).
pub async fn report_outbox(app: &App) -> anyhow::Result<(i64, f64)> {
    let (depth, lag) = outbox_now(app).await?;
    metrics::gauge!("gateway_outbox_depth").set(depth as f64);
    metrics::gauge!("gateway_forward_lag_seconds").set(lag);
    Ok((depth, lag))
}

/// Pool gauges now, and (on a node with a parent) the outbox into gauges and totals.
async fn sample(app: &App) {
    let status = app.pool.status();
    metrics::gauge!("gateway_db_pool_connections", "state" => "in_use")
        .set(status.size.saturating_sub(status.available) as f64);
    metrics::gauge!("gateway_db_pool_connections", "state" => "idle").set(status.available as f64);
    metrics::gauge!("gateway_db_pool_max_connections").set(status.max_size as f64);
    metrics::gauge!("gateway_db_pool_waiting").set(status.waiting as f64);
    if app.config.federation.parent.is_none() {
        return;
    }
    match report_outbox(app).await {
        Ok((depth, lag)) => {
            totals::pending().add([
                (
                    "outbox",
                    String::new(),
                    "depth",
                    Cell::observe(depth as f64),
                ),
                ("outbox", String::new(), "lag_seconds", Cell::observe(lag)),
            ]);
        }
        Err(e) => tracing::debug!(error = format!("{e:#}"), "outbox sample failed"),
    }
}

/// The per-process operations task: flush the totals, sample the gauges, prune old minutes.
pub fn spawn(app: Arc<App>) {
    let ops = &app.config.ops;
    let every = |ms: u64| {
        let mut i = tokio::time::interval(Duration::from_millis(ms.max(100)));
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        i
    };
    let (mut flush, mut sampling, mut prune) = (
        every(ops.flush_interval_ms),
        every(ops.sample_interval_ms),
        tokio::time::interval(totals::PRUNE_EVERY),
    );
    tokio::spawn(async move {
        let mut failing = false;
        loop {
            tokio::select! {
                _ = flush.tick() => match totals::flush(&app).await {
                    Ok(_) => failing = false,
                    Err(e) => {
                        if !failing {
                            tracing::warn!(error = format!("{e:#}"), "cannot write the operator totals; keeping them in memory and retrying");
                        }
                        failing = true;
                    }
                },
                _ = sampling.tick() => sample(&app).await,
                _ = prune.tick() => {
                    if let Err(e) = totals::prune(&app).await {
                        tracing::debug!(error = format!("{e:#}"), "pruning the operator totals failed");
                    }
                }
            }
        }
    });
}

/// On shutdown: write what this process still holds.
pub async fn shutdown(app: &App) {
    if let Err(e) = totals::flush(app).await {
        tracing::warn!(
            error = format!("{e:#}"),
            "operator totals of the last seconds were not written"
        );
    }
}
