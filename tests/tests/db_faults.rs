//! PostgreSQL stopped and started again under load (`pg_ctl stop -m fast`, then start), on a
//! server of the test's own: while it is down every push is answered 503 with `Retry-After`
//! (or the connection fails), readiness says so, nothing unacknowledged is claimed, every
//! acknowledged batch is stored exactly once afterwards, and the same gateway process serves
//! pushes again by itself. A statement failing inside a push's transaction stores nothing of
//! the push and is what the log reports. Pooled connections left unused are closed. A
//! transaction whose `BEGIN` was not awaited alone is whole, and rolled back when dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use e2e::{Network, Node, OwnCluster, fixture};
use serde_json::{Value, json};
use tokio::sync::Mutex;

const MR: &str = "/v1/ingest/market-regulation";

/// What the pushing task saw.
#[derive(Default)]
struct Seen {
    /// (client batch id, case numbers) of every batch acknowledged with a receipt.
    acked: Vec<(String, Vec<String>)>,
    /// 503s with `Retry-After` and a documented code.
    unavailable: usize,
    /// Requests that failed below HTTP (connection refused or reset).
    connection_errors: usize,
    /// Anything else: must stay empty.
    wrong: Vec<String>,
}

/// Pushing tasks at once, so the stop catches transactions in flight.
const PUSHERS: usize = 3;

/// A batch of two records with case numbers of its own.
fn batch(i: &str) -> (Vec<u8>, Vec<String>) {
    let v: Value = serde_json::from_slice(&fixture("market-regulation/batch-valid.json")).unwrap();
    let mut records = Vec::new();
    let mut cases = Vec::new();
    for (k, r) in v["records"].as_array().unwrap()[1..].iter().enumerate() {
        let mut r = r.clone();
        let case_no = format!("LOAD-{i}-{k}");
        r["caseNo"] = json!(case_no);
        cases.push(case_no);
        records.push(r);
    }
    let body = json!({"sender": "load", "sentAt": "2026-11-24 17:00:00", "records": records});
    (serde_json::to_vec(&body).unwrap(), cases)
}

async fn readiness(node: &Node) -> (u16, Value, bool) {
    match node.anonymous_web().get("/readyz").await {
        Ok(r) => (
            r.status.as_u16(),
            r.json().unwrap_or(Value::Null),
            r.headers.contains_key("retry-after"),
        ),
        Err(_) => (0, Value::Null, false),
    }
}

