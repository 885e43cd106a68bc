//! CPU and memory of the processes under test, from `/proc`: the gateway process(es),
//! PostgreSQL (the postmaster and every process it forked: backends, WAL writer, checkpointer…),
//! this load generator, and the whole machine (so load from anything else shows).
//!
//! CPU is `utime + stime` (`/proc/<pid>/stat`) between two snapshots, in cores (1.0 = one core
//! busy for the whole window). Memory is sampled during the window and the peak kept: the
//! gateway's resident set (`VmRSS`), and PostgreSQL's private memory summed over its processes
//! plus its shared memory once (`RssAnon + RssFile` of each, the largest `RssShmem`: shared
//! buffers counted once, not per backend). `Pss` from `/proc/<pid>/smaps_rollup` would say the
//! same more exactly, but the kernel walks every page of every backend's mapping of the shared
//! buffers for it: sampled every 250 ms over ~40 backends that took a quarter of a core from the
//! node under test.
//! PostgreSQL's CPU also counts the processes that exited inside the window (an autovacuum
//! worker, a backend whose connection closed): the postmaster reaps them, and the kernel adds
//! their time to its `cutime + cstime`. Until 2026-12-06 they were missed, and showed only in
//! the machine's *elsewhere* (0.47 cores of it during a forwarding drain).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Clock ticks per second of `/proc` CPU times.
fn ticks_per_sec() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Fields of `/proc/<pid>/stat` after the command name (which may hold spaces): index 0 is
/// field 3 (state).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// CPU ticks (user + system) a process has used.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let f = stat_fields(pid)?;
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// CPU ticks (user + system) of the children a process has reaped (`cutime + cstime`).
fn reaped_ticks(pid: u32) -> Option<u64> {
    let f = stat_fields(pid)?;
    Some(f.get(13)?.parse::<u64>().ok()? + f.get(14)?.parse::<u64>().ok()?)
}

/// `pid` and every process whose parent is `pid`.
fn with_children(pid: u32) -> Vec<u32> {
    let mut out = vec![pid];
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(child) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let parent = stat_fields(child).and_then(|f| f.get(1)?.parse::<u32>().ok());
            if parent == Some(pid) {
                out.push(child);
            }
        }
    }
    out
}

fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    kb_field(&text, field)
}

fn kb_field(text: &str, field: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Private and shared resident memory of PostgreSQL's processes, shared counted once.
fn postgres_kb(pids: &[u32]) -> u64 {
    let (mut private, mut shared) = (0, 0);
    for &pid in pids {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        let kb = |f| kb_field(&text, f).unwrap_or(0);
        private += kb("RssAnon") + kb("RssFile");
        shared = kb("RssShmem").max(shared);
    }
    private + shared
}

/// The database a PostgreSQL process works for, from its title (`/proc/<pid>/cmdline`, which
/// PostgreSQL overwrites): a backend's `postgres: <user> <database> <host>(<port>) <state>`, an
/// autovacuum worker's `postgres: autovacuum worker <database>`. None for the processes the
/// databases share (WAL writer, checkpointer, background writer, the postmaster).
fn database_of(title: &str) -> Option<&str> {
    let rest = title.strip_prefix("postgres: ")?;
    if let Some(db) = rest.strip_prefix("autovacuum worker ") {
        return db.split_whitespace().next();
    }
    let mut words = rest.split_whitespace();
    let (_user, db, host) = (words.next()?, words.next()?, words.next()?);
    (host.contains('(') || host == "[local]").then_some(db)
}

fn title(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        String::from_utf8_lossy(&raw)
            .replace('\0', " ")
            .trim()
            .to_owned(),
    )
}

/// Busy and total ticks of the whole machine (`/proc/stat`).
fn machine_ticks() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> = text
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// The processes to watch.
#[derive(Debug, Clone, Default)]
pub struct Watch {
    /// Gateway processes (one node, or the two nodes of the routing pair).
    pub gateway: Vec<u32>,
    /// The postmaster.
    pub postgres: Option<u32>,
    /// Other processes worth naming (nginx, the plain hyper server).
    pub other: Vec<(String, u32)>,
}

