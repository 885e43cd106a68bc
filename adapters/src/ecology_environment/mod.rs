//! 生态环境 (ecology and environment): the pollutant-discharge permit system's JSON batch
//! `{"baotou": {...}, "banjian": [...]}` with snake_case pinyin keys, times as epoch
//! milliseconds (or local date-time strings) and pinyin code values. See README.md in this
//! directory for the mapping.

use chrono::TimeZone;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::common::{
    CertificateFields, CertificateHolder, JsonFields, Problems, Required, beijing, certificate,
    clean_code,
};
use crate::{Adapter, DecodedRecord, PayloadError};

pub struct EcologyEnvironment;

#[derive(Deserialize)]
struct Batch<'a> {
    #[serde(default)]
    baotou: Option<Header>,
    #[serde(borrow)]
    banjian: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct Header {
    /// Declared record count (记录数); guards against truncated transfers.
    #[serde(default)]
    jilu_shu: Option<Value>,
}

/// Earliest and latest epoch milliseconds taken as a time (2000-01-01 to 2100-01-01 UTC):
/// seconds sent by mistake, or garbage, are `datetime.format`, not a time in 1970.
const MIN_MILLIS: i64 = 946_684_800_000;
const MAX_MILLIS: i64 = 4_102_444_800_000;

impl Adapter for EcologyEnvironment {
    fn id(&self) -> &'static str {
        "ecology-environment"
    }
    fn department(&self) -> &'static str {
        "ecology_environment"
    }
    fn format(&self) -> &'static str {
        "JSON (UTF-8), snake_case pinyin keys, times in epoch milliseconds, pinyin code values"
    }

    fn decode(&self, payload: &[u8]) -> Result<Vec<DecodedRecord>, PayloadError> {
        let payload = payload.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(payload);
        let batch: Batch = serde_json::from_slice(payload).map_err(|e| {
            PayloadError::new(
                "payload.malformed",
                format!("not an ecology-environment batch: {e}"),
            )
        })?;
        if let Some(count) = batch.baotou.as_ref().and_then(|h| h.jilu_shu.as_ref()) {
            let declared = match count {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => clean_code(s).parse().ok(),
                _ => None,
            };
            if declared != Some(batch.banjian.len() as u64) {
                return Err(PayloadError::new(
                    "payload.count_mismatch",
                    format!(
                        "baotou.jilu_shu declares {count} records but 'banjian' holds {}",
                        batch.banjian.len()
                    ),
                ));
            }
        }
        Ok(crate::common::json_records(
            &batch.banjian,
            "banjian",
            "shenban_liushuihao",
            map_record,
        ))
    }
}

/// A time as this network sends it: a JSON integer is epoch milliseconds (shown at +08:00);
/// a string is a local or RFC 3339 date-time (`common::datetime`). Returns RFC 3339.
pub fn time(v: &Value) -> Result<String, String> {
    match v {
        Value::Number(n) => {
            let ms = n
                .as_i64()
                .filter(|ms| (MIN_MILLIS..MAX_MILLIS).contains(ms))
                .ok_or_else(|| {
                    format!("{n} is not a time in epoch milliseconds between 2000 and 2100")
                })?;
            let t = beijing()
                .timestamp_millis_opt(ms)
                .single()
                .ok_or_else(|| format!("{n} is not a time in epoch milliseconds"))?;
            Ok(domain::rfc3339::to_string(&t))
        }
        Value::String(s) => crate::common::datetime(s),
        other => Err(format!("{other} is not a time")),
    }
}

/// Epoch milliseconds of a time, the version of a record without `banben`.
fn time_millis(v: &Value) -> Result<i64, String> {
    let t = time(v)?;
    domain::rfc3339::parse_strict(&t)
        .map(|t| t.timestamp_millis())
        .map_err(|e| e.to_string())
}

/// A present, non-null, non-blank value of `key`.
fn present<'a>(o: &JsonFields<'a>, key: &str) -> Option<&'a Value> {
    match o.obj.get(key)? {
        Value::Null => None,
        Value::String(s) if s.trim().is_empty() => None,
        v => Some(v),
    }
}

/// Read a time field, recording `field.missing` (when required) or `datetime.format` at `path`.
fn read_time(
    o: &JsonFields,
    key: &str,
    path: &str,
    required: bool,
    p: &mut Problems,
) -> Option<String> {
    match present(o, key) {
        Some(v) => time(v).map_err(|m| p.push(path, "datetime.format", m)).ok(),
        None => {
            if required {
                p.push(path, "field.missing", format!("'{key}' is required"));
            }
            None
        }
    }
}

