//! A small XML tree reader for the XML-speaking networks (public security's GBK batches, tax's
//! SOAP envelopes).
//!
//! Safety first: a DOCTYPE is refused outright, so there are no entity definitions to expand
//! (no "billion laughs") and no external entities to fetch; only the five predefined entities
//! and character references are resolved. Depth and the length of text and tags are bounded
//! ([`crate::limits`]).
//!
//! Encodings: the declared encoding must be ASCII-compatible (UTF-8, GBK, GB18030). In those,
//! the bytes of `<`, `>`, `&`, quotes and newlines never occur inside a multi-byte character
//! (GBK trail bytes are 0x40..=0xFE), so the document is tokenized on its original bytes and each
//! element keeps its exact byte range. Text stays in the source encoding until a record is
//! mapped, so one undecodable field fails only its own record, never the batch.
//!
//! The tree borrows from the document: names and text are slices of its bytes (a copy only
//! for a name that is not UTF-8 and for resolved references), and an element's text of one
//! piece — nearly all of them — needs no list. A batch's tree was a tenth of the XML
//! adapters' work in copies and frees (bench/README.md, tenth session).

use std::borrow::Cow;

use encoding_rs::Encoding;
use quick_xml::Reader;
use quick_xml::events::Event;

use crate::PayloadError;

/// Deepest nesting accepted by default; real batches are 4-6 levels deep. The limit in force is
/// [`crate::limits::current`].
pub const MAX_DEPTH: usize = crate::limits::DEFAULT.max_depth;

/// Text for XML content and attribute values: the five special characters escaped, and
/// characters XML 1.0 does not allow (C0 controls other than tab, CR and LF, U+FFFE, U+FFFF)
/// replaced by U+FFFD, so any text makes a well-formed document (a SOAP fault, an SVG image)
/// and a safe HTML text or attribute value.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[derive(Debug, Clone)]
enum Piece<'a> {
    /// Text or CDATA bytes in the document's encoding.
    Raw(Cow<'a, [u8]>),
    /// A resolved character or predefined entity reference.
    Resolved(String),
}

impl Piece<'_> {
    fn len(&self) -> usize {
        match self {
            Piece::Raw(b) => b.len(),
            Piece::Resolved(s) => s.len(),
        }
    }
}

/// An element's own text: most elements have none or one piece, and need no list for it.
#[derive(Debug, Clone, Default)]
enum Text<'a> {
    #[default]
    Empty,
    One(Piece<'a>),
    Many(Vec<Piece<'a>>),
}

impl<'a> Text<'a> {
    fn push(&mut self, piece: Piece<'a>) {
        *self = match std::mem::take(self) {
            Text::Empty => Text::One(piece),
            Text::One(first) => Text::Many(vec![first, piece]),
            Text::Many(mut pieces) => {
                pieces.push(piece);
                Text::Many(pieces)
            }
        };
    }
}

#[derive(Debug, Clone)]
pub struct Element<'a> {
    /// Local name: any namespace prefix is dropped (SOAP senders use arbitrary prefixes).
    pub name: Cow<'a, str>,
    /// Byte range of the whole element, tags included, in the original document.
    pub start: usize,
    pub end: usize,
    /// 1-based line of the start tag.
    pub line: usize,
    pub children: Vec<Element<'a>>,
    text: Text<'a>,
    /// Bytes in `text`, kept as it grows: the string limit is checked at every piece.
    text_len: usize,
}

/// Text of an element could not be decoded in the document's encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undecodable {
    pub encoding: &'static str,
}

impl<'a> Element<'a> {
    /// An element named `name` whose start tag spans `start..end` (the end moves on at its end
    /// tag).
    fn open(name: Cow<'a, str>, start: usize, end: usize, line: usize) -> Self {
        Element {
            name,
            start,
            end,
            line,
            children: Vec::new(),
            text: Text::Empty,
            text_len: 0,
        }
    }

    pub fn child(&self, name: &str) -> Option<&Element<'a>> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn children_named<'s>(
        &'s self,
        name: &'s str,
    ) -> impl Iterator<Item = &'s Element<'a>> + 's {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The element's own text (not its children's), decoded strictly: bytes that are not valid
    /// in `enc` are an error, never replaced. Borrowed from the document when it is one piece
    /// that needs no decoding (UTF-8, or ASCII in any encoding).
    pub fn text(&self, enc: &'static Encoding) -> Result<Cow<'_, str>, Undecodable> {
        let decode = |bytes| decode_strictly(enc, bytes);
        match &self.text {
            Text::Empty => Ok(Cow::Borrowed("")),
            Text::One(Piece::Raw(bytes)) => decode(bytes),
            Text::One(Piece::Resolved(s)) => Ok(Cow::Borrowed(s)),
            Text::Many(pieces) => {
                let mut out = String::with_capacity(self.text_len);
                for piece in pieces {
                    match piece {
                        Piece::Raw(bytes) => out.push_str(&decode(bytes)?),
                        Piece::Resolved(s) => out.push_str(s),
                    }
                }
                Ok(Cow::Owned(out))
            }
        }
    }
}

fn decode_strictly<'b>(
    enc: &'static Encoding,
    bytes: &'b [u8],
) -> Result<Cow<'b, str>, Undecodable> {
    enc.decode_without_bom_handling_and_without_replacement(bytes)
        .ok_or(Undecodable {
            encoding: enc.name(),
        })
}

