//! `loadgen run`: every figure and its ceiling in one run, in this order (each phase alone on
//! the machine, apart from the load generator itself):
//!
//! 1. ceilings on one thread: ring Ed25519 sign/verify, JSON parse + schema validation;
//! 2. the dev node's PKI, and every adapter's batches checked through the gateway's pipeline;
//! 3. the COPY ceiling, on a database of its own, with the node not yet running;
//! 4. the node under load: a sweep of closed-loop concurrencies (500-record batches, every
//!    adapter in turn), the sustained rate at the best one, 500-record batches at half that
//!    rate (open loop), single-record pushes at 1,000/s (open loop) and at their peak,
//!    certificate verification through the API (CPU per verification), `GET /healthz`;
//! 5. a plain hyper server with the same TLS setup;
//! 6. a parent/child pair of nodes and nginx: the same records query direct to the parent,
//!    routed by the child, and proxied by nginx, at equal load (open loop);
//! 7. with `--growth` (or alone with `--growth-only`): ingest with millions of records stored,
//!    and forwarding to a parent ([`crate::growth`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, ensure};
use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};

use crate::batches::{self, Load, Pipeline};
use crate::ceilings::{self, Row};
use crate::client::{Pool, Target};
use crate::harness::{self, Env, Nginx};
use crate::load::{self, Job, MakeJob, Outcome, Window};
use crate::procstat::Watch;

/// Records per batch in the batch figures.
pub const BATCH: u64 = 500;

/// How long each figure runs.
pub struct Plan {
    pub short: bool,
    pub copy: Window,
    pub copy_rows: usize,
    cpu_secs: f64,
    pub sweep: Vec<usize>,
    pub sweep_window: Window,
    pub sustained: Window,
    half: Window,
    single: Window,
    single_rate: f64,
    single_peak_workers: usize,
    short_run: Window,
    verify_workers: usize,
    verify_http2: bool,
    http_workers: usize,
    route: Window,
    route_rate: f64,
    /// Each scale-out phase (one process, then two).
    pub scale_out: Window,
}

fn win(warmup: f64, measure: f64) -> Window {
    Window {
        warmup: Duration::from_secs_f64(warmup),
        measure: Duration::from_secs_f64(measure),
    }
}

impl Plan {
    pub fn new(short: bool) -> Plan {
        if short {
            Plan {
                short,
                copy: win(0.5, 3.0),
                copy_rows: 4_000,
                cpu_secs: 0.5,
                sweep: vec![],
                sweep_window: win(1.0, 3.0),
                sustained: win(1.0, 4.0),
                half: win(1.0, 3.0),
                single: win(1.0, 3.0),
                single_rate: 1000.0,
                single_peak_workers: 32,
                short_run: win(0.5, 2.0),
                verify_workers: 4,
                verify_http2: false,
                http_workers: 16,
                route: win(0.5, 3.0),
                route_rate: 50.0,
                scale_out: win(1.0, 4.0),
            }
        } else {
            Plan {
                short,
                copy: win(2.0, 20.0),
                copy_rows: 20_000,
                cpu_secs: 3.0,
                sweep: vec![4, 8, 16],
                sweep_window: win(3.0, 10.0),
                sustained: win(5.0, 60.0),
                half: win(3.0, 30.0),
                single: win(3.0, 30.0),
                single_rate: 1000.0,
                single_peak_workers: 32,
                short_run: win(2.0, 10.0),
                verify_workers: 4,
                verify_http2: false,
                http_workers: 16,
                route: win(2.0, 45.0),
                route_rate: 100.0,
                scale_out: win(5.0, 30.0),
            }
        }
    }

    /// The plan with `workers` verification clients instead of its own, when given.
    pub fn verify_workers(mut self, workers: Option<usize>) -> Plan {
        if let Some(n) = workers {
            self.verify_workers = n.max(1);
        }
        self
    }

    /// A sustained-ingest window of `secs` seconds instead of the plan's, when given.
    pub fn sustained_secs(mut self, secs: Option<f64>) -> Plan {
        if let Some(s) = secs {
            self.sustained.measure = Duration::from_secs_f64(s.max(1.0));
        }
        self
    }

    /// The verification phases over HTTP/2 (one connection) instead of HTTP/1.1.
    pub fn verify_http2(mut self, on: bool) -> Plan {
        self.verify_http2 = on;
        self
    }

