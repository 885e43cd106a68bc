//! Bitstring Status List v1.0: the bitstring and its encoding, entries, and signed lists
//! judged against the trust bundle.

mod common;

use std::io::Write;

use chrono::{DateTime, Utc};
use common::*;
use domain::codes::RegionCode;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use vc::ecert::status_list_url;
use vc::status_list::{
    BitstringStatusListEntry, ListCredentialInput, MAX_DECODED_BYTES, MIN_BITS, StatusList,
    StatusListError, build_list_credential, check_entry, credential_node, entries_of, entry_of,
    issue_list_credential, status_lookup, verify_list_credential,
};
use vc::{CheckResult, SigningKey, StatusPurpose, verify_credential};

/// Example 3 of the specification: the `encodedList` of an all-zero 16 KB revocation list.
const SPEC_ENCODED_LIST: &str =
    "uH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA";

/// The spec's Example 3 status list credential (unsigned).
fn spec_example_3() -> Value {
    json!({
      "@context": ["https://www.w3.org/ns/credentials/v2"],
      "id": "https://example.com/credentials/status/3",
      "type": ["VerifiableCredential", "BitstringStatusListCredential"],
      "issuer": "did:example:12345",
      "validFrom": "2021-04-05T14:27:40Z",
      "credentialSubject": {
        "id": "https://example.com/status/3#list",
        "type": "BitstringStatusList",
        "statusPurpose": "revocation",
        "encodedList": SPEC_ENCODED_LIST
      }
    })
}

fn qingyang() -> RegionCode {
    RegionCode::parse(QINGYANG).unwrap()
}

fn gansu() -> RegionCode {
    RegionCode::parse(GANSU).unwrap()
}

fn list_url(node: &RegionCode, purpose: StatusPurpose) -> String {
    status_list_url(NETWORK_BASE_URL, node, purpose)
}

/// The list input of `node`'s `purpose` list, valid for a week from 2026-11-30.
fn input(node: &RegionCode, purpose: StatusPurpose) -> ListCredentialInput {
    ListCredentialInput {
        url: list_url(node, purpose),
        purpose,
        node_region: node.clone(),
        issuer_name: "庆阳市政务数据交换节点".into(),
        valid_from: t("2026-11-30T00:00:00Z"),
        valid_until: Some(t("2026-12-07T00:00:00Z")),
    }
}

/// When lists are signed: just before [`input`]'s validFrom, before [`now`].
fn list_created() -> DateTime<Utc> {
    t("2026-11-30T00:00:00Z")
}

fn list_with(set: &[u64]) -> StatusList {
    let mut list = StatusList::new();
    for &i in set {
        list.set(i, true).unwrap();
    }
    list
}

/// Qingyang's revocation list with bit 14 (certificate 0's revocation index) set.
fn qingyang_revocation_list() -> Value {
    let input = input(&qingyang(), StatusPurpose::Revocation);
    issue_list_credential(&input, &list_with(&[14]), &node_key(), list_created()).unwrap()
}

fn revocation_entry(index: u64) -> BitstringStatusListEntry {
    BitstringStatusListEntry::new(
        list_url(&qingyang(), StatusPurpose::Revocation),
        StatusPurpose::Revocation,
        index,
    )
}

fn check(entry: &BitstringStatusListEntry, list: &Value) -> Result<bool, StatusListError> {
    check_entry(entry, list, &dev_bundle(), &qingyang(), now())
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// `u` + base64url without padding, written independently of the crate's encoder.
fn multibase_base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = String::new();
    for b in bytes {
        bits.push_str(&format!("{b:08b}"));
    }
    let mut out = String::from("u");
    for sextet in bits.as_bytes().chunks(6) {
        let mut padded = String::from_utf8(sextet.to_vec()).unwrap();
        while padded.len() < 6 {
            padded.push('0');
        }
        out.push(char::from(
            ALPHABET[usize::from_str_radix(&padded, 2).unwrap()],
        ));
    }
    out
}

// --- the bitstring and its encoding -------------------------------------------------------

#[test]
fn decodes_the_spec_example_to_16_kb_of_zeros() {
    let list = StatusList::decode(SPEC_ENCODED_LIST).unwrap();
    assert_eq!(list.bit_len(), 131_072);
    assert_eq!(list.bit_len(), MIN_BITS);
    assert_eq!(list.as_bytes().len(), 16 * 1024);
    assert!(list.as_bytes().iter().all(|&b| b == 0));
    assert_eq!(list.set_indexes().count(), 0);
    // Example 1's revocation index into this list, and both ends.
    for index in [0, 94_567, 131_071] {
        assert!(!list.get(index).unwrap(), "{index}");
    }
    assert_eq!(list, StatusList::new());
}

