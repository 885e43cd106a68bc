//! Tests of eddsa-jcs-2022 against the specification's published vector (vc-di-eddsa,
//! W3C Recommendation 2025-05-15, Appendix B.3 "Representation: eddsa-jcs-2022",
//! Examples 29-39), then tampering, key, context and canonicalization cases.

use super::*;
use crate::multibase::{decode_base58btc, encode_base58btc};
use serde_json::json;

/// Example 29: the key pair of all vc-di-eddsa test vectors.
const SPEC_PUBLIC_KEY_MULTIBASE: &str = "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2";
const SPEC_SECRET_KEY_MULTIBASE: &str = "z3u2en7t5LR2WtQH5PfFqMqwVHBeXouLzo6haApm8XHqvjxq";
const SPEC_VM: &str = "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2#z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2";

/// Example 30: credential without proof.
const SPEC_UNSECURED: &str = r#"{
    "@context": [
        "https://www.w3.org/ns/credentials/v2",
        "https://www.w3.org/ns/credentials/examples/v2"
    ],
    "id": "urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33",
    "type": ["VerifiableCredential", "AlumniCredential"],
    "name": "Alumni Credential",
    "description": "A minimum viable example of an Alumni Credential.",
    "issuer": "https://vc.example/issuers/5678",
    "validFrom": "2023-01-01T00:00:00Z",
    "credentialSubject": {
        "id": "did:example:abcdefgh",
        "alumniOf": "The School of Examples"
    }
}"#;

/// Example 31: canonical credential without proof.
const SPEC_CANONICAL_DOC: &str = r#"{"@context":["https://www.w3.org/ns/credentials/v2","https://www.w3.org/ns/credentials/examples/v2"],"credentialSubject":{"alumniOf":"The School of Examples","id":"did:example:abcdefgh"},"description":"A minimum viable example of an Alumni Credential.","id":"urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33","issuer":"https://vc.example/issuers/5678","name":"Alumni Credential","type":["VerifiableCredential","AlumniCredential"],"validFrom":"2023-01-01T00:00:00Z"}"#;
/// Example 32.
const SPEC_DOC_HASH: &str = "59b7cb6251b8991add1ce0bc83107e3db9dbbab5bd2c28f687db1a03abc92f19";
/// Example 34: canonical proof options document.
const SPEC_CANONICAL_CONFIG: &str = r#"{"@context":["https://www.w3.org/ns/credentials/v2","https://www.w3.org/ns/credentials/examples/v2"],"created":"2023-02-24T23:36:38Z","cryptosuite":"eddsa-jcs-2022","proofPurpose":"assertionMethod","type":"DataIntegrityProof","verificationMethod":"did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2#z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"}"#;
/// Example 35.
const SPEC_CONFIG_HASH: &str = "66ab154f5c2890a140cb8388a22a160454f80575f6eae09e5a097cabe539a1db";
/// Example 36: proof-options hash first, then document hash.
const SPEC_COMBINED_HASH: &str = "66ab154f5c2890a140cb8388a22a160454f80575f6eae09e5a097cabe539a1db59b7cb6251b8991add1ce0bc83107e3db9dbbab5bd2c28f687db1a03abc92f19";
/// Example 37.
const SPEC_SIGNATURE_HEX: &str = "407cd12654b33d718ecbb99179a1506daaa849450bf3fc523cce3e1c96f8b80351da3f253d725c6f00b07c9e5448d50b3ef78012b9ab54255116d069c6dd2808";
/// Example 38.
const SPEC_PROOF_VALUE: &str =
    "z2HnFSSPPBzR36zdDgK8PbEHeXbR56YF24jwMpt3R1eHXQzJDMWS93FCzpvJpwTWd3GAVFuUfjoJdcnTMuVor51aX";

