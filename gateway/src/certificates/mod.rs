//! Electronic certificates (电子证照): issuing them from accepted case records inside the batch
//! transaction ([`issue`]), and the node's signing identity ([`Issuer`]).
//!
//! A certificate is keyed by (issuing authority, type code, number). Its GB/T 36904 identifier
//! is the source's when the source supplied a valid one for it, otherwise minted by this node
//! (node region + a per-node sequence); either way it is fixed at first issue. A changed
//! certificate is re-signed as a new credential version under the same identifier; unchanged
//! content issues nothing.

pub mod issue;

use anyhow::Context;
use domain::codes::region::RegionCode;
use vc::SigningKey;
use vc::trust::{KeyTrust, TrustBundle};

use crate::config::Config;

/// This node's signing identity and the network's trust bundle.
pub struct Issuer {
    pub key: SigningKey,
    pub node_region: RegionCode,
    /// `issuer.name` of the credentials this node signs.
    pub name: String,
    /// Verified against the configured province root at start-up.
    pub trust: TrustBundle,
}

impl Issuer {
    /// Load the signing key and the trust bundle; refuse to start when the bundle is not signed
    /// by the trust root or does not list the key as this node's, valid now.
    pub fn load(config: &Config, node_region: &RegionCode) -> anyhow::Result<Issuer> {
        let key_path = config.signing_key();
        let pk8 = std::fs::read(&key_path)
            .with_context(|| format!("cannot read signing key {}", key_path.display()))?;
        let key = SigningKey::from_pkcs8(&pk8)
            .with_context(|| format!("{} is not a PKCS#8 Ed25519 key", key_path.display()))?;
        let trust = load_trust_bundle(config)?;
        match trust.key_status_at(&key.did(), chrono::Utc::now()) {
            KeyTrust::Trusted { node_region: owner } if &owner == node_region => {}
            KeyTrust::Trusted { node_region: owner } => {
                anyhow::bail!(
                    "the trust bundle lists signing key {} for node {owner}, not {node_region}",
                    key.did()
                )
            }
            other => anyhow::bail!(
                "the trust bundle does not trust signing key {} now ({})",
                key.did(),
                other.code().unwrap_or("unknown")
            ),
        }
        Ok(Issuer {
            key,
            node_region: node_region.clone(),
            name: config.node.name.clone(),
            trust,
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
