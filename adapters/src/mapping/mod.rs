//! Declarative adapter: a department is onboarded with a **mapping file**, no code. The file
//! (format `mapping/v1`, JSON; schema `schemas/mapping.v1.schema.json`) names the department
//! served, the adapter id, the native format (CSV with a header row, JSON, or XML), where the
//! records are, and for each canonical field where its value comes from and how it is converted
//! (dates, date-times, codes, integers, code tables, constants); lists (certificates, process
//! steps, holds) are mapped the same way. See README.md here and `adapters/mappings/`.
//!
//! - [`spec`]: the file format, its validation ([`MappingError`]) and compiled form;
//! - [`targets`]: the canonical fields a mapping may set;
//! - [`csv`]: the CSV reader (bytes, so each row keeps its raw bytes).

pub mod csv;
pub mod spec;
pub mod targets;

pub use spec::{MappingError, Problem};

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use chrono::DateTime;
use domain::FieldError;
use encoding_rs::Encoding;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::common::{self, Problems, beijing, clean_code, clean_text, holder_code_type};
use crate::xml::{self, Element};
use crate::{Adapter, DecodedRecord, PayloadError};
use spec::{Conv, Field, FieldValue, List, Mapping, Source, SourcePath};
use targets::Kind;

/// An adapter described by a mapping file.
#[derive(Debug)]
pub struct MappingAdapter {
    id: &'static str,
    department: &'static str,
    format: &'static str,
    mapping: Mapping,
}

/// The [`Adapter`] trait hands out `&'static str` (the built-in adapters' ids are literals).
/// A mapping adapter's strings come from a file read at run time, so they are leaked once into
/// a process-wide set: an adapter lives as long as the process, and loading the same file again
/// (a reload, a test) reuses the strings instead of leaking them again.
fn intern(s: &str) -> &'static str {
    static SET: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut set = SET
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(&existing) = set.get(s) {
        return existing;
    }
    let leaked: &'static str = Box::leak(s.to_owned().into_boxed_str());
    set.insert(leaked);
    leaked
}

impl MappingAdapter {
    /// Build an adapter from the bytes of a mapping file, validating it thoroughly.
    pub fn from_json(bytes: &[u8]) -> Result<Self, MappingError> {
        let mapping = Mapping::from_json(bytes)?;
        Ok(MappingAdapter {
            id: intern(&mapping.id),
            department: intern(&mapping.department),
            format: intern(&mapping.format_text()),
            mapping,
        })
    }

    /// [`MappingAdapter::from_json`] on a file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, MappingError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path)
            .map_err(|e| MappingError::Io(format!("{}: {e}", path.display())))?;
        Self::from_json(&bytes)
    }

    /// The file's own description of the native format.
    pub fn description(&self) -> &str {
        &self.mapping.description
    }
}

impl Adapter for MappingAdapter {
    fn id(&self) -> &'static str {
        self.id
    }
    fn department(&self) -> &'static str {
        self.department
    }
    fn format(&self) -> &'static str {
        self.format
    }

    fn decode(&self, payload: &[u8]) -> Result<Vec<DecodedRecord>, PayloadError> {
        match &self.mapping.source {
            Source::Csv {
                encoding,
                delimiter,
            } => self.decode_csv(payload, encoding, *delimiter),
            Source::Json { records } => self.decode_json(payload, records),
            Source::Xml { records } => self.decode_xml(payload, records),
        }
    }
}

/// One record (or one element of a list) being read.
#[derive(Clone, Copy)]
enum Src<'a> {
    Csv {
        cells: &'a [Vec<u8>],
        columns: &'a HashMap<String, usize>,
        enc: &'static Encoding,
    },
    Json(&'a Value),
    Xml {
        el: &'a Element<'a>,
        enc: &'static Encoding,
    },
}

/// A native value.
enum Got {
    Blank,
    Text(String),
    /// A problem with the value itself (code, message).
    Bad(&'static str, String),
}

fn find<'e>(el: &'e Element<'e>, steps: &[String]) -> Option<&'e Element<'e>> {
    steps.iter().try_fold(el, |cur, s| cur.child(s))
}