#[test]
fn the_spec_example_round_trips() {
    let list = StatusList::decode(SPEC_ENCODED_LIST).unwrap();
    let encoded = list.encode();
    assert!(encoded.starts_with("uH4sI"), "{encoded}"); // GZIP magic 1f 8b 08
    assert_eq!(StatusList::decode(&encoded).unwrap(), list);

    let mut revoked = list.clone();
    revoked.set(94_567, true).unwrap();
    let decoded = StatusList::decode(&revoked.encode()).unwrap();
    assert!(decoded.get(94_567).unwrap());
    assert_eq!(decoded.set_indexes().collect::<Vec<_>>(), [94_567]);
}

#[test]
fn the_encoding_is_gzip_then_base64url_with_a_u() {
    let list = list_with(&[0, 9, 131_071]);
    let encoded = list.encode();
    assert!(!encoded.contains(['=', '+', '/']), "{encoded}");
    // Decoding bytes the crate did not encode: gzip by flate2, base64url by hand.
    let mut bytes = vec![0u8; MIN_BITS / 8];
    bytes[0] = 0x80; // index 0: the left-most bit
    bytes[1] = 0x40; // index 9
    bytes[MIN_BITS / 8 - 1] = 0x01; // the last index: the right-most bit
    let foreign = multibase_base64url(&gzip(&bytes));
    assert_eq!(StatusList::decode(&foreign).unwrap(), list);
    assert_eq!(list.as_bytes(), bytes.as_slice());
}

#[test]
fn set_and_get_across_byte_boundaries() {
    let mut list = StatusList::new();
    let indexes = [
        0u64, 1, 6, 7, 8, 9, 15, 16, 23, 24, 1023, 1024, 131_064, 131_071,
    ];
    for &i in &indexes {
        assert!(!list.get(i).unwrap());
        list.set(i, true).unwrap();
        assert!(list.get(i).unwrap());
    }
    assert_eq!(list.set_indexes().collect::<Vec<_>>(), indexes);
    // Neighbours of set bits stay clear.
    for i in [
        2u64, 5, 10, 14, 17, 22, 25, 1022, 1025, 131_063, 131_065, 131_070,
    ] {
        assert!(!list.get(i).unwrap(), "{i}");
    }
    assert_eq!(
        list.as_bytes()[..4],
        [0b1100_0011, 0b1100_0001, 0b1000_0001, 0b1000_0000]
    );

    list.set(8, false).unwrap();
    list.set(8, false).unwrap();
    assert!(!list.get(8).unwrap());
    assert!(list.get(9).unwrap());
    assert_eq!(list.as_bytes()[1], 0b0100_0001);
    assert_eq!(StatusList::decode(&list.encode()).unwrap(), list);
}

#[test]
fn indexes_outside_the_list_are_range_errors() {
    let mut list = StatusList::new();
    for index in [131_072u64, 131_080, u64::MAX] {
        let err = list.get(index).unwrap_err();
        assert_eq!(
            err,
            StatusListError::OutOfRange {
                index,
                bits: 131_072
            }
        );
        assert_eq!(err.spec_error(), "RANGE_ERROR");
        assert_eq!(
            list.set(index, true).unwrap_err().code(),
            "status_list.range"
        );
    }
}

#[test]
fn list_lengths() {
    assert_eq!(StatusList::default().bit_len(), MIN_BITS);
    assert_eq!(
        StatusList::with_len(MIN_BITS + 1).unwrap().bit_len(),
        MIN_BITS + 8
    );
    let big = StatusList::with_len(1_000_000).unwrap();
    assert_eq!(big.bit_len(), 1_000_000);
    assert!(!big.get(999_999).unwrap());
    assert!(big.get(1_000_000).is_err());

    let short = StatusList::with_len(MIN_BITS - 8).unwrap_err();
    assert_eq!(short, StatusListError::TooShort { bits: MIN_BITS - 8 });
    assert_eq!(short.spec_error(), "STATUS_LIST_LENGTH_ERROR");
    assert_eq!(
        StatusList::from_bytes(vec![0; MAX_DECODED_BYTES + 1]).unwrap_err(),
        StatusListError::TooLarge {
            limit: MAX_DECODED_BYTES
        }
    );
}

#[test]
fn decode_refuses_what_is_not_multibase_base64url() {
    let gz = gzip(&[0u8; MIN_BITS / 8]);
    let body = &multibase_base64url(&gz)[1..];
    let cases = [
        (String::new(), "status_list.encoding"),
        (body.to_string(), "status_list.encoding"), // no multibase prefix
        (format!("z{body}"), "status_list.encoding"), // base58btc prefix
        (format!("U{body}"), "status_list.encoding"),
        (format!("m{body}"), "status_list.encoding"), // base64 (standard) prefix
        (format!("u{body}="), "status_list.encoding"), // padding
        (format!("u{body}=="), "status_list.encoding"),
        (
            format!("u{}", body.replace('-', "+")),
            "status_list.encoding",
        ),
        (format!("u {body}"), "status_list.encoding"),
        ("u!!!!".into(), "status_list.encoding"),
        ("uA".into(), "status_list.encoding"),
    ];
    for (encoded, code) in cases {
        let err = StatusList::decode(&encoded).unwrap_err();
        assert_eq!(err.code(), code, "{encoded:.20}: {err}");
        assert_eq!(err.spec_error(), "MALFORMED_VALUE_ERROR");
    }
    assert!(matches!(
        StatusList::decode("zH4sI").unwrap_err(),
        StatusListError::NotMultibase(_)
    ));
}

