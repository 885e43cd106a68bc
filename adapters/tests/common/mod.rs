//! The harness shared by the fixture tests (`fixtures*.rs`): decode and normalize a fixture batch,
//! compare against golden canonical JSON (`UPDATE_GOLDEN=1` rewrites the `*.expected.json` files;
//! review the diff), and read the (path, code) pairs of a rejected record.
//!
//! Each test file includes it with `mod common;`; not every file uses every item.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use adapters::Adapter;
use chrono::DateTime;
use domain::catalog::Catalog;
use domain::codes::region::RegionCode;
use domain::normalize::{Context, Stamp, normalize};
use domain::regions::RegionTable;
use domain::schema::JsonSchema;
use serde_json::{Value, json};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A fixture of an adapter, from its directory (named by the adapter's id).
pub fn read(adapter: &dyn Adapter, file: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(adapter.id()).join(file)).unwrap()
}

pub struct Env {
    pub catalog: Catalog,
    pub regions: RegionTable,
    pub schema: JsonSchema,
}

impl Env {
    pub fn new() -> Self {
        Self::with_catalog(Catalog::bundled().unwrap())
    }

    pub fn with_catalog(catalog: Catalog) -> Self {
        Env {
            catalog,
            regions: RegionTable::bundled().unwrap(),
            schema: JsonSchema::case_record(),
        }
    }

    /// Decode and normalize a batch from the adapter's fixture directory: per record, the
    /// canonical body or the errors.
    pub fn run(&self, adapter: &dyn Adapter, file: &str) -> Vec<Result<Value, Value>> {
        self.run_bytes(adapter, &read(adapter, file))
    }

    /// As `run`, from another fixture directory.
    pub fn run_in(
        &self,
        adapter: &dyn Adapter,
        dir: &str,
        file: &str,
    ) -> Vec<Result<Value, Value>> {
        let bytes = std::fs::read(fixtures().join(dir).join(file)).unwrap();
        self.run_bytes(adapter, &bytes)
    }

    /// Decode and normalize a batch given as bytes.
    pub fn run_bytes(&self, adapter: &dyn Adapter, bytes: &[u8]) -> Vec<Result<Value, Value>> {
        let stamp = Stamp {
            department: adapter.department().into(),
            system: "fixture-system".into(),
            node_region: RegionCode::parse("621000000000").unwrap(),
            ingested_at: DateTime::parse_from_rfc3339("2026-11-25T12:00:00+08:00").unwrap(),
        };
        let ctx = Context {
            catalog: &self.catalog,
            regions: &self.regions,
            schema: &self.schema,
            legacy_credit_prefixes: &[],
            max_clock_skew: chrono::Duration::minutes(5),
        };
        adapter
            .decode(bytes)
            .unwrap()
            .into_iter()
            .map(|rec| {
                let draft = rec.draft.map_err(|e| json!(e))?;
                normalize(draft, &stamp, &ctx)
                    .map(|n| n.body())
                    .map_err(|e| json!(e))
            })
            .collect()
    }

    /// Every record of a valid fixture, normalized and valid against the schema.
    pub fn valid(&self, adapter: &dyn Adapter, file: &str) -> Vec<Value> {
        let out: Vec<Value> = self
            .run(adapter, file)
            .into_iter()
            .enumerate()
            .map(|(i, r)| r.unwrap_or_else(|e| panic!("record {i} of {file} is refused: {e}")))
            .collect();
        for body in &out {
            assert!(self.schema.is_valid(body), "{body}");
        }
        out
    }
}

/// Compare with (or, under `UPDATE_GOLDEN`, rewrite) `fixtures/<dir>/<name>`.
pub fn golden(dir: &str, name: &str, actual: &Value) {
    let path = fixtures().join(dir).join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(actual).unwrap() + "\n").unwrap();
    }
    let expected: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(
        actual,
        &expected,
        "{} differs from the adapter's output",
        path.display()
    );
}

/// The (path, code) pairs of a rejected record.
pub fn codes(r: &Result<Value, Value>) -> Vec<(String, String)> {
    let errs = r.as_ref().expect_err("record should be rejected");
    errs.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["path"].as_str().unwrap().to_owned(),
                e["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}