    fn to_json(&self) -> Value {
        let w = |w: &Window| json!({"warmup_secs": w.warmup.as_secs_f64(), "measure_secs": w.measure.as_secs_f64()});
        json!({
            "mode": if self.short { "short" } else { "full" },
            "batch_records": BATCH,
            "certified_share": 1.0 / batches::CERTIFIED_EVERY as f64,
            "copy": w(&self.copy), "copy_distinct_rows": self.copy_rows,
            "cpu_ceiling_secs": self.cpu_secs,
            "sweep_workers": self.sweep, "sweep": w(&self.sweep_window),
            "sustained": w(&self.sustained), "half_peak": w(&self.half),
            "single": w(&self.single), "single_rate": self.single_rate,
            "single_peak_workers": self.single_peak_workers,
            "verify_workers": self.verify_workers,
            "verify_protocol": if self.verify_http2 { "HTTP/2" } else { "HTTP/1.1" },
            "http_workers": self.http_workers,
            "short_runs": w(&self.short_run),
            "route": w(&self.route), "route_rate": self.route_rate,
            "scale_out": w(&self.scale_out),
        })
    }
}

pub struct Options {
    pub plan: Plan,
    pub repo: PathBuf,
    pub work: PathBuf,
    pub gateway_bin: PathBuf,
    pub pg_port: u16,
    pub nginx: bool,
    /// Sample the node with `perf record` during the sustained run and the single-record peak.
    pub perf: bool,
    /// Send the fixtures' own dates (`--fixture-dates`), not moved to the day before the run.
    pub fixture_dates: bool,
    /// Two processes of one node (`--scale-out`).
    pub scale_out: bool,
    /// The growth phases (`--growth`, `--growth-only`).
    pub growth: Option<crate::growth::Growth>,
}

impl Options {
    /// Every adapter's batches (checked), with the dates this run sends.
    pub fn loads(
        &self,
        mappings: &std::path::Path,
        pipeline: &Pipeline,
    ) -> anyhow::Result<Arc<Vec<batches::Load>>> {
        let loads = batches::loads(&self.repo, mappings, pipeline, self.fixture_dates)?;
        Ok(Arc::new(loads))
    }
}

/// A phase's load outcome with the CPU and memory of the processes during it.
pub async fn measured<F>(watch: &Watch, fut: F) -> (Outcome, Value)
where
    F: std::future::Future<Output = Outcome>,
{
    let running = watch.start();
    let out = fut.await;
    let usage = running.stop();
    let mut v = out.to_json();
    v["usage"] = usage.to_json();
    (out, v)
}

pub fn say(msg: impl AsRef<str>) {
    eprintln!("loadgen: {}", msg.as_ref());
}

/// Batches of `records` from every adapter in turn.
pub fn ingest_jobs(loads: Arc<Vec<Load>>, pools: Arc<Vec<Arc<Pool>>>, records: u64) -> MakeJob {
    let next = Arc::new(AtomicUsize::new(0));
    Arc::new(move |_| {
        let i = next.fetch_add(1, Ordering::Relaxed) % loads.len();
        let load = &loads[i];
        let batch = load.batch(records);
        Job {
            pool: pools[i].clone(),
            method: Method::POST,
            path: format!("/v1/ingest/{}", load.spec.adapter),
            content_type: Some(load.spec.content_type),
            body: batch.body,
            records: batch.records,
        }
    })
}

/// Credentials per request in the batch verification phase.
const VERIFY_BATCH: usize = 50;

fn fixed_job(pool: Arc<Pool>, method: Method, path: &str, bodies: Arc<Vec<Bytes>>) -> MakeJob {
    counted_job(pool, method, path, bodies, 0)
}

/// [`fixed_job`] where each request counts as `records` (credentials in a batch verification).
fn counted_job(
    pool: Arc<Pool>,
    method: Method,
    path: &str,
    bodies: Arc<Vec<Bytes>>,
    records: u64,
) -> MakeJob {
    let path = path.to_owned();
    let next = Arc::new(AtomicUsize::new(0));
    Arc::new(move |_| {
        let body = if bodies.is_empty() {
            Bytes::new()
        } else {
            bodies[next.fetch_add(1, Ordering::Relaxed) % bodies.len()].clone()
        };
        Job {
            pool: pool.clone(),
            method: method.clone(),
            path: path.clone(),
            content_type: (!body.is_empty()).then_some("application/json"),
            body,
            records,
        }
    })
}

/// Normalized rows for the COPY ceiling: the same generated records, through the same pipeline.
pub fn copy_rows(loads: &[Load], pipeline: &Pipeline, n: usize) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::with_capacity(n);
    'fill: loop {
        for load in loads {
            let batch = load.batch(100);
            let prepared = pipeline.prepare(load, &batch.body)?;
            ensure!(prepared.invalid.is_empty(), "generated records are invalid");
            for v in &prepared.valid {
                rows.push(Row::from_valid(v)?);
                if rows.len() >= n {
                    break 'fill;
                }
            }
        }
    }
    Ok(rows)
}

