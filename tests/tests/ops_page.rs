//! Issue 9's operator view, end to end: Prometheus values after a known push, the node's
//! per-minute totals across two processes of one node, forwarded records counted under the tier
//! that first accepted them at every tier above, and the `/ops` page in a real headless
//! Chromium (Debian's `chromium` + `chromium-driver`, driven over WebDriver) showing the records
//! just pushed. The page's screenshot is kept as `tests/artifacts/ops.png`.

use std::process::Child;
use std::time::{Duration, Instant};

use e2e::browser::{self, Browser};
use e2e::gansu::{CITY, TOWNSHIP, XIFENG};
use e2e::{Network, Node, fixture};
use gateway::client::ExchangeClient;
use serde_json::{Value, json};

const MR: &str = "/v1/ingest/market-regulation";
const XIFENG_AMR: &str = "xifeng-amr-system";
const OPERATOR: (&str, &str) = ("ops.li", "correct horse battery staple");

async fn push(client: &ExchangeClient, fixture_path: &str) -> Value {
    let resp = client
        .post(MR, "application/json", fixture(fixture_path))
        .await
        .expect("push");
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    resp.json().unwrap()
}

/// An operator account's session cookie (`name=value`).
async fn operator_cookie(node: &Node) -> String {
    node.add_user(OPERATOR.0, "operator", "621000000000", OPERATOR.1);
    node.login(OPERATOR.0, OPERATOR.1).await.expect("login")
}

/// `GET /v1/ops/series` as the operator.
async fn series(node: &Node, cookie: &str) -> Value {
    let resp = node
        .anonymous_web()
        .send(
            http::Method::GET,
            "/v1/ops/series?minutes=15",
            &[("cookie", cookie)],
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    resp.json().unwrap()
}

/// The series entry of `kind` (`adapter` or `tier`) with this key.
fn entry<'a>(series: &'a Value, kind: &str, key: &str) -> Option<&'a Value> {
    series["throughput"][kind]
        .as_array()?
        .iter()
        .find(|e| e["key"] == key)
}

