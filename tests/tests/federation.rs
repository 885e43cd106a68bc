//! Federation (issue 6): province → city → county → township over mTLS. Records and
//! certificates accepted at the township reach every tier above with the ids, source and
//! `ingested_at` the township gave them; a parent outage loses and doubles nothing; arrival
//! order does not matter; nodes refuse peers that are not theirs.

use e2e::{Network, fixture};
use std::process::Output;

use serde_json::{Value, json};

use e2e::gansu::{CITY, HUAN, PROVINCE, TOWNSHIP, XIFENG, network};

/// The market-regulation fixture's records, moved to `region` and renumbered with `tag`.
fn batch_for(region: &str, tag: &str) -> Vec<u8> {
    let mut batch: Value =
        serde_json::from_slice(&fixture("market-regulation/batch-valid.json")).unwrap();
    for r in batch["records"].as_array_mut().unwrap() {
        r["areaCode"] = json!(region);
        r["caseNo"] = json!(format!("{}-{tag}", r["caseNo"].as_str().unwrap()));
    }
    serde_json::to_vec(&batch).unwrap()
}

/// [`batch_for`], with the licence numbers renumbered too: new certificates, not versions.
fn batch_with_licences(region: &str, tag: &str) -> Vec<u8> {
    let mut batch: Value = serde_json::from_slice(&batch_for(region, tag)).unwrap();
    for r in batch["records"].as_array_mut().unwrap() {
        let licences = r.get_mut("result").and_then(|res| res.get_mut("licences"));
        for licence in licences.and_then(Value::as_array_mut).into_iter().flatten() {
            licence["licenceNo"] =
                json!(format!("{}-{tag}", licence["licenceNo"].as_str().unwrap()));
        }
    }
    serde_json::to_vec(&batch).unwrap()
}

fn system(region: &str) -> String {
    format!("n{region}-market-regulation")
}