#[derive(Debug, Clone)]
struct Snapshot {
    at: Instant,
    /// Per process: CPU ticks.
    ticks: HashMap<u32, u64>,
    /// PostgreSQL's whole CPU ticks: its live processes plus those its postmaster reaped. A
    /// backend that exits between two snapshots moves from the first term to the second.
    postgres: u64,
    /// PostgreSQL processes working for one database (backends, autovacuum workers): pid → it.
    databases: HashMap<u32, String>,
    machine_busy: u64,
    machine_total: u64,
}

impl Watch {
    fn groups(&self) -> Vec<(String, Vec<u32>)> {
        let mut g = vec![("gateway".to_owned(), self.gateway.clone())];
        if let Some(pm) = self.postgres {
            g.push(("postgres".to_owned(), with_children(pm)));
        }
        for (name, pid) in &self.other {
            g.push((name.clone(), with_children(*pid)));
        }
        g.push(("loadgen".to_owned(), vec![std::process::id()]));
        g
    }

    fn snapshot(&self) -> Snapshot {
        let (mut ticks, mut postgres, mut databases) = (HashMap::new(), 0, HashMap::new());
        for (name, pids) in self.groups() {
            for pid in pids {
                if let Some(t) = cpu_ticks(pid) {
                    ticks.insert(pid, t);
                    if name == "postgres" {
                        postgres += t;
                        if let Some(db) = title(pid).as_deref().and_then(database_of) {
                            databases.insert(pid, db.to_owned());
                        }
                    }
                }
            }
        }
        // The postmaster's only: the load generator reaps the gateways it stops, whose time is
        // not its own.
        postgres += self.postgres.and_then(reaped_ticks).unwrap_or(0);
        let (machine_busy, machine_total) = machine_ticks();
        Snapshot {
            at: Instant::now(),
            ticks,
            postgres,
            databases,
            machine_busy,
            machine_total,
        }
    }

    /// Start measuring: CPU from now to [`Running::stop`], memory sampled every 250 ms.
    pub fn start(&self) -> Running {
        let stop = Arc::new(AtomicBool::new(false));
        let watch = self.clone();
        let flag = stop.clone();
        let sampler = std::thread::spawn(move || {
            let mut peak: HashMap<String, u64> = HashMap::new();
            loop {
                for (name, pids) in watch.groups() {
                    let kb: u64 = if name == "postgres" {
                        postgres_kb(&pids)
                    } else {
                        pids.iter().filter_map(|&p| status_kb(p, "VmRSS")).sum()
                    };
                    let e = peak.entry(name).or_default();
                    *e = (*e).max(kb);
                }
                if flag.load(Ordering::Relaxed) {
                    break peak;
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        });
        Running {
            watch: self.clone(),
            first: self.snapshot(),
            stop,
            sampler,
        }
    }
}

pub struct Running {
    watch: Watch,
    first: Snapshot,
    stop: Arc<AtomicBool>,
    sampler: std::thread::JoinHandle<HashMap<String, u64>>,
}

/// CPU (cores) and peak memory (MiB) of each group over a window.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    pub wall_secs: f64,
    /// (group, cores busy on average, CPU seconds, peak memory MiB)
    pub groups: Vec<(String, f64, f64, f64)>,
    pub machine_cores_busy: f64,
    pub machine_cores: f64,
    /// CPU seconds of each watched gateway process, by pid.
    pub gateways: HashMap<u32, f64>,
    /// CPU seconds of PostgreSQL's processes working for each database (backends and
    /// autovacuum workers alive at the end of the window; the rest of PostgreSQL's is shared).
    pub databases: HashMap<String, f64>,
}

impl Usage {
    /// CPU seconds of one gateway process.
    pub fn gateway_secs(&self, pid: u32) -> f64 {
        self.gateways.get(&pid).copied().unwrap_or(0.0)
    }

    /// CPU seconds of PostgreSQL's processes working for `database`.
    pub fn database_secs(&self, database: &str) -> f64 {
        self.databases.get(database).copied().unwrap_or(0.0)
    }

    pub fn cpu_secs(&self, group: &str) -> f64 {
        self.groups
            .iter()
            .find(|g| g.0 == group)
            .map_or(0.0, |g| g.2)
    }

