//! Mapping files, format `mapping/v1`: reading, validation and the compiled form the adapter
//! runs. Validation reports every problem it finds at once, each at a JSON Pointer into the
//! mapping file, so a department's integrator can fix a file in one go. The JSON Schema
//! `schemas/mapping.v1.schema.json` describes the same format for editors; this module is the
//! authority (it also checks what a schema cannot: conversions against the canonical field's
//! kind, code-table values, date formats, encodings, coverage of the required fields).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone};
use encoding_rs::Encoding;
use serde::Deserialize;
use serde_json::Value;

use super::csv::DELIMITERS;
use super::targets::{self, ID_TYPES, Kind};
use crate::common::beijing;

/// The value of the `mapping` member every mapping file starts with.
pub const FORMAT_TAG: &str = "mapping/v1";

/// One problem in a mapping file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// JSON Pointer into the mapping file (`/fields/3/convert`).
    pub at: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.at.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.at, self.message)
        }
    }
}

/// A mapping file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("cannot read the mapping file: {0}")]
    Io(String),
    /// Not JSON, a member of the wrong type, or an unknown member (typos are not ignored).
    #[error("the mapping file is not a mapping/v1 document: {0}")]
    Syntax(String),
    /// Well-formed, but wrong: every problem found.
    #[error("the mapping file has {} problem(s): {}", .0.len(), join(.0))]
    Invalid(Vec<Problem>),
}

fn join(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl MappingError {
    /// The problems of an [`MappingError::Invalid`] file (empty otherwise).
    pub fn problems(&self) -> &[Problem] {
        match self {
            MappingError::Invalid(p) => p,
            _ => &[],
        }
    }
}

// ---- The file as written -------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    /// Editors' hint (`"$schema": "…/mapping.v1.schema.json"`); ignored.
    #[serde(rename = "$schema")]
    _schema: Option<String>,
    mapping: String,
    id: String,
    #[serde(default)]
    department: String,
    description: String,
    format: FormatSpec,
    #[serde(default)]
    tables: BTreeMap<String, BTreeMap<String, Value>>,
    fields: Vec<FieldSpec>,
    #[serde(default)]
    lists: Vec<ListSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FormatSpec {
    #[serde(rename = "type")]
    kind: String,
    encoding: Option<String>,
    delimiter: Option<String>,
    records: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldSpec {
    to: String,
    from: Option<String>,
    #[serde(rename = "const")]
    constant: Option<Value>,
    convert: Option<Value>,
    #[serde(default)]
    required: bool,
    default: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListSpec {
    to: String,
    from: Option<String>,
    present_if: Option<String>,
    fields: Vec<FieldSpec>,
}

// ---- The compiled form ---------------------------------------------------------------------

/// How records are found in a payload.
#[derive(Debug, Clone)]
pub enum Source {
    /// A header row names the columns; every other non-blank row is a record.
    Csv {
        encoding: &'static Encoding,
        delimiter: u8,
    },
    /// UTF-8 JSON; `records` is a JSON Pointer to the array of records (`""`: the document is
    /// the array).
    Json { records: String },
    /// XML (encoding from its prolog); `records` is the element path from the root to the
    /// repeated record element, root included.
    Xml { records: Vec<String> },
}

/// Where a value is in a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourcePath {
    /// CSV: a column by its header name.
    Column(String),
    /// JSON: a JSON Pointer relative to the record (or list element).
    Pointer(String),
    /// XML: child element names from the record (or list element) element.
    Elements(Vec<String>),
}

impl SourcePath {
    pub fn describe(&self) -> String {
        match self {
            SourcePath::Column(c) => format!("column '{c}'"),
            SourcePath::Pointer(p) => format!("'{p}'"),
            SourcePath::Elements(e) => format!("<{}>", e.join("/")),
        }
    }
}

/// A conversion from native text to the canonical value.
#[derive(Debug, Clone)]
pub enum Conv {
    /// Trimmed text.
    Text,
    /// `clean_code`: full-width to half-width, all white space removed.
    Code,
    Integer,
    /// chrono formats tried in order; empty = the common local formats.
    Date(Vec<String>),
    DateTime(Vec<String>),
    /// A date-time as Unix milliseconds (a version from an update time).
    EpochMillis(Vec<String>),
    /// A code table of the file.
    Table(String, Arc<HashMap<String, Value>>),
    /// Holder code types (`身份证` → `111`, …), `common::holder_code_type`.
    IdType,
}

impl Conv {
    fn name(&self) -> &'static str {
        match self {
            Conv::Text => "text",
            Conv::Code => "code",
            Conv::Integer => "integer",
            Conv::Date(_) => "date",
            Conv::DateTime(_) => "datetime",
            Conv::EpochMillis(_) => "epoch_millis",
            Conv::Table(..) => "table",
            Conv::IdType => "id_type",
        }
    }
}

#[derive(Debug, Clone)]
pub enum FieldValue {
    Const(Value),
    From {
        path: SourcePath,
        conv: Conv,
        required: bool,
        default: Option<Value>,
    },
}

/// One canonical leaf and where its value comes from.
#[derive(Debug, Clone)]
pub struct Field {
    /// JSON Pointer, relative to the record (or to the list element).
    pub to: String,
    pub kind: Kind,
    pub value: FieldValue,
}

/// A canonical list (certificates, process steps, holds).
#[derive(Debug, Clone)]
pub struct List {
    pub to: String,
    /// Where the elements are; `None` for CSV: at most one element per row.
    pub from: Option<SourcePath>,
    /// An element exists only when this value (relative to the element) is not blank. Without
    /// it, a CSV row holds the element when any of the list's columns has a value.
    pub present_if: Option<SourcePath>,
    pub fields: Vec<Field>,
}

/// A validated mapping.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub id: String,
    pub department: String,
    pub description: String,
    pub source: Source,
    pub fields: Vec<Field>,
    pub lists: Vec<List>,
}

