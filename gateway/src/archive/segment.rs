//! Segment files: one canonical body per line, written once, never changed, and a manifest
//! beside it (`<file>.manifest.json`) that lists every record's content hash and the file's
//! SHA-256, signed by the node's signing key. The manifest is also kept in the database, so
//! a file can be checked against either.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use uuid::Uuid;
use vc::SigningKey;
use vc::trust::{KeyStatus, TrustBundle};

/// `format` of a manifest.
pub const MANIFEST_FORMAT: &str = "exchange-gateway/archive-segment/v1";

/// One record going into a segment.
pub struct Entry {
    pub record_id: Uuid,
    pub source_system: String,
    pub case_no: String,
    pub version: i64,
    pub content_hash: Vec<u8>,
    pub body: Value,
}

/// Where a record landed in its segment file.
pub struct Placed {
    pub offset: u64,
    pub length: u32,
}

/// A written segment: the file's hash and size, the signed manifest, and each entry's place.
pub struct Written {
    pub sha256: Vec<u8>,
    pub bytes: u64,
    pub manifest: Value,
    pub placed: Vec<Placed>,
}

pub fn file_name(segment: i64) -> String {
    format!("segment-{segment:010}.jsonl")
}

pub fn manifest_path(dir: &Path, file: &str) -> PathBuf {
    dir.join(format!("{file}.manifest.json"))
}

/// Write `entries` to `dir/file` and its manifest, durably (fsync of both files and the
/// folder) before the database is told the bodies may go.
pub fn write(
    dir: &Path,
    file: &str,
    node: &str,
    cutoff: chrono::DateTime<chrono::Utc>,
    entries: &[Entry],
    key: &SigningKey,
) -> anyhow::Result<Written> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create archive folder {}", dir.display()))?;
    let mut data = Vec::new();
    let mut placed = Vec::with_capacity(entries.len());
    let mut listed = Vec::with_capacity(entries.len());
    for e in entries {
        let line = serde_json::to_vec(&e.body)?;
        placed.push(Placed {
            offset: data.len() as u64,
            length: u32::try_from(line.len()).context("a body over 4 GiB")?,
        });
        listed.push(json!({
            "record_id": e.record_id, "source_system": e.source_system, "case_no": e.case_no,
            "version": e.version, "content_hash": hex::encode(&e.content_hash),
        }));
        data.extend_from_slice(&line);
        data.push(b'\n');
    }
    let sha256 = ring::digest::digest(&ring::digest::SHA256, &data)
        .as_ref()
        .to_vec();
    let mut manifest = json!({
        "format": MANIFEST_FORMAT,
        "node": node,
        "file": file,
        "sha256": hex::encode(&sha256),
        "bytes": data.len(),
        "cutoff": cutoff.to_rfc3339(),
        "created_at": chrono::Utc::now().to_rfc3339(),
        "records": listed,
    });
    let signature = key.sign(&vc::jcs::canonicalize(&manifest)?);
    manifest["signature"] = json!({
        "verification_method": key.verification_method(),
        "value": URL_SAFE_NO_PAD.encode(signature),
    });
    write_durably(&dir.join(file), &data)?;
    write_durably(
        &manifest_path(dir, file),
        &serde_json::to_vec_pretty(&manifest)?,
    )?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(Written {
        sha256,
        bytes: data.len() as u64,
        manifest,
        placed,
    })
}

/// Write to a temporary name, fsync, rename: a crash leaves no half file under the real name.
fn write_durably(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Read one archived body and check it against the content hash its row keeps.
pub fn read(
    dir: &Path,
    file: &str,
    offset: u64,
    length: u32,
    content_hash: &[u8],
) -> anyhow::Result<Value> {
    let path = dir.join(file);
    let mut f =
        std::fs::File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
    f.seek(SeekFrom::Start(offset))?;
    let mut line = vec![0; length as usize];
    f.read_exact(&mut line)
        .with_context(|| format!("{} is shorter than its index says", path.display()))?;
    let body: Value = serde_json::from_slice(&line)
        .with_context(|| format!("{} at byte {offset} is not a JSON body", path.display()))?;
    anyhow::ensure!(
        crate::ingest::content_hash(&body) == content_hash,
        "{} at byte {offset}: the body does not match its content hash",
        path.display()
    );
    Ok(body)
}

/// Check a manifest's signature: a key the trust bundle lists for `node`, not revoked.
pub fn check_signature(manifest: &Value, node: &str, trust: &TrustBundle) -> Result<(), String> {
    let mut unsigned = manifest.clone();
    let signature = unsigned
        .as_object_mut()
        .and_then(|m| m.remove("signature"))
        .ok_or("the manifest is not signed")?;
    let vm = signature["verification_method"]
        .as_str()
        .ok_or("the signature names no verification method")?;
    let did = vm.split('#').next().unwrap_or_default();
    let (owner, key) = trust
        .find_key(did)
        .ok_or_else(|| format!("{did} is not in the trust bundle"))?;
    if owner.region.as_str() != node {
        return Err(format!("{did} is not a key of node {node}"));
    }
    if key.status == KeyStatus::Revoked {
        return Err(format!("{did} is revoked"));
    }
    let public = vc::did_key::resolve_verification_method(vm)
        .ok()
        .flatten()
        .ok_or_else(|| format!("{vm} is not an Ed25519 did:key"))?;
    let value = signature["value"]
        .as_str()
        .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
        .ok_or("the signature value is not base64url")?;
    let message = vc::jcs::canonicalize(&unsigned).map_err(|e| e.to_string())?;
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public)
        .verify(&message, &value)
        .map_err(|_| "the manifest signature does not verify".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u8) -> Entry {
        let body = json!({"case_no": format!("C-{n}"), "ingested_at": "2026-01-01T00:00:00Z"});
        Entry {
            record_id: Uuid::now_v7(),
            source_system: "s".into(),
            case_no: format!("C-{n}"),
            version: 1,
            content_hash: crate::ingest::content_hash(&body),
            body,
        }
    }

    #[test]
    fn written_bodies_read_back_and_a_changed_byte_is_caught() {
        let dir = std::env::temp_dir().join(format!("egw-archive-{}", Uuid::now_v7()));
        let (key, _) = SigningKey::generate().unwrap();
        let entries = [entry(1), entry(2)];
        let w = write(
            dir.as_path(),
            "segment-1.jsonl",
            "621000000000",
            chrono::Utc::now(),
            &entries,
            &key,
        )
        .unwrap();
        for (e, p) in entries.iter().zip(&w.placed) {
            let body = read(
                dir.as_path(),
                "segment-1.jsonl",
                p.offset,
                p.length,
                &e.content_hash,
            )
            .unwrap();
            assert_eq!(body, e.body);
        }
        let path = dir.as_path().join("segment-1.jsonl");
        let mut data = std::fs::read(&path).unwrap();
        let at = data.iter().position(|&b| b == b'C').unwrap();
        data[at + 2] = b'9';
        std::fs::write(&path, data).unwrap();
        let p = &w.placed[0];
        let err = read(
            dir.as_path(),
            "segment-1.jsonl",
            p.offset,
            p.length,
            &entries[0].content_hash,
        )
        .unwrap_err();
        assert!(err.to_string().contains("content hash"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