impl<'a> Src<'a> {
    fn get(&self, path: &SourcePath) -> Got {
        let text = |s: &str| {
            let s = clean_text(s);
            if s.is_empty() {
                Got::Blank
            } else {
                Got::Text(s)
            }
        };
        match (self, path) {
            (
                Src::Csv {
                    cells,
                    columns,
                    enc,
                },
                SourcePath::Column(name),
            ) => {
                let Some(bytes) = columns.get(name).and_then(|&i| cells.get(i)) else {
                    return Got::Blank;
                };
                match enc.decode_without_bom_handling_and_without_replacement(bytes) {
                    Some(s) => text(&s),
                    None => Got::Bad(
                        "encoding.invalid",
                        format!("column '{name}' is not valid {}", enc.name()),
                    ),
                }
            }
            (Src::Json(v), SourcePath::Pointer(p)) => match v.pointer(p) {
                None | Some(Value::Null) => Got::Blank,
                Some(Value::String(s)) => text(s),
                Some(Value::Number(n)) => Got::Text(n.to_string()),
                Some(Value::Bool(b)) => Got::Text(b.to_string()),
                Some(other) => Got::Bad(
                    "record.malformed",
                    format!(
                        "'{p}' holds a JSON {}, not a text or a number",
                        if other.is_array() { "array" } else { "object" }
                    ),
                ),
            },
            (Src::Xml { el, enc }, SourcePath::Elements(steps)) => match find(el, steps) {
                None => Got::Blank,
                Some(e) => match e.text(enc) {
                    Ok(s) => text(&s),
                    Err(u) => Got::Bad(
                        "encoding.invalid",
                        format!("<{}> (line {}) is not valid {}", e.name, e.line, u.encoding),
                    ),
                },
            },
            // Validation ties every path to its source kind.
            _ => Got::Blank,
        }
    }

    /// The elements of a list, or why they cannot be read.
    fn list(&self, path: &SourcePath) -> Result<Vec<Src<'a>>, String> {
        match (self, path) {
            (Src::Json(v), SourcePath::Pointer(p)) => match v.pointer(p) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(items)) => items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        if item.is_object() {
                            Ok(Src::Json(item))
                        } else {
                            Err(format!("'{p}/{i}' is not a JSON object"))
                        }
                    })
                    .collect(),
                Some(_) => Err(format!("'{p}' is not a JSON array")),
            },
            (Src::Xml { el, enc }, SourcePath::Elements(steps)) => {
                let (last, parents) = steps.split_last().expect("validated non-empty");
                Ok(find(el, parents)
                    .map(|parent| {
                        parent
                            .children
                            .iter()
                            .filter(|c| &c.name == last)
                            .map(|el| Src::Xml { el, enc })
                            .collect()
                    })
                    .unwrap_or_default())
            }
            _ => Ok(Vec::new()),
        }
    }
}

/// Half-width digits and letters (U+FF01..U+FF5E → ASCII), the ideographic space as a space,
/// trimmed: what date and date-time formats are matched against.
fn half_width(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            c => c,
        })
        .collect::<String>()
        .trim()
        .to_owned()
}

fn parse_datetime(s: &str, formats: &[String]) -> Result<DateTime<chrono::FixedOffset>, String> {
    if formats.is_empty() {
        let t = common::datetime(s)?;
        return domain::rfc3339::parse_strict(&t).map_err(|e| e.to_string());
    }
    let s = half_width(s);
    for f in formats {
        if let Ok(t) = common::parse_datetime_with_offset(&s, f) {
            return Ok(t);
        }
        if let Some(t) = common::parse_naive_datetime(&s, f)
            .ok()
            .and_then(|n| n.and_local_timezone(beijing()).single())
        {
            return Ok(t);
        }
    }
    Err(format!("'{s}' matches none of the formats {formats:?}"))
}

fn parse_date(s: &str, formats: &[String]) -> Result<String, String> {
    if formats.is_empty() {
        return common::date(s);
    }
    let s = half_width(s);
    formats
        .iter()
        .find_map(|f| common::parse_naive_date(&s, f).ok())
        .map(|d| common::format_date(d, "%Y-%m-%d"))
        .ok_or_else(|| format!("'{s}' matches none of the formats {formats:?}"))
}

