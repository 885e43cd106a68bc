//! `--perf`: during the sustained ingest run, the single-record push peak and the verification
//! run, sample the node with `perf record` (software
//! `cpu-clock` event, which works where hardware counters are not exposed; every CPU, then the
//! node's samples only: `-p` lost most samples of the short-lived threads a batch is split
//! over, and undercounted their work by half) and keep the hottest
//! functions, by self and by inclusive time (call stacks unwound from DWARF CFI, as release
//! builds have no frame pointers; raw data stays in the work folder for `perf report -i`), and
//! keep PostgreSQL's most expensive statements from `pg_stat_statements`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::Context;
use serde_json::{Value, json};

pub struct Perf {
    child: Child,
    data: PathBuf,
    pid: u32,
}

impl Perf {
    pub fn start(pid: u32, data: &Path) -> anyhow::Result<Perf> {
        let child = Command::new("perf")
            .args([
                "record",
                "-e",
                "cpu-clock",
                "-F",
                "499",
                "--call-graph",
                "dwarf,16384",
                "-a",
            ])
            .arg("-o")
            .arg(data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("perf record (Debian package linux-perf)")?;
        Ok(Perf {
            child,
            data: data.to_owned(),
            pid,
        })
    }

    /// Stop recording; the hottest symbols by self time, and the project's functions (and the
    /// libraries it leans on) by inclusive time, each as a share of the node's samples.
    pub fn finish(mut self) -> anyhow::Result<Value> {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        self.child.wait()?;
        let report = |children: &str| -> anyhow::Result<Vec<(f64, String)>> {
            let out = Command::new("perf")
                .args([
                    "report", "--stdio", children, "--sort", "symbol", "-g", "none",
                ])
                .args(["--percent-limit", "1", "--pid", &self.pid.to_string(), "-i"])
                .arg(&self.data)
                .stderr(Stdio::null())
                .output()
                .context("perf report")?;
            Ok(String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| {
                    // "  12.34%   0.56%  [.] symbol" (--children) or "  12.34%  [.] symbol"
                    let (_, rest) = l.split_once('%')?;
                    let percent: f64 = l.split('%').next()?.trim().parse().ok()?;
                    // The symbol, without the padding and empty columns after it.
                    let symbol = rest.split_once("] ")?.1.split("   ").next()?.trim();
                    Some((percent, symbol.to_owned()))
                })
                .collect())
        };
        let row = |(percent, symbol): (f64, String)| json!({"percent": percent, "symbol": symbol});
        let own = [
            "gateway::",
            "domain::",
            "adapters::",
            "vc::",
            "tlog::",
            "serde_json_canonicalizer",
            "tokio_postgres::",
            "postgres_types",
            "hyper::proto",
            "rustls::",
            "jsonschema::",
        ];
        let inclusive: Vec<Value> = report("--children")?
            .into_iter()
            .filter(|(_, s)| own.iter().any(|p| s.trim_start_matches('<').starts_with(p)))
            .take(30)
            .map(row)
            .collect();
        let flat: Vec<Value> = report("--no-children")?
            .into_iter()
            .take(20)
            .map(row)
            .collect();
        Ok(json!({
            "data": self.data.display().to_string(),
            "event": "cpu-clock, DWARF call graphs",
            "inclusive": inclusive,
            "self": flat,
        }))
    }
}

/// The statements that took the most execution time since the last reset, with their planning
/// time (what a prepared statement re-planned on every call costs besides its execution).
pub async fn statements(db: &tokio_postgres::Client) -> anyhow::Result<Value> {
    let rows = db
        .query(
            "SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 160), calls,
                    total_exec_time, rows, total_plan_time
             FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 15",
            &[],
        )
        .await?;
    let total: f64 = db
        .query_one(
            "SELECT coalesce(sum(total_exec_time), 0) FROM pg_stat_statements",
            &[],
        )
        .await?
        .get(0);
    let top: Vec<Value> = rows
        .iter()
        .map(|r| {
            let ms: f64 = r.get(2);
            let calls: i64 = r.get(1);
            let plan: f64 = r.get(4);
            json!({
                "query": r.get::<_, String>(0), "calls": calls, "total_ms": ms.round(),
                "mean_ms": (ms / calls.max(1) as f64 * 1000.0).round() / 1000.0,
                "share": (ms / total.max(1e-9) * 1000.0).round() / 1000.0,
                "rows": r.get::<_, i64>(3),
                "mean_plan_ms": (plan / calls.max(1) as f64 * 1000.0).round() / 1000.0,
            })
        })
        .collect();
    Ok(
        json!({"source": "pg_stat_statements (execution time)", "total_ms": total.round(), "top": top}),
    )
}
