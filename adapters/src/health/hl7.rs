//! HL7 v2 message structure: character sets named in MSH-18, separators from MSH-1/MSH-2,
//! segments, fields, repetitions, components, subcomponents, escape sequences, and the DTM
//! date-time type. Nothing here knows about case records.
//!
//! Order of work for one message: the bytes of the MSH line are split on the field separator to
//! read MSH-18 (every byte of MSH-1 to MSH-18 is expected to be ASCII, but a GBK character in,
//! say, MSH-4 whose trail byte is `|` would shift the fields, so MSH-18 is compared again after
//! decoding), the whole message is decoded in that character set, and only then split into
//! segments and fields. Splitting decoded text, not bytes, matters: GBK and GB 18030 trail bytes
//! include `\` (0x5C), `^`, `|` and `~`.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime};
use encoding_rs::Encoding;

use crate::common::{beijing, clean_code};

/// A character set of HL7 table 0211 (or, for senders that use them, a WHATWG label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// `ASCII`, `ISO IR6`, or MSH-18 empty (the HL7 default): bytes 0x00-0x7F only.
    Ascii,
    /// `8859/1`: ISO 8859-1 exactly, one byte per character; 0x80-0x9F (C1 controls, not
    /// characters of ISO 8859-1) are refused. (The WHATWG label `iso-8859-1` means windows-1252,
    /// which is why this is not left to encoding_rs.)
    Latin1,
    /// Any ASCII-compatible encoding_rs encoding (UTF-8, GB 18030, Big5, EUC-KR, ISO 8859-x).
    Other(&'static Encoding),
}

impl Charset {
    /// The character set named by MSH-18 (its first repetition, first component), or `None`
    /// when it is unknown or not ASCII-compatible (UTF-16, UTF-32).
    pub fn from_msh18(label: &str) -> Option<Charset> {
        let label = label.trim();
        let upper = label.to_ascii_uppercase();
        let enc = match upper.as_str() {
            "" | "ASCII" | "ISO IR6" => return Some(Charset::Ascii),
            "8859/1" | "ISO IR100" | "ISO-8859-1" | "ISO8859-1" | "LATIN1" => {
                return Some(Charset::Latin1);
            }
            "8859/2" => encoding_rs::ISO_8859_2,
            "8859/3" => encoding_rs::ISO_8859_3,
            "8859/4" => encoding_rs::ISO_8859_4,
            "8859/5" => encoding_rs::ISO_8859_5,
            "8859/6" => encoding_rs::ISO_8859_6,
            "8859/7" => encoding_rs::ISO_8859_7,
            "8859/8" => encoding_rs::ISO_8859_8,
            "8859/15" => encoding_rs::ISO_8859_15,
            "UNICODE UTF-8" | "UNICODE" => encoding_rs::UTF_8,
            "GB 18030-2000" | "GB 18030" => encoding_rs::GB18030,
            "BIG-5" => encoding_rs::BIG5,
            "KS X 1001" => encoding_rs::EUC_KR,
            "UNICODE UTF-16" | "UNICODE UTF-32" => return None,
            _ => Encoding::for_label(label.as_bytes())?,
        };
        enc.is_ascii_compatible().then_some(Charset::Other(enc))
    }

