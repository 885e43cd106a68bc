//! W3C Data Integrity proofs with the `eddsa-jcs-2022` cryptosuite.
//!
//! Implements "Data Integrity EdDSA Cryptosuites v1.0" (W3C Recommendation, 2025-05-15),
//! section 3.3: Create Proof, Verify Proof, Transformation, Hashing, Proof Configuration,
//! Proof Serialization and Proof Verification. In short:
//!
//! ```text
//! proofConfig = {type, cryptosuite, created?, verificationMethod, proofPurpose, @context?}
//! hashData    = SHA-256(JCS(proofConfig)) || SHA-256(JCS(document without proof))
//! proofValue  = "z" + base58btc(Ed25519-sign(hashData))
//! proof       = proofConfig + {proofValue}        (the @context stays in the proof)
//! ```
//!
//! The proof-config hash comes first. When the document has an `@context`, the proof
//! carries a copy of it (Create Proof step 2); a verifier then requires the document's
//! `@context` to start with the proof's, and hashes the document with the proof's
//! `@context` in its place (Verify Proof step 4), exactly as the spec says.
//!
//! Only a single proof object is supported: proof sets and chains (a `proof` array, or
//! signing a document that already has a proof) are rejected.

use ring::digest::{SHA256, digest};
use serde_json::{Map, Value};

use crate::VcError;
use crate::did_key::resolve_verification_method;
use crate::jcs::{canonicalize, canonicalize_edited};
use crate::json::{JsonNode, View};
use crate::keys::SigningKey;
use crate::multibase::{decode_signature, encode_signature};

pub mod batch;
pub mod signature;

/// The proof `type` for every Data Integrity cryptosuite.
pub const PROOF_TYPE: &str = "DataIntegrityProof";
/// The cryptosuite implemented here.
pub const CRYPTOSUITE: &str = "eddsa-jcs-2022";

/// Caller-chosen fields of a new proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofOptions {
    /// URL of the public key that verifies the proof, e.g. `did:key:z6Mk…#z6Mk…`.
    pub verification_method: String,
    /// Why the proof exists; credentials use `assertionMethod`.
    pub proof_purpose: String,
    /// XML Schema dateTime, UTC, seconds precision (`2023-02-24T23:36:38Z`), or none.
    pub created: Option<String>,
}

impl ProofOptions {
    /// Options for an `assertionMethod` proof with no `created` time.
    pub fn new(verification_method: impl Into<String>) -> Self {
        ProofOptions {
            verification_method: verification_method.into(),
            proof_purpose: "assertionMethod".into(),
            created: None,
        }
    }

    /// Sets `created` to `t` in the `YYYY-MM-DDThh:mm:ssZ` form.
    pub fn created_at(mut self, t: chrono::DateTime<chrono::Utc>) -> Self {
        self.created = Some(t.format("%Y-%m-%dT%H:%M:%SZ").to_string());
        self
    }

    /// Sets `created` to the current time.
    pub fn created_now(self) -> Self {
        self.created_at(chrono::Utc::now())
    }
}

/// What a successful [`verify_proof`] established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    /// The proof's `verificationMethod`, for matching against the issuer.
    pub verification_method: String,
    /// The key that verified the signature.
    pub public_key: [u8; 32],
    /// The proof's `proofPurpose`; the caller checks it is the one it expects.
    pub proof_purpose: String,
    /// The proof's `created`, if any.
    pub created: Option<String>,
}

/// Create Proof (3.3.1): returns `unsecured` with an eddsa-jcs-2022 `proof` added.
pub fn add_proof(
    unsecured: &Value,
    opts: &ProofOptions,
    key: &SigningKey,
) -> Result<Value, VcError> {
    add_proof_to(unsecured.clone(), opts, key)
}

