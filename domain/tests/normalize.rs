//! `normalize` end to end: a draft built from `schemas/examples/case-record-business-licence-two-certificates.json`
//! (minus what the gateway decides), stamped and checked against the bundled catalog, region
//! table and schema. Every rejection is asserted as the exact list of (path, code) pairs.
//!
//! Certificate identifiers were made with `python3 scripts/codes.py certid TYPE21 AUTH18 SERIAL VER`.

use std::sync::OnceLock;

use chrono::{DateTime, Duration};
use domain::FieldError;
use domain::catalog::Catalog;
use domain::codes::region::RegionCode;
use domain::normalize::{Context, Normalized, Stamp, normalize};
use domain::record::CaseRecord;
use domain::regions::RegionTable;
use domain::schema::JsonSchema;
use serde_json::{Value, json};

const SYSTEM: &str = "qy-xf-scjg";
const INGESTED_AT: &str = "2026-11-25T12:00:00+08:00";
/// The handling office of the example (also the certificates' issuing authority).
const XIFENG_SCJG: &str = "116210020138700018";
/// Same body, wrong check character (the right one is `8`).
const XIFENG_SCJG_BAD: &str = "116210020138700019";
/// Type code of the example's business licences.
const LICENCE_TYPE: &str = "11100000000018934N001";
/// Issuing authority = XIFENG_SCJG, serial 20261119000001, version 001.
const CERT_ID: &str =
    "1.2.156.3005.2.11100000000018934N001.116210020138700018.20261119000001.001.D";
/// Same type and serial, but issued by 11430000006122244L (valid, check character A).
const CERT_ID_OTHER_AUTHORITY: &str =
    "1.2.156.3005.2.11100000000018934N001.11430000006122244L.20261119000001.001.A";
/// Issued by XIFENG_SCJG, but of type 11100000000013338W011 (valid, check character W).
const CERT_ID_OTHER_TYPE: &str =
    "1.2.156.3005.2.11100000000013338W011.116210020138700018.20261119000001.001.W";

struct Env {
    catalog: Catalog,
    regions: RegionTable,
    schema: JsonSchema,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| Env {
        catalog: Catalog::bundled().unwrap(),
        regions: RegionTable::bundled().unwrap(),
        schema: JsonSchema::case_record(),
    })
}

fn stamp() -> Stamp {
    Stamp {
        department: "market_regulation".into(),
        system: SYSTEM.into(),
        node_region: RegionCode::parse("621000000000").unwrap(),
        ingested_at: DateTime::parse_from_rfc3339(INGESTED_AT).unwrap(),
    }
}

fn example() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../schemas/examples/case-record-business-licence-two-certificates.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The example as an adapter would hand it over: no schema tag, source or ingestion time, and
/// the item known only by the department's local code.
fn draft() -> Value {
    let mut v = example();
    let obj = v.as_object_mut().unwrap();
    for key in ["schema", "source", "ingested_at"] {
        obj.remove(key);
    }
    obj.insert(
        "service_item".into(),
        json!({"local": {"code": "SCJG-0101"}}),
    );
    v
}

/// The example's applicant replaced by a person with a resident identity number.
fn person(id_number: &str) -> Value {
    json!({"kind": "person", "name": "张伟", "id_type": "111", "id_number": id_number})
}

fn run_with(draft: Value, legacy: &[String]) -> Result<Normalized, Vec<FieldError>> {
    let e = env();
    let ctx = Context {
        catalog: &e.catalog,
        regions: &e.regions,
        schema: &e.schema,
        legacy_credit_prefixes: legacy,
        max_clock_skew: Duration::minutes(5),
    };
    normalize(draft, &stamp(), &ctx)
}

fn run(draft: Value) -> Result<Normalized, Vec<FieldError>> {
    run_with(draft, &[])
}

fn pairs(errors: &[FieldError]) -> Vec<(&str, &str)> {
    errors
        .iter()
        .map(|e| (e.path.as_str(), e.code.as_str()))
        .collect()
}

