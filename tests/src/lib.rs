//! End-to-end test harness: every test talks to the real `gateway` binary over real mutual TLS,
//! backed by a real PostgreSQL.
//!
//! - [`cluster`]: one PostgreSQL server per test run, started by the binary's own
//!   `gateway db start` (so that command is exercised too) under /var/tmp.
//! - [`Node`]: a fresh database, a fresh dev PKI (`gateway pki init`), and a `gateway serve`
//!   process on a free port; dropped at the end of the test (process killed, database dropped).
//! - [`browser`]: headless Chromium over WebDriver, for the pages (`/ops`, `/verify`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use gateway::client::ExchangeClient;

pub mod browser;

/// The `gateway` binary: `$E2E_GATEWAY_BIN`, or the one cargo built next to this test
/// executable. (Not `GATEWAY_*`: the gateway reads those as its own configuration.)
pub fn gateway_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("E2E_GATEWAY_BIN") {
        return p.into();
    }
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/gateway
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("gateway");
    assert!(
        bin.exists(),
        "{} not found: run `cargo build --bin gateway` first (the README's test command does)",
        bin.display()
    );
    bin
}

/// Repository root (fixtures live there).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(repo().join("adapters/fixtures").join(path))
        .unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

pub struct Cluster {
    pub base_dir: PathBuf,
    pub port: u16,
    /// URL of the cluster's `gateway` database, used to create and drop per-test databases.
    pub admin_url: String,
}

fn cluster_env(cmd: &mut Command, base_dir: &Path, port: u16) {
    cmd.env("GATEWAY_DATABASE__EMBEDDED__BASE_DIR", base_dir)
        .env("GATEWAY_DATABASE__EMBEDDED__PORT", port.to_string())
        .env_remove("GATEWAY_DATABASE__URL")
        .env_remove("GATEWAY_CONFIG");
}

/// The run's PostgreSQL, started (or reused) with `gateway db start`.
pub fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let base_dir = PathBuf::from(
            std::env::var("E2E_PG_DIR")
                .unwrap_or_else(|_| "/var/tmp/exchange-gateway-e2e/pg".into()),
        );
        let port: u16 = std::env::var("E2E_PG_PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(55439);
        let run = |sub: &str| {
            let mut cmd = Command::new(gateway_bin());
            cmd.args(["db", sub]);
            cluster_env(&mut cmd, &base_dir, port);
            let out = cmd.output().expect("run gateway db");
            assert!(
                out.status.success(),
                "gateway db {sub} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        };
        run("start");
        let admin_url = run("url").trim().to_owned();
        Cluster {
            base_dir,
            port,
            admin_url,
        }
    })
}

async fn admin() -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(&cluster().admin_url, tokio_postgres::NoTls)
        .await
        .expect("connect to the test cluster");
    tokio::spawn(conn);
    client
}

/// A running gateway node with its own database and PKI.
pub struct Node {
    pub dir: tempfile::TempDir,
    pub db_name: String,
    pub db_url: String,
    /// True when the node finds its database through the embedded settings, not a URL.
    pub embedded: bool,
    /// The node's PKI folder (its own dev PKI, or its folder of a network's).
    pub pki_dir: PathBuf,
    /// A network node's generated gateway.toml (listen addresses, parent, children).
    pub config_file: Option<PathBuf>,
    /// The exchange listener (mTLS required).
    pub addr: std::net::SocketAddr,
    /// The web listener (client certificates optional).
    pub web_addr: std::net::SocketAddr,
    /// The MLLP listener (HL7), enabled for every test node.
    pub mllp_addr: Option<std::net::SocketAddr>,
    child: Option<Child>,
    /// Extra `GATEWAY_*` settings for this node's commands (see [`Node::set_env`]).
    extra_env: Vec<(String, String)>,
}

impl Node {
    pub fn pki(&self) -> PathBuf {
        self.pki_dir.clone()
    }