    pub fn name(&self) -> &'static str {
        match self {
            Charset::Ascii => "ASCII",
            Charset::Latin1 => "ISO-8859-1",
            Charset::Other(e) => e.name(),
        }
    }

    /// Decode strictly: `Err(offset)` of the first byte that is not valid in this character set.
    pub fn decode(&self, bytes: &[u8]) -> Result<String, usize> {
        match self {
            Charset::Ascii => match bytes.iter().position(|b| !b.is_ascii()) {
                Some(i) => Err(i),
                None => Ok(String::from_utf8(bytes.to_vec()).expect("ASCII is UTF-8")),
            },
            Charset::Latin1 => match bytes.iter().position(|b| (0x80..0xA0).contains(b)) {
                Some(i) => Err(i),
                None => Ok(bytes.iter().map(|&b| char::from(b)).collect()),
            },
            Charset::Other(enc) => {
                let mut decoder = enc.new_decoder_without_bom_handling();
                let mut out = String::with_capacity(
                    decoder
                        .max_utf8_buffer_length_without_replacement(bytes.len())
                        .unwrap_or(bytes.len() * 3),
                );
                let (result, read) =
                    decoder.decode_to_string_without_replacement(bytes, &mut out, true);
                match result {
                    encoding_rs::DecoderResult::InputEmpty => Ok(out),
                    encoding_rs::DecoderResult::Malformed(bad, unread) => {
                        Err(read.saturating_sub(usize::from(bad) + usize::from(unread)))
                    }
                    encoding_rs::DecoderResult::OutputFull => {
                        // The buffer was sized for the worst case; decode again the simple way.
                        enc.decode_without_bom_handling_and_without_replacement(bytes)
                            .map(|c| c.into_owned())
                            .ok_or(0)
                    }
                }
            }
        }
    }

    /// Decode, replacing what is not valid by U+FFFD (used only to find which field holds the
    /// bad bytes; such text is never stored).
    pub fn decode_lossy(&self, bytes: &[u8]) -> String {
        match self {
            Charset::Ascii => bytes
                .iter()
                .map(|&b| {
                    if b.is_ascii() {
                        char::from(b)
                    } else {
                        '\u{FFFD}'
                    }
                })
                .collect(),
            Charset::Latin1 => bytes
                .iter()
                .map(|&b| {
                    if (0x80..0xA0).contains(&b) {
                        '\u{FFFD}'
                    } else {
                        char::from(b)
                    }
                })
                .collect(),
            Charset::Other(enc) => enc.decode_without_bom_handling(bytes).0.into_owned(),
        }
    }

    /// Encode text for sending (an ACK); characters this set cannot represent become `?`.
    pub fn encode(&self, s: &str) -> Vec<u8> {
        match self {
            Charset::Ascii => s
                .chars()
                .map(|c| if c.is_ascii() { c as u8 } else { b'?' })
                .collect(),
            Charset::Latin1 => s
                .chars()
                .map(|c| match c as u32 {
                    0x80..=0x9F => b'?',
                    n @ 0..=0xFF => n as u8,
                    _ => b'?',
                })
                .collect(),
            Charset::Other(enc) => {
                let mut encoder = enc.new_encoder();
                let mut out = Vec::with_capacity(s.len() * 2);
                let mut rest = s;
                loop {
                    let mut buf = [0u8; 1024];
                    let (result, read, written) =
                        encoder.encode_from_utf8_without_replacement(rest, &mut buf, true);
                    out.extend_from_slice(&buf[..written]);
                    rest = &rest[read..];
                    match result {
                        encoding_rs::EncoderResult::InputEmpty => break,
                        encoding_rs::EncoderResult::OutputFull => {}
                        encoding_rs::EncoderResult::Unmappable(_) => out.push(b'?'),
                    }
                }
                out
            }
        }
    }
}

/// The delimiters of one message, from MSH-1 and MSH-2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Separators {
    pub field: char,
    pub component: char,
    pub repetition: char,
    pub escape: char,
    pub subcomponent: char,
}

impl Default for Separators {
    /// `|^~\&`, the ones almost everybody uses and the ones an ACK is written with.
    fn default() -> Self {
        Separators {
            field: '|',
            component: '^',
            repetition: '~',
            escape: '\\',
            subcomponent: '&',
        }
    }
}

impl Separators {
    /// From the four characters after `MSH`: MSH-1 (field separator) and the first four of
    /// MSH-2 (component, repetition, escape, subcomponent; a fifth, HL7 2.7's truncation
    /// character, is allowed and ignored). All must be distinct printable ASCII punctuation.
    pub fn parse(field: char, msh2: &str) -> Result<Separators, String> {
        let enc: Vec<char> = msh2.chars().collect();
        if !(4..=5).contains(&enc.len()) {
            return Err(format!(
                "MSH-2 '{msh2}' must hold 4 encoding characters (component, repetition, escape, subcomponent)"
            ));
        }
        let all = [field, enc[0], enc[1], enc[2], enc[3]];
        for (i, c) in all.iter().enumerate() {
            if !c.is_ascii_punctuation() {
                return Err(format!(
                    "separator {c:?} is not printable ASCII punctuation"
                ));
            }
            if all[..i].contains(c) {
                return Err(format!("separator {c:?} is used twice in MSH-1/MSH-2"));
            }
        }
        Ok(Separators {
            field,
            component: enc[0],
            repetition: enc[1],
            escape: enc[2],
            subcomponent: enc[3],
        })
    }

