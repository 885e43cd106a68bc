//! Issue 4's acceptance: roles reach only their routes on the right listener; accounts log in;
//! a certificate from another role's CA is refused; errors are documented problem+json; dry runs
//! store nothing; batch status by client batch id; lookups need a purpose and are audited;
//! `gateway push` pushes files idempotently.

// Tables of test cases read best inline, tuple types and all.
#![allow(clippy::type_complexity)]

use e2e::{Node, fixture, repo};
use gateway::client::ExchangeClient;
use http::Method;
use serde_json::{Value, json};

const MR: &str = "/v1/ingest/market-regulation";
const WHY: &str = "purpose=approval"; // 行政审批核验 (schemas/purposes/purposes.json)

/// Assert a problem+json answer with a documented code and the status the code table gives.
fn assert_problem(resp: &gateway::client::Response, code: &str) {
    assert_eq!(
        resp.content_type(),
        "application/problem+json",
        "{}",
        String::from_utf8_lossy(&resp.body)
    );
    let p = resp.json().unwrap();
    assert_eq!(p["code"], code, "{p}");
    let (_, status, _) = gateway::api::problem::CODES
        .iter()
        .find(|c| c.0 == code)
        .expect("documented code");
    assert_eq!(resp.status.as_u16(), *status);
    assert_eq!(p["status"], *status);
    assert_eq!(p["type"], format!("urn:exchange-gateway:problem:{code}"));
}

async fn status(c: &ExchangeClient, method: Method, path: &str, body: Vec<u8>) -> u16 {
    c.send(method, path, &[("content-type", "application/json")], body)
        .await
        .unwrap()
        .status
        .as_u16()
}

