//! 卫健 (health): HL7 v2.5 messages `ZBC^Z01` (birth medical certificate case, 出生医学证明),
//! one message per case record, a batch being several messages (plain, or each in an MLLP
//! frame). See README.md in this directory for the segments and the field mapping.
//!
//! - [`hl7`]: separators, segments, escapes, character sets (MSH-18), DTM times;
//! - [`mllp`]: MLLP framing;
//! - [`ack`]: HL7 ACKs (AA/AE/AR) for the gateway's MLLP listener.

pub mod ack;
pub mod hl7;
pub mod mllp;

pub use ack::{AckCode, Msh, ack, ack_at};

use std::ops::Range;

use domain::FieldError;
use serde_json::{Map, Value, json};

use crate::common::{Problems, clean_code, clean_text, holder_code_type};
use crate::{Adapter, DecodedRecord, PayloadError};
use hl7::{Charset, Message, Segment};

pub struct Health;

/// MSH-9 of the messages this adapter maps: message code and trigger event.
pub const MESSAGE_TYPE: (&str, &str) = ("ZBC", "Z01");

impl Adapter for Health {
    fn id(&self) -> &'static str {
        "health"
    }
    fn department(&self) -> &'static str {
        "health"
    }
    fn format(&self) -> &'static str {
        "HL7 v2.5 ZBC^Z01 messages (MSH, EVN, PID, NK1, ZCS, ZST, ZHD, ZBC), one per case; charset from MSH-18; plain or MLLP-framed"
    }

    fn decode(&self, payload: &[u8]) -> Result<Vec<DecodedRecord>, PayloadError> {
        let (messages, bom) = split_batch(payload)?;
        Ok(crate::parallel::map_records(&messages, |i, range| {
            let raw = &payload[range.clone()];
            let mut control_id = None;
            let (case_no, draft) = decode_message(raw, bom && i == 0, &mut control_id);
            // The MSH alone is read again only for a message that could not be read whole
            // (reading it was a fifth of a message's decoding).
            let control_id = control_id
                .or_else(|| Msh::parse(raw).ok().map(|m| m.control_id))
                .filter(|c| !c.trim().is_empty());
            let location = match &control_id {
                Some(id) => format!("message {} (MSH-10 control id {id})", i + 1),
                None => format!("message {}", i + 1),
            };
            DecodedRecord {
                position: i,
                location,
                raw: raw.to_vec(),
                case_no,
                draft,
            }
        }))
    }
}

fn line_of(bytes: &[u8], offset: usize) -> usize {
    1 + bytes[..offset].iter().filter(|&&b| b == b'\n').count()
}

/// Byte ranges of the lines (segments) of `region`, split on CR, LF or CRLF.
fn lines(payload: &[u8], region: Range<usize>) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = region.start;
    for i in region.clone() {
        if payload[i] == b'\r' || payload[i] == b'\n' {
            if i > start {
                out.push(start..i);
            }
            start = i + 1;
        }
    }
    if region.end > start {
        out.push(start..region.end);
    }
    out
}

