//! The SOAP 1.1 side of the tax adapter: namespace checks the tree reader cannot make (it keeps
//! local names only), `mustUnderstand` header blocks, and the fault the gateway answers with when
//! a whole payload is refused.
//!
//! [`crate::xml`] drops namespace prefixes, which is what the record mapping wants (senders use
//! any prefix: `soap:`, `soapenv:`, `SOAP-ENV:`, `s:` or a default namespace). But "is this a
//! SOAP 1.1 envelope at all" is a question about namespace *URIs*, so [`check_envelope`] makes a
//! second, namespace-aware pass over the same bytes with quick-xml's `NsReader`. It only looks at
//! the first three levels (Envelope, its Header and Body, their children) and at the attributes
//! of header blocks.

use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{Namespace, ResolveResult};

use crate::PayloadError;

/// SOAP 1.1 envelope namespace (SOAP 1.1 section 4.1.2).
pub const SOAP_ENV_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// SOAP 1.2 envelope namespace: recognised only to answer with a precise VersionMismatch.
pub const SOAP12_ENV_NS: &str = "http://www.w3.org/2003/05/soap-envelope";
/// The namespace of the gateway's tax service contract (operation and record elements).
pub const TAX_NS: &str = "urn:exchange-gateway:tax:case-records:v1";
/// The one operation of the service, the first child of `Body`.
pub const OPERATION: &str = "PushCaseRecords";
/// Header blocks this service understands (and ignores: they are informative only).
const UNDERSTOOD_HEADERS: &[&str] = &["SenderInfo"];
/// SOAP 1.1 section 4.2.2: the actor meaning "the first SOAP application that processes it".
const ACTOR_NEXT: &str = "http://schemas.xmlsoap.org/soap/actor/next";

/// The envelope is not a SOAP 1.1 envelope: faultcode `soap:VersionMismatch`.
pub const CODE_VERSION: &str = "payload.soap_version";
/// A header block addressed to us with `mustUnderstand="1"` that we do not understand:
/// faultcode `soap:MustUnderstand`.
pub const CODE_MUST_UNDERSTAND: &str = "payload.soap_must_understand";

/// SOAP 1.1 over HTTP (section 6.2): a fault is always answered with `500 Internal Server Error`,
/// for client faults too.
pub const FAULT_HTTP_STATUS: u16 = 500;
/// Content type of a SOAP 1.1 message (and of its faults).
pub const CONTENT_TYPE: &str = "text/xml; charset=utf-8";

/// A resolved namespace, owned (quick-xml's borrows the reader).
#[derive(Debug, Clone, PartialEq)]
enum Ns {
    Bound(Vec<u8>),
    Unbound,
    /// A prefix with no declaration in scope.
    Unknown(Vec<u8>),
}

impl From<ResolveResult<'_>> for Ns {
    fn from(r: ResolveResult<'_>) -> Self {
        match r {
            ResolveResult::Bound(Namespace(ns)) => Ns::Bound(ns.to_vec()),
            ResolveResult::Unbound => Ns::Unbound,
            ResolveResult::Unknown(p) => Ns::Unknown(p),
        }
    }
}

fn ns_is(r: &Ns, uri: &str) -> bool {
    matches!(r, Ns::Bound(ns) if ns == uri.as_bytes())
}

fn ns_text(r: &Ns) -> String {
    match r {
        Ns::Bound(ns) => format!("namespace '{}'", String::from_utf8_lossy(ns)),
        Ns::Unbound => "no namespace".into(),
        Ns::Unknown(p) => format!("undeclared prefix '{}'", String::from_utf8_lossy(p)),
    }
}

/// What a header block says about itself: `mustUnderstand` and `actor`, both attributes in the
/// SOAP envelope namespace.
fn header_block_needs_us(reader: &NsReader<&[u8]>, start: &BytesStart) -> Result<bool, String> {
    let mut must = false;
    let mut for_us = true;
    for attr in start.attributes() {
        let attr = attr.map_err(|e| e.to_string())?;
        let (ns, local) = reader.resolve_attribute(attr.key);
        if !ns_is(&Ns::from(ns), SOAP_ENV_NS) {
            continue;
        }
        // Values of these two attributes are ASCII (digits, a URI); no entity is expected.
        let value = String::from_utf8_lossy(&attr.value);
        match local.as_ref() {
            b"mustUnderstand" => match value.trim() {
                "1" => must = true,
                "0" => must = false,
                // SOAP 1.1 allows only "1" and "0"; "true" is SOAP 1.2, read it the same way.
                "true" => must = true,
                "false" => must = false,
                other => return Err(format!("mustUnderstand=\"{other}\" is not 0 or 1")),
            },
            b"actor" => for_us = value.trim() == ACTOR_NEXT,
            _ => {}
        }
    }
    Ok(must && for_us)
}