/// Convert native text; problems are recorded at `path`.
fn convert(conv: &Conv, kind: Kind, s: &str, path: &str, p: &mut Problems) -> Option<Value> {
    let v = match conv {
        Conv::Text => json!(s),
        Conv::Code => json!(clean_code(s)),
        Conv::Integer => json!(p.integer(path, s)?),
        Conv::Date(f) => match parse_date(s, f) {
            Ok(d) => json!(d),
            Err(m) => {
                p.push(path, "date.format", m);
                return None;
            }
        },
        Conv::DateTime(f) => match parse_datetime(s, f) {
            Ok(t) => json!(domain::rfc3339::to_string(&t)),
            Err(m) => {
                p.push(path, "datetime.format", m);
                return None;
            }
        },
        Conv::EpochMillis(f) => match parse_datetime(s, f) {
            Ok(t) => json!(t.timestamp_millis()),
            Err(m) => {
                p.push(path, "datetime.format", m);
                return None;
            }
        },
        Conv::Table(name, table) => {
            match table.get(s.trim()).or_else(|| table.get(&clean_code(s))) {
                Some(v) => v.clone(),
                None => {
                    p.push(
                        path,
                        "code.unknown",
                        format!("'{s}' is not in the code table '{name}'"),
                    );
                    return None;
                }
            }
        }
        Conv::IdType => json!(holder_code_type(s)),
    };
    if let Kind::Enum(values) = kind
        && !v.as_str().is_some_and(|s| values.contains(&s))
    {
        p.push(
            path,
            "code.unknown",
            format!("'{s}' is not one of {}", values.join(", ")),
        );
        return None;
    }
    Some(v)
}

/// Set a value at a JSON Pointer inside `obj`, creating the objects on the way.
fn set(obj: &mut Map<String, Value>, pointer: &str, v: Value) {
    // Unescaped only where escaped, and a key copied only when inserted: this runs for every
    // field of every record.
    fn unescape(t: &str) -> std::borrow::Cow<'_, str> {
        if t.contains('~') {
            t.replace("~1", "/").replace("~0", "~").into()
        } else {
            t.into()
        }
    }
    let (parents, last) = pointer.rsplit_once('/').expect("validated pointer");
    let mut cur = obj;
    for t in parents.split('/').skip(1) {
        let t = unescape(t);
        if !cur.contains_key(t.as_ref()) {
            cur.insert(t.to_string(), Value::Object(Map::new()));
        }
        cur = cur
            .get_mut(t.as_ref())
            .and_then(Value::as_object_mut)
            .expect("targets never overlap a leaf");
    }
    cur.insert(unescape(last).into_owned(), v);
}

/// Is there a value at this (unescaped-token) pointer?
fn has(obj: &Map<String, Value>, pointer: &str) -> bool {
    let mut tokens = pointer.split('/').skip(1);
    let Some(first) = tokens.next() else {
        return false;
    };
    let mut cur = obj.get(first);
    for t in tokens {
        cur = cur.and_then(|v| v.get(t));
    }
    cur.is_some()
}

/// Map one field of `src` into `out`; errors are reported at `base` + the field's pointer.
fn apply(f: &Field, src: &Src, base: &str, out: &mut Map<String, Value>, p: &mut Problems) {
    // Named only when something is reported; a top-level field's is its own pointer.
    let path: std::borrow::Cow<str> = if base.is_empty() {
        f.to.as_str().into()
    } else {
        format!("{base}{}", f.to).into()
    };
    let path = path.as_ref();
    let value = match &f.value {
        FieldValue::Const(v) => Some(v.clone()),
        FieldValue::From {
            path: from,
            conv,
            required,
            default,
        } => match src.get(from) {
            Got::Bad(code, m) => {
                p.push(path, code, m);
                None
            }
            Got::Blank => {
                if default.is_none() && *required {
                    p.push(
                        path,
                        "field.missing",
                        format!("{} is required", from.describe()),
                    );
                }
                default.clone()
            }
            Got::Text(s) => convert(conv, f.kind, &s, path, p),
        },
    };
    if let Some(v) = value {
        set(out, &f.to, v);
    }
}

impl MappingAdapter {
    fn map(&self, src: Src) -> Result<Value, Vec<FieldError>> {
        let mut p = Problems::default();
        let mut out = Map::new();
        for f in &self.mapping.fields {
            apply(f, &src, "", &mut out, &mut p);
        }
        let item_set = targets::ITEM.iter().any(|t| has(&out, t));
        if !item_set && !p.0.iter().any(|e| e.path.starts_with("/service_item")) {
            p.push(
                "/service_item/local",
                "field.missing",
                "the item code or name is required",
            );
        }
        for list in &self.mapping.lists {
            self.map_list(list, &src, &mut out, &mut p);
        }
        p.into_result(Value::Object(out))
    }

