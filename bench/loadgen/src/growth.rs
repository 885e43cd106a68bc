//! The growth figures of issue 11 (`loadgen run --growth`, `bench/run.sh --growth`):
//!
//! 1. **A large store**: sustained ingest into an empty store, then `rows` synthetic records
//!    bulk-loaded straight into the same node's schema, then the same load again. Free disk is
//!    checked first, from the bytes per record the first measurement left in the store. The
//!    synthetic records are clones of records the node itself stored (every adapter, the same
//!    bodies) under new case numbers: binary `COPY` into `case_records`, and in the same
//!    transaction the case's `supervision_cases` row (which names its head) copied from its
//!    template's (a case's state is a function of its head's body). Not bulk-loaded: credentials (each one a
//!    signature and a transparency-log leaf) and `ingest_batches` rows (one per batch, looked
//!    up only by client batch id). Then `VACUUM (ANALYZE)` and a checkpoint, as a store that
//!    grew over months would be, so autovacuum does not start in the middle of the measurement.
//! 2. **Forwarding**: the parent's COPY ceiling; a city node (child) ingesting `drain_records`
//!    records while its province (parent) is down; the parent started and the backlog drained
//!    (records/s); then the child ingesting at half its peak with the parent up, the age of the
//!    oldest unsent outbox row sampled every second.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::ensure;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{Json, ToSql, Type};
use uuid::Uuid;

use crate::batches::{Load, Pipeline};
use crate::client::{Pool, Target};
use crate::harness::{self, Env};
use crate::load::{self, Window};
use crate::procstat::Watch;
use crate::run::{BATCH, Options, ingest_jobs, measured, say};

/// What `--growth` measures, and how much.
pub struct Growth {
    /// Synthetic records bulk-loaded before the second measurement.
    pub rows: u64,
    /// Records in the child's backlog.
    pub drain_records: u64,
    /// Only the growth phases (`--growth-only`).
    pub only: bool,
    /// Only the forwarding phases (`--drain-only`).
    pub drain_only: bool,
    /// The child's peak the lag phases take shares of (`--lag-peak`); none: the one measured.
    pub lag_peak: Option<f64>,
}

/// Synthetic records per COPY transaction (records and supervision rows together).
const LOAD_TX: u64 = 5_000;
/// Connections of the bulk load (as the COPY ceiling).
const LOAD_CONNECTIONS: u64 = 2;
/// Distinct stored records cloned by the bulk load.
const TEMPLATES: i64 = 20_000;
/// Margin on the measured bytes per record, plus room for WAL and the second measurement.
const DISK_MARGIN: f64 = 1.15;
const DISK_SLACK: u64 = 2 << 30;

async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    // The probes count the outbox once a second beside the nodes under test, and a count
    // planned as a parallel scan forked two workers each time (counted as the nodes'
    // PostgreSQL time): one process, not three.
    client
        .batch_execute("SET max_parallel_workers_per_gather = 0")
        .await?;
    Ok(client)
}

/// Bytes free to an unprivileged writer on the file system holding `path` (statvfs).
fn free_bytes(path: &Path) -> anyhow::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path and `st` a valid, writable statvfs.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    ensure!(
        rc == 0,
        "statvfs {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
    Ok(st.f_bavail as u64 * st.f_frsize as u64)
}

fn gib(bytes: f64) -> f64 {
    (bytes / (1u64 << 30) as f64 * 10.0).round() / 10.0
}

fn pools(
    loads: &[Load],
    addr: std::net::SocketAddr,
    pki: &Path,
    principal: impl Fn(&Load) -> String,
) -> anyhow::Result<Arc<Vec<Arc<Pool>>>> {
    Ok(Arc::new(
        loads
            .iter()
            .map(|l| Target::principal(addr, pki, &principal(l)).map(Pool::new))
            .collect::<anyhow::Result<_>>()?,
    ))
}

/// The closed-loop concurrency with the best rate (the main run's sweep), or 8 without one.
async fn best_workers(
    opts: &Options,
    watch: &Watch,
    loads: &Arc<Vec<Load>>,
    pools: &Arc<Vec<Arc<Pool>>>,
) -> (usize, Vec<Value>) {
    let mut best = (8usize, 0.0f64);
    let mut sweep = Vec::new();
    for &workers in &opts.plan.sweep {
        let jobs = ingest_jobs(loads.clone(), pools.clone(), BATCH);
        let (out, mut v) =
            measured(watch, load::closed(workers, opts.plan.sweep_window, jobs)).await;
        say(format!(
            "  sweep {workers} workers: {:.0} records/s",
            out.records_per_sec()
        ));
        v["workers"] = json!(workers);
        sweep.push(v);
        if out.records_per_sec() > best.1 {
            best = (workers, out.records_per_sec());
        }
    }
    (best.0, sweep)
}

pub async fn run(
    opts: &Options,
    growth: &Growth,
    env: &Env,
    results: &mut Value,
) -> anyhow::Result<()> {
    results["plan"]["growth"] = json!({
        "rows": growth.rows, "drain_records": growth.drain_records, "only": growth.only,
        "drain_only": growth.drain_only,
        "load_rows_per_transaction": LOAD_TX, "load_connections": LOAD_CONNECTIONS,
        "templates": TEMPLATES, "lag": lag_window(opts),
    });
    let mappings = crate::run::mappings(opts, env)?;
    say("growth: gateway pki init");
    let db = "bench_growth";
    let (pki, db_url) = harness::ingest_pki_in(env, "growth", db)?;
    let pipeline = Pipeline::new(&pki)?;
    let loads = opts.loads(&mappings, &pipeline)?;
    if !growth.drain_only {
        store(opts, growth, env, results, &pki, &db_url, &mappings, &loads).await?;
    }
    forwarding(opts, growth, env, results, &mappings, &loads, &pipeline).await
}