/// Normalizes and expects success without warnings.
#[track_caller]
fn accepted(draft: Value) -> Normalized {
    match run(draft) {
        Ok(n) => {
            assert!(
                n.warnings.is_empty(),
                "unexpected warnings {:?}",
                n.warnings
            );
            n
        }
        Err(errors) => panic!("rejected: {errors:#?}"),
    }
}

/// Normalizes with no legacy prefixes and returns the (path, code) pairs of the rejection.
#[track_caller]
fn rejected(draft: Value) -> Vec<(String, String)> {
    match run(draft) {
        Ok(n) => panic!("accepted: {:#}", n.body()),
        Err(errors) => pairs(&errors)
            .into_iter()
            .map(|(p, c)| (p.to_owned(), c.to_owned()))
            .collect(),
    }
}

#[track_caller]
fn assert_rejected(draft: Value, expected: &[(&str, &str)]) {
    let got = rejected(draft);
    let got: Vec<(&str, &str)> = got.iter().map(|(p, c)| (p.as_str(), c.as_str())).collect();
    assert_eq!(got, expected);
}

// ---------------------------------------------------------------------------------------------
// Happy path: what the gateway stamps and fills.

#[test]
fn draft_becomes_the_example_with_the_stamp_and_the_catalog_item() {
    let n = accepted(draft());

    let mut expected = example();
    expected["source"]["system"] = json!(SYSTEM);
    expected["service_item"] = json!({
        "basic_code": "620130001000",
        "name": "企业设立登记",
        "item_type": "licensing",
        "local": {"code": "SCJG-0101"}
    });
    assert_eq!(n.body(), expected);

    // The body reads back as the typed record.
    let back: CaseRecord = serde_json::from_value(n.body()).unwrap();
    assert_eq!(back, n.record);
    assert_eq!(n.record.source.department, "market_regulation");
    assert_eq!(n.record.time_limits.legal_days, 15);
}

#[test]
fn source_and_ingested_at_come_from_the_stamp_not_the_draft() {
    let mut d = draft();
    d["schema"] = json!("case-record/v0");
    d["source"] =
        json!({"department": "tax", "system": "someone-else", "node_region": "110000000000"});
    d["ingested_at"] = json!("2020-01-01T00:00:00+08:00");
    let n = accepted(d);
    assert_eq!(n.body()["schema"], "case-record/v1");
    assert_eq!(
        n.body()["source"],
        json!({"department": "market_regulation", "system": SYSTEM, "node_region": "621000000000"})
    );
    assert_eq!(n.body()["ingested_at"], INGESTED_AT);
    assert_eq!(
        n.record.ingested_at,
        DateTime::parse_from_rfc3339(INGESTED_AT).unwrap()
    );
}

#[test]
fn catalog_supplies_code_name_type_and_legal_days() {
    // Whatever the source called the item, the stored name and type are the catalog's.
    let mut d = draft();
    d["service_item"] = json!({
        "name": "公司登记（本地名）",
        "item_type": "penalty",
        "case_kind": "promised",
        "local": {"code": "SCJG-0101", "name": "内资企业设立登记"}
    });
    d["time_limits"] = json!({"promised_days": 3});
    let n = accepted(d);
    // With the example's case kind and local name back, the body is the example itself.
    let mut expected = example();
    expected["source"]["system"] = json!(SYSTEM);
    assert_eq!(n.body(), expected);

    // Found by the local name alone (white space ignored).
    let mut d = draft();
    d["service_item"] = json!({"local": {"name": " 公司 设立登记 "}});
    let n = accepted(d);
    assert_eq!(n.body()["service_item"]["basic_code"], "620130001000");
    assert_eq!(n.body()["service_item"]["name"], "企业设立登记");

    // A catalog code wins over a local code that means something else.
    let mut d = draft();
    d["service_item"] = json!({"basic_code": "620130002000", "local": {"code": "SCJG-0101"}});
    let n = accepted(d);
    assert_eq!(n.body()["service_item"]["name"], "个体工商户设立登记");
}

