//! Electronic certificates (电子证照): issuing them from accepted case records inside the batch
//! transaction ([`issue`]), and the node's signing identity ([`Issuer`]).
//!
//! A certificate is keyed by (issuing authority, type code, number). Its GB/T 36904 identifier
//! is the source's when the source supplied a valid one for it, otherwise minted by this node
//! (node region + a per-node sequence); either way it is fixed at first issue. A changed
//! certificate is re-signed as a new credential version under the same identifier; unchanged
//! content issues nothing.

pub mod issue;
pub mod status;

use anyhow::Context;
use domain::codes::region::RegionCode;
use std::sync::{Arc, RwLock};
use vc::SigningKey;

use vc::trust::{KeyStatus, KeyTrust, TrustBundle};

use crate::config::Config;

/// This node's signing identity and the network's trust bundle.
pub struct Issuer {
    pub node_region: RegionCode,
    /// `issuer.name` of the credentials this node signs.
    pub name: String,
    /// The bundle read at start-up (verified against the province root); the one in force
    /// later comes with the reference data.
    pub trust: TrustBundle,
    /// `signing-key.pk8`, and `signing-key.next.pk8` after `gateway keys rotate`.
    candidates: Vec<Arc<SigningKey>>,
    /// The key that signs now: the first candidate the bundle in force lists as active for
    /// this node (the next key as soon as the province's new bundle arrives).
    selected: RwLock<Option<Arc<SigningKey>>>,
}

impl Issuer {
    /// Load the signing keys and the trust bundle; refuse to start when the bundle is not signed
    /// by the trust root or lists none of the keys as this node's, active now.
    pub fn load(config: &Config, node_region: &RegionCode) -> anyhow::Result<Issuer> {
        let read = |path: &std::path::Path| -> anyhow::Result<SigningKey> {
            let pk8 = std::fs::read(path)
                .with_context(|| format!("cannot read signing key {}", path.display()))?;
            SigningKey::from_pkcs8(&pk8)
                .with_context(|| format!("{} is not a PKCS#8 Ed25519 key", path.display()))
        };
        let current = read(&config.signing_key())?;
        let mut candidates = Vec::new();
        let next = config.next_signing_key();
        if next.exists() {
            candidates.push(Arc::new(read(&next)?));
        }
        candidates.push(Arc::new(current));
        let trust = load_trust_bundle(config)?;
        let issuer = Issuer {
            node_region: node_region.clone(),
            name: config.node.name.clone(),
            trust,
            candidates,
            selected: RwLock::new(None),
        };
        if issuer.select(&issuer.trust).is_none() {
            let dids: Vec<String> = issuer.candidates.iter().map(|k| k.did()).collect();
            anyhow::bail!(
                "the trust bundle lists none of this node's signing keys ({}) as active for node {node_region}",
                dids.join(", ")
            );
        }
        Ok(issuer)
    }

    /// Choose the signing key `trust` lists as active for this node now; `None` (nothing may
    /// sign) when it lists none. A retired key is never chosen: it no longer signs.
    pub fn select(&self, trust: &TrustBundle) -> Option<Arc<SigningKey>> {
        let now = chrono::Utc::now();
        let chosen = self
            .candidates
            .iter()
            .find(|k| {
                let did = k.did();
                let active = trust
                    .find_key(&did)
                    .is_some_and(|(_, key)| key.status == KeyStatus::Active);
                active
                    && matches!(trust.key_status_at(&did, now),
                        KeyTrust::Trusted { node_region } if node_region == self.node_region)
            })
            .cloned();
        let mut selected = self.selected.write().unwrap_or_else(|e| e.into_inner());
        let before = selected.as_ref().map(|k| k.did());
        let after = chosen.as_ref().map(|k| k.did());
        if before != after {
            tracing::info!(from = ?before, to = ?after, "signing key selected");
        }
        *selected = chosen.clone();
        chosen
    }

    /// The key that signs now.
    pub fn key(&self) -> anyhow::Result<Arc<SigningKey>> {
        self.selected
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .context("no signing key of this node is active in the trust bundle in force (see `gateway keys rotate`)")
    }

    /// Base URL of status lists named in credentials (network-wide, from the bundle).
    pub fn status_base_url(&self) -> &str {
        &self.trust.network_base_url
    }
}

/// Read and verify the trust bundle named by the configuration.
pub fn load_trust_bundle(config: &Config) -> anyhow::Result<TrustBundle> {
    let path = config.trust_bundle();
    let text = std::fs::read(&path)
        .with_context(|| format!("cannot read trust bundle {}", path.display()))?;
    let json: serde_json::Value =
        serde_json::from_slice(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let root = config.trust_root()?;
    vc::trust::verify_bundle(&json, &root)
        .with_context(|| format!("trust bundle {} is not signed by {root}", path.display()))
}
