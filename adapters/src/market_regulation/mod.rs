//! 市场监管 (market regulation): a JSON batch `{"sender", "records": [...]}` with camelCase
//! fields and local times. See README.md in this directory for the mapping.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::common::{
    CertificateFields, CertificateHolder, JsonFields, Problems, Required, certificate, clean_code,
    holder_code_type,
};
use crate::{Adapter, DecodedRecord, PayloadError};

pub struct MarketRegulation;

#[derive(Deserialize)]
struct Batch<'a> {
    #[serde(borrow)]
    records: Vec<&'a RawValue>,
}

impl Adapter for MarketRegulation {
    fn id(&self) -> &'static str {
        "market-regulation"
    }
    fn department(&self) -> &'static str {
        "market_regulation"
    }
    fn format(&self) -> &'static str {
        "JSON (UTF-8), camelCase fields, local times yyyy-MM-dd HH:mm:ss"
    }

    fn decode(&self, payload: &[u8]) -> Result<Vec<DecodedRecord>, PayloadError> {
        let payload = payload.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(payload);
        let batch: Batch = serde_json::from_slice(payload).map_err(|e| {
            PayloadError::new(
                "payload.malformed",
                format!("not a market-regulation batch: {e}"),
            )
        })?;
        Ok(crate::common::json_records(
            &batch.records,
            "records",
            "caseNo",
            map_record,
        ))
    }
}

fn state(s: &str) -> Option<&'static str> {
    Some(match s {
        "RECEIVED" => "received",
        "ACCEPTED" => "accepted",
        "HANDLING" => "in_progress",
        "SUSPENDED" => "on_hold",
        "FINISHED" => "completed",
        "REJECTED" => "rejected",
        "WITHDRAWN" => "withdrawn",
        _ => return None,
    })
}

