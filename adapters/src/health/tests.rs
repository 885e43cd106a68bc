//! The health adapter on hand-made messages: separators, escapes, character sets, batches,
//! MLLP frames, per-message problems.

use super::*;

/// One message, segments separated by CR, with the given MSH-18 and ZCS/ZBC overrides.
struct Msg {
    charset: &'static str,
    control: &'static str,
    pid_name: String,
    zcs: String,
    zbc: Option<String>,
    extra: String,
}

impl Default for Msg {
    fn default() -> Self {
        Msg {
            charset: "UNICODE UTF-8",
            control: "XF0001",
            pid_name: "王^小宝".into(),
            zcs: "ZCS|WJ-XF-20261118-0001|WJ-CSZM-01^出生医学证明||1|621002000000|庆阳市西峰区妇幼保健院^12621002MB1920036A|CMP|20261118090000|20261118090100|20261118091000|20261118100000|20261118102000|5|A|准予签发|N|涉及个人隐私".into(),
            zbc: Some("ZBC|1|11100000000018656X001^出生医学证明|Q621001234|庆阳市西峰区妇幼保健院^12621002MB1920036A|20261118|20261118||1.2.156.3005.2.11100000000018656X001.12621002MB1920036A.Q621001234.001.P|庆阳市西峰区妇幼保健院|39+2|3350|50".into()),
            extra: String::new(),
        }
    }
}

impl Msg {
    fn text(&self) -> String {
        let mut segs = vec![
            format!(
                "MSH|^~\\&|FYXT^妇幼保健信息系统|XFFY^西峰区妇幼保健院|EXGW|QYS|20261118103000+0800||ZBC^Z01^ZBC_Z01|{}|P|2.5|||AL|NE|CHN|{}",
                self.control, self.charset
            ),
            "EVN|Z01|20261118102955+0800".into(),
            format!(
                "PID|1||621022202611120010^^^^NNCHN~XF-0001^^^XFFY^MR||{}||20261112083500+0800|M{}西峰区妇幼保健院",
                self.pid_name,
                "|".repeat(15)
            ),
            format!(
                "NK1|1|李^娟|MTH^母亲^HL70063|西峰区南街18号^^庆阳市^甘肃省|13893412345{}621002199203151221^^^^NNCHN",
                "|".repeat(28)
            ),
            "NK1|2|王^强|FTH^父亲^HL70063".into(),
            self.zcs.clone(),
            "ZST|1|受理|张敏|受理|材料齐全|20261118091000".into(),
        ];
        segs.extend(self.zbc.clone());
        if !self.extra.is_empty() {
            segs.push(self.extra.clone());
        }
        segs.join("\r") + "\r"
    }
}

fn decode(bytes: &[u8]) -> Vec<DecodedRecord> {
    Health.decode(bytes).unwrap()
}

fn errors(r: &DecodedRecord) -> Vec<(String, String)> {
    r.draft
        .as_ref()
        .expect_err("record should be rejected")
        .iter()
        .map(|e| (e.path.clone(), e.code.clone()))
        .collect()
}

fn pair(path: &str, code: &str) -> (String, String) {
    (path.into(), code.into())
}

#[test]
fn a_message_maps_to_a_draft() {
    let recs = decode(Msg::default().text().as_bytes());
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!(r.location, "message 1 (MSH-10 control id XF0001)");
    assert_eq!(r.case_no.as_deref(), Some("WJ-XF-20261118-0001"));
    let d = r.draft.as_ref().unwrap();
    // EVN-2 2026-11-18T10:29:55+08:00 in milliseconds.
    assert_eq!(d["version"], 1_794_968_995_000_i64);
    assert_eq!(d["service_item"]["local"]["code"], "WJ-CSZM-01");
    assert_eq!(d["service_item"]["case_kind"], "immediate");
    assert_eq!(d["applicant"]["name"], "李娟");
    assert_eq!(d["applicant"]["id_type"], "111");
    assert_eq!(d["applicant"]["address"], "甘肃省庆阳市西峰区南街18号");
    assert_eq!(d["timestamps"]["completed"], "2026-11-18T10:20:00+08:00");
    assert_eq!(d["status"], "completed");
    assert_eq!(d["process_steps"][0]["opinion"], "材料齐全");
    let c = &d["result"]["certificates"][0];
    assert_eq!(c["holder"]["name"], "王小宝");
    assert_eq!(c["holder"]["code"], "621022202611120010");
    assert_eq!(c["holder"]["code_type"], "111");
    assert_eq!(c["surface"]["出生时间"], "2026年11月12日08时35分");
    assert_eq!(c["surface"]["性别"], "男");
    assert_eq!(c["surface"]["母亲姓名"], "李娟");
    assert_eq!(c["surface"]["父亲姓名"], "王强");
    assert_eq!(c["surface"]["出生孕周"], "39+2");
    assert_eq!(
        d["disclosure"],
        json!({"public": false, "reason_not_public": "涉及个人隐私"})
    );
    assert_eq!(r.raw, Msg::default().text().trim_end().as_bytes());
}

