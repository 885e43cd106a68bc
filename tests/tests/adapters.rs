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

/// (summary counts, per-record (outcome, record id)) from a JSON receipt or a SOAP response.
fn receipt(resp: &gateway::client::Response) -> (Value, Vec<(String, Option<String>)>) {
    if resp.content_type().starts_with("text/xml") {
        let doc = adapters::xml::parse(&resp.body).expect("a SOAP response");
        let body = doc
            .root
            .child("Body")
            .and_then(|b| b.child("PushCaseRecordsResponse"))
            .expect("PushCaseRecordsResponse");
        let text = String::from_utf8_lossy(&resp.body).into_owned();
        let attr = |el: &adapters::xml::Element, name: &str| -> Option<String> {
            let tag = &text[el.start..el.end];
            let key = format!("{name}=\"");
            let at = tag.find(&key)? + key.len();
            Some(tag[at..at + tag[at..].find('"')?].to_owned())
        };
        let summary = body.child("Summary").unwrap();
        let counts = json!({"accepted": attr(summary, "Accepted").unwrap().parse::<u64>().unwrap(), "rejected": attr(summary, "Rejected").unwrap().parse::<u64>().unwrap()});
        let records = body
            .children_named("Record")
            .map(|r| {
                (
                    attr(r, "Outcome").unwrap(),
                    attr(r, "RecordId").filter(|s| !s.is_empty()),
                )
            })
            .collect();
        return (counts, records);
    }
    let v = resp.json().unwrap();
    let records = v["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["outcome"].as_str().unwrap().to_owned(),
                r["record_id"].as_str().map(str::to_owned),
            )
        })
        .collect();
    (v["summary"].clone(), records)
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
        let path = format!("/v1/ingest/{id}");
        let resp = client
            .post(
                &path,
                "application/octet-stream",
                std::fs::read(&valid).unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(
            resp.status.as_u16(),
            200,
            "{id}: {}",
            String::from_utf8_lossy(&resp.body)
        );
        let (summary, records) = receipt(&resp);
        assert_eq!(
            summary["rejected"],
            0,
            "{id}: {}",
            String::from_utf8_lossy(&resp.body)
        );
        let golden_path = repo().join(format!("adapters/fixtures/{id}/batch-valid.expected.json"));
        let golden: Vec<Value> =
            serde_json::from_slice(&std::fs::read(golden_path).unwrap()).unwrap();
        assert_eq!(records.len(), golden.len(), "{id}");
        let db = node.db().await;
        for (i, expected) in golden.iter().enumerate() {
            let record_id: uuid::Uuid = records[i]
                .1
                .as_deref()
                .expect("a record id")
                .parse()
                .unwrap();
            let sql = "SELECT body FROM case_records WHERE record_id = $1";
            let mut body: Value = db.query_one(sql, &[&record_id]).await.unwrap().get(0);
            let stamp = json!({"department": adapter.department(), "system": principal, "node_region": "621000000000"});
            assert_eq!(body["source"], stamp, "{id}[{i}]");
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
                    &path,
                    "application/octet-stream",
                    std::fs::read(&mixed).unwrap(),
                )
                .await
                .unwrap();
            assert_eq!(
                resp.status.as_u16(),
                200,
                "{id} mixed: {}",
                String::from_utf8_lossy(&resp.body)
            );
            let (summary, _) = receipt(&resp);
            let rejected = summary["rejected"].as_u64().unwrap();
            assert!(
                rejected > 0 && summary["accepted"].as_u64().unwrap() > 0,
                "{id} mixed: {summary}"
            );
            let sql = "SELECT count(*) FROM quarantine WHERE adapter = $1 AND reason = 'rejected' AND length(raw) > 0";
            let quarantined: i64 = db.query_one(sql, &[&id]).await.unwrap().get(0);
            assert_eq!(
                quarantined as u64, rejected,
                "{id}: every rejected record is quarantined with its raw bytes"
            );
        }
        checked.push(id);
    }
    assert!(checked.len() >= 7, "{checked:?}");
}
