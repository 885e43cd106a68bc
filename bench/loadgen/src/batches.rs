//! Realistic native batches from every adapter's valid fixture, renumbered so every record the
//! load generator sends is a new record.
//!
//! Each fixture (`adapters/fixtures/<adapter>/batch-valid.*`) is cut into a *frame* (what
//! surrounds the records: JSON envelope, XML header with its record count, CSV header row) and
//! one *template* per record, in the source encoding. The gateway's own pipeline
//! ([`gateway::ingest::prepare`]) normalizes each template alone, and what identifies the
//! record is found again in its native bytes: the case number, each certificate's number and
//! GB/T 36904 identifier, and a certificate number that is a holder's credit code. Those spans
//! become slots, rendered fresh for every record sent:
//!
//! - case and certificate numbers get a unique suffix (`-N<hex>`);
//! - an identifier is minted again ([`CertIdentifier::mint`]) with a unique serial and the same
//!   type code and authority, so its check character is right;
//! - a credit code keeps its first 8 characters (kind and registering region) and gets a unique
//!   body and a correct check character, everywhere it occurs in the record (applicant, holder,
//!   licence number).
//!
//! One record in ten is taken from the fixture's records that carry certificates, the others
//! from those that carry none. [`Load::check`] runs generated batches through the same
//! pipeline before anything is measured: every record must normalize, with the expected share
//! of certificates and no number repeated.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use adapters::Adapter;
use anyhow::{Context, bail, ensure};
use bytes::Bytes;
use domain::codes::CreditCode;
use domain::codes::cert_id::CertIdentifier;
use domain::codes::region::RegionCode;
use gateway::ingest::{Prepared, Pusher};
use gateway::reference::Reference;
use serde_json::Value;

/// One record in this many carries certificates.
pub const CERTIFIED_EVERY: u64 = 10;

/// How an adapter's fixture is laid out.
#[derive(Debug, Clone, Copy)]
enum Layout {
    /// A JSON document with the records in the array at `records` (a JSON pointer), and their
    /// number at `count` if the format carries one.
    Json {
        records: &'static str,
        count: Option<&'static str>,
    },
    /// XML: each record is an `open`…`close` element; `count` names the element holding their
    /// number. Tags are ASCII, so this works on GBK bytes too.
    Xml {
        open: &'static str,
        close: &'static str,
        count: &'static str,
    },
    /// CSV with a header row; quoted fields may hold line breaks.
    Csv,
    /// HL7 v2: one message per record, each starting with its MSH segment.
    Hl7,
}

/// An adapter under load: who pushes through it and what its fixture looks like.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// The adapter's id (URL segment of `POST /v1/ingest/{adapter}`).
    pub adapter: &'static str,
    /// The dev principal (`gateway pki init`) of the adapter's department; the city-level
    /// systems may push records of any county of the city.
    pub principal: &'static str,
    fixture: &'static str,
    pub content_type: &'static str,
    layout: Layout,
}