#[test]
fn escapes_and_odd_separators() {
    let msg = Msg {
        pid_name: r"王^小\T\宝".into(),
        zcs: Msg::default()
            .zcs
            .replace("准予签发", r"准予\F\签发\.br\第二行\X41\"),
        ..Msg::default()
    };
    let recs = decode(msg.text().as_bytes());
    let d = recs[0].draft.as_ref().unwrap();
    assert_eq!(d["result"]["text"], "准予|签发\n第二行A");
    assert_eq!(d["result"]["certificates"][0]["holder"]["name"], "王小&宝");

    // The same message written with other separators: # field, $ component, * repetition,
    // ! escape, @ subcomponent.
    let odd: String = Msg::default()
        .text()
        .chars()
        .map(|c| match c {
            '|' => '#',
            '^' => '$',
            '~' => '*',
            '\\' => '!',
            '&' => '@',
            c => c,
        })
        .collect();
    let recs = decode(odd.as_bytes());
    let d2 = recs[0].draft.as_ref().unwrap();
    let d1 = decode(Msg::default().text().as_bytes())[0]
        .draft
        .clone()
        .unwrap();
    assert_eq!(d2, &d1);

    // A bad escape fails its field only.
    let msg = Msg {
        zcs: Msg::default().zcs.replace("准予签发", r"准予\Cxx\签发"),
        ..Msg::default()
    };
    assert_eq!(
        errors(&decode(msg.text().as_bytes())[0]),
        [pair("/result/text", "encoding.invalid")]
    );
}

#[test]
fn charsets_from_msh18() {
    // GB 18030 with names whose trail bytes are '|' (億) and '\' (乗).
    let msg = Msg {
        charset: "GB 18030-2000",
        pid_name: "王^億乗".into(),
        ..Msg::default()
    };
    let bytes = encoding_rs::GB18030.encode(&msg.text()).0.into_owned();
    assert!(bytes.windows(2).any(|w| w == [0x83, 0x7C]));
    let recs = decode(&bytes);
    let d = recs[0].draft.as_ref().unwrap();
    assert_eq!(d["result"]["certificates"][0]["holder"]["name"], "王億乗");
    assert_eq!(recs[0].raw, bytes.trim_ascii_end());

    // 8859/1 and plain ASCII.
    let latin = Msg {
        charset: "8859/1",
        pid_name: "Müller^Zoé".into(),
        zcs: Msg::default()
            .zcs
            .replace("出生医学证明", "x")
            .replace("庆阳市西峰区妇幼保健院", "FY")
            .replace("准予签发", "ok")
            .replace("涉及个人隐私", "p"),
        zbc: None,
        ..Msg::default()
    };
    let text = latin
        .text()
        .replace("李^娟", "Li^Juan")
        .replace("王^强", "W^Q")
        .replace("妇幼保健信息系统", "FY")
        .replace("西峰区妇幼保健院", "FY")
        .replace("甘肃省", "GS")
        .replace("庆阳市", "QY")
        .replace("西峰区南街18号", "S")
        .replace("受理", "A")
        .replace("张敏", "Z")
        .replace("母亲", "M")
        .replace("父亲", "F")
        .replace("材料齐全", "ok");
    let bytes: Vec<u8> = text.chars().map(|c| c as u32 as u8).collect();
    let recs = decode(&bytes);
    assert!(recs[0].draft.is_ok(), "{:?}", recs[0].draft);
    let ascii = text.replace("|8859/1", "|").replace("Müller^Zoé", "M^Z");
    let r = &decode(ascii.as_bytes())[0];
    assert!(r.draft.is_ok(), "{:?}", r.draft);
    // Non-ASCII bytes in an ASCII message (MSH-18 empty): encoding.invalid where they are.
    let bad_ascii = ascii.replace("Li^Juan", "李^娟");
    assert_eq!(
        errors(&decode(bad_ascii.as_bytes())[0]),
        [pair("/applicant/name", "encoding.invalid")]
    );

    // Undecodable bytes in a GB 18030 message: only the field that holds them.
    let msg = Msg {
        charset: "GB 18030-2000",
        ..Msg::default()
    };
    let text = msg.text().replace("李^娟", "李^@@");
    let mut bytes = encoding_rs::GB18030.encode(&text).0.into_owned();
    let at = bytes.windows(2).position(|w| w == b"@@").unwrap();
    bytes[at] = 0x81; // a lead byte followed by '@' (0x40 is a valid trail byte)...
    bytes[at + 1] = 0x7F; // ...but 0x7F is not
    let recs = decode(&bytes);
    let errs = errors(&recs[0]);
    assert!(
        errs.contains(&pair("/applicant/name", "encoding.invalid")),
        "{errs:?}"
    );

    // Bad bytes in a field no mapping reads still refuse the record.
    let text = msg.text().replace("FYXT^妇幼保健信息系统", "FYXT^@");
    let mut bytes = encoding_rs::GB18030.encode(&text).0.into_owned();
    let at = bytes.iter().position(|&b| b == b'@').unwrap();
    bytes[at] = 0xFF;
    assert_eq!(errors(&decode(&bytes)[0]), [pair("", "encoding.invalid")]);

    // Unknown and non-ASCII-compatible character sets.
    for cs in ["EBCDIC", "UNICODE UTF-16"] {
        let msg = Msg {
            charset: cs,
            ..Msg::default()
        };
        assert_eq!(
            errors(&decode(msg.text().as_bytes())[0]),
            [pair("", "encoding.invalid")]
        );
    }

    // A UTF-8 byte-order mark is fine before a UTF-8 message, not before a GB 18030 one.
    let with_bom = [b"\xEF\xBB\xBF".as_slice(), Msg::default().text().as_bytes()].concat();
    assert!(decode(&with_bom)[0].draft.is_ok());
    let gb = Msg {
        charset: "GB 18030-2000",
        ..Msg::default()
    };
    let with_bom = [
        b"\xEF\xBB\xBF".as_slice(),
        &encoding_rs::GB18030.encode(&gb.text()).0,
    ]
    .concat();
    assert_eq!(
        errors(&decode(&with_bom)[0]),
        [pair("", "encoding.invalid")]
    );
}

#[test]
fn batches_plain_with_any_line_ends_and_mllp() {
    let a = Msg::default().text();
    let b = Msg {
        control: "XF0002",
        ..Msg::default()
    }
    .text();
    for payload in [
        format!("{a}{b}"),
        format!("{a}\n\n{b}"),
        format!(
            "{}\r\n\r\n{}",
            a.replace('\r', "\r\n"),
            b.replace('\r', "\n")
        ),
        format!("FHS|^~\\&\rBHS|^~\\&\r{a}{b}BTS|2\rFTS|1\r"),
    ] {
        let recs = decode(payload.as_bytes());
        assert_eq!(recs.len(), 2, "{payload:?}");
        assert_eq!(recs[1].location, "message 2 (MSH-10 control id XF0002)");
        assert!(recs.iter().all(|r| r.draft.is_ok()));
        assert!(recs[0].raw.starts_with(b"MSH|") && recs[0].raw.ends_with(b"|50"));
    }
    let framed = [mllp::frame(a.as_bytes()), mllp::frame(b.as_bytes())].concat();
    let recs = decode(&framed);
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].raw, a.trim_end().as_bytes());

    let e = Health
        .decode(format!("FHS|^~\\&\rBHS|^~\\&\r{a}{b}BTS|3\r").as_bytes())
        .unwrap_err();
    assert_eq!(e.code, "payload.count_mismatch");
    for bad in [
        b"".to_vec(),
        b"\r\n".to_vec(),
        b"PID|1\rMSH|^~\\&|".to_vec(),
        b"hello".to_vec(),
        [&mllp::frame(a.as_bytes())[..], b"\x0bMSH|"].concat(),
    ] {
        assert_eq!(
            Health.decode(&bad).unwrap_err().code,
            "payload.malformed",
            "{bad:?}"
        );
    }
}

