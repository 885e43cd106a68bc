//! The whole lifecycle against the real PostgreSQL of this machine (no mocks): init, start,
//! reuse, databases, URL, stop, crash recovery, and the clear errors.
//!
//! Each test gets its own base directory under /var/tmp (not under /work or /root: the
//! `postgres` OS user, which runs the server when we are root, cannot traverse /root) and
//! its own free port, and stops its cluster when it ends, pass or fail.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use pgembed::{Config, Error};

/// A cluster configuration in a fresh directory; stops the server on drop (before the
/// directory is removed), so no postgres processes outlive a test.
struct TestCluster {
    cfg: Config,
    dir: tempfile::TempDir,
}

impl TestCluster {
    fn new() -> TestCluster {
        let dir = private_tempdir();
        if is_root() {
            // The server runs as `postgres`, which must traverse the test directory.
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
        }
        TestCluster::in_dir(dir)
    }

    /// Base directory `<dir>/pg`, `dir` left as it is.
    fn in_dir(dir: tempfile::TempDir) -> TestCluster {
        let cfg = Config::new(dir.path().join("pg"), free_port());
        TestCluster { cfg, dir }
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if let Err(e) = pgembed::stop(&self.cfg) {
            eprintln!(
                "could not stop the test cluster in {:?}: {e}",
                self.dir.path()
            );
        }
    }
}

/// A new directory under /var/tmp with mode 0700 (tempfile leaves the mode to the umask).
fn private_tempdir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("pgembed-test-")
        .tempdir_in("/var/tmp")
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

fn uid_of(user: &str) -> u32 {
    let out = Command::new("id").args(["-u", user]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Run the cluster's own `psql` with a connection URL; Ok(stdout) or Err(stderr).
fn psql(cfg: &Config, url: &str, sql: &str) -> Result<String, String> {
    let bin = pgembed::bin_dir(cfg).unwrap();
    let out = Command::new(bin.join("psql"))
        .args([
            "-X",
            "-A",
            "-t",
            "-q",
            "-w",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ])
        .env_remove("PGPASSWORD")
        .current_dir("/")
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().mode() & 0o7777
}

/// True while `pid` is a process that is not a zombie.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat[stat.rfind(')').unwrap() + 1..]
                .split_whitespace()
                .next();
            !matches!(state, Some("Z" | "X"))
        }
        Err(_) => false,
    }
}

#[test]
fn start_initializes_reuses_and_stop_stops() {
    let c = TestCluster::new();

    let before = pgembed::status(&c.cfg).unwrap();
    assert!(!before.initialized && !before.running && before.pid.is_none());

    let first = pgembed::start(&c.cfg).unwrap();
    assert!(first.initialized && first.running, "{first:?}");
    let pid = first.pid.expect("a running server has a pid");
    assert!(alive(pid));
    assert_eq!(first.port, c.cfg.port);
    assert!(first.data_dir.ends_with("pg/pgdata"), "{first:?}");
    assert!(first.log_file.ends_with("pg/postgres.log"), "{first:?}");
    assert_eq!(pgembed::status(&c.cfg).unwrap(), first);

    // A second start (a restarted gateway) reuses the running server.
    let second = pgembed::start(&c.cfg).unwrap();
    assert_eq!(second.pid, Some(pid));

    // Owners and modes.
    let base = c.dir.path().join("pg");
    assert_eq!(mode(&base.join("password")), 0o600);
    assert_eq!(mode(&base.join("pgdata")), 0o700);
    assert_eq!(mode(&base.join("run")), 0o700);
    assert!(
        !base.join(".initdb-pwfile").exists(),
        "temporary pwfile left"
    );
    let password = std::fs::read_to_string(base.join("password")).unwrap();
    assert_eq!(password.trim().len(), 64);
    if is_root() {
        assert_eq!(mode(&base), 0o711);
        let postgres = uid_of("postgres");
        assert_eq!(
            std::fs::metadata(base.join("pgdata")).unwrap().uid(),
            postgres
        );
        assert_eq!(
            std::fs::metadata(base.join("postgres.log")).unwrap().uid(),
            postgres
        );
        assert_eq!(std::fs::metadata(base.join("password")).unwrap().uid(), 0);
    }

    pgembed::stop(&c.cfg).unwrap();
    let stopped = pgembed::status(&c.cfg).unwrap();
    assert!(stopped.initialized && !stopped.running && stopped.pid.is_none());
    assert!(!alive(pid));
    pgembed::stop(&c.cfg).unwrap(); // stopping a stopped server is fine

    // And it starts again from the existing data directory.
    let again = pgembed::start(&c.cfg).unwrap();
    assert!(again.running);
    assert_ne!(again.pid, Some(pid));
}