    fn map_list(&self, list: &List, src: &Src, out: &mut Map<String, Value>, p: &mut Problems) {
        let mut elements = match &list.from {
            None => {
                // CSV: the row itself, when any of the list's columns has a value.
                let present = list.present_if.is_some()
                    || list.fields.iter().any(|f| match &f.value {
                        FieldValue::From { path, .. } => !matches!(src.get(path), Got::Blank),
                        FieldValue::Const(_) => false,
                    });
                if present { vec![*src] } else { Vec::new() }
            }
            Some(path) => match src.list(path) {
                Ok(e) => e,
                Err(why) => {
                    p.push(&list.to, "record.malformed", why);
                    return;
                }
            },
        };
        if let Some(when) = &list.present_if {
            elements.retain(|el| !matches!(el.get(when), Got::Blank));
        }
        let items: Vec<Value> = elements
            .iter()
            .enumerate()
            .map(|(i, el)| {
                let mut obj = Map::new();
                for f in &list.fields {
                    apply(f, el, &format!("{}/{i}", list.to), &mut obj, p);
                }
                Value::Object(obj)
            })
            .collect();
        if !items.is_empty() {
            set(out, &list.to, Value::Array(items));
        }
    }

    /// The case number of a record, for receipts, when it can be read.
    fn case_no(&self, src: &Src) -> Option<String> {
        let f = self.mapping.fields.iter().find(|f| f.to == "/case_no")?;
        match &f.value {
            FieldValue::From { path, .. } => match src.get(path) {
                Got::Text(s) => Some(clean_code(&s)).filter(|c| !c.is_empty()),
                _ => None,
            },
            FieldValue::Const(_) => None,
        }
    }

    fn decode_csv(
        &self,
        payload: &[u8],
        enc: &'static Encoding,
        delimiter: u8,
    ) -> Result<Vec<DecodedRecord>, PayloadError> {
        let start = if payload.starts_with(b"\xEF\xBB\xBF") {
            if enc != encoding_rs::UTF_8 {
                return Err(PayloadError::new(
                    "payload.encoding",
                    format!(
                        "a UTF-8 byte-order mark contradicts the mapping's encoding {}",
                        enc.name()
                    ),
                ));
            }
            3
        } else {
            0
        };
        let rows = csv::rows(payload, start, delimiter);
        let mut rows = rows.into_iter().filter(|r| !r.is_blank());
        let header = rows
            .next()
            .ok_or_else(|| PayloadError::new("payload.malformed", "the file has no header row"))?;
        if let Some(why) = &header.error {
            return Err(PayloadError::new(
                "payload.malformed",
                format!("header row: {why}"),
            ));
        }
        let mut columns: HashMap<String, usize> = HashMap::new();
        let mut duplicated = Vec::new();
        for (i, cell) in header.cells.iter().enumerate() {
            let name = enc
                .decode_without_bom_handling_and_without_replacement(cell)
                .ok_or_else(|| {
                    PayloadError::new(
                        "payload.encoding",
                        format!(
                            "the header row (line {}) is not valid {}",
                            header.line,
                            enc.name()
                        ),
                    )
                })?;
            let name = name.trim().to_owned();
            if columns.insert(name.clone(), i).is_some() {
                duplicated.push(name);
            }
        }
        let used = self.columns();
        let missing: Vec<&str> = used
            .iter()
            .filter(|c| !columns.contains_key(**c))
            .copied()
            .collect();
        if !missing.is_empty() {
            return Err(PayloadError::new(
                "payload.malformed",
                format!(
                    "the header row lacks column(s) the mapping reads: {}",
                    missing.join(", ")
                ),
            ));
        }
        if let Some(d) = duplicated.iter().find(|d| used.contains(&d.as_str())) {
            return Err(PayloadError::new(
                "payload.malformed",
                format!("column '{d}' appears twice in the header row"),
            ));
        }
        let rows: Vec<_> = rows.collect();
        Ok(crate::parallel::map_records(&rows, |i, row| {
            let src = Src::Csv {
                cells: &row.cells,
                columns: &columns,
                enc,
            };
            let draft = if let Some(why) = &row.error {
                Err(vec![FieldError::new("", "record.malformed", why.clone())])
            } else if row.cells.len() != header.cells.len() {
                Err(vec![FieldError::new(
                    "",
                    "record.malformed",
                    format!(
                        "the row has {} cells, the header {}",
                        row.cells.len(),
                        header.cells.len()
                    ),
                )])
            } else {
                self.map(src)
            };
            DecodedRecord {
                position: i,
                location: format!("row {} (line {})", i + 1, row.line),
                raw: payload[row.range.clone()].to_vec(),
                case_no: if row.error.is_none() {
                    self.case_no(&src)
                } else {
                    None
                },
                draft,
            }
        }))
    }

