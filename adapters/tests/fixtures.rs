//! Every adapter's fixtures, through decode and normalization, against golden canonical JSON.
//! Set `UPDATE_GOLDEN=1` to rewrite the `*.expected.json` files after an intended change, then
//! review the diff.

mod common;

use std::sync::Arc;

use adapters::Adapter;
use common::{Env, codes, fixtures, golden};
use serde_json::Value;

/// A registered adapter.
fn by_id(id: &str) -> Arc<dyn Adapter> {
    adapters::by_id(id).unwrap()
}

#[test]
fn market_regulation_valid_batch_matches_golden_and_schema() {
    let env = Env::new();
    let out: Vec<Value> = env
        .run(&*by_id("market-regulation"), "batch-valid.json")
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
        .run(&*by_id("public-security"), "batch-valid.gbk.xml")
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

#[test]
fn market_regulation_mixed_batch_rejects_exactly_the_bad_records() {
    let out = Env::new().run(&*by_id("market-regulation"), "batch-mixed.json");
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
    let out = Env::new().run(&*by_id("public-security"), "batch-mixed.gbk.xml");
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
