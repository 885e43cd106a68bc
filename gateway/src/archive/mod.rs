//! Archiving: completed cases older than `archive.after_days` move out of PostgreSQL into
//! append-only segment files under `archive.dir`, each with a signed hash manifest
//! ([`segment`]); [`run`] does one pass, `gateway serve` runs it every `archive.interval_secs`
//! and `gateway archive run|list|verify` ([`cli`]) lets an operator do it and check it.
//!
//! An archived record keeps its row (keys, content hash, status, times), so duplicates are
//! still recognised, certificates and supervision rows stay attached, and lookups still find
//! it: its body is read back from the file by [`body`] and checked against the row's content
//! hash before it is answered.

pub mod cli;
pub mod run;
pub mod segment;

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use crate::api::problem::Problem;

/// The columns a lookup selects to answer with a record that may be archived, in this order
/// (`r` is `case_records`, `s` a `LEFT JOIN archive_segments s ON s.id = r.archive_segment`).
pub const BODY_COLUMNS: &str = "r.body, s.file, r.archive_offset, r.archive_length, r.content_hash";

/// The body of a row selected with [`BODY_COLUMNS`] starting at column `at`: stored, or read
/// back from its segment and checked.
pub fn body(dir: Option<&Path>, row: &tokio_postgres::Row, at: usize) -> Result<Value, Problem> {
    if let Some(body) = row.get::<_, Option<Value>>(at) {
        return Ok(body);
    }
    let file: String = row.get(at + 1);
    let offset: i64 = row.get(at + 2);
    let length: i32 = row.get(at + 3);
    let hash: Vec<u8> = row.get(at + 4);
    let dir = dir.ok_or_else(|| unreadable(&file, "archive.dir is not configured"))?;
    segment::read(dir, &file, offset as u64, length as u32, &hash)
        .map_err(|e| unreadable(&file, &format!("{e:#}")))
}

fn unreadable(file: &str, why: &str) -> Problem {
    tracing::error!(file, why, "an archived record cannot be read");
    Problem::new(
        "archive.unreadable",
        format!("an archived record cannot be read back from {file}; operators have been alerted"),
    )
}

/// Archive on a timer, when `archive.dir` and `archive.interval_secs` are set.
pub async fn background(app: Arc<crate::api::App>) {
    let cfg = &app.config.archive;
    let (Some(dir), true) = (cfg.dir.clone(), cfg.interval_secs > 0) else {
        return;
    };
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(cfg.interval_secs));
    loop {
        tick.tick().await;
        let cutoff = chrono::Utc::now() - chrono::Duration::days(i64::from(cfg.after_days));
        let key = match app.issuer.key() {
            Ok(key) => key,
            Err(e) => {
                tracing::warn!(error = %e, "archiving skipped: no signing key may sign now");
                continue;
            }
        };
        let node = app.node_region.to_string();
        if let Err(e) = run::run(&app.pool, &dir, &node, cutoff, cfg.segment_records, &key).await {
            tracing::warn!(error = %format!("{e:#}"), "archiving pass failed; retried next time");
        }
    }
}