/// Every built-in adapter, and the mapping adapter of `adapters/mappings/` (`MAPPING_FILE`).
pub const SPECS: &[Spec] = &[
    Spec {
        adapter: "market-regulation",
        principal: "xifeng-amr-system",
        fixture: "market-regulation/batch-valid.json",
        content_type: "application/json",
        layout: Layout::Json {
            records: "/records",
            count: None,
        },
    },
    Spec {
        adapter: "public-security",
        principal: "qingyang-psb-system",
        fixture: "public-security/batch-valid.gbk.xml",
        content_type: "application/xml",
        layout: Layout::Xml {
            open: "<BJXX>",
            close: "</BJXX>",
            count: "JLS",
        },
    },
    Spec {
        adapter: "civil-affairs",
        principal: "qingyang-mz-system",
        fixture: "civil-affairs/batch-valid.gb18030.csv",
        content_type: "text/csv",
        layout: Layout::Csv,
    },
    Spec {
        adapter: "human-resources",
        principal: "qingyang-rs-system",
        fixture: "human-resources/batch-valid.json",
        content_type: "application/json",
        layout: Layout::Json {
            records: "/data",
            count: Some("/total"),
        },
    },
    Spec {
        adapter: "ecology-environment",
        principal: "qingyang-sthj-system",
        fixture: "ecology-environment/batch-valid.json",
        content_type: "application/json",
        layout: Layout::Json {
            records: "/banjian",
            count: Some("/baotou/jilu_shu"),
        },
    },
    Spec {
        adapter: "tax",
        principal: "qingyang-sw-system",
        fixture: "tax/batch-valid.xml",
        content_type: "text/xml; charset=utf-8",
        layout: Layout::Xml {
            open: "<sw:Record>",
            close: "</sw:Record>",
            count: "sw:RecordCount",
        },
    },
    Spec {
        adapter: "health",
        principal: "qingyang-wj-system",
        fixture: "health/batch-valid.hl7",
        content_type: "application/hl7-v2",
        layout: Layout::Hl7,
    },
    Spec {
        adapter: "health-county-birth-csv",
        principal: "qingyang-wj-system",
        fixture: "mapping/batch-valid.gb18030.csv",
        content_type: "text/csv",
        layout: Layout::Csv,
    },
];

/// The mapping file the node loads (`ingest.mappings`) for the mapping adapter of [`SPECS`].
pub const MAPPING_FILE: &str = "adapters/mappings/health-county-birth-csv.json";

/// The region of the node the load is pushed at (the dev node: Qingyang city).
pub const NODE_REGION: &str = "621000000000";

/// What surrounds the records of a batch.
#[derive(Debug, Clone)]
enum Part {
    Lit(Vec<u8>),
    /// The number of records, where the format carries it.
    Count,
    /// The records, between `open` and `close`, separated by `sep`.
    Records {
        open: &'static [u8],
        sep: &'static [u8],
        close: &'static [u8],
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum SlotKind {
    /// Case or certificate number: gets a unique suffix.
    Suffix,
    /// A credit code: a new valid code with the same first 8 characters.
    CreditCode,
    /// A GB/T 36904 identifier: minted again with a unique serial.
    Identifier,
}

/// How a token is spelled in the native bytes: as is, or in full-width characters (as some
/// departmental systems type codes) in UTF-8 or in GBK/GB18030.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Form {
    Ascii,
    WideUtf8,
    WideGbk,
}

impl Form {
    const ALL: [Form; 3] = [Form::Ascii, Form::WideUtf8, Form::WideGbk];

    fn spell(self, text: &str) -> Vec<u8> {
        let wide = || -> String {
            text.chars()
                .map(|c| match c {
                    ' ' => '\u{3000}',
                    '!'..='~' => char::from_u32(c as u32 + 0xFEE0).unwrap_or(c),
                    c => c,
                })
                .collect()
        };
        match self {
            Form::Ascii => text.as_bytes().to_vec(),
            Form::WideUtf8 => wide().into_bytes(),
            Form::WideGbk => encoding_rs::GBK.encode(&wide()).0.into_owned(),
        }
    }
}

/// A value to renumber, as the native record spells it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Token {
    kind: SlotKind,
    text: String,
    form: Form,
}

#[derive(Debug, Clone)]
enum Segment {
    Lit(Vec<u8>),
    /// `slot` indexes the template's distinct tokens, so a token found twice renders the same.
    Slot(usize),
}

/// One fixture record, cut into literal bytes and slots.
#[derive(Debug, Clone)]
struct Template {
    segments: Vec<Segment>,
    /// Distinct tokens.
    tokens: Vec<Token>,
}

/// Native batches of one adapter, numbered from the shared counter.
pub struct Load {
    pub spec: Spec,
    adapter: Arc<dyn Adapter>,
    frame: Vec<Part>,
    plain: Vec<Template>,
    certified: Vec<Template>,
    /// Records generated by this adapter (decides which carry certificates).
    seq: AtomicU64,
    /// Index of this adapter in [`SPECS`]: keeps numbers unique across adapters.
    index: u64,
}

