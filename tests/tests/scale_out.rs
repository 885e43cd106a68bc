//! Several `gateway serve` processes serving one node (issue 11, "Beyond one machine"): two
//! processes of a city node on one database, behind no balancer but the test pushing to both,
//! with the province above. The same batches arrive at both at once (same records, same client
//! batch ids, and the same records again under other batch ids); nothing may be doubled or
//! lost: one stored record and one receipt per client batch id, one credential per certificate
//! logged exactly once by one sequencer at a time, every record and credential forwarded to the
//! province exactly once (`FOR UPDATE SKIP LOCKED`), and the audit chain both processes write
//! to still verifies. Each process's row cache (principals, certificate statuses) hears of the
//! changes made through the other, and of those made while its listening connection was cut.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Child;
use std::sync::Arc;

use e2e::gansu::{CITY, PROVINCE};
use e2e::{Network, Node, fixture, seen_within};
use gateway::client::ExchangeClient;
use serde_json::{Value, json};

/// Rounds of overlapping pushes; each round is one fixture batch (3 records, 2 certificates).
const ROUNDS: usize = 6;
const RECORDS_PER_ROUND: usize = 3;
const CERTIFICATES_PER_ROUND: usize = 2;

/// The market-regulation fixture's records, in the city, with case and certificate numbers
/// renumbered with `tag`.
fn batch(tag: &str) -> Vec<u8> {
    let mut batch: Value =
        serde_json::from_slice(&fixture("market-regulation/batch-valid.json")).unwrap();
    for r in batch["records"].as_array_mut().unwrap() {
        r["areaCode"] = json!(CITY);
        r["caseNo"] = json!(format!("{}-{tag}", r["caseNo"].as_str().unwrap()));
        // New certificates too (the same numbers would be the same certificates, unchanged).
        let licences = r.get_mut("result").and_then(|x| x.get_mut("licences"));
        if let Some(licences) = licences.and_then(Value::as_array_mut) {
            for l in licences {
                l["licenceNo"] = json!(format!("{}-{tag}", l["licenceNo"].as_str().unwrap()));
            }
        }
    }
    serde_json::to_vec(&batch).unwrap()
}

const SYSTEM: &str = "n621000000000-market-regulation";