// ---- Validation ----------------------------------------------------------------------------

#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, at: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            at: at.into(),
            message: message.into(),
        });
    }
}

fn is_adapter_id(s: &str) -> bool {
    let b = s.as_bytes();
    (2..=40).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// A sample used to check that a format names a whole date (or a date and a time).
fn sample() -> DateTime<chrono::FixedOffset> {
    beijing()
        .with_ymd_and_hms(2026, 11, 18, 9, 7, 5)
        .single()
        .expect("valid sample")
}

fn format_items_ok(f: &str) -> bool {
    !f.is_empty() && !StrftimeItems::new(f).any(|i| matches!(i, Item::Error))
}

/// A chrono format that round-trips a whole date.
pub fn check_date_format(f: &str) -> Result<(), String> {
    let mut s = String::new();
    if !format_items_ok(f) || write!(s, "{}", sample().date_naive().format(f)).is_err() {
        return Err(format!(
            "'{f}' is not a valid date format (chrono strftime syntax)"
        ));
    }
    match NaiveDate::parse_from_str(&s, f) {
        Ok(d) if d == sample().date_naive() => Ok(()),
        _ => Err(format!(
            "'{f}' does not read back a whole date (it needs the year, month and day)"
        )),
    }
}

/// A chrono format that round-trips a date and a time to the minute (seconds optional; an
/// offset `%z`/`%:z` optional, else the time is Beijing time).
pub fn check_datetime_format(f: &str) -> Result<(), String> {
    let mut s = String::new();
    if !format_items_ok(f) || write!(s, "{}", sample().format(f)).is_err() {
        return Err(format!(
            "'{f}' is not a valid date-time format (chrono strftime syntax)"
        ));
    }
    let back = DateTime::parse_from_str(&s, f)
        .map(|t| t.naive_local())
        .or_else(|_| NaiveDateTime::parse_from_str(&s, f));
    let want = sample().naive_local();
    match back {
        Ok(t) if t.date() == want.date() && t.format("%H%M").to_string() == "0907" => Ok(()),
        _ => Err(format!(
            "'{f}' does not read back a date and a time (it needs the year, month, day, hour and minute)"
        )),
    }
}

/// `"date"`, `{"date": "%Y年%m月%d日"}`, `{"date": ["…", "…"]}` and the like.
fn parse_conv(
    v: &Value,
    at: &str,
    tables: &HashMap<String, Arc<HashMap<String, Value>>>,
    used: &mut HashSet<String>,
    p: &mut Problems,
) -> Option<Conv> {
    const KNOWN: &str = "text, code, integer, date, datetime, epoch_millis, id_type, {\"table\": name}, {\"date\"|\"datetime\"|\"epoch_millis\": format(s)}";
    match v {
        Value::String(s) => Some(match s.as_str() {
            "text" => Conv::Text,
            "code" => Conv::Code,
            "integer" => Conv::Integer,
            "date" => Conv::Date(Vec::new()),
            "datetime" => Conv::DateTime(Vec::new()),
            "epoch_millis" => Conv::EpochMillis(Vec::new()),
            "id_type" => Conv::IdType,
            "table" => {
                p.add(
                    at,
                    "a table conversion names its table: {\"table\": \"name\"}",
                );
                return None;
            }
            other => {
                p.add(at, format!("unknown conversion '{other}' (known: {KNOWN})"));
                return None;
            }
        }),
        Value::Object(o) if o.len() == 1 => {
            let (name, arg) = o.iter().next().expect("one member");
            let at = format!("{at}/{}", domain::field_error::pointer_token(name));
            match name.as_str() {
                "table" => {
                    let Some(t) = arg.as_str() else {
                        p.add(at, "the table name must be a string");
                        return None;
                    };
                    used.insert(t.to_owned());
                    match tables.get(t) {
                        Some(table) => Some(Conv::Table(t.to_owned(), table.clone())),
                        None => {
                            p.add(at, format!("no code table '{t}' in \"tables\""));
                            None
                        }
                    }
                }
                "date" | "datetime" | "epoch_millis" => {
                    let formats: Vec<String> = match arg {
                        Value::String(s) => vec![s.clone()],
                        Value::Array(a) if !a.is_empty() && a.iter().all(Value::is_string) => a
                            .iter()
                            .map(|f| f.as_str().expect("string").to_owned())
                            .collect(),
                        _ => {
                            p.add(at, "formats are a string or a non-empty array of strings");
                            return None;
                        }
                    };
                    let mut ok = true;
                    for f in &formats {
                        let checked = if name == "date" {
                            check_date_format(f)
                        } else {
                            check_datetime_format(f)
                        };
                        if let Err(why) = checked {
                            p.add(&at, why);
                            ok = false;
                        }
                    }
                    ok.then_some(match name.as_str() {
                        "date" => Conv::Date(formats),
                        "datetime" => Conv::DateTime(formats),
                        _ => Conv::EpochMillis(formats),
                    })
                }
                other => {
                    p.add(at, format!("unknown conversion '{other}' (known: {KNOWN})"));
                    None
                }
            }
        }
        _ => {
            p.add(
                at,
                format!("a conversion is a name or a one-member object ({KNOWN})"),
            );
            None
        }
    }
}

/// Can this conversion produce a value of this kind?
fn fits(conv: &Conv, kind: Kind) -> bool {
    match (conv, kind) {
        (Conv::Table(..), Kind::Text | Kind::Integer | Kind::Bool | Kind::Enum(_)) => true,
        (Conv::Text | Conv::Code, Kind::Text | Kind::Enum(_)) => true,
        (Conv::Integer | Conv::EpochMillis(_), Kind::Integer) => true,
        (Conv::Date(_), Kind::Date) => true,
        (Conv::DateTime(_), Kind::DateTime) => true,
        (Conv::IdType, Kind::Enum(v)) => v == ID_TYPES,
        _ => false,
    }
}

fn default_conv(kind: Kind) -> Option<Conv> {
    match kind {
        Kind::Text | Kind::Enum(_) => Some(Conv::Text),
        Kind::Integer => Some(Conv::Integer),
        Kind::DateTime => Some(Conv::DateTime(Vec::new())),
        Kind::Date => Some(Conv::Date(Vec::new())),
        Kind::Bool => None,
    }
}

fn source_path(source: &Source, from: &str, at: &str, p: &mut Problems) -> Option<SourcePath> {
    match source {
        Source::Csv { .. } => {
            if from.trim().is_empty() {
                p.add(at, "a column name is required");
                return None;
            }
            Some(SourcePath::Column(from.trim().to_owned()))
        }
        Source::Json { .. } => {
            if !from.starts_with('/') {
                p.add(
                    at,
                    format!(
                        "'{from}' is not a JSON Pointer into the record (e.g. /applicant/name)"
                    ),
                );
                return None;
            }
            Some(SourcePath::Pointer(from.to_owned()))
        }
        Source::Xml { .. } => element_path(from, at, p).map(SourcePath::Elements),
    }
}

fn element_path(s: &str, at: &str, p: &mut Problems) -> Option<Vec<String>> {
    if s.contains('@') {
        p.add(
            at,
            format!("'{s}': attributes cannot be mapped (the XML reader keeps element text only)"),
        );
        return None;
    }
    let steps: Vec<String> = s.split('/').map(str::to_owned).collect();
    if s.starts_with('/') || steps.iter().any(|x| x.trim().is_empty() || x.contains(':')) {
        p.add(
            at,
            format!("'{s}' is not an element path (local names separated by '/', e.g. SQR/XM)"),
        );
        return None;
    }
    Some(steps)
}

struct Ctx<'a> {
    source: &'a Source,
    tables: &'a HashMap<String, Arc<HashMap<String, Value>>>,
    used: HashSet<String>,
    p: Problems,
}

