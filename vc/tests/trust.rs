//! The trust bundle: signing by the root, verification, tampering, key status over time.

mod common;

use common::*;
use domain::codes::RegionCode;
use serde_json::json;
use vc::trust::{KeyStatus, KeyTrust, TrustBundle, verify_bundle};
use vc::{ed25519_to_multibase, sign_bundle};

fn qingyang() -> RegionCode {
    RegionCode::parse(QINGYANG).unwrap()
}

#[test]
fn round_trip_with_every_spelling_of_the_root() {
    let signed = signed_dev_bundle();
    let root = root_key();
    assert_eq!(
        signed["proof"]["verificationMethod"],
        root.verification_method()
    );
    assert_eq!(signed["proof"]["created"], "2026-01-01T00:00:00Z");
    for spelling in [
        root.did(),
        root.verification_method(),
        ed25519_to_multibase(&root.public_key()),
    ] {
        assert_eq!(
            verify_bundle(&signed, &spelling).unwrap(),
            dev_bundle(),
            "{spelling}"
        );
    }
}

#[test]
fn signed_bundle_validates_against_the_schema() {
    assert_eq!(
        schema_errors("trust-bundle.v1.schema.json", &signed_dev_bundle()),
        Vec::<String>::new()
    );
    let unsigned = serde_json::to_value(dev_bundle()).unwrap();
    assert!(!schema_errors("trust-bundle.v1.schema.json", &unsigned).is_empty());
}

#[test]
fn a_tampered_bundle_is_refused() {
    let signed = signed_dev_bundle();
    let root = root_key().did();
    let mut leaves = Vec::new();
    string_leaves(&signed, String::new(), &mut leaves);
    assert!(leaves.len() > 15);
    for pointer in leaves {
        let mut bad = signed.clone();
        let s = bad.pointer_mut(&pointer).unwrap();
        let text = s.as_str().unwrap().to_owned();
        let last = text.chars().last().unwrap();
        let swapped = if last == '1' { '2' } else { '1' };
        *s = format!("{}{swapped}", &text[..text.len() - last.len_utf8()]).into();
        assert!(
            verify_bundle(&bad, &root).is_err(),
            "{pointer} changed, still accepted"
        );
    }
    // A higher version, a key added, a revoked key set active: the signature breaks.
    for (pointer, value) in [
        ("/version", json!(2)),
        ("/nodes/1/keys/1/status", json!("active")),
        ("/nodes/0/tier", json!(1)),
    ] {
        let mut bad = signed.clone();
        *bad.pointer_mut(pointer).unwrap() = value;
        let err = verify_bundle(&bad, &root).unwrap_err();
        assert_eq!(err.code(), "proof.signature", "{pointer}");
    }
    let mut bad = signed.clone();
    let extra = bad["nodes"][1]["keys"][0].clone();
    bad["nodes"][0]["keys"].as_array_mut().unwrap().push(extra);
    assert_eq!(
        verify_bundle(&bad, &root).unwrap_err().code(),
        "proof.signature"
    );
    let mut unsigned = signed.clone();
    unsigned.as_object_mut().unwrap().remove("proof");
    assert_eq!(
        verify_bundle(&unsigned, &root).unwrap_err().code(),
        "proof.missing"
    );
}

#[test]
fn only_the_root_key_is_accepted() {
    let signed = signed_dev_bundle();
    // Another root.
    let err = verify_bundle(&signed, &node_key().did()).unwrap_err();
    assert_eq!(err.code(), "trust.root_mismatch");
    // Signed correctly, but by a node key.
    let by_node = sign_bundle(&dev_bundle(), &node_key()).unwrap();
    let err = verify_bundle(&by_node, &root_key().did()).unwrap_err();
    assert_eq!(err.code(), "trust.root_mismatch");
    // An unusable root argument.
    for root in [
        "",
        "did:key:zNope",
        "did:web:gansu.example",
        &format!("{}#key-1", root_key().did()),
    ] {
        let err = verify_bundle(&signed, root).unwrap_err();
        assert_eq!(err.code(), "trust.root_mismatch", "{root}");
    }
}

#[test]
fn inconsistent_bundles_are_refused_even_when_signed() {
    let root = root_key();
    type Change = Box<dyn Fn(&mut TrustBundle)>;
    let cases: Vec<(&str, Change)> = vec![
        ("type", Box::new(|b| b.kind = "Bundle".into())),
        ("version", Box::new(|b| b.version = 0)),
        (
            "base url",
            Box::new(|b| b.network_base_url = "ecert.example".into()),
        ),
        ("tier", Box::new(|b| b.nodes[0].tier = 8)),
        ("name", Box::new(|b| b.nodes[0].name = " ".into())),
        (
            "exchange url",
            Box::new(|b| b.nodes[0].urls.exchange = "gansu:8443".into()),
        ),
        (
            "did",
            Box::new(|b| b.nodes[0].keys[0].did = "did:web:gansu.example".into()),
        ),
        (
            "dates",
            Box::new(|b| b.nodes[0].keys[0].valid_until = Some(t("2025-01-01T00:00:00Z"))),
        ),
        (
            "region twice",
            Box::new(|b| b.nodes[1].region = b.nodes[0].region.clone()),
        ),
        (
            "key twice",
            Box::new(|b| {
                let k = b.nodes[1].keys[0].clone();
                b.nodes[0].keys.push(k);
            }),
        ),
        (
            "vm twice",
            Box::new(|b| {
                b.nodes[0].keys[0].verification_method = Some("https://k.example/keys#1".into());
                b.nodes[1].keys[0].verification_method = Some("https://k.example/keys#1".into());
            }),
        ),
    ];
    for (what, change) in cases {
        let mut bundle = dev_bundle();
        change(&mut bundle);
        let err = sign_bundle(&bundle, &root).unwrap_err();
        assert_eq!(err.code(), "trust.bundle_invalid", "{what}");
        // A bundle signed by other software is checked the same way on verification.
        let json = serde_json::to_value(&bundle).unwrap();
        let opts = vc::ProofOptions::new(root.verification_method()).created_at(bundle.issued);
        let signed = vc::add_proof(&json, &opts, &root).unwrap();
        let err = verify_bundle(&signed, &root.did()).unwrap_err();
        assert_eq!(err.code(), "trust.bundle_invalid", "{what}");
    }
}

