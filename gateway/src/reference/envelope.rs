//! One published version of reference data, as it travels down the tree: kind, version
//! number, effective date, the retroactive flag, the body, and an Ed25519 signature by the
//! province trust root over the RFC 8785 form of everything else. Intermediate nodes pass the
//! envelope on unchanged, so every node checks the province's signature itself
//! (`schemas/reference-version.v1.schema.json`).

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Reference data kinds published top-down.
pub const KINDS: &[&str] = &[
    "catalog",
    "regions",
    "trust_bundle",
    "purposes",
    "grants",
    "crl",
];

/// How far in the past a non-retroactive version's effective date may lie when published
/// (clock differences, the time to type the command).
const PUBLISH_GRACE_SECS: i64 = 300;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    #[serde(rename = "type")]
    pub type_: String,
    pub kind: String,
    pub version: i64,
    pub effective_from: DateTime<FixedOffset>,
    /// A correction that also applies to records that occurred before it was published.
    pub retroactive: bool,
    pub published_at: DateTime<Utc>,
    /// The region of the node where it was published (the province).
    pub publisher: String,
    /// Hex SHA-256 of the RFC 8785 form of `body`.
    pub content_hash: String,
    pub body: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<Signature>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// The trust root's did:key.
    pub key: String,
    /// Hex Ed25519 signature.
    pub value: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("not a reference version envelope: {0}")]
    Shape(String),
    #[error(
        "unknown reference kind '{0}' (known: catalog, regions, trust_bundle, purposes, grants, crl)"
    )]
    Kind(String),
    #[error("content_hash does not match the body")]
    Hash,
    #[error("not signed by the trust root {0}")]
    Signature(String),
    #[error(
        "effective_from {effective} is before publication ({published}); a version that changes the past must be marked retroactive"
    )]
    NotRetroactive {
        effective: DateTime<FixedOffset>,
        published: DateTime<Utc>,
    },
    #[error("the {kind} body does not load: {why}")]
    Body { kind: String, why: String },
}

impl EnvelopeError {
    /// Stable code for logs, metrics and problem details.
    pub fn code(&self) -> &'static str {
        match self {
            EnvelopeError::Shape(_) => "reference.bad_envelope",
            EnvelopeError::Kind(_) => "reference.unknown_kind",
            EnvelopeError::Hash => "reference.bad_hash",
            EnvelopeError::Signature(_) => "reference.bad_signature",
            EnvelopeError::NotRetroactive { .. } => "reference.not_retroactive",
            EnvelopeError::Body { .. } => "reference.bad_body",
        }
    }
}

fn hash_hex(body: &Value) -> Result<String, EnvelopeError> {
    let bytes = vc::jcs::canonicalize(body).map_err(|e| EnvelopeError::Shape(e.to_string()))?;
    Ok(hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        &bytes,
    )))
}

impl Envelope {
    /// An unsigned envelope for `body`.
    pub fn new(
        kind: &str,
        version: i64,
        effective_from: DateTime<FixedOffset>,
        retroactive: bool,
        publisher: &str,
        body: Value,
    ) -> Result<Envelope, EnvelopeError> {
        if !KINDS.contains(&kind) {
            return Err(EnvelopeError::Kind(kind.to_owned()));
        }
        Ok(Envelope {
            type_: "ReferenceVersion".into(),
            kind: kind.to_owned(),
            version,
            effective_from,
            retroactive,
            published_at: Utc::now(),
            publisher: publisher.to_owned(),
            content_hash: hash_hex(&body)?,
            body,
            signature: None,
        })
    }

    /// The bytes the signature covers: the RFC 8785 form without `signature`.
    fn signed_bytes(&self) -> Result<Vec<u8>, EnvelopeError> {
        let mut unsigned = self.clone();
        unsigned.signature = None;
        let value = serde_json::to_value(&unsigned).expect("serializes");
        vc::jcs::canonicalize(&value).map_err(|e| EnvelopeError::Shape(e.to_string()))
    }

    pub fn sign(mut self, root: &vc::SigningKey) -> Result<Envelope, EnvelopeError> {
        let bytes = self.signed_bytes()?;
        self.signature = Some(Signature {
            key: root.did(),
            value: hex::encode(root.sign(&bytes)),
        });
        Ok(self)
    }

