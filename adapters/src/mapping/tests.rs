//! Mapping files: validation problems, and the three native formats on small payloads.

use serde_json::json;

use super::*;

const COUNTY_CSV: &str = include_str!("../../mappings/health-county-birth-csv.json");
const HOUSING_FUND: &str = include_str!("../../mappings/housing-fund-json.json");
const SCHEMA: &str = include_str!("../../../schemas/mapping.v1.schema.json");

/// A small, valid CSV mapping.
fn base() -> Value {
    json!({
        "mapping": "mapping/v1",
        "id": "test-csv",
        "department": "health",
        "description": "test export",
        "format": {"type": "csv", "encoding": "GB18030"},
        "tables": {
            "status": {"已受理": "accepted", "已办结": "completed"},
            "yes_no": {"是": true, "否": false}
        },
        "fields": [
            {"to": "/case_no", "from": "流水号", "convert": "code", "required": true},
            {"to": "/version", "from": "更新时间", "convert": {"epoch_millis": "%Y年%m月%d日 %H:%M"}, "required": true},
            {"to": "/service_item/local/code", "from": "事项编码", "convert": "code"},
            {"to": "/region_code", "from": "区划", "convert": "code", "required": true},
            {"to": "/handling_org/name", "from": "机构", "required": true},
            {"to": "/handling_org/credit_code", "from": "机构代码", "convert": "code", "required": true},
            {"to": "/applicant/kind", "const": "person"},
            {"to": "/applicant/name", "from": "姓名", "required": true},
            {"to": "/applicant/id_type", "from": "证件类型", "convert": "id_type", "default": "111"},
            {"to": "/applicant/id_number", "from": "证件号码", "convert": "code", "required": true},
            {"to": "/timestamps/occurred", "from": "申请时间", "convert": {"datetime": "%Y/%m/%d %H:%M"}, "required": true},
            {"to": "/timestamps/received", "from": "申请时间", "convert": {"datetime": "%Y/%m/%d %H:%M"}, "required": true},
            {"to": "/status", "from": "状态", "convert": {"table": "status"}, "required": true},
            {"to": "/time_limits/promised_days", "from": "承诺天数", "convert": "integer"},
            {"to": "/disclosure/public", "from": "公开", "convert": {"table": "yes_no"}, "default": false},
            {"to": "/disclosure/reason_not_public", "const": "涉及个人隐私"}
        ],
        "lists": [{
            "to": "/process_steps",
            "present_if": "环节",
            "fields": [
                {"to": "/name", "from": "环节", "required": true},
                {"to": "/time", "from": "环节时间", "convert": {"datetime": "%Y/%m/%d %H:%M"}, "required": true}
            ]
        }]
    })
}

fn load(v: &Value) -> Result<MappingAdapter, MappingError> {
    MappingAdapter::from_json(v.to_string().as_bytes())
}

/// The problems of an invalid mapping, as (at, message) pairs.
fn problems(v: &Value) -> Vec<(String, String)> {
    match load(v) {
        Ok(_) => panic!("the mapping should be refused"),
        Err(e) => {
            assert!(matches!(e, MappingError::Invalid(_)), "{e}");
            e.problems()
                .iter()
                .map(|p| (p.at.clone(), p.message.clone()))
                .collect()
        }
    }
}

fn has(ps: &[(String, String)], at: &str, fragment: &str) -> bool {
    ps.iter().any(|(a, m)| a == at && m.contains(fragment))
}

#[test]
fn the_base_mapping_and_the_examples_load() {
    let a = load(&base()).unwrap();
    assert_eq!(a.id(), "test-csv");
    assert_eq!(a.department(), "health");
    assert!(a.format().starts_with("CSV (gb18030"), "{}", a.format());
    let county = MappingAdapter::from_json(COUNTY_CSV.as_bytes()).unwrap();
    assert_eq!(county.id(), "health-county-birth-csv");
    let hf = MappingAdapter::from_json(HOUSING_FUND.as_bytes()).unwrap();
    assert_eq!(hf.department(), "housing_fund");
    assert!(hf.description().contains("住房公积金"));
}

