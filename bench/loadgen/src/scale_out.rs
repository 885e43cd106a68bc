//! Two `gateway serve` processes of one node on one database (`--scale-out`; issue 11,
//! "Beyond one machine"), measured: the same sustained ingest against one process, then with
//! a second process started beside it (each principal's pool keeps connections to both and
//! uses them in turn, as a TCP load balancer in front of them spreads a client's connections),
//! then against the first alone again. Then what the database holds is checked: every
//! acknowledged record stored once, nothing quarantined, every credential logged once, the
//! log's leaves numbered without a gap, and `gateway log audit` recomputing the log from its
//! rows.
//!
//! On one machine both processes share the cores with PostgreSQL, so the figure is what
//! running a node as several processes costs (the log sequencer's advisory lock, each process's
//! caches and connections), not the throughput a second machine would add.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use serde_json::{Value, json};

use crate::batches::{self, Pipeline};
use crate::client::{Pool, Target};
use crate::harness::{self, Env, Node};
use crate::load;
use crate::procstat::Watch;
use crate::run::{BATCH, Options, ingest_jobs, say};

/// Closed-loop workers when the run found no best concurrency (a `--short` run has no sweep).
const DEFAULT_WORKERS: usize = 8;

/// The scale-out phases; `workers` is the sustained phase's concurrency.
pub async fn run(
    opts: &Options,
    env: &Env,
    workers: Option<usize>,
    results: &mut Value,
) -> anyhow::Result<()> {
    let workers = workers.unwrap_or(DEFAULT_WORKERS);
    let mappings = crate::run::mappings(opts, env)?;
    say("scale-out: two gateway processes of one node on one database");
    let db = "bench_scale";
    let (pki, db_url) = harness::ingest_pki_in(env, "scale", db)?;
    let pipeline = Pipeline::new(&pki)?;
    let loads = opts.loads(&mappings, &pipeline)?;
    let phase = Phase {
        opts,
        env,
        loads,
        pki: &pki,
        workers,
    };
    let one = harness::ingest_node_in(env, "scale", db, &pki, &mappings)?;
    let mut acknowledged = 0;
    // One process, two, then one again: the store grows and the machine drifts between
    // phases, so two processes are compared with the mean of the phases around them.
    results["scale_out"]["one"] = phase.run("one process", &[&one], &mut acknowledged).await?;
    std::fs::create_dir_all(env.work.join("scale").join("second"))?;
    let two = harness::ingest_node_in(env, "scale/second", db, &pki, &mappings)?;
    results["scale_out"]["two"] = phase
        .run("two processes", &[&one, &two], &mut acknowledged)
        .await?;
    drop(two);
    results["scale_out"]["one_again"] = phase
        .run("one process again", &[&one], &mut acknowledged)
        .await?;
    results["scale_out"]["check"] = check(env, db, &db_url, &pki, acknowledged).await?;
    Ok(())
}

/// One sustained window against some processes of the node.
struct Phase<'a> {
    opts: &'a Options,
    env: &'a Env,
    loads: Arc<Vec<batches::Load>>,
    pki: &'a std::path::Path,
    workers: usize,
}

impl Phase<'_> {
    async fn run(
        &self,
        name: &str,
        nodes: &[&Node],
        acknowledged: &mut u64,
    ) -> anyhow::Result<Value> {
        let pids: Vec<u32> = nodes.iter().map(|n| n.pid()).collect();
        let watch = Watch {
            gateway: pids.clone(),
            postgres: Some(self.env.pg_pid),
            other: vec![],
        };
        let spread = pools(&self.loads, nodes, self.pki)?;
        // A connection to each process in every pool before the load.
        for pool in spread.iter() {
            pool.warm(nodes.len()).await?;
        }
        let jobs = ingest_jobs(self.loads.clone(), spread, BATCH);
        let running = watch.start();
        let out = load::closed(self.workers, self.opts.plan.scale_out, jobs).await;
        let usage = running.stop();
        *acknowledged += out.all_records;
        let mut v = out.to_json();
        v["usage"] = usage.to_json();
        v["workers"] = json!(self.workers);
        v["processes"] = json!(nodes.len());
        // Each process's own CPU: with two, that both served.
        let by_process: Vec<f64> = pids
            .iter()
            .map(|p| (usage.gateway_secs(*p) * 100.0).round() / 100.0)
            .collect();
        v["cpu_secs_by_process"] = json!(by_process);
        say(format!(
            "  {name}: {:.0} records/s, p99 {:.1} ms, errors {} (CPU s by process {by_process:?})",
            out.records_per_sec(),
            out.ms(99.0),
            out.errors,
        ));
        Ok(v)
    }
}

/// One pool per load's principal, its connections spread over `nodes`.
fn pools(
    loads: &[batches::Load],
    nodes: &[&Node],
    pki: &std::path::Path,
) -> anyhow::Result<Arc<Vec<Arc<Pool>>>> {
    let pools = loads
        .iter()
        .map(|l| {
            let targets = nodes
                .iter()
                .map(|n| Target::principal(n.exchange, pki, l.spec.principal))
                .collect::<anyhow::Result<Vec<_>>>()?;
            Ok(Pool::spread(targets))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(Arc::new(pools))
}

/// What the database holds after both phases; fails the run when anything was doubled or lost.
async fn check(
    env: &Env,
    db: &str,
    db_url: &str,
    pki: &std::path::Path,
    acknowledged: u64,
) -> anyhow::Result<Value> {
    let (client, conn) = tokio_postgres::connect(db_url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    let count = |sql: &'static str| {
        let client = &client;
        async move {
            client
                .query_one(sql, &[])
                .await
                .map(|r| r.get::<_, i64>(0))
                .with_context(|| sql.to_owned())
        }
    };
    let stored = count("SELECT count(*) FROM case_records").await?;
    let quarantined = count("SELECT count(*) FROM quarantine").await?;
    let credentials = count("SELECT count(*) FROM credential_versions").await?;
    ensure!(
        stored as u64 == acknowledged,
        "two processes: {acknowledged} records acknowledged, {stored} stored"
    );
    ensure!(quarantined == 0, "{quarantined} records quarantined");
    ensure!(credentials > 0, "no credential was issued");
    // Credentials are sequenced into the log after their push commits, by one process at a time.
    let deadline = Instant::now() + Duration::from_secs(120);
    let logged = loop {
        let logged = count("SELECT count(*) FROM tlog_leaves WHERE kind = 'credential'").await?;
        if logged == credentials || Instant::now() > deadline {
            break logged;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    ensure!(
        logged == credentials,
        "{credentials} credentials, {logged} logged after 120 s"
    );
    let unlogged = count(
        "SELECT count(*) FROM credential_versions v
          WHERE NOT EXISTS (SELECT 1 FROM tlog_leaves l WHERE l.ref_id = v.credential_id)",
    )
    .await?;
    ensure!(unlogged == 0, "{unlogged} credentials not in the log");
    let gaps = count("SELECT count(*) - coalesce(max(leaf_index) + 1, 0) FROM tlog_leaves").await?;
    ensure!(gaps == 0, "the log's leaf indexes are not 0..n ({gaps})");
    let mut audit = env.gateway(db);
    audit.env("GATEWAY_PKI_DIR", pki).args(["log", "audit"]);
    env.run(audit, "gateway log audit")?;
    say(format!(
        "  stored {stored} records (acknowledged {acknowledged}), {credentials} credentials each logged once, log audited"
    ));
    Ok(json!({
        "acknowledged": acknowledged, "stored": stored, "quarantined": quarantined,
        "credentials": credentials, "logged": logged, "log_audit": "pass",
    }))
}
