//! Backup and restore drill (issue 12, docs/backup.md), on PostgreSQL clusters of its own (the
//! run's shared cluster is never stopped): a city node under its province runs on a private
//! cluster with WAL archiving; it takes a base backup (`gateway db backup`), acknowledges more
//! pushes, the instant T is noted, more pushes follow (the province cosigns the larger log),
//! then `gateway db restore --to-time T` rebuilds the cluster in a fresh base directory and the
//! node starts on it. Every record acknowledged before T is there, nothing after it is; the
//! restored log is shorter than what the province cosigned, so the node refuses to sign (the
//! guard's state and the `gateway_tlog_fork` gauge show it) until the operators resolve it.
//! A second restore that loses nothing the province cosigned is confirmed by it, and signing
//! goes on by itself.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use e2e::gansu::{CITY, PROVINCE};
use e2e::{Network, fixture, free_port, gateway_bin};
use serde_json::{Value, json};

/// A private cluster managed with `gateway db …`; stopped and removed when dropped.
struct Cluster {
    base: PathBuf,
    port: u16,
    archive: PathBuf,
}

/// The node's database name on the private clusters.
const DB: &str = "drill";

impl Cluster {
    fn new(root: &Path, name: &str, archive: &Path) -> Cluster {
        Cluster {
            base: root.join(name),
            port: free_port(),
            archive: archive.to_path_buf(),
        }
    }