/// A parsed document: its root element and declared encoding, borrowing the document's bytes.
#[derive(Debug)]
pub struct Document<'a> {
    pub root: Element<'a>,
    pub encoding: &'static Encoding,
}

fn local(name: &[u8]) -> Cow<'_, str> {
    let local = name.rsplit(|&b| b == b':').next().unwrap_or(name);
    String::from_utf8_lossy(local)
}

/// The local name of the tag at `at` in `body`, borrowed from `body` (the event's own name
/// borrows from the event; a copy when the tag is not where it should be, which would be a
/// tokenizer surprise).
fn tag_name<'a>(body: &'a [u8], at: usize, qname: &[u8]) -> Cow<'a, str> {
    match body.get(at + 1..at + 1 + qname.len()) {
        Some(in_body) if in_body == qname => local(in_body),
        _ => Cow::Owned(local(qname).into_owned()),
    }
}

/// Line numbers of increasing offsets, counting only the newlines since the previous one (a
/// scan from the start for every element made big batches quadratic).
struct Lines {
    offset: usize,
    line: usize,
}

impl Lines {
    fn at(&mut self, bytes: &[u8], offset: usize) -> usize {
        let offset = offset.min(bytes.len());
        if offset >= self.offset {
            self.line += bytes[self.offset..offset]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            self.offset = offset;
            return self.line;
        }
        line_of(bytes, offset)
    }
}

fn line_of(bytes: &[u8], offset: usize) -> usize {
    1 + bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

/// Room for a tag's name and markup beside the longest string its attributes may hold.
const MAX_NAME: usize = 1024;

/// Add a piece to an element's text (text, CDATA, a reference), counted against the string
/// limit.
fn add_text<'a>(
    el: &mut Element<'a>,
    piece: Piece<'a>,
    max: usize,
    line: impl Fn() -> usize,
) -> Result<(), PayloadError> {
    el.text_len += piece.len();
    el.text.push(piece);
    if el.text_len > max {
        let at = format!("line {}, element <{}>", line(), el.name);
        return Err(crate::limits::too_long(&at, el.text_len, max));
    }
    Ok(())
}

