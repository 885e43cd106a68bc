//! Crash consistency (issue 12): the gateway is killed with SIGKILL at random moments while
//! several clients push batches (one record in ten with certificates); clients retry every batch
//! they did not see acknowledged, with the same client batch id. Afterwards every acknowledged
//! record is stored exactly once, retries stored nothing twice, every issued credential is a
//! leaf of the transparency log exactly once, and the audit chain and the log verify. The same
//! across a parent and a child: the parent ends up holding every record the child acknowledged,
//! exactly once, whichever of the two was killed while the outbox drained.
//!
//! `CRASH_KILLS` sets the number of kills per scenario (default 5, the CI variant);
//! `CRASH_SEED` replays a run's kill moments; `CRASH_REPORT` names a file to which each scenario
//! appends a JSON line with its figures (bench/kill.sh runs the long variant that way).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use e2e::gansu::{CITY, PROVINCE};
use e2e::{Network, fixture};
use gateway::client::ExchangeClient;
use serde_json::{Value, json};
use tokio::sync::Mutex;

const CLIENTS: usize = 4;
const RECORDS_PER_BATCH: usize = 10;

fn kills() -> usize {
    std::env::var("CRASH_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(5)
}

/// A small xorshift generator: the kill moments only need to be spread, and replayable.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("CRASH_SEED={seed}");
        Rng(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Batch `n` of client `c`: market-regulation records in `region`, unique case and licence
/// numbers; the first record of every batch is the fixture's record with two licences, the
/// rest are that record without them (so one record in ten issues certificates).
fn batch(region: &str, c: usize, n: usize) -> Vec<u8> {
    let fixture: Value =
        serde_json::from_slice(&fixture("market-regulation/batch-valid.json")).unwrap();
    let templates = fixture["records"].as_array().unwrap();
    let mut records = Vec::new();
    for i in 0..RECORDS_PER_BATCH {
        let tag = format!("K{c}-{n}-{i}");
        let mut r = templates[0].clone();
        if i > 0 {
            r["result"].as_object_mut().unwrap().remove("licences");
        }
        r["areaCode"] = json!(region);
        r["caseNo"] = json!(format!("{}-{tag}", r["caseNo"].as_str().unwrap()));
        if let Some(licences) = r["result"]["licences"].as_array_mut() {
            for l in licences {
                l["licenceNo"] = json!(format!("{}-{tag}", l["licenceNo"].as_str().unwrap()));
            }
        }
        records.push(r);
    }
    let mut body = fixture.clone();
    body["records"] = json!(records);
    serde_json::to_vec(&body).unwrap()
}

/// What the pushing clients saw.
#[derive(Default)]
struct Outcome {
    /// Receipts by client batch id.
    acknowledged: BTreeMap<String, Value>,
    /// Pushes sent, retries included.
    pushes: u64,
    /// Answers that were neither a receipt nor a sign of the node being down.
    failures: Vec<String>,
}

/// Push batches from [`CLIENTS`] concurrent clients until `stop` is set, retrying each batch
/// (same client batch id) until it is acknowledged.
fn start_pushers(
    client: Arc<ExchangeClient>,
    region: &'static str,
    stop: Arc<AtomicBool>,
    outcome: Arc<Mutex<Outcome>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..CLIENTS)
        .map(|c| {
            let (client, stop, outcome) = (client.clone(), stop.clone(), outcome.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let id = format!("crash-{c}-{n}");
                    let body = batch(region, c, n);
                    let headers = [
                        ("content-type", "application/json"),
                        ("x-client-batch-id", id.as_str()),
                    ];
                    let deadline = Instant::now() + Duration::from_secs(120);
                    loop {
                        assert!(Instant::now() < deadline, "batch {id} never acknowledged");
                        let sent = client
                            .send(
                                http::Method::POST,
                                "/v1/ingest/market-regulation",
                                &headers,
                                body.clone(),
                            )
                            .await;
                        let mut out = outcome.lock().await;
                        out.pushes += 1;
                        match sent {
                            Ok(r) if r.status.as_u16() == 200 => {
                                let receipt = r.json().unwrap();
                                if receipt["summary"]["accepted"] != RECORDS_PER_BATCH {
                                    let mut text = receipt.to_string();
                                    text.truncate(600);
                                    out.failures.push(format!("{id}: {text}"));
                                }
                                out.acknowledged.insert(id.clone(), receipt);
                                break;
                            }
                            // Down, starting, or the database busy: retry.
                            Err(_) => {}
                            Ok(r) if r.status.as_u16() == 503 => {}
                            Ok(r) => out.failures.push(format!(
                                "{id}: {} {}",
                                r.status,
                                String::from_utf8_lossy(&r.body)
                            )),
                        }
                        drop(out);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    n += 1;
                }
            })
        })
        .collect()
}

