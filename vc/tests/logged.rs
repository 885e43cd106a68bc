//! The `logged` check: a credential's inclusion proof in its issuing node's transparency log,
//! in a checkpoint cosigned by another node, while the signing key was valid.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use common::*;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{Value, json};
use vc::did_key::did_from_ed25519;
use vc::logged::{LogError, check, leaf_hash};
use vc::trust::{NodeLog, TrustBundle, log_origin, witness_name};
use vc::verify::{CheckResult, StatusLookup, verify_credential_logged};

fn checkpoint_key(label: &str) -> Ed25519KeyPair {
    let seed = ring::digest::digest(&ring::digest::SHA256, label.as_bytes());
    Ed25519KeyPair::from_seed_unchecked(seed.as_ref()).unwrap()
}

fn did(key: &Ed25519KeyPair) -> String {
    did_from_ed25519(key.public_key().as_ref().try_into().unwrap())
}

/// The dev bundle with a log for both nodes.
fn bundle_with_logs() -> TrustBundle {
    let mut bundle = dev_bundle();
    for node in &mut bundle.nodes {
        let key = checkpoint_key(node.region.as_str());
        node.log = Some(NodeLog {
            origin: log_origin(NETWORK_BASE_URL, &node.region),
            key: did(&key),
        });
    }
    bundle
}

/// A log of three filler leaves and the credential at index 3, its checkpoint signed by the
/// Qingyang log key and (when `cosign_at`) cosigned by the Gansu node as witness.
fn proof(credential: &Value, cosign_at: Option<DateTime<Utc>>) -> Value {
    let mut log = tlog::MemoryLog::new();
    for filler in [b"a".as_slice(), b"b", b"c"] {
        log.push(filler);
    }
    log.push_leaf_hash(leaf_hash(credential).unwrap());
    log.push(b"d");
    let size = log.size();
    let qingyang = domain::codes::RegionCode::parse(QINGYANG).unwrap();
    let origin = log_origin(NETWORK_BASE_URL, &qingyang);
    let checkpoint = tlog::Checkpoint::new(&origin, size, log.root());
    let mut note = tlog::sign_note(&checkpoint.body(), &origin, &checkpoint_key(QINGYANG)).unwrap();
    if let Some(at) = cosign_at {
        let gansu = domain::codes::RegionCode::parse(GANSU).unwrap();
        let name = witness_name(NETWORK_BASE_URL, &gansu);
        let sig = tlog::cosign(
            &checkpoint,
            &name,
            &checkpoint_key(GANSU),
            at.timestamp() as u64,
        )
        .unwrap();
        note.push_str(&sig.line());
    }
    let path = log.inclusion_proof(3, size).unwrap();
    json!({
        "type": "LogInclusionProof",
        "identifier": credential["id"].as_str().unwrap().trim_start_matches("urn:ecert:"),
        "version": 1,
        "log": origin,
        "leaf_index": 3,
        "tree_size": size,
        "inclusion_proof": path.iter().map(|h| STANDARD.encode(h)).collect::<Vec<_>>(),
        "checkpoint": note,
    })
}

#[test]
fn a_witnessed_inclusion_proof_passes() {
    let cred = example_credential();
    let bundle = bundle_with_logs();
    let included = check(&cred, &proof(&cred, Some(now())), &bundle).unwrap();
    assert_eq!(included.cosigned_at, now());
    assert_eq!(included.witnesses.len(), 1);
    // With the status known too, even strict verification passes.
    let v = verify_credential_logged(
        &cred,
        Some(&bundle),
        now(),
        Some(StatusLookup::known(false, false)),
        Some(&proof(&cred, Some(now()))),
        true,
    );
    assert_eq!(v.checks.logged, CheckResult::Pass);
    assert!(v.valid, "{:?}", v.errors);
}

#[test]
fn an_unwitnessed_checkpoint_or_a_log_the_bundle_does_not_list_proves_nothing() {
    let cred = example_credential();
    let bundle = bundle_with_logs();
    let unwitnessed = proof(&cred, None);
    assert_eq!(
        check(&cred, &unwitnessed, &bundle),
        Err(LogError::NotCosigned)
    );
    // Skipped, not failed: the credential stays valid unless strict.
    let v = verify_credential_logged(&cred, Some(&bundle), now(), None, Some(&unwitnessed), false);
    assert_eq!(v.checks.logged, CheckResult::Skipped);
    assert!(v.valid);
    let v = verify_credential_logged(
        &cred,
        Some(&dev_bundle()),
        now(),
        None,
        Some(&proof(&cred, Some(now()))),
        false,
    );
    assert_eq!(v.checks.logged, CheckResult::Skipped);
    assert_eq!(v.error_codes(), Vec::<&str>::new());
}

