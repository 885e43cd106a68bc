//! The body of the verifier's fuzz target, shared by `fuzz/fuzz_targets/verify_credential.rs`
//! (libFuzzer) and `vc/tests/fuzz_corpus.rs` (which replays every file of
//! `fuzz/corpus/verify_credential/` in `cargo test`). Included with `#[path]`, so it may use only
//! what both the fuzz crate and the vc tests depend on: `vc`, `chrono`, `serde_json`.
//!
//! The property is "no panic on any input": arbitrary bytes, parsed as JSON, are verified as a
//! credential against the dev trust bundle (`schemas/examples/trust-bundle-dev.json`) at a fixed
//! time, with and without a status lookup, and read as a signed trust bundle. And
//! `ed25519_agreement`: the signature check credentials are verified with
//! (`vc::data_integrity::signature`, ed25519-dalek) answers as ring does on every key,
//! signature and message (the assertion is the panic). Included also with ring, which `vc`
//! depends on.

#![allow(dead_code)]

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use serde_json::Value;
use vc::verify::StatusEntry;
use vc::{StatusLookup, TrustBundle, Verdict, verify_bundle, verify_credential as verify};

/// A target's body.
pub type Target = fn(&[u8]);

/// Every target of this module: (name = the fuzz target and its corpus directory, body).
pub const TARGETS: &[(&str, Target)] = &[
    ("verify_credential", verify_credential),
    ("ed25519_agreement", ed25519_agreement),
];

/// The dev network's province root key, which signs the dev trust bundle.
const ROOT_DID: &str = "did:key:z6MkhwJ4uA31w9pXTNsVL1PXQywEVeqNLdSPFmUEJ5y4bFTq";

const BUNDLE: &str = include_str!("../../schemas/examples/trust-bundle-dev.json");

static TRUST: LazyLock<TrustBundle> = LazyLock::new(|| {
    let json: Value = serde_json::from_str(BUNDLE).expect("trust-bundle-dev.json is JSON");
    verify_bundle(&json, ROOT_DID).expect("trust-bundle-dev.json verifies")
});

/// The dev trust bundle, verified against the dev root key once per process.
pub fn trust() -> &'static TrustBundle {
    &TRUST
}

/// The fixed time credentials are verified at: 2026-11-25 12:00 in Beijing.
pub fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-25T04:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// A status list that knows some bits (set or not) and cannot answer for others.
fn lookup(entry: &StatusEntry<'_>) -> Option<bool> {
    match entry.index % 3 {
        0 => None,
        r => Some(r == 1),
    }
}

fn check(v: &Verdict) {
    let _ = serde_json::to_string(v).expect("verdicts serialize");
    let _ = v.error_codes();
}

pub fn verify_credential(data: &[u8]) {
    let Ok(cred) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let trust = trust();
    let lenient = verify(
        &cred,
        Some(trust),
        now(),
        Some(StatusLookup::new(lookup)),
        false,
    );
    check(&lenient);
    check(&verify(&cred, Some(trust), now(), None, true));
    let _ = verify(&cred, None, now(), None, false);
    // The same untrusted document as a signed trust bundle, as a peer node would send it.
    let _ = verify_bundle(&cred, ROOT_DID);
}

/// Key (32 bytes), signature (64) and message (the rest): ring's verdict and the one
/// credentials get must agree. The seeds (`fuzz/corpus/ed25519_agreement/`) are valid
/// signatures and small-order keys and `R`s, some of which both accept.
pub fn ed25519_agreement(data: &[u8]) {
    let (Some(key), Some(signature)) = (data.get(..32), data.get(32..96)) else {
        return;
    };
    let message = &data[96..];
    let key: [u8; 32] = key.try_into().expect("32 bytes");
    let signature: [u8; 64] = signature.try_into().expect("64 bytes");
    let ring = ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, key)
        .verify(message, &signature)
        .is_ok();
    let ours = vc::data_integrity::signature::verifies(&key, message, &signature);
    assert_eq!(ring, ours, "ring {ring}, credentials' check {ours}");
}
