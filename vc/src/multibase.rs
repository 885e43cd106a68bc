//! Multibase base58btc and the multicodec Ed25519 public-key header.
//!
//! Data Integrity writes keys and signatures as multibase strings: a one-character base
//! prefix (`z` = base58btc, Bitcoin alphabet) followed by the encoded bytes. An Ed25519
//! public key ("Multikey", `publicKeyMultibase`) is the multicodec `ed25519-pub` code 0xed,
//! unsigned-varint encoded as the two bytes `0xed 0x01`, followed by the 32 raw key bytes;
//! that header is why every such key starts `z6Mk`. Anything else is rejected: the
//! vc-di-eddsa spec requires errors for other codecs so that a private key (`0x1300`) is never
//! mistaken for a public one.

use crate::VcError;
use std::collections::HashMap;
use std::sync::Mutex;

/// Multicodec `ed25519-pub` (0xed) as an unsigned varint.
const ED25519_PUB_HEADER: [u8; 2] = [0xed, 0x01];

/// Multibase prefix for base58btc.
const BASE58BTC: char = 'z';

/// Encodes bytes as multibase base58btc (`z…`).
pub fn encode_base58btc(bytes: &[u8]) -> String {
    format!("{BASE58BTC}{}", bs58::encode(bytes).into_string())
}

/// Decodes a multibase base58btc string (`z…`); any other base is an error.
pub fn decode_base58btc(s: &str) -> Result<Vec<u8>, VcError> {
    let body = s
        .strip_prefix(BASE58BTC)
        .ok_or_else(|| VcError::Multibase(format!("expected base58btc prefix 'z' in {s:?}")))?;
    bs58::decode(body)
        .into_vec()
        .map_err(|e| VcError::Multibase(format!("bad base58btc: {e}")))
}

/// Encodes a 64-byte signature as multibase base58btc: the same text as [`encode_base58btc`],
/// by a codec for fixed 64-byte values (a proofValue is written on every signature).
pub fn encode_signature(signature: &[u8; 64]) -> String {
    let mut buf = [0u8; five8::BASE58_ENCODED_64_MAX_LEN];
    let len = five8::encode_64(signature, &mut buf) as usize;
    let mut out = String::with_capacity(len + 1);
    out.push(BASE58BTC);
    // The alphabet is ASCII.
    out.extend(buf[..len].iter().map(|&b| b as char));
    out
}

/// Decodes a multibase base58btc string that must hold exactly 64 bytes (a signature);
/// errors are [`decode_base58btc`]'s, or say how many bytes it held.
pub fn decode_signature(s: &str) -> Result<[u8; 64], VcError> {
    let mut out = [0u8; 64];
    if let Some(body) = s.strip_prefix(BASE58BTC)
        && five8::decode_64(body, &mut out).is_ok()
    {
        return Ok(out);
    }
    // Not a 64-byte value: the general codec says why.
    let bytes = decode_base58btc(s)?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| VcError::Multibase(format!("{} bytes, a signature is 64", b.len())))
}

/// Encodes an Ed25519 public key as a Multikey `publicKeyMultibase` (`z6Mk…`).
pub fn ed25519_to_multibase(pk: &[u8; 32]) -> String {
    let mut bytes = Vec::with_capacity(ED25519_PUB_HEADER.len() + pk.len());
    bytes.extend_from_slice(&ED25519_PUB_HEADER);
    bytes.extend_from_slice(pk);
    encode_base58btc(&bytes)
}

/// Keys decoded before: a verification reads the issuer's key and every log key of the trust
/// bundle, the same few keys each time, and base58 decoding costs a microsecond each. Only
/// good keys are kept, and at most [`KEYS_HELD`], so keys sent by anyone cannot grow it.
static KEYS: Mutex<Option<HashMap<Box<str>, [u8; 32]>>> = Mutex::new(None);
const KEYS_HELD: usize = 4096;

/// Decodes a `z6Mk…` Multikey into the 32 raw Ed25519 public-key bytes.
pub fn multibase_to_ed25519(s: &str) -> Result<[u8; 32], VcError> {
    let keys = || KEYS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(key) = keys().as_ref().and_then(|m| m.get(s)) {
        return Ok(*key);
    }
    let key = decode_ed25519(s)?;
    let mut held = keys();
    let held = held.get_or_insert_with(HashMap::new);
    if held.len() >= KEYS_HELD {
        held.clear();
    }
    held.insert(s.into(), key);
    Ok(key)
}

