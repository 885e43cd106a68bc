//! 民政 (civil affairs): CSV exports of the marriage registration system, in GB18030, with a
//! Chinese header row and one row per case. A marriage registration issues two certificates
//! (结婚证), one per spouse. See README.md in this directory for the mapping.
//!
//! The CSV is split on its original bytes, then each field is transcoded on its own: in
//! GB18030 the bytes of `,`, `"`, CR and LF never occur inside a multi-byte character (trail
//! bytes are 0x30..=0x39 and 0x40..=0xFE), so splitting first is safe, and one undecodable field
//! fails only its own record.

use std::collections::HashMap;

use chrono::TimeZone;
use csv::{ByteRecord, ReaderBuilder};
use encoding_rs::Encoding;
use serde_json::{Map, Value, json};

use crate::common::{self, Problems, beijing, clean_code, clean_text, holder_code_type};
use crate::{Adapter, DecodedRecord, PayloadError};

pub struct CivilAffairs;

/// The column every civil-affairs export has; a header row without it is not one.
pub const KEY_COLUMN: &str = "申办流水号";

/// The certificate a marriage registration issues, once per spouse.
pub const CERT_TYPE_NAME: &str = "结婚证";

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
/// U+FEFF in GB18030.
const GB18030_BOM: &[u8] = b"\x84\x31\x95\x33";

impl Adapter for CivilAffairs {
    fn id(&self) -> &'static str {
        "civil-affairs"
    }
    fn department(&self) -> &'static str {
        "civil_affairs"
    }
    fn format(&self) -> &'static str {
        "CSV (GB18030; UTF-8 only with a BOM), Chinese header row, one row per case, dates yyyy年M月d日"
    }

    fn decode(&self, payload: &[u8]) -> Result<Vec<DecodedRecord>, PayloadError> {
        let (enc, skip) = sniff(payload)?;
        let body = &payload[skip..];
        let mut reader = ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(body);
        let header = reader
            .byte_headers()
            .map_err(|e| PayloadError::new("payload.malformed", format!("unreadable CSV: {e}")))?
            .clone();
        let columns = columns(&header, enc)?;

        // Rows are read in order (line numbers count up), then mapped spread over the cores.
        let mut rows: Vec<(ByteRecord, usize, usize, usize)> = Vec::new();
        let mut rec = ByteRecord::new();
        // Line numbers counted incrementally: rows start at growing offsets (counting from the
        // top for every row made a large file quadratic).
        let (mut counted_to, mut line_at) = (0usize, 1usize);
        loop {
            match reader.read_byte_record(&mut rec) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    return Err(PayloadError::new(
                        "payload.malformed",
                        format!("unreadable CSV: {e}"),
                    ));
                }
            }
            // Rows of nothing but separators (spreadsheet leftovers) are not records.
            if rec.iter().all(|f| f.trim_ascii().is_empty()) {
                continue;
            }
            let start = record_start(body, rec.position().map_or(0, |p| p.byte() as usize));
            let end = trim_terminator(body, start, reader.position().byte() as usize);
            let line = if start >= counted_to {
                line_at += body[counted_to..start]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count();
                counted_to = start;
                line_at
            } else {
                line_of(body, start)
            };
            rows.push((rec.clone(), line, start, end));
        }
        Ok(crate::parallel::map_records(
            &rows,
            |position, (rec, line, start, end)| {
                let line = *line;
                let row = Row {
                    columns: &columns,
                    rec,
                    enc,
                    line,
                    p: Problems::default(),
                };
                let case_no = row
                    .peek(KEY_COLUMN)
                    .map(|c| clean_code(&c))
                    .filter(|c| !c.is_empty());
                let draft = if rec.len() != header.len() {
                    Err(vec![domain::FieldError::new(
                        "",
                        "record.field_count",
                        format!(
                            "line {line} has {} fields, the header row has {}",
                            rec.len(),
                            header.len()
                        ),
                    )])
                } else {
                    map_record(row)
                };
                DecodedRecord {
                    position,
                    location: format!("line {line}"),
                    raw: payload[skip + start..skip + end].to_vec(),
                    case_no,
                    draft,
                }
            },
        ))
    }
}

