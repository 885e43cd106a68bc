//! Every registered adapter's fixtures through the real gateway and PostgreSQL: the valid batch
//! is stored exactly as the adapter's golden canonical JSON (with this node's stamp), and the
//! mixed batch stores its good records and quarantines the bad ones with their raw bytes.

use e2e::{Node, repo};
use serde_json::{Value, json};

/// The dev system principal of each department (see `gateway::pki::default_principals`).
fn principal_for(department: &str) -> String {
    gateway::pki::default_principals()
        .into_iter()
        .filter(|p| p.role == "system" && p.department.as_deref() == Some(department))
        .max_by_key(|p| p.region.ends_with("00000000")) // the city-level system covers every county
        .unwrap_or_else(|| panic!("no dev system principal for {department}"))
        .id
}

fn fixture_file(adapter: &str, stem: &str) -> Option<std::path::PathBuf> {
    let dir = repo().join("adapters/fixtures").join(adapter);
    let mut found: Vec<_> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with(&format!("{stem}.")) && !name.ends_with(".expected.json")
        })
        .collect();
    found.sort();
    found.pop()
}

#[tokio::test]
async fn every_adapters_fixtures_are_stored_as_their_golden_canonical_records() {
    let node = Node::start().await;
    let mut checked = Vec::new();
    for adapter in adapters::all() {
        let id = adapter.id();
        let Some(valid) = fixture_file(id, "batch-valid") else {
            panic!("adapter {id} has no batch-valid fixture")
        };
        let principal = principal_for(adapter.department());
        let client = node.client(&principal);
        let resp = client
            .post(
                &format!("/v1/ingest/{id}"),
                "application/octet-stream",
                std::fs::read(&valid).unwrap(),
            )
            .await
            .unwrap();
        let receipt = resp.json().unwrap();
        assert_eq!(resp.status.as_u16(), 200, "{id}: {receipt}");
        assert_eq!(receipt["summary"]["rejected"], 0, "{id}: {receipt}");
        let golden: Vec<Value> = serde_json::from_slice(
            &std::fs::read(
                repo().join(format!("adapters/fixtures/{id}/batch-valid.expected.json")),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(
            receipt["records"].as_array().unwrap().len(),
            golden.len(),
            "{id}"
        );
        let db = node.db().await;
        for (i, expected) in golden.iter().enumerate() {
            let record_id: uuid::Uuid = receipt["records"][i]["record_id"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            let mut body: Value = db
                .query_one(
                    "SELECT body FROM case_records WHERE record_id = $1",
                    &[&record_id],
                )
                .await
                .unwrap()
                .get(0);
            assert_eq!(
                body["source"],
                json!({"department": adapter.department(), "system": principal, "node_region": "621000000000"}),
                "{id}[{i}]"
            );
            body["source"] = expected["source"].clone();
            body["ingested_at"] = expected["ingested_at"].clone();
            assert_eq!(
                &body, expected,
                "{id} record {i} differs from its golden canonical JSON"
            );
        }

        if let Some(mixed) = fixture_file(id, "batch-mixed") {
            let resp = client
                .post(
                    &format!("/v1/ingest/{id}"),
                    "application/octet-stream",
                    std::fs::read(&mixed).unwrap(),
                )
                .await
                .unwrap();
            let receipt = resp.json().unwrap();
            assert_eq!(resp.status.as_u16(), 200, "{id} mixed: {receipt}");
            let rejected = receipt["summary"]["rejected"].as_u64().unwrap();
            assert!(
                rejected > 0 && receipt["summary"]["accepted"].as_u64().unwrap() > 0,
                "{id} mixed: {receipt}"
            );
            let quarantined: i64 = db
                .query_one("SELECT count(*) FROM quarantine WHERE adapter = $1 AND reason = 'rejected' AND length(raw) > 0", &[&id])
                .await
                .unwrap()
                .get(0);
            assert_eq!(
                quarantined as u64, rejected,
                "{id}: every rejected record is quarantined with its raw bytes"
            );
        }
        checked.push(id);
    }
    assert!(checked.len() >= 5, "{checked:?}");
}
