//! What the adapter READMEs promise about the native formats: encodings, byte-order marks,
//! batch-level errors, per-record locations, full-width codes.

use adapters::{Adapter, DecodedRecord, PayloadError};
use serde_json::Value;

fn adapter(id: &str) -> std::sync::Arc<dyn Adapter> {
    adapters::by_id(id).unwrap()
}

fn decode(id: &str, bytes: &[u8]) -> Result<Vec<DecodedRecord>, PayloadError> {
    adapter(id).decode(bytes)
}

fn gbk(s: &str) -> Vec<u8> {
    encoding_rs::GBK.encode(s).0.into_owned()
}

/// One public-security record with the given applicant block.
fn ps_batch(decl: &str, sqr: &str) -> String {
    format!(
        "{decl}<GAJ_BJ_PACKAGE><HEAD><JLS>1</JLS></HEAD><BODY>\n<BJXX>\
         <SBLSH>GA-1</SBLSH><BBH>1</BBH><SXBM>GA-HJ-02</SXBM><XZQHDM>621022101000</XZQHDM>\
         <BLJG><MC>环县公安局曲子派出所</MC><TYSHXYDM>116210220139200114</TYSHXYDM></BLJG>\
         {sqr}<FSSJ>2026-11-21 15:00:00</FSSJ><JSSJ>2026-11-21 15:00:30</JSSJ><BLZT>0</BLZT>\
         <SFGK>1</SFGK></BJXX></BODY></GAJ_BJ_PACKAGE>"
    )
}

fn draft(r: &DecodedRecord) -> &Value {
    r.draft.as_ref().expect("mapped")
}

#[test]
fn ps_applicant_kind_code_accepts_full_width_digits() {
    for lx in ["2", "２", " 2 "] {
        let xml = ps_batch(
            "",
            &format!("<SQR><LX>{lx}</LX><XM>庆阳某公司</XM><ZJHM>91621002MA7100001H</ZJHM></SQR>"),
        );
        let recs = decode("public-security", xml.as_bytes()).unwrap();
        let ap = &draft(&recs[0])["applicant"];
        assert_eq!(ap["kind"], "organization", "LX {lx:?}");
        assert_eq!(ap["id_type"], "001", "LX {lx:?}");
    }
}

#[test]
fn ps_encodings() {
    let sqr = "<SQR><XM>王志强</XM><ZJHM>621022197809305666</ZJHM></SQR>";
    // UTF-8 without a declaration, with or without a BOM.
    let utf8 = ps_batch("", sqr);
    let with_bom = [b"\xEF\xBB\xBF".as_slice(), utf8.as_bytes()].concat();
    for bytes in [utf8.as_bytes().to_vec(), with_bom] {
        let recs = decode("public-security", &bytes).unwrap();
        assert_eq!(draft(&recs[0])["applicant"]["name"], "王志强");
    }
    // GBK, GB2312 and GB18030 declared in the prolog.
    for label in ["GBK", "gb2312", "GB18030"] {
        let xml = ps_batch(
            &format!("<?xml version=\"1.0\" encoding=\"{label}\"?>"),
            sqr,
        );
        let recs = decode("public-security", &gbk(&xml)).unwrap();
        assert_eq!(draft(&recs[0])["applicant"]["name"], "王志强", "{label}");
    }
    // GBK bytes without a declaration are read as UTF-8: the record, not the batch, fails.
    let recs = decode("public-security", &gbk(&ps_batch("", sqr))).unwrap();
    let errs = recs[0].draft.as_ref().unwrap_err();
    assert!(
        errs.iter().any(|e| e.code == "encoding.invalid"),
        "{errs:?}"
    );
    // A UTF-8 BOM contradicting a GBK declaration, UTF-16, unknown labels: the batch fails.
    let decl = "<?xml version=\"1.0\" encoding=\"GBK\"?>";
    let bom_gbk = [b"\xEF\xBB\xBF".as_slice(), &gbk(&ps_batch(decl, sqr))].concat();
    assert_eq!(
        decode("public-security", &bom_gbk).unwrap_err().code,
        "payload.encoding"
    );
    let utf16 = ps_batch("<?xml version=\"1.0\" encoding=\"UTF-16\"?>", sqr);
    assert_eq!(
        decode("public-security", utf16.as_bytes())
            .unwrap_err()
            .code,
        "payload.encoding"
    );
    let bogus = ps_batch("<?xml version=\"1.0\" encoding=\"x-nonsense\"?>", sqr);
    assert_eq!(
        decode("public-security", bogus.as_bytes())
            .unwrap_err()
            .code,
        "payload.encoding"
    );
    assert_eq!(
        decode("public-security", b"\xFF\xFE<\x00a\x00/\x00>\x00")
            .unwrap_err()
            .code,
        "payload.encoding"
    );
}