/// The payload's encoding and how many leading bytes (a byte-order mark) to skip.
///
/// GB18030 is this network's encoding. A UTF-8 byte-order mark declares UTF-8 (a spreadsheet's
/// "CSV UTF-8" export); whether the content agrees is checked on the header row in [`columns`].
fn sniff(payload: &[u8]) -> Result<(&'static Encoding, usize), PayloadError> {
    if payload.starts_with(b"\xFF\xFE") || payload.starts_with(b"\xFE\xFF") {
        return Err(PayloadError::new(
            "payload.encoding",
            "UTF-16 is not accepted; send GB18030 (or UTF-8 with a byte-order mark)",
        ));
    }
    if payload.starts_with(UTF8_BOM) {
        return Ok((encoding_rs::UTF_8, UTF8_BOM.len()));
    }
    if payload.starts_with(GB18030_BOM) {
        return Ok((encoding_rs::GB18030, GB18030_BOM.len()));
    }
    Ok((encoding_rs::GB18030, 0))
}

/// Column name → index, from the header row. Names are trimmed (also of U+3000).
fn columns(
    header: &ByteRecord,
    enc: &'static Encoding,
) -> Result<HashMap<String, usize>, PayloadError> {
    if header.iter().all(|f| f.trim_ascii().is_empty()) {
        return Err(PayloadError::new(
            "payload.malformed",
            "the payload has no header row",
        ));
    }
    let decode = |enc: &'static Encoding| -> Option<Vec<String>> {
        header
            .iter()
            .map(|f| {
                enc.decode_without_bom_handling_and_without_replacement(f)
                    .map(|s| s.trim().to_owned())
            })
            .collect()
    };
    // UTF-8 Chinese mostly "decodes" as GB18030 into nonsense: catch it on the header, whose
    // names are known, before any record is garbled.
    let utf8_without_bom = || {
        enc != encoding_rs::UTF_8
            && decode(encoding_rs::UTF_8).is_some_and(|n| n.iter().any(|n| n == KEY_COLUMN))
    };
    let names = match decode(enc) {
        Some(names) => names,
        None if utf8_without_bom() => return Err(utf8_error()),
        None if enc == encoding_rs::UTF_8 => {
            return Err(PayloadError::new(
                "payload.encoding",
                "the payload starts with a UTF-8 byte-order mark but its header row is not \
                 UTF-8 (a GB18030 file with a stray BOM?); send GB18030 without a BOM",
            ));
        }
        None => {
            return Err(PayloadError::new(
                "payload.encoding",
                format!("the header row (line 1) is not valid {}", enc.name()),
            ));
        }
    };
    if !names.iter().any(|n| n == KEY_COLUMN) {
        if utf8_without_bom() {
            return Err(utf8_error());
        }
        return Err(PayloadError::new(
            "payload.malformed",
            format!("the header row has no '{KEY_COLUMN}' column: not a civil-affairs export"),
        ));
    }
    let mut map = HashMap::new();
    for (i, name) in names.into_iter().enumerate() {
        if name.is_empty() {
            continue;
        }
        if map.insert(name.clone(), i).is_some() {
            return Err(PayloadError::new(
                "payload.malformed",
                format!("the header row names the column '{name}' twice"),
            ));
        }
    }
    Ok(map)
}

fn utf8_error() -> PayloadError {
    PayloadError::new(
        "payload.encoding",
        "the payload is UTF-8 without a byte-order mark; send GB18030 (or UTF-8 with a BOM)",
    )
}

/// The first byte of a record: csv may report the position before skipped blank lines.
fn record_start(body: &[u8], from: usize) -> usize {
    let mut i = from.min(body.len());
    while i < body.len() && matches!(body[i], b'\r' | b'\n') {
        i += 1;
    }
    i
}

/// The end of a record's bytes without its line terminator.
fn trim_terminator(body: &[u8], start: usize, end: usize) -> usize {
    let mut end = end.min(body.len()).max(start);
    while end > start && matches!(body[end - 1], b'\r' | b'\n') {
        end -= 1;
    }
    end
}