#[tokio::test]
async fn each_role_reaches_only_its_routes_on_the_right_listener() {
    let node = Node::start().await;
    let batch = fixture("market-regulation/batch-valid.json");
    let records = format!("/v1/records?region=621002000000&{WHY}");
    let cred: Value = serde_json::from_slice(
        &std::fs::read(repo().join("schemas/examples/credential-business-licence.json")).unwrap(),
    )
    .unwrap();
    let cred = serde_json::to_vec(&cred).unwrap();

    // (who, listener client, method, path, body, expected status)
    let system_x = node.client("xifeng-amr-system");
    let system_w = node.web_client("xifeng-amr-system");
    let approver_x = node.client("xifeng-approver");
    let approver_w = node.web_client("xifeng-approver");
    let operator_w = node.web_client("qingyang-operator");
    let supervisor_w = node.web_client("qingyang-supervisor");
    let public = node.anonymous_web();
    let cases: Vec<(&str, &ExchangeClient, Method, String, Vec<u8>, u16)> = vec![
        (
            "system pushes",
            &system_x,
            Method::POST,
            MR.into(),
            batch.clone(),
            200,
        ),
        (
            "system verifies",
            &system_x,
            Method::POST,
            "/v1/certificates/verify".into(),
            cred.clone(),
            200,
        ),
        (
            "system may not query records",
            &system_x,
            Method::GET,
            records.clone(),
            vec![],
            403,
        ),
        (
            "system has no web routes",
            &system_w,
            Method::GET,
            records.clone(),
            vec![],
            403,
        ),
        (
            "approver may not push",
            &approver_x,
            Method::POST,
            MR.into(),
            batch.clone(),
            403,
        ),
        (
            "approver not on exchange",
            &approver_x,
            Method::GET,
            records.clone(),
            vec![],
            403,
        ),
        (
            "approver queries on web",
            &approver_w,
            Method::GET,
            records.clone(),
            vec![],
            200,
        ),
        (
            "approver no metrics",
            &approver_w,
            Method::GET,
            "/metrics".into(),
            vec![],
            403,
        ),
        (
            "approver no audit",
            &approver_w,
            Method::GET,
            format!("/v1/audit?{WHY}"),
            vec![],
            403,
        ),
        (
            "operator metrics",
            &operator_w,
            Method::GET,
            "/metrics".into(),
            vec![],
            200,
        ),
        (
            "operator no records",
            &operator_w,
            Method::GET,
            records.clone(),
            vec![],
            403,
        ),
        (
            "supervisor audit",
            &supervisor_w,
            Method::GET,
            format!("/v1/audit?{WHY}"),
            vec![],
            200,
        ),
        (
            "supervisor records",
            &supervisor_w,
            Method::GET,
            records.clone(),
            vec![],
            200,
        ),
        (
            "supervisor no metrics",
            &supervisor_w,
            Method::GET,
            "/metrics".into(),
            vec![],
            403,
        ),
        (
            "public verifies",
            &public,
            Method::POST,
            "/v1/certificates/verify".into(),
            cred.clone(),
            200,
        ),
        (
            "public no records",
            &public,
            Method::GET,
            records.clone(),
            vec![],
            401,
        ),
        (
            "public no metrics",
            &public,
            Method::GET,
            "/metrics".into(),
            vec![],
            401,
        ),
        (
            "public health",
            &public,
            Method::GET,
            "/healthz".into(),
            vec![],
            200,
        ),
        (
            "public openapi",
            &public,
            Method::GET,
            "/openapi.json".into(),
            vec![],
            200,
        ),
        (
            "no ingest on web",
            &system_w,
            Method::POST,
            MR.into(),
            batch.clone(),
            404,
        ),
    ];
    let mut wrong = Vec::new();
    for (what, client, method, path, body, expected) in cases {
        let got = status(client, method, &path, body).await;
        if got != expected {
            wrong.push(format!(
                "{what}: {path} answered {got}, expected {expected}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    let r = approver_x
        .post(MR, "application/json", batch)
        .await
        .unwrap();
    assert_problem(&r, "auth.role");
    let r = public.get(&records).await.unwrap();
    assert_problem(&r, "auth.required");
}

#[tokio::test]
async fn staff_log_in_with_an_account_and_a_wrong_password_is_refused() {
    let node = Node::start().await;
    node.add_user(
        "wang.fang",
        "approver",
        "621002000000",
        "correct horse battery",
    );
    assert!(node.login("wang.fang", "wrong password!").await.is_none());
    assert!(
        node.login("nobody", "correct horse battery")
            .await
            .is_none()
    );
    let r = node
        .anonymous_web()
        .post(
            "/v1/session",
            "application/json",
            json!({"username": "wang.fang", "password": "nope-nope-nope"})
                .to_string()
                .into_bytes(),
        )
        .await
        .unwrap();
    assert_problem(&r, "auth.bad_credentials");

    let cookie = node
        .login("wang.fang", "correct horse battery")
        .await
        .expect("login");
    let web = node.anonymous_web();
    let with = |path: String| {
        let web = &web;
        let cookie = cookie.clone();
        async move {
            web.send(Method::GET, &path, &[("cookie", &cookie)], vec![])
                .await
                .unwrap()
        }
    };
    let me = with("/v1/session".into()).await.json().unwrap();
    assert_eq!(
        (me["id"].clone(), me["kind"].clone(), me["role"].clone()),
        (json!("wang.fang"), json!("account"), json!("approver"))
    );
    assert_eq!(
        with(format!("/v1/records?region=621002000000&{WHY}"))
            .await
            .status
            .as_u16(),
        200
    );
    // Approvers look beyond their own region (Huan county, from Xifeng).
    let r = with(format!("/v1/records?region=621022000000&{WHY}")).await;
    assert_eq!(r.status.as_u16(), 200);
    // Logging out ends the session.
    let out = web
        .send(
            Method::DELETE,
            "/v1/session",
            &[("cookie", &cookie)],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(out.status.as_u16(), 204);
    assert_problem(
        &with(format!("/v1/records?region=621002000000&{WHY}")).await,
        "auth.required",
    );
    // A suspended account cannot log in.
    node.cli(&["users", "suspend", "wang.fang"]);
    assert!(
        node.login("wang.fang", "correct horse battery")
            .await
            .is_none()
    );
    // The password is stored as an argon2id hash.
    let hash: String = node
        .db()
        .await
        .query_one("SELECT password_hash FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert!(hash.starts_with("$argon2id$"), "{hash}");
}

#[tokio::test]
async fn a_certificate_from_another_roles_intermediate_is_refused() {
    let node = Node::start().await;
    // The approver's certificate (from the approver CA) now names a principal registered as a
    // market-regulation system: the CA and the principal's role disagree.
    node.db()
        .await
        .execute("UPDATE principals SET role = 'system', department = 'market_regulation' WHERE id = 'xifeng-approver'", &[])
        .await
        .unwrap();
    let r = node
        .client("xifeng-approver")
        .post(
            MR,
            "application/json",
            fixture("market-regulation/batch-valid.json"),
        )
        .await
        .unwrap_or_else(|e| panic!("{e:#}\n{}", node.log()));
    assert_problem(&r, "auth.wrong_ca");
    assert_eq!(node.count("SELECT count(*) FROM case_records").await, 0);
}

#[tokio::test]
async fn a_dry_run_answers_like_a_push_and_stores_nothing() {
    let node = Node::start().await;
    let client = node.client("xifeng-amr-system");
    let r = client
        .post(
            &format!("{MR}?dry_run=true"),
            "application/json",
            fixture("market-regulation/batch-mixed.json"),
        )
        .await
        .unwrap();
    let receipt = r.json().unwrap();
    assert_eq!(receipt["dry_run"], true);
    assert_eq!(receipt["summary"]["accepted"], 1);
    assert_eq!(receipt["summary"]["rejected"], 5);
    assert!(
        receipt["records"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r.get("quarantine_id").is_none())
    );
    let dry_valid = client
        .post(
            &format!("{MR}?dry_run=true"),
            "application/json",
            fixture("market-regulation/batch-valid.json"),
        )
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        dry_valid["records"][0]["certificates"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    for table in [
        "case_records",
        "supervision_cases",
        "outbox",
        "quarantine",
        "ingest_batches",
        "certificates",
        "credential_versions",
    ] {
        assert_eq!(
            node.count(&format!("SELECT count(*) FROM {table}")).await,
            0,
            "{table} must stay empty"
        );
    }
    // The real push then says the same about each record.
    let real = client
        .post(
            MR,
            "application/json",
            fixture("market-regulation/batch-mixed.json"),
        )
        .await
        .unwrap()
        .json()
        .unwrap();
    let outcomes = |r: &Value| {
        r["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["outcome"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(outcomes(&receipt), outcomes(&real));
    let bad = client
        .post(&format!("{MR}?dry_run=maybe"), "application/json", vec![])
        .await
        .unwrap();
    assert_problem(&bad, "request.bad_query");
}

#[tokio::test]
async fn batch_status_answers_by_client_batch_id() {
    let node = Node::start().await;
    let client = node.client("xifeng-amr-system");
    let headers = [
        ("content-type", "application/json"),
        ("x-client-batch-id", "xf-batch-0042"),
    ];
    let pushed = client
        .send(
            Method::POST,
            MR,
            &headers,
            fixture("market-regulation/batch-valid.json"),
        )
        .await
        .unwrap()
        .json()
        .unwrap();
    let status = client.get("/v1/batches/xf-batch-0042").await.unwrap();
    assert_eq!(status.status.as_u16(), 200);
    assert_eq!(status.json().unwrap(), pushed);
    assert_problem(
        &client.get("/v1/batches/no-such-batch").await.unwrap(),
        "batch.not_found",
    );
    // Another system does not see it.
    assert_problem(
        &node
            .client("huanxian-psb-system")
            .get("/v1/batches/xf-batch-0042")
            .await
            .unwrap(),
        "batch.not_found",
    );
}

#[tokio::test]
async fn lookups_need_a_purpose_and_are_audited_before_answering() {
    let node = Node::start().await;
    let receipt = node
        .client("xifeng-amr-system")
        .post(
            MR,
            "application/json",
            fixture("market-regulation/batch-valid.json"),
        )
        .await
        .unwrap()
        .json()
        .unwrap();
    let id = receipt["records"][0]["certificates"][0]["identifier"]
        .as_str()
        .unwrap()
        .to_owned();
    let approver = node.web_client("xifeng-approver");

    for path in [
        format!("/v1/certificates/{id}"),
        "/v1/certificates?holder_code=91621002MA7100001H".into(),
        "/v1/records?case_no=SCJG-XF-20261118-0001".into(),
    ] {
        assert_problem(
            &approver.get(&path).await.unwrap(),
            "audit.purpose_required",
        );
        let sep = if path.contains('?') { '&' } else { '?' };
        assert_problem(
            &approver
                .get(&format!("{path}{sep}purpose=%20%20"))
                .await
                .unwrap(),
            "audit.purpose_required",
        );
    }
    assert_eq!(node.count("SELECT count(*) FROM audit_log").await, 0);

    let by_id = approver
        .get(&format!("/v1/certificates/{id}?{WHY}"))
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(by_id["valid"], true);
    let by_holder = approver
        .get(&format!(
            "/v1/certificates?holder_code=91621002MA7100001H&scope=621000000000&{WHY}"
        ))
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(by_holder["certificates"].as_array().unwrap().len(), 2);
    let recs = approver
        .get(&format!(
            "/v1/records?case_no=SCJG-XF-20261118-0001&region=621000000000&{WHY}"
        ))
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(recs["records"].as_array().unwrap().len(), 1);

    let rows = node
        .db()
        .await
        .query("SELECT principal_id, principal_kind, role, node_region, action, target, purpose, results FROM audit_log ORDER BY id", &[])
        .await
        .unwrap();
    let got: Vec<(String, String, String, String, String, String, String, i32)> = rows
        .iter()
        .map(|r| {
            (
                r.get(0),
                r.get(1),
                r.get(2),
                r.get(3),
                r.get(4),
                r.get(5),
                r.get(6),
                r.get(7),
            )
        })
        .collect();
    let row = |action: &str, target: &str, results: i32| {
        (
            "xifeng-approver".to_owned(),
            "certificate".to_owned(),
            "approver".to_owned(),
            "621000000000".to_owned(),
            action.to_owned(),
            target.to_owned(),
            "approval".to_owned(),
            results,
        )
    };
    assert_eq!(
        got,
        vec![
            row("certificate.lookup", &id, 1),
            row(
                "certificate.lookup_by_holder",
                "holder_code=91621002MA7100001H&scope=621000000000",
                2
            ),
            row(
                "records.query",
                "case_no=SCJG-XF-20261118-0001&region=621000000000",
                1
            ),
        ]
    );

    // Supervisors search the trail: who looked at this holder?
    let found = node
        .web_client("qingyang-supervisor")
        .get(&format!("/v1/audit?target=91621002MA7100001H&{WHY}"))
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(found["entries"][0]["principal"], "xifeng-approver");
    assert_eq!(
        found["entries"][0]["action"],
        "certificate.lookup_by_holder"
    );
}

fn push(node: &Node, args: &[&str]) -> std::process::Output {
    let mut cmd = node.command();
    cmd.args([
        "push",
        "--adapter",
        "market-regulation",
        "--principal",
        "xifeng-amr-system",
        "--url",
        &node.base_url(),
    ])
    .args(args);
    cmd.output().unwrap()
}

#[tokio::test]
async fn gateway_push_sends_files_idempotently_and_reports() {
    let node = Node::start().await;
    let dir = node.dir.path().join("outgoing");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("a.json"),
        fixture("market-regulation/batch-valid.json"),
    )
    .unwrap();
    let mut second: Value =
        serde_json::from_slice(&fixture("market-regulation/batch-valid.json")).unwrap();
    for r in second["records"].as_array_mut().unwrap() {
        r["caseNo"] = json!(format!("{}-B", r["caseNo"].as_str().unwrap()));
    }
    std::fs::write(dir.join("b.json"), serde_json::to_vec(&second).unwrap()).unwrap();

    let dry = push(&node, &["--dry-run", "--file", dir.to_str().unwrap()]);
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert!(String::from_utf8_lossy(&dry.stderr).contains("6 would be accepted"));
    assert_eq!(node.count("SELECT count(*) FROM case_records").await, 0);

    let out = push(&node, &["--file", dir.to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        2,
        "one receipt per file"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 file(s): 6 accepted"));
    // Running the same push again stores nothing twice: the node returns the stored receipts.
    let again = push(&node, &["--file", dir.to_str().unwrap()]);
    assert!(again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("6 accepted"),
        "stored receipts are returned"
    );
    assert_eq!(node.count("SELECT count(*) FROM case_records").await, 6);
    assert_eq!(node.count("SELECT count(*) FROM ingest_batches").await, 2);

    // A file with rejected records makes the command fail.
    std::fs::write(
        node.dir.path().join("mixed.json"),
        fixture("market-regulation/batch-mixed.json"),
    )
    .unwrap();
    let mixed = push(
        &node,
        &[
            "--file",
            node.dir.path().join("mixed.json").to_str().unwrap(),
        ],
    );
    assert!(!mixed.status.success());
    assert!(String::from_utf8_lossy(&mixed.stderr).contains("5 rejected"));
}

#[tokio::test]
async fn every_answer_carries_a_request_id_that_the_audit_trail_and_logs_keep() {
    let node = Node::start().await;
    let approver = node.web_client("xifeng-approver");
    let path = format!("/v1/records?case_no=NONE&region=621000000000&{WHY}");
    let r = approver
        .send(
            Method::GET,
            &path,
            &[("x-request-id", "hall-7:req-0001")],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(r.status.as_u16(), 200);
    assert_eq!(r.headers["x-request-id"], "hall-7:req-0001");
    let kept: Option<String> = node
        .db()
        .await
        .query_one(
            "SELECT request_id FROM audit_log ORDER BY id DESC LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(kept.as_deref(), Some("hall-7:req-0001"));
    // No id, or one that is not plain: a fresh one.
    for sent in [None, Some("two words")] {
        let headers: Vec<(&str, &str)> = sent.map(|s| ("x-request-id", s)).into_iter().collect();
        let r = node
            .anonymous_web()
            .send(Method::GET, "/healthz", &headers, vec![])
            .await
            .unwrap();
        let id = r.headers["x-request-id"].to_str().unwrap();
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    }
    // The log line of the request names it.
    assert!(node.log().contains("hall-7:req-0001"));
}
