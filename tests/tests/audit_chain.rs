//! The tamper-evident audit trail (issue 7): lookups are chained shortly after they are
//! audited, `gateway audit verify` recomputes the chain and reports the first broken link (a
//! changed row, a deleted row), each node's chain head goes up to its parent and is
//! acknowledged, so a truncated chain is found against the parent's head, and the parent
//! refuses another hash for a head it acknowledged.

use std::process::Output;

use e2e::{Network, Node};
use gateway::client::ExchangeClient;
use serde_json::{Value, json};

const CITY: &str = "621000000000";
const XIFENG: &str = "621002000000";
const WHY: &str = "purpose=approval"; // 行政审批核验 (schemas/purposes/purposes.json)

/// `n` audited record lookups by `client` (local to a node covering `region`).
async fn look_up(client: &ExchangeClient, region: &str, n: usize) {
    for i in 0..n {
        let path = format!("/v1/records?region={region}&case_no=AUDIT-{i}&{WHY}");
        let r = client.get(&path).await.unwrap();
        assert_eq!(
            r.status.as_u16(),
            200,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
    }
}

/// Wait until the node's audit trail has `rows` rows, all chained.
async fn chained(node: &Node, rows: i64) {
    Network::eventually(30, &format!("{rows} audit rows chained"), || async {
        node.count("SELECT count(*) FROM audit_log WHERE chain_seq IS NOT NULL")
            .await
            == rows
            && node.count("SELECT count(*) FROM audit_log").await == rows
    })
    .await;
}

/// `gateway audit verify --json`: (exit code, report).
fn verify(node: &Node) -> (i32, Value) {
    let out: Output = node.cli_output(&["audit", "verify", "--json"]);
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "audit verify printed no JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), report)
}

async fn hash_at(node: &Node, seq: i64) -> String {
    let row = node
        .db()
        .await
        .query_one(
            "SELECT encode(row_hash, 'hex') FROM audit_log WHERE chain_seq = $1",
            &[&seq],
        )
        .await
        .unwrap();
    row.get(0)
}

#[tokio::test]
async fn lookups_are_chained_and_the_chain_verifies() {
    let node = Node::start().await;
    look_up(&node.web_client("xifeng-approver"), XIFENG, 5).await;
    chained(&node, 5).await;
    // Linked in id order, seq 1..5, each row's prev_hash the previous row's hash.
    let db = node.db().await;
    let rows = db
        .query(
            "SELECT chain_seq, prev_hash, row_hash FROM audit_log ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    let mut prev = vec![0u8; 32];
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r.get::<_, i64>(0), i as i64 + 1);
        assert_eq!(
            r.get::<_, Vec<u8>>(1),
            prev,
            "seq {} links to its predecessor",
            i + 1
        );
        prev = r.get(2);
    }

    let (code, report) = verify(&node);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["sound"], true);
    assert_eq!(report["chained"], 5);
    assert_eq!(report["head"]["seq"], 5);
    assert_eq!(report["head"]["hash"], hash_at(&node, 5).await);
    // This node's configured parent never answers: the check against its head is skipped.
    assert_eq!(report["parent"]["status"], "skipped", "{report:#}");
    let text = node.cli(&["audit", "verify"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("sound"));
    // --strict makes a parent that could not be asked a failure.
    let strict = node.cli_output(&["audit", "verify", "--strict"]);
    assert_eq!(strict.status.code(), Some(1));

    // The chainer reports what it did.
    let metrics = node
        .web_client("qingyang-operator")
        .get("/metrics")
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(text.contains("gateway_audit_chained_total 5"), "{text}");
    assert!(text.contains("gateway_audit_chain_lag_rows 0"), "{text}");
}

#[tokio::test]
async fn a_changed_audit_row_is_the_first_broken_link() {
    let node = Node::start().await;
    look_up(&node.web_client("xifeng-approver"), XIFENG, 5).await;
    chained(&node, 5).await;
    let stored = hash_at(&node, 3).await;
    // Someone with database access rewrites why the third lookup was made.
    let id: i64 = node
        .db()
        .await
        .query_one(
            "UPDATE audit_log SET purpose = '随便看看' WHERE chain_seq = 3 RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);

    let (code, report) = verify(&node);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["sound"], false);
    let first = &report["first_problem"];
    assert_eq!(
        (
            &first["kind"],
            &first["seq"],
            &first["id"],
            &first["stored"]
        ),
        (&json!("changed"), &json!(3), &json!(id), &json!(stored)),
        "{report:#}"
    );
    assert_ne!(first["expected"], first["stored"]);
    // Only that row: the links after it still hold.
    assert_eq!(report["problem_count"], 1, "{report:#}");
    let text = node.cli_output(&["audit", "verify"]);
    assert_eq!(text.status.code(), Some(1));
    let out = String::from_utf8_lossy(&text.stdout);
    assert!(
        out.contains(&format!(
            "first broken link: row id {id} (seq 3) was changed"
        )),
        "{out}"
    );
}