#[test]
fn a_different_legal_days_from_the_source_is_replaced_with_a_warning() {
    let mut d = draft();
    d["time_limits"]["legal_days"] = json!(20);
    let n = run(d).expect("accepted");
    assert_eq!(
        n.body()["time_limits"],
        json!({"legal_days": 15, "promised_days": 3})
    );
    assert_eq!(
        pairs(&n.warnings),
        [(
            "/time_limits/legal_days",
            "time_limits.legal_days_from_catalog"
        )]
    );
    assert!(n.warnings[0].message.contains("20"), "{}", n.warnings[0]);

    // The same value, or none at all, gives no warning.
    let mut d = draft();
    d["time_limits"] = json!({"legal_days": 15});
    assert_eq!(accepted(d).body()["time_limits"], json!({"legal_days": 15}));
    let mut d = draft();
    d.as_object_mut().unwrap().remove("time_limits");
    assert_eq!(accepted(d).body()["time_limits"], json!({"legal_days": 15}));
}

#[test]
fn items_the_catalog_cannot_place_report_only_that() {
    // The catalog fills basic_code, name, item_type and legal_days (creating time_limits if
    // need be): when it cannot, their absence is not reported on top.
    let mut d = draft();
    d["service_item"] = json!({"local": {"code": "NOPE"}});
    d.as_object_mut().unwrap().remove("time_limits");
    assert_rejected(d, &[("/service_item/basic_code", "service_item.unknown")]);

    let mut d = draft();
    d["service_item"] = json!({"local": {"code": "SCJG-0301"}});
    assert_rejected(d, &[("/service_item/basic_code", "service_item.suspended")]);

    // 居住证核发 belongs to public security.
    let mut d = draft();
    d["service_item"] = json!({"basic_code": "622011001000"});
    assert_rejected(
        d,
        &[("/service_item/basic_code", "service_item.department")],
    );
}

