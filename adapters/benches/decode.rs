//! Throughput of every adapter, in records per second, on a batch of about 500 records built by
//! repeating the records of its valid fixture (`adapters/fixtures/<adapter>/batch-valid.*`):
//!
//! - `<adapter>/decode`: the native batch split into records and mapped to drafts;
//! - `<adapter>/pipeline`: decode, then every draft normalized (`domain::normalize::normalize`:
//!   catalog, check digits, regions, and validation against the canonical JSON Schema), which
//!   is what the gateway does to a pushed batch before storing it.
//!
//! Every record of every batch is checked to normalize before measuring, so the figures are
//! those of the accepted path. Run with `bench/adapters.sh`, which writes
//! `bench/results/adapters-<date>.md`; or `cargo bench -p exchange-adapters --bench decode`.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use adapters::Adapter;
use adapters::civil_affairs::CivilAffairs;
use adapters::ecology_environment::EcologyEnvironment;
use adapters::health::Health;
use adapters::human_resources::HumanResources;
use adapters::mapping::MappingAdapter;
use adapters::market_regulation::MarketRegulation;
use adapters::public_security::PublicSecurity;
use adapters::tax::Tax;
use chrono::DateTime;
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use domain::catalog::Catalog;
use domain::codes::region::RegionCode;
use domain::normalize::{Context, Stamp, normalize};
use domain::regions::RegionTable;
use domain::schema::JsonSchema;
use serde_json::Value;

/// About this many records per measured batch.
const TARGET_RECORDS: usize = 500;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(dir: &str, file: &str) -> Vec<u8> {
    let path = manifest_dir().join("fixtures").join(dir).join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// XML (UTF-8 or GBK: tags are ASCII, and `<` is never a GBK trail byte): the span from the
/// first `open` to the last `close` repeated `times`, and the text of the `count` element set
/// to the new number of records.
fn repeat_xml(doc: &[u8], open: &str, close: &str, count: &str, times: usize, n: usize) -> Vec<u8> {
    let start = find(doc, open.as_bytes()).expect("first record");
    let end = rfind(doc, close.as_bytes()).expect("last record") + close.len();
    let mut out = doc[..start].to_vec();
    for _ in 0..times {
        out.extend_from_slice(&doc[start..end]);
    }
    out.extend_from_slice(&doc[end..]);
    let (open_count, close_count) = (format!("<{count}>"), format!("</{count}>"));
    let from = find(&out, open_count.as_bytes()).expect("count element") + open_count.len();
    let to = from + find(&out[from..], close_count.as_bytes()).expect("count element end");
    out.splice(from..to, n.to_string().into_bytes());
    out
}

/// JSON: the array at `records` (a JSON pointer) repeated, and the count at `count` (if any)
/// set to the new number of records.
fn repeat_json(doc: &[u8], records: &str, count: Option<&str>, times: usize) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(doc).unwrap();
    let list = v
        .pointer_mut(records)
        .and_then(Value::as_array_mut)
        .unwrap();
    let one = list.clone();
    for _ in 1..times {
        list.extend(one.iter().cloned());
    }
    let n = list.len();
    if let Some(count) = count {
        *v.pointer_mut(count).unwrap() = n.into();
    }
    serde_json::to_vec(&v).unwrap()
}

/// CSV: the header row once, then every other line repeated.
fn repeat_csv(doc: &[u8], times: usize) -> Vec<u8> {
    let header_end = find(doc, b"\n").expect("header row") + 1;
    let mut body = doc[header_end..].to_vec();
    if !body.ends_with(b"\n") {
        body.extend_from_slice(if doc[..header_end].ends_with(b"\r\n") {
            b"\r\n"
        } else {
            b"\n"
        });
    }
    let mut out = doc[..header_end].to_vec();
    for _ in 0..times {
        out.extend_from_slice(&body);
    }
    out
}

/// HL7: the messages repeated (each starts with its own MSH).
fn repeat_messages(doc: &[u8], times: usize) -> Vec<u8> {
    let mut one = doc.to_vec();
    if !one.ends_with(b"\r") && !one.ends_with(b"\n") {
        one.push(b'\r');
    }
    one.repeat(times)
}

/// One adapter and its measured batch.
struct Case {
    name: &'static str,
    adapter: Box<dyn Adapter>,
    batch: Vec<u8>,
    records: usize,
}

fn case(
    name: &'static str,
    adapter: Box<dyn Adapter>,
    fixture: Vec<u8>,
    grow: impl Fn(&[u8], usize, usize) -> Vec<u8>,
) -> Case {
    let per_fixture = adapter
        .decode(&fixture)
        .expect("the valid fixture decodes")
        .len();
    let times = (TARGET_RECORDS + per_fixture / 2) / per_fixture;
    let batch = grow(&fixture, times, per_fixture * times);
    Case {
        name,
        adapter,
        batch,
        records: per_fixture * times,
    }
}