#[test]
fn decode_refuses_what_is_not_gzip() {
    let gz = gzip(&[0u8; MIN_BITS / 8]);
    let mut bad_crc = gz.clone();
    let n = bad_crc.len();
    bad_crc[n - 8] ^= 1; // CRC-32 of the trailer
    let mut bad_size = gz.clone();
    bad_size[n - 4] ^= 1; // ISIZE of the trailer
    let mut garbage_after = gz.clone();
    garbage_after.extend_from_slice(b"garbage!");
    let zlib_not_gzip = {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(&[0u8; MIN_BITS / 8]).unwrap();
        e.finish().unwrap()
    };
    for (name, bytes) in [
        ("empty", Vec::new()),
        ("text", b"not a gzip stream at all".to_vec()),
        ("truncated", gz[..gz.len() / 2].to_vec()),
        ("bad crc", bad_crc),
        ("bad size", bad_size),
        ("garbage after", garbage_after),
        ("zlib", zlib_not_gzip),
    ] {
        let err = StatusList::decode(&multibase_base64url(&bytes)).unwrap_err();
        assert!(
            matches!(
                err,
                StatusListError::Gzip(_) | StatusListError::TooShort { .. }
            ),
            "{name}: {err:?}"
        );
    }
    // Two GZIP members are one valid RFC 1952 file.
    let mut two = gzip(&[0u8; MIN_BITS / 16]);
    two.extend(gzip(&[0xffu8; MIN_BITS / 16]));
    let list = StatusList::decode(&multibase_base64url(&two)).unwrap();
    assert_eq!(list.bit_len(), MIN_BITS);
    assert!(!list.get(65_535).unwrap() && list.get(65_536).unwrap());
}

#[test]
fn decode_refuses_lists_too_short() {
    for len in [1usize, 1024, MIN_BITS / 8 - 1] {
        let err = StatusList::decode(&multibase_base64url(&gzip(&vec![0u8; len]))).unwrap_err();
        assert_eq!(err, StatusListError::TooShort { bits: len * 8 });
    }
}

#[test]
fn decode_refuses_decompression_bombs() {
    // 16 MiB + 1 of zeros compresses to ~16 KB: one byte too many.
    let bomb = multibase_base64url(&gzip(&vec![0u8; MAX_DECODED_BYTES + 1]));
    assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
    let err = StatusList::decode(&bomb).unwrap_err();
    assert_eq!(
        err,
        StatusListError::TooLarge {
            limit: MAX_DECODED_BYTES
        }
    );
    assert_eq!(err.code(), "status_list.too_large");

    // Exactly the limit is accepted; a lower caller limit is honoured.
    let max = multibase_base64url(&gzip(&vec![0u8; MAX_DECODED_BYTES]));
    assert_eq!(
        StatusList::decode(&max).unwrap().bit_len(),
        MAX_DECODED_BYTES * 8
    );
    let err = StatusList::decode_with_limit(&max, 1024 * 1024).unwrap_err();
    assert_eq!(err, StatusListError::TooLarge { limit: 1024 * 1024 });
    // A caller cannot raise the limit past MAX_DECODED_BYTES.
    let err = StatusList::decode_with_limit(&bomb, usize::MAX).unwrap_err();
    assert_eq!(err.code(), "status_list.too_large");
}

#[test]
fn debug_shows_length_and_set_bits_not_bytes() {
    let text = format!("{:?}", list_with(&[3, 94_567]));
    assert_eq!(text, "StatusList { bits: 131072, first_set: [3, 94567] }");
}

// --- entries --------------------------------------------------------------------------------

