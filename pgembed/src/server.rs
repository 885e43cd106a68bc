//! The server programs: `initdb`, `pg_ctl start|stop|status`, `pg_isready`, and reading
//! `postmaster.pid`.

use std::fs;
use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::Error;
use crate::command::{
    OsUser, Runner, client, failure, flag_with_path, output, run_ok, shell_quote,
};
use crate::config::Config;
use crate::layout::Layout;

/// Seconds `pg_ctl` waits for start/stop, and we wait for readiness.
const WAIT_SECONDS: u64 = 60;

/// Server settings passed on every start (`pg_ctl -o`), over any configuration file: where to
/// listen, and `unix_socket_permissions=0700` (only the OS user and root may use the socket;
/// the gateway connects over TCP with the password). The tunable ones are in
/// `gateway.conf` ([`crate::settings`]).
const SERVER_SETTINGS: &[&str] = &["listen_addresses=127.0.0.1", "unix_socket_permissions=0700"];

/// What `pg_ctl status` plus `/proc` say about the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Probe {
    /// No server for this data directory.
    Stopped,
    /// A live postmaster.
    Running { pid: u32, port: Option<u16> },
    /// `postmaster.pid` names a process that is a zombie or not PostgreSQL (a postmaster
    /// killed with -9 whose parent does not reap it, or a reused pid after a reboot).
    /// `pg_ctl` and the server itself take it for a running server, so we remove the file.
    Stale,
}

/// `pg_ctl status`: 0 running, 3 not running, 4 no accessible data directory.
pub(crate) fn probe(runner: &Runner, bin: &Path, layout: &Layout) -> Result<Probe, Error> {
    let mut cmd = runner.server(&bin.join("pg_ctl"));
    cmd.arg("status").arg("-D").arg(&layout.pgdata);
    let out = output(&mut cmd)?;
    match out.status.code() {
        Some(0) => {
            let Some(pid_file) = PidFile::read(&layout.pgdata) else {
                return Ok(Probe::Stopped); // it stopped in between
            };
            Ok(match process_is_postgres(pid_file.pid) {
                Some(false) => Probe::Stale,
                _ => Probe::Running {
                    pid: pid_file.pid,
                    port: pid_file.port,
                },
            })
        }
        Some(3) => Ok(Probe::Stopped),
        _ => Err(failure(&cmd, "pg_ctl status", &out, "")),
    }
}

/// `initdb` with a fresh random password (stored first, so it is never lost).
pub(crate) fn initdb(
    cfg: &Config,
    runner: &Runner,
    os_user: Option<&OsUser>,
    bin: &Path,
    layout: &Layout,
) -> Result<(), Error> {
    let password = generate_password()?;
    layout.write_password(&password)?;
    let _pwfile = layout.write_initdb_pwfile(&password, os_user)?;
    let mut cmd = runner.server(&bin.join("initdb"));
    cmd.arg("-D")
        .arg(&layout.pgdata)
        .arg("-U")
        .arg(&cfg.superuser)
        .arg(flag_with_path("--pwfile", &layout.initdb_pwfile))
        .arg("--auth-local=scram-sha-256")
        .arg("--auth-host=scram-sha-256")
        .arg("-E")
        .arg("UTF8")
        // UTF-8 character classes, and the C collation: bytewise, stable across glibc
        // upgrades, and compared with memcmp. (PostgreSQL 15 treats a C.UTF-8 collation as any
        // libc locale: strcoll on NUL-terminated copies of both strings, ~25 % slower sorts of
        // case numbers, for the same order, since UTF-8 bytes sort as their code points.)
        .arg("--locale=C.UTF-8")
        .arg("--lc-collate=C");
    run_ok(&mut cmd, "initdb")?;
    Ok(())
}

/// Why a start attempt failed, and whether trying again soon may help.
pub(crate) struct StartFailure {
    pub error: Error,
    /// The old server's processes still hold shared memory (they exit within moments of
    /// noticing that their postmaster died).
    pub transient: bool,
}

/// `pg_ctl start -w`: returns when the server accepts connections.
pub(crate) fn pg_ctl_start(
    cfg: &Config,
    runner: &Runner,
    bin: &Path,
    layout: &Layout,
) -> Result<(), StartFailure> {
    let mut options = format!(
        "-p {} -k {}",
        cfg.port,
        shell_quote(&layout.run.to_string_lossy())
    );
    for setting in SERVER_SETTINGS {
        options.push_str(" -c ");
        options.push_str(setting);
    }
    let log_offset = layout.log_len();
    let mut cmd = runner.server(&bin.join("pg_ctl"));
    cmd.arg("start")
        .arg("-D")
        .arg(&layout.pgdata)
        .arg("-l")
        .arg(&layout.log)
        .arg("-w")
        .arg("-t")
        .arg(WAIT_SECONDS.to_string())
        .arg("-o")
        .arg(options);
    let out = output(&mut cmd).map_err(|error| StartFailure {
        error,
        transient: false,
    })?;
    if out.status.success() {
        return Ok(());
    }
    let log = layout.log_since(log_offset);
    let transient = log.contains("pre-existing shared memory block");
    let extra = format!("\n--- {} ---\n{log}", layout.log.display());
    Err(StartFailure {
        error: failure(&cmd, "pg_ctl start", &out, &extra),
        transient,
    })
}

/// `pg_ctl stop -m fast`: rolls back open transactions, disconnects clients, checkpoints.
pub(crate) fn pg_ctl_stop(runner: &Runner, bin: &Path, layout: &Layout) -> Result<(), Error> {
    let mut cmd = runner.server(&bin.join("pg_ctl"));
    cmd.arg("stop")
        .arg("-D")
        .arg(&layout.pgdata)
        .arg("-m")
        .arg("fast")
        .arg("-w")
        .arg("-t")
        .arg(WAIT_SECONDS.to_string());
    run_ok(&mut cmd, "pg_ctl stop").map(drop)
}