/// Split a batch into the byte ranges of its messages. A message starts at a line beginning
/// with `MSH` and runs to the last segment before the next message, batch segment or frame end.
/// HL7 batch envelopes (FHS, BHS, BTS, FTS) are skipped; a BTS-1 message count must match.
/// Returns the ranges and whether the payload began with a UTF-8 byte-order mark.
fn split_batch(payload: &[u8]) -> Result<(Vec<Range<usize>>, bool), PayloadError> {
    let malformed = |why: String| PayloadError::new("payload.malformed", why);
    let bom = payload.starts_with(b"\xEF\xBB\xBF");
    let off = if bom { 3 } else { 0 };
    let regions: Vec<Range<usize>> = if mllp::is_framed(&payload[off..]) {
        mllp::split_frames(&payload[off..])
            .map_err(malformed)?
            .into_iter()
            .map(|r| r.start + off..r.end + off)
            .collect()
    } else {
        // One region: the whole (unframed) payload.
        std::iter::once(off..payload.len()).collect()
    };
    let mut messages: Vec<Range<usize>> = Vec::new();
    let mut batch_start = 0;
    for region in regions {
        let mut current: Option<Range<usize>> = None;
        for line in lines(payload, region) {
            let bytes = &payload[line.clone()];
            if bytes.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let id = &bytes[..bytes.len().min(3)];
            if id == b"MSH" && bytes.len() > 3 {
                messages.extend(current.take());
                current = Some(line);
                continue;
            }
            if matches!(id, b"FHS" | b"BHS" | b"BTS" | b"FTS") {
                messages.extend(current.take());
                match id {
                    b"BHS" => batch_start = messages.len(),
                    b"BTS" => {
                        check_batch_count(bytes, messages.len() - batch_start).map_err(|why| {
                            PayloadError::new(
                                "payload.count_mismatch",
                                format!("line {}: {why}", line_of(payload, line.start)),
                            )
                        })?
                    }
                    _ => {}
                }
                continue;
            }
            match current.as_mut() {
                Some(m) => m.end = line.end,
                None => {
                    return Err(malformed(format!(
                        "line {}: expected an MSH segment, found '{}'",
                        line_of(payload, line.start),
                        String::from_utf8_lossy(&bytes[..bytes.len().min(20)])
                    )));
                }
            }
        }
        messages.extend(current);
    }
    if messages.is_empty() {
        return Err(malformed("no HL7 message (MSH segment) found".into()));
    }
    Ok((messages, bom))
}

/// BTS-1, the batch message count, when valued, must equal the messages of the batch.
fn check_batch_count(bts: &[u8], actual: usize) -> Result<(), String> {
    let Some(&sep) = bts.get(3) else {
        return Ok(());
    };
    let count = bts[4..].split(|&b| b == sep).next().unwrap_or(b"");
    let count = clean_code(&String::from_utf8_lossy(count));
    if count.is_empty() {
        return Ok(());
    }
    match count.parse::<usize>() {
        Ok(n) if n == actual => Ok(()),
        _ => Err(format!(
            "BTS-1 declares '{count}' messages but the batch holds {actual}"
        )),
    }
}

fn one(path: &str, code: &str, message: impl Into<String>) -> Vec<FieldError> {
    vec![FieldError::new(path, code, message)]
}

