//! 税务 (tax): SOAP 1.1 requests `Envelope/Body/PushCaseRecords/Records/Record`, one `Record`
//! per case, in UTF-8 or GBK as declared. Errors about the payload as a whole are answered by
//! the gateway as SOAP faults built by [`soap_fault`]. See README.md in this directory.

mod soap;

pub use soap::{
    CODE_MUST_UNDERSTAND, CODE_VERSION, CONTENT_TYPE, FAULT_HTTP_STATUS, OPERATION, SOAP_ENV_NS,
    SOAP12_ENV_NS, TAX_NS, check_envelope, fault_code, soap_fault,
};

use encoding_rs::Encoding;
use serde_json::{Map, Value, json};

use crate::common::{self, Problems, clean_code, clean_text, holder_code_type};
use crate::xml::{self, Element};
use crate::{Adapter, DecodedRecord, PayloadError};

pub struct Tax;

impl Adapter for Tax {
    fn id(&self) -> &'static str {
        "tax"
    }
    fn department(&self) -> &'static str {
        "tax"
    }
    fn format(&self) -> &'static str {
        "SOAP 1.1 envelope (UTF-8 or GBK as declared), Body/PushCaseRecords/Records/Record; payload errors answered as SOAP faults"
    }

    fn native_receipts(&self) -> bool {
        true
    }

    /// SOAP clients get a SOAP envelope, not JSON.
    fn native_receipt(&self, receipt: &serde_json::Value) -> Option<crate::NativeResponse> {
        Some(crate::NativeResponse {
            status: 200,
            content_type: soap::CONTENT_TYPE,
            body: soap::soap_receipt(receipt).into_bytes(),
        })
    }

    /// Every refusal is a SOAP 1.1 fault (HTTP 500, as SOAP 1.1 requires), carrying the
    /// gateway's stable code in its detail.
    fn native_error(
        &self,
        _status: u16,
        code: &str,
        message: &str,
    ) -> Option<crate::NativeResponse> {
        Some(crate::NativeResponse {
            status: soap::FAULT_HTTP_STATUS,
            content_type: soap::CONTENT_TYPE,
            body: soap::soap_fault(code, message).into_bytes(),
        })
    }

    fn decode(&self, payload: &[u8]) -> Result<Vec<DecodedRecord>, PayloadError> {
        let doc = xml::parse(payload)?;
        check_envelope(payload)?;
        let malformed = |why: &str| PayloadError::new("payload.malformed", why);
        // check_envelope has verified the namespaces: the first Body child of the Envelope is
        // the SOAP body and its first child is the operation.
        let op = doc
            .root
            .child("Body")
            .and_then(|b| b.children.first())
            .ok_or_else(|| malformed("the <Body> is empty"))?;
        let list = op
            .child("Records")
            .ok_or_else(|| malformed("<PushCaseRecords> has no <Records>"))?;
        let records: Vec<&Element> = list.children_named("Record").collect();
        // The declared count guards against truncated transfers.
        if let Some(count) = op.child("RecordCount") {
            let declared = count
                .text(doc.encoding)
                .map(|t| clean_code(&t))
                .unwrap_or_default();
            if declared.parse::<usize>().ok() != Some(records.len()) {
                return Err(PayloadError::new(
                    "payload.count_mismatch",
                    format!(
                        "<RecordCount> declares '{declared}' records but <Records> holds {}",
                        records.len()
                    ),
                ));
            }
        }
        Ok(crate::parallel::map_records(&records, |i, el| {
            let case_no = el
                .child("CaseNo")
                .and_then(|c| c.text(doc.encoding).ok())
                .map(|c| clean_code(&c))
                .filter(|c| !c.is_empty());
            DecodedRecord {
                position: i,
                location: format!("Record #{} (line {})", i + 1, el.line),
                raw: payload[el.start..el.end].to_vec(),
                case_no,
                draft: map_record(Rec::new(el, doc.encoding)),
            }
        }))
    }
}

/// One element being read, with the document's encoding and the problems found so far.
struct Rec<'a> {
    el: &'a Element<'a>,
    enc: &'static Encoding,
    p: Problems,
}

impl<'a> Rec<'a> {
    fn new(el: &'a Element<'a>, enc: &'static Encoding) -> Self {
        Rec {
            el,
            enc,
            p: Problems::default(),
        }
    }