    /// Resolve the escape sequences of one leaf value (a component or subcomponent, already
    /// split): `\F\ \S\ \T\ \R\ \E\` give back the delimiters, `\Xhh…\` is bytes in the
    /// message's character set (decoded strictly), `\.br\` and `\.sp\` are line breaks, the
    /// highlighting `\H\ \N\` and other formatting commands (`\.xx…\`) are dropped. Character-set
    /// switching (`\C…\`, `\M…\`), locally defined (`\Z…\`) and unterminated sequences are
    /// errors: such text cannot be read faithfully.
    pub fn unescape(&self, raw: &str, charset: Charset) -> Result<String, String> {
        if !raw.contains(self.escape) {
            return Ok(raw.to_owned());
        }
        let mut out = String::with_capacity(raw.len());
        let mut rest = raw;
        while let Some(start) = rest.find(self.escape) {
            out.push_str(&rest[..start]);
            let after = &rest[start + self.escape.len_utf8()..];
            let end = after
                .find(self.escape)
                .ok_or_else(|| format!("unterminated escape sequence in '{raw}'"))?;
            let seq = &after[..end];
            match seq {
                "F" => out.push(self.field),
                "S" => out.push(self.component),
                "T" => out.push(self.subcomponent),
                "R" => out.push(self.repetition),
                "E" => out.push(self.escape),
                "H" | "N" => {}
                ".br" => out.push('\n'),
                s if s.starts_with(".sp") => out.push('\n'),
                s if s.starts_with('.') => {}
                s if s.starts_with('X') => {
                    let hex = &s[1..];
                    if hex.is_empty()
                        || hex.len() % 2 != 0
                        || !hex.bytes().all(|b| b.is_ascii_hexdigit())
                    {
                        return Err(format!("'\\{s}\\' is not an even number of hex digits"));
                    }
                    let bytes: Vec<u8> = (0..hex.len())
                        .step_by(2)
                        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex digits"))
                        .collect();
                    let text = charset
                        .decode(&bytes)
                        .map_err(|_| format!("'\\{s}\\' is not valid {} text", charset.name()))?;
                    out.push_str(&text);
                }
                s => {
                    return Err(format!(
                        "escape sequence '\\{s}\\' is not supported (character-set switching and locally defined escapes cannot be read)"
                    ));
                }
            }
            rest = &after[end + self.escape.len_utf8()..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Escape text for a field of a message written with these separators. Line breaks
    /// become `\.br\` (an ST field should not carry any; they are kept readable).
    pub fn escape(&self, s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        for c in s.chars() {
            let code = match c {
                c if c == self.escape => "E",
                c if c == self.field => "F",
                c if c == self.component => "S",
                c if c == self.subcomponent => "T",
                c if c == self.repetition => "R",
                '\r' | '\n' => ".br",
                c => {
                    out.push(c);
                    continue;
                }
            };
            out.push(self.escape);
            out.push_str(code);
            out.push(self.escape);
        }
        out
    }
}

/// One segment: its id and its fields, still escaped. `fields[n]` is field n (`PID-5` is
/// `fields[5]`); for MSH, `fields[1]` is the field separator itself and `fields[2]` the
/// encoding characters, so MSH numbering works the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment<'a> {
    pub id: &'a str,
    pub fields: Vec<&'a str>,
}

impl<'a> Segment<'a> {
    /// Field `n`, raw (all repetitions); empty when absent.
    pub fn field(&self, n: usize) -> &'a str {
        self.fields.get(n).copied().unwrap_or("")
    }
}

/// A parsed message: its separators and segments in order, borrowing the decoded text (a
/// message's fields were a copy each: half of splitting it, bench/README.md, tenth session).
#[derive(Debug, Clone)]
pub struct Message<'a> {
    pub seps: Separators,
    pub segments: Vec<Segment<'a>>,
}

