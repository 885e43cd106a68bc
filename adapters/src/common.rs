//! Conversions every adapter needs: local date/time formats to RFC 3339 with the Beijing offset,
//! dates, integers, and clean-up of codes typed by hand (full-width characters, stray spaces).

use std::collections::HashMap;
use std::sync::{LazyLock, RwLock};

use chrono::format::{Item, ParseResult, Parsed, StrftimeItems};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone};
use domain::FieldError;
use serde_json::{Map, Value, json};

/// One record of a JSON batch, kept as raw text when the batch was split, read as a value.
///
/// Splitting a batch into `RawValue`s only checks the syntax: it accepts what a `Value` cannot
/// hold, a number beyond the `f64` range (`1e999`) or nesting deeper than serde_json's
/// recursion limit (128). Such a record is refused alone (`record.malformed`, path `""`); the
/// other records of its batch go on. So is a record beyond the configured nesting depth or
/// string length ([`crate::limits`]), checked before it is parsed.
pub fn json_record(raw: &serde_json::value::RawValue) -> Result<serde_json::Value, FieldError> {
    crate::limits::check_json_record(raw.get().as_bytes())?;
    serde_json::from_str(raw.get()).map_err(|e| {
        FieldError::new(
            "",
            "record.malformed",
            format!("the record cannot be read as JSON: {e}"),
        )
    })
}

/// The records of a JSON batch's array `array` (each kept as raw text by the batch's parse),
/// each read as an object and mapped by `map`, spread over the cores. The case number for the
/// receipt is field `case_no` (a string or a number), read even when the record is refused.
pub fn json_records(
    items: &[&serde_json::value::RawValue],
    array: &str,
    case_no: &str,
    map: impl Fn(JsonFields) -> Result<Value, Vec<FieldError>> + Sync,
) -> Vec<crate::DecodedRecord> {
    crate::parallel::map_records(items, |i, raw| {
        let (case_no, draft) = match json_record(raw) {
            Err(e) => (None, Err(vec![e])),
            Ok(value) => {
                let case_no = match value.get(case_no) {
                    Some(Value::String(s)) => Some(clean_code(s)),
                    Some(Value::Number(n)) => Some(n.to_string()),
                    _ => None,
                }
                .filter(|c| !c.is_empty());
                let draft = match value.as_object() {
                    Some(obj) => map(JsonFields { obj }),
                    None => Err(vec![FieldError::new(
                        "",
                        "record.not_object",
                        "a record must be a JSON object",
                    )]),
                };
                (case_no, draft)
            }
        };
        crate::DecodedRecord {
            position: i,
            location: format!("{array}[{i}]"),
            raw: raw.get().as_bytes().to_vec(),
            case_no,
            draft,
        }
    })
}

/// China Standard Time, the offset of every local time a departmental system sends.
pub fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("valid offset")
}

/// A strftime layout read once. chrono's `parse_from_str` and `format` read their format string
/// again on every call, which was a few per cent of an adapter's time; layouts are few (the
/// adapters' own and those of mapping files), so each is parsed once and kept for the process.
fn layout(fmt: &str) -> &'static [Item<'static>] {
    static LAYOUTS: LazyLock<RwLock<HashMap<String, &'static [Item<'static>]>>> =
        LazyLock::new(Default::default);
    if let Some(items) = LAYOUTS.read().expect("layout cache").get(fmt) {
        return items;
    }
    let items: &'static [Item<'static>] = match StrftimeItems::new(fmt).parse_to_owned() {
        Ok(items) => Vec::leak(items),
        // What chrono does with a bad layout on every call: fail each parse.
        Err(_) => &[Item::Error],
    };
    LAYOUTS
        .write()
        .expect("layout cache")
        .entry(fmt.to_owned())
        .or_insert(items)
}

fn parsed(s: &str, fmt: &str) -> ParseResult<Parsed> {
    let mut parsed = Parsed::new();
    chrono::format::parse(&mut parsed, s, layout(fmt).iter())?;
    Ok(parsed)
}

/// `NaiveDateTime::parse_from_str`, with the layout read once.
pub fn parse_naive_datetime(s: &str, fmt: &str) -> ParseResult<NaiveDateTime> {
    parsed(s, fmt)?.to_naive_datetime_with_offset(0)
}

/// `NaiveDate::parse_from_str`, with the layout read once.
pub fn parse_naive_date(s: &str, fmt: &str) -> ParseResult<NaiveDate> {
    parsed(s, fmt)?.to_naive_date()
}

