//! Transparency-log evidence for a credential: the issuing node's log included it, in a
//! checkpoint a witness (another node) cosigned, while the key that signed it was valid.
//!
//! The evidence is a [`LogProof`] (what `GET /v1/certificates/{id}/proof` answers and
//! `gateway verify --proof` reads): the leaf index, the tree size, the RFC 6962 inclusion proof
//! and the C2SP checkpoint note with its signature and cosignatures. The leaf is
//! `SHA-256(0x00 || RFC 8785 form of the credential)`.
//!
//! The checkpoint must be signed by the log key the trust bundle lists for the credential's
//! issuing node (`issuer.node`), under its origin, and cosigned by at least one other node's
//! key under that node's witness name; the credential's signing key must have been trusted at
//! the earliest cosignature's time (so a key retired or compromised later does not matter, and
//! a certificate logged only after its key expired does not pass).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use domain::codes::RegionCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tlog::{Checkpoint, Hash, VerifiedSig, VerifierKey};

use crate::did_key::resolve_verification_method;
use crate::json::JsonNode;
use crate::trust::{KeyTrust, TrustBundle, log_host};

/// `type` of a [`LogProof`].
pub const PROOF_TYPE: &str = "LogInclusionProof";

/// Inclusion of one credential in its issuing node's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogProof {
    #[serde(rename = "type")]
    pub kind: String,
    /// The certificate identifier and credential version it proves.
    pub identifier: String,
    pub version: i32,
    /// The log's origin.
    pub log: String,
    pub leaf_index: u64,
    pub tree_size: u64,
    /// Base64 hashes, leaf to root (RFC 6962 audit path).
    pub inclusion_proof: Vec<String>,
    /// The C2SP checkpoint note of `tree_size`, with its signature and cosignatures.
    pub checkpoint: String,
}

impl LogProof {
    /// A proof as JSON (what `GET /v1/certificates/{id}/proof` answers), checked for shape
    /// only: [`check_proof`] says whether it proves anything.
    pub fn from_json(proof: &Value) -> Result<LogProof, LogError> {
        let proof = LogProof::deserialize(proof).map_err(|e| LogError::Malformed(e.to_string()))?;
        if proof.kind != PROOF_TYPE {
            return Err(LogError::Malformed(format!("type must be {PROOF_TYPE}")));
        }
        Ok(proof)
    }
}

/// A proof as given to a verification: read, or why it could not be read.
pub type Evidence = Result<LogProof, LogError>;

/// What a good proof establishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Included {
    /// The earliest cosignature's time: the log held the credential by then.
    pub cosigned_at: DateTime<Utc>,
    /// The names of the witnesses whose cosignatures verified.
    pub witnesses: Vec<String>,
}

/// Why a proof does not establish inclusion; `code()` is stable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    #[error("not a log inclusion proof: {0}")]
    Malformed(String),
    #[error("the trust bundle lists no log for node {0}")]
    NoLog(String),
    #[error("the proof is for log {proof}, but node {node}'s log is {expected}")]
    WrongLog {
        proof: String,
        node: String,
        expected: String,
    },
    #[error("the checkpoint does not verify: {0}")]
    Checkpoint(String),
    #[error("no witness cosigned the checkpoint")]
    NotCosigned,
    #[error("the credential is not in the log at that index and size: {0}")]
    NotIncluded(String),
    #[error("the signing key was not trusted when the log included the credential ({0})")]
    KeyNotValid(String),
}

impl LogError {
    pub fn code(&self) -> &'static str {
        match self {
            LogError::Malformed(_) => "log.malformed",
            LogError::NoLog(_) => "log.no_log",
            LogError::WrongLog { .. } => "log.wrong_log",
            LogError::Checkpoint(_) => "log.bad_checkpoint",
            LogError::NotCosigned => "log.not_cosigned",
            LogError::NotIncluded(_) => "log.not_included",
            LogError::KeyNotValid(_) => "log.key_not_valid",
        }
    }
}

