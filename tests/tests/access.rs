//! Issue 12's access control: every role against every operation of the OpenAPI document on
//! each listener, as docs/access.md's tables say (the test reads the tables, so the
//! documentation cannot drift from behaviour); crossings of region and department boundaries;
//! untrusted and expired client certificates refused at the TLS handshake on both listeners.
//!
//! Cross-department pushes and out-of-region pushes are tested in ingest.rs, a status change by
//! another department's system in trust_over_time.rs, queries outside a supervisor's region in
//! openapi.rs and supervision.rs; they are not repeated here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use e2e::{Node, fixture, repo};
use gateway::api::auth::{Caller, CallerKind};
use gateway::client::ExchangeClient;
use gateway::federation::route::{SIGNATURE_HEADER, STATEMENT_HEADER, Statement};
use http::Method;
use serde_json::{Value, json};

const NODE_REGION: &str = "621000000000";
const XIFENG: &str = "621002000000";
/// The node's configured child in these tests; its node certificate is the `peer` role.
const CHILD: &str = "621022000000";
const HOLDER: &str = "91621002MA7100001H";
const BATCH_ID: &str = "access-matrix-0001";
const PASSWORD: &str = "correct horse battery staple";

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];
/// Codes that mean "access refused" (besides every `auth.*`): the federation routes' own checks.
const REFUSALS: [&str; 2] = ["federation.not_a_node", "federation.unknown_node"];
/// A cell for a connection refused at the TLS handshake.
const TLS: &str = "tls";
/// A cell for an operation the listener does not serve (404 `route.not_found` or 405).
const ABSENT: &str = "—";
const ALLOWED: &str = "✓";

// ---------------------------------------------------------------------------------------------
// Certificates made in the test from the dev CA's role intermediates (kept by `gateway pki
// init` in the node's PKI folder).

enum Subject<'a> {
    Principal(&'a str),
    Node(&'a str),
}

/// Issue a client certificate from `role`'s intermediate into `out/{stem}.crt|key`, valid from
/// `not_before` to `not_after`; returns the (certificate, key) paths.
fn issue(
    pki: &Path,
    role: &str,
    subject: Subject,
    validity: (time::OffsetDateTime, time::OffsetDateTime),
    out: &Path,
    stem: &str,
) -> (PathBuf, PathBuf) {
    use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, Issuer, KeyPair, SanType};
    let ca_pem = std::fs::read_to_string(pki.join(format!("roles/{role}.crt"))).unwrap();
    let ca_key =
        KeyPair::from_pem(&std::fs::read_to_string(pki.join(format!("roles/{role}.key"))).unwrap())
            .unwrap();
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    let uri = match subject {
        Subject::Principal(id) => format!("{}{id}", gateway::tls::PRINCIPAL_URI_PREFIX),
        Subject::Node(region) => format!("{}{region}", gateway::tls::NODE_URI_PREFIX),
    };
    params
        .subject_alt_names
        .push(SanType::URI(uri.as_str().try_into().unwrap()));
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    (params.not_before, params.not_after) = validity;
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    std::fs::create_dir_all(out).unwrap();
    let (crt, key_path) = (
        out.join(format!("{stem}.crt")),
        out.join(format!("{stem}.key")),
    );
    std::fs::write(&crt, cert.pem() + &ca_pem).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (crt, key_path)
}

fn valid_now() -> (time::OffsetDateTime, time::OffsetDateTime) {
    let now = time::OffsetDateTime::now_utc();
    (
        now - time::Duration::hours(1),
        now + time::Duration::days(30),
    )
}

fn expired() -> (time::OffsetDateTime, time::OffsetDateTime) {
    (
        rcgen::date_time_ymd(2024, 1, 1),
        rcgen::date_time_ymd(2024, 12, 31),
    )
}

// ---------------------------------------------------------------------------------------------
// docs/access.md

/// One listener's table: column names, and operation → cells (by column).
struct Table {
    columns: Vec<String>,
    rows: BTreeMap<String, Vec<String>>,
}