/// `DateTime::parse_from_str` (the layout carries an offset), with the layout read once.
pub fn parse_datetime_with_offset(s: &str, fmt: &str) -> ParseResult<DateTime<FixedOffset>> {
    parsed(s, fmt)?.to_datetime()
}

/// `date.format(fmt).to_string()`, with the layout read once.
pub fn format_date(date: NaiveDate, fmt: &str) -> String {
    date.format_with_items(layout(fmt).iter()).to_string()
}

/// The local layouts [`datetime`] reads, in the order it tries them.
const LOCAL_LAYOUTS: &[&str] = &[
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
    "%Y%m%d%H%M%S",
];

/// Accepts RFC 3339 (kept as sent) or a local time `yyyy-MM-dd HH:mm:ss`, `yyyy-MM-ddTHH:mm:ss`,
/// `yyyy/MM/dd HH:mm:ss`, `yyyyMMddHHmmss` (taken as +08:00). Returns RFC 3339.
pub fn datetime(s: &str) -> Result<String, String> {
    let s = clean_code(s);
    if let Ok(dt) = domain::rfc3339::parse_strict(&s) {
        return Ok(domain::rfc3339::to_string(&dt));
    }
    if let Some(naive) = local_exact(s.as_bytes()) {
        // Only the layouts below, in their zero-padded spelling: what chrono would read.
        return match beijing().from_local_datetime(&naive).single() {
            Some(dt) => Ok(domain::rfc3339::to_string(&dt)),
            None => Err(format!("'{s}' is not a valid local time")),
        };
    }
    for f in LOCAL_LAYOUTS {
        if let Ok(naive) = parse_naive_datetime(&s, f) {
            let dt = beijing()
                .from_local_datetime(&naive)
                .single()
                .ok_or_else(|| format!("'{s}' is not a valid local time"))?;
            return Ok(domain::rfc3339::to_string(&dt));
        }
    }
    Err(format!(
        "'{s}' is not a date-time (expected e.g. 2026-11-20 09:30:00)"
    ))
}

/// [`datetime`]'s local layouts, each exactly as written there with every field zero-padded,
/// read without chrono's parser (a few per cent of an adapter's time): `None` for anything
/// else, including a leap second, which the layouts' parse then decides.
fn local_exact(b: &[u8]) -> Option<NaiveDateTime> {
    let num = |at: usize, n: usize| {
        b[at..at + n].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let ([y, mo, d], [h, mi, s]) = match b.len() {
        19 if matches!(
            (b[4], b[7], b[10]),
            (b'-', b'-', b' ' | b'T') | (b'/', b'/', b' ')
        ) && b[13] == b':'
            && b[16] == b':' =>
        {
            ([0, 5, 8], [11, 14, 17])
        }
        14 => ([0, 4, 6], [8, 10, 12]),
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(num(y, 4)? as i32, num(mo, 2)?, num(d, 2)?)?;
    let second = num(s, 2)?;
    if second > 59 {
        return None;
    }
    date.and_hms_opt(num(h, 2)?, num(mi, 2)?, second)
}

/// Accepts `yyyy-MM-dd`, `yyyy/MM/dd`, `yyyyMMdd`, `yyyy年M月d日`. Returns `yyyy-MM-dd`.
pub fn date(s: &str) -> Result<String, String> {
    let s = clean_code(s);
    const FORMATS: &[&str] = &["%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y年%m月%d日"];
    FORMATS
        .iter()
        .find_map(|f| parse_naive_date(&s, f).ok())
        .map(|d| format_date(d, "%Y-%m-%d"))
        .ok_or_else(|| format!("'{s}' is not a date (expected e.g. 2026-11-20)"))
}

/// Codes typed by hand arrive with full-width digits and letters (`６２１００２`) and stray
/// spaces. Map full-width ASCII to half-width and drop all white space (including U+3000).
pub fn clean_code(s: &str) -> String {
    // Most arrive clean (printable ASCII, nothing to drop or map): one copy.
    if s.bytes().all(|b| b.is_ascii_graphic()) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    out.extend(s.chars().filter(|c| !c.is_whitespace()).map(|c| match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    }));
    out
}

/// Free text: trimmed, inner text kept as sent.
pub fn clean_text(s: &str) -> String {
    s.trim().to_owned()
}

/// Collects per-field problems while an adapter maps one record.
#[derive(Default, Debug)]
pub struct Problems(pub Vec<FieldError>);

impl Problems {
    pub fn push(&mut self, path: &str, code: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(path, code, message));
    }

    /// Convert a local date-time, recording a `datetime.format` problem at `path` on failure.
    pub fn datetime(&mut self, path: &str, s: &str) -> Option<String> {
        datetime(s)
            .map_err(|m| self.push(path, "datetime.format", m))
            .ok()
    }

    pub fn date(&mut self, path: &str, s: &str) -> Option<String> {
        date(s).map_err(|m| self.push(path, "date.format", m)).ok()
    }

    /// A whole number, recording `integer.format` on failure.
    pub fn integer(&mut self, path: &str, s: &str) -> Option<i64> {
        clean_code(s)
            .parse::<i64>()
            .map_err(|_| {
                self.push(
                    path,
                    "integer.format",
                    format!("'{s}' is not a whole number"),
                )
            })
            .ok()
    }

    pub fn into_result<T>(self, value: T) -> Result<T, Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self.0)
        }
    }
}