/// A generated batch.
pub struct Batch {
    pub body: Bytes,
    pub records: u64,
    pub certified: u64,
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Every record of a fixture (native bytes) and the frame around them.
fn cut(layout: Layout, doc: &[u8]) -> anyhow::Result<(Vec<Part>, Vec<Vec<u8>>)> {
    match layout {
        Layout::Json { records, count } => {
            const RECORDS: &str = "@@BENCH-RECORDS@@";
            const COUNT: &str = "@@BENCH-COUNT@@";
            let mut v: Value = serde_json::from_slice(doc)?;
            let list = v
                .pointer_mut(records)
                .with_context(|| format!("no {records} in the fixture"))?;
            let templates = list
                .as_array()
                .context("records are not an array")?
                .iter()
                .map(serde_json::to_vec)
                .collect::<Result<Vec<_>, _>>()?;
            *list = Value::from(RECORDS);
            if let Some(count) = count {
                *v.pointer_mut(count)
                    .with_context(|| format!("no {count} in the fixture"))? = Value::from(COUNT);
            }
            let text = serde_json::to_string(&v)?;
            let mut frame = Vec::new();
            let mut rest = text.as_str();
            loop {
                let next = [(RECORDS, true), (COUNT, false)]
                    .into_iter()
                    .filter_map(|(mark, records)| {
                        rest.find(&format!("\"{mark}\""))
                            .map(|at| (at, mark.len() + 2, records))
                    })
                    .min();
                let Some((at, len, records)) = next else {
                    frame.push(Part::Lit(rest.as_bytes().to_vec()));
                    break;
                };
                frame.push(Part::Lit(rest.as_bytes()[..at].to_vec()));
                frame.push(if records {
                    Part::Records {
                        open: b"[",
                        sep: b",",
                        close: b"]",
                    }
                } else {
                    Part::Count
                });
                rest = &rest[at + len..];
            }
            Ok((frame, templates))
        }
        Layout::Xml { open, close, count } => {
            let mut templates = Vec::new();
            let mut at = 0;
            let (mut first, mut last) = (None, 0);
            while let Some(start) = find(doc, open.as_bytes(), at) {
                let end =
                    find(doc, close.as_bytes(), start).context("unclosed record")? + close.len();
                first.get_or_insert(start);
                last = end;
                templates.push(doc[start..end].to_vec());
                at = end;
            }
            let first = first.context("no record in the fixture")?;
            let (open_count, close_count) = (format!("<{count}>"), format!("</{count}>"));
            let count_start =
                find(doc, open_count.as_bytes(), 0).context("no record count")? + open_count.len();
            let count_end = find(doc, close_count.as_bytes(), count_start).context("no count")?;
            ensure!(count_end < first, "the record count follows the records");
            let frame = vec![
                Part::Lit(doc[..count_start].to_vec()),
                Part::Count,
                Part::Lit(doc[count_end..first].to_vec()),
                Part::Records {
                    open: b"",
                    sep: b"\n",
                    close: b"",
                },
                Part::Lit(doc[last..].to_vec()),
            ];
            Ok((frame, templates))
        }
        Layout::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(true)
                .flexible(true)
                .from_reader(doc);
            reader.byte_headers()?;
            let mut starts = Vec::new();
            let mut record = csv::ByteRecord::new();
            loop {
                let at = reader.position().byte() as usize;
                if !reader.read_byte_record(&mut record)? {
                    break;
                }
                starts.push(at);
            }
            ensure!(!starts.is_empty(), "no record in the fixture");
            let newline: &[u8] = if doc[..starts[0]].ends_with(b"\r\n") {
                b"\r\n"
            } else {
                b"\n"
            };
            let mut templates = Vec::new();
            for (i, &start) in starts.iter().enumerate() {
                let end = starts.get(i + 1).copied().unwrap_or(doc.len());
                let mut t = doc[start..end].to_vec();
                if !t.ends_with(b"\n") {
                    t.extend_from_slice(newline);
                }
                templates.push(t);
            }
            let frame = vec![
                Part::Lit(doc[..starts[0]].to_vec()),
                Part::Records {
                    open: b"",
                    sep: b"",
                    close: b"",
                },
            ];
            Ok((frame, templates))
        }
        Layout::Hl7 => {
            let starts: Vec<usize> = (0..doc.len())
                .filter(|&i| {
                    doc[i..].starts_with(b"MSH|") && (i == 0 || matches!(doc[i - 1], b'\r' | b'\n'))
                })
                .collect();
            ensure!(!starts.is_empty(), "no message in the fixture");
            let mut templates = Vec::new();
            for (i, &start) in starts.iter().enumerate() {
                let end = starts.get(i + 1).copied().unwrap_or(doc.len());
                let mut t = doc[start..end].to_vec();
                if !t.ends_with(b"\r") && !t.ends_with(b"\n") {
                    t.push(b'\r');
                }
                templates.push(t);
            }
            let frame = vec![Part::Records {
                open: b"",
                sep: b"",
                close: b"",
            }];
            Ok((frame, templates))
        }
    }
}