/// The table under the heading `## {heading}` of docs/access.md.
fn table(doc: &str, heading: &str) -> Table {
    let start = doc
        .find(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("docs/access.md has no section '## {heading}'"));
    let cells = |line: &str| -> Vec<String> {
        line.trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().trim_matches('`').to_owned())
            .collect()
    };
    let mut lines = doc[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'));
    let header = cells(lines.next().expect("a table header"));
    assert_eq!(header[0], "operation", "{heading}: first column");
    lines.next().expect("the header's separator row");
    let mut rows = BTreeMap::new();
    for line in lines {
        let row = cells(line);
        assert_eq!(row.len(), header.len(), "{heading}: {line}");
        assert!(
            rows.insert(row[0].clone(), row[1..].to_vec()).is_none(),
            "{heading}: {} listed twice",
            row[0]
        );
    }
    Table {
        columns: header[1..].to_vec(),
        rows,
    }
}

/// Every operation of schemas/openapi.json as `METHOD /path`, with the listeners (by the
/// document's two servers: 0 exchange, 1 web) that serve it.
fn operations() -> BTreeMap<String, BTreeSet<&'static str>> {
    let doc: Value =
        serde_json::from_slice(&std::fs::read(repo().join("schemas/openapi.json")).unwrap())
            .unwrap();
    let servers = doc["servers"].as_array().unwrap();
    let mut out = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let listeners = op
                .get("servers")
                .or_else(|| item.get("servers"))
                .unwrap_or(&doc["servers"])
                .as_array()
                .unwrap()
                .iter()
                .map(
                    |s| match servers.iter().position(|t| t["url"] == s["url"]) {
                        Some(0) => "exchange",
                        Some(1) => "web",
                        _ => panic!("{path}: unknown server {s}"),
                    },
                )
                .collect();
            out.insert(format!("{} {path}", method.to_uppercase()), listeners);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The node and the callers.

/// A caller of one column: a client (with or without a certificate) and maybe a session cookie.
struct Column {
    client: ExchangeClient,
    cookie: Option<String>,
    peer: bool,
}

/// What the matrix's requests need from the node.
struct Fixture {
    identifier: String,
    record_id: String,
    credential: Vec<u8>,
    log_size: i64,
    signing_key: vc::SigningKey,
}

/// A node with a configured child (whose node certificate is the `peer` column), one push of
/// the market-regulation batch, staff accounts, and its log sequenced.
async fn matrix_node() -> (Node, PathBuf) {
    let mut node = Node::start().await;
    let config = node.dir.path().join("children.toml");
    std::fs::write(
        &config,
        format!(
            "[[federation.children]]\nregion = \"{CHILD}\"\nurl = \"https://localhost:9\"\n{}",
            // The matrix calls ~45 operations per caller in a row: no rate limit in the way.
            [
                "public",
                "system",
                "peer",
                "approver",
                "operator",
                "supervisor"
            ]
            .map(|r| format!("[limits.rates.{r}]\nper_second = 0\n"))
            .concat()
        ),
    )
    .unwrap();
    node.stop();
    node.set_env("GATEWAY_CONFIG", config.to_str().unwrap());
    node.spawn().await;
    let certs = node.dir.path().join("access-certs");
    issue(
        &node.pki(),
        "peer",
        Subject::Node(CHILD),
        valid_now(),
        &certs,
        "child-node",
    );
    for (user, role, region) in [
        ("acc-approver", "approver", XIFENG),
        ("acc-operator", "operator", NODE_REGION),
        ("acc-supervisor", "supervisor", NODE_REGION),
    ] {
        node.add_user(user, role, region, PASSWORD);
    }
    (node, certs)
}

