//! 人社 (human resources and social security): a JSON batch `{"batchNo", "total", "data": [...]}`
//! with camelCase fields, dates `yyyyMMdd`, times `yyyyMMddHHmmss` and amounts in fen (分).
//! See README.md in this directory for the mapping.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::common::{JsonFields, Problems, clean_code, holder_code_type};
use crate::{Adapter, DecodedRecord, PayloadError};

pub struct HumanResources;

#[derive(Deserialize)]
struct Batch<'a> {
    #[serde(borrow)]
    data: Vec<&'a RawValue>,
    /// Declared record count; guards against truncated transfers.
    #[serde(default)]
    total: Option<Value>,
}

impl Adapter for HumanResources {
    fn id(&self) -> &'static str {
        "human-resources"
    }
    fn department(&self) -> &'static str {
        "human_resources"
    }
    fn format(&self) -> &'static str {
        "JSON (UTF-8), camelCase fields, dates yyyyMMdd, times yyyyMMddHHmmss, amounts in fen"
    }

    fn decode(&self, payload: &[u8]) -> Result<Vec<DecodedRecord>, PayloadError> {
        let payload = payload.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(payload);
        let batch: Batch = serde_json::from_slice(payload).map_err(|e| {
            PayloadError::new(
                "payload.malformed",
                format!("not a human-resources batch: {e}"),
            )
        })?;
        if let Some(total) = &batch.total {
            let declared = match total {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => clean_code(s).parse().ok(),
                _ => None,
            };
            if declared != Some(batch.data.len() as u64) {
                return Err(PayloadError::new(
                    "payload.count_mismatch",
                    format!(
                        "'total' declares {total} records but 'data' holds {}",
                        batch.data.len()
                    ),
                ));
            }
        }
        Ok(crate::common::json_records(
            &batch.data,
            "data",
            "bizSerialNo",
            map_record,
        ))
    }
}

/// An amount in fen (分, 1/100 yuan) as yuan text: `1250` → `12.50元`.
pub fn fen_to_yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}{}.{:02}元", abs / 100, abs % 100)
}

/// Read an amount in fen: a whole, non-negative number (JSON number or digits in a string).
/// `12.5` (yuan sent by mistake) and negatives are `integer.format` at `path`.
fn fen(v: &str, path: &str, p: &mut Problems) -> Option<i64> {
    match clean_code(v).parse::<i64>() {
        Ok(n) if n >= 0 => Some(n),
        _ => {
            p.push(
                path,
                "integer.format",
                format!("'{v}' is not a whole, non-negative number of fen (分)"),
            );
            None
        }
    }
}

/// 人社 identity document codes (证件类型) → GB/T 36903 holder code type. Names in words and the
/// GB/T codes themselves are understood as well (see `common::holder_code_type`).
pub fn id_type(s: &str) -> &'static str {
    match clean_code(s).as_str() {
        "01" | "1" => "111", // 居民身份证（户口簿）
        "08" | "8" => "414", // 外国人护照
        "02" | "03" | "04" | "05" | "06" | "07" | "09" | "2" | "3" | "4" | "5" | "6" | "7"
        | "9" | "99" => "990",
        other => holder_code_type(other),
    }
}

fn status(s: &str) -> Option<&'static str> {
    Some(match s {
        "10" => "received",
        "20" => "accepted",
        "30" => "in_progress",
        "31" => "on_hold",
        "40" => "completed",
        "50" => "rejected",
        "60" => "withdrawn",
        _ => return None,
    })
}

fn decision(s: &str) -> Option<&'static str> {
    Some(match s {
        "1" => "approved",
        "2" => "denied",
        "3" => "not_accepted",
        "4" => "withdrawn",
        _ => return None,
    })
}

fn case_kind(s: &str) -> Option<&'static str> {
    Some(match s {
        "1" => "immediate",
        "2" => "promised",
        "9" => "other",
        _ => return None,
    })
}

/// Milliseconds since the epoch of a local time, the version of a record without `version`.
fn update_time_millis(t: &str, p: &mut Problems) -> Option<i64> {
    p.datetime("/version", t)
        .and_then(|t| domain::rfc3339::parse_strict(&t).ok())
        .map(|t| t.timestamp_millis())
}

