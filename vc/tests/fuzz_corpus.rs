//! Replays the verifier's fuzz corpus (`fuzz/corpus/verify_credential/`: the example credential,
//! bundle and records as seeds, inputs the fuzzer found that add coverage, and the inputs of fixed
//! crashes) through the very function the fuzz target runs (`fuzz/targets/vc.rs`), so
//! `cargo test` keeps it honest without libFuzzer. The property is the fuzzer's: no panic.
//!
//! Fuzzing itself: `bench/fuzz.sh [seconds]` (see bench/README.md).

#[path = "../../fuzz/targets/vc.rs"]
mod targets;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

#[test]
fn verifier_fuzz_corpus_replays_without_panic() {
    let mut failed = Vec::new();
    for &(target, run) in targets::TARGETS {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/corpus")
            .join(target);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{} is empty", dir.display());
        for file in &files {
            let bytes = std::fs::read(file).unwrap();
            if catch_unwind(AssertUnwindSafe(|| run(&bytes))).is_err() {
                failed.push(format!(
                    "{target}/{}",
                    file.file_name().unwrap().to_string_lossy()
                ));
            }
        }
    }
    assert!(
        failed.is_empty(),
        "these corpus inputs panic (the panic messages are above):\n{}",
        failed.join("\n")
    );
}

/// The seed credential verifies with the target's trust bundle and clock, so the fuzzer starts
/// from the verifier's passing path (after regenerating `schemas/examples/`, copy the example
/// credential and bundle to the corpus again).
#[test]
fn the_seed_credential_verifies_with_the_targets_bundle_and_clock() {
    let seed = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus/verify_credential/seed-credential-business-licence.json");
    let cred: serde_json::Value = serde_json::from_slice(&std::fs::read(seed).unwrap()).unwrap();
    let verdict = vc::verify_credential(&cred, Some(targets::trust()), targets::now(), None, false);
    assert!(verdict.valid, "{:?}", verdict.errors);
}
