//! The trust bundle: which gateway nodes exist and which keys sign for them.
//!
//! One JSON format (`schemas/trust-bundle.v1.schema.json`) serves every node and the offline
//! verifier. It lists the network's nodes (12-digit region, tier, name, URLs) and their
//! signing keys (`did:key`, validity, status), names the network-wide base URL of status
//! lists, and is secured by the province root key with the same Data Integrity cryptosuite
//! as the credentials (`eddsa-jcs-2022`, an `assertionMethod` proof created at `issued`).
//! A verifier is configured with the root key only and learns everything else from here.
//!
//! A key is trusted at time *t* ([`TrustBundle::key_status_at`]) when it is listed for a
//! node, its status is `active` or `retired`, and `valid_from <= t <= valid_until` (when
//! set). Retiring a key stops it signing but keeps its past signatures valid; revoking it
//! (compromise) invalidates everything it ever signed. Credentials are judged at their
//! `proof.created`, so a certificate outlives the key rotation that follows it.
//!
//! Unknown fields are refused, not ignored: a field a verifier does not understand might
//! restrict a key, and ignoring a restriction would trust too much.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use domain::codes::RegionCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::did_key::{did_from_ed25519, resolve_verification_method};
use crate::multibase::multibase_to_ed25519;
use crate::{ProofOptions, SigningKey, VcError, add_proof, verify_proof};

/// The bundle's `type`.
pub const BUNDLE_TYPE: &str = "TrustBundle";

/// The trust bundle, without its proof.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustBundle {
    /// Always [`BUNDLE_TYPE`].
    #[serde(rename = "type")]
    pub kind: String,
    /// Increases with every bundle the root signs; a node never replaces a bundle with a
    /// lower version.
    pub version: u64,
    /// When the root signed it (also the proof's `created`).
    pub issued: DateTime<Utc>,
    /// Base URL under which every node's status lists are served.
    pub network_base_url: String,
    pub nodes: Vec<TrustedNode>,
    #[serde(skip)]
    index: Index,
}

/// Where each region and key sits in [`TrustBundle::nodes`], built at the first lookup: every
/// verification looks up its signing key and its issuer's node, and a bundle can list
/// thousands of nodes. The bundle's fields stay public, so a hit is checked against `nodes`
/// (a bundle changed after its first lookup falls back to searching them) and a miss is
/// searched for. Not part of the bundle: a clone starts without one, and equality ignores it.
#[derive(Default)]
struct Index(OnceLock<Positions>);

struct Positions {
    regions: HashMap<String, usize>,
    dids: HashMap<String, (usize, usize)>,
}

impl Clone for Index {
    fn clone(&self) -> Index {
        Index::default()
    }
}

impl PartialEq for Index {
    fn eq(&self, _: &Index) -> bool {
        true
    }
}

impl fmt::Debug for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Index")
    }
}

/// A gateway node of the network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedNode {
    pub region: RegionCode,
    /// GB/T 39046 exercise level: 1 national … 7 graded.
    pub tier: u8,
    pub name: String,
    pub urls: NodeUrls,
    pub keys: Vec<NodeKey>,
    /// The node's transparency log, if it keeps one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<NodeLog>,
}

/// A node's transparency log: checkpoints named `origin`, signed by `key` (a did:key separate
/// from the signing keys); the same key cosigns, as a witness, under [`witness_name`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeLog {
    pub origin: String,
    pub key: String,
}

/// The host part of the network's base URL: the prefix of log origins and witness names.
pub fn log_host(network_base_url: &str) -> &str {
    let rest = network_base_url
        .split_once("://")
        .map_or(network_base_url, |(_, r)| r);
    rest.trim_end_matches('/')
}

/// The origin of a node's log: `{host}/log/{region}`.
pub fn log_origin(network_base_url: &str, region: &RegionCode) -> String {
    format!("{}/log/{region}", log_host(network_base_url))
}

/// The name under which a node cosigns other logs' checkpoints: `{host}/witness/{region}`.
pub fn witness_name(network_base_url: &str, region: &RegionCode) -> String {
    format!("{}/witness/{region}", log_host(network_base_url))
}

/// Where a node answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeUrls {
    /// The exchange listener (mTLS).
    pub exchange: String,
    /// The public web front (verify pages), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web: Option<String>,
}

/// A signing key of a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeKey {
    /// `did:key:z6Mk…` (Ed25519).
    pub did: String,
    /// A verification method id other than the did:key one (`did:key:…#…`) under which this
    /// key signs, e.g. `https://node.example/keys#key-1`. Verifiers find the key by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_method: Option<String>,
    pub valid_from: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<DateTime<Utc>>,
    pub status: KeyStatus,
}

