//! Replays the adapters' fuzz corpora (`fuzz/corpus/<target>/`: fixture seeds, inputs the fuzzer
//! found that add coverage, and the inputs of fixed crashes) through the very functions the fuzz
//! targets run (`fuzz/targets/adapters.rs`), so `cargo test` keeps them honest without libFuzzer
//! or a nightly compiler. The property is the fuzzers': no panic on any input.
//!
//! Fuzzing itself: `bench/fuzz.sh [seconds]` (see bench/README.md).

#[path = "../../fuzz/targets/adapters.rs"]
mod targets;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

/// Every file of the target's corpus through `run`; the names of those that panicked.
fn replay(target: &str, run: fn(&[u8])) -> (usize, Vec<String>) {
    let dir = corpus_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut failed = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        if catch_unwind(AssertUnwindSafe(|| run(&bytes))).is_err() {
            failed.push(format!(
                "{target}/{}",
                file.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    (files.len(), failed)
}

#[test]
fn every_adapter_fuzz_corpus_replays_without_panic() {
    let mut failed = Vec::new();
    for &(target, run) in targets::TARGETS {
        let (n, mut bad) = replay(target, run);
        assert!(
            n > 0,
            "fuzz/corpus/{target}/ is empty: it should hold at least the fixture seeds"
        );
        failed.append(&mut bad);
    }
    assert!(
        failed.is_empty(),
        "these corpus inputs panic (the panic messages are above):\n{}",
        failed.join("\n")
    );
}

/// Each fuzz target of fuzz/Cargo.toml has its corpus directory, and each corpus directory is
/// replayed by this test or by `vc/tests/fuzz_corpus.rs`.
#[test]
fn every_fuzz_target_has_a_corpus_that_is_replayed() {
    const VC_TARGETS: &[&str] = &["verify_credential", "ed25519_agreement"];
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/Cargo.toml"))
            .unwrap();
    let mut declared: Vec<&str> = manifest
        .lines()
        .filter_map(|l| l.trim().strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .filter(|name| *name != "exchange-fuzz")
        .collect();
    declared.sort();
    let mut replayed: Vec<&str> = targets::TARGETS.iter().map(|(t, _)| *t).collect();
    replayed.extend_from_slice(VC_TARGETS);
    replayed.sort();
    assert_eq!(declared, replayed);
    let mut dirs: Vec<String> = std::fs::read_dir(corpus_dir(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    assert_eq!(dirs, replayed);
}