#[test]
fn unknown_fields_are_refused() {
    let root = root_key();
    let mut json = serde_json::to_value(dev_bundle()).unwrap();
    json["nodes"][1]["keys"][0]["only_for"] = json!("business licences");
    let opts =
        vc::ProofOptions::new(root.verification_method()).created_at(t("2026-01-01T00:00:00Z"));
    let signed = vc::add_proof(&json, &opts, &root).unwrap();
    let err = verify_bundle(&signed, &root.did()).unwrap_err();
    assert_eq!(err.code(), "trust.bundle_invalid");
    assert!(err.to_string().contains("only_for"), "{err}");
}

#[test]
fn key_status_over_time() {
    let mut bundle = dev_bundle();
    let revoked = fixed_key("revoked");
    bundle.nodes[0].keys.push(key(
        &revoked,
        "2026-01-01T00:00:00Z",
        None,
        KeyStatus::Revoked,
    ));
    let current = node_key().did();
    let old = old_node_key().did();
    let trusted = KeyTrust::Trusted {
        node_region: qingyang(),
    };
    let cases = [
        (&current, "2025-12-31T23:59:59Z", KeyTrust::NotYetValid),
        (&current, "2026-01-01T00:00:00Z", trusted.clone()),
        (&current, "2027-06-01T00:00:00Z", trusted.clone()),
        (&current, "2028-12-31T15:59:59Z", trusted.clone()),
        (&current, "2028-12-31T16:00:00Z", KeyTrust::Expired),
        // Retired: its signatures made while valid stay valid.
        (&old, "2025-06-01T00:00:00+08:00", trusted.clone()),
        (&old, "2026-06-01T00:00:00Z", KeyTrust::Expired),
        (&old, "2024-06-01T00:00:00Z", KeyTrust::NotYetValid),
        (&revoked.did(), "2026-06-01T00:00:00Z", KeyTrust::Revoked),
        (&revoked.did(), "2020-06-01T00:00:00Z", KeyTrust::Revoked),
        (&root_key().did(), "2026-06-01T00:00:00Z", KeyTrust::Unknown),
    ];
    for (did, at, want) in cases {
        assert_eq!(bundle.key_status_at(did, t(at)), want, "{did} at {at}");
    }
    assert_eq!(KeyTrust::Expired.code(), Some("trust.key_expired"));
    assert_eq!(KeyTrust::Unknown.code(), Some("trust.key_unknown"));
    assert_eq!(trusted.code(), None);
    assert_eq!(bundle.node(&qingyang()).unwrap().tier, 3);
}

#[test]
fn verification_methods_registered_in_the_bundle_resolve() {
    let mut bundle = dev_bundle();
    let vm = "https://qingyang.exchange-gateway.example/keys#key-2026";
    bundle.nodes[1].keys[0].verification_method = Some(vm.into());
    assert_eq!(
        bundle.resolve_verification_method(vm),
        Some(node_key().public_key())
    );
    assert_eq!(
        bundle
            .resolve_verification_method("https://qingyang.exchange-gateway.example/keys#key-2025"),
        None
    );
    // Round trip keeps the optional field.
    let signed = sign_bundle(&bundle, &root_key()).unwrap();
    assert_eq!(signed["nodes"][1]["keys"][0]["verification_method"], vm);
    assert_eq!(verify_bundle(&signed, &root_key().did()).unwrap(), bundle);
}

/// Lookups go through an index built at the first one; the bundle's fields stay public, so
/// lookups after a change answer from the bundle as it is, and a clone is the same bundle.
#[test]
fn lookups_follow_changes_made_after_the_first() {
    let mut bundle = dev_bundle();
    let gansu = domain::codes::RegionCode::parse(GANSU).unwrap();
    let current = node_key().did();
    assert_eq!(bundle.find_key(&current).unwrap().0.region, qingyang());
    assert_eq!(bundle.node(&gansu).unwrap().region, gansu);
    assert_eq!(bundle.clone(), bundle);

    // A key added, a key's DID changed, a node moved to the front: each found where it is.
    let added = fixed_key("added");
    bundle.nodes[1]
        .keys
        .push(key(&added, "2026-01-01T00:00:00Z", None, KeyStatus::Active));
    assert_eq!(bundle.find_key(&added.did()).unwrap().1.did, added.did());
    let (i, j) = bundle
        .nodes
        .iter()
        .enumerate()
        .find_map(|(i, n)| n.keys.iter().position(|k| k.did == current).map(|j| (i, j)))
        .unwrap();
    bundle.nodes[i].keys[j].did = fixed_key("renamed").did();
    assert!(bundle.find_key(&current).is_none());
    assert!(bundle.find_key(&fixed_key("renamed").did()).is_some());
    let last = bundle.nodes.pop().unwrap();
    let region = last.region.clone();
    assert!(bundle.node(&region).is_none());
    bundle.nodes.insert(0, last);
    assert_eq!(bundle.node(&region).unwrap().region, region);
    assert_eq!(bundle.node(&gansu).unwrap().region, gansu);
}