    pub fn base_url(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    pub fn web_url(&self) -> String {
        format!("https://localhost:{}", self.web_addr.port())
    }

    /// A client of the web listener presenting `principal`'s certificate.
    pub fn web_client(&self, principal: &str) -> ExchangeClient {
        let clients = self.pki().join("clients");
        ExchangeClient::new(
            &self.web_url(),
            &self.pki().join("ca.crt"),
            &clients.join(format!("{principal}.crt")),
            &clients.join(format!("{principal}.key")),
        )
        .expect("client")
    }

    /// A sample of the node's Prometheus metrics (`name` with its labels, as rendered), read
    /// by its operator (`n{region}-operator`).
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let region = self.pki_dir.file_name()?.to_str()?;
        self.metric_as(&format!("n{region}-operator"), name).await
    }

    /// [`Node::metric`], read by `operator`.
    pub async fn metric_as(&self, operator: &str, name: &str) -> Option<f64> {
        let r = self
            .web_client(operator)
            .get("/metrics")
            .await
            .expect("GET /metrics");
        String::from_utf8_lossy(&r.body)
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} "))?.trim().parse().ok())
    }

    /// A client of the web listener without a certificate (public, or with a session cookie).
    pub fn anonymous_web(&self) -> ExchangeClient {
        ExchangeClient::anonymous(&self.web_url(), &self.pki().join("ca.crt")).expect("client")
    }

    /// Create a staff account with `gateway users add` (password on stdin).
    pub fn add_user(&self, username: &str, role: &str, region: &str, password: &str) {
        use std::io::Write;
        let mut child = self
            .command()
            .args(["users", "add", username, "--role", role, "--region", region])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("gateway users add");
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "users add: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Log in on the web listener; returns the `Cookie` header value of the session.
    pub async fn login(&self, username: &str, password: &str) -> Option<String> {
        let body = serde_json::json!({"username": username, "password": password}).to_string();
        let resp = self
            .anonymous_web()
            .post("/v1/session", "application/json", body.into_bytes())
            .await
            .unwrap();
        if !resp.status.is_success() {
            return None;
        }
        let set = resp.headers.get("set-cookie")?.to_str().ok()?;
        Some(set.split(';').next()?.to_owned())
    }

    /// A `gateway` command with this node's configuration in its environment.
    pub fn command(&self) -> Command {
        let mut cmd = node_command(
            self.dir.path(),
            &self.database(),
            &self.pki_dir,
            self.config_file.as_deref(),
        );
        cmd.envs(self.extra_env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Set a configuration variable for this node's later commands (and its next `spawn`).
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.extra_env.push((key.to_owned(), value.to_owned()));
    }

    fn database(&self) -> Database {
        if self.embedded {
            Database::Embedded(self.db_name.clone())
        } else {
            Database::Url(self.db_url.clone())
        }
    }

    /// Run a CLI command against this node; panics with its output when it fails.
    pub fn cli(&self, args: &[&str]) -> Output {
        let out = self.command().args(args).output().expect("run gateway");
        assert!(
            out.status.success(),
            "gateway {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// An mTLS client presenting the dev client certificate of `principal`.
    pub fn client(&self, principal: &str) -> ExchangeClient {
        let clients = self.pki().join("clients");
        ExchangeClient::new(
            &self.base_url(),
            &self.pki().join("ca.crt"),
            &clients.join(format!("{principal}.crt")),
            &clients.join(format!("{principal}.key")),
        )
        .expect("client")
    }

    /// A direct connection to the node's database, for asserting what was stored.
    pub async fn db(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.db_url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        client
    }

    pub async fn count(&self, sql: &str) -> i64 {
        self.db()
            .await
            .query_one(sql, &[])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .get(0)
    }

    /// What the process wrote to stderr so far (its JSON log), lines logged up to now included:
    /// the node writes its lines every `log_writer::INTERVAL`, so this waits a few of those.
    pub fn log(&self) -> String {
        std::thread::sleep(gateway::log_writer::INTERVAL * 5);
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }

    /// Start a node: fresh database, `gateway pki init`, `gateway serve` on a free port.
    pub async fn start() -> Node {
        Self::start_with(false).await
    }

    /// Like [`Node::start`], then restarted with extra `GATEWAY_*` settings (`pki init` and the
    /// first start run with the defaults).
    pub async fn start_configured(env: &[(&str, &str)]) -> Node {
        let mut node = Self::start().await;
        node.stop();
        for (k, v) in env {
            node.set_env(k, v);
        }
        node.spawn().await;
        node
    }

    /// Like [`Node::start`], but with no database URL: the gateway finds (and if needed starts)
    /// the embedded PostgreSQL itself and creates its database there.
    pub async fn start_embedded() -> Node {
        Self::start_with(true).await
    }

    async fn start_with(embedded: bool) -> Node {
        let db_name = format!("e2e_{}", uuid::Uuid::now_v7().simple());
        if !embedded {
            let sql = format!("CREATE DATABASE {db_name}");
            admin()
                .await
                .batch_execute(&sql)
                .await
                .expect("create database");
        }
        let db_url = replace_database(&cluster().admin_url, &db_name);
        let dir = tempfile::Builder::new()
            .prefix("gateway-e2e-")
            .tempdir()
            .expect("temp dir");
        let pki_dir = dir.path().join("pki");
        let mut node = Node {
            dir,
            db_name,
            db_url,
            embedded,
            pki_dir,
            config_file: None,
            addr: ([127, 0, 0, 1], 0).into(),
            web_addr: ([127, 0, 0, 1], 0).into(),
            mllp_addr: None,
            child: None,
            extra_env: Vec::new(),
        };
        let pki = node.pki();
        let out = node
            .command()
            .args(["pki", "init", "--out"])
            .arg(pki)
            .output()
            .expect("pki init");
        assert!(
            out.status.success(),
            "pki init: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        node.spawn().await;
        node
    }

    /// Start `gateway serve` (again) and wait until it has bound its listener.
    pub async fn spawn(&mut self) {
        assert!(self.child.is_none(), "already running");
        let (child, ready) = self.serve_process("ready.json", "serve.log").await;
        self.addr = ready["exchange"].as_str().unwrap().parse().unwrap();
        self.web_addr = ready["web"].as_str().unwrap().parse().unwrap();
        self.mllp_addr = ready["mllp"].as_str().map(|a| a.parse().unwrap());
        self.child = Some(child);
    }

    /// Start a `gateway serve` process of this node (this node's database, PKI and settings;
    /// for a node of [`Node::start`], listeners on free ports) writing its ready file and log to these names in the node's
    /// folder, and wait until it has bound its listeners. Returns the process and its ready
    /// file (`exchange`, `web`, `mllp`, `pid`). [`Node::spawn`] starts the node's own; a test
    /// may start more, as several processes serving one node.
    pub async fn serve_process(
        &self,
        ready_file: &str,
        log_file: &str,
    ) -> (Child, serde_json::Value) {
        let ready = self.dir.path().join(ready_file);
        let _ = std::fs::remove_file(&ready);
        let log_path = self.dir.path().join(log_file);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap();
        let mut child = self
            .command()
            .args(["serve", "--ready-file"])
            .arg(&ready)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn gateway serve");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(text) = std::fs::read_to_string(&ready)
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
            {
                return (child, v);
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!("gateway serve exited with {status}:\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "gateway serve did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL the process: no shutdown, no cleanup, as in a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill");
            child.wait().expect("wait");
        }
    }

    /// Freeze the process (SIGSTOP): it keeps its sockets but answers nothing, like a node that
    /// hangs. [`Node::resume`] thaws it.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("running");
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill {signal}");
    }

    /// Send SIGTERM (a graceful shutdown) without waiting; [`Node::stop`] waits.
    pub fn terminate(&self) {
        self.signal("-TERM");
    }

    /// Whether the `gateway serve` process has exited (reaping it if so).
    pub fn has_exited(&mut self) -> bool {
        match self.child.as_mut().map(|c| c.try_wait()) {
            Some(Ok(Some(_))) => {
                self.child = None;
                true
            }
            Some(_) => false,
            None => true,
        }
    }

    /// Run a CLI command against this node and return its output, failed or not.
    pub fn cli_output(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("run gateway")
    }

    /// Stop the process (SIGTERM, then wait).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // A paused process handles SIGTERM only once thawed.
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while child.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop();
        // Drop the database from a thread with its own runtime: Drop cannot await.
        let (url, name) = (cluster().admin_url.clone(), self.db_name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                if let Ok((client, conn)) =
                    tokio_postgres::connect(&url, tokio_postgres::NoTls).await
                {
                    tokio::spawn(conn);
                    let _ = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

enum Database {
    Url(String),
    /// The run's cluster through the embedded settings, with this database name.
    Embedded(String),
}

fn node_command(
    dir: &Path,
    database: &Database,
    pki_dir: &Path,
    config_file: Option<&Path>,
) -> Command {
    let mut cmd = Command::new(gateway_bin());
    if let Some(config) = config_file {
        // A network node: listen addresses, PKI and federation come from its gateway.toml;
        // tests do not wait the production intervals for a hung tier or new reference data.
        cmd.env("GATEWAY_CONFIG", config)
            .env("GATEWAY_FEDERATION__QUERY_TIMEOUT_MS", "3000")
            .env("GATEWAY_FEDERATION__REFERENCE_INTERVAL_MS", "300")
            .env("GATEWAY_TRANSPARENCY__SEQUENCE_INTERVAL_MS", "200")
            .env("GATEWAY_TRANSPARENCY__WITNESS_INTERVAL_MS", "300");
    } else {
        cmd.env_remove("GATEWAY_CONFIG")
            .env("GATEWAY_PKI_DIR", pki_dir)
            .env("GATEWAY_EXCHANGE__LISTEN", "127.0.0.1:0")
            .env("GATEWAY_WEB__LISTEN", "127.0.0.1:0")
            .env("GATEWAY_MLLP__LISTEN", "127.0.0.1:0")
            // A parent that is never reachable: records queue in the outbox, as for a node
            // whose parent is down.
            .env("GATEWAY_FEDERATION__PARENT__REGION", "620000000000")
            .env("GATEWAY_FEDERATION__PARENT__URL", "https://localhost:9")
            .env("GATEWAY_TRANSPARENCY__SEQUENCE_INTERVAL_MS", "200");
    }
    match database {
        Database::Url(url) => {
            cmd.env("GATEWAY_DATABASE__URL", url);
        }
        Database::Embedded(name) => {
            let c = cluster();
            cluster_env(&mut cmd, &c.base_dir, c.port);
            cmd.env("GATEWAY_DATABASE__EMBEDDED__DATABASE", name);
        }
    }
    // The audit chain links rows and sends its head up within a test's patience.
    cmd.env("GATEWAY_AUDIT__CHAIN_INTERVAL_MS", "100")
        .env("GATEWAY_AUDIT__HEAD_INTERVAL_MS", "300");
    // Supervision levels move with time within a test's patience too.
    cmd.env("GATEWAY_SUPERVISION__EVALUATE_INTERVAL_MS", "200")
        .env("GATEWAY_SUPERVISION__ALERTS_GAUGE_INTERVAL_MS", "200");
    cmd.env("GATEWAY_LOG__LEVEL", "info").current_dir(dir);
    cmd
}

/// `url` with its database name replaced by `name`.
pub fn replace_database(url: &str, name: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("database URL has a path");
    format!("{base}/{name}")
}

/// A database of its own on the shared cluster with every migration applied, and a client of
/// it: for tests that take a store back to an older schema and migrate it again.
pub async fn migrated_database() -> tokio_postgres::Client {
    let url = new_database().await;
    let (mut db, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect to the new database");
    tokio::spawn(conn);
    gateway::db::migrate::run(&mut db)
        .await
        .expect("migrations");
    db
}

/// [`migrated_database`] as the gateway's own pool: for tests of its database functions.
pub async fn migrated_pool() -> deadpool_postgres::Pool {
    let url = new_database().await;
    gateway::db::connect_to(&url, &gateway::config::Config::default())
        .await
        .expect("connect and migrate")
}

/// A new empty database on the shared cluster; its URL.
async fn new_database() -> String {
    let name = format!("e2e_{}", uuid::Uuid::now_v7().simple());
    let admin_url = &cluster().admin_url;
    let (admin, conn) = tokio_postgres::connect(admin_url, tokio_postgres::NoTls)
        .await
        .expect("connect to the cluster");
    tokio::spawn(conn);
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("CREATE DATABASE");
    replace_database(admin_url, &name)
}

/// A PostgreSQL server of one test's own (`gateway db start` in a fresh folder on a free port),
/// for tests that stop and start the database: the run's shared cluster must never be stopped.
/// Stopped and removed when dropped.
pub struct OwnCluster {
    pub base_dir: PathBuf,
    pub port: u16,
    /// URL of its `gateway` database.
    pub admin_url: String,
}

impl OwnCluster {
    pub fn start() -> OwnCluster {
        // Under /var/tmp: as root the server runs as `postgres`, which must reach the folder.
        let base_dir = PathBuf::from(format!(
            "/var/tmp/exchange-gateway-e2e-own/{}",
            uuid::Uuid::now_v7().simple()
        ));
        let mut own = OwnCluster {
            base_dir,
            port: free_port(),
            admin_url: String::new(),
        };
        own.ctl("start");
        own.admin_url = String::from_utf8(own.ctl("url").stdout)
            .unwrap()
            .trim()
            .to_owned();
        own
    }

    /// `gateway db <sub>` on this cluster; panics when it fails.
    pub fn ctl(&self, sub: &str) -> Output {
        let mut cmd = Command::new(gateway_bin());
        cmd.args(["db", sub]);
        cluster_env(&mut cmd, &self.base_dir, self.port);
        let out = cmd.output().expect("run gateway db");
        assert!(
            out.status.success(),
            "gateway db {sub} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let mut cmd = Command::new(gateway_bin());
        cmd.args(["db", "stop"]);
        cluster_env(&mut cmd, &self.base_dir, self.port);
        let _ = cmd.output();
        let _ = std::fs::remove_dir_all(&self.base_dir);
    }
}

impl Node {
    /// A node (fresh PKI and database) whose database is on `own` instead of the run's cluster.
    pub async fn start_on(own: &OwnCluster) -> Node {
        let mut node = Node::start_embedded().await;
        node.stop();
        node.set_env(
            "GATEWAY_DATABASE__EMBEDDED__BASE_DIR",
            own.base_dir.to_str().unwrap(),
        );
        node.set_env("GATEWAY_DATABASE__EMBEDDED__PORT", &own.port.to_string());
        node.db_url = replace_database(&own.admin_url, &node.db_name);
        // `pki init` registered the dev principals in the run's cluster; register them here.
        let principals = node.pki().join("principals.json");
        node.cli(&["principals", "import", principals.to_str().unwrap()]);
        node.spawn().await;
        node
    }
}

/// How long until `check` holds, trying without pause for up to five seconds: for what a
/// process learns from another by a PostgreSQL notification (the row cache,
/// `gateway/src/db/row_cache.rs`), within milliseconds of the commit rather than at once.
pub async fn seen_within<F, Fut>(what: &str, mut check: F) -> std::time::Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "not seen within five seconds: {what}"
        );
    }
    started.elapsed()
}

/// Encode UTF-8 text as GBK (for fixtures edited in a test).
pub fn gbk(text: &str) -> Vec<u8> {
    encoding_rs::GBK.encode(text).0.into_owned()
}

/// Decode GBK bytes.
pub fn from_gbk(bytes: &[u8]) -> String {
    encoding_rs::GBK.decode(bytes).0.into_owned()
}
/// A network of nodes from a topology: one CA and trust bundle for all (`gateway pki init
/// --topology`), one database per node on the run's PostgreSQL, each node started with its
/// generated gateway.toml.
pub struct Network {
    pub dir: tempfile::TempDir,
    pub nodes: Vec<Node>,
}

/// A free loopback port for a node's fixed listen address. Taken from below the kernel's
/// ephemeral range (32768-60999 on Linux), where port-0 listeners and outgoing connections of
/// concurrent tests draw theirs, so no one else picks it between this check and the node's
/// bind; a counter keeps this process's tests apart, the pid keeps test runs apart.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let offset = (std::process::id() % 600) as u16 * 20;
    loop {
        let port = 20_000 + (offset + NEXT.fetch_add(1, Ordering::Relaxed)) % 12_000;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl Network {
    /// `nodes`: (region, name, parent region), parents before children.
    pub async fn start(nodes: &[(&str, &str, Option<&str>)]) -> Network {
        let dir = tempfile::Builder::new()
            .prefix("gateway-net-")
            .tempdir()
            .expect("temp dir");
        let listed: Vec<serde_json::Value> = nodes
            .iter()
            .map(|(region, name, parent)| {
                serde_json::json!({
                    "region": region, "name": name, "parent": parent,
                    "exchange": format!("127.0.0.1:{}", free_port()),
                    "web": format!("127.0.0.1:{}", free_port()),
                })
            })
            .collect();
        let topology =
            serde_json::json!({"network_base_url": "https://localhost:9444", "nodes": listed});
        let topo_path = dir.path().join("topology.json");
        std::fs::write(&topo_path, serde_json::to_vec_pretty(&topology).unwrap()).unwrap();
        let pki = dir.path().join("pki");
        let out = Command::new(gateway_bin())
            .args(["pki", "init", "--topology"])
            .arg(&topo_path)
            .arg("--out")
            .arg(&pki)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pki init --topology: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut started = Vec::new();
        for (region, _, _) in nodes {
            let db_name = format!("e2e_{}", uuid::Uuid::now_v7().simple());
            let sql = format!("CREATE DATABASE {db_name}");
            admin()
                .await
                .batch_execute(&sql)
                .await
                .expect("create database");
            let node_dir = pki.join(region);
            let mut node = Node {
                dir: tempfile::Builder::new()
                    .prefix(&format!("gateway-{region}-"))
                    .tempdir()
                    .unwrap(),
                db_url: replace_database(&cluster().admin_url, &db_name),
                db_name,
                embedded: false,
                config_file: Some(node_dir.join("gateway.toml")),
                pki_dir: node_dir.clone(),
                addr: ([127, 0, 0, 1], 0).into(),
                web_addr: ([127, 0, 0, 1], 0).into(),
                mllp_addr: None,
                child: None,
                extra_env: Vec::new(),
            };
            node.cli(&[
                "principals",
                "import",
                node_dir.join("principals.json").to_str().unwrap(),
            ]);
            node.spawn().await;
            started.push(node);
        }
        Network {
            dir,
            nodes: started,
        }
    }

    pub fn node(&self, region: &str) -> &Node {
        self.nodes
            .iter()
            .find(|n| n.pki_dir.ends_with(region))
            .expect("a node of the network")
    }

    pub fn node_mut(&mut self, region: &str) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|n| n.pki_dir.ends_with(region))
            .expect("a node of the network")
    }

    /// Wait until `check` holds (polling), or fail after `secs`.
    pub async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !check().await {
            assert!(Instant::now() < deadline, "timed out waiting for: {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The demo network of the federation tests: Gansu province → Qingyang city → Xifeng district →
/// Xiaojin township, and Huan county beside Xifeng.
pub mod gansu {
    use super::Network;

    pub const PROVINCE: &str = "620000000000";
    pub const CITY: &str = "621000000000";
    pub const XIFENG: &str = "621002000000";
    /// 肖金镇
    pub const TOWNSHIP: &str = "621002100000";
    pub const HUAN: &str = "621022000000";

    pub async fn network() -> Network {
        Network::start(&[
            (PROVINCE, "甘肃省节点", None),
            (CITY, "庆阳市节点", Some(PROVINCE)),
            (XIFENG, "西峰区节点", Some(CITY)),
            (TOWNSHIP, "肖金镇节点", Some(XIFENG)),
            (HUAN, "环县节点", Some(CITY)),
        ])
        .await
    }
}