/// [`add_proof`] on a document the caller gives up, which becomes the secured one (no copy).
pub fn add_proof_to(
    unsecured: Value,
    opts: &ProofOptions,
    key: &SigningKey,
) -> Result<Value, VcError> {
    let doc = unsecured.as_object().ok_or(VcError::NotAnObject)?;
    if doc.contains_key("proof") {
        return Err(VcError::ProofMalformed(
            "document already has a proof (proof sets are not supported)".into(),
        ));
    }
    // A proof naming a key other than the signing key could never verify: fail now. (The
    // key's own verification method needs no decoding.)
    if opts.verification_method != key.verification_method_str()
        && let Some(pk) = resolve_verification_method(&opts.verification_method)?
        && pk != key.public_key()
    {
        return Err(VcError::VerificationMethod(format!(
            "{} does not name the signing key",
            opts.verification_method
        )));
    }

    let mut proof = Map::new();
    proof.insert("type".into(), PROOF_TYPE.into());
    proof.insert("cryptosuite".into(), CRYPTOSUITE.into());
    if let Some(created) = &opts.created {
        proof.insert("created".into(), created.as_str().into());
    }
    proof.insert(
        "verificationMethod".into(),
        opts.verification_method.as_str().into(),
    );
    proof.insert("proofPurpose".into(), opts.proof_purpose.as_str().into());
    // Step 2: copy the document's @context so the proof can later join a set or chain.
    if let Some(ctx) = doc.get("@context") {
        proof.insert("@context".into(), ctx.clone());
    }

    let canonical_config = proof_configuration(&members_of(&proof), "proofValue")?;
    let transformed = transform(&unsecured)?;
    let signature = key.sign(&hash_data(&transformed, &canonical_config));
    proof.insert("proofValue".into(), encode_signature(&signature).into());

    let mut secured = unsecured;
    if let Value::Object(doc) = &mut secured {
        doc.insert("proof".into(), Value::Object(proof));
    }
    Ok(secured)
}

/// Verify Proof (3.3.2): checks the single eddsa-jcs-2022 proof of `secured` (a
/// `serde_json::Value` or a [`crate::json::Json`]).
///
/// The key comes from the verification method itself when it is a did:key or a URL with a
/// Multikey fragment (see [`resolve_verification_method`]); otherwise `resolve` is asked.
pub fn verify_proof<N: JsonNode>(
    secured: &N,
    resolve: impl Fn(&str) -> Option<[u8; 32]>,
) -> Result<VerifiedProof, VcError> {
    prepare_proof(secured, resolve)?.verify()
}

/// A proof read, checked and hashed (Verify Proof up to its last step), whose signature is
/// still to be checked: alone ([`PreparedProof::verify`]) or with others
/// ([`batch::verify_prepared`]).
#[derive(Debug, Clone)]
pub struct PreparedProof {
    /// The hash the signature signs (proof configuration's, then the document's).
    hash: [u8; 64],
    signature: [u8; 64],
    /// What the proof establishes once its signature holds.
    proof: VerifiedProof,
}

impl PreparedProof {
    /// Proof Verification (3.3.7): the Ed25519 check of RFC 8032 ([`signature::verifies`]).
    pub fn verify(self) -> Result<VerifiedProof, VcError> {
        if !signature::verifies(&self.proof.public_key, &self.hash, &self.signature) {
            return Err(VcError::BadSignature);
        }
        Ok(self.proof)
    }
}

/// [`verify_proof`] but for the signature itself: everything that can fail before it, done.
pub fn prepare_proof<N: JsonNode>(
    secured: &N,
    resolve: impl Fn(&str) -> Option<[u8; 32]>,
) -> Result<PreparedProof, VcError> {
    let View::Object(doc) = secured.view() else {
        return Err(VcError::NotAnObject);
    };
    let proof = match secured.get("proof").map(|p| (p, p.view())) {
        None => return Err(VcError::ProofMissing),
        Some((p, View::Object(members))) => Proof { node: p, members },
        Some((_, View::Array(_))) => {
            return Err(VcError::ProofMalformed(
                "proof sets are not supported".into(),
            ));
        }
        Some(_) => return Err(VcError::ProofMalformed("proof is not an object".into())),
    };

    // Steps 1-3: the document without its proof, the proof options (the proof without its
    // value) and the signature bytes. Both halves are written by the JCS writer straight from
    // the secured document, leaving members out, rather than from edited copies.
    let proof_value = match proof.node.get("proofValue").and_then(N::as_str) {
        Some(s) => s,
        None => {
            return Err(VcError::ProofMalformed(
                "proofValue must be a string".into(),
            ));
        }
    };
    let signature = decode_signature(proof_value)
        .map_err(|e| VcError::ProofMalformed(format!("proofValue: {e}")))?;

    // Step 4: the proof's @context must be a prefix of the document's, and replaces it.
    let proof_ctx = proof.node.get("@context");
    if let Some(proof_ctx) = proof_ctx {
        let doc_ctx = secured
            .get("@context")
            .map(context_list)
            .unwrap_or_default();
        if !doc_ctx.starts_with(&context_list(proof_ctx)) {
            return Err(VcError::ContextMismatch);
        }
    }

    // Steps 5-7: transformation, proof configuration (which validates it), hashing.
    let transformed = canonicalize_edited(doc, "proof", proof_ctx.map(|c| ("@context", c)))?;
    let canonical_config = proof_configuration(&proof.members, "proofValue")?;
    let hash = hash_data(&transformed, &canonical_config);

    // Step 8, Proof Verification (3.3.7), up to the signature: the key.
    let vm = required_str(&proof.members, "verificationMethod")?;
    let public_key = match resolve_verification_method(vm)? {
        Some(pk) => pk,
        None => resolve(vm).ok_or_else(|| {
            VcError::VerificationMethod(format!("{vm}: no key known for this verification method"))
        })?,
    };
    Ok(PreparedProof {
        hash,
        signature,
        proof: VerifiedProof {
            verification_method: vm.to_string(),
            public_key,
            proof_purpose: required_str(&proof.members, "proofPurpose")?.to_string(),
            created: proof
                .node
                .get("created")
                .and_then(N::as_str)
                .map(str::to_string),
        },
    })
}

