//! Limits on the shape of a native payload: how deep it nests and how long one string may be.
//!
//! Body size and record count are limited by the gateway before and after decoding; these two
//! are about what a parser does with the bytes. `serde_json` recurses once per nesting level
//! and builds every string whole. A JSON batch is split into records as raw text first (which
//! checks only the syntax, without recursion), then each record is checked by
//! [`check_json_record`] (one linear pass over its bytes) *before* it is parsed: a record over
//! a limit is refused alone (`record.too_deep`, `record.string_too_long`), naming the native
//! field, and the rest of its batch goes on. The XML reader applies the same limits while it
//! tokenizes ([`crate::xml::parse`]), refusing the payload (`payload.too_deep`,
//! `payload.string_too_long`) with the line.
//!
//! The limits are process-wide ([`configure`] at start-up from the gateway's `limits`
//! section), because decoding happens behind [`crate::Adapter::decode`], whose callers
//! (HTTP, MLLP, replay, the fuzz targets) should not each have to pass them along.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

use domain::FieldError;

use crate::PayloadError;

/// Limits on one payload's structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest nesting of JSON objects/arrays or XML elements; real batches are 4-6 deep.
    pub max_depth: usize,
    /// Longest single string (a JSON string or key, an XML element's text or a tag), in bytes
    /// as sent.
    pub max_string_bytes: usize,
}

/// The defaults: far above any real batch, far below what hurts.
pub const DEFAULT: Limits = Limits {
    max_depth: 32,
    max_string_bytes: 64 * 1024,
};

static MAX_DEPTH: AtomicUsize = AtomicUsize::new(DEFAULT.max_depth);
static MAX_STRING: AtomicUsize = AtomicUsize::new(DEFAULT.max_string_bytes);

/// Set the limits for every later decode in this process. Zero means "the default".
pub fn configure(limits: Limits) {
    let or = |v: usize, d: usize| if v == 0 { d } else { v };
    MAX_DEPTH.store(or(limits.max_depth, DEFAULT.max_depth), Ordering::Relaxed);
    MAX_STRING.store(
        or(limits.max_string_bytes, DEFAULT.max_string_bytes),
        Ordering::Relaxed,
    );
}

/// The limits in force.
pub fn current() -> Limits {
    Limits {
        max_depth: MAX_DEPTH.load(Ordering::Relaxed),
        max_string_bytes: MAX_STRING.load(Ordering::Relaxed),
    }
}

pub(crate) fn too_deep(at: &str, max: usize) -> PayloadError {
    PayloadError::new(
        "payload.too_deep",
        format!("{at}: the payload nests deeper than {max} levels"),
    )
}

pub(crate) fn too_long(at: &str, len: usize, max: usize) -> PayloadError {
    PayloadError::new(
        "payload.string_too_long",
        format!("{at}: a string of {len} bytes or more; the limit is {max}"),
    )
}

/// A JSON value over a limit: its code and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exceeded {
    /// `record.too_deep` or `record.string_too_long`.
    pub code: &'static str,
    pub message: String,
}

enum Frame {
    /// Where the key being read or last read is in the payload (`None` right after `{` or
    /// `,`): only an error names it, so it is not copied out on the way.
    Object {
        key: Option<Range<usize>>,
    },
    Array {
        index: usize,
    },
}

/// The path of the value being read, as adapters name record locations: `records[3].name`.
fn path(stack: &[Frame], payload: &[u8]) -> String {
    let mut out = String::new();
    for frame in stack {
        match frame {
            Frame::Object { key: Some(k) } => {
                if !out.is_empty() {
                    out.push('.');
                }
                // Keys are names of the sender's format; keep a short, readable form.
                out.extend(
                    String::from_utf8_lossy(&payload[k.clone()])
                        .chars()
                        .take(64),
                );
            }
            Frame::Object { key: None } => {}
            Frame::Array { index } => out.push_str(&format!("[{index}]")),
        }
    }
    if out.is_empty() {
        "the record".into()
    } else {
        format!("field {out}")
    }
}