/// 1-based line of a byte offset (lines end at LF; CRLF counts once).
fn line_of(body: &[u8], offset: usize) -> usize {
    1 + body[..offset.min(body.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

/// Local date-times this network writes: `2017年10月26日 09时30分` (seconds optional), and the
/// common ones (`2017-10-26 09:30:00`, RFC 3339, …). Returns RFC 3339 with +08:00.
pub fn datetime(s: &str) -> Result<String, String> {
    if let Ok(t) = common::datetime(s) {
        return Ok(t);
    }
    let cleaned = clean_code(s);
    const FORMATS: &[&str] = &[
        "%Y年%m月%d日 %H时%M分%S秒",
        "%Y年%m月%d日 %H时%M分",
        "%Y年%m月%d日 %H:%M:%S",
        "%Y年%m月%d日 %H:%M",
        "%Y-%m-%d %H:%M",
        "%Y/%m/%d %H:%M",
    ];
    for f in FORMATS {
        if let Ok(naive) = common::parse_naive_datetime(&cleaned, f)
            && let Some(dt) = beijing().from_local_datetime(&naive).single()
        {
            return Ok(domain::rfc3339::to_string(&dt));
        }
    }
    Err(format!(
        "'{}' is not a date-time (expected e.g. 2026年11月20日 09时30分 or 2026-11-20 09:30:00)",
        s.trim()
    ))
}

/// A date printed the way the certificate prints it: `2026年11月20日`.
fn printed_date(iso: &str) -> String {
    common::parse_naive_date(iso, "%Y-%m-%d")
        .map(|d| common::format_date(d, "%Y年%m月%d日"))
        .unwrap_or_else(|_| iso.to_owned())
}

/// Milliseconds since the epoch of a date-time, the version of a row without `版本号`.
fn millis(rfc3339: &str) -> Option<i64> {
    domain::rfc3339::parse_strict(rfc3339)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// One CSV row being mapped.
struct Row<'a> {
    columns: &'a HashMap<String, usize>,
    rec: &'a ByteRecord,
    enc: &'static Encoding,
    line: usize,
    p: Problems,
}

impl Row<'_> {
    fn raw(&self, col: &str) -> Option<&[u8]> {
        self.columns.get(col).and_then(|&i| self.rec.get(i))
    }

    /// The text of a column without recording anything (for the receipt's case number).
    fn peek(&self, col: &str) -> Option<String> {
        self.enc
            .decode_without_bom_handling_and_without_replacement(self.raw(col)?)
            .map(|s| s.into_owned())
    }

    /// The trimmed text of a column; `Ok(None)` when the column is absent or the cell blank;
    /// `Err(())` when its bytes are not valid in the payload's encoding (recorded at `path`).
    fn get(&mut self, col: &str, path: &str) -> Result<Option<String>, ()> {
        let Some(bytes) = self.raw(col) else {
            return Ok(None);
        };
        match self
            .enc
            .decode_without_bom_handling_and_without_replacement(bytes)
        {
            Some(s) => Ok(Some(clean_text(&s)).filter(|s| !s.is_empty())),
            None => {
                let msg = format!(
                    "column '{col}' (line {}) is not valid {}",
                    self.line,
                    self.enc.name()
                );
                self.p.push(path, "encoding.invalid", msg);
                Err(())
            }
        }
    }

    fn opt(&mut self, col: &str, path: &str) -> Option<String> {
        self.get(col, path).ok().flatten()
    }

    fn req(&mut self, col: &str, path: &str) -> Option<String> {
        match self.get(col, path) {
            Ok(Some(v)) => Some(v),
            Ok(None) => {
                let msg = format!("column '{col}' is required (line {})", self.line);
                self.p.push(path, "field.missing", msg);
                None
            }
            Err(()) => None,
        }
    }

    fn datetime(&mut self, path: &str, s: &str) -> Option<String> {
        datetime(s)
            .map_err(|m| self.p.push(path, "datetime.format", m))
            .ok()
    }
}

fn status(s: &str) -> Option<&'static str> {
    Some(match s {
        "待受理" => "received",
        "已受理" => "accepted",
        "办理中" => "in_progress",
        "挂起" => "on_hold",
        "已办结" => "completed",
        "不予受理" => "rejected",
        "已撤回" => "withdrawn",
        _ => return None,
    })
}

fn decision(s: &str) -> Option<&'static str> {
    Some(match s {
        "准予登记" => "approved",
        "不予登记" => "denied",
        "不予受理" => "not_accepted",
        "撤回申请" => "withdrawn",
        _ => return None,
    })
}

fn case_kind(s: &str) -> Option<&'static str> {
    Some(match s {
        "1" | "即办件" => "immediate",
        "2" | "承诺件" => "promised",
        "9" | "其他" => "other",
        _ => return None,
    })
}

fn public(s: &str) -> Option<bool> {
    match s {
        "是" | "1" | "Y" => Some(true),
        "否" | "0" | "N" => Some(false),
        _ => None,
    }
}

/// One spouse as the CSV describes them (columns `{side}姓名`, `{side}证件类型`, …).
#[derive(Default)]
struct Party {
    name: Option<String>,
    id_type: &'static str,
    id_number: Option<String>,
    nationality: Option<String>,
    birth_date: Option<String>,
}