impl Ctx<'_> {
    fn field(
        &mut self,
        spec: &FieldSpec,
        at: &str,
        kind: Option<Kind>,
        hint: &str,
    ) -> Option<Field> {
        let Some(kind) = kind else {
            self.p.add(
                format!("{at}/to"),
                format!(
                    "'{}' is not a canonical field a mapping may set{hint}",
                    spec.to
                ),
            );
            return None;
        };
        let value = match (&spec.from, &spec.constant) {
            (Some(_), Some(_)) => {
                self.p
                    .add(at, "give either \"from\" or \"const\", not both");
                return None;
            }
            (None, None) => {
                self.p
                    .add(at, "needs \"from\" (where the value is) or \"const\"");
                return None;
            }
            (None, Some(c)) => {
                for (key, present) in [
                    ("convert", spec.convert.is_some()),
                    ("default", spec.default.is_some()),
                    ("required", spec.required),
                ] {
                    if present {
                        self.p.add(
                            format!("{at}/{key}"),
                            format!("\"{key}\" means nothing for a constant"),
                        );
                    }
                }
                if !kind.accepts(c) {
                    self.p.add(
                        format!("{at}/const"),
                        format!("{} takes {}, not {c}", spec.to, kind.describe()),
                    );
                    return None;
                }
                FieldValue::Const(c.clone())
            }
            (Some(from), None) => {
                let path = source_path(self.source, from, &format!("{at}/from"), &mut self.p);
                let conv = match &spec.convert {
                    Some(v) => parse_conv(
                        v,
                        &format!("{at}/convert"),
                        self.tables,
                        &mut self.used,
                        &mut self.p,
                    ),
                    None => {
                        let c = default_conv(kind);
                        if c.is_none() {
                            self.p.add(
                                at,
                                format!(
                                    "{} is true or false: give a table conversion, e.g. {{\"table\": \"yes_no\"}} with {{\"是\": true, \"否\": false}}",
                                    spec.to
                                ),
                            );
                        }
                        c
                    }
                };
                if let Some(c) = &conv {
                    if !fits(c, kind) {
                        self.p.add(
                            format!("{at}/convert"),
                            format!(
                                "conversion '{}' cannot give {} for {}",
                                c.name(),
                                kind.describe(),
                                spec.to
                            ),
                        );
                    } else if let Conv::Table(name, table) = c {
                        for (k, v) in table.iter() {
                            if !kind.accepts(v) {
                                self.p.add(
                                    format!(
                                        "/tables/{}/{}",
                                        domain::field_error::pointer_token(name),
                                        domain::field_error::pointer_token(k)
                                    ),
                                    format!(
                                        "used for {} which takes {}, not {v}",
                                        spec.to,
                                        kind.describe()
                                    ),
                                );
                            }
                        }
                    }
                }
                if spec.required && spec.default.is_some() {
                    self.p.add(
                        format!("{at}/required"),
                        "a field with a \"default\" is never missing: drop \"required\"",
                    );
                }
                if let Some(d) = &spec.default
                    && !kind.accepts(d)
                {
                    self.p.add(
                        format!("{at}/default"),
                        format!("{} takes {}, not {d}", spec.to, kind.describe()),
                    );
                }
                FieldValue::From {
                    path: path?,
                    conv: conv?,
                    required: spec.required,
                    default: spec.default.clone(),
                }
            }
        };
        Some(Field {
            to: spec.to.clone(),
            kind,
            value,
        })
    }
}

