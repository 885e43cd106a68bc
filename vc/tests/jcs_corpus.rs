//! The two direct JCS writers (`write_exact` over a `serde_json::Value`, `to_vec_exact` straight
//! from any `Serialize` value) on every JSON document of the fuzz corpora (`fuzz/corpus/*/`:
//! credentials, bundles, native batches and records, with the escapes, non-BMP keys, deep
//! nesting and odd numbers the fuzzers found): the same bytes, the same decision to leave a
//! document to the general writer, and member ranges that drop exactly that member. And the
//! borrowed tree (`vc::json::Json`) reads each as `serde_json::Value` does.

use std::path::Path;

use serde_json::Value;
use vc::jcs::{to_vec_exact, write_exact};

/// Members whose range is checked wherever a document has them at its top level.
const MEMBERS: [&str; 5] = ["proof", "ingested_at", "@context", "id", "records"];

#[test]
fn direct_writers_agree_on_every_corpus_document() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let (mut documents, mut ranges) = (0, 0);
    for target in std::fs::read_dir(&root).unwrap() {
        for file in std::fs::read_dir(target.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            let Ok(doc) = serde_json::from_slice::<Value>(&std::fs::read(&path).unwrap()) else {
                continue;
            };
            documents += 1;
            let mut tree = Vec::new();
            let exact = write_exact(&mut tree, &doc);
            for member in MEMBERS {
                let direct = to_vec_exact(&doc, member);
                assert_eq!(direct.is_some(), exact, "{}", path.display());
                let Some((bytes, range)) = direct else {
                    continue;
                };
                assert_eq!(bytes, tree, "{}", path.display());
                let Some(range) = range else {
                    assert!(doc.get(member).is_none(), "{}: {member}", path.display());
                    continue;
                };
                ranges += 1;
                let mut without = doc.clone();
                without.as_object_mut().unwrap().remove(member);
                let mut expected = Vec::new();
                assert!(write_exact(&mut expected, &without));
                let mut dropped = bytes[..range.start].to_vec();
                dropped.extend_from_slice(&bytes[range.end..]);
                assert_eq!(dropped, expected, "{}: {member}", path.display());
            }
        }
    }
    assert!(
        documents >= 100,
        "only {documents} JSON documents in the corpora"
    );
    assert!(ranges >= 50, "only {ranges} member ranges checked");
}

/// The borrowed tree verification reads presented credentials into reads every corpus
/// document as `serde_json::Value` does: the same value, text and JCS bytes.
#[test]
fn the_borrowed_tree_reads_every_corpus_document_as_serde_json_does() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let mut documents = 0;
    for target in std::fs::read_dir(&root).unwrap() {
        for file in std::fs::read_dir(target.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let Ok(doc) = serde_json::from_slice::<Value>(&bytes) else {
                assert!(
                    vc::json::Json::parse_bytes(&bytes).is_err(),
                    "{}",
                    path.display()
                );
                continue;
            };
            documents += 1;
            let tree = vc::json::Json::parse_bytes(&bytes).unwrap();
            assert_eq!(
                serde_json::to_value(&tree).unwrap(),
                doc,
                "{}",
                path.display()
            );
            let written: serde_json::Value = serde_json::from_str(&tree.to_string()).unwrap();
            assert_eq!(written, doc, "{}", path.display());
            assert_eq!(
                vc::jcs::canonicalize(&tree).ok(),
                vc::jcs::canonicalize(&doc).ok(),
                "{}",
                path.display()
            );
        }
    }
    assert!(documents >= 100, "only {documents} JSON documents");
}