/// One line of Prometheus text: the value of `name{labels}` (labels in any order).
fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            let Some(rest) = l.strip_prefix(name) else {
                return false;
            };
            (rest.starts_with('{') || rest.starts_with(' '))
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn metrics_count_a_known_push_by_adapter_department_tier_and_reason() {
    let node = Node::start().await;
    let client = node.client(XIFENG_AMR);
    let valid = push(&client, "market-regulation/batch-valid.json").await;
    let mixed = push(&client, "market-regulation/batch-mixed.json").await;
    let accepted = valid["summary"]["accepted"].as_u64().unwrap()
        + mixed["summary"]["accepted"].as_u64().unwrap();
    let rejected = mixed["summary"]["rejected"].as_u64().unwrap();
    assert!(rejected > 0, "{mixed}");
    let received = valid["summary"]["records"].as_u64().unwrap()
        + mixed["summary"]["records"].as_u64().unwrap();
    let issued = valid["records"]
        .as_array()
        .unwrap()
        .iter()
        .chain(mixed["records"].as_array().unwrap())
        .flat_map(|r| r["certificates"].as_array().cloned().unwrap_or_default())
        .filter(|c| c["outcome"] == "issued")
        .count();
    assert!(issued > 0);
    // The first error code of each rejected record.
    let mut reasons: std::collections::BTreeMap<String, u64> = Default::default();
    for r in mixed["records"].as_array().unwrap() {
        if r["outcome"] == "rejected" {
            *reasons
                .entry(r["errors"][0]["code"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }

    let text = node
        .web_client("qingyang-operator")
        .get("/metrics")
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&text.body).into_owned();
    let who = [
        ("adapter", "market-regulation"),
        ("department", "market_regulation"),
        ("tier", "city"),
    ];
    let m = |name: &str, extra: &[(&str, &str)]| {
        let labels: Vec<_> = who.iter().chain(extra).copied().collect();
        metric(&text, name, &labels).unwrap_or_else(|| panic!("no {name} {labels:?} in\n{text}"))
    };
    assert_eq!(m("gateway_records_received_total", &[]), received as f64);
    assert_eq!(m("gateway_records_accepted_total", &[]), accepted as f64);
    assert_eq!(
        m("gateway_records_total", &[("outcome", "rejected")]),
        rejected as f64
    );
    for (reason, n) in &reasons {
        assert_eq!(
            m("gateway_records_rejected_total", &[("reason", reason)]),
            *n as f64,
            "rejections by reason"
        );
    }
    assert_eq!(
        metric(
            &text,
            "gateway_certificates_issued_total",
            &[("department", "market_regulation"), ("tier", "city")]
        ),
        Some(issued as f64)
    );
    assert_eq!(
        metric(
            &text,
            "gateway_batch_seconds_count",
            &[("adapter", "market-regulation")]
        ),
        Some(2.0),
        "two batches in the latency histogram"
    );
    assert!(
        metric(
            &text,
            "gateway_batch_seconds_bucket",
            &[("adapter", "market-regulation"), ("le", "+Inf")]
        ) == Some(2.0),
        "latency is a histogram with buckets"
    );
    // Gauges sampled by the operations task (at start, then every ops.sample_interval_ms).
    for (name, labels) in [
        ("gateway_db_pool_max_connections", vec![]),
        ("gateway_db_pool_connections", vec![("state", "in_use")]),
        ("gateway_outbox_depth", vec![]),
        ("gateway_forward_lag_seconds", vec![]),
    ] {
        assert!(
            metric(&text, name, &labels).is_some(),
            "{name} {labels:?} missing:\n{text}"
        );
    }
}

/// A second `gateway serve` process of the same node (same database, PKI and settings).
struct SecondProcess {
    child: Child,
    exchange: std::net::SocketAddr,
}

impl SecondProcess {
    async fn start(node: &Node) -> SecondProcess {
        let (child, ready) = node.serve_process("ready-2.json", "serve-2.log").await;
        let exchange = ready["exchange"].as_str().unwrap().parse().unwrap();
        SecondProcess { child, exchange }
    }

    fn client(&self, node: &Node, principal: &str) -> ExchangeClient {
        let clients = node.pki().join("clients");
        ExchangeClient::new(
            &format!("https://localhost:{}", self.exchange.port()),
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

#[tokio::test]
async fn totals_are_the_nodes_across_its_processes() {
    let node = Node::start().await;
    let cookie = operator_cookie(&node).await;
    let second = SecondProcess::start(&node).await;
    // Process 1 takes the valid batch, process 2 the mixed one.
    let valid = push(
        &node.client(XIFENG_AMR),
        "market-regulation/batch-valid.json",
    )
    .await;
    let mixed = push(
        &second.client(&node, XIFENG_AMR),
        "market-regulation/batch-mixed.json",
    )
    .await;
    let sum = |field: &str| {
        valid["summary"][field].as_i64().unwrap() + mixed["summary"][field].as_i64().unwrap()
    };
    // Process 1 answers; process 2's counts arrive with its next flush (ops.flush_interval_ms).
    let deadline = Instant::now() + Duration::from_secs(20);
    let answer = loop {
        let s = series(&node, &cookie).await;
        let done = entry(&s, "adapter", "market-regulation")
            .is_some_and(|e| e["total"]["received"] == sum("records"));
        if done {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the totals never included both processes' batches: {s:#}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    for kind_key in [("adapter", "market-regulation"), ("tier", "city")] {
        let e = entry(&answer, kind_key.0, kind_key.1).unwrap();
        for field in ["accepted", "rejected", "duplicate", "version_conflict"] {
            assert_eq!(e["total"][field], sum(field), "{kind_key:?} {field}: {e}");
        }
        assert_eq!(
            e["accepted"].as_array().unwrap().len(),
            15,
            "one value per minute"
        );
    }
    let latency = answer["latency"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == "market-regulation")
        .unwrap();
    let batches: i64 = latency["batches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_i64().unwrap())
        .sum();
    assert_eq!(batches, 2, "{latency}");
    assert!(
        latency["max_ms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v.as_f64().is_some_and(|ms| ms > 0.0))
    );
    // The rows behind it: one per (minute, kind, key, measure), not one per batch or process.
    let rows = node
        .count("SELECT count(*) FROM ops_minutes WHERE kind = 'adapter' AND key = 'market-regulation' AND measure = 'received'")
        .await;
    assert!((1..=2).contains(&rows), "{rows} rows");
    // The test node's parent is unreachable: its outbox grows and is sampled.
    assert_eq!(answer["outbox"]["forwarding"], true);
    assert!(answer["outbox"]["now"]["depth"].as_i64().unwrap() >= sum("accepted"));
}

#[tokio::test]
async fn forwarded_records_count_under_the_tier_that_first_accepted_them() {
    let net = Network::start(&[
        (CITY, "庆阳市节点", None),
        (XIFENG, "西峰区节点", Some(CITY)),
        (TOWNSHIP, "肖金镇节点", Some(XIFENG)),
    ])
    .await;
    // The fixture's records, moved to the township.
    let mut batch: Value =
        serde_json::from_slice(&fixture("market-regulation/batch-valid.json")).unwrap();
    for r in batch["records"].as_array_mut().unwrap() {
        r["areaCode"] = json!(TOWNSHIP);
    }
    let township = net.node(TOWNSHIP);
    let resp = township
        .client(&format!("n{TOWNSHIP}-market-regulation"))
        .post(MR, "application/json", serde_json::to_vec(&batch).unwrap())
        .await
        .unwrap();
    let receipt = resp.json().unwrap();
    let accepted = receipt["summary"]["accepted"].as_i64().unwrap();
    assert!(accepted > 0, "{receipt}");
    // Each tier's operator sees them under the township's tier; above it, as forwarded.
    for (region, adapter) in [
        (TOWNSHIP, "market-regulation"),
        (XIFENG, "forwarded"),
        (CITY, "forwarded"),
    ] {
        let operator = net.node(region).web_client(&format!("n{region}-operator"));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let s = operator
                .get("/v1/ops/series")
                .await
                .unwrap()
                .json()
                .unwrap();
            let seen = [("adapter", adapter), ("tier", "township")]
                .iter()
                .all(|(kind, key)| {
                    entry(&s, kind, key)
                        .is_some_and(|e| e["total"]["accepted"].as_i64() == Some(accepted))
                });
            if seen {
                break;
            }
            assert!(Instant::now() < deadline, "{region}: {s:#}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let metrics = operator.get("/metrics").await.unwrap();
        let text = String::from_utf8_lossy(&metrics.body);
        let labels = [
            ("adapter", adapter),
            ("department", "market_regulation"),
            ("tier", "township"),
        ];
        assert_eq!(
            metric(&text, "gateway_records_accepted_total", &labels),
            Some(accepted as f64),
            "{region}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The page in a real browser.

/// What the page shows, read from its DOM: each plotted series' values and points.
const READ_PAGE: &str = r#"
const series = (chart) => [...document.querySelectorAll(`#chart-${chart} g.series`)].map((g) => ({
  key: g.dataset.key,
  values: g.dataset.values,
  points: [...g.querySelectorAll("circle")].map((c) => [c.dataset.minute, Number(c.dataset.value)]),
}));
const banner = document.getElementById("banner");
return {
  renders: Number(document.body.dataset.renders || 0),
  banner: banner && !banner.hidden ? banner.textContent : null,
  node: document.getElementById("node").textContent,
  accepted: document.getElementById("t-accepted").textContent,
  alerts: document.getElementById("t-alerts").textContent,
  adapter: series("adapter"),
  tier: series("tier"),
  latency: series("latency"),
  outbox: series("outbox"),
};
"#;

#[tokio::test]
async fn the_ops_page_plots_the_records_just_pushed_in_chromium() {
    browser::binaries();
    let node = Node::start().await;
    let cookie = operator_cookie(&node).await;
    let receipt = push(
        &node.client(XIFENG_AMR),
        "market-regulation/batch-valid.json",
    )
    .await;
    let accepted = receipt["summary"]["accepted"].as_i64().unwrap();
    assert!(accepted > 0);
    // The minute of the push, as the page labels minutes (China Standard Time).
    let pushed_minute = receipt["received_at"].as_str().unwrap()[..16].to_owned();

    let browser = Browser::start(1400, 1500).await;
    // The session cookie belongs to the web listener's origin.
    let origin = node.web_url();
    browser.set_cookie(&origin, &cookie).await;
    browser.goto(&format!("{origin}/ops")).await;

    // Wait until the plot of market-regulation shows the accepted records in the push's minute.
    let deadline = Instant::now() + Duration::from_secs(30);
    let shown = loop {
        let page = browser.execute(READ_PAGE, json!([])).await;
        let point = page["adapter"].as_array().and_then(|s| {
            s.iter().find(|s| s["key"] == "market-regulation")?["points"]
                .as_array()?
                .iter()
                .find(|p| p[0].as_str().is_some_and(|m| m.starts_with(&pushed_minute)))
                .map(|p| p[1].as_f64().unwrap_or(-1.0))
        });
        if point == Some(accepted as f64) {
            break page;
        }
        assert!(
            Instant::now() < deadline,
            "the page never plotted {accepted} accepted records at {pushed_minute}: {page:#}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(shown["banner"].is_null(), "{shown:#}");
    assert!(shown["node"].as_str().unwrap().contains("621000000000"));
    let total_of = |chart: &str, key: &str| -> f64 {
        shown[chart]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == key)
            .unwrap_or_else(|| panic!("no {key} series on the {chart} plot: {shown:#}"))["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p[1].as_f64().unwrap())
            .sum()
    };
    assert_eq!(total_of("adapter", "market-regulation"), accepted as f64);
    assert_eq!(
        total_of("tier", "city"),
        accepted as f64,
        "the tier plot counts them under this node's tier"
    );
    assert_eq!(shown["adapter"][0]["points"].as_array().unwrap().len(), 15);
    assert!(total_of("latency", "market-regulation") > 0.0);
    assert_eq!(shown["accepted"], accepted.to_string());

    // Keep a picture of it (tests/artifacts/ is git-ignored; CI may upload it).
    browser.screenshot("ops.png").await;
}