fn map_record(r: JsonFields) -> Result<Value, Vec<domain::FieldError>> {
    let mut p = Problems::default();
    let mut out = Map::new();
    if let Some(v) = r.required("bizSerialNo", "/case_no", &mut p) {
        out.insert("case_no".into(), json!(clean_code(&v)));
    }
    // The explicit version wins; otherwise the update time in milliseconds.
    let version = match (r.text("version"), r.text("updateTime")) {
        (Some(v), _) => p.integer("/version", &v),
        (None, Some(t)) => update_time_millis(&t, &mut p),
        (None, None) => {
            p.push(
                "/version",
                "field.missing",
                "'version' or 'updateTime' is required",
            );
            None
        }
    };
    if let Some(v) = version {
        out.insert("version".into(), json!(v));
    }

    let mut item = Map::new();
    let mut local = Map::new();
    if let Some(c) = r.text("serviceItemCode") {
        local.insert("code".into(), json!(clean_code(&c)));
    }
    if let Some(n) = r.text("serviceItemName") {
        local.insert("name".into(), json!(n));
    }
    if local.is_empty() {
        p.push(
            "/service_item/local",
            "field.missing",
            "'serviceItemCode' or 'serviceItemName' is required",
        );
    }
    item.insert("local".into(), Value::Object(local));
    if let Some(c) = r.text("implementCode") {
        item.insert("impl_code".into(), json!(clean_code(&c)));
    }
    if let Some(k) = r.text("caseType") {
        match case_kind(&clean_code(&k)) {
            Some(k) => {
                item.insert("case_kind".into(), json!(k));
            }
            None => p.push(
                "/service_item/case_kind",
                "code.unknown",
                format!("caseType '{k}' is not 1, 2 or 9"),
            ),
        }
    }
    out.insert("service_item".into(), Value::Object(item));

    if let Some(v) = r.required("divisionCode", "/region_code", &mut p) {
        out.insert("region_code".into(), json!(clean_code(&v)));
    }
    match r.object("agency") {
        Some(org) => {
            let name = org.required("agencyName", "/handling_org/name", &mut p);
            let code = org
                .required("creditCode", "/handling_org/credit_code", &mut p)
                .map(|c| clean_code(&c));
            out.insert(
                "handling_org".into(),
                json!({"name": name, "credit_code": code}),
            );
        }
        None => p.push("/handling_org", "field.missing", "'agency' is required"),
    }

    // Applicants of this network are insured persons.
    match r.object("applicant") {
        Some(a) => {
            let mut ap = Map::new();
            ap.insert("kind".into(), json!("person"));
            if let Some(n) = a.required("psnName", "/applicant/name", &mut p) {
                ap.insert("name".into(), json!(n));
            }
            let t = a.text("idType").map_or("111", |t| id_type(&t));
            ap.insert("id_type".into(), json!(t));
            if let Some(n) = a.required("idNo", "/applicant/id_number", &mut p) {
                ap.insert("id_number".into(), json!(clean_code(&n)));
            }
            if let Some(m) = a.text("mobile") {
                ap.insert("phone".into(), json!(clean_code(&m)));
            }
            if let Some(v) = a.text("address") {
                ap.insert("address".into(), json!(v));
            }
            out.insert("applicant".into(), Value::Object(ap));
        }
        None => p.push("/applicant", "field.missing", "'applicant' is required"),
    }

    let mut ts = Map::new();
    for (key, canon, required) in [
        ("applyTime", "occurred", true),
        ("receiveTime", "received", true),
        ("acceptTime", "accepted", false),
        ("approveTime", "decided", false),
        ("finishTime", "completed", false),
    ] {
        let path = format!("/timestamps/{canon}");
        let v = if required {
            r.required(key, &path, &mut p)
        } else {
            r.text(key)
        };
        if let Some(t) = v.and_then(|v| p.datetime(&path, &v)) {
            ts.insert(canon.into(), json!(t));
        }
    }
    out.insert("timestamps".into(), Value::Object(ts));

    let mut limits = Map::new();
    for (key, canon) in [
        ("promiseDays", "promised_days"),
        ("legalDays", "legal_days"),
    ] {
        let path = format!("/time_limits/{canon}");
        if let Some(d) = r.text(key).and_then(|v| p.integer(&path, &v)) {
            limits.insert(canon.into(), json!(d));
        }
    }
    out.insert("time_limits".into(), Value::Object(limits));

    if let Some(s) = r.required("handleStatus", "/status", &mut p) {
        match status(&clean_code(&s)) {
            Some(s) => {
                out.insert("status".into(), json!(s));
            }
            None => p.push(
                "/status",
                "code.unknown",
                format!("handleStatus '{s}' is not in the human-resources status table"),
            ),
        }
    }

    let steps: Vec<Value> = r
        .array("processList")
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let s = JsonFields {
                obj: s.as_object()?,
            };
            let path = format!("/process_steps/{i}");
            let mut step = Map::new();
            if let Some(n) = s.required("linkName", &format!("{path}/name"), &mut p) {
                step.insert("name".into(), json!(n));
            }
            for (k, c) in [
                ("operator", "actor"),
                ("operation", "action"),
                ("opinion", "opinion"),
            ] {
                if let Some(v) = s.text(k) {
                    step.insert(c.into(), json!(v));
                }
            }
            let tpath = format!("{path}/time");
            if let Some(t) = s
                .required("operateTime", &tpath, &mut p)
                .and_then(|t| p.datetime(&tpath, &t))
            {
                step.insert("time".into(), json!(t));
            }
            Some(Value::Object(step))
        })
        .collect();
    if !steps.is_empty() {
        out.insert("process_steps".into(), Value::Array(steps));
    }

    let holds: Vec<Value> = r
        .array("suspendList")
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            let h = JsonFields {
                obj: h.as_object()?,
            };
            let path = format!("/holds/{i}");
            let mut hold = Map::new();
            if let Some(v) = h.required("reason", &format!("{path}/reason"), &mut p) {
                hold.insert("reason".into(), json!(v));
            }
            for (key, canon, required) in [("beginTime", "start", true), ("endTime", "end", false)]
            {
                let tpath = format!("{path}/{canon}");
                let v = if required {
                    h.required(key, &tpath, &mut p)
                } else {
                    h.text(key)
                };
                if let Some(t) = v.and_then(|t| p.datetime(&tpath, &t)) {
                    hold.insert(canon.into(), json!(t));
                }
            }
            Some(Value::Object(hold))
        })
        .collect();
    if !holds.is_empty() {
        out.insert("holds".into(), Value::Array(holds));
    }

    if let Some(res) = r.object("handleResult") {
        let mut result = Map::new();
        if let Some(d) = res.required("resultCode", "/result/decision", &mut p) {
            match decision(&clean_code(&d)) {
                Some(d) => {
                    result.insert("decision".into(), json!(d));
                }
                None => p.push(
                    "/result/decision",
                    "code.unknown",
                    format!("resultCode '{d}' is not 1-4"),
                ),
            }
        }
        if let Some(t) = res.text("resultDesc") {
            result.insert("text".into(), json!(t));
        }
        let certs: Vec<Value> = res
            .array("certList")
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                Some(map_certificate(
                    i,
                    JsonFields {
                        obj: c.as_object()?,
                    },
                    &mut p,
                ))
            })
            .collect();
        if !certs.is_empty() {
            result.insert("certificates".into(), Value::Array(certs));
        }
        out.insert("result".into(), Value::Object(result));
    }

    let public = r.bool("isOpen").unwrap_or(false);
    let mut disclosure = Map::new();
    disclosure.insert("public".into(), json!(public));
    if let Some(why) = r.text("notOpenReason") {
        disclosure.insert("reason_not_public".into(), json!(why));
    }
    out.insert("disclosure".into(), Value::Object(disclosure));

    p.into_result(Value::Object(out))
}

