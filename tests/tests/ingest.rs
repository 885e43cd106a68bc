//! Issue 2's acceptance: a real node (the `gateway` binary, PostgreSQL, mTLS) ingesting the
//! adapters' fixtures. Every assertion is on what the client was told *and* what was stored.

use e2e::{Node, fixture, from_gbk, gbk};
use serde_json::{Value, json};

const MR: &str = "/v1/ingest/market-regulation";
const PS: &str = "/v1/ingest/public-security";
const XIFENG_AMR: &str = "xifeng-amr-system";
const HUANXIAN_PSB: &str = "huanxian-psb-system";

async fn push(node: &Node, principal: &str, path: &str, body: Vec<u8>) -> (u16, Value) {
    let resp = node
        .client(principal)
        .post(path, "application/octet-stream", body)
        .await
        .expect("request");
    (resp.status.as_u16(), resp.json().expect("JSON answer"))
}

fn outcomes(receipt: &Value) -> Vec<&str> {
    receipt["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect()
}

fn mr_batch(records: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({"sender": "test", "records": records})).unwrap()
}

fn mr_records() -> Vec<Value> {
    let batch: Value =
        serde_json::from_slice(&fixture("market-regulation/batch-valid.json")).unwrap();
    batch["records"].as_array().unwrap().clone()
}

