//! The one error type of this crate.
//!
//! Every variant has a stable machine-readable [`VcError::code`] so that the gateway can put
//! it in API responses and audit records without matching on message text, which may change.

use thiserror::Error;

/// Errors from canonicalization, key handling, and proof creation or verification.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum VcError {
    /// RFC 8785 refused the value (only non-finite numbers can cause this).
    #[error("JSON cannot be canonicalized per RFC 8785: {0}")]
    Jcs(String),
    /// A multibase string is not a base58btc Ed25519 public key (`z6Mk…`).
    #[error("not a multibase Ed25519 public key: {0}")]
    Multibase(String),
    /// Private key material was rejected (bad PKCS#8, bad seed, RNG failure).
    #[error("invalid Ed25519 private key: {0}")]
    Key(String),
    /// The document to be signed is not a JSON object.
    #[error("document is not a JSON object")]
    NotAnObject,
    /// The secured document carries no `proof`.
    #[error("document has no proof")]
    ProofMissing,
    /// The proof is present but not a well-formed eddsa-jcs-2022 proof.
    #[error("malformed proof: {0}")]
    ProofMalformed(String),
    /// The proof `type`/`cryptosuite` is not `DataIntegrityProof`/`eddsa-jcs-2022`.
    #[error("unsupported proof type or cryptosuite: {0}")]
    UnsupportedCryptosuite(String),
    /// The proof's `@context` is not a prefix of the document's `@context`.
    #[error("proof @context does not match the document @context")]
    ContextMismatch,
    /// The verification method is invalid or no key is known for it.
    #[error("verification method not usable: {0}")]
    VerificationMethod(String),
    /// The Ed25519 signature does not verify over the document and proof options.
    #[error("signature verification failed")]
    BadSignature,
    /// A credential to sign lacks a part the gateway's credential shape requires.
    #[error("malformed credential: {0}")]
    CredentialMalformed(String),
    /// The credential's `issuer.id` is not the DID of the key that signs it.
    #[error("issuer does not control the signing key: {0}")]
    IssuerMismatch(String),
    /// A trust bundle was signed by a key other than the expected root key.
    #[error("trust bundle is not signed by the root key: {0}")]
    TrustRoot(String),
    /// A trust bundle's content is malformed or inconsistent (after its proof verified).
    #[error("invalid trust bundle: {0}")]
    TrustBundle(String),
}

impl VcError {
    /// A stable code for logs, audit records and API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            VcError::Jcs(_) => "jcs.number",
            VcError::Multibase(_) => "key.multibase",
            VcError::Key(_) => "key.invalid",
            VcError::NotAnObject => "document.not_object",
            VcError::ProofMissing => "proof.missing",
            VcError::ProofMalformed(_) => "proof.malformed",
            VcError::UnsupportedCryptosuite(_) => "proof.cryptosuite",
            VcError::ContextMismatch => "proof.context",
            VcError::VerificationMethod(_) => "proof.verification_method",
            VcError::BadSignature => "proof.signature",
            VcError::CredentialMalformed(_) => "credential.malformed",
            VcError::IssuerMismatch(_) => "credential.issuer_mismatch",
            VcError::TrustRoot(_) => "trust.root_mismatch",
            VcError::TrustBundle(_) => "trust.bundle_invalid",
        }
    }
}