/// The leaf hash of a credential (or any logged JSON entry).
pub fn leaf_hash<N: JsonNode>(entry: &N) -> Result<Hash, crate::VcError> {
    Ok(tlog::leaf_hash(&crate::jcs::canonicalize(entry)?))
}

fn did_public_key(did: &str) -> Option<[u8; 32]> {
    let fragment = did.trim_start_matches("did:key:");
    resolve_verification_method(&format!("{did}#{fragment}"))
        .ok()
        .flatten()
}

/// Checkpoints whose signatures verified, by SHA-256 of the note and the keys it was opened
/// with. Many credentials are proven against one checkpoint, and verifying its signatures
/// again each time would double the Ed25519 work of a verification; the answer of opening a
/// note depends on nothing but these inputs, so a remembered answer is the same answer.
static OPENED: Mutex<Option<HashMap<[u8; 32], Arc<Opened>>>> = Mutex::new(None);
/// Entries kept at most (then forgotten all at once; a checkpoint is ~300 bytes).
const OPENED_MAX: usize = 4096;

type Opened = (Checkpoint, Vec<VerifiedSig>);

/// [`tlog::open_note`] with `keys` (name, Ed25519 public key, cosigner?), remembering success.
fn open_checkpoint(
    text: &str,
    keys: &[(String, [u8; 32], bool)],
) -> Result<Arc<Opened>, tlog::NoteError> {
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    for (name, key, cosigner) in keys {
        // Lengths first, so no two different inputs hash the same bytes.
        digest.update(&(name.len() as u64).to_be_bytes());
        digest.update(name.as_bytes());
        digest.update(key);
        digest.update(&[u8::from(*cosigner)]);
    }
    digest.update(text.as_bytes());
    let id: [u8; 32] = digest
        .finish()
        .as_ref()
        .try_into()
        .expect("SHA-256 is 32 bytes");
    let known = OPENED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .and_then(|m| m.get(&id).cloned());
    if let Some(known) = known {
        return Ok(known);
    }
    let verifiers = keys
        .iter()
        .map(|(name, key, cosigner)| {
            if *cosigner {
                VerifierKey::cosigner(name, key)
            } else {
                VerifierKey::ed25519(name, key)
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let opened = Arc::new(tlog::open_note(text, &verifiers)?);
    let mut memo = OPENED.lock().unwrap_or_else(|e| e.into_inner());
    let memo = memo.get_or_insert_with(HashMap::new);
    if memo.len() >= OPENED_MAX {
        memo.clear();
    }
    memo.insert(id, Arc::clone(&opened));
    Ok(opened)
}

/// Check `proof` (JSON) for `credential` against the trust bundle.
pub fn check(credential: &Value, proof: &Value, trust: &TrustBundle) -> Result<Included, LogError> {
    check_proof(credential, &LogProof::from_json(proof)?, trust)
}

/// The keys a checkpoint of `node`'s log is opened with: its log key under its origin, and as
/// a cosigner every other node's log key that signs the note as a witness. Only the note's own
/// signers are looked up: any node of the bundle may witness, and a bundle can list thousands,
/// whose keys would cost a verification far more to decode than its signature check.
fn signer_keys(
    note: &str,
    trust: &TrustBundle,
    node: &RegionCode,
    (origin, log_key): (&str, [u8; 32]),
) -> Vec<(String, [u8; 32], bool)> {
    let mut keys = vec![(origin.to_owned(), log_key, false)];
    // A witness is named `crate::trust::witness_name(network, region)`.
    let host = log_host(&trust.network_base_url);
    for name in tlog::note::signer_names(note) {
        let witness = name
            .strip_prefix(host)
            .and_then(|rest| rest.strip_prefix("/witness/"))
            .filter(|region| *region != node.as_str());
        let Some(witness) = witness else { continue };
        if keys.iter().any(|(known, _, _)| known == name) {
            continue;
        }
        let key = trust
            .node_of(witness)
            .and_then(|n| n.log.as_ref())
            .and_then(|l| did_public_key(&l.key));
        if let Some(key) = key {
            keys.push((name.to_owned(), key, true));
        }
    }
    keys
}

/// Check a read `proof` for `credential` against the trust bundle (a node that builds or keeps
/// proofs passes them so, without a round trip through JSON).
pub fn check_proof<N: JsonNode>(
    credential: &N,
    proof: &LogProof,
    trust: &TrustBundle,
) -> Result<Included, LogError> {
    if proof.kind != PROOF_TYPE {
        return Err(LogError::Malformed(format!("type must be {PROOF_TYPE}")));
    }
    let node = crate::status_list::credential_node(credential)
        .ok_or_else(|| LogError::Malformed("the credential names no issuer.node".into()))?;
    let node_log = trust
        .node(&node)
        .and_then(|n| n.log.as_ref())
        .ok_or_else(|| LogError::NoLog(node.to_string()))?;
    if proof.log != node_log.origin {
        return Err(LogError::WrongLog {
            proof: proof.log.clone(),
            node: node.to_string(),
            expected: node_log.origin.clone(),
        });
    }
    let bad = |e: tlog::NoteError| LogError::Checkpoint(e.to_string());
    let log_key = did_public_key(&node_log.key)
        .ok_or_else(|| LogError::Checkpoint("the log key is not an Ed25519 did:key".into()))?;
    let keys = signer_keys(&proof.checkpoint, trust, &node, (&node_log.origin, log_key));
    let opened = open_checkpoint(&proof.checkpoint, &keys).map_err(bad)?;
    let (checkpoint, sigs) = &*opened;
    if checkpoint.origin != node_log.origin || !sigs.iter().any(|s| s.name == node_log.origin) {
        return Err(LogError::Checkpoint(
            "not signed by the node's log key under its origin".into(),
        ));
    }
    let cosigned: Vec<_> = sigs.iter().filter(|s| s.timestamp.is_some()).collect();
    let earliest = cosigned
        .iter()
        .filter_map(|s| s.timestamp)
        .min()
        .ok_or(LogError::NotCosigned)?;
    if checkpoint.size != proof.tree_size {
        return Err(LogError::NotIncluded(format!(
            "the checkpoint is of size {}, the proof of size {}",
            checkpoint.size, proof.tree_size
        )));
    }
    let path = proof
        .inclusion_proof
        .iter()
        .map(|h| {
            STANDARD
                .decode(h)
                .ok()
                .and_then(|b| Hash::try_from(b.as_slice()).ok())
                .ok_or_else(|| LogError::Malformed(format!("'{h}' is not a base64 SHA-256 hash")))
        })
        .collect::<Result<Vec<Hash>, _>>()?;
    let leaf = leaf_hash(credential).map_err(|e| LogError::Malformed(e.to_string()))?;
    tlog::verify_inclusion(
        &leaf,
        proof.leaf_index,
        proof.tree_size,
        &path,
        &checkpoint.root,
    )
    .map_err(|e| LogError::NotIncluded(e.to_string()))?;
    let cosigned_at = DateTime::from_timestamp(earliest as i64, 0)
        .ok_or_else(|| LogError::Checkpoint("cosignature time out of range".into()))?;
    let vm = credential
        .get("proof")
        .and_then(|p| p.get("verificationMethod"))
        .and_then(N::as_str)
        .unwrap_or_default();
    let signer = vm.split_once('#').map_or(vm, |(did, _)| did);
    match trust.key_status_at(signer, cosigned_at) {
        KeyTrust::Trusted { .. } => Ok(Included {
            cosigned_at,
            witnesses: cosigned.iter().map(|s| s.name.clone()).collect(),
        }),
        other => Err(LogError::KeyNotValid(format!(
            "{signer} at {cosigned_at}: {}",
            other.code().unwrap_or("untrusted")
        ))),
    }
}