#[test]
fn an_entry_has_the_spec_shape_and_matches_the_certificate() {
    let entry = BitstringStatusListEntry::new(
        "https://example.com/credentials/status/3",
        StatusPurpose::Revocation,
        94_567,
    );
    assert_eq!(
        entry.to_json(),
        json!({
            "id": "https://example.com/credentials/status/3#94567",
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": "94567",
            "statusListCredential": "https://example.com/credentials/status/3"
        })
    );
    assert_eq!(
        BitstringStatusListEntry::from_json(&entry.to_json()).unwrap(),
        entry
    );

    // The certificate's own entries are exactly what `new` builds.
    let cred = example_credential();
    let entries = entries_of(&cred).unwrap();
    assert_eq!(
        entries,
        [
            BitstringStatusListEntry::new(
                list_url(&qingyang(), StatusPurpose::Revocation),
                StatusPurpose::Revocation,
                14
            ),
            BitstringStatusListEntry::new(
                list_url(&qingyang(), StatusPurpose::Suspension),
                StatusPurpose::Suspension,
                12
            ),
        ]
    );
    for (entry, json) in entries
        .iter()
        .zip(cred["credentialStatus"].as_array().unwrap())
    {
        assert_eq!(&entry.to_json(), json);
    }
    let suspension = entry_of(&cred, StatusPurpose::Suspension).unwrap().unwrap();
    assert_eq!(suspension.index, 12);
    assert_eq!(credential_node(&cred), Some(qingyang()));
}

#[test]
fn entries_parse_from_an_object_or_an_array() {
    // Example 1 (array) and a lone object; `message` entries are not ours and are skipped.
    let cred = json!({"credentialStatus": [{
        "id": "https://example.com/credentials/status/3#94567",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "94567",
        "statusListCredential": "https://example.com/credentials/status/3"
    }, {
        "type": "BitstringStatusListEntry",
        "statusPurpose": "message",
        "statusListIndex": "492847",
        "statusSize": 2,
        "statusListCredential": "https://example.com/credentials/status/8"
    }, {
        "id": "https://example.com/credentials/status/4#23452",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "suspension",
        "statusListIndex": "23452",
        "statusListCredential": "https://example.com/credentials/status/4",
        "statusSize": 1
    }]});
    let entries = entries_of(&cred).unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(
        (entries[0].purpose, entries[0].index),
        (StatusPurpose::Revocation, 94_567)
    );
    assert_eq!(
        (entries[1].purpose, entries[1].index),
        (StatusPurpose::Suspension, 23_452)
    );
    assert_eq!(
        entries[1].list_credential,
        "https://example.com/credentials/status/4"
    );

    let single = json!({"credentialStatus": cred["credentialStatus"][0]});
    assert_eq!(entries_of(&single).unwrap(), entries[..1]);
    assert_eq!(entry_of(&single, StatusPurpose::Suspension).unwrap(), None);
    assert!(entries_of(&json!({"id": "x"})).unwrap().is_empty());

    // Without an id (the spec makes it optional) and via serde.
    let mut no_id = cred["credentialStatus"][0].clone();
    no_id.as_object_mut().unwrap().remove("id");
    let entry: BitstringStatusListEntry = serde_json::from_value(no_id.clone()).unwrap();
    assert_eq!(entry.id, None);
    assert_eq!(serde_json::to_value(&entry).unwrap(), no_id);
}

#[test]
fn malformed_entries_are_refused() {
    let good = revocation_entry(14).to_json();
    let with = |field: &str, value: Value| {
        let mut entry = good.clone();
        entry[field] = value;
        entry
    };
    let without = |field: &str| {
        let mut entry = good.clone();
        entry.as_object_mut().unwrap().remove(field);
        entry
    };
    let cases = [
        (
            with("statusListIndex", json!(14)),
            "status_list.entry_malformed",
        ),
        (
            with("statusListIndex", "".into()),
            "status_list.entry_malformed",
        ),
        (
            with("statusListIndex", "-1".into()),
            "status_list.entry_malformed",
        ),
        (
            with("statusListIndex", "+1".into()),
            "status_list.entry_malformed",
        ),
        (
            with("statusListIndex", " 1".into()),
            "status_list.entry_malformed",
        ),
        (
            with("statusListIndex", "0x0e".into()),
            "status_list.entry_malformed",
        ),
        (
            with("statusListIndex", "1e3".into()),
            "status_list.entry_malformed",
        ),
        (
            with("statusListIndex", "18446744073709551616".into()),
            "status_list.entry_malformed",
        ),
        (
            with("type", "StatusList2021Entry".into()),
            "status_list.entry_malformed",
        ),
        (
            with("statusListCredential", "".into()),
            "status_list.entry_malformed",
        ),
        (
            with("statusListCredential", json!(null)),
            "status_list.entry_malformed",
        ),
        (
            without("statusListCredential"),
            "status_list.entry_malformed",
        ),
        (without("statusListIndex"), "status_list.entry_malformed"),
        (without("type"), "status_list.entry_malformed"),
        (with("statusSize", json!(2)), "status_list.status_size"),
        (
            with("statusSize", json!("1")),
            "status_list.entry_malformed",
        ),
        (json!("revocation"), "status_list.entry_malformed"),
    ];
    for (entry, code) in cases {
        let err = BitstringStatusListEntry::from_json(&entry).unwrap_err();
        assert_eq!(err.code(), code, "{entry}: {err}");
        let err = entries_of(&json!({"credentialStatus": [entry.clone()]})).unwrap_err();
        assert_eq!(err.code(), code, "{entry}: {err}");
    }
    // Purposes are case-sensitive strings: `Revocation` is not ours. Alone it is refused;
    // in a credential it is another purpose, skipped as `message` is.
    let other = with("statusPurpose", "Revocation".into());
    assert_eq!(
        BitstringStatusListEntry::from_json(&other)
            .unwrap_err()
            .code(),
        "status_list.entry_malformed"
    );
    assert!(
        entries_of(&json!({"credentialStatus": other}))
            .unwrap()
            .is_empty()
    );

    let max = with("statusListIndex", u64::MAX.to_string().into());
    assert_eq!(
        BitstringStatusListEntry::from_json(&max).unwrap().index,
        u64::MAX
    );
    assert_eq!(
        BitstringStatusListEntry::from_json(&with("statusListIndex", "007".into()))
            .unwrap()
            .index,
        7
    );
}