/// A push through `client`, with a client batch id when given; the receipt.
async fn push(client: &ExchangeClient, body: &[u8], batch_id: Option<&str>) -> Value {
    let mut headers = vec![("content-type", "application/json")];
    if let Some(id) = batch_id {
        headers.push(("x-client-batch-id", id));
    }
    let resp = client
        .send(
            http::Method::POST,
            "/v1/ingest/market-regulation",
            &headers,
            body.to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(
        resp.status.as_u16(),
        200,
        "{}",
        String::from_utf8_lossy(&resp.body)
    );
    resp.json().unwrap()
}

/// The second `gateway serve` process of a node: same database, PKI, parent and settings, its
/// own listeners.
struct SecondProcess {
    child: Child,
    exchange: u16,
    web: u16,
}

impl SecondProcess {
    async fn start(node: &mut Node) -> SecondProcess {
        // The network's config file fixes the listen addresses: the second process takes free
        // ports instead (as it would on another machine behind a load balancer).
        node.set_env("GATEWAY_EXCHANGE__LISTEN", "127.0.0.1:0");
        node.set_env("GATEWAY_WEB__LISTEN", "127.0.0.1:0");
        let (child, ready) = node.serve_process("ready-2.json", "serve-2.log").await;
        let port = |listener: &str| -> u16 {
            let addr: std::net::SocketAddr = ready[listener].as_str().unwrap().parse().unwrap();
            addr.port()
        };
        SecondProcess {
            exchange: port("exchange"),
            web: port("web"),
            child,
        }
    }

    fn client(&self, node: &Node, principal: &str, web: bool) -> ExchangeClient {
        let clients = node.pki().join("clients");
        let port = if web { self.web } else { self.exchange };
        ExchangeClient::new(
            &format!("https://localhost:{port}"),
            &node.pki().join("ca.crt"),
            &clients.join(format!("{principal}.crt")),
            &clients.join(format!("{principal}.key")),
        )
        .unwrap()
    }
}

impl Drop for SecondProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sum of every sample of `name` whose labels include `labels` (Prometheus text).
fn metric_sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name).is_some_and(|rest| {
                (rest.starts_with('{') || rest.starts_with(' '))
                    && labels
                        .iter()
                        .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
            })
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn two_processes_of_one_node_double_nothing_and_lose_nothing() {
    let mut net = Network::start(&[
        (PROVINCE, "甘肃省节点", None),
        (CITY, "庆阳市节点", Some(PROVINCE)),
    ])
    .await;
    let second = SecondProcess::start(net.node_mut(CITY)).await;
    let city = net.node(CITY);
    let (one, two) = (
        Arc::new(city.client(SYSTEM)),
        Arc::new(second.client(city, SYSTEM, false)),
    );

    // Each round's batch reaches both processes at once: under one client batch id twice (a
    // client retrying through the other process), under a second id, and with no id; and all
    // rounds at once.
    let mut rounds = tokio::task::JoinSet::new();
    for round in 0..ROUNDS {
        let (one, two) = (one.clone(), two.clone());
        rounds.spawn(async move {
            let body = batch(&format!("SCALE{round}"));
            let (id, other) = (format!("scale-{round}"), format!("scale-{round}-again"));
            let (a, b, c, d) = tokio::join!(
                push(&one, &body, Some(&id)),
                push(&two, &body, Some(&id)),
                push(&two, &body, Some(&other)),
                push(&one, &body, None),
            );
            assert_eq!(
                a, b,
                "one client batch id, two processes: one receipt (round {round})"
            );
            [a, c, d]
        });
    }
    let mut receipts: Vec<Value> = Vec::new();
    while let Some(done) = rounds.join_next().await {
        receipts.extend(done.expect("a round of pushes"));
    }

    // Every record accepted exactly once among the distinct batches, all naming one record id;
    // every certificate issued once.
    let mut accepted: BTreeMap<String, usize> = BTreeMap::new();
    let mut ids: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut issued = 0;
    for receipt in &receipts {
        for r in receipt["records"].as_array().unwrap() {
            let case = r["case_no"].as_str().unwrap().to_owned();
            match r["outcome"].as_str().unwrap() {
                "accepted" => *accepted.entry(case.clone()).or_default() += 1,
                "duplicate" => {}
                other => panic!("unexpected outcome {other}: {receipt:#}"),
            }
            ids.entry(case)
                .or_default()
                .insert(r["record_id"].as_str().unwrap().to_owned());
            issued += r["certificates"]
                .as_array()
                .map_or(0, |c| c.iter().filter(|c| c["outcome"] == "issued").count());
        }
    }
    let records = ROUNDS * RECORDS_PER_ROUND;
    let certificates = ROUNDS * CERTIFICATES_PER_ROUND;
    assert_eq!(accepted.len(), records, "{accepted:?}");
    assert!(accepted.values().all(|n| *n == 1), "{accepted:?}");
    assert!(ids.values().all(|s| s.len() == 1), "{ids:?}");
    assert_eq!(issued, certificates);

    // What the node stored: nothing doubled, nothing quarantined.
    let count = |sql: &'static str| city.count(sql);
    assert_eq!(
        count("SELECT count(*) FROM case_records").await,
        records as i64
    );
    assert_eq!(
        count("SELECT count(*) FROM case_heads").await,
        records as i64
    );
    assert_eq!(count("SELECT count(*) FROM quarantine").await, 0);
    assert_eq!(
        count("SELECT count(*) FROM ingest_batches").await,
        3 * ROUNDS as i64,
        "one batch row per client batch id, and one per push without one"
    );
    assert_eq!(
        count("SELECT count(*) FROM certificates").await,
        certificates as i64
    );
    assert_eq!(
        count("SELECT count(*) FROM credential_versions").await,
        certificates as i64,
        "one credential per certificate"
    );

    // Audited lookups through both processes: both chain into one audit trail.
    let approver = format!("n{CITY}-approver");
    let (web_one, web_two) = (
        city.web_client(&approver),
        second.client(city, &approver, true),
    );
    for i in 0..4 {
        let (p1, p2) = (
            format!("/v1/records?region={CITY}&case_no=LOOK-{i}&purpose=approval"),
            format!(
                "/v1/records?region={CITY}&case_no=LOOK-{}&purpose=approval",
                i + 4
            ),
        );
        let (r1, r2) = tokio::join!(web_one.get(&p1), web_two.get(&p2));
        assert_eq!(r1.unwrap().status.as_u16(), 200);
        assert_eq!(r2.unwrap().status.as_u16(), 200);
    }

    // Each credential verifies through either process (signature, trust, status).
    let creds: Vec<Value> = city
        .db()
        .await
        .query(
            "SELECT credential_text::jsonb FROM credential_versions",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for (i, cred) in creds.iter().enumerate() {
        let client = if i % 2 == 0 { &one } else { &two };
        let r = client
            .post(
                "/v1/certificates/verify",
                "application/json",
                serde_json::to_vec(cred).unwrap(),
            )
            .await
            .unwrap();
        let verdict = r.json().unwrap();
        assert_eq!(verdict["valid"], true, "{verdict}");
        assert_eq!(verdict["checks"]["not_revoked"], "pass", "{verdict}");
    }

    // One sequencer at a time: every credential is one leaf, the leaves have no gap, and the
    // log recomputes from its rows.
    Network::eventually(60, "every credential logged", || async {
        city.count("SELECT count(*) FROM tlog_leaves WHERE kind = 'credential'")
            .await
            == certificates as i64
    })
    .await;
    assert_eq!(
        count(
            "SELECT count(*) FROM credential_versions v
             WHERE NOT EXISTS (SELECT 1 FROM tlog_leaves l WHERE l.ref_id = v.credential_id)"
        )
        .await,
        0
    );
    assert_eq!(
        count("SELECT count(*) - coalesce(max(leaf_index) + 1, 0) FROM tlog_leaves").await,
        0,
        "leaf indexes 0..n without gaps"
    );
    city.cli(&["log", "audit"]);

    // Forwarding: the outboxes of both processes drain into the province, every row once.
    Network::eventually(60, "the city's outbox drained", || async {
        city.count("SELECT count(*) FROM outbox").await == 0
    })
    .await;
    let province = net.node(PROVINCE);
    assert_eq!(
        province.count("SELECT count(*) FROM case_records").await,
        records as i64
    );
    assert_eq!(
        province
            .count("SELECT count(*) FROM credential_versions")
            .await,
        certificates as i64
    );
    let city_ids: BTreeSet<String> = city
        .db()
        .await
        .query("SELECT record_id::text FROM case_records", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let province_ids: BTreeSet<String> = province
        .db()
        .await
        .query("SELECT record_id::text FROM case_records", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(city_ids, province_ids, "the province holds the city's ids");
    // The province received each record once: a second send would count as received (and
    // duplicate) again.
    let metrics = province
        .web_client(&format!("n{PROVINCE}-operator"))
        .get("/metrics")
        .await
        .unwrap();
    let metrics = String::from_utf8_lossy(&metrics.body).into_owned();
    let forwarded = [("adapter", "forwarded")];
    assert_eq!(
        metric_sum(&metrics, "gateway_records_received_total", &forwarded),
        records as f64,
        "{metrics}"
    );
    assert_eq!(
        metric_sum(&metrics, "gateway_records_accepted_total", &forwarded),
        records as f64
    );
    // The two processes sent one outbox row per record between them, each once, and none for
    // credentials (they go up with their record's row). Sent rows are deleted, so this is
    // counted where they were sent.
    let operator = format!("n{CITY}-operator");
    let operators = [
        city.web_client(&operator),
        second.client(city, &operator, true),
    ];
    let sent = || async {
        let mut sent = 0.0;
        for operator in &operators {
            let text = operator.get("/metrics").await.unwrap();
            let text = String::from_utf8_lossy(&text.body).into_owned();
            sent += metric_sum(&text, "gateway_forwarded_out_total", &[]);
        }
        sent
    };
    // Counted just after the commit that emptied the outbox.
    Network::eventually(10, "every sent row counted", || async {
        sent().await >= records as f64
    })
    .await;
    assert_eq!(sent().await, records as f64);

    // The audit rows of both processes form one chain that verifies.
    Network::eventually(30, "every audit row chained", || async {
        city.count("SELECT count(*) FROM audit_log WHERE chain_seq IS NULL")
            .await
            == 0
    })
    .await;
    assert_eq!(count("SELECT count(*) FROM audit_log").await, 8);
    let out = city.cli_output(&["audit", "verify", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "audit verify printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(out.status.code(), Some(0), "{report:#}");
}

/// The detail of a `GET /v1/batches/{id}` for a batch nobody pushed names the caller.
async fn caller_of(client: &ExchangeClient) -> String {
    let resp = client.get("/v1/batches/no-such-batch").await.unwrap();
    assert_eq!(resp.status.as_u16(), 404);
    resp.json().unwrap()["detail"].as_str().unwrap().to_owned()
}

/// A node's kept-alive client of a peer (`federation/peers.rs`) outlives certificate renewals:
/// it reuses its connections, and once the files change it presents the new certificate on a
/// new connection without a restart.
#[tokio::test]
async fn a_kept_alive_client_presents_renewed_certificate_files() {
    let node = Node::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("client.crt"), dir.path().join("client.key"));
    let install = |principal: &str| {
        let clients = node.pki().join("clients");
        std::fs::copy(clients.join(format!("{principal}.crt")), &cert).unwrap();
        std::fs::copy(clients.join(format!("{principal}.key")), &key).unwrap();
    };
    install("xifeng-amr-system");
    let client = ExchangeClient::new(&node.base_url(), &node.pki().join("ca.crt"), &cert, &key)
        .unwrap()
        .keep_alive();
    assert!(caller_of(&client).await.contains("'xifeng-amr-system'"));
    install("huanxian-psb-system");
    // The files are checked at most once a second.
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    let detail = caller_of(&client).await;
    assert!(detail.contains("'huanxian-psb-system'"), "{detail}");
    assert!(caller_of(&client).await.contains("'huanxian-psb-system'"));
}

/// A verification through `client`: the status and the answer's `code` (a problem) or the
/// verdict.
async fn verify(client: &ExchangeClient, credential: &Value) -> (u16, Value) {
    let r = client
        .post(
            "/v1/certificates/verify",
            "application/json",
            serde_json::to_vec(credential).unwrap(),
        )
        .await
        .unwrap();
    let body: Value = r.json().unwrap();
    let status = r.status.as_u16();
    (
        status,
        if status == 200 {
            body
        } else {
            body["code"].clone()
        },
    )
}

/// The row cache (`db/row_cache.rs`): each process keeps principals and certificate statuses in
/// memory, and a change made through another process (or straight in the database) reaches it
/// by a PostgreSQL notification; when its listening connection is cut it reads the rows again.
#[tokio::test]
async fn a_change_made_through_one_process_reaches_the_others_copies() {
    let mut net = Network::start(&[(CITY, "庆阳市节点", None)]).await;
    let second = SecondProcess::start(net.node_mut(CITY)).await;
    let city = net.node(CITY);
    let (one, two) = (city.client(SYSTEM), second.client(city, SYSTEM, false));
    let operator = second.client(city, &format!("n{CITY}-operator"), true);
    // (listening, reads of `table` served from memory) in the second process.
    let cache = |table: &'static str| {
        let operator = &operator;
        async move {
            let text = operator.get("/metrics").await.unwrap();
            let text = String::from_utf8_lossy(&text.body).into_owned();
            (
                metric_sum(&text, "gateway_row_cache_listening", &[]) == 1.0,
                metric_sum(
                    &text,
                    "gateway_row_cache_reads_total",
                    &[("table", table), ("from", "memory")],
                ),
            )
        }
    };
    let receipt = push(&one, &batch("CACHE"), None).await;
    let identifier = receipt["records"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["certificates"].as_array().cloned().unwrap_or_default())
        .map(|c| c["identifier"].as_str().unwrap().to_owned())
        .next()
        .expect("the batch issues a certificate");
    let stored: Value = city
        .db()
        .await
        .query_one(
            "SELECT credential_text::jsonb FROM credential_versions WHERE identifier = $1",
            &[&identifier],
        )
        .await
        .unwrap()
        .get(0);
    // Presented with a property added, the credential is not a stored version (its signature
    // fails): its status then comes from the status lookup alone, the one the cache keeps.
    let mut credential = stored.clone();
    credential["note"] = json!("not the stored version");
    // The second process holds the principal and the status after one request each.
    let (listening, statuses) = cache("certificates").await;
    assert!(listening, "the second process listens for changes");
    for _ in 0..3 {
        assert_eq!(
            verify(&two, &credential).await.1["checks"]["not_revoked"],
            "pass"
        );
    }
    assert!(
        cache("certificates").await.1 >= statuses + 2.0,
        "statuses read from memory"
    );
    assert!(
        cache("principals").await.1 >= 2.0,
        "principals read from memory"
    );

    // Revoked through the first process: the second sees it.
    let revoke = json!({"status": "revoked", "reason": "持证人申报遗失（挂失）"});
    let r = one
        .post(
            &format!("/v1/certificates/{identifier}/status"),
            "application/json",
            revoke.to_string().into_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(
        r.status.as_u16(),
        200,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let took = seen_within("the revocation, in the second process", || async {
        verify(&two, &credential).await.1["checks"]["not_revoked"] == "fail"
    })
    .await;
    eprintln!("revocation seen by the other process after {took:?}");

    // Suspended by the command line (a process of its own): the second process refuses it.
    city.cli(&["principals", "suspend", SYSTEM]);
    seen_within("the suspension, in the second process", || async {
        verify(&two, &credential).await == (403, json!("auth.principal_inactive"))
    })
    .await;
    city.cli(&["principals", "resume", SYSTEM]);
    seen_within("the resumption", || async {
        verify(&two, &credential).await.0 == 200
    })
    .await;

    // The listening connections are cut, and a change is made before they are back: it is
    // still seen (the copies went with the connection), and listening resumes.
    let db = city.db().await;
    db.batch_execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE application_name = 'exchange-gateway row cache'",
    )
    .await
    .unwrap();
    db.execute(
        "UPDATE principals SET status = 'suspended' WHERE id = $1",
        &[&SYSTEM],
    )
    .await
    .unwrap();
    seen_within("a suspension made while not listening", || async {
        verify(&two, &credential).await.0 == 403
    })
    .await;
    db.execute(
        "UPDATE principals SET status = 'active' WHERE id = $1",
        &[&SYSTEM],
    )
    .await
    .unwrap();
    Network::eventually(10, "listening again, and reading from memory", || async {
        let (listening, before) = cache("principals").await;
        verify(&two, &credential).await.0 == 200
            && listening
            && cache("principals").await.1 > before
    })
    .await;
}

/// `database.row_cache = false`: no listening connection, nothing kept, every principal read
/// from the database.
#[tokio::test]
async fn without_the_row_cache_every_principal_is_read() {
    let node = Node::start_configured(&[("GATEWAY_DATABASE__ROW_CACHE", "false")]).await;
    let operator = node.web_client("qingyang-operator");
    for _ in 0..3 {
        assert_eq!(operator.get("/metrics").await.unwrap().status.as_u16(), 200);
    }
    let text = operator.get("/metrics").await.unwrap();
    let text = String::from_utf8_lossy(&text.body).into_owned();
    let reads = |from| {
        metric_sum(
            &text,
            "gateway_row_cache_reads_total",
            &[("table", "principals"), ("from", from)],
        )
    };
    assert_eq!(reads("memory"), 0.0, "{text}");
    assert!(reads("database") >= 4.0, "{text}");
    assert_eq!(
        metric_sum(&text, "gateway_row_cache_listening", &[]),
        0.0,
        "{text}"
    );
    Network::eventually(10, "no listening connection", || async {
        node.count(
            "SELECT count(*) FROM pg_stat_activity
             WHERE application_name = 'exchange-gateway row cache'",
        )
        .await
            == 0
    })
    .await;
}

/// Two processes starting together on a fresh database migrate it once between them, through
/// migration 0027's concurrent index builds (run again whole when interrupted): the one waiting for the migration lock polls for
/// it instead of waiting inside a statement, whose snapshot the other's `CREATE INDEX
/// CONCURRENTLY` would wait for in turn (a deadlock PostgreSQL breaks by failing one of them).
#[tokio::test]
async fn two_processes_migrate_a_fresh_database_once_together() {
    let name = format!("e2e_{}", uuid::Uuid::now_v7().simple());
    let admin_url = &e2e::cluster().admin_url;
    let connect = |url: String| async move {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
    };
    connect(admin_url.clone())
        .await
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let url = e2e::replace_database(admin_url, &name);
    let (mut a, mut b) = (connect(url.clone()).await, connect(url.clone()).await);
    let (ran_a, ran_b) = tokio::join!(
        gateway::db::migrate::run(&mut a),
        gateway::db::migrate::run(&mut b)
    );
    let mut applied = ran_a.unwrap();
    applied.extend(ran_b.unwrap());
    applied.sort();
    let known: Vec<i32> = gateway::db::migrate::MIGRATIONS
        .iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(
        applied, known,
        "each migration applied once, by one of them"
    );
    let invalid: i64 = a
        .query_one("SELECT count(*) FROM pg_index WHERE NOT indisvalid", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(invalid, 0);

    // Interrupted in the middle of 0027 (some builds done, one not, no row in
    // schema_migrations): the next start runs it again from its first statement.
    a.batch_execute(
        "DELETE FROM schema_migrations WHERE version = 27; DROP INDEX case_records_holder",
    )
    .await
    .unwrap();
    assert_eq!(gateway::db::migrate::run(&mut a).await.unwrap(), [27]);
    // Read through the other connection (`a` runs the migrations).
    let indexes = || async {
        b.query(
            "SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
             WHERE i.indrelid = 'case_records'::regclass AND i.indisvalid ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect::<Vec<String>>()
    };
    let expected = [
        "case_records_holder",
        "case_records_item_time",
        "case_records_key",
        "case_records_occurred",
        "case_records_pkey",
        "case_records_region_time",
    ];
    assert_eq!(indexes().await, expected);

    // 0030 interrupted before its swap of unique keys (the old key and the case-number index
    // still there, the new key's build left behind): run again, it ends with the new key, a
    // constraint on (case_no, source_system, version), and nothing else.
    a.batch_execute(
        "DELETE FROM schema_migrations WHERE version = 30;
         ALTER TABLE case_records DROP CONSTRAINT case_records_key,
             ADD CONSTRAINT case_records_source_system_case_no_version_key UNIQUE (source_system, case_no, version);
         CREATE INDEX case_records_case_no ON case_records (case_no);
         CREATE UNIQUE INDEX case_records_key_build ON case_records (case_no, source_system, version);",
    )
    .await
    .unwrap();
    assert_eq!(gateway::db::migrate::run(&mut a).await.unwrap(), [30]);
    assert_eq!(indexes().await, expected);
    // Interrupted after the swap: a second run builds and drops its index again, no more.
    a.batch_execute("DELETE FROM schema_migrations WHERE version = 30")
        .await
        .unwrap();
    assert_eq!(gateway::db::migrate::run(&mut a).await.unwrap(), [30]);
    assert_eq!(indexes().await, expected);
    let key: String = a
        .query_one(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'case_records_key'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(key, "UNIQUE (case_no, source_system, version)");
}

/// Migration 0029 on a store from before it (a head table of its own beside the state rows):
/// every head ends up as its case's state row, those that had none or a stale one marked
/// `error` for the evaluator's catch-up, the others untouched; `case_heads` reads the same
/// heads as a view.
#[tokio::test]
async fn migration_0029_keeps_every_head_in_its_state_row() {
    let mut db = e2e::migrated_database().await;
    // Back to the schema of 0028, holding: case A at version 2 whose state row is still
    // version 1's, case B with its state, case C (version 1, stored twice as version 1 then
    // a lower-stamped version 0) with none.
    db.batch_execute(
        "DELETE FROM schema_migrations WHERE version = 29;
         DROP VIEW case_heads;
         CREATE TABLE case_heads (source_system text NOT NULL, case_no text NOT NULL,
             version bigint NOT NULL, record_id uuid NOT NULL, PRIMARY KEY (source_system, case_no));
         INSERT INTO case_records (record_id, source_system, case_no, version, department, region_code,
             item_code, status, occurred_at, ingested_at, batch_id, content_hash, body)
         VALUES
           ('00000000-0000-7000-8000-00000000000a', 's', 'A', 1, 'tax', '621002000000', '620130001000',
            'accepted', '2026-11-01T00:00:00Z', '2026-11-01T01:00:00Z', gen_random_uuid(), '\\x00', '{}'),
           ('00000000-0000-7000-8000-00000000000b', 's', 'A', 2, 'tax', '621002000000', '620130001000',
            'completed', '2026-11-02T00:00:00Z', '2026-11-02T01:00:00Z', gen_random_uuid(), '\\x00', '{}'),
           ('00000000-0000-7000-8000-00000000000c', 's', 'B', 1, 'tax', '621002000000', '620130001000',
            'accepted', '2026-11-01T00:00:00Z', '2026-11-01T01:00:00Z', gen_random_uuid(), '\\x00', '{}'),
           ('00000000-0000-7000-8000-00000000000d', 's', 'C', 0, 'tax', '621002000000', '620130001000',
            'received', '2026-11-01T00:00:00Z', '2026-11-03T01:00:00Z', gen_random_uuid(), '\\x00', '{}'),
           ('00000000-0000-7000-8000-00000000000e', 's', 'C', 1, 'tax', '621002000000', '620130001000',
            'accepted', '2026-11-01T00:00:00Z', '2026-11-04T01:00:00Z', gen_random_uuid(), '\\x00', '{}');
         INSERT INTO case_heads VALUES
           ('s', 'A', 2, '00000000-0000-7000-8000-00000000000b'),
           ('s', 'B', 1, '00000000-0000-7000-8000-00000000000c'),
           ('s', 'C', 1, '00000000-0000-7000-8000-00000000000e');
         INSERT INTO supervision_cases (source_system, case_no, record_id, version, region_code,
             department, item_code, item_name, status, occurred_at, entered_at, entry_delay_secs,
             late_entry, limit_days, level)
         SELECT source_system, case_no, record_id, version, region_code, department, item_code,
                'item', status, occurred_at, ingested_at, 3600, false, 5, 'pending'
         FROM case_records WHERE record_id IN ('00000000-0000-7000-8000-00000000000a',
                                               '00000000-0000-7000-8000-00000000000c');",
    )
    .await
    .unwrap();
    assert_eq!(gateway::db::migrate::run(&mut db).await.unwrap(), [29]);

    let rows: Vec<(String, i64, String, String, String)> = db
        .query(
            "SELECT case_no, version, record_id::text, level, to_char(entered_at AT TIME ZONE 'UTC', 'MM-DD HH24')
             FROM supervision_cases ORDER BY case_no",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    let row = |case: &str, version: i64, id: char, level: &str, entered: &str| {
        (
            case.to_owned(),
            version,
            format!("00000000-0000-7000-8000-00000000000{id}"),
            level.to_owned(),
            entered.to_owned(),
        )
    };
    assert_eq!(
        rows,
        [
            row("A", 2, 'b', "error", "11-01 01"),
            row("B", 1, 'c', "pending", "11-01 01"),
            row("C", 1, 'e', "error", "11-03 01"),
        ]
    );
    let heads: Vec<(String, i64)> = db
        .query(
            "SELECT case_no, version FROM case_heads ORDER BY case_no",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        heads,
        [
            ("A".to_owned(), 2),
            ("B".to_owned(), 1),
            ("C".to_owned(), 1)
        ]
    );
}

/// Every version of a few cases pushed at once, one push each, through two processes of one
/// node (separate transactions racing for each case's head): each case ends with its highest
/// version as its head, in one state row computed from it with the case's earliest entry
/// stamp, and every version stored once.
#[tokio::test]
async fn versions_of_one_case_pushed_at_once_through_two_processes_end_at_the_highest() {
    const CASES: usize = 4;
    const VERSIONS: i64 = 8;
    let mut node = Node::start().await;
    let second = SecondProcess::start(&mut node).await;
    let system = "xifeng-amr-system";
    let clients = [
        Arc::new(node.client(system)),
        Arc::new(second.client(&node, system, false)),
    ];
    let fixture: Value =
        serde_json::from_slice(&fixture("market-regulation/batch-valid.json")).unwrap();
    let template = fixture["records"][1].clone(); // no certificate
    let mut pushes = tokio::task::JoinSet::new();
    for version in (1..=VERSIONS).rev() {
        for case in 0..CASES {
            let mut record = template.clone();
            record["caseNo"] = json!(format!("RACE-{case}"));
            record["version"] = json!(version);
            let body = serde_json::to_vec(&json!({"sender": "test", "records": [record]})).unwrap();
            let client = clients[(case + version as usize) % 2].clone();
            pushes.spawn(async move { push(&client, &body, None).await });
        }
    }
    while let Some(receipt) = pushes.join_next().await {
        let receipt = receipt.unwrap();
        assert_eq!(receipt["records"][0]["outcome"], "accepted", "{receipt}");
    }

    let count = |sql: &'static str| node.count(sql);
    assert_eq!(
        count("SELECT count(*) FROM case_records").await,
        CASES as i64 * VERSIONS
    );
    assert_eq!(
        count("SELECT count(*) FROM supervision_cases").await,
        CASES as i64
    );
    assert_eq!(
        count(
            "SELECT count(*) FROM supervision_cases s
             JOIN case_records h ON h.record_id = s.record_id
             WHERE s.version = h.version AND h.case_no = s.case_no
               AND s.version = (SELECT max(version) FROM case_records r WHERE r.case_no = s.case_no)
               AND s.entered_at = (SELECT min(ingested_at) FROM case_records r WHERE r.case_no = s.case_no)
               AND s.status = h.status"
        )
        .await,
        CASES as i64,
        "every case's state row is its highest version's, entered at its first stamp"
    );
    let mut races = 0.0;
    for web in [
        node.web_client("qingyang-operator"),
        second.client(&node, "qingyang-operator", true),
    ] {
        let page = web.get("/metrics").await.unwrap();
        races += metric_sum(
            &String::from_utf8_lossy(&page.body),
            "gateway_ingest_head_races_total",
            &[],
        );
    }
    eprintln!("versions_of_one_case…: {races} head races, each run again");
}