/// The proof object of a secured document, and its members.
struct Proof<'a, N> {
    node: &'a N,
    members: Vec<(&'a str, &'a N)>,
}

/// The members of a `serde_json` object, as [`JsonNode`] lists them.
fn members_of(map: &Map<String, Value>) -> Vec<(&str, &Value)> {
    map.iter().map(|(k, v)| (k.as_str(), v)).collect()
}

/// Transformation (3.3.3): the JCS bytes of the document without its proof.
fn transform(unsecured: &Value) -> Result<Vec<u8>, VcError> {
    canonicalize(unsecured)
}

/// Proof Configuration (3.3.5): checks the options (the members `options` without `skip`) and
/// returns their JCS bytes.
fn proof_configuration<N: JsonNode>(
    options: &[(&str, &N)],
    skip: &str,
) -> Result<Vec<u8>, VcError> {
    let proof_type = required_str(options, "type")?;
    let suite = required_str(options, "cryptosuite")?;
    if proof_type != PROOF_TYPE || suite != CRYPTOSUITE {
        return Err(VcError::UnsupportedCryptosuite(format!(
            "{proof_type} / {suite}"
        )));
    }
    required_str(options, "verificationMethod")?;
    required_str(options, "proofPurpose")?;
    if let Some(created) = member(options, "created")
        && !created.as_str().is_some_and(is_xml_datetime)
    {
        return Err(VcError::ProofMalformed(format!(
            "created is not an XML Schema dateTime: {created}"
        )));
    }
    canonicalize_edited(options.to_vec(), skip, None)
}

/// Hashing (3.3.4): SHA-256 of the proof configuration, then SHA-256 of the document.
fn hash_data(transformed_document: &[u8], canonical_proof_config: &[u8]) -> [u8; 64] {
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(digest(&SHA256, canonical_proof_config).as_ref());
    out[32..].copy_from_slice(digest(&SHA256, transformed_document).as_ref());
    out
}

/// XML Schema 1.1 `dateTime`: RFC 3339 with an offset, or the same without one.
fn is_xml_datetime(s: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(s).is_ok()
        || chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
}

fn member<'a, N: JsonNode>(members: &[(&str, &'a N)], name: &str) -> Option<&'a N> {
    members.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
}

fn required_str<'a, N: JsonNode>(
    options: &[(&str, &'a N)],
    field: &str,
) -> Result<&'a str, VcError> {
    member(options, field)
        .and_then(N::as_str)
        .ok_or_else(|| VcError::ProofMalformed(format!("{field} must be a string")))
}

/// `@context` as a list of entries: a lone string or object counts as a one-item list.
fn context_list<N: JsonNode>(ctx: &N) -> Vec<&N> {
    match ctx.view() {
        View::Array(items) => items.iter().collect(),
        View::Null => Vec::new(),
        _ => vec![ctx],
    }
}

#[cfg(test)]
mod tests;
