//! The unusual-access report (issue 8): a planted over-reader, a lookup on a rest day and a
//! purpose that does not fit the consumer's department are found in the real audit trail.

use e2e::Node;
use http::Method;
use serde_json::Value;

#[tokio::test]
async fn the_report_finds_an_over_reader_a_rest_day_lookup_and_a_purpose_mismatch() {
    let node = Node::start().await;
    // Three ordinary approvers (accounts) look up three cases each.
    for name in ["li.hua", "zhou.min", "sun.li"] {
        node.add_user(name, "approver", "621000000000", "correct horse battery");
        let cookie = node.login(name, "correct horse battery").await.unwrap();
        for i in 0..3 {
            let path =
                format!("/v1/records?case_no={name}-{i}&region=621000000000&purpose=approval");
            let r = node
                .anonymous_web()
                .send(Method::GET, &path, &[("cookie", &cookie)], vec![])
                .await
                .unwrap();
            assert_eq!(r.status.as_u16(), 200);
        }
    }
    // The planted over-reader looks up thirty.
    let reader = node.web_client("xifeng-approver");
    for i in 0..30 {
        let path = format!("/v1/records?case_no=BULK-{i}&region=621000000000&purpose=approval");
        assert_eq!(reader.get(&path).await.unwrap().status.as_u16(), 200);
    }
    // A civil-affairs consumer using the law-enforcement purpose.
    let db = node.db().await;
    db.execute(
        "UPDATE principals SET department = 'civil_affairs' WHERE id = 'xifeng-approver'",
        &[],
    )
    .await
    .unwrap();
    for i in 0..2 {
        let path = format!("/v1/records?case_no=ENF-{i}&region=621000000000&purpose=enforcement");
        assert_eq!(reader.get(&path).await.unwrap().status.as_u16(), 200);
    }
    // A lookup on Sunday 2026-11-22, as the trail would hold it.
    db.execute(
        "INSERT INTO audit_log (at, principal_id, principal_kind, role, node_region, action, target, purpose, results)
         VALUES ('2026-11-22T10:00:00+08:00', 'night.owl', 'account', 'approver', '621000000000', 'records.query', 'holder=X', 'approval', 1)",
        &[],
    )
    .await
    .unwrap();

    let r = node
        .web_client("qingyang-supervisor")
        .get("/v1/audit/unusual?purpose=supervision&from=2026-11-01T00:00:00Z")
        .await
        .unwrap();
    let report: Value = r.json().unwrap();
    assert_eq!(r.status.as_u16(), 200, "{report}");
    let over: Vec<&str> = report["over_readers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["principal"].as_str().unwrap())
        .collect();
    assert_eq!(over, ["xifeng-approver"], "{report}");
    assert_eq!(report["over_readers"][0]["distinct_targets"], 32);
    let mismatch = &report["purpose_mismatches"][0];
    assert_eq!(
        (
            &mismatch["principal"],
            &mismatch["purpose"],
            &mismatch["lookups"]
        ),
        (&"xifeng-approver".into(), &"enforcement".into(), &2.into()),
        "{report}"
    );
    let late = report["out_of_hours"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["principal"] == "night.owl")
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(late["why"], "rest_day");
    // Reading the report is itself audited.
    let audited: i64 = db
        .query_one(
            "SELECT count(*) FROM audit_log WHERE action = 'audit.unusual_report' AND principal_id = 'qingyang-supervisor'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(audited, 1);
}