#[test]
fn ps_batch_errors() {
    let sqr = "<SQR><XM>王志强</XM><ZJHM>621022197809305666</ZJHM></SQR>";
    let ok = ps_batch("", sqr);
    let code = |s: &str| decode("public-security", s.as_bytes()).unwrap_err().code;
    let dtd = ok.replacen(
        "<GAJ_BJ_PACKAGE>",
        "<!DOCTYPE GAJ_BJ_PACKAGE [<!ENTITY x \"y\">]><GAJ_BJ_PACKAGE>",
        1,
    );
    assert_eq!(code(&dtd), "payload.dtd_forbidden");
    assert_eq!(
        code(&ok.replace("GAJ_BJ_PACKAGE", "PACKAGE")),
        "payload.malformed"
    );
    assert_eq!(code(&ok.replace("</BODY>", "")), "payload.malformed");
    assert_eq!(
        code(&ok.replace("<JLS>1</JLS>", "<JLS>2</JLS>")),
        "payload.count_mismatch"
    );
    assert_eq!(
        code(&ok.replace("<JLS>1</JLS>", "<JLS>one</JLS>")),
        "payload.count_mismatch"
    );
    // The count is a code: full-width digits are cleaned. Without JLS nothing is counted.
    let full_width = ok.replace("<JLS>1</JLS>", "<JLS>１</JLS>");
    assert_eq!(
        decode("public-security", full_width.as_bytes())
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        decode("public-security", ok.replace("<JLS>1</JLS>", "").as_bytes())
            .unwrap()
            .len(),
        1
    );
    let recs = decode("public-security", ok.as_bytes()).unwrap();
    assert_eq!(recs[0].location, "BJXX #1 (line 2)");
    assert_eq!(recs[0].case_no.as_deref(), Some("GA-1"));
}

#[test]
fn mr_encodings_and_batch_errors() {
    let batch = r#"{"sender": "x", "records": [{"caseNo": "ＡＢ－１", "version": "２"}, 7]}"#;
    let with_bom = [b"\xEF\xBB\xBF".as_slice(), batch.as_bytes()].concat();
    let recs = decode("market-regulation", &with_bom).unwrap();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[1].location, "records[1]");
    assert_eq!(recs[0].case_no.as_deref(), Some("AB-1"));
    let errs = recs[0].draft.as_ref().unwrap_err();
    assert!(!errs.iter().any(|e| e.path == "/version"), "{errs:?}");
    assert_eq!(
        recs[1].draft.as_ref().unwrap_err()[0].code,
        "record.not_object"
    );
    let code = |b: &[u8]| decode("market-regulation", b).unwrap_err().code;
    assert_eq!(
        code(&gbk(r#"{"records": [{"caseNo": "环县"}]}"#)),
        "payload.malformed"
    );
    assert_eq!(code(br#"{"sender": "x"}"#), "payload.malformed");
    assert_eq!(code(br#"[{"caseNo": "x"}]"#), "payload.malformed");
    assert_eq!(code(br#"{"records": {}}"#), "payload.malformed");
}
