//! Signing-key rotation.
//!
//! 1. `gateway keys rotate` (at any node) makes a new key (`signing-key.next.pk8`) and a
//!    request to trust it, signed by the current key (the node asks) and by the new key (it
//!    holds it). The request goes up the tree (`POST /v1/federation/key-request`, each tier
//!    checking the signatures against the trust bundle in force) to the province.
//! 2. `gateway keys publish --root-key …` at the province adds every pending key to a new trust
//!    bundle, retires the node's previous key (it stays trusted for what it signed until
//!    `valid_until`, the overlap), signs the bundle with the root key and publishes it as
//!    reference data; it flows down the tree like the catalog.
//! 3. Every node selects its signing key from the bundle in force ([`crate::certificates::Issuer::select`]):
//!    once the new bundle arrives, the new key signs and the retired one never signs again.
//!    Certificates signed earlier still verify: a key is checked at the proof's `created` (and
//!    the log's cosignature time).

use std::sync::Arc;

use anyhow::Context;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use chrono::{DateTime, Utc};
use clap::Subcommand;
use domain::codes::region::RegionCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use vc::SigningKey;
use vc::trust::{KeyStatus, KeyTrust, NodeKey, TrustBundle};

use crate::api::App;
use crate::api::problem::Problem;
use crate::config::Config;
use crate::tls::PeerIdentity;

/// A node's request to have `new_key` trusted as its signing key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    #[serde(rename = "type")]
    pub kind: String,
    pub node: String,
    pub new_key: String,
    pub requested_at: DateTime<Utc>,
    /// Signed by the node's current key.
    pub current_key: String,
    /// Hex Ed25519 signatures over the RFC 8785 form without `signatures`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signatures: Option<Signatures>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Signatures {
    pub current: String,
    pub new: String,
}

fn public_key(did: &str) -> Option<[u8; 32]> {
    let fragment = did.trim_start_matches("did:key:");
    vc::did_key::resolve_verification_method(&format!("{did}#{fragment}"))
        .ok()
        .flatten()
}

impl KeyRequest {
    fn signed_bytes(&self) -> Vec<u8> {
        let mut unsigned = self.clone();
        unsigned.signatures = None;
        vc::jcs::canonicalize(&serde_json::to_value(unsigned).expect("serializes"))
            .expect("JCS-safe")
    }

    pub fn new(node: &RegionCode, current: &SigningKey, new: &SigningKey) -> KeyRequest {
        let mut req = KeyRequest {
            kind: "KeyRotationRequest".into(),
            node: node.to_string(),
            new_key: new.did(),
            requested_at: Utc::now(),
            current_key: current.did(),
            signatures: None,
        };
        let bytes = req.signed_bytes();
        req.signatures = Some(Signatures {
            current: hex::encode(current.sign(&bytes)),
            new: hex::encode(new.sign(&bytes)),
        });
        req
    }

    /// Check a request against the bundle in force: the current key is trusted for the node
    /// now, both signatures verify, and the new key is not listed yet.
    pub fn verify(json: &Value, trust: &TrustBundle) -> Result<KeyRequest, String> {
        let req: KeyRequest =
            serde_json::from_value(json.clone()).map_err(|e| format!("not a key request: {e}"))?;
        let node = RegionCode::parse(&req.node).map_err(|e| format!("node: {e}"))?;
        match trust.key_status_at(&req.current_key, Utc::now()) {
            KeyTrust::Trusted { node_region } if node_region == node => {}
            _ => {
                return Err(format!(
                    "{} is not a key the trust bundle trusts for node {node} now",
                    req.current_key
                ));
            }
        }
        if trust.find_key(&req.new_key).is_some() {
            return Err(format!("{} is already in the trust bundle", req.new_key));
        }
        let sigs = req.signatures.as_ref().ok_or("the request is not signed")?;
        let bytes = req.signed_bytes();
        for (did, sig) in [(&req.current_key, &sigs.current), (&req.new_key, &sigs.new)] {
            let key = public_key(did).ok_or_else(|| format!("{did} is not an Ed25519 did:key"))?;
            let sig = hex::decode(sig).map_err(|_| "a signature is not hex".to_owned())?;
            ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, key)
                .verify(&bytes, &sig)
                .map_err(|_| format!("the signature of {did} does not verify"))?;
        }
        Ok(req)
    }
}