/// Run every phase, filling `results` as figures come in (so a failed run keeps what it had).
pub async fn run(opts: Options, results: &mut Value) -> anyhow::Result<()> {
    let plan = &opts.plan;
    results["plan"] = plan.to_json();

    say("ceilings: ring Ed25519, JSON parse + schema validation");
    results["ceilings"]["ed25519"] = ceilings::ed25519(plan.cpu_secs)?;

    say(format!(
        "PostgreSQL under {}",
        opts.work.join("pg").display()
    ));
    let mut env = Env::start(opts.work.clone(), opts.gateway_bin.clone(), opts.pg_port)?;
    let only_growth = opts.growth.as_ref().is_some_and(|g| g.only);
    let prepared = match env.statement_stats(opts.perf).await {
        Ok(()) => env.log_slow_work().await,
        Err(e) => Err(e),
    };
    let mut outcome = match prepared {
        Ok(()) if only_growth => Ok(()),
        Ok(()) => body(&opts, &env, results).await,
        Err(e) => Err(e),
    };
    if outcome.is_ok() && opts.scale_out && !only_growth {
        let workers = results["gateway"]["sustained"]["workers"]
            .as_u64()
            .map(|w| w as usize);
        outcome = crate::scale_out::run(&opts, &env, workers, results).await;
    }
    if outcome.is_ok()
        && let Some(g) = &opts.growth
    {
        outcome = crate::growth::run(&opts, g, &env, results).await;
    }
    env.stop_postgres();
    outcome
}

/// The folder of mapping files the nodes load (`ingest.mappings`): the mapping adapter's.
pub fn mappings(opts: &Options, env: &Env) -> anyhow::Result<PathBuf> {
    let mappings = env.work.join("mappings");
    std::fs::create_dir_all(&mappings)?;
    let mapping = opts.repo.join(batches::MAPPING_FILE);
    std::fs::copy(
        &mapping,
        mappings.join(mapping.file_name().context("mapping file name")?),
    )?;
    Ok(mappings)
}