fn render_frame(frame: &[Part], records: &[Vec<u8>]) -> Vec<u8> {
    let size: usize = records.iter().map(Vec::len).sum::<usize>() + 256;
    let mut out = Vec::with_capacity(size);
    for part in frame {
        match part {
            Part::Lit(b) => out.extend_from_slice(b),
            Part::Count => out.extend_from_slice(records.len().to_string().as_bytes()),
            Part::Records { open, sep, close } => {
                out.extend_from_slice(open);
                for (i, r) in records.iter().enumerate() {
                    if i > 0 {
                        out.extend_from_slice(sep);
                    }
                    out.extend_from_slice(r);
                }
                out.extend_from_slice(close);
            }
        }
    }
    out
}

/// Whether `hay[at..at + len]` is a whole token (no letter or digit right before or after).
fn whole(hay: &[u8], at: usize, len: usize) -> bool {
    let before = at.checked_sub(1).map(|i| hay[i]);
    let after = hay.get(at + len).copied();
    !before.is_some_and(|b| b.is_ascii_alphanumeric())
        && !after.is_some_and(|b| b.is_ascii_alphanumeric())
}

fn occurs(hay: &[u8], needle: &[u8]) -> bool {
    let mut at = 0;
    while let Some(start) = find(hay, needle, at) {
        if whole(hay, start, needle.len()) {
            return true;
        }
        at = start + 1;
    }
    false
}

