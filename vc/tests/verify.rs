//! Verification of credentials: the four checks, strictness, and the verdict's JSON.

mod common;

use chrono::NaiveDate;
use common::*;
use serde_json::{Value, json};
use vc::trust::{KeyStatus, TrustBundle};
use vc::verify::{Check, StatusEntry};
use vc::{CheckResult, StatusLookup, StatusPurpose, Verdict, verify_credential};

use CheckResult::{Fail, Pass, Skipped};

fn checks(v: &Verdict) -> [CheckResult; 4] {
    let c = v.checks;
    [
        c.signature,
        c.issuer_trusted,
        c.in_validity_period,
        c.not_revoked,
    ]
}

/// The verdict on `cred`, which must be the same read as a `serde_json::Value` or as the
/// borrowed tree presented credentials are read into.
fn verify(cred: &Value, bundle: Option<&TrustBundle>) -> Verdict {
    let verdict = verify_credential(cred, bundle, now(), None, false);
    let text = cred.to_string();
    let tree = vc::json::Json::parse(&text).unwrap();
    assert_eq!(
        verify_credential(&tree, bundle, now(), None, false),
        verdict,
        "{text}"
    );
    verdict
}

/// The example certificate with an end date: valid 2026-11-19 to 2031-11-18 (CST).
fn expiring_credential() -> Value {
    let mut cert = example_certificate(0);
    cert.valid_until = Some(NaiveDate::from_ymd_opt(2031, 11, 18).unwrap());
    vc::issue(&input_for(cert, 1), &node_key(), created()).unwrap()
}

#[test]
fn a_good_credential_is_valid_with_status_skipped() {
    let v = verify(&example_credential(), Some(&dev_bundle()));
    assert_eq!(checks(&v), [Pass, Pass, Pass, Skipped]);
    assert!(v.valid);
    assert!(v.errors.is_empty(), "{:?}", v.errors);
}

