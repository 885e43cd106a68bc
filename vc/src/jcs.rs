//! RFC 8785 JSON Canonicalization Scheme (JCS).
//!
//! eddsa-jcs-2022 signs the JCS form of a document, so two parties that serialize the same
//! JSON with different key order, whitespace or number spelling still hash the same bytes.
//! The rules (tests below): keys sorted by UTF-16 code units (so an astral-plane key such as
//! U+1F600, the surrogate pair D83D DE00, sorts *before* U+FB33), numbers printed the
//! ECMAScript way (`1e+30`, `4.5`, `0.002`, `-0` → `0`), and only the escapes the RFC allows.
//!
//! Two writers give the same bytes. Documents whose numbers are all integers of at most 2^53
//! in magnitude (every document the gateway signs, hashes or logs) are written straight into
//! one buffer ([`write_exact`]); anything else goes through `serde_json_canonicalizer`, which
//! handles IEEE-754 printing but buffers every member and re-parses every key to sort it
//! (it was 8 % of the node's CPU under ingest, in certificate signing alone).
//!
//! Numbers: JCS treats every number as an IEEE-754 double, and `serde_json` (without
//! `arbitrary_precision`) parses integers into `u64`/`i64` that the canonicalizer then turns
//! into `f64`. An integer above 2^53 therefore loses precision (9007199254740993 is
//! canonicalized as 9007199254740992). Identifiers such as resident identity numbers,
//! credit codes and serial numbers must be JSON *strings* in anything we sign.

use std::cmp::Ordering;
use std::io::Write;

use serde_json::{Map, Value};

use crate::VcError;
use crate::json::{JsonNode, View};

mod ser;
pub use ser::to_vec_exact;

/// The largest integer JCS prints exactly as written (2^53).
const SAFE: u64 = 1 << 53;

/// Returns the RFC 8785 canonical UTF-8 bytes of `v` (a `serde_json::Value` or a
/// [`crate::json::Json`]).
pub fn canonicalize<N: JsonNode>(v: &N) -> Result<Vec<u8>, VcError> {
    let mut out = Vec::with_capacity(1024);
    if write_exact(&mut out, v) {
        return Ok(out);
    }
    serde_json_canonicalizer::to_vec(v).map_err(|e| VcError::Jcs(e.to_string()))
}

/// The JCS bytes of the object with `members` without its member `skip`, and with the member
/// `set.0` set to `set.1` (replaced, or added): what Data Integrity hashes (the document
/// without its proof, under the proof's `@context`) without copying the document.
pub fn canonicalize_edited<'a, N: JsonNode>(
    members: Vec<(&'a str, &'a N)>,
    skip: &str,
    set: Option<(&'a str, &'a N)>,
) -> Result<Vec<u8>, VcError> {
    let mut entries: Vec<(&str, &N)> = members
        .into_iter()
        .filter(|(k, _)| *k != skip && set.is_none_or(|(name, _)| *k != name))
        .collect();
    entries.extend(set);
    entries.sort_unstable_by(|a, b| utf16_cmp(a.0, b.0));
    let mut out = Vec::with_capacity(1024);
    out.push(b'{');
    for (i, (k, v)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(&mut out, k);
        out.push(b':');
        if !write_exact(&mut out, *v) {
            // A number JCS reprints: the general writer, on a copy.
            let copy: Map<String, Value> = entries
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_value().into_owned()))
                .collect();
            return canonicalize(&Value::Object(copy));
        }
    }
    out.push(b'}');
    Ok(out)
}