    fn at(&self, el: &'a Element<'a>) -> Rec<'a> {
        Rec::new(el, self.enc)
    }

    /// Text of child `name`; blank counts as absent. Undecodable bytes are a problem at `path`.
    fn opt(&mut self, name: &str, path: &str) -> Option<String> {
        let child = self.el.child(name)?;
        match child.text(self.enc) {
            Ok(t) => Some(clean_text(&t)).filter(|t| !t.is_empty()),
            Err(e) => {
                self.p.push(
                    path,
                    "encoding.invalid",
                    format!("<{name}> (line {}) is not valid {}", child.line, e.encoding),
                );
                None
            }
        }
    }

    fn req(&mut self, name: &str, path: &str) -> Option<String> {
        let v = self.opt(name, path);
        if v.is_none() && self.el.child(name).is_none_or(|c| c.text(self.enc).is_ok()) {
            self.p.push(
                path,
                "field.missing",
                format!(
                    "<{name}> is required in <{}> (line {})",
                    self.el.name, self.el.line
                ),
            );
        }
        v
    }

    /// A required child element (a structure, not text).
    fn child(&mut self, name: &str, path: &str) -> Option<&'a Element<'a>> {
        let c = self.el.child(name);
        if c.is_none() {
            self.p.push(
                path,
                "field.missing",
                format!(
                    "<{name}> is required in <{}> (line {})",
                    self.el.name, self.el.line
                ),
            );
        }
        c
    }

    /// xsd:dateTime (`2026-11-18T09:12:00+08:00`, fractions allowed, no offset = Beijing time)
    /// or one of the local formats of [`common::datetime`].
    fn datetime(&mut self, name: &str, path: &str, required: bool) -> Option<String> {
        let v = if required {
            self.req(name, path)
        } else {
            self.opt(name, path)
        }?;
        match xsd_datetime(&v) {
            Ok(t) => Some(t),
            Err(m) => {
                self.p.push(path, "datetime.format", m);
                None
            }
        }
    }

    /// xsd:date (`2026-11-19`, an offset suffix `+08:00` or `Z` is ignored) or one of the
    /// local formats of [`common::date`].
    fn date(&mut self, name: &str, path: &str, required: bool) -> Option<String> {
        let v = if required {
            self.req(name, path)
        } else {
            self.opt(name, path)
        }?;
        let v = clean_code(&v);
        let d = strip_date_offset(&v);
        self.p.date(path, d)
    }

    fn absorb(&mut self, other: Rec) {
        self.p.0.extend(other.p.0);
    }
}

fn xsd_datetime(s: &str) -> Result<String, String> {
    common::datetime(s).or_else(|e| {
        // xsd:dateTime without an offset but with fractional seconds.
        common::parse_naive_datetime(&clean_code(s), "%Y-%m-%dT%H:%M:%S%.f")
            .ok()
            .and_then(|n| n.and_local_timezone(common::beijing()).single())
            .map(|t| domain::rfc3339::to_string(&t))
            .ok_or(e)
    })
}

/// `2026-11-19+08:00` / `2026-11-19Z` → `2026-11-19` (xsd:date may carry a time zone).
fn strip_date_offset(s: &str) -> &str {
    if s.len() == 11 && s.ends_with('Z') {
        return &s[..10];
    }
    if s.len() == 16 && matches!(s.as_bytes()[10], b'+' | b'-') && s.is_char_boundary(10) {
        return &s[..10];
    }
    s
}

fn status(code: &str) -> Option<&'static str> {
    Some(match code {
        "01" => "received",
        "02" => "accepted",
        "03" => "in_progress",
        "04" => "on_hold",
        "05" => "completed",
        "06" => "rejected",
        "07" => "withdrawn",
        _ => return None,
    })
}

fn decision(code: &str) -> Option<&'static str> {
    Some(match code {
        "01" => "approved",
        "02" => "denied",
        "03" => "not_accepted",
        "04" => "withdrawn",
        _ => return None,
    })
}

/// Taxpayer kinds (纳税人类型): 1 natural person, 2 unit (enterprise, institution),
/// 3 individual business (个体工商户, registered with a credit code).
fn taxpayer_kind(code: &str) -> Option<&'static str> {
    Some(match code {
        "1" => "person",
        "2" | "3" => "organization",
        _ => return None,
    })
}

/// Identity document types of the tax systems (证件类型代码) first, then the generic names and
/// GB/T 36903 codes of [`holder_code_type`].
fn id_type(s: &str) -> &'static str {
    match clean_code(s).as_str() {
        "201" => "111",                   // 居民身份证
        "208" | "227" => "414",           // 外国护照, 中国护照
        "纳税人识别号" | "税号" => "001", // the taxpayer id of a unit is its credit code
        other => holder_code_type(other),
    }
}

