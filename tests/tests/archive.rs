//! Archiving (issue 12): finished cases move to segment files with a signed hash manifest,
//! and stay retrievable (the same answers as before), verifiable (`gateway archive verify`),
//! and recognised as duplicates; a changed byte in a segment is caught, never answered.

use e2e::gansu::{CITY, XIFENG};
use e2e::{Network, Node, fixture};
use serde_json::Value;

const FINISHED: &str = "SCJG-XF-20261118-0001";

fn approver() -> String {
    format!("n{XIFENG}-approver")
}

async fn records(node: &Node, query: &str) -> (u16, Value) {
    let r = node
        .web_client(&approver())
        .get(&format!(
            "/v1/records?{query}&region={XIFENG}&purpose=approval"
        ))
        .await
        .unwrap();
    (r.status.as_u16(), r.json().unwrap())
}

async fn public(node: &Node) -> (u16, Value) {
    let r = node
        .anonymous_web()
        .get(&format!("/public/v1/cases?case_no={FINISHED}"))
        .await
        .unwrap();
    (r.status.as_u16(), r.json().unwrap())
}

async fn push(node: &Node) -> Value {
    node.client(&format!("n{XIFENG}-market-regulation"))
        .post(
            "/v1/ingest/market-regulation",
            "application/json",
            fixture("market-regulation/batch-valid.json"),
        )
        .await
        .unwrap()
        .json()
        .unwrap()
}