fn map_record(mut r: Row) -> Result<Value, Vec<domain::FieldError>> {
    let mut out = Map::new();
    if let Some(v) = r.req(KEY_COLUMN, "/case_no") {
        out.insert("case_no".into(), json!(clean_code(&v)));
    }
    // The explicit version wins; otherwise the update time in milliseconds.
    let version = match r.get("版本号", "/version") {
        Ok(Some(v)) => r.p.integer("/version", &v),
        Ok(None) => match r.get("更新时间", "/version") {
            Ok(Some(t)) => r.datetime("/version", &t).and_then(|t| millis(&t)),
            Ok(None) => {
                r.p.push(
                    "/version",
                    "field.missing",
                    format!(
                        "column '版本号' or '更新时间' is required (line {})",
                        r.line
                    ),
                );
                None
            }
            Err(()) => None,
        },
        Err(()) => None,
    };
    if let Some(v) = version {
        out.insert("version".into(), json!(v));
    }

    let mut item = Map::new();
    let mut local = Map::new();
    let code = r.get("事项编码", "/service_item/local/code");
    let name = r.get("事项名称", "/service_item/local/name");
    if let Ok(Some(c)) = &code {
        local.insert("code".into(), json!(clean_code(c)));
    }
    if let Ok(Some(n)) = &name {
        local.insert("name".into(), json!(n));
    }
    if matches!((&code, &name), (Ok(None), Ok(None))) {
        r.p.push(
            "/service_item/local",
            "field.missing",
            "column '事项编码' or '事项名称' is required",
        );
    }
    item.insert("local".into(), Value::Object(local));
    if let Some(c) = r.opt("实施编码", "/service_item/impl_code") {
        item.insert("impl_code".into(), json!(clean_code(&c)));
    }
    if let Some(k) = r.opt("办件类型", "/service_item/case_kind") {
        match case_kind(&clean_code(&k)) {
            Some(k) => {
                item.insert("case_kind".into(), json!(k));
            }
            None => r.p.push(
                "/service_item/case_kind",
                "code.unknown",
                format!("办件类型 '{k}' is not 即办件, 承诺件, 其他 (1, 2, 9)"),
            ),
        }
    }
    out.insert("service_item".into(), Value::Object(item));

    if let Some(v) = r.req("行政区划代码", "/region_code") {
        out.insert("region_code".into(), json!(clean_code(&v)));
    }
    let org_name = r.req("登记机关", "/handling_org/name");
    let org_code = r
        .req("登记机关统一社会信用代码", "/handling_org/credit_code")
        .map(|c| clean_code(&c));
    out.insert(
        "handling_org".into(),
        json!({"name": org_name, "credit_code": org_code}),
    );

    // The applicant is the first party (男方); both spouses hold a certificate.
    let husband = party(&mut r, "男方", "/applicant", true);
    let mut ap = Map::new();
    ap.insert("kind".into(), json!("person"));
    if let Some(n) = &husband.name {
        ap.insert("name".into(), json!(n));
    }
    ap.insert("id_type".into(), json!(husband.id_type));
    if let Some(n) = &husband.id_number {
        ap.insert("id_number".into(), json!(n));
    }
    if let Some(v) = r.opt("联系电话", "/applicant/phone") {
        ap.insert("phone".into(), json!(clean_code(&v)));
    }
    if let Some(v) = r.opt("联系地址", "/applicant/address") {
        ap.insert("address".into(), json!(v));
    }
    out.insert("applicant".into(), Value::Object(ap));

    let mut ts = Map::new();
    for (col, canon, required) in [
        ("申请时间", "occurred", true),
        ("接收时间", "received", true),
        ("受理时间", "accepted", false),
        ("审批时间", "decided", false),
        ("办结时间", "completed", false),
    ] {
        let path = format!("/timestamps/{canon}");
        let v = if required {
            r.req(col, &path)
        } else {
            r.opt(col, &path)
        };
        if let Some(t) = v.and_then(|v| r.datetime(&path, &v)) {
            ts.insert(canon.into(), json!(t));
        }
    }
    out.insert("timestamps".into(), Value::Object(ts));

    let mut limits = Map::new();
    if let Some(d) = r
        .opt("承诺时限", "/time_limits/promised_days")
        .and_then(|v| r.p.integer("/time_limits/promised_days", &v))
    {
        limits.insert("promised_days".into(), json!(d));
    }
    out.insert("time_limits".into(), Value::Object(limits));

    if let Some(s) = r.req("办理状态", "/status") {
        match status(&clean_code(&s)) {
            Some(s) => {
                out.insert("status".into(), json!(s));
            }
            None => r.p.push(
                "/status",
                "code.unknown",
                format!("办理状态 '{s}' is not in the civil-affairs status table"),
            ),
        }
    }

    let decision_text = r.get("办理结果", "/result/decision");
    let remark = r.opt("结果说明", "/result/text");
    let cert_no = r.get("结婚证字号", "/result/certificates/0/number");
    let has_result = [&decision_text, &cert_no]
        .iter()
        .any(|v| !matches!(v, Ok(None)))
        || remark.is_some();
    if has_result {
        let mut result = Map::new();
        match &decision_text {
            Ok(Some(d)) => match decision(&clean_code(d)) {
                Some(d) => {
                    result.insert("decision".into(), json!(d));
                }
                None => r.p.push(
                    "/result/decision",
                    "code.unknown",
                    format!("办理结果 '{d}' is not in the civil-affairs decision table"),
                ),
            },
            Ok(None) => r.p.push(
                "/result/decision",
                "field.missing",
                format!(
                    "column '办理结果' is required with a result (line {})",
                    r.line
                ),
            ),
            Err(()) => {}
        }
        if let Some(t) = remark {
            result.insert("text".into(), json!(t));
        }
        if let Ok(Some(no)) = cert_no {
            let wife = party(&mut r, "女方", "/result/certificates/1/holder", false);
            let certs = certificates(&mut r, &clean_code(&no), org_name, org_code, husband, wife);
            result.insert("certificates".into(), Value::Array(certs));
        }
        out.insert("result".into(), Value::Object(result));
    }

    let public = r
        .opt("是否公开", "/disclosure/public")
        .and_then(|v| public(&clean_code(&v)))
        .unwrap_or(false);
    let mut disclosure = Map::new();
    disclosure.insert("public".into(), json!(public));
    if let Some(why) = r.opt("不公开原因", "/disclosure/reason_not_public") {
        disclosure.insert("reason_not_public".into(), json!(why));
    }
    out.insert("disclosure".into(), Value::Object(disclosure));

    r.p.into_result(Value::Object(out))
}