/// Decode and map one message. Returns the case number (ZCS-1) when readable; `control_id`
/// gets MSH-10 (its first component, as [`Msh::parse`] reads it) once the message has been
/// read whole.
fn decode_message(
    raw: &[u8],
    after_bom: bool,
    control_id: &mut Option<String>,
) -> (Option<String>, Result<Value, Vec<FieldError>>) {
    let (_, charset) = match hl7::detect_charset(raw) {
        Ok(found) => found,
        Err(hl7::CharsetError::NoMsh) => {
            return (
                None,
                Err(one(
                    "",
                    "record.malformed",
                    "the message does not start with MSH and its encoding characters",
                )),
            );
        }
        Err(hl7::CharsetError::Malformed(why)) => {
            return (None, Err(one("", "record.malformed", why)));
        }
        Err(hl7::CharsetError::Unsupported(label)) => {
            return (
                None,
                Err(one(
                    "",
                    "encoding.invalid",
                    format!(
                        "MSH-18 '{label}' is not a supported character set (use UNICODE UTF-8, GB 18030-2000, 8859/1 or ASCII)"
                    ),
                )),
            );
        }
        Err(hl7::CharsetError::Inconsistent(label)) => {
            return (
                None,
                Err(one(
                    "",
                    "encoding.invalid",
                    format!(
                        "MSH-18 '{label}' does not survive decoding the MSH segment in that character set"
                    ),
                )),
            );
        }
    };
    if after_bom && charset != Charset::Other(encoding_rs::UTF_8) {
        return (
            None,
            Err(one(
                "",
                "encoding.invalid",
                format!(
                    "a UTF-8 byte-order mark contradicts MSH-18 '{}'",
                    charset.name()
                ),
            )),
        );
    }
    if let Some(i) = raw.iter().position(|&b| b == 0x1B) {
        return (
            None,
            Err(one(
                "",
                "encoding.invalid",
                format!(
                    "byte {i} is ESC: ISO 2022 character-set switching (MSH-18 repetitions, MSH-20) is not supported"
                ),
            )),
        );
    }
    let (text, bad) = match charset.decode(raw) {
        Ok(t) => (t, None),
        Err(offset) => (charset.decode_lossy(raw), Some(offset)),
    };
    let m = match Message::parse(&text) {
        Ok(m) => m,
        Err(why) => return (None, Err(one("", "record.malformed", why))),
    };
    let msh = m.msh();
    *control_id = Some(match m.repetitions(msh.field(10)).first().copied() {
        None | Some("") => String::new(),
        Some(rep) => {
            let c = rep.split(m.seps.component).next().unwrap_or_default();
            m.seps.unescape(c, charset).unwrap_or_else(|_| c.to_owned())
        }
    });
    let mut rd = Rd {
        m: &m,
        cs: charset,
        lossy: bad.is_some(),
        p: Problems::default(),
        bad_reported: false,
    };
    let msg_type = m.repetitions(msh.field(9)).first().copied().unwrap_or("");
    let (code, trigger) = (m.component(msg_type, 1), m.component(msg_type, 2));
    if (code, trigger) != MESSAGE_TYPE {
        return (
            None,
            Err(one(
                "",
                "record.message_type",
                format!(
                    "MSH-9 '{code}^{trigger}' is not accepted; this adapter maps {}^{} messages",
                    MESSAGE_TYPE.0, MESSAGE_TYPE.1
                ),
            )),
        );
    }
    let version = m.component(msh.field(12), 1).trim().to_owned();
    if !version.starts_with("2.") {
        return (
            None,
            Err(one(
                "",
                "record.malformed",
                format!("MSH-12 version '{version}' is not HL7 v2 (2.5 expected)"),
            )),
        );
    }
    let case_no = m
        .segment("ZCS")
        .and_then(|z| rd.peek(z, 1, 1))
        .map(|c| clean_code(&c))
        .filter(|c| !c.is_empty());
    let mut draft = map_message(&mut rd);
    if let Some(offset) = bad
        && !rd.bad_reported
    {
        // The bad bytes are in a field the mapping does not read; still, never store such text.
        let seg_start = raw[..offset]
            .iter()
            .rposition(|&b| b == b'\r' || b == b'\n')
            .map_or(0, |i| i + 1);
        let seg = String::from_utf8_lossy(&raw[seg_start..(seg_start + 3).min(raw.len())]);
        let e = FieldError::new(
            "",
            "encoding.invalid",
            format!(
                "byte {offset} (segment {seg}) is not valid {}",
                charset.name()
            ),
        );
        draft = match draft {
            Ok(_) => Err(vec![e]),
            Err(mut errs) => {
                errs.push(e);
                Err(errs)
            }
        };
    }
    (case_no, draft)
}

/// A field as error messages name it, `PID-5` or `PID-5.2`: written only when one is.
#[derive(Clone, Copy)]
struct Field<'a> {
    seg: &'a Segment<'a>,
    field: usize,
    comp: usize,
}

impl std::fmt::Display for Field<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.seg.id, self.field)?;
        if self.comp != 1 {
            write!(f, ".{}", self.comp)?;
        }
        Ok(())
    }
}

/// Reads fields of one message, recording problems at canonical paths.
struct Rd<'m> {
    m: &'m Message<'m>,
    cs: Charset,
    /// The message had undecodable bytes (text holds U+FFFD where they were).
    lossy: bool,
    p: Problems,
    /// An `encoding.invalid` has been reported at some field's path.
    bad_reported: bool,
}