// --- status list credentials ------------------------------------------------------------------

#[test]
fn builds_the_list_credential() {
    let input = input(&qingyang(), StatusPurpose::Revocation);
    let list = list_with(&[14]);
    let url = "https://ecert.exchange-gateway.example/v1/status/621000000000/revocation";
    assert_eq!(
        build_list_credential(&input, &list),
        json!({
            "@context": [
                "https://www.w3.org/ns/credentials/v2",
                "https://schemas.exchange-gateway.example/contexts/ecert-v1.jsonld"
            ],
            "id": url,
            "type": ["VerifiableCredential", "BitstringStatusListCredential"],
            "issuer": {"name": "庆阳市政务数据交换节点", "node": "urn:gateway:node:621000000000"},
            "validFrom": "2026-11-30T00:00:00Z",
            "validUntil": "2026-12-07T00:00:00Z",
            "credentialSubject": {
                "id": format!("{url}#list"),
                "type": "BitstringStatusList",
                "statusPurpose": "revocation",
                "encodedList": list.encode()
            }
        })
    );
    let signed = qingyang_revocation_list();
    let key = node_key();
    assert_eq!(signed["issuer"]["id"], key.did());
    assert_eq!(
        signed["issuer"].as_object().unwrap().keys().next().unwrap(),
        "id"
    );
    assert_eq!(
        signed["proof"]["verificationMethod"],
        key.verification_method()
    );
    assert_eq!(signed["proof"]["cryptosuite"], "eddsa-jcs-2022");
    assert_eq!(signed["proof"]["proofPurpose"], "assertionMethod");
    assert_eq!(signed["proof"]["created"], "2026-11-30T00:00:00Z");
    // The proof is a Data Integrity proof the generic verifier accepts too.
    let proof = vc::verify_proof(&signed, |_| None).unwrap();
    assert_eq!(proof.public_key, key.public_key());
}

#[test]
fn a_signed_list_answers_for_its_entries() {
    let list = qingyang_revocation_list();
    assert!(check(&revocation_entry(14), &list).unwrap());
    for index in [0, 13, 15, 131_071] {
        assert!(!check(&revocation_entry(index), &list).unwrap(), "{index}");
    }
    let err = check(&revocation_entry(131_072), &list).unwrap_err();
    assert_eq!(err.code(), "status_list.range");

    let verified = verify_list_credential(&list, &dev_bundle(), &qingyang(), now()).unwrap();
    assert_eq!(
        verified.url,
        list_url(&qingyang(), StatusPurpose::Revocation)
    );
    assert_eq!(verified.purposes, [StatusPurpose::Revocation]);
    assert_eq!(verified.node_region, qingyang());
    assert_eq!(verified.signed_by, node_key().did());
    assert_eq!(verified.valid_until, Some(t("2026-12-07T00:00:00Z")));
    assert_eq!(verified.list.set_indexes().collect::<Vec<_>>(), [14]);
}

#[test]
fn a_list_signed_under_a_bundle_verification_method_is_accepted() {
    let mut bundle = dev_bundle();
    let vm = "https://qingyang.exchange-gateway.example/keys#status-2026";
    bundle.nodes[1].keys[0].verification_method = Some(vm.into());
    let key = node_key();
    let unsigned = build_list_credential(
        &input(&qingyang(), StatusPurpose::Revocation),
        &list_with(&[14]),
    );
    let mut unsigned = unsigned;
    unsigned["issuer"]["id"] = "https://qingyang.exchange-gateway.example/keys".into();
    let opts = vc::ProofOptions::new(vm).created_at(list_created());
    let signed = vc::add_proof(&unsigned, &opts, &key).unwrap();
    let entry = revocation_entry(14);
    assert!(check_entry(&entry, &signed, &bundle, &qingyang(), now()).unwrap());
    // Without the bundle entry the key cannot be found at all.
    let err = check(&entry, &signed).unwrap_err();
    assert_eq!(err.code(), "status_list.proof");
}

