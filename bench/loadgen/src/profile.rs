//! `--perf`: during the sustained ingest run, the single-record push peak and the verification
//! run, sample the node with `perf record` (software
//! `cpu-clock` event, which works where hardware counters are not exposed; every CPU, then the
//! node's samples only: `-p` lost most samples of the short-lived threads a batch is split
//! over, and undercounted their work by half) and keep the hottest
//! functions, by self and by inclusive time (call stacks unwound from DWARF CFI, as release
//! builds have no frame pointers; raw data stays in the work folder for `perf report -i`), draw
//! flame graphs of the node and of PostgreSQL from the same samples ([`fold`], then inferno's
//! SVG), and keep PostgreSQL's most expensive statements from `pg_stat_statements`.
//!
//! `perf` reads every sample with `--no-inline`: resolving inlined frames from the binaries'
//! debug information took 110 s a call on a short run's ingest profile (1 s without), and by
//! symbol the tables come out the same.

use std::collections::BTreeMap;
use std::io::BufRead;
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
    /// [`Perf::start`] when `on` (`--perf`), else nothing.
    pub fn start_if(on: bool, pid: u32, data: &Path) -> anyhow::Result<Option<Perf>> {
        on.then(|| Perf::start(pid, data)).transpose()
    }

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
                // `relative`: shares of the node's samples. The default (`absolute`, used
                // until 2026-12-07) gave shares of every sample of the machine, idle included.
                .args([
                    "--no-inline",
                    "--percent-limit",
                    "1",
                    "--percentage",
                    "relative",
                ])
                .args(["--pid", &self.pid.to_string(), "-i"])
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
        // A run asked for profiles keeps its tables when the graphs cannot be drawn.
        let flamegraphs = self
            .flamegraphs()
            .unwrap_or_else(|e| json!({"error": format!("{e:#}")}));
        Ok(json!({
            "data": self.data.display().to_string(),
            "event": "cpu-clock, DWARF call graphs",
            "inclusive": inclusive,
            "self": flat,
            "flamegraphs": flamegraphs,
        }))
    }

    /// The node's and PostgreSQL's samples as flame graphs, SVG files beside the raw data
    /// (`perf-ingest.node.svg`, `perf-ingest.postgres.svg`); `main` copies them to the results.
    fn flamegraphs(&self) -> anyhow::Result<Value> {
        let mut perf = Command::new("perf")
            .args(["script", "--no-inline", "-F", "comm,pid,tid,ip,sym", "-i"])
            .arg(&self.data)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("perf script")?;
        let script = perf.stdout.take().context("perf script's output")?;
        let folded = fold(std::io::BufReader::new(script), self.pid)?;
        anyhow::ensure!(perf.wait()?.success(), "perf script failed");
        let mut graphs = json!({});
        for (who, stacks, title) in [
            ("node", &folded.node, "the gateway node"),
            ("postgres", &folded.postgres, "PostgreSQL"),
        ] {
            let path = self.data.with_extension(format!("{who}.svg"));
            draw(stacks, &format!("{title}: cpu-clock samples"), &path)?;
            graphs[who] = json!({
                "svg": path.display().to_string(),
                "samples": stacks.values().sum::<u64>(),
            });
        }
        Ok(graphs)
    }
}

/// Copy the flame graphs of `results["profile"]` into `dir` as
/// `<stem>-flame-<profile>-<node|postgres>.svg`, and name the copies in the results instead of
/// the work folder's files (which the next run overwrites).
pub fn keep_flamegraphs(results: &mut Value, dir: &Path, stem: &str) -> anyhow::Result<()> {
    let Some(profiles) = results["profile"].as_object_mut() else {
        return Ok(());
    };
    for (name, profile) in profiles {
        let Some(graphs) = profile
            .get_mut("flamegraphs")
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        for (who, graph) in graphs {
            let Some(svg) = graph.get("svg").and_then(Value::as_str) else {
                continue;
            };
            let file = format!("{stem}-flame-{}-{who}.svg", name.replace('_', "-"));
            std::fs::copy(svg, dir.join(&file))
                .with_context(|| format!("copy {svg} to {}", dir.display()))?;
            graph["svg"] = json!(file);
        }
    }
    Ok(())
}

/// Call stacks folded for a flame graph: `thread;outermost;…;innermost` → samples.
pub type Stacks = BTreeMap<String, u64>;

/// The samples of the node's process and of PostgreSQL's processes, folded.
#[derive(Debug, Default)]
pub struct Folded {
    pub node: Stacks,
    pub postgres: Stacks,
}