impl<'m> Rd<'m> {
    /// First repetition, component `comp`, first subcomponent, unescaped, without recording
    /// anything (for the case number of a rejected record).
    fn peek(&self, seg: &Segment, field: usize, comp: usize) -> Option<String> {
        let rep = self
            .m
            .repetitions(seg.field(field))
            .first()
            .copied()
            .unwrap_or("");
        let raw = self.m.subcomponent(self.m.component(rep, comp), 1);
        let s = self.m.seps.unescape(raw, self.cs).ok()?;
        (!s.contains('\u{FFFD}') || !self.lossy).then(|| clean_text(&s))
    }

    /// One leaf value: unescaped, trimmed; blank is `None`. Undecodable text or escapes are an
    /// `encoding.invalid` at `path`.
    fn leaf(&mut self, raw: &str, path: &str, what: Field) -> Option<String> {
        match self.m.seps.unescape(raw, self.cs) {
            Err(why) => {
                self.p
                    .push(path, "encoding.invalid", format!("{what}: {why}"));
                self.bad_reported = true;
                None
            }
            Ok(s) if self.lossy && s.contains('\u{FFFD}') => {
                self.p.push(
                    path,
                    "encoding.invalid",
                    format!("{what} is not valid {}", self.cs.name()),
                );
                self.bad_reported = true;
                None
            }
            Ok(s) => Some(clean_text(&s)).filter(|s| !s.is_empty()),
        }
    }

    /// `SEG-field.comp` (first repetition, first subcomponent).
    fn opt(&mut self, seg: &Segment, field: usize, comp: usize, path: &str) -> Option<String> {
        let rep = self
            .m
            .repetitions(seg.field(field))
            .first()
            .copied()
            .unwrap_or("");
        let raw = self.m.subcomponent(self.m.component(rep, comp), 1);
        self.leaf(raw, path, Field { seg, field, comp })
    }

    fn req(&mut self, seg: &Segment, field: usize, comp: usize, path: &str) -> Option<String> {
        let before = self.p.0.len();
        let v = self.opt(seg, field, comp, path);
        if v.is_none() && self.p.0.len() == before {
            let what = Field { seg, field, comp };
            self.p
                .push(path, "field.missing", format!("{what} is required"));
        }
        v
    }

    /// A DTM (TS.1) field as RFC 3339.
    fn time(&mut self, seg: &Segment, field: usize, path: &str, required: bool) -> Option<String> {
        let v = if required {
            self.req(seg, field, 1, path)
        } else {
            self.opt(seg, field, 1, path)
        }?;
        match hl7::dtm(&v) {
            Ok(t) => Some(domain::rfc3339::to_string(&t)),
            Err(m) => {
                self.p
                    .push(path, "datetime.format", format!("{}-{field}: {m}", seg.id));
                None
            }
        }
    }

    fn date(&mut self, seg: &Segment, field: usize, path: &str, required: bool) -> Option<String> {
        let v = if required {
            self.req(seg, field, 1, path)
        } else {
            self.opt(seg, field, 1, path)
        }?;
        self.p.date(path, &v)
    }

    /// An XPN name: family name (component 1, its first subcomponent: the surname) followed by
    /// the given name (component 2), without a space (Chinese order).
    fn name(&mut self, seg: &Segment, field: usize, path: &str) -> Option<String> {
        let before = self.p.0.len();
        let family = self.opt(seg, field, 1, path).unwrap_or_default();
        if self.p.0.len() > before {
            return None;
        }
        let given = self.opt(seg, field, 2, path).unwrap_or_default();
        Some(format!("{family}{given}")).filter(|n| !n.is_empty())
    }

