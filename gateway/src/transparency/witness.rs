//! Witnessing: a node's checkpoints are cosigned by its parent (the root's by its children)
//! after the witness checked that the new tree extends the one it cosigned before.
//!
//! The exchange follows C2SP tlog-witness's `add-checkpoint`: the request body is
//! `old <size>\n`, the consistency proof from that size (one base64 hash per line), a blank
//! line, then the checkpoint note; the answer is the witness's cosignature line (C2SP
//! tlog-cosignature). Errors are problem+json: `409 log.witness_conflict` when `old` is not
//! the size the witness holds (its `tree_size` member says which), `422 log.inconsistent` when
//! the proof does not show the new tree extends the old one — a fork, which the witness never
//! cosigns. The node's side feeds the fork guard ([`super::fork`]): a parent holding a larger
//! tree, or refusing this one as inconsistent, holds signing.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use domain::codes::region::RegionCode;
use tlog::{Hash, VerifierKey};

use super::store;
use crate::api::App;
use crate::api::problem::Problem;
use crate::client::ExchangeClient;
use crate::config::PeerNode;
use crate::tls::PeerIdentity;

/// A parsed add-checkpoint request.
pub struct AddCheckpoint {
    pub old: u64,
    pub proof: Vec<Hash>,
    pub note: String,
}

impl AddCheckpoint {
    pub fn to_body(&self) -> String {
        let mut out = format!("old {}\n", self.old);
        for h in &self.proof {
            out.push_str(&STANDARD.encode(h));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.note);
        out
    }

    pub fn parse(body: &str) -> Result<AddCheckpoint, String> {
        let (head, note) = body
            .split_once("\n\n")
            .ok_or("no blank line before the checkpoint")?;
        let mut lines = head.lines();
        let old = lines
            .next()
            .and_then(|l| l.strip_prefix("old "))
            .and_then(|n| n.parse().ok())
            .ok_or("the first line must be 'old <size>'")?;
        let proof = lines
            .map(|l| {
                STANDARD
                    .decode(l)
                    .ok()
                    .and_then(|b| Hash::try_from(b.as_slice()).ok())
                    .ok_or_else(|| format!("'{l}' is not a base64 SHA-256 hash"))
            })
            .collect::<Result<_, _>>()?;
        Ok(AddCheckpoint {
            old,
            proof,
            note: note.to_owned(),
        })
    }
}

fn did_key(did: &str) -> Option<[u8; 32]> {
    let fragment = did.trim_start_matches("did:key:");
    vc::did_key::resolve_verification_method(&format!("{did}#{fragment}"))
        .ok()
        .flatten()
}