/// Tokens as the native record spells them: in full-width characters where the source typed
/// them so, and a certificate number the adapter derived by appending `-1`, `-2`… to a native
/// number (a marriage certificate per spouse) without that suffix.
fn native_tokens(bytes: &[u8], values: Vec<(SlotKind, String)>) -> anyhow::Result<Vec<Token>> {
    let mut out = Vec::new();
    for (kind, value) in values {
        let mut text = value.clone();
        let token = loop {
            if let Some(form) = Form::ALL
                .into_iter()
                .find(|f| occurs(bytes, &f.spell(&text)))
            {
                break Token { kind, text, form };
            }
            match text.rsplit_once('-') {
                Some((stem, n))
                    if kind == SlotKind::Suffix
                        && !n.is_empty()
                        && n.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    text = stem.to_owned()
                }
                _ => bail!("{kind:?} {value} does not occur in the native record"),
            }
        };
        out.push(token);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Cut a record's bytes at every occurrence of its tokens (longest first, never overlapping).
fn template(bytes: &[u8], tokens: Vec<Token>) -> anyhow::Result<Template> {
    let needles: Vec<Vec<u8>> = tokens.iter().map(|t| t.form.spell(&t.text)).collect();
    let mut order: Vec<usize> = (0..tokens.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(needles[i].len()));
    let mut claimed: Vec<(usize, usize, usize)> = Vec::new(); // (start, end, token)
    for i in order {
        let needle = &needles[i];
        let mut at = 0;
        let mut found = false;
        while let Some(start) = find(bytes, needle, at) {
            let end = start + needle.len();
            let free = claimed.iter().all(|&(s, e, _)| end <= s || start >= e);
            if free && whole(bytes, start, needle.len()) {
                claimed.push((start, end, i));
                found = true;
            }
            at = start + 1;
        }
        ensure!(found, "{:?} does not occur in the native record", tokens[i]);
    }
    claimed.sort();
    let mut segments = Vec::new();
    let mut at = 0;
    for (start, end, token) in claimed {
        segments.push(Segment::Lit(bytes[at..start].to_vec()));
        segments.push(Segment::Slot(token));
        at = end;
    }
    segments.push(Segment::Lit(bytes[at..].to_vec()));
    Ok(Template { segments, tokens })
}

/// A credit code with `prefix` (8 characters) and a body made from `n`, with its check character.
fn credit_code(prefix: &str, n: u64) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    let mut body = [b'0'; 9];
    let mut v = n;
    for c in body.iter_mut().rev() {
        *c = ALPHABET[(v % 31) as usize];
        v /= 31;
    }
    let stem = format!("{prefix}{}", String::from_utf8_lossy(&body));
    // The check character is whichever one parses: no second copy of GB 32100's weights.
    ALPHABET
        .iter()
        .map(|&c| format!("{stem}{}", c as char))
        .find(|code| CreditCode::parse(code).is_ok())
        .expect("one check character fits")
}

impl Template {
    fn render(&self, n: u64, out: &mut Vec<u8>) {
        let rendered: Vec<Vec<u8>> = self
            .tokens
            .iter()
            .enumerate()
            .map(|(j, t)| {
                let text = match t.kind {
                    SlotKind::Suffix => format!("{}-N{n:X}", t.text),
                    SlotKind::CreditCode => credit_code(&t.text[..8], n * 8 + j as u64),
                    SlotKind::Identifier => {
                        let id = CertIdentifier::parse(&t.text).expect("parsed when cut");
                        CertIdentifier::mint(
                            id.type_code(),
                            id.authority(),
                            &format!("N{n:X}S{j}"),
                            id.version(),
                        )
                        .expect("a valid serial")
                        .as_str()
                        .to_owned()
                    }
                };
                t.form.spell(&text)
            })
            .collect();
        for s in &self.segments {
            match s {
                Segment::Lit(b) => out.extend_from_slice(b),
                Segment::Slot(i) => out.extend_from_slice(&rendered[*i]),
            }
        }
    }
}

/// The gateway's pipeline over one batch, as the node would run it.
pub struct Pipeline {
    reference: Reference,
}

impl Pipeline {
    /// The node's reference data (bundled catalog and regions, the trust bundle of `pki_dir`).
    pub fn new(pki_dir: &Path) -> anyhow::Result<Pipeline> {
        let config = gateway::config::Config {
            pki_dir: pki_dir.to_owned(),
            ..Default::default()
        };
        Ok(Pipeline {
            reference: Reference::baseline(&config)?,
        })
    }

    pub fn prepare(&self, load: &Load, payload: &[u8]) -> anyhow::Result<Prepared> {
        let pusher = Pusher {
            principal_id: load.spec.principal.to_owned(),
            department: load.adapter.department().to_owned(),
            node_region: RegionCode::parse(NODE_REGION)?,
        };
        let now = chrono::Utc::now().with_timezone(&adapters::common::beijing());
        gateway::ingest::prepare(
            load.adapter.as_ref(),
            payload,
            &pusher,
            &self.reference,
            now,
            usize::MAX,
        )
        .map_err(|e| anyhow::anyhow!("{}: {e}", load.spec.adapter))
    }
}