    /// The identifier (CX.1) and holder code type of the first repetition of a CX field whose
    /// CX.5 identifier type is one of `types` (in order of preference), or of the first
    /// repetition with an identifier when `any` is set.
    fn identifier(
        &mut self,
        seg: &Segment,
        field: usize,
        path: &str,
        any: bool,
    ) -> Option<(String, &'static str)> {
        let reps: Vec<&str> = self.m.repetitions(seg.field(field));
        let what = Field {
            seg,
            field,
            comp: 1,
        };
        let mut found: Vec<(String, String)> = Vec::new();
        for rep in reps {
            let id = self.m.subcomponent(self.m.component(rep, 1), 1);
            let kind = self.m.subcomponent(self.m.component(rep, 5), 1);
            let Some(id) = self.leaf(id, path, what) else {
                continue;
            };
            let kind = self.leaf(kind, path, what).unwrap_or_default();
            found.push((clean_code(&id), clean_code(&kind)));
        }
        for (want, code_type) in [("NNCHN", "111"), ("PPN", "414")] {
            if let Some((id, _)) = found.iter().find(|(_, k)| k == want) {
                return Some((id.clone(), code_type));
            }
        }
        if any {
            return found
                .into_iter()
                .next()
                .map(|(id, kind)| (id, holder_code_type(&kind)));
        }
        None
    }
}

fn status(code: &str) -> Option<&'static str> {
    Some(match code {
        "RCV" => "received",
        "ACC" => "accepted",
        "PRC" => "in_progress",
        "HLD" => "on_hold",
        "CMP" => "completed",
        "REJ" => "rejected",
        "WDR" => "withdrawn",
        _ => return None,
    })
}

fn decision(code: &str) -> Option<&'static str> {
    Some(match code {
        "A" => "approved",
        "D" => "denied",
        "N" => "not_accepted",
        "W" => "withdrawn",
        _ => return None,
    })
}

/// HL7 table 0001 (administrative sex) as printed on the certificate.
fn sex(code: &str) -> Option<&'static str> {
    Some(match code {
        "M" => "男",
        "F" => "女",
        "U" => "未知",
        _ => return None,
    })
}

