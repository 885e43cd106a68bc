//! A private PostgreSQL for the gateway's "embedded default", run from the system's own
//! binaries (Debian package `postgresql`, `/usr/lib/postgresql/<major>/bin`).
//!
//! When no database URL is configured, `gateway db start|stop|status` and `gateway serve`
//! use this crate: [`start`] initializes a cluster under a base directory on first use and
//! starts it, [`url`] gives the connection string, [`ensure_database`] creates databases.
//!
//! # Why it works this way
//!
//! - **A separate, long-lived process.** `pg_ctl start` daemonizes the server, so it
//!   outlives the gateway: a crashed or restarted gateway finds the server still running and
//!   [`start`] *reuses* it (same pid) instead of starting a second one. [`stop`] is explicit
//!   (`gateway db stop`). There is no child process to supervise or to leak.
//! - **Crash recovery.** After the server itself was killed (`kill -9`, OOM), `postmaster.pid`
//!   stays behind. `pg_ctl`/PostgreSQL remove it when its pid is gone, but not when the pid
//!   is a zombie (an init that does not reap, as in some containers) or was reused by another
//!   program after a reboot; we check `/proc/<pid>` and remove such a stale file ourselves,
//!   then PostgreSQL's normal crash recovery replays the WAL.
//! - **Run as an unprivileged user.** `initdb` and `postgres` refuse to run as root. When we
//!   are root (CI, containers), server programs run as the OS user `postgres` through
//!   `runuser -u postgres --` (no sudo needed); otherwise as the current user. Hence the base
//!   directory must be traversable by that user: never under `/root` or inside a checkout
//!   there; the defaults are `/var/lib/exchange-gateway/pg` (root) and
//!   `/var/tmp/exchange-gateway-<uid>/pg`.
//! - **Locked down.** The server listens on 127.0.0.1 only, the Unix socket is private
//!   (0700), both require SCRAM-SHA-256 passwords, and the superuser password is 32 random
//!   bytes (hex) kept in `<base_dir>/password` (0600, readable by the invoking user only).
//!   Client programs (`psql`, `createdb`) run as the invoking user and get the password in
//!   `PGPASSWORD`, never on a command line.
//!
//! All functions block (they run the PostgreSQL programs); call them from
//! `tokio::task::spawn_blocking` in async code.
//!
//! # Layout
//!
//! - `config`: [`Config`], default base directory, finding the binaries.
//! - `layout`: the files under the base directory, their owners and modes, the checks
//!   (traversable parents, ownership), the password files.
//! - `backup`: WAL archiving settings, base backups, point-in-time restore.
//! - `settings`: server settings written at every start, and their defaults.
//! - `command`: building commands (run-as via `runuser`, clean environment), capturing output
//!   into errors.
//! - `server`: `initdb`, `pg_ctl start|stop|status`, readiness, `postmaster.pid`.
//! - `error`: [`Error`].
//! - this file: the public operations.

mod backup;
mod command;
mod config;
mod error;
mod layout;
mod server;
mod settings;

use std::path::PathBuf;
use std::time::Duration;

pub use backup::{Backup, base_backup, restore};
pub use config::{Config, DEFAULT_OS_USER, DEFAULT_SUPERUSER};
pub use error::Error;
pub use settings::defaults as default_settings;

use command::{OsUser, Runner, client, failure, output};
use layout::Layout;
use server::Probe;

/// How often [`start`] tries again when the killed server's processes still hold shared
/// memory (they exit within moments).
const START_ATTEMPTS: u32 = 5;

/// The state of the embedded cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// `initdb` has run in [`data_dir`](Self::data_dir).
    pub initialized: bool,
    /// A live server runs on that data directory.
    pub running: bool,
    /// Pid of the postmaster when running.
    pub pid: Option<u32>,
    /// Port it listens on when running (from `postmaster.pid`), else the configured one.
    pub port: u16,
    /// `<base_dir>/pgdata`.
    pub data_dir: PathBuf,
    /// `<base_dir>/postgres.log`: server output, look here when something fails.
    pub log_file: PathBuf,
}

/// Whether the cluster is initialized and running. Changes nothing on disk.
pub fn status(cfg: &Config) -> Result<Status, Error> {
    let layout = Layout::resolve(cfg)?;
    if !layout.initialized() {
        return Ok(make_status(cfg, &layout, false, Probe::Stopped));
    }
    let bin = config::bin_dir(cfg, layout.pg_version().as_deref())?;
    let runner = Runner::new(cfg)?;
    let probe = server::probe(&runner, &bin, &layout)?;
    Ok(make_status(cfg, &layout, true, probe))
}

