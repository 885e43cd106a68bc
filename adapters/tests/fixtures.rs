//! Every adapter's fixtures, through decode and normalization, against golden canonical JSON.
//! Set `UPDATE_GOLDEN=1` to rewrite the `*.expected.json` files after an intended change, then
//! review the diff.

use std::path::{Path, PathBuf};

use chrono::DateTime;
use domain::catalog::Catalog;
use domain::codes::region::RegionCode;
use domain::normalize::{Context, Stamp, normalize};
use domain::regions::RegionTable;
use domain::schema::JsonSchema;
use serde_json::{Value, json};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

struct Env {
    catalog: Catalog,
    regions: RegionTable,
    schema: JsonSchema,
}

impl Env {
    fn new() -> Self {
        Env {
            catalog: Catalog::bundled().unwrap(),
            regions: RegionTable::bundled().unwrap(),
            schema: JsonSchema::case_record(),
        }
    }

    /// Decode and normalize a batch: per record, the canonical body or the errors.
    fn run(&self, adapter: &str, file: &str) -> Vec<Result<Value, Value>> {
        let adapter = adapters::by_id(adapter).unwrap();
        let bytes = std::fs::read(fixtures().join(adapter.id()).join(file)).unwrap();
        let stamp = Stamp {
            department: adapter.department().into(),
            system: "fixture-system".into(),
            node_region: RegionCode::parse("621000000000").unwrap(),
            ingested_at: DateTime::parse_from_rfc3339("2026-11-25T12:00:00+08:00").unwrap(),
        };
        let ctx = Context {
            catalog: &self.catalog,
            regions: &self.regions,
            schema: &self.schema,
            legacy_credit_prefixes: &[],
            max_clock_skew: chrono::Duration::minutes(5),
        };
        adapter
            .decode(&bytes)
            .unwrap()
            .into_iter()
            .map(|rec| {
                let draft = rec.draft.map_err(|e| json!(e))?;
                normalize(draft, &stamp, &ctx)
                    .map(|n| n.body)
                    .map_err(|e| json!(e))
            })
            .collect()
    }
}

fn golden(adapter: &str, name: &str, actual: &Value) {
    let path = fixtures().join(adapter).join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(actual).unwrap() + "\n").unwrap();
    }
    let expected: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(
        actual,
        &expected,
        "{} differs from the adapter's output",
        path.display()
    );
}

#[test]
fn market_regulation_valid_batch_matches_golden_and_schema() {
    let env = Env::new();
    let out: Vec<Value> = env
        .run("market-regulation", "batch-valid.json")
        .into_iter()
        .map(|r| r.expect("every record of the valid fixture normalizes"))
        .collect();
    assert_eq!(out.len(), 3);
    for body in &out {
        assert!(env.schema.is_valid(body));
    }
    // Local names and codes became the catalog's.
    assert_eq!(out[0]["service_item"]["basic_code"], "620130001000");
    assert_eq!(out[0]["service_item"]["name"], "企业设立登记");
    assert_eq!(out[2]["service_item"]["name"], "企业设立登记");
    assert_eq!(out[1]["tier"], 5);
    assert_eq!(
        out[0]["result"]["certificates"].as_array().unwrap().len(),
        2
    );
    assert_eq!(
        out[0]["timestamps"]["occurred"],
        "2026-11-18T09:12:00+08:00"
    );
    golden(
        "market-regulation",
        "batch-valid.expected.json",
        &Value::Array(out),
    );
}

#[test]
fn public_security_gbk_batch_matches_golden_and_schema() {
    let env = Env::new();
    let out: Vec<Value> = env
        .run("public-security", "batch-valid.gbk.xml")
        .into_iter()
        .map(|r| r.expect("every record of the valid fixture normalizes"))
        .collect();
    assert_eq!(out.len(), 2);
    assert_eq!(out[0]["applicant"]["name"], "李秀兰");
    assert_eq!(out[0]["process_steps"][0]["opinion"], "材料齐全 & 符合条件");
    assert_eq!(out[0]["holds"][0]["reason"], "等待原籍地核查");
    // Full-width digits in the second record were normalized.
    assert_eq!(out[1]["region_code"], "621022101000");
    assert_eq!(out[1]["service_item"]["basic_code"], "620711002000");
    golden(
        "public-security",
        "batch-valid.expected.json",
        &Value::Array(out),
    );
}

fn codes(r: &Result<Value, Value>) -> Vec<(String, String)> {
    let errs = r.as_ref().expect_err("record should be rejected");
    errs.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["path"].as_str().unwrap().to_owned(),
                e["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn market_regulation_mixed_batch_rejects_exactly_the_bad_records() {
    let out = Env::new().run("market-regulation", "batch-mixed.json");
    assert_eq!(out.len(), 6);
    assert!(out[0].is_ok());
    assert_eq!(
        codes(&out[1]),
        [(
            "/applicant/id_number".into(),
            "id_number.check_digit".into()
        )]
    );
    assert_eq!(
        codes(&out[2]),
        [(
            "/service_item/basic_code".into(),
            "service_item.unknown".into()
        )]
    );
    assert_eq!(
        codes(&out[3]),
        [(
            "/service_item/basic_code".into(),
            "service_item.suspended".into()
        )]
    );
    let c4 = codes(&out[4]);
    assert!(
        c4.contains(&("/timestamps/occurred".into(), "datetime.format".into())),
        "{c4:?}"
    );
    assert_eq!(codes(&out[5]), [("".into(), "record.not_object".into())]);
}

#[test]
fn public_security_mixed_batch_rejects_exactly_the_bad_records() {
    let out = Env::new().run("public-security", "batch-mixed.gbk.xml");
    assert_eq!(out.len(), 3);
    assert!(out[0].is_ok());
    assert_eq!(
        codes(&out[1]),
        [("/applicant/name".into(), "encoding.invalid".into())]
    );
    assert_eq!(
        codes(&out[2]),
        [(
            "/handling_org/credit_code".into(),
            "credit_code.check_digit".into()
        )]
    );
}

#[test]
fn xml_batch_with_wrong_record_count_is_refused_whole() {
    let bytes = std::fs::read(fixtures().join("public-security/batch-valid.gbk.xml")).unwrap();
    let text = encoding_rs::GBK
        .decode(&bytes)
        .0
        .replace("<JLS>2</JLS>", "<JLS>3</JLS>");
    let err = adapters::by_id("public-security")
        .unwrap()
        .decode(&encoding_rs::GBK.encode(&text).0)
        .unwrap_err();
    assert_eq!(err.code, "payload.count_mismatch");
}

#[test]
fn records_keep_their_raw_bytes_and_location() {
    let adapter = adapters::by_id("public-security").unwrap();
    let bytes = std::fs::read(fixtures().join("public-security/batch-valid.gbk.xml")).unwrap();
    let recs = adapter.decode(&bytes).unwrap();
    assert!(
        recs[1].location.starts_with("BJXX #2 (line "),
        "{}",
        recs[1].location
    );
    let raw = encoding_rs::GBK.decode(&recs[1].raw).0;
    assert!(raw.starts_with("<BJXX>") && raw.ends_with("</BJXX>") && raw.contains("王志强"));
    assert_eq!(recs[1].case_no.as_deref(), Some("GA-HX-HJ-20261121-0008"));
}