impl<'a> Message<'a> {
    /// Split decoded text into segments (terminated by CR, LF or CRLF; blank lines skipped)
    /// and fields. The text must start with `MSH`.
    pub fn parse(text: &'a str) -> Result<Message<'a>, String> {
        let rest = text
            .strip_prefix("MSH")
            .ok_or("the message does not start with an MSH segment")?;
        let field = rest.chars().next().ok_or("MSH has no field separator")?;
        // MSH-1, the field separator itself, as the text spells it.
        let msh1 = &rest[..field.len_utf8()];
        let msh2: String = rest[field.len_utf8()..]
            .chars()
            .take_while(|&c| c != field && c != '\r' && c != '\n')
            .collect();
        let seps = Separators::parse(field, &msh2)?;
        let mut segments = Vec::new();
        for (i, line) in text.split(['\r', '\n']).enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            // The first three characters (fewer in a short line).
            let id_end = line.char_indices().nth(3).map_or(line.len(), |(at, _)| at);
            let id = &line[..id_end];
            let well_formed = id.len() == 3
                && id
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
                && line[3..].chars().next().is_none_or(|c| c == seps.field);
            if !well_formed {
                return Err(format!(
                    "segment {} ('{}') does not start with a segment id and the field separator",
                    i + 1,
                    line.chars().take(20).collect::<String>()
                ));
            }
            let mut fields: Vec<&str> = line.split(seps.field).collect();
            if id == "MSH" {
                if !segments.is_empty() {
                    return Err("a second MSH segment inside the message".into());
                }
                fields.insert(1, msh1);
            }
            segments.push(Segment { id, fields });
        }
        Ok(Message { seps, segments })
    }

    pub fn segment(&self, id: &str) -> Option<&Segment<'a>> {
        self.segments.iter().find(|s| s.id == id)
    }

    pub fn segments_named<'s>(&'s self, id: &'s str) -> impl Iterator<Item = &'s Segment<'a>> + 's {
        self.segments.iter().filter(move |s| s.id == id)
    }

    pub fn msh(&self) -> &Segment<'a> {
        &self.segments[0]
    }

    /// Repetitions of a raw field.
    pub fn repetitions<'r>(&self, raw: &'r str) -> Vec<&'r str> {
        if raw.is_empty() {
            Vec::new()
        } else {
            raw.split(self.seps.repetition).collect()
        }
    }

    /// Component `n` (1-based) of one repetition, raw; subcomponents included.
    pub fn component<'r>(&self, rep: &'r str, n: usize) -> &'r str {
        rep.split(self.seps.component).nth(n - 1).unwrap_or("")
    }

    /// Subcomponent `n` (1-based) of a component, raw.
    pub fn subcomponent<'r>(&self, comp: &'r str, n: usize) -> &'r str {
        comp.split(self.seps.subcomponent).nth(n - 1).unwrap_or("")
    }
}

/// Read MSH-18 from the raw bytes of a message, before its character set is known: the MSH
/// line is split on the field-separator byte (MSH-18 is the 18th field counting the separator
/// itself as MSH-1), then the first repetition and first component are taken. With
/// `double_byte`, a byte after any byte ≥ 0x81 is skipped while splitting, as GBK, GB 18030 and
/// Big5 trail bytes (which may be `|`, `^`, `~` or `\`) must be; without it, every byte counts,
/// as UTF-8 and single-byte sets need. `None` when the bytes do not start like an MSH segment.
pub fn msh18_from_bytes(bytes: &[u8], double_byte: bool) -> Option<String> {
    let rest = bytes.strip_prefix(b"MSH")?;
    let (&sep, rest) = rest.split_first()?;
    if sep == b'\r' || sep == b'\n' {
        return None;
    }
    let line_end = rest
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(rest.len());
    let line = &rest[..line_end];
    let enc = line.split(|&b| b == sep).next()?;
    let (comp, rep) = (*enc.first()?, *enc.get(1)?);
    // Walk to the 17th field (field 0 is MSH-2, so MSH-18 is field 16), skipping trail bytes
    // when asked to.
    let (mut field, mut start, mut i) = (0, 0, 0);
    let mut raw: &[u8] = b"";
    while i < line.len() {
        if double_byte && line[i] >= 0x81 {
            i += 2;
            continue;
        }
        if line[i] == sep {
            if field == 16 {
                raw = &line[start..i];
                break;
            }
            field += 1;
            start = i + 1;
        }
        i += 1;
    }
    if field == 16 && i >= line.len() {
        raw = &line[start.min(line.len())..];
    }
    let first = raw.split(|&b| b == rep).next().unwrap_or(b"");
    let first = first.split(|&b| b == comp).next().unwrap_or(b"");
    Some(String::from_utf8_lossy(first).trim().to_owned())
}

/// Why the character set of a message could not be determined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CharsetError {
    /// The bytes do not start with `MSH` and the encoding characters.
    NoMsh,
    /// The MSH segment cannot be split (bad separators).
    Malformed(String),
    /// MSH-18 names no supported character set.
    Unsupported(String),
    /// MSH-18 reads differently once the MSH line is decoded in the set it names.
    Inconsistent(String),
}