#[test]
fn one_bad_message_does_not_sink_the_others() {
    let good = Msg::default().text();
    let adt = good.replace("ZBC^Z01^ZBC_Z01", "ADT^A01^ADT_A01");
    let v3 = good.replace("|P|2.5|", "|P|3.0|");
    let broken = good.replace("MSH|^~\\&|", "MSH|^~|");
    let payload = format!("{good}{adt}{v3}{broken}{good}");
    let recs = decode(payload.as_bytes());
    assert_eq!(recs.len(), 5);
    assert!(recs[0].draft.is_ok() && recs[4].draft.is_ok());
    assert_eq!(errors(&recs[1]), [pair("", "record.message_type")]);
    assert_eq!(errors(&recs[2]), [pair("", "record.malformed")]);
    assert_eq!(errors(&recs[3]), [pair("", "record.malformed")]);
    assert_eq!(recs[3].location, "message 4");
}

#[test]
fn per_field_problems() {
    let zcs = Msg::default()
        .zcs
        .replace("|CMP|", "|DONE|")
        .replace("20261118090000", "2026-11-18")
        .replace("|621002000000|", "||");
    let msg = Msg {
        zcs,
        extra: "ZHD|1||20261118093000".into(),
        ..Msg::default()
    };
    let text = msg.text().replace("EVN|Z01|20261118102955+0800\r", "");
    let recs = decode(text.as_bytes());
    assert_eq!(
        errors(&recs[0]),
        [
            pair("/version", "field.missing"),
            pair("/region_code", "field.missing"),
            pair("/timestamps/occurred", "datetime.format"),
            pair("/status", "code.unknown"),
            pair("/holds/0/reason", "field.missing"),
        ]
    );
    // No ZCS at all; full-width digits are cleaned.
    let text = Msg::default().text();
    let no_zcs: String = text
        .split('\r')
        .filter(|s| !s.starts_with("ZCS"))
        .collect::<Vec<_>>()
        .join("\r");
    assert_eq!(
        errors(&decode(no_zcs.as_bytes())[0]),
        [pair("", "field.missing")]
    );
    let wide = text.replace("|621002000000|", "|６２１００２　０００ ０００|");
    assert_eq!(
        decode(wide.as_bytes())[0].draft.as_ref().unwrap()["region_code"],
        "621002000000"
    );
}