#[test]
fn strings_are_leaked_once_per_distinct_value() {
    let a = load(&base()).unwrap();
    let b = load(&base()).unwrap();
    assert!(std::ptr::eq(a.id(), b.id()));
    assert!(std::ptr::eq(a.format(), b.format()));
}

#[test]
fn unknown_members_and_bad_json_are_syntax_errors() {
    let mut v = base();
    v["format"]["encodng"] = json!("GBK");
    let e = load(&v).unwrap_err();
    assert!(
        matches!(&e, MappingError::Syntax(m) if m.contains("encodng")),
        "{e}"
    );
    let mut v = base();
    v["fields"][0]["requred"] = json!(true);
    assert!(matches!(load(&v).unwrap_err(), MappingError::Syntax(_)));
    assert!(matches!(
        MappingAdapter::from_json(b"{not json").unwrap_err(),
        MappingError::Syntax(_)
    ));
    assert!(matches!(
        MappingAdapter::from_file("/nonexistent/mapping.json").unwrap_err(),
        MappingError::Io(_)
    ));
}

#[test]
fn header_problems_are_all_reported() {
    let mut v = base();
    v["mapping"] = json!("mapping/v2");
    v["id"] = json!("Health CSV");
    v["department"] = json!("");
    v["description"] = json!(" ");
    let ps = problems(&v);
    assert!(has(&ps, "/mapping", "mapping/v1"), "{ps:?}");
    assert!(has(&ps, "/id", "not an adapter id"), "{ps:?}");
    assert!(
        has(
            &ps,
            "/department",
            "department this adapter serves is required"
        ),
        "{ps:?}"
    );
    assert!(has(&ps, "/description", "describe"), "{ps:?}");
    // A missing department member is the same problem.
    let mut v = base();
    v.as_object_mut().unwrap().remove("department");
    assert!(has(&problems(&v), "/department", "is required"));
    let mut v = base();
    v["department"] = json!("Health-Dept");
    assert!(has(&problems(&v), "/department", "not a department id"));
}

#[test]
fn format_problems() {
    for (format, at, fragment) in [
        (
            json!({"type": "csv", "encoding": "klingon"}),
            "/format/encoding",
            "not an encoding label",
        ),
        (
            json!({"type": "csv", "encoding": "UTF-16LE"}),
            "/format/encoding",
            "not ASCII-compatible",
        ),
        (
            json!({"type": "csv", "delimiter": "|"}),
            "/format/delimiter",
            "never occur inside GBK",
        ),
        (
            json!({"type": "csv", "records": "/x"}),
            "/format/records",
            "rows after the header",
        ),
        (json!({"type": "xlsx"}), "/format/type", "csv, json or xml"),
        (json!({"type": "json"}), "/format/records", "is required"),
        (
            json!({"type": "json", "records": "data"}),
            "/format/records",
            "not a JSON Pointer",
        ),
        (
            json!({"type": "json", "records": "", "encoding": "GBK"}),
            "/format/encoding",
            "always UTF-8",
        ),
        (
            json!({"type": "xml", "records": "ROOT/ROW", "encoding": "GBK"}),
            "/format/encoding",
            "prolog",
        ),
        (
            json!({"type": "xml", "records": "ROOT"}),
            "/format/records",
            "root and the record",
        ),
        (
            json!({"type": "xml", "records": "ROOT/@id"}),
            "/format/records",
            "attributes",
        ),
    ] {
        let mut v = base();
        v["format"] = format.clone();
        let ps = problems(&v);
        assert!(has(&ps, at, fragment), "{format}: {ps:?}");
    }
}

