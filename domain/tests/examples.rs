//! The examples in `schemas/examples/` are what integrators copy: each must validate against the
//! canonical schema and read back as a typed record.

use domain::record::CaseRecord;
use domain::schema::JsonSchema;

#[test]
fn every_example_validates_and_reads_back() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/examples");
    let schema = JsonSchema::case_record();
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        // Other kinds of example (credential-*, trust-bundle-*) are checked by their own crates.
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if !(name.starts_with("case-record-") && name.ends_with(".json")) {
            continue;
        }
        let value: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let errors = schema.errors(&value);
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        let record: CaseRecord = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(
            serde_json::to_value(&record).unwrap(),
            value,
            "{} does not round-trip",
            path.display()
        );
        seen += 1;
    }
    assert!(seen >= 3, "expected at least three examples, found {seen}");
}

#[test]
fn a_broken_example_is_caught() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../schemas/examples/case-record-business-licence-two-certificates.json"),
    )
    .unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["region_code"] = "62100".into();
    value["status"] = "done".into();
    let paths: Vec<String> = JsonSchema::case_record()
        .errors(&value)
        .into_iter()
        .map(|e| e.path)
        .collect();
    assert!(
        paths.contains(&"/region_code".to_owned()) && paths.contains(&"/status".to_owned()),
        "{paths:?}"
    );
}