/// A canonical record's timestamps (`/timestamps`), by name.
fn timestamps(
    body: &Value,
) -> anyhow::Result<Vec<(String, chrono::DateTime<chrono::FixedOffset>)>> {
    let times = body["timestamps"].as_object().context("no timestamps")?;
    times
        .iter()
        .map(|(k, v)| {
            let t = v.as_str().context("a timestamp is not a string")?;
            Ok((k.clone(), chrono::DateTime::parse_from_rfc3339(t)?))
        })
        .collect()
}

/// The calendar day (in Beijing) of a canonical record's latest timestamp.
fn latest_timestamp(body: &Value) -> anyhow::Result<chrono::NaiveDate> {
    timestamps(body)?
        .into_iter()
        .map(|(_, t)| t.with_timezone(&adapters::common::beijing()).date_naive())
        .max()
        .context("no timestamps")
}

/// The identifying values of a normalized record, as tokens to find in its native bytes.
fn tokens_of(body: &Value) -> anyhow::Result<(Vec<(SlotKind, String)>, bool)> {
    let mut tokens = vec![(
        SlotKind::Suffix,
        body["case_no"].as_str().context("no case_no")?.to_owned(),
    )];
    let certificates = body
        .pointer("/result/certificates")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for c in &certificates {
        if let Some(id) = c["identifier"].as_str() {
            tokens.push((SlotKind::Identifier, id.to_owned()));
        }
        let number = c["number"].as_str().context("certificate without number")?;
        let kind = if CreditCode::parse(number).is_ok() {
            SlotKind::CreditCode
        } else {
            SlotKind::Suffix
        };
        tokens.push((kind, number.to_owned()));
    }
    tokens.sort();
    tokens.dedup();
    Ok((tokens, !certificates.is_empty()))
}

impl Load {
    /// Cut `spec`'s fixture into templates, each checked through the gateway's pipeline.
    pub fn new(
        spec: Spec,
        index: usize,
        repo: &Path,
        adapters: &[Arc<dyn Adapter>],
        pipeline: &Pipeline,
        fixture_dates: bool,
    ) -> anyhow::Result<Load> {
        let adapter = adapters
            .iter()
            .find(|a| a.id() == spec.adapter)
            .with_context(|| format!("no adapter {}", spec.adapter))?
            .clone();
        let path: PathBuf = repo.join("adapters/fixtures").join(spec.fixture);
        let doc = std::fs::read(&path).with_context(|| format!("{}", path.display()))?;
        let (frame, records) = cut(spec.layout, &doc)
            .with_context(|| format!("{}: cannot cut {}", spec.adapter, path.display()))?;
        let mut load = Load {
            spec,
            adapter,
            frame,
            plain: Vec::new(),
            certified: Vec::new(),
            seq: AtomicU64::new(0),
            index: index as u64,
        };
        // Each record re-dated so that its latest timestamp falls on the day before the run
        // (`crate::redate`): a record is sent as a timely entry whatever the date.
        let yesterday = chrono::Utc::now()
            .with_timezone(&adapters::common::beijing())
            .date_naive()
            - chrono::Duration::days(1);
        for (i, fixture_bytes) in records.iter().enumerate() {
            let what = || format!("{} record {i}", spec.adapter);
            let fixture_body = load
                .normalized(pipeline, fixture_bytes)
                .with_context(what)?;
            let days = match fixture_dates {
                true => 0,
                false => {
                    (yesterday - latest_timestamp(&fixture_body).with_context(what)?).num_days()
                }
            };
            let bytes = &crate::redate::redate(fixture_bytes, days);
            let body = load.normalized(pipeline, bytes).with_context(what)?;
            ensure!(
                timestamps(&body)?
                    == timestamps(&fixture_body)?
                        .into_iter()
                        .map(|(k, t)| (k, t + chrono::Duration::days(days)))
                        .collect::<Vec<_>>(),
                "{}: not every timestamp moved by {days} days",
                what()
            );
            let (tokens, certified) = tokens_of(&body).with_context(what)?;
            let t = template(bytes, native_tokens(bytes, tokens).with_context(what)?)
                .with_context(what)?;
            if certified {
                load.certified.push(t);
            } else {
                load.plain.push(t);
            }
        }
        ensure!(
            !load.plain.is_empty() && !load.certified.is_empty(),
            "{}: the fixture needs records with and without certificates",
            spec.adapter
        );
        Ok(load)
    }