#[test]
fn field_problems_name_their_place() {
    let mut v = base();
    let fields = v["fields"].as_array_mut().unwrap();
    fields.push(json!({"to": "/applicant/idnumber", "from": "x"}));
    fields.push(json!({"to": "/applicant/phone", "from": "电话", "convert": "phone"}));
    fields.push(json!({"to": "/applicant/address", "from": "地址", "convert": {"table": "nope"}}));
    fields.push(json!({"to": "/timestamps/accepted", "from": "受理时间", "convert": {"datetime": "%Y年%m月"}}));
    fields.push(json!({"to": "/timestamps/completed", "from": "办结", "convert": "code"}));
    fields.push(json!({"to": "/result/decision", "const": "approve"}));
    fields.push(json!({"to": "/result/text", "from": "说明", "const": "x"}));
    fields.push(json!({"to": "/service_item/case_kind"}));
    fields.push(json!({"to": "/case_no", "from": "流水号2"}));
    fields.push(json!({"to": "/source/system", "const": "x"}));
    fields.push(json!({"to": "/result/certificates/0/number", "from": "证号"}));
    fields.push(json!({"to": "/tier", "from": "层级", "required": true, "default": 4}));
    let ps = problems(&v);
    let n = 16;
    assert!(
        has(&ps, &format!("/fields/{n}/to"), "not a canonical field"),
        "{ps:?}"
    );
    assert!(
        has(
            &ps,
            &format!("/fields/{}/convert", n + 1),
            "unknown conversion 'phone'"
        ),
        "{ps:?}"
    );
    assert!(
        has(
            &ps,
            &format!("/fields/{}/convert/table", n + 2),
            "no code table 'nope'"
        ),
        "{ps:?}"
    );
    assert!(
        has(
            &ps,
            &format!("/fields/{}/convert/datetime", n + 3),
            "date and a time"
        ),
        "{ps:?}"
    );
    assert!(
        has(
            &ps,
            &format!("/fields/{}/convert", n + 4),
            "cannot give a date-time"
        ),
        "{ps:?}"
    );
    assert!(
        has(&ps, &format!("/fields/{}/const", n + 5), "one of approved"),
        "{ps:?}"
    );
    assert!(
        has(&ps, &format!("/fields/{}", n + 6), "not both"),
        "{ps:?}"
    );
    assert!(
        has(&ps, &format!("/fields/{}", n + 7), "needs \"from\""),
        "{ps:?}"
    );
    assert!(
        has(&ps, &format!("/fields/{}/to", n + 8), "mapped twice"),
        "{ps:?}"
    );
    assert!(
        has(
            &ps,
            &format!("/fields/{}/to", n + 9),
            "not a canonical field"
        ),
        "{ps:?}"
    );
    assert!(
        has(&ps, &format!("/fields/{}/to", n + 10), "under \"lists\""),
        "{ps:?}"
    );
    assert!(
        has(
            &ps,
            &format!("/fields/{}/required", n + 11),
            "never missing"
        ),
        "{ps:?}"
    );
}

#[test]
fn kinds_tables_and_coverage_are_checked() {
    let mut v = base();
    // A boolean without a table, a table giving the wrong kind, an unused table.
    v["fields"][14] = json!({"to": "/disclosure/public", "from": "公开"});
    v["tables"]["status"]["已办结"] = json!("done");
    v["tables"]["unused"] = json!({"a": "b"});
    v["tables"]["empty"] = json!({});
    v["fields"]
        .as_array_mut()
        .unwrap()
        .push(json!({"to": "/result/text", "from": "x", "convert": {"table": "empty"}}));
    // Required canonical fields never mapped.
    v["fields"]
        .as_array_mut()
        .unwrap()
        .retain(|f| f["to"] != "/region_code" && f["to"] != "/service_item/local/code");
    let ps = problems(&v);
    // (index 12: two fields before it were removed)
    assert!(has(&ps, "/fields/12", "true or false"), "{ps:?}");
    assert!(has(&ps, "/tables/status/已办结", "not \"done\""), "{ps:?}");
    assert!(has(&ps, "/tables/unused", "never used"), "{ps:?}");
    assert!(has(&ps, "/tables/empty", "at least one entry"), "{ps:?}");
    assert!(
        has(&ps, "/fields", "/region_code is required in every record"),
        "{ps:?}"
    );
    assert!(
        has(&ps, "/fields", "catalog item is never mapped"),
        "{ps:?}"
    );
}