/// Check the namespaces of a document that [`crate::xml::parse`] has already accepted as
/// well-formed: the root must be `Envelope` in the SOAP 1.1 namespace (else
/// [`CODE_VERSION`]), every `Header` and `Body` child of it must be in that namespace too, no
/// header block addressed to this node may demand to be understood (else
/// [`CODE_MUST_UNDERSTAND`]), and the first element of the `Body` must be
/// `{TAX_NS}PushCaseRecords` (else `payload.malformed`).
pub fn check_envelope(bytes: &[u8]) -> Result<(), PayloadError> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = NsReader::from_reader(body);
    let malformed = |why: String| PayloadError::new("payload.malformed", why);
    // Element names on the path from the root, with "is it the SOAP Header / Body" flags.
    #[derive(Clone, Copy, PartialEq)]
    enum Level {
        Envelope,
        Header,
        Body,
        Other,
    }
    let mut stack: Vec<Level> = Vec::new();
    let mut body_seen = false;
    let mut operation_seen = false;
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|e| malformed(e.to_string()))?;
        let ns = Ns::from(ns);
        let (start, empty) = match event {
            Event::Start(s) => (s, false),
            Event::Empty(s) => (s, true),
            Event::End(_) => {
                stack.pop();
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let local = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
        let level = match stack.last().copied() {
            None => {
                if local != "Envelope" || !ns_is(&ns, SOAP_ENV_NS) {
                    let what = if ns_is(&ns, SOAP12_ENV_NS) {
                        "a SOAP 1.2 envelope".to_owned()
                    } else {
                        format!("<{local}> in {}", ns_text(&ns))
                    };
                    return Err(PayloadError::new(
                        CODE_VERSION,
                        format!(
                            "the root is {what}; this service speaks SOAP 1.1 (Envelope in namespace '{SOAP_ENV_NS}')"
                        ),
                    ));
                }
                Level::Envelope
            }
            Some(Level::Envelope) => match local.as_str() {
                "Header" | "Body" if !ns_is(&ns, SOAP_ENV_NS) => {
                    return Err(malformed(format!(
                        "<{local}> is in {}, not in the SOAP envelope namespace",
                        ns_text(&ns)
                    )));
                }
                "Header" => Level::Header,
                "Body" => {
                    if body_seen {
                        return Err(malformed("the envelope has two <Body> elements".into()));
                    }
                    body_seen = true;
                    Level::Body
                }
                _ => Level::Other,
            },
            Some(Level::Header) => {
                let understood = ns_is(&ns, TAX_NS) && UNDERSTOOD_HEADERS.contains(&&*local);
                if !understood
                    && header_block_needs_us(&reader, &start)
                        .map_err(|e| malformed(format!("header block <{local}>: {e}")))?
                {
                    return Err(PayloadError::new(
                        CODE_MUST_UNDERSTAND,
                        format!(
                            "header block <{local}> ({}) has mustUnderstand=\"1\" but is not understood by this service",
                            ns_text(&ns)
                        ),
                    ));
                }
                Level::Other
            }
            Some(Level::Body) => {
                if !operation_seen {
                    operation_seen = true;
                    if local != OPERATION || !ns_is(&ns, TAX_NS) {
                        return Err(malformed(format!(
                            "the body holds <{local}> in {}; expected <{OPERATION}> in namespace '{TAX_NS}'",
                            ns_text(&ns)
                        )));
                    }
                }
                Level::Other
            }
            Some(Level::Other) => Level::Other,
        };
        if !empty {
            stack.push(level);
        }
        // Only the first three levels matter; skip the records themselves quickly.
        if stack.len() >= 3 && !empty {
            let end = start.to_end().into_owned();
            reader
                .read_to_end(end.name())
                .map_err(|e| malformed(e.to_string()))?;
            stack.pop();
        }
    }
    if !body_seen {
        return Err(malformed("the envelope has no <Body>".into()));
    }
    if !operation_seen {
        return Err(malformed(format!(
            "the <Body> is empty; expected <{OPERATION}>"
        )));
    }
    Ok(())
}