#[test]
fn a_proof_of_another_leaf_or_a_changed_credential_fails() {
    let cred = example_credential();
    let bundle = bundle_with_logs();
    let mut wrong_index = proof(&cred, Some(now()));
    wrong_index["leaf_index"] = json!(2);
    let e = check(&cred, &wrong_index, &bundle).unwrap_err();
    assert_eq!(e.code(), "log.not_included");
    let mut changed = cred.clone();
    changed["credentialSubject"]["certificateName"] = json!("伪造执照");
    let e = check(&changed, &proof(&cred, Some(now())), &bundle).unwrap_err();
    assert_eq!(e.code(), "log.not_included");
    let v = verify_credential_logged(&cred, Some(&bundle), now(), None, Some(&wrong_index), false);
    assert_eq!(v.checks.logged, CheckResult::Fail);
    assert!(!v.valid);
}

#[test]
fn a_checkpoint_signed_by_another_key_or_for_another_log_fails() {
    let cred = example_credential();
    let bundle = bundle_with_logs();
    let mut other_log = proof(&cred, Some(now()));
    other_log["log"] = json!("ecert.exchange-gateway.example/log/620000000000");
    assert_eq!(
        check(&cred, &other_log, &bundle).unwrap_err().code(),
        "log.wrong_log"
    );
    // The Qingyang log listed with another key: its checkpoints do not verify.
    let mut rekeyed = bundle.clone();
    rekeyed.nodes[1].log.as_mut().unwrap().key = did(&checkpoint_key("someone else"));
    let e = check(&cred, &proof(&cred, Some(now())), &rekeyed).unwrap_err();
    assert_eq!(e.code(), "log.bad_checkpoint");
}

#[test]
fn a_credential_logged_after_its_key_expired_fails() {
    let cred = example_credential();
    let bundle = bundle_with_logs();
    // The Qingyang 2026 key is valid until the end of 2028.
    let late = t("2029-06-01T00:00:00Z");
    let e = check(&cred, &proof(&cred, Some(late)), &bundle).unwrap_err();
    assert_eq!(e.code(), "log.key_not_valid");
}

#[test]
fn a_proof_read_once_gives_the_verdict_its_json_gives() {
    let cred = example_credential();
    let bundle = bundle_with_logs();
    let mut wrong_index = proof(&cred, Some(now()));
    wrong_index["leaf_index"] = json!(2);
    let mut not_a_proof = proof(&cred, Some(now()));
    not_a_proof["type"] = json!("SomethingElse");
    for json in [
        proof(&cred, Some(now())),
        proof(&cred, None),
        wrong_index,
        not_a_proof,
        json!({"leaf_index": "three"}),
    ] {
        let read = vc::logged::LogProof::from_json(&json);
        let status = || Some(StatusLookup::known(false, false));
        let from_json =
            verify_credential_logged(&cred, Some(&bundle), now(), status(), Some(&json), false);
        let from_read = vc::verify::verify_credential_proven(
            &cred,
            Some(&bundle),
            now(),
            status(),
            Some(&read),
            false,
        );
        assert_eq!(from_read, from_json, "{json}");
    }
    // The malformed ones fail `logged` with log.malformed, read or not.
    let read = vc::logged::LogProof::from_json(&json!({"leaf_index": "three"}));
    let v =
        vc::verify::verify_credential_proven(&cred, Some(&bundle), now(), None, Some(&read), false);
    assert_eq!(v.checks.logged, CheckResult::Fail);
    assert_eq!(v.error_codes(), vec!["log.malformed"]);
}

/// The keys a checkpoint is opened with are its signers' (a bundle may list thousands of
/// nodes, any of which may witness): among 1,500 more nodes with logs, the witness that signed
/// is found, and a signer the bundle does not list proves nothing.
#[test]
fn a_large_bundle_finds_the_witness_that_signed() {
    let cred = example_credential();
    let mut bundle = bundle_with_logs();
    let template = bundle.nodes[0].clone();
    for i in 0..1500 {
        let mut node = template.clone();
        node.region = domain::codes::RegionCode::parse(&format!("6210221{:05}", i)).unwrap();
        let key = checkpoint_key(node.region.as_str());
        node.log = Some(NodeLog {
            origin: log_origin(NETWORK_BASE_URL, &node.region),
            key: did(&key),
        });
        node.keys.clear();
        bundle.nodes.insert(0, node);
    }
    let included = check(&cred, &proof(&cred, Some(now())), &bundle).unwrap();
    assert_eq!(
        included.witnesses,
        vec![witness_name(
            NETWORK_BASE_URL,
            &domain::codes::RegionCode::parse(GANSU).unwrap()
        )]
    );
    bundle.nodes.retain(|n| n.region.as_str() != GANSU);
    assert_eq!(
        check(&cred, &proof(&cred, Some(now())), &bundle),
        Err(LogError::NotCosigned)
    );
}