#[tokio::test]
async fn valid_batch_is_stored_exactly_as_the_golden_canonical_records() {
    let node = Node::start().await;
    let (status, receipt) = push(
        &node,
        XIFENG_AMR,
        MR,
        fixture("market-regulation/batch-valid.json"),
    )
    .await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(
        receipt["summary"],
        json!({"records": 3, "accepted": 3, "duplicate": 0, "version_conflict": 0, "rejected": 0})
    );
    assert!(
        receipt["records"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["current"] == true)
    );

    // Stored bodies equal the adapter's golden output, with this node's stamp.
    let golden: Vec<Value> =
        serde_json::from_slice(&fixture("market-regulation/batch-valid.expected.json")).unwrap();
    let db = node.db().await;
    for (i, expected) in golden.into_iter().enumerate() {
        let id: uuid::Uuid = receipt["records"][i]["record_id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let row = db
            .query_one(
                "SELECT body, source_system, region_code FROM case_records WHERE record_id = $1",
                &[&id],
            )
            .await
            .unwrap();
        let mut body: Value = row.get(0);
        assert_eq!(
            body["source"],
            json!({"department": "market_regulation", "system": XIFENG_AMR, "node_region": "621000000000"})
        );
        assert_eq!(row.get::<_, String>(1), XIFENG_AMR);
        assert_eq!(
            row.get::<_, String>(2),
            expected["region_code"].as_str().unwrap()
        );
        let stamped = body["ingested_at"].as_str().unwrap().to_owned();
        assert!(chrono::DateTime::parse_from_rfc3339(&stamped).is_ok());
        body["ingested_at"] = expected["ingested_at"].clone();
        body["source"] = expected["source"].clone();
        assert_eq!(body, expected);
    }
    assert_eq!(node.count("SELECT count(*) FROM case_heads").await, 3);
    assert_eq!(
        node.count("SELECT sum(cardinality(ref_ids))::int8 FROM outbox WHERE kind = 'record'")
            .await,
        3
    );
    // The receipt is stored with its batch.
    let stored: String = db
        .query_one(
            "SELECT receipt_text FROM ingest_batches WHERE batch_id = $1",
            &[&receipt["batch_id"]
                .as_str()
                .unwrap()
                .parse::<uuid::Uuid>()
                .unwrap()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(serde_json::from_str::<Value>(&stored).unwrap(), receipt);
    // Large values (receipts, bodies, credentials, kept payloads) compress with lz4 (0023).
    let lz4: i64 = db
        .query_one(
            "SELECT count(*) FROM pg_attribute WHERE attcompression = 'l' AND
               (attrelid::regclass::text, attname::text) IN (('ingest_batches', 'receipt_text'),
               ('ingest_payloads', 'payload'), ('quarantine', 'raw'), ('case_records', 'body'),
               ('credential_versions', 'credential'), ('credential_versions', 'credential_text'))",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(lz4, 6);
}

#[tokio::test]
async fn re_push_is_idempotent_and_concurrent_pushes_store_once() {
    let node = Node::start().await;
    let batch = fixture("market-regulation/batch-valid.json");
    let (_, first) = push(&node, XIFENG_AMR, MR, batch.clone()).await;
    // New records are written with plain INSERTs, which fail on a stored key: the re-push's
    // transaction runs again with ON CONFLICT (once), the first push's never (store.rs).
    let reruns = "gateway_ingest_careful_reruns_total";
    let reruns_now = || node.metric_as("qingyang-operator", reruns);
    assert_eq!(reruns_now().await, None);
    let (status, second) = push(&node, XIFENG_AMR, MR, batch.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(outcomes(&second), ["duplicate"; 3]);
    assert_eq!(reruns_now().await, Some(1.0));
    for i in 0..3 {
        assert_eq!(
            second["records"][i]["record_id"],
            first["records"][i]["record_id"]
        );
    }
    assert_eq!(node.count("SELECT count(*) FROM case_records").await, 3);
    assert_eq!(
        node.count("SELECT sum(cardinality(ref_ids))::int8 FROM outbox WHERE kind = 'record'")
            .await,
        3
    );
    // The first record issues two certificates; the re-push signed nothing new. They go up
    // with their record's outbox row, not rows of their own.
    assert_eq!(
        node.count("SELECT count(*) FROM credential_versions").await,
        2
    );
    assert_eq!(
        node.count("SELECT count(*) FROM outbox WHERE kind = 'certificate'")
            .await,
        0
    );

    // Eight concurrent pushes of new cases: each case stored once, the rest duplicates.
    let records: Vec<Value> = mr_records()
        .into_iter()
        .map(|mut r| {
            r["caseNo"] = json!(format!("{}-C", r["caseNo"].as_str().unwrap()));
            r
        })
        .collect();
    let body = mr_batch(records);
    let client = std::sync::Arc::new(node.client(XIFENG_AMR));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (client, body) = (client.clone(), body.clone());
            tokio::spawn(async move {
                let resp = client.post(MR, "application/json", body).await.unwrap();
                (resp.status.as_u16(), resp.json().unwrap())
            })
        })
        .collect();
    let mut answers: Vec<(u16, Value)> = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    let accepted: usize = answers
        .iter()
        .map(|(s, r)| {
            assert_eq!(*s, 200, "{r}");
            r["summary"]["accepted"].as_u64().unwrap() as usize
        })
        .sum();
    let duplicates: usize = answers
        .iter()
        .map(|(_, r)| r["summary"]["duplicate"].as_u64().unwrap() as usize)
        .sum();
    assert_eq!((accepted, duplicates), (3, 21));
    assert_eq!(node.count("SELECT count(*) FROM case_records").await, 6);
    // The source sent a stored key: its transactions start with ON CONFLICT for a while (no
    // failed attempt first, however many duplicates these pushes race into).
    assert_eq!(reruns_now().await, Some(1.0));
    assert_eq!(
        node.count("SELECT sum(cardinality(ref_ids))::int8 FROM outbox WHERE kind = 'record'")
            .await,
        6
    );
}

/// A push's batch row names its principal without a foreign key (migration 0026: the check
/// locked the principal's row on every push), so the store refuses to delete principals.
#[tokio::test]
async fn principals_named_by_pushes_cannot_be_deleted() {
    let node = Node::start().await;
    let (status, _) = push(
        &node,
        XIFENG_AMR,
        MR,
        fixture("market-regulation/batch-valid.json"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        node.count(&format!(
            "SELECT count(*) FROM ingest_batches b JOIN principals p ON p.id = b.principal_id
             WHERE p.id = '{XIFENG_AMR}'"
        ))
        .await,
        1
    );
    let db = node.db().await;
    for statement in [
        format!("DELETE FROM principals WHERE id = '{XIFENG_AMR}'"),
        "TRUNCATE principals CASCADE".to_owned(),
    ] {
        let refused = db.batch_execute(&statement).await.unwrap_err();
        assert_eq!(
            refused.code(),
            Some(&tokio_postgres::error::SqlState::RESTRICT_VIOLATION),
            "{statement}: {refused}"
        );
    }
}

#[tokio::test]
async fn changed_content_under_the_same_version_is_a_quarantined_conflict() {
    let node = Node::start().await;
    let mut records = mr_records();
    let (_, first) = push(&node, XIFENG_AMR, MR, mr_batch(vec![records[1].clone()])).await;
    let original_id = first["records"][0]["record_id"].clone();
    records[1]["applicant"]["address"] = json!("甘肃省庆阳市西峰区董志镇北庄村");
    let (status, receipt) = push(&node, XIFENG_AMR, MR, mr_batch(vec![records[1].clone()])).await;
    assert_eq!(status, 200);
    let r = &receipt["records"][0];
    assert_eq!(r["outcome"], "version_conflict");
    assert_eq!(r["existing_record_id"], original_id);
    assert_eq!(r["errors"][0]["code"], "record.version_conflict");
    // Stored content unchanged; the conflicting record kept with its raw bytes.
    let db = node.db().await;
    let body: Value = db
        .query_one("SELECT body FROM case_records", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        body["applicant"]["address"],
        "甘肃省庆阳市西峰区董志镇南佐村"
    );
    let q = db
        .query_one("SELECT reason, raw, case_no FROM quarantine", &[])
        .await
        .unwrap();
    assert_eq!(q.get::<_, String>(0), "version_conflict");
    let raw: Value = serde_json::from_slice(&q.get::<_, Vec<u8>>(1)).unwrap();
    assert_eq!(raw, records[1]);
    assert_eq!(q.get::<_, String>(2), "SCJG-XF-20261120-0007");
}

#[tokio::test]
async fn a_lower_version_after_a_higher_one_goes_to_history() {
    let node = Node::start().await;
    let base = mr_records()[1].clone(); // version 2 in the fixture
    let with_version = |v: i64, state: &str| {
        let mut r = base.clone();
        r["version"] = json!(v);
        r["state"] = json!(state);
        r
    };
    let (_, v2) = push(
        &node,
        XIFENG_AMR,
        MR,
        mr_batch(vec![with_version(2, "HANDLING")]),
    )
    .await;
    let (_, v1) = push(
        &node,
        XIFENG_AMR,
        MR,
        mr_batch(vec![with_version(1, "ACCEPTED")]),
    )
    .await;
    assert_eq!(v1["records"][0]["outcome"], "accepted");
    assert_eq!(v1["records"][0]["current"], false);
    let head: uuid::Uuid = node
        .db()
        .await
        .query_one("SELECT record_id FROM case_heads", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        head.to_string(),
        v2["records"][0]["record_id"].as_str().unwrap()
    );

    // Versions 4 and 3 in one batch: 4 becomes current, 3 is history.
    let (_, both) = push(
        &node,
        XIFENG_AMR,
        MR,
        mr_batch(vec![
            with_version(4, "HANDLING"),
            with_version(3, "HANDLING"),
        ]),
    )
    .await;
    assert_eq!(both["records"][0]["current"], true);
    assert_eq!(both["records"][1]["current"], false);
    let db = node.db().await;
    let head = db
        .query_one("SELECT version FROM case_heads", &[])
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(head, 4);
    assert_eq!(node.count("SELECT count(*) FROM case_records").await, 4);

    // The records listing says the same: version 4 is current, the rest history (found from
    // each record's head by its key: case_heads has no record-id index since migration 0028).
    let case_no = base["caseNo"].as_str().unwrap();
    let node = &node;
    let list = |history: bool| {
        let path = format!(
            "/v1/records?case_no={case_no}&history={history}&region=621000000000&purpose=approval"
        );
        async move {
            let r = node.web_client("xifeng-approver").get(&path).await.unwrap();
            let body: Value = r.json().unwrap();
            let mut seen: Vec<(i64, bool)> = body["records"]
                .as_array()
                .unwrap_or_else(|| panic!("{body}"))
                .iter()
                .map(|r| (r["version"].as_i64().unwrap(), r["current"] == true))
                .collect();
            seen.sort();
            seen
        }
    };
    assert_eq!(
        list(true).await,
        [(1, false), (2, false), (3, false), (4, true)]
    );
    assert_eq!(list(false).await, [(4, true)]);
    // The head is the case's one state row (migration 0029; `case_heads` is a view of it):
    // inserted once and moved by updates, its entry time the earliest stamp among the case's
    // versions (version 2's, pushed first).
    let row = db
        .query_one(
            "SELECT s.record_id, s.version, s.entered_at = (SELECT min(ingested_at) FROM case_records),
                    (SELECT count(*) FROM supervision_cases)
             FROM supervision_cases s",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, uuid::Uuid>(0).to_string(),
        both["records"][0]["record_id"].as_str().unwrap()
    );
    assert_eq!(row.get::<_, i64>(1), 4);
    assert!(row.get::<_, bool>(2), "entered_at is the earliest stamp");
    assert_eq!(row.get::<_, i64>(3), 1);
    e2e::Network::eventually(30, "one state row inserted for the case", || async {
        node.count("SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = 'supervision_cases'")
            .await
            == 1
    })
    .await;
}

/// `body` pushed by Xifeng's market regulation system while `holder` (the test's own
/// transaction) holds a case's state row: once the push waits for it, `holder` commits. The
/// push's record is accepted as its case's head; its receipt.
async fn push_past_a_held_state_row(
    node: &Node,
    body: Vec<u8>,
    holder: tokio_postgres::Transaction<'_>,
) -> Value {
    let client = node.client(XIFENG_AMR);
    let push = tokio::spawn(async move {
        let resp = client
            .post(MR, "application/octet-stream", body)
            .await
            .expect("request");
        (resp.status.as_u16(), resp.json().expect("JSON"))
    });
    e2e::Network::eventually(30, "the push waits for the state row", || async {
        node.count(
            "SELECT count(*) FROM pg_stat_activity
             WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO supervision_cases%'",
        )
        .await
            == 1
    })
    .await;
    holder.commit().await.unwrap();
    let (status, receipt) = push.await.unwrap();
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["records"][0]["outcome"], "accepted");
    assert_eq!(receipt["records"][0]["current"], true);
    receipt
}

/// A case new to a push gets its state row with a plain INSERT. When another transaction
/// creates that row meanwhile (here the test's own, holding it until the push waits on it), the
/// insert fails on the key, nothing of the push is kept, and it runs again reading the heads
/// (still plain: no key of the push was stored): the case's head then moves from the row the
/// other stored.
#[tokio::test]
async fn a_state_row_created_meanwhile_runs_the_push_again_reading_the_head() {
    let node = Node::start().await;
    let records = mr_records();
    let (status, _) = push(&node, XIFENG_AMR, MR, mr_batch(vec![records[0].clone()])).await;
    assert_eq!(status, 200);
    let case_b = records[1]["caseNo"].as_str().unwrap().to_owned();

    // The other writer: a state row for case B (a copy of case A's, version 1), uncommitted.
    let mut other = node.db().await;
    let tx = other.transaction().await.unwrap();
    let copied = tx
        .execute(
            "INSERT INTO supervision_cases
             SELECT (jsonb_populate_record(s, jsonb_build_object('case_no', $1::text))).*
             FROM supervision_cases s",
            &[&case_b],
        )
        .await
        .unwrap();
    assert_eq!(copied, 1);
    let receipt = push_past_a_held_state_row(&node, mr_batch(vec![records[1].clone()]), tx).await;
    let row = node
        .db()
        .await
        .query_one(
            "SELECT version, record_id FROM supervision_cases WHERE case_no = $1",
            &[&case_b],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 2);
    assert_eq!(
        row.get::<_, uuid::Uuid>(1).to_string(),
        receipt["records"][0]["record_id"].as_str().unwrap()
    );
    assert_eq!(
        node.count("SELECT count(*) FROM case_records").await,
        2,
        "the failed attempt kept nothing"
    );
    let metric = |m| node.metric_as("qingyang-operator", m);
    assert_eq!(
        metric("gateway_ingest_probed_reruns_total").await,
        Some(1.0)
    );
    assert_eq!(metric("gateway_ingest_careful_reruns_total").await, None);
}

/// Two transactions storing versions of one case at the same moment: the one whose write of the
/// case's state row finds that the head changed since its insert read it (here: an earlier
/// entry time, as a version forwarded from another tier would bring) runs again, once the other
/// has committed, and the state row ends up computed from everything stored.
#[tokio::test]
async fn a_head_changed_by_a_concurrent_transaction_runs_the_push_again() {
    let node = Node::start().await;
    let base = mr_records()[1].clone(); // version 2 in the fixture
    let with_version = |v: i64| {
        let mut r = base.clone();
        r["version"] = json!(v);
        r
    };
    let (status, _) = push(&node, XIFENG_AMR, MR, mr_batch(vec![with_version(2)])).await;
    assert_eq!(status, 200);

    // Another writer (the test's own transaction) holds the case's state row, with an entry
    // time three days earlier, while version 3 is pushed.
    let mut other = node.db().await;
    let tx = other.transaction().await.unwrap();
    let earlier: chrono::DateTime<chrono::Utc> = tx
        .query_one(
            "UPDATE supervision_cases SET entered_at = entered_at - interval '3 days'
             RETURNING entered_at",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    push_past_a_held_state_row(&node, mr_batch(vec![with_version(3)]), tx).await;

    // Computed again from the committed state: version 3's row, with the earlier entry time
    // and the entry delay that goes with it.
    let row = node
        .db()
        .await
        .query_one(
            "SELECT version, entered_at, entry_delay_secs,
                    trunc(extract(epoch FROM entered_at - occurred_at))::int8
             FROM supervision_cases",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 3);
    assert_eq!(row.get::<_, chrono::DateTime<chrono::Utc>>(1), earlier);
    assert_eq!(row.get::<_, i64>(2), row.get::<_, i64>(3));
    let metrics = node
        .web_client("qingyang-operator")
        .get("/metrics")
        .await
        .unwrap();
    let metrics = String::from_utf8_lossy(&metrics.body).into_owned();
    assert!(
        metrics
            .lines()
            .any(|l| l == "gateway_ingest_head_races_total 1"),
        "one race counted"
    );

    // A late version 1 goes to history: the case is computed again from its stored head, and
    // the entry time it keeps is the earlier one the state row holds (not only its records'
    // stamps, which would read as another race, again and again).
    let (status, receipt) = push(&node, XIFENG_AMR, MR, mr_batch(vec![with_version(1)])).await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["records"][0]["current"], false);
    let entered: chrono::DateTime<chrono::Utc> = node
        .db()
        .await
        .query_one("SELECT entered_at FROM supervision_cases", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(entered, earlier);
}

fn errors_of(record: &Value) -> Vec<(String, String)> {
    record["errors"]
        .as_array()
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

#[tokio::test]
async fn bad_records_are_rejected_with_paths_and_quarantined_while_good_ones_are_stored() {
    let node = Node::start().await;
    let payload = fixture("market-regulation/batch-mixed.json");
    let (status, receipt) = push(&node, XIFENG_AMR, MR, payload.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(
        outcomes(&receipt),
        [
            "accepted", "rejected", "rejected", "rejected", "rejected", "rejected"
        ]
    );
    let recs = &receipt["records"];
    assert_eq!(
        errors_of(&recs[1]),
        [(
            "/applicant/id_number".into(),
            "id_number.check_digit".into()
        )]
    );
    assert_eq!(
        errors_of(&recs[2]),
        [(
            "/service_item/basic_code".into(),
            "service_item.unknown".into()
        )]
    );
    assert_eq!(
        errors_of(&recs[3]),
        [(
            "/service_item/basic_code".into(),
            "service_item.suspended".into()
        )]
    );
    assert!(
        errors_of(&recs[4]).contains(&("/timestamps/occurred".into(), "datetime.format".into()))
    );
    assert_eq!(recs[1]["location"], "records[1]");
    assert_eq!(recs[1]["case_no"], "SCJG-XF-20261122-0100");

    assert_eq!(node.count("SELECT count(*) FROM case_records").await, 1);
    let db = node.db().await;
    let rows = db.query("SELECT position, raw, errors, reason, adapter, principal_id FROM quarantine ORDER BY position", &[]).await.unwrap();
    assert_eq!(rows.len(), 5);
    let batch: Value = serde_json::from_slice(&payload).unwrap();
    for row in &rows {
        let pos: i32 = row.get(0);
        let raw: Value = serde_json::from_slice(&row.get::<_, Vec<u8>>(1)).unwrap();
        assert_eq!(
            raw, batch["records"][pos as usize],
            "raw bytes of record {pos}"
        );
        assert_eq!(row.get::<_, Value>(2), recs[pos as usize]["errors"]);
        assert_eq!(
            (
                row.get::<_, String>(3),
                row.get::<_, String>(4),
                row.get::<_, String>(5)
            ),
            (
                "rejected".into(),
                "market-regulation".into(),
                XIFENG_AMR.into()
            )
        );
        assert!(recs[pos as usize]["quarantine_id"].as_str().is_some());
    }
}

#[tokio::test]
async fn gbk_xml_batches_are_decoded_and_bad_bytes_fail_only_their_record() {
    let node = Node::start().await;
    let (status, receipt) = push(
        &node,
        HUANXIAN_PSB,
        PS,
        fixture("public-security/batch-valid.gbk.xml"),
    )
    .await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(outcomes(&receipt), ["accepted", "accepted"]);
    let name: String = node.db().await
        .query_one("SELECT body->'applicant'->>'name' FROM case_records WHERE case_no = 'GA-HX-JZZ-20261117-0042'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(name, "李秀兰");

    let (_, mixed) = push(
        &node,
        HUANXIAN_PSB,
        PS,
        fixture("public-security/batch-mixed.gbk.xml"),
    )
    .await;
    assert_eq!(outcomes(&mixed), ["accepted", "rejected", "rejected"]);
    assert_eq!(
        errors_of(&mixed["records"][1]),
        [("/applicant/name".into(), "encoding.invalid".into())]
    );
    assert_eq!(
        errors_of(&mixed["records"][2]),
        [(
            "/handling_org/credit_code".into(),
            "credit_code.check_digit".into()
        )]
    );
    // The quarantined raw bytes are the record's own GBK bytes.
    let raw: Vec<u8> = node
        .db()
        .await
        .query_one("SELECT raw FROM quarantine WHERE position = 2", &[])
        .await
        .unwrap()
        .get(0);
    let text = from_gbk(&raw);
    assert!(
        text.starts_with("<BJXX>")
            && text.contains("王志强")
            && text.contains("116210220139200115"),
        "{text}"
    );
}

#[tokio::test]
async fn undecodable_payload_is_a_problem_and_kept_whole() {
    let node = Node::start().await;
    let resp = node
        .client(XIFENG_AMR)
        .post(MR, "application/json", b"{\"records\": [".to_vec())
        .await
        .unwrap();
    assert_eq!(resp.status.as_u16(), 400);
    assert_eq!(resp.content_type(), "application/problem+json");
    let problem = resp.json().unwrap();
    assert_eq!(problem["code"], "payload.malformed");
    assert_eq!(problem["status"], 400);
    let id: uuid::Uuid = problem["quarantine_id"].as_str().unwrap().parse().unwrap();
    let row = node
        .db()
        .await
        .query_one(
            "SELECT raw, position, reason FROM quarantine WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, Vec<u8>>(0), b"{\"records\": [");
    assert_eq!(row.get::<_, Option<i32>>(1), None);
    assert_eq!(row.get::<_, String>(2), "payload");

    let doctype = node
        .client(HUANXIAN_PSB)
        .post(PS, "application/xml", br#"<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>"#.to_vec())
        .await
        .unwrap();
    assert_eq!(doctype.json().unwrap()["code"], "payload.dtd_forbidden");
    assert_eq!(node.count("SELECT count(*) FROM case_records").await, 0);
}

#[tokio::test]
async fn a_client_batch_id_makes_retries_return_the_same_receipt() {
    let node = Node::start().await;
    let client = node.client(XIFENG_AMR);
    let body = fixture("market-regulation/batch-valid.json");
    let headers = [
        ("content-type", "application/json"),
        ("x-client-batch-id", "xf-2026-11-25-0001"),
    ];
    let a = client
        .send(http::Method::POST, MR, &headers, body.clone())
        .await
        .unwrap()
        .json()
        .unwrap();
    let b = client
        .send(http::Method::POST, MR, &headers, body.clone())
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(a["client_batch_id"], "xf-2026-11-25-0001");
    assert_eq!(node.count("SELECT count(*) FROM ingest_batches").await, 1);
    // A receipt stored before migration 0021 (as jsonb, in `receipt`) is answered the same.
    let moved = node
        .db()
        .await
        .execute(
            "UPDATE ingest_batches SET receipt = receipt_text::jsonb, receipt_text = NULL",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(moved, 1);
    let c = client
        .send(http::Method::POST, MR, &headers, body)
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(a, c);
    assert_eq!(node.count("SELECT count(*) FROM ingest_batches").await, 1);
}

#[tokio::test]
async fn pushing_through_another_departments_adapter_is_refused() {
    let node = Node::start().await;
    let resp = node
        .client(XIFENG_AMR)
        .post(
            PS,
            "application/xml",
            fixture("public-security/batch-valid.gbk.xml"),
        )
        .await
        .unwrap();
    assert_eq!(resp.status.as_u16(), 403);
    assert_eq!(resp.content_type(), "application/problem+json");
    assert_eq!(resp.json().unwrap()["code"], "auth.department");
    assert_eq!(node.count("SELECT count(*) FROM case_records").await, 0);
    assert_eq!(node.count("SELECT count(*) FROM quarantine").await, 0);
}

#[tokio::test]
async fn pushing_records_outside_the_principals_region_is_refused_whole() {
    let node = Node::start().await;
    // Huan county's system sends a batch in which one record is for Xifeng district.
    let text = from_gbk(&fixture("public-security/batch-valid.gbk.xml"));
    let foreign = gbk(&text.replacen(
        "<XZQHDM>621022100000</XZQHDM>",
        "<XZQHDM>621002100000</XZQHDM>",
        1,
    ));
    let resp = node
        .client(HUANXIAN_PSB)
        .post(PS, "application/xml", foreign.clone())
        .await
        .unwrap();
    assert_eq!(resp.status.as_u16(), 403);
    let problem = resp.json().unwrap();
    assert_eq!(problem["code"], "auth.region");
    assert_eq!(problem["records"][0]["position"], 0);
    assert_eq!(problem["records"][0]["region_code"], "621002100000");
    assert_eq!(node.count("SELECT count(*) FROM case_records").await, 0);

    // The city's system may push for any county of the city.
    let (status, receipt) = push(&node, "qingyang-psb-system", PS, foreign).await;
    assert_eq!(status, 200);
    assert_eq!(outcomes(&receipt), ["accepted", "accepted"]);
}

#[tokio::test]
async fn a_suspended_principal_is_refused_until_resumed() {
    let node = Node::start().await;
    node.cli(&["principals", "suspend", XIFENG_AMR]);
    let resp = node
        .client(XIFENG_AMR)
        .post(
            MR,
            "application/json",
            fixture("market-regulation/batch-valid.json"),
        )
        .await
        .unwrap();
    assert_eq!(resp.status.as_u16(), 403);
    assert_eq!(resp.json().unwrap()["code"], "auth.principal_inactive");
    assert_eq!(node.count("SELECT count(*) FROM case_records").await, 0);

    node.cli(&["principals", "resume", XIFENG_AMR]);
    // The node held the suspended row; it hears of the change by a notification.
    e2e::seen_within("the resumption", || async {
        let payload = fixture("market-regulation/batch-valid.json");
        push(&node, XIFENG_AMR, MR, payload).await.0 == 200
    })
    .await;
    let listed = String::from_utf8(node.cli(&["principals", "list", "--json"]).stdout).unwrap();
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == XIFENG_AMR && p["status"] == "active")
    );
}

#[tokio::test]
async fn no_client_certificate_or_an_untrusted_one_fails_the_handshake() {
    let node = Node::start().await;
    let anonymous =
        gateway::client::ExchangeClient::anonymous(&node.base_url(), &node.pki().join("ca.crt"))
            .unwrap();
    assert!(
        anonymous.get("/healthz").await.is_err(),
        "a request without a client certificate must fail"
    );

    // A certificate from another CA (a second dev PKI) is not trusted.
    let other = node.dir.path().join("other-pki");
    node.cli(&[
        "pki",
        "init",
        "--no-register",
        "--out",
        other.to_str().unwrap(),
    ]);
    let stranger = gateway::client::ExchangeClient::new(
        &node.base_url(),
        &node.pki().join("ca.crt"),
        &other.join("clients/xifeng-amr-system.crt"),
        &other.join("clients/xifeng-amr-system.key"),
    )
    .unwrap();
    assert!(
        stranger
            .post(
                MR,
                "application/json",
                fixture("market-regulation/batch-valid.json")
            )
            .await
            .is_err()
    );
    assert_eq!(node.count("SELECT count(*) FROM case_records").await, 0);

    // The same principal with the node's own CA gets in.
    assert_eq!(
        node.client(XIFENG_AMR)
            .get("/healthz")
            .await
            .unwrap()
            .status
            .as_u16(),
        200
    );
}

#[tokio::test]
async fn unknown_routes_and_adapters_answer_problem_json() {
    let node = Node::start().await;
    let client = node.client(XIFENG_AMR);
    let r = client
        .post(
            "/v1/ingest/no-such-adapter",
            "application/json",
            b"{}".to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.status.as_u16(), r.json().unwrap()["code"].clone()),
        (404, json!("ingest.unknown_adapter"))
    );
    let r = client.get("/nope").await.unwrap();
    assert_eq!(
        (r.status.as_u16(), r.content_type()),
        (404, "application/problem+json")
    );
    let r = client.get(MR).await.unwrap();
    assert_eq!(r.status.as_u16(), 405);
    let ready = client.get("/readyz").await.unwrap().json().unwrap();
    assert_eq!(ready["status"], "ready");
}

#[tokio::test]
async fn a_retired_principal_is_refused_at_once_and_for_good() {
    let node = Node::start().await;
    let (status, _) = push(
        &node,
        XIFENG_AMR,
        MR,
        fixture("market-regulation/batch-valid.json"),
    )
    .await;
    assert_eq!(status, 200);
    // The running node refuses it from the next request on, without a restart.
    node.cli(&["principals", "retire", XIFENG_AMR]);
    let resp = node
        .client(XIFENG_AMR)
        .post(
            MR,
            "application/json",
            fixture("market-regulation/batch-valid.json"),
        )
        .await
        .unwrap();
    assert_eq!(resp.status.as_u16(), 403);
    assert_eq!(resp.json().unwrap()["code"], "auth.principal_inactive");
    // Retirement is final.
    let out = node.cli_output(&["principals", "resume", XIFENG_AMR]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("retired"));
}

#[tokio::test]
async fn a_graceful_shutdown_finishes_the_batch_in_flight() {
    let mut node = Node::start().await;
    // A large batch: 1,500 copies of the fixture's three cases, numbered apart.
    let mut batch: Value =
        serde_json::from_slice(&fixture("market-regulation/batch-valid.json")).unwrap();
    let one = batch["records"].as_array().unwrap().clone();
    let mut all = Vec::new();
    for i in 0..1500 {
        for r in &one {
            let mut r = r.clone();
            r["caseNo"] = json!(format!("{}-G{i}", r["caseNo"].as_str().unwrap()));
            all.push(r);
        }
    }
    batch["records"] = json!(all);
    let body = serde_json::to_vec(&batch).unwrap();
    let client = node.client(XIFENG_AMR);
    let push = tokio::spawn(async move {
        let r = client.post(MR, "application/json", body).await;
        (r, std::time::Instant::now())
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let terminated_at = std::time::Instant::now();
    node.terminate();
    let (resp, answered_at) = push.await.unwrap();
    let resp = resp.expect("the batch in flight is answered, not cut off");
    assert!(
        answered_at > terminated_at,
        "the batch finished before the shutdown began: make it larger"
    );
    assert_eq!(resp.status.as_u16(), 200);
    let accepted = resp.json().unwrap()["summary"]["accepted"]
        .as_i64()
        .unwrap();
    assert_eq!(accepted, 4500);
    assert_eq!(
        node.count("SELECT count(*) FROM case_records").await,
        accepted,
        "acknowledged means stored"
    );
    // And the process is gone within the grace period.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !node.has_exited() {
        assert!(std::time::Instant::now() < deadline, "still running");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Concurrent small pushes are written in shared transactions (group commit,
/// `ingest/group.rs`): one committer makes groups certain. Each push still gets the receipt it
/// would have got alone, and what is stored carries its own push's batch id.
#[tokio::test]
async fn concurrent_small_pushes_share_transactions_and_each_keeps_its_own_receipt() {
    let node = Node::start_configured(&[("GATEWAY_INGEST__GROUP_COMMIT_WORKERS", "1")]).await;

    let good = mr_records()[1].clone(); // no certificate
    let case = |i: usize| {
        let mut r = good.clone();
        r["caseNo"] = json!(format!("GROUP-{i:03}"));
        r
    };
    let mixed: Value =
        serde_json::from_slice(&fixture("market-regulation/batch-mixed.json")).unwrap();
    let bad = mixed["records"][1].clone(); // a check digit that fails: rejected
    let mut pushes: Vec<(Option<&str>, Vec<u8>)> = Vec::new();
    pushes.extend((0..60).map(|i| (None, mr_batch(vec![case(i)]))));
    pushes.extend((0..5).map(|_| (None, mr_batch(vec![case(100)])))); // one key, five times
    pushes.extend((0..3).map(|_| (Some("grp-retry-1"), mr_batch(vec![case(200)]))));
    pushes.extend((0..2).map(|i| (None, mr_batch(vec![case(300 + i), bad.clone()]))));

    let client = std::sync::Arc::new(node.client(XIFENG_AMR));
    let tasks: Vec<_> = pushes
        .into_iter()
        .map(|(id, body)| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut headers = vec![("content-type", "application/json")];
                if let Some(id) = id {
                    headers.push(("x-client-batch-id", id));
                }
                let resp = client
                    .send(http::Method::POST, MR, &headers, body)
                    .await
                    .unwrap();
                let status = resp.status.as_u16();
                let receipt: Value = resp.json().unwrap();
                assert_eq!(status, 200, "{receipt}");
                receipt
            })
        })
        .collect();
    let mut receipts = Vec::new();
    for t in tasks {
        receipts.push(t.await.unwrap());
    }

    // The 60 new cases: each accepted in its own receipt.
    for r in &receipts[..60] {
        assert_eq!(outcomes(r), ["accepted"], "{r}");
    }
    // One key pushed five times at once: stored once, the other four told it is a duplicate
    // of that very record.
    let same = &receipts[60..65];
    let accepted: Vec<&Value> = same
        .iter()
        .filter(|r| outcomes(r) == ["accepted"])
        .collect();
    assert_eq!(accepted.len(), 1, "{same:#?}");
    let id = &accepted[0]["records"][0]["record_id"];
    for r in same.iter().filter(|r| outcomes(r) == ["duplicate"]) {
        assert_eq!(&r["records"][0]["record_id"], id);
    }
    assert_eq!(
        same.iter().filter(|r| outcomes(r) == ["duplicate"]).count(),
        4
    );
    // Three pushes under one client batch id: one batch, the same receipt three times.
    let retried = &receipts[65..68];
    assert!(retried.iter().all(|r| r == &retried[0]), "{retried:#?}");
    assert_eq!(outcomes(&retried[0]), ["accepted"]);
    // A bad record is quarantined with its own push's batch and payload.
    for r in &receipts[68..70] {
        assert_eq!(outcomes(r), ["accepted", "rejected"], "{r}");
    }

    // What was stored belongs to the push that says it stored it.
    let db = node.db().await;
    let uuid = |v: &Value| v.as_str().unwrap().parse::<uuid::Uuid>().unwrap();
    let mut batches = std::collections::HashSet::new();
    for r in &receipts {
        let batch = uuid(&r["batch_id"]);
        batches.insert(batch);
        for rec in r["records"].as_array().unwrap() {
            // (its batch, whether that batch's payload is kept)
            let sql = match rec["outcome"].as_str().unwrap() {
                "accepted" => "SELECT batch_id, true FROM case_records WHERE record_id = $1",
                "rejected" => {
                    "SELECT q.batch_id, p.batch_id IS NOT NULL FROM quarantine q
                     LEFT JOIN ingest_payloads p ON p.batch_id = q.batch_id WHERE q.id = $1"
                }
                _ => continue,
            };
            let id = match rec.get("record_id") {
                Some(id) => uuid(id),
                None => uuid(&rec["quarantine_id"]),
            };
            let row = db.query_one(sql, &[&id]).await.unwrap();
            assert_eq!(row.get::<_, uuid::Uuid>(0), batch, "{r}");
            assert!(row.get::<_, bool>(1), "the payload is kept for replay: {r}");
        }
    }
    assert_eq!(batches.len(), 68);
    assert_eq!(
        node.count("SELECT count(*) FROM ingest_batches").await,
        68,
        "one batch row per push, one for the three retries"
    );
    assert_eq!(
        node.count("SELECT count(*) FROM case_records").await,
        60 + 1 + 1 + 2
    );
    assert_eq!(node.count("SELECT count(*) FROM quarantine").await, 2);

    // And the pushes did share transactions: some group held more than one.
    let metrics = node
        .web_client("qingyang-operator")
        .get("/metrics")
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in {text}"))
    };
    let (groups, pushed) = (
        value("gateway_ingest_group_pushes_count"),
        value("gateway_ingest_group_pushes_sum"),
    );
    assert!(pushed >= 68.0, "every push went through a group: {pushed}");
    assert!(groups < pushed, "{groups} groups for {pushed} pushes");
}

/// What `node` told and stored in [`copy_or_insert_scenario`], without the ids and times a
/// node picks itself.
type Observed = (Vec<Value>, Vec<Value>, Vec<Value>, (i64, i64));

/// Transactions run again (`gateway_ingest_probed_reruns_total`,
/// `gateway_ingest_careful_reruns_total`) before the pushes of the same records at once.
type Reran = [Option<f64>; 2];

/// Pushes that give a transaction new cases, a case whose head moves, history, two versions of
/// a new case together, a case's version 1 after its version 2, concurrent pushes of the same
/// records and a re-push with one record changed: receipts (outcomes, `current`), stored
/// records, state rows, outbox and quarantine.
async fn copy_or_insert_scenario(node: &Node) -> (Observed, Reran) {
    let records = mr_records();
    let with = |i: usize, suffix: &str, version: i64, state: &str| {
        let mut r = records[i].clone();
        r["caseNo"] = json!(format!("{}{suffix}", r["caseNo"].as_str().unwrap()));
        r["version"] = json!(version);
        r["state"] = json!(state);
        r
    };
    let told = |receipt: &Value| {
        let records: Vec<Value> = receipt["records"]
            .as_array()
            .unwrap_or_else(|| panic!("{receipt}"))
            .iter()
            .map(|r| json!([r["case_no"], r["version"], r["outcome"], r["current"]]))
            .collect();
        json!({"summary": receipt["summary"], "records": records})
    };
    let second = with(1, "", 2, "HANDLING");
    let mut pushes = vec![
        mr_batch(vec![second.clone()]),
        // A new case's first two versions together.
        mr_batch(vec![
            with(1, "-N", 2, "HANDLING"),
            with(1, "-N", 1, "ACCEPTED"),
        ]),
    ];
    let mut receipts = Vec::new();
    let push_all = async |pushes: &mut Vec<Vec<u8>>, receipts: &mut Vec<Value>| {
        for body in pushes.drain(..) {
            let (status, receipt) = push(node, XIFENG_AMR, MR, body).await;
            assert_eq!(status, 200, "{receipt}");
            receipts.push(told(&receipt));
        }
    };
    push_all(&mut pushes, &mut receipts).await;
    // None of them met a stored key or head: no transaction ran again (a head read wrong
    // would insert a second state row for a case, and run again).
    let reruns = async || {
        let metric = |m| node.metric_as("qingyang-operator", m);
        [
            metric("gateway_ingest_probed_reruns_total").await,
            metric("gateway_ingest_careful_reruns_total").await,
        ]
    };
    assert_eq!(reruns().await, [None, None]);
    // Version 1 of a case after its version 2, with a version that moves the head and one
    // that goes to history; then a version above them all.
    pushes.push(mr_batch(vec![
        records[0].clone(),
        records[2].clone(),
        with(1, "", 1, "ACCEPTED"),
        with(1, "", 4, "HANDLING"),
        with(1, "", 3, "HANDLING"),
    ]));
    pushes.push(mr_batch(vec![with(1, "", 5, "HANDLING")]));
    push_all(&mut pushes, &mut receipts).await;
    let reran = reruns().await;
    // Eight at once: each record stored once, whichever transaction commits first.
    let body = mr_batch(vec![
        with(0, "-C", 1, "FINISHED"),
        with(2, "-C", 1, "RECEIVED"),
    ]);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (client, body) = (node.client(XIFENG_AMR), body.clone());
            tokio::spawn(async move {
                let resp = client.post(MR, "application/json", body).await.unwrap();
                let receipt: Value = resp.json().unwrap();
                assert_eq!(resp.status.as_u16(), 200, "{receipt}");
                receipt["summary"].clone()
            })
        })
        .collect();
    let (mut accepted, mut duplicates) = (0, 0);
    for t in tasks {
        let summary = t.await.unwrap();
        accepted += summary["accepted"].as_i64().unwrap();
        duplicates += summary["duplicate"].as_i64().unwrap();
    }
    receipts.push(json!([accepted, duplicates]));
    // The second push again, one record changed under its version.
    let mut changed = with(1, "", 4, "HANDLING");
    changed["applicant"]["address"] = json!("甘肃省庆阳市西峰区董志镇北庄村");
    let (_, receipt) = push(
        node,
        XIFENG_AMR,
        MR,
        mr_batch(vec![
            records[0].clone(),
            records[2].clone(),
            with(1, "", 1, "ACCEPTED"),
            changed,
            with(1, "", 3, "HANDLING"),
        ]),
    )
    .await;
    receipts.push(told(&receipt));

    let db = node.db().await;
    let rows = |sql: &'static str| {
        let db = &db;
        async move {
            let rows = db.query(sql, &[]).await.unwrap();
            rows.iter()
                .map(|r| r.get::<_, Value>(0))
                .collect::<Vec<Value>>()
        }
    };
    let stored = rows(
        "SELECT json_build_array(source_system, case_no, version, department, region_code,
                item_code, status, occurred_at, encode(content_hash, 'hex'),
                body - 'ingested_at', forwarded_from, batch_id IS NOT NULL,
                ingested_at = (body->>'ingested_at')::timestamptz)
         FROM case_records ORDER BY case_no, version",
    )
    .await;
    let state = rows(
        "SELECT json_build_array(s.case_no, s.version, s.status, s.level,
                s.record_id = c.record_id,
                s.entered_at = (SELECT min(ingested_at) FROM case_records m
                                WHERE m.case_no = s.case_no),
                to_jsonb(s) - '{record_id,entered_at,entry_delay_secs,updated_at}'::text[])
         FROM supervision_cases s
         JOIN case_records c ON (c.source_system, c.case_no, c.version) = (s.source_system, s.case_no, s.version)
         ORDER BY s.case_no",
    )
    .await;
    let queued = (
        node.count("SELECT sum(cardinality(ref_ids))::int8 FROM outbox WHERE kind = 'record'")
            .await,
        node.count("SELECT count(*) FROM quarantine WHERE reason = 'version_conflict'")
            .await,
    );
    let late = "gateway_supervision_late_entries_total";
    receipts.push(json!(node.metric_as("qingyang-operator", late).await));
    ((receipts, stored, state, queued), reran)
}

/// A transaction of at least `ingest.copy_from_rows` new records writes them with `COPY`
/// (store.rs): the same pushes end the same on a node that copies every transaction's records
/// and on one that never does. Copying, a case's version 1 is taken as new without reading its
/// head: arriving after its version 2 it fails its state row's insert, and the transaction
/// runs again reading every head (`gateway_ingest_probed_reruns_total`), not `ON CONFLICT`.
#[tokio::test]
async fn records_written_by_copy_end_as_those_written_by_insert() {
    let copy = Node::start_configured(&[("GATEWAY_INGEST__COPY_FROM_ROWS", "1")]).await;
    let insert = Node::start_configured(&[("GATEWAY_INGEST__COPY_FROM_ROWS", "0")]).await;
    let ((copied, copy_reran), (inserted, insert_reran)) = tokio::join!(
        copy_or_insert_scenario(&copy),
        copy_or_insert_scenario(&insert)
    );
    assert_eq!(copied, inserted);
    // The late version 1 ran its transaction again once, reading the heads; the one that
    // reads them always (its `INSERT` joins them) never ran again.
    assert_eq!(copy_reran, [Some(1.0), None]);
    assert_eq!(insert_reran, [None, None]);
    let (receipts, stored, state, queued) = copied;
    // The scenario does what it says: history, a moved head, duplicates, a conflict.
    assert_eq!(
        receipts[1]["records"],
        json!([
            ["SCJG-XF-20261120-0007-N", 2, "accepted", true],
            ["SCJG-XF-20261120-0007-N", 1, "accepted", false]
        ])
    );
    assert_eq!(receipts[2]["summary"]["accepted"], 5, "{receipts:?}");
    assert_eq!(
        receipts[2]["records"],
        json!([
            ["SCJG-XF-20261118-0001", 1, "accepted", true],
            ["SCJG-XF-20261121-0003", 1, "accepted", true],
            ["SCJG-XF-20261120-0007", 1, "accepted", false],
            ["SCJG-XF-20261120-0007", 4, "accepted", true],
            ["SCJG-XF-20261120-0007", 3, "accepted", false]
        ])
    );
    assert_eq!(
        receipts[3]["records"],
        json!([["SCJG-XF-20261120-0007", 5, "accepted", true]])
    );
    assert_eq!(receipts[4], json!([2, 14]));
    assert_eq!(receipts[5]["summary"]["duplicate"], 4, "{receipts:?}");
    assert_eq!(
        receipts[5]["summary"]["version_conflict"], 1,
        "{receipts:?}"
    );
    assert_eq!((stored.len(), state.len()), (11, 6));
    assert!(
        state.iter().all(|s| s[4] == true && s[5] == true),
        "{state:?}"
    );
    assert!(
        receipts[6].as_f64() > Some(0.0),
        "late entries: {receipts:?}"
    );
    assert_eq!(queued, (11, 1));
    // 1 + 2 records, 5 twice (the late version 1's transaction ran again), 1, and the two of
    // the concurrent pushes whose transaction won; the re-push's `COPY` failed on the stored
    // keys and ran again with `ON CONFLICT`.
    let metric = "gateway_ingest_copied_records_total";
    assert_eq!(
        copy.metric_as("qingyang-operator", metric).await,
        Some(16.0)
    );
    assert_eq!(insert.metric_as("qingyang-operator", metric).await, None);
    let reruns = "gateway_ingest_careful_reruns_total";
    assert!(copy.metric_as("qingyang-operator", reruns).await >= Some(1.0));
}