/// Parse a whole document. Errors are about the payload as a whole (not well-formed, DTD,
/// unsupported encoding); they carry the line where parsing stopped.
pub fn parse(bytes: &[u8]) -> Result<Document<'_>, PayloadError> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let bom = bytes.len() - body.len();
    if body.starts_with(b"\xFF\xFE") || body.starts_with(b"\xFE\xFF") {
        return Err(PayloadError::new(
            "payload.encoding",
            "UTF-16 documents are not accepted; send UTF-8 or GBK",
        ));
    }
    let mut reader = Reader::from_reader(body);
    reader.config_mut().check_end_names = true;
    let mut encoding: &'static Encoding = encoding_rs::UTF_8;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut lines = Lines { offset: 0, line: 1 };
    let limits = crate::limits::current();
    let malformed = |pos: usize, why: String| {
        PayloadError::new(
            "payload.malformed",
            format!("line {}: {why}", line_of(body, pos)),
        )
    };
    loop {
        let before = reader.buffer_position() as usize;
        let event = reader
            .read_event()
            .map_err(|e| malformed(reader.error_position() as usize, e.to_string()))?;
        let after = reader.buffer_position() as usize;
        // One tag (with its attributes), text run or comment longer than any string may be.
        if after - before > limits.max_string_bytes + 2 * MAX_NAME
            && !matches!(event, Event::DocType(_))
        {
            let at = format!("line {}", line_of(body, before));
            return Err(crate::limits::too_long(
                &at,
                after - before,
                limits.max_string_bytes,
            ));
        }
        match event {
            Event::Decl(decl) => {
                if let Some(label) = decl.encoding() {
                    let label = label.map_err(|e| malformed(before, e.to_string()))?;
                    encoding = Encoding::for_label(&label)
                        .filter(|e| e.is_ascii_compatible())
                        .ok_or_else(|| {
                            PayloadError::new(
                                "payload.encoding",
                                format!(
                                    "declared encoding '{}' is not supported",
                                    String::from_utf8_lossy(&label)
                                ),
                            )
                        })?;
                    if bom > 0 && encoding != encoding_rs::UTF_8 {
                        return Err(PayloadError::new(
                            "payload.encoding",
                            "a UTF-8 byte-order mark contradicts the declared encoding",
                        ));
                    }
                }
            }
            Event::DocType(_) => {
                return Err(PayloadError::new(
                    "payload.dtd_forbidden",
                    "DOCTYPE declarations are refused (no entity definitions or external entities)",
                ));
            }
            Event::Start(start) | Event::Empty(start) if root.is_some() => {
                let _ = start;
                return Err(malformed(before, "content after the root element".into()));
            }
            Event::Start(start) => {
                if stack.len() >= limits.max_depth {
                    let at = format!("line {}", line_of(body, before));
                    return Err(crate::limits::too_deep(&at, limits.max_depth));
                }
                stack.push(Element::open(
                    tag_name(body, before, start.name().as_ref()),
                    before + bom,
                    after + bom,
                    lines.at(body, before),
                ));
            }
            Event::Empty(start) => {
                let el = Element::open(
                    tag_name(body, before, start.name().as_ref()),
                    before + bom,
                    after + bom,
                    lines.at(body, before),
                );
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::End(_) => {
                let mut el = stack
                    .pop()
                    .ok_or_else(|| malformed(before, "unexpected end tag".into()))?;
                el.end = after + bom;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                if let Some(el) = stack.last_mut() {
                    let piece = Piece::Raw(t.into_inner());
                    add_text(el, piece, limits.max_string_bytes, || line_of(body, before))?;
                } else if t.iter().any(|b| !b.is_ascii_whitespace()) {
                    return Err(malformed(before, "text outside the root element".into()));
                }
            }
            Event::CData(t) => {
                if let Some(el) = stack.last_mut() {
                    let piece = Piece::Raw(t.into_inner());
                    add_text(el, piece, limits.max_string_bytes, || line_of(body, before))?;
                }
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => {
                        let name = String::from_utf8_lossy(&r).into_owned();
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| malformed(before, format!("undefined entity &{name};")))?
                            .to_owned()
                    }
                    Err(e) => return Err(malformed(before, e.to_string())),
                };
                if let Some(el) = stack.last_mut() {
                    let piece = Piece::Resolved(resolved);
                    add_text(el, piece, limits.max_string_bytes, || line_of(body, before))?;
                }
            }
            Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(malformed(
            body.len(),
            format!("element <{}> is not closed", stack[0].name),
        ));
    }
    let root = root.ok_or_else(|| {
        PayloadError::new("payload.malformed", "the document has no root element")
    })?;
    Ok(Document { root, encoding })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gbk(s: &str) -> Vec<u8> {
        encoding_rs::GBK.encode(s).0.into_owned()
    }

    #[test]
    fn gbk_text_entities_and_ranges() {
        let doc = gbk(
            "<?xml version=\"1.0\" encoding=\"GBK\"?>\n<a><b>西峰区 &amp; &#x73AF;县</b><c/></a>",
        );
        let d = parse(&doc).unwrap();
        assert_eq!(d.encoding, encoding_rs::GBK);
        let b = d.root.child("b").unwrap();
        assert_eq!(b.text(d.encoding).unwrap(), "西峰区 & 环县");
        assert_eq!(b.line, 2);
        assert_eq!(
            &doc[b.start..b.end],
            gbk("<b>西峰区 &amp; &#x73AF;县</b>").as_slice()
        );
        assert!(d.root.child("c").is_some());
    }

    #[test]
    fn undecodable_text_fails_only_on_read() {
        let mut doc = b"<?xml version=\"1.0\" encoding=\"GBK\"?><a><b>ok</b><c>".to_vec();
        doc.extend_from_slice(&[0x81, 0x20]); // lead byte with an invalid trail byte
        doc.extend_from_slice(b"</c></a>");
        let d = parse(&doc).unwrap();
        assert_eq!(d.root.child("b").unwrap().text(d.encoding).unwrap(), "ok");
        assert!(d.root.child("c").unwrap().text(d.encoding).is_err());
    }

    #[test]
    fn dtd_and_unknown_entities_are_refused() {
        let bomb = br#"<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "xx">]><a>&x;</a>"#;
        assert_eq!(parse(bomb).unwrap_err().code, "payload.dtd_forbidden");
        assert_eq!(parse(b"<a>&x;</a>").unwrap_err().code, "payload.malformed");
    }

    #[test]
    fn malformed_and_deep_documents_are_refused() {
        assert_eq!(parse(b"<a><b></a>").unwrap_err().code, "payload.malformed");
        assert_eq!(parse(b"<a>").unwrap_err().code, "payload.malformed");
        assert_eq!(parse(b"").unwrap_err().code, "payload.malformed");
        let deep = "<x>".repeat(40) + &"</x>".repeat(40);
        assert_eq!(parse(deep.as_bytes()).unwrap_err().code, "payload.too_deep");
        let utf16 = br#"<?xml version="1.0" encoding="UTF-16"?><a/>"#;
        assert_eq!(parse(utf16).unwrap_err().code, "payload.encoding");
    }

    #[test]
    fn entity_tricks_are_refused_without_expansion() {
        let cases: [&[u8]; 4] = [
            // Billion laughs: nested internal entities.
            br#"<?xml version="1.0"?><!DOCTYPE a [<!ENTITY l "lol"><!ENTITY l2 "&l;&l;&l;">]><a>&l2;</a>"#,
            // XXE: an external SYSTEM entity, a PUBLIC one, a parameter entity.
            br#"<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>"#,
            br#"<!DOCTYPE a PUBLIC "-//X//Y" "http://example.invalid/a.dtd"><a/>"#,
            br#"<!DOCTYPE a [<!ENTITY % p SYSTEM "http://example.invalid/p.dtd"> %p;]><a/>"#,
        ];
        for doc in cases {
            assert_eq!(parse(doc).unwrap_err().code, "payload.dtd_forbidden");
        }
    }

    #[test]
    fn long_text_and_tags_are_refused_with_their_line() {
        let limit = crate::limits::current().max_string_bytes;
        let text = format!("<a>\n<b>{}</b></a>", "x".repeat(limit + 1));
        let e = parse(text.as_bytes()).unwrap_err();
        assert_eq!(e.code, "payload.string_too_long");
        assert!(e.message.starts_with("line 2"), "{}", e.message);
        // Many short pieces add up too (references are pieces of their own).
        let refs = format!("<a><b>{}</b></a>", "&amp;".repeat(limit + 1));
        assert_eq!(
            parse(refs.as_bytes()).unwrap_err().code,
            "payload.string_too_long"
        );
        let attr = format!("<a b=\"{}\"/>", "y".repeat(limit + 4096));
        assert_eq!(
            parse(attr.as_bytes()).unwrap_err().code,
            "payload.string_too_long"
        );
    }

    #[test]
    fn names_and_text_of_one_piece_are_borrowed_from_the_document() {
        let doc = "\u{FEFF}<?xml version=\"1.0\"?>\n<s:a xmlns:s=\"x\">\n  <b>环县 text</b><c/>\
                   <d>x &amp; y<![CDATA[<z>]]></d><e><![CDATA[only]]></e></s:a>";
        let d = parse(doc.as_bytes()).unwrap();
        assert!(matches!(d.root.name, Cow::Borrowed("a")));
        let b = d.root.child("b").unwrap();
        assert!(matches!(b.name, Cow::Borrowed("b")));
        assert!(matches!(
            b.text(d.encoding).unwrap(),
            Cow::Borrowed("环县 text")
        ));
        assert_eq!(
            &doc.as_bytes()[b.start..b.end],
            "<b>环县 text</b>".as_bytes()
        );
        assert_eq!(b.line, 3);
        assert!(matches!(
            d.root.child("c").unwrap().text(d.encoding).unwrap(),
            Cow::Borrowed("")
        ));
        // Several pieces (text, a reference, CDATA) are joined.
        let t = d.root.child("d").unwrap().text(d.encoding).unwrap();
        assert_eq!(t, "x & y<z>");
        let e = d.root.child("e").unwrap().text(d.encoding).unwrap();
        assert!(matches!(e, Cow::Borrowed("only")));
        // The root's own text is its whitespace between children.
        assert_eq!(d.root.text(d.encoding).unwrap().trim(), "");
        // A GBK document's ASCII text is borrowed too; its Chinese text is decoded.
        let g = gbk("<?xml version=\"1.0\" encoding=\"GBK\"?><a><b>ok</b><c>西峰区</c></a>");
        let d = parse(&g).unwrap();
        assert!(matches!(
            d.root.child("b").unwrap().text(d.encoding).unwrap(),
            Cow::Borrowed("ok")
        ));
        let c = d.root.child("c").unwrap().text(d.encoding).unwrap();
        assert!(matches!(c, Cow::Owned(_)));
        assert_eq!(c, "西峰区");
    }

    #[test]
    fn namespace_prefixes_are_dropped() {
        let d =
            parse(br#"<s:Envelope xmlns:s="x"><s:Body><t:Req xmlns:t="y"/></s:Body></s:Envelope>"#)
                .unwrap();
        assert_eq!(d.root.name, "Envelope");
        assert!(d.root.child("Body").unwrap().child("Req").is_some());
    }
}
