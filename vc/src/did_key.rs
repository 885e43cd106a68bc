//! The `did:key` method (Ed25519 only) and verification-method resolution.
//!
//! A did:key DID is the public key itself, `did:key:{multibase}`, so it needs no registry or
//! network lookup; its one verification method is `did:key:{mb}#{mb}`. Verification methods
//! that are plain URLs whose fragment is a Multikey (`https://issuer.example/keys#z6Mk…`, the
//! form used by earlier vc-di-eddsa test vectors) are decoded the same way. Anything else
//! (`https://…#key-1`, `did:web:…`) is left to the caller, who looks it up in its trust bundle.
//!
//! Decoding a key out of the identifier only says *which* key signed; whether that key is
//! trusted to speak for the credential's issuer is the caller's decision.

use crate::VcError;
use crate::multibase::{ed25519_to_multibase, multibase_to_ed25519};

pub const DID_KEY_PREFIX: &str = "did:key:";

/// `did:key:z6Mk…` for an Ed25519 public key.
pub fn did_from_ed25519(pk: &[u8; 32]) -> String {
    format!("{DID_KEY_PREFIX}{}", ed25519_to_multibase(pk))
}

/// `did:key:z6Mk…#z6Mk…`, the verification method id of an Ed25519 did:key.
pub fn verification_method_from_ed25519(pk: &[u8; 32]) -> String {
    let mb = ed25519_to_multibase(pk);
    format!("{DID_KEY_PREFIX}{mb}#{mb}")
}

/// Gets the Ed25519 public key named by a verification method id, when the id carries it.
///
/// - `did:key:{mb}#{mb}` gives the key; a missing or different fragment, or a non-Ed25519
///   did:key, is an error (such a proof can never verify, so say so rather than look it up).
/// - Any other URL whose fragment decodes as an Ed25519 Multikey gives that key.
/// - Anything else is `Ok(None)`: the caller resolves it from configuration.
pub fn resolve_verification_method(vm: &str) -> Result<Option<[u8; 32]>, VcError> {
    let (base, fragment) = match vm.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (vm, None),
    };
    if let Some(mb) = base.strip_prefix(DID_KEY_PREFIX) {
        let key = multibase_to_ed25519(mb)
            .map_err(|e| VcError::VerificationMethod(format!("{vm}: {e}")))?;
        return match fragment {
            Some(f) if f == mb => Ok(Some(key)),
            _ => Err(VcError::VerificationMethod(format!(
                "{vm}: a did:key verification method must be did:key:{{key}}#{{key}}"
            ))),
        };
    }
    Ok(fragment.and_then(|f| multibase_to_ed25519(f).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: &str = "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2";

    #[test]
    fn did_key_round_trip() {
        let pk = multibase_to_ed25519(MB).unwrap();
        assert_eq!(did_from_ed25519(&pk), format!("did:key:{MB}"));
        let vm = verification_method_from_ed25519(&pk);
        assert_eq!(vm, format!("did:key:{MB}#{MB}"));
        assert_eq!(resolve_verification_method(&vm).unwrap(), Some(pk));
    }

    #[test]
    fn did_key_fragment_must_match() {
        let other = ed25519_to_multibase(&[9u8; 32]);
        for vm in [
            format!("did:key:{MB}"),
            format!("did:key:{MB}#"),
            format!("did:key:{MB}#key-1"),
            format!("did:key:{MB}#{other}"),
        ] {
            let err = resolve_verification_method(&vm).unwrap_err();
            assert_eq!(err.code(), "proof.verification_method", "{vm}");
        }
    }

    #[test]
    fn did_key_must_be_ed25519() {
        // A P-256 did:key (ECDSA) cannot verify an EdDSA proof.
        let p256 = "zDnaegE6RR3atJtHKwTRTWHsJ3kNHqFwv7n9YjTgmU7TyfU76";
        assert!(resolve_verification_method(&format!("did:key:{p256}#{p256}")).is_err());
    }

    #[test]
    fn url_with_multikey_fragment() {
        let pk = multibase_to_ed25519(MB).unwrap();
        let vm = format!("https://vc.example/issuers/5678#{MB}");
        assert_eq!(resolve_verification_method(&vm).unwrap(), Some(pk));
    }

    #[test]
    fn other_identifiers_are_left_to_the_caller() {
        for vm in [
            "https://issuer.example/keys#key-1",
            "https://issuer.example/keys",
            "did:web:issuer.example#key-1",
            "https://issuer.example/keys#z6MkNotAKey",
            "",
        ] {
            assert_eq!(resolve_verification_method(vm).unwrap(), None, "{vm}");
        }
    }
}
