//! Ed25519 signing keys (RFC 8032), backed by ring.
//!
//! Keys are stored as PKCS#8 v2 DER, which is what ring writes and the only form its
//! `from_pkcs8` accepts; the gateway keeps those bytes in a file next to a text file with the
//! key's `did`. `from_seed` exists for the published test vectors, which give the raw 32-byte
//! seed rather than PKCS#8.

use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};

use crate::VcError;
use crate::did_key::{did_from_ed25519, verification_method_from_ed25519};

/// An Ed25519 private key able to sign proofs.
#[derive(Debug)]
pub struct SigningKey {
    // ring's Debug for the pair prints only the public key, so deriving Debug leaks nothing.
    pair: Ed25519KeyPair,
    // Both are base58 of the public key, quadratic to compute and asked for on every
    // signature: made once.
    did: String,
    verification_method: String,
}

impl SigningKey {
    /// Generates a new key; also returns its PKCS#8 v2 DER bytes to be stored.
    pub fn generate() -> Result<(SigningKey, Vec<u8>), VcError> {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| VcError::Key("random number generator failed".into()))?;
        let key = Self::from_pkcs8(pkcs8.as_ref())?;
        Ok((key, pkcs8.as_ref().to_vec()))
    }

    /// Loads a key from PKCS#8 v2 DER (as written by [`SigningKey::generate`]).
    pub fn from_pkcs8(der: &[u8]) -> Result<SigningKey, VcError> {
        Ed25519KeyPair::from_pkcs8(der)
            .map(SigningKey::new)
            .map_err(|e| VcError::Key(format!("PKCS#8 rejected: {e}")))
    }

    /// Builds a key from a raw 32-byte RFC 8032 seed (test vectors).
    pub fn from_seed(seed: &[u8; 32]) -> Result<SigningKey, VcError> {
        Ed25519KeyPair::from_seed_unchecked(seed)
            .map(SigningKey::new)
            .map_err(|e| VcError::Key(format!("seed rejected: {e}")))
    }

    fn new(pair: Ed25519KeyPair) -> SigningKey {
        let public: [u8; 32] = pair
            .public_key()
            .as_ref()
            .try_into()
            .expect("ring Ed25519 public keys are 32 bytes");
        SigningKey {
            pair,
            did: did_from_ed25519(&public),
            verification_method: verification_method_from_ed25519(&public),
        }
    }

    /// The 32-byte Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.pair
            .public_key()
            .as_ref()
            .try_into()
            .expect("ring Ed25519 public keys are 32 bytes")
    }

    /// `did:key:z6Mk…` of this key.
    pub fn did(&self) -> String {
        self.did.clone()
    }

    /// `did:key:z6Mk…#z6Mk…`, the verification method to put in proofs.
    pub fn verification_method(&self) -> String {
        self.verification_method.clone()
    }

    /// [`SigningKey::verification_method`] without a copy.
    pub fn verification_method_str(&self) -> &str {
        &self.verification_method
    }

    /// Signs `msg` with pure Ed25519 (deterministic: same key and message, same signature).
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.pair
            .sign(msg)
            .as_ref()
            .try_into()
            .expect("Ed25519 signatures are 64 bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{ED25519, UnparsedPublicKey};

    #[test]
    fn generate_store_load_sign() {
        let (key, pkcs8) = SigningKey::generate().unwrap();
        let loaded = SigningKey::from_pkcs8(&pkcs8).unwrap();
        assert_eq!(key.public_key(), loaded.public_key());
        assert_eq!(key.did(), loaded.did());
        assert!(key.did().starts_with("did:key:z6Mk"));
        assert_eq!(
            key.verification_method(),
            format!("{}#{}", key.did(), &key.did()[8..])
        );

        let sig = loaded.sign(b"hello");
        assert_eq!(sig, key.sign(b"hello"));
        let pk = UnparsedPublicKey::new(&ED25519, key.public_key());
        assert!(pk.verify(b"hello", &sig).is_ok());
        assert!(pk.verify(b"hellp", &sig).is_err());
    }

    #[test]
    fn rejects_garbage_pkcs8() {
        let err = SigningKey::from_pkcs8(b"not a key").unwrap_err();
        assert_eq!(err.code(), "key.invalid");
    }

    /// RFC 8032 section 7.1, TEST 1: seed, public key and the signature of the empty message.
    #[test]
    fn rfc8032_test_1() {
        let seed: [u8; 32] =
            hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                .unwrap()
                .try_into()
                .unwrap();
        let key = SigningKey::from_seed(&seed).unwrap();
        assert_eq!(
            hex::encode(key.public_key()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        assert_eq!(
            hex::encode(key.sign(b"")),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
    }
}