/// Empty store, bulk load, grown store: the same node, workers and window.
#[allow(clippy::too_many_arguments)]
async fn store(
    opts: &Options,
    growth: &Growth,
    env: &Env,
    results: &mut Value,
    pki: &Path,
    db_url: &str,
    mappings: &Path,
    loads: &Arc<Vec<Load>>,
) -> anyhow::Result<()> {
    let db = "bench_growth";
    let plan = &opts.plan;
    say("growth: ingest into an empty store");
    let node = harness::ingest_node_in(env, "growth", db, pki, mappings)?;
    let watch = Watch {
        gateway: vec![node.pid()],
        postgres: Some(env.pg_pid),
        other: vec![],
    };
    let pool = pools(loads, node.exchange, pki, |l| l.spec.principal.to_owned())?;
    let (workers, sweep) = best_workers(opts, &watch, loads, &pool).await;
    results["growth"]["sweep"] = json!(sweep);
    let jobs = ingest_jobs(loads.clone(), pool.clone(), BATCH);
    let (empty, mut v) = measured(&watch, load::closed(workers, plan.sustained, jobs)).await;
    v["workers"] = json!(workers);
    say(format!(
        "  empty store: {:.0} records/s ({workers} workers), errors {}",
        empty.records_per_sec(),
        empty.errors
    ));
    results["growth"]["empty"] = v;
    drop(pool);
    drop(node);

    // Disk: what a stored record takes (its row, head and supervision row, with indexes and
    // TOAST), measured on what the node just wrote.
    let client = connect(db_url).await?;
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM case_records),
                    (pg_total_relation_size('case_records')
                     + pg_total_relation_size('supervision_cases'))::int8",
            &[],
        )
        .await?;
    let (stored, bytes): (i64, i64) = (row.get(0), row.get(1));
    ensure!(stored > 0, "the empty-store measurement stored nothing");
    let per_record = bytes as f64 / stored as f64;
    let pg_dir = env.work.join("pg");
    let free = free_bytes(&pg_dir)?;
    let needed = per_record * growth.rows as f64 * DISK_MARGIN + DISK_SLACK as f64;
    results["growth"]["disk"] = json!({
        "bytes_per_record": per_record.round(), "measured_on_records": stored,
        "needed_gib": gib(needed), "free_gib": gib(free as f64), "path": pg_dir.display().to_string(),
    });
    say(format!(
        "  disk: {per_record:.0} bytes per stored record; {} records need ~{:.1} GiB, {:.1} GiB free under {}",
        growth.rows,
        gib(needed),
        gib(free as f64),
        pg_dir.display()
    ));
    ensure!(
        (free as f64) >= needed,
        "not enough free disk for the growth phase: {} records need about {:.1} GiB ({per_record:.0} \
         bytes per stored record measured here × {DISK_MARGIN}, plus {} GiB for WAL and the measurement) \
         and {} has {:.1} GiB free: free some space, put BENCH_WORK elsewhere, or pass a smaller --growth-rows",
        growth.rows,
        gib(needed),
        DISK_SLACK >> 30,
        pg_dir.display(),
        gib(free as f64)
    );

    results["growth"]["bulk_load"] = bulk_load(db_url, &client, growth.rows).await?;

    say("growth: ingest with the store grown");
    let node = harness::ingest_node_in(env, "growth", db, pki, mappings)?;
    let watch = Watch {
        gateway: vec![node.pid()],
        postgres: Some(env.pg_pid),
        other: vec![],
    };
    let pool = pools(loads, node.exchange, pki, |l| l.spec.principal.to_owned())?;
    let jobs = ingest_jobs(loads.clone(), pool.clone(), BATCH);
    let (grown, mut v) = measured(&watch, load::closed(workers, plan.sustained, jobs)).await;
    v["workers"] = json!(workers);
    let ratio = grown.records_per_sec() / empty.records_per_sec().max(1e-9);
    say(format!(
        "  grown store: {:.0} records/s = {ratio:.2} × the empty store, errors {}",
        grown.records_per_sec(),
        grown.errors
    ));
    results["growth"]["grown"] = v;
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM case_records), (SELECT count(*) FROM quarantine),
                    pg_database_size(current_database())",
            &[],
        )
        .await?;
    let quarantined: i64 = row.get(1);
    results["growth"]["stored_after"] = json!({
        "case_records": row.get::<_, i64>(0), "quarantined": quarantined,
        "database_gib": gib(row.get::<_, i64>(2) as f64),
    });
    results["growth"]["ratio"] = json!((ratio * 1000.0).round() / 1000.0);
    ensure!(
        quarantined == 0,
        "records were quarantined: see {}",
        node.log.display()
    );
    results["growth"]["listing"] = listing(&node, pki, &client).await?;
    Ok(())
}