    /// One record's native bytes (in this adapter's frame) through the gateway's pipeline: its
    /// canonical body.
    fn normalized(&self, pipeline: &Pipeline, bytes: &[u8]) -> anyhow::Result<Value> {
        let one = render_frame(&self.frame, &[bytes.to_vec()]);
        let prepared = pipeline.prepare(self, &one)?;
        if let Some(bad) = prepared.invalid.first() {
            bail!("does not normalize alone: {:?}", bad.errors);
        }
        ensure!(prepared.valid.len() == 1, "not one record");
        Ok(serde_json::from_slice(&prepared.valid[0].body_json)?)
    }

    /// A batch of `records` new records (one in [`CERTIFIED_EVERY`] with certificates).
    pub fn batch(&self, records: u64) -> Batch {
        let mut rendered = Vec::with_capacity(records as usize);
        let mut certified = 0;
        for _ in 0..records {
            let k = self.seq.fetch_add(1, Ordering::Relaxed);
            let t = if k.is_multiple_of(CERTIFIED_EVERY) {
                certified += 1;
                &self.certified[(k / CERTIFIED_EVERY) as usize % self.certified.len()]
            } else {
                &self.plain[k as usize % self.plain.len()]
            };
            let mut out = Vec::with_capacity(2048);
            t.render(k * SPECS.len() as u64 + self.index, &mut out);
            rendered.push(out);
        }
        Batch {
            body: Bytes::from(render_frame(&self.frame, &rendered)),
            records,
            certified,
        }
    }

    /// Generate `records` records and run them through the gateway's pipeline: all must be
    /// valid, one in ten with certificates, with no case or certificate number repeated and
    /// none left as in the fixture.
    pub fn check(&self, pipeline: &Pipeline, records: u64) -> anyhow::Result<()> {
        let batch = self.batch(records);
        let prepared = pipeline.prepare(self, &batch.body)?;
        let name = self.spec.adapter;
        if let Some(bad) = prepared.invalid.first() {
            bail!("{name}: generated record invalid: {:?}", bad.errors);
        }
        ensure!(
            prepared.valid.len() as u64 == records,
            "{name}: {} of {records} records decoded",
            prepared.valid.len()
        );
        let originals: HashSet<&str> = self
            .plain
            .iter()
            .chain(&self.certified)
            .flat_map(|t| t.tokens.iter().map(|t| t.text.as_str()))
            .collect();
        let (mut cases, mut numbers, mut with_certs) = (HashSet::new(), HashSet::new(), 0);
        for v in &prepared.valid {
            ensure!(
                !originals.contains(v.case_no.as_str()),
                "{name}: case {} not renumbered",
                v.case_no
            );
            ensure!(cases.insert(v.case_no.clone()), "{name}: case repeated");
            let body: Value = serde_json::from_slice(&v.body_json)?;
            let certs = body
                .pointer("/result/certificates")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            with_certs += u64::from(!certs.is_empty());
            for c in certs {
                let key = format!(
                    "{}|{}|{}",
                    c["issuing_authority"], c["type_code"], c["number"]
                );
                ensure!(
                    numbers.insert(key.clone()),
                    "{name}: certificate {key} repeated"
                );
            }
        }
        ensure!(
            with_certs == batch.certified,
            "{name}: {with_certs} records with certificates, {} expected",
            batch.certified
        );
        Ok(())
    }
}