#[test]
fn list_problems() {
    let mut v = base();
    v["lists"] = json!([
        {"to": "/result/licences", "fields": [{"to": "/name", "from": "x"}]},
        {"to": "/holds", "from": "挂起", "fields": [{"to": "/reason", "from": "原因"}, {"to": "/until", "from": "y"}]},
        {"to": "/result/certificates", "fields": [{"to": "/type_name", "const": "出生医学证明"}, {"to": "/surface/性别", "from": "性别"}]}
    ]);
    let ps = problems(&v);
    assert!(has(&ps, "/lists/0/to", "not a canonical list"), "{ps:?}");
    assert!(has(&ps, "/lists/1/from", "leave out \"from\""), "{ps:?}");
    assert!(has(&ps, "/lists/1/fields/1/to", "in this list"), "{ps:?}");
    assert!(has(&ps, "/lists/1/fields", "needs /start"), "{ps:?}");
    assert!(has(&ps, "/lists/2/fields", "needs /number"), "{ps:?}");
    // JSON lists need a "from".
    let mut v = json_mapping();
    v["lists"][0].as_object_mut().unwrap().remove("from");
    assert!(has(&problems(&v), "/lists/0/from", "is required"));
}

#[test]
fn date_formats_must_read_back_whole_values() {
    use spec::{check_date_format, check_datetime_format};
    assert!(check_date_format("%Y年%m月%d日").is_ok());
    assert!(check_date_format("%Y%m%d").is_ok());
    assert!(check_date_format("%Y-%m").is_err());
    assert!(check_date_format("%Q").is_err());
    assert!(check_date_format("").is_err());
    assert!(check_datetime_format("%Y/%m/%d %H:%M").is_ok());
    assert!(check_datetime_format("%Y-%m-%dT%H:%M:%S%:z").is_ok());
    assert!(check_datetime_format("%Y/%m/%d").is_err());
    assert!(check_datetime_format("%H:%M").is_err());
}

fn gb(s: &str) -> Vec<u8> {
    encoding_rs::GB18030.encode(s).0.into_owned()
}

const HEADER: &str = "流水号,更新时间,事项编码,区划,机构,机构代码,姓名,证件类型,证件号码,申请时间,状态,承诺天数,公开,环节,环节时间";

fn errs(r: &DecodedRecord) -> Vec<(String, String)> {
    r.draft
        .as_ref()
        .expect_err("rejected")
        .iter()
        .map(|e| (e.path.clone(), e.code.clone()))
        .collect()
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.into(), b.into())
}

#[test]
fn csv_records_map_and_fail_one_by_one() {
    let a = load(&base()).unwrap();
    let good = "WJ-1,2026年11月18日 10:30,WJ-CSZM-01,６２１０２２ 000000,环县人民医院,12621022MB1930042M,李娟,身份证,621022199011081527,2026/11/18 09:00,已受理,5,否,受理,2026/11/18 09:10";
    let text = format!(
        "{HEADER}\r\n{good}\r\n\
         WJ-2,2026年11月18日 10:30,,621022000000,环县人民医院,12621022MB1930042M,,,621022199011081527,2026-11-18,已归档,五,否,,\r\n\
         WJ-3,only,three\r\n\
         ,,,,,,,,,,,,,,\r\n\
         \"WJ-4\"x,2026年11月18日 10:30\r\n"
    );
    let mut bytes = gb(&text);
    // An undecodable name in one more row.
    bytes.extend_from_slice(&gb(&good.replace("WJ-1", "WJ-5").replace("李娟", "@@")));
    let at = bytes.windows(2).rposition(|w| w == b"@@").unwrap();
    bytes[at] = 0xFF;
    let recs = a.decode(&bytes).unwrap();
    assert_eq!(recs.len(), 5, "the blank row is skipped");
    let d = recs[0].draft.as_ref().unwrap();
    assert_eq!(d["region_code"], "621022000000");
    assert_eq!(d["applicant"]["id_type"], "111");
    assert_eq!(d["timestamps"]["occurred"], "2026-11-18T09:00:00+08:00");
    assert_eq!(d["version"], 1_794_969_000_000_i64);
    assert_eq!(
        d["disclosure"],
        json!({"public": false, "reason_not_public": "涉及个人隐私"})
    );
    assert_eq!(
        d["process_steps"],
        json!([{"name": "受理", "time": "2026-11-18T09:10:00+08:00"}])
    );
    assert_eq!(recs[0].location, "row 1 (line 2)");
    assert_eq!(recs[0].case_no.as_deref(), Some("WJ-1"));
    assert_eq!(recs[0].raw, gb(good));
    assert_eq!(
        errs(&recs[1]),
        [
            pair("/applicant/name", "field.missing"),
            pair("/timestamps/occurred", "datetime.format"),
            pair("/timestamps/received", "datetime.format"),
            pair("/status", "code.unknown"),
            pair("/time_limits/promised_days", "integer.format"),
            pair("/service_item/local", "field.missing"),
        ]
    );
    assert_eq!(errs(&recs[2]), [pair("", "record.malformed")]);
    assert_eq!(recs[3].location, "row 4 (line 6)");
    assert_eq!(errs(&recs[3]), [pair("", "record.malformed")]);
    assert_eq!(
        errs(&recs[4]),
        [pair("/applicant/name", "encoding.invalid")]
    );
    assert_eq!(recs[4].case_no.as_deref(), Some("WJ-5"));
}

