//! HL7 original-mode acknowledgements (ACK: MSH + MSA [+ ERR]) for the gateway's MLLP listener:
//! `AA` accepted, `AE` error (the message was read but refused: a per-record problem), `AR`
//! reject (the message could not be processed at all: unreadable header, unsupported message
//! type, the node unavailable).

use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, FixedOffset, Utc};
use domain::FieldError;

use super::hl7::{self, Charset, Message, Separators};
use crate::common::beijing;

/// MSA-1 acknowledgment code (HL7 table 0008, original mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckCode {
    /// Application Accept.
    AA,
    /// Application Error.
    AE,
    /// Application Reject.
    AR,
}

impl AckCode {
    pub fn as_str(self) -> &'static str {
        match self {
            AckCode::AA => "AA",
            AckCode::AE => "AE",
            AckCode::AR => "AR",
        }
    }
}

/// What an acknowledgement needs from an incoming message's MSH, unescaped. Readable even when
/// the rest of the message is not (the header is decoded leniently: it is only echoed back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msh {
    /// MSH-3, MSH-4, MSH-5, MSH-6 (HD: components).
    pub sending_application: Vec<String>,
    pub sending_facility: Vec<String>,
    pub receiving_application: Vec<String>,
    pub receiving_facility: Vec<String>,
    /// MSH-9 components: message code, trigger event, structure.
    pub message_type: Vec<String>,
    /// MSH-10.
    pub control_id: String,
    /// MSH-11.1 (`P`, `T`, `D`).
    pub processing_id: String,
    /// MSH-12.1.
    pub version: String,
    /// MSH-18 (first repetition, first component) as sent; empty means ASCII.
    pub charset_label: String,
    /// The character set MSH-18 names, if known.
    pub charset: Option<Charset>,
}

impl Msh {
    /// Read the MSH segment at the start of one message (its bytes as received; leading white
    /// space and a UTF-8 byte-order mark are skipped).
    pub fn parse(message: &[u8]) -> Result<Msh, String> {
        let start = message
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(message.len());
        let bytes = &message[start..];
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let (label, charset) = match hl7::detect_charset(bytes) {
            Ok((label, cs)) => (label, Some(cs)),
            Err(hl7::CharsetError::NoMsh) => {
                return Err("the message does not start with MSH".into());
            }
            Err(hl7::CharsetError::Malformed(why)) => return Err(why),
            Err(hl7::CharsetError::Unsupported(l) | hl7::CharsetError::Inconsistent(l)) => {
                (l, None)
            }
        };
        let line_end = bytes
            .iter()
            .position(|&b| b == b'\r' || b == b'\n')
            .unwrap_or(bytes.len());
        let line = charset
            .unwrap_or(Charset::Other(encoding_rs::UTF_8))
            .decode_lossy(&bytes[..line_end]);
        let m = Message::parse(&line)?;
        let msh = m.msh();
        let comps = |n: usize| -> Vec<String> {
            let raw = m.repetitions(msh.field(n)).first().copied().unwrap_or("");
            if raw.is_empty() {
                return Vec::new();
            }
            raw.split(m.seps.component)
                .map(|c| {
                    m.seps
                        .unescape(c, charset.unwrap_or(Charset::Ascii))
                        .unwrap_or_else(|_| c.to_owned())
                })
                .collect()
        };
        let first = |n: usize| comps(n).into_iter().next().unwrap_or_default();
        Ok(Msh {
            sending_application: comps(3),
            sending_facility: comps(4),
            receiving_application: comps(5),
            receiving_facility: comps(6),
            message_type: comps(9),
            control_id: first(10),
            processing_id: first(11),
            version: first(12),
            charset_label: label,
            charset,
        })
    }

    /// Encode an acknowledgement built for this message in the message's character set (ASCII
    /// when that is unknown); characters it cannot represent become `?`.
    pub fn encode(&self, ack: &str) -> Vec<u8> {
        self.charset.unwrap_or(Charset::Ascii).encode(ack)
    }
}

/// HL7 table 0357 (message error condition codes, v2.5) for a stable error code of the
/// gateway: (code, text).
pub fn hl7_error_code(code: &str) -> (&'static str, &'static str) {
    match code {
        "field.missing" | "schema.required" => ("101", "Required field missing"),
        "record.message_type" => ("200", "Unsupported message type"),
        "record.malformed" => ("100", "Segment sequence error"),
        "version_conflict" | "duplicate" => ("205", "Duplicate key identifier"),
        c if c == "code.unknown" || c.ends_with(".unknown") => ("103", "Table value not found"),
        c if c.ends_with(".format")
            || c.ends_with(".check_digit")
            || c.ends_with(".birth_date")
            || c == "encoding.invalid"
            || c.starts_with("schema.") =>
        {
            ("102", "Data type error")
        }
        _ => ("207", "Application internal error"),
    }
}