fn check_duplicates(fields: &[FieldSpec], at: &str, p: &mut Problems) {
    let mut seen = HashSet::new();
    for (i, f) in fields.iter().enumerate() {
        if !seen.insert(f.to.as_str()) {
            p.add(
                format!("{at}/{i}/to"),
                format!("'{}' is mapped twice", f.to),
            );
        }
    }
}

impl Mapping {
    /// Read and validate a mapping file.
    pub fn from_json(bytes: &[u8]) -> Result<Mapping, MappingError> {
        let file: File =
            serde_json::from_slice(bytes).map_err(|e| MappingError::Syntax(e.to_string()))?;
        let mut p = Problems::default();
        if file.mapping != FORMAT_TAG {
            p.add(
                "/mapping",
                format!("must be \"{FORMAT_TAG}\", not \"{}\"", file.mapping),
            );
        }
        if !is_adapter_id(&file.id) {
            p.add(
                "/id",
                format!(
                    "'{}' is not an adapter id (2-40 of a-z, 0-9 and '-', starting with a letter; it is the URL segment)",
                    file.id
                ),
            );
        }
        if file.department.trim().is_empty() {
            p.add(
                "/department",
                "the department this adapter serves is required (e.g. \"health\"); only that department's systems may push through it",
            );
        } else if !domain::department::is_valid_id(&file.department) {
            p.add(
                "/department",
                format!(
                    "'{}' is not a department id (2-40 of a-z, 0-9 and '_', starting with a letter)",
                    file.department
                ),
            );
        }
        if file.description.trim().is_empty() {
            p.add("/description", "describe the native format in a few words");
        }

        let f = &file.format;
        let no = |p: &mut Problems, key: &str, present: bool, why: &str| {
            if present {
                p.add(format!("/format/{key}"), why.to_owned());
            }
        };
        let source = match f.kind.as_str() {
            "csv" => {
                no(
                    &mut p,
                    "records",
                    f.records.is_some(),
                    "CSV records are the rows after the header row",
                );
                let label = f.encoding.as_deref().unwrap_or("UTF-8");
                let encoding = match Encoding::for_label(label.trim().as_bytes()) {
                    None => {
                        p.add(
                            "/format/encoding",
                            format!(
                                "'{label}' is not an encoding label (e.g. UTF-8, GBK, GB18030)"
                            ),
                        );
                        None
                    }
                    Some(e) if !e.is_ascii_compatible() => {
                        p.add(
                            "/format/encoding",
                            format!(
                                "{} is not ASCII-compatible; CSV must be UTF-8, GBK, GB18030 or another ASCII-compatible encoding",
                                e.name()
                            ),
                        );
                        None
                    }
                    Some(e) => Some(e),
                };
                let delimiter = match f.delimiter.as_deref().unwrap_or(",").as_bytes() {
                    [d] if DELIMITERS.contains(d) => Some(*d),
                    _ => {
                        p.add(
                            "/format/delimiter",
                            "the delimiter must be \",\", \";\" or \"\\t\" (bytes that never occur inside GBK or GB 18030 characters)",
                        );
                        None
                    }
                };
                match (encoding, delimiter) {
                    (Some(encoding), Some(delimiter)) => Some(Source::Csv {
                        encoding,
                        delimiter,
                    }),
                    _ => None,
                }
            }
            "json" => {
                no(
                    &mut p,
                    "delimiter",
                    f.delimiter.is_some(),
                    "only CSV has a delimiter",
                );
                if let Some(e) = &f.encoding
                    && Encoding::for_label(e.trim().as_bytes()) != Some(encoding_rs::UTF_8)
                {
                    p.add(
                        "/format/encoding",
                        "JSON is always UTF-8 (RFC 8259); use CSV or XML for GBK sources",
                    );
                }
                match f.records.as_deref() {
                    Some(r) if r.is_empty() || r.starts_with('/') => Some(Source::Json {
                        records: r.to_owned(),
                    }),
                    Some(r) => {
                        p.add(
                            "/format/records",
                            format!("'{r}' is not a JSON Pointer (\"\" for a top-level array, or e.g. /data/records)"),
                        );
                        None
                    }
                    None => {
                        p.add(
                            "/format/records",
                            "a JSON Pointer to the array of records is required (\"\" for a top-level array)",
                        );
                        None
                    }
                }
            }
            "xml" => {
                no(
                    &mut p,
                    "delimiter",
                    f.delimiter.is_some(),
                    "only CSV has a delimiter",
                );
                no(
                    &mut p,
                    "encoding",
                    f.encoding.is_some(),
                    "an XML document declares its encoding in its prolog (<?xml … encoding=\"GBK\"?>)",
                );
                match &f.records {
                    Some(r) => match element_path(r, "/format/records", &mut p) {
                        Some(records) if records.len() >= 2 => Some(Source::Xml { records }),
                        Some(_) => {
                            p.add(
                                "/format/records",
                                "name the root and the record element at least (e.g. PACKAGE/RECORD)",
                            );
                            None
                        }
                        None => None,
                    },
                    None => {
                        p.add(
                            "/format/records",
                            "the element path from the root to the record element is required (e.g. PACKAGE/BODY/RECORD)",
                        );
                        None
                    }
                }
            }
            other => {
                p.add(
                    "/format/type",
                    format!("'{other}' is not a format: csv, json or xml"),
                );
                None
            }
        };

        let mut tables = HashMap::new();
        for (name, t) in &file.tables {
            let at = format!("/tables/{}", domain::field_error::pointer_token(name));
            if t.is_empty() {
                p.add(&at, "a code table needs at least one entry");
            }
            for (k, v) in t {
                if !(v.is_string() || v.is_boolean() || v.is_i64()) {
                    p.add(
                        format!("{at}/{}", domain::field_error::pointer_token(k)),
                        format!(
                            "a canonical value is a string, a whole number or a boolean, not {v}"
                        ),
                    );
                }
            }
            tables.insert(name.clone(), Arc::new(t.clone().into_iter().collect()));
        }

        let Some(source) = source else {
            // Fields cannot be checked without knowing what "from" means.
            return Err(MappingError::Invalid(p.0));
        };
        let mut ctx = Ctx {
            source: &source,
            tables: &tables,
            used: HashSet::new(),
            p,
        };
        check_duplicates(&file.fields, "/fields", &mut ctx.p);
        let fields: Vec<Field> = file
            .fields
            .iter()
            .enumerate()
            .filter_map(|(i, spec)| {
                let hint = if targets::LISTS.iter().any(|l| spec.to.starts_with(l.to)) {
                    " (lists such as certificates are mapped under \"lists\")"
                } else {
                    ""
                };
                ctx.field(
                    spec,
                    &format!("/fields/{i}"),
                    targets::record_kind(&spec.to),
                    hint,
                )
            })
            .collect();

        let mut lists = Vec::new();
        let mut seen_lists = HashSet::new();
        for (i, spec) in file.lists.iter().enumerate() {
            let at = format!("/lists/{i}");
            let Some(target) = targets::list(&spec.to) else {
                let known: Vec<&str> = targets::LISTS.iter().map(|l| l.to).collect();
                ctx.p.add(
                    format!("{at}/to"),
                    format!(
                        "'{}' is not a canonical list: {}",
                        spec.to,
                        known.join(", ")
                    ),
                );
                continue;
            };
            if !seen_lists.insert(target.to) {
                ctx.p
                    .add(format!("{at}/to"), format!("'{}' is mapped twice", spec.to));
            }
            let from = match (&source, &spec.from) {
                (Source::Csv { .. }, None) => None,
                (Source::Csv { .. }, Some(_)) => {
                    ctx.p.add(
                        format!("{at}/from"),
                        "a CSV row holds at most one element of a list: leave out \"from\"",
                    );
                    None
                }
                (_, None) => {
                    ctx.p.add(
                        format!("{at}/from"),
                        "where the list's elements are is required (a JSON Pointer to an array, or an element path)",
                    );
                    None
                }
                (_, Some(f)) => source_path(&source, f, &format!("{at}/from"), &mut ctx.p),
            };
            let present_if = spec
                .present_if
                .as_deref()
                .and_then(|f| source_path(&source, f, &format!("{at}/present_if"), &mut ctx.p));
            check_duplicates(&spec.fields, &format!("{at}/fields"), &mut ctx.p);
            let fields: Vec<Field> = spec
                .fields
                .iter()
                .enumerate()
                .filter_map(|(j, f)| {
                    ctx.field(
                        f,
                        &format!("{at}/fields/{j}"),
                        target.kind(&f.to),
                        " in this list",
                    )
                })
                .collect();
            let mapped: HashSet<&str> = spec.fields.iter().map(|f| f.to.as_str()).collect();
            for req in target.required {
                if !mapped.contains(req) {
                    ctx.p.add(
                        format!("{at}/fields"),
                        format!(
                            "every element of {} needs {req}, which is never mapped",
                            target.to
                        ),
                    );
                }
            }
            if spec.fields.iter().all(|f| f.from.is_none()) {
                ctx.p.add(
                    format!("{at}/fields"),
                    "a list of constants only would never be present: map at least one field with \"from\"",
                );
            }
            lists.push(List {
                to: target.to.to_owned(),
                from,
                present_if,
                fields,
            });
        }

        let mapped: HashSet<&str> = file.fields.iter().map(|f| f.to.as_str()).collect();
        for req in targets::RECORD_REQUIRED {
            if !mapped.contains(req) {
                ctx.p.add(
                    "/fields",
                    format!("{req} is required in every record but never mapped"),
                );
            }
        }
        if !targets::ITEM.iter().any(|t| mapped.contains(t)) {
            ctx.p.add(
                "/fields",
                format!(
                    "the catalog item is never mapped: map one of {}",
                    targets::ITEM.join(", ")
                ),
            );
        }
        for name in file.tables.keys() {
            if !ctx.used.contains(name) {
                ctx.p.add(
                    format!("/tables/{}", domain::field_error::pointer_token(name)),
                    "this code table is never used",
                );
            }
        }
        if !ctx.p.0.is_empty() {
            return Err(MappingError::Invalid(ctx.p.0));
        }
        Ok(Mapping {
            id: file.id,
            department: file.department,
            description: file.description.trim().to_owned(),
            source,
            fields,
            lists,
        })
    }

    /// Human description of the native format, for `gateway adapters list`.
    pub fn format_text(&self) -> String {
        let how = match &self.source {
            Source::Csv {
                encoding,
                delimiter,
            } => format!(
                "CSV ({}, delimiter {:?}) with a header row",
                encoding.name(),
                char::from(*delimiter)
            ),
            Source::Json { records } => format!("JSON (UTF-8), records at '{records}'"),
            Source::Xml { records } => {
                format!(
                    "XML (encoding as declared), records <{}>",
                    records.join("/")
                )
            }
        };
        format!("{how}; mapping file: {}", self.description)
    }
}