    /// Every CSV column the mapping reads.
    fn columns(&self) -> Vec<&str> {
        let mut out = Vec::new();
        let all = self
            .mapping
            .fields
            .iter()
            .chain(self.mapping.lists.iter().flat_map(|l| l.fields.iter()));
        for f in all {
            if let FieldValue::From {
                path: SourcePath::Column(c),
                ..
            } = &f.value
                && !out.contains(&c.as_str())
            {
                out.push(c.as_str());
            }
        }
        for l in &self.mapping.lists {
            if let Some(SourcePath::Column(c)) = &l.present_if
                && !out.contains(&c.as_str())
            {
                out.push(c.as_str());
            }
        }
        out
    }

    fn decode_json(
        &self,
        payload: &[u8],
        records: &str,
    ) -> Result<Vec<DecodedRecord>, PayloadError> {
        let malformed = |why: String| PayloadError::new("payload.malformed", why);
        let payload = payload.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(payload);
        let text = std::str::from_utf8(payload)
            .map_err(|e| malformed(format!("the JSON document is not UTF-8: {e}")))?;
        let mut cur: &RawValue =
            serde_json::from_str(text).map_err(|e| malformed(format!("not JSON: {e}")))?;
        let mut walked = String::new();
        for token in records.split('/').skip(1) {
            let token = token.replace("~1", "/").replace("~0", "~");
            walked.push('/');
            walked.push_str(&domain::field_error::pointer_token(&token));
            let next = if cur.get().trim_start().starts_with('[') {
                let items: Vec<&RawValue> =
                    serde_json::from_str(cur.get()).map_err(|e| malformed(e.to_string()))?;
                token
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| items.get(i).copied())
            } else if cur.get().trim_start().starts_with('{') {
                let members: HashMap<String, &RawValue> =
                    serde_json::from_str(cur.get()).map_err(|e| malformed(e.to_string()))?;
                members.get(&token).copied()
            } else {
                None
            };
            cur = next.ok_or_else(|| malformed(format!("the document has no '{walked}'")))?;
        }
        let items: Vec<&RawValue> = serde_json::from_str(cur.get())
            .map_err(|_| malformed(format!("'{records}' is not an array of records")))?;
        Ok(crate::parallel::map_records(&items, |i, raw| {
            let value = match crate::common::json_record(raw) {
                Ok(value) => value,
                Err(e) => {
                    return DecodedRecord {
                        position: i,
                        location: format!("{records}/{i}"),
                        raw: raw.get().as_bytes().to_vec(),
                        case_no: None,
                        draft: Err(vec![e]),
                    };
                }
            };
            let src = Src::Json(&value);
            DecodedRecord {
                position: i,
                location: format!("{records}/{i}"),
                raw: raw.get().as_bytes().to_vec(),
                case_no: self.case_no(&src),
                draft: if value.is_object() {
                    self.map(src)
                } else {
                    Err(vec![FieldError::new(
                        "",
                        "record.not_object",
                        "a record must be a JSON object",
                    )])
                },
            }
        }))
    }

    fn decode_xml(
        &self,
        payload: &[u8],
        records: &[String],
    ) -> Result<Vec<DecodedRecord>, PayloadError> {
        let doc = xml::parse(payload)?;
        let (root, rest) = records.split_first().expect("validated non-empty");
        if &doc.root.name != root {
            return Err(PayloadError::new(
                "payload.malformed",
                format!("root element is <{}>, expected <{root}>", doc.root.name),
            ));
        }
        let (last, parents) = match rest.split_last() {
            Some(x) => x,
            None => {
                return Err(PayloadError::new(
                    "payload.malformed",
                    "the mapping's record path names only the root",
                ));
            }
        };
        let mut parent = &doc.root;
        for step in parents {
            parent = parent.child(step).ok_or_else(|| {
                PayloadError::new(
                    "payload.malformed",
                    format!("<{}> has no <{step}>", parent.name),
                )
            })?;
        }
        let elements: Vec<&Element> = parent.children_named(last).collect();
        Ok(crate::parallel::map_records(&elements, |i, el| {
            let src = Src::Xml {
                el,
                enc: doc.encoding,
            };
            DecodedRecord {
                position: i,
                location: format!("{last} #{} (line {})", i + 1, el.line),
                raw: payload[el.start..el.end].to_vec(),
                case_no: self.case_no(&src),
                draft: self.map(src),
            }
        }))
    }
}

#[cfg(test)]
mod tests;