fn decode_ed25519(s: &str) -> Result<[u8; 32], VcError> {
    let bytes = decode_base58btc(s)?;
    let key = bytes
        .strip_prefix(&ED25519_PUB_HEADER)
        .ok_or_else(|| VcError::Multibase("multicodec is not ed25519-pub (0xed01)".into()))?;
    key.try_into()
        .map_err(|_| VcError::Multibase(format!("Ed25519 key has {} bytes, not 32", key.len())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The public key of the vc-di-eddsa test vectors (Appendix B).
    const SPEC_KEY: &str = "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2";

    #[test]
    fn round_trip() {
        let pk = multibase_to_ed25519(SPEC_KEY).unwrap();
        assert_eq!(ed25519_to_multibase(&pk), SPEC_KEY);
        assert!(ed25519_to_multibase(&[0u8; 32]).starts_with("z6Mk"));
    }

    /// A key read again comes from the held keys with the same bytes; a bad one is never
    /// held; however many keys are read, at most `KEYS_HELD` are kept.
    #[test]
    fn held_keys_answer_as_decoding_does() {
        let first = multibase_to_ed25519(SPEC_KEY).unwrap();
        assert_eq!(multibase_to_ed25519(SPEC_KEY).unwrap(), first);
        assert_eq!(decode_ed25519(SPEC_KEY).unwrap(), first);
        for i in 0..(KEYS_HELD as u32 + 10) {
            let mut pk = [7u8; 32];
            pk[..4].copy_from_slice(&i.to_be_bytes());
            assert_eq!(
                multibase_to_ed25519(&ed25519_to_multibase(&pk)).unwrap(),
                pk
            );
        }
        let held = KEYS.lock().unwrap().as_ref().map_or(0, HashMap::len);
        assert!((1..=KEYS_HELD).contains(&held), "{held} keys held");
        let flickr = SPEC_KEY.replacen('z', "Z", 1);
        assert!(multibase_to_ed25519(&flickr).is_err());
        assert!(multibase_to_ed25519(&flickr).is_err());
    }

    #[test]
    fn rejects_wrong_prefix() {
        // Same bytes, but claimed as base58flickr ('Z') or with no prefix at all.
        let flickr = SPEC_KEY.replacen('z', "Z", 1);
        assert_eq!(
            multibase_to_ed25519(&flickr).unwrap_err().code(),
            "key.multibase"
        );
        assert!(multibase_to_ed25519(&SPEC_KEY[1..]).is_err());
        assert!(multibase_to_ed25519("").is_err());
        // '0', 'O', 'I', 'l' are not in the base58 alphabet.
        assert!(multibase_to_ed25519("z6Mk0OIl").is_err());
    }

    #[test]
    fn rejects_wrong_codec() {
        // The spec's secretKeyMultibase: multicodec ed25519-priv (0x1300 = 0x80 0x26).
        let secret = "z3u2en7t5LR2WtQH5PfFqMqwVHBeXouLzo6haApm8XHqvjxq";
        assert_eq!(decode_base58btc(secret).unwrap()[..2], [0x80, 0x26]);
        assert!(multibase_to_ed25519(secret).is_err());
        // A P-256 key (0x1200) as used by ECDSA did:keys.
        let mut p256 = vec![0x80, 0x24];
        p256.extend_from_slice(&[2u8; 33]);
        assert!(multibase_to_ed25519(&encode_base58btc(&p256)).is_err());
    }

    #[test]
    fn rejects_wrong_length() {
        for len in [0usize, 31, 33, 64] {
            let mut bytes = ED25519_PUB_HEADER.to_vec();
            bytes.extend(std::iter::repeat_n(7u8, len));
            assert!(
                multibase_to_ed25519(&encode_base58btc(&bytes)).is_err(),
                "len {len}"
            );
        }
    }

    /// The fixed-size codec writes and reads exactly what the general one does, leading zero
    /// bytes (`1`s) included, and refuses what does not hold 64 bytes with the general reason.
    #[test]
    fn signatures_match_the_general_codec() {
        let mut values = vec![[0u8; 64], [0xff; 64]];
        for seed in 0..200u32 {
            let d1 = ring::digest::digest(&ring::digest::SHA256, &seed.to_be_bytes());
            let d2 = ring::digest::digest(&ring::digest::SHA256, d1.as_ref());
            let mut v = [0u8; 64];
            v[..32].copy_from_slice(d1.as_ref());
            v[32..].copy_from_slice(d2.as_ref());
            v[..(seed % 5) as usize].fill(0); // leading zero bytes
            values.push(v);
        }
        for v in values {
            let text = encode_signature(&v);
            assert_eq!(text, encode_base58btc(&v));
            assert_eq!(decode_signature(&text).unwrap(), v);
        }
        for bytes in [vec![1u8; 63], vec![1u8; 65], vec![0u8; 64 + 1], vec![]] {
            let err = decode_signature(&encode_base58btc(&bytes)).unwrap_err();
            assert!(err.to_string().contains("a signature is 64"), "{err}");
        }
        for bad in ["", "x", "z0OIl", "zzz"] {
            assert!(decode_signature(bad).is_err(), "{bad}");
        }
    }
}