#[test]
fn databases_and_url() {
    let c = TestCluster::new();
    pgembed::start(&c.cfg).unwrap();

    assert!(pgembed::ensure_database(&c.cfg, "app").unwrap(), "created");
    assert!(!pgembed::ensure_database(&c.cfg, "app").unwrap(), "exists");

    let url = pgembed::url(&c.cfg, "app").unwrap();
    assert!(url.starts_with("postgres://gateway:"), "{url}");
    assert!(
        url.ends_with(&format!("@127.0.0.1:{}/app", c.cfg.port)),
        "{url}"
    );
    assert_eq!(psql(&c.cfg, &url, "select 1").unwrap(), "1");
    assert_eq!(
        psql(
            &c.cfg,
            &url,
            "select current_user || ' ' || current_database()"
        )
        .unwrap(),
        "gateway app"
    );
    assert_eq!(
        psql(&c.cfg, &url, "show listen_addresses").unwrap(),
        "127.0.0.1"
    );
    assert_eq!(psql(&c.cfg, &url, "show max_connections").unwrap(), "200");
    // Bytewise collation (compared with memcmp), UTF-8 character classes.
    assert_eq!(
        psql(
            &c.cfg,
            &url,
            "select datcollate || ' ' || datctype from pg_database where datname = 'app'"
        )
        .unwrap(),
        "C C.UTF-8"
    );

    // The password is really checked (SCRAM), not trusted.
    let password = url.split(':').nth(2).unwrap().split('@').next().unwrap();
    let wrong = url.replace(password, &"0".repeat(64));
    let err = psql(&c.cfg, &wrong, "select 1").unwrap_err();
    assert!(err.contains("password authentication failed"), "{err}");

    // Names are validated before anything runs.
    for bad in ["App", "app; drop database app", "a'b", ""] {
        let err = pgembed::ensure_database(&c.cfg, bad).unwrap_err();
        assert!(matches!(err, Error::InvalidName { .. }), "{bad}: {err}");
        assert!(pgembed::url(&c.cfg, bad).is_err());
    }
    assert!(matches!(
        pgembed::drop_database(&c.cfg, "postgres"),
        Err(Error::InvalidName { .. })
    ));

    pgembed::drop_database(&c.cfg, "app").unwrap();
    let err = psql(&c.cfg, &url, "select 1").unwrap_err();
    assert!(err.contains("does not exist"), "{err}");
    pgembed::drop_database(&c.cfg, "app").unwrap(); // already gone: fine
    assert!(
        pgembed::ensure_database(&c.cfg, "app").unwrap(),
        "created again"
    );
}

/// The settings of `Config` are the server's after the next start: the defaults, a configured
/// value over a default, `ALTER SYSTEM` over both; a running
/// server keeps its own until restarted; a setting that could break the file is refused.
#[test]
fn settings_apply_at_the_next_start() {
    let mut c = TestCluster::new();
    pgembed::start(&c.cfg).unwrap();
    let url = pgembed::url(&c.cfg, "postgres").unwrap();
    let show = |c: &TestCluster, name: &str| psql(&c.cfg, &url, &format!("show {name}")).unwrap();
    assert_eq!(show(&c, "shared_buffers"), "256MB");
    assert_eq!(show(&c, "max_wal_size"), "4GB");
    assert_eq!(show(&c, "backend_flush_after"), "256kB");

    c.cfg.settings.push(("work_mem".into(), "7MB".into()));
    c.cfg
        .settings
        .push(("shared_buffers".into(), "160MB".into()));
    pgembed::start(&c.cfg).unwrap();
    assert_eq!(
        show(&c, "work_mem"),
        "4MB",
        "a running server keeps its settings"
    );
    pgembed::stop(&c.cfg).unwrap();
    pgembed::start(&c.cfg).unwrap();
    assert_eq!(show(&c, "work_mem"), "7MB");
    assert_eq!(show(&c, "shared_buffers"), "160MB");

    psql(&c.cfg, &url, "alter system set work_mem = '9MB'").unwrap();
    pgembed::stop(&c.cfg).unwrap();
    pgembed::start(&c.cfg).unwrap();
    assert_eq!(show(&c, "work_mem"), "9MB", "ALTER SYSTEM wins");

    pgembed::stop(&c.cfg).unwrap();
    c.cfg
        .settings
        .push(("work_mem".into(), "1MB'\nfsync = 'off".into()));
    let err = pgembed::start(&c.cfg).unwrap_err();
    assert!(matches!(err, Error::InvalidSetting { .. }), "{err}");
}