/// Wait until `pg_isready` says the server accepts connections (a server we reuse may
/// still be starting or recovering).
pub(crate) fn wait_ready(cfg: &Config, bin: &Path, layout: &Layout) -> Result<(), Error> {
    let deadline = Instant::now() + Duration::from_secs(WAIT_SECONDS);
    loop {
        let mut cmd = client(&bin.join("pg_isready"), None);
        cmd.args(["-q", "-h", "127.0.0.1", "-t", "5", "-d", "postgres"])
            .arg("-p")
            .arg(cfg.port.to_string())
            .arg("-U")
            .arg(&cfg.superuser);
        if output(&mut cmd)?.status.success() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::NotReady {
                port: cfg.port,
                seconds: WAIT_SECONDS,
                detail: format!(
                    "\n--- {} ---\n{}",
                    layout.log.display(),
                    layout.log_since(layout.log_len().saturating_sub(8192))
                ),
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Seconds a busy port is given to become free before a start fails.
const PORT_WAIT_SECONDS: u64 = 5;

/// Fail if something else listens on 127.0.0.1:`port` (called when our server is not
/// running, so it is not us). A port still busy for a moment is waited for: a server that was
/// just stopped removes `postmaster.pid`, which `pg_ctl stop` waits for, before it closes its
/// sockets, and a start right after a stop found the port taken (CI, 2026-12-07).
pub(crate) fn ensure_port_free(port: u16) -> Result<(), Error> {
    let deadline = Instant::now() + Duration::from_secs(PORT_WAIT_SECONDS);
    loop {
        match TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                if Instant::now() >= deadline {
                    return Err(Error::PortInUse { port });
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            // Anything else (e.g. port below 1024 as non-root) will show in the server log.
            Err(_) => return Ok(()),
        }
    }
}

/// The remove-a-stale-lock step PostgreSQL does itself when the pid is gone for good, for
/// `postmaster.pid` and the socket lock files `run/.s.PGSQL.<port>.lock` (which name the
/// postmaster's pid too). Only files whose pid is not a live PostgreSQL are removed.
pub(crate) fn remove_stale_lock_files(layout: &Layout) -> Result<(), Error> {
    let mut files = vec![layout.pgdata.join("postmaster.pid")];
    if let Ok(entries) = fs::read_dir(&layout.run) {
        files.extend(
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(".s.PGSQL.") && n.ends_with(".lock"))
                }),
        );
    }
    for path in files {
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        let Some(lock) = PidFile::parse(&text) else {
            continue;
        };
        if process_is_postgres(lock.pid) == Some(false) {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("remove stale lock file", path, e)),
            }
        }
    }
    Ok(())
}

/// 32 random bytes, hex: safe in URLs, conninfo strings and files without quoting.
fn generate_password() -> Result<String, Error> {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).map_err(|_| {
        Error::io(
            "read random bytes from",
            "the system random source",
            io::Error::other("ring::rand::SystemRandom failed"),
        )
    })?;
    Ok(hex::encode(bytes))
}

/// The parts of `postmaster.pid` we use: line 1 pid, line 4 port.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PidFile {
    pub pid: u32,
    pub port: Option<u16>,
}

impl PidFile {
    pub fn read(pgdata: &Path) -> Option<PidFile> {
        let text = fs::read_to_string(pgdata.join("postmaster.pid")).ok()?;
        PidFile::parse(&text)
    }

    fn parse(text: &str) -> Option<PidFile> {
        let mut lines = text.lines();
        let pid = lines.next()?.trim().parse().ok()?;
        let port = lines.nth(2).and_then(|l| l.trim().parse().ok());
        Some(PidFile { pid, port })
    }
}

/// `Some(true)` if `pid` is a live PostgreSQL process, `Some(false)` if it is gone, a
/// zombie or another program, `None` if `/proc` cannot tell (then we trust `pg_ctl`).
fn process_is_postgres(pid: u32) -> Option<bool> {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => Some(stat_is_live_postgres(&stat)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Some(false),
        Err(_) => None,
    }
}

/// `/proc/<pid>/stat` is "pid (comm) state …"; comm may contain spaces and parentheses.
fn stat_is_live_postgres(stat: &str) -> bool {
    let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
        return false;
    };
    let comm = &stat[open + 1..close];
    let state = stat[close + 1..].split_whitespace().next().unwrap_or("");
    matches!(comm, "postgres" | "postmaster") && !matches!(state, "Z" | "X" | "x")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_file_lines() {
        let text = "20734\n/var/tmp/x/pgdata\n1795607841\n55432\n/var/tmp/x/run\n127.0.0.1\n  811010   4\nready   \n";
        let pf = PidFile::parse(text).unwrap();
        assert_eq!(pf.pid, 20734);
        assert_eq!(pf.port, Some(55432));
        assert!(PidFile::parse("").is_none());
    }

    #[test]
    fn zombies_and_strangers_are_not_running() {
        assert!(stat_is_live_postgres("20734 (postgres) S 1 20734 20734 0"));
        assert!(!stat_is_live_postgres("20734 (postgres) Z 1 20734 20734 0"));
        assert!(!stat_is_live_postgres("20734 (bash) S 1 20734 20734 0"));
        assert!(!stat_is_live_postgres("20734 (a) b) S 1"));
    }

    #[test]
    fn passwords_are_64_hex_digits() {
        let a = generate_password().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, generate_password().unwrap());
    }
}