#[tokio::test]
async fn a_deleted_audit_row_is_a_gap_in_the_chain() {
    let node = Node::start().await;
    look_up(&node.web_client("xifeng-approver"), XIFENG, 5).await;
    chained(&node, 5).await;
    node.db()
        .await
        .execute("DELETE FROM audit_log WHERE chain_seq = 2", &[])
        .await
        .unwrap();

    let (code, report) = verify(&node);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(
        report["first_problem"],
        json!({"kind": "missing", "from_seq": 2, "to_seq": 2}),
        "{report:#}"
    );
    assert_eq!(report["problem_count"], 1, "{report:#}");
}

/// The city and, below it, Xifeng district.
async fn city_and_xifeng() -> Network {
    Network::start(&[
        (CITY, "庆阳市节点", None),
        (XIFENG, "西峰区节点", Some(CITY)),
    ])
    .await
}

/// Wait until the city holds Xifeng's head at `seq`.
async fn city_holds(net: &Network, seq: i64) {
    let city = net.node(CITY);
    Network::eventually(
        30,
        &format!("the city holds Xifeng's head {seq}"),
        || async {
            city.count(&format!(
            "SELECT coalesce(max(seq), 0) FROM audit_child_heads WHERE child_region = '{XIFENG}'"
        ))
        .await
            == seq
        },
    )
    .await;
}

#[tokio::test]
async fn a_truncated_chain_is_found_against_the_parents_head() {
    let net = city_and_xifeng().await;
    let xifeng = net.node(XIFENG);
    let approver = xifeng.web_client(&format!("n{XIFENG}-approver"));
    look_up(&approver, XIFENG, 6).await;
    chained(xifeng, 6).await;
    city_holds(&net, 6).await;
    let head = hash_at(xifeng, 6).await;

    // The city's operators see what it holds for Xifeng.
    let held = net
        .node(CITY)
        .web_client(&format!("n{CITY}-operator"))
        .get(&format!("/v1/federation/audit-head?child={XIFENG}"))
        .await
        .unwrap();
    assert_eq!(held.status.as_u16(), 200);
    let held = held.json().unwrap();
    assert_eq!(
        (
            &held["configured"],
            &held["head"]["seq"],
            &held["head"]["hash"]
        ),
        (&json!(true), &json!(6), &json!(head)),
        "{held}"
    );
    let (code, report) = verify(xifeng);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["parent"]["status"], "consistent", "{report:#}");

    // The two newest rows are deleted: locally the chain is whole, only shorter.
    xifeng
        .db()
        .await
        .execute("DELETE FROM audit_log WHERE chain_seq > 4", &[])
        .await
        .unwrap();
    let (code, report) = verify(xifeng);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(
        report["first_problem"],
        json!({"kind": "truncated", "parent": CITY, "seq": 6, "hash": head, "local_head_seq": 4}),
        "{report:#}"
    );
    assert_eq!(report["parent"]["status"], "broken");
    // The shorter head Xifeng now sends does not lower what the city holds.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    city_holds(&net, 6).await;

    // New lookups grow the chain to seq 6 again, over other rows: still found, and the city
    // refuses the new head at seq 6 as a fork.
    look_up(&approver, XIFENG, 2).await;
    chained(xifeng, 6).await;
    let (code, report) = verify(xifeng);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["first_problem"]["kind"], "diverged", "{report:#}");
    assert_eq!(report["first_problem"]["hash"], head);
    Network::eventually(30, "Xifeng logs the city's refusal", || async {
        xifeng
            .log()
            .contains("refused this node's audit chain head as a fork")
    })
    .await;
}

/// A client of `to`'s exchange listener presenting `as_node`'s node certificate.
fn as_node(net: &Network, as_node: &str, to: &str) -> ExchangeClient {
    let pki = net.node(as_node).pki();
    ExchangeClient::new(
        &net.node(to).base_url(),
        &pki.join("ca.crt"),
        &pki.join("node.crt"),
        &pki.join("node.key"),
    )
    .unwrap()
}