/// A key's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// Signs now.
    Active,
    /// Signs no more; what it signed in its validity stays valid.
    Retired,
    /// Compromised or withdrawn: nothing it signed is trusted.
    Revoked,
}

/// Whether a key could sign for a node at a given time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyTrust {
    Trusted { node_region: RegionCode },
    NotYetValid,
    Expired,
    Revoked,
    Unknown,
}

impl KeyTrust {
    /// The stable error code of an untrusted answer (`None` for [`KeyTrust::Trusted`]).
    pub fn code(&self) -> Option<&'static str> {
        match self {
            KeyTrust::Trusted { .. } => None,
            KeyTrust::NotYetValid => Some("trust.key_not_yet_valid"),
            KeyTrust::Expired => Some("trust.key_expired"),
            KeyTrust::Revoked => Some("trust.key_revoked"),
            KeyTrust::Unknown => Some("trust.key_unknown"),
        }
    }
}

impl TrustBundle {
    /// A bundle of the given version with no nodes yet.
    pub fn new(version: u64, issued: DateTime<Utc>, network_base_url: impl Into<String>) -> Self {
        TrustBundle {
            kind: BUNDLE_TYPE.into(),
            version,
            issued,
            network_base_url: network_base_url.into(),
            nodes: Vec::new(),
            index: Index::default(),
        }
    }

    /// Where the nodes' regions and keys sit (the first occurrence of each), built once.
    fn positions(&self) -> &Positions {
        self.index.0.get_or_init(|| {
            let mut regions = HashMap::new();
            let mut dids = HashMap::new();
            for (i, node) in self.nodes.iter().enumerate() {
                regions.entry(node.region.as_str().to_owned()).or_insert(i);
                for (j, key) in node.keys.iter().enumerate() {
                    dids.entry(key.did.clone()).or_insert((i, j));
                }
            }
            Positions { regions, dids }
        })
    }

    /// The node of a region.
    pub fn node(&self, region: &RegionCode) -> Option<&TrustedNode> {
        self.node_of(region.as_str())
    }

    /// The node of a region given as text (a key name, a URN's tail).
    pub(crate) fn node_of(&self, region: &str) -> Option<&TrustedNode> {
        let at = self.positions().regions.get(region);
        at.and_then(|&i| self.nodes.get(i))
            .filter(|n| n.region.as_str() == region)
            .or_else(|| self.nodes.iter().find(|n| n.region.as_str() == region))
    }

    /// The node listing key `did`, and the key's entry.
    pub fn find_key(&self, did: &str) -> Option<(&TrustedNode, &NodeKey)> {
        let at = self.positions().dids.get(did);
        at.and_then(|&(i, j)| {
            let node = self.nodes.get(i)?;
            node.keys.get(j).filter(|k| k.did == did).map(|k| (node, k))
        })
        .or_else(|| {
            self.nodes
                .iter()
                .find_map(|n| n.keys.iter().find(|k| k.did == did).map(|k| (n, k)))
        })
    }

    /// The public key registered under a non-did:key verification method id (exact match of
    /// [`NodeKey::verification_method`]); a resolver for [`crate::verify_proof`].
    pub fn resolve_verification_method(&self, vm: &str) -> Option<[u8; 32]> {
        self.nodes
            .iter()
            .flat_map(|n| &n.keys)
            .find(|k| k.verification_method.as_deref() == Some(vm))
            .and_then(|k| did_key_public(&k.did).ok())
    }

    /// Whether key `did` could sign for a node at `at` (see the module docs).
    pub fn key_status_at(&self, did: &str, at: DateTime<Utc>) -> KeyTrust {
        let Some((node, key)) = self.find_key(did) else {
            return KeyTrust::Unknown;
        };
        if key.status == KeyStatus::Revoked {
            KeyTrust::Revoked
        } else if at < key.valid_from {
            KeyTrust::NotYetValid
        } else if key.valid_until.is_some_and(|until| at > until) {
            KeyTrust::Expired
        } else {
            KeyTrust::Trusted {
                node_region: node.region.clone(),
            }
        }
    }