#[tokio::test]
async fn finished_cases_are_archived_and_stay_retrievable_and_verifiable() {
    let mut net = Network::start(&[
        (CITY, "庆阳市节点", None),
        (XIFENG, "西峰区节点", Some(CITY)),
    ])
    .await;
    let dir = net.node(XIFENG).pki().parent().unwrap().join("archive");
    {
        let node = net.node_mut(XIFENG);
        node.stop();
        node.set_env("GATEWAY_ARCHIVE__DIR", dir.to_str().unwrap());
        node.spawn().await;
    }
    // The parent is down: what waits in the outbox is not archived yet.
    net.node(CITY).pause();
    let node = net.node(XIFENG);
    let receipt = push(node).await;
    assert_eq!(receipt["summary"]["accepted"], 3, "{receipt}");
    let out = node.cli(&["archive", "run", "--older-than-days", "3", "--json"]);
    let pass: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(pass["records"], 0, "{pass}");
    net.node(CITY).resume();
    Network::eventually(60, "the parent has every record", || async {
        node.count("SELECT count(*) FROM outbox").await == 0
    })
    .await;

    let by_case = format!("case_no={FINISHED}");
    let by_holder = "holder=91621002MA7100001H";
    let before = (
        records(node, &by_case).await,
        records(node, by_holder).await,
        public(node).await,
    );
    assert_eq!(before.0.0, 200, "{:?}", before.0);
    assert_eq!(before.0.1["records"].as_array().unwrap().len(), 1);
    assert_eq!(before.2.0, 200, "{:?}", before.2);

    // The fixture's cases happened in November 2026: only the finished one is archived (the
    // others are still being handled, however old).
    let out = node.cli(&["archive", "run", "--older-than-days", "3", "--json"]);
    let pass: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(pass["records"], 1, "{pass}");
    let file = pass["segments"][0].as_str().unwrap().to_owned();
    assert!(dir.join(&file).exists() && dir.join(format!("{file}.manifest.json")).exists());
    let db = node.db().await;
    let archived: Vec<String> = db
        .query(
            "SELECT case_no FROM case_records WHERE body IS NULL AND archive_segment IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(archived, [FINISHED]);
    // The row stays, and nothing may take it away: case heads and supervision rows point at
    // records without a foreign key (migration 0020), so the store refuses deletes outright.
    for statement in [
        format!("DELETE FROM case_records WHERE case_no = '{FINISHED}'"),
        "TRUNCATE case_records CASCADE".to_owned(),
    ] {
        let refused = db.batch_execute(&statement).await.unwrap_err();
        assert_eq!(
            refused.code(),
            Some(&tokio_postgres::error::SqlState::RESTRICT_VIOLATION),
            "{statement}: {refused}"
        );
    }
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join(format!("{file}.manifest.json"))).unwrap())
            .unwrap();
    assert_eq!(manifest["records"][0]["case_no"], FINISHED);
    assert!(
        manifest["signature"]["verification_method"]
            .as_str()
            .unwrap()
            .starts_with("did:key:")
    );

    // The same answers, by case number, by holder, and to the public.
    let after = (
        records(node, &by_case).await,
        records(node, by_holder).await,
        public(node).await,
    );
    assert_eq!(after, before);
    listings_use_their_indexes(&db).await;

    // Archived records are still duplicates when pushed again; a second pass finds nothing.
    let again = push(node).await;
    assert_eq!(again["summary"]["duplicate"], 3, "{again}");
    let out = node.cli(&["archive", "run", "--older-than-days", "3", "--json"]);
    let pass: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(pass["records"], 0, "{pass}");
    let out = node.cli(&["archive", "verify"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 segments: sound"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // The certificate issued in the archived case still verifies.
    let credential: String = db
        .query_one(
            "SELECT v.credential_text FROM credential_versions v
             JOIN case_records r ON r.record_id = v.record_id WHERE r.case_no = $1 LIMIT 1",
            &[&FINISHED],
        )
        .await
        .unwrap()
        .get(0);
    let verdict: Value = node
        .web_client(&approver())
        .post(
            "/v1/certificates/verify",
            "application/json",
            credential.into_bytes(),
        )
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(verdict["valid"], true, "{verdict}");

    // One changed byte: verify names the record and fails; a lookup refuses to answer it.
    let path = dir.join(&file);
    let mut data = std::fs::read(&path).unwrap();
    let at = data
        .windows(FINISHED.len())
        .position(|w| w == FINISHED.as_bytes())
        .unwrap();
    data[at + FINISHED.len() - 1] = b'9';
    std::fs::write(&path, data).unwrap();
    let out = node.command().args(["archive", "verify"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("content hash") && report.contains("SHA-256"),
        "{report}"
    );
    let (status, problem) = records(node, &by_case).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (500, Some("archive.unreadable")),
        "{problem}"
    );
}

/// The records listing is answered through its indexes (migration 0027), for stored and
/// archived records alike. On so few rows the planner would read the table, so sequential scans
/// are priced out: then a holder's listing reads the holder's index (the listing's expression is
/// the index's), and, with sorts priced out too, a subtree's newest records come off the time
/// index in order instead of being sorted.
async fn listings_use_their_indexes(db: &tokio_postgres::Client) {
    db.batch_execute("SET enable_seqscan = off").await.unwrap();
    let explain = format!("EXPLAIN (FORMAT JSON) {}", *gateway::api::records::LISTING);
    let plan = |holder: Option<&'static str>| {
        let explain = explain.clone();
        async move {
            let row = db
                .query_one(
                    &explain,
                    &[
                        &"6210%",
                        &None::<&str>,
                        &holder,
                        &None::<&str>,
                        &None::<chrono::DateTime<chrono::Utc>>,
                        &None::<chrono::DateTime<chrono::Utc>>,
                        &false,
                        &100i64,
                    ],
                )
                .await
                .unwrap();
            row.get::<_, Value>(0).to_string()
        }
    };
    let by_holder = plan(Some("91621002MA7100001H")).await;
    assert!(
        by_holder.contains(r#""Index Name":"case_records_holder""#),
        "{by_holder}"
    );
    db.batch_execute("SET enable_sort = off").await.unwrap();
    let newest = plan(None).await;
    assert!(
        newest.contains(r#""Index Name":"case_records_occurred""#),
        "{newest}"
    );
    assert!(!newest.contains(r#""Node Type":"Sort""#), "{newest}");
    db.batch_execute("RESET enable_seqscan; RESET enable_sort")
        .await
        .unwrap();

    // Over a county of few codes the listing goes by region code (the fixture's three cases are
    // under two codes of Xifeng): the same records in the same order as the subtree-wide statement, at
    // every limit, with and without history.
    use gateway::api::records::{LISTING, LISTING_BY_CODE, SUBTREE_CODES};
    let codes: i64 = db
        .query_one(SUBTREE_CODES.as_str(), &[&"621002%"])
        .await
        .unwrap()
        .get(0);
    assert_eq!(codes, 2, "the two codes the answer below merges");
    let ids = |sql: &'static str, limit: i64, history: bool| async move {
        db.query(
            sql,
            &[
                &"621002%",
                &None::<&str>,
                &None::<&str>,
                &None::<&str>,
                &None::<chrono::DateTime<chrono::Utc>>,
                &None::<chrono::DateTime<chrono::Utc>>,
                &history,
                &limit,
            ],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get::<_, uuid::Uuid>(0), r.get::<_, bool>(2)))
        .collect::<Vec<_>>()
    };
    for limit in 1..=4 {
        for history in [false, true] {
            let by_code = ids(LISTING_BY_CODE.as_str(), limit, history).await;
            assert_eq!(by_code.len(), limit.min(3) as usize);
            assert_eq!(by_code, ids(LISTING.as_str(), limit, history).await);
        }
    }
}
