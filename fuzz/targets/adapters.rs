//! The bodies of the adapters' fuzz targets, one function per target, shared by
//! `fuzz/fuzz_targets/*.rs` (libFuzzer) and `adapters/tests/fuzz_corpus.rs` (which replays every
//! file of `fuzz/corpus/<target>/` in `cargo test`). Included with `#[path]`, so it may use only
//! what both the fuzz crate and the adapters' tests depend on: `adapters`, `domain`, `chrono`,
//! `serde_json`.
//!
//! The property is "no panic on any input": every function returns normally whatever the bytes,
//! and asserts only what must hold for every input (positions in order, a normalized record
//! passes the schema it was validated against).

#![allow(dead_code)]

use std::sync::LazyLock;

use adapters::Adapter;
use adapters::health::{self, AckCode, Health, Msh};
use adapters::mapping::MappingAdapter;
use adapters::tax::Tax;
use adapters::{
    DecodedRecord, PayloadError, civil_affairs, ecology_environment, human_resources,
    market_regulation, public_security,
};
use chrono::DateTime;
use domain::FieldError;
use domain::catalog::Catalog;
use domain::codes::region::RegionCode;
use domain::normalize::{Context, Stamp, normalize as normalize_draft};
use domain::regions::RegionTable;
use domain::schema::JsonSchema;

/// A target's body.
pub type Target = fn(&[u8]);

/// Every target of this module: (name = the fuzz target and its corpus directory, body).
pub const TARGETS: &[(&str, Target)] = &[
    ("decode_market_regulation", decode_market_regulation),
    ("decode_public_security", decode_public_security),
    ("decode_civil_affairs", decode_civil_affairs),
    ("decode_human_resources", decode_human_resources),
    ("decode_ecology_environment", decode_ecology_environment),
    ("decode_tax", decode_tax),
    ("decode_health", decode_health),
    ("decode_mapping_csv", decode_mapping_csv),
    ("xml_parse", xml_parse),
    ("normalize", normalize),
];

/// The mapping file the `decode_mapping_csv` target decodes with.
const MAPPING_CSV: &[u8] = include_bytes!("../../adapters/mappings/health-county-birth-csv.json");

static MAPPING: LazyLock<MappingAdapter> = LazyLock::new(|| {
    MappingAdapter::from_json(MAPPING_CSV).expect("health-county-birth-csv.json loads")
});

/// Reference data for normalization, loaded once per process.
struct Reference {
    catalog: Catalog,
    regions: RegionTable,
    schema: JsonSchema,
}

static REFERENCE: LazyLock<Reference> = LazyLock::new(|| Reference {
    catalog: Catalog::bundled().expect("bundled catalog"),
    regions: RegionTable::bundled().expect("bundled region table"),
    schema: JsonSchema::case_record(),
});

/// Decode, and look at every record the way the gateway does (location, raw bytes, errors).
fn decode_with(adapter: &dyn Adapter, data: &[u8]) -> Result<Vec<DecodedRecord>, PayloadError> {
    let records = adapter.decode(data);
    match &records {
        Ok(records) => {
            for (i, rec) in records.iter().enumerate() {
                assert_eq!(rec.position, i, "records are numbered in batch order");
                if let Err(errors) = &rec.draft {
                    touch_errors(errors);
                }
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    records
}

fn touch_errors(errors: &[FieldError]) {
    let _ = serde_json::to_string(errors).expect("field errors serialize");
}

pub fn decode_market_regulation(data: &[u8]) {
    let _ = decode_with(&market_regulation::MarketRegulation, data);
}

pub fn decode_public_security(data: &[u8]) {
    let _ = decode_with(&public_security::PublicSecurity, data);
}

pub fn decode_civil_affairs(data: &[u8]) {
    let _ = decode_with(&civil_affairs::CivilAffairs, data);
}

pub fn decode_human_resources(data: &[u8]) {
    let _ = decode_with(&human_resources::HumanResources, data);
}

pub fn decode_ecology_environment(data: &[u8]) {
    let _ = decode_with(&ecology_environment::EcologyEnvironment, data);
}

/// The SOAP decoder, and the fault a payload error would be answered with.
pub fn decode_tax(data: &[u8]) {
    if let Err(e) = decode_with(&Tax, data) {
        let _ = adapters::tax::soap_fault(e.code, &e.message);
    }
}

/// The HL7 decoder, plus what the MLLP listener does with hostile bytes: split the frames, read
/// each message's MSH and build (and encode) its ACK.
pub fn decode_health(data: &[u8]) {
    let _ = decode_with(&Health, data);
    #[allow(clippy::single_range_in_vec_init)] // one message: the whole payload
    let messages = if health::mllp::is_framed(data) {
        health::mllp::split_frames(data).unwrap_or_default()
    } else {
        vec![0..data.len()]
    };
    let at = DateTime::parse_from_rfc3339("2026-11-25T12:00:00+08:00").unwrap();
    for range in messages {
        if let Ok(msh) = Msh::parse(&data[range]) {
            let errors = [FieldError::new("/applicant/name", "text.invalid", "fuzz")];
            let ack = health::ack_at(&msh, AckCode::AE, "fuzz", &errors, at, "A1");
            let _ = health::mllp::frame(&msh.encode(&ack));
        }
    }
}

/// The declarative mapping adapter, with the CSV mapping of county hospitals' birth records.
pub fn decode_mapping_csv(data: &[u8]) {
    let _ = decode_with(&*MAPPING, data);
}

/// The XML reader under the public-security and tax adapters, on its own, with every
/// element's text read (its pieces joined and decoded).
pub fn xml_parse(data: &[u8]) {
    fn walk(el: &adapters::xml::Element, doc: &adapters::xml::Document) {
        let _ = el.text(doc.encoding);
        assert!(el.start < el.end, "an element spans its tags");
        for child in &el.children {
            walk(child, doc);
        }
    }
    if let Ok(doc) = adapters::xml::parse(data) {
        walk(&doc.root, &doc);
    }
}

/// Market-regulation JSON decoded, then every draft normalized against the bundled catalog,
/// region table and schema. A record that normalizes must pass the schema.
pub fn normalize(data: &[u8]) {
    let Ok(records) = decode_with(&market_regulation::MarketRegulation, data) else {
        return;
    };
    let reference = &*REFERENCE;
    let stamp = Stamp {
        department: market_regulation::MarketRegulation.department().into(),
        system: "fuzz-system".into(),
        node_region: RegionCode::parse("621000000000").unwrap(),
        ingested_at: DateTime::parse_from_rfc3339("2026-11-25T12:00:00+08:00").unwrap(),
    };
    let ctx = Context {
        catalog: &reference.catalog,
        regions: &reference.regions,
        schema: &reference.schema,
        legacy_credit_prefixes: &[],
        max_clock_skew: chrono::Duration::minutes(5),
    };
    for rec in records {
        let Ok(draft) = rec.draft else { continue };
        match normalize_draft(draft, &stamp, &ctx) {
            Ok(n) => assert!(
                reference.schema.is_valid(&n.body()),
                "a normalized record fails the schema: {}",
                n.body()
            ),
            Err(errors) => touch_errors(&errors),
        }
    }
}