#[test]
fn csv_batch_level_problems() {
    let a = load(&base()).unwrap();
    let e = a.decode(&gb("流水号,更新时间\r\nWJ-1,x\r\n")).unwrap_err();
    assert_eq!(e.code, "payload.malformed");
    assert!(e.message.contains("事项编码"), "{}", e.message);
    assert_eq!(a.decode(b"").unwrap_err().code, "payload.malformed");
    let mut bad_header = gb(HEADER);
    bad_header.insert(0, 0xFF);
    assert_eq!(a.decode(&bad_header).unwrap_err().code, "payload.encoding");
    let bom = [b"\xEF\xBB\xBF".as_slice(), &gb(HEADER)].concat();
    assert_eq!(a.decode(&bom).unwrap_err().code, "payload.encoding");
    let dup = gb(&format!("{HEADER},姓名\r\n"));
    assert!(a.decode(&dup).unwrap_err().message.contains("twice"));
    // Only a header: no records.
    assert!(a.decode(&gb(HEADER)).unwrap().is_empty());
}

fn json_mapping() -> Value {
    let mut v = base();
    v["format"] = json!({"type": "json", "records": "/data/list"});
    for f in v["fields"].as_array_mut().unwrap() {
        if let Some(from) = f.get("from").and_then(Value::as_str) {
            let key = match from {
                "流水号" => "/caseNo",
                "更新时间" => "/updated",
                "事项编码" => "/item/code",
                "区划" => "/area",
                "机构" => "/org/name",
                "机构代码" => "/org/uscc",
                "姓名" => "/person/name",
                "证件类型" => "/person/idType",
                "证件号码" => "/person/idNo",
                "申请时间" => "/applied",
                "状态" => "/state",
                "承诺天数" => "/days",
                "公开" => "/public",
                other => panic!("{other}"),
            };
            f["from"] = json!(key);
        }
    }
    v["lists"] = json!([{
        "to": "/process_steps",
        "from": "/steps",
        "fields": [
            {"to": "/name", "from": "/node", "required": true},
            {"to": "/time", "from": "/at", "convert": {"datetime": "%Y/%m/%d %H:%M"}, "required": true}
        ]
    }]);
    v
}