/// Read one spouse. `base` is the canonical object their name and number land in first
/// (`/applicant` for 男方, the second certificate's holder for 女方).
fn party(r: &mut Row, side: &str, base: &str, applicant: bool) -> Party {
    let (name_path, type_path, code_path) = if applicant {
        (
            format!("{base}/name"),
            format!("{base}/id_type"),
            format!("{base}/id_number"),
        )
    } else {
        (
            format!("{base}/name"),
            format!("{base}/code_type"),
            format!("{base}/code"),
        )
    };
    let surface = if applicant {
        "/result/certificates/0/surface"
    } else {
        "/result/certificates/1/surface"
    };
    let name = r.req(&format!("{side}姓名"), &name_path);
    let id_type = r
        .opt(&format!("{side}证件类型"), &type_path)
        .map_or("111", |t| holder_code_type(&t));
    let id_number = r
        .req(&format!("{side}证件号码"), &code_path)
        .map(|c| clean_code(&c));
    let nationality = r.opt(&format!("{side}国籍"), &format!("{surface}/{side}国籍"));
    let birth_path = format!("{surface}/{side}出生日期");
    let birth_date = r
        .opt(&format!("{side}出生日期"), &birth_path)
        .and_then(|d| r.p.date(&birth_path, &d))
        .map(|d| printed_date(&d));
    Party {
        name,
        id_type,
        id_number,
        nationality,
        birth_date,
    }
}

