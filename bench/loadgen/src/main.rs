//! `loadgen`: the gateway measured against this machine's ceilings, in one run
//! (`bench/run.sh`, see `bench/README.md`).
//!
//! - [`batches`]: native batches of every adapter from its fixture, renumbered per record;
//! - [`client`]: kept-alive HTTPS with client certificates (the gateway's TLS setup);
//! - [`load`]: closed-loop and open-loop load, latency histograms;
//! - [`procstat`]: CPU and memory of the gateway, PostgreSQL and the machine, from `/proc`;
//! - [`ceilings`]: COPY, ring Ed25519, JSON Schema, a plain hyper server;
//! - [`harness`]: PostgreSQL, `gateway pki init` + `gateway serve`, a node pair, nginx;
//! - [`profile`]: `perf record` of the node during sustained ingest, the single-record peak
//!   and verification (`--perf`): tables and flame graphs;
//! - [`growth`]: ingest with millions of records stored, forwarding drain and outbox lag
//!   (`--growth`);
//! - [`run`]: the phases in order; [`report`]: targets as ratios, and the markdown table.

mod batches;
mod ceilings;
mod client;
mod growth;
mod harness;
mod load;
mod procstat;
mod profile;
mod redate;
mod report;
mod run;
mod scale_out;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde_json::{Value, json};

/// The gateway binary's allocator (`gateway/src/main.rs`): the preparation figure runs the
/// gateway's pipeline in this process, and glibc malloc would make it ~30 % dearer than the node.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "loadgen",
    about = "Load generator and ceilings of bench/run.sh"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every figure and ceiling; write `<results>/<date>.json` and `.md` (`<date>-short.*`
    /// with --short).
    Run {
        /// A few seconds per figure (what CI can afford); no concurrency sweep.
        #[arg(long)]
        short: bool,
        #[arg(long, default_value = "bench/results")]
        results: PathBuf,
        /// Date in the file names (default: today, UTC).
        #[arg(long, env = "BENCH_DATE")]
        date: Option<String>,
        /// State of the run: PostgreSQL cluster, PKI, logs (reused and overwritten).
        #[arg(
            long,
            env = "BENCH_WORK",
            default_value = "/var/tmp/exchange-gateway-bench"
        )]
        work: PathBuf,
        /// The gateway binary (default: `gateway` next to this one).
        #[arg(long, env = "BENCH_GATEWAY_BIN")]
        gateway: Option<PathBuf>,
        #[arg(long, env = "BENCH_PG_PORT", default_value_t = 55449)]
        pg_port: u16,
        /// Leave out the nginx hop (when nginx cannot be installed).
        #[arg(long)]
        no_nginx: bool,
        /// Sample the node with `perf record` during sustained ingest, the single-record peak and
        /// verification: the hottest functions in the report, flame graphs of the node and of
        /// PostgreSQL beside it (`<date>-flame-<phase>-<node|postgres>.svg`).
        #[arg(long)]
        perf: bool,
        /// Also measure growth: ingest with `--growth-rows` records stored vs. an empty store,
        /// forwarding drain into a parent and outbox lag (needs disk: checked first).
        #[arg(long)]
        growth: bool,
        /// Only the growth phases (`<date>-growth.*`; implies --growth).
        #[arg(long)]
        growth_only: bool,
        /// Synthetic records bulk-loaded for the growth figure.
        #[arg(long, default_value_t = 10_000_000)]
        growth_rows: u64,
        /// Records in the child's backlog for the forwarding drain figure.
        #[arg(long, default_value_t = 200_000)]
        drain_records: u64,
        /// Of the growth phases, only forwarding (drain and lag; implies --growth-only).
        #[arg(long)]
        drain_only: bool,
        /// The child's peak (records/s) the lag phases take half and a quarter of, instead of
        /// the one this run measures: to compare two binaries at the same rates.
        #[arg(long)]
        lag_peak: Option<f64>,
        /// Send the fixtures' own dates (November 2026) instead of moving each record's to the
        /// day before the run: to compare with runs from before 2026-12-06.
        #[arg(long)]
        fixture_dates: bool,
        /// Concurrent clients of the verification phases (default 4).
        #[arg(long)]
        verify_workers: Option<usize>,
        /// The verification phases over HTTP/2: the clients' requests as streams of one
        /// connection (default: HTTP/1.1, a connection each).
        #[arg(long)]
        verify_http2: bool,
        /// The sustained-ingest window in seconds, instead of the plan's (60 s full, 4 s
        /// short): `--short --sustained-secs 40` compares two binaries on a steady state in
        /// ~2 minutes a run.
        #[arg(long)]
        sustained_secs: Option<f64>,
        /// Also run a node as two processes on one database: sustained ingest against one,
        /// then both, and what the database holds checked (results under `scale_out`).
        #[arg(long)]
        scale_out: bool,
    },
    /// Write the markdown report (and the targets) again from a results `.json`.
    Report { json: PathBuf },
    /// Only the gateway's own preparation of records (the `prepare` row of a run), printed as
    /// JSON: a quick check of a change to adapters or normalization, and a process to profile.
    Prepare {
        /// A trust bundle: the `pki` folder of an earlier run's node (or `gateway pki init`).
        #[arg(long, default_value = "/var/tmp/exchange-gateway-bench/ingest/pki")]
        pki: PathBuf,
        /// Seconds to run.
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
        /// Stop after this many batches instead (the adapters' batches in turn): the same
        /// work every run, to count its instructions, e.g. `valgrind --tool=callgrind
        /// --toggle-collect='gateway::ingest::prepare*' loadgen prepare --batches 64`.
        #[arg(long)]
        batches: Option<u64>,
        /// Records per batch: from 64 a batch is spread over the cores (the figure is then
        /// wall-clock time per batch, not one thread's).
        #[arg(long, default_value_t = 50)]
        records: u64,
    },
    /// The plain hyper server (the HTTPS ceiling), run as a child process by `run`.
    PlainServer {
        #[arg(long)]
        cert: PathBuf,
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        ca: PathBuf,
        /// Written with the bound address once listening.
        #[arg(long)]
        ready: PathBuf,
    },
}