#[test]
fn json_records_with_nested_lists() {
    let a = load(&json_mapping()).unwrap();
    assert!(
        a.format()
            .starts_with("JSON (UTF-8), records at '/data/list'")
    );
    let payload = json!({"data": {"list": [
        {"caseNo": "WJ-1", "updated": "2026年11月18日 10:30", "item": {"code": "WJ-CSZM-01"}, "area": 621022000000_u64,
         "org": {"name": "环县人民医院", "uscc": "12621022MB1930042M"}, "person": {"name": "李娟", "idNo": "621022199011081527"},
         "applied": "2026/11/18 09:00", "state": "已受理", "days": 5, "public": "否",
         "steps": [{"node": "受理", "at": "2026/11/18 09:10"}, {"node": "审核", "at": "2026/11/18 09:40"}]},
        {"caseNo": "WJ-2", "updated": "2026年11月18日 10:30", "item": {"code": "WJ-CSZM-01"}, "area": "621022000000",
         "org": {"name": "环县人民医院", "uscc": "12621022MB1930042M"}, "person": {"name": {"first": "娟"}, "idNo": "621022199011081527"},
         "applied": "2026/11/18 09:00", "state": "已受理", "steps": [{"node": "受理"}, "x"]},
        {"caseNo": "WJ-3", "updated": "2026年11月18日 10:30", "item": {"code": "WJ-CSZM-01"}, "area": "621022000000",
         "org": {"name": "环县人民医院", "uscc": "12621022MB1930042M"}, "person": {"name": "李娟", "idNo": "621022199011081527"},
         "applied": "2026/11/18 09:00", "state": "已受理", "steps": [{"node": "受理"}]},
        [1, 2]
    ]}});
    let recs = a.decode(payload.to_string().as_bytes()).unwrap();
    assert_eq!(recs.len(), 4);
    let d = recs[0].draft.as_ref().unwrap();
    assert_eq!(d["region_code"], "621022000000");
    assert_eq!(d["time_limits"]["promised_days"], 5);
    assert_eq!(d["process_steps"][1]["name"], "审核");
    assert_eq!(recs[0].location, "/data/list/0");
    // The record's own bytes, as sent.
    let raw: Value = serde_json::from_slice(&recs[0].raw).unwrap();
    assert_eq!(raw, payload["data"]["list"][0]);
    assert_eq!(
        errs(&recs[1]),
        [
            pair("/applicant/name", "record.malformed"),
            pair("/process_steps", "record.malformed")
        ]
    );
    assert_eq!(
        errs(&recs[2]),
        [pair("/process_steps/0/time", "field.missing")]
    );
    assert_eq!(errs(&recs[3]), [pair("", "record.not_object")]);
    for (bad, why) in [
        (b"{\"data\": {}}".as_slice(), "no '/data/list'"),
        (b"{\"data\": {\"list\": 3}}", "not an array"),
        (b"not json", "not JSON"),
        (b"{\"data\":{\"list\":[\"\xFF\"]}}", "not UTF-8"),
    ] {
        let e = a.decode(bad).unwrap_err();
        assert_eq!(e.code, "payload.malformed");
        assert!(e.message.contains(why), "{}", e.message);
    }
    // A top-level array.
    let mut v = json_mapping();
    v["format"]["records"] = json!("");
    let top = load(&v).unwrap();
    let recs = top.decode(b"[{\"caseNo\": \"X\"}]").unwrap();
    assert_eq!(recs[0].location, "/0");
}

/// Found by fuzzing the JSON adapters (`fuzz/`), which shared this code: a record that is valid
/// JSON syntax but no `Value` (a number beyond `f64`, nesting past serde_json's recursion limit)
/// panicked. It is now `record.malformed`, alone.
#[test]
fn a_json_record_no_value_can_hold_is_refused_alone() {
    let a = load(&json_mapping()).unwrap();
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let payload = format!(
        r#"{{"data": {{"list": [{{"caseNo": "N-1", "days": 1e999}}, {deep}, {{"caseNo": "N-3"}}]}}}}"#
    );
    let recs = a.decode(payload.as_bytes()).unwrap();
    assert_eq!(recs.len(), 3);
    for (i, r) in recs[..2].iter().enumerate() {
        // Nesting past the configured depth is caught before parsing (crate::limits).
        let code = ["record.malformed", "record.too_deep"][i];
        assert_eq!(errs(r), [pair("", code)]);
        assert_eq!(r.location, format!("/data/list/{i}"));
    }
    assert_eq!(recs[2].case_no.as_deref(), Some("N-3"));
}

