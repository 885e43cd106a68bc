//! Fixtures shared by the integration tests: keys from fixed seeds (so examples are
//! reproducible), the example record's certificate, a dev trust bundle, schema validation.

#![allow(dead_code)] // each test binary uses a different part

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use domain::codes::{BasicCode, RegionCode};
use domain::record::Certificate;
use serde_json::Value;
use uuid::Uuid;
use vc::ecert::{IssueInput, mint_identifier};
use vc::trust::{KeyStatus, NodeKey, NodeUrls, TrustBundle, TrustedNode};
use vc::{SigningKey, sign_bundle};

/// The dev network's status base URL.
pub const NETWORK_BASE_URL: &str = "https://ecert.exchange-gateway.example";
/// Qingyang city, the node that issues the example certificate.
pub const QINGYANG: &str = "621000000000";
/// Gansu province, whose node holds the root.
pub const GANSU: &str = "620000000000";
/// The example record id.
pub const RECORD_ID: &str = "019ab8f2-4c00-7a3e-9b1d-2c5e8f0a6d41";

/// A key from a fixed, public seed: SHA-256 of a label. For tests and examples only.
pub fn fixed_key(label: &str) -> SigningKey {
    let text = format!("exchange-gateway example key, not secret: {label}");
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    SigningKey::from_seed(digest.as_ref().try_into().unwrap()).unwrap()
}

pub fn root_key() -> SigningKey {
    fixed_key("province root")
}

pub fn node_key() -> SigningKey {
    fixed_key("qingyang node 2026")
}

pub fn old_node_key() -> SigningKey {
    fixed_key("qingyang node 2025")
}

pub fn province_node_key() -> SigningKey {
    fixed_key("gansu node 2026")
}

pub fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// When the example credential is signed: the record's ingested_at, 2026-11-25 12:00 +08:00.
pub fn created() -> DateTime<Utc> {
    t("2026-11-25T04:00:00Z")
}

/// A time inside the example certificate's validity and after its signing.
pub fn now() -> DateTime<Utc> {
    t("2026-12-01T00:00:00Z")
}

pub fn repo_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel)
}

pub fn read_json(rel: &str) -> Value {
    let text = std::fs::read_to_string(repo_path(rel)).unwrap();
    serde_json::from_str(&text).unwrap()
}

pub fn example_record() -> Value {
    read_json("schemas/examples/case-record-business-licence-two-certificates.json")
}

/// `result.certificates[i]` of the example record.
pub fn example_certificate(i: usize) -> Certificate {
    let record = example_record();
    serde_json::from_value(record["result"]["certificates"][i].clone()).unwrap()
}

/// The issue input of certificate `i` of the example record, minted at sequence `i + 1`.
pub fn example_input(i: usize) -> IssueInput {
    input_for(example_certificate(i), i as u64 + 1)
}

pub fn input_for(certificate: Certificate, sequence: u64) -> IssueInput {
    let record = example_record();
    let node_region = RegionCode::parse(QINGYANG).unwrap();
    let identifier = mint_identifier(&certificate, &node_region, sequence).unwrap();
    IssueInput {
        certificate,
        identifier,
        record_id: Uuid::parse_str(RECORD_ID).unwrap(),
        related_item_code: BasicCode::parse(record["service_item"]["basic_code"].as_str().unwrap())
            .unwrap(),
        jurisdiction: RegionCode::parse(record["region_code"].as_str().unwrap()).unwrap(),
        node_region,
        issuer_name: "庆阳市政务数据交换节点".into(),
        status_base_url: NETWORK_BASE_URL.into(),
        revocation_index: sequence * 3 + 11,
        suspension_index: sequence * 5 + 7,
    }
}

/// The example credential: certificate 0, signed by the Qingyang node key at [`created`].
pub fn example_credential() -> Value {
    vc::issue(&example_input(0), &node_key(), created()).unwrap()
}

pub fn key(k: &SigningKey, from: &str, until: Option<&str>, status: KeyStatus) -> NodeKey {
    NodeKey {
        did: k.did(),
        verification_method: None,
        valid_from: t(from),
        valid_until: until.map(t),
        status,
    }
}

/// The dev network: the Gansu province node and the Qingyang city node, whose 2025 key was
/// retired at the 2026 rotation.
pub fn dev_bundle() -> TrustBundle {
    let mut bundle = TrustBundle::new(1, t("2026-01-01T00:00:00Z"), NETWORK_BASE_URL);
    bundle.nodes = vec![
        TrustedNode {
            region: RegionCode::parse(GANSU).unwrap(),
            tier: 2,
            name: "甘肃省政务数据交换节点".into(),
            urls: NodeUrls {
                exchange: "https://gansu.exchange-gateway.example:8443".into(),
                web: Some("https://gansu.exchange-gateway.example".into()),
            },
            keys: vec![key(
                &province_node_key(),
                "2026-01-01T00:00:00Z",
                None,
                KeyStatus::Active,
            )],
            log: None,
        },
        TrustedNode {
            region: RegionCode::parse(QINGYANG).unwrap(),
            tier: 3,
            name: "庆阳市政务数据交换节点".into(),
            urls: NodeUrls {
                exchange: "https://qingyang.exchange-gateway.example:8443".into(),
                web: Some("https://qingyang.exchange-gateway.example".into()),
            },
            keys: vec![
                key(
                    &node_key(),
                    "2026-01-01T00:00:00Z",
                    Some("2028-12-31T15:59:59Z"),
                    KeyStatus::Active,
                ),
                key(
                    &old_node_key(),
                    "2025-01-01T00:00:00Z",
                    Some("2025-12-31T15:59:59Z"),
                    KeyStatus::Retired,
                ),
            ],
            log: None,
        },
    ];
    bundle
}

pub fn signed_dev_bundle() -> Value {
    sign_bundle(&dev_bundle(), &root_key()).unwrap()
}

/// Schema errors of `instance` against `schemas/{name}` (empty when valid).
pub fn schema_errors(name: &str, instance: &Value) -> Vec<String> {
    let schema = read_json(&format!("schemas/{name}"));
    let validator = jsonschema::draft202012::new(&schema).unwrap();
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// Every string leaf of `v` with its JSON Pointer.
pub fn string_leaves(v: &Value, path: String, out: &mut Vec<String>) {
    match v {
        Value::String(_) => out.push(path),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                string_leaves(item, format!("{path}/{i}"), out);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                let token = k.replace('~', "~0").replace('/', "~1");
                string_leaves(item, format!("{path}/{token}"), out);
            }
        }
        _ => {}
    }
}