fn status(s: &str) -> Option<&'static str> {
    Some(match s {
        "jieshou" => "received",
        "shouli" => "accepted",
        "banli" => "in_progress",
        "guaqi" => "on_hold",
        "banjie" => "completed",
        "buyu_shouli" => "rejected",
        "chehui" => "withdrawn",
        _ => return None,
    })
}

fn decision(s: &str) -> Option<&'static str> {
    Some(match s {
        "zhunyu_xuke" => "approved",
        "buyu_xuke" => "denied",
        "buyu_shouli" => "not_accepted",
        "chehui" => "withdrawn",
        _ => return None,
    })
}

fn case_kind(s: &str) -> Option<&'static str> {
    Some(match s {
        "jiban" | "1" => "immediate",
        "chengnuo" | "2" => "promised",
        "qita" | "9" => "other",
        _ => return None,
    })
}

/// A code value: trimmed, lower-cased, full-width folded.
fn code_value(s: &str) -> String {
    clean_code(s).to_ascii_lowercase()
}

/// `{mingcheng, xinyong_daima}` → `{name, credit_code}` at `base`.
fn org(parent: &JsonFields, key: &str, base: &str, p: &mut Problems) -> Option<Value> {
    match parent.object(key) {
        Some(o) => {
            let name = o.required("mingcheng", &format!("{base}/name"), p);
            let code = o
                .required("xinyong_daima", &format!("{base}/credit_code"), p)
                .map(|c| clean_code(&c));
            Some(json!({"name": name, "credit_code": code}))
        }
        None => {
            p.push(base, "field.missing", format!("'{key}' is required"));
            None
        }
    }
}