fn first_line(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_default()
}

fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split(':').nth(1))
        .unwrap_or("?")
        .trim()
        .to_owned();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kib: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "mem_gib": (kib / 1024.0 / 1024.0).round(),
        "kernel": first_line("uname", &["-r"]),
        "postgres": first_line("sh", &["-c", "ls -d /usr/lib/postgresql/*/bin | tail -1 | xargs -I{} {}/postgres --version"]),
        "nginx": first_line("sh", &["-c", "command -v nginx >/dev/null && nginx -v 2>&1"]),
    })
}

fn commit(repo: &std::path::Path) -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    let head = git(&["rev-parse", "--short", "HEAD"]);
    let dirty = !git(&["status", "--porcelain", "--untracked-files=no"]).is_empty();
    if dirty {
        format!("{head} (plus the working tree)")
    } else {
        head
    }
}

fn write_markdown(results: &Value) -> String {
    let mut md = report::markdown(results);
    if let Some(e) = results["error"].as_str() {
        md.push_str(&format!("\n**The run failed:** {e}\n"));
    }
    md
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    match Cli::parse().command {
        Command::PlainServer {
            cert,
            key,
            ca,
            ready,
        } => ceilings::plain_server(&cert, &key, &ca, &ready).await,
        Command::Report { json } => {
            let mut out: Value = serde_json::from_slice(&std::fs::read(&json)?)?;
            out["targets"] = report::targets(&out);
            std::fs::write(&json, serde_json::to_string_pretty(&out)? + "\n")?;
            std::fs::write(json.with_extension("md"), write_markdown(&out))?;
            Ok(())
        }
        Command::Prepare {
            pki,
            secs,
            batches,
            records,
        } => {
            let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
            let mappings = repo.join(batches::MAPPING_FILE);
            let mappings = mappings.parent().context("mapping folder")?;
            let pipeline = batches::Pipeline::new(&pki).with_context(|| {
                format!(
                    "no node PKI in {}: run bench/run.sh once, or pass --pki with the folder of \
                     `gateway pki init --out DIR`",
                    pki.display()
                )
            })?;
            let loads = batches::loads(&repo, mappings, &pipeline, false)?;
            let until = batches.map_or(ceilings::Until::Secs(secs), ceilings::Until::Batches);
            let figure = ceilings::prepare_batches(&loads, &pipeline, until, records)?;
            println!("{figure}");
            Ok(())
        }
        Command::Run {
            short,
            results,
            date,
            work,
            gateway,
            pg_port,
            no_nginx,
            perf,
            growth,
            growth_only,
            growth_rows,
            drain_records,
            drain_only,
            lag_peak,
            fixture_dates,
            verify_workers,
            verify_http2,
            sustained_secs,
            scale_out,
        } => {
            let growth_only = growth_only || drain_only;
            let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
            let repo = repo.canonicalize().unwrap_or(repo);
            let gateway_bin = match gateway {
                Some(g) => g,
                None => std::env::current_exe()?
                    .parent()
                    .context("binary folder")?
                    .join("gateway"),
            };
            let gateway_bin = gateway_bin.canonicalize().with_context(|| {
                format!(
                    "{} not found: build it (cargo build --release -p exchange-gateway) or pass --gateway",
                    gateway_bin.display()
                )
            })?;
            let date = date.unwrap_or_else(|| chrono::Utc::now().format("%Y-%m-%d").to_string());
            let stem = match (short, growth_only) {
                (false, false) => date.clone(),
                (true, false) => format!("{date}-short"),
                (false, true) => format!("{date}-growth"),
                (true, true) => format!("{date}-short-growth"),
            };
            let mut out = json!({
                "date": date,
                "commit": commit(&repo),
                "rustc": first_line("rustc", &["-V"]),
                "machine": machine(),
                "gateway_binary": gateway_bin.display().to_string(),
                "fixture_dates": fixture_dates,
            });
            let opts = run::Options {
                plan: run::Plan::new(short)
                    .verify_workers(verify_workers)
                    .verify_http2(verify_http2)
                    .sustained_secs(sustained_secs),
                repo: repo.clone(),
                work,
                gateway_bin,
                pg_port,
                nginx: !no_nginx,
                perf,
                fixture_dates,
                scale_out,
                growth: (growth || growth_only).then_some(growth::Growth {
                    rows: growth_rows,
                    drain_records,
                    only: growth_only,
                    drain_only,
                    lag_peak,
                }),
            };
            let outcome = run::run(opts, &mut out).await;
            if let Err(e) = &outcome {
                out["error"] = json!(format!("{e:#}"));
            }
            out["targets"] = report::targets(&out);
            std::fs::create_dir_all(&results)?;
            profile::keep_flamegraphs(&mut out, &results, &stem)?;
            let (json_path, md_path) = (
                results.join(format!("{stem}.json")),
                results.join(format!("{stem}.md")),
            );
            std::fs::write(&json_path, serde_json::to_string_pretty(&out)? + "\n")?;
            let md = write_markdown(&out);
            std::fs::write(&md_path, &md)?;
            println!("{md}");
            eprintln!(
                "loadgen: wrote {} and {}",
                json_path.display(),
                md_path.display()
            );
            outcome
        }
    }
}