    fn db(&self, args: &[&str]) -> Output {
        let out = Command::new(gateway_bin())
            .arg("db")
            .args(args)
            .env_remove("GATEWAY_CONFIG")
            .env_remove("GATEWAY_DATABASE__URL")
            .env("GATEWAY_DATABASE__EMBEDDED__BASE_DIR", &self.base)
            .env("GATEWAY_DATABASE__EMBEDDED__PORT", self.port.to_string())
            .env("GATEWAY_DATABASE__EMBEDDED__DATABASE", DB)
            .env("GATEWAY_DATABASE__EMBEDDED__WAL_ARCHIVE_DIR", &self.archive)
            .output()
            .expect("run gateway db");
        assert!(
            out.status.success(),
            "gateway db {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn url(&self) -> String {
        String::from_utf8(self.db(&["url"]).stdout)
            .unwrap()
            .trim()
            .to_owned()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.base.join("pgdata/PG_VERSION").exists() {
            let _ = Command::new(gateway_bin())
                .args(["db", "stop"])
                .env_remove("GATEWAY_CONFIG")
                .env("GATEWAY_DATABASE__EMBEDDED__BASE_DIR", &self.base)
                .env("GATEWAY_DATABASE__EMBEDDED__PORT", self.port.to_string())
                .output();
        }
    }
}

/// Removes the drill's folder (clusters, archive, backup) at the end.
struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `n` market-regulation records of the city tagged `tag`; the first with two licences.
fn batch(tag: &str, n: usize) -> Vec<u8> {
    let fixture: Value =
        serde_json::from_slice(&fixture("market-regulation/batch-valid.json")).unwrap();
    let template = &fixture["records"][0];
    let records: Vec<Value> = (0..n)
        .map(|i| {
            let mut r = template.clone();
            let tag = format!("{tag}-{i}");
            r["areaCode"] = json!(CITY);
            r["caseNo"] = json!(format!("{}-{tag}", r["caseNo"].as_str().unwrap()));
            if i == 0 {
                for l in r["result"]["licences"].as_array_mut().unwrap() {
                    l["licenceNo"] = json!(format!("{}-{tag}", l["licenceNo"].as_str().unwrap()));
                }
            } else {
                r["result"].as_object_mut().unwrap().remove("licences");
            }
            r
        })
        .collect();
    let mut body = fixture.clone();
    body["records"] = json!(records);
    serde_json::to_vec(&body).unwrap()
}

/// Push to the city and return the acknowledged record ids.
async fn push(net: &Network, tag: &str) -> Vec<uuid::Uuid> {
    let resp = net
        .node(CITY)
        .client(&format!("n{CITY}-market-regulation"))
        .post(
            "/v1/ingest/market-regulation",
            "application/json",
            batch(tag, 4),
        )
        .await
        .unwrap();
    let receipt = resp.json().unwrap();
    assert_eq!(resp.status.as_u16(), 200, "{receipt}");
    assert_eq!(receipt["summary"]["accepted"], 4, "{receipt}");
    receipt["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["record_id"].as_str().unwrap().parse().unwrap())
        .collect()
}

async fn present(node: &e2e::Node, ids: &[uuid::Uuid]) -> i64 {
    node.db()
        .await
        .query_one(
            "SELECT count(*) FROM case_records WHERE record_id = ANY($1)",
            &[&ids],
        )
        .await
        .unwrap()
        .get(0)
}

/// The size of the city's log the province holds cosigned.
async fn cosigned_at_parent(net: &Network) -> i64 {
    net.node(PROVINCE)
        .db()
        .await
        .query_opt(
            "SELECT tree_size FROM tlog_witnessed WHERE origin LIKE '%/log/' || $1",
            &[&CITY],
        )
        .await
        .unwrap()
        .map_or(0, |r| r.get(0))
}

/// Wait until the province cosigned the city's whole log, and return its size.
async fn wait_cosigned(net: &Network, at_least: i64) -> i64 {
    let city = net.node(CITY);
    Network::eventually(60, "the province cosigned the city's log", || async {
        let size = city.count("SELECT count(*) FROM tlog_leaves").await;
        size >= at_least && cosigned_at_parent(net).await == size
    })
    .await;
    cosigned_at_parent(net).await
}

/// Close the current WAL segment and wait until the archiver copied it.
async fn archive_current_wal(node: &e2e::Node) {
    let db = node.db().await;
    let segment: String = db
        .query_one("SELECT pg_walfile_name(pg_switch_wal())", &[])
        .await
        .unwrap()
        .get(0);
    Network::eventually(60, "the WAL segment archived", || async {
        db.query_one(
            "SELECT coalesce(last_archived_wal, '') >= $1 FROM pg_stat_archiver",
            &[&segment],
        )
        .await
        .unwrap()
        .get(0)
    })
    .await;
}

async fn fork_state(node: &e2e::Node) -> Value {
    serde_json::from_slice(&node.cli(&["log-fork", "status", "--json"]).stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_point_in_time_restore_keeps_what_was_acknowledged_and_the_log_does_not_fork() {
    let root = PathBuf::from(format!(
        "/var/tmp/exchange-gateway-e2e/drill-{}",
        uuid::Uuid::now_v7().simple()
    ));
    let _cleanup = RemoveDir(root.clone());
    let archive = root.join("wal-archive");
    let original = Cluster::new(&root, "pg-original", &archive);
    let restored = Cluster::new(&root, "pg-restored", &archive);
    let again = Cluster::new(&root, "pg-again", &archive);
    original.db(&["start"]);

    let mut net = Network::start(&[
        (PROVINCE, "甘肃省节点", None),
        (CITY, "庆阳市节点", Some(PROVINCE)),
    ])
    .await;
    // Move the city onto the archiving cluster (it has stored nothing yet).
    {
        let city = net.node_mut(CITY);
        city.stop();
        city.db_url = original.url();
        let principals = city.pki_dir.join("principals.json");
        city.cli(&["principals", "import", principals.to_str().unwrap()]);
        city.spawn().await;
    }

    let first = push(&net, "B1").await;
    wait_cosigned(&net, 2).await;
    let backup = root.join("backup");
    original.db(&["backup", "--out", backup.to_str().unwrap()]);

    let second = push(&net, "B2").await;
    let size_at_t = wait_cosigned(&net, 4).await;
    // T: after the second push's COMMIT, before the third's (a margin for clock granularity).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let t = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let third = push(&net, "B3").await;
    let cosigned = wait_cosigned(&net, 6).await;
    assert!(cosigned > size_at_t);

    // Make sure the WAL past T is archived, then lose the cluster.
    archive_current_wal(net.node(CITY)).await;
    net.node_mut(CITY).kill();
    original.db(&["stop"]);

    // Restore to T into a fresh base directory; the node starts on it.
    let out = restored.db(&[
        "restore",
        "--from",
        backup.to_str().unwrap(),
        "--to-time",
        &t.to_rfc3339(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("signing held"), "{text}");
    {
        let city = net.node_mut(CITY);
        city.db_url = restored.url();
        city.spawn().await;
    }
    let city = net.node(CITY);
    assert_eq!(
        present(city, &first).await,
        4,
        "acknowledged before the backup"
    );
    assert_eq!(present(city, &second).await, 4, "acknowledged before T");
    assert_eq!(present(city, &third).await, 0, "pushed after T");
    let restored_size = city.count("SELECT count(*) FROM tlog_leaves").await;
    assert_eq!(restored_size, size_at_t, "the log as it was at T");

    // The province cosigned more than the restored log holds: the city detects the fork and
    // holds signing, visibly.
    Network::eventually(60, "the city detected the fork", || async {
        fork_state(city).await["state"] == "fork"
    })
    .await;
    let state = fork_state(city).await;
    assert_eq!(state["signing"], false, "{state}");
    let event = state["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(event["parent_size"], cosigned, "{state}");
    assert_eq!(event["local_size"], restored_size, "{state}");
    assert!(city.log().contains("the transparency log would fork"));
    // The gauge is set by the sequencer's next round.
    Network::eventually(30, "the fork gauge", || async {
        city.metric("gateway_tlog_fork").await == Some(1.0)
    })
    .await;

    // Pushes are still acknowledged, but nothing is logged or signed while the fork stands.
    let refusals = |log: &str| log.matches("not signing checkpoints").count();
    let before = refusals(&city.log());
    let fourth = push(&net, "B4").await;
    Network::eventually(30, "sequencer rounds refusing to sign", || async {
        refusals(&city.log()) >= before + 2
    })
    .await;
    assert_eq!(
        city.count("SELECT count(*) FROM tlog_leaves").await,
        restored_size
    );
    assert_eq!(
        city.count("SELECT max(tree_size) FROM tlog_checkpoints")
            .await,
        restored_size
    );

    // The operators resolve it: the city accepts the fork with a reason, the province drops
    // the checkpoint it held; signing and witnessing resume.
    city.cli(&[
        "log-fork",
        "accept",
        "--reason",
        "drill: restored to T after losing the cluster; leaves after T are gone",
    ]);
    net.node(PROVINCE).cli(&[
        "log-fork",
        "forget",
        "--child",
        CITY,
        "--reason",
        "drill: the city restored its database",
    ]);
    let resumed = wait_cosigned(&net, restored_size + 2).await;
    assert_eq!(resumed, restored_size + 2, "the fourth push's credentials");
    assert_eq!(present(city, &fourth).await, 4);
    Network::eventually(30, "the fork gauge cleared", || async {
        city.metric("gateway_tlog_fork").await == Some(0.0)
    })
    .await;
    let state = fork_state(city).await;
    assert_eq!(state["state"], "accepted", "{state}");
    assert_eq!(state["signing"], true, "{state}");
    city.cli(&["log", "audit"]);
    let forgot = fork_state(net.node(PROVINCE)).await;
    assert_eq!(forgot["events"][0]["state"], "forget", "{forgot}");
    assert_eq!(forgot["events"][0]["parent_size"], cosigned, "{forgot}");

    // A restore that loses nothing the parent cosigned: the hold clears by itself once the
    // parent confirmed the log, and signing goes on.
    let backup2 = root.join("backup2");
    restored.db(&["backup", "--out", backup2.to_str().unwrap()]);
    let fifth = push(&net, "B5").await;
    let before_loss = wait_cosigned(&net, resumed + 2).await;
    archive_current_wal(net.node(CITY)).await;
    net.node_mut(CITY).kill();
    restored.db(&["stop"]);
    again.db(&["restore", "--from", backup2.to_str().unwrap()]);
    {
        let city = net.node_mut(CITY);
        city.db_url = again.url();
        city.spawn().await;
    }
    let city = net.node(CITY);
    assert_eq!(present(city, &fifth).await, 4);
    Network::eventually(60, "the parent confirmed the restored log", || async {
        fork_state(city).await["state"] == "clear"
    })
    .await;
    let sixth = push(&net, "B6").await;
    assert_eq!(wait_cosigned(&net, before_loss + 2).await, before_loss + 2);
    assert_eq!(present(city, &sixth).await, 4);
}