/// Map the applicant certificate kinds departmental systems write to GB/T 36903 holder code
/// types: 111 resident identity number, 001 unified social credit code, 414 passport, 990 other.
pub fn holder_code_type(s: &str) -> &'static str {
    match clean_code(s).as_str() {
        "111" | "身份证" | "居民身份证" | "ID" => "111",
        "001" | "统一社会信用代码" | "USCC" => "001",
        "414" | "护照" | "PASSPORT" => "414",
        _ => "990",
    }
}

/// A native value a canonical field requires: its text, or `None`, reported as `field.missing`
/// naming the native `key` (as `JsonFields::required` does).
pub struct Required<'a> {
    pub key: &'a str,
    pub text: Option<String>,
}

/// The holder of a certificate, as read from a native record.
pub struct CertificateHolder {
    pub name: Option<String>,
    /// As sent; cleaned up (`clean_code`) into the canonical object.
    pub code: Option<String>,
    /// GB/T 36903 holder code type (`holder_code_type`).
    pub code_type: &'static str,
}

/// One certificate's native values, already extracted by an adapter. Missing required values are
/// already reported, except the two required dates: those are checked (with their format) by
/// `certificate`, in canonical order.
pub struct CertificateFields<'a> {
    /// As sent; cleaned up (`clean_code`).
    pub type_code: Option<String>,
    pub type_name: Option<String>,
    /// As sent; cleaned up (`clean_code`).
    pub number: Option<String>,
    /// `None` when the record has no holder at all (already reported).
    pub holder: Option<CertificateHolder>,
    /// `{name, credit_code}`, built by the adapter; `None` when missing (already reported).
    pub issuing_authority: Option<Value>,
    pub issue_date: Required<'a>,
    pub valid_from: Required<'a>,
    /// As sent; `长期` (long-term) means no end date.
    pub valid_until: Option<String>,
    /// The printed fields, as the adapter reads them.
    pub surface: Option<Map<String, Value>>,
    /// As sent; cleaned up (`clean_code`).
    pub identifier: Option<String>,
    /// The certificate's status as the department states it, in its own words (see
    /// [`certificate_status`]); `None` when the record does not say.
    pub status: Option<String>,
    pub status_reason: Option<String>,
}

/// The canonical certificate status for a department's word for it: valid, suspended (暂停,
/// 中止, 挂失: reversible) or revoked (吊销, 撤销, 注销: final).
pub fn certificate_status(s: &str) -> Option<&'static str> {
    match clean_code(s).to_uppercase().as_str() {
        "VALID" | "NORMAL" | "有效" | "正常" => Some("valid"),
        "SUSPENDED" | "LOST" | "暂停" | "中止" | "挂失" => Some("suspended"),
        "REVOKED" | "CANCELLED" | "吊销" | "撤销" | "注销" => Some("revoked"),
        _ => None,
    }
}