/// Appends the JCS form of `v` to `out`, unless `v` holds a number other than an integer of at
/// most 2^53 in magnitude (JCS's IEEE-754 rules would reprint it): then false, and what was
/// appended is to be discarded.
pub fn write_exact<N: JsonNode>(out: &mut Vec<u8>, v: &N) -> bool {
    match v.view() {
        View::Null => out.extend_from_slice(b"null"),
        View::Bool(true) => out.extend_from_slice(b"true"),
        View::Bool(false) => out.extend_from_slice(b"false"),
        View::Number(n) => {
            let written = if let Some(u) = n.as_u64().filter(|u| *u <= SAFE) {
                write!(out, "{u}")
            } else if let Some(i) = n.as_i64().filter(|i| i.unsigned_abs() <= SAFE) {
                write!(out, "{i}")
            } else {
                return false;
            };
            written.expect("writing to a Vec cannot fail");
        }
        View::String(s) => write_string(out, s),
        View::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                if !write_exact(out, item) {
                    return false;
                }
            }
            out.push(b']');
        }
        View::Object(mut members) => {
            members.sort_unstable_by(|a, b| utf16_cmp(a.0, b.0));
            out.push(b'{');
            for (i, (k, v)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(out, k);
                out.push(b':');
                if !write_exact(out, v) {
                    return false;
                }
            }
            out.push(b'}');
        }
    }
    true
}

/// The members of an object in JCS order.
pub fn members(map: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_unstable_by(|a, b| utf16_cmp(a.0, b.0));
    entries
}

