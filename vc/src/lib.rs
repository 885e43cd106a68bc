//! Verifiable Credentials crypto core of the exchange gateway.
//!
//! The gateway issues electronic certificates as W3C Verifiable Credentials 2.0 secured
//! with a W3C Data Integrity proof using the `eddsa-jcs-2022` cryptosuite: the credential
//! is canonicalized with RFC 8785 (JCS), hashed together with the proof options, and signed
//! with Ed25519. Keys are named by `did:key` identifiers so a verifier needs no lookup for
//! them. On top of that it fixes the electronic certificate (电子证照) credential, the signed
//! trust bundle naming the network's nodes and keys, and the verification rules the API and
//! the offline verifier share. No I/O, no network, no clocks except
//! [`ProofOptions::created_now`]: callers pass the time.
//!
//! ```
//! use vc::{ProofOptions, SigningKey, add_proof, verify_proof};
//! let (key, _pkcs8) = SigningKey::generate()?;
//! let credential = serde_json::json!({"@context": ["https://www.w3.org/ns/credentials/v2"]});
//! let opts = ProofOptions::new(key.verification_method()).created_now();
//! let signed = add_proof(&credential, &opts, &key)?;
//! let verified = verify_proof(&signed, |_vm| None)?;
//! assert_eq!(verified.public_key, key.public_key());
//! # Ok::<(), vc::VcError>(())
//! ```
//!
//! # Layout
//!
//! - [`jcs`]: RFC 8785 canonical JSON bytes, and why identifiers must be JSON strings.
//! - [`multibase`]: base58btc multibase and the `z6Mk…` Ed25519 Multikey encoding.
//! - [`did_key`]: `did:key` identifiers and turning a verification method id into a key.
//! - [`keys`]: [`SigningKey`], an Ed25519 key (ring) loaded from PKCS#8 v2 or a seed.
//! - [`data_integrity`]: the eddsa-jcs-2022 cryptosuite, [`add_proof`] and [`verify_proof`];
//!   its tests replay the specification's published test vector step by step. Its `batch`
//!   module checks many proofs' signatures at once (ed25519-dalek's batch verification).
//! - [`ecert`]: the electronic certificate credential: [`build_credential`], [`sign`], the
//!   bundled JSON-LD context, identifier serials minted by a node.
//! - [`trust`]: the [`TrustBundle`] (nodes, their keys, the status base URL), signed by the
//!   province root key: [`sign_bundle`], [`verify_bundle`], [`TrustBundle::key_status_at`].
//! - [`verify`]: [`verify_credential`] → [`Verdict`]: signature, issuer trusted, validity
//!   period, not revoked.
//! - [`logged`]: transparency-log evidence (inclusion in a witnessed checkpoint while the
//!   signing key was valid) behind the verdict's `logged` check.
//! - [`status_list`]: W3C Bitstring Status List v1.0: the bitstring, entries, signed list
//!   credentials and their verification.
//! - `error`: [`VcError`], with a stable [`VcError::code`] per failure kind.

pub mod data_integrity;
pub mod did_key;
pub mod ecert;
mod error;
pub mod jcs;
pub mod json;
pub mod keys;
pub mod logged;
pub mod multibase;
pub mod status_list;
pub mod trust;
pub mod verify;

pub use data_integrity::batch::verify_prepared;
pub use data_integrity::{
    PreparedProof, ProofOptions, VerifiedProof, add_proof, add_proof_to, prepare_proof,
    verify_proof,
};
pub use did_key::resolve_verification_method;
pub use ecert::{IssueInput, StatusPurpose, build_credential, issue, mint_serial, sign};
pub use error::VcError;
pub use keys::SigningKey;
pub use multibase::{ed25519_to_multibase, multibase_to_ed25519};
pub use trust::{KeyStatus, KeyTrust, TrustBundle, sign_bundle, verify_bundle};
pub use verify::{CheckResult, Checks, StatusLookup, Verdict, VerifyError, verify_credential};
