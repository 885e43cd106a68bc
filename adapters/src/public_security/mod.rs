//! 公安 (public security): XML batches, usually GBK, with pinyin-initial element names
//! (`GAJ_BJ_PACKAGE/HEAD`, `BODY/BJXX` per case). See README.md in this directory.

use encoding_rs::Encoding;
use serde_json::{Map, Value, json};

use crate::common::{Problems, clean_code, clean_text, holder_code_type};
use crate::xml::{self, Element};
use crate::{Adapter, DecodedRecord, PayloadError};

pub struct PublicSecurity;

pub const ROOT: &str = "GAJ_BJ_PACKAGE";

impl Adapter for PublicSecurity {
    fn id(&self) -> &'static str {
        "public-security"
    }
    fn department(&self) -> &'static str {
        "public_security"
    }
    fn format(&self) -> &'static str {
        "XML (GBK or UTF-8 as declared), GAJ_BJ_PACKAGE with HEAD and BODY/BJXX records"
    }

    fn decode(&self, payload: &[u8]) -> Result<Vec<DecodedRecord>, PayloadError> {
        let doc = xml::parse(payload)?;
        if doc.root.name != ROOT {
            return Err(PayloadError::new(
                "payload.malformed",
                format!("root element is <{}>, expected <{ROOT}>", doc.root.name),
            ));
        }
        let body = doc
            .root
            .child("BODY")
            .ok_or_else(|| PayloadError::new("payload.malformed", "<BODY> is missing"))?;
        let records: Vec<&Element> = body.children_named("BJXX").collect();
        // The header's record count guards against truncated transfers.
        if let Some(count) = doc.root.child("HEAD").and_then(|h| h.child("JLS")) {
            let declared = count
                .text(doc.encoding)
                .ok()
                .and_then(|t| clean_code(&t).parse::<usize>().ok());
            if declared != Some(records.len()) {
                return Err(PayloadError::new(
                    "payload.count_mismatch",
                    format!(
                        "HEAD/JLS declares {declared:?} records but BODY holds {}",
                        records.len()
                    ),
                ));
            }
        }
        Ok(crate::parallel::map_records(&records, |i, el| {
            let case_no = el
                .child("SBLSH")
                .and_then(|c| c.text(doc.encoding).ok())
                .map(|c| clean_code(&c))
                .filter(|c| !c.is_empty());
            DecodedRecord {
                position: i,
                location: format!("BJXX #{} (line {})", i + 1, el.line),
                raw: payload[el.start..el.end].to_vec(),
                case_no,
                draft: map_record(Rec {
                    el,
                    enc: doc.encoding,
                    p: Problems::default(),
                }),
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
    fn at(&self, el: &'a Element<'a>) -> Rec<'a> {
        Rec {
            el,
            enc: self.enc,
            p: Problems::default(),
        }
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

    fn absorb(&mut self, other: Rec) {
        self.p.0.extend(other.p.0);
    }
}

fn status(code: &str) -> Option<&'static str> {
    Some(match code {
        "0" => "received",
        "1" => "accepted",
        "2" => "in_progress",
        "3" => "on_hold",
        "4" => "completed",
        "5" => "rejected",
        "6" => "withdrawn",
        _ => return None,
    })
}

fn decision(code: &str) -> Option<&'static str> {
    Some(match code {
        "1" => "approved",
        "2" => "denied",
        "3" => "not_accepted",
        "4" => "withdrawn",
        _ => return None,
    })
}

fn map_record(mut r: Rec) -> Result<Value, Vec<domain::FieldError>> {
    let mut out = Map::new();
    if let Some(v) = r.req("SBLSH", "/case_no") {
        out.insert("case_no".into(), json!(clean_code(&v)));
    }
    if let Some(v) = r
        .req("BBH", "/version")
        .and_then(|v| r.p.integer("/version", &v))
    {
        out.insert("version".into(), json!(v));
    }

    let mut item = Map::new();
    let mut local = Map::new();
    if let Some(c) = r.opt("SXBM", "/service_item/local/code") {
        local.insert("code".into(), json!(clean_code(&c)));
    }
    if let Some(n) = r.opt("SXMC", "/service_item/local/name") {
        local.insert("name".into(), json!(n));
    }
    if local.is_empty() {
        r.p.push(
            "/service_item/local",
            "field.missing",
            "<SXBM> or <SXMC> is required",
        );
    }
    item.insert("local".into(), Value::Object(local));
    if let Some(c) = r.opt("SSBM", "/service_item/impl_code") {
        item.insert("impl_code".into(), json!(clean_code(&c)));
    }
    if let Some(k) = r.opt("BJLX", "/service_item/case_kind") {
        match clean_code(&k).as_str() {
            "1" => item.insert("case_kind".into(), json!("immediate")),
            "2" => item.insert("case_kind".into(), json!("promised")),
            "9" => item.insert("case_kind".into(), json!("other")),
            _ => {
                r.p.push(
                    "/service_item/case_kind",
                    "code.unknown",
                    format!("BJLX '{k}' is not 1, 2 or 9"),
                );
                None
            }
        };
    }
    out.insert("service_item".into(), Value::Object(item));

    if let Some(v) = r.req("XZQHDM", "/region_code") {
        out.insert("region_code".into(), json!(clean_code(&v)));
    }

    match r.el.child("BLJG") {
        Some(org) => {
            let mut o = r.at(org);
            let name = o.req("MC", "/handling_org/name");
            let code = o
                .req("TYSHXYDM", "/handling_org/credit_code")
                .map(|c| clean_code(&c));
            r.absorb(o);
            out.insert(
                "handling_org".into(),
                json!({"name": name, "credit_code": code}),
            );
        }
        None => {
            r.p.push("/handling_org", "field.missing", "<BLJG> is required")
        }
    }

    match r.el.child("SQR") {
        Some(sqr) => {
            let mut a = r.at(sqr);
            let kind = if a
                .opt("LX", "/applicant/kind")
                .map(|v| clean_code(&v))
                .as_deref()
                == Some("2")
            {
                "organization"
            } else {
                "person"
            };
            let mut ap = Map::new();
            ap.insert("kind".into(), json!(kind));
            if let Some(n) = a.req("XM", "/applicant/name") {
                ap.insert("name".into(), json!(n));
            }
            let id_type = a
                .opt("ZJLX", "/applicant/id_type")
                .map_or(if kind == "person" { "111" } else { "001" }, |t| {
                    holder_code_type(&t)
                });
            ap.insert("id_type".into(), json!(id_type));
            if let Some(n) = a.req("ZJHM", "/applicant/id_number") {
                ap.insert("id_number".into(), json!(clean_code(&n)));
            }
            if let Some(v) = a.opt("LXDH", "/applicant/phone") {
                ap.insert("phone".into(), json!(clean_code(&v)));
            }
            if let Some(v) = a.opt("DZ", "/applicant/address") {
                ap.insert("address".into(), json!(v));
            }
            r.absorb(a);
            out.insert("applicant".into(), Value::Object(ap));
        }
        None => r.p.push("/applicant", "field.missing", "<SQR> is required"),
    }

    let mut ts = Map::new();
    for (name, canon, required) in [
        ("FSSJ", "occurred", true),
        ("JSSJ", "received", true),
        ("SLSJ", "accepted", false),
        ("JDSJ", "decided", false),
        ("BJSJ", "completed", false),
    ] {
        let path = format!("/timestamps/{canon}");
        let v = if required {
            r.req(name, &path)
        } else {
            r.opt(name, &path)
        };
        if let Some(t) = v.and_then(|v| r.p.datetime(&path, &v)) {
            ts.insert(canon.into(), json!(t));
        }
    }
    out.insert("timestamps".into(), Value::Object(ts));

    let mut limits = Map::new();
    if let Some(d) = r
        .opt("CNSX", "/time_limits/promised_days")
        .and_then(|v| r.p.integer("/time_limits/promised_days", &v))
    {
        limits.insert("promised_days".into(), json!(d));
    }
    out.insert("time_limits".into(), Value::Object(limits));

    if let Some(code) = r.req("BLZT", "/status") {
        match status(&clean_code(&code)) {
            Some(s) => {
                out.insert("status".into(), json!(s));
            }
            None => r.p.push(
                "/status",
                "code.unknown",
                format!("BLZT '{code}' is not in the public-security status table (0-6)"),
            ),
        }
    }

    if let Some(blgc) = r.el.child("BLGC") {
        let mut steps = Vec::new();
        for (i, hj) in blgc.children_named("HJ").enumerate() {
            let base = format!("/process_steps/{i}");
            let mut h = r.at(hj);
            let mut step = Map::new();
            if let Some(v) = h.req("HJMC", &format!("{base}/name")) {
                step.insert("name".into(), json!(v));
            }
            for (name, canon) in [("BLR", "actor"), ("BLDZ", "action"), ("BLYJ", "opinion")] {
                if let Some(v) = h.opt(name, &format!("{base}/{canon}")) {
                    step.insert(canon.into(), json!(v));
                }
            }
            let tpath = format!("{base}/time");
            if let Some(t) = h.req("BLSJ", &tpath).and_then(|t| h.p.datetime(&tpath, &t)) {
                step.insert("time".into(), json!(t));
            }
            r.absorb(h);
            steps.push(Value::Object(step));
        }
        if !steps.is_empty() {
            out.insert("process_steps".into(), Value::Array(steps));
        }
    }

    if let Some(gqxx) = r.el.child("GQXX") {
        let mut holds = Vec::new();
        for (i, gq) in gqxx.children_named("GQ").enumerate() {
            let base = format!("/holds/{i}");
            let mut g = r.at(gq);
            let mut hold = Map::new();
            if let Some(v) = g.req("GQYY", &format!("{base}/reason")) {
                hold.insert("reason".into(), json!(v));
            }
            for (name, canon, required) in [("KSSJ", "start", true), ("JSSJ", "end", false)] {
                let path = format!("{base}/{canon}");
                let v = if required {
                    g.req(name, &path)
                } else {
                    g.opt(name, &path)
                };
                if let Some(t) = v.and_then(|t| g.p.datetime(&path, &t)) {
                    hold.insert(canon.into(), json!(t));
                }
            }
            r.absorb(g);
            holds.push(Value::Object(hold));
        }
        if !holds.is_empty() {
            out.insert("holds".into(), Value::Array(holds));
        }
    }

    if let Some(bjjg) = r.el.child("BJJG") {
        let mut j = r.at(bjjg);
        let mut result = Map::new();
        if let Some(code) = j.req("JDLX", "/result/decision") {
            match decision(&clean_code(&code)) {
                Some(d) => {
                    result.insert("decision".into(), json!(d));
                }
                None => j.p.push(
                    "/result/decision",
                    "code.unknown",
                    format!("JDLX '{code}' is not 1-4"),
                ),
            }
        }
        if let Some(t) = j.opt("JGSM", "/result/text") {
            result.insert("text".into(), json!(t));
        }
        if let Some(zzxx) = bjjg.child("ZZXX") {
            let certs: Vec<Value> = zzxx
                .children_named("ZZ")
                .enumerate()
                .map(|(i, zz)| map_certificate(i, &mut j, zz))
                .collect();
            if !certs.is_empty() {
                result.insert("certificates".into(), Value::Array(certs));
            }
        }
        r.absorb(j);
        out.insert("result".into(), Value::Object(result));
    }

    let public = r
        .opt("SFGK", "/disclosure/public")
        .is_some_and(|v| clean_code(&v) == "1");
    let mut disclosure = Map::new();
    disclosure.insert("public".into(), json!(public));
    if let Some(why) = r.opt("BGKYY", "/disclosure/reason_not_public") {
        disclosure.insert("reason_not_public".into(), json!(why));
    }
    out.insert("disclosure".into(), Value::Object(disclosure));

    r.p.into_result(Value::Object(out))
}

fn map_certificate(i: usize, parent: &mut Rec, zz: &Element) -> Value {
    let base = format!("/result/certificates/{i}");
    let mut z = parent.at(zz);
    let mut c = Map::new();
    for (name, canon, clean) in [
        ("ZZLXDM", "type_code", true),
        ("ZZLXMC", "type_name", false),
        ("ZZBH", "number", true),
    ] {
        if let Some(v) = z.req(name, &format!("{base}/{canon}")) {
            c.insert(canon.into(), json!(if clean { clean_code(&v) } else { v }));
        }
    }
    match zz.child("CZZT") {
        Some(h) => {
            let mut hr = z.at(h);
            let name = hr.req("MC", &format!("{base}/holder/name"));
            let code = hr
                .req("DM", &format!("{base}/holder/code"))
                .map(|c| clean_code(&c));
            let code_type = hr
                .opt("DMLX", &format!("{base}/holder/code_type"))
                .map_or("111", |t| holder_code_type(&t));
            z.absorb(hr);
            c.insert(
                "holder".into(),
                json!({"name": name, "code": code, "code_type": code_type}),
            );
        }
        None => z.p.push(
            &format!("{base}/holder"),
            "field.missing",
            "<CZZT> is required",
        ),
    }
    match zz.child("BFJG") {
        Some(org) => {
            let mut o = z.at(org);
            let name = o.req("MC", &format!("{base}/issuing_authority/name"));
            let code = o
                .req("TYSHXYDM", &format!("{base}/issuing_authority/credit_code"))
                .map(|c| clean_code(&c));
            z.absorb(o);
            c.insert(
                "issuing_authority".into(),
                json!({"name": name, "credit_code": code}),
            );
        }
        None => z.p.push(
            &format!("{base}/issuing_authority"),
            "field.missing",
            "<BFJG> is required",
        ),
    }
    for (name, canon, required) in [
        ("BFRQ", "issue_date", true),
        ("YXQQ", "valid_from", true),
        ("YXQZ", "valid_until", false),
    ] {
        let path = format!("{base}/{canon}");
        let v = if required {
            z.req(name, &path)
        } else {
            z.opt(name, &path)
        };
        // "长期" (long-term) means no end date.
        if let Some(d) = v.filter(|d| d != "长期").and_then(|d| z.p.date(&path, &d)) {
            c.insert(canon.into(), json!(d));
        }
    }
    if let Some(zmxx) = zz.child("ZMXX") {
        let mut surface = Map::new();
        for xx in zmxx.children_named("XX") {
            let mut x = z.at(xx);
            let path = format!("{base}/surface");
            if let (Some(k), Some(v)) = (x.req("MC", &path), x.opt("Z", &path)) {
                surface.insert(k, json!(v));
            }
            z.absorb(x);
        }
        c.insert("surface".into(), Value::Object(surface));
    }
    if let Some(id) = z.opt("ZZBS", &format!("{base}/identifier")) {
        c.insert("identifier".into(), json!(clean_code(&id)));
    }
    parent.absorb(z);
    Value::Object(c)
}