fn hd(seps: &Separators, comps: &[String]) -> String {
    comps
        .iter()
        .map(|c| seps.escape(c))
        .collect::<Vec<_>>()
        .join(&seps.component.to_string())
}

/// An acknowledgement of `incoming`, written with the standard separators `|^~\&`, segments
/// terminated by CR:
///
/// - MSH: sender and receiver swapped from the incoming MSH-3..6, MSH-7 = `at`, MSH-9 =
///   `ACK^{incoming trigger}^ACK`, MSH-10 = `control_id`, MSH-11 echoed (default `P`),
///   MSH-12 `2.5`, MSH-18 echoed when it names a known character set;
/// - MSA: `code`, the incoming control id, and `text` (MSA-3, kept for v2.3 receivers);
/// - one ERR per error: ERR-3 the table 0357 code, ERR-4 severity `E`, ERR-5 the gateway's
///   stable code (coding system `99EXG`), ERR-8 `{path}: {message}`. For an AE or AR without
///   errors but with a text, one ERR with 207 and the text.
///
/// Pure; the listener encodes it with [`Msh::encode`] and frames it with
/// [`super::mllp::frame`].
pub fn ack_at(
    incoming: &Msh,
    code: AckCode,
    text: &str,
    errors: &[FieldError],
    at: DateTime<FixedOffset>,
    control_id: &str,
) -> String {
    let s = Separators::default();
    let trigger = incoming.message_type.get(1).map_or("", String::as_str);
    let charset = if incoming.charset.is_some() {
        incoming.charset_label.as_str()
    } else {
        ""
    };
    let processing = if incoming.processing_id.is_empty() {
        "P"
    } else {
        incoming.processing_id.as_str()
    };
    let mut out = format!(
        "MSH|^~\\&|{}|{}|{}|{}|{}||ACK^{}^ACK|{}|{}|2.5{}\r",
        hd(&s, &incoming.receiving_application),
        hd(&s, &incoming.receiving_facility),
        hd(&s, &incoming.sending_application),
        hd(&s, &incoming.sending_facility),
        hl7::format_dtm(&at),
        s.escape(trigger),
        s.escape(control_id),
        s.escape(processing),
        if charset.is_empty() {
            String::new()
        } else {
            format!("||||||{}", s.escape(charset))
        },
    );
    out.push_str(&format!(
        "MSA|{}|{}{}\r",
        code.as_str(),
        s.escape(&incoming.control_id),
        if text.is_empty() {
            String::new()
        } else {
            format!("|{}", s.escape(text))
        }
    ));
    for e in errors {
        let (hl7_code, hl7_text) = hl7_error_code(&e.code);
        let user = if e.path.is_empty() {
            e.message.clone()
        } else {
            format!("{}: {}", e.path, e.message)
        };
        out.push_str(&format!(
            "ERR||||{hl7_code}^{hl7_text}^HL70357|E|{}^^99EXG|||{}\r",
            s.escape(&e.code),
            s.escape(&user)
        ));
    }
    if errors.is_empty() && code != AckCode::AA && !text.is_empty() {
        out.push_str(&format!(
            "ERR||||207^Application internal error^HL70357|E||||{}\r",
            s.escape(text)
        ));
    }
    out
}

static SEQUENCE: AtomicU32 = AtomicU32::new(0);

