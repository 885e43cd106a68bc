//! Fixtures of the civil-affairs, human-resources and ecology-environment adapters, through
//! decode and normalization, against golden canonical JSON. Set `UPDATE_GOLDEN=1` to rewrite the
//! `*.expected.json` files after an intended change, then review the diff.
//!
//! The harness (`Env`, `run`, `golden`) is the shared one of `common/mod.rs`, taking the adapter
//! itself rather than its id, so these adapters are tested before they are registered in
//! `adapters::all()`.

mod common;

use adapters::Adapter;
use adapters::civil_affairs::CivilAffairs;
use adapters::ecology_environment::EcologyEnvironment;
use adapters::human_resources::HumanResources;
use common::{Env, codes, golden, read};
use serde_json::Value;

fn pair(path: &str, code: &str) -> Vec<(String, String)> {
    vec![(path.to_owned(), code.to_owned())]
}

// ------------------------------------------------------------------------- civil affairs

#[test]
fn civil_affairs_valid_batch_matches_golden_and_schema() {
    let env = Env::new();
    let out = env.valid(&CivilAffairs, "batch-valid.gb18030.csv");
    assert_eq!(out.len(), 3);
    assert_eq!(out[0]["service_item"]["basic_code"], "620712001000");
    assert_eq!(out[0]["service_item"]["name"], "结婚登记");
    assert_eq!(out[0]["applicant"]["name"], "张伟");
    assert_eq!(
        out[0]["timestamps"]["occurred"],
        "2026-11-18T09:12:00+08:00"
    );
    // One registration, two certificates: one per spouse.
    let certs = out[0]["result"]["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 2);
    assert_eq!(certs[0]["holder"]["name"], "张伟");
    assert_eq!(certs[1]["holder"]["name"], "李娜");
    assert_eq!(certs[1]["holder"]["code"], "621002199508200020");
    assert_eq!(certs[0]["surface"]["男方出生日期"], "1993年05月12日");
    // No 版本号: the update time 2026-11-21 16:20 +08:00 in milliseconds.
    assert_eq!(out[1]["version"], 1_795_249_200_000_i64);
    // A quoted field with a comma and a line break, and the tier from the region.
    assert_eq!(
        out[1]["result"]["text"],
        "双方自愿结婚, 符合《婚姻登记条例》规定\n当场颁发结婚证"
    );
    assert_eq!(
        out[1]["applicant"]["address"],
        "甘肃省庆阳市环县曲子镇西关村, 三组"
    );
    assert_eq!(out[2]["status"], "accepted");
    assert!(out[2].get("result").is_none());
    golden(
        "civil-affairs",
        "batch-valid.expected.json",
        &Value::Array(out),
    );
}

#[test]
fn civil_affairs_mixed_batch_rejects_exactly_the_bad_records() {
    let out = Env::new().run(&CivilAffairs, "batch-mixed.gb18030.csv");
    assert_eq!(out.len(), 7);
    // Full-width digits and stray spaces in codes are cleaned and accepted.
    let ok = out[0].as_ref().expect("full-width codes are cleaned");
    assert_eq!(ok["case_no"], "MZ-XF-20261124-0051");
    assert_eq!(ok["region_code"], "621002000000");
    assert_eq!(ok["applicant"]["id_number"], "621002199601010037");
    assert_eq!(
        ok["result"]["certificates"][1]["holder"]["code"],
        "621002199703031648"
    );
    assert_eq!(
        codes(&out[1]),
        pair("/applicant/id_number", "id_number.check_digit")
    );
    assert_eq!(
        codes(&out[2]),
        pair("/service_item/basic_code", "service_item.unknown")
    );
    assert_eq!(
        codes(&out[3]),
        pair("/result/certificates/1/holder/name", "encoding.invalid")
    );
    assert_eq!(
        codes(&out[4]),
        pair("/result/certificates/0/issue_date", "date.format")
    );
    assert_eq!(
        codes(&out[5]),
        pair("/timestamps/occurred", "field.missing")
    );
    assert_eq!(codes(&out[6]), pair("", "record.field_count"));
}

#[test]
fn civil_affairs_records_keep_their_line_and_raw_bytes() {
    let bytes = read(&CivilAffairs, "batch-valid.gb18030.csv");
    let recs = CivilAffairs.decode(&bytes).unwrap();
    // Record 2 holds a quoted line break, so record 3 starts one line later.
    let lines: Vec<&str> = recs.iter().map(|r| r.location.as_str()).collect();
    assert_eq!(lines, ["line 2", "line 3", "line 5"]);
    let raw = encoding_rs::GB18030
        .decode_without_bom_handling_and_without_replacement(&recs[1].raw)
        .unwrap();
    assert!(raw.starts_with("MZ-HX-20261120-0007,"), "{raw}");
    assert!(raw.contains("规定\n当场颁发结婚证\""), "{raw}");
    assert!(!raw.ends_with('\n') && !raw.ends_with('\r'));
    assert_eq!(recs[2].case_no.as_deref(), Some("MZ-XF-20261123-0040"));

    let mixed = read(&CivilAffairs, "batch-mixed.gb18030.csv");
    let recs = CivilAffairs.decode(&mixed).unwrap();
    // The undecodable bytes are kept as sent, for quarantine and replay.
    assert!(recs[3].raw.windows(2).any(|w| w == [0x81, 0x20]));
    assert_eq!(recs[3].case_no.as_deref(), Some("MZ-XF-20261124-0054"));
    assert_eq!(recs[0].case_no.as_deref(), Some("MZ-XF-20261124-0051"));
}

#[test]
fn civil_affairs_utf8_bom_on_gb18030_is_refused_whole() {
    let bytes = read(&CivilAffairs, "batch-valid.gb18030.csv");
    let stray = [b"\xEF\xBB\xBF".as_slice(), &bytes].concat();
    assert_eq!(
        CivilAffairs.decode(&stray).unwrap_err().code,
        "payload.encoding"
    );
    // The same content as UTF-8 with a BOM is read as UTF-8 and gives the same drafts.
    let text = encoding_rs::GB18030.decode(&bytes).0;
    let utf8 = [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat();
    let a = CivilAffairs.decode(&bytes).unwrap();
    let b = CivilAffairs.decode(&utf8).unwrap();
    assert_eq!(a.len(), b.len());
    for (a, b) in a.iter().zip(&b) {
        assert_eq!(a.draft, b.draft);
        assert_eq!(a.location, b.location);
    }
    // Without the BOM, UTF-8 is refused rather than read as GB18030 mojibake.
    assert_eq!(
        CivilAffairs.decode(text.as_bytes()).unwrap_err().code,
        "payload.encoding"
    );
}

// ----------------------------------------------------------------------- human resources

#[test]
fn human_resources_valid_batch_matches_golden_and_schema() {
    let env = Env::new();
    let out = env.valid(&HumanResources, "batch-valid.json");
    assert_eq!(out.len(), 3);
    assert_eq!(out[0]["service_item"]["basic_code"], "622013001000");
    assert_eq!(out[0]["service_item"]["name"], "社会保障卡申领");
    // yyyyMMddHHmmss and yyyyMMdd.
    assert_eq!(
        out[0]["timestamps"]["occurred"],
        "2026-11-16T08:45:12+08:00"
    );
    let card = &out[0]["result"]["certificates"][0];
    assert_eq!(card["issue_date"], "2026-11-20");
    assert_eq!(card["valid_until"], "2036-11-19");
    // Amounts in fen become yuan text on the surface.
    assert_eq!(card["surface"]["工本费"], "0.00元");
    assert_eq!(
        out[1]["result"]["certificates"][0]["surface"]["工本费"],
        "20.00元"
    );
    // No version: updateTime 2026-11-21 15:30:00 +08:00 in milliseconds.
    assert_eq!(out[1]["version"], 1_795_246_200_000_i64);
    assert_eq!(out[1]["tier"], 5);
    assert_eq!(out[1]["holds"][0]["reason"], "等待原卡挂失生效");
    // An explicit version wins over updateTime.
    assert_eq!(out[2]["version"], 3);
    golden(
        "human-resources",
        "batch-valid.expected.json",
        &Value::Array(out),
    );
}

#[test]
fn human_resources_mixed_batch_rejects_exactly_the_bad_records() {
    let out = Env::new().run(&HumanResources, "batch-mixed.json");
    assert_eq!(out.len(), 8);
    let ok = out[0].as_ref().expect("full-width codes are cleaned");
    assert_eq!(ok["region_code"], "621002101000");
    assert_eq!(ok["applicant"]["id_number"], "621002200106301510");
    assert_eq!(ok["applicant"]["phone"], "18893401234");
    assert_eq!(ok["handling_org"]["credit_code"], "11621002013870070C");
    assert_eq!(
        codes(&out[1]),
        pair("/handling_org/credit_code", "credit_code.check_digit")
    );
    // A vocational qualification certificate: its item has no catalog entry (yet).
    assert_eq!(
        codes(&out[2]),
        pair("/service_item/basic_code", "service_item.unknown")
    );
    assert_eq!(
        codes(&out[3]),
        pair("/result/certificates/0/issue_date", "date.format")
    );
    assert_eq!(
        codes(&out[4]),
        pair("/applicant/id_number", "field.missing")
    );
    // 12.5: yuan sent where fen are expected.
    assert_eq!(
        codes(&out[5]),
        pair("/result/certificates/0/surface/工本费", "integer.format")
    );
    assert_eq!(codes(&out[6]), pair("", "record.not_object"));
    assert_eq!(codes(&out[7]), pair("/version", "datetime.format"));
}

#[test]
fn human_resources_records_keep_their_index_and_raw_bytes() {
    let bytes = read(&HumanResources, "batch-mixed.json");
    let recs = HumanResources.decode(&bytes).unwrap();
    assert_eq!(recs[6].location, "data[6]");
    assert_eq!(recs[6].raw, b"\"RS-XF-20261124-0307\"");
    assert_eq!(recs[0].case_no.as_deref(), Some("RS-XF-20261124-0301"));
    let raw: Value = serde_json::from_slice(&recs[2].raw).unwrap();
    assert_eq!(raw["serviceItemCode"], "RS-ZYZG-01");
    // A truncated transfer: 'total' no longer matches.
    let text = String::from_utf8(bytes).unwrap();
    let truncated = text.replacen("\"total\": 8", "\"total\": 9", 1);
    assert_eq!(
        HumanResources
            .decode(truncated.as_bytes())
            .unwrap_err()
            .code,
        "payload.count_mismatch"
    );
}

// ------------------------------------------------------------------- ecology and environment

#[test]
fn ecology_environment_valid_batch_matches_golden_and_schema() {
    let env = Env::new();
    let out = env.valid(&EcologyEnvironment, "batch-valid.json");
    assert_eq!(out.len(), 3);
    assert_eq!(out[0]["service_item"]["basic_code"], "620116001000");
    assert_eq!(out[0]["service_item"]["name"], "排污许可证核发");
    assert_eq!(out[0]["tier"], 3);
    // Epoch milliseconds become local times at +08:00.
    assert_eq!(
        out[0]["timestamps"]["occurred"],
        "2026-11-02T09:30:00+08:00"
    );
    let permit = &out[0]["result"]["certificates"][0];
    assert_eq!(permit["type_name"], "排污许可证");
    assert_eq!(permit["holder"]["code_type"], "001");
    assert_eq!(permit["valid_until"], "2031-11-19");
    assert_eq!(permit["surface"]["主要污染物类别"], "废气、废水");
    // No banben: gengxin_shijian (2026-11-18 11:20 +08:00) is the version.
    assert_eq!(out[1]["version"], 1_794_972_000_000_i64);
    assert_eq!(
        out[1]["timestamps"]["occurred"],
        "2026-11-17T14:05:00+08:00"
    );
    assert_eq!(out[2]["status"], "rejected");
    assert_eq!(out[2]["result"]["decision"], "not_accepted");
    golden(
        "ecology-environment",
        "batch-valid.expected.json",
        &Value::Array(out),
    );
}

#[test]
fn ecology_environment_mixed_batch_rejects_exactly_the_bad_records() {
    let out = Env::new().run(&EcologyEnvironment, "batch-mixed.json");
    assert_eq!(out.len(), 7);
    let ok = out[0].as_ref().expect("full-width codes are cleaned");
    assert_eq!(ok["case_no"], "STHJ-HX-20261124-0031");
    assert_eq!(ok["region_code"], "621022000000");
    assert_eq!(ok["applicant"]["id_number"], "91621022MA72056786");
    assert_eq!(ok["handling_org"]["credit_code"], "116210220139200909");
    assert_eq!(
        codes(&out[1]),
        pair("/applicant/id_number", "credit_code.check_digit")
    );
    assert_eq!(
        codes(&out[2]),
        pair("/service_item/basic_code", "service_item.unknown")
    );
    assert_eq!(
        codes(&out[3]),
        pair("/result/certificates/0/valid_until", "date.format")
    );
    assert_eq!(
        codes(&out[4]),
        pair("/handling_org/credit_code", "field.missing")
    );
    assert_eq!(codes(&out[5]), pair("/status", "code.unknown"));
    // Seconds sent where milliseconds are expected.
    assert_eq!(
        codes(&out[6]),
        pair("/timestamps/occurred", "datetime.format")
    );
}

#[test]
fn ecology_environment_records_keep_their_index_and_raw_bytes() {
    let bytes = read(&EcologyEnvironment, "batch-mixed.json");
    let recs = EcologyEnvironment.decode(&bytes).unwrap();
    let locations: Vec<&str> = recs.iter().map(|r| r.location.as_str()).collect();
    assert_eq!(locations[6], "banjian[6]");
    assert_eq!(recs[0].case_no.as_deref(), Some("STHJ-HX-20261124-0031"));
    let raw: Value = serde_json::from_slice(&recs[5].raw).unwrap();
    assert_eq!(raw["zhuangtai"], "shenhe");
    let text = String::from_utf8(bytes).unwrap();
    let truncated = text.replacen("\"jilu_shu\": \"7\"", "\"jilu_shu\": \"8\"", 1);
    assert_eq!(
        EcologyEnvironment
            .decode(truncated.as_bytes())
            .unwrap_err()
            .code,
        "payload.count_mismatch"
    );
}