    pub fn to_json(&self) -> Value {
        let r = |x: f64| (x * 100.0).round() / 100.0;
        let groups: serde_json::Map<String, Value> = self
            .groups
            .iter()
            .map(|(name, cores, secs, mib)| {
                (
                    name.clone(),
                    json!({"cpu_cores": r(*cores), "cpu_secs": r(*secs), "peak_mem_mib": r(*mib)}),
                )
            })
            .collect();
        let named: f64 = self.groups.iter().map(|g| g.1).sum();
        json!({
            "wall_secs": r(self.wall_secs),
            "processes": groups,
            "machine": {
                "cores": self.machine_cores,
                "cores_busy": r(self.machine_cores_busy),
                // Anything else on the machine (other builds, tests) during the window.
                "cores_busy_elsewhere": r((self.machine_cores_busy - named).max(0.0)),
            },
        })
    }
}

impl Running {
    pub fn stop(self) -> Usage {
        let last = self.watch.snapshot();
        self.stop.store(true, Ordering::Relaxed);
        let peaks = self.sampler.join().unwrap_or_default();
        let wall = (last.at - self.first.at).as_secs_f64().max(1e-9);
        let hz = ticks_per_sec();
        let mut groups = Vec::new();
        for (name, pids) in self.watch.groups() {
            let ticks: u64 = if name == "postgres" {
                last.postgres.saturating_sub(self.first.postgres)
            } else {
                pids.iter()
                    .filter_map(|p| {
                        Some(last.ticks.get(p)? - self.first.ticks.get(p).unwrap_or(&0))
                    })
                    .sum()
            };
            let secs = ticks as f64 / hz;
            let mib = peaks.get(&name).copied().unwrap_or(0) as f64 / 1024.0;
            groups.push((name, secs / wall, secs, mib));
        }
        let spent = |pid: &u32| {
            last.ticks.get(pid).copied().unwrap_or(0)
                - self.first.ticks.get(pid).copied().unwrap_or(0)
        };
        let gateways = self
            .watch
            .gateway
            .iter()
            .map(|pid| (*pid, spent(pid) as f64 / hz))
            .collect();
        // A process born inside the window counts from 0: all its time is the window's.
        let mut databases: HashMap<String, f64> = HashMap::new();
        for (pid, db) in &last.databases {
            *databases.entry(db.clone()).or_default() += spent(pid) as f64 / hz;
        }
        let busy = (last.machine_busy - self.first.machine_busy) as f64;
        let total = (last.machine_total - self.first.machine_total).max(1) as f64;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        Usage {
            wall_secs: wall,
            groups,
            machine_cores_busy: busy / total * cores,
            machine_cores: cores,
            gateways,
            databases,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgres_process_is_named_for_its_database() {
        let of = |t| database_of(t);
        assert_eq!(
            of("postgres: gateway bench_drain_620000000000 127.0.0.1(51234) idle"),
            Some("bench_drain_620000000000")
        );
        assert_eq!(
            of("postgres: gateway bench_ingest [local] INSERT"),
            Some("bench_ingest")
        );
        assert_eq!(
            of("postgres: autovacuum worker bench_drain_621000000000"),
            Some("bench_drain_621000000000")
        );
        for shared in [
            "postgres: checkpointer",
            "postgres: walwriter",
            "postgres: autovacuum launcher",
            "postgres: logical replication launcher",
            "/usr/lib/postgresql/15/bin/postgres -D /var/tmp/pgdata -p 55449",
        ] {
            assert_eq!(of(shared), None, "{shared}");
        }
    }

    /// A child that runs and exits inside the window (an autovacuum worker, to PostgreSQL's
    /// postmaster) still counts: its parent reaped it. This process stands in for the postmaster.
    #[test]
    fn a_process_that_exits_inside_the_window_still_counts() {
        let watch = Watch {
            postgres: Some(std::process::id()),
            ..Watch::default()
        };
        let running = watch.start();
        let status = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done"])
            .status()
            .expect("sh runs");
        assert!(status.success());
        let usage = running.stop();
        let secs = usage.cpu_secs("postgres");
        assert!(
            secs >= 0.1,
            "the exited child's CPU is missing: {secs} s counted"
        );
    }
}