#[test]
fn holder_without_identity_number_uses_the_certificate_number() {
    let text = Msg::default()
        .text()
        .replace("621022202611120010^^^^NNCHN~", "");
    let d = decode(text.as_bytes())[0].draft.clone().unwrap();
    let h = &d["result"]["certificates"][0]["holder"];
    assert_eq!(h["code"], "Q621001234");
    assert_eq!(h["code_type"], "990");
}

#[test]
fn ack_for_a_decoded_record() {
    let recs = decode(Msg::default().text().as_bytes());
    let msh = Msh::parse(&recs[0].raw).unwrap();
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-18T10:30:05+08:00").unwrap();
    let a = ack_at(&msh, AckCode::AA, "", &[], at, "A1");
    let framed = mllp::frame(&msh.encode(&a));
    assert_eq!(framed[0], mllp::START);
    assert!(framed.ends_with(&[mllp::END, mllp::CR]));
    assert!(a.contains("\rMSA|AA|XF0001\r"));
}

/// A record's location names the MSH-10 that `Msh::parse` reads (the ACK's), whether the
/// message was read whole or not: the fixtures' batches, and messages with escaped, empty,
/// repeated or component control ids in every character set.
#[test]
fn the_location_names_the_control_id_the_ack_reads() {
    let fixture = |f: &str| {
        std::fs::read(format!(
            "{}/fixtures/health/{f}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    };
    let mut payloads = vec![fixture("batch-valid.hl7"), fixture("batch-mixed.hl7")];
    for charset in [
        "UNICODE UTF-8",
        "GB 18030-2000",
        "8859/1",
        "ASCII",
        "EBCDIC",
    ] {
        for control in ["XF0001", "", "X\\F\\1^2", "A~B", "  ", "控制号"] {
            let msg = Msg {
                charset,
                control,
                ..Msg::default()
            };
            payloads.push(msg.text().into_bytes());
            payloads.push(encoding_rs::GB18030.encode(&msg.text()).0.into_owned());
        }
    }
    let mut read_whole = 0;
    for payload in payloads {
        for (i, r) in decode(&payload).iter().enumerate() {
            let expected = match Msh::parse(&r.raw).ok().map(|m| m.control_id) {
                Some(id) if !id.trim().is_empty() => {
                    format!("message {} (MSH-10 control id {id})", i + 1)
                }
                _ => format!("message {}", i + 1),
            };
            assert_eq!(r.location, expected);
            read_whole += usize::from(r.draft.is_ok());
        }
    }
    assert!(read_whole > 10, "{read_whole} messages read whole");
}
