//! The Ed25519 check of one signature (RFC 8032 §5.1.7), with each public key decompressed
//! once: what `POST /v1/certificates/verify` pays per credential beyond reading it.
//!
//! ring checked a credential's signature in ~48 µs here, decompressing the key (a square root
//! in the field, ~4 µs) on every call; ed25519-dalek checks it against a key decompressed
//! before in ~33 µs (`bench/`: *ed25519-dalek verify, key decompressed once*). Both check the
//! same cofactorless equation `[S]B = R + [k]A`, with `k = SHA-512(R ‖ A ‖ M)` over the key's
//! bytes as given, `S` refused unless below the group order, and `R` compared as encoded: they
//! accept and refuse the same signatures, small-order and non-canonical inputs included (the
//! test below holds them side by side). Signing stays with ring ([`crate::keys`]).
//!
//! Keys are few (each node's signing keys), so the decompressed ones are kept. A public route
//! can present any `did:key`, so the store is bounded: when full it starts again, and a key
//! used often is decompressed again once.

use std::collections::HashMap;
use std::sync::{LazyLock, PoisonError, RwLock};

use ed25519_dalek::{Signature, Verifier, VerifyingKey};

/// Decompressed keys kept at most.
const KEPT: usize = 1024;

static KEYS: LazyLock<RwLock<HashMap<[u8; 32], VerifyingKey>>> =
    LazyLock::new(|| RwLock::new(HashMap::new()));

/// Whether `signature` is `public_key`'s Ed25519 signature of `message`.
pub fn verifies(public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    key(public_key).is_some_and(|key| {
        key.verify(message, &Signature::from_bytes(signature))
            .is_ok()
    })
}

/// The decompressed key (kept), or `None` when the bytes are not a curve point.
pub fn key(bytes: &[u8; 32]) -> Option<VerifyingKey> {
    if let Some(key) = KEYS
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(bytes)
    {
        return Some(*key);
    }
    let key = VerifyingKey::from_bytes(bytes).ok()?;
    let mut keys = KEYS.write().unwrap_or_else(PoisonError::into_inner);
    if keys.len() >= KEPT {
        keys.clear();
    }
    keys.insert(*bytes, key);
    Some(key)
}

#[cfg(test)]
mod tests {
    use ring::digest::{SHA512, digest};
    use ring::signature::{ED25519, UnparsedPublicKey};

    use super::*;
    use crate::keys::SigningKey;

    fn ring(public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
        UnparsedPublicKey::new(&ED25519, public_key)
            .verify(message, signature)
            .is_ok()
    }

    /// 64 deterministic bytes for case `i`.
    fn bytes(i: u64) -> [u8; 64] {
        digest(&SHA512, &i.to_le_bytes())
            .as_ref()
            .try_into()
            .unwrap()
    }

    /// Both verdicts for every case, and how many accepted.
    fn compare(cases: &[([u8; 32], Vec<u8>, [u8; 64])]) -> usize {
        let mut accepted = 0;
        for (i, (pk, msg, sig)) in cases.iter().enumerate() {
            let (theirs, ours) = (ring(pk, msg, sig), verifies(pk, msg, sig));
            assert_eq!(theirs, ours, "case {i}: key {pk:02x?} signature {sig:02x?}");
            accepted += usize::from(ours);
        }
        accepted
    }

    /// Valid signatures, and each altered in one bit of its signature, key or message.
    #[test]
    fn agrees_with_ring_on_valid_and_altered_signatures() {
        let mut cases = Vec::new();
        for i in 0..64u64 {
            let key = SigningKey::from_seed(&bytes(i)[..32].try_into().unwrap()).unwrap();
            let msg = bytes(1_000 + i).to_vec();
            let sig = key.sign(&msg);
            let pk = key.public_key();
            cases.push((pk, msg.clone(), sig));
            let r = bytes(2_000 + i);
            let (bit, byte) = (r[0] % 8, usize::from(r[1]));
            let mut s = sig;
            s[byte % 64] ^= 1 << bit;
            cases.push((pk, msg.clone(), s));
            let mut k = pk;
            k[byte % 32] ^= 1 << bit;
            cases.push((k, msg.clone(), sig));
            let mut m = msg;
            m[byte % 64] ^= 1 << bit;
            cases.push((pk, m, sig));
        }
        assert_eq!(compare(&cases), 64);
    }

    /// `S` not below the group order `L`, small-order keys and `R`s, and a non-canonical `R`:
    /// where implementations are known to differ, these two do not.
    #[test]
    fn agrees_with_ring_on_edge_cases() {
        // L = 2^252 + 27742317777372353535851937790883648493, little-endian.
        const L: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let identity = {
            let mut p = [0u8; 32];
            p[0] = 1;
            p
        };
        // y = -1: the point of order 2.
        let order_two = {
            let mut p = [0xff; 32];
            p[0] = 0xec;
            p[31] = 0x7f;
            p
        };
        // y = p + 1: the identity, spelled non-canonically.
        let identity_again = {
            let mut p = [0xff; 32];
            p[0] = 0xee;
            p[31] = 0x7f;
            p
        };
        let mut cases = Vec::new();
        // S + L for a valid signature: refused by both.
        let key = SigningKey::from_seed(&[7; 32]).unwrap();
        let msg = b"S must be below L".to_vec();
        let sig = key.sign(&msg);
        let mut s_plus_l = sig;
        let mut carry = 0u16;
        for j in 0..32 {
            let sum = u16::from(sig[32 + j]) + u16::from(L[j]) + carry;
            s_plus_l[32 + j] = sum as u8;
            carry = sum >> 8;
        }
        cases.push((key.public_key(), msg.clone(), s_plus_l));
        // A small-order key with R the identity and S = 0: [0]B = I + [k]A holds whenever
        // [k]A is the identity, for every key of order 1, and for the order-2 key when k is
        // even; a non-canonical R never matches the encoding of the point computed.
        for i in 0..32u64 {
            let msg = bytes(3_000 + i).to_vec();
            for key in [identity, order_two, identity_again] {
                for r in [identity, identity_again, order_two] {
                    let mut sig = [0u8; 64];
                    sig[..32].copy_from_slice(&r);
                    cases.push((key, msg.clone(), sig));
                }
            }
        }
        // Random 64 bytes as signatures under valid keys, S reduced below L.
        for i in 0..64u64 {
            let mut sig = bytes(4_000 + i);
            sig[63] &= 0x0f;
            cases.push((key.public_key(), msg.clone(), sig));
        }
        let accepted = compare(&cases);
        assert!(
            accepted > 32,
            "the small-order cases accept some: {accepted}"
        );
    }

    /// A key that is not a curve point is refused, and is not kept.
    #[test]
    fn a_key_off_the_curve_is_refused() {
        let off = (0u8..=255)
            .map(|b| [b; 32])
            .find(|bytes| VerifyingKey::from_bytes(bytes).is_err())
            .expect("some repeated byte is not a point's encoding");
        assert!(key(&off).is_none());
        assert!(!KEYS.read().unwrap().contains_key(&off));
        assert!(!verifies(&off, b"m", &[0; 64]));
        assert!(!ring(&off, b"m", &[0; 64]));
    }
}