/// The two certificates of one registration: the same registration number (字号) printed on
/// both, the holder differs. Columns shared by both are reported at certificate 0.
fn certificates(
    r: &mut Row,
    printed_no: &str,
    org_name: Option<String>,
    org_code: Option<String>,
    husband: Party,
    wife: Party,
) -> Vec<Value> {
    let base = "/result/certificates/0";
    let type_code = r
        .req("证照类型代码", &format!("{base}/type_code"))
        .map(|c| clean_code(&c));
    let date_path = format!("{base}/issue_date");
    let issued = r
        .req("登记日期", &date_path)
        .and_then(|d| r.p.date(&date_path, &d));
    let remark = r.opt("备注", &format!("{base}/surface/备注"));
    let ids = [
        r.opt("男方电子证照标识", "/result/certificates/0/identifier"),
        r.opt("女方电子证照标识", "/result/certificates/1/identifier"),
    ];

    let mut shared = Map::new();
    if let Some(d) = &issued {
        shared.insert("登记日期".into(), json!(printed_date(d)));
    }
    shared.insert("结婚证字号".into(), json!(printed_no));
    for (side, p) in [("男方", &husband), ("女方", &wife)] {
        for (label, v) in [
            ("姓名", &p.name),
            ("国籍", &p.nationality),
            ("出生日期", &p.birth_date),
            ("身份证件号", &p.id_number),
        ] {
            if let Some(v) = v {
                shared.insert(format!("{side}{label}"), json!(v));
            }
        }
    }
    if let Some(v) = remark {
        shared.insert("备注".into(), json!(v));
    }

    [husband, wife]
        .into_iter()
        .zip(ids)
        .enumerate()
        .map(|(i, (holder, id))| {
            let mut c = Map::new();
            if let Some(t) = &type_code {
                c.insert("type_code".into(), json!(t));
            }
            c.insert("type_name".into(), json!(CERT_TYPE_NAME));
            // The gateway keys a certificate by (issuer, type, number): each spouse's
            // certificate needs its own number, so the printed 字号 gets the holder's index.
            c.insert("number".into(), json!(format!("{printed_no}-{}", i + 1)));
            c.insert(
                "holder".into(),
                json!({"name": holder.name, "code": holder.id_number, "code_type": holder.id_type}),
            );
            c.insert(
                "issuing_authority".into(),
                json!({"name": org_name, "credit_code": org_code}),
            );
            if let Some(d) = &issued {
                c.insert("issue_date".into(), json!(d));
                c.insert("valid_from".into(), json!(d));
            }
            let mut surface = Map::new();
            if let Some(n) = &holder.name {
                surface.insert("持证人".into(), json!(n));
            }
            surface.extend(shared.clone());
            c.insert("surface".into(), Value::Object(surface));
            if let Some(id) = id {
                c.insert("identifier".into(), json!(clean_code(&id)));
            }
            Value::Object(c)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gb(s: &str) -> Vec<u8> {
        encoding_rs::GB18030.encode(s).0.into_owned()
    }

    const HEADER: &str = "申办流水号,版本号,更新时间,事项编码,事项名称,行政区划代码,登记机关,\
        登记机关统一社会信用代码,男方姓名,男方证件号码,女方姓名,女方证件号码,申请时间,接收时间,\
        受理时间,办结时间,办理状态,办理结果,结果说明,结婚证字号,证照类型代码,登记日期,是否公开,不公开原因";

    fn row(case: &str, version: &str, update: &str, man: &str, remark: &str) -> String {
        format!(
            "{case},{version},{update},MZ-HY-01,内地居民结婚登记,621002000000,庆阳市西峰区民政局,\
             11621002013870026X,{man},621002199305121234,李娜,621002199508200027,\
             2026年11月20日 09时30分,2026-11-20 09:31:00,2026年11月20日 09时40分,\
             2026年11月20日 10时05分,已办结,准予登记,{remark},J621002-2026-000318,\
             11100000000013127K001,2026年11月20日,否,涉及个人隐私"
        )
    }

    fn draft(r: &DecodedRecord) -> &Value {
        r.draft.as_ref().expect("mapped")
    }

    #[test]
    fn gb18030_rows_with_crlf_and_quoted_fields() {
        let text = format!(
            "{HEADER}\r\n{}\r\n{}\r\n",
            row(
                "MZ-1",
                "1",
                "",
                "张伟",
                "\"准予登记, 双方自愿\r\n材料齐全\""
            ),
            row("MZ-2", "2", "", "王强", "ok"),
        );
        let bytes = gb(&text);
        let recs = CivilAffairs.decode(&bytes).unwrap();
        assert_eq!(recs.len(), 2);
        let d0 = draft(&recs[0]);
        assert_eq!(d0["applicant"]["name"], "张伟");
        assert_eq!(d0["result"]["text"], "准予登记, 双方自愿\r\n材料齐全");
        assert_eq!(d0["timestamps"]["occurred"], "2026-11-20T09:30:00+08:00");
        assert_eq!(d0["timestamps"]["received"], "2026-11-20T09:31:00+08:00");
        // The quoted newline makes record 2 start on line 4.
        assert_eq!(recs[0].location, "line 2");
        assert_eq!(recs[1].location, "line 4");
        assert_eq!(recs[1].case_no.as_deref(), Some("MZ-2"));
        // Raw bytes: the record's own lines, in GB18030, without the terminator.
        let raw = encoding_rs::GB18030.decode(&recs[1].raw).0;
        assert!(
            raw.starts_with("MZ-2,2,") && raw.ends_with("涉及个人隐私"),
            "{raw}"
        );
        let raw0 = encoding_rs::GB18030.decode(&recs[0].raw).0;
        assert!(raw0.contains("双方自愿\r\n材料齐全"), "{raw0}");
    }

    #[test]
    fn two_certificates_one_per_spouse() {
        let bytes = gb(&format!("{HEADER}\n{}\n", row("MZ-1", "3", "", "张伟", "")));
        let recs = CivilAffairs.decode(&bytes).unwrap();
        let certs = draft(&recs[0])["result"]["certificates"]
            .as_array()
            .unwrap();
        assert_eq!(certs.len(), 2);
        assert_eq!(certs[0]["holder"]["name"], "张伟");
        assert_eq!(certs[1]["holder"]["name"], "李娜");
        assert_eq!(certs[1]["holder"]["code"], "621002199508200027");
        assert_eq!(certs[0]["number"], "J621002-2026-000318-1");
        assert_eq!(certs[1]["number"], "J621002-2026-000318-2");
        assert_eq!(certs[1]["surface"]["结婚证字号"], "J621002-2026-000318");
        assert_eq!(certs[1]["surface"]["持证人"], "李娜");
        assert_eq!(certs[0]["surface"]["登记日期"], "2026年11月20日");
        assert_eq!(certs[0]["issue_date"], "2026-11-20");
        assert_eq!(certs[0]["issuing_authority"]["name"], "庆阳市西峰区民政局");
    }

    #[test]
    fn undecodable_bytes_fail_only_their_record_at_the_column_path() {
        let mut bytes = gb(&format!("{HEADER}\n"));
        let bad = gb(&row("MZ-1", "1", "", "@@", ""));
        let at = bad.windows(2).position(|w| w == b"@@").unwrap();
        let mut bad = bad;
        bad[at] = 0x81; // a lead byte ...
        bad[at + 1] = 0x20; // ... with an invalid trail byte
        bytes.extend_from_slice(&bad);
        bytes.extend_from_slice(b"\n");
        bytes.extend_from_slice(&gb(&row("MZ-2", "1", "", "王强", "")));
        let recs = CivilAffairs.decode(&bytes).unwrap();
        let errs = recs[0].draft.as_ref().unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].path, "/applicant/name");
        assert_eq!(errs[0].code, "encoding.invalid");
        assert_eq!(draft(&recs[1])["applicant"]["name"], "王强");
        // The raw bytes keep the undecodable bytes as sent.
        assert!(recs[0].raw.windows(2).any(|w| w == [0x81, 0x20]));
    }

    #[test]
    fn version_from_column_or_update_time_in_millis() {
        let text = format!(
            "{HEADER}\n{}\n{}\n{}\n{}\n",
            row("A", "7", "2026-11-20 10:05:00", "张伟", ""),
            row("B", "", "2026年11月20日 10时05分", "张伟", ""),
            row("C", "", "", "张伟", ""),
            row("D", "", "2026年11月20号", "张伟", ""),
        );
        let recs = CivilAffairs.decode(&gb(&text)).unwrap();
        assert_eq!(draft(&recs[0])["version"], 7);
        // 2026-11-20T10:05:00+08:00 = 2026-11-20T02:05:00Z
        let ms = chrono::DateTime::parse_from_rfc3339("2026-11-20T02:05:00Z")
            .unwrap()
            .timestamp_millis();
        assert_eq!(draft(&recs[1])["version"], ms);
        assert_eq!(ms, 1_795_140_300_000);
        let e2 = recs[2].draft.as_ref().unwrap_err();
        assert_eq!(
            (e2[0].path.as_str(), e2[0].code.as_str()),
            ("/version", "field.missing")
        );
        let e3 = recs[3].draft.as_ref().unwrap_err();
        assert_eq!(
            (e3[0].path.as_str(), e3[0].code.as_str()),
            ("/version", "datetime.format")
        );
    }

    #[test]
    fn chinese_dates_and_times() {
        assert_eq!(
            datetime("2017年10月26日 09时30分").unwrap(),
            "2017-10-26T09:30:00+08:00"
        );
        assert_eq!(
            datetime("2017年10月26日09时30分15秒").unwrap(),
            "2017-10-26T09:30:15+08:00"
        );
        assert_eq!(
            datetime("2017年1月6日 9时05分").unwrap(),
            "2017-01-06T09:05:00+08:00"
        );
        assert_eq!(
            datetime("２０１７年１０月２６日　０９时３０分").unwrap(),
            "2017-10-26T09:30:00+08:00"
        );
        assert_eq!(
            datetime("2017-10-26 09:30:00").unwrap(),
            "2017-10-26T09:30:00+08:00"
        );
        assert_eq!(
            datetime("2017-10-26 09:30").unwrap(),
            "2017-10-26T09:30:00+08:00"
        );
        assert!(datetime("2017年10月26日").is_err());
        assert!(datetime("2017年2月30日 09时30分").is_err());
        assert_eq!(common::date("2017年1月6日").unwrap(), "2017-01-06");
        assert_eq!(printed_date("2017-01-06"), "2017年01月06日");
    }

    #[test]
    fn boms_and_utf8() {
        let text = format!("{HEADER}\n{}\n", row("MZ-1", "1", "", "张伟", ""));
        // GB18030's own BOM is skipped.
        let with_gb_bom = [GB18030_BOM, &gb(&text)].concat();
        let recs = CivilAffairs.decode(&with_gb_bom).unwrap();
        assert_eq!(draft(&recs[0])["applicant"]["name"], "张伟");
        // A UTF-8 BOM declares UTF-8.
        let utf8 = [UTF8_BOM, text.as_bytes()].concat();
        let recs = CivilAffairs.decode(&utf8).unwrap();
        assert_eq!(draft(&recs[0])["applicant"]["name"], "张伟");
        assert_eq!(
            recs[0].raw,
            text.as_bytes()[HEADER.len() + 1..text.len() - 1]
        );
        // A UTF-8 BOM on GB18030 content, UTF-8 without a BOM, UTF-16: refused whole.
        let stray = [UTF8_BOM, &gb(&text)].concat();
        assert_eq!(
            CivilAffairs.decode(&stray).unwrap_err().code,
            "payload.encoding"
        );
        assert_eq!(
            CivilAffairs.decode(text.as_bytes()).unwrap_err().code,
            "payload.encoding"
        );
        assert_eq!(
            CivilAffairs.decode(b"\xFF\xFEa\0").unwrap_err().code,
            "payload.encoding"
        );
    }

    #[test]
    fn batch_level_errors() {
        assert_eq!(
            CivilAffairs.decode(b"").unwrap_err().code,
            "payload.malformed"
        );
        assert_eq!(
            CivilAffairs.decode(b"\r\n").unwrap_err().code,
            "payload.malformed"
        );
        let not_ours = gb("流水号,姓名\nA,张伟\n");
        assert_eq!(
            CivilAffairs.decode(&not_ours).unwrap_err().code,
            "payload.malformed"
        );
        let twice = gb("申办流水号,男方姓名,男方姓名\nA,张伟,张伟\n");
        assert_eq!(
            CivilAffairs.decode(&twice).unwrap_err().code,
            "payload.malformed"
        );
        let mut bad_header = gb("申办流水号,");
        bad_header.extend_from_slice(&[0xFF, b'\n']);
        assert_eq!(
            CivilAffairs.decode(&bad_header).unwrap_err().code,
            "payload.encoding"
        );
        // A header alone is an empty batch.
        assert!(CivilAffairs.decode(&gb(HEADER)).unwrap().is_empty());
    }

    #[test]
    fn field_count_blank_rows_and_full_width_codes() {
        let good = row("ＭＺ－１", "１", "", "张伟", "");
        let good = good.replace("621002000000", " ６２１００２ ０００ ０００ ");
        let text = format!("{HEADER}\n\n,,,\n{good}\nMZ-2,1,only three\n");
        let recs = CivilAffairs.decode(&gb(&text)).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].location, "line 4");
        let d = draft(&recs[0]);
        assert_eq!(d["case_no"], "MZ-1");
        assert_eq!(d["version"], 1);
        assert_eq!(d["region_code"], "621002000000");
        let e = recs[1].draft.as_ref().unwrap_err();
        assert_eq!(
            (e[0].path.as_str(), e[0].code.as_str()),
            ("", "record.field_count")
        );
        assert_eq!(recs[1].case_no.as_deref(), Some("MZ-2"));
        assert_eq!(recs[1].location, "line 5");
    }

    #[test]
    fn truncated_and_mutated_payloads_never_panic() {
        let valid = include_bytes!("../../fixtures/civil-affairs/batch-valid.gb18030.csv");
        for cut in 0..valid.len() {
            let _ = CivilAffairs.decode(&valid[..cut]);
        }
        for at in (0..valid.len()).step_by(3) {
            for b in [b'"', b',', b'\r', b'\n', 0x81, 0xFF, 0x84] {
                let mut m = valid.to_vec();
                m[at] = b;
                let _ = CivilAffairs.decode(&m);
            }
        }
    }
}