/// The canonical certificate object at `base` (e.g. `/result/certificates/0`): dates become
/// `yyyy-MM-dd`, recording `field.missing` and `date.format` problems at their canonical paths.
pub fn certificate(base: &str, f: CertificateFields, p: &mut Problems) -> Value {
    let mut c = Map::new();
    for (canon, v) in [
        ("type_code", f.type_code.map(|v| clean_code(&v))),
        ("type_name", f.type_name),
        ("number", f.number.map(|v| clean_code(&v))),
    ] {
        if let Some(v) = v {
            c.insert(canon.into(), json!(v));
        }
    }
    if let Some(h) = f.holder {
        let code = h.code.map(|v| clean_code(&v));
        c.insert(
            "holder".into(),
            json!({"name": h.name, "code": code, "code_type": h.code_type}),
        );
    }
    if let Some(a) = f.issuing_authority {
        c.insert("issuing_authority".into(), a);
    }
    for (canon, d) in [("issue_date", f.issue_date), ("valid_from", f.valid_from)] {
        let path = format!("{base}/{canon}");
        match d.text {
            Some(t) => {
                if let Some(d) = p.date(&path, &t) {
                    c.insert(canon.into(), json!(d));
                }
            }
            None => p.push(&path, "field.missing", format!("'{}' is required", d.key)),
        }
    }
    if let Some(to) = f.valid_until.filter(|t| t != "长期") {
        let path = format!("{base}/valid_until");
        if let Some(d) = p.date(&path, &to) {
            c.insert("valid_until".into(), json!(d));
        }
    }
    if let Some(surface) = f.surface {
        c.insert("surface".into(), Value::Object(surface));
    }
    if let Some(id) = f.identifier {
        c.insert("identifier".into(), json!(clean_code(&id)));
    }
    if let Some(status) = f.status {
        match certificate_status(&status) {
            Some(s) => {
                c.insert("status".into(), json!(s));
            }
            None => p.push(
                &format!("{base}/status"),
                "certificate.status",
                format!("'{status}' is not a certificate status (valid, suspended, revoked)"),
            ),
        }
    }
    if let Some(reason) = f.status_reason {
        c.insert("status_reason".into(), json!(reason));
    }
    Value::Object(c)
}

/// Field access on one native JSON record, recording problems at canonical paths.
pub struct JsonFields<'a> {
    pub obj: &'a serde_json::Map<String, serde_json::Value>,
}

impl<'a> JsonFields<'a> {
    /// A string or number field as text; `None` when absent, null or blank.
    pub fn text(&self, key: &str) -> Option<String> {
        match self.obj.get(key)? {
            serde_json::Value::String(s) if !s.trim().is_empty() => Some(clean_text(s)),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// A required field; records `field.missing` at `path` when absent.
    pub fn required(&self, key: &str, path: &str, p: &mut Problems) -> Option<String> {
        let v = self.text(key);
        if v.is_none() {
            p.push(path, "field.missing", format!("'{key}' is required"));
        }
        v
    }

    pub fn object(&self, key: &str) -> Option<JsonFields<'a>> {
        self.obj.get(key)?.as_object().map(|obj| JsonFields { obj })
    }

    pub fn array(&self, key: &str) -> &'a [serde_json::Value] {
        self.obj
            .get(key)
            .and_then(|v| v.as_array())
            .map_or(&[], Vec::as_slice)
    }