    /// Checks what serde cannot: type, version, URLs, tiers, and that every key is an
    /// Ed25519 did:key listed once (a key under two nodes would make its node ambiguous).
    pub fn validate(&self) -> Result<(), VcError> {
        let bad = |msg: String| Err(VcError::TrustBundle(msg));
        if self.kind != BUNDLE_TYPE {
            return bad(format!("type must be {BUNDLE_TYPE}, got {:?}", self.kind));
        }
        if self.version == 0 {
            return bad("version must be at least 1".into());
        }
        if !is_http_url(&self.network_base_url) {
            return bad(format!(
                "network_base_url must be an http(s) URL, got {:?}",
                self.network_base_url
            ));
        }
        let mut regions = HashSet::new();
        let mut dids = HashSet::new();
        let mut vms = HashSet::new();
        for node in &self.nodes {
            let region = node.region.as_str();
            if !regions.insert(region) {
                return bad(format!("node {region} is listed twice"));
            }
            if !(1..=7).contains(&node.tier) {
                return bad(format!(
                    "node {region}: tier must be 1 to 7, got {}",
                    node.tier
                ));
            }
            if node.name.trim().is_empty() {
                return bad(format!("node {region}: name is empty"));
            }
            for url in std::iter::once(&node.urls.exchange).chain(&node.urls.web) {
                if !is_http_url(url) {
                    return bad(format!("node {region}: {url:?} is not an http(s) URL"));
                }
            }
            for key in &node.keys {
                if let Err(e) = did_key_public(&key.did) {
                    return bad(format!("node {region}: {}: {e}", key.did));
                }
                if !dids.insert(key.did.as_str()) {
                    return bad(format!("key {} is listed twice", key.did));
                }
                if let Some(vm) = &key.verification_method
                    && !vms.insert(vm.as_str())
                {
                    return bad(format!("verification method {vm} is listed twice"));
                }
                if key.valid_until.is_some_and(|until| until < key.valid_from) {
                    return bad(format!("key {}: valid_until precedes valid_from", key.did));
                }
            }
        }
        Ok(())
    }
}

/// Signs a bundle with the province root key: the JSON of `bundle` plus an eddsa-jcs-2022
/// `assertionMethod` proof created at `bundle.issued`.
pub fn sign_bundle(bundle: &TrustBundle, root_key: &SigningKey) -> Result<Value, VcError> {
    bundle.validate()?;
    let unsigned = serde_json::to_value(bundle)
        .map_err(|e| VcError::TrustBundle(format!("cannot serialize: {e}")))?;
    let opts = ProofOptions::new(root_key.verification_method()).created_at(bundle.issued);
    add_proof(&unsigned, &opts, root_key)
}

/// Verifies a signed bundle against the root key and returns its content.
///
/// `root` is the root key as `did:key:z6Mk…`, its verification method `did:key:z6Mk…#z6Mk…`
/// or the bare multibase `z6Mk…`. Errors: the proof's own codes (`proof.*`), then
/// `trust.root_mismatch` (signed by another key, or not for `assertionMethod`), then
/// `trust.bundle_invalid` (content malformed or inconsistent).
pub fn verify_bundle(json: &Value, root: &str) -> Result<TrustBundle, VcError> {
    let root_key = parse_root(root)?;
    let proof = verify_proof(json, |_| None)?;
    if proof.public_key != root_key {
        return Err(VcError::TrustRoot(format!(
            "signed by {}, expected {}",
            proof.verification_method,
            did_from_ed25519(&root_key)
        )));
    }
    if proof.proof_purpose != "assertionMethod" {
        return Err(VcError::TrustRoot(format!(
            "proof purpose is {}, expected assertionMethod",
            proof.proof_purpose
        )));
    }
    let mut content = json.clone();
    if let Some(doc) = content.as_object_mut() {
        doc.remove("proof");
    }
    let bundle: TrustBundle =
        serde_json::from_value(content).map_err(|e| VcError::TrustBundle(e.to_string()))?;
    bundle.validate()?;
    Ok(bundle)
}

/// The Ed25519 key of a `did:key:z6Mk…` DID (no fragment).
fn did_key_public(did: &str) -> Result<[u8; 32], VcError> {
    let mb = did
        .strip_prefix("did:key:")
        .ok_or_else(|| VcError::Multibase(format!("{did:?} is not a did:key")))?;
    multibase_to_ed25519(mb)
}

fn parse_root(root: &str) -> Result<[u8; 32], VcError> {
    let unusable = |e: String| VcError::TrustRoot(format!("root key {root:?} is not usable: {e}"));
    if root.contains('#') {
        return resolve_verification_method(root)
            .map_err(|e| unusable(e.to_string()))?
            .ok_or_else(|| unusable("not a did:key verification method".into()));
    }
    root.strip_prefix("did:key:")
        .map_or_else(|| multibase_to_ed25519(root), multibase_to_ed25519)
        .map_err(|e| unusable(e.to_string()))
}

fn is_http_url(s: &str) -> bool {
    ["https://", "http://"]
        .iter()
        .any(|scheme| s.len() > scheme.len() && s.starts_with(scheme))
        && !s.chars().any(char::is_whitespace)
}