/// Example 39: the signed credential.
const SPEC_SIGNED: &str = r#"{
  "@context": [
    "https://www.w3.org/ns/credentials/v2",
    "https://www.w3.org/ns/credentials/examples/v2"
  ],
  "id": "urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33",
  "type": [
    "VerifiableCredential",
    "AlumniCredential"
  ],
  "name": "Alumni Credential",
  "description": "A minimum viable example of an Alumni Credential.",
  "issuer": "https://vc.example/issuers/5678",
  "validFrom": "2023-01-01T00:00:00Z",
  "credentialSubject": {
    "id": "did:example:abcdefgh",
    "alumniOf": "The School of Examples"
  },
  "proof": {
    "type": "DataIntegrityProof",
    "cryptosuite": "eddsa-jcs-2022",
    "created": "2023-02-24T23:36:38Z",
    "verificationMethod": "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2#z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2",
    "proofPurpose": "assertionMethod",
    "@context": [
      "https://www.w3.org/ns/credentials/v2",
      "https://www.w3.org/ns/credentials/examples/v2"
    ],
    "proofValue": "z2HnFSSPPBzR36zdDgK8PbEHeXbR56YF24jwMpt3R1eHXQzJDMWS93FCzpvJpwTWd3GAVFuUfjoJdcnTMuVor51aX"
  }
}"#;

fn parse(s: &str) -> Value {
    serde_json::from_str(s).unwrap()
}

/// The spec gives the secret key as multibase: multicodec ed25519-priv (0x1300, varint
/// `0x80 0x26`) followed by the 32-byte seed.
fn spec_key() -> SigningKey {
    let bytes = decode_base58btc(SPEC_SECRET_KEY_MULTIBASE).unwrap();
    assert_eq!(bytes[..2], [0x80, 0x26], "ed25519-priv multicodec header");
    let seed: [u8; 32] = bytes[2..].try_into().unwrap();
    SigningKey::from_seed(&seed).unwrap()
}

fn spec_options() -> ProofOptions {
    ProofOptions {
        created: Some("2023-02-24T23:36:38Z".into()),
        ..ProofOptions::new(SPEC_VM)
    }
}

fn no_resolver(_: &str) -> Option<[u8; 32]> {
    None
}

fn code(r: Result<VerifiedProof, VcError>) -> &'static str {
    r.unwrap_err().code()
}

#[test]
fn spec_key_pair() {
    let key = spec_key();
    assert_eq!(
        crate::multibase::ed25519_to_multibase(&key.public_key()),
        SPEC_PUBLIC_KEY_MULTIBASE
    );
    assert_eq!(key.verification_method(), SPEC_VM);
}

#[test]
fn spec_vector_every_step() {
    let key = spec_key();
    let unsecured = parse(SPEC_UNSECURED);

    let transformed = transform(&unsecured).unwrap();
    assert_eq!(
        String::from_utf8(transformed.clone()).unwrap(),
        SPEC_CANONICAL_DOC
    );
    assert_eq!(hex::encode(digest(&SHA256, &transformed)), SPEC_DOC_HASH);

    // Example 33, the proof options with the document's @context copied in (step 2).
    let options = parse(&format!(
        r#"{{"type": "DataIntegrityProof", "cryptosuite": "eddsa-jcs-2022",
            "created": "2023-02-24T23:36:38Z", "verificationMethod": "{SPEC_VM}",
            "proofPurpose": "assertionMethod", "@context": {}}}"#,
        unsecured["@context"]
    ));
    let config =
        proof_configuration(&members_of(options.as_object().unwrap()), "proofValue").unwrap();
    assert_eq!(
        String::from_utf8(config.clone()).unwrap(),
        SPEC_CANONICAL_CONFIG
    );
    assert_eq!(hex::encode(digest(&SHA256, &config)), SPEC_CONFIG_HASH);

    let hash = hash_data(&transformed, &config);
    assert_eq!(hex::encode(hash), SPEC_COMBINED_HASH);
    let signature = key.sign(&hash);
    assert_eq!(hex::encode(signature), SPEC_SIGNATURE_HEX);
    assert_eq!(encode_base58btc(&signature), SPEC_PROOF_VALUE);

    // And the public entry point produces exactly Example 39, field order included.
    let secured = add_proof(&unsecured, &spec_options(), &key).unwrap();
    assert_eq!(secured, parse(SPEC_SIGNED));
    assert_eq!(
        serde_json::to_string_pretty(&secured).unwrap(),
        serde_json::to_string_pretty(&parse(SPEC_SIGNED)).unwrap()
    );
}

