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

/// A stored credential version, read as `coalesce(credential_text, credential::text)`: new
/// versions are kept as text (`credential_text`, the RFC 8785 bytes signed and logged), those
/// written before migration 0033 as jsonb (`credential`).
pub fn stored_credential(text: &str) -> anyhow::Result<serde_json::Value> {
    serde_json::from_str(text).context("a stored credential is not JSON")
}

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
    /// `signing-key.pk8`, and `signing-key.next.pk8` after `gateway keys rotate` (picked up
    /// when it appears: the rotation runs as a separate command).
    candidates: RwLock<Vec<Arc<SigningKey>>>,
    next_path: Option<std::path::PathBuf>,
    /// The key that signs now: the first candidate the bundle in force lists as active for
    /// this node (the next key as soon as the province's new bundle arrives).
    selected: RwLock<Option<Arc<SigningKey>>>,
}

impl Issuer {
    /// Load the signing keys and the trust bundle (refused when not signed by the trust root).
    pub fn load(config: &Config, node_region: &RegionCode) -> anyhow::Result<Issuer> {
        let read = |path: &std::path::Path| -> anyhow::Result<SigningKey> {
            let pk8 = std::fs::read(path)
                .with_context(|| format!("cannot read signing key {}", path.display()))?;
            SigningKey::from_pkcs8(&pk8)
                .with_context(|| format!("{} is not a PKCS#8 Ed25519 key", path.display()))
        };
        let current = read(&config.signing_key())?;
        let trust = load_trust_bundle(config)?;
        let issuer = Issuer {
            node_region: node_region.clone(),
            name: config.node.name.clone(),
            trust,
            candidates: RwLock::new(vec![Arc::new(current)]),
            next_path: Some(config.next_signing_key()),
            selected: RwLock::new(None),
        };
        // The bundle file may be older than the bundle in force (after a rotation): callers
        // select again with that one, then `key()` says whether any key may sign.
        issuer.select(&issuer.trust);
        Ok(issuer)
    }

    /// Choose the signing key `trust` lists as active for this node now; `None` (nothing may
    /// sign) when it lists none. A retired key is never chosen: it no longer signs.
    pub fn select(&self, trust: &TrustBundle) -> Option<Arc<SigningKey>> {
        self.pick_up_next_key();
        let now = chrono::Utc::now();
        let candidates = self.candidates.read().unwrap_or_else(|e| e.into_inner());
        let chosen = candidates
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

    /// Load the key a rotation wrote, once it is there (tried first from then on).
    fn pick_up_next_key(&self) {
        let Some(path) = &self.next_path else { return };
        let mut candidates = self.candidates.write().unwrap_or_else(|e| e.into_inner());
        if candidates.len() > 1 || !path.exists() {
            return;
        }
        match std::fs::read(path).map(|pk8| SigningKey::from_pkcs8(&pk8)) {
            Ok(Ok(next)) => candidates.insert(0, Arc::new(next)),
            _ => tracing::warn!(path = %path.display(), "cannot read the rotated signing key"),
        }
    }

    /// The key that signs now.
    pub fn key(&self) -> anyhow::Result<Arc<SigningKey>> {
        self.selected
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .with_context(|| {
                let candidates = self.candidates.read().unwrap_or_else(|e| e.into_inner());
                let dids: Vec<String> = candidates.iter().map(|k| k.did()).collect();
                format!(
                    "the trust bundle in force lists none of this node's signing keys ({}) as active for node {}",
                    dids.join(", "),
                    self.node_region
                )
            })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyRequest, rotated_bundle};

    fn node(region: &RegionCode, keys: &[&SigningKey]) -> vc::trust::TrustedNode {
        vc::trust::TrustedNode {
            region: region.clone(),
            tier: 4,
            name: "西峰区节点".into(),
            urls: vc::trust::NodeUrls {
                exchange: "https://localhost:1".into(),
                web: None,
            },
            keys: keys
                .iter()
                .map(|k| vc::trust::NodeKey {
                    did: k.did(),
                    verification_method: None,
                    valid_from: chrono::Utc::now() - chrono::Duration::days(1),
                    valid_until: None,
                    status: KeyStatus::Active,
                })
                .collect(),
            log: None,
        }
    }

    #[test]
    fn the_next_key_signs_once_the_bundle_trusts_it_and_a_retired_key_never_signs() {
        let region = RegionCode::parse("621002000000").unwrap();
        let key = |seed: u8| SigningKey::from_seed(&[seed; 32]).unwrap();
        let (current, next) = (key(1), key(2));
        let mut bundle = TrustBundle::new(1, chrono::Utc::now(), "https://localhost:9444");
        bundle.nodes = vec![node(&region, &[&current])];
        let issuer = Issuer {
            node_region: region.clone(),
            name: "西峰区节点".into(),
            trust: bundle.clone(),
            candidates: RwLock::new(vec![Arc::new(key(2)), Arc::new(key(1))]),
            next_path: None,
            selected: RwLock::new(None),
        };
        // Before the province's bundle: the current key signs.
        assert_eq!(issuer.select(&bundle).unwrap().did(), current.did());
        // The request verifies against the bundle in force and makes the next bundle.
        let req = KeyRequest::new(&region, &current, &next);
        let json = serde_json::to_value(&req).unwrap();
        assert_eq!(KeyRequest::verify(&json, &bundle).unwrap(), req);
        let mut forged = json.clone();
        forged["new_key"] = serde_json::json!(SigningKey::generate().unwrap().0.did());
        assert!(KeyRequest::verify(&forged, &bundle).is_err());
        let now = chrono::Utc::now();
        let rotated = rotated_bundle(&bundle, &[req], now, chrono::Duration::hours(24)).unwrap();
        assert_eq!(rotated.version, 2);
        assert_eq!(issuer.select(&rotated).unwrap().did(), next.did());
        // The old key is retired: trusted for what it signed until the overlap ends, but it
        // is never chosen to sign again.
        let (_, old) = rotated.find_key(&current.did()).unwrap();
        assert_eq!(old.status, KeyStatus::Retired);
        assert!(matches!(
            rotated.key_status_at(&current.did(), now - chrono::Duration::hours(1)),
            KeyTrust::Trusted { .. }
        ));
        let only_old = Issuer {
            candidates: RwLock::new(vec![Arc::new(key(1))]),
            selected: RwLock::new(None),
            ..issuer
        };
        assert!(only_old.select(&rotated).is_none());
        assert!(only_old.key().is_err());
        // A second request for a key already trusted is refused.
        let again = KeyRequest::new(&region, &next, &current);
        assert!(KeyRequest::verify(&serde_json::to_value(again).unwrap(), &rotated).is_err());
    }
}