/// Every acknowledged record of `acknowledged` is in `node` exactly once, with the id its
/// receipt named, and the node holds nothing else. Returns the number of records checked.
async fn check_records(node: &e2e::Node, acknowledged: &BTreeMap<String, Value>) -> i64 {
    let mut ids = Vec::new();
    for receipt in acknowledged.values() {
        for r in receipt["records"].as_array().unwrap() {
            ids.push(
                r["record_id"]
                    .as_str()
                    .unwrap()
                    .parse::<uuid::Uuid>()
                    .unwrap(),
            );
        }
    }
    let db = node.db().await;
    let row = db
        .query_one(
            "SELECT count(*), count(DISTINCT record_id) FROM case_records WHERE record_id = ANY($1)",
            &[&ids],
        )
        .await
        .unwrap();
    let (found, distinct): (i64, i64) = (row.get(0), row.get(1));
    assert_eq!(
        distinct,
        ids.len() as i64,
        "an acknowledged record is missing"
    );
    assert_eq!(found, distinct, "an acknowledged record is stored twice");
    assert_eq!(
        node.count("SELECT count(*) FROM case_records").await,
        ids.len() as i64,
        "records stored that no receipt names (a retry stored a batch twice)"
    );
    ids.len() as i64
}

/// Certificates issued once each, every credential a leaf exactly once, and the log's and the
/// audit chain's own checks pass.
async fn check_log_and_audit(node: &e2e::Node, certificate_records: i64) {
    assert_eq!(
        node.count("SELECT count(*) FROM certificates").await,
        2 * certificate_records
    );
    assert_eq!(
        node.count("SELECT count(*) FROM credential_versions").await,
        2 * certificate_records,
        "a retried batch signed a credential again"
    );
    Network::eventually(60, "every credential sequenced into the log", || async {
        node.count(
            "SELECT count(*) FROM credential_versions v
             WHERE NOT EXISTS (SELECT 1 FROM tlog_leaves l WHERE l.ref_id = v.credential_id)",
        )
        .await
            == 0
    })
    .await;
    assert_eq!(
        node.count("SELECT count(*) FROM tlog_leaves WHERE kind = 'credential'")
            .await,
        2 * certificate_records,
        "a credential logged twice"
    );
    assert_eq!(
        node.count("SELECT coalesce(max(leaf_index) + 1, 0) FROM tlog_leaves")
            .await,
        node.count("SELECT count(*) FROM tlog_leaves").await,
        "a gap in the leaf indexes"
    );
    node.cli(&["log", "audit"]);
    node.cli(&["audit", "verify"]);
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Append the scenario's figures to `$CRASH_REPORT` (one JSON line) for bench/kill.sh.
fn report(figures: Value) {
    eprintln!("CRASH-RESULT {figures}");
    if let Ok(path) = std::env::var("CRASH_REPORT") {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        writeln!(f, "{figures}").unwrap();
    }
}

/// Look records up on the web listener now and then, so the audit chain grows during the kills
/// too (failures while the node is down are expected and ignored).
fn start_lookups(approver: ExchangeClient, stop: Arc<AtomicBool>, count: Arc<AtomicU64>) {
    tokio::spawn(async move {
        let mut i = 0;
        while !stop.load(Ordering::Relaxed) {
            let path =
                format!("/v1/records?case_no=SCJG-XF-20261120-0007-K0-{i}-1&purpose=approval");
            if let Ok(r) = approver.get(&path).await
                && r.status.is_success()
            {
                count.fetch_add(1, Ordering::Relaxed);
            }
            i += 1;
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_batches_survive_repeated_sigkills_exactly_once() {
    let started = Instant::now();
    let mut net = Network::start(&[(CITY, "庆阳市节点", None)]).await;
    let system = format!("n{CITY}-market-regulation");
    let client = Arc::new(net.node(CITY).client(&system));
    let stop = Arc::new(AtomicBool::new(false));
    let outcome = Arc::new(Mutex::new(Outcome::default()));
    let lookups = Arc::new(AtomicU64::new(0));
    start_lookups(
        net.node(CITY).web_client(&format!("n{CITY}-approver")),
        stop.clone(),
        lookups.clone(),
    );
    let pushers = start_pushers(client, CITY, stop.clone(), outcome.clone());

    let mut rng = Rng::new();
    let kills = kills();
    for _ in 0..kills {
        tokio::time::sleep(Duration::from_millis(300 + rng.below(1200))).await;
        let node = net.node_mut(CITY);
        node.kill();
        tokio::time::sleep(Duration::from_millis(rng.below(300))).await;
        node.spawn().await;
    }
    // Let the last life acknowledge some batches, then stop pushing (retries still finish).
    tokio::time::sleep(Duration::from_millis(800)).await;
    stop.store(true, Ordering::Relaxed);
    for p in pushers {
        p.await.unwrap();
    }

    let out = outcome.lock().await;
    assert!(out.failures.is_empty(), "{:#?}", out.failures);
    let node = net.node(CITY);
    assert_eq!(
        node.count("SELECT count(*) FROM ingest_batches").await,
        out.acknowledged.len() as i64,
        "a batch stored twice under one client batch id, or one never acknowledged"
    );
    let records = check_records(node, &out.acknowledged).await;
    check_log_and_audit(node, out.acknowledged.len() as i64).await;
    report(json!({
        "scenario": "single node",
        "kills": kills,
        "pushes": out.pushes,
        "batches_acknowledged": out.acknowledged.len(),
        "records_checked": records,
        "credentials_checked": 2 * out.acknowledged.len(),
        "lookups_audited": lookups.load(Ordering::Relaxed),
        "failures": out.failures.len(),
        "seconds": started.elapsed().as_secs(),
    }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_outbox_delivers_exactly_once_across_parent_and_child_crashes() {
    let started = Instant::now();
    let mut net = Network::start(&[
        (PROVINCE, "甘肃省节点", None),
        (CITY, "庆阳市节点", Some(PROVINCE)),
    ])
    .await;
    let system = format!("n{CITY}-market-regulation");
    let client = Arc::new(net.node(CITY).client(&system));
    let stop = Arc::new(AtomicBool::new(false));
    let outcome = Arc::new(Mutex::new(Outcome::default()));
    let pushers = start_pushers(client, CITY, stop.clone(), outcome.clone());

    let mut rng = Rng::new();
    let kills = kills();
    for k in 0..kills {
        tokio::time::sleep(Duration::from_millis(300 + rng.below(1200))).await;
        // Alternate, so the drainer is cut off at both ends: mid-claim at the child, mid-store
        // at the parent.
        let node = net.node_mut(if k % 2 == 0 { CITY } else { PROVINCE });
        node.kill();
        tokio::time::sleep(Duration::from_millis(rng.below(300))).await;
        node.spawn().await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    stop.store(true, Ordering::Relaxed);
    for p in pushers {
        p.await.unwrap();
    }

    let out = outcome.lock().await;
    assert!(out.failures.is_empty(), "{:#?}", out.failures);
    let child = net.node(CITY);
    let records = check_records(child, &out.acknowledged).await;
    let parent = net.node(PROVINCE);
    // Rows whose sends failed around a kill back off for up to a minute (federation/forward.rs),
    // and a long run leaves a backlog of many minutes: stuck is no progress for 240 s.
    let mut deadline = Instant::now() + Duration::from_secs(240);
    let mut least_unsent = i64::MAX;
    loop {
        let unsent = child.count("SELECT count(*) FROM outbox").await;
        let held = parent.count("SELECT count(*) FROM case_records").await;
        if unsent == 0 && held >= records {
            break;
        }
        if unsent < least_unsent {
            least_unsent = unsent;
            deadline = Instant::now() + Duration::from_secs(240);
        }
        if Instant::now() > deadline {
            let db = child.db().await;
            let rows = db
                .query(
                    "SELECT kind, attempts, next_attempt_at::text, coalesce(last_error, '') FROM outbox
                     ORDER BY id LIMIT 5",
                    &[],
                )
                .await
                .unwrap();
            for r in rows {
                eprintln!(
                    "unsent {} attempts {} next {} error {}",
                    r.get::<_, String>(0),
                    r.get::<_, i32>(1),
                    r.get::<_, String>(2),
                    r.get::<_, String>(3)
                );
            }
            eprintln!("--- child log tail ---\n{}", tail(&child.log(), 40));
            eprintln!("--- parent log tail ---\n{}", tail(&parent.log(), 40));
            panic!(
                "no forwarding progress for 240 s: the parent holds {held} of {records} records; {unsent} outbox rows unsent"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(check_records(parent, &out.acknowledged).await, records);
    assert_eq!(
        parent
            .count("SELECT count(*) FROM credential_versions")
            .await,
        2 * out.acknowledged.len() as i64,
        "the parent holds each forwarded credential once"
    );
    check_log_and_audit(child, out.acknowledged.len() as i64).await;
    report(json!({
        "scenario": "parent and child",
        "kills": kills,
        "pushes": out.pushes,
        "batches_acknowledged": out.acknowledged.len(),
        "records_checked": 2 * records,
        "credentials_checked": 4 * out.acknowledged.len(),
        "failures": out.failures.len(),
        "seconds": started.elapsed().as_secs(),
    }));
}