/// Every adapter of [`SPECS`], checked.
/// `fixture_dates`: send the fixtures' own dates, as runs before 2026-12-06 did (not re-dated).
pub fn loads(
    repo: &Path,
    mapping_dir: &Path,
    pipeline: &Pipeline,
    fixture_dates: bool,
) -> anyhow::Result<Vec<Load>> {
    let adapters = adapters::with_mappings(Some(mapping_dir)).map_err(anyhow::Error::msg)?;
    let mut out = Vec::new();
    for (i, spec) in SPECS.iter().enumerate() {
        let load = Load::new(*spec, i, repo, &adapters, pipeline, fixture_dates)?;
        load.check(pipeline, 40)?;
        out.push(load);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    #[test]
    fn credit_codes_are_valid_and_distinct() {
        let codes: HashSet<String> = (0..200).map(|n| credit_code("91621002", n)).collect();
        assert_eq!(codes.len(), 200);
        for c in &codes {
            assert!(c.starts_with("91621002"), "{c}");
            CreditCode::parse(c).unwrap();
        }
    }

    #[test]
    fn full_width_spellings() {
        assert_eq!(Form::WideUtf8.spell("SW-1"), "ＳＷ－１".as_bytes());
        assert_eq!(
            Form::WideGbk.spell("6 2"),
            encoding_rs::GBK.encode("６　２").0.into_owned()
        );
        let hay = "<CaseNo>ＳＷ－１</CaseNo>".as_bytes();
        let tokens = native_tokens(hay, vec![(SlotKind::Suffix, "SW-1".into())]).unwrap();
        assert_eq!(tokens[0].form, Form::WideUtf8);
    }

    #[test]
    fn a_derived_certificate_number_is_found_without_its_suffix() {
        let hay = b"A,J621002-2026-000318,B";
        let tokens = native_tokens(
            hay,
            vec![(SlotKind::Suffix, "J621002-2026-000318-1".into())],
        )
        .unwrap();
        assert_eq!(tokens[0].text, "J621002-2026-000318");
        assert!(native_tokens(hay, vec![(SlotKind::Suffix, "X-1".into())]).is_err());
    }

    #[test]
    fn templates_are_cut_on_whole_tokens_and_rendered_fresh() {
        let record = b"{\"caseNo\":\"C-1\",\"org\":\"91621002MA7100001H\",\"no\":\"91621002MA7100001H-1\",\"x\":\"C-10\"}";
        let tokens = vec![
            Token {
                kind: SlotKind::Suffix,
                text: "C-1".into(),
                form: Form::Ascii,
            },
            Token {
                kind: SlotKind::CreditCode,
                text: "91621002MA7100001H".into(),
                form: Form::Ascii,
            },
        ];
        let t = template(record, tokens).unwrap();
        let mut out = Vec::new();
        t.render(5, &mut out);
        let text = String::from_utf8(out).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["caseNo"], "C-1-N5");
        assert_eq!(v["x"], "C-10", "not a whole token: left alone");
        let org = v["org"].as_str().unwrap();
        assert_ne!(org, "91621002MA7100001H");
        CreditCode::parse(org).unwrap();
        assert_eq!(v["no"], format!("{org}-1"));
    }

    /// Every fixture cuts into records that its adapter reads back, whatever their number.
    #[test]
    fn every_fixture_is_cut_and_reassembled() {
        let mappings = repo().join("adapters/mappings");
        let adapters = adapters::with_mappings(Some(&mappings)).unwrap();
        for spec in SPECS {
            let adapter = adapters.iter().find(|a| a.id() == spec.adapter).unwrap();
            let doc = std::fs::read(repo().join("adapters/fixtures").join(spec.fixture)).unwrap();
            let (frame, records) = cut(spec.layout, &doc).unwrap();
            let original = adapter.decode(&doc).unwrap().len();
            assert_eq!(records.len(), original, "{}", spec.adapter);
            let doubled: Vec<Vec<u8>> = records.iter().chain(&records).cloned().collect();
            let decoded = adapter.decode(&render_frame(&frame, &doubled)).unwrap();
            assert_eq!(decoded.len(), 2 * original, "{}", spec.adapter);
            for (d, one) in decoded
                .iter()
                .zip(adapter.decode(&doc).unwrap().iter().cycle())
            {
                assert_eq!(d.case_no, one.case_no, "{}", spec.adapter);
            }
        }
    }
}
