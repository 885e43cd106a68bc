//! One archiving pass: pick the records of finished cases older than the cutoff, write them to
//! a new segment file, then — in the same transaction that locked them — replace their bodies
//! by their place in the file. The file is durable before the transaction commits, so a crash
//! at any point leaves every body in the database or in a committed segment (at worst an
//! orphan file that no row points to, which `gateway archive verify` reports).

use std::path::Path;

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use uuid::Uuid;
use vc::SigningKey;

use super::segment::{self, Entry};

/// What a pass did.
#[derive(Debug, Default, serde::Serialize)]
pub struct Pass {
    pub segments: Vec<String>,
    pub records: usize,
}

/// Archive every eligible record (in segments of at most `per_segment` records).
pub async fn run(
    pool: &Pool,
    dir: &Path,
    node: &str,
    cutoff: DateTime<Utc>,
    per_segment: u32,
    key: &SigningKey,
) -> anyhow::Result<Pass> {
    let mut pass = Pass::default();
    loop {
        let (file, moved) = one_segment(pool, dir, node, cutoff, per_segment, key).await?;
        if moved == 0 {
            return Ok(pass);
        }
        metrics::counter!("gateway_archived_records_total").increment(moved as u64);
        tracing::info!(file, records = moved, "archived a segment");
        pass.segments.push(file);
        pass.records += moved;
    }
}

async fn one_segment(
    pool: &Pool,
    dir: &Path,
    node: &str,
    cutoff: DateTime<Utc>,
    per_segment: u32,
    key: &SigningKey,
) -> anyhow::Result<(String, usize)> {
    let mut db = pool.get().await?;
    let tx = db.transaction().await?;
    // Every stored version of a case whose current version finished before the cutoff, unless
    // something still has to be forwarded (the outbox reads bodies). Locked, and skipped when
    // another process holds them: two archivers never write the same record twice.
    let rows = tx
        .query(
            "WITH done AS (
                 SELECT h.source_system, h.case_no FROM supervision_cases h
                 JOIN case_records hr ON hr.record_id = h.record_id
                 WHERE hr.status IN ('completed', 'rejected', 'withdrawn')
                   AND hr.occurred_at < $1 AND hr.body IS NOT NULL),
             queued AS (SELECT unnest(ref_ids) AS record_id FROM outbox WHERE kind = 'record')
             SELECT r.record_id, r.source_system, r.case_no, r.version, r.content_hash, r.body
             FROM case_records r JOIN done USING (source_system, case_no)
             WHERE r.body IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM queued q WHERE q.record_id = r.record_id)
             ORDER BY r.source_system, r.case_no, r.version
             LIMIT $2
             FOR UPDATE OF r SKIP LOCKED",
            &[&cutoff, &i64::from(per_segment)],
        )
        .await?;
    if rows.is_empty() {
        return Ok((String::new(), 0));
    }
    let entries: Vec<Entry> = rows
        .iter()
        .map(|r| Entry {
            record_id: r.get(0),
            source_system: r.get(1),
            case_no: r.get(2),
            version: r.get(3),
            content_hash: r.get(4),
            body: r.get(5),
        })
        .collect();
    let id: i64 = tx
        .query_one("SELECT nextval('archive_segments_id_seq')", &[])
        .await?
        .get(0);
    let file = segment::file_name(id);
    // File writes and fsyncs block: tell the runtime, so other tasks move to other workers.
    let written =
        tokio::task::block_in_place(|| segment::write(dir, &file, node, cutoff, &entries, key))?;
    tx.execute(
        "INSERT INTO archive_segments (id, file, sha256, bytes, records, cutoff, manifest)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &id,
            &file,
            &written.sha256,
            &(written.bytes as i64),
            &(entries.len() as i32),
            &cutoff,
            &written.manifest,
        ],
    )
    .await?;
    let ids: Vec<Uuid> = entries.iter().map(|e| e.record_id).collect();
    let offsets: Vec<i64> = written.placed.iter().map(|p| p.offset as i64).collect();
    let lengths: Vec<i32> = written.placed.iter().map(|p| p.length as i32).collect();
    tx.execute(
        "UPDATE case_records r SET
             archive_segment = $1, archive_offset = u.off, archive_length = u.len,
             archive_holder_id = r.body->'applicant'->>'id_number',
             archive_public = COALESCE((r.body->'disclosure'->>'public')::boolean, false),
             body = NULL
         FROM unnest($2::uuid[], $3::bigint[], $4::int[]) AS u(id, off, len)
         WHERE r.record_id = u.id",
        &[&id, &ids, &offsets, &lengths],
    )
    .await?;
    tx.commit().await?;
    Ok((file, entries.len()))
}
