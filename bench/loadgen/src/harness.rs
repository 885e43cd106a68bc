//! The processes under test, started the way an operator would: a private PostgreSQL
//! (`pgembed`, as `gateway serve` starts its embedded database), `gateway pki init`, and
//! `gateway serve` with `GATEWAY_*` variables (the dev node), or a two-node network from
//! `gateway pki init --topology` (parent and child, each with its generated `gateway.toml`);
//! and nginx as a TLS reverse proxy.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};

/// A free loopback port (bound and released; nothing else on this machine races for it).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Where the run keeps its state, and the PostgreSQL server it started.
pub struct Env {
    pub work: PathBuf,
    pub gateway_bin: PathBuf,
    pg: pgembed::Config,
    pub pg_pid: u32,
    lock: PathBuf,
}

/// One run at a time per work folder: a second one would drop the first one's databases and
/// stop its PostgreSQL. `work/run.lock` holds the running loadgen's pid; a lock whose process
/// is gone is taken over.
fn lock(work: &Path) -> anyhow::Result<PathBuf> {
    let path = work.join("run.lock");
    for _ in 0..2 {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                use std::io::Write;
                write!(f, "{}", std::process::id())?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let pid = std::fs::read_to_string(&path).unwrap_or_default();
                let pid = pid.trim();
                if !pid.is_empty() && Path::new("/proc").join(pid).exists() {
                    bail!(
                        "another run (pid {pid}) is using {}: wait for it, or give this one its own \
                         BENCH_WORK and BENCH_PG_PORT",
                        work.display()
                    );
                }
                std::fs::remove_file(&path)?;
            }
            Err(e) => return Err(e).with_context(|| format!("{}", path.display())),
        }
    }
    bail!("cannot take {}", path.display())
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.lock);
    }
}

impl Env {
    /// Start (or reuse) the private PostgreSQL under `work/pg` on `pg_port`.
    pub fn start(work: PathBuf, gateway_bin: PathBuf, pg_port: u16) -> anyhow::Result<Env> {
        std::fs::create_dir_all(&work)?;
        let lock = lock(&work)?;
        let pg = pgembed::Config::new(work.join("pg"), pg_port);
        let started = pgembed::start(&pg)
            .context("start PostgreSQL")
            .and_then(|status| status.pid.context("PostgreSQL has no pid"));
        let pg_pid = match started {
            Ok(pid) => pid,
            Err(e) => {
                let _ = std::fs::remove_file(&lock);
                return Err(e);
            }
        };
        Ok(Env {
            work,
            gateway_bin,
            pg,
            pg_pid,
            lock,
        })
    }

    /// Load `pg_stat_statements` (`--perf`) or not: set `shared_preload_libraries` in the run's
    /// cluster and restart it when that changes.
    pub async fn statement_stats(&mut self, on: bool) -> anyhow::Result<()> {
        let url = pgembed::url(&self.pg, "postgres")?;
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        let loaded: String = client
            .query_one("SHOW shared_preload_libraries", &[])
            .await?
            .get(0);
        if loaded.contains("pg_stat_statements") == on {
            return Ok(());
        }
        let sql = if on {
            "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"
        } else {
            "ALTER SYSTEM RESET shared_preload_libraries"
        };
        client.batch_execute(sql).await?;
        drop(client);
        pgembed::stop(&self.pg)?;
        let status = pgembed::start(&self.pg).context("restart PostgreSQL")?;
        self.pg_pid = status.pid.context("PostgreSQL has no pid")?;
        Ok(())
    }

    /// Have PostgreSQL log what a latency stall may have waited for: every autovacuum and
    /// autoanalyze run, and statements over 20 ms (without their parameters: a batch's arrays
    /// are megabytes), to `pg/postgres.log` beside the node's own log. Logging only; reloaded,
    /// not restarted.
    pub async fn log_slow_work(&self) -> anyhow::Result<()> {
        let url = pgembed::url(&self.pg, "postgres")?;
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        // One at a time: ALTER SYSTEM refuses to run in the implicit transaction of a batch.
        for sql in [
            "ALTER SYSTEM SET log_autovacuum_min_duration = 0",
            "ALTER SYSTEM SET log_min_duration_statement = '20ms'",
            "ALTER SYSTEM SET log_parameter_max_length = 0",
            "SELECT pg_reload_conf()",
        ] {
            client.batch_execute(sql).await?;
        }
        Ok(())
    }