/// JCS strings are serde_json's: `"` and `\` escaped, \b \t \n \f \r, other controls as
/// `\u00xx` in lower case, everything else (DEL and `/` included) as it is.
pub fn write_string(out: &mut Vec<u8>, s: &str) {
    // Most strings need no escape at all: copied whole, without the serializer's byte table.
    if !needs_escape(s.as_bytes()) {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
}

/// Whether any byte of `b` is a control character, `"` or `\\`: eight bytes at a time (the
/// scan was two fifths of writing a record's canonical form, byte by byte).
fn needs_escape(b: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A byte of `x` is zero: its high bit in the result (exact as to whether any is).
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let mut words = b.chunks_exact(8);
    for w in &mut words {
        let x = u64::from_le_bytes(w.try_into().expect("eight bytes"));
        // Below 0x20: the same trick against 0x20 (bytes from 0x80 never set their bit).
        let control = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
        if control | zero(x ^ (ONES * u64::from(b'"'))) | zero(x ^ (ONES * u64::from(b'\\'))) != 0 {
            return true;
        }
    }
    words
        .remainder()
        .iter()
        .any(|&c| c < 0x20 || c == b'"' || c == b'\\')
}

/// RFC 8785 orders member names by their UTF-16 code units. UTF-8 byte order is code point
/// order, and agrees with UTF-16's unless the first characters that differ are both at or
/// beyond U+E000 (lead bytes 0xEE and up: a character beyond U+FFFF comes first in UTF-16 as
/// a surrogate pair). Names share their bytes up to that first difference, so it is read there.
fn utf16_cmp(a: &str, b: &str) -> Ordering {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    match x.iter().zip(y).position(|(p, q)| p != q) {
        None => x.len().cmp(&y.len()),
        Some(i) if x[i] < 0xEE || y[i] < 0xEE => x[i].cmp(&y[i]),
        Some(_) => a.encode_utf16().cmp(b.encode_utf16()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Number, json};

    /// The word-at-a-time scan finds what the byte-at-a-time one finds, at every position.
    #[test]
    fn escape_scan_as_byte_by_byte() {
        let plain = |b: &[u8]| b.iter().any(|&c| c < 0x20 || c == b'"' || c == b'\\');
        let fillers: [&[u8]; 4] = [b"a", "\u{e9}".as_bytes(), "\u{4e2d}".as_bytes(), b"\x7f"];
        for len in 0..40 {
            for filler in fillers {
                let base: Vec<u8> = filler.iter().copied().cycle().take(len).collect();
                assert!(!needs_escape(&base));
                for at in 0..len {
                    for c in [0u8, 0x1f, 0x20, b'"', b'\\', b'!', b'[', b']', 0x80, 0xff] {
                        let mut b = base.clone();
                        b[at] = c;
                        assert_eq!(needs_escape(&b), plain(&b), "{b:?}");
                    }
                }
            }
        }
    }

    /// The JCS text of `input`; where the direct writer applies, also checked against the
    /// crate's general writer.
    fn jcs_text(input: &str) -> String {
        let v: Value = serde_json::from_str(input).unwrap();
        let bytes = canonicalize(&v).unwrap();
        let mut direct = Vec::new();
        if write_exact(&mut direct, &v) {
            assert_eq!(direct, serde_json_canonicalizer::to_vec(&v).unwrap());
            assert_eq!(direct, bytes);
        }
        String::from_utf8(bytes).unwrap()
    }

    /// Both writers on what the gateway signs: nested objects, arrays, Chinese text, escapes,
    /// safe integers at the edges; floats and larger integers are left to the general one.
    #[test]
    fn direct_writer_agrees_with_the_general_one() {
        let docs = [
            json!({"@context": ["https://www.w3.org/ns/credentials/v2"], "type": ["VerifiableCredential"],
                   "credentialSubject": {"id": "did:key:z6Mk", "姓名": "张三", "序号": 7, "list": [[], {}, null]},
                   "validFrom": "2026-11-25T08:00:00Z", "n": [0, -1, 9007199254740992_u64, -9007199254740992_i64],
                   "esc": "\u{0}\u{1f}\u{7f}\"\\/\n\t\r\u{8}\u{c} é € 😀", "k\u{1}": true, "": false}),
            json!([{"\u{fb33}": 1, "\u{1f600}": 2, "\u{20ac}": 3, "\r": 4, "1": 5, "\u{80}": 6}]),
            json!("plain"),
            json!(42),
        ];
        for doc in docs {
            let mut direct = Vec::new();
            assert!(write_exact(&mut direct, &doc), "{doc}");
            assert_eq!(
                String::from_utf8(direct).unwrap(),
                String::from_utf8(serde_json_canonicalizer::to_vec(&doc).unwrap()).unwrap()
            );
        }
        for doc in [
            json!({"a": [1, 2.5]}),
            json!({"a": 9007199254740993_u64}),
            json!([-9007199254740993_i64]),
            json!(1e30),
        ] {
            assert!(!write_exact(&mut Vec::new(), &doc), "{doc}");
            assert_eq!(
                canonicalize(&doc).unwrap(),
                serde_json_canonicalizer::to_vec(&doc).unwrap()
            );
        }
    }

    /// Editing while writing gives the bytes of the edited copy: a member left out, one
    /// replaced, one added, and the general writer's path when a float is present.
    #[test]
    fn edited_objects_match_edited_copies() {
        let ctx = json!(["https://www.w3.org/ns/credentials/v2"]);
        for doc in [
            json!({"@context": "x", "b": {"z": 1, "a": [2]}, "proof": {"p": 1}, "é": "ü"}),
            json!({"b": 1, "proof": 2}),
            json!({"a": 2.5, "proof": true, "@context": null}),
        ] {
            let map = doc.as_object().unwrap();
            for set in [None, Some(("@context", &ctx))] {
                let mut copy = map.clone();
                copy.remove("proof");
                if let Some((name, value)) = set {
                    copy.insert(name.into(), value.clone());
                }
                assert_eq!(
                    canonicalize_edited(
                        map.iter().map(|(k, v)| (k.as_str(), v)).collect(),
                        "proof",
                        set
                    )
                    .unwrap(),
                    serde_json_canonicalizer::to_vec(&Value::Object(copy)).unwrap(),
                    "{doc} with {set:?}"
                );
            }
        }
    }

    fn jcs_f64(bits: u64) -> String {
        let n = Number::from_f64(f64::from_bits(bits)).unwrap();
        String::from_utf8(canonicalize(&Value::Number(n)).unwrap()).unwrap()
    }

    /// RFC 8785 section 3.2.2 (and the `values` test file): numbers, string escapes, literals.
    #[test]
    fn rfc8785_section_3_2_2_example() {
        let input = r#"{
          "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
          "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
          "literals": [null, true, false]
        }"#;
        let expected = "{\"literals\":[null,true,false],\
            \"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],\
            \"string\":\"\u{20ac}$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}";
        assert_eq!(jcs_text(input), expected);
        // The same as UTF-8 bytes, as given in the JCS test data (values.txt).
        let v: Value = serde_json::from_str(input).unwrap();
        assert_eq!(
            hex::encode(canonicalize(&v).unwrap()),
            "7b226c69746572616c73223a5b6e756c6c2c747275652c66616c73655d2c226e756d62657273223a5b\
             3333333333333333332e333333333333332c31652b33302c342e352c302e3030322c31652d32375d2c\
             22737472696e67223a22e282ac245c75303030665c6e4127425c225c5c5c5c5c222f227d"
        );
    }

    /// RFC 8785 section 3.2.3: properties sorted by UTF-16 code units, not code points.
    #[test]
    fn rfc8785_section_3_2_3_sorting() {
        let input = r#"{
          "\u20ac": "Euro Sign",
          "\r": "Carriage Return",
          "\ufb33": "Hebrew Letter Dalet With Dagesh",
          "1": "One",
          "\ud83d\ude00": "Emoji: Grinning Face",
          "\u0080": "Control",
          "\u00f6": "Latin Small Letter O With Diaeresis"
        }"#;
        let expected = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\
            \"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
            \"\u{1f600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
        assert_eq!(jcs_text(input), expected);
    }

    /// The JCS test data `weird.json`: control characters, DEL left unescaped, `</script>`.
    #[test]
    fn jcs_testdata_weird() {
        let input = r#"{
          "\u20ac": "Euro Sign",
          "\r": "Carriage Return",
          "\u000a": "Newline",
          "1": "One",
          "\u0080": "Control\u007f",
          "\ud83d\ude02": "Smiley",
          "\u00f6": "Latin Small Letter O With Diaeresis",
          "\ufb33": "Hebrew Letter Dalet With Dagesh",
          "</script>": "Browser Challenge"
        }"#;
        let v: Value = serde_json::from_str(input).unwrap();
        assert_eq!(
            hex::encode(canonicalize(&v).unwrap()),
            "7b225c6e223a224e65776c696e65222c225c72223a2243617272696167652052657475726e222c2231\
             223a224f6e65222c223c2f7363726970743e223a2242726f77736572204368616c6c656e6765222c22\
             c280223a22436f6e74726f6c7f222c22c3b6223a224c6174696e20536d616c6c204c6574746572204f\
             205769746820446961657265736973222c22e282ac223a224575726f205369676e222c22f09f988222\
             3a22536d696c6579222c22efacb3223a22486562726577204c65747465722044616c65742057697468\
             20446167657368227d"
        );
    }

    /// The JCS test data `structures.json`: nesting, empty key, case-sensitive order, 56.0.
    #[test]
    fn jcs_testdata_structures() {
        let input = r#"{
          "1": {"f": {"f": "hi","F": 5} ,"\n": 56.0},
          "10": { },
          "": "empty",
          "a": { },
          "111": [ {"e": "yes","E": "no" } ],
          "A": { }
        }"#;
        assert_eq!(
            jcs_text(input),
            r#"{"":"empty","1":{"\n":56,"f":{"F":5,"f":"hi"}},"10":{},"111":[{"E":"no","e":"yes"}],"A":{},"a":{}}"#
        );
    }

    /// RFC 8785 Appendix B: IEEE-754 bit patterns and their ECMAScript serialization.
    #[test]
    fn rfc8785_appendix_b_numbers() {
        let cases: &[(u64, &str)] = &[
            (0x0000000000000000, "0"),
            (0x8000000000000000, "0"), // minus zero
            (0x0000000000000001, "5e-324"),
            (0x8000000000000001, "-5e-324"),
            (0x7fefffffffffffff, "1.7976931348623157e+308"),
            (0xffefffffffffffff, "-1.7976931348623157e+308"),
            (0x4340000000000000, "9007199254740992"),
            (0xc340000000000000, "-9007199254740992"),
            (0x4430000000000000, "295147905179352830000"),
            (0x44b52d02c7e14af5, "9.999999999999997e+22"),
            (0x44b52d02c7e14af6, "1e+23"),
            (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
            (0x444b1ae4d6e2ef4e, "999999999999999700000"),
            (0x444b1ae4d6e2ef4f, "999999999999999900000"),
            (0x444b1ae4d6e2ef50, "1e+21"),
            (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
            (0x3eb0c6f7a0b5ed8d, "0.000001"),
            (0x41b3de4355555553, "333333333.3333332"),
            (0x41b3de4355555554, "333333333.33333325"),
            (0x41b3de4355555555, "333333333.3333333"),
            (0x41b3de4355555556, "333333333.3333334"),
            (0x41b3de4355555557, "333333333.33333343"),
            (0xbecbf647612f3696, "-0.0000033333333333333333"),
            (0x43143ff3c1cb0959, "1424953923781206.2"),
        ];
        for &(bits, want) in cases {
            assert_eq!(jcs_f64(bits), want, "bits {bits:016x}");
        }
    }

    /// The specific spellings the gateway cares about, parsed from JSON text.
    #[test]
    fn ecmascript_number_spellings() {
        assert_eq!(
            jcs_text("[1e30, 4.50, 2e-3, -0, -0.0, 1E+2, 100.0, 1e21, 1e-7]"),
            "[1e+30,4.5,0.002,0,0,100,100,1e+21,1e-7]"
        );
    }

    /// Integers above 2^53 are rounded to a double: identifiers must be strings.
    #[test]
    fn large_integers_lose_precision() {
        assert_eq!(jcs_text("9007199254740993"), "9007199254740992");
        assert_eq!(jcs_text(r#""9007199254740993""#), r#""9007199254740993""#);
        assert_eq!(
            canonicalize(&json!(u64::MAX)).unwrap(),
            b"18446744073709552000"
        );
    }

    /// Astral-plane keys sort by their surrogates: U+1F600 (D83D …) before U+FFFF.
    #[test]
    fn astral_key_sorts_before_high_bmp_key() {
        let v = json!({"\u{ffff}": 1, "\u{1f600}": 2, "\u{e000}": 3, "z": 4});
        assert_eq!(
            String::from_utf8(canonicalize(&v).unwrap()).unwrap(),
            "{\"z\":4,\"\u{1f600}\":2,\"\u{e000}\":3,\"\u{ffff}\":1}"
        );
    }

    /// The byte comparison agrees with comparing UTF-16 code units on every pair of names
    /// built from characters on both sides of each boundary it relies on.
    #[test]
    fn name_order_is_utf16_order() {
        let chars = [
            "",
            "a",
            "z",
            "\u{7f}",
            "é",
            "\u{7ff}",
            "\u{800}",
            "中",
            "\u{d7ff}",
            "\u{e000}",
            "\u{efff}",
            "\u{f000}",
            "\u{ffff}",
            "\u{10000}",
            "😀",
            "\u{10ffff}",
        ];
        let mut names = Vec::new();
        for a in chars {
            for b in chars {
                names.push(format!("{a}{b}"));
                names.push(format!("k{a}x{b}"));
            }
        }
        for a in &names {
            for b in &names {
                let expected = a.encode_utf16().cmp(b.encode_utf16());
                assert_eq!(utf16_cmp(a, b), expected, "{a:?} vs {b:?}");
            }
        }
    }
}