async fn push(net: &Network, region: &str, body: Vec<u8>) -> Value {
    let resp = net
        .node(region)
        .client(&system(region))
        .post("/v1/ingest/market-regulation", "application/json", body)
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

/// Wait until `node` holds `records` case records and `credentials` credential versions.
async fn holds(node: &e2e::Node, what: &str, records: i64, credentials: i64) {
    Network::eventually(60, what, || async {
        node.count("SELECT count(*) FROM case_records").await == records
            && node.count("SELECT count(*) FROM credential_versions").await == credentials
    })
    .await;
}

#[tokio::test]
async fn records_and_certificates_pushed_at_the_township_reach_the_province() {
    let net = network().await;
    let receipt = push(&net, TOWNSHIP, batch_for(TOWNSHIP, "T1")).await;
    assert_eq!(receipt["summary"]["accepted"], 3, "{receipt}");
    let ids: Vec<uuid::Uuid> = receipt["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["record_id"].as_str().unwrap().parse().unwrap())
        .collect();

    let province = net.node(PROVINCE);
    holds(province, "the township's records at the province", 3, 2).await;
    // Same ids and the first node's stamp at every tier; the county and the city hold them too.
    let township_db = net.node(TOWNSHIP).db().await;
    for tier in [XIFENG, CITY, PROVINCE] {
        let db = net.node(tier).db().await;
        for id in &ids {
            let there: Value = db
                .query_one("SELECT body FROM case_records WHERE record_id = $1", &[id])
                .await
                .unwrap()
                .get(0);
            let here: Value = township_db
                .query_one("SELECT body FROM case_records WHERE record_id = $1", &[id])
                .await
                .unwrap()
                .get(0);
            assert_eq!(
                there, here,
                "record {id} at {tier} differs from the township's"
            );
            assert_eq!(there["source"]["node_region"], TOWNSHIP);
        }
    }
    // The sibling county holds none of it.
    assert_eq!(
        net.node(HUAN)
            .count("SELECT count(*) FROM case_records")
            .await,
        0
    );
    // The credential verifies at the province with the shared trust bundle.
    let cred: Value = province
        .db()
        .await
        .query_one(
            "SELECT credential_text::jsonb FROM credential_versions LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let r = province
        .anonymous_web()
        .post(
            "/v1/certificates/verify",
            "application/json",
            serde_json::to_vec(&cred).unwrap(),
        )
        .await
        .unwrap();
    let verdict = r.json().unwrap();
    assert_eq!(verdict["checks"]["signature"], "pass", "{verdict}");
    assert_eq!(verdict["checks"]["issuer_trusted"], "pass", "{verdict}");
    // Every outbox on the way is drained.
    for tier in [TOWNSHIP, XIFENG, CITY] {
        assert_eq!(
            net.node(tier).count("SELECT count(*) FROM outbox").await,
            0,
            "{tier}"
        );
    }
    assert_eq!(
        province.count("SELECT count(*) FROM outbox").await,
        0,
        "the root has nowhere to forward"
    );
}

#[tokio::test]
async fn a_parent_outage_loses_and_doubles_nothing() {
    let mut net = network().await;
    net.node_mut(CITY).stop();
    // The county keeps accepting while its parent is down.
    let mut accepted = 0;
    for i in 0..5 {
        let r = push(&net, XIFENG, batch_for(XIFENG, &format!("OUT{i}"))).await;
        accepted += r["summary"]["accepted"].as_u64().unwrap();
    }
    assert_eq!(accepted, 15);
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let county = net.node(XIFENG);
    assert_eq!(
        county
            .count("SELECT sum(cardinality(ref_ids))::int8 FROM outbox WHERE kind = 'record'")
            .await,
        15
    );
    assert_eq!(
        county.count("SELECT count(*) FROM outbox").await,
        5,
        "a row for each push's records"
    );
    assert!(
        county.count("SELECT max(attempts)::int8 FROM outbox").await >= 1,
        "the county kept trying"
    );

    net.node_mut(CITY).spawn().await;
    let province = net.node(PROVINCE);
    Network::eventually(90, "the backlog drained to the province", || async {
        province.count("SELECT count(*) FROM case_records").await == 15
    })
    .await;
    // Nothing is kept in memory for a parent that does not answer: the backlog went up from
    // the database.
    let county = net.node(XIFENG);
    Network::eventually(30, "the county's outbox drained", || async {
        county.count("SELECT count(*) FROM outbox").await == 0
    })
    .await;
    let sent = |from: &str| format!("gateway_forward_bodies_total{{from=\"{from}\"}}");
    assert_eq!(county.metric(&sent("database")).await, Some(15.0));
    assert_eq!(county.metric(&sent("memory")).await.unwrap_or(0.0), 0.0);
    // Exactly once at every tier, despite the retries.
    for tier in [CITY, PROVINCE] {
        let n = net.node(tier);
        assert_eq!(
            n.count("SELECT count(*) FROM case_records").await,
            15,
            "{tier}"
        );
        assert_eq!(
            n.count("SELECT count(DISTINCT record_id) FROM case_records")
                .await,
            15,
            "{tier}"
        );
    }
}

/// Qingyang city and its county Xifeng, the county restarted with `env` set.
async fn city_and_county(env: &[(&str, &str)]) -> Network {
    let mut net = Network::start(&[
        (CITY, "庆阳市节点", None),
        (XIFENG, "西峰区节点", Some(CITY)),
    ])
    .await;
    restart_with(&mut net, XIFENG, env).await;
    net
}

/// Restart the node of `region` with `env` set.
async fn restart_with(net: &mut Network, region: &str, env: &[(&str, &str)]) {
    let node = net.node_mut(region);
    node.stop();
    for (key, value) in env {
        node.set_env(key, value);
    }
    node.spawn().await;
}

/// A record goes up in one request with the credentials issued with it, which have no outbox
/// rows of their own: however the drainers' claims cut the backlog, no two requests carry the
/// same record (the parent would store it once and hold the second request until the first
/// committed).
#[tokio::test]
async fn a_backlog_goes_up_without_sending_a_record_twice() {
    let mut net = city_and_county(&[
        ("GATEWAY_FEDERATION__FORWARD_BATCH", "2"),
        ("GATEWAY_FEDERATION__FORWARD_CONCURRENCY", "4"),
    ])
    .await;
    net.node_mut(CITY).stop();
    for i in 0..4 {
        push(&net, XIFENG, batch_with_licences(XIFENG, &format!("B{i}"))).await;
    }
    let xifeng = net.node(XIFENG);
    let (records, credentials) = (
        xifeng.count("SELECT count(*) FROM case_records").await,
        xifeng
            .count("SELECT count(*) FROM credential_versions")
            .await,
    );
    assert_eq!(records, 12);
    assert!(credentials >= 4, "the fixture issues certificates");
    assert_eq!(
        xifeng
            .count("SELECT count(*) FROM outbox WHERE kind <> 'record'")
            .await,
        0,
        "credentials travel with their records"
    );
    net.node_mut(CITY).spawn().await;
    let xifeng = net.node(XIFENG);
    // Everything due at once, claimed by four drainers: one row a request (a push's three
    // records, one more than `forward_batch`: a request takes at least one whole row).
    xifeng
        .db()
        .await
        .batch_execute("UPDATE outbox SET next_attempt_at = now()")
        .await
        .unwrap();
    let city = net.node(CITY);
    holds(city, "the backlog at the city", records, credentials).await;
    Network::eventually(60, "the outbox drained", || async {
        xifeng.count("SELECT count(*) FROM outbox").await == 0
    })
    .await;
    let forwarded = |kind: &str, outcome: &str| {
        format!("gateway_forwarded_in_total{{kind=\"{kind}\",outcome=\"{outcome}\"}}")
    };
    assert_eq!(
        city.metric(&forwarded("record", "stored")).await,
        Some(records as f64)
    );
    assert_eq!(
        city.metric(&forwarded("credential", "stored")).await,
        Some(credentials as f64)
    );
    for kind in ["record", "credential"] {
        assert_eq!(
            city.metric(&forwarded(kind, "duplicate"))
                .await
                .unwrap_or(0.0),
            0.0,
            "{kind}s sent twice"
        );
    }
}

/// A record queued a moment ago goes up from the drainer's memory; with none kept
/// (`federation.recent_bodies_mb = 0`, as for a record another process of the node stored, or
/// one sent again after a failure) from the database. The parent gets the same body either way.
#[tokio::test]
async fn bodies_go_up_from_memory_or_the_database_alike() {
    for (mb, from, other) in [("64", "memory", "database"), ("0", "database", "memory")] {
        let net = city_and_county(&[("GATEWAY_FEDERATION__RECENT_BODIES_MB", mb)]).await;
        let receipt = push(&net, XIFENG, batch_with_licences(XIFENG, &format!("M{mb}"))).await;
        assert_eq!(receipt["summary"]["accepted"], 3, "{receipt}");
        let (xifeng, city) = (net.node(XIFENG), net.node(CITY));
        let credentials = xifeng
            .count("SELECT count(*) FROM credential_versions")
            .await;
        holds(city, "the county's records at the city", 3, credentials).await;
        Network::eventually(30, "the outbox drained", || async {
            xifeng.count("SELECT count(*) FROM outbox").await == 0
        })
        .await;
        let sent = |from: &str| format!("gateway_forward_bodies_total{{from=\"{from}\"}}");
        assert_eq!(xifeng.metric(&sent(from)).await, Some(3.0), "{from}");
        assert_eq!(
            xifeng.metric(&sent(other)).await.unwrap_or(0.0),
            0.0,
            "{other}"
        );
        let bodies = |db: tokio_postgres::Client| async move {
            db.query(
                "SELECT record_id, body FROM case_records ORDER BY record_id",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get::<_, uuid::Uuid>(0), r.get::<_, Value>(1)))
            .collect::<Vec<_>>()
        };
        assert_eq!(
            bodies(city.db().await).await,
            bodies(xifeng.db().await).await,
            "{from}"
        );
    }
}

/// Several forwarding requests in flight, one outbox row each, arrive in any order: a
/// credential's request carries its record and a status change's its certificate, so the
/// parent refuses none of them and ends up with everything, statuses included.
#[tokio::test]
async fn requests_in_flight_are_self_contained_and_arrive_in_any_order() {
    let mut net = city_and_county(&[
        ("GATEWAY_FEDERATION__FORWARD_BATCH", "1"),
        ("GATEWAY_FEDERATION__FORWARD_CONCURRENCY", "8"),
    ])
    .await;
    // The backlog builds while the city is down: records, their certificates and status
    // changes, all due at once when it comes back.
    net.node_mut(CITY).stop();
    let mut identifiers = Vec::new();
    for tag in ["F1", "F2", "F3"] {
        let receipt = push(&net, XIFENG, batch_with_licences(XIFENG, tag)).await;
        for r in receipt["records"].as_array().unwrap() {
            for c in r["certificates"].as_array().into_iter().flatten() {
                identifiers.push(c["identifier"].as_str().unwrap().to_owned());
            }
        }
    }
    assert!(identifiers.len() >= 2, "the fixture issues certificates");
    let xifeng = net.node(XIFENG);
    for (id, status) in identifiers.iter().zip(["suspended", "revoked"]) {
        let body = json!({"status": status, "reason": "持证人申报遗失（挂失）"}).to_string();
        let r = xifeng
            .client(&system(XIFENG))
            .post(
                &format!("/v1/certificates/{id}/status"),
                "application/json",
                body.into_bytes(),
            )
            .await
            .unwrap();
        assert_eq!(
            r.status.as_u16(),
            200,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
    }
    // Forget the attempts made while the city was down (what is counted below is the drain),
    // and hold every row until it is back.
    xifeng
        .db()
        .await
        .batch_execute(
            "UPDATE outbox SET attempts = 0, last_error = NULL, next_attempt_at = now() + interval '1 h'",
        )
        .await
        .unwrap();
    // Rows failed while the city was down; none is due now, so none fails until it is back.
    let failed_before = xifeng.metric("gateway_forward_failed_total").await;
    let (records, credentials) = (
        xifeng.count("SELECT count(*) FROM case_records").await,
        xifeng
            .count("SELECT count(*) FROM credential_versions")
            .await,
    );
    net.node_mut(CITY).spawn().await;
    let xifeng = net.node(XIFENG);
    // The status changes first, as when a failed request delayed the other rows.
    xifeng
        .db()
        .await
        .batch_execute(
            "UPDATE outbox SET
                next_attempt_at = now() + CASE kind WHEN 'status' THEN interval '0' ELSE interval '3 s' END",
        )
        .await
        .unwrap();
    let (city, xifeng) = (net.node(CITY), net.node(XIFENG));
    Network::eventually(60, "the backlog drained", || async {
        xifeng.count("SELECT count(*) FROM outbox").await == 0
    })
    .await;
    // Sent rows are deleted: a request refused and retried shows in the failure counter.
    let failed = xifeng.metric("gateway_forward_failed_total").await;
    assert_eq!(
        failed.unwrap_or(0.0),
        failed_before.unwrap_or(0.0),
        "requests refused and retried"
    );
    holds(city, "everything at the city", records, credentials).await;
    assert_eq!(
        city.count("SELECT count(*) FROM certificate_status_changes")
            .await,
        2
    );
    for (id, status) in identifiers.iter().zip(["suspended", "revoked"]) {
        let held: String = city
            .db()
            .await
            .query_one(
                "SELECT status FROM certificates WHERE identifier = $1",
                &[id],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(held, status, "{id}");
    }
    // Log-queue rows for credentials the city did not issue (as migration 0013's backfill left
    // them) leave the queue without a leaf: a node logs only what it issued.
    city.db()
        .await
        .batch_execute(
            "INSERT INTO tlog_pending (ref_id, kind, at)
             SELECT credential_id, 'credential', issued_at FROM credential_versions",
        )
        .await
        .unwrap();
    Network::eventually(30, "the city's log queue emptied", || async {
        city.count("SELECT count(*) FROM tlog_pending").await == 0
    })
    .await;
    assert_eq!(city.count("SELECT count(*) FROM tlog_leaves").await, 0);
    // Queue rows for what the county already logged leave it without a second leaf.
    let logged = xifeng.count("SELECT count(*) FROM tlog_leaves").await;
    assert!(logged > 0);
    xifeng
        .db()
        .await
        .batch_execute(
            "INSERT INTO tlog_pending (ref_id, kind, at)
             SELECT l.ref_id, l.kind, l.appended_at FROM tlog_leaves l",
        )
        .await
        .unwrap();
    Network::eventually(30, "the county's log queue emptied", || async {
        xifeng.count("SELECT count(*) FROM tlog_pending").await == 0
    })
    .await;
    assert_eq!(
        xifeng.count("SELECT count(*) FROM tlog_leaves").await,
        logged
    );
}

/// An outbox row leaves when the parent has acknowledged it, and only then: while the parent
/// is down the rows stay, counting their attempts. `federation.outbox_keep_hours`, which kept
/// sent rows as a trail until migration 0031, is still accepted (and ignored).
#[tokio::test]
async fn outbox_rows_stay_until_the_parent_has_them_and_leave_then() {
    let mut net = city_and_county(&[("GATEWAY_FEDERATION__OUTBOX_KEEP_HOURS", "0")]).await;
    net.node_mut(CITY).stop();
    push(&net, XIFENG, batch_for(XIFENG, "P1")).await;
    let xifeng = net.node(XIFENG);
    let items = "SELECT sum(cardinality(ref_ids))::int8 FROM outbox";
    assert_eq!(xifeng.count(items).await, 3);
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(xifeng.count(items).await, 3);
    assert!(
        xifeng.count("SELECT min(attempts)::int8 FROM outbox").await >= 1,
        "every row was tried"
    );
    net.node_mut(CITY).spawn().await;
    let (city, xifeng) = (net.node(CITY), net.node(XIFENG));
    // Due now, not after the retry delay the failed attempts left.
    xifeng
        .db()
        .await
        .batch_execute("UPDATE outbox SET next_attempt_at = now()")
        .await
        .unwrap();
    Network::eventually(60, "the outbox sent and emptied", || async {
        xifeng.count("SELECT count(*) FROM outbox").await == 0
    })
    .await;
    assert_eq!(city.count("SELECT count(*) FROM case_records").await, 3);
}

/// Back to the outbox of 0031: a row per item, in `ref_id`.
const BEFORE_0032: &str = "DELETE FROM schema_migrations WHERE version = 32;
    ALTER TABLE outbox DROP CONSTRAINT outbox_ref_ids;
    ALTER TABLE outbox ADD COLUMN ref_id uuid NOT NULL;
    ALTER TABLE outbox DROP COLUMN ref_ids;";

/// Migration 0032 on an outbox of one row per item: each row becomes a row of one item, with
/// its kind, attempts, delay and error.
#[tokio::test]
async fn migration_0032_keeps_every_row_as_a_row_of_one_item() {
    let mut db = e2e::migrated_database().await;
    db.batch_execute(BEFORE_0032).await.unwrap();
    let (a, b) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    db.execute(
        "INSERT INTO outbox (kind, ref_id, attempts, last_error, next_attempt_at) VALUES
           ('record', $1, 0, NULL, now()),
           ('status', $2, 2, 'parent answered 503', now() + interval '1 h')",
        &[&a, &b],
    )
    .await
    .unwrap();
    assert_eq!(gateway::db::migrate::run(&mut db).await.unwrap(), [32]);
    // Kind, ids, attempts, last error, still waiting out its delay.
    type Row = (String, Vec<uuid::Uuid>, i32, Option<String>, bool);
    let rows: Vec<Row> = db
        .query(
            "SELECT kind, ref_ids, attempts, last_error, next_attempt_at > now() FROM outbox ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    assert_eq!(
        rows,
        [
            ("record".to_owned(), vec![a], 0, None, false),
            (
                "status".to_owned(),
                vec![b],
                2,
                Some("parent answered 503".to_owned()),
                true
            )
        ]
    );
    // A row names one item at least, a hundred at most.
    for ids in [vec![], vec![a; 101]] {
        let refused = db
            .execute(
                "INSERT INTO outbox (kind, ref_ids) VALUES ('record', $1)",
                &[&ids],
            )
            .await
            .unwrap_err();
        assert!(
            format!("{refused:?}").contains("outbox_ref_ids"),
            "{refused:?}"
        );
    }
}

/// A pushed batch is queued in rows of up to 100 records, in order. A drain round claims whole
/// rows within `forward_batch` items, however many rows it asked for: a drainer that expected
/// single items asks for 500 rows, sends 403 items (three single rows and four full ones) and
/// lets the rows beyond go at once, so another drainer claims them while its request is out.
#[tokio::test]
async fn a_claim_takes_whole_rows_within_the_batch_and_lets_the_rest_go() {
    use gateway::federation::outbox;
    let pool = e2e::migrated_pool().await;
    let mut db = pool.get().await.unwrap();
    let statuses: Vec<uuid::Uuid> = (0..3).map(|_| uuid::Uuid::now_v7()).collect();
    let records: Vec<uuid::Uuid> = (0..650).map(|_| uuid::Uuid::now_v7()).collect();
    let tx = db.transaction().await.unwrap();
    for status in &statuses {
        outbox::queue(&tx, "status", &[*status]).await.unwrap();
    }
    outbox::queue(&tx, "record", &records).await.unwrap();
    tx.commit().await.unwrap();
    let sizes: Vec<i32> = db
        .query("SELECT cardinality(ref_ids) FROM outbox ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(sizes, [1, 1, 1, 100, 100, 100, 100, 100, 100, 50]);
    let queued: Vec<uuid::Uuid> = db
        .query(
            "SELECT u.id FROM outbox, unnest(ref_ids) WITH ORDINALITY AS u(id, n)
             WHERE kind = 'record' ORDER BY outbox.id, u.n",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(queued, records);

    let mut rows = 500;
    let tx = db.transaction().await.unwrap();
    let claimed = outbox::claim(&tx, 500, &mut rows).await.unwrap();
    assert_eq!(claimed.ids.len(), 7);
    assert_eq!(claimed.of_kind("status"), statuses);
    assert_eq!(claimed.of_kind("record"), records[..400]);
    // It saw 653 items in 10 rows: 500 items are 8 such rows.
    assert_eq!(rows, 8);

    let mut other = pool.get().await.unwrap();
    let other_tx = other.transaction().await.unwrap();
    let mut other_rows = outbox::first_estimate(500);
    let rest = outbox::claim(&other_tx, 500, &mut other_rows)
        .await
        .unwrap();
    assert_eq!(
        rest.ids.len(),
        3,
        "the rows beyond the first claim are free"
    );
    assert_eq!(rest.of_kind("record"), records[400..]);
    other_tx.rollback().await.unwrap();

    tx.execute("DELETE FROM outbox WHERE id = ANY($1)", &[&claimed.ids])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        db.query_one("SELECT sum(cardinality(ref_ids))::int8 FROM outbox", &[])
            .await
            .unwrap()
            .get::<_, i64>(0),
        250
    );
}

/// Migration 0031 on an outbox from before it (sent rows kept, marked `sent_at`): the sent rows
/// go, every unsent one stays with its attempts and error, and the claim's index is there.
#[tokio::test]
async fn migration_0031_keeps_every_unsent_outbox_row() {
    let mut db = e2e::migrated_database().await;
    // Back to the outbox of 0030: three rows sent, two waiting (one after failed attempts).
    db.batch_execute(BEFORE_0032).await.unwrap();
    db.batch_execute(
        "DELETE FROM schema_migrations WHERE version = 31;
         DROP INDEX outbox_due;
         ALTER TABLE outbox ADD COLUMN sent_at timestamptz;
         CREATE INDEX outbox_pending ON outbox (next_attempt_at, id) WHERE sent_at IS NULL;
         INSERT INTO outbox (kind, ref_id, attempts, last_error, sent_at)
         SELECT 'record', gen_random_uuid(), 1, NULL, now() - interval '1 h' FROM generate_series(1, 3);
         INSERT INTO outbox (kind, ref_id, attempts, last_error, next_attempt_at) VALUES
           ('record', gen_random_uuid(), 0, NULL, now()),
           ('status', gen_random_uuid(), 2, 'parent answered 503', now() + interval '4 s');",
    )
    .await
    .unwrap();
    assert_eq!(gateway::db::migrate::run(&mut db).await.unwrap(), [31, 32]);
    let left: Vec<(String, i32, Option<String>)> = db
        .query(
            "SELECT kind, attempts, last_error FROM outbox ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        left,
        [
            ("record".to_owned(), 0, None),
            (
                "status".to_owned(),
                2,
                Some("parent answered 503".to_owned())
            )
        ]
    );
    let indexes: Vec<String> = db
        .query(
            "SELECT indexname::text FROM pg_indexes WHERE tablename = 'outbox' ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(indexes, ["outbox_due", "outbox_pkey"]);
}

#[tokio::test]
async fn versions_arriving_out_of_order_leave_the_highest_current_everywhere() {
    let net = network().await;
    let mut batch: Value = serde_json::from_slice(&batch_for(TOWNSHIP, "V")).unwrap();
    let record = batch["records"][1].clone(); // version 2 in the fixture
    let with_version = |v: i64| {
        let mut r = record.clone();
        r["version"] = json!(v);
        serde_json::to_vec(&json!({"records": [r]})).unwrap()
    };
    push(&net, TOWNSHIP, with_version(3)).await;
    push(&net, TOWNSHIP, with_version(2)).await;
    push(&net, TOWNSHIP, with_version(4)).await;
    batch["records"] = json!([]);
    let province = net.node(PROVINCE);
    Network::eventually(60, "three versions at the province", || async {
        province.count("SELECT count(*) FROM case_records").await == 3
    })
    .await;
    let head: i64 = province
        .db()
        .await
        .query_one("SELECT version FROM case_heads", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(head, 4);
}

#[tokio::test]
async fn nodes_refuse_peers_that_are_not_theirs() {
    let net = network().await;
    let forward = serde_json::to_vec(&json!({"records": [], "credentials": []})).unwrap();
    let xifeng = net.node(XIFENG);
    // Huan county's node certificate is valid in the network, but Huan is not Xifeng's child.
    let huan = net.node(HUAN);
    let as_huan = gateway::client::ExchangeClient::new(
        &xifeng.base_url(),
        &huan.pki().join("ca.crt"),
        &huan.pki().join("node.crt"),
        &huan.pki().join("node.key"),
    )
    .unwrap();
    let r = as_huan
        .post(
            "/v1/federation/forward",
            "application/json",
            forward.clone(),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.status.as_u16(), r.json().unwrap()["code"].clone()),
        (403, json!("federation.unknown_node"))
    );
    // A departmental system is not a node at all.
    let r = xifeng
        .client(&system(XIFENG))
        .post(
            "/v1/federation/forward",
            "application/json",
            forward.clone(),
        )
        .await
        .unwrap();
    assert_eq!(r.json().unwrap()["code"], "federation.not_a_node");
    // The township, Xifeng's child, may.
    let township = net.node(TOWNSHIP);
    let as_township = gateway::client::ExchangeClient::new(
        &xifeng.base_url(),
        &township.pki().join("ca.crt"),
        &township.pki().join("node.crt"),
        &township.pki().join("node.key"),
    )
    .unwrap();
    assert_eq!(
        as_township
            .post("/v1/federation/forward", "application/json", forward)
            .await
            .unwrap()
            .status
            .as_u16(),
        200
    );
    // A child refuses a server that is not its configured parent.
    let wrong_parent = gateway::client::ExchangeClient::new(
        &net.node(HUAN).base_url(),
        &township.pki().join("ca.crt"),
        &township.pki().join("node.crt"),
        &township.pki().join("node.key"),
    )
    .unwrap()
    .expect_node(XIFENG);
    let err = wrong_parent.get("/healthz").await.unwrap_err();
    assert!(
        format!("{err:#}").contains("not the configured parent"),
        "{err:#}"
    );
}

#[tokio::test]
async fn a_certificate_issued_in_one_county_is_fetched_and_verified_from_the_other() {
    let mut net = network().await;
    let receipt = push(&net, XIFENG, batch_for(XIFENG, "R1")).await;
    let id = receipt["records"][0]["certificates"][0]["identifier"]
        .as_str()
        .unwrap()
        .to_owned();
    let city = net.node(CITY);
    Network::eventually(60, "the certificate at the city", || async {
        city.count("SELECT count(*) FROM credential_versions").await == 2
    })
    .await;

    // An approver at Huan county looks it up: Huan does not hold it, the query goes up to the
    // city, which holds its counties' data.
    let huan = net.node(HUAN);
    let approver = huan.web_client(&format!("n{HUAN}-approver"));
    let path = format!("/v1/certificates/{id}?purpose=approval");
    let found = approver.get(&path).await.unwrap();
    let body = found.json().unwrap();
    assert_eq!(found.status.as_u16(), 200, "{body}");
    assert_eq!(body["served_by"], CITY);
    assert_eq!(body["identifier"], id.as_str());
    assert_eq!(body["checks"]["signature"], "pass");
    assert_eq!(body["checks"]["issuer_trusted"], "pass");
    assert_eq!(body["valid"], true, "{body}");
    // Audited at the entry node and, under the original requester, at the serving node.
    let who = format!("n{HUAN}-approver");
    let sql = "SELECT count(*) FROM audit_log WHERE principal_id = $1 AND target = $2 AND purpose = 'approval'";
    let at_huan: i64 = huan
        .db()
        .await
        .query_one(sql, &[&who, &id])
        .await
        .unwrap()
        .get(0);
    let at_city: i64 = city
        .db()
        .await
        .query_one(sql, &[&who, &id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(at_huan, 1, "entry node");
    assert_eq!(at_city, 1, "serving node");

    // A peer request without a valid statement is refused.
    let as_huan = gateway::client::ExchangeClient::new(
        &city.base_url(),
        &huan.pki().join("ca.crt"),
        &huan.pki().join("node.crt"),
        &huan.pki().join("node.key"),
    )
    .unwrap();
    let r = as_huan
        .get(&format!("/v1/certificates/{id}"))
        .await
        .unwrap();
    assert_eq!(r.json().unwrap()["code"], "routing.bad_statement");

    // With the city down, the tier that would answer cannot be reached: a clear 502.
    net.node_mut(CITY).stop();
    let huan = net.node(HUAN);
    let r = huan
        .web_client(&format!("n{HUAN}-approver"))
        .get(&path)
        .await
        .unwrap();
    assert_eq!(
        (r.status.as_u16(), r.json().unwrap()["code"].clone()),
        (502, json!("routing.unreachable"))
    );
}

#[tokio::test]
async fn routed_queries_have_a_hop_limit_and_loop_protection() {
    let net = network().await;
    let city = net.node(CITY);
    let huan = net.node(HUAN);
    // A well-formed identifier of a Xifeng authority that no node holds: the city routes it down
    // towards Xifeng.
    let authority = domain::codes::credit::CreditCode::parse("116210020138700018").unwrap();
    let id = domain::codes::cert_id::CertIdentifier::mint(
        "11100000000018934N001",
        &authority,
        "NOWHERE1",
        1,
    )
    .unwrap();
    // Huan's node vouches for one of its approvers, signed with Huan's signing key.
    let key =
        vc::SigningKey::from_pkcs8(&std::fs::read(huan.pki().join("signing-key.pk8")).unwrap())
            .unwrap();
    let caller = gateway::api::auth::Caller {
        id: format!("n{HUAN}-approver"),
        kind: gateway::api::auth::CallerKind::Certificate,
        role: "approver".into(),
        department: None,
        region_code: HUAN.into(),
    };
    let as_huan = gateway::client::ExchangeClient::new(
        &city.base_url(),
        &huan.pki().join("ca.crt"),
        &huan.pki().join("node.crt"),
        &huan.pki().join("node.key"),
    )
    .unwrap();
    let ask = |via: String| {
        let region = domain::codes::region::RegionCode::parse(HUAN).unwrap();
        let (stmt, sig) =
            gateway::federation::route::Statement::new(&caller, "approval", &region).sign(&key);
        let path = format!("/v1/certificates/{id}");
        let as_huan = &as_huan;
        async move {
            let headers = [
                ("x-gateway-requester", stmt.as_str()),
                ("x-gateway-requester-signature", sig.as_str()),
                ("x-gateway-via", via.as_str()),
            ];
            as_huan
                .send(http::Method::GET, &path, &headers, Vec::new())
                .await
                .unwrap()
        }
    };
    // Passed eight nodes already: refused before going further.
    let eight = [HUAN; 8].join(",");
    let r = ask(eight).await;
    assert_eq!(
        (r.status.as_u16(), r.json().unwrap()["code"].clone()),
        (508, json!("routing.hop_limit"))
    );
    // Would go back to a node it passed (Xifeng): refused.
    let r = ask(format!("{HUAN},{XIFENG}")).await;
    assert_eq!(
        (r.status.as_u16(), r.json().unwrap()["code"].clone()),
        (508, json!("routing.loop"))
    );
    // Otherwise it goes down to Xifeng, which does not hold it either (and has no child that
    // could): a 404 from the network.
    let r = ask(HUAN.to_owned()).await;
    assert_eq!(
        (r.status.as_u16(), r.json().unwrap()["code"].clone()),
        (404, json!("certificate.not_found"))
    );
}

const WHY: &str = "purpose=approval"; // 行政审批核验 (schemas/purposes/purposes.json)

/// (served by, number of certificates or records) of a lookup that must succeed.
async fn lookup(client: &gateway::client::ExchangeClient, path: &str) -> (String, usize) {
    let r = client.get(&format!("{path}&{WHY}")).await.unwrap();
    let body = r.json().unwrap();
    assert_eq!(r.status.as_u16(), 200, "{path}: {body}");
    let found = body["certificates"]
        .as_array()
        .or(body["records"].as_array());
    (
        body["served_by"].as_str().unwrap().to_owned(),
        found.unwrap().len(),
    )
}

/// Rows of the node's audit trail for `who`'s lookups with `action`.
async fn audited(node: &e2e::Node, who: &str, action: &str) -> i64 {
    node.db()
        .await
        .query_one(
            "SELECT count(*) FROM audit_log WHERE principal_id = $1 AND action = $2",
            &[&who, &action],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn holder_and_record_lookups_go_to_the_node_covering_their_scope() {
    let net = network().await;
    let receipt = push(&net, XIFENG, batch_for(XIFENG, "H1")).await;
    let holder = "91621002MA7100001H";
    let case_no = receipt["records"][0]["case_no"]
        .as_str()
        .unwrap()
        .to_owned();
    let province = net.node(PROVINCE);
    holds(province, "Xifeng's records at the province", 3, 2).await;

    let huan = net.node(HUAN);
    let who = format!("n{HUAN}-approver");
    let approver = huan.web_client(&who);
    let ask = |client, path: String| async move { lookup(client, &path).await };
    let holder_lookup = |scope: &str| format!("/v1/certificates?holder_code={holder}{scope}");
    // No scope: the whole province, answered by the province node through Huan and the city
    // (the licence and its copy, 副本).
    let served = |node: &str, n: usize| (node.to_owned(), n);
    assert_eq!(ask(&approver, holder_lookup("")).await, served(PROVINCE, 2));
    // Scoped to Xifeng: the city covers it. Scoped to Huan itself: answered locally, nothing.
    let xifeng = holder_lookup(&format!("&scope={XIFENG}"));
    assert_eq!(ask(&approver, xifeng).await, served(CITY, 2));
    let huan_only = holder_lookup(&format!("&scope={HUAN}"));
    assert_eq!(ask(&approver, huan_only).await, served(HUAN, 0));
    // A record query by case number over Xifeng, from Huan: served by the city; by holder
    // without a region: the province.
    let by_case = format!("/v1/records?case_no={case_no}&region={XIFENG}");
    assert_eq!(ask(&approver, by_case).await, served(CITY, 1));
    let by_holder = format!("/v1/records?holder={holder}");
    assert_eq!(ask(&approver, by_holder).await, served(PROVINCE, 1));
    // The township routes up twice for the same answer.
    let township = net
        .node(TOWNSHIP)
        .web_client(&format!("n{TOWNSHIP}-approver"));
    let by_case = format!("/v1/records?case_no={case_no}");
    assert_eq!(ask(&township, by_case).await, served(PROVINCE, 1));

    // Every lookup is audited at the entry node and, under the original requester, at the
    // node that served it.
    assert_eq!(audited(huan, &who, "certificate.lookup_by_holder").await, 3);
    assert_eq!(audited(huan, &who, "records.query").await, 2);
    assert_eq!(
        audited(net.node(CITY), &who, "certificate.lookup_by_holder").await,
        1
    );
    assert_eq!(audited(net.node(CITY), &who, "records.query").await, 1);
    assert_eq!(
        audited(province, &who, "certificate.lookup_by_holder").await,
        1
    );
    assert_eq!(audited(province, &who, "records.query").await, 1);

    // Supervisors look only within their own region, wherever the query would go.
    let supervisor = huan.web_client(&format!("n{HUAN}-supervisor"));
    let r = supervisor
        .get(&format!("/v1/records?region={XIFENG}&{WHY}"))
        .await
        .unwrap();
    assert_eq!(
        (r.status.as_u16(), r.json().unwrap()["code"].clone()),
        (403, json!("auth.region"))
    );

    // A tier that hangs: the city is frozen, Huan gives up after its timeout with a 504.
    let city = net.node(CITY);
    city.pause();
    let started = std::time::Instant::now();
    let r = approver
        .get(&format!("/v1/records?holder={holder}&{WHY}"))
        .await
        .unwrap();
    let waited = started.elapsed();
    city.resume();
    assert_eq!(
        (r.status.as_u16(), r.json().unwrap()["code"].clone()),
        (504, json!("routing.timeout"))
    );
    assert!(
        waited >= std::time::Duration::from_millis(2900),
        "answered after {waited:?}, before the 3 s timeout"
    );
    // Thawed, it answers again.
    let r = approver
        .get(&format!("/v1/records?holder={holder}&{WHY}"))
        .await
        .unwrap();
    assert_eq!(r.status.as_u16(), 200);
}

/// The market-regulation fixture's first record under another local item code, with every
/// event at `at` (China Standard Time, the source's format).
fn record_at(
    region: &str,
    case_no: &str,
    item_code: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Vec<u8> {
    let mut batch: Value =
        serde_json::from_slice(&fixture("market-regulation/batch-valid.json")).unwrap();
    let mut r = batch["records"][0].take();
    let local = at
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    r["areaCode"] = json!(region);
    r["caseNo"] = json!(case_no);
    r["itemCode"] = json!(item_code);
    r["itemName"] = json!("公司设立登记（新编码）");
    for key in [
        "applyTime",
        "receiveTime",
        "acceptTime",
        "decideTime",
        "finishTime",
    ] {
        r[key] = json!(local);
    }
    for step in r["steps"].as_array_mut().unwrap() {
        step["time"] = json!(local);
    }
    r["result"]["licences"] = json!([]);
    batch["records"] = json!([r]);
    serde_json::to_vec(&batch).unwrap()
}

/// The bundled catalog with one more local code for 企业设立登记.
fn catalog_with_alias(dir: &std::path::Path, code: &str) -> std::path::PathBuf {
    let mut catalog: Value = serde_json::from_slice(
        &std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../schemas/catalog/catalog.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let item = catalog["items"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|i| i["basic_code"] == "620130001000")
        .unwrap();
    item["aliases"].as_array_mut().unwrap().push(
        json!({"department": "market_regulation", "code": code, "name": "公司设立登记（新编码）"}),
    );
    let path = dir.join(format!("catalog-{code}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(&catalog).unwrap()).unwrap();
    path
}

#[tokio::test]
async fn reference_data_flows_down_and_applies_by_occurred_time() {
    let net = network().await;
    let province = net.node(PROVINCE);
    let township = net.node(TOWNSHIP);
    let root_key = net.dir.path().join("pki/root-key.pk8");
    let root_key = root_key.to_str().unwrap();
    let catalog = catalog_with_alias(net.dir.path(), "SCJG-0999");
    let catalog = catalog.to_str().unwrap();
    let now = chrono::Utc::now();
    let effective = (now - chrono::Duration::seconds(60))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();

    // Only the root node publishes; a version that would change the past must say it is
    // retroactive.
    refused(&publish(township, catalog, root_key, &[]), "root node");
    let past = ["--effective-from", "2026-01-01T00:00:00+08:00"];
    refused(&publish(province, catalog, root_key, &past), "retroactive");

    // Version 1: the new local code, in force from a minute ago.
    let v1 = net.dir.path().join("catalog-v1.json");
    let v1_args = [
        "--effective-from",
        &effective,
        "--out",
        v1.to_str().unwrap(),
    ];
    published(&publish(province, catalog, root_key, &v1_args));
    let held = |node: &e2e::Node| {
        let client = node.web_client(&format!("n{}-operator", node_region(node)));
        async move {
            let r = client.get("/v1/reference").await.unwrap();
            assert_eq!(r.status.as_u16(), 200);
            r.json().unwrap()
        }
    };
    Network::eventually(60, "catalog v1 at the township", || async {
        held(township).await["in_force"]["catalog"] == 1
    })
    .await;
    let listed = held(township).await;
    let v1_meta = listed["held"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["kind"] == "catalog" && m["version"] == 1)
        .unwrap()
        .clone();
    assert_eq!(v1_meta["source"], "published");
    assert_eq!(v1_meta["retroactive"], false);
    // Each tier fetched it from its own parent and checked the province's signature.
    let from: String = township
        .db()
        .await
        .query_one(
            "SELECT received_from FROM reference_versions WHERE kind = 'catalog' AND version = 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(from, XIFENG);

    // A case that occurred after the effective date is checked against version 1; one that
    // occurred before it, against the catalog in force then, which lacks the code.
    let after = push(
        &net,
        TOWNSHIP,
        record_at(TOWNSHIP, "REF-AFTER", "SCJG-0999", chrono::Utc::now()),
    )
    .await;
    assert_eq!(after["summary"]["accepted"], 1, "{after}");
    let before_at = now - chrono::Duration::hours(2);
    let before = push(
        &net,
        TOWNSHIP,
        record_at(TOWNSHIP, "REF-BEFORE", "SCJG-0999", before_at),
    )
    .await;
    assert_eq!(before["summary"]["rejected"], 1, "{before}");
    assert_eq!(
        before["records"][0]["errors"][0]["code"], "service_item.unknown",
        "{before}"
    );

    // A retroactive correction (version 2) reaches back to the start of the year.
    let v2 = net.dir.path().join("catalog-v2.json");
    let v2_args = [
        "--retroactive",
        "--effective-from",
        "2026-01-01T00:00:00+08:00",
        "--out",
        v2.to_str().unwrap(),
    ];
    published(&publish(province, catalog, root_key, &v2_args));
    Network::eventually(60, "catalog v2 at the township", || async {
        held(township).await["in_force"]["catalog"] == 2
    })
    .await;
    let again = push(
        &net,
        TOWNSHIP,
        record_at(TOWNSHIP, "REF-BEFORE", "SCJG-0999", before_at),
    )
    .await;
    assert_eq!(again["summary"]["accepted"], 1, "{again}");

    // Order of arrival does not matter: a node handed version 2 and then version 1 keeps
    // version 2 in force; a version altered on the way is refused.
    let huan = net.node(HUAN);
    huan.cli(&["reference", "import", v2.to_str().unwrap()]);
    huan.cli(&["reference", "import", v1.to_str().unwrap()]);
    Network::eventually(30, "Huan running on version 2", || async {
        held(huan).await["in_force"]["catalog"] == 2
    })
    .await;
    let mut forged: Value = serde_json::from_slice(&std::fs::read(&v1).unwrap()).unwrap();
    forged["body"]["catalog_version"] = json!("forged");
    let forged_path = net.dir.path().join("forged.json");
    std::fs::write(&forged_path, forged.to_string()).unwrap();
    let out = huan.cli_output(&["reference", "import", forged_path.to_str().unwrap()]);
    refused(&out, "content_hash");
}

fn publish(node: &e2e::Node, file: &str, root_key: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "reference",
        "publish",
        "catalog",
        file,
        "--root-key",
        root_key,
    ];
    args.extend_from_slice(extra);
    node.cli_output(&args)
}

fn published(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn refused(out: &Output, why: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains(why), "{stderr}");
}

fn node_region(node: &e2e::Node) -> String {
    node.pki_dir
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

/// A parent writes the records of a forwarded request with `COPY` once there are enough of
/// them (`ingest.copy_from_rows`; 1 here, so every request): it holds them as the child
/// stored them, marked as the child's, with each case's head where the child has it. A case's
/// version 1 forwarded after its version 2 is taken for a new case's (its head not read), meets
/// the stored head, and the parent's transaction runs again reading the heads.
#[tokio::test]
async fn a_parent_copies_forwarded_records_as_the_child_stored_them() {
    let mut net = city_and_county(&[]).await;
    restart_with(&mut net, CITY, &[("GATEWAY_INGEST__COPY_FROM_ROWS", "1")]).await;
    for i in 0..3 {
        push(&net, XIFENG, batch_for(XIFENG, &format!("P{i}"))).await;
    }
    let (xifeng, city) = (net.node(XIFENG), net.node(CITY));
    let credentials = || xifeng.count("SELECT count(*) FROM credential_versions");
    holds(
        city,
        "the county's records at the city",
        9,
        credentials().await,
    )
    .await;
    let mut late: Value = serde_json::from_slice(&batch_for(XIFENG, "P0")).unwrap();
    let mut first = late["records"][1].clone();
    assert_eq!(
        first["version"], 2,
        "the fixture's second record is a version 2"
    );
    first["version"] = json!(1);
    late["records"] = json!([first]);
    let receipt = push(&net, XIFENG, serde_json::to_vec(&late).unwrap()).await;
    assert_eq!(receipt["records"][0]["current"], false, "{receipt}");
    holds(
        city,
        "the late version 1 at the city",
        10,
        credentials().await,
    )
    .await;
    let same = "SELECT json_agg(json_build_array(record_id, source_system, case_no, version,
                    department, region_code, item_code, status, occurred_at, ingested_at,
                    encode(content_hash, 'hex'), body) ORDER BY record_id)::text
                FROM case_records";
    let heads = "SELECT json_agg(json_build_array(source_system, case_no, record_id, version,
                     entered_at) ORDER BY case_no)::text
                 FROM supervision_cases";
    for sql in [same, heads] {
        let (up, down) = (city.db().await, xifeng.db().await);
        let at = |db: tokio_postgres::Client| async move {
            db.query_one(sql, &[]).await.unwrap().get::<_, String>(0)
        };
        assert_eq!(at(up).await, at(down).await, "{sql}");
    }
    assert_eq!(
        city.count(&format!(
            "SELECT count(*) FROM case_records WHERE forwarded_from = '{XIFENG}'"
        ))
        .await,
        10
    );
    // The late version 1 was copied twice: its first transaction ran again.
    assert_eq!(
        city.metric("gateway_ingest_copied_records_total").await,
        Some(11.0)
    );
    assert_eq!(
        city.metric("gateway_ingest_probed_reruns_total").await,
        Some(1.0)
    );
    assert_eq!(
        city.metric("gateway_ingest_careful_reruns_total").await,
        None
    );
}
