//! `gateway demo`: a small network on loopback — Gansu province → Qingyang city → Xifeng
//! district → Xiaojin town, plus Huan county beside Xifeng — each node its own process and its
//! own database on the embedded PostgreSQL, mTLS everywhere. `--smoke` runs a scenario and
//! exits 0 only if it holds: records pushed at the township reach the province; a certificate
//! issued in one county is fetched and verified from the other; stopping the city for a while
//! loses nothing the township accepted.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::client::ExchangeClient;
use crate::config::Config;
use crate::pki::{Topology, TopologyNode};

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Run the scenario and exit: 0 if it holds, 1 if not.
    #[arg(long)]
    pub smoke: bool,
    /// Folder for the network's PKI, configuration and logs.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// First port; the nodes use ten ports from here.
    #[arg(long, default_value_t = 19441)]
    pub base_port: u16,
}

const PROVINCE: &str = "620000000000";
const CITY: &str = "621000000000";
const XIFENG: &str = "621002000000";
const TOWNSHIP: &str = "621002100000";
const HUAN: &str = "621022000000";

fn topology(base: u16) -> Topology {
    let nodes = [
        (PROVINCE, "甘肃省政务数据交换节点", None),
        (CITY, "庆阳市政务数据交换节点", Some(PROVINCE)),
        (XIFENG, "西峰区政务数据交换节点", Some(CITY)),
        (TOWNSHIP, "肖金镇政务数据交换节点", Some(XIFENG)),
        (HUAN, "环县政务数据交换节点", Some(CITY)),
    ];
    Topology {
        network_base_url: format!("https://localhost:{}", base + 1),
        nodes: nodes
            .iter()
            .enumerate()
            .map(|(i, (region, name, parent))| TopologyNode {
                region: (*region).into(),
                name: (*name).into(),
                exchange: ([127, 0, 0, 1], base + 2 * i as u16).into(),
                web: ([127, 0, 0, 1], base + 2 * i as u16 + 1).into(),
                parent: parent.map(Into::into),
            })
            .collect(),
    }
}

fn default_dir() -> PathBuf {
    let base = pgembed::Config::default_base_dir();
    base.parent().map_or_else(
        || PathBuf::from("/var/tmp/exchange-gateway-demo"),
        |p| p.join("demo"),
    )
}