#[test]
fn start_recovers_after_the_server_was_killed() {
    let c = TestCluster::new();
    let first = pgembed::start(&c.cfg).unwrap();
    let pid = first.pid.unwrap();
    pgembed::ensure_database(&c.cfg, "app").unwrap();
    let url = pgembed::url(&c.cfg, "app").unwrap();
    psql(
        &c.cfg,
        &url,
        "create table t (x int); insert into t values (42)",
    )
    .unwrap();

    // Crash: kill -9 the postmaster. postmaster.pid stays behind.
    let killed = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) {
        assert!(
            Instant::now() < deadline,
            "postmaster {pid} survived kill -9"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(first.data_dir.join("postmaster.pid").exists());
    let crashed = pgembed::status(&c.cfg).unwrap();
    assert!(!crashed.running, "{crashed:?}");

    let recovered = pgembed::start(&c.cfg).unwrap();
    assert!(recovered.running);
    assert_ne!(recovered.pid, Some(pid));
    assert_eq!(psql(&c.cfg, &url, "select x from t").unwrap(), "42");
}

#[test]
fn port_taken_by_another_program_is_a_clear_error() {
    let c = TestCluster::new();
    let listener = std::net::TcpListener::bind(("127.0.0.1", c.cfg.port)).unwrap();
    let err = pgembed::start(&c.cfg).unwrap_err();
    assert!(
        matches!(err, Error::PortInUse { port } if port == c.cfg.port),
        "{err}"
    );
    assert!(err.to_string().contains(&c.cfg.port.to_string()), "{err}");
    drop(listener);
    assert!(pgembed::start(&c.cfg).unwrap().running);
}

/// A port busy for a moment (a server just stopped, a short-lived socket) is waited for.
#[test]
fn a_port_freed_within_seconds_is_waited_for() {
    let c = TestCluster::new();
    let listener = std::net::TcpListener::bind(("127.0.0.1", c.cfg.port)).unwrap();
    let freed = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        drop(listener);
    });
    let started = Instant::now();
    let status = pgembed::start(&c.cfg).unwrap();
    freed.join().unwrap();
    assert!(status.running);
    assert!(started.elapsed() >= Duration::from_millis(1500));
}

#[test]
fn untraversable_parent_is_a_clear_error() {
    if !is_root() {
        eprintln!("skipped: only root switches to another OS user");
        return;
    }
    // Mode 0700: `postgres` cannot enter. (The guard stops the server should the check
    // ever let it start.)
    let c = TestCluster::in_dir(private_tempdir());
    let dir = c.dir.path();
    let err = pgembed::start(&c.cfg).unwrap_err();
    match &err {
        Error::NotTraversable { dir: bad, user, .. } => {
            assert_eq!(bad, dir);
            assert_eq!(user, "postgres");
        }
        other => panic!("expected NotTraversable, got {other}"),
    }
    let message = err.to_string();
    assert!(message.contains(&dir.display().to_string()), "{message}");
    assert!(!dir.join("pg").exists(), "nothing is created on failure");

    // The classic mistake: a base directory in root's home (or a checkout there).
    if mode(Path::new("/root")) & 0o001 == 0 {
        let cfg = Config::new("/root/pgembed-test-never-created/pg", free_port());
        let err = pgembed::start(&cfg).unwrap_err();
        assert!(
            matches!(&err, Error::NotTraversable { dir, .. } if dir == Path::new("/root")),
            "{err}"
        );
        assert!(!Path::new("/root/pgembed-test-never-created").exists());
    }
}