async fn body(opts: &Options, env: &Env, results: &mut Value) -> anyhow::Result<()> {
    let plan = &opts.plan;
    let mappings = mappings(opts, env)?;

    // The node's PKI first: the pipeline checks records against its trust bundle.
    say("ingest node: gateway pki init");
    let db = "bench_ingest";
    let (pki, db_url) = harness::ingest_pki(env, db)?;
    let pipeline = Pipeline::new(&pki)?;
    let loads = opts.loads(&mappings, &pipeline)?;
    say(format!(
        "{} adapters: batches generated and checked",
        loads.len()
    ));

    let rows = copy_rows(&loads, &pipeline, plan.copy_rows)?;
    let bodies: Vec<&str> = rows.iter().map(Row::body).collect();
    results["ceilings"]["schema"] = ceilings::schema(&bodies, plan.cpu_secs);
    results["ceilings"]["prepare"] = ceilings::prepare(&loads, &pipeline, plan.cpu_secs)?;

    say("ceiling: COPY into case_records (2 connections, 500 rows per transaction)");
    let copy_url = env.fresh_database("bench_copy")?;
    let mut migrate = env.gateway("bench_copy");
    migrate.arg("migrate");
    env.run(migrate, "gateway migrate")?;
    let watch_pg = Watch {
        postgres: Some(env.pg_pid),
        ..Watch::default()
    };
    let wal_before = Wal::mark(&copy_url).await?;
    let mut copy = ceilings::copy(&copy_url, Arc::new(rows), 2, 500, plan.copy, &watch_pg).await?;
    let copied = Wal::rows(&copy_url, "case_records").await?;
    copy["wal"] = Wal::mark(&copy_url).await?.since(&wal_before, copied);
    say(format!(
        "  COPY: {} rows/s, {} bytes of WAL per row",
        copy["rows_per_sec"], copy["wal"]["bytes_per_record"]
    ));
    results["ceilings"]["copy"] = copy;
    // The copied rows are not the node's: their autovacuum and checkpoint (a million rows and
    // gigabytes of WAL) ran into the node's first windows until 2026-12-06.
    env.drop_database("bench_copy")?;
    let settled = settle(&env.url("postgres")?).await?;
    say(format!(
        "  copy database dropped, settled in {settled:.1} s"
    ));
    results["ceilings"]["copy"]["settled_secs"] = json!((settled * 10.0).round() / 10.0);

    say("ingest node: gateway serve");
    let node = harness::ingest_node(env, db, &pki, &mappings)?;
    let watch = Watch {
        gateway: vec![node.pid()],
        postgres: Some(env.pg_pid),
        other: vec![],
    };
    let pools: Arc<Vec<Arc<Pool>>> = Arc::new(
        loads
            .iter()
            .map(|l| Target::principal(node.exchange, &pki, l.spec.principal).map(Pool::new))
            .collect::<anyhow::Result<_>>()?,
    );
    let mut sent_records = 0;

    // Peak: closed-loop sweep, then the best concurrency sustained.
    let mut best = (8usize, 0.0f64);
    let mut sweep = Vec::new();
    for &workers in &plan.sweep {
        let jobs = ingest_jobs(loads.clone(), pools.clone(), BATCH);
        let (out, mut v) = measured(&watch, load::closed(workers, plan.sweep_window, jobs)).await;
        say(format!(
            "  sweep {workers} workers: {:.0} records/s, p99 {:.1} ms, errors {}",
            out.records_per_sec(),
            out.ms(99.0),
            out.errors
        ));
        sent_records += out.all_records;
        v["workers"] = json!(workers);
        sweep.push(v);
        if out.records_per_sec() > best.1 {
            best = (workers, out.records_per_sec());
        }
    }
    results["gateway"]["sweep"] = json!(sweep);
    say(format!(
        "sustained ingest: {} workers, 500-record batches, {:.0} s",
        best.0,
        plan.sustained.measure.as_secs_f64()
    ));
    let stats_db = if opts.perf {
        let (c, conn) = tokio_postgres::connect(&db_url, tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        // Planning too: a statement re-planned on every call shows it there, not in execution.
        // (ALTER SYSTEM may not share a multi-statement string: that is one transaction.)
        c.batch_execute("ALTER SYSTEM SET pg_stat_statements.track_planning = on")
            .await?;
        c.batch_execute(
            "SELECT pg_reload_conf(); CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
             SELECT pg_stat_statements_reset()",
        )
        .await?;
        Some(c)
    } else {
        None
    };
    let perf =
        crate::profile::Perf::start_if(opts.perf, node.pid(), &env.work.join("perf-ingest.data"))?;
    let jobs = ingest_jobs(loads.clone(), pools.clone(), BATCH);
    let wal_before = Wal::mark(&db_url).await?;
    let (sustained, mut v) = measured(&watch, load::closed(best.0, plan.sustained, jobs)).await;
    v["wal"] = Wal::mark(&db_url)
        .await?
        .since(&wal_before, sustained.all_records);
    if let Some(perf) = perf {
        results["profile"]["ingest"] = perf.finish()?;
    }
    if let Some(c) = &stats_db {
        results["profile"]["postgres"] = crate::profile::statements(c).await?;
    }
    sent_records += sustained.all_records;
    v["workers"] = json!(best.0);
    say(format!(
        "  {:.0} records/s, p99 {:.1} ms, errors {}, {} bytes of WAL per record",
        sustained.records_per_sec(),
        sustained.ms(99.0),
        sustained.errors,
        v["wal"]["bytes_per_record"]
    ));
    results["gateway"]["sustained"] = v;

    let batch_rate = (sustained.records_per_sec() / 2.0 / BATCH as f64).max(0.2);
    say(format!(
        "500-record batches at half the peak: {batch_rate:.2} batches/s (open loop)"
    ));
    // The latency phases start from a settled database (see `settle`).
    let settled = settle(&db_url).await?;
    say(format!(
        "  settled in {settled:.1} s (checkpoint done, no autovacuum running, tables analyzed)"
    ));
    let jobs = ingest_jobs(loads.clone(), pools.clone(), BATCH);
    let (half, mut v) = measured(&watch, load::open(batch_rate, plan.half, jobs)).await;
    v["settled_secs"] = json!((settled * 10.0).round() / 10.0);
    sent_records += half.all_records;
    say(format!(
        "  p50 {:.1} ms, p99 {:.1} ms, errors {}",
        half.ms(50.0),
        half.ms(99.0),
        half.errors
    ));
    results["gateway"]["half_peak"] = v;

    say(format!(
        "single-record pushes at {:.0}/s (open loop)",
        plan.single_rate
    ));
    for p in pools.iter() {
        p.warm(4).await?;
    }
    let settled = settle(&db_url).await?;
    say(format!(
        "  settled in {settled:.1} s (checkpoint done, no autovacuum running, tables analyzed)"
    ));
    let jobs = ingest_jobs(loads.clone(), pools.clone(), 1);
    let (single, mut v) = measured(&watch, load::open(plan.single_rate, plan.single, jobs)).await;
    v["settled_secs"] = json!((settled * 10.0).round() / 10.0);
    sent_records += single.all_records;
    say(format!(
        "  {:.0}/s achieved, p50 {:.2} ms, p99 {:.2} ms, errors {}",
        single.requests_per_sec(),
        single.ms(50.0),
        single.ms(99.0),
        single.errors
    ));
    results["gateway"]["single"] = v;

    let jobs = ingest_jobs(loads.clone(), pools.clone(), 1);
    reset_statements(&stats_db).await?;
    let perf =
        crate::profile::Perf::start_if(opts.perf, node.pid(), &env.work.join("perf-single.data"))?;
    let (peak, v) = measured(
        &watch,
        load::closed(plan.single_peak_workers, plan.short_run, jobs),
    )
    .await;
    if let Some(perf) = perf {
        results["profile"]["single"] = perf.finish()?;
    }
    if let Some(c) = &stats_db {
        results["profile"]["postgres_single"] = crate::profile::statements(c).await?;
    }
    sent_records += peak.all_records;
    say(format!(
        "single-record push peak: {:.0}/s",
        peak.requests_per_sec()
    ));
    results["gateway"]["single_peak"] = v;

    // Everything pushed is stored, nothing quarantined.
    let (client, conn) = tokio_postgres::connect(&db_url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    let count = |sql: &'static str| {
        let client = &client;
        async move { client.query_one(sql, &[]).await.map(|r| r.get::<_, i64>(0)) }
    };
    let stored = count("SELECT count(*) FROM case_records").await?;
    let quarantined = count("SELECT count(*) FROM quarantine").await?;
    let certificates = count("SELECT count(*) FROM credential_versions").await?;
    results["gateway"]["stored"] = json!({
        "records_acknowledged": sent_records, "case_records": stored,
        "quarantined": quarantined, "credential_versions": certificates,
    });
    say(format!(
        "  stored {stored} records (acknowledged {sent_records}), {certificates} credentials, {quarantined} quarantined"
    ));
    ensure!(
        quarantined == 0,
        "records were quarantined: see {}",
        node.log.display()
    );

    // Certificate verification through the API: CPU per verification.
    let creds: Vec<Bytes> = client
        .query(
            // Through the row's JSON: `credential_text` exists from migration 0033 on, and
            // `bench/ab.sh` measures gateways from before it too.
            "SELECT coalesce(to_jsonb(v) ->> 'credential_text', (to_jsonb(v) -> 'credential')::text)
             FROM credential_versions v ORDER BY identifier LIMIT 200",
            &[],
        )
        .await?
        .iter()
        .map(|r| Bytes::from(r.get::<_, String>(0)))
        .collect();
    ensure!(!creds.is_empty(), "no credential was issued");
    let mut target = Target::principal(node.exchange, &pki, loads[0].spec.principal)?;
    if plan.verify_http2 {
        target = target.http2()?;
    }
    let verifier = Pool::new(target);
    let first = verifier
        .send(
            Method::POST,
            "/v1/certificates/verify",
            Some("application/json"),
            creds[0].clone(),
        )
        .await?;
    let verdict: Value = serde_json::from_slice(&first.body).unwrap_or(Value::Null);
    ensure!(
        verdict["valid"] == json!(true),
        "a stored credential does not verify through the API: {verdict}"
    );
    verifier.warm(plan.verify_workers).await?;
    reset_statements(&stats_db).await?;
    let phase = VerifyPhase {
        perf: opts.perf.then(|| node.pid()),
        work: &env.work,
        watch: &watch,
        plan,
        verifier: &verifier,
    };
    let mut v = phase
        .run("/v1/certificates/verify", creds.clone(), 1, "verify")
        .await?;
    if let Some(c) = &stats_db {
        results["profile"]["postgres_verify"] = crate::profile::statements(c).await?;
    }
    v["verdict_checks"] = verdict["checks"].clone();
    if let Some(perf) = v.as_object_mut().and_then(|v| v.remove("profile")) {
        results["profile"]["verify"] = perf;
    }
    results["gateway"]["verify_api"] = v;

    // The same credentials, VERIFY_BATCH to a request (`POST /v1/certificates/verify/batch`):
    // what a caller with many to check pays per verification.
    let batches: Vec<Bytes> = (0..creds.len())
        .map(|i| {
            let mut body = b"{\"credentials\":[".to_vec();
            for k in 0..VERIFY_BATCH {
                if k > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(&creds[(i + k) % creds.len()]);
            }
            body.extend_from_slice(b"]}");
            Bytes::from(body)
        })
        .collect();
    let first = verifier
        .send(
            Method::POST,
            "/v1/certificates/verify/batch",
            Some("application/json"),
            batches[0].clone(),
        )
        .await?;
    let answer: Value = serde_json::from_slice(&first.body).unwrap_or(Value::Null);
    ensure!(
        answer["valid"] == json!(VERIFY_BATCH),
        "stored credentials do not verify through the batch API: {answer}"
    );
    let mut v = phase
        .run(
            "/v1/certificates/verify/batch",
            batches,
            VERIFY_BATCH,
            "verify-batch",
        )
        .await?;
    v["credentials_per_request"] = json!(VERIFY_BATCH);
    if let Some(perf) = v.as_object_mut().and_then(|v| v.remove("profile")) {
        results["profile"]["verify_batch"] = perf;
    }
    results["gateway"]["verify_batch"] = v;

    // A request's floor at the verification's concurrency: `GET /healthz` from the same
    // clients. What one verification a request pays besides its checks (TLS, HTTP, the
    // kernel's loopback, waking the node for every request), with no checks at all.
    let jobs = fixed_job(verifier.clone(), Method::GET, "/healthz", Arc::new(vec![]));
    let running = watch.start();
    let out = load::closed(plan.verify_workers, plan.short_run, jobs).await;
    let usage = running.stop();
    let floor = usage.cpu_secs("gateway") / out.all_requests.max(1) as f64 * 1e6;
    let mut v = out.to_json();
    v["usage"] = usage.to_json();
    v["cpu_us_per_request"] = json!(floor.round());
    say(format!(
        "gateway GET /healthz from the verification's {} clients: {:.0}/s, {floor:.0} µs CPU each",
        plan.verify_workers,
        out.requests_per_sec()
    ));
    results["gateway"]["healthz_verify_clients"] = v;

    // Request handling without work: the node's /healthz.
    let (out, v) = http_rate(node.exchange, &pki, &watch, plan).await?;
    say(format!(
        "gateway GET /healthz: {:.0}/s",
        out.requests_per_sec()
    ));
    results["gateway"]["healthz"] = v;
    drop(client);
    drop(node);

    // The plain hyper server, same TLS setup, same load.
    let plain = harness::Helper::plain_server(&env.work, &pki)?;
    let watch_plain = Watch {
        other: vec![("plain_server".into(), plain.process.pid())],
        ..Watch::default()
    };
    let (out, v) = http_rate(plain.addr, &pki, &watch_plain, plan).await?;
    say(format!(
        "plain hyper server: {:.0}/s",
        out.requests_per_sec()
    ));
    results["ceilings"]["plain_hyper"] = v;
    drop(plain);

    routing(opts, env, results).await
}

/// `GET /healthz` back to back from `plan.http_workers` connections (a system's certificate).
/// A verification phase's setting: the verify workers against the node, watched.
struct VerifyPhase<'a> {
    /// The node's pid when `perf` samples it.
    perf: Option<u32>,
    work: &'a std::path::Path,
    watch: &'a Watch,
    plan: &'a Plan,
    verifier: &'a Arc<Pool>,
}