/// The SOAP 1.1 faultcode for a stable error code: `soap:VersionMismatch` for
/// [`CODE_VERSION`], `soap:MustUnderstand` for [`CODE_MUST_UNDERSTAND`], `soap:Server` for the
/// gateway's own failures (`service.*`: database unavailable, internal error; the same request
/// may succeed later), `soap:Client` for everything else (the message must change).
pub fn fault_code(code: &str) -> &'static str {
    match code {
        CODE_VERSION => "soap:VersionMismatch",
        CODE_MUST_UNDERSTAND => "soap:MustUnderstand",
        c if c.starts_with("service.") => "soap:Server",
        _ => "soap:Client",
    }
}

/// A SOAP 1.1 Fault envelope (UTF-8) for a request refused as a whole, e.g. by a
/// [`PayloadError`]: `faultcode` from [`fault_code`], `faultstring` = `message`, and a `detail`
/// entry `<gw:error xmlns:gw="{TAX_NS}"><gw:code>{code}</gw:code></gw:error>` so clients can
/// match on the stable code. Per SOAP 1.1 section 4.4 a `detail` must not describe header
/// errors, so a MustUnderstand fault has none (its faultcode already names the problem).
///
/// Pure: no I/O, no clock. Send it with HTTP status [`FAULT_HTTP_STATUS`] and
/// `Content-Type:` [`CONTENT_TYPE`].
pub fn soap_fault(code: &str, message: &str) -> String {
    let faultcode = fault_code(code);
    let detail = if faultcode == "soap:MustUnderstand" {
        String::new()
    } else {
        format!(
            "<detail><gw:error xmlns:gw=\"{TAX_NS}\"><gw:code>{}</gw:code></gw:error></detail>",
            crate::xml::escape(code)
        )
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <soap:Envelope xmlns:soap=\"{SOAP_ENV_NS}\"><soap:Body><soap:Fault>\
         <faultcode>{faultcode}</faultcode><faultstring>{}</faultstring>{detail}\
         </soap:Fault></soap:Body></soap:Envelope>\n",
        crate::xml::escape(message)
    )
}