#[test]
fn the_verdict_serializes_to_the_api_shape() {
    let v = verify(&example_credential(), None);
    assert_eq!(
        serde_json::to_value(&v).unwrap(),
        json!({
            "valid": false,
            "checks": {
                "signature": "pass",
                "issuer_trusted": "skipped",
                "in_validity_period": "pass",
                "not_revoked": "skipped",
                "logged": "skipped"
            },
            "errors": [{
                "check": "issuer_trusted",
                "code": "trust.no_bundle",
                "message": "no trust bundle given: the issuer cannot be checked"
            }]
        })
    );
    let text = serde_json::to_string(&v).unwrap();
    assert!(
        text.starts_with(r#"{"valid":false,"checks":{"signature":"pass","issuer_trusted""#),
        "{text}"
    );
    assert_eq!(serde_json::from_str::<Verdict>(&text).unwrap(), v);
}

#[test]
fn without_a_bundle_the_signature_verdict_is_still_given() {
    let v = verify(&example_credential(), None);
    assert_eq!(checks(&v), [Pass, Skipped, Pass, Skipped]);
    assert!(!v.valid);
    assert_eq!(v.error_codes(), ["trust.no_bundle"]);

    let mut bad = example_credential();
    bad["credentialSubject"]["certificateNumber"] = "91621002MA7100001X".into();
    let v = verify(&bad, None);
    assert_eq!(checks(&v), [Fail, Skipped, Pass, Skipped]);
    assert_eq!(v.error_codes(), ["proof.signature", "trust.no_bundle"]);
}

#[test]
fn one_changed_character_anywhere_fails_the_signature() {
    let cred = expiring_credential();
    let bundle = dev_bundle();
    assert!(verify(&cred, Some(&bundle)).valid);
    let mut leaves = Vec::new();
    string_leaves(&cred, String::new(), &mut leaves);
    assert!(leaves.len() > 40, "{}", leaves.len());
    for pointer in &leaves {
        let mut bad = cred.clone();
        let s = bad.pointer_mut(pointer).unwrap();
        let text = s.as_str().unwrap().to_owned();
        let last = text.chars().last().unwrap();
        let swapped = if last == '1' { '2' } else { '1' };
        *s = format!("{}{swapped}", &text[..text.len() - last.len_utf8()]).into();
        let v = verify(&bad, Some(&bundle));
        assert_eq!(v.checks.signature, Fail, "{pointer}: {:?}", v.errors);
        assert!(!v.valid);
    }
}

#[test]
fn a_renamed_added_or_removed_member_fails_the_signature() {
    let cred = example_credential();
    let bundle = dev_bundle();
    fn objects(v: &Value, path: String, out: &mut Vec<String>) {
        if let Value::Object(map) = v {
            out.push(path.clone());
            for (k, item) in map {
                objects(
                    item,
                    format!("{path}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        } else if let Value::Array(items) = v {
            for (i, item) in items.iter().enumerate() {
                objects(item, format!("{path}/{i}"), out);
            }
        }
    }
    let mut paths = Vec::new();
    objects(&cred, String::new(), &mut paths);
    for path in paths {
        let keys: Vec<String> = cred
            .pointer(&path)
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        for k in &keys {
            if path.is_empty() && k == "proof" {
                continue; // removing the proof is proof.missing, renaming it too
            }
            let mut renamed = cred.clone();
            let map = renamed.pointer_mut(&path).unwrap().as_object_mut().unwrap();
            let v = map.remove(k).unwrap();
            map.insert(format!("{k}x"), v);
            assert_eq!(
                verify(&renamed, Some(&bundle)).checks.signature,
                Fail,
                "{path}/{k} renamed"
            );

            let mut removed = cred.clone();
            removed
                .pointer_mut(&path)
                .unwrap()
                .as_object_mut()
                .unwrap()
                .remove(k);
            assert_eq!(
                verify(&removed, Some(&bundle)).checks.signature,
                Fail,
                "{path}/{k} removed"
            );
        }
        let mut added = cred.clone();
        added
            .pointer_mut(&path)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .insert("extra".into(), json!(0));
        assert_eq!(
            verify(&added, Some(&bundle)).checks.signature,
            Fail,
            "{path}: member added"
        );
    }
    let mut unsigned = cred.clone();
    unsigned.as_object_mut().unwrap().remove("proof");
    let v = verify(&unsigned, Some(&bundle));
    assert_eq!(checks(&v), [Fail, Skipped, Pass, Skipped]);
    assert_eq!(v.error_codes(), ["proof.missing", "trust.not_checked"]);
}

#[test]
fn reformatting_does_not_matter() {
    // Another serialization of the same JSON: compact, keys reversed, numbers unchanged
    // (written by hand: serde_json's maps write their names in order).
    fn reversed(v: &Value) -> String {
        let list = |items: Vec<String>| items.join(",");
        match v {
            Value::Object(map) => format!(
                "{{{}}}",
                list(
                    map.iter()
                        .rev()
                        .map(|(k, v)| format!("{}:{}", Value::from(k.as_str()), reversed(v)))
                        .collect()
                )
            ),
            Value::Array(items) => format!("[{}]", list(items.iter().map(reversed).collect())),
            other => other.to_string(),
        }
    }
    let cred = example_credential();
    let text = reversed(&cred);
    assert_ne!(text, serde_json::to_string(&cred).unwrap());
    let reparsed: Value = serde_json::from_str(&text).unwrap();
    assert!(verify(&reparsed, Some(&dev_bundle())).valid);
}

#[test]
fn a_key_not_in_the_bundle_is_untrusted() {
    let stranger = fixed_key("stranger");
    let cred = vc::issue(&example_input(0), &stranger, created()).unwrap();
    let v = verify(&cred, Some(&dev_bundle()));
    assert_eq!(checks(&v), [Pass, Fail, Pass, Skipped]);
    assert_eq!(v.error_codes(), ["trust.key_unknown"]);
    assert!(!v.valid);
    // The root key signs bundles, not certificates.
    let cred = vc::issue(&example_input(0), &root_key(), created()).unwrap();
    assert_eq!(
        verify(&cred, Some(&dev_bundle())).error_codes(),
        ["trust.key_unknown"]
    );
}

#[test]
fn the_key_must_be_valid_when_the_proof_was_created() {
    // The 2025 key expired (retired) at the end of 2025; signing with it in November 2026
    // is not trusted, signing with it in 2025 is.
    let late = vc::issue(&example_input(0), &old_node_key(), created()).unwrap();
    let v = verify(&late, Some(&dev_bundle()));
    assert_eq!(checks(&v), [Pass, Fail, Pass, Skipped]);
    assert_eq!(v.error_codes(), ["trust.key_expired"]);

    let mut early_cert = example_certificate(0);
    early_cert.valid_from = NaiveDate::from_ymd_opt(2025, 3, 1).unwrap();
    let early = vc::issue(
        &input_for(early_cert.clone(), 1),
        &old_node_key(),
        t("2025-03-01T02:00:00Z"),
    )
    .unwrap();
    let v = verify(&early, Some(&dev_bundle()));
    assert!(v.valid, "{:?}", v.errors);

    // The 2026 key before its validity.
    let too_early = vc::issue(
        &input_for(early_cert, 1),
        &node_key(),
        t("2025-03-01T02:00:00Z"),
    )
    .unwrap();
    assert_eq!(
        verify(&too_early, Some(&dev_bundle())).error_codes(),
        ["trust.key_not_yet_valid"]
    );

    // A key revoked after the fact invalidates what it signed.
    let mut bundle = dev_bundle();
    bundle.nodes[1].keys[0].status = KeyStatus::Revoked;
    let v = verify(&example_credential(), Some(&bundle));
    assert_eq!(checks(&v), [Pass, Fail, Pass, Skipped]);
    assert_eq!(v.error_codes(), ["trust.key_revoked"]);
}

#[test]
fn issuer_node_must_be_the_node_of_the_key() {
    // Signed by the Qingyang key but claiming to be the province node.
    let mut input = example_input(0);
    input.node_region = domain::codes::RegionCode::parse(GANSU).unwrap();
    let cred = vc::issue(&input, &node_key(), created()).unwrap();
    let v = verify(&cred, Some(&dev_bundle()));
    assert_eq!(checks(&v), [Pass, Fail, Pass, Skipped]);
    assert_eq!(v.error_codes(), ["trust.node_mismatch"]);
}

#[test]
fn the_issuer_must_control_the_verification_method() {
    // A valid proof by the Qingyang key on a credential naming another issuer.
    let key = node_key();
    let mut cred = vc::build_credential(&example_input(0));
    cred["issuer"]["id"] = province_node_key().did().into();
    let opts = vc::ProofOptions::new(key.verification_method()).created_at(created());
    let cred = vc::add_proof(&cred, &opts, &key).unwrap();
    let v = verify(&cred, Some(&dev_bundle()));
    assert_eq!(v.checks.signature, Fail);
    assert_eq!(v.error_codes(), ["credential.issuer_mismatch"]);
    assert!(!v.valid);

    // A proof for another purpose.
    let mut cred = vc::build_credential(&example_input(0));
    cred["issuer"]["id"] = key.did().into();
    let mut opts = vc::ProofOptions::new(key.verification_method()).created_at(created());
    opts.proof_purpose = "authentication".into();
    let cred = vc::add_proof(&cred, &opts, &key).unwrap();
    assert_eq!(
        verify(&cred, Some(&dev_bundle())).error_codes(),
        ["proof.purpose"]
    );
}

#[test]
fn verification_methods_can_come_from_the_bundle() {
    let key = node_key();
    let vm = "https://qingyang.exchange-gateway.example/keys#key-2026";
    let mut bundle = dev_bundle();
    bundle.nodes[1].keys[0].verification_method = Some(vm.into());
    let mut cred = vc::build_credential(&example_input(0));
    cred["issuer"]["id"] = "https://qingyang.exchange-gateway.example/keys".into();
    let opts = vc::ProofOptions::new(vm).created_at(created());
    let cred = vc::add_proof(&cred, &opts, &key).unwrap();
    let v = verify(&cred, Some(&bundle));
    assert_eq!(checks(&v), [Pass, Pass, Pass, Skipped], "{:?}", v.errors);
    // Without the registration the key cannot be found.
    let v = verify(&cred, Some(&dev_bundle()));
    assert_eq!(checks(&v), [Fail, Fail, Pass, Skipped]);
    assert_eq!(
        v.error_codes(),
        ["proof.verification_method", "trust.key_unknown"]
    );
}

#[test]
fn validity_period_is_checked_against_now() {
    let cred = expiring_credential();
    let bundle = dev_bundle();
    let at = |now: &str| verify_credential(&cred, Some(&bundle), t(now), None, false);
    let cases = [
        ("2026-11-18T15:59:59Z", Some("validity.not_yet_valid")),
        ("2026-11-18T16:00:00Z", None), // 2026-11-19 00:00 in China Standard Time
        ("2031-11-18T23:59:59+08:00", None),
        ("2031-11-19T00:00:00+08:00", Some("validity.expired")),
        ("2040-01-01T00:00:00Z", Some("validity.expired")),
    ];
    for (now, error) in cases {
        let v = at(now);
        match error {
            None => assert!(v.valid, "{now}: {:?}", v.errors),
            Some(code) => {
                assert_eq!(checks(&v), [Pass, Pass, Fail, Skipped], "{now}");
                assert_eq!(v.error_codes(), [code], "{now}");
                assert!(!v.valid);
            }
        }
    }
    // No validUntil: valid for ever after validFrom.
    let open = example_credential();
    assert!(verify_credential(&open, Some(&bundle), t("2099-01-01T00:00:00Z"), None, false).valid);
    // A date without a time zone is malformed (and the signature breaks too).
    let mut bad = open.clone();
    bad["validFrom"] = "2026-11-19".into();
    assert_eq!(
        verify(&bad, Some(&bundle)).error_codes(),
        ["proof.signature", "validity.malformed"]
    );
}

#[test]
fn strict_turns_skipped_checks_into_failures() {
    let cred = example_credential();
    let bundle = dev_bundle();
    let v = verify_credential(&cred, Some(&bundle), now(), None, true);
    assert_eq!(checks(&v), [Pass, Pass, Pass, Fail]);
    assert!(!v.valid);
    // Strict: the log check, without a proof, fails too.
    assert_eq!(v.error_codes(), ["status.not_checked", "log.no_proof"]);
    assert_eq!(v.errors[0].check, Check::NotRevoked);
    assert_eq!(v.errors[1].check, Check::Logged);

    let v = verify_credential(&cred, None, now(), None, true);
    assert_eq!(checks(&v), [Pass, Fail, Pass, Fail]);
    assert_eq!(
        v.error_codes(),
        ["trust.no_bundle", "status.not_checked", "log.no_proof"]
    );

    let v = verify_credential(
        &cred,
        Some(&bundle),
        now(),
        Some(StatusLookup::known(false, false)),
        true,
    );
    assert_eq!(checks(&v), [Pass, Pass, Pass, Pass]);
    assert_eq!(v.checks.logged, Fail, "strict, and no inclusion proof");
    assert!(!v.valid);
}

#[test]
fn revocation_and_suspension_invalidate() {
    let cred = example_credential();
    let bundle = dev_bundle();
    let with = |status: StatusLookup<'static>| {
        verify_credential(&cred, Some(&bundle), now(), Some(status), false)
    };
    let v = with(StatusLookup::known(false, false));
    assert_eq!(checks(&v), [Pass, Pass, Pass, Pass]);
    assert!(v.valid);

    let v = with(StatusLookup::known(true, false));
    assert_eq!(checks(&v), [Pass, Pass, Pass, Fail]);
    assert_eq!(v.error_codes(), ["status.revoked"]);
    assert!(!v.valid);

    let v = with(StatusLookup::known(false, true));
    assert_eq!(v.error_codes(), ["status.suspended"]);
    assert!(!v.valid);

    let v = with(StatusLookup::known(true, true));
    assert_eq!(v.error_codes(), ["status.revoked", "status.suspended"]);

    // A list that cannot be fetched: skipped, not invalid (unless strict).
    let v = with(StatusLookup::new(|_| None));
    assert_eq!(checks(&v), [Pass, Pass, Pass, Skipped]);
    assert!(v.valid);
    assert!(v.errors.is_empty());
    let v = verify_credential(
        &cred,
        Some(&bundle),
        now(),
        Some(StatusLookup::new(|_| None)),
        true,
    );
    assert_eq!(v.error_codes(), ["status.unavailable", "log.no_proof"]);
    assert!(!v.valid);
}

#[test]
fn the_lookup_is_asked_about_each_entry() {
    let cred = example_credential();
    let asked = std::cell::RefCell::new(Vec::new());
    let lookup = StatusLookup::new(|e: &StatusEntry<'_>| {
        asked
            .borrow_mut()
            .push((e.purpose, e.list_credential.to_owned(), e.index));
        Some(e.purpose == StatusPurpose::Suspension && e.index == 12)
    });
    let v = verify_credential(&cred, Some(&dev_bundle()), now(), Some(lookup), false);
    assert_eq!(v.error_codes(), ["status.suspended"]);
    let base = "https://ecert.exchange-gateway.example/v1/status/621000000000";
    assert_eq!(
        asked.into_inner(),
        [
            (StatusPurpose::Revocation, format!("{base}/revocation"), 14),
            (StatusPurpose::Suspension, format!("{base}/suspension"), 12),
        ]
    );
}