/// The character set of a message: MSH-18 read from the bytes both ways of
/// [`msh18_from_bytes`], and kept only if the MSH line, decoded in that set, still says so.
pub fn detect_charset(bytes: &[u8]) -> Result<(String, Charset), CharsetError> {
    let plain = msh18_from_bytes(bytes, false).ok_or(CharsetError::NoMsh)?;
    let line_end = bytes
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(bytes.len());
    // Read double-byte only where it can differ: a line without a byte from 0x81 splits the
    // same either way.
    let double = if bytes[..line_end].iter().any(|&b| b >= 0x81) {
        msh18_from_bytes(bytes, true).ok_or(CharsetError::NoMsh)?
    } else {
        plain.clone()
    };
    let mut known = false;
    for label in [&plain, &double] {
        let Some(cs) = Charset::from_msh18(label) else {
            continue;
        };
        known = true;
        let line = cs.decode_lossy(&bytes[..line_end]);
        let m = Message::parse(&line).map_err(CharsetError::Malformed)?;
        let msh18 = m
            .repetitions(m.msh().field(18))
            .first()
            .copied()
            .unwrap_or("");
        if m.component(msh18, 1).trim() == label.as_str() {
            return Ok((label.clone(), cs));
        }
    }
    Err(if known {
        CharsetError::Inconsistent(plain)
    } else {
        CharsetError::Unsupported(plain)
    })
}

