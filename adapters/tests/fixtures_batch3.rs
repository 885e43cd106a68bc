//! Fixtures of the tax (SOAP), health (HL7 v2.5) and mapping-file adapters, through decode and
//! normalization, against golden canonical JSON and exact (path, code) pairs. Set
//! `UPDATE_GOLDEN=1` to rewrite the `*.expected.json` files after an intended change, then review
//! the diff. (The harness is the shared one of `common/mod.rs`, taking the adapter itself: these
//! adapters are not registered in `adapters::all()` yet.)

mod common;

use std::path::{Path, PathBuf};

use adapters::Adapter;
use adapters::health::{self, Health};
use adapters::mapping::MappingAdapter;
use adapters::tax::{self, Tax};
use chrono::DateTime;
use common::{Env, codes, fixtures, golden};
use domain::catalog::Catalog;
use serde_json::{Value, json};

fn mappings() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings")
}

fn pair(path: &str, code: &str) -> (String, String) {
    (path.into(), code.into())
}

fn all_ok(env: &Env, out: Vec<Result<Value, Value>>) -> Vec<Value> {
    out.into_iter()
        .map(|r| {
            let body = r.expect("every record of the valid fixture normalizes");
            assert!(env.schema.is_valid(&body));
            body
        })
        .collect()
}

fn county_csv() -> MappingAdapter {
    MappingAdapter::from_file(mappings().join("health-county-birth-csv.json")).unwrap()
}

// ---- tax ------------------------------------------------------------------------------------

#[test]
fn tax_soap_batch_matches_golden_and_schema() {
    let env = Env::new();
    let out = all_ok(&env, env.run_in(&Tax, "tax", "batch-valid.xml"));
    assert_eq!(out.len(), 3);
    assert_eq!(out[0]["service_item"]["basic_code"], "622015001000");
    assert_eq!(out[0]["service_item"]["name"], "完税证明开具");
    assert_eq!(
        out[0]["timestamps"]["completed"],
        "2026-11-18T09:32:40.500+08:00"
    );
    assert_eq!(
        out[0]["process_steps"][1]["opinion"],
        "已核对入库信息 & 缴款凭证"
    );
    let cert = &out[0]["result"]["certificates"][0];
    assert_eq!(cert["holder"]["code_type"], "111");
    assert_eq!(cert["issue_date"], "2026-11-18");
    assert!(cert.get("valid_until").is_none(), "长期 means no end date");
    assert_eq!(out[1]["applicant"]["kind"], "organization");
    assert_eq!(out[1]["status"], "on_hold");
    assert_eq!(out[1]["tier"], 5);
    // Full-width digits and letters were cleaned.
    assert_eq!(out[2]["case_no"], "SW-XF-20261122-0031");
    assert_eq!(out[2]["region_code"], "621002001000");
    assert_eq!(out[2]["applicant"]["id_number"], "91621002MA71B3K2X1");
    golden("tax", "batch-valid.expected.json", &Value::Array(out));
}

#[test]
fn tax_gbk_batch_rejects_exactly_the_bad_records() {
    let out = Env::new().run_in(&Tax, "tax", "batch-mixed.gbk.xml");
    assert_eq!(out.len(), 7);
    assert!(out[0].is_ok(), "{:?}", out[0]);
    assert_eq!(
        codes(&out[1]),
        [
            pair("/applicant/id_number", "id_number.check_digit"),
            pair(
                "/result/certificates/0/holder/code",
                "id_number.check_digit"
            ),
        ]
    );
    assert_eq!(
        codes(&out[2]),
        [pair("/service_item/basic_code", "service_item.unknown")]
    );
    // The taxpayer is also the certificate's holder: the bad name is reported at both paths.
    assert_eq!(
        codes(&out[3]),
        [
            pair("/applicant/name", "encoding.invalid"),
            pair("/result/certificates/0/holder/name", "encoding.invalid"),
        ]
    );
    assert_eq!(
        codes(&out[4]),
        [pair("/result/certificates/0/issue_date", "date.format")]
    );
    assert_eq!(
        codes(&out[5]),
        [pair("/handling_org/credit_code", "field.missing")]
    );
    let ok = out[6].as_ref().expect("full-width digits are cleaned");
    assert_eq!(ok["region_code"], "621002000000");
    assert_eq!(ok["case_no"], "SW-XF-20261123-0107");
}