#[test]
fn spec_signed_credential_verifies() {
    let verified = verify_proof(&parse(SPEC_SIGNED), no_resolver).unwrap();
    assert_eq!(verified.verification_method, SPEC_VM);
    assert_eq!(
        verified.public_key,
        crate::multibase::multibase_to_ed25519(SPEC_PUBLIC_KEY_MULTIBASE).unwrap()
    );
    assert_eq!(verified.proof_purpose, "assertionMethod");
    assert_eq!(verified.created.as_deref(), Some("2023-02-24T23:36:38Z"));
}

/// An earlier vector from the spec repository (TestVectors/eddsa-jcs-2022/signedJCS.json):
/// same credential and key, but the verification method is an https URL whose fragment is
/// the Multikey.
#[test]
fn spec_repository_vector_with_url_fragment_verification_method() {
    let mut signed = parse(SPEC_SIGNED);
    signed["proof"]["verificationMethod"] = json!(format!(
        "https://vc.example/issuers/5678#{SPEC_PUBLIC_KEY_MULTIBASE}"
    ));
    signed["proof"]["proofValue"] = json!(
        "z63t83Y53KfzJ5ZosfKTnqfMcKB2dmTrfjSaQjeNNjAD5srBowQfmWqeRb8rRjmeEuCBEsddF9LsVogtuTsijJKh4"
    );
    let verified = verify_proof(&signed, no_resolver).unwrap();
    assert_eq!(verified.public_key, spec_key().public_key());
}

/// Replace every string leaf of `v` in turn (one edited copy per leaf) and hand it to `f`.
fn for_each_string_edit(v: &Value, f: &mut dyn FnMut(Value, String)) {
    fn walk(root: &Value, path: &mut Vec<Value>, f: &mut dyn FnMut(Value, String)) {
        let node = path.iter().fold(root, |n, k| match k {
            Value::String(s) => &n[s.as_str()],
            Value::Number(i) => &n[i.as_u64().unwrap() as usize],
            _ => unreachable!(),
        });
        match node {
            Value::Object(m) => {
                for k in m.keys() {
                    path.push(Value::String(k.clone()));
                    walk(root, path, f);
                    path.pop();
                }
            }
            Value::Array(a) => {
                for i in 0..a.len() {
                    path.push(json!(i));
                    walk(root, path, f);
                    path.pop();
                }
            }
            Value::String(s) => {
                // Flip the low bit of the last byte: one changed character.
                let mut bytes = s.clone().into_bytes();
                *bytes.last_mut().unwrap() ^= 1;
                let edited = String::from_utf8(bytes).unwrap();
                let mut copy = root.clone();
                let target = path.iter().fold(&mut copy, |n, k| match k {
                    Value::String(s) => &mut n[s.as_str()],
                    Value::Number(i) => &mut n[i.as_u64().unwrap() as usize],
                    _ => unreachable!(),
                });
                *target = Value::String(edited);
                f(copy, format!("{path:?}"));
            }
            _ => {}
        }
    }
    walk(v, &mut Vec::new(), f);
}

#[test]
fn any_one_character_change_fails() {
    let signed = parse(SPEC_SIGNED);
    let mut count = 0;
    for_each_string_edit(&signed, &mut |edited, path| {
        count += 1;
        let err = verify_proof(&edited, no_resolver).unwrap_err();
        // Document fields and proof options break the signature; an edited @context fails
        // the context rule, cryptosuite/type the suite check, the key the did:key decoding
        // (or the signature), and proofValue the decoding (or the signature).
        let allowed: &[&str] = if path.contains("@context") {
            &["proof.context", "proof.signature"]
        } else if path.contains("cryptosuite")
            || (path.contains("\"type\"") && path.contains("proof"))
        {
            &["proof.cryptosuite"]
        } else if path.contains("verificationMethod") {
            &["proof.verification_method", "proof.signature"]
        } else if path.contains("proofValue") || path.contains("created") {
            &["proof.malformed", "proof.signature"]
        } else {
            &["proof.signature"]
        };
        assert!(allowed.contains(&err.code()), "{path}: {err}");
    });
    assert!(count >= 15, "only {count} edits tried");
}