async fn store(
    db: &impl deadpool_postgres::GenericClient,
    req: &KeyRequest,
    received_from: Option<&str>,
) -> anyhow::Result<bool> {
    let n = db
        .execute(
            "INSERT INTO key_requests (new_key, node_region, request, received_from)
             VALUES ($1, $2, $3, $4) ON CONFLICT (new_key) DO NOTHING",
            &[
                &req.new_key,
                &req.node,
                &serde_json::to_value(req)?,
                &received_from,
            ],
        )
        .await?;
    Ok(n == 1)
}

/// `POST /v1/federation/key-request`: a child passes up a key request of a node in its subtree.
pub async fn receive(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<PeerIdentity>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Problem> {
    let child = crate::federation::receive::child_of(&app, &peer)?;
    let body = body?;
    let json: Value = serde_json::from_slice(&body)
        .map_err(|e| Problem::new("request.bad_json", format!("not a key request: {e}")))?;
    let reference = app.reference.get();
    let req = KeyRequest::verify(&json, reference.trust())
        .map_err(|why| Problem::new("keys.bad_request", why))?;
    let node = RegionCode::parse(&req.node).map_err(Problem::internal)?;
    if !reference.regions().is_within(&child, &node) {
        return Err(Problem::new(
            "auth.region",
            format!("node {node} is outside node {child}'s subtree"),
        ));
    }
    let db = app.pool.get().await?;
    let stored = store(&db, &req, Some(child.as_str()))
        .await
        .map_err(Problem::internal)?;
    Ok(Json(json!({"new_key": req.new_key, "stored": stored})))
}

/// Pass requests not yet sent on to the parent (called from the reference sync loop).
pub async fn relay(app: &App, client: &crate::client::ExchangeClient) -> anyhow::Result<()> {
    let db = app.pool.get().await?;
    let rows = db
        .query(
            "SELECT new_key, request FROM key_requests WHERE forwarded_at IS NULL ORDER BY received_at",
            &[],
        )
        .await?;
    for r in rows {
        let (new_key, request): (String, Value) = (r.get(0), r.get(1));
        let resp = client
            .post(
                "/v1/federation/key-request",
                "application/json",
                serde_json::to_vec(&request)?,
            )
            .await?;
        anyhow::ensure!(
            resp.status.is_success(),
            "the parent refused key request {new_key}: {}",
            String::from_utf8_lossy(&resp.body)
        );
        db.execute(
            "UPDATE key_requests SET forwarded_at = now() WHERE new_key = $1",
            &[&new_key],
        )
        .await?;
        tracing::info!(new_key, "key request passed to the parent");
    }
    Ok(())
}

/// The trust bundle after adding `requests`: each node's other active keys retire (trusted
/// for what they signed until `now + overlap`), the new keys become active.
pub fn rotated_bundle(
    current: &TrustBundle,
    requests: &[KeyRequest],
    now: DateTime<Utc>,
    overlap: chrono::Duration,
) -> anyhow::Result<TrustBundle> {
    let mut bundle = current.clone();
    bundle.version += 1;
    bundle.issued = now;
    for req in requests {
        let region = RegionCode::parse(&req.node)?;
        let node = bundle
            .nodes
            .iter_mut()
            .find(|n| n.region == region)
            .with_context(|| format!("node {region} is not in the trust bundle"))?;
        for key in node
            .keys
            .iter_mut()
            .filter(|k| k.status == KeyStatus::Active)
        {
            key.status = KeyStatus::Retired;
            let until = now + overlap;
            key.valid_until = Some(key.valid_until.map_or(until, |u| u.min(until)));
        }
        node.keys.push(NodeKey {
            did: req.new_key.clone(),
            verification_method: None,
            valid_from: now - chrono::Duration::minutes(5),
            valid_until: None,
            status: KeyStatus::Active,
        });
    }
    bundle.validate()?;
    Ok(bundle)
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Make a new signing key and ask the province to trust it; this node signs with it once
    /// the province's new trust bundle arrives.
    Rotate,
    /// At the province: the key requests not yet in a trust bundle.
    Pending,
    /// At the province: publish a trust bundle adding every pending key and retiring the
    /// keys they replace.
    Publish {
        /// The trust root's PKCS#8 key (`root-key.pk8` from `gateway pki init`).
        #[arg(long)]
        root_key: std::path::PathBuf,
        /// How long a replaced key stays trusted for what it signed, in hours (nodes switch
        /// keys when the bundle reaches them; signatures after the overlap no longer verify).
        #[arg(long, default_value_t = 24)]
        overlap_hours: i64,
    },
}

pub async fn run(cmd: KeysCommand, config: &Config) -> anyhow::Result<()> {
    let pool = crate::db::connect(config).await?;
    let db = pool.get().await?;
    match cmd {
        KeysCommand::Rotate => {
            let node = RegionCode::parse(&config.node.region)?;
            let next_path = config.next_signing_key();
            let issuer = crate::certificates::Issuer::load(config, &node)?;
            let reference = crate::reference::Reference::load(config, &db).await?;
            issuer.select(reference.trust());
            let current = issuer.key()?;
            if next_path.exists() {
                let next = SigningKey::from_pkcs8(&std::fs::read(&next_path)?)?;
                anyhow::ensure!(
                    next.did() == current.did(),
                    "a rotation is pending: {} waits for the province's trust bundle ({})",
                    next.did(),
                    next_path.display()
                );
                // The previous rotation is done: the next key signs now; make it the current.
                let archive = config.signing_key().with_extension(format!(
                    "{}.pk8",
                    Utc::now().format("retired-%Y%m%dT%H%M%S")
                ));
                std::fs::rename(config.signing_key(), &archive)?;
                std::fs::rename(&next_path, config.signing_key())?;
                eprintln!("previous key archived as {}", archive.display());
            }
            let (new, pk8) = SigningKey::generate()?;
            crate::pki::write_secret_bytes(&next_path, &pk8)?;
            let req = KeyRequest::new(&node, &current, &new);
            store(&db, &req, None).await?;
            println!("{}", new.did());
            eprintln!(
                "new signing key {} written to {}; the request travels to the province{}",
                new.did(),
                next_path.display(),
                if config.federation.parent.is_none() {
                    " (this node): run `gateway keys publish --root-key …`"
                } else {
                    ""
                }
            );
        }
        KeysCommand::Pending => {
            for r in db
                .query(
                    "SELECT node_region, new_key, received_from, received_at FROM key_requests
                     WHERE published_in IS NULL ORDER BY received_at",
                    &[],
                )
                .await?
            {
                let at: DateTime<Utc> = r.get(3);
                println!(
                    "{} {} via {} at {}",
                    r.get::<_, &str>(0),
                    r.get::<_, &str>(1),
                    r.get::<_, Option<&str>>(2).unwrap_or("this node"),
                    at.to_rfc3339()
                );
            }
        }
        KeysCommand::Publish {
            root_key,
            overlap_hours,
        } => {
            let root = crate::reference::cli::load_root_key(&root_key)?;
            let reference = crate::reference::Reference::load(config, &db).await?;
            let rows = db
                .query(
                    "SELECT request FROM key_requests WHERE published_in IS NULL ORDER BY received_at",
                    &[],
                )
                .await?;
            // Requests are checked again against the bundle in force here.
            let requests: Vec<KeyRequest> = rows
                .iter()
                .map(|r| KeyRequest::verify(&r.get(0), reference.trust()))
                .collect::<Result<_, _>>()
                .map_err(|why| anyhow::anyhow!("a pending key request does not verify: {why}"))?;
            anyhow::ensure!(!requests.is_empty(), "no pending key requests");
            let now = Utc::now();
            let bundle = rotated_bundle(
                reference.trust(),
                &requests,
                now,
                chrono::Duration::hours(overlap_hours),
            )?;
            let signed = vc::trust::sign_bundle(&bundle, &root)?;
            let publication = crate::reference::cli::Publication {
                kind: "trust_bundle",
                body: signed,
                version: None,
                effective_from: now.fixed_offset(),
                retroactive: false,
            };
            let env = crate::reference::cli::publish(config, &db, &root, publication).await?;
            let keys: Vec<&str> = requests.iter().map(|r| r.new_key.as_str()).collect();
            db.execute(
                "UPDATE key_requests SET published_in = $1 WHERE new_key = ANY($2)",
                &[&env.version, &keys],
            )
            .await?;
            println!(
                "trust bundle version {} published with {} new key(s)",
                env.version,
                keys.len()
            );
        }
    }
    Ok(())
}
