//! `gateway archive run|list|verify`.

use std::collections::HashSet;

use anyhow::Context;
use clap::Subcommand;
use serde_json::{Value, json};

use super::segment;
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum ArchiveCommand {
    /// Move the records of cases completed, rejected or withdrawn more than `archive.after_days`
    /// days ago (or --older-than-days) into new segment files under `archive.dir`.
    Run {
        #[arg(long)]
        older_than_days: Option<u32>,
        /// Print what was done as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the segments: file, records, size, cutoff.
    List,
    /// Check every segment: the file's SHA-256 and size, the manifest's signature, every
    /// archived row's body against its content hash; report files no row points to. Exit 0
    /// sound, 1 a problem found.
    Verify {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cmd: ArchiveCommand, config: &Config) -> anyhow::Result<()> {
    let pool = crate::db::connect(config).await?;
    let dir = || {
        config
            .archive
            .dir
            .clone()
            .context("archive.dir is not set (GATEWAY_ARCHIVE__DIR): there is no archive")
    };
    match cmd {
        ArchiveCommand::Run {
            older_than_days,
            json,
        } => {
            let dir = dir()?;
            let days = older_than_days.unwrap_or(config.archive.after_days);
            let cutoff = chrono::Utc::now() - chrono::Duration::days(i64::from(days));
            let reference = {
                let db = pool.get().await?;
                crate::reference::Reference::load(config, &db).await?
            };
            let region = domain::codes::region::RegionCode::parse(&config.node.region)?;
            let issuer = crate::certificates::Issuer::load(config, &region)?;
            issuer.select(reference.trust());
            let key = issuer.key()?;
            let pass = super::run::run(
                &pool,
                &dir,
                region.as_str(),
                cutoff,
                config.archive.segment_records,
                &key,
            )
            .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&pass)?);
            } else {
                println!(
                    "archived {} records in {} segments (cases finished before {})",
                    pass.records,
                    pass.segments.len(),
                    cutoff.to_rfc3339()
                );
            }
            Ok(())
        }
        ArchiveCommand::List => {
            let db = pool.get().await?;
            for r in db
                .query(
                    "SELECT file, records, bytes, cutoff, created_at FROM archive_segments ORDER BY id",
                    &[],
                )
                .await?
            {
                let (file, records, bytes): (String, i32, i64) = (r.get(0), r.get(1), r.get(2));
                let cutoff: chrono::DateTime<chrono::Utc> = r.get(3);
                let created: chrono::DateTime<chrono::Utc> = r.get(4);
                println!(
                    "{file}\t{records} records\t{bytes} bytes\tcutoff {}\twritten {}",
                    cutoff.to_rfc3339(),
                    created.to_rfc3339()
                );
            }
            Ok(())
        }
        ArchiveCommand::Verify { json } => {
            let dir = dir()?;
            let db = pool.get().await?;
            let reference = crate::reference::Reference::load(config, &db).await?;
            let (problems, orphans) =
                verify(&db, &dir, &config.node.region, reference.trust()).await?;
            let segments: i64 = db
                .query_one("SELECT count(*) FROM archive_segments", &[])
                .await?
                .get(0);
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &json!({"segments": segments, "sound": problems.is_empty(), "problems": problems, "orphans": orphans})
                    )?
                );
            } else {
                for p in &problems {
                    println!("{}", p["problem"].as_str().unwrap_or_default());
                }
                for o in &orphans {
                    println!(
                        "{o}: no segment of the database names it (an interrupted pass; safe to delete)"
                    );
                }
                if problems.is_empty() {
                    println!("{segments} segments: sound");
                }
            }
            if !problems.is_empty() {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}

/// Every problem found, one JSON object each (`file`, `problem`), and the segment files no
/// committed segment names (a pass that crashed before its commit: harmless).
async fn verify(
    db: &tokio_postgres::Client,
    dir: &std::path::Path,
    node: &str,
    trust: &vc::trust::TrustBundle,
) -> anyhow::Result<(Vec<Value>, Vec<String>)> {
    let mut problems = Vec::new();
    let mut known = HashSet::new();
    let segments = db
        .query(
            "SELECT id, file, sha256, bytes, manifest FROM archive_segments ORDER BY id",
            &[],
        )
        .await?;
    for s in &segments {
        let (id, file): (i64, String) = (s.get(0), s.get(1));
        let (sha, bytes, manifest): (Vec<u8>, i64, Value) = (s.get(2), s.get(3), s.get(4));
        let mut bad = |problem: String| problems.push(json!({"file": file, "problem": problem}));
        known.insert(file.clone());
        let data = match std::fs::read(dir.join(&file)) {
            Ok(data) => data,
            Err(e) => {
                bad(format!("{file}: cannot be read: {e}"));
                continue;
            }
        };
        let digest = ring::digest::digest(&ring::digest::SHA256, &data);
        if digest.as_ref() != sha.as_slice() || data.len() as i64 != bytes {
            bad(format!(
                "{file}: SHA-256 or size differs from the database's record of it"
            ));
        }
        if let Err(e) = segment::check_signature(&manifest, node, trust) {
            bad(format!("{file}: manifest: {e}"));
        }
        match std::fs::read(segment::manifest_path(dir, &file)) {
            Ok(text) if serde_json::from_slice::<Value>(&text).ok().as_ref() == Some(&manifest) => {
            }
            Ok(_) => bad(format!(
                "{file}: the manifest file differs from the database's copy"
            )),
            Err(e) => bad(format!("{file}: manifest file cannot be read: {e}")),
        }
        let rows = db
            .query(
                "SELECT record_id, archive_offset, archive_length, content_hash FROM case_records
                 WHERE archive_segment = $1",
                &[&id],
            )
            .await?;
        if rows.len() != manifest["records"].as_array().map_or(0, Vec::len) {
            bad(format!(
                "{file}: {} rows point to it, the manifest lists {}",
                rows.len(),
                manifest["records"].as_array().map_or(0, Vec::len)
            ));
        }
        for r in &rows {
            let (record, offset, length, hash): (uuid::Uuid, i64, i32, Vec<u8>) =
                (r.get(0), r.get(1), r.get(2), r.get(3));
            if let Err(e) = segment::read(dir, &file, offset as u64, length as u32, &hash) {
                bad(format!("record {record}: {e:#}"));
            }
        }
    }
    let mut orphans = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".jsonl") && !known.contains(&name) {
                orphans.push(name);
            }
        }
    }
    orphans.sort();
    Ok((problems, orphans))
}