fn map_message(r: &mut Rd) -> Result<Value, Vec<FieldError>> {
    let m = r.m;
    let Some(zcs) = m.segment("ZCS") else {
        r.p.push("", "field.missing", "the ZCS (case) segment is required");
        return std::mem::take(&mut r.p).into_result(Value::Null);
    };
    let mut out = Map::new();
    if let Some(v) = r.req(zcs, 1, 1, "/case_no") {
        out.insert("case_no".into(), json!(clean_code(&v)));
    }
    match m.segment("EVN") {
        Some(evn) => {
            if let Some(v) = r.req(evn, 2, 1, "/version") {
                match hl7::dtm(&v) {
                    Ok(t) => {
                        out.insert("version".into(), json!(t.timestamp_millis()));
                    }
                    Err(why) => {
                        r.p.push("/version", "datetime.format", format!("EVN-2: {why}"))
                    }
                }
            }
        }
        None => r.p.push(
            "/version",
            "field.missing",
            "EVN-2 (recorded date/time) is required: it is the record version",
        ),
    }

    let mut item = Map::new();
    let mut local = Map::new();
    let before = r.p.0.len();
    if let Some(c) = r.opt(zcs, 2, 1, "/service_item/local/code") {
        local.insert("code".into(), json!(clean_code(&c)));
    }
    if let Some(n) = r.opt(zcs, 2, 2, "/service_item/local/name") {
        local.insert("name".into(), json!(n));
    }
    if local.is_empty() && r.p.0.len() == before {
        r.p.push(
            "/service_item/local",
            "field.missing",
            "ZCS-2 (item code^name) is required",
        );
    }
    item.insert("local".into(), Value::Object(local));
    if let Some(c) = r.opt(zcs, 3, 1, "/service_item/impl_code") {
        item.insert("impl_code".into(), json!(clean_code(&c)));
    }
    if let Some(k) = r.opt(zcs, 4, 1, "/service_item/case_kind") {
        match clean_code(&k).as_str() {
            "1" => item.insert("case_kind".into(), json!("immediate")),
            "2" => item.insert("case_kind".into(), json!("promised")),
            "9" => item.insert("case_kind".into(), json!("other")),
            _ => {
                r.p.push(
                    "/service_item/case_kind",
                    "code.unknown",
                    format!("ZCS-4 '{k}' is not 1, 2 or 9"),
                );
                None
            }
        };
    }
    out.insert("service_item".into(), Value::Object(item));

    if let Some(v) = r.req(zcs, 5, 1, "/region_code") {
        out.insert("region_code".into(), json!(clean_code(&v)));
    }

    if zcs.field(6).trim().is_empty() {
        r.p.push(
            "/handling_org",
            "field.missing",
            "ZCS-6 (name^credit code) is required",
        );
    } else {
        let name = r.req(zcs, 6, 1, "/handling_org/name");
        let code = r
            .req(zcs, 6, 2, "/handling_org/credit_code")
            .map(|c| clean_code(&c));
        out.insert(
            "handling_org".into(),
            json!({"name": name, "credit_code": code}),
        );
    }

    match m.segment("NK1") {
        Some(nk1) => {
            let mut ap = Map::new();
            ap.insert("kind".into(), json!("person"));
            match r.name(nk1, 2, "/applicant/name") {
                Some(n) => {
                    ap.insert("name".into(), json!(n));
                }
                None if !r.p.0.iter().any(|e| e.path == "/applicant/name") => r.p.push(
                    "/applicant/name",
                    "field.missing",
                    "NK1-2 (family^given name) is required",
                ),
                None => {}
            }
            let before = r.p.0.len();
            match r.identifier(nk1, 33, "/applicant/id_number", true) {
                Some((id, t)) => {
                    ap.insert("id_type".into(), json!(t));
                    ap.insert("id_number".into(), json!(id));
                }
                None if r.p.0.len() == before => r.p.push(
                    "/applicant/id_number",
                    "field.missing",
                    "NK1-33 (identifier^^^^type) is required",
                ),
                None => {}
            }
            let phone = r
                .opt(nk1, 5, 1, "/applicant/phone")
                .or_else(|| r.opt(nk1, 5, 12, "/applicant/phone"));
            if let Some(v) = phone {
                ap.insert("phone".into(), json!(clean_code(&v)));
            }
            // XAD: province (4), city (3), county (9), street (1), other designation (2).
            let address: String = [4, 3, 9, 1, 2]
                .into_iter()
                .filter_map(|c| r.opt(nk1, 4, c, "/applicant/address"))
                .collect();
            if !address.is_empty() {
                ap.insert("address".into(), json!(address));
            }
            out.insert("applicant".into(), Value::Object(ap));
        }
        None => r.p.push(
            "/applicant",
            "field.missing",
            "an NK1 segment (the applicant) is required",
        ),
    }

    let mut ts = Map::new();
    for (field, canon, required) in [
        (8, "occurred", true),
        (9, "received", true),
        (10, "accepted", false),
        (11, "decided", false),
        (12, "completed", false),
    ] {
        if let Some(t) = r.time(zcs, field, &format!("/timestamps/{canon}"), required) {
            ts.insert(canon.into(), json!(t));
        }
    }
    out.insert("timestamps".into(), Value::Object(ts));

    let mut limits = Map::new();
    if let Some(d) = r
        .opt(zcs, 13, 1, "/time_limits/promised_days")
        .and_then(|v| r.p.integer("/time_limits/promised_days", &v))
    {
        limits.insert("promised_days".into(), json!(d));
    }
    out.insert("time_limits".into(), Value::Object(limits));

    if let Some(code) = r.req(zcs, 7, 1, "/status") {
        match status(&clean_code(&code)) {
            Some(s) => {
                out.insert("status".into(), json!(s));
            }
            None => r.p.push(
                "/status",
                "code.unknown",
                format!("ZCS-7 '{code}' is not in the status table (RCV ACC PRC HLD CMP REJ WDR)"),
            ),
        }
    }

    let steps: Vec<Value> = m
        .segments_named("ZST")
        .enumerate()
        .map(|(i, zst)| {
            let base = format!("/process_steps/{i}");
            let mut step = Map::new();
            if let Some(v) = r.req(zst, 2, 1, &format!("{base}/name")) {
                step.insert("name".into(), json!(v));
            }
            for (field, canon) in [(3, "actor"), (4, "action"), (5, "opinion")] {
                if let Some(v) = r.opt(zst, field, 1, &format!("{base}/{canon}")) {
                    step.insert(canon.into(), json!(v));
                }
            }
            if let Some(t) = r.time(zst, 6, &format!("{base}/time"), true) {
                step.insert("time".into(), json!(t));
            }
            Value::Object(step)
        })
        .collect();
    if !steps.is_empty() {
        out.insert("process_steps".into(), Value::Array(steps));
    }

    let holds: Vec<Value> = m
        .segments_named("ZHD")
        .enumerate()
        .map(|(i, zhd)| {
            let base = format!("/holds/{i}");
            let mut hold = Map::new();
            if let Some(v) = r.req(zhd, 2, 1, &format!("{base}/reason")) {
                hold.insert("reason".into(), json!(v));
            }
            for (field, canon, required) in [(3, "start", true), (4, "end", false)] {
                if let Some(t) = r.time(zhd, field, &format!("{base}/{canon}"), required) {
                    hold.insert(canon.into(), json!(t));
                }
            }
            Value::Object(hold)
        })
        .collect();
    if !holds.is_empty() {
        out.insert("holds".into(), Value::Array(holds));
    }

    let certs: Vec<&Segment> = m.segments_named("ZBC").collect();
    if !zcs.field(14).trim().is_empty() || !certs.is_empty() {
        let mut result = Map::new();
        if let Some(code) = r.req(zcs, 14, 1, "/result/decision") {
            match decision(&clean_code(&code)) {
                Some(d) => {
                    result.insert("decision".into(), json!(d));
                }
                None => r.p.push(
                    "/result/decision",
                    "code.unknown",
                    format!("ZCS-14 '{code}' is not A, D, N or W"),
                ),
            }
        }
        if let Some(t) = r.opt(zcs, 15, 1, "/result/text") {
            result.insert("text".into(), json!(t));
        }
        let certs: Vec<Value> = certs
            .into_iter()
            .enumerate()
            .map(|(i, zbc)| map_certificate(r, i, zbc))
            .collect();
        if !certs.is_empty() {
            result.insert("certificates".into(), Value::Array(certs));
        }
        out.insert("result".into(), Value::Object(result));
    }

    let mut disclosure = Map::new();
    let public = match r.opt(zcs, 16, 1, "/disclosure/public") {
        None => false,
        Some(v) => match clean_code(&v).as_str() {
            "Y" => true,
            "N" => false,
            _ => {
                r.p.push(
                    "/disclosure/public",
                    "code.unknown",
                    format!("ZCS-16 '{v}' is not Y or N (HL7 table 0136)"),
                );
                false
            }
        },
    };
    disclosure.insert("public".into(), json!(public));
    if let Some(why) = r.opt(zcs, 17, 1, "/disclosure/reason_not_public") {
        disclosure.insert("reason_not_public".into(), json!(why));
    }
    out.insert("disclosure".into(), Value::Object(disclosure));

    std::mem::take(&mut r.p).into_result(Value::Object(out))
}