/// Times of `GET /v1/records` answered from the grown store (each query in turn, one at a time,
/// `LISTING_RUNS` times; the first run warms the caches): the node's newest records, a
/// district's, an item's, a holder's, a holder it has never seen, one case. The node's supervisor asks
/// (its own region, so every record is in scope; what the sharing policy withholds is still
/// read and counted).
async fn listing(
    node: &harness::Node,
    pki: &Path,
    db: &tokio_postgres::Client,
) -> anyhow::Result<Value> {
    const LISTING_RUNS: usize = 5;
    let sample = db
        .query_one(
            "SELECT body->'applicant'->>'id_number', case_no FROM case_records
             WHERE body IS NOT NULL ORDER BY occurred_at DESC LIMIT 1",
            &[],
        )
        .await?;
    let (holder, case_no): (String, String) = (sample.get(0), sample.get(1));
    let queries = [
        ("newest", format!("region={}", harness::CHILD)),
        ("district", "region=621002000000".to_owned()),
        ("item", "item=620130001000".to_owned()),
        ("holder", format!("holder={holder}")),
        ("unknown_holder", "holder=620000000000000000".to_owned()),
        ("case", format!("case_no={case_no}")),
    ];
    let pool = Pool::new(Target::principal(node.web, pki, "qingyang-supervisor")?);
    let mut out = serde_json::Map::new();
    for (name, query) in queries {
        let path = format!("/v1/records?{query}&purpose=supervision");
        let mut ms = Vec::with_capacity(LISTING_RUNS);
        let mut found = 0;
        for _ in 0..LISTING_RUNS {
            let started = Instant::now();
            let answer = pool
                .send(http::Method::GET, &path, None, bytes::Bytes::new())
                .await?;
            ms.push(started.elapsed().as_secs_f64() * 1e3);
            ensure!(
                answer.status.is_success(),
                "{path}: {} {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            );
            let body: Value = serde_json::from_slice(&answer.body)?;
            found = body["records"].as_array().map_or(0, Vec::len)
                + body["withheld"].as_u64().unwrap_or(0) as usize;
        }
        let first = ms[0];
        let mut warm = ms[1..].to_vec();
        warm.sort_by(f64::total_cmp);
        let median = warm[warm.len() / 2];
        say(format!(
            "  listing {name} ({query}): {found} records, first {:.1} ms, then median {median:.1} ms, max {:.1} ms",
            first,
            warm[warm.len() - 1]
        ));
        out.insert(
            name.to_owned(),
            json!({
                "query": query, "records": found, "first_ms": round1(first),
                "median_ms": round1(median), "max_ms": round1(warm[warm.len() - 1]),
            }),
        );
    }
    Ok(Value::Object(out))
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// A stored record the bulk load clones.
struct Template {
    source_system: String,
    case_no: String,
    version: i64,
    department: String,
    region: String,
    item_code: String,
    status: String,
    occurred_at: chrono::DateTime<chrono::Utc>,
    ingested_at: chrono::DateTime<chrono::Utc>,
    content_hash: Vec<u8>,
    body: Box<RawValue>,
}

const COPY_RECORDS: &str = "COPY case_records (record_id, source_system, case_no, version, \
     department, region_code, item_code, status, occurred_at, ingested_at, batch_id, content_hash, \
     body) FROM STDIN BINARY";
const RECORD_TYPES: [Type; 13] = [
    Type::UUID,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TIMESTAMPTZ,
    Type::TIMESTAMPTZ,
    Type::UUID,
    Type::BYTEA,
    Type::JSONB,
];

/// Copy `rows` clones of the store's records (case `<case_no>-g<pass>`, new record ids) into
/// `case_records`, with their supervision rows (the cases' heads); then VACUUM (ANALYZE) and a
/// checkpoint.
async fn bulk_load(url: &str, client: &tokio_postgres::Client, rows: u64) -> anyhow::Result<Value> {
    let templates: Vec<Template> = client
        .query(
            "SELECT r.source_system, r.case_no, r.version, r.department, r.region_code, r.item_code,
                    r.status, r.occurred_at, r.ingested_at, r.content_hash, r.body::text
             FROM supervision_cases s
             JOIN case_records r ON r.record_id = s.record_id
             WHERE r.body IS NOT NULL
             ORDER BY r.record_id LIMIT $1",
            &[&TEMPLATES],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(Template {
                source_system: r.get(0),
                case_no: r.get(1),
                version: r.get(2),
                department: r.get(3),
                region: r.get(4),
                item_code: r.get(5),
                status: r.get(6),
                occurred_at: r.get(7),
                ingested_at: r.get(8),
                content_hash: r.get(9),
                body: RawValue::from_string(r.get(10))?,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    ensure!(!templates.is_empty(), "no stored record to clone");
    // The supervision row of a clone is its template's, under the clone's case and record id.
    let columns: Vec<String> = client
        .query(
            "SELECT column_name::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = 'supervision_cases'
             ORDER BY ordinal_position",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .filter(|c: &String| {
            !["source_system", "case_no", "record_id", "updated_at"].contains(&c.as_str())
        })
        .collect();
    let supervision = format!(
        "INSERT INTO supervision_cases (source_system, case_no, record_id, {cols}, updated_at)
         SELECT s.source_system, u.case_no, u.record_id, {s_cols}, now()
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::uuid[]) AS u(sys, template, case_no, record_id)
         JOIN supervision_cases s ON s.source_system = u.sys AND s.case_no = u.template",
        cols = columns.join(", "),
        s_cols = columns
            .iter()
            .map(|c| format!("s.{c}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    say(format!(
        "growth: bulk-loading {rows} records (clones of {} stored ones): binary COPY of records, \
         supervision rows, {LOAD_TX} per transaction, {LOAD_CONNECTIONS} connections",
        templates.len()
    ));
    let templates = Arc::new(templates);
    let supervision = Arc::new(supervision);
    let done = Arc::new(AtomicU64::new(0));
    let finished = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let progress = {
        let (done, finished) = (done.clone(), finished.clone());
        tokio::spawn(async move {
            while !finished.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let secs = started.elapsed().as_secs();
                if secs.is_multiple_of(30) {
                    let n = done.load(Ordering::Relaxed);
                    let rate = n as f64 / started.elapsed().as_secs_f64();
                    say(format!(
                        "  {n} of {rows} loaded ({rate:.0}/s, about {:.0} s to go)",
                        (rows - n.min(rows)) as f64 / rate.max(1.0)
                    ));
                }
            }
        })
    };
    let chunks = rows.div_ceil(LOAD_TX);
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..LOAD_CONNECTIONS {
        let mut db = connect(url).await?;
        let (templates, supervision, done) = (templates.clone(), supervision.clone(), done.clone());
        tasks.spawn(async move {
            let sup = db.prepare(&supervision).await?;
            let mut chunk = c;
            while chunk < chunks {
                let range = chunk * LOAD_TX..((chunk + 1) * LOAD_TX).min(rows);
                let n = templates.len() as u64;
                let clones: Vec<(&Template, String, Uuid)> = range
                    .clone()
                    .map(|k| {
                        let t = &templates[(k % n) as usize];
                        (t, format!("{}-g{}", t.case_no, k / n), Uuid::now_v7())
                    })
                    .collect();
                let tx = db.transaction().await?;
                let writer =
                    BinaryCopyInWriter::new(tx.copy_in(COPY_RECORDS).await?, &RECORD_TYPES);
                let mut writer = std::pin::pin!(writer);
                let batch = Uuid::now_v7();
                for (t, case_no, id) in &clones {
                    let values: [&(dyn ToSql + Sync); 13] = [
                        id,
                        &t.source_system,
                        case_no,
                        &t.version,
                        &t.department,
                        &t.region,
                        &t.item_code,
                        &t.status,
                        &t.occurred_at,
                        &t.ingested_at,
                        &batch,
                        &t.content_hash,
                        &Json(&*t.body),
                    ];
                    writer.as_mut().write(&values).await?;
                }
                writer.finish().await?;
                let systems: Vec<&str> =
                    clones.iter().map(|c| c.0.source_system.as_str()).collect();
                let of: Vec<&str> = clones.iter().map(|c| c.0.case_no.as_str()).collect();
                let cases: Vec<&str> = clones.iter().map(|c| c.1.as_str()).collect();
                let ids: Vec<Uuid> = clones.iter().map(|c| c.2).collect();
                let inserted = tx.execute(&sup, &[&systems, &of, &cases, &ids]).await?;
                ensure!(
                    inserted == clones.len() as u64,
                    "supervision rows: {inserted} for {} records",
                    clones.len()
                );
                tx.commit().await?;
                done.fetch_add(clones.len() as u64, Ordering::Relaxed);
                chunk += LOAD_CONNECTIONS;
            }
            anyhow::Ok(())
        });
    }
    let mut outcome = Ok(());
    while let Some(r) = tasks.join_next().await {
        if let Err(e) = r.map_err(anyhow::Error::from).and_then(|r| r) {
            outcome = Err(e);
            tasks.abort_all();
        }
    }
    finished.store(true, Ordering::Relaxed);
    let _ = progress.await;
    outcome?;
    let load_secs = started.elapsed().as_secs_f64();
    say(format!(
        "  loaded {rows} records in {load_secs:.0} s ({:.0}/s); VACUUM (ANALYZE) and CHECKPOINT",
        rows as f64 / load_secs
    ));
    let t = Instant::now();
    client
        .batch_execute("VACUUM (ANALYZE) case_records, supervision_cases")
        .await?;
    let vacuum_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    client.batch_execute("CHECKPOINT").await?;
    let checkpoint_secs = t.elapsed().as_secs_f64();
    let sizes = client
        .query_one(
            "SELECT pg_total_relation_size('case_records')::int8,
                    pg_total_relation_size('supervision_cases')::int8, (SELECT count(*) FROM case_records)",
            &[],
        )
        .await?;
    let size = |i: usize| gib(sizes.get::<_, i64>(i) as f64);
    say(format!(
        "  VACUUM {vacuum_secs:.0} s, CHECKPOINT {checkpoint_secs:.0} s; case_records {} GiB, supervision_cases {} GiB",
        size(0),
        size(1)
    ));
    Ok(json!({
        "rows": rows, "templates": templates.len(),
        "secs": (load_secs * 10.0).round() / 10.0,
        "rows_per_sec": (rows as f64 / load_secs).round(),
        "vacuum_analyze_secs": (vacuum_secs * 10.0).round() / 10.0,
        "checkpoint_secs": (checkpoint_secs * 10.0).round() / 10.0,
        "supervision_rows": true, "credentials": false, "ingest_batches": false,
        "case_records_total": sizes.get::<_, i64>(2),
        "gib": {"case_records": size(0), "supervision_cases": size(1)},
    }))
}

fn lag_window(opts: &Options) -> Value {
    let w = lag(opts);
    json!({"warmup_secs": w.warmup.as_secs_f64(), "measure_secs": w.measure.as_secs_f64()})
}

fn lag(opts: &Options) -> Window {
    let (warmup, measure) = if opts.plan.short {
        (1.0, 8.0)
    } else {
        (5.0, 60.0)
    };
    Window {
        warmup: Duration::from_secs_f64(warmup),
        measure: Duration::from_secs_f64(measure),
    }
}

/// The child's principal of the department of `load`'s adapter (`gateway pki init --topology`).
fn child_principal(load: &Load) -> String {
    let dept = match load.spec.adapter {
        "health-county-birth-csv" => "health",
        adapter => adapter,
    };
    format!("n{}-{dept}", harness::CHILD)
}

/// Push batches from `workers` workers until `records` records are acknowledged; returns the
/// records acknowledged, the seconds it took and the errors.
async fn push_records(
    workers: usize,
    records: u64,
    loads: &Arc<Vec<Load>>,
    pools: &Arc<Vec<Arc<Pool>>>,
) -> anyhow::Result<(u64, f64, u64)> {
    let make = ingest_jobs(loads.clone(), pools.clone(), BATCH);
    let acked = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..workers {
        let (make, acked, errors) = (make.clone(), acked.clone(), errors.clone());
        tasks.spawn(async move {
            let mut first_error = None;
            while acked.load(Ordering::Relaxed) < records {
                let job = make(w);
                match job
                    .pool
                    .send(job.method, &job.path, job.content_type, job.body)
                    .await
                {
                    Ok(a) if a.status.is_success() => {
                        acked.fetch_add(job.records, Ordering::Relaxed);
                    }
                    other => {
                        let n = errors.fetch_add(1, Ordering::Relaxed);
                        first_error.get_or_insert_with(|| match other {
                            Ok(a) => {
                                format!("HTTP {}: {}", a.status, String::from_utf8_lossy(&a.body))
                            }
                            Err(e) => format!("{e:#}"),
                        });
                        if n > 20 {
                            break;
                        }
                    }
                }
            }
            first_error
        });
    }
    let mut first_error = None;
    while let Some(r) = tasks.join_next().await {
        if let Some(e) = r? {
            first_error.get_or_insert(e);
        }
    }
    let errors = errors.load(Ordering::Relaxed);
    if let Some(e) = first_error
        && acked.load(Ordering::Relaxed) < records
    {
        anyhow::bail!("pushing the backlog failed ({errors} errors): {e}");
    }
    Ok((
        acked.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
        errors,
    ))
}

/// Unsent outbox items (a row names up to 100 since migration 0032) and the age of the
/// oldest row, in seconds.
async fn outbox(db: &tokio_postgres::Client) -> anyhow::Result<(i64, f64)> {
    let sql = format!(
        "SELECT coalesce(sum({}), 0)::int8,
                coalesce(extract(epoch FROM clock_timestamp() - min(created_at))::float8, 0)
         FROM outbox",
        items(db).await?
    );
    let r = db.query_one(&sql, &[]).await?;
    Ok((r.get(0), r.get(1)))
}

/// How many items an outbox row names, in SQL: `ref_ids` since migration 0032, one before
/// (so a binary from before it can be measured against one after). Asked once a run (the probes run every second): 0 not yet, 1 arrays, 2 one item a row.
async fn items(db: &tokio_postgres::Client) -> anyhow::Result<&'static str> {
    static KNOWN: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);
    let known = KNOWN.load(Ordering::Relaxed);
    if known != 0 {
        return Ok(if known == 1 {
            "cardinality(ref_ids)"
        } else {
            "1"
        });
    }
    let arrays = db
        .query_opt(
            "SELECT 1 FROM information_schema.columns
             WHERE table_name = 'outbox' AND column_name = 'ref_ids'",
            &[],
        )
        .await?
        .is_some();
    KNOWN.store(if arrays { 1 } else { 2 }, Ordering::Relaxed);
    Ok(if arrays { "cardinality(ref_ids)" } else { "1" })
}

/// `node`'s samples of `name` (with its labels, as rendered; 0 when absent), read by its
/// operator from `/metrics`.
async fn metric_samples<const N: usize>(
    node: &harness::Node,
    region: &str,
    names: [&str; N],
) -> anyhow::Result<[f64; N]> {
    let clients = node.pki.join("clients");
    let operator = |ext: &str| clients.join(format!("n{region}-operator.{ext}"));
    let client = gateway::client::ExchangeClient::new(
        &format!("https://localhost:{}", node.web.port()),
        &node.pki.join("ca.crt"),
        &operator("crt"),
        &operator("key"),
    )?;
    let metrics = client.get("/metrics").await?;
    let text = String::from_utf8_lossy(&metrics.body);
    Ok(names.map(|name| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} "))?.trim().parse().ok())
            .unwrap_or(0.0)
    }))
}