#[tokio::test]
async fn a_stopped_database_is_503_with_retry_after_and_the_node_recovers_by_itself() {
    let own = OwnCluster::start();
    let mut node = Node::start_on(&own).await;
    assert_eq!(readiness(&node).await.0, 200);

    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut pushers = Vec::new();
    for t in 0..PUSHERS {
        let (seen, stop) = (seen.clone(), stop.clone());
        let client = node.client("xifeng-amr-system");
        pushers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let i = format!("{t}-{n}");
                let (body, cases) = batch(&i);
                let id = format!("load-{i}");
                let answer = client
                    .send(
                        http::Method::POST,
                        MR,
                        &[
                            ("content-type", "application/json"),
                            ("x-client-batch-id", &id),
                        ],
                        body,
                    )
                    .await;
                let mut s = seen.lock().await;
                match answer {
                    Ok(r) if r.status.as_u16() == 200 => {
                        let receipt = r.json().unwrap();
                        if receipt["summary"]["accepted"] == 2 {
                            s.acked.push((id, cases));
                        } else {
                            s.wrong.push(format!("{i}: {receipt}"));
                        }
                    }
                    Ok(r) if r.status.as_u16() == 503 => {
                        let code = r.json().map(|p| p["code"].clone()).unwrap_or_default();
                        if r.headers.contains_key("retry-after")
                            && (code == "service.database_unavailable" || code == "service.timeout")
                        {
                            s.unavailable += 1;
                        } else {
                            s.wrong
                                .push(format!("{i}: 503 without Retry-After: {code}"));
                        }
                    }
                    Ok(r) => s.wrong.push(format!(
                        "{i}: {} {}",
                        r.status,
                        String::from_utf8_lossy(&r.body)
                    )),
                    Err(_) => s.connection_errors += 1,
                }
                drop(s);
                n += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }));
    }
    // The number acknowledged so far; fails at once on an answer that is not allowed.
    let acked = || async {
        let s = seen.lock().await;
        assert!(s.wrong.is_empty(), "unexpected answers: {:?}", s.wrong);
        s.acked.len()
    };

    Network::eventually(60, "pushes acknowledged before the fault", || async {
        acked().await >= 5
    })
    .await;
    own.ctl("stop");
    Network::eventually(60, "readiness false while the database is down", || async {
        let (status, problem, retry_after) = readiness(&node).await;
        status == 503 && problem["code"] == "service.database_unavailable" && retry_after
    })
    .await;
    Network::eventually(60, "pushes refused while the database is down", || async {
        seen.lock().await.unavailable >= 3
    })
    .await;
    let before_restart = acked().await;

    own.ctl("start");
    Network::eventually(90, "readiness true again", || async {
        readiness(&node).await.0 == 200
    })
    .await;
    Network::eventually(90, "pushes acknowledged again", || async {
        acked().await >= before_restart + 5
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for pusher in pushers {
        pusher.await.unwrap();
    }
    assert!(
        !node.has_exited(),
        "the same gateway process recovered, without a restart"
    );

    let seen = seen.lock().await;
    assert!(
        seen.wrong.is_empty(),
        "unexpected answers: {:?}",
        seen.wrong
    );
    // Every acknowledged batch is stored, exactly once, with its records.
    let db = node.db().await;
    for (id, cases) in &seen.acked {
        let batches: i64 = db
            .query_one(
                "SELECT count(*) FROM ingest_batches WHERE client_batch_id = $1",
                &[id],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(batches, 1, "acknowledged batch {id}");
        for case_no in cases {
            let records: i64 = db
                .query_one(
                    "SELECT count(*) FROM case_records WHERE case_no = $1",
                    &[case_no],
                )
                .await
                .unwrap()
                .get(0);
            assert_eq!(records, 1, "record {case_no} of acknowledged batch {id}");
        }
    }
    eprintln!(
        "db_faults: {} batches acknowledged, {} answered 503, {} connection errors",
        seen.acked.len(),
        seen.unavailable,
        seen.connection_errors
    );
}

/// A statement failing in the middle of a push's transaction: a trigger refuses the supervision
/// row of a case whose record carries certificates, so it fails while the certificate
/// statements are sent beside it (`ingest/store.rs` sends a push's last statements together).
/// The push is answered 500, nothing of it is stored, the log names the refusal (not the
/// "current transaction is aborted" of the statements sent behind it), and the same push is
/// accepted once the fault is gone.
#[tokio::test]
async fn a_statement_failing_inside_a_push_stores_nothing_and_the_log_names_it() {
    let node = Node::start().await;
    let db = node.db().await;
    let payload = fixture("market-regulation/batch-valid.json");
    let v: Value = serde_json::from_slice(&payload).unwrap();
    let case_no = v["records"][0]["caseNo"].as_str().unwrap().to_owned();
    db.batch_execute(&format!(
        "CREATE FUNCTION refuse_case() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF NEW.case_no = '{case_no}' THEN RAISE EXCEPTION 'test fault: supervision row refused'; END IF;
           RETURN NEW;
         END $$;
         CREATE TRIGGER refuse_case BEFORE INSERT ON supervision_cases
           FOR EACH ROW EXECUTE FUNCTION refuse_case();"
    ))
    .await
    .unwrap();

    let client = node.client("xifeng-amr-system");
    let resp = client
        .post(MR, "application/json", payload.clone())
        .await
        .unwrap();
    assert_eq!(
        resp.status.as_u16(),
        500,
        "{}",
        String::from_utf8_lossy(&resp.body)
    );
    assert_eq!(resp.json().unwrap()["code"], "service.internal");
    for table in [
        "case_records",
        "supervision_cases",
        "certificates",
        "credential_versions",
        "tlog_pending",
        "ingest_batches",
    ] {
        assert_eq!(
            node.count(&format!("SELECT count(*) FROM {table}")).await,
            0,
            "{table} kept rows of a push that failed"
        );
    }
    let log = node.log();
    let failures: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("internal error"))
        .collect();
    assert!(!failures.is_empty(), "the failure was not logged: {log}");
    assert!(
        failures
            .iter()
            .all(|l| l.contains("test fault: supervision row refused")),
        "the log does not name the statement that failed: {failures:?}"
    );

    db.batch_execute("DROP TRIGGER refuse_case ON supervision_cases")
        .await
        .unwrap();
    let resp = client.post(MR, "application/json", payload).await.unwrap();
    assert_eq!(
        resp.status.as_u16(),
        200,
        "{}",
        String::from_utf8_lossy(&resp.body)
    );
    let receipt = resp.json().unwrap();
    assert_eq!(receipt["summary"]["rejected"], 0, "{receipt}");
    assert_eq!(
        receipt["summary"]["accepted"], receipt["summary"]["records"],
        "{receipt}"
    );
    assert!(node.count("SELECT count(*) FROM credential_versions").await > 0);
}

/// The gateway's pooled connections (not the row cache's), by backend pid.
async fn pooled_connections(node: &Node) -> Vec<i32> {
    node.db()
        .await
        .query(
            "SELECT pid FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'exchange-gateway'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Twelve pushes at once, each answered 200.
async fn burst(node: &Node, round: usize) {
    let pushes: Vec<_> = (0..12)
        .map(|t| {
            let client = node.client("xifeng-amr-system");
            let (body, _) = batch(&format!("idle-{round}-{t}"));
            tokio::spawn(async move { client.post(MR, "application/json", body).await })
        })
        .collect();
    for push in pushes {
        let answer = push.await.unwrap().unwrap();
        assert_eq!(
            answer.status.as_u16(),
            200,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
    }
}

/// The pool hands out the connection used last, so under a steady load the others sit unused;
/// after `database.pool_idle_secs` they are closed (a firewall between the node and PostgreSQL
/// could drop them silently), and the pool opens connections again when needed.
#[tokio::test]
async fn pooled_connections_left_unused_are_closed_and_opened_again_when_needed() {
    let node = Node::start_configured(&[
        ("GATEWAY_DATABASE__POOL_IDLE_SECS", "2"),
        // Every push commits on its request's own connection, so concurrent pushes need several.
        ("GATEWAY_INGEST__GROUP_COMMIT_WORKERS", "0"),
    ])
    .await;
    burst(&node, 0).await;
    let opened = pooled_connections(&node).await;
    assert!(
        opened.len() >= 3,
        "the burst used {} connections",
        opened.len()
    );

    // Within a few seconds most are closed: background tasks keep at most a couple in use.
    let mut left = opened.clone();
    for _ in 0..50 {
        left = pooled_connections(&node).await;
        if left.len() * 2 <= opened.len() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        left.len() * 2 <= opened.len(),
        "{} of {} pooled connections still open",
        left.len(),
        opened.len()
    );

    // And the node serves a burst again, on connections opened anew.
    burst(&node, 1).await;
    let reopened = pooled_connections(&node).await;
    assert!(
        reopened.iter().any(|pid| !opened.contains(pid)),
        "no connection was opened again: {opened:?} then {reopened:?}"
    );
}

/// What the table `tx_probe` holds, seen from `db`.
async fn probe(db: &tokio_postgres::Client) -> Vec<i32> {
    db.query("SELECT n FROM tx_probe ORDER BY n", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// `db::tx::Tx` sends `BEGIN` without waiting for it: the statements sent behind it are inside
/// the transaction (another connection sees nothing before the COMMIT), and a `Tx` dropped
/// while a statement still runs (a cancelled request) rolls back what it wrote and hands the
/// connection on outside any transaction (its next statement is committed by itself).
#[tokio::test]
async fn a_transaction_begun_early_is_whole_and_one_dropped_mid_way_is_rolled_back() {
    use gateway::db::tx::Tx;
    let pool = e2e::migrated_pool().await;
    let db = pool.get().await.unwrap();
    let other = pool.get().await.unwrap();
    db.batch_execute("CREATE TABLE tx_probe (n int)")
        .await
        .unwrap();

    let tx = Tx::begin(&db).await;
    tx.client()
        .execute("INSERT INTO tx_probe VALUES (1)", &[])
        .await
        .unwrap();
    tx.begun().await.unwrap();
    assert_eq!(probe(&other).await, Vec::<i32>::new(), "seen before COMMIT");
    tx.commit().await.unwrap();
    assert_eq!(probe(&other).await, [1]);

    {
        let tx = Tx::begin(&db).await;
        tx.client()
            .execute("INSERT INTO tx_probe VALUES (2)", &[])
            .await
            .unwrap();
        let slow = tx.client().batch_execute("SELECT pg_sleep(0.3)");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), slow)
                .await
                .is_err(),
            "pg_sleep answered within 50 ms"
        );
    }
    db.execute("INSERT INTO tx_probe VALUES (3)", &[])
        .await
        .unwrap();
    assert_eq!(probe(&other).await, [1, 3]);
}

/// The setting of the connection, as `SHOW` answers it.
async fn plan_cache_mode(db: &tokio_postgres::Client) -> String {
    db.query_one("SHOW plan_cache_mode", &[])
        .await
        .unwrap()
        .get(0)
}

/// A small push's transaction (`Tx::begin_small`) runs on generic plans, and only it: the
/// pooled connection is handed on with PostgreSQL's own choice again, after a `COMMIT`, a
/// `ROLLBACK` or a drop, so a large push after it keeps its custom plans.
#[tokio::test]
async fn a_small_transaction_runs_on_generic_plans_and_leaves_the_connection_as_it_was() {
    use gateway::db::tx::Tx;
    let pool = e2e::migrated_pool().await;
    let db = pool.get().await.unwrap();
    assert_eq!(plan_cache_mode(&db).await, "auto");

    let tx = Tx::begin_small(&db).await;
    assert_eq!(plan_cache_mode(tx.client()).await, "force_generic_plan");
    tx.commit().await.unwrap();
    assert_eq!(plan_cache_mode(&db).await, "auto", "after COMMIT");

    let tx = Tx::begin_small(&db).await;
    assert_eq!(plan_cache_mode(tx.client()).await, "force_generic_plan");
    tx.rollback().await.unwrap();
    assert_eq!(plan_cache_mode(&db).await, "auto", "after ROLLBACK");

    {
        let tx = Tx::begin_small(&db).await;
        assert_eq!(plan_cache_mode(tx.client()).await, "force_generic_plan");
    }
    assert_eq!(plan_cache_mode(&db).await, "auto", "after a drop");

    let tx = Tx::begin(&db).await;
    assert_eq!(plan_cache_mode(tx.client()).await, "auto");
    tx.commit().await.unwrap();
}