/// Fold `perf script -F comm,pid,tid,ip,sym` output (a `comm pid/tid` line, one `ip symbol`
/// line per frame, innermost first, a blank line) into the stacks of process `node` and of
/// processes named `postgres`; other processes (idle, the load generator, the kernel's
/// threads) are left out, and so are frames perf could not name.
pub fn fold(script: impl BufRead, node: u32) -> std::io::Result<Folded> {
    /// The sample being read: whose it is, its thread, its frames innermost first.
    struct Sample {
        node: bool,
        thread: String,
        frames: Vec<String>,
    }
    let mut folded = Folded::default();
    let mut end = |sample: Option<Sample>| {
        if let Some(Sample {
            node,
            mut thread,
            frames,
        }) = sample
        {
            for frame in frames.iter().rev() {
                thread.push(';');
                thread.push_str(frame);
            }
            let stacks = if node {
                &mut folded.node
            } else {
                &mut folded.postgres
            };
            *stacks.entry(thread).or_default() += 1;
        }
    };
    let mut sample: Option<Sample> = None;
    for line in script.lines() {
        let line = line?;
        if line.trim().is_empty() {
            end(sample.take());
        } else if !line.starts_with(char::is_whitespace) {
            end(sample.take());
            // A thread's name may hold spaces: the ids are the last word.
            let Some((comm, ids)) = line.trim_end().rsplit_once(char::is_whitespace) else {
                continue;
            };
            let pid = ids.split('/').next().and_then(|p| p.parse::<u32>().ok());
            let comm = comm.trim();
            let is_node = pid == Some(node);
            if is_node || comm == "postgres" {
                sample = Some(Sample {
                    node: is_node,
                    thread: comm.replace(';', ":"),
                    frames: Vec::new(),
                });
            }
        } else if let Some(sample) = &mut sample {
            // "ip symbol": the symbol may hold spaces (`<T as Trait>::f`).
            let symbol = line
                .trim()
                .split_once(char::is_whitespace)
                .map_or("", |(_, s)| s.trim());
            if !symbol.is_empty() && symbol != "[unknown]" {
                sample.frames.push(symbol.replace(';', ":"));
            }
        }
    }
    end(sample);
    Ok(folded)
}

/// Draw `stacks` as a flame graph (inferno: Brendan Gregg's flamegraph.pl in Rust) at `path`.
pub fn draw(stacks: &Stacks, title: &str, path: &Path) -> anyhow::Result<()> {
    let lines: Vec<String> = stacks.iter().map(|(s, n)| format!("{s} {n}")).collect();
    let mut options = inferno::flamegraph::Options::default();
    options.title = title.to_owned();
    options.count_name = "samples".to_owned();
    let svg = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?,
    );
    inferno::flamegraph::from_lines(&mut options, lines.iter().map(String::as_str), svg)
        .with_context(|| format!("draw {}", path.display()))?;
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `perf script -F comm,pid,tid,ip,sym` as perf 6 writes it (frames innermost first).
    const SCRIPT: &str = "\
tokio-rt-worker 4242/4244 
\t          9d8790 gateway::ingest::prepare
\t          98b213 <hyper::Conn<I> as core::future::Future>::poll
\tffffffffffffffff [unknown]

swapper     0/0     
\tffffffff8224215b pv_native_safe_halt

postgres 777/777 
\t          51e2a0 XLogFlush
\t          4f0000 CommitTransactionCommand

tokio-rt-worker 4242/4243 
\t          9d8790 gateway::ingest::prepare
\t          98b213 <hyper::Conn<I> as core::future::Future>::poll

log writer 4242/4250 
\t          12a0b0 gateway::log_writer::run
";

    #[test]
    fn samples_are_folded_per_process_outermost_first() {
        let folded = fold(SCRIPT.as_bytes(), 4242).unwrap();
        let node: Vec<(&str, u64)> = folded.node.iter().map(|(s, n)| (s.as_str(), *n)).collect();
        assert_eq!(
            node,
            [
                ("log writer;gateway::log_writer::run", 1),
                (
                    "tokio-rt-worker;<hyper::Conn<I> as core::future::Future>::poll;gateway::ingest::prepare",
                    2
                ),
            ]
        );
        let postgres: Vec<(&str, u64)> = folded
            .postgres
            .iter()
            .map(|(s, n)| (s.as_str(), *n))
            .collect();
        assert_eq!(
            postgres,
            [("postgres;CommitTransactionCommand;XLogFlush", 1)]
        );
        // Another process's samples count for neither.
        assert!(fold(SCRIPT.as_bytes(), 1).unwrap().node.is_empty());
    }

    #[test]
    fn folded_stacks_are_drawn_as_an_svg_flame_graph() {
        let folded = fold(SCRIPT.as_bytes(), 4242).unwrap();
        let dir = std::env::temp_dir().join(format!("loadgen-flame-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("node.svg");
        draw(&folded.node, "the gateway node", &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            svg.starts_with("<?xml") && svg.contains("<svg"),
            "{svg:.200}"
        );
        assert!(svg.contains("the gateway node"));
        assert!(
            svg.contains("gateway::ingest::prepare (2 samples, 66.67%)"),
            "{svg}"
        );
    }
}