/// One ZBC segment (a birth medical certificate) with the newborn (PID) as holder.
fn map_certificate(r: &mut Rd, i: usize, zbc: &Segment) -> Value {
    let m = r.m;
    let base = format!("/result/certificates/{i}");
    let mut c = Map::new();
    if let Some(v) = r.req(zbc, 2, 1, &format!("{base}/type_code")) {
        c.insert("type_code".into(), json!(clean_code(&v)));
    }
    if let Some(v) = r.req(zbc, 2, 2, &format!("{base}/type_name")) {
        c.insert("type_name".into(), json!(v));
    }
    let number = r
        .req(zbc, 3, 1, &format!("{base}/number"))
        .map(|n| clean_code(&n));
    if let Some(n) = &number {
        c.insert("number".into(), json!(n));
    }

    let mut surface = Map::new();
    match m.segment("PID") {
        Some(pid) => {
            let name = r.name(pid, 5, &format!("{base}/holder/name"));
            if name.is_none()
                && !r
                    .p
                    .0
                    .iter()
                    .any(|e| e.path == format!("{base}/holder/name"))
            {
                r.p.push(
                    &format!("{base}/holder/name"),
                    "field.missing",
                    "PID-5 (the newborn's name) is required",
                );
            }
            // The newborn's identity number when it has one already, else the certificate
            // number (type 990, other).
            let (code, code_type) =
                match r.identifier(pid, 3, &format!("{base}/holder/code"), false) {
                    Some((id, "111")) => (Some(id), "111"),
                    _ => (number.clone(), "990"),
                };
            c.insert(
                "holder".into(),
                json!({"name": name, "code": code, "code_type": code_type}),
            );
            if let Some(n) = name {
                surface.insert("新生儿姓名".into(), json!(n));
            }
            let sex_path = format!("{base}/surface/性别");
            if let Some(s) = r.opt(pid, 8, 1, &sex_path) {
                match sex(&clean_code(&s)) {
                    Some(t) => {
                        surface.insert("性别".into(), json!(t));
                    }
                    None => r.p.push(
                        &sex_path,
                        "code.unknown",
                        format!("PID-8 '{s}' is not M, F or U"),
                    ),
                }
            }
            let birth_path = format!("{base}/surface/出生时间");
            if let Some(t) = r.opt(pid, 7, 1, &birth_path) {
                match hl7::dtm(&t) {
                    Ok(t) => {
                        surface.insert(
                            "出生时间".into(),
                            json!(t.format("%Y年%m月%d日%H时%M分").to_string()),
                        );
                    }
                    Err(why) => {
                        r.p.push(&birth_path, "datetime.format", format!("PID-7: {why}"))
                    }
                }
            }
            if let Some(v) = r.opt(pid, 23, 1, &format!("{base}/surface/出生地点")) {
                surface.insert("出生地点".into(), json!(v));
            }
        }
        None => r.p.push(
            &format!("{base}/holder"),
            "field.missing",
            "a PID segment (the newborn, holder of the certificate) is required",
        ),
    }
    for nk1 in m.segments_named("NK1") {
        let relation = r.m.component(nk1.field(3), 1).trim().to_owned();
        let key = match relation.as_str() {
            "MTH" => "母亲姓名",
            "FTH" => "父亲姓名",
            _ => continue,
        };
        if !surface.contains_key(key)
            && let Some(n) = r.name(nk1, 2, &format!("{base}/surface/{key}"))
        {
            surface.insert(key.into(), json!(n));
        }
    }

    if zbc.field(4).trim().is_empty() {
        r.p.push(
            &format!("{base}/issuing_authority"),
            "field.missing",
            "ZBC-4 (name^credit code) is required",
        );
    } else {
        let name = r.req(zbc, 4, 1, &format!("{base}/issuing_authority/name"));
        let code = r
            .req(zbc, 4, 2, &format!("{base}/issuing_authority/credit_code"))
            .map(|c| clean_code(&c));
        c.insert(
            "issuing_authority".into(),
            json!({"name": name, "credit_code": code}),
        );
    }
    for (field, canon, required) in [
        (5, "issue_date", true),
        (6, "valid_from", true),
        (7, "valid_until", false),
    ] {
        if let Some(d) = r.date(zbc, field, &format!("{base}/{canon}"), required) {
            c.insert(canon.into(), json!(d));
        }
    }
    if let Some(id) = r.opt(zbc, 8, 1, &format!("{base}/identifier")) {
        c.insert("identifier".into(), json!(clean_code(&id)));
    }
    for (field, key) in [
        (9, "接生机构"),
        (10, "出生孕周"),
        (11, "出生体重（克）"),
        (12, "出生身长（厘米）"),
    ] {
        if let Some(v) = r.opt(zbc, field, 1, &format!("{base}/surface/{key}")) {
            surface.insert(key.into(), json!(v));
        }
    }
    if !surface.is_empty() {
        c.insert("surface".into(), Value::Object(surface));
    }
    Value::Object(c)
}

#[cfg(test)]
mod tests;