#[tokio::test]
async fn the_parent_refuses_a_forged_head_with_an_acknowledged_seq() {
    let net = city_and_xifeng().await;
    let xifeng = net.node(XIFENG);
    look_up(
        &xifeng.web_client(&format!("n{XIFENG}-approver")),
        XIFENG,
        3,
    )
    .await;
    chained(xifeng, 3).await;
    city_holds(&net, 3).await;
    let (real, first) = (hash_at(xifeng, 3).await, hash_at(xifeng, 1).await);

    let node = as_node(&net, XIFENG, CITY);
    let send = |seq: i64, hash: String| {
        let body = json!({"seq": seq, "hash": hash}).to_string().into_bytes();
        let node = &node;
        async move {
            node.post("/v1/federation/audit-head", "application/json", body)
                .await
                .unwrap()
        }
    };
    // Another hash for the acknowledged seq 3: a rewritten chain.
    let r = send(3, "ab".repeat(32)).await;
    assert_eq!(r.status.as_u16(), 409);
    assert_eq!(r.content_type(), "application/problem+json");
    let problem = r.json().unwrap();
    assert_eq!(problem["code"], "audit.chain_fork", "{problem}");
    assert_eq!(problem["held"], json!({"seq": 3, "hash": real}));
    // The held head is untouched; the real head again is acknowledged as unchanged, an older
    // one is ignored (the held head never goes back).
    let ack = send(3, real.clone()).await.json().unwrap();
    assert_eq!(
        (&ack["outcome"], &ack["held"]["seq"], &ack["held"]["hash"]),
        (&json!("unchanged"), &json!(3), &json!(real)),
        "{ack}"
    );
    let ack = send(1, first).await.json().unwrap();
    assert_eq!(
        (&ack["outcome"], &ack["held"]["seq"]),
        (&json!("stale"), &json!(3)),
        "{ack}"
    );
    let r = send(0, real.clone()).await;
    assert_eq!(r.status.as_u16(), 400);

    // The child reads its own held head on the exchange listener; others may not.
    let own = node
        .get("/v1/federation/audit-head")
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(own["head"]["hash"], json!(real), "{own}");
    let system = net.node(CITY).client(&format!("n{CITY}-market-regulation"));
    let r = system
        .post(
            "/v1/federation/audit-head",
            "application/json",
            json!({"seq": 4, "hash": "ab".repeat(32)})
                .to_string()
                .into_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.status.as_u16(), r.json().unwrap()["code"].clone()),
        (403, json!("federation.not_a_node"))
    );
    // And Xifeng's own chain is still sound against the city's head.
    let (code, report) = verify(xifeng);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["parent"]["status"], "consistent", "{report:#}");
}

#[tokio::test]
async fn every_head_the_parent_acknowledged_is_checked_not_only_the_last() {
    let net = city_and_xifeng().await;
    let xifeng = net.node(XIFENG);
    let approver = xifeng.web_client(&format!("n{XIFENG}-approver"));
    look_up(&approver, XIFENG, 3).await;
    chained(xifeng, 3).await;
    city_holds(&net, 3).await;
    look_up(&approver, XIFENG, 3).await;
    chained(xifeng, 6).await;
    city_holds(&net, 6).await;
    let held: Value = net
        .node(CITY)
        .web_client(&format!("n{CITY}-operator"))
        .get(&format!("/v1/federation/audit-head?child={XIFENG}"))
        .await
        .unwrap()
        .json()
        .unwrap();
    let earlier = held["earlier"].as_array().unwrap();
    assert!(!earlier.is_empty(), "{held}");
    assert_eq!(verify(xifeng).0, 0);
    // Xifeng showed the city other rows up to an earlier head than it holds now (a rewritten,
    // re-hashed chain acknowledged again higher up): found against that earlier head.
    let seq = earlier.last().unwrap()["seq"].as_i64().unwrap();
    // Flip every bit of the first byte: setting it to zero left the hash as it was whenever it
    // already began with a zero byte (1 run in 256).
    let tampered = net
        .node(CITY)
        .db()
        .await
        .execute(
            "UPDATE audit_child_heads SET hash = set_byte(hash, 0, get_byte(hash, 0) # 255)
             WHERE child_region = $1 AND seq = $2",
            &[&XIFENG, &seq],
        )
        .await
        .unwrap();
    assert_eq!(tampered, 1, "no held head at seq {seq}");
    let (code, report) = verify(xifeng);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(
        (
            report["first_problem"]["kind"].clone(),
            report["first_problem"]["seq"].clone()
        ),
        (json!("diverged"), json!(seq)),
        "{report:#}"
    );
}