/// Record bodies `node` has sent its parent, from memory and from the database
/// (`gateway_forward_bodies_total`).
async fn bodies_sent(node: &harness::Node, region: &str) -> anyhow::Result<(f64, f64)> {
    let [memory, database] = metric_samples(
        node,
        region,
        [
            r#"gateway_forward_bodies_total{from="memory"}"#,
            r#"gateway_forward_bodies_total{from="database"}"#,
        ],
    )
    .await?;
    Ok((memory, database))
}

/// What `bodies_sent` counted between `before` and `after`, as JSON.
fn bodies_from(before: (f64, f64), after: (f64, f64)) -> Value {
    json!({"memory": after.0 - before.0, "database": after.1 - before.1})
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((q / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn forwarding(
    opts: &Options,
    growth: &Growth,
    env: &Env,
    results: &mut Value,
    mappings: &Path,
    loads: &Arc<Vec<Load>>,
    pipeline: &Pipeline,
) -> anyhow::Result<()> {
    let plan = &opts.plan;
    // The parent's ceiling: the same COPY as the main run's, into a database with its schema,
    // nothing else running.
    say("forwarding: the parent's COPY ceiling");
    let rows = crate::run::copy_rows(loads, pipeline, plan.copy_rows)?;
    let copy_url = env.fresh_database("bench_copy")?;
    let mut migrate = env.gateway("bench_copy");
    migrate.arg("migrate");
    env.run(migrate, "gateway migrate")?;
    let watch_pg = Watch {
        postgres: Some(env.pg_pid),
        ..Watch::default()
    };
    let copy =
        crate::ceilings::copy(&copy_url, Arc::new(rows), 2, 500, plan.copy, &watch_pg).await?;
    let copy_rate = copy["rows_per_sec"].as_f64().unwrap_or(0.0);
    say(format!("  COPY: {copy_rate:.0} rows/s"));
    results["growth"]["forwarding"]["parent_copy"] = copy;
    // As in the main run: the copied rows' autovacuum and checkpoint are not the drain's.
    env.drop_database("bench_copy")?;
    crate::run::settle(&env.url("postgres")?).await?;

    say("forwarding: province (parent) and city (child) nodes; the parent stopped");
    let (parent, child) = harness::node_pair_in(env, "drain", Some(mappings))?;
    let child_url = env.url(&format!("bench_drain_{}", harness::CHILD))?;
    drop(parent);
    let db = connect(&child_url).await?;
    let cpki = child.pki.clone();
    let pools = pools(loads, child.exchange, &cpki, child_principal)?;
    let workers = 8;
    let (acked, secs, errors) = push_records(workers, growth.drain_records, loads, &pools).await?;
    let peak = acked as f64 / secs;
    say(format!(
        "  child ingested {acked} records in {secs:.1} s ({peak:.0}/s, {workers} workers) with its parent down"
    ));
    let (backlog, _) = outbox(&db).await?;
    let items = items(&db).await?;
    let r = db
        .query_one(
            &format!(
                "SELECT count(*), coalesce(sum({items}) FILTER (WHERE kind = 'record'), 0)::int8
                 FROM outbox"
            ),
            &[],
        )
        .await?;
    let (backlog_rows, backlog_records): (i64, i64) = (r.get(0), r.get(1));
    ensure!(
        backlog_records as u64 >= acked,
        "the child's outbox holds {backlog_records} records for {acked} acknowledged"
    );
    // Rows the drainer tried while the parent was down wait out their retry delay (up to
    // 60 s): make the whole backlog due, so the figure is the drain rate, not the retry schedule.
    db.execute("UPDATE outbox SET next_attempt_at = now()", &[])
        .await?;
    // The child's backlog vacuumed (the update above left a dead row per outbox row) and
    // checkpointed before the parent starts: the window measures the drain, not the cleanup
    // after its set-up (counted in it until 2026-12-06).
    db.batch_execute("VACUUM (ANALYZE)").await?;
    let settled = crate::run::settle(&child_url).await?;
    say(format!(
        "  backlog: {backlog} outbox items in {backlog_rows} rows ({backlog_records} records), vacuumed and settled in \
         {settled:.1} s; starting the parent"
    ));
    let parent = harness::pair_node(env, "drain", harness::PARENT, Some(mappings))?;
    // `--perf`: the parent node, and PostgreSQL for both nodes, from its start to the end of
    // the drain (the drainers' backoff in between is idle and adds no samples).
    let perf =
        crate::profile::Perf::start_if(opts.perf, parent.pid(), &env.work.join("perf-drain.data"))?;
    let watch = Watch {
        gateway: vec![parent.pid(), child.pid()],
        postgres: Some(env.pg_pid),
        other: vec![],
    };
    let running = watch.start();
    // CPU is measured from the first send: until then the drainers sit out their retry delay.
    let mut sending = None;
    let up = Instant::now();
    // The drainer may still be in its failure backoff (up to 30 s) when the parent comes up;
    // a backlog that stops shrinking for longer than that is stuck.
    let stall = Duration::from_secs(if opts.plan.short { 75 } else { 120 });
    let mut samples = Vec::new();
    let (mut least, mut progress) = (i64::MAX, Instant::now());
    let stuck = loop {
        let (left, age) = outbox(&db).await?;
        samples.push(json!({"secs": (up.elapsed().as_secs_f64() * 10.0).round() / 10.0, "unsent": left, "oldest_secs": age.round()}));
        if sending.is_none() && left < backlog {
            sending = Some((watch.start(), left));
        }
        if left == 0 {
            break None;
        }
        if left < least {
            (least, progress) = (left, Instant::now());
        }
        if progress.elapsed() > stall {
            break Some(left);
        }
        // Counting a 200,000-row backlog costs its PostgreSQL ~55 ms: once a second keeps
        // the probe's share of the cores being measured near 3 %.
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let wall = up.elapsed().as_secs_f64();
    if let Some(perf) = perf {
        results["profile"]["drain"] = perf.finish()?;
    }
    // Where the child's drainers found the bodies: the last minute's pushes in memory
    // (`federation.recent_bodies_mb`), the rest in its database.
    let sent_after_drain = bodies_sent(&child, harness::CHILD).await?;
    // The items still unsent when CPU measuring began: those sent inside the window.
    let (usage, unsent_at_start) = match sending {
        Some((sending, unsent)) => {
            drop(running.stop());
            (sending.stop(), unsent)
        }
        None => (running.stop(), backlog),
    };
    // Sent rows leave the outbox (migration 0031): what went is what is missing from it, and
    // when is the parent's `stored_at` (each forwarded batch's transaction start; the child's
    // `sent_at`, each claim's, until 2026-12-06).
    let left_records: i64 = db
        .query_one(
            &format!("SELECT coalesce(sum({items}), 0)::int8 FROM outbox WHERE kind = 'record'"),
            &[],
        )
        .await?
        .get(0);
    let (records_sent, items_sent) = (backlog_records - left_records, backlog - stuck.unwrap_or(0));
    let parent_db = connect(&env.url(&format!("bench_drain_{}", harness::PARENT))?).await?;
    let r = parent_db
        .query_one(
            "SELECT count(*), extract(epoch FROM max(stored_at) - min(stored_at))::float8
             FROM case_records WHERE forwarded_from IS NOT NULL",
            &[],
        )
        .await?;
    let (at_parent, span): (i64, Option<f64>) = (r.get(0), r.get(1));
    let span = span.unwrap_or(0.0).max(1e-3);
    let drain_rate = records_sent as f64 / span;
    let ratio = drain_rate / copy_rate.max(1e-9);
    say(format!(
        "  drained {items_sent} outbox items ({records_sent} records) in {span:.1} s from the first send: \
         {drain_rate:.0} records/s = {ratio:.2} × the parent's COPY ({wall:.1} s from the parent's start)"
    ));
    ensure!(
        stuck.is_some() || at_parent >= records_sent,
        "the parent holds {at_parent} forwarded records, the child sent {records_sent}"
    );
    results["growth"]["forwarding"]["backlog"] = json!({
        "records_acknowledged": acked, "errors": errors, "secs": (secs * 10.0).round() / 10.0,
        "records_per_sec": peak.round(), "workers": workers,
        "outbox_items": backlog, "outbox_rows": backlog_rows, "outbox_records": backlog_records,
    });
    if let Some(left) = stuck {
        // What the child's drainer last heard from the parent.
        let log = std::fs::read_to_string(&child.log).unwrap_or_default();
        let last = log
            .lines()
            .rev()
            .find(|l| l.contains("forwarding to the parent failed"))
            .unwrap_or("")
            .chars()
            .take(600)
            .collect::<String>();
        say(format!(
            "  the backlog is STUCK: {left} outbox items unsent, none sent for {} s; the lag phase is skipped. \
             The child's drainer: {last}",
            stall.as_secs()
        ));
        results["growth"]["forwarding"]["stuck"] = json!({
            "unsent": left, "no_progress_secs": stall.as_secs(), "child_log": last,
        });
    }
    // Whose CPU a forwarded record took: each node's gateway and its database's backends (by
    // process title); the rest of PostgreSQL (WAL writer, checkpointer) the nodes share. The
    // parent's part on cores of its own is what a parent on a machine of its own could take.
    // Per outbox item sent inside the CPU window (here one item is one record).
    let in_window = (unsent_at_start - stuck.unwrap_or(0)).max(1) as f64;
    let per_record = |secs: f64| secs / in_window * 1e6;
    let round = |us: f64| (us * 10.0).round() / 10.0;
    let node = |pid: u32, region: &str| {
        let (gateway, postgres) = (
            per_record(usage.gateway_secs(pid)),
            per_record(usage.database_secs(&format!("bench_drain_{region}"))),
        );
        json!({"gateway_us": round(gateway), "postgres_us": round(postgres)})
    };
    let (parent_node, child_node) = (
        node(parent.pid(), harness::PARENT),
        node(child.pid(), harness::CHILD),
    );
    let parent_us = parent_node["gateway_us"].as_f64().unwrap_or(0.0)
        + parent_node["postgres_us"].as_f64().unwrap_or(0.0);
    let alone = (parent_us > 0.0).then(|| usage.machine_cores * 1e6 / parent_us);
    let by_node = json!({
        "parent": parent_node, "child": child_node,
        "postgres_shared_us": round(per_record(usage.cpu_secs("postgres")
            - usage.databases.values().sum::<f64>())),
        "parent_alone_records_per_sec": alone.map(f64::round),
        "parent_alone_ratio_to_copy": alone.map(|a| (a / copy_rate.max(1e-9) * 1000.0).round() / 1000.0),
    });
    let cpu_us_per_record = json!({
        "gateway": round(per_record(usage.cpu_secs("gateway"))),
        "postgres": round(per_record(usage.cpu_secs("postgres"))),
        "loadgen": round(per_record(usage.cpu_secs("loadgen"))),
        "items_in_window": in_window,
    });
    results["growth"]["forwarding"]["drain"] = json!({
        "by_node": by_node, "cpu_us_per_record": cpu_us_per_record,
        "outbox_items": items_sent, "records": records_sent,
        "secs_first_to_last_send": (span * 100.0).round() / 100.0,
        "secs_from_parent_start": (wall * 10.0).round() / 10.0,
        "records_per_sec": drain_rate.round(),
        "ratio_to_parent_copy": (ratio * 1000.0).round() / 1000.0,
        "complete": stuck.is_none(),
        "parent_forwarded_records": at_parent,
        "bodies_from": bodies_from((0.0, 0.0), sent_after_drain),
        "usage": usage.to_json(), "samples": samples,
    });

    if stuck.is_some() {
        return Ok(());
    }
    // Outbox lag with the parent up: the child at half its peak (open loop), the target; then
    // at a quarter, to show where forwarding keeps up on a machine the two nodes share.
    let lag_peak = growth.lag_peak.unwrap_or(peak);
    results["growth"]["forwarding"]["lag_peak_given"] = json!(growth.lag_peak);
    let lag_at = |share: f64| lag_phase(opts, &watch, &child_url, loads, &pools, lag_peak * share);
    results["growth"]["forwarding"]["lag"] = lag_at(0.5).await?;
    let sent_after_half = bodies_sent(&child, harness::CHILD).await?;
    results["growth"]["forwarding"]["lag"]["bodies_from"] =
        bodies_from(sent_after_drain, sent_after_half);
    results["growth"]["forwarding"]["lag_quarter"] = lag_at(0.25).await?;
    results["growth"]["forwarding"]["lag_quarter"]["bodies_from"] =
        bodies_from(sent_after_half, bodies_sent(&child, harness::CHILD).await?);
    // Forwarded batches the parent stored with plain INSERTs unless a record was there already
    // (sent again), after which that child's batches use ON CONFLICT for a while.
    let [careful, probed] = metric_samples(
        &parent,
        harness::PARENT,
        [
            "gateway_ingest_careful_reruns_total",
            "gateway_ingest_probed_reruns_total",
        ],
    )
    .await?;
    results["growth"]["forwarding"]["parent_careful_reruns"] = json!(careful);
    results["growth"]["forwarding"]["parent_probed_reruns"] = json!(probed);
    drop(child);
    drop(parent);
    Ok(())
}

/// The age of the child's oldest unsent outbox row, sampled every second while it ingests at
/// `records_per_sec` (open loop) with its parent up.
async fn lag_phase(
    opts: &Options,
    watch: &Watch,
    child_url: &str,
    loads: &Arc<Vec<Load>>,
    pools: &Arc<Vec<Arc<Pool>>>,
    records_per_sec: f64,
) -> anyhow::Result<Value> {
    // Start from an empty outbox: what an earlier phase left is not this rate's lag.
    let db = connect(child_url).await?;
    let since = Instant::now();
    while outbox(&db).await?.0 > 0 && since.elapsed() < Duration::from_secs(300) {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let rate = (records_per_sec / BATCH as f64).max(0.2);
    let w = lag(opts);
    say(format!(
        "forwarding: outbox lag with the child at {records_per_sec:.0} records/s ({rate:.2} batches/s, open loop, {:.0} s)",
        w.measure.as_secs_f64()
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let start = Instant::now();
            let mut out = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let (rows, age) = outbox(&db).await?;
                out.push((start.elapsed().as_secs_f64(), rows, age));
            }
            anyhow::Ok(out)
        })
    };
    let jobs = ingest_jobs(loads.clone(), pools.clone(), BATCH);
    let (out, mut v) = measured(watch, load::open(rate, w, jobs)).await;
    stop.store(true, Ordering::Relaxed);
    let samples = sampler.await??;
    let warm = w.warmup.as_secs_f64();
    let end = warm + w.measure.as_secs_f64();
    let measured_samples: Vec<&(f64, i64, f64)> = samples
        .iter()
        .filter(|s| s.0 >= warm && s.0 <= end)
        .collect();
    let mut lags: Vec<f64> = measured_samples.iter().map(|s| s.2).collect();
    lags.sort_by(f64::total_cmp);
    let third = |from: f64, to: f64| {
        measured_samples
            .iter()
            .filter(|s| s.0 >= warm + from * (end - warm) && s.0 < warm + to * (end - warm))
            .map(|s| s.2)
            .fold(0.0f64, f64::max)
    };
    let (first, last) = (third(0.0, 1.0 / 3.0), third(2.0 / 3.0, 1.01));
    // Bounded: the lag at the end of the phase is no worse than at its start, give or take a
    // drainer round (forward_interval_ms plus a batch).
    let bounded = last <= first + 1.0;
    let max = lags.last().copied().unwrap_or(0.0);
    let p99 = percentile(&lags, 99.0);
    say(format!(
        "  {:.0} records/s, outbox lag max {max:.1} s, p99 {p99:.1} s (first third max {first:.1} s, last third {last:.1} s): {}",
        out.records_per_sec(),
        if bounded { "bounded" } else { "GROWING" }
    ));
    v["lag_secs"] = json!({
        "max": max, "p99": p99, "p50": percentile(&lags, 50.0),
        "first_third_max": first, "last_third_max": last, "bounded": bounded,
        "samples": samples.iter().map(|s| json!([(s.0 * 10.0).round() / 10.0, s.1, (s.2 * 100.0).round() / 100.0])).collect::<Vec<_>>(),
    });
    Ok(v)
}