impl VerifyPhase<'_> {
    /// `bodies` posted to `path` in turn, each holding `per_request` credentials: the load's
    /// figures with the CPU per verification (and `profile` when sampled, to move elsewhere).
    async fn run(
        &self,
        path: &str,
        bodies: Vec<Bytes>,
        per_request: usize,
        name: &str,
    ) -> anyhow::Result<Value> {
        let jobs = counted_job(
            self.verifier.clone(),
            Method::POST,
            path,
            Arc::new(bodies),
            if per_request > 1 {
                per_request as u64
            } else {
                0
            },
        );
        let data = self.work.join(format!("perf-{name}.data"));
        let perf = self
            .perf
            .map(|pid| crate::profile::Perf::start(pid, &data))
            .transpose()?;
        let running = self.watch.start();
        let out = load::closed(self.plan.verify_workers, self.plan.short_run, jobs).await;
        let usage = running.stop();
        let verifications = out.all_requests.max(1) as f64 * per_request as f64;
        let per = |group: &str| usage.cpu_secs(group) / verifications * 1e6;
        let mut v = out.to_json();
        v["usage"] = usage.to_json();
        v["cpu_us_per_verification"] = json!({
            "gateway": per("gateway").round(), "postgres": per("postgres").round(),
            "total": (per("gateway") + per("postgres")).round(),
        });
        if let Some(perf) = perf {
            v["profile"] = perf.finish()?;
        }
        say(format!(
            "verification through {path} ({per_request} a request): {:.0}/s, {:.0} µs CPU each (gateway {:.0}, PostgreSQL {:.0})",
            out.requests_per_sec() * per_request as f64,
            per("gateway") + per("postgres"),
            per("gateway"),
            per("postgres")
        ));
        Ok(v)
    }
}

