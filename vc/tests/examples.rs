//! The example files under `schemas/examples/` are generated here from fixed seeds, so
//! they are reproducible: this test regenerates them and compares. After an intended change,
//! run `UPDATE_EXAMPLES=1 cargo test -p exchange-vc --test examples` and review the diff.

mod common;

use common::*;
use serde_json::Value;
use vc::{verify_bundle, verify_credential};

const CREDENTIAL: &str = "schemas/examples/credential-business-licence.json";
const BUNDLE: &str = "schemas/examples/trust-bundle-dev.json";

/// The dev network's province root key (seed: SHA-256 of a public label, see `common`).
const ROOT_DID: &str = "did:key:z6MkhwJ4uA31w9pXTNsVL1PXQywEVeqNLdSPFmUEJ5y4bFTq";

fn check_file(rel: &str, generated: &Value) {
    let text = format!("{}\n", serde_json::to_string_pretty(generated).unwrap());
    let path = repo_path(rel);
    if std::env::var_os("UPDATE_EXAMPLES").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == text,
        "{rel} is out of date: run UPDATE_EXAMPLES=1 cargo test -p exchange-vc --test examples"
    );
}

#[test]
fn example_files_are_reproducible() {
    assert_eq!(root_key().did(), ROOT_DID);
    check_file(BUNDLE, &signed_dev_bundle());
    check_file(CREDENTIAL, &example_credential());
}

#[test]
fn example_credential_verifies_with_example_bundle() {
    let bundle = verify_bundle(&read_json(BUNDLE), ROOT_DID).unwrap();
    let credential = read_json(CREDENTIAL);
    let v = verify_credential(&credential, Some(&bundle), now(), None, false);
    assert!(v.valid, "{:?}", v.errors);
    assert_eq!(
        schema_errors("certificate.v1.schema.json", &credential),
        Vec::<String>::new()
    );
    assert_eq!(
        schema_errors("trust-bundle.v1.schema.json", &read_json(BUNDLE)),
        Vec::<String>::new()
    );
}