#[test]
fn changing_or_adding_proof_fields_fails() {
    let signed = parse(SPEC_SIGNED);
    let mut s = signed.clone();
    s["proof"]["proofPurpose"] = json!("authentication");
    assert_eq!(code(verify_proof(&s, no_resolver)), "proof.signature");

    let mut s = signed.clone();
    s["proof"]["created"] = json!("2023-02-24T23:36:39Z");
    assert_eq!(code(verify_proof(&s, no_resolver)), "proof.signature");

    let mut s = signed.clone();
    s["proof"]["challenge"] = json!("abc");
    assert_eq!(code(verify_proof(&s, no_resolver)), "proof.signature");

    let mut s = signed.clone();
    s["proof"].as_object_mut().unwrap().remove("created");
    assert_eq!(code(verify_proof(&s, no_resolver)), "proof.signature");

    let mut s = signed.clone();
    s["proof"]["cryptosuite"] = json!("eddsa-rdfc-2022");
    assert_eq!(code(verify_proof(&s, no_resolver)), "proof.cryptosuite");

    let mut s = signed.clone();
    s["proof"]["type"] = json!("Ed25519Signature2020");
    assert_eq!(code(verify_proof(&s, no_resolver)), "proof.cryptosuite");

    // A member added to the document (not the proof) also breaks the signature.
    let mut s = signed;
    s["extra"] = json!(true);
    assert_eq!(code(verify_proof(&s, no_resolver)), "proof.signature");
}

#[test]
fn wrong_key_fails() {
    let (other, _) = SigningKey::generate().unwrap();
    // The proof names a different did:key.
    let mut s = parse(SPEC_SIGNED);
    s["proof"]["verificationMethod"] = json!(other.verification_method());
    assert_eq!(code(verify_proof(&s, no_resolver)), "proof.signature");

    // A trust-bundle style method resolved to the wrong key.
    let unsecured = parse(SPEC_UNSECURED);
    let vm = "https://issuer.example/keys#key-1";
    let key = spec_key();
    let secured = add_proof(&unsecured, &ProofOptions::new(vm), &key).unwrap();
    let right = key.public_key();
    let wrong = other.public_key();
    let ok = verify_proof(&secured, |m| (m == vm).then_some(right)).unwrap();
    assert_eq!(ok.public_key, right);
    assert_eq!(
        code(verify_proof(&secured, |_| Some(wrong))),
        "proof.signature"
    );
    assert_eq!(
        code(verify_proof(&secured, no_resolver)),
        "proof.verification_method"
    );
}

#[test]
fn resolver_is_not_consulted_for_did_key() {
    // A did:key carries its own key; a resolver answer must not override it.
    let wrong = [1u8; 32];
    assert!(verify_proof(&parse(SPEC_SIGNED), |_| Some(wrong)).is_ok());
}

#[test]
fn malformed_proofs_have_distinct_codes() {
    let signed = parse(SPEC_SIGNED);
    let mut unsecured = signed.clone();
    unsecured.as_object_mut().unwrap().remove("proof");
    assert_eq!(code(verify_proof(&unsecured, no_resolver)), "proof.missing");
    assert_eq!(
        code(verify_proof(&json!([1]), no_resolver)),
        "document.not_object"
    );

    let edits: &[(&str, Value, &str)] = &[
        ("proof", json!([signed["proof"].clone()]), "proof.malformed"),
        ("proof", json!("z2Hn"), "proof.malformed"),
        ("proofValue", Value::Null, "proof.malformed"),
        ("proofValue", json!(42), "proof.malformed"),
        // The signature without its multibase prefix; another base ('u' = base64url); too short.
        (
            "proofValue",
            json!(&SPEC_PROOF_VALUE[1..]),
            "proof.malformed",
        ),
        (
            "proofValue",
            json!("uQH_REmVLM9cY7LuZF5oVBtqqhJRQ"),
            "proof.malformed",
        ),
        ("proofValue", json!("z2HnFSSPPBzR36zd"), "proof.malformed"),
        ("verificationMethod", Value::Null, "proof.malformed"),
        (
            "verificationMethod",
            json!(SPEC_PUBLIC_KEY_MULTIBASE),
            "proof.verification_method",
        ),
        ("proofPurpose", Value::Null, "proof.malformed"),
        ("created", json!("yesterday"), "proof.malformed"),
        ("type", Value::Null, "proof.malformed"),
        ("cryptosuite", Value::Null, "proof.malformed"),
    ];
    for (field, value, want) in edits {
        let mut s = signed.clone();
        if *field == "proof" {
            s["proof"] = value.clone();
        } else if value.is_null() {
            s["proof"].as_object_mut().unwrap().remove(*field);
        } else {
            s["proof"][*field] = value.clone();
        }
        assert_eq!(
            code(verify_proof(&s, no_resolver)),
            *want,
            "{field} = {value}"
        );
    }
}