/// Check one JSON record (raw text) against the [`current`] limits before it is parsed. Only
/// structure is looked at: text that is not JSON passes and is reported by the parser. The
/// error is about the record as a whole (path `""`); its message names the native field.
pub fn check_json_record(raw: &[u8]) -> Result<(), FieldError> {
    check_json_with(raw, current()).map_err(|e| FieldError::new("", e.code, e.message))
}

/// [`check_json_record`] with explicit limits.
pub fn check_json_with(payload: &[u8], limits: Limits) -> Result<(), Exceeded> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < payload.len() {
        match payload[i] {
            b'"' => {
                let start = i + 1;
                let mut j = start;
                // To the closing quote, over escapes: an escape covers the next byte (`\"`,
                // `\\`); `\uXXXX` needs no care.
                while let Some(at) =
                    memchr::memchr2(b'"', b'\\', payload.get(j..).unwrap_or_default())
                {
                    j += at;
                    if payload[j] == b'"' {
                        break;
                    }
                    j += 2;
                }
                if payload.get(j) != Some(&b'"') {
                    j = j.max(payload.len()); // unterminated: the parser says so
                }
                if j - start > limits.max_string_bytes {
                    return Err(Exceeded {
                        code: "record.string_too_long",
                        message: format!(
                            "{}: a string of more than {} bytes",
                            path(&stack, payload),
                            limits.max_string_bytes
                        ),
                    });
                }
                let end = j.min(payload.len());
                if let Some(Frame::Object { key: key @ None }) = stack.last_mut() {
                    *key = Some(start..end);
                }
                i = end + 1;
                continue;
            }
            b'{' | b'[' => {
                if stack.len() >= limits.max_depth {
                    return Err(Exceeded {
                        code: "record.too_deep",
                        message: format!(
                            "{}: nests deeper than {} levels",
                            path(&stack, payload),
                            limits.max_depth
                        ),
                    });
                }
                stack.push(if payload[i] == b'{' {
                    Frame::Object { key: None }
                } else {
                    Frame::Array { index: 0 }
                });
            }
            b'}' | b']' => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Array { index }) => *index += 1,
                Some(Frame::Object { key }) => *key = None,
                None => {}
            },
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Limits = Limits {
        max_depth: 4,
        max_string_bytes: 8,
    };

    #[test]
    fn ordinary_json_passes() {
        let ok = br#"[{"a":"12345678","b":[1,2,{"c":"x\"y"}]}]"#;
        assert_eq!(check_json_with(ok, SMALL), Ok(()));
        // Not JSON: left to the parser.
        assert_eq!(check_json_with(b"not json", SMALL), Ok(()));
    }

    #[test]
    fn deep_nesting_names_where() {
        let deep = br#"{"records":[{"a":[[1]]}]}"#;
        let e = check_json_with(deep, SMALL).unwrap_err();
        assert_eq!(e.code, "record.too_deep");
        assert!(
            e.message.starts_with("field records[0].a[0]:"),
            "{}",
            e.message
        );
        let bomb = "[".repeat(100_000);
        let e = check_json_with(bomb.as_bytes(), DEFAULT).unwrap_err();
        assert_eq!(e.code, "record.too_deep");
    }

    #[test]
    fn long_strings_name_the_record_and_field() {
        let long = br#"{"records":[{"a":"1"},{"a":"2","name":"123456789"}]}"#;
        let e = check_json_with(long, SMALL).unwrap_err();
        assert_eq!(e.code, "record.string_too_long");
        assert!(
            e.message.starts_with("field records[1].name:"),
            "{}",
            e.message
        );
        // Escapes count as sent; an escaped quote does not end the string.
        let escaped = br#"{"a":"\"\"\"\"\""}"#;
        assert_eq!(
            check_json_with(escaped, SMALL).unwrap_err().code,
            "record.string_too_long"
        );
        // A key is a string too.
        let key = br#"{"abcdefghijk":1}"#;
        assert_eq!(
            check_json_with(key, SMALL).unwrap_err().code,
            "record.string_too_long"
        );
    }
}