fn map_record(r: JsonFields) -> Result<Value, Vec<domain::FieldError>> {
    let mut p = Problems::default();
    let mut out = Map::new();
    if let Some(v) = r.required("shenban_liushuihao", "/case_no", &mut p) {
        out.insert("case_no".into(), json!(clean_code(&v)));
    }
    // The explicit version wins; otherwise the update time in milliseconds.
    let version = match (r.text("banben"), present(&r, "gengxin_shijian")) {
        (Some(v), _) => p.integer("/version", &v),
        (None, Some(t)) => time_millis(t)
            .map_err(|m| p.push("/version", "datetime.format", m))
            .ok(),
        (None, None) => {
            p.push(
                "/version",
                "field.missing",
                "'banben' or 'gengxin_shijian' is required",
            );
            None
        }
    };
    if let Some(v) = version {
        out.insert("version".into(), json!(v));
    }

    let mut item = Map::new();
    let mut local = Map::new();
    if let Some(sx) = r.object("shixiang") {
        if let Some(c) = sx.text("bianma") {
            local.insert("code".into(), json!(clean_code(&c)));
        }
        if let Some(n) = sx.text("mingcheng") {
            local.insert("name".into(), json!(n));
        }
        if let Some(c) = sx.text("shishi_bianma") {
            item.insert("impl_code".into(), json!(clean_code(&c)));
        }
        if let Some(k) = sx.text("banjian_leixing") {
            match case_kind(&code_value(&k)) {
                Some(k) => {
                    item.insert("case_kind".into(), json!(k));
                }
                None => p.push(
                    "/service_item/case_kind",
                    "code.unknown",
                    format!("banjian_leixing '{k}' is not jiban, chengnuo or qita"),
                ),
            }
        }
    }
    if local.is_empty() {
        p.push(
            "/service_item/local",
            "field.missing",
            "'shixiang.bianma' or 'shixiang.mingcheng' is required",
        );
    }
    item.insert("local".into(), Value::Object(local));
    out.insert("service_item".into(), Value::Object(item));

    if let Some(v) = r.required("xingzheng_quhua", "/region_code", &mut p) {
        out.insert("region_code".into(), json!(clean_code(&v)));
    }
    if let Some(o) = org(&r, "banli_jigou", "/handling_org", &mut p) {
        out.insert("handling_org".into(), o);
    }

    // Permits are applied for by the discharging unit: an organization with a credit code.
    match r.object("shenqing_danwei") {
        Some(a) => {
            let mut ap = Map::new();
            ap.insert("kind".into(), json!("organization"));
            if let Some(n) = a.required("mingcheng", "/applicant/name", &mut p) {
                ap.insert("name".into(), json!(n));
            }
            ap.insert("id_type".into(), json!("001"));
            if let Some(c) = a.required("xinyong_daima", "/applicant/id_number", &mut p) {
                ap.insert("id_number".into(), json!(clean_code(&c)));
            }
            if let Some(v) = a.text("lianxi_dianhua") {
                ap.insert("phone".into(), json!(clean_code(&v)));
            }
            if let Some(v) = a.text("dizhi") {
                ap.insert("address".into(), json!(v));
            }
            out.insert("applicant".into(), Value::Object(ap));
        }
        None => p.push(
            "/applicant",
            "field.missing",
            "'shenqing_danwei' is required",
        ),
    }

    let mut ts = Map::new();
    let empty = Map::new();
    let times = r.object("shijian").unwrap_or(JsonFields { obj: &empty });
    for (key, canon, required) in [
        ("shenqing", "occurred", true),
        ("jieshou", "received", true),
        ("shouli", "accepted", false),
        ("jueding", "decided", false),
        ("banjie", "completed", false),
    ] {
        let path = format!("/timestamps/{canon}");
        if let Some(t) = read_time(&times, key, &path, required, &mut p) {
            ts.insert(canon.into(), json!(t));
        }
    }
    out.insert("timestamps".into(), Value::Object(ts));

    let mut limits = Map::new();
    for (key, canon) in [
        ("chengnuo_shixian", "promised_days"),
        ("fading_shixian", "legal_days"),
    ] {
        let path = format!("/time_limits/{canon}");
        if let Some(d) = r.text(key).and_then(|v| p.integer(&path, &v)) {
            limits.insert(canon.into(), json!(d));
        }
    }
    out.insert("time_limits".into(), Value::Object(limits));

    if let Some(s) = r.required("zhuangtai", "/status", &mut p) {
        match status(&code_value(&s)) {
            Some(s) => {
                out.insert("status".into(), json!(s));
            }
            None => p.push(
                "/status",
                "code.unknown",
                format!("zhuangtai '{s}' is not in the ecology-environment status table"),
            ),
        }
    }

    let steps: Vec<Value> = r
        .array("huanjie")
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let s = JsonFields {
                obj: s.as_object()?,
            };
            let path = format!("/process_steps/{i}");
            let mut step = Map::new();
            if let Some(n) = s.required("mingcheng", &format!("{path}/name"), &mut p) {
                step.insert("name".into(), json!(n));
            }
            for (k, c) in [
                ("banliren", "actor"),
                ("dongzuo", "action"),
                ("yijian", "opinion"),
            ] {
                if let Some(v) = s.text(k) {
                    step.insert(c.into(), json!(v));
                }
            }
            if let Some(t) = read_time(&s, "shijian", &format!("{path}/time"), true, &mut p) {
                step.insert("time".into(), json!(t));
            }
            Some(Value::Object(step))
        })
        .collect();
    if !steps.is_empty() {
        out.insert("process_steps".into(), Value::Array(steps));
    }

    let holds: Vec<Value> = r
        .array("guaqi")
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            let h = JsonFields {
                obj: h.as_object()?,
            };
            let path = format!("/holds/{i}");
            let mut hold = Map::new();
            if let Some(v) = h.required("yuanyin", &format!("{path}/reason"), &mut p) {
                hold.insert("reason".into(), json!(v));
            }
            if let Some(t) = read_time(&h, "kaishi", &format!("{path}/start"), true, &mut p) {
                hold.insert("start".into(), json!(t));
            }
            if let Some(t) = read_time(&h, "jieshu", &format!("{path}/end"), false, &mut p) {
                hold.insert("end".into(), json!(t));
            }
            Some(Value::Object(hold))
        })
        .collect();
    if !holds.is_empty() {
        out.insert("holds".into(), Value::Array(holds));
    }

    if let Some(res) = r.object("jieguo") {
        let mut result = Map::new();
        if let Some(d) = res.required("jueding", "/result/decision", &mut p) {
            match decision(&code_value(&d)) {
                Some(d) => {
                    result.insert("decision".into(), json!(d));
                }
                None => p.push(
                    "/result/decision",
                    "code.unknown",
                    format!("jueding '{d}' is not in the decision table"),
                ),
            }
        }
        if let Some(t) = res.text("shuoming") {
            result.insert("text".into(), json!(t));
        }
        let certs: Vec<Value> = res
            .array("xukezheng")
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                Some(map_permit(
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

    let public = r.bool("gongkai").unwrap_or(false);
    let mut disclosure = Map::new();
    disclosure.insert("public".into(), json!(public));
    if let Some(why) = r.text("bu_gongkai_yuanyin") {
        disclosure.insert("reason_not_public".into(), json!(why));
    }
    out.insert("disclosure".into(), Value::Object(disclosure));

    p.into_result(Value::Object(out))
}

fn map_permit(i: usize, c: JsonFields, p: &mut Problems) -> Value {
    let base = format!("/result/certificates/{i}");
    let validity = c.object("youxiao_qi");
    let fields = CertificateFields {
        type_code: c.required("leixing_daima", &format!("{base}/type_code"), p),
        type_name: c.required("leixing_mingcheng", &format!("{base}/type_name"), p),
        number: c.required("bianhao", &format!("{base}/number"), p),
        // The holder is the discharging unit, identified by its credit code.
        holder: match c.object("chizheng_danwei") {
            Some(h) => Some(CertificateHolder {
                name: h.required("mingcheng", &format!("{base}/holder/name"), p),
                code: h.required("xinyong_daima", &format!("{base}/holder/code"), p),
                code_type: "001",
            }),
            None => {
                p.push(
                    &format!("{base}/holder"),
                    "field.missing",
                    "'chizheng_danwei' is required",
                );
                None
            }
        },
        issuing_authority: org(
            &c,
            "fazheng_jiguan",
            &format!("{base}/issuing_authority"),
            p,
        ),
        issue_date: Required {
            key: "fazheng_riqi",
            text: c.text("fazheng_riqi"),
        },
        // Both ends in `youxiao_qi`: `qi` (from) is required.
        valid_from: match &validity {
            Some(v) => Required {
                key: "qi",
                text: v.text("qi"),
            },
            None => Required {
                key: "youxiao_qi.qi",
                text: None,
            },
        },
        valid_until: validity.as_ref().and_then(|v| v.text("zhi")),
        surface: c.object("zhaomian").map(|face| {
            face.obj
                .iter()
                .filter_map(|(k, v)| {
                    Some((
                        k.clone(),
                        json!(match v {
                            Value::String(s) => s.trim().to_owned(),
                            Value::Number(n) => n.to_string(),
                            // Lists of pollutants and outlets are printed joined by "、".
                            Value::Array(items) => items
                                .iter()
                                .filter_map(|x| x.as_str().map(str::trim))
                                .collect::<Vec<_>>()
                                .join("、"),
                            _ => return None,
                        }),
                    ))
                })
                .collect()
        }),
        identifier: c.text("zhengzhao_biaoshi"),
        status: None,
        status_reason: None,
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
        let records = format!(
            r#"{{"shenban_liushuihao": "N-1", "n": 1e999}}, {deep}, {{"shenban_liushuihao": "N-3"}}"#
        );
        let payload = format!(r#"{{"baotou": {{"jilu_shu": 3}}, "banjian": [{records}]}}"#);
        let recs = EcologyEnvironment.decode(payload.as_bytes()).unwrap();
        assert_eq!(recs.len(), 3);
        for (i, r) in recs[..2].iter().enumerate() {
            let e = r.draft.as_ref().unwrap_err();
            assert_eq!(e.len(), 1, "{e:?}");
            // Nesting past the configured depth is caught before parsing (crate::limits).
            let code = ["record.malformed", "record.too_deep"][i];
            assert_eq!((e[0].path.as_str(), e[0].code.as_str()), ("", code));
            assert_eq!(r.location, format!("banjian[{i}]"));
        }
        assert!(recs[0].raw.ends_with(b"1e999}"));
        assert_eq!(recs[2].case_no.as_deref(), Some("N-3"));
    }

    fn record(extra: Value) -> Value {
        let mut r = json!({
            "shenban_liushuihao": "STHJ-1",
            "banben": 1,
            "shixiang": {"bianma": "STHJ-PW-01"},
            "xingzheng_quhua": "621002000000",
            "banli_jigou": {"mingcheng": "庆阳市生态环境局西峰分局", "xinyong_daima": "X"},
            "shenqing_danwei": {"mingcheng": "庆阳某公司", "xinyong_daima": "Y"},
            "shijian": {"shenqing": 1_795_140_300_000_i64, "jieshou": "2026-11-20 10:05:10"},
            "zhuangtai": "jieshou",
            "gongkai": true
        });
        r.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        r
    }

    fn decode(records: Vec<Value>) -> Vec<DecodedRecord> {
        let batch = json!({"baotou": {"jilu_shu": records.len()}, "banjian": records});
        EcologyEnvironment
            .decode(serde_json::to_string(&batch).unwrap().as_bytes())
            .unwrap()
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
    fn epoch_millis_and_strings() {
        assert_eq!(
            time(&json!(1_795_140_300_000_i64)).unwrap(),
            "2026-11-20T10:05:00+08:00"
        );
        assert_eq!(
            time(&json!("2026-11-20 10:05:00")).unwrap(),
            "2026-11-20T10:05:00+08:00"
        );
        assert_eq!(
            time(&json!("2026-11-20T02:05:00Z")).unwrap(),
            "2026-11-20T02:05:00+00:00"
        );
        // Seconds instead of milliseconds, fractions, negatives, booleans.
        assert!(time(&json!(1_795_140_300_i64)).is_err());
        assert!(time(&json!(1_795_140_300_000.5)).is_err());
        assert!(time(&json!(-1)).is_err());
        assert!(time(&json!(true)).is_err());
        assert!(time(&json!("20261120")).is_err());
    }

    #[test]
    fn version_rule() {
        let with = |v: Value| {
            let mut r = record(v);
            r.as_object_mut().unwrap().remove("banben");
            r
        };
        let recs = decode(vec![
            record(json!({"banben": "２", "gengxin_shijian": 1_795_140_300_000_i64})),
            with(json!({"gengxin_shijian": 1_795_140_300_000_i64})),
            with(json!({"gengxin_shijian": "2026-11-20 10:05:00"})),
            with(json!({})),
            with(json!({"gengxin_shijian": 1_795_140_300_i64})),
        ]);
        let v = |i: usize| recs[i].draft.as_ref().unwrap()["version"].clone();
        assert_eq!(v(0), 2);
        assert_eq!(v(1), 1_795_140_300_000_i64);
        assert_eq!(v(2), 1_795_140_300_000_i64);
        assert_eq!(
            errors(&recs[3]),
            [("/version".into(), "field.missing".into())]
        );
        assert_eq!(
            errors(&recs[4]),
            [("/version".into(), "datetime.format".into())]
        );
    }

    #[test]
    fn codes_and_surface_lists() {
        let recs = decode(vec![record(json!({
            "zhuangtai": " BANJIE ",
            "shixiang": {"bianma": "STHJ-PW-01", "banjian_leixing": "chengnuo"},
            "jieguo": {"jueding": "zhunyu_xuke", "xukezheng": [{
                "leixing_daima": "T", "leixing_mingcheng": "排污许可证", "bianhao": "B",
                "chizheng_danwei": {"mingcheng": "庆阳某公司", "xinyong_daima": "Ｙ"},
                "fazheng_jiguan": {"mingcheng": "庆阳市生态环境局", "xinyong_daima": "Z"},
                "fazheng_riqi": "2026-11-20",
                "youxiao_qi": {"qi": "2026-11-20", "zhi": "2031-11-19"},
                "zhaomian": {"主要污染物类别": ["废气", " 废水 "], "排放口数量": 3}
            }]}
        }))]);
        let d = recs[0].draft.as_ref().unwrap();
        assert_eq!(d["status"], "completed");
        assert_eq!(d["service_item"]["case_kind"], "promised");
        let c = &d["result"]["certificates"][0];
        assert_eq!(
            c["holder"],
            json!({"name": "庆阳某公司", "code": "Y", "code_type": "001"})
        );
        assert_eq!(c["valid_until"], "2031-11-19");
        assert_eq!(c["surface"]["主要污染物类别"], "废气、废水");
        assert_eq!(c["surface"]["排放口数量"], "3");

        let recs = decode(vec![record(json!({"zhuangtai": "shenhe"}))]);
        assert_eq!(
            errors(&recs[0]),
            [("/status".into(), "code.unknown".into())]
        );
    }

    #[test]
    fn batch_level_errors() {
        let e = |b: &[u8]| EcologyEnvironment.decode(b).unwrap_err().code;
        assert_eq!(e(b"<xml/>"), "payload.malformed");
        assert_eq!(e(b"{\"baotou\": {}}"), "payload.malformed");
        assert_eq!(
            e(b"{\"baotou\": {\"jilu_shu\": 3}, \"banjian\": [{}, {}]}"),
            "payload.count_mismatch"
        );
        let ok = EcologyEnvironment
            .decode(b"{\"banjian\": [1, {}]}")
            .unwrap();
        assert_eq!(ok[1].location, "banjian[1]");
        assert_eq!(errors(&ok[0]), [("".into(), "record.not_object".into())]);
    }
}