fn decision(s: &str) -> Option<&'static str> {
    Some(match s {
        "APPROVE" => "approved",
        "DENY" => "denied",
        "NOT_ACCEPTED" => "not_accepted",
        "WITHDRAWN" => "withdrawn",
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

fn map_record(r: JsonFields) -> Result<Value, Vec<domain::FieldError>> {
    let mut p = Problems::default();
    let mut out = Map::new();
    if let Some(v) = r.required("caseNo", "/case_no", &mut p) {
        out.insert("case_no".into(), json!(clean_code(&v)));
    }
    if let Some(v) = r
        .required("version", "/version", &mut p)
        .and_then(|v| p.integer("/version", &v))
    {
        out.insert("version".into(), json!(v));
    }

    let mut item = Map::new();
    let mut local = Map::new();
    if let Some(c) = r.text("itemCode") {
        local.insert("code".into(), json!(clean_code(&c)));
    }
    if let Some(n) = r.text("itemName") {
        local.insert("name".into(), json!(n));
    }
    if local.is_empty() {
        p.push(
            "/service_item/local",
            "field.missing",
            "'itemCode' or 'itemName' is required",
        );
    }
    item.insert("local".into(), Value::Object(local));
    if let Some(c) = r.text("implCode") {
        item.insert("impl_code".into(), json!(clean_code(&c)));
    }
    if let Some(k) = r.text("caseKind") {
        match case_kind(&clean_code(&k)) {
            Some(k) => item.insert("case_kind".into(), json!(k)),
            None => {
                p.push(
                    "/service_item/case_kind",
                    "code.unknown",
                    format!("caseKind '{k}' is not 1, 2 or 9"),
                );
                None
            }
        };
    }
    out.insert("service_item".into(), Value::Object(item));

    if let Some(v) = r.required("areaCode", "/region_code", &mut p) {
        out.insert("region_code".into(), json!(clean_code(&v)));
    }
    match r.object("handleOrg") {
        Some(org) => {
            let name = org.required("name", "/handling_org/name", &mut p);
            let code = org.required("uscc", "/handling_org/credit_code", &mut p);
            out.insert(
                "handling_org".into(),
                json!({"name": name, "credit_code": code.map(|c| clean_code(&c))}),
            );
        }
        None => p.push("/handling_org", "field.missing", "'handleOrg' is required"),
    }
    match r.object("applicant") {
        Some(a) => {
            let mut ap = Map::new();
            let kind = match a.text("type").as_deref() {
                Some("enterprise") => "organization",
                _ => "person",
            };
            ap.insert("kind".into(), json!(kind));
            if let Some(n) = a.required("name", "/applicant/name", &mut p) {
                ap.insert("name".into(), json!(n));
            }
            let id_type = a
                .text("certType")
                .map_or(if kind == "person" { "111" } else { "001" }, |t| {
                    holder_code_type(&t)
                });
            ap.insert("id_type".into(), json!(id_type));
            if let Some(n) = a.required("certNo", "/applicant/id_number", &mut p) {
                ap.insert("id_number".into(), json!(clean_code(&n)));
            }
            if let Some(m) = a.text("mobile") {
                ap.insert("phone".into(), json!(m));
            }
            if let Some(addr) = a.text("address") {
                ap.insert("address".into(), json!(addr));
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
        ("decideTime", "decided", false),
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
    if let Some(d) = r
        .text("promiseDays")
        .and_then(|v| p.integer("/time_limits/promised_days", &v))
    {
        limits.insert("promised_days".into(), json!(d));
    }
    if let Some(d) = r
        .text("legalDays")
        .and_then(|v| p.integer("/time_limits/legal_days", &v))
    {
        limits.insert("legal_days".into(), json!(d));
    }
    out.insert("time_limits".into(), Value::Object(limits));

    if let Some(s) = r.required("state", "/status", &mut p) {
        match state(&s) {
            Some(s) => {
                out.insert("status".into(), json!(s));
            }
            None => p.push(
                "/status",
                "code.unknown",
                format!("state '{s}' is not in the market-regulation code table"),
            ),
        }
    }

    let steps: Vec<Value> = r
        .array("steps")
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let s = JsonFields {
                obj: s.as_object()?,
            };
            let path = format!("/process_steps/{i}");
            let mut step = Map::new();
            if let Some(n) = s.required("node", &format!("{path}/name"), &mut p) {
                step.insert("name".into(), json!(n));
            }
            for (k, c) in [
                ("handler", "actor"),
                ("action", "action"),
                ("opinion", "opinion"),
            ] {
                if let Some(v) = s.text(k) {
                    step.insert(c.into(), json!(v));
                }
            }
            if let Some(t) = s
                .required("time", &format!("{path}/time"), &mut p)
                .and_then(|t| p.datetime(&format!("{path}/time"), &t))
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
        .array("suspensions")
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
            if let Some(t) = h
                .required("start", &format!("{path}/start"), &mut p)
                .and_then(|t| p.datetime(&format!("{path}/start"), &t))
            {
                hold.insert("start".into(), json!(t));
            }
            if let Some(t) = h
                .text("end")
                .and_then(|t| p.datetime(&format!("{path}/end"), &t))
            {
                hold.insert("end".into(), json!(t));
            }
            Some(Value::Object(hold))
        })
        .collect();
    if !holds.is_empty() {
        out.insert("holds".into(), Value::Array(holds));
    }

    if let Some(res) = r.object("result") {
        let mut result = Map::new();
        if let Some(d) = res.required("decision", "/result/decision", &mut p) {
            match decision(&d) {
                Some(d) => {
                    result.insert("decision".into(), json!(d));
                }
                None => p.push(
                    "/result/decision",
                    "code.unknown",
                    format!("decision '{d}' is not in the code table"),
                ),
            }
        }
        if let Some(t) = res.text("remark") {
            result.insert("text".into(), json!(t));
        }
        let certs: Vec<Value> = res
            .array("licences")
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                Some(map_licence(
                    i,
                    JsonFields {
                        obj: l.as_object()?,
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

    let public = r.bool("isPublic").unwrap_or(false);
    let mut disclosure = Map::new();
    disclosure.insert("public".into(), json!(public));
    if let Some(why) = r.text("notPublicReason") {
        disclosure.insert("reason_not_public".into(), json!(why));
    }
    out.insert("disclosure".into(), Value::Object(disclosure));

    p.into_result(Value::Object(out))
}

fn map_licence(i: usize, l: JsonFields, p: &mut Problems) -> Value {
    let base = format!("/result/certificates/{i}");
    let fields = CertificateFields {
        type_code: l.required("typeCode", &format!("{base}/type_code"), p),
        type_name: l.required("typeName", &format!("{base}/type_name"), p),
        number: l.required("licenceNo", &format!("{base}/number"), p),
        holder: {
            let code = l
                .required("holderCode", &format!("{base}/holder/code"), p)
                .map(|c| clean_code(&c));
            let code_type = l.text("holderCodeType").map_or_else(
                // A business licence's holder is an organization unless the source says otherwise.
                || {
                    if code.as_deref().is_some_and(|c| {
                        c.len() == 18
                            && c.chars()
                                .nth(17)
                                .is_some_and(|x| x.is_ascii_digit() || x == 'X')
                            && c.chars().take(17).all(|x| x.is_ascii_digit())
                    }) {
                        "111"
                    } else {
                        "001"
                    }
                },
                |t| holder_code_type(&t),
            );
            let name = l.required("holderName", &format!("{base}/holder/name"), p);
            Some(CertificateHolder {
                name,
                code,
                code_type,
            })
        },
        issuing_authority: match l.object("issueOrg") {
            Some(org) => {
                let name = org.required("name", &format!("{base}/issuing_authority/name"), p);
                let code = org
                    .required("uscc", &format!("{base}/issuing_authority/credit_code"), p)
                    .map(|c| clean_code(&c));
                Some(json!({"name": name, "credit_code": code}))
            }
            None => {
                p.push(
                    &format!("{base}/issuing_authority"),
                    "field.missing",
                    "'issueOrg' is required",
                );
                None
            }
        },
        issue_date: Required {
            key: "issueDate",
            text: l.text("issueDate"),
        },
        valid_from: Required {
            key: "validFrom",
            text: l.text("validFrom"),
        },
        valid_until: l.text("validTo"),
        surface: l.object("surface").map(|surface| {
            surface
                .obj
                .iter()
                .filter_map(|(k, v)| {
                    Some((
                        k.clone(),
                        json!(match v {
                            Value::String(s) => s.clone(),
                            Value::Number(n) => n.to_string(),
                            _ => return None,
                        }),
                    ))
                })
                .collect()
        }),
        identifier: l.text("eCertId"),
        status: l.text("status"),
        status_reason: l.text("statusReason"),
    };
    certificate(&base, fields, p)
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
        let records = format!(r#"{{"caseNo": "N-1", "n": 1e999}}, {deep}, {{"caseNo": "N-3"}}"#);
        let payload = format!(r#"{{"records": [{records}]}}"#);
        let recs = MarketRegulation.decode(payload.as_bytes()).unwrap();
        assert_eq!(recs.len(), 3);
        for (i, r) in recs[..2].iter().enumerate() {
            let e = r.draft.as_ref().unwrap_err();
            assert_eq!(e.len(), 1, "{e:?}");
            // Nesting past the configured depth is caught before parsing (crate::limits).
            let code = ["record.malformed", "record.too_deep"][i];
            assert_eq!((e[0].path.as_str(), e[0].code.as_str()), ("", code));
            assert_eq!(r.location, format!("records[{i}]"));
        }
        assert!(recs[0].raw.ends_with(b"1e999}"));
        assert_eq!(recs[2].case_no.as_deref(), Some("N-3"));
    }
}