/// `POST /v1/log/witness`: cosign a peer node's checkpoint if it is consistent.
pub async fn add_checkpoint(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<PeerIdentity>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let body = body?;
    let federation = &app.config.federation;
    let caller = peer
        .node_region
        .clone()
        .filter(|_| peer.ca_role.as_deref() == Some("peer"))
        .ok_or_else(|| {
            Problem::new(
                "federation.not_a_node",
                "only peer nodes send checkpoints to witness",
            )
        })?;
    let ours = federation.children.iter().any(|c| c.region == caller)
        || federation
            .parent
            .as_ref()
            .is_some_and(|p| p.region == caller);
    if !ours {
        return Err(Problem::new(
            "federation.unknown_node",
            format!("node {caller} is neither the parent nor a child of this node"),
        ));
    }
    let bad = |why: String| Problem::new("log.bad_checkpoint", why);
    let text = std::str::from_utf8(&body).map_err(|_| bad("the body is not UTF-8".into()))?;
    let req = AddCheckpoint::parse(text).map_err(bad)?;
    // The caller's own log, under the key the trust bundle lists for it.
    let reference = app.reference.get();
    let trust = reference.trust();
    let region = RegionCode::parse(&caller).map_err(Problem::internal)?;
    let node_log = trust
        .node(&region)
        .and_then(|n| n.log.clone())
        .ok_or_else(|| bad(format!("the trust bundle lists no log for node {caller}")))?;
    let key = did_key(&node_log.key).ok_or_else(|| bad("the log key is not a did:key".into()))?;
    let verifier = VerifierKey::ed25519(&node_log.origin, &key).map_err(|e| bad(e.to_string()))?;
    let (checkpoint, _) =
        tlog::open_note(&req.note, &[verifier]).map_err(|e| bad(e.to_string()))?;
    if checkpoint.origin != node_log.origin {
        return Err(bad(format!(
            "the checkpoint is of log {}, not node {caller}'s",
            checkpoint.origin
        )));
    }
    let mut db = app.pool.get().await?;
    let tx = db.transaction().await?;
    let held = tx
        .query_opt(
            "SELECT tree_size, root FROM tlog_witnessed WHERE origin = $1 FOR UPDATE",
            &[&checkpoint.origin],
        )
        .await?;
    let (held_size, held_root) = match &held {
        Some(r) => (
            r.get::<_, i64>(0) as u64,
            Hash::try_from(r.get::<_, &[u8]>(1)).map_err(Problem::internal)?,
        ),
        None => (0, tlog::empty_root()),
    };
    if req.old != held_size {
        return Err(Problem::new(
            "log.witness_conflict",
            format!(
                "this witness holds size {held_size} of {}, not {}",
                checkpoint.origin, req.old
            ),
        )
        .with("tree_size", held_size));
    }
    if checkpoint.size < held_size
        || tlog::verify_consistency(
            held_size,
            checkpoint.size,
            &held_root,
            &checkpoint.root,
            &req.proof,
        )
        .is_err()
    {
        metrics::counter!("gateway_tlog_inconsistent_total", "log" => caller.clone()).increment(1);
        tracing::error!(log = %checkpoint.origin, held_size, size = checkpoint.size, "refused an inconsistent checkpoint: the log forked");
        return Err(Problem::new(
            "log.inconsistent",
            format!(
                "size {} of {} does not extend the size {held_size} this witness cosigned",
                checkpoint.size, checkpoint.origin
            ),
        ));
    }
    tx.execute(
        "INSERT INTO tlog_witnessed (origin, tree_size, root, note) VALUES ($1, $2, $3, $4)
         ON CONFLICT (origin) DO UPDATE SET tree_size = $2, root = $3, note = $4, updated_at = now()",
        &[
            &checkpoint.origin,
            &(checkpoint.size as i64),
            &checkpoint.root.as_slice(),
            &req.note,
        ],
    )
    .await?;
    tx.commit().await?;
    let now = Utc::now().timestamp() as u64;
    let line = tlog::cosign(&checkpoint, &app.log.witness_name, &app.log.key, now)
        .map_err(Problem::internal)?
        .line();
    Ok(([(header::CONTENT_TYPE, "text/x.tlog.signature")], line).into_response())
}

/// Start sending this node's checkpoints to its witnesses: the parent, or the children when
/// this node is the root.
pub fn spawn(app: Arc<App>) -> anyhow::Result<()> {
    let federation = &app.config.federation;
    let witnesses: Vec<PeerNode> = match &federation.parent {
        Some(parent) => vec![parent.clone()],
        None => federation.children.clone(),
    };
    let mut clients = Vec::new();
    for w in witnesses {
        let config = &app.config;
        let client = ExchangeClient::new(
            &w.url,
            &config.client_ca(),
            &config.server_cert(),
            &config.server_key(),
        )?
        .expect_node(&w.region);
        clients.push((w, client));
    }
    if clients.is_empty() {
        return Ok(());
    }
    let interval = Duration::from_millis(app.config.transparency.witness_interval_ms.max(10));
    tokio::spawn(async move {
        loop {
            for (witness, client) in &clients {
                if let Err(e) = submit(&app, witness, client).await {
                    tracing::warn!(witness = %witness.region, error = format!("{e:#}"), "witnessing the log's checkpoint failed; will retry");
                }
            }
            tokio::time::sleep(interval).await;
        }
    });
    Ok(())
}