#[test]
fn tax_records_keep_their_gbk_bytes_and_location() {
    let bytes = std::fs::read(fixtures().join("tax/batch-mixed.gbk.xml")).unwrap();
    let recs = Tax.decode(&bytes).unwrap();
    assert!(
        recs[3].location.starts_with("Record #4 (line "),
        "{}",
        recs[3].location
    );
    assert_eq!(recs[3].case_no.as_deref(), Some("SW-XF-20261123-0104"));
    assert!(recs[3].raw.starts_with(b"<T:Record>") && recs[3].raw.ends_with(b"</T:Record>"));
    assert!(
        recs[3].raw.windows(2).any(|w| w == [0x81, 0x20]),
        "bytes kept as sent"
    );
    let text = encoding_rs::GBK.decode(&recs[0].raw).0;
    assert!(text.contains("李秀梅"));
}

#[test]
fn tax_payload_errors_become_soap_faults() {
    let bytes = std::fs::read(fixtures().join("tax/batch-valid.xml")).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    for (doc, code, faultcode) in [
        (
            text.replace(tax::SOAP_ENV_NS, tax::SOAP12_ENV_NS),
            "payload.soap_version",
            "soap:VersionMismatch",
        ),
        (
            text.replace("<sw:RecordCount>3", "<sw:RecordCount>4"),
            "payload.count_mismatch",
            "soap:Client",
        ),
        (
            text.replace("</sw:Records>", ""),
            "payload.malformed",
            "soap:Client",
        ),
        (
            text.replace(
                "<sw:SenderInfo soapenv:mustUnderstand=\"1\">",
                "<sw:SenderInfo soapenv:mustUnderstand=\"1\"><x:Sig xmlns:x=\"urn:sig\" soapenv:mustUnderstand=\"1\"/>",
            )
            .replace("<sw:SenderInfo", "<x:Sig xmlns:x=\"urn:sig\" soapenv:mustUnderstand=\"1\"/><sw:SenderInfo"),
            "payload.soap_must_understand",
            "soap:MustUnderstand",
        ),
    ] {
        let e = Tax.decode(doc.as_bytes()).unwrap_err();
        assert_eq!(e.code, code, "{}", e.message);
        let fault = tax::soap_fault(e.code, &e.message);
        assert!(
            fault.contains(&format!("<faultcode>{faultcode}</faultcode>")),
            "{fault}"
        );
        // The fault is itself a well-formed SOAP 1.1 envelope.
        tax::check_envelope(fault.as_bytes())
            .map(|_| ())
            .or_else(|e| {
                // The Fault is not a PushCaseRecords request: only that check may fail.
                assert!(e.message.contains("PushCaseRecords"), "{}", e.message);
                Ok::<(), ()>(())
            })
            .unwrap();
    }
}

// ---- health ---------------------------------------------------------------------------------