/// The SOAP 1.1 answer to a processed push: the gateway's receipt as
/// `PushCaseRecordsResponse` (batch id, summary attributes, one `Record` per record with its
/// outcome, record id, errors and certificates).
pub fn soap_receipt(receipt: &serde_json::Value) -> String {
    let attr = |v: &serde_json::Value| {
        crate::xml::escape(&match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        })
    };
    let s = &receipt["summary"];
    let mut body = format!(
        "<BatchId>{}</BatchId><Summary Records=\"{}\" Accepted=\"{}\" Duplicate=\"{}\" VersionConflict=\"{}\" Rejected=\"{}\"/>",
        attr(&receipt["batch_id"]),
        attr(&s["records"]),
        attr(&s["accepted"]),
        attr(&s["duplicate"]),
        attr(&s["version_conflict"]),
        attr(&s["rejected"]),
    );
    if receipt["dry_run"] == true {
        body.push_str("<DryRun>true</DryRun>");
    }
    for r in receipt["records"].as_array().into_iter().flatten() {
        let id = r
            .get("record_id")
            .or_else(|| r.get("existing_record_id"))
            .unwrap_or(&serde_json::Value::Null);
        body.push_str(&format!(
            "<Record Position=\"{}\" Location=\"{}\" CaseNo=\"{}\" Version=\"{}\" Outcome=\"{}\" RecordId=\"{}\">",
            attr(&r["position"]),
            attr(&r["location"]),
            attr(&r["case_no"]),
            attr(&r["version"]),
            attr(&r["outcome"]),
            attr(id),
        ));
        for e in r["errors"].as_array().into_iter().flatten() {
            body.push_str(&format!(
                "<Error Path=\"{}\" Code=\"{}\">{}</Error>",
                attr(&e["path"]),
                attr(&e["code"]),
                attr(&e["message"])
            ));
        }
        for c in r["certificates"].as_array().into_iter().flatten() {
            body.push_str(&format!(
                "<Certificate Identifier=\"{}\" Version=\"{}\" Outcome=\"{}\"/>",
                attr(&c["identifier"]),
                attr(&c["version"]),
                attr(&c["outcome"])
            ));
        }
        body.push_str("</Record>");
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <soap:Envelope xmlns:soap=\"{SOAP_ENV_NS}\"><soap:Body>\
         <PushCaseRecordsResponse xmlns=\"{TAX_NS}\">{body}</PushCaseRecordsResponse>\
         </soap:Body></soap:Envelope>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receipt_becomes_a_well_formed_soap_response() {
        let receipt = serde_json::json!({
            "batch_id": "b1", "summary": {"records": 2, "accepted": 1, "duplicate": 0, "version_conflict": 0, "rejected": 1},
            "records": [
                {"position": 0, "location": "Record #1", "case_no": "SW-1", "version": 1, "outcome": "accepted", "record_id": "r1",
                 "certificates": [{"identifier": "1.2.156", "version": 1, "outcome": "issued"}]},
                {"position": 1, "location": "Record #2", "outcome": "rejected", "errors": [{"path": "/a", "code": "x.y", "message": "<bad> & \"worse\""}]}
            ]
        });
        let xml = soap_receipt(&receipt);
        let doc = crate::xml::parse(xml.as_bytes()).expect("well-formed");
        let resp = doc
            .root
            .child("Body")
            .unwrap()
            .child("PushCaseRecordsResponse")
            .unwrap();
        assert_eq!(resp.children_named("Record").count(), 2);
        assert!(xml.contains("&lt;bad&gt; &amp; &quot;worse&quot;"), "{xml}");
    }

    fn env(prefix_decl: &str, body: &str) -> String {
        format!("<?xml version=\"1.0\"?>{prefix_decl}{body}")
    }

    const OP: &str = "<t:PushCaseRecords xmlns:t=\"urn:exchange-gateway:tax:case-records:v1\"><t:Records/></t:PushCaseRecords>";

    #[test]
    fn any_prefix_or_a_default_namespace_is_accepted() {
        for (open, close) in [
            (
                "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>",
                "</soap:Body></soap:Envelope>",
            ),
            (
                "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\"><SOAP-ENV:Header/><SOAP-ENV:Body>",
                "</SOAP-ENV:Body></SOAP-ENV:Envelope>",
            ),
            (
                "<Envelope xmlns=\"http://schemas.xmlsoap.org/soap/envelope/\"><Body>",
                "</Body></Envelope>",
            ),
            (
                "<x:Envelope xmlns:x='http://schemas.xmlsoap.org/soap/envelope/'><x:Body>",
                "</x:Body></x:Envelope>",
            ),
        ] {
            let doc = env("", &format!("{open}{OP}{close}"));
            assert_eq!(check_envelope(doc.as_bytes()), Ok(()), "{doc}");
        }
        // The operation in a default namespace, with the envelope prefixed.
        let doc = "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>\
                   <PushCaseRecords xmlns=\"urn:exchange-gateway:tax:case-records:v1\"/></s:Body></s:Envelope>";
        assert_eq!(check_envelope(doc.as_bytes()), Ok(()));
    }

    #[test]
    fn wrong_envelope_namespaces_are_version_mismatches() {
        for doc in [
            // SOAP 1.2
            format!(
                "<env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\"><env:Body>{OP}</env:Body></env:Envelope>"
            ),
            // the familiar prefix bound to something else
            format!(
                "<soap:Envelope xmlns:soap=\"http://example.com/soap\"><soap:Body>{OP}</soap:Body></soap:Envelope>"
            ),
            // no namespace at all
            format!("<Envelope><Body>{OP}</Body></Envelope>"),
            // an undeclared prefix
            format!("<soap:Envelope><soap:Body>{OP}</soap:Body></soap:Envelope>"),
            // right namespace, wrong root
            format!(
                "<soap:Body xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\">{OP}</soap:Body>"
            ),
        ] {
            let e = check_envelope(doc.as_bytes()).unwrap_err();
            assert_eq!(e.code, CODE_VERSION, "{doc}");
        }
        let e = check_envelope(format!("<env:Envelope xmlns:env=\"{SOAP12_ENV_NS}\"/>").as_bytes())
            .unwrap_err();
        assert!(e.message.contains("SOAP 1.2"), "{}", e.message);
    }

    #[test]
    fn body_and_operation_must_be_in_their_namespaces() {
        // A Body in another namespace is not the SOAP body.
        let doc = format!(
            "<s:Envelope xmlns:s=\"{SOAP_ENV_NS}\" xmlns:o=\"urn:other\"><o:Body>{OP}</o:Body></s:Envelope>"
        );
        let e = check_envelope(doc.as_bytes()).unwrap_err();
        assert_eq!(e.code, "payload.malformed");
        // An operation of another service.
        let doc = format!(
            "<s:Envelope xmlns:s=\"{SOAP_ENV_NS}\"><s:Body><t:PushCaseRecords xmlns:t=\"urn:other\"/></s:Body></s:Envelope>"
        );
        let e = check_envelope(doc.as_bytes()).unwrap_err();
        assert!(e.message.contains("urn:other"), "{}", e.message);
        // Missing and empty bodies.
        for doc in [
            format!("<s:Envelope xmlns:s=\"{SOAP_ENV_NS}\"><s:Header/></s:Envelope>"),
            format!("<s:Envelope xmlns:s=\"{SOAP_ENV_NS}\"><s:Body/></s:Envelope>"),
            format!(
                "<s:Envelope xmlns:s=\"{SOAP_ENV_NS}\"><s:Body>{OP}</s:Body><s:Body>{OP}</s:Body></s:Envelope>"
            ),
        ] {
            assert_eq!(
                check_envelope(doc.as_bytes()).unwrap_err().code,
                "payload.malformed",
                "{doc}"
            );
        }
    }

    #[test]
    fn must_understand_headers() {
        let with_header = |h: &str| {
            format!(
                "<s:Envelope xmlns:s=\"{SOAP_ENV_NS}\" xmlns:t=\"{TAX_NS}\"><s:Header>{h}</s:Header><s:Body>{OP}</s:Body></s:Envelope>"
            )
        };
        let security = "<w:Security xmlns:w=\"urn:wsse\" s:mustUnderstand=\"1\"/>";
        let e = check_envelope(with_header(security).as_bytes()).unwrap_err();
        assert_eq!(e.code, CODE_MUST_UNDERSTAND);
        assert!(e.message.contains("Security"));
        for ok in [
            // our own header block
            "<t:SenderInfo s:mustUnderstand=\"1\"><t:SystemName>x</t:SystemName></t:SenderInfo>",
            // optional blocks are ignored
            "<w:Security xmlns:w=\"urn:wsse\" s:mustUnderstand=\"0\"/>",
            "<w:Security xmlns:w=\"urn:wsse\"/>",
            // an unqualified mustUnderstand is not the SOAP attribute
            "<w:Security xmlns:w=\"urn:wsse\" mustUnderstand=\"1\"/>",
            // addressed to another actor
            "<w:Trace xmlns:w=\"urn:trace\" s:actor=\"urn:some-intermediary\" s:mustUnderstand=\"1\"/>",
        ] {
            assert_eq!(check_envelope(with_header(ok).as_bytes()), Ok(()), "{ok}");
        }
        let next = "<w:Trace xmlns:w=\"urn:trace\" s:actor=\"http://schemas.xmlsoap.org/soap/actor/next\" s:mustUnderstand=\"1\"/>";
        assert_eq!(
            check_envelope(with_header(next).as_bytes())
                .unwrap_err()
                .code,
            CODE_MUST_UNDERSTAND
        );
        let bad = "<w:Trace xmlns:w=\"urn:trace\" s:mustUnderstand=\"yes\"/>";
        assert_eq!(
            check_envelope(with_header(bad).as_bytes())
                .unwrap_err()
                .code,
            "payload.malformed"
        );
    }

    #[test]
    fn faults_are_well_formed_soap_11() {
        let f = soap_fault("payload.malformed", "line 3: <b> & \"c\" \u{1} 西峰");
        let doc = crate::xml::parse(f.as_bytes()).unwrap();
        assert_eq!(check_fault_ns(&f), Some(SOAP_ENV_NS.to_owned()));
        let fault = doc.root.child("Body").unwrap().child("Fault").unwrap();
        let text = |el: &crate::xml::Element| el.text(doc.encoding).unwrap().into_owned();
        assert_eq!(text(fault.child("faultcode").unwrap()), "soap:Client");
        assert_eq!(
            text(fault.child("faultstring").unwrap()),
            "line 3: <b> & \"c\" \u{FFFD} 西峰"
        );
        let code = fault
            .child("detail")
            .unwrap()
            .child("error")
            .unwrap()
            .child("code")
            .unwrap();
        assert_eq!(text(code), "payload.malformed");

        assert!(
            soap_fault("service.database_unavailable", "x")
                .contains("<faultcode>soap:Server</faultcode>")
        );
        assert!(
            soap_fault(CODE_VERSION, "x").contains("<faultcode>soap:VersionMismatch</faultcode>")
        );
        let mu = soap_fault(CODE_MUST_UNDERSTAND, "x");
        assert!(mu.contains("<faultcode>soap:MustUnderstand</faultcode>"));
        assert!(!mu.contains("<detail>"), "{mu}");
        assert_eq!(fault_code("auth.department"), "soap:Client");
    }

    /// The namespace the fault's root element is in.
    fn check_fault_ns(f: &str) -> Option<String> {
        let mut r = NsReader::from_reader(f.as_bytes());
        loop {
            match r.read_resolved_event().ok()? {
                (ResolveResult::Bound(Namespace(ns)), Event::Start(_)) => {
                    return Some(String::from_utf8_lossy(ns).into_owned());
                }
                (_, Event::Eof) => return None,
                _ => {}
            }
        }
    }
}
