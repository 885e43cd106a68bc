//! Verifiable Credentials crypto core of the exchange gateway.
//!
//! The gateway issues electronic certificates as W3C Verifiable Credentials 2.0 secured
//! with a W3C Data Integrity proof using the `eddsa-jcs-2022` cryptosuite: the credential
//! is canonicalized with RFC 8785 (JCS), hashed together with the proof options, and signed
//! with Ed25519. Keys are named by `did:key` identifiers so a verifier needs no lookup for
//! them. This crate does that and nothing else: no I/O, no network, no clocks except
//! [`ProofOptions::created_now`].
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
//!   its tests replay the specification's published test vector step by step.
//! - `error`: [`VcError`], with a stable [`VcError::code`] per failure kind.

pub mod data_integrity;
pub mod did_key;
mod error;
pub mod jcs;
pub mod keys;
pub mod multibase;

pub use data_integrity::{ProofOptions, VerifiedProof, add_proof, verify_proof};
pub use did_key::resolve_verification_method;
pub use error::VcError;
pub use keys::SigningKey;
pub use multibase::{ed25519_to_multibase, multibase_to_ed25519};