    pub fn stop_postgres(&self) {
        if let Err(e) = pgembed::stop(&self.pg) {
            eprintln!("loadgen: stopping PostgreSQL: {e}");
        }
    }

    /// An empty database `name` (dropped first if a previous run left it).
    pub fn fresh_database(&self, name: &str) -> anyhow::Result<String> {
        let _ = pgembed::drop_database(&self.pg, name);
        pgembed::ensure_database(&self.pg, name)?;
        Ok(pgembed::url(&self.pg, name)?)
    }

    /// Drop database `name` (a ceiling's, once measured): its rows would otherwise be vacuumed
    /// and checkpointed while the node is measured.
    pub fn drop_database(&self, name: &str) -> anyhow::Result<()> {
        Ok(pgembed::drop_database(&self.pg, name)?)
    }

    /// The URL of database `name` (as it is).
    pub fn url(&self, name: &str) -> anyhow::Result<String> {
        Ok(pgembed::url(&self.pg, name)?)
    }

    /// A `gateway` command on database `db` of the run's PostgreSQL.
    pub fn gateway(&self, db: &str) -> Command {
        let mut cmd = Command::new(&self.gateway_bin);
        cmd.env_remove("GATEWAY_DATABASE__URL")
            .env_remove("GATEWAY_CONFIG")
            .env("GATEWAY_DATABASE__EMBEDDED__BASE_DIR", self.work.join("pg"))
            .env("GATEWAY_DATABASE__EMBEDDED__PORT", self.pg.port.to_string())
            .env("GATEWAY_DATABASE__EMBEDDED__DATABASE", db)
            .current_dir(&self.work);
        // The load generator is one client per role pushing far beyond a client's fair share:
        // the per-client rate limits (docs/limits.md) are off for the measured roles.
        for role in ["SYSTEM", "APPROVER", "PEER"] {
            cmd.env(format!("GATEWAY_LIMITS__RATES__{role}__PER_SECOND"), "0");
        }
        cmd
    }

