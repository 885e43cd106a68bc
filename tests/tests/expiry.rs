//! Operators are warned ahead of time about expiring certificates and keys (issue 8): the
//! node's certificate, and the client certificates principals present, recorded as they
//! connect.

use e2e::Node;
use serde_json::Value;

#[tokio::test]
async fn expiring_certificates_are_listed_for_operators_before_they_stop_working() {
    let mut node = Node::start().await;
    // Client certificates live 30 days, the node's a year: with a 400-day horizon all are
    // "expiring".
    node.stop();
    node.set_env("GATEWAY_OPS__EXPIRY_WARNING_DAYS", "400");
    node.spawn().await;
    let r = node
        .web_client("xifeng-approver")
        .get("/v1/records?case_no=X&region=621000000000&purpose=approval")
        .await
        .unwrap();
    assert_eq!(r.status.as_u16(), 200);
    let r = node
        .web_client("qingyang-operator")
        .get("/v1/ops/expiring")
        .await
        .unwrap();
    let body: Value = r.json().unwrap();
    assert_eq!(r.status.as_u16(), 200, "{body}");
    let items = body["expiring"].as_array().unwrap();
    let find = |kind: &str, subject: &str| {
        items
            .iter()
            .find(|e| e["kind"] == kind && e["subject"].as_str().unwrap().contains(subject))
            .unwrap_or_else(|| panic!("no {kind} {subject} in {body}"))
    };
    assert_eq!(find("node_certificate", "node.crt")["level"], "warning");
    let first = find("client_certificate", "xifeng-approver").clone();
    assert_eq!(first["level"], "warning");
    // Principals that never connected have nothing recorded.
    assert!(!body.to_string().contains("qingyang-psb-system"));
    // Renewed (a new key and certificate, valid 300 days): recorded on its first use.
    node.cli(&[
        "pki",
        "renew",
        "--principal",
        "xifeng-approver",
        "--days",
        "300",
    ]);
    let r = node
        .web_client("xifeng-approver")
        .get("/v1/records?case_no=X&region=621000000000&purpose=approval")
        .await
        .unwrap();
    assert_eq!(r.status.as_u16(), 200);
    let body: Value = node
        .web_client("qingyang-operator")
        .get("/v1/ops/expiring")
        .await
        .unwrap()
        .json()
        .unwrap();
    let renewed = body["expiring"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["subject"] == "xifeng-approver")
        .unwrap();
    let days = |e: &Value| {
        let t = chrono::DateTime::parse_from_rfc3339(e["not_after"].as_str().unwrap()).unwrap();
        (t.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_days()
    };
    assert!((29..=30).contains(&days(&first)), "{first}");
    assert!((299..=300).contains(&days(renewed)), "{renewed}");
    // Within 20 days nothing of a fresh PKI is listed.
    node.stop();
    node.set_env("GATEWAY_OPS__EXPIRY_WARNING_DAYS", "20");
    node.spawn().await;
    let body: Value = node
        .web_client("qingyang-operator")
        .get("/v1/ops/expiring")
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(body["expiring"], serde_json::json!([]), "{body}");
    // Others may not read it.
    let r = node
        .web_client("xifeng-approver")
        .get("/v1/ops/expiring")
        .await
        .unwrap();
    assert_eq!(r.json().unwrap()["code"], "auth.role");
}