async fn prepare(node: &Node) -> Fixture {
    let r = node
        .client("xifeng-amr-system")
        .send(
            Method::POST,
            "/v1/ingest/market-regulation",
            &[
                ("content-type", "application/json"),
                ("x-client-batch-id", BATCH_ID),
            ],
            fixture("market-regulation/batch-valid.json"),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let receipt = r.json().unwrap();
    let identifier = receipt["records"][0]["certificates"][0]["identifier"]
        .as_str()
        .unwrap()
        .to_owned();
    let db = node.db().await;
    let row = db
        .query_one(
            "SELECT v.credential_text, v.record_id::text FROM credential_versions v WHERE v.identifier = $1 AND v.version = 1",
            &[&identifier],
        )
        .await
        .unwrap();
    let (credential, record_id): (String, String) = (row.get(0), row.get(1));
    // The proof route answers once the sequencer has logged the credential.
    let proof_path = format!("/v1/certificates/{identifier}/proof");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let log_size = loop {
        let r = node.anonymous_web().get(&proof_path).await.unwrap();
        if r.status == 200 {
            break r.json().unwrap()["tree_size"].as_i64().unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "never sequenced");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let pk8 = std::fs::read(node.pki().join("signing-key.pk8")).unwrap();
    Fixture {
        identifier,
        record_id,
        credential: credential.into_bytes(),
        log_size,
        signing_key: vc::SigningKey::from_pkcs8(&pk8).unwrap(),
    }
}

/// The callers of each listener's columns, by column name.
async fn columns(node: &Node, certs: &Path, listener: &str) -> BTreeMap<String, Column> {
    let ca = node.pki().join("ca.crt");
    let base = match listener {
        "exchange" => node.base_url(),
        _ => node.web_url(),
    };
    let principal = |id: &str| {
        let clients = node.pki().join("clients");
        ExchangeClient::new(
            &base,
            &ca,
            &clients.join(format!("{id}.crt")),
            &clients.join(format!("{id}.key")),
        )
        .unwrap()
    };
    let mut out = BTreeMap::new();
    let mut add = |name: &str, client: ExchangeClient, cookie: Option<String>, peer: bool| {
        out.insert(
            name.to_owned(),
            Column {
                client,
                cookie,
                peer,
            },
        );
    };
    add("system", principal("xifeng-amr-system"), None, false);
    add("approver", principal("xifeng-approver"), None, false);
    add("operator", principal("qingyang-operator"), None, false);
    add("supervisor", principal("qingyang-supervisor"), None, false);
    let child = ExchangeClient::new(
        &base,
        &ca,
        &certs.join("child-node.crt"),
        &certs.join("child-node.key"),
    )
    .unwrap();
    add("peer", child, None, true);
    add(
        "anonymous",
        ExchangeClient::anonymous(&base, &ca).unwrap(),
        None,
        false,
    );
    if listener == "web" {
        for role in ["approver", "operator", "supervisor"] {
            let cookie = node.login(&format!("acc-{role}"), PASSWORD).await;
            assert!(cookie.is_some(), "acc-{role} logs in");
            add(
                &format!("{role} (session)"),
                ExchangeClient::anonymous(&base, &ca).unwrap(),
                cookie,
                false,
            );
        }
    }
    out
}

/// A request that exercises `op` with valid parameters, and whether an allowed caller gets a
/// 2xx from this node (false where the node's place in the network decides otherwise).
struct Request {
    method: Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    expect_2xx: bool,
}

fn request(op: &str, f: &Fixture, peer: bool) -> Request {
    let id = &f.identifier;
    let json_body = |v: Value| v.to_string().into_bytes();
    let (path, body, expect_2xx): (String, Vec<u8>, bool) = match op {
        "POST /v1/ingest/{adapter}" => (
            "/v1/ingest/market-regulation".into(),
            fixture("market-regulation/batch-valid.json"),
            true,
        ),
        "GET /v1/batches/{client_batch_id}" => (format!("/v1/batches/{BATCH_ID}"), vec![], true),
        "POST /v1/certificates/verify" => (op[5..].into(), f.credential.clone(), true),
        "POST /v1/certificates/verify/batch" => {
            let credential: Value = serde_json::from_slice(&f.credential).unwrap();
            (
                op[5..].into(),
                json_body(json!({"credentials": [credential]})),
                true,
            )
        }
        "GET /v1/certificates/{id}" => (
            format!("/v1/certificates/{id}?purpose=approval"),
            vec![],
            true,
        ),
        "GET /v1/certificates" => (
            format!("/v1/certificates?holder_code={HOLDER}&scope={XIFENG}&purpose=approval"),
            vec![],
            true,
        ),
        "GET /v1/records" => (
            format!("/v1/records?region={XIFENG}&purpose=approval"),
            vec![],
            true,
        ),
        "POST /v1/session" => (
            "/v1/session".into(),
            json_body(json!({"username": "acc-approver", "password": PASSWORD})),
            true,
        ),
        "GET /v1/session" | "DELETE /v1/session" => ("/v1/session".into(), vec![], true),
        "GET /v1/audit" => ("/v1/audit?purpose=supervision".into(), vec![], true),
        "GET /v1/audit/unusual" => ("/v1/audit/unusual?purpose=supervision".into(), vec![], true),
        "GET /metrics"
        | "GET /healthz"
        | "GET /readyz"
        | "GET /openapi.json"
        | "GET /ops"
        | "GET /v1/log/checkpoint"
        | "GET /v1/reference"
        | "GET /v1/supervision/alerts"
        | "GET /v1/supervision/stats"
        | "GET /v1/ops/expiring"
        | "GET /v1/grants"
        | "GET /v1/purposes" => (op[4..].into(), vec![], true),
        "GET /v1/ops/series" => ("/v1/ops/series?minutes=5".into(), vec![], true),
        "POST /v1/federation/forward" => (
            op[5..].into(),
            json_body(json!({"records": [], "credentials": []})),
            true,
        ),
        "GET /v1/federation/audit-head" => (
            format!("/v1/federation/audit-head?child={CHILD}"),
            vec![],
            true,
        ),
        "POST /v1/federation/audit-head" => (
            op[5..].into(),
            json_body(json!({"seq": 1, "hash": "ab".repeat(32)})),
            true,
        ),
        // No catalog version is published on a fresh node: 404 reference.not_found.
        "GET /v1/reference/{kind}/{version}" => ("/v1/reference/catalog/1".into(), vec![], false),
        "POST /v1/certificates/{id}/status" => (
            format!("/v1/certificates/{id}/status"),
            json_body(json!({"status": "suspended", "reason": "访问矩阵"})),
            true,
        ),
        "GET /v1/status/{node}/{purpose}" => {
            (format!("/v1/status/{NODE_REGION}/revocation"), vec![], true)
        }
        "GET /v1/certificates/{id}/proof" => (
            format!("/v1/certificates/{id}/proof?version=1"),
            vec![],
            true,
        ),
        "GET /v1/log/consistency" => (
            format!("/v1/log/consistency?from=1&to={}", f.log_size),
            vec![],
            true,
        ),
        // Not a signed checkpoint: 400 log.bad_checkpoint once the caller is let in.
        "POST /v1/log/witness" => (op[5..].into(), b"not a checkpoint".to_vec(), false),
        // Not a signed key request: 400 once the caller is let in.
        "POST /v1/federation/key-request" => (op[5..].into(), b"{}".to_vec(), false),
        // The pushed cases are not marked public: they answer like missing ones (404).
        "GET /public/v1/cases" => ("/public/v1/cases?case_no=GS-ACCESS".into(), vec![], false),
        "GET /public/v1/cases/{record_id}" => {
            (format!("/public/v1/cases/{}", f.record_id), vec![], false)
        }
        // Grants are changed at the province node only: 403 grants.not_publisher here.
        "POST /v1/grants" => (
            "/v1/grants".into(),
            json_body(json!({
                "id": "G-ACCESS", "consumer": {"principal": "xifeng-approver"},
                "resource": {"kind": "certificate_type", "code": "x"},
                "purposes": ["approval"], "scope": NODE_REGION,
                "valid_from": "2026-01-01T00:00:00Z",
            })),
            false,
        ),
        "DELETE /v1/grants/{id}" => ("/v1/grants/G-ACCESS".into(), vec![], false),
        "POST /v1/federation/principals" => (
            op[5..].into(),
            json_body(json!({"taken_at": chrono::Utc::now(), "principals": []})),
            true,
        ),
        // No CRL is published on a fresh node: 404 pki.no_crl.
        "GET /v1/pki/crl/{role}" => ("/v1/pki/crl/system".into(), vec![], false),
        "GET /verify" => (format!("/verify?id={id}"), vec![], true),
        "GET /v1/certificates/{id}/qr.svg" => {
            (format!("/v1/certificates/{id}/qr.svg"), vec![], true)
        }
        other => {
            panic!("no request for {other}: add one to access.rs (and its rows to docs/access.md)")
        }
    };
    let method = Method::from_bytes(op.split(' ').next().unwrap().as_bytes()).unwrap();
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    // A peer node's lookup carries the entry node's signed statement of who asked and why
    // (here this node's own signing key, as if a query had entered here and come back).
    if peer
        && [
            "GET /v1/records",
            "GET /v1/certificates",
            "GET /v1/certificates/{id}",
        ]
        .contains(&op)
    {
        let asker = Caller {
            id: "xifeng-approver".into(),
            kind: CallerKind::Certificate,
            role: "approver".into(),
            department: None,
            region_code: XIFENG.into(),
        };
        let region = domain::codes::region::RegionCode::parse(NODE_REGION).unwrap();
        let (statement, signature) =
            Statement::new(&asker, "approval", &region).sign(&f.signing_key);
        headers.push((STATEMENT_HEADER.into(), statement));
        headers.push((SIGNATURE_HEADER.into(), signature));
    }
    Request {
        method,
        path,
        headers,
        body,
        expect_2xx,
    }
}

/// What a caller got, as a cell of the table: ✓, a refusal code, `tls` or `—`; and, for ✓,
/// the status and code (to check the 2xx).
async fn outcome(column: &Column, req: &Request) -> (String, String) {
    let mut headers: Vec<(&str, &str)> = req
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if let Some(cookie) = &column.cookie {
        headers.push(("cookie", cookie));
    }
    let resp = match column
        .client
        .send(req.method.clone(), &req.path, &headers, req.body.clone())
        .await
    {
        Ok(r) => r,
        Err(_) => return (TLS.into(), String::new()),
    };
    let code = if resp.content_type() == "application/problem+json" {
        resp.json().unwrap()["code"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    } else {
        String::new()
    };
    let status = resp.status.as_u16();
    let detail = format!("{status} {code}");
    if code == "route.not_found" || code == "route.method_not_allowed" {
        (ABSENT.into(), detail)
    } else if code.starts_with("auth.") || REFUSALS.contains(&code.as_str()) {
        (code, detail)
    } else if status == 401 || status == 403 && code.is_empty() {
        (format!("{status} without a refusal code"), detail)
    } else {
        (ALLOWED.into(), detail)
    }
}

/// Every cell of one listener's table, against the node.
async fn check_listener(node: &Node, certs: &Path, f: &Fixture, listener: &str, heading: &str) {
    let doc = std::fs::read_to_string(repo().join("docs/access.md")).unwrap();
    let table = table(&doc, heading);
    let ops = operations();
    let columns = columns(node, certs, listener).await;
    let expected_columns: BTreeSet<&String> = columns.keys().collect();
    assert_eq!(
        table.columns.iter().collect::<BTreeSet<_>>(),
        expected_columns,
        "{heading}: the table's columns are the callers this test makes"
    );
    let documented: BTreeSet<&String> = table.rows.keys().collect();
    let missing: Vec<_> = ops.keys().filter(|o| !documented.contains(o)).collect();
    assert!(
        missing.is_empty(),
        "{heading}: operations of schemas/openapi.json with no row in docs/access.md: {missing:?}"
    );
    let extra: Vec<_> = documented
        .iter()
        .filter(|o| !ops.contains_key(**o))
        .collect();
    assert!(
        extra.is_empty(),
        "{heading}: rows for no operation: {extra:?}"
    );

    // Logging out ends the session columns' sessions: last.
    let mut order: Vec<&String> = table.rows.keys().collect();
    order.sort_by_key(|op| *op == "DELETE /v1/session");
    let mut wrong = Vec::new();
    let mut observed: BTreeMap<&String, Vec<String>> = BTreeMap::new();
    for (c, name) in table.columns.iter().enumerate() {
        let column = &columns[name];
        for op in &order {
            let expected = &table.rows[*op][c];
            let served = ops[*op].contains(listener);
            assert_eq!(
                expected == ABSENT,
                !served && expected != TLS,
                "{heading}: {op} / {name}: '{expected}' but the document says the listener {} it",
                if served { "serves" } else { "does not serve" }
            );
            let req = request(op, f, column.peer);
            let (got, detail) = outcome(column, &req).await;
            if got == ALLOWED && req.expect_2xx && !detail.starts_with('2') {
                wrong.push(format!(
                    "{op} / {name}: allowed but answered {detail} (expected 2xx)"
                ));
            }
            if &got != expected {
                wrong.push(format!(
                    "{op} / {name}: documented '{expected}', got '{got}' ({detail})"
                ));
            }
            observed.entry(op).or_default().push(got);
        }
    }
    if !wrong.is_empty() {
        // The observed table, to compare with the documented one.
        let mut text = format!("| operation | {} |\n", table.columns.join(" | "));
        for (op, cells) in &observed {
            text += &format!("| `{op}` | {} |\n", cells.join(" | "));
        }
        panic!(
            "{heading}: {} cells differ:\n{}\n\nobserved:\n{text}",
            wrong.len(),
            wrong.join("\n")
        );
    }
}

#[tokio::test]
async fn every_role_reaches_exactly_the_operations_docs_access_md_lists() {
    let (node, certs) = matrix_node().await;
    let f = prepare(&node).await;
    check_listener(&node, &certs, &f, "exchange", "Exchange listener").await;
    check_listener(&node, &certs, &f, "web", "Web listener").await;
}

// ---------------------------------------------------------------------------------------------
// Boundaries of region, department and node.

#[tokio::test]
async fn region_department_and_node_boundaries_hold() {
    let (node, certs) = matrix_node().await;
    let f = prepare(&node).await;

    // A market-regulation system of Huan county may not change a Xifeng certificate, though
    // its department issued it.
    let huan_amr = node.dir.path().join("huan-amr.json");
    std::fs::write(
        &huan_amr,
        json!([{"id": "huan-amr-system", "role": "system", "department": "market_regulation",
                "region": CHILD, "name": "环县市场监管业务系统"}])
        .to_string(),
    )
    .unwrap();
    node.cli(&["principals", "import", huan_amr.to_str().unwrap()]);
    let (crt, key) = issue(
        &node.pki(),
        "system",
        Subject::Principal("huan-amr-system"),
        valid_now(),
        &certs,
        "huan-amr-system",
    );
    let huan =
        ExchangeClient::new(&node.base_url(), &node.pki().join("ca.crt"), &crt, &key).unwrap();
    let body = json!({"status": "revoked", "reason": "越权"})
        .to_string()
        .into_bytes();
    let status_path = format!("/v1/certificates/{}/status", f.identifier);
    let r = huan
        .post(&status_path, "application/json", body.clone())
        .await
        .unwrap();
    assert_eq!(
        (r.status.as_u16(), r.json().unwrap()["code"].clone()),
        (403, json!("auth.region")),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(
        node.count("SELECT count(*) FROM certificate_status_changes")
            .await,
        0
    );

    // A system reads back its own batches only: another system asking for the same client
    // batch id learns nothing of it.
    let r = node
        .client("qingyang-psb-system")
        .get(&format!("/v1/batches/{BATCH_ID}"))
        .await
        .unwrap();
    assert_eq!(
        (r.status.as_u16(), r.json().unwrap()["code"].clone()),
        (404, json!("batch.not_found"))
    );

    // A child node forwards only its own subtree: a Xifeng record from Huan is refused.
    let row = node
        .db()
        .await
        .query_one(
            "SELECT body::text FROM case_records WHERE region_code LIKE '621002%' LIMIT 1",
            &[],
        )
        .await
        .unwrap();
    let body: Value = serde_json::from_str(row.get(0)).unwrap();
    let child = ExchangeClient::new(
        &node.base_url(),
        &node.pki().join("ca.crt"),
        &certs.join("child-node.crt"),
        &certs.join("child-node.key"),
    )
    .unwrap();
    let forwarded = json!({
        "records": [{"record_id": uuid::Uuid::now_v7().to_string(), "body": body}],
        "credentials": [],
    });
    let before = node.count("SELECT count(*) FROM case_records").await;
    let r = child
        .post(
            "/v1/federation/forward",
            "application/json",
            forwarded.to_string().into_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.status.as_u16(), r.json().unwrap()["code"].clone()),
        (403, json!("auth.region")),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(
        node.count("SELECT count(*) FROM case_records").await,
        before
    );

    // A node certificate of the peer CA naming a node that is not a child: not let in.
    let (crt, key) = issue(
        &node.pki(),
        "peer",
        Subject::Node(XIFENG),
        valid_now(),
        &certs,
        "stranger-node",
    );
    let stranger =
        ExchangeClient::new(&node.base_url(), &node.pki().join("ca.crt"), &crt, &key).unwrap();
    let r = stranger
        .post(
            "/v1/federation/audit-head",
            "application/json",
            json!({"seq": 1, "hash": "ab".repeat(32)})
                .to_string()
                .into_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(r.json().unwrap()["code"], "federation.unknown_node");
    assert_eq!(
        node.count("SELECT count(*) FROM audit_child_heads").await,
        0
    );

    // A staff account sees its own region only, by session as by certificate: a supervisor
    // of Huan county asks for Xifeng's records.
    node.add_user("huan-supervisor", "supervisor", CHILD, PASSWORD);
    let cookie = node.login("huan-supervisor", PASSWORD).await.unwrap();
    let r = node
        .anonymous_web()
        .send(
            Method::GET,
            &format!("/v1/records?region={XIFENG}&purpose=supervision"),
            &[("cookie", &cookie)],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        (r.status.as_u16(), r.json().unwrap()["code"].clone()),
        (403, json!("auth.region")),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
}

// ---------------------------------------------------------------------------------------------
// The TLS handshake.

/// Whether a request with this certificate gets any HTTP answer.
async fn answered(base: &str, ca: &Path, cert: &Path, key: &Path) -> bool {
    let client = ExchangeClient::new(base, ca, cert, key).unwrap();
    client.get("/healthz").await.is_ok()
}

#[tokio::test]
async fn expired_and_untrusted_client_certificates_fail_the_handshake_on_both_listeners() {
    let node = Node::start().await;
    let pki = node.pki();
    let ca = pki.join("ca.crt");
    let out = node.dir.path().join("handshake-certs");
    // The same registered principal, once valid and once expired, from its role's CA.
    let valid = issue(
        &pki,
        "system",
        Subject::Principal("xifeng-amr-system"),
        valid_now(),
        &out,
        "valid",
    );
    let old = issue(
        &pki,
        "system",
        Subject::Principal("xifeng-amr-system"),
        expired(),
        &out,
        "expired",
    );
    // A certificate from another CA (a second dev PKI) for the same principal id.
    let other = node.dir.path().join("other-pki");
    node.cli(&[
        "pki",
        "init",
        "--no-register",
        "--out",
        other.to_str().unwrap(),
    ]);
    let foreign = (
        other.join("clients/xifeng-amr-system.crt"),
        other.join("clients/xifeng-amr-system.key"),
    );
    for base in [node.base_url(), node.web_url()] {
        assert!(
            answered(&base, &ca, &valid.0, &valid.1).await,
            "{base}: the valid certificate is let in"
        );
        assert!(
            !answered(&base, &ca, &old.0, &old.1).await,
            "{base}: an expired certificate must fail the handshake"
        );
        assert!(
            !answered(&base, &ca, &foreign.0, &foreign.1).await,
            "{base}: a certificate from another CA must fail the handshake"
        );
    }
    // Nothing of the refused connections reached the application.
    let push = ExchangeClient::new(&node.base_url(), &ca, &old.0, &old.1)
        .unwrap()
        .post(
            "/v1/ingest/market-regulation",
            "application/json",
            fixture("market-regulation/batch-valid.json"),
        )
        .await;
    assert!(push.is_err());
    assert_eq!(node.count("SELECT count(*) FROM case_records").await, 0);
}