/// Make sure the server runs and accepts connections: create and initialize the cluster on
/// first use, reuse a running server, start a stopped one (recovering from a crash).
///
/// Fails with [`Error::PortInUse`] when another program listens on the port and with
/// [`Error::PortMismatch`] when this cluster already runs on another port.
pub fn start(cfg: &Config) -> Result<Status, Error> {
    validate_name("role", &cfg.superuser)?;
    let runner = Runner::new(cfg)?;
    let os_user = runner.switch_to().map(OsUser::lookup).transpose()?;
    let layout = Layout::prepare(cfg, os_user.as_ref())?;
    let bin = config::bin_dir(cfg, layout.pg_version().as_deref())?;
    if !layout.initialized() {
        server::initdb(cfg, &runner, os_user.as_ref(), &bin, &layout)?;
    }

    let mut attempt = 0;
    loop {
        attempt += 1;
        match server::probe(&runner, &bin, &layout)? {
            Probe::Running { port, .. } => {
                let running = port.unwrap_or(cfg.port);
                if running != cfg.port {
                    return Err(Error::PortMismatch {
                        data_dir: layout.pgdata.clone(),
                        running,
                        configured: cfg.port,
                    });
                }
                server::wait_ready(cfg, &bin, &layout)?;
                return status(cfg);
            }
            Probe::Stale | Probe::Stopped => server::remove_stale_lock_files(&layout)?,
        }
        // Settings of this start (server settings, WAL archiving); a running server keeps its own
        // until restarted.
        backup::write_settings(cfg, &layout, os_user.as_ref())?;
        server::ensure_port_free(cfg.port)?;
        match server::pg_ctl_start(cfg, &runner, &bin, &layout) {
            Ok(()) => {
                server::wait_ready(cfg, &bin, &layout)?;
                return status(cfg);
            }
            Err(failed) => {
                // Somebody else (another `gateway db start`) may have won the race: reuse.
                let now = server::probe(&runner, &bin, &layout)?;
                let won_by_other = matches!(now, Probe::Running { .. });
                if !(won_by_other || failed.transient) || attempt >= START_ATTEMPTS {
                    return Err(failed.error);
                }
                if failed.transient {
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        }
    }
}

/// Stop the server (`pg_ctl stop -m fast`: open transactions are rolled back). `Ok` when it
/// is not running or not even initialized.
pub fn stop(cfg: &Config) -> Result<(), Error> {
    let layout = Layout::resolve(cfg)?;
    if !layout.initialized() {
        return Ok(());
    }
    let bin = config::bin_dir(cfg, layout.pg_version().as_deref())?;
    let runner = Runner::new(cfg)?;
    if !matches!(
        server::probe(&runner, &bin, &layout)?,
        Probe::Running { .. }
    ) {
        return Ok(());
    }
    match server::pg_ctl_stop(&runner, &bin, &layout) {
        Ok(()) => Ok(()),
        // It may have stopped by itself in between.
        Err(e) => match server::probe(&runner, &bin, &layout)? {
            Probe::Running { .. } => Err(e),
            _ => Ok(()),
        },
    }
}

/// `postgres://<superuser>:<password>@127.0.0.1:<port>/<database>`.
///
/// Needs an initialized cluster (the password is read from `<base_dir>/password`); does not
/// check that the server runs or that the database exists.
pub fn url(cfg: &Config, database: &str) -> Result<String, Error> {
    validate_name("database", database)?;
    let password = Layout::resolve(cfg)?.read_password()?;
    Ok(format!(
        "postgres://{}:{}@127.0.0.1:{}/{database}",
        percent_encode(&cfg.superuser),
        percent_encode(&password),
        cfg.port
    ))
}

/// Create database `name` (owned by the superuser) unless it exists; `true` if created.
/// The server must be running. `name` must match `[a-z_][a-z0-9_]{0,62}`.
pub fn ensure_database(cfg: &Config, name: &str) -> Result<bool, Error> {
    validate_name("database", name)?;
    let (bin, password) = client_setup(cfg)?;

    let mut query = client(&bin.join("psql"), Some(&password));
    connection_args(&mut query, cfg);
    // `name` is validated above, so quoting it into the literal is safe.
    query.args([
        "-X",
        "-A",
        "-t",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-d",
        "postgres",
    ]);
    query.arg("-c").arg(format!(
        "SELECT 1 FROM pg_database WHERE datname = '{name}'"
    ));
    let out = output(&mut query)?;
    if !out.status.success() {
        return Err(failure(&query, "psql (look up database)", &out, ""));
    }
    if String::from_utf8_lossy(&out.stdout).trim() == "1" {
        return Ok(false);
    }

    let mut create = client(&bin.join("createdb"), Some(&password));
    connection_args(&mut create, cfg);
    // The C collation (see `server::initdb`) also in clusters made before it was the default.
    create
        .arg("--maintenance-db=postgres")
        .arg("--template=template0")
        .arg("--lc-collate=C")
        .arg(name);
    let out = output(&mut create)?;
    if out.status.success() {
        Ok(true)
    } else if String::from_utf8_lossy(&out.stderr).contains("already exists") {
        Ok(false) // created concurrently
    } else {
        Err(failure(&create, "createdb", &out, ""))
    }
}

/// Drop database `name` if it exists, disconnecting its sessions first (`dropdb --force`).
/// Refuses the system databases `postgres`, `template0` and `template1`.
pub fn drop_database(cfg: &Config, name: &str) -> Result<(), Error> {
    validate_name("database", name)?;
    if matches!(name, "postgres" | "template0" | "template1") {
        return Err(Error::InvalidName {
            kind: "database",
            name: name.to_owned(),
            reason: "is a system database",
        });
    }
    let (bin, password) = client_setup(cfg)?;
    let mut cmd = client(&bin.join("dropdb"), Some(&password));
    connection_args(&mut cmd, cfg);
    cmd.args(["--maintenance-db=postgres", "--if-exists", "--force"])
        .arg(name);
    command::run_ok(&mut cmd, "dropdb").map(drop)
}

/// The directory of the PostgreSQL programs used for `cfg` (for `psql`, `pg_dump`, … in
/// tools and tests).
pub fn bin_dir(cfg: &Config) -> Result<PathBuf, Error> {
    let layout = Layout::resolve(cfg)?;
    config::bin_dir(cfg, layout.pg_version().as_deref())
}

fn make_status(cfg: &Config, layout: &Layout, initialized: bool, probe: Probe) -> Status {
    let (running, pid, port) = match probe {
        Probe::Running { pid, port } => (true, Some(pid), port.unwrap_or(cfg.port)),
        Probe::Stopped | Probe::Stale => (false, None, cfg.port),
    };
    Status {
        initialized,
        running,
        pid,
        port,
        data_dir: layout.pgdata.clone(),
        log_file: layout.log.clone(),
    }
}

/// Binaries and password for the client programs.
fn client_setup(cfg: &Config) -> Result<(PathBuf, String), Error> {
    let layout = Layout::resolve(cfg)?;
    let password = layout.read_password()?;
    let bin = config::bin_dir(cfg, layout.pg_version().as_deref())?;
    Ok((bin, password))
}

pub(crate) fn connection_args(cmd: &mut std::process::Command, cfg: &Config) {
    cmd.args(["-w", "-h", "127.0.0.1", "-p"])
        .arg(cfg.port.to_string())
        .arg("-U")
        .arg(&cfg.superuser);
}

/// Database and role names we accept: `[a-z_][a-z0-9_]{0,62}` (no quoting ever needed,
/// within PostgreSQL's 63-byte limit).
fn validate_name(kind: &'static str, name: &str) -> Result<(), Error> {
    let reason = match name.as_bytes() {
        [] => Some("is empty"),
        b if b.len() > 63 => Some("is longer than 63 characters"),
        [first, ..] if !(first.is_ascii_lowercase() || *first == b'_') => {
            Some("must start with a lowercase letter or an underscore")
        }
        b if !b
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_') =>
        {
            Some("may contain only lowercase letters, digits and underscores")
        }
        _ => None,
    };
    match reason {
        Some(reason) => Err(Error::InvalidName {
            kind,
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Percent-encode everything but RFC 3986 unreserved characters (for URL userinfo).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["app", "_x", "gateway_test_01", &"a".repeat(63)] {
            assert!(validate_name("database", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "App",
            "1db",
            "a-b",
            "a;drop database x",
            "a'b",
            "é",
            &"a".repeat(64),
        ] {
            assert!(validate_name("database", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn types_cross_threads() {
        fn check<T: Send + Sync + 'static>() {}
        check::<Error>();
        check::<Config>();
        check::<Status>();
    }

    #[test]
    fn encoding() {
        assert_eq!(percent_encode("abcDEF019-._~"), "abcDEF019-._~");
        assert_eq!(percent_encode("p@ss:w/rd%"), "p%40ss%3Aw%2Frd%25");
    }

    #[test]
    fn url_needs_an_initialized_cluster() {
        let dir = std::env::temp_dir().join("pgembed-unit-no-such-dir");
        let err = url(&Config::new(dir, 5432), "app").unwrap_err();
        assert!(matches!(err, Error::NotInitialized { .. }), "{err}");
        assert!(err.to_string().contains("gateway db start"));
    }
}