async fn http_rate(
    addr: std::net::SocketAddr,
    pki: &std::path::Path,
    watch: &Watch,
    plan: &Plan,
) -> anyhow::Result<(Outcome, Value)> {
    let principal = batches::SPECS[0].principal;
    let pool = Pool::new(Target::principal(addr, pki, principal)?);
    pool.warm(plan.http_workers).await?;
    let jobs = fixed_job(pool, Method::GET, "/healthz", Arc::new(vec![]));
    Ok(measured(watch, load::closed(plan.http_workers, plan.short_run, jobs)).await)
}

async fn reset_statements(db: &Option<tokio_postgres::Client>) -> anyhow::Result<()> {
    if let Some(c) = db {
        c.batch_execute("SELECT pg_stat_statements_reset()").await?;
    }
    Ok(())
}

/// The records query of the routing figures: a case the parent holds, over the province.
fn records_query() -> String {
    format!(
        "/v1/records?case_no=SCJG-XF-20261118-0001&region={}&purpose=approval",
        harness::PARENT
    )
}

async fn routing(opts: &Options, env: &Env, results: &mut Value) -> anyhow::Result<()> {
    let plan = &opts.plan;
    say("routing: parent (province) and child (city) nodes");
    let (parent, child) = harness::node_pair(env)?;
    let (ppki, cpki) = (parent.pki.clone(), child.pki.clone());
    // The parent holds the fixture's records.
    let pusher = Pool::new(Target::principal(
        parent.exchange,
        &ppki,
        &format!("n{}-market-regulation", harness::PARENT),
    )?);
    let fixture = std::fs::read(
        opts.repo
            .join("adapters/fixtures/market-regulation/batch-valid.json"),
    )?;
    let pushed = pusher
        .send(
            Method::POST,
            "/v1/ingest/market-regulation",
            Some("application/json"),
            Bytes::from(fixture),
        )
        .await?;
    ensure!(pushed.status.is_success(), "push to the parent failed");

    let approver = |pki: &std::path::Path, region: &str| {
        let clients = pki.join("clients");
        (
            clients.join(format!("n{region}-approver.crt")),
            clients.join(format!("n{region}-approver.key")),
        )
    };
    let (pcert, pkey) = approver(&ppki, harness::PARENT);
    let (ccert, ckey) = approver(&cpki, harness::CHILD);
    let ca = cpki.join("ca.crt");
    let mut paths: Vec<(&str, Arc<Pool>)> = vec![
        (
            "direct",
            Pool::new(Target::new(parent.web, &ca, &pcert, &pkey)?),
        ),
        (
            "routed",
            Pool::new(Target::new(child.web, &ca, &ccert, &ckey)?),
        ),
    ];
    let nginx = if opts.nginx {
        match Nginx::start(&env.work, &cpki, parent.web, &pcert, &pkey) {
            Ok(n) => Some(n),
            Err(e) => {
                results["routing"]["nginx_error"] = json!(format!("{e:#}"));
                say(format!("nginx hop skipped: {e:#}"));
                None
            }
        }
    } else {
        None
    };
    if let Some(n) = &nginx {
        paths.push(("nginx", Pool::new(Target::new(n.addr, &ca, &ccert, &ckey)?)));
    }
    let watch = Watch {
        gateway: vec![parent.pid(), child.pid()],
        postgres: Some(env.pg_pid),
        other: nginx
            .as_ref()
            .map(|n| vec![("nginx".to_owned(), n.process.pid())])
            .unwrap_or_default(),
    };
    // One cluster: the ingest phases' checkpoint would land in whichever hop came first.
    let settled = settle(&env.url("postgres")?).await?;
    say(format!(
        "  settled in {settled:.1} s (checkpoint done, no autovacuum running, tables analyzed)"
    ));
    results["routing"]["settled_secs"] = json!((settled * 10.0).round() / 10.0);
    for (name, pool) in &paths {
        let answer = pool
            .send(Method::GET, &records_query(), None, Bytes::new())
            .await?;
        let v: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        ensure!(
            answer.status.is_success() && v["records"].as_array().is_some_and(|r| !r.is_empty()),
            "{name}: the records query failed: {} {v}",
            answer.status
        );
        pool.warm(8).await?;
        let jobs = fixed_job(
            pool.clone(),
            Method::GET,
            &records_query(),
            Arc::new(vec![]),
        );
        let (out, v) = measured(&watch, load::open(plan.route_rate, plan.route, jobs)).await;
        say(format!(
            "  {name}: p50 {:.2} ms, p99 {:.2} ms, errors {}",
            out.ms(50.0),
            out.ms(99.0),
            out.errors
        ));
        results["routing"][*name] = v;
    }

    // What a new mTLS connection from the child (its node certificate) to the parent's exchange
    // listener costs: what the routed hop paid per query before peer connections were kept. The load generator stands in for the
    // child, so its CPU is the client side.
    let peer = Target::new(
        parent.exchange,
        &ca,
        &cpki.join("node.crt"),
        &cpki.join("node.key"),
    )?;
    let n = if plan.short { 50 } else { 300 };
    let watch_parent = Watch {
        gateway: vec![parent.pid()],
        ..Watch::default()
    };
    let running = watch_parent.start();
    let started = std::time::Instant::now();
    for _ in 0..n {
        drop(peer.connect().await?);
    }
    let wall = started.elapsed().as_secs_f64();
    let usage = running.stop();
    let us = |group: &str| (usage.cpu_secs(group) / n as f64 * 1e6).round();
    results["routing"]["peer_handshake"] = json!({
        "connections": n,
        "mean_ms": (wall / n as f64 * 1e3 * 100.0).round() / 100.0,
        "server_cpu_us": us("gateway"),
        "client_cpu_us": us("loadgen"),
    });
    say(format!(
        "  new mTLS connection child → parent: {:.2} ms, {} µs CPU at the parent, {} µs at the client",
        wall / n as f64 * 1e3,
        us("gateway"),
        us("loadgen")
    ));
    Ok(())
}