/// [`ack_at`] now (Beijing time), with a fresh control id `A` + `yyMMddHHmmss` + a 4-digit
/// sequence (17 characters: within the 20 of MSH-10 in v2.5), and no field errors.
pub fn ack(incoming: &Msh, code: AckCode, text: &str) -> String {
    let now = Utc::now().with_timezone(&beijing());
    let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed) % 10_000;
    let id = format!("A{}{seq:04}", now.format("%y%m%d%H%M%S"));
    ack_at(incoming, code, text, &[], now, &id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const IN: &str = "MSH|^~\\&|FYXT^妇幼保健信息系统|XFFY^西峰区妇幼保健院|EXGW|QYS|20261118103000+0800||ZBC^Z01^ZBC_Z01|XF0001|P|2.5|||AL|NE|CHN|UNICODE UTF-8\rEVN|Z01|20261118103000\r";

    fn at() -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339("2026-11-18T10:30:05+08:00").unwrap()
    }

    #[test]
    fn header_of_the_incoming_message() {
        let m = Msh::parse(IN.as_bytes()).unwrap();
        assert_eq!(m.sending_application, ["FYXT", "妇幼保健信息系统"]);
        assert_eq!(m.receiving_facility, ["QYS"]);
        assert_eq!(m.message_type, ["ZBC", "Z01", "ZBC_Z01"]);
        assert_eq!(m.control_id, "XF0001");
        assert_eq!(m.version, "2.5");
        assert_eq!(m.charset, Some(Charset::Other(encoding_rs::UTF_8)));
        // Odd separators, escapes in the header, a GB 18030 message.
        let odd = "MSH#$*!@#A!F!B#F##\r".to_owned();
        let m = Msh::parse(odd.as_bytes()).unwrap();
        assert_eq!(m.sending_application, ["A#B"]);
        assert_eq!(m.charset, Some(Charset::Ascii));
        let gb = encoding_rs::GB18030
            .encode(&IN.replace("UNICODE UTF-8", "GB 18030-2000"))
            .0
            .into_owned();
        let m = Msh::parse(&gb).unwrap();
        assert_eq!(m.sending_facility, ["XFFY", "西峰区妇幼保健院"]);
        assert!(Msh::parse(b"PID|1").is_err());
        assert!(Msh::parse(b"MSH|^~").is_err());
    }

    #[test]
    fn accept_ack() {
        let m = Msh::parse(IN.as_bytes()).unwrap();
        let a = ack_at(&m, AckCode::AA, "", &[], at(), "A0001");
        assert_eq!(
            a,
            "MSH|^~\\&|EXGW|QYS|FYXT^妇幼保健信息系统|XFFY^西峰区妇幼保健院|20261118103005+0800||ACK^Z01^ACK|A0001|P|2.5||||||UNICODE UTF-8\r\
             MSA|AA|XF0001\r"
        );
        // It is itself a message this module can read.
        let back = Msh::parse(a.as_bytes()).unwrap();
        assert_eq!(back.message_type, ["ACK", "Z01", "ACK"]);
        assert_eq!(back.receiving_application, ["FYXT", "妇幼保健信息系统"]);
    }

    #[test]
    fn error_acks_carry_err_segments() {
        let m = Msh::parse(IN.as_bytes()).unwrap();
        let errors = [
            FieldError::new("/applicant/name", "field.missing", "NK1-2 is required"),
            FieldError::new("/status", "code.unknown", "ZCS-7 'X|Y' is not in the table"),
        ];
        let a = ack_at(&m, AckCode::AE, "2 problems", &errors, at(), "A0002");
        let segs: Vec<&str> = a.trim_end_matches('\r').split('\r').collect();
        assert_eq!(segs[1], "MSA|AE|XF0001|2 problems");
        assert_eq!(
            segs[2],
            "ERR||||101^Required field missing^HL70357|E|field.missing^^99EXG|||/applicant/name: NK1-2 is required"
        );
        assert_eq!(
            segs[3],
            "ERR||||103^Table value not found^HL70357|E|code.unknown^^99EXG|||/status: ZCS-7 'X\\F\\Y' is not in the table"
        );
        let r = ack_at(&m, AckCode::AR, "database unavailable", &[], at(), "A0003");
        assert!(r.contains("MSA|AR|XF0001|database unavailable\r"));
        assert!(r.ends_with(
            "ERR||||207^Application internal error^HL70357|E||||database unavailable\r"
        ));
    }

    #[test]
    fn acks_now_and_encoded() {
        let gb_in = IN.replace("UNICODE UTF-8", "GB 18030-2000");
        let m = Msh::parse(&encoding_rs::GB18030.encode(&gb_in).0).unwrap();
        let a1 = ack(&m, AckCode::AA, "");
        let a2 = ack(&m, AckCode::AA, "");
        let id = |a: &str| Msh::parse(a.as_bytes()).unwrap().control_id;
        assert_eq!(id(&a1).len(), 17);
        assert_ne!(id(&a1), id(&a2));
        let bytes = m.encode(&a1);
        assert_eq!(encoding_rs::GB18030.decode(&bytes).0, a1);
        // Unknown character set: the ACK is ASCII and says nothing in MSH-18.
        let unknown = Msh::parse(IN.replace("UNICODE UTF-8", "EBCDIC").as_bytes()).unwrap();
        assert_eq!(unknown.charset, None);
        let a = ack_at(&unknown, AckCode::AR, "", &[], at(), "A9");
        assert!(a.contains("|ACK^Z01^ACK|A9|P|2.5\r"), "{a}");
        let bytes = unknown.encode(&a);
        assert!(bytes.is_ascii());
        assert!(bytes.starts_with(b"MSH|^~\\&|EXGW|QYS|FYXT^????????|"));
    }

    #[test]
    fn error_code_table() {
        assert_eq!(hl7_error_code("datetime.format").0, "102");
        assert_eq!(hl7_error_code("id_number.check_digit").0, "102");
        assert_eq!(hl7_error_code("service_item.unknown").0, "103");
        assert_eq!(hl7_error_code("service_item.suspended").0, "207");
        assert_eq!(hl7_error_code("version_conflict").0, "205");
        assert_eq!(hl7_error_code("record.message_type").0, "200");
    }
}