    pub fn bool(&self, key: &str) -> Option<bool> {
        match self.obj.get(key)? {
            serde_json::Value::Bool(b) => Some(*b),
            serde_json::Value::String(s) => match s.trim() {
                "true" | "1" | "是" | "Y" => Some(true),
                "false" | "0" | "否" | "N" => Some(false),
                _ => None,
            },
            serde_json::Value::Number(n) => n.as_i64().map(|n| n != 0),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_read_once_parse_and_format_as_chrono_does() {
        let cases = [
            ("2026-11-20 09:30:00", "%Y-%m-%d %H:%M:%S"),
            ("2026年11月20日 09时30分", "%Y年%m月%d日 %H时%M分"),
            ("2026-11-20T09:30:00.125", "%Y-%m-%dT%H:%M:%S%.f"),
            ("2026-02-30 09:30:00", "%Y-%m-%d %H:%M:%S"),
            ("2026-11-20", "%Y-%m-%d %H:%M:%S"),
            ("2026-11-20 09:30:00", "%Y-%m-%d %Q"),
        ];
        for _ in 0..2 {
            // The second round reads the cached layouts.
            for (s, f) in cases {
                assert_eq!(
                    parse_naive_datetime(s, f),
                    NaiveDateTime::parse_from_str(s, f),
                    "{s} {f}"
                );
                assert_eq!(parse_naive_date(s, f), NaiveDate::parse_from_str(s, f));
            }
            assert_eq!(
                parse_datetime_with_offset("2026-11-20 09:30:00 +0800", "%Y-%m-%d %H:%M:%S %z"),
                DateTime::parse_from_str("2026-11-20 09:30:00 +0800", "%Y-%m-%d %H:%M:%S %z")
            );
            let d = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
            assert_eq!(format_date(d, "%Y年%m月%d日"), "2026年11月20日");
        }
    }

    #[test]
    fn json_record_refuses_what_no_value_can_hold() {
        use serde_json::value::RawValue;
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        for text in ["1e999", "-1e400", "{\"a\": [2e308]}"] {
            let raw: Box<RawValue> = serde_json::from_str(text).expect("valid JSON syntax");
            let e = json_record(&raw).unwrap_err();
            assert_eq!((e.path.as_str(), e.code.as_str()), ("", "record.malformed"));
        }
        // Nesting past the configured depth is refused before parsing (crate::limits).
        let raw: Box<RawValue> = serde_json::from_str(&deep).expect("valid JSON syntax");
        let e = json_record(&raw).unwrap_err();
        assert_eq!((e.path.as_str(), e.code.as_str()), ("", "record.too_deep"));
        let raw: Box<RawValue> = serde_json::from_str("{\"a\": 1e308}").unwrap();
        assert_eq!(json_record(&raw).unwrap(), serde_json::json!({"a": 1e308}));
    }

    /// The exact reading of the local layouts takes their zero-padded spellings and reads
    /// them as chrono does; everything else it leaves to chrono.
    #[test]
    fn local_layouts_read_as_chrono_reads_them() {
        let chrono = |s: &str| {
            LOCAL_LAYOUTS
                .iter()
                .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        };
        for s in [
            "2026-11-20 09:30:00",
            "2026-11-20T09:30:00",
            "2026/11/20 09:30:00",
            "20261120093000",
            "0001-01-01 00:00:00",
            "2024-02-29 23:59:59",
        ] {
            assert_eq!(local_exact(s.as_bytes()), chrono(s), "{s}");
            assert!(local_exact(s.as_bytes()).is_some(), "{s}");
        }
        for s in [
            "2026-11-20 09:30:60",
            "2025-02-29 09:30:00",
            "2026-11-20 24:00:00",
            "2026-11-20 9:30:00 ",
            "2026-1-20 09:30:00",
            "2026/11/20T09:30:00",
            "2026-11/20 09:30:00",
            "2026-11-20 09.30.00",
            "2026112009300",
            "202611200930000",
            "2026112O093000",
            "2026-11-20  09:30:00",
        ] {
            assert_eq!(local_exact(s.as_bytes()), None, "{s}");
            assert_eq!(
                datetime(s).ok(),
                chrono(&clean_code(s)).map(|n| {
                    beijing()
                        .from_local_datetime(&n)
                        .single()
                        .unwrap()
                        .to_rfc3339()
                }),
                "{s}"
            );
        }
    }

    #[test]
    fn local_times_get_the_beijing_offset() {
        assert_eq!(
            datetime("2026-11-20 09:30:00").unwrap(),
            "2026-11-20T09:30:00+08:00"
        );
        assert_eq!(
            datetime("20261120093000").unwrap(),
            "2026-11-20T09:30:00+08:00"
        );
        assert_eq!(
            datetime("2026-11-20T01:30:00Z").unwrap(),
            "2026-11-20T01:30:00+00:00"
        );
        assert!(datetime("2026-02-30 09:00:00").is_err());
        assert!(datetime("yesterday").is_err());
    }

    #[test]
    fn dates_in_local_formats() {
        assert_eq!(date("2017年10月26日").unwrap(), "2017-10-26");
        assert_eq!(date("20171026").unwrap(), "2017-10-26");
        assert_eq!(date(" 2017-10-26 ").unwrap(), "2017-10-26");
        assert!(date("2017-13-01").is_err());
    }

    #[test]
    fn full_width_and_spaces_are_cleaned() {
        assert_eq!(clean_code("６２１００２　０００ ０００"), "621002000000");
        assert_eq!(clean_code("ＭＡ７１"), "MA71");
        // Printable ASCII is copied as it is; white space goes, other control bytes stay.
        assert_eq!(clean_code("91620100MA71XXXX0B"), "91620100MA71XXXX0B");
        assert_eq!(clean_code(" A\tB\u{1}C\u{a0}\r\n"), "AB\u{1}C");
    }
}
