//! Many proofs' signatures checked together: what `POST /v1/certificates/verify/batch` pays
//! per credential.
//!
//! One signature checked alone costs ~33 µs here ([`super::signature`]; ring's ~48);
//! ed25519-dalek's batch verification checks n of them with one multi-scalar multiplication
//! of 2n + 1 points, with random 128-bit coefficients derived from the whole batch (~17 µs a
//! signature in batches of 50, `bench/`). It answers only "all hold" or "not all": when not,
//! every signature of the batch is checked alone, so each proof gets the verdict
//! [`PreparedProof::verify`] would give it. A batch of valid signatures costs half of
//! checking them one by one; a batch holding a bad one costs the batch and then every
//! signature alone.
//!
//! The single check is RFC 8032's cofactorless equation `[S]B = R + [k]A`; the batch's
//! random combination can disagree with it only on a signature whose `R` (or key) carries a
//! small-order component, which only the holder of the signing key can make; a batch may let
//! one such pass that the single check refuses. The keys are trusted nodes' (a bundle signed
//! by the root), so that is the node choosing to sign twice, not a forgery; `docs/` says so
//! where the route is described.

use ed25519_dalek::Signature;

use super::{PreparedProof, VerifiedProof, signature};
use crate::VcError;

/// Batches smaller than this are checked one by one: the batch's fixed cost (the
/// coefficients, the multi-scalar set-up) is not won back on one signature.
pub const BATCH_FROM: usize = 2;

/// What [`verify_prepared`] found.
#[derive(Debug)]
pub struct Checked {
    /// Each prepared proof's outcome, in order.
    pub results: Vec<Result<VerifiedProof, VcError>>,
    /// `Some(true)`: one batch check held for all; `Some(false)`: it did not, and each was
    /// checked alone; `None`: too few to batch.
    pub batch_held: Option<bool>,
}

/// Each prepared proof's outcome, in order: the failures as they were, the rest checked in
/// one batch (then alone, when the batch does not hold).
pub fn verify_prepared(proofs: Vec<Result<PreparedProof, VcError>>) -> Checked {
    let ready: Vec<&PreparedProof> = proofs.iter().filter_map(|p| p.as_ref().ok()).collect();
    let batch_held = (ready.len() >= BATCH_FROM).then(|| batch_holds(&ready));
    let results = proofs
        .into_iter()
        .map(|p| {
            let p = p?;
            if batch_held == Some(true) {
                Ok(p.proof)
            } else {
                p.verify()
            }
        })
        .collect();
    Checked {
        results,
        batch_held,
    }
}