/// Where the cluster's WAL stands: bytes written since it was created, and full-page images
/// (a page's first change after a checkpoint logs the whole page) since statistics were reset.
struct Wal {
    bytes: i64,
    full_pages: i64,
}

impl Wal {
    async fn mark(db_url: &str) -> anyhow::Result<Wal> {
        let (c, conn) = tokio_postgres::connect(db_url, tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        let r = c
            .query_one(
                "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::int8, wal_fpi FROM pg_stat_wal",
                &[],
            )
            .await?;
        Ok(Wal {
            bytes: r.get(0),
            full_pages: r.get(1),
        })
    }

    /// Rows now in `table` (of a database written only by the phase measured).
    async fn rows(db_url: &str, table: &str) -> anyhow::Result<u64> {
        let (c, conn) = tokio_postgres::connect(db_url, tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        let n: i64 = c
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await?
            .get(0);
        Ok(n as u64)
    }

    /// WAL per record since `before`, over `records` records. Full-page images are counted
    /// by each backend and flushed to the statistics within a second or so: indicative.
    fn since(&self, before: &Wal, records: u64) -> Value {
        let per = |x: i64| (x as f64 / records.max(1) as f64 * 10.0).round() / 10.0;
        json!({
            "bytes_per_record": per(self.bytes - before.bytes).round(),
            "full_pages_per_100_records": per((self.full_pages - before.full_pages) * 100),
            "records": records,
        })
    }
}

/// Let PostgreSQL finish what the previous phase left it: a checkpoint, any autovacuum
/// worker (waited for up to two minutes), then the statistics that phase's writes made due
/// (`ANALYZE`). The seconds it took. The phases before a latency figure write a million
/// records at several times its rate: their checkpoint and autovacuum would otherwise land in
/// the measured window, and its tail would measure them. The analyses are due without a worker
/// running yet (the launcher visits a database once a minute): in a run of `1c0d09c` the
/// autoanalyze of `case_records` and four more tables, due after the half-peak phase's
/// 208,000 records, started 27 s into the single-record window, and the node's p99 in those
/// 6 s was 13.3 ms against 7.9 in the 24 s before.
pub async fn settle(db_url: &str) -> anyhow::Result<f64> {
    let started = std::time::Instant::now();
    let (c, conn) = tokio_postgres::connect(db_url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    c.batch_execute("CHECKPOINT").await?;
    while started.elapsed() < Duration::from_secs(120) {
        let busy: i64 = c
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'",
                &[],
            )
            .await?
            .get(0);
        if busy == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    c.batch_execute("ANALYZE").await?;
    Ok(started.elapsed().as_secs_f64())
}