#[test]
fn health_hl7_batch_matches_golden_and_schema() {
    let env = Env::new();
    let out = all_ok(&env, env.run_in(&Health, "health", "batch-valid.hl7"));
    assert_eq!(out.len(), 3);
    assert_eq!(out[0]["service_item"]["basic_code"], "622014001000");
    assert_eq!(out[0]["service_item"]["name"], "出生医学证明签发");
    // EVN-2 20261118102955+0800 in milliseconds is the version.
    assert_eq!(out[0]["version"], 1_794_968_995_000_i64);
    assert_eq!(out[0]["process_steps"][0]["opinion"], "材料齐全|核验通过");
    let c0 = &out[0]["result"]["certificates"][0];
    assert_eq!(
        c0["holder"],
        json!({"name": "王小宝", "code": "Q621004521", "code_type": "990"})
    );
    assert_eq!(c0["surface"]["出生时间"], "2026年11月15日08时42分");
    // The GB 18030 message, with a newborn who has an identity number.
    assert_eq!(out[1]["applicant"]["name"], "刘彩霞");
    let c1 = &out[1]["result"]["certificates"][0];
    assert_eq!(c1["holder"]["code"], "621022202611200029");
    assert_eq!(c1["holder"]["code_type"], "111");
    assert_eq!(c1["surface"]["母亲姓名"], "刘彩霞");
    assert_eq!(
        out[1]["result"]["text"],
        "准予签发\n请于工作日到产科领取纸质证明"
    );
    assert_eq!(out[1]["tier"], 5);
    // LF-separated segments, full-width region code.
    assert_eq!(out[2]["status"], "accepted");
    assert_eq!(out[2]["region_code"], "621022101000");
    golden("health", "batch-valid.expected.json", &Value::Array(out));
}

#[test]
fn health_batch_in_mllp_frames_reads_the_same() {
    let env = Env::new();
    let bytes = std::fs::read(fixtures().join("health/batch-valid.hl7")).unwrap();
    let plain = Health.decode(&bytes).unwrap();
    let framed: Vec<u8> = plain
        .iter()
        .flat_map(|r| health::mllp::frame(&r.raw))
        .collect();
    let again = Health.decode(&framed).unwrap();
    assert_eq!(again.len(), 3);
    for (a, b) in plain.iter().zip(&again) {
        assert_eq!(a.raw, b.raw);
        assert_eq!(a.location, b.location);
        assert_eq!(a.draft, b.draft);
    }
    assert_eq!(
        env.run_bytes(&Health, &framed),
        env.run_in(&Health, "health", "batch-valid.hl7")
    );
    assert_eq!(
        plain[1].location,
        "message 2 (MSH-10 control id HXRM20261120004)"
    );
    // The raw bytes of the GB 18030 message are GB 18030.
    assert!(
        encoding_rs::GB18030
            .decode_without_bom_handling_and_without_replacement(&plain[1].raw)
            .unwrap()
            .contains("环县人民医院")
    );
    assert!(std::str::from_utf8(&plain[1].raw).is_err());
}

#[test]
fn health_mixed_batch_rejects_exactly_the_bad_messages() {
    let out = Env::new().run_in(&Health, "health", "batch-mixed.hl7");
    assert_eq!(out.len(), 8);
    assert!(out[0].is_ok(), "{:?}", out[0]);
    assert_eq!(
        codes(&out[1]),
        [pair("/applicant/id_number", "id_number.check_digit")]
    );
    assert_eq!(
        codes(&out[2]),
        [pair("/service_item/basic_code", "service_item.unknown")]
    );
    assert_eq!(
        codes(&out[3]),
        [
            pair("/applicant/name", "encoding.invalid"),
            pair(
                "/result/certificates/0/surface/母亲姓名",
                "encoding.invalid"
            ),
        ]
    );
    assert_eq!(
        codes(&out[4]),
        [pair("/result/certificates/0/issue_date", "date.format")]
    );
    assert_eq!(codes(&out[5]), [pair("/region_code", "field.missing")]);
    let ok = out[6].as_ref().expect("full-width digits are cleaned");
    assert_eq!(ok["region_code"], "621002000000");
    assert_eq!(ok["applicant"]["id_number"], "621002199203151221");
    assert_eq!(codes(&out[7]), [pair("", "record.message_type")]);
}