#[test]
fn context_rule_of_verify_proof_step_4() {
    let signed = parse(SPEC_SIGNED);
    let v2 = "https://www.w3.org/ns/credentials/v2";
    let ex = "https://www.w3.org/ns/credentials/examples/v2";

    // Reordered or shortened document @context: not a prefix match.
    let mut s = signed.clone();
    s["@context"] = json!([ex, v2]);
    assert_eq!(code(verify_proof(&s, no_resolver)), "proof.context");
    let mut s = signed.clone();
    s["@context"] = json!([v2]);
    assert_eq!(code(verify_proof(&s, no_resolver)), "proof.context");
    let mut s = signed.clone();
    s.as_object_mut().unwrap().remove("@context");
    assert_eq!(code(verify_proof(&s, no_resolver)), "proof.context");

    // A context appended after signing: the spec hashes the document with the proof's
    // @context in place of the document's, so this still verifies (it is how proof chains
    // add contexts). Callers that care must check the document's @context themselves.
    let mut s = signed.clone();
    s["@context"] = json!([v2, ex, "https://gateway.example/ns/v1"]);
    assert!(verify_proof(&s, no_resolver).is_ok());

    // Changing the proof's own @context changes the signed proof configuration.
    let mut s = signed;
    s["proof"]["@context"] = json!([v2]);
    assert_eq!(code(verify_proof(&s, no_resolver)), "proof.signature");
}

#[test]
fn documents_without_context_and_string_context() {
    let key = spec_key();
    let vm = key.verification_method();
    // No @context: the proof has none and no context check happens.
    let doc = json!({"certificateId": "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U"});
    let secured = add_proof(&doc, &ProofOptions::new(&vm), &key).unwrap();
    assert!(secured["proof"].get("@context").is_none());
    assert!(secured["proof"].get("created").is_none());
    verify_proof(&secured, no_resolver).unwrap();

    // A single-string @context is copied as a string and matches as a one-item list.
    let doc = json!({"@context": "https://www.w3.org/ns/credentials/v2", "name": "x"});
    let secured = add_proof(&doc, &ProofOptions::new(&vm), &key).unwrap();
    assert_eq!(secured["proof"]["@context"], doc["@context"]);
    verify_proof(&secured, no_resolver).unwrap();
    let mut s = secured;
    s["@context"] = json!([
        "https://www.w3.org/ns/credentials/v2",
        "https://x.example/v1"
    ]);
    verify_proof(&s, no_resolver).unwrap();
}

/// A credential whose canonical form depends on RFC 8785 number formatting and UTF-16 key
/// order. Every spelling below must canonicalize identically.
const JCS_DOC_A: &str = r#"{
  "@context": ["https://www.w3.org/ns/credentials/v2"],
  "type": ["VerifiableCredential"],
  "issuer": "did:example:issuer",
  "credentialSubject": {
    "big": 1e30, "price": 4.50, "rate": 2e-3, "zero": -0,
    "\u00f6": "o-umlaut", "\u20ac": "euro", "\ud83d\ude00": "grinning", "\ufb33": "dalet",
    "名称": "电子证照", "\r": "cr", "1": "one"
  }
}"#;
/// The same JSON data: keys reordered, whitespace removed, numbers and strings spelled
/// differently (1000…0 for 1e30, 4.5, 0.002, 0, literal characters for escapes).
const JCS_DOC_B: &str = "{\"credentialSubject\":{\"\u{fb33}\":\"dalet\",\"1\":\"one\",\
    \"zero\":0,\"\u{1f600}\":\"grinning\",\"rate\":0.002,\"\\u540d\\u79f0\":\"\u{7535}\u{5b50}\u{8bc1}\u{7167}\",\
    \"price\":4.5,\"\\r\":\"cr\",\"big\":1000000000000000000000000000000,\
    \"\u{20ac}\":\"euro\",\"\u{f6}\":\"o-umlaut\"},\"issuer\":\"did:example:issuer\",\
    \"type\":[\"VerifiableCredential\"],\"@context\":[\"https://www.w3.org/ns/credentials/v2\"]}";