/// A running node process.
struct NodeProcess {
    region: String,
    config_file: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl NodeProcess {
    async fn start(&mut self, dir: &Path) -> anyhow::Result<()> {
        let ready = dir.join(format!("{}.ready", self.region));
        let _ = std::fs::remove_file(&ready);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = Command::new(std::env::current_exe()?)
            .arg("--config")
            .arg(&self.config_file)
            .args(["serve", "--ready-file"])
            .arg(&ready)
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready.exists() {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                anyhow::bail!(
                    "node {} exited with {status}; see {}",
                    self.region,
                    self.log.display()
                );
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "node {} did not start; see {}",
                self.region,
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }
}

pub async fn run(args: DemoArgs, config: &Config) -> anyhow::Result<()> {
    let dir = args.dir.clone().unwrap_or_else(default_dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let topology = topology(args.base_port);
    let regions = domain::regions::RegionTable::bundled()?;
    let pki = dir.join("pki");
    crate::pki::init_network(&pki, &topology, &regions, true)?;

    // A fresh network every run: the PKI above is new, so data an earlier run signed with
    // its keys would not verify under this run's trust bundle.
    for n in &topology.nodes {
        drop_database(config, &format!("gw_{}", n.region)).await?;
    }
    // One database per node on the same PostgreSQL (the embedded one unless a URL is set).
    let mut nodes = Vec::new();
    for n in &topology.nodes {
        let config_file = pki.join(&n.region).join("gateway.toml");
        let mut node_config = Config::load(Some(&config_file))?;
        node_config.database.url = config
            .database
            .url
            .as_ref()
            .map(|u| with_database(u, &format!("gw_{}", n.region)));
        node_config.database.embedded = crate::config::EmbeddedConfig {
            database: format!("gw_{}", n.region),
            ..config.database.embedded.clone()
        };
        if let Some(url) = &config.database.url {
            ensure_database(url, &format!("gw_{}", n.region)).await?;
        }
        let pool = crate::db::connect(&node_config).await?;
        let db = pool.get().await?;
        let list: Vec<crate::pki::DevPrincipal> =
            serde_json::from_slice(&std::fs::read(pki.join(&n.region).join("principals.json"))?)?;
        for p in list {
            let p = crate::principals::Principal {
                id: p.id,
                role: p.role,
                department: p.department,
                region_code: p.region,
                status: "active".into(),
                display_name: p.name,
                cert_not_after: None,
            };
            crate::principals::add(&db, &p, true).await?;
        }
        nodes.push(NodeProcess {
            region: n.region.clone(),
            config_file,
            log: dir.join(format!("{}.log", n.region)),
            child: None,
        });
    }
    // The node processes inherit how to reach the database.
    // SAFETY: set before any node process is spawned; this process reads no more configuration.
    unsafe {
        match &config.database.url {
            Some(url) => std::env::set_var("GATEWAY_DATABASE__URL", url),
            None => std::env::remove_var("GATEWAY_DATABASE__URL"),
        }
    }
    for node in &mut nodes {
        if let Some(url) = &config.database.url {
            // Each node its own database on the configured server.
            unsafe {
                std::env::set_var(
                    "GATEWAY_DATABASE__URL",
                    with_database(url, &format!("gw_{}", node.region)),
                )
            };
        }
        node.start(&dir).await?;
    }
    println!(
        "network of {} nodes is up (logs in {}):",
        nodes.len(),
        dir.display()
    );
    for n in &topology.nodes {
        println!(
            "  {} {:<28} exchange https://localhost:{}  web https://localhost:{}",
            n.region,
            n.name,
            n.exchange.port(),
            n.web.port()
        );
    }
    let result = if args.smoke {
        smoke(&topology, &pki, &mut nodes, &dir).await
    } else {
        println!(
            "\npush at the township, e.g.:\n  curl --cacert {p}/{t}/ca.crt --cert {p}/{t}/clients/n{t}-market-regulation.crt \\\n       --key {p}/{t}/clients/n{t}-market-regulation.key --data-binary @FILE https://localhost:{port}/v1/ingest/market-regulation\nCtrl-C stops the network.",
            p = pki.display(),
            t = TOWNSHIP,
            port = topology.nodes[3].exchange.port()
        );
        crate::server::shutdown_signal().await;
        Ok(())
    };
    for node in &mut nodes {
        node.stop().await;
    }
    result
}

fn with_database(url: &str, name: &str) -> String {
    match url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => url.to_owned(),
    }
}

async fn drop_database(config: &Config, name: &str) -> anyhow::Result<()> {
    match &config.database.url {
        Some(url) => {
            let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
            tokio::spawn(conn);
            client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await?;
        }
        None => {
            let pg = crate::db::embedded::pg_config(&config.database.embedded);
            let name = name.to_owned();
            tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                pgembed::start(&pg)?;
                pgembed::drop_database(&pg, &name)?;
                Ok(())
            })
            .await??;
        }
    }
    Ok(())
}

async fn ensure_database(url: &str, name: &str) -> anyhow::Result<()> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    if client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await?
        .is_none()
    {
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await?;
    }
    Ok(())
}

fn client(
    pki: &Path,
    t: &Topology,
    region: &str,
    principal: &str,
    web: bool,
) -> anyhow::Result<ExchangeClient> {
    let n = t
        .nodes
        .iter()
        .find(|n| n.region == region)
        .context("node")?;
    let port = if web { n.web.port() } else { n.exchange.port() };
    let dir = pki.join(region);
    ExchangeClient::new(
        &format!("https://localhost:{port}"),
        &dir.join("ca.crt"),
        &dir.join(format!("clients/{principal}.crt")),
        &dir.join(format!("clients/{principal}.key")),
    )
}

/// The market-regulation example batch, moved to `region`, with case numbers tagged.
fn sample(region: &str, tag: &str) -> Vec<u8> {
    let mut batch: Value = serde_json::from_str(include_str!(
        "../../adapters/fixtures/market-regulation/batch-valid.json"
    ))
    .expect("fixture");
    for r in batch["records"].as_array_mut().into_iter().flatten() {
        r["areaCode"] = json!(region);
        r["caseNo"] = json!(format!(
            "{}-{tag}",
            r["caseNo"].as_str().unwrap_or_default()
        ));
    }
    serde_json::to_vec(&batch).expect("serializes")
}