#[test]
fn health_acks_answer_each_message() {
    let bytes = std::fs::read(fixtures().join("health/batch-mixed.hl7")).unwrap();
    let recs = Health.decode(&bytes).unwrap();
    let at = DateTime::parse_from_rfc3339("2026-11-25T12:00:00+08:00").unwrap();
    let msh = health::Msh::parse(&recs[5].raw).unwrap();
    let errors = recs[5].draft.as_ref().unwrap_err();
    let ack = health::ack_at(&msh, health::AckCode::AE, "1 problem", errors, at, "A1");
    assert!(
        ack.contains("\rMSA|AE|XFFY20261123006|1 problem\r"),
        "{ack}"
    );
    assert!(ack.contains("ERR||||101^Required field missing^HL70357|E|field.missing^^99EXG|||/region_code: ZCS-5 is required\r"), "{ack}");
    // The undecodable GB 18030 message still gets an ACK in GB 18030.
    let msh = health::Msh::parse(&recs[3].raw).unwrap();
    assert_eq!(msh.charset_label, "GB 18030-2000");
    let ack = health::ack(&msh, health::AckCode::AE, "编码错误");
    let bytes = msh.encode(&ack);
    assert_eq!(encoding_rs::GB18030.decode(&bytes).0, ack);
}

// ---- mapping --------------------------------------------------------------------------------

#[test]
fn mapping_onboards_a_county_hospital_with_only_a_file() {
    let env = Env::new();
    let adapter = county_csv();
    assert_eq!(adapter.department(), "health");
    let out = all_ok(
        &env,
        env.run_in(&adapter, "mapping", "batch-valid.gb18030.csv"),
    );
    assert_eq!(out.len(), 3);
    assert_eq!(out[0]["service_item"]["basic_code"], "622014001000");
    // "更新时间" 2026年11月19日 16:05:30 as milliseconds is the version.
    assert_eq!(out[0]["version"], 1_795_075_530_000_i64);
    let c0 = &out[0]["result"]["certificates"][0];
    assert_eq!(c0["surface"]["性别"], "男");
    assert_eq!(c0["issue_date"], "2026-11-19");
    // No certificate number: no certificate; the item found by its name alone.
    assert!(out[1].get("result").is_none());
    assert_eq!(
        out[1]["service_item"]["local"],
        json!({"name": "出生医学证明"})
    );
    assert_eq!(
        out[1]["applicant"]["address"],
        "甘肃省庆阳市环县环城镇东关街7号,2单元"
    );
    assert_eq!(out[2]["applicant"]["name"], "Maria \"Masha\" Ivanova");
    assert_eq!(out[2]["applicant"]["id_type"], "414");
    golden("mapping", "batch-valid.expected.json", &Value::Array(out));
}

#[test]
fn mapping_mixed_batch_rejects_exactly_the_bad_rows() {
    let out = Env::new().run_in(&county_csv(), "mapping", "batch-mixed.gb18030.csv");
    assert_eq!(out.len(), 8);
    assert!(out[0].is_ok(), "{:?}", out[0]);
    assert_eq!(
        codes(&out[1]),
        [pair("/handling_org/credit_code", "credit_code.check_digit")]
    );
    assert_eq!(
        codes(&out[2]),
        [pair("/service_item/basic_code", "service_item.unknown")]
    );
    assert_eq!(
        codes(&out[3]),
        [pair("/applicant/name", "encoding.invalid")]
    );
    assert_eq!(
        codes(&out[4]),
        [
            pair("/result/certificates/0/issue_date", "date.format"),
            pair("/result/certificates/0/valid_from", "date.format"),
        ]
    );
    assert_eq!(
        codes(&out[5]),
        [pair("/applicant/id_number", "field.missing")]
    );
    let ok = out[6].as_ref().expect("full-width digits are cleaned");
    assert_eq!(ok["region_code"], "621022000000");
    assert_eq!(ok["applicant"]["id_number"], "621022199011081527");
    assert_eq!(codes(&out[7]), [pair("", "record.malformed")]);
}