#[test]
fn jcs_sensitive_document_round_trip() {
    let (key, _) = SigningKey::generate().unwrap();
    let opts = ProofOptions::new(key.verification_method()).created_now();
    let secured = add_proof(&parse(JCS_DOC_A), &opts, &key).unwrap();
    verify_proof(&secured, no_resolver).unwrap();

    // The canonical bytes are what the RFC prescribes.
    let mut unsecured = secured.clone();
    unsecured.as_object_mut().unwrap().remove("proof");
    let canonical = String::from_utf8(transform(&unsecured).unwrap()).unwrap();
    assert!(canonical.contains(
        "{\"\\r\":\"cr\",\"1\":\"one\",\"big\":1e+30,\"price\":4.5,\"rate\":0.002,\"zero\":0,\
         \"\u{f6}\":\"o-umlaut\",\"\u{20ac}\":\"euro\",\"\u{540d}\u{79f0}\":\"\u{7535}\u{5b50}\u{8bc1}\u{7167}\",\
         \"\u{1f600}\":\"grinning\",\"\u{fb33}\":\"dalet\"}"
    ), "{canonical}");

    // Re-serialized differently (pretty, reordered, respelled): still verifies.
    let pretty = serde_json::to_string_pretty(&secured).unwrap();
    verify_proof(&parse(&pretty), no_resolver).unwrap();
    let mut b = parse(JCS_DOC_B);
    b["proof"] = secured["proof"].clone();
    verify_proof(&b, no_resolver).unwrap();

    // Any value change fails, including ones a lax number comparison might miss.
    let changes: &[(&str, Value)] = &[
        ("big", json!(1e29)),
        ("price", json!(4.51)),
        ("price", json!("4.50")),
        ("rate", json!(0.0020000000000000005)),
        ("zero", json!(1)),
        ("zero", Value::Null),
        ("\u{1f600}", json!("grinning!")),
        ("\u{540d}\u{79f0}", json!("\u{7535}\u{5b50}\u{8bc1}")),
    ];
    for (field, value) in changes {
        let mut s = b.clone();
        s["credentialSubject"][*field] = value.clone();
        assert_eq!(
            code(verify_proof(&s, no_resolver)),
            "proof.signature",
            "{field}"
        );
    }
    // Renaming a key to a different code point that sorts elsewhere also fails.
    let mut s = b.clone();
    let subject = s["credentialSubject"].as_object_mut().unwrap();
    let v = subject.remove("\u{fb33}").unwrap();
    subject.insert("\u{fb34}".into(), v);
    assert_eq!(code(verify_proof(&s, no_resolver)), "proof.signature");
}

#[test]
fn add_proof_rejects_bad_input() {
    let key = spec_key();
    let opts = ProofOptions::new(key.verification_method());
    assert_eq!(
        add_proof(&json!("x"), &opts, &key).unwrap_err().code(),
        "document.not_object"
    );
    assert_eq!(
        add_proof(&parse(SPEC_SIGNED), &opts, &key)
            .unwrap_err()
            .code(),
        "proof.malformed"
    );
    // Naming someone else's did:key would produce a proof that can never verify.
    let (other, _) = SigningKey::generate().unwrap();
    let wrong = ProofOptions::new(other.verification_method());
    assert_eq!(
        add_proof(&parse(SPEC_UNSECURED), &wrong, &key)
            .unwrap_err()
            .code(),
        "proof.verification_method"
    );
    let bad_created = ProofOptions {
        created: Some("24/02/2023".into()),
        ..opts
    };
    assert_eq!(
        add_proof(&parse(SPEC_UNSECURED), &bad_created, &key)
            .unwrap_err()
            .code(),
        "proof.malformed"
    );
}

#[test]
fn created_is_seconds_precision_utc() {
    let t = chrono::DateTime::parse_from_rfc3339("2024-05-06T07:08:09.987+08:00")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let opts = ProofOptions::new("did:example:x#k").created_at(t);
    assert_eq!(opts.created.as_deref(), Some("2024-05-05T23:08:09Z"));
    assert_eq!(opts.proof_purpose, "assertionMethod");
    let now = ProofOptions::new("x").created_now().created.unwrap();
    assert!(
        is_xml_datetime(&now) && now.ends_with('Z') && now.len() == 20,
        "{now}"
    );
}