/// xsd:boolean.
fn boolean(s: &str) -> Option<bool> {
    match clean_code(s).as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

fn map_record(mut r: Rec) -> Result<Value, Vec<domain::FieldError>> {
    let mut out = Map::new();
    if let Some(v) = r.req("CaseNo", "/case_no") {
        out.insert("case_no".into(), json!(clean_code(&v)));
    }
    if let Some(v) = r
        .req("Version", "/version")
        .and_then(|v| r.p.integer("/version", &v))
    {
        out.insert("version".into(), json!(v));
    }

    let mut item = Map::new();
    let mut local = Map::new();
    if let Some(el) = r.el.child("Item") {
        let mut it = r.at(el);
        if let Some(c) = it.opt("Code", "/service_item/local/code") {
            local.insert("code".into(), json!(clean_code(&c)));
        }
        if let Some(n) = it.opt("Name", "/service_item/local/name") {
            local.insert("name".into(), json!(n));
        }
        r.absorb(it);
    }
    if local.is_empty()
        && !r
            .p
            .0
            .iter()
            .any(|e| e.path.starts_with("/service_item/local"))
    {
        r.p.push(
            "/service_item/local",
            "field.missing",
            "<Item> with <Code> or <Name> is required",
        );
    }
    item.insert("local".into(), Value::Object(local));
    if let Some(c) = r.opt("ImplCode", "/service_item/impl_code") {
        item.insert("impl_code".into(), json!(clean_code(&c)));
    }
    if let Some(k) = r.opt("CaseKind", "/service_item/case_kind") {
        match clean_code(&k).as_str() {
            "1" => item.insert("case_kind".into(), json!("immediate")),
            "2" => item.insert("case_kind".into(), json!("promised")),
            "9" => item.insert("case_kind".into(), json!("other")),
            _ => {
                r.p.push(
                    "/service_item/case_kind",
                    "code.unknown",
                    format!("<CaseKind> '{k}' is not 1, 2 or 9"),
                );
                None
            }
        };
    }
    out.insert("service_item".into(), Value::Object(item));

    if let Some(v) = r.req("RegionCode", "/region_code") {
        out.insert("region_code".into(), json!(clean_code(&v)));
    }

    if let Some(org) = r.child("TaxOffice", "/handling_org") {
        let mut o = r.at(org);
        let name = o.req("Name", "/handling_org/name");
        let code = o
            .req("CreditCode", "/handling_org/credit_code")
            .map(|c| clean_code(&c));
        r.absorb(o);
        out.insert(
            "handling_org".into(),
            json!({"name": name, "credit_code": code}),
        );
    }

    if let Some(tp) = r.child("Taxpayer", "/applicant") {
        let mut a = r.at(tp);
        let kind = match a.opt("Kind", "/applicant/kind") {
            None => "person",
            Some(k) => taxpayer_kind(&clean_code(&k)).unwrap_or_else(|| {
                a.p.push(
                    "/applicant/kind",
                    "code.unknown",
                    format!("<Kind> '{k}' is not 1, 2 or 3"),
                );
                "person"
            }),
        };
        let mut ap = Map::new();
        ap.insert("kind".into(), json!(kind));
        if let Some(n) = a.req("Name", "/applicant/name") {
            ap.insert("name".into(), json!(n));
        }
        let id_type = a
            .opt("IdType", "/applicant/id_type")
            .map_or(if kind == "person" { "111" } else { "001" }, |t| {
                id_type(&t)
            });
        ap.insert("id_type".into(), json!(id_type));
        if let Some(n) = a.req("IdNumber", "/applicant/id_number") {
            ap.insert("id_number".into(), json!(clean_code(&n)));
        }
        if let Some(v) = a.opt("Phone", "/applicant/phone") {
            ap.insert("phone".into(), json!(v));
        }
        if let Some(v) = a.opt("Address", "/applicant/address") {
            ap.insert("address".into(), json!(v));
        }
        r.absorb(a);
        out.insert("applicant".into(), Value::Object(ap));
    }

    let mut ts = Map::new();
    if let Some(times) = r.child("Times", "/timestamps") {
        let mut t = r.at(times);
        for (name, canon, required) in [
            ("Applied", "occurred", true),
            ("Received", "received", true),
            ("Accepted", "accepted", false),
            ("Decided", "decided", false),
            ("Completed", "completed", false),
        ] {
            if let Some(v) = t.datetime(name, &format!("/timestamps/{canon}"), required) {
                ts.insert(canon.into(), json!(v));
            }
        }
        r.absorb(t);
    }
    out.insert("timestamps".into(), Value::Object(ts));

    let mut limits = Map::new();
    if let Some(d) = r
        .opt("PromisedDays", "/time_limits/promised_days")
        .and_then(|v| r.p.integer("/time_limits/promised_days", &v))
    {
        limits.insert("promised_days".into(), json!(d));
    }
    out.insert("time_limits".into(), Value::Object(limits));

    if let Some(code) = r.req("Status", "/status") {
        match status(&clean_code(&code)) {
            Some(s) => {
                out.insert("status".into(), json!(s));
            }
            None => r.p.push(
                "/status",
                "code.unknown",
                format!("<Status> '{code}' is not in the tax status table (01-07)"),
            ),
        }
    }

    if let Some(list) = r.el.child("Steps") {
        let mut steps = Vec::new();
        for (i, el) in list.children_named("Step").enumerate() {
            let base = format!("/process_steps/{i}");
            let mut s = r.at(el);
            let mut step = Map::new();
            if let Some(v) = s.req("Name", &format!("{base}/name")) {
                step.insert("name".into(), json!(v));
            }
            for (name, canon) in [
                ("Handler", "actor"),
                ("Action", "action"),
                ("Opinion", "opinion"),
            ] {
                if let Some(v) = s.opt(name, &format!("{base}/{canon}")) {
                    step.insert(canon.into(), json!(v));
                }
            }
            if let Some(t) = s.datetime("Time", &format!("{base}/time"), true) {
                step.insert("time".into(), json!(t));
            }
            r.absorb(s);
            steps.push(Value::Object(step));
        }
        if !steps.is_empty() {
            out.insert("process_steps".into(), Value::Array(steps));
        }
    }

    if let Some(list) = r.el.child("Holds") {
        let mut holds = Vec::new();
        for (i, el) in list.children_named("Hold").enumerate() {
            let base = format!("/holds/{i}");
            let mut h = r.at(el);
            let mut hold = Map::new();
            if let Some(v) = h.req("Reason", &format!("{base}/reason")) {
                hold.insert("reason".into(), json!(v));
            }
            for (name, canon, required) in [("Start", "start", true), ("End", "end", false)] {
                if let Some(t) = h.datetime(name, &format!("{base}/{canon}"), required) {
                    hold.insert(canon.into(), json!(t));
                }
            }
            r.absorb(h);
            holds.push(Value::Object(hold));
        }
        if !holds.is_empty() {
            out.insert("holds".into(), Value::Array(holds));
        }
    }

    if let Some(res) = r.el.child("Result") {
        let mut j = r.at(res);
        let mut result = Map::new();
        if let Some(code) = j.req("Decision", "/result/decision") {
            match decision(&clean_code(&code)) {
                Some(d) => {
                    result.insert("decision".into(), json!(d));
                }
                None => j.p.push(
                    "/result/decision",
                    "code.unknown",
                    format!("<Decision> '{code}' is not 01-04"),
                ),
            }
        }
        if let Some(t) = j.opt("Remark", "/result/text") {
            result.insert("text".into(), json!(t));
        }
        if let Some(list) = res.child("Certificates") {
            let certs: Vec<Value> = list
                .children_named("Certificate")
                .enumerate()
                .map(|(i, el)| map_certificate(i, &mut j, el))
                .collect();
            if !certs.is_empty() {
                result.insert("certificates".into(), Value::Array(certs));
            }
        }
        r.absorb(j);
        out.insert("result".into(), Value::Object(result));
    }

    let mut disclosure = Map::new();
    let mut public = false;
    if let Some(d) = r.el.child("Disclosure") {
        let mut dr = r.at(d);
        if let Some(v) = dr.opt("Public", "/disclosure/public") {
            match boolean(&v) {
                Some(b) => public = b,
                None => dr.p.push(
                    "/disclosure/public",
                    "code.unknown",
                    format!("<Public> '{v}' is not an xsd:boolean (true, false, 1, 0)"),
                ),
            }
        }
        if let Some(why) = dr.opt("ReasonNotPublic", "/disclosure/reason_not_public") {
            disclosure.insert("reason_not_public".into(), json!(why));
        }
        r.absorb(dr);
    }
    disclosure.insert("public".into(), json!(public));
    out.insert("disclosure".into(), Value::Object(disclosure));

    r.p.into_result(Value::Object(out))
}

fn map_certificate(i: usize, parent: &mut Rec, el: &Element) -> Value {
    let base = format!("/result/certificates/{i}");
    let mut z = parent.at(el);
    let mut c = Map::new();
    for (name, canon, clean) in [
        ("TypeCode", "type_code", true),
        ("TypeName", "type_name", false),
        ("Number", "number", true),
    ] {
        if let Some(v) = z.req(name, &format!("{base}/{canon}")) {
            c.insert(canon.into(), json!(if clean { clean_code(&v) } else { v }));
        }
    }
    if let Some(h) = z.child("Holder", &format!("{base}/holder")) {
        let mut hr = z.at(h);
        let name = hr.req("Name", &format!("{base}/holder/name"));
        let code = hr
            .req("Code", &format!("{base}/holder/code"))
            .map(|c| clean_code(&c));
        let code_type = hr
            .opt("CodeType", &format!("{base}/holder/code_type"))
            .map_or("111", |t| id_type(&t));
        z.absorb(hr);
        c.insert(
            "holder".into(),
            json!({"name": name, "code": code, "code_type": code_type}),
        );
    }
    if let Some(org) = z.child("Issuer", &format!("{base}/issuing_authority")) {
        let mut o = z.at(org);
        let name = o.req("Name", &format!("{base}/issuing_authority/name"));
        let code = o
            .req(
                "CreditCode",
                &format!("{base}/issuing_authority/credit_code"),
            )
            .map(|c| clean_code(&c));
        z.absorb(o);
        c.insert(
            "issuing_authority".into(),
            json!({"name": name, "credit_code": code}),
        );
    }
    for (name, canon) in [("IssueDate", "issue_date"), ("ValidFrom", "valid_from")] {
        if let Some(d) = z.date(name, &format!("{base}/{canon}"), true) {
            c.insert(canon.into(), json!(d));
        }
    }
    // "长期" (long-term) means no end date.
    let until =
        z.el.child("ValidUntil")
            .and_then(|u| u.text(z.enc).ok())
            .is_some_and(|t| t.trim() == "长期");
    if !until && let Some(d) = z.date("ValidUntil", &format!("{base}/valid_until"), false) {
        c.insert("valid_until".into(), json!(d));
    }
    if let Some(surface) = el.child("Surface") {
        let mut fields = Map::new();
        for f in surface.children_named("Field") {
            let mut fr = z.at(f);
            let path = format!("{base}/surface");
            let name = fr.req("Name", &path);
            let value = fr.opt("Value", &path);
            z.absorb(fr);
            if let (Some(n), Some(v)) = (name, value) {
                fields.insert(n, json!(v));
            }
        }
        c.insert("surface".into(), Value::Object(fields));
    }
    if let Some(id) = z.opt("ECertId", &format!("{base}/identifier")) {
        c.insert("identifier".into(), json!(clean_code(&id)));
    }
    parent.absorb(z);
    Value::Object(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(prefix: &str, records: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <{prefix}:Envelope xmlns:{prefix}=\"{SOAP_ENV_NS}\" xmlns:sw=\"{TAX_NS}\">\n\
             <{prefix}:Body><sw:PushCaseRecords><sw:Records>\n{records}\n</sw:Records></sw:PushCaseRecords></{prefix}:Body>\n\
             </{prefix}:Envelope>"
        )
    }

    const RECORD: &str = "<sw:Record><sw:CaseNo>ＳＷ－１</sw:CaseNo><sw:Version>2</sw:Version>\
        <sw:Item><sw:Code>SW-WSZM-01</sw:Code></sw:Item><sw:RegionCode>621002000000</sw:RegionCode>\
        <sw:TaxOffice><sw:Name>国家税务总局庆阳市西峰区税务局</sw:Name><sw:CreditCode>11621002MB0013580W</sw:CreditCode></sw:TaxOffice>\
        <sw:Taxpayer><sw:Name>张伟</sw:Name><sw:IdType>201</sw:IdType><sw:IdNumber>621002198701014516</sw:IdNumber></sw:Taxpayer>\
        <sw:Times><sw:Applied>2026-11-18T09:12:00.250</sw:Applied><sw:Received>2026-11-18T01:12:30Z</sw:Received></sw:Times>\
        <sw:Status>01</sw:Status></sw:Record>";

    #[test]
    fn records_map_with_any_envelope_prefix() {
        for prefix in ["soap", "soapenv", "SOAP-ENV", "s"] {
            let recs = Tax.decode(envelope(prefix, RECORD).as_bytes()).unwrap();
            assert_eq!(recs.len(), 1);
            let d = recs[0].draft.as_ref().unwrap();
            assert_eq!(d["case_no"], "SW-1");
            assert_eq!(d["applicant"]["id_type"], "111");
            assert_eq!(d["applicant"]["kind"], "person");
            assert_eq!(d["timestamps"]["occurred"], "2026-11-18T09:12:00.250+08:00");
            assert_eq!(d["timestamps"]["received"], "2026-11-18T01:12:30+00:00");
            assert_eq!(d["disclosure"]["public"], false);
            assert_eq!(recs[0].location, "Record #1 (line 4)");
            assert!(recs[0].raw.starts_with(b"<sw:Record>"));
            assert!(recs[0].raw.ends_with(b"</sw:Record>"));
        }
    }

    #[test]
    fn soap_12_and_foreign_operations_are_refused_whole() {
        let v12 = envelope("soap", RECORD).replace(SOAP_ENV_NS, SOAP12_ENV_NS);
        assert_eq!(Tax.decode(v12.as_bytes()).unwrap_err().code, CODE_VERSION);
        let other = envelope("soap", RECORD).replace(TAX_NS, "urn:other");
        assert_eq!(
            Tax.decode(other.as_bytes()).unwrap_err().code,
            "payload.malformed"
        );
        let dtd = format!("<!DOCTYPE x []>{}", &envelope("soap", RECORD)[39..]);
        assert_eq!(
            Tax.decode(dtd.as_bytes()).unwrap_err().code,
            "payload.dtd_forbidden"
        );
    }

    #[test]
    fn record_count_is_checked() {
        let doc = envelope("soap", RECORD).replace(
            "<sw:PushCaseRecords>",
            "<sw:PushCaseRecords><sw:RecordCount>2</sw:RecordCount>",
        );
        assert_eq!(
            Tax.decode(doc.as_bytes()).unwrap_err().code,
            "payload.count_mismatch"
        );
        let doc = doc.replace(">2</sw:RecordCount>", ">１</sw:RecordCount>");
        assert_eq!(Tax.decode(doc.as_bytes()).unwrap().len(), 1);
    }

    #[test]
    fn xsd_values() {
        assert_eq!(strip_date_offset("2026-11-19+08:00"), "2026-11-19");
        assert_eq!(strip_date_offset("2026-11-19Z"), "2026-11-19");
        assert_eq!(strip_date_offset("2026-11-19"), "2026-11-19");
        assert_eq!(
            xsd_datetime("2026-11-18T09:12:00").unwrap(),
            "2026-11-18T09:12:00+08:00"
        );
        assert!(xsd_datetime("2026-11-18T25:00:00").is_err());
        assert_eq!(boolean(" true "), Some(true));
        assert_eq!(boolean("０"), Some(false));
        assert_eq!(boolean("是"), None);
        assert_eq!(id_type("201"), "111");
        assert_eq!(id_type("227"), "414");
        assert_eq!(id_type("统一社会信用代码"), "001");
        assert_eq!(id_type("军官证"), "990");
    }

    #[test]
    fn per_record_problems_name_canonical_paths() {
        let bad = RECORD
            .replace("<sw:Status>01</sw:Status>", "<sw:Status>99</sw:Status>")
            .replace("<sw:Item><sw:Code>SW-WSZM-01</sw:Code></sw:Item>", "")
            .replace("2026-11-18T09:12:00.250", "2026/13/01");
        let doc = envelope("soap", &format!("{RECORD}\n{bad}"));
        let recs = Tax.decode(doc.as_bytes()).unwrap();
        assert!(recs[0].draft.is_ok());
        let errs: Vec<(String, String)> = recs[1]
            .draft
            .as_ref()
            .unwrap_err()
            .iter()
            .map(|e| (e.path.clone(), e.code.clone()))
            .collect();
        assert_eq!(
            errs,
            [
                ("/service_item/local".to_owned(), "field.missing".to_owned()),
                ("/timestamps/occurred".into(), "datetime.format".into()),
                ("/status".into(), "code.unknown".into()),
            ]
        );
        assert_eq!(recs[1].case_no.as_deref(), Some("SW-1"));
    }
}