#[test]
fn xml_records_in_gbk_with_nested_lists() {
    let mut v = json_mapping();
    v["format"] = json!({"type": "xml", "records": "PACKAGE/BODY/CASE"});
    for f in v["fields"].as_array_mut().unwrap() {
        if let Some(from) = f.get("from").and_then(Value::as_str) {
            f["from"] = json!(from.trim_start_matches('/'));
        }
    }
    v["lists"] = json!([{
        "to": "/process_steps",
        "from": "steps/step",
        "fields": [
            {"to": "/name", "from": "node", "required": true},
            {"to": "/time", "from": "at", "convert": {"datetime": "%Y/%m/%d %H:%M"}, "required": true}
        ]
    }]);
    let a = load(&v).unwrap();
    let case = |no: &str, name: &str| {
        format!(
            "<CASE><caseNo>{no}</caseNo><updated>2026年11月18日 10:30</updated><item><code>WJ-CSZM-01</code></item>\
             <area>621022000000</area><org><name>环县人民医院</name><uscc>12621022MB1930042M</uscc></org>\
             <person><name>{name}</name><idNo>621022199011081527</idNo></person><applied>2026/11/18 09:00</applied>\
             <state>已办结</state><steps><step><node>受理</node><at>2026/11/18 09:10</at></step><step><node>审核</node><at>2026/11/18 09:40</at></step></steps></CASE>"
        )
    };
    let doc = format!(
        "<?xml version=\"1.0\" encoding=\"GBK\"?>\n<PACKAGE><BODY>\n{}\n{}\n</BODY></PACKAGE>",
        case("WJ-1", "李娟"),
        case("WJ-2", "@@")
    );
    let mut bytes = encoding_rs::GBK.encode(&doc).0.into_owned();
    let at = bytes.windows(2).position(|w| w == b"@@").unwrap();
    bytes[at] = 0x81;
    bytes[at + 1] = 0x20;
    let recs = a.decode(&bytes).unwrap();
    assert_eq!(recs.len(), 2);
    let d = recs[0].draft.as_ref().unwrap();
    assert_eq!(d["status"], "completed");
    assert_eq!(d["process_steps"][1]["time"], "2026-11-18T09:40:00+08:00");
    assert_eq!(recs[0].location, "CASE #1 (line 3)");
    assert!(recs[1].raw.starts_with(b"<CASE>"));
    assert_eq!(
        errs(&recs[1]),
        [pair("/applicant/name", "encoding.invalid")]
    );
    let e = a.decode(b"<OTHER/>").unwrap_err();
    assert_eq!(e.code, "payload.malformed");
    let e = a.decode(b"<PACKAGE><HEAD/></PACKAGE>").unwrap_err();
    assert!(e.message.contains("<BODY>"), "{}", e.message);
    assert_eq!(
        a.decode(b"<!DOCTYPE x []><PACKAGE/>").unwrap_err().code,
        "payload.dtd_forbidden"
    );
}

#[test]
fn the_json_schema_agrees_with_the_validator() {
    let schema = domain::schema::JsonSchema::compile(SCHEMA).unwrap();
    for text in [COUNTY_CSV, HOUSING_FUND] {
        let v: Value = serde_json::from_str(text).unwrap();
        assert_eq!(schema.errors(&v), [], "{text}");
    }
    assert!(schema.is_valid(&base()));
    assert!(schema.is_valid(&json_mapping()));
    // Record targets: the schema's list is the validator's.
    let root: Value = serde_json::from_str(SCHEMA).unwrap();
    let listed: Vec<&str> = root["$defs"]["record_target"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let known: Vec<&str> = targets::RECORD.iter().map(|(p, _)| *p).collect();
    assert_eq!(listed, known);
    // Some files both refuse.
    let mut unknown_target = base();
    unknown_target["fields"][0]["to"] = json!("/applicant/idnumber");
    let mut both = base();
    both["fields"][0]["const"] = json!("x");
    let mut bad_format = base();
    bad_format["format"] = json!({"type": "xml", "records": "A/B", "encoding": "GBK"});
    let mut bad_conv = base();
    bad_conv["fields"][0]["convert"] = json!("phone");
    let mut no_department = base();
    no_department.as_object_mut().unwrap().remove("department");
    for v in [unknown_target, both, bad_format, bad_conv, no_department] {
        assert!(!schema.is_valid(&v), "{v}");
        assert!(load(&v).is_err(), "{v}");
    }
}

/// Targets are JSON Pointers: parents made on the way, kept when already there, and `~1` / `~0`
/// read as `/` and `~`.
#[test]
fn set_writes_at_a_pointer() {
    let mut out = Map::new();
    set(&mut out, "/case_no", json!("A1"));
    set(&mut out, "/service_item/local/code", json!("X"));
    set(&mut out, "/service_item/local/name", json!("Y"));
    set(&mut out, "/a~1b/c~0d~01", json!(1));
    assert_eq!(
        Value::Object(out),
        json!({
            "case_no": "A1",
            "service_item": {"local": {"code": "X", "name": "Y"}},
            "a/b": {"c~d~1": 1},
        })
    );
}