#[test]
fn schema_errors_name_the_field_and_keyword() {
    let mut d = draft();
    d["status"] = json!("done");
    d.as_object_mut().unwrap().remove("case_no");
    let got = rejected(d);
    assert!(
        got.contains(&("/case_no".into(), "schema.required".into())),
        "{got:?}"
    );
    assert!(
        got.contains(&("/status".into(), "schema.enum".into())),
        "{got:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Time.

#[test]
fn timestamps_beyond_the_allowed_clock_skew_are_refused() {
    let mut d = draft();
    d["timestamps"]["completed"] = json!("2026-11-25T12:05:01+08:00");
    assert_rejected(d, &[("/timestamps/completed", "timestamps.future")]);

    // Same instant written in UTC.
    let mut d = draft();
    d["timestamps"]["completed"] = json!("2026-11-25T04:05:01Z");
    assert_rejected(d, &[("/timestamps/completed", "timestamps.future")]);

    let mut d = draft();
    d["timestamps"]["occurred"] = json!("2026-11-26T09:12:00+08:00");
    d["timestamps"]["received"] = json!("2026-11-26T09:15:30+08:00");
    let got = rejected(d);
    assert!(
        got.contains(&("/timestamps/occurred".into(), "timestamps.future".into()))
            && got.contains(&("/timestamps/received".into(), "timestamps.future".into())),
        "{got:?}"
    );
}

#[test]
fn timestamps_within_the_clock_skew_are_accepted() {
    for completed in [
        "2026-11-25T12:00:00+08:00",
        "2026-11-25T12:04:59+08:00",
        "2026-11-25T12:05:00+08:00",
        "2026-11-25T04:05:00Z",
    ] {
        let mut d = draft();
        d["timestamps"]["completed"] = json!(completed);
        let n = accepted(d);
        assert_eq!(n.body()["timestamps"]["completed"], completed);
    }
}

#[test]
fn a_stage_before_the_previous_one_is_refused() {
    let mut d = draft();
    d["timestamps"]["accepted"] = json!("2026-11-18T09:00:00+08:00"); // received 09:15:30
    assert_rejected(d, &[("/timestamps/accepted", "timestamps.order")]);

    let mut d = draft();
    d["timestamps"]["received"] = json!("2026-11-18T09:00:00+08:00"); // occurred 09:12
    assert_rejected(d, &[("/timestamps/received", "timestamps.order")]);

    let mut d = draft();
    d["timestamps"]["completed"] = json!("2026-11-18T10:00:00+08:00"); // accepted 10:02
    assert_rejected(d, &[("/timestamps/completed", "timestamps.order")]);

    // Equal times are in order.
    let mut d = draft();
    d["timestamps"]["received"] = json!("2026-11-18T09:12:00+08:00");
    accepted(d);
}

#[test]
fn promised_days_may_not_exceed_the_legal_limit() {
    let mut d = draft();
    d["time_limits"]["promised_days"] = json!(16);
    assert_rejected(
        d,
        &[(
            "/time_limits/promised_days",
            "time_limits.promised_exceeds_legal",
        )],
    );
    // Judged against the catalog's 15 days, not what the source said.
    let mut d = draft();
    d["time_limits"] = json!({"legal_days": 30, "promised_days": 20});
    assert_rejected(
        d,
        &[(
            "/time_limits/promised_days",
            "time_limits.promised_exceeds_legal",
        )],
    );
    let mut d = draft();
    d["time_limits"]["promised_days"] = json!(15);
    accepted(d);
}

// ---------------------------------------------------------------------------------------------
// Certificates.

#[test]
fn certificates_require_an_approved_decision() {
    let mut d = draft();
    d["result"]["decision"] = json!("denied");
    assert_rejected(
        d,
        &[("/result/certificates", "certificate.without_approval")],
    );

    // Denied without certificates is fine.
    let mut d = draft();
    d["result"] = json!({"decision": "denied", "text": "不予登记"});
    accepted(d);
}

#[test]
fn valid_until_before_valid_from_is_refused() {
    let mut d = draft();
    d["result"]["certificates"][1]["valid_until"] = json!("2026-11-18");
    assert_rejected(
        d,
        &[("/result/certificates/1/valid_until", "certificate.validity")],
    );
    let mut d = draft();
    d["result"]["certificates"][0]["valid_until"] = json!("2026-11-19");
    accepted(d);
}

#[test]
fn issue_date_after_tomorrow_is_refused() {
    let mut d = draft();
    d["result"]["certificates"][0]["issue_date"] = json!("2026-11-27");
    d["result"]["certificates"][0]["valid_from"] = json!("2026-11-27");
    assert_rejected(
        d,
        &[(
            "/result/certificates/0/issue_date",
            "certificate.issue_date_future",
        )],
    );
    let mut d = draft();
    d["result"]["certificates"][0]["issue_date"] = json!("2026-11-26");
    accepted(d);
}

#[test]
fn certificate_type_code_must_start_with_a_valid_credit_code() {
    let mut d = draft();
    d["result"]["certificates"][0]["type_code"] = json!("11100000000018934X001");
    assert_rejected(
        d,
        &[("/result/certificates/0/type_code", "certificate.type_code")],
    );
}

#[test]
fn certificate_holder_code_is_checked_by_its_type() {
    let mut d = draft();
    d["result"]["certificates"][0]["holder"]["code"] = json!("91621002MA7100001J");
    assert_rejected(
        d,
        &[(
            "/result/certificates/0/holder/code",
            "credit_code.check_digit",
        )],
    );

    let mut d = draft();
    d["result"]["certificates"][1]["holder"] =
        json!({"name": "张伟", "code": "110105194912310021", "code_type": "111"});
    assert_rejected(
        d,
        &[(
            "/result/certificates/1/holder/code",
            "id_number.check_digit",
        )],
    );

    // 414 (passport) and 990 (other) are not checked.
    let mut d = draft();
    d["result"]["certificates"][0]["holder"] =
        json!({"name": "John Smith", "code": "E12345678", "code_type": "414"});
    accepted(d);
}

#[test]
fn a_certificate_identifier_must_match_the_certificate() {
    let mut d = draft();
    d["result"]["certificates"][0]["identifier"] = json!(CERT_ID);
    let n = accepted(d);
    assert_eq!(n.body()["result"]["certificates"][0]["identifier"], CERT_ID);

    let mut d = draft();
    d["result"]["certificates"][0]["identifier"] = json!(CERT_ID_OTHER_AUTHORITY);
    assert_rejected(
        d,
        &[("/result/certificates/0/identifier", "cert_id.mismatch")],
    );

    let mut d = draft();
    d["result"]["certificates"][1]["identifier"] = json!(CERT_ID_OTHER_TYPE);
    assert_rejected(
        d,
        &[("/result/certificates/1/identifier", "cert_id.mismatch")],
    );
    assert_eq!(&LICENCE_TYPE[..18], "11100000000018934N");
}

#[test]
fn a_certificate_identifier_with_a_bad_check_character_is_refused() {
    let bad = format!("{}E", &CERT_ID[..CERT_ID.len() - 1]);
    let mut d = draft();
    d["result"]["certificates"][0]["identifier"] = json!(bad);
    assert_rejected(
        d,
        &[("/result/certificates/0/identifier", "cert_id.check_digit")],
    );
}

// ---------------------------------------------------------------------------------------------
// Codes: credit codes, identity numbers, item codes, regions.

#[test]
fn a_bad_handling_org_credit_code_is_refused() {
    let mut d = draft();
    d["handling_org"]["credit_code"] = json!(XIFENG_SCJG_BAD);
    assert_rejected(
        d,
        &[("/handling_org/credit_code", "credit_code.check_digit")],
    );
}

#[test]
fn a_legacy_prefix_turns_the_check_digit_error_into_a_warning() {
    let mut d = draft();
    d["handling_org"]["credit_code"] = json!(XIFENG_SCJG_BAD);

    let n = run_with(d.clone(), &["11621002".to_owned()]).expect("accepted as legacy");
    assert_eq!(
        pairs(&n.warnings),
        [(
            "/handling_org/credit_code",
            "credit_code.legacy_check_digit"
        )]
    );
    assert_eq!(n.body()["handling_org"]["credit_code"], XIFENG_SCJG_BAD);
    // The stored body reads back although its check character is wrong.
    let back: CaseRecord = serde_json::from_value(n.body()).unwrap();
    assert_eq!(back.handling_org.credit_code.as_str(), XIFENG_SCJG_BAD);
    assert_eq!(back, n.record);

    // Other prefixes, and the empty prefix, do not help.
    for legacy in [vec!["9162".to_owned()], vec![String::new()]] {
        let errors = run_with(d.clone(), &legacy).unwrap_err();
        assert_eq!(
            pairs(&errors),
            [("/handling_org/credit_code", "credit_code.check_digit")],
            "{legacy:?}"
        );
    }
    // A valid code passes without a warning whatever the prefixes.
    let n = run_with(draft(), &["11621002".to_owned()]).unwrap();
    assert!(n.warnings.is_empty());
    assert_eq!(n.body()["handling_org"]["credit_code"], XIFENG_SCJG);
}

#[test]
fn an_applicant_identity_number_is_checked() {
    let mut d = draft();
    d["applicant"] = person("11010519491231002X");
    let n = accepted(d);
    assert_eq!(n.body()["applicant"]["id_number"], "11010519491231002X");

    let mut d = draft();
    d["applicant"] = person("110105194912310021");
    assert_rejected(d, &[("/applicant/id_number", "id_number.check_digit")]);

    let mut d = draft();
    d["applicant"] = person("110105194902300027"); // 30 February
    assert_rejected(d, &[("/applicant/id_number", "id_number.birth_date")]);
}

#[test]
fn an_organization_applicant_credit_code_is_checked() {
    let mut d = draft();
    d["applicant"]["id_number"] = json!("91621002MA7100001J");
    assert_rejected(d, &[("/applicant/id_number", "credit_code.check_digit")]);
}

#[test]
fn impl_code_must_embed_the_item_basic_code() {
    let mut d = draft();
    d["service_item"]["impl_code"] = json!(format!("{XIFENG_SCJG}4620130001000"));
    let n = accepted(d);
    assert_eq!(
        n.body()["service_item"]["impl_code"],
        "1162100201387000184620130001000"
    );

    // 620130002000 is 个体工商户设立登记, not the item the local code maps to.
    let mut d = draft();
    d["service_item"]["impl_code"] = json!(format!("{XIFENG_SCJG}4620130002000"));
    assert_rejected(
        d,
        &[("/service_item/impl_code", "impl_code.basic_code_mismatch")],
    );

    let mut d = draft();
    d["service_item"]["impl_code"] = json!(format!("{XIFENG_SCJG}0620130001000"));
    assert_rejected(d, &[("/service_item/impl_code", "impl_code.tier")]);

    let mut d = draft();
    d["service_item"]["impl_code"] = json!(format!("{XIFENG_SCJG_BAD}4620130001000"));
    assert_rejected(d, &[("/service_item/impl_code", "impl_code.credit_code")]);
}

#[test]
fn a_region_not_in_the_table_is_refused() {
    let mut d = draft();
    d["region_code"] = json!("621002999000");
    assert_rejected(d, &[("/region_code", "region_code.unknown")]);
}

#[test]
fn an_unknown_region_is_reported_when_the_tier_is_left_to_the_gateway() {
    // Adapters never send a tier: the reason must be the region, not a missing tier.
    let mut d = draft();
    d.as_object_mut().unwrap().remove("tier");
    d["region_code"] = json!("621002999000");
    assert_rejected(d, &[("/region_code", "region_code.unknown")]);

    let mut d = draft();
    d.as_object_mut().unwrap().remove("tier");
    d["region_code"] = json!("62100200000");
    assert_rejected(d, &[("/region_code", "schema.pattern")]);

    let mut d = draft();
    let obj = d.as_object_mut().unwrap();
    obj.remove("tier");
    obj.remove("region_code");
    assert_rejected(d, &[("/region_code", "schema.required")]);
}

#[test]
fn a_tier_that_contradicts_the_region_is_refused() {
    let mut d = draft();
    d["tier"] = json!(3); // 621002000000 is a county: tier 4
    assert_rejected(d, &[("/tier", "tier.mismatch")]);
}

#[test]
fn an_absent_tier_is_filled_from_the_region_level() {
    let mut d = draft();
    d.as_object_mut().unwrap().remove("tier");
    assert_eq!(accepted(d).body()["tier"], 4);

    for (region, tier) in [
        ("621002101000", 5), // 董志镇, a township
        ("621000000000", 3), // 庆阳市, a city
        ("620000000000", 2), // 甘肃省
    ] {
        let mut d = draft();
        d.as_object_mut().unwrap().remove("tier");
        d["region_code"] = json!(region);
        let n = accepted(d);
        assert_eq!(n.body()["tier"], tier, "{region}");
        assert_eq!(n.record.tier, tier, "{region}");
    }
}

// ---------------------------------------------------------------------------------------------
// Shape and reporting.

#[test]
fn a_draft_that_is_not_an_object_is_refused() {
    for d in [json!("record"), json!([draft()]), json!(null), json!(1)] {
        assert_rejected(d, &[("", "record.not_object")]);
    }
}

#[test]
fn every_code_error_of_a_record_is_reported_together() {
    let mut d = draft();
    d["applicant"] = person("110105194912310021");
    d["handling_org"]["credit_code"] = json!(XIFENG_SCJG_BAD);
    d["result"]["certificates"][1]["identifier"] = json!(CERT_ID_OTHER_AUTHORITY);
    d["tier"] = json!(5);
    assert_rejected(
        d,
        &[
            ("/handling_org/credit_code", "credit_code.check_digit"),
            ("/applicant/id_number", "id_number.check_digit"),
            ("/tier", "tier.mismatch"),
            ("/result/certificates/1/identifier", "cert_id.mismatch"),
        ],
    );
}

#[test]
fn every_cross_field_error_of_a_record_is_reported_together() {
    let mut d = draft();
    d["timestamps"]["accepted"] = json!("2026-11-18T09:00:00+08:00");
    d["time_limits"]["promised_days"] = json!(40);
    d["result"]["certificates"][0]["valid_until"] = json!("2026-01-01");
    assert_rejected(
        d,
        &[
            ("/timestamps/accepted", "timestamps.order"),
            (
                "/time_limits/promised_days",
                "time_limits.promised_exceeds_legal",
            ),
            ("/result/certificates/0/valid_until", "certificate.validity"),
        ],
    );
}