#[test]
fn a_tampered_list_is_refused() {
    let signed = qingyang_revocation_list();

    // Clearing the revoked bit (the attack that matters) breaks the signature.
    let mut cleared = signed.clone();
    cleared["credentialSubject"]["encodedList"] = StatusList::new().encode().into();
    let err = check(&revocation_entry(14), &cleared).unwrap_err();
    assert_eq!(err, StatusListError::Proof(vc::VcError::BadSignature));
    assert_eq!(err.spec_error(), "STATUS_VERIFICATION_ERROR");

    // Any changed string fails, whatever it is.
    let mut leaves = Vec::new();
    string_leaves(&signed, String::new(), &mut leaves);
    assert!(leaves.len() > 15, "{leaves:?}");
    for pointer in leaves {
        let mut bad = signed.clone();
        let s = bad.pointer_mut(&pointer).unwrap();
        let text = s.as_str().unwrap().to_owned();
        *s = format!("{text}x").into();
        assert!(check(&revocation_entry(14), &bad).is_err(), "{pointer}");
    }

    // Removing the proof, or a validUntil (to outlive it), fails too.
    let mut unsigned = signed.clone();
    unsigned.as_object_mut().unwrap().remove("proof");
    assert_eq!(
        check(&revocation_entry(14), &unsigned).unwrap_err(),
        StatusListError::Proof(vc::VcError::ProofMissing)
    );
    let mut forever = signed.clone();
    forever.as_object_mut().unwrap().remove("validUntil");
    assert_eq!(
        check(&revocation_entry(14), &forever).unwrap_err().code(),
        "status_list.proof"
    );
}