#[test]
fn mapping_rows_keep_their_bytes_and_lines() {
    let bytes = std::fs::read(fixtures().join("mapping/batch-mixed.gb18030.csv")).unwrap();
    let recs = county_csv().decode(&bytes).unwrap();
    assert_eq!(recs[3].location, "row 4 (line 5)");
    assert_eq!(recs[3].case_no.as_deref(), Some("HXRM-CS-20261124-0104"));
    assert!(recs[3].raw.contains(&0xFF));
    assert!(!recs[3].raw.ends_with(b"\r\n"));
    let row = encoding_rs::GB18030.decode(&recs[0].raw).0;
    assert!(row.starts_with("HXRM-CS-20261124-0101,2026年11月19日"));
}

#[test]
fn housing_fund_needs_only_a_mapping_file_and_its_catalog_items() {
    let adapter = MappingAdapter::from_file(mappings().join("housing-fund-json.json")).unwrap();
    assert_eq!(adapter.department(), "housing_fund");
    // Today's catalog has no housing-fund items: every record is refused for that reason only.
    let out = Env::new().run_in(&adapter, "mapping", "housing-fund-sample.json");
    assert_eq!(out.len(), 2);
    for r in &out {
        assert_eq!(
            codes(r),
            [pair("/service_item/basic_code", "service_item.unknown")]
        );
    }
    // With the items proposed in adapters/mappings/housing-fund.catalog-items.json added to the
    // catalog, the same records pass.
    let mut catalog: Value = serde_json::from_str(domain::catalog::BUNDLED_JSON).unwrap();
    let proposed: Value = serde_json::from_slice(
        &std::fs::read(mappings().join("housing-fund.catalog-items.json")).unwrap(),
    )
    .unwrap();
    catalog["items"]
        .as_array_mut()
        .unwrap()
        .extend(proposed.as_array().unwrap().iter().cloned());
    let env = Env::with_catalog(Catalog::from_json(catalog.to_string().as_bytes()).unwrap());
    let out = all_ok(
        &env,
        env.run_in(&adapter, "mapping", "housing-fund-sample.json"),
    );
    assert_eq!(out[0]["service_item"]["name"], "住房公积金缴存证明出具");
    assert_eq!(out[0]["source"]["department"], "housing_fund");
    assert_eq!(
        out[0]["result"]["certificates"][0]["valid_until"],
        "2026-12-19"
    );
    assert_eq!(out[1]["region_code"], "621000000000");
    assert_eq!(out[1]["tier"], 3);
}

// ---- robustness -----------------------------------------------------------------------------

/// Truncations and byte flips of every fixture: decoding may refuse, never panic.
#[test]
fn damaged_fixtures_never_panic() {
    let county = county_csv();
    let housing = MappingAdapter::from_file(mappings().join("housing-fund-json.json")).unwrap();
    let cases: [(&dyn Adapter, &str); 7] = [
        (&Tax, "tax/batch-valid.xml"),
        (&Tax, "tax/batch-mixed.gbk.xml"),
        (&Health, "health/batch-valid.hl7"),
        (&Health, "health/batch-mixed.hl7"),
        (&county, "mapping/batch-valid.gb18030.csv"),
        (&county, "mapping/batch-mixed.gb18030.csv"),
        (&housing, "mapping/housing-fund-sample.json"),
    ];
    for (adapter, file) in cases {
        let bytes = std::fs::read(fixtures().join(file)).unwrap();
        // About 60 truncations and 15 positions per flipped byte value, whatever the size.
        for end in (0..bytes.len()).step_by(bytes.len() / 60 + 1) {
            let _ = adapter.decode(&bytes[..end]);
        }
        for (i, flip) in [
            0x00, 0x0B, 0x0D, 0x1C, 0x22, 0x2C, 0x3C, 0x5C, 0x7C, 0x81, 0xFF,
        ]
        .into_iter()
        .enumerate()
        {
            for at in (i..bytes.len()).step_by(bytes.len() / 15 + 1) {
                let mut damaged = bytes.clone();
                damaged[at] = flip;
                let _ = adapter.decode(&damaged);
            }
        }
    }
}