    /// Parse and check an envelope: shape, kind, hash, the root's signature, the retroactive
    /// rule, and that the body loads as its kind.
    pub fn verify(json: &Value, root_did: &str) -> Result<Envelope, EnvelopeError> {
        let env: Envelope = serde_json::from_value(json.clone())
            .map_err(|e| EnvelopeError::Shape(e.to_string()))?;
        if env.type_ != "ReferenceVersion" || env.version < 1 {
            return Err(EnvelopeError::Shape(
                "type must be ReferenceVersion and version at least 1".into(),
            ));
        }
        if !KINDS.contains(&env.kind.as_str()) {
            return Err(EnvelopeError::Kind(env.kind));
        }
        if hash_hex(&env.body)? != env.content_hash {
            return Err(EnvelopeError::Hash);
        }
        let bad_signature = || EnvelopeError::Signature(root_did.to_owned());
        let signature = env.signature.as_ref().ok_or_else(bad_signature)?;
        let fragment = root_did.trim_start_matches("did:key:");
        let public_key =
            vc::did_key::resolve_verification_method(&format!("{root_did}#{fragment}"))
                .ok()
                .flatten()
                .ok_or_else(bad_signature)?;
        let sig = hex::decode(&signature.value).map_err(|_| bad_signature())?;
        let signed = env.signed_bytes()?;
        if signature.key != root_did
            || ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public_key)
                .verify(&signed, &sig)
                .is_err()
        {
            return Err(bad_signature());
        }
        env.check_retroactive()?;
        super::Loaded::from_envelope(&env, root_did)?;
        Ok(env)
    }

    /// A version that is not marked retroactive takes effect at or after its publication.
    pub fn check_retroactive(&self) -> Result<(), EnvelopeError> {
        let grace = chrono::Duration::seconds(PUBLISH_GRACE_SECS);
        if !self.retroactive && self.effective_from < self.published_at - grace {
            return Err(EnvelopeError::NotRetroactive {
                effective: self.effective_from,
                published: self.published_at,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn catalog() -> Value {
        serde_json::from_str(domain::catalog::BUNDLED_JSON).unwrap()
    }

    fn signed(root: &vc::SigningKey, effective: DateTime<FixedOffset>, retro: bool) -> Value {
        let env = Envelope::new("catalog", 1, effective, retro, "620000000000", catalog())
            .unwrap()
            .sign(root)
            .unwrap();
        serde_json::to_value(env).unwrap()
    }

    #[test]
    fn a_signed_envelope_verifies_and_matches_its_schema() {
        let (root, _) = vc::SigningKey::generate().unwrap();
        let json = signed(&root, Utc::now().fixed_offset(), false);
        let env = Envelope::verify(&json, &root.did()).unwrap();
        assert_eq!((env.kind.as_str(), env.version), ("catalog", 1));
        let schema = domain::schema::JsonSchema::compile(include_str!(
            "../../../schemas/reference-version.v1.schema.json"
        ))
        .unwrap();
        assert_eq!(schema.errors(&json), vec![]);
    }

    #[test]
    fn tampering_another_root_and_unknown_kinds_are_refused() {
        let (root, _) = vc::SigningKey::generate().unwrap();
        let (other, _) = vc::SigningKey::generate().unwrap();
        let json = signed(&root, Utc::now().fixed_offset(), false);
        let code = |v: &Value, did: &str| Envelope::verify(v, did).unwrap_err().code();
        assert_eq!(code(&json, &other.did()), "reference.bad_signature");
        let mut body = json.clone();
        body["body"]["catalog_version"] = json!("forged");
        assert_eq!(code(&body, &root.did()), "reference.bad_hash");
        // Re-hashed after the change: the signature no longer covers it.
        let rehashed: Envelope = serde_json::from_value(body).unwrap();
        let mut rehashed = serde_json::to_value(Envelope {
            content_hash: hash_hex(&rehashed.body).unwrap(),
            ..rehashed
        })
        .unwrap();
        assert_eq!(code(&rehashed, &root.did()), "reference.bad_signature");
        rehashed["kind"] = json!("calendar");
        assert_eq!(code(&rehashed, &root.did()), "reference.unknown_kind");
        let mut unsigned = json.clone();
        unsigned.as_object_mut().unwrap().remove("signature");
        assert_eq!(code(&unsigned, &root.did()), "reference.bad_signature");
        assert_eq!(
            code(&json!({"kind": "catalog"}), &root.did()),
            "reference.bad_envelope"
        );
    }

    #[test]
    fn only_a_retroactive_version_takes_effect_before_its_publication() {
        let (root, _) = vc::SigningKey::generate().unwrap();
        let past = DateTime::parse_from_rfc3339("2026-01-01T00:00:00+08:00").unwrap();
        let json = signed(&root, past, false);
        assert_eq!(
            Envelope::verify(&json, &root.did()).unwrap_err().code(),
            "reference.not_retroactive"
        );
        assert!(Envelope::verify(&signed(&root, past, true), &root.did()).is_ok());
        let future = Utc::now().fixed_offset() + chrono::Duration::days(30);
        assert!(Envelope::verify(&signed(&root, future, false), &root.did()).is_ok());
    }

    #[test]
    fn a_body_that_does_not_load_as_its_kind_is_refused() {
        let (root, _) = vc::SigningKey::generate().unwrap();
        let env = Envelope::new(
            "regions",
            1,
            Utc::now().fixed_offset(),
            false,
            "620000000000",
            json!([{"code": "nonsense"}]),
        )
        .unwrap()
        .sign(&root)
        .unwrap();
        let json = serde_json::to_value(env).unwrap();
        assert_eq!(
            Envelope::verify(&json, &root.did()).unwrap_err().code(),
            "reference.bad_body"
        );
    }
}