/// HL7 DTM/TS: `YYYYMMDDHHMM[SS[.S[S[S[S]]]]][+/-ZZZZ]`, to the minute at least (a case time of
/// a day only is not a time). Without an offset the time is Beijing time. A TS field's second
/// component (degree of precision) is ignored by the caller.
pub fn dtm(s: &str) -> Result<DateTime<FixedOffset>, String> {
    let s = clean_code(s);
    let bad = || format!("'{s}' is not an HL7 date-time (expected e.g. 20261118093000+0800)");
    let (body, offset) = match s.find(['+', '-']) {
        Some(i) => (&s[..i], Some(&s[i..])),
        None => (s.as_str(), None),
    };
    let (digits, fraction) = match body.split_once('.') {
        Some((d, f)) => (d, Some(f)),
        None => (body, None),
    };
    if !(digits.len() == 12 || digits.len() == 14) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    if fraction.is_some_and(|f| {
        digits.len() != 14 || !(1..=4).contains(&f.len()) || !f.bytes().all(|b| b.is_ascii_digit())
    }) {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| digits[r].parse::<u32>().map_err(|_| bad());
    let date =
        NaiveDate::from_ymd_opt(num(0..4)? as i32, num(4..6)?, num(6..8)?).ok_or_else(bad)?;
    let sec = if digits.len() == 14 { num(12..14)? } else { 0 };
    let nanos = fraction.map_or(0, |f| {
        f.parse::<u32>().unwrap_or(0) * 10u32.pow(9 - f.len() as u32)
    });
    let time =
        NaiveTime::from_hms_nano_opt(num(8..10)?, num(10..12)?, sec, nanos).ok_or_else(bad)?;
    let tz = match offset {
        None => beijing(),
        Some(o) => {
            let b = o.as_bytes();
            if b.len() != 5 || !b[1..].iter().all(u8::is_ascii_digit) {
                return Err(bad());
            }
            let h: i32 = o[1..3].parse().map_err(|_| bad())?;
            let m: i32 = o[3..5].parse().map_err(|_| bad())?;
            if h > 14 || m > 59 {
                return Err(bad());
            }
            let secs = (h * 3600 + m * 60) * if b[0] == b'-' { -1 } else { 1 };
            FixedOffset::east_opt(secs).ok_or_else(bad)?
        }
    };
    NaiveDateTime::new(date, time)
        .and_local_timezone(tz)
        .single()
        .ok_or_else(bad)
}

/// Format a time as HL7 DTM to the second with its offset: `20261118093000+0800`.
pub fn format_dtm(t: &DateTime<FixedOffset>) -> String {
    t.format("%Y%m%d%H%M%S%z").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charsets_of_table_0211() {
        assert_eq!(Charset::from_msh18(""), Some(Charset::Ascii));
        assert_eq!(Charset::from_msh18("8859/1"), Some(Charset::Latin1));
        assert_eq!(
            Charset::from_msh18("UNICODE UTF-8"),
            Some(Charset::Other(encoding_rs::UTF_8))
        );
        assert_eq!(
            Charset::from_msh18(" GB 18030-2000 "),
            Some(Charset::Other(encoding_rs::GB18030))
        );
        assert_eq!(
            Charset::from_msh18("gbk"),
            Some(Charset::Other(encoding_rs::GBK))
        );
        assert_eq!(Charset::from_msh18("UNICODE UTF-16"), None);
        assert_eq!(Charset::from_msh18("UTF-16LE"), None);
        assert_eq!(Charset::from_msh18("EBCDIC"), None);
    }

    #[test]
    fn strict_decoding_reports_the_first_bad_byte() {
        let gb = encoding_rs::GB18030.encode("王小宝").0.into_owned();
        let cs = Charset::Other(encoding_rs::GB18030);
        assert_eq!(cs.decode(&gb).unwrap(), "王小宝");
        let mut bad = b"ab".to_vec();
        bad.extend_from_slice(&[0x81, 0x20]);
        assert_eq!(cs.decode(&bad), Err(2));
        assert_eq!(Charset::Ascii.decode(b"ok\xC3\xA9"), Err(2));
        assert_eq!(Charset::Latin1.decode(b"caf\xE9").unwrap(), "café");
        assert_eq!(Charset::Latin1.decode(b"x\x85"), Err(1));
        let utf8 = Charset::Other(encoding_rs::UTF_8);
        assert_eq!(utf8.decode("西峰".as_bytes()).unwrap(), "西峰");
        assert_eq!(utf8.decode(b"\xE8\xA5"), Err(0));
        assert!(utf8.decode_lossy(b"a\xFFb").contains('\u{FFFD}'));
    }

    #[test]
    fn encoding_for_acks_never_produces_separators() {
        assert_eq!(Charset::Ascii.encode("a西b"), b"a?b");
        assert_eq!(Charset::Latin1.encode("é西"), b"\xE9?");
        let gb = Charset::Other(encoding_rs::GB18030);
        assert_eq!(
            gb.decode(&gb.encode("出生医学证明")).unwrap(),
            "出生医学证明"
        );
        let kr = Charset::Other(encoding_rs::EUC_KR);
        assert_eq!(kr.encode("a\u{1F600}b"), b"a?b");
    }

    #[test]
    fn separators_and_escapes() {
        let std = Separators::default();
        assert_eq!(Separators::parse('|', "^~\\&").unwrap(), std);
        assert!(Separators::parse('|', "^~\\&#").is_ok());
        assert!(Separators::parse('|', "^~\\").is_err());
        assert!(Separators::parse('|', "^~|&").is_err());
        assert!(Separators::parse('|', "^~a&").is_err());
        let cs = Charset::Other(encoding_rs::UTF_8);
        assert_eq!(
            std.unescape(r"a\F\b\S\c\T\d\R\e\E\f", cs).unwrap(),
            r"a|b^c&d~e\f"
        );
        assert_eq!(std.unescape(r"\H\粗\N\体\.br\下", cs).unwrap(), "粗体\n下");
        assert_eq!(std.unescape(r"\XE8A5BFE5B3B0\区", cs).unwrap(), "西峰区");
        assert!(std.unescape(r"\XE8A5\", cs).is_err(), "truncated UTF-8");
        assert!(std.unescape(r"\X4\", cs).is_err());
        assert!(std.unescape(r"\XZZ\", cs).is_err());
        assert!(std.unescape(r"abc\F", cs).is_err());
        assert!(std.unescape(r"\C2842\", cs).is_err());
        let gb = Charset::Other(encoding_rs::GB18030);
        assert_eq!(std.unescape(r"\XCEF7B7E5\", gb).unwrap(), "西峰");
        // Other separators, other escapes.
        let odd = Separators::parse('#', "$*!@").unwrap();
        assert_eq!(odd.unescape("a!F!b!E!c!S!", cs).unwrap(), "a#b!c$");
        assert_eq!(odd.escape("a#b!c$d"), "a!F!b!E!c!S!d");
        assert_eq!(std.escape("x|y^z&w~v\\u\r"), r"x\F\y\S\z\T\w\R\v\E\u\.br\");
        for s in ["plain", r"a|b^c&d~e\f", "行\n行"] {
            assert_eq!(std.unescape(&std.escape(s), cs).unwrap(), s);
        }
    }

    #[test]
    fn segments_and_fields() {
        let text = "MSH|^~\\&|APP^应用|FAC|||20261118093000||ZBC^Z01|C1|P|2.5\rPID|1||X~Y||王^小宝\n\r\nZCS|a&b^c";
        let m = Message::parse(text).unwrap();
        assert_eq!(m.segments.len(), 3);
        let msh = m.msh();
        assert_eq!(msh.field(1), "|");
        assert_eq!(msh.field(2), "^~\\&");
        assert_eq!(msh.field(3), "APP^应用");
        assert_eq!(m.component(msh.field(3), 2), "应用");
        assert_eq!(msh.field(10), "C1");
        assert_eq!(msh.field(12), "2.5");
        assert_eq!(msh.field(40), "");
        let pid = m.segment("PID").unwrap();
        assert_eq!(m.repetitions(pid.field(3)), ["X", "Y"]);
        assert_eq!(m.component(pid.field(5), 2), "小宝");
        let zcs = m.segment("ZCS").unwrap();
        assert_eq!(m.subcomponent(m.component(zcs.field(1), 1), 2), "b");
        assert!(Message::parse("PID|1").is_err());
        assert!(Message::parse("MSH|^~\\&|\rpid|1").is_err());
        assert!(Message::parse("MSH|^~\\&|\rMSH|^~\\&|").is_err());
        // A segment that starts with other characters, or is shorter than an id, is named in
        // the error by its first characters.
        for (line, named) in [
            ("王小宝|1", "'王小宝|1'"),
            ("PI", "'PI'"),
            ("PIDX|1", "'PIDX|1'"),
        ] {
            let e = Message::parse(&format!("MSH|^~\\&|\r{line}")).unwrap_err();
            assert!(e.starts_with("segment 2 (") && e.contains(named), "{e}");
        }
        // Every field borrows from the text.
        let range = text.as_bytes().as_ptr_range();
        for seg in &m.segments {
            for f in seg.fields.iter().chain([&seg.id]) {
                assert!(range.contains(&f.as_ptr()) || f.is_empty(), "{f:?}");
            }
        }
        // Odd separators.
        let m = Message::parse("MSH#$*!@#A$B#\rPID#1##N1*N2").unwrap();
        assert_eq!(m.component(m.msh().field(3), 2), "B");
        assert_eq!(
            m.repetitions(m.segment("PID").unwrap().field(3)),
            ["N1", "N2"]
        );
    }

    /// The walk to MSH-18 finds what splitting the whole line into fields found (the reading
    /// before it), for lines of every length around MSH-18, with trail bytes anywhere.
    #[test]
    fn msh18_walk_is_the_split() {
        fn split(bytes: &[u8], double_byte: bool) -> Option<String> {
            let rest = bytes.strip_prefix(b"MSH")?;
            let (&sep, rest) = rest.split_first()?;
            let end = rest.iter().position(|&b| b == b'\r' || b == b'\n');
            let line = &rest[..end.unwrap_or(rest.len())];
            let enc = line.split(|&b| b == sep).next()?;
            let (comp, rep) = (*enc.first()?, *enc.get(1)?);
            let mut fields: Vec<&[u8]> = Vec::new();
            let (mut start, mut i) = (0, 0);
            while i < line.len() {
                if double_byte && line[i] >= 0x81 {
                    i += 2;
                    continue;
                }
                if line[i] == sep {
                    fields.push(&line[start..i]);
                    start = i + 1;
                }
                i += 1;
            }
            fields.push(&line[start.min(line.len())..]);
            let raw = fields.get(16).copied().unwrap_or(b"");
            let first = raw.split(|&b| b == rep).next().unwrap_or(b"");
            let first = first.split(|&b| b == comp).next().unwrap_or(b"");
            Some(String::from_utf8_lossy(first).trim().to_owned())
        }
        let mut seen = 0;
        for n in 0..20 {
            for trail in [None, Some(0), Some(5), Some(16), Some(17), Some(40)] {
                for tail in [&b""[..], b"|", b"\rPID|1", b"\xB1"] {
                    let mut line = b"MSH|^~\\&".to_vec();
                    for f in 0..n {
                        line.push(b'|');
                        line.extend_from_slice(format!("F{f}^x~y").as_bytes());
                    }
                    if let Some(at) = trail {
                        let at = (4 + at).min(line.len());
                        line.splice(at..at, [0xB1, b'|']);
                    }
                    line.extend_from_slice(tail);
                    for double in [false, true] {
                        assert_eq!(
                            msh18_from_bytes(&line, double),
                            split(&line, double),
                            "{:?} {double}",
                            String::from_utf8_lossy(&line)
                        );
                        seen += 1;
                    }
                }
            }
        }
        assert_eq!(seen, 20 * 6 * 4 * 2);
    }

    #[test]
    fn msh18_is_read_from_bytes() {
        for double in [false, true] {
            assert_eq!(
                msh18_from_bytes(b"MSH|^~\\&|A|B|C|D|T||ZBC^Z01|1|P|2.5|||AL|NE|CHN|GB 18030-2000~UNICODE UTF-8|x\rPID|", double),
                Some("GB 18030-2000".into())
            );
            assert_eq!(
                msh18_from_bytes(b"MSH|^~\\&|A|B|C|D|T||ZBC^Z01|1|P|2.5", double),
                Some(String::new())
            );
            assert_eq!(
                msh18_from_bytes(
                    b"MSH#$*!@#A#B#C#D#T##ZBC$Z01#1#P#2.5###AL#NE#CHN#UNICODE UTF-8$x",
                    double
                ),
                Some("UNICODE UTF-8".into())
            );
            assert_eq!(msh18_from_bytes(b"PID|1", double), None);
            assert_eq!(msh18_from_bytes(b"MSH\r", double), None);
            assert_eq!(msh18_from_bytes(b"MSH", double), None);
            assert_eq!(msh18_from_bytes(b"MSH|", double), None);
        }
        // '億' is 0x83 0x7C in GBK: its trail byte is the field separator.
        let msh = |cs: &str| {
            let mut b = b"MSH|^~\\&|A|".to_vec();
            b.extend_from_slice(&encoding_rs::GB18030.encode("億").0);
            b.extend_from_slice(format!("|C|D|T||ZBC^Z01|1|P|2.5|||AL|NE|CHN|{cs}\r").as_bytes());
            b
        };
        let gb = msh("GB 18030-2000");
        assert_eq!(msh18_from_bytes(&gb, false), Some("CHN".into()));
        assert_eq!(msh18_from_bytes(&gb, true), Some("GB 18030-2000".into()));
        assert_eq!(
            detect_charset(&gb),
            Ok(("GB 18030-2000".into(), Charset::Other(encoding_rs::GB18030)))
        );
        // The same bytes declared UTF-8 are not UTF-8 at all: the label still reads the same.
        let utf = "MSH|^~\\&|A|西|C|D|T||ZBC^Z01|1|P|2.5|||AL|NE|CHN|UNICODE UTF-8\r";
        assert_eq!(
            detect_charset(utf.as_bytes()),
            Ok(("UNICODE UTF-8".into(), Charset::Other(encoding_rs::UTF_8)))
        );
        assert_eq!(
            detect_charset(format!("MSH|^~\\&|A{}EBCDIC", "|".repeat(15)).as_bytes()),
            Err(CharsetError::Unsupported("EBCDIC".into()))
        );
        assert_eq!(detect_charset(b"PID|"), Err(CharsetError::NoMsh));
    }

    #[test]
    fn hl7_date_times() {
        let t = |s: &str| dtm(s).map(|t| t.to_rfc3339());
        assert_eq!(
            t("20261118093000+0800").unwrap(),
            "2026-11-18T09:30:00+08:00"
        );
        assert_eq!(t("202611180930").unwrap(), "2026-11-18T09:30:00+08:00");
        assert_eq!(
            t("20261118013000-0000").unwrap(),
            "2026-11-18T01:30:00+00:00"
        );
        assert_eq!(
            t("20261118093000.25").unwrap(),
            "2026-11-18T09:30:00.250+08:00"
        );
        assert_eq!(
            t("２０２６１１１８０９３０").unwrap(),
            "2026-11-18T09:30:00+08:00"
        );
        for bad in [
            "20261118",
            "2026111809",
            "20261131093000",
            "20261118096000",
            "20261118093000+08",
            "20261118093000+2500",
            "2026111809.5",
            "20261118093000.12345",
            "2026-11-18 09:30:00",
            "",
        ] {
            assert!(dtm(bad).is_err(), "{bad}");
        }
        let t = dtm("20261118093005+0800").unwrap();
        assert_eq!(format_dtm(&t), "20261118093005+0800");
    }
}
