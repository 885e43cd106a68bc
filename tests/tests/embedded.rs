//! The embedded default: with no database URL, `gateway serve` finds the private PostgreSQL
//! (starting it if needed) and creates its database; the server is its own process, so a
//! gateway killed with SIGKILL leaves it running and the next start reuses it, data intact.

use e2e::{Node, cluster, fixture, gateway_bin};

fn db_status() -> String {
    let c = cluster();
    let out = std::process::Command::new(gateway_bin())
        .args(["db", "status"])
        .env("GATEWAY_DATABASE__EMBEDDED__BASE_DIR", &c.base_dir)
        .env("GATEWAY_DATABASE__EMBEDDED__PORT", c.port.to_string())
        .env_remove("GATEWAY_DATABASE__URL")
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

fn postgres_pid() -> String {
    db_status()
        .lines()
        .find_map(|l| l.strip_prefix("pid: "))
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_killed_gateway_leaves_the_embedded_database_running_and_reuses_it() {
    let mut node = Node::start_embedded().await;
    assert!(db_status().contains("running: true"));
    let pg_pid = postgres_pid();
    let batch = fixture("market-regulation/batch-valid.json");
    let resp = node
        .client("xifeng-amr-system")
        .post(
            "/v1/ingest/market-regulation",
            "application/json",
            batch.clone(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status.as_u16(), 200);

    node.kill();
    assert!(
        db_status().contains("running: true"),
        "PostgreSQL must outlive a crashed gateway"
    );
    assert_eq!(postgres_pid(), pg_pid);

    node.spawn().await;
    assert_eq!(
        postgres_pid(),
        pg_pid,
        "the next start reuses the running server"
    );
    let again = node
        .client("xifeng-amr-system")
        .post("/v1/ingest/market-regulation", "application/json", batch)
        .await
        .unwrap();
    let receipt = again.json().unwrap();
    assert_eq!(
        receipt["summary"]["duplicate"], 3,
        "records acknowledged before the crash are still there: {receipt}"
    );
    assert_eq!(node.count("SELECT count(*) FROM case_records").await, 3);
}