/// Send the latest checkpoint to `witness` if it has not cosigned it yet.
pub async fn submit(app: &App, witness: &PeerNode, client: &ExchangeClient) -> anyhow::Result<()> {
    let db = app.pool.get().await?;
    // While signing is held (a restored node), ask the parent even if it cosigned this
    // checkpoint before: its answer is what clears or confirms the hold.
    let guard = super::fork::latest(&db).await?;
    let on_hold = guard.as_ref().is_some_and(|l| l.state == "hold");
    let (size, note) = match store::checkpoint(&db, None).await? {
        Some(c) => c,
        // Restored to before the first checkpoint: the empty tree, signed but not stored.
        None if on_hold => (
            0,
            super::sequencer::sign_checkpoint(&app.log, 0, &tlog::empty_root())?,
        ),
        None => return Ok(()),
    };
    let old = db
        .query_opt(
            "SELECT tree_size FROM tlog_witness_state WHERE witness = $1",
            &[&witness.region],
        )
        .await?
        .map_or(0, |r| r.get::<_, i64>(0) as u64);
    if !on_hold && old == size && note.contains(&format!("/witness/{} ", witness.region)) {
        return Ok(());
    }
    let proof = if old > 0 && old < size {
        let ids = tlog::nodes_for_consistency(old, size)?;
        tlog::consistency_proof(old, size, &store::nodes(&db, &ids).await?)?
    } else {
        Vec::new()
    };
    let body = AddCheckpoint {
        old,
        proof,
        note: note.clone(),
    }
    .to_body();
    let resp = client
        .post(
            "/v1/log/witness",
            "text/x.tlog.add-checkpoint",
            body.into_bytes(),
        )
        .await?;
    if resp.status.as_u16() == 409 {
        // The witness holds another size (e.g. this node's state was lost): start from it.
        let held = resp.json()?["tree_size"].as_u64().unwrap_or(0);
        let local = store::size(&db).await?;
        if held > local {
            // The parent cosigned a larger tree than this node has (a restore lost leaves):
            // anything signed now would contradict it.
            super::fork::detected(
                &db,
                &witness.region,
                local,
                held,
                "the witness cosigned a larger tree than the local one",
            )
            .await?;
            anyhow::bail!(
                "witness {} cosigned size {held}, the local log has {local} leaves: signing held",
                witness.region
            );
        }
        record_size(&db, &witness.region, held).await?;
        anyhow::bail!(
            "witness {} holds size {held}; retrying from there",
            witness.region
        );
    }
    if resp.status.as_u16() == 422 && resp.json().is_ok_and(|p| p["code"] == "log.inconsistent") {
        let local = store::size(&db).await?;
        super::fork::detected(
            &db,
            &witness.region,
            local,
            old,
            "the witness refused the local tree as inconsistent with what it cosigned",
        )
        .await?;
    }
    anyhow::ensure!(
        resp.status.is_success(),
        "witness {} answered {}: {}",
        witness.region,
        resp.status,
        String::from_utf8_lossy(&resp.body)
    );
    let line = String::from_utf8(resp.body.to_vec())?;
    // Keep the cosignature only if it verifies under the witness's key in the trust bundle.
    let reference = app.reference.get();
    let trust = reference.trust();
    let region = RegionCode::parse(&witness.region)?;
    let key = trust
        .node(&region)
        .and_then(|n| n.log.as_ref())
        .and_then(|l| did_key(&l.key))
        .ok_or_else(|| anyhow::anyhow!("the trust bundle lists no log key for {region}"))?;
    let name = vc::trust::witness_name(&trust.network_base_url, &region);
    let cosigned = format!("{note}{line}");
    let verified = tlog::Note::parse(&cosigned)?.verify(&[VerifierKey::cosigner(&name, &key)?])?;
    anyhow::ensure!(
        verified.iter().any(|s| s.name == name),
        "the witness's answer is not its cosignature"
    );
    db.execute(
        "UPDATE tlog_checkpoints SET note = $2, witnesses = witnesses + 1 WHERE tree_size = $1",
        &[&(size as i64), &cosigned],
    )
    .await?;
    record_size(&db, &witness.region, size).await?;
    if on_hold {
        super::fork::record(
            &db,
            "clear",
            None,
            Some(size),
            Some(size),
            &format!(
                "witness {} cosigned size {size}: the log extends what it held",
                witness.region
            ),
        )
        .await?;
        tracing::info!(witness = %witness.region, size, "the parent confirmed the restored log; signing resumes");
    }
    metrics::counter!("gateway_tlog_cosignatures_total", "witness" => witness.region.clone())
        .increment(1);
    Ok(())
}

async fn record_size(
    db: &deadpool_postgres::Client,
    witness: &str,
    size: u64,
) -> anyhow::Result<()> {
    db.execute(
        "INSERT INTO tlog_witness_state (witness, tree_size) VALUES ($1, $2)
         ON CONFLICT (witness) DO UPDATE SET tree_size = $2",
        &[&witness, &(size as i64)],
    )
    .await?;
    Ok(())
}