/// `validEnd` values that mean "no end date".
fn open_ended(s: &str) -> bool {
    matches!(clean_code(s).as_str(), "长期" | "99991231" | "9999-12-31")
}

fn map_certificate(i: usize, c: JsonFields, p: &mut Problems) -> Value {
    let base = format!("/result/certificates/{i}");
    let mut out = Map::new();
    for (key, canon, clean) in [
        ("certTypeCode", "type_code", true),
        ("certTypeName", "type_name", false),
        ("certNo", "number", true),
    ] {
        if let Some(v) = c.required(key, &format!("{base}/{canon}"), p) {
            out.insert(canon.into(), json!(if clean { clean_code(&v) } else { v }));
        }
    }
    let name = c.required("holderName", &format!("{base}/holder/name"), p);
    let code = c
        .required("holderIdNo", &format!("{base}/holder/code"), p)
        .map(|v| clean_code(&v));
    let code_type = c.text("holderIdType").map_or("111", |t| id_type(&t));
    out.insert(
        "holder".into(),
        json!({"name": name, "code": code, "code_type": code_type}),
    );
    match c.object("issueAgency") {
        Some(org) => {
            let name = org.required("agencyName", &format!("{base}/issuing_authority/name"), p);
            let code = org
                .required(
                    "creditCode",
                    &format!("{base}/issuing_authority/credit_code"),
                    p,
                )
                .map(|v| clean_code(&v));
            out.insert(
                "issuing_authority".into(),
                json!({"name": name, "credit_code": code}),
            );
        }
        None => p.push(
            &format!("{base}/issuing_authority"),
            "field.missing",
            "'issueAgency' is required",
        ),
    }
    for (key, canon) in [("issueDate", "issue_date"), ("validStart", "valid_from")] {
        let path = format!("{base}/{canon}");
        if let Some(d) = c.required(key, &path, p).and_then(|d| p.date(&path, &d)) {
            out.insert(canon.into(), json!(d));
        }
    }
    if let Some(end) = c.text("validEnd").filter(|e| !open_ended(e)) {
        let path = format!("{base}/valid_until");
        if let Some(d) = p.date(&path, &end) {
            out.insert("valid_until".into(), json!(d));
        }
    }
    let mut surface = Map::new();
    if let Some(face) = c.object("faceInfo") {
        for (k, v) in face.obj {
            match v {
                Value::String(s) => {
                    surface.insert(k.clone(), json!(s.trim()));
                }
                Value::Number(n) => {
                    surface.insert(k.clone(), json!(n.to_string()));
                }
                _ => {}
            }
        }
    }
    // The schema has no amount field: the fee goes onto the surface as yuan text.
    if let Some(v) = c.text("feeFen") {
        let path = format!("{base}/surface/工本费");
        if let Some(f) = fen(&v, &path, p) {
            surface.insert("工本费".into(), json!(fen_to_yuan(f)));
        }
    }
    if !surface.is_empty() {
        out.insert("surface".into(), Value::Object(surface));
    }
    if let Some(id) = c.text("eCertId") {
        out.insert("identifier".into(), json!(clean_code(&id)));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing (`fuzz/`, the JSON adapters shared it): splitting a batch into raw
    /// records accepts JSON that no `Value` can hold (a number beyond `f64`, nesting past
    /// serde_json's recursion limit), and reading such a record panicked. It is now
    /// `record.malformed`, alone.
    #[test]
    fn a_record_no_json_value_can_hold_is_refused_alone() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let records =
            format!(r#"{{"bizSerialNo": "N-1", "n": 1e999}}, {deep}, {{"bizSerialNo": "N-3"}}"#);
        let payload = format!(r#"{{"total": 3, "data": [{records}]}}"#);
        let recs = HumanResources.decode(payload.as_bytes()).unwrap();
        assert_eq!(recs.len(), 3);
        for (i, r) in recs[..2].iter().enumerate() {
            let e = r.draft.as_ref().unwrap_err();
            assert_eq!(e.len(), 1, "{e:?}");
            // Nesting past the configured depth is caught before parsing (crate::limits).
            let code = ["record.malformed", "record.too_deep"][i];
            assert_eq!((e[0].path.as_str(), e[0].code.as_str()), ("", code));
            assert_eq!(r.location, format!("data[{i}]"));
        }
        assert!(recs[0].raw.ends_with(b"1e999}"));
        assert_eq!(recs[2].case_no.as_deref(), Some("N-3"));
    }

    fn record(extra: Value) -> Value {
        let mut r = json!({
            "bizSerialNo": "RS-1",
            "serviceItemCode": "RS-SBK-01",
            "divisionCode": "621002000000",
            "agency": {"agencyName": "庆阳市西峰区人力资源和社会保障局", "creditCode": "X"},
            "applicant": {"psnName": "张伟", "idType": "01", "idNo": "621002199305121234"},
            "applyTime": "20261120093000",
            "receiveTime": "20261120093010",
            "handleStatus": "10",
            "isOpen": "0",
            "notOpenReason": "涉及个人信息"
        });
        r.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        r
    }

    fn decode(records: Vec<Value>) -> Vec<DecodedRecord> {
        let batch = json!({"batchNo": "B1", "total": records.len(), "data": records});
        HumanResources
            .decode(serde_json::to_string(&batch).unwrap().as_bytes())
            .unwrap()
    }

    fn draft(r: &DecodedRecord) -> &Value {
        r.draft.as_ref().expect("mapped")
    }

    fn errors(r: &DecodedRecord) -> Vec<(String, String)> {
        r.draft
            .as_ref()
            .unwrap_err()
            .iter()
            .map(|e| (e.path.clone(), e.code.clone()))
            .collect()
    }

    #[test]
    fn fen_becomes_yuan_text() {
        assert_eq!(fen_to_yuan(1250), "12.50元");
        assert_eq!(fen_to_yuan(0), "0.00元");
        assert_eq!(fen_to_yuan(5), "0.05元");
        assert_eq!(fen_to_yuan(2000), "20.00元");
        assert_eq!(fen_to_yuan(123456789), "1234567.89元");
        let mut p = Problems::default();
        assert_eq!(fen("１２５０", "/x", &mut p), Some(1250));
        assert_eq!(fen("12.5", "/x", &mut p), None);
        assert_eq!(fen("-100", "/x", &mut p), None);
        assert_eq!(p.0.len(), 2);
        assert!(p.0.iter().all(|e| e.code == "integer.format"));
    }

    #[test]
    fn compact_dates_and_times() {
        let cert = json!({
            "certTypeCode": "11100000000013374D001", "certTypeName": "社会保障卡",
            "certNo": "Ｇ６２１００２１２３", "holderName": "张伟", "holderIdNo": "621002199305121234",
            "issueAgency": {"agencyName": "庆阳市人力资源和社会保障局", "creditCode": "Y"},
            "issueDate": "20261120", "validStart": "20261120", "validEnd": "20361119",
            "faceInfo": {"发卡银行": " 甘肃银行 ", "卡号": 123}, "feeFen": 1250
        });
        let recs = decode(vec![record(json!({
            "version": "2",
            "acceptTime": "20261120100000",
            "handleResult": {"resultCode": "1", "certList": [cert]}
        }))]);
        let d = draft(&recs[0]);
        assert_eq!(d["version"], 2);
        assert_eq!(d["timestamps"]["occurred"], "2026-11-20T09:30:00+08:00");
        let c = &d["result"]["certificates"][0];
        assert_eq!(c["issue_date"], "2026-11-20");
        assert_eq!(c["valid_until"], "2036-11-19");
        assert_eq!(c["number"], "G621002123");
        assert_eq!(c["holder"]["code_type"], "111");
        assert_eq!(c["surface"]["工本费"], "12.50元");
        assert_eq!(c["surface"]["发卡银行"], "甘肃银行");
        assert_eq!(c["surface"]["卡号"], "123");
    }

    #[test]
    fn version_rule() {
        let recs = decode(vec![
            record(json!({"version": 3, "updateTime": "20261120093000"})),
            record(json!({"updateTime": "20261120100500"})),
            record(json!({})),
            record(json!({"updateTime": "20261120"})),
            record(json!({"version": "v2"})),
        ]);
        assert_eq!(draft(&recs[0])["version"], 3);
        assert_eq!(draft(&recs[1])["version"], 1_795_140_300_000_i64);
        assert_eq!(
            errors(&recs[2]),
            [("/version".into(), "field.missing".into())]
        );
        assert_eq!(
            errors(&recs[3]),
            [("/version".into(), "datetime.format".into())]
        );
        assert_eq!(
            errors(&recs[4]),
            [("/version".into(), "integer.format".into())]
        );
    }

    #[test]
    fn open_ended_validity_and_id_types() {
        for end in ["99991231", "长期", "9999-12-31"] {
            assert!(open_ended(end));
        }
        assert!(!open_ended("20361119"));
        assert_eq!(id_type("01"), "111");
        assert_eq!(id_type("1"), "111");
        assert_eq!(id_type("０１"), "111");
        assert_eq!(id_type("08"), "414");
        assert_eq!(id_type("06"), "990");
        assert_eq!(id_type("居民身份证"), "111");
        assert_eq!(id_type("护照"), "414");
    }

    #[test]
    fn batch_level_errors() {
        let e = |b: &[u8]| HumanResources.decode(b).unwrap_err().code;
        assert_eq!(e(b"not json"), "payload.malformed");
        assert_eq!(e(b"{\"records\": []}"), "payload.malformed");
        assert_eq!(e(b"{\"data\": {}}"), "payload.malformed");
        assert_eq!(
            e(b"{\"total\": 2, \"data\": [{}]}"),
            "payload.count_mismatch"
        );
        assert_eq!(
            e(b"{\"total\": \"x\", \"data\": []}"),
            "payload.count_mismatch"
        );
        assert!(
            HumanResources
                .decode(b"\xEF\xBB\xBF{\"total\": \"0\", \"data\": []}")
                .unwrap()
                .is_empty()
        );
        // GBK bytes are not UTF-8 JSON.
        let gbk = encoding_rs::GBK.encode("{\"data\": [\"张伟\"]}").0;
        assert_eq!(e(&gbk), "payload.malformed");
    }

    #[test]
    fn locations_and_non_objects() {
        let recs = decode(vec![record(json!({"version": 1})), json!(42)]);
        assert_eq!(recs[1].location, "data[1]");
        assert_eq!(errors(&recs[1]), [("".into(), "record.not_object".into())]);
        assert_eq!(recs[0].case_no.as_deref(), Some("RS-1"));
        // The record's own bytes, as sent.
        let raw: Value = serde_json::from_slice(&recs[0].raw).unwrap();
        assert_eq!(raw, record(json!({"version": 1})));
    }
}
