//! Quarantine and replay (issue 5): rejected records are listed, and after a catalog fix a
//! replay stores the ones that now pass exactly once and takes them out of the quarantine;
//! the rest stay with their reasons. Context the adapter needs (a CSV header) comes from the
//! kept payload.

use e2e::{Node, fixture, repo};
use serde_json::{Value, json};

fn cli_json(node: &Node, args: &[&str], env: &[(&str, &str)]) -> Value {
    let mut cmd = node.command();
    cmd.args(args).arg("--json").envs(env.iter().copied());
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "gateway {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn outcomes(results: &Value) -> Vec<String> {
    results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_replay_after_a_catalog_fix_stores_the_records_that_now_pass_exactly_once() {
    let node = Node::start().await;
    let receipt = node
        .client("xifeng-amr-system")
        .post(
            "/v1/ingest/market-regulation",
            "application/json",
            fixture("market-regulation/batch-mixed.json"),
        )
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(receipt["summary"]["rejected"], 5);
    let listed = cli_json(
        &node,
        &["quarantine", "list", "--adapter", "market-regulation"],
        &[],
    );
    assert_eq!(listed.as_array().unwrap().len(), 5);

    // Without a fix nothing changes, but the attempt is counted.
    let first = cli_json(
        &node,
        &["quarantine", "replay", "--adapter", "market-regulation"],
        &[],
    );
    assert_eq!(outcomes(&first), ["still_rejected"; 5]);
    assert_eq!(node.count("SELECT count(*) FROM case_records").await, 1);

    // The corrective catalog: the local name becomes an alias, and the suspended item is re-enabled.
    let mut catalog: Value = serde_json::from_slice(
        &std::fs::read(repo().join("schemas/catalog/catalog.json")).unwrap(),
    )
    .unwrap();
    for item in catalog["items"].as_array_mut().unwrap() {
        if item["basic_code"] == "620130001000" {
            item["aliases"]
                .as_array_mut()
                .unwrap()
                .push(json!({"department": "market_regulation", "name": "不存在的事项"}));
        }
        if item["basic_code"] == "620130003000" {
            item["status"] = json!("active");
        }
    }
    catalog["catalog_version"] = json!("2026.1-fix1");
    let fixed = node.dir.path().join("catalog-fix.json");
    std::fs::write(&fixed, serde_json::to_vec_pretty(&catalog).unwrap()).unwrap();
    let env = [("GATEWAY_INGEST__CATALOG", fixed.to_str().unwrap())];

    let second = cli_json(
        &node,
        &["quarantine", "replay", "--adapter", "market-regulation"],
        &env,
    );
    let mut got = outcomes(&second);
    got.sort();
    assert_eq!(
        got,
        [
            "still_rejected",
            "still_rejected",
            "still_rejected",
            "stored",
            "stored"
        ],
        "{second}"
    );
    assert_eq!(node.count("SELECT count(*) FROM case_records").await, 3);
    let open = cli_json(&node, &["quarantine", "list"], &[]);
    assert_eq!(
        open.as_array().unwrap().len(),
        3,
        "the two stored records left the quarantine"
    );
    let stored = node.count("SELECT count(*) FROM quarantine WHERE replayed_at IS NOT NULL AND replay_record_id IN (SELECT record_id FROM case_records)").await;
    assert_eq!(stored, 2);

    // Replaying again stores nothing twice.
    let third = cli_json(&node, &["quarantine", "replay"], &env);
    assert_eq!(outcomes(&third), ["still_rejected"; 3]);
    assert_eq!(node.count("SELECT count(*) FROM case_records").await, 3);
    let attempts: i32 = node
        .db()
        .await
        .query_one("SELECT max(replay_attempts) FROM quarantine", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(attempts, 3);
}

#[tokio::test]
async fn csv_records_replay_with_their_batch_header_and_unreadable_payloads_replay_whole() {
    let node = Node::start().await;
    let receipt = node
        .client("qingyang-mz-system")
        .post(
            "/v1/ingest/civil-affairs",
            "text/csv",
            fixture("civil-affairs/batch-mixed.gb18030.csv"),
        )
        .await
        .unwrap()
        .json()
        .unwrap();
    let rejected = receipt["summary"]["rejected"].as_u64().unwrap();
    assert!(rejected > 0);
    let before: Vec<Value> = receipt["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "rejected")
        .map(|r| r["errors"].clone())
        .collect();
    let results = cli_json(
        &node,
        &["quarantine", "replay", "--adapter", "civil-affairs"],
        &[],
    );
    assert_eq!(results.as_array().unwrap().len() as u64, rejected);
    // Same reasons as at push time: the row was decoded with its header, not as a lone line.
    let after: Vec<Value> = results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["errors"].clone())
        .collect();
    assert_eq!(after, before);

    let garbage = node
        .client("xifeng-amr-system")
        .post(
            "/v1/ingest/market-regulation",
            "application/json",
            b"{\"records\": [".to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(garbage.status.as_u16(), 400);
    let whole = cli_json(
        &node,
        &["quarantine", "replay", "--adapter", "market-regulation"],
        &[],
    );
    assert_eq!(outcomes(&whole), ["still_rejected"]);
    assert_eq!(whole[0]["errors"][0]["code"], "payload.malformed");
}