#[test]
fn a_list_from_another_or_untrusted_node_is_refused() {
    let entry = revocation_entry(14);
    let qingyang_input = input(&qingyang(), StatusPurpose::Revocation);
    let cleared = StatusList::new();

    // Gansu's key is trusted, but for Gansu: it cannot clear Qingyang's bits...
    let by_gansu = issue_list_credential(
        &qingyang_input,
        &cleared,
        &province_node_key(),
        list_created(),
    )
    .unwrap();
    let err = check(&entry, &by_gansu).unwrap_err();
    assert_eq!(err.code(), "status_list.node_mismatch", "{err}");
    // ...even when the list honestly names Gansu as its node.
    let mut gansu_input = qingyang_input.clone();
    gansu_input.node_region = gansu();
    let honest =
        issue_list_credential(&gansu_input, &cleared, &province_node_key(), list_created())
            .unwrap();
    let err = check(&entry, &honest).unwrap_err();
    assert_eq!(err.code(), "status_list.node_mismatch", "{err}");
    // It is a good list for Gansu's own certificates.
    assert!(verify_list_credential(&honest, &dev_bundle(), &gansu(), now()).is_ok());
    // Qingyang's key claiming to be Gansu is caught by issuer.node.
    let lying = issue_list_credential(&gansu_input, &cleared, &node_key(), list_created()).unwrap();
    let err = check(&entry, &lying).unwrap_err();
    assert_eq!(err.code(), "status_list.node_mismatch", "{err}");

    // A key the bundle does not list at all.
    let stranger = fixed_key("not in any bundle");
    let forged =
        issue_list_credential(&qingyang_input, &cleared, &stranger, list_created()).unwrap();
    let err = check(&entry, &forged).unwrap_err();
    assert_eq!(err.code(), "status_list.untrusted_key");
    assert!(err.to_string().contains("trust.key_unknown"), "{err}");

    // Qingyang's retired 2025 key, signing after its retirement.
    let stale =
        issue_list_credential(&qingyang_input, &cleared, &old_node_key(), list_created()).unwrap();
    let err = check(&entry, &stale).unwrap_err();
    assert!(err.to_string().contains("trust.key_expired"), "{err}");

    // Qingyang's own key, once revoked, signs nothing.
    let mut bundle = dev_bundle();
    bundle.nodes[1].keys[0].status = vc::KeyStatus::Revoked;
    let err = check_entry(
        &entry,
        &qingyang_revocation_list(),
        &bundle,
        &qingyang(),
        now(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("trust.key_revoked"), "{err}");
}

#[test]
fn the_issuer_must_control_the_signing_key() {
    let key = node_key();
    let mut unsigned = build_list_credential(
        &input(&qingyang(), StatusPurpose::Revocation),
        &StatusList::new(),
    );
    unsigned["issuer"]["id"] = province_node_key().did().into();
    let opts = vc::ProofOptions::new(key.verification_method()).created_at(list_created());
    let signed = vc::add_proof(&unsigned, &opts, &key).unwrap();
    let err = check(&revocation_entry(14), &signed).unwrap_err();
    assert_eq!(err.code(), "status_list.issuer_mismatch");
    // And the proof must be for assertionMethod.
    unsigned["issuer"]["id"] = key.did().into();
    let mut opts = opts;
    opts.proof_purpose = "authentication".into();
    let signed = vc::add_proof(&unsigned, &opts, &key).unwrap();
    let err = check(&revocation_entry(14), &signed).unwrap_err();
    assert_eq!(err.code(), "status_list.proof");
}

#[test]
fn the_list_must_be_the_one_the_entry_names() {
    let list = qingyang_revocation_list();

    // A suspension entry presented with the revocation list (other URL).
    let entry = BitstringStatusListEntry::new(
        list_url(&qingyang(), StatusPurpose::Suspension),
        StatusPurpose::Suspension,
        14,
    );
    let err = check(&entry, &list).unwrap_err();
    assert_eq!(err.code(), "status_list.url_mismatch");

    // A list published at the revocation URL but declaring the suspension purpose.
    let mut wrong = input(&qingyang(), StatusPurpose::Suspension);
    wrong.url = list_url(&qingyang(), StatusPurpose::Revocation);
    let wrong =
        issue_list_credential(&wrong, &list_with(&[14]), &node_key(), list_created()).unwrap();
    let err = check(&revocation_entry(14), &wrong).unwrap_err();
    assert_eq!(
        err,
        StatusListError::PurposeMismatch {
            entry: "revocation".into(),
            list: vec!["suspension".into()]
        }
    );
    assert_eq!(err.spec_error(), "STATUS_VERIFICATION_ERROR");

    // A list may declare several purposes (the spec allows an array).
    let mut both = build_list_credential(
        &input(&qingyang(), StatusPurpose::Revocation),
        &list_with(&[14]),
    );
    both["credentialSubject"]["statusPurpose"] = json!(["revocation", "suspension"]);
    let both = vc::sign(&both, &node_key(), list_created()).unwrap();
    assert!(check(&revocation_entry(14), &both).unwrap());
}

#[test]
fn the_list_must_be_within_its_validity_period() {
    let entry = revocation_entry(14);
    let list = qingyang_revocation_list();
    let at = |now: &str| check_entry(&entry, &list, &dev_bundle(), &qingyang(), t(now));
    assert!(at("2026-11-30T00:00:00Z").unwrap());
    assert!(at("2026-12-07T00:00:00Z").unwrap());
    assert_eq!(
        at("2026-12-07T00:00:01Z").unwrap_err().code(),
        "status_list.expired"
    );
    assert_eq!(
        at("2026-11-29T23:59:59Z").unwrap_err().code(),
        "status_list.not_yet_valid"
    );

    // A proof created after `now` is not believed either, whatever validFrom says.
    let mut early = input(&qingyang(), StatusPurpose::Revocation);
    early.valid_from = t("2026-11-01T00:00:00Z");
    let signed = issue_list_credential(
        &early,
        &list_with(&[14]),
        &node_key(),
        t("2026-12-02T00:00:00Z"),
    )
    .unwrap();
    let err = check(&entry, &signed).unwrap_err();
    assert_eq!(err.code(), "status_list.not_yet_valid", "{err}");
}

/// A change to an unsigned list credential.
type Edit = fn(&mut Value);

#[test]
fn malformed_list_credentials_are_refused() {
    let good = build_list_credential(
        &input(&qingyang(), StatusPurpose::Revocation),
        &list_with(&[14]),
    );
    let sign = |unsigned: &Value| vc::sign(unsigned, &node_key(), list_created()).unwrap();
    let edits: [(&str, Edit); 9] = [
        ("no v2 context", |c| {
            c["@context"] = json!(["https://www.w3.org/2018/credentials/v1"])
        }),
        ("no list type", |c| {
            c["type"] = json!(["VerifiableCredential"])
        }),
        ("no id", |c| {
            c.as_object_mut().unwrap().remove("id");
        }),
        ("subject type", |c| {
            c["credentialSubject"]["type"] = "StatusList2021".into()
        }),
        ("subject array", |c| {
            c["credentialSubject"] = json!([c["credentialSubject"]])
        }),
        ("no purpose", |c| {
            c["credentialSubject"]
                .as_object_mut()
                .unwrap()
                .remove("statusPurpose");
        }),
        ("no list", |c| {
            c["credentialSubject"]
                .as_object_mut()
                .unwrap()
                .remove("encodedList");
        }),
        ("bad date", |c| c["validFrom"] = "30/11/2026".into()),
        ("status size", |c| {
            c["credentialSubject"]["statusSize"] = json!(2)
        }),
    ];
    for (name, edit) in edits {
        let mut unsigned = good.clone();
        edit(&mut unsigned);
        let err = check(&revocation_entry(14), &sign(&unsigned)).unwrap_err();
        assert!(
            matches!(
                err,
                StatusListError::CredentialMalformed(_) | StatusListError::UnsupportedStatusSize(2)
            ),
            "{name}: {err:?}"
        );
        assert_eq!(err.spec_error(), "MALFORMED_VALUE_ERROR", "{name}");
    }
    // A short list inside a signed credential is a length error.
    let mut short = good.clone();
    short["credentialSubject"]["encodedList"] = multibase_base64url(&gzip(&[0u8; 1024])).into();
    let err = check(&revocation_entry(14), &sign(&short)).unwrap_err();
    assert_eq!(err.spec_error(), "STATUS_LIST_LENGTH_ERROR");
    // A bomb is refused even when a trusted key signed it.
    let mut bomb = good.clone();
    bomb["credentialSubject"]["encodedList"] =
        multibase_base64url(&gzip(&vec![0u8; MAX_DECODED_BYTES + 1])).into();
    let err = check(&revocation_entry(14), &sign(&bomb)).unwrap_err();
    assert_eq!(err.code(), "status_list.too_large");
    assert_eq!(
        check(&revocation_entry(14), &json!("a list"))
            .unwrap_err()
            .code(),
        "status_list.credential_malformed"
    );
}

#[test]
fn the_spec_example_credential_has_the_shape_but_no_proof() {
    let example = spec_example_3();
    let entry = BitstringStatusListEntry::new(
        "https://example.com/credentials/status/3",
        StatusPurpose::Revocation,
        94_567,
    );
    let err = check(&entry, &example).unwrap_err();
    assert_eq!(err, StatusListError::Proof(vc::VcError::ProofMissing));
}

// --- with verify_credential ------------------------------------------------------------------

#[test]
fn verified_lists_feed_verify_credential() {
    let cred = example_credential();
    let bundle = dev_bundle();
    let node = credential_node(&cred).unwrap();
    let lists = |revoked: &[u64], suspended: &[u64]| {
        [
            (StatusPurpose::Revocation, revoked),
            (StatusPurpose::Suspension, suspended),
        ]
        .map(|(purpose, set)| {
            let signed = issue_list_credential(
                &input(&node, purpose),
                &list_with(set),
                &node_key(),
                list_created(),
            )
            .unwrap();
            verify_list_credential(&signed, &bundle, &node, now()).unwrap()
        })
        .to_vec()
    };
    let verdict = |lists: Vec<_>| {
        verify_credential(
            &cred,
            Some(&bundle),
            now(),
            Some(status_lookup(lists)),
            false,
        )
    };

    let v = verdict(lists(&[13, 15], &[11, 13]));
    assert_eq!(v.checks.not_revoked, CheckResult::Pass);
    assert!(v.valid, "{:?}", v.errors);

    let v = verdict(lists(&[14], &[]));
    assert_eq!(v.checks.not_revoked, CheckResult::Fail);
    assert_eq!(v.error_codes(), ["status.revoked"]);

    let v = verdict(lists(&[], &[12]));
    assert_eq!(v.error_codes(), ["status.suspended"]);
    assert!(!v.valid);

    // Only the revocation list known: the suspension status is unknown, so skipped.
    let mut only_revocation = lists(&[], &[]);
    only_revocation.truncate(1);
    let v = verdict(only_revocation);
    assert_eq!(v.checks.not_revoked, CheckResult::Skipped);
    assert!(v.valid);

    // A lookup answers only for its own URL and purpose, and per entry.
    let lookup_lists = lists(&[14], &[]);
    for entry in entries_of(&cred).unwrap() {
        let expected = entry.purpose == StatusPurpose::Revocation;
        let answer = lookup_lists
            .iter()
            .find_map(|l| l.status(&entry.as_status_entry()));
        assert_eq!(answer, Some(expected));
    }
    let foreign = BitstringStatusListEntry::new(
        "https://example.com/credentials/status/3",
        StatusPurpose::Revocation,
        14,
    );
    assert!(
        lookup_lists
            .iter()
            .all(|l| l.status(&foreign.as_status_entry()).is_none())
    );
}

#[test]
fn keys_from_the_keys_module_sign_lists() {
    // A freshly generated key, listed in a bundle for Qingyang.
    let (key, _pkcs8) = SigningKey::generate().unwrap();
    let mut bundle = dev_bundle();
    bundle.nodes[1].keys.push(common::key(
        &key,
        "2026-11-01T00:00:00Z",
        None,
        vc::KeyStatus::Active,
    ));
    let signed = issue_list_credential(
        &input(&qingyang(), StatusPurpose::Revocation),
        &list_with(&[7]),
        &key,
        list_created(),
    )
    .unwrap();
    let entry = revocation_entry(7);
    assert!(check_entry(&entry, &signed, &bundle, &qingyang(), now()).unwrap());
    assert!(check(&entry, &signed).is_err()); // the dev bundle does not know the key
}
