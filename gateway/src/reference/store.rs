//! The `reference_versions` table: every version a node holds, as the envelope it arrived in.

use serde_json::Value;

use super::envelope::Envelope;

/// What storing a version did.
#[derive(Debug, PartialEq, Eq)]
pub enum Stored {
    New,
    /// Already held, with the same content.
    Duplicate,
}

/// Same kind and version, other content: never replaces what is held.
#[derive(Debug, thiserror::Error)]
#[error("{kind} version {version} is already held with other content (hash {held})")]
pub struct Conflict {
    pub kind: String,
    pub version: i64,
    pub held: String,
}

pub async fn insert(
    db: &tokio_postgres::Client,
    env: &Envelope,
    received_from: Option<&str>,
) -> anyhow::Result<Result<Stored, Conflict>> {
    let hash = hex::decode(&env.content_hash)?;
    let json = serde_json::to_value(env)?;
    let inserted = db
        .execute(
            "INSERT INTO reference_versions
               (kind, version, effective_from, retroactive, published_at, content_hash, envelope, received_from)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (kind, version) DO NOTHING",
            &[
                &env.kind,
                &env.version,
                &env.effective_from,
                &env.retroactive,
                &env.published_at,
                &hash,
                &json,
                &received_from,
            ],
        )
        .await?;
    if inserted == 1 {
        return Ok(Ok(Stored::New));
    }
    let held: Vec<u8> = db
        .query_one(
            "SELECT content_hash FROM reference_versions WHERE kind = $1 AND version = $2",
            &[&env.kind, &env.version],
        )
        .await?
        .get(0);
    if held == hash {
        Ok(Ok(Stored::Duplicate))
    } else {
        Ok(Err(Conflict {
            kind: env.kind.clone(),
            version: env.version,
            held: hex::encode(held),
        }))
    }
}

/// Every stored envelope, by kind and version.
pub async fn envelopes(db: &tokio_postgres::Client) -> anyhow::Result<Vec<Envelope>> {
    let rows = db
        .query(
            "SELECT envelope FROM reference_versions ORDER BY kind, version",
            &[],
        )
        .await?;
    rows.iter()
        .map(|r| Ok(serde_json::from_value(r.get::<_, Value>(0))?))
        .collect()
}

/// One stored envelope.
pub async fn envelope(
    db: &tokio_postgres::Client,
    kind: &str,
    version: i64,
) -> anyhow::Result<Option<Value>> {
    Ok(db
        .query_opt(
            "SELECT envelope FROM reference_versions WHERE kind = $1 AND version = $2",
            &[&kind, &version],
        )
        .await?
        .map(|r| r.get(0)))
}

/// Changes whenever a version is added (by any process of the node).
pub async fn fingerprint(db: &tokio_postgres::Client) -> anyhow::Result<String> {
    let row = db
        .query_one(
            "SELECT count(*), coalesce(max(received_at)::text, '') FROM reference_versions",
            &[],
        )
        .await?;
    Ok(format!(
        "{}:{}",
        row.get::<_, i64>(0),
        row.get::<_, String>(1)
    ))
}