async fn push(pki: &Path, t: &Topology, region: &str, body: Vec<u8>) -> anyhow::Result<Value> {
    let c = client(
        pki,
        t,
        region,
        &format!("n{region}-market-regulation"),
        false,
    )?;
    let resp = c
        .post("/v1/ingest/market-regulation", "application/json", body)
        .await?;
    anyhow::ensure!(
        resp.status.is_success(),
        "push at {region}: {}",
        String::from_utf8_lossy(&resp.body)
    );
    resp.json()
}

/// How many records node `region` holds, asked through its own records query (as its
/// supervisor, audited like any lookup).
async fn held(pki: &Path, t: &Topology, region: &str, case_tag: &str) -> anyhow::Result<usize> {
    let c = client(pki, t, region, &format!("n{region}-supervisor"), true)?;
    let path = format!("/v1/records?region={region}&history=true&limit=500&purpose=supervision");
    let resp = c.get(&path).await?;
    let body = resp.json()?;
    Ok(body["records"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|r| {
                    r["record"]["case_no"]
                        .as_str()
                        .is_some_and(|c| c.ends_with(case_tag))
                })
                .count()
        })
        .unwrap_or(0))
}

async fn wait_for(
    what: &str,
    secs: u64,
    mut check: impl AsyncFnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if check().await.unwrap_or(false) {
            println!("  ok: {what}");
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "FAILED: {what} (after {secs}s)");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn smoke(
    t: &Topology,
    pki: &Path,
    nodes: &mut [NodeProcess],
    dir: &Path,
) -> anyhow::Result<()> {
    println!("\nsmoke test:");
    let run = uuid::Uuid::now_v7().simple().to_string()[..8].to_owned();
    let first = format!("S1{run}");
    let receipt = push(pki, t, TOWNSHIP, sample(TOWNSHIP, &first)).await?;
    anyhow::ensure!(
        receipt["summary"]["accepted"] == 3,
        "township push: {receipt}"
    );
    println!("  ok: 3 records accepted at the township {TOWNSHIP}");
    wait_for(
        "the township's records reached the province",
        60,
        async || Ok(held(pki, t, PROVINCE, &first).await? == 3),
    )
    .await?;

    let issued = push(pki, t, XIFENG, sample(XIFENG, &format!("C{run}"))).await?;
    let id = issued["records"][0]["certificates"][0]["identifier"]
        .as_str()
        .context("a certificate")?
        .to_owned();
    let approver = client(pki, t, HUAN, &format!("n{HUAN}-approver"), true)?;
    let path = format!("/v1/certificates/{id}?purpose=approval");
    wait_for(
        "a Xifeng certificate fetched and verified from Huan county",
        60,
        async || {
            let body = approver.get(&path).await?.json()?;
            Ok(body["valid"] == true
                && body["checks"]["signature"] == "pass"
                && body["checks"]["issuer_trusted"] == "pass")
        },
    )
    .await?;

    let city = nodes
        .iter_mut()
        .find(|n| n.region == CITY)
        .context("city")?;
    city.stop().await;
    println!("  .. city node stopped");
    let second = format!("S2{run}");
    let receipt = push(pki, t, TOWNSHIP, sample(TOWNSHIP, &second)).await?;
    anyhow::ensure!(
        receipt["summary"]["accepted"] == 3,
        "township push with the city down: {receipt}"
    );
    println!("  ok: the township accepted 3 more records while the city was down");
    tokio::time::sleep(Duration::from_secs(2)).await;
    wait_for(
        "the county held them, waiting for the city",
        30,
        async || Ok(held(pki, t, XIFENG, &second).await? == 3),
    )
    .await?;
    city.start(dir).await?;
    println!("  .. city node restarted");
    wait_for(
        "nothing lost: all 6 township records at the province, each once",
        90,
        async || {
            Ok(held(pki, t, PROVINCE, &first).await? == 3
                && held(pki, t, PROVINCE, &second).await? == 3)
        },
    )
    .await?;
    println!("smoke test passed");
    Ok(())
}