    /// Run a `gateway` command to completion; fail with its output.
    pub fn run(&self, mut cmd: Command, what: &str) -> anyhow::Result<String> {
        let out = cmd.output().with_context(|| format!("run {what}"))?;
        ensure!(
            out.status.success(),
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// A running `gateway serve`.
pub struct Node {
    process: Process,
    pub exchange: SocketAddr,
    pub web: SocketAddr,
    pub pki: PathBuf,
    pub log: PathBuf,
}

impl Node {
    /// Start `cmd serve --ready-file` and wait until it listens.
    pub fn spawn(mut cmd: Command, dir: &Path, pki: PathBuf) -> anyhow::Result<Node> {
        let ready = dir.join("ready.json");
        let _ = std::fs::remove_file(&ready);
        let log = dir.join("serve.log");
        let log_file = std::fs::File::create(&log)?;
        let mut child = cmd
            .args(["serve", "--ready-file"])
            .arg(&ready)
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .context("spawn gateway serve")?;
        let deadline = Instant::now() + Duration::from_secs(90);
        let v: serde_json::Value = loop {
            if let Ok(text) = std::fs::read_to_string(&ready)
                && let Ok(v) = serde_json::from_str(&text)
            {
                break v;
            }
            if let Some(status) = child.try_wait()? {
                bail!(
                    "gateway serve exited with {status}; its log ({}):\n{}",
                    log.display(),
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("gateway serve did not become ready; see {}", log.display());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let addr = |k: &str| -> anyhow::Result<SocketAddr> {
            v[k].as_str()
                .with_context(|| format!("no {k} in the ready file"))?
                .parse()
                .context("listen address")
        };
        Ok(Node {
            exchange: addr("exchange")?,
            web: addr("web")?,
            process: Process(Some(child)),
            pki,
            log,
        })
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }
}

/// A child process, stopped (SIGTERM, then SIGKILL after 30 s) when dropped.
pub struct Process(Option<Child>);

impl Process {
    pub fn pid(&self) -> u32 {
        self.0.as_ref().map_or(0, Child::id)
    }

    pub fn stop(&mut self) {
        if let Some(child) = self.0.take() {
            terminate(child);
        }
    }

    fn exited(&mut self) -> anyhow::Result<Option<std::process::ExitStatus>> {
        Ok(match self.0.as_mut() {
            Some(c) => c.try_wait()?,
            None => None,
        })
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

fn terminate(mut child: Child) {
    let _ = Command::new("kill")
        .arg(child.id().to_string())
        .stderr(Stdio::null())
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().ok().flatten().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The dev node's PKI (Qingyang city; its principals include a system of every department),
/// written by `gateway pki init`, which registers the principals in a fresh database `db`.
/// Returns the PKI folder and the database URL.
pub fn ingest_pki(env: &Env, db: &str) -> anyhow::Result<(PathBuf, String)> {
    ingest_pki_in(env, "ingest", db)
}

/// [`ingest_pki`] under `work/<name>` (the growth phase keeps its node apart from the main one).
pub fn ingest_pki_in(env: &Env, name: &str, db: &str) -> anyhow::Result<(PathBuf, String)> {
    let dir = env.work.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let pki = dir.join("pki");
    let url = env.fresh_database(db)?;
    let mut init = env.gateway(db);
    init.args(["pki", "init", "--out"]).arg(&pki);
    env.run(init, "gateway pki init")?;
    Ok((pki, url))
}

/// `gateway serve` for the dev node on free loopback ports, with the mapping adapter of
/// `mappings`. No parent: nothing is queued for forwarding, as at the province root.
pub fn ingest_node(env: &Env, db: &str, pki: &Path, mappings: &Path) -> anyhow::Result<Node> {
    ingest_node_in(env, "ingest", db, pki, mappings)
}

/// [`ingest_node`] with its log under `work/<name>`.
pub fn ingest_node_in(
    env: &Env,
    name: &str,
    db: &str,
    pki: &Path,
    mappings: &Path,
) -> anyhow::Result<Node> {
    let mut serve = env.gateway(db);
    serve
        .env("GATEWAY_PKI_DIR", pki)
        .env("GATEWAY_EXCHANGE__LISTEN", "127.0.0.1:0")
        .env("GATEWAY_WEB__LISTEN", "127.0.0.1:0")
        .env("GATEWAY_INGEST__MAPPINGS", mappings);
    Node::spawn(serve, &env.work.join(name), pki.to_owned())
}

pub const PARENT: &str = "620000000000";
pub const CHILD: &str = "621000000000";

/// Gansu province (parent) and Qingyang city (child), one CA, each node on its own database.
pub fn node_pair(env: &Env) -> anyhow::Result<(Node, Node)> {
    node_pair_in(env, "route", None)
}

/// [`node_pair`] under `work/<name>` on databases `bench_<name>_<region>`; with `mappings`, both
/// nodes load the mapping adapters of that folder (`ingest.mappings`).
pub fn node_pair_in(
    env: &Env,
    name: &str,
    mappings: Option<&Path>,
) -> anyhow::Result<(Node, Node)> {
    let dir = env.work.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let addr = || -> anyhow::Result<String> { Ok(format!("127.0.0.1:{}", free_port()?)) };
    let parent_web = addr()?;
    let topology = serde_json::json!({
        "network_base_url": format!("https://localhost:{}", parent_web.rsplit(':').next().unwrap_or_default()),
        "nodes": [
            {"region": PARENT, "name": "甘肃省节点", "exchange": addr()?, "web": parent_web},
            {"region": CHILD, "name": "庆阳市节点", "exchange": addr()?, "web": addr()?, "parent": PARENT},
        ],
    });
    let topo = dir.join("topology.json");
    std::fs::write(&topo, serde_json::to_vec_pretty(&topology)?)?;
    let pki = dir.join("pki");
    let mut init = Command::new(&env.gateway_bin);
    init.args(["pki", "init", "--topology"])
        .arg(&topo)
        .arg("--out")
        .arg(&pki)
        .current_dir(&env.work);
    env.run(init, "gateway pki init --topology")?;
    let mut nodes = Vec::new();
    for region in [PARENT, CHILD] {
        let db = format!("bench_{name}_{region}");
        env.fresh_database(&db)?;
        let node_dir = pki.join(region);
        let mut import = env.gateway(&db);
        import
            .env("GATEWAY_CONFIG", node_dir.join("gateway.toml"))
            .args(["principals", "import"])
            .arg(node_dir.join("principals.json"));
        env.run(import, "gateway principals import")?;
        nodes.push(pair_node(env, name, region, mappings)?);
    }
    let child = nodes.pop().expect("two nodes");
    let parent = nodes.pop().expect("two nodes");
    Ok((parent, child))
}

/// Start (or start again, on its existing database) the `region` node of the pair made by
/// [`node_pair_in`] under `work/<name>`.
pub fn pair_node(
    env: &Env,
    name: &str,
    region: &str,
    mappings: Option<&Path>,
) -> anyhow::Result<Node> {
    let node_dir = env.work.join(name).join("pki").join(region);
    let mut serve = env.gateway(&format!("bench_{name}_{region}"));
    serve.env("GATEWAY_CONFIG", node_dir.join("gateway.toml"));
    if let Some(m) = mappings {
        serve.env("GATEWAY_INGEST__MAPPINGS", m);
    }
    let run_dir = env.work.join(name).join(format!("run-{region}"));
    std::fs::create_dir_all(&run_dir)?;
    Node::spawn(serve, &run_dir, node_dir)
}

/// nginx terminating TLS (client certificates required, from the network's CA) and proxying
/// to `upstream` over TLS with `upstream_cert`/`upstream_key`, kept-alive upstream connections.
pub struct Nginx {
    pub process: Process,
    pub addr: SocketAddr,
}

impl Nginx {
    pub fn binary() -> Option<PathBuf> {
        ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
    }

    pub fn start(
        work: &Path,
        server_pki: &Path,
        upstream: SocketAddr,
        upstream_cert: &Path,
        upstream_key: &Path,
    ) -> anyhow::Result<Nginx> {
        let bin = Nginx::binary().context("nginx is not installed (apt-get install nginx)")?;
        let dir = work.join("nginx");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("logs"))?;
        let port = free_port()?;
        let p = |path: &Path| path.display().to_string();
        let conf = format!(
            r#"# Written by bench/loadgen (bench/run.sh): the reverse-proxy hop the routed query is compared with.
user root;
worker_processes auto;
pid {dir}/nginx.pid;
error_log {dir}/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream gateway_parent {{
        server {upstream};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_client_certificate {ca};
        ssl_verify_client on;
        ssl_verify_depth 3;
        location / {{
            proxy_pass https://gateway_parent;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_ssl_certificate {ucert};
            proxy_ssl_certificate_key {ukey};
            proxy_ssl_trusted_certificate {ca};
            proxy_ssl_verify on;
            proxy_ssl_verify_depth 3;
            proxy_ssl_name localhost;
            proxy_ssl_server_name on;
            proxy_ssl_session_reuse on;
        }}
    }}
}}
"#,
            dir = dir.display(),
            cert = p(&server_pki.join("node.crt")),
            key = p(&server_pki.join("node.key")),
            ca = p(&server_pki.join("ca.crt")),
            ucert = p(upstream_cert),
            ukey = p(upstream_key),
        );
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf)?;
        let child = Command::new(bin)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf_path)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("logs/stderr.log"))?)
            .spawn()
            .context("start nginx")?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut nginx = Nginx {
            process: Process(Some(child)),
            addr,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(addr).is_err() {
            if let Some(status) = nginx.process.exited()? {
                bail!(
                    "nginx exited with {status}: {}",
                    std::fs::read_to_string(dir.join("logs/stderr.log")).unwrap_or_default()
                );
            }
            ensure!(Instant::now() < deadline, "nginx did not start listening");
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(nginx)
    }
}

/// A child process of this binary (the plain hyper server), stopped on drop.
pub struct Helper {
    pub process: Process,
    pub addr: SocketAddr,
}

impl Helper {
    pub fn plain_server(work: &Path, pki: &Path) -> anyhow::Result<Helper> {
        let ready = work.join("plain-server.ready");
        let _ = std::fs::remove_file(&ready);
        let mut child = Command::new(std::env::current_exe()?)
            .arg("plain-server")
            .arg("--cert")
            .arg(pki.join("node.crt"))
            .arg("--key")
            .arg(pki.join("node.key"))
            .arg("--ca")
            .arg(pki.join("ca.crt"))
            .arg("--ready")
            .arg(&ready)
            .stdout(Stdio::null())
            .spawn()?;
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = loop {
            if let Ok(text) = std::fs::read_to_string(&ready)
                && let Ok(addr) = text.trim().parse()
            {
                break addr;
            }
            if let Some(status) = child.try_wait()? {
                bail!("plain-server exited with {status}");
            }
            ensure!(Instant::now() < deadline, "plain-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        };
        Ok(Helper {
            process: Process(Some(child)),
            addr,
        })
    }
}