/// Whether every signature holds, by one batch check. `false` also when a key is not a
/// curve point (the single check then says what is wrong).
fn batch_holds(proofs: &[&PreparedProof]) -> bool {
    // Each key decompressed once, as for the single check.
    let Some(keys) = proofs
        .iter()
        .map(|p| signature::key(&p.proof.public_key))
        .collect::<Option<Vec<_>>>()
    else {
        return false;
    };
    let messages: Vec<&[u8]> = proofs.iter().map(|p| &p.hash[..]).collect();
    let signatures: Vec<Signature> = proofs
        .iter()
        .map(|p| Signature::from_bytes(&p.signature))
        .collect();
    ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use ed25519_dalek::VerifyingKey;

    use super::*;
    use crate::data_integrity::{ProofOptions, add_proof, prepare_proof};
    use crate::keys::SigningKey;

    fn signed(key: &SigningKey, i: usize) -> Value {
        let doc = json!({"@context": ["https://www.w3.org/ns/credentials/v2"], "id": format!("urn:n:{i}")});
        add_proof(&doc, &ProofOptions::new(key.verification_method()), key).unwrap()
    }

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_seed(&[seed; 32]).unwrap()
    }

    fn prepared(docs: &[Value]) -> Vec<Result<PreparedProof, VcError>> {
        docs.iter().map(|d| prepare_proof(d, |_| None)).collect()
    }

    fn codes(out: &[Result<VerifiedProof, VcError>]) -> Vec<&'static str> {
        out.iter()
            .map(|r| r.as_ref().map_or_else(|e| e.code(), |_| "ok"))
            .collect()
    }

    /// Two issuers' signatures in one batch all hold, and each proof says which key it was.
    #[test]
    fn a_batch_of_valid_signatures_holds() {
        let (a, b) = (key(1), key(2));
        let docs: Vec<Value> = (0..10)
            .map(|i| signed(if i % 3 == 0 { &b } else { &a }, i))
            .collect();
        let checked = verify_prepared(prepared(&docs));
        assert_eq!(checked.batch_held, Some(true));
        let out = checked.results;
        assert_eq!(codes(&out), vec!["ok"; 10]);
        for (i, r) in out.iter().enumerate() {
            let expected = if i % 3 == 0 { &b } else { &a };
            assert_eq!(r.as_ref().unwrap().public_key, expected.public_key());
        }
    }

    /// One tampered document among valid ones fails alone, with the code a single check gives;
    /// a proof that could not be prepared keeps its own error.
    #[test]
    fn a_bad_signature_fails_alone_with_the_single_check_s_verdict() {
        let a = key(1);
        let mut docs: Vec<Value> = (0..8).map(|i| signed(&a, i)).collect();
        docs[5]["id"] = json!("urn:n:tampered");
        docs[2]["proof"]["proofValue"] = json!(7);
        let single: Vec<_> = docs
            .iter()
            .map(|d| crate::verify_proof(d, |_| None).map_err(|e| e.code()))
            .collect();
        let checked = verify_prepared(prepared(&docs));
        assert_eq!(checked.batch_held, Some(false));
        let out = checked.results;
        let mut expected = vec!["ok"; 8];
        expected[5] = "proof.signature";
        expected[2] = "proof.malformed";
        assert_eq!(codes(&out), expected);
        for (s, b) in single.iter().zip(&out) {
            assert_eq!(
                s.as_ref().err(),
                b.as_ref().err().map(|e| e.code()).as_ref()
            );
        }
    }

    /// A signature that holds for another message, or under another key, fails in a batch too.
    #[test]
    fn swapped_signatures_do_not_hold() {
        let (a, b) = (key(1), key(2));
        let mut docs: Vec<Value> = (0..4).map(|i| signed(&a, i)).collect();
        let other = signed(&b, 0);
        // Document 0's proof claims key a but carries b's signature over the same content.
        docs[0]["proof"]["proofValue"] = other["proof"]["proofValue"].clone();
        // Documents 1 and 3 swap their signatures.
        let (one, three) = (
            docs[1]["proof"]["proofValue"].clone(),
            docs[3]["proof"]["proofValue"].clone(),
        );
        docs[1]["proof"]["proofValue"] = three;
        docs[3]["proof"]["proofValue"] = one;
        let out = verify_prepared(prepared(&docs)).results;
        assert_eq!(
            codes(&out),
            vec![
                "proof.signature",
                "proof.signature",
                "ok",
                "proof.signature"
            ]
        );
    }

    /// The batch check itself (not the single checks after it) tells valid from tampered.
    #[test]
    fn the_batch_check_decides() {
        let a = key(1);
        let mut docs: Vec<Value> = (0..6).map(|i| signed(&a, i)).collect();
        let ready: Vec<PreparedProof> = prepared(&docs).into_iter().map(Result::unwrap).collect();
        assert!(batch_holds(&ready.iter().collect::<Vec<_>>()));
        docs[4]["id"] = json!("urn:n:tampered");
        let ready: Vec<PreparedProof> = prepared(&docs).into_iter().map(Result::unwrap).collect();
        assert!(!batch_holds(&ready.iter().collect::<Vec<_>>()));
    }

    /// A proof naming a key that is not a curve point cannot be batched: the batch says no,
    /// and each proof gets the single check's verdict (the others still hold).
    #[test]
    fn a_key_off_the_curve_fails_alone() {
        let a = key(1);
        let off_curve = (0u8..=255)
            .map(|b| [b; 32])
            .find(|bytes| VerifyingKey::from_bytes(bytes).is_err())
            .expect("some repeated byte is not a point's encoding");
        let did = crate::did_key::did_from_ed25519(&off_curve);
        let mut docs: Vec<Value> = (0..4).map(|i| signed(&a, i)).collect();
        docs[1]["proof"]["verificationMethod"] =
            json!(format!("{did}#{}", did.trim_start_matches("did:key:")));
        let ready: Vec<PreparedProof> = prepared(&docs).into_iter().map(Result::unwrap).collect();
        assert!(!batch_holds(&ready.iter().collect::<Vec<_>>()));
        let checked = verify_prepared(prepared(&docs));
        assert_eq!(checked.batch_held, Some(false));
        assert_eq!(
            codes(&checked.results),
            vec!["ok", "proof.signature", "ok", "ok"]
        );
    }

    #[test]
    fn empty_and_single_batches() {
        let checked = verify_prepared(Vec::new());
        assert!(checked.results.is_empty() && checked.batch_held.is_none());
        let a = key(1);
        let checked = verify_prepared(prepared(&[signed(&a, 0)]));
        assert_eq!(checked.batch_held, None);
        assert_eq!(codes(&checked.results), vec!["ok"]);
    }
}