fn cases() -> Vec<Case> {
    let mapping = MappingAdapter::from_file(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/health-county-birth-csv.json"),
    )
    .expect("mapping file loads");
    vec![
        case(
            "market-regulation",
            Box::new(MarketRegulation),
            fixture("market-regulation", "batch-valid.json"),
            |d, t, _| repeat_json(d, "/records", None, t),
        ),
        case(
            "public-security",
            Box::new(PublicSecurity),
            fixture("public-security", "batch-valid.gbk.xml"),
            |d, t, n| repeat_xml(d, "<BJXX>", "</BJXX>", "JLS", t, n),
        ),
        case(
            "civil-affairs",
            Box::new(CivilAffairs),
            fixture("civil-affairs", "batch-valid.gb18030.csv"),
            |d, t, _| repeat_csv(d, t),
        ),
        case(
            "human-resources",
            Box::new(HumanResources),
            fixture("human-resources", "batch-valid.json"),
            |d, t, _| repeat_json(d, "/data", Some("/total"), t),
        ),
        case(
            "ecology-environment",
            Box::new(EcologyEnvironment),
            fixture("ecology-environment", "batch-valid.json"),
            |d, t, _| repeat_json(d, "/banjian", Some("/baotou/jilu_shu"), t),
        ),
        case(
            "tax",
            Box::new(Tax),
            fixture("tax", "batch-valid.xml"),
            |d, t, n| repeat_xml(d, "<sw:Record>", "</sw:Record>", "sw:RecordCount", t, n),
        ),
        case(
            "health",
            Box::new(Health),
            fixture("health", "batch-valid.hl7"),
            |d, t, _| repeat_messages(d, t),
        ),
        case(
            "mapping-health-county-birth-csv",
            Box::new(mapping),
            fixture("mapping", "batch-valid.gb18030.csv"),
            |d, t, _| repeat_csv(d, t),
        ),
    ]
}

/// What normalization is checked against, as in the gateway.
struct Reference {
    catalog: Catalog,
    regions: RegionTable,
    schema: JsonSchema,
}

impl Reference {
    fn context(&self) -> Context<'_> {
        Context {
            catalog: &self.catalog,
            regions: &self.regions,
            schema: &self.schema,
            legacy_credit_prefixes: &[],
            max_clock_skew: chrono::Duration::minutes(5),
        }
    }
}

fn stamp(adapter: &dyn Adapter) -> Stamp {
    Stamp {
        department: adapter.department().into(),
        system: "bench-system".into(),
        node_region: RegionCode::parse("621000000000").unwrap(),
        ingested_at: DateTime::parse_from_rfc3339("2026-11-25T12:00:00+08:00").unwrap(),
    }
}

/// Decode and normalize a batch; the number of records stored.
fn pipeline(adapter: &dyn Adapter, batch: &[u8], stamp: &Stamp, ctx: &Context) -> usize {
    let mut stored = 0;
    for rec in adapter.decode(batch).expect("the batch decodes") {
        if let Ok(draft) = rec.draft
            && let Ok(normalized) = normalize(draft, stamp, ctx)
        {
            black_box(normalized);
            stored += 1;
        }
    }
    stored
}

fn bench(c: &mut Criterion) {
    let reference = Reference {
        catalog: Catalog::bundled().unwrap(),
        regions: RegionTable::bundled().unwrap(),
        schema: JsonSchema::case_record(),
    };
    let ctx = reference.context();
    for case in cases() {
        let adapter = case.adapter.as_ref();
        let stamp = stamp(adapter);
        // Only the accepted path is measured: every record of the batch must be stored.
        let decoded = adapter.decode(&case.batch).expect("the batch decodes");
        assert_eq!(
            decoded.len(),
            case.records,
            "{}: records in the batch",
            case.name
        );
        for rec in decoded {
            let draft = rec
                .draft
                .unwrap_or_else(|e| panic!("{}: {}: {e:?}", case.name, rec.location));
            if let Err(e) = normalize(draft, &stamp, &ctx) {
                panic!("{}: {}: {e:?}", case.name, rec.location);
            }
        }

        let mut group = c.benchmark_group(case.name);
        group
            .throughput(Throughput::Elements(case.records as u64))
            .sampling_mode(SamplingMode::Flat)
            .sample_size(20)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(4));
        group.bench_function("decode", |b| {
            b.iter(|| adapter.decode(black_box(&case.batch)).unwrap().len())
        });
        group.bench_function("pipeline", |b| {
            b.iter(|| pipeline(adapter, black_box(&case.batch), &stamp, &ctx))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
