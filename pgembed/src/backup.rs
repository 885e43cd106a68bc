//! WAL archiving, base backups and point-in-time restore of the cluster.
//!
//! - Archiving: with [`Config::wal_archive_dir`] set, every start writes `pgdata/gateway.conf`
//!   (included from `postgresql.conf`) with `archive_mode = on`, an `archive_command` copying
//!   each completed segment into that directory (never overwriting one), and
//!   `archive_timeout = 60s`, so at most a minute of commits waits in an unarchived segment.
//!   Without it the file is empty: the settings follow the configuration at every start.
//! - [`base_backup`]: `pg_basebackup` (plain format, the WAL needed for consistency streamed
//!   alongside) into `<dest>/base`, plus the superuser password (`<dest>/password`): the
//!   restored cluster keeps the roles, so it needs that password.
//! - [`restore`]: a backup into a base directory with no cluster yet, replaying the archive up
//!   to a target time (`recovery_target_time`, then promote), and waiting until it accepts
//!   writes.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::command::{OsUser, Runner, client, failure, output, run_ok};
use crate::config::{self, Config};
use crate::layout::{Layout, chown_to};
use crate::{Error, Status, connection_args};

/// The settings file every start rewrites, and the one a restore adds for its recovery.
const SETTINGS_FILE: &str = "gateway.conf";
const RECOVERY_FILE: &str = "gateway-recovery.conf";

/// Seconds a restore may take to replay the archive.
const RECOVERY_SECONDS: u64 = 600;

/// `postgresql.conf` includes `file` (appended once; `include_if_exists`, so a missing file is
/// not an error).
fn ensure_included(pgdata: &Path, file: &str) -> Result<(), Error> {
    let conf = pgdata.join("postgresql.conf");
    let text = fs::read_to_string(&conf).map_err(|e| Error::io("read", &conf, e))?;
    let line = format!("include_if_exists = '{file}'");
    if text.lines().any(|l| l.trim() == line) {
        return Ok(());
    }
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(&conf)
        .map_err(|e| Error::io("open", &conf, e))?;
    writeln!(f, "\n{line}").map_err(|e| Error::io("write", &conf, e))
}

/// Write a configuration file into the data directory, readable by the server's OS user.
fn write_conf(
    layout: &Layout,
    os_user: Option<&OsUser>,
    file: &str,
    text: &str,
) -> Result<(), Error> {
    let path = layout.pgdata.join(file);
    fs::write(&path, text).map_err(|e| Error::io("write", &path, e))?;
    if let Some(user) = os_user {
        chown_to(&path, user)?;
    }
    ensure_included(&layout.pgdata, file)
}

/// A directory named in a server setting: absolute and of characters that need no quoting in
/// the setting nor in the shell command that uses it.
fn plain_dir(dir: &Path) -> Result<PathBuf, Error> {
    let absolute = std::path::absolute(dir).map_err(|e| Error::io("resolve", dir, e))?;
    let text = absolute.to_string_lossy();
    if !text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
    {
        return Err(Error::BaseDirUnsuitable {
            path: absolute.clone(),
            reason: "a WAL archive path may contain only letters, digits and - _ . /".into(),
        });
    }
    Ok(absolute)
}

/// Called by every start: the server settings of `cfg` and its archiving settings (creating
/// the archive directory for the OS user), if any.
pub(crate) fn write_settings(
    cfg: &Config,
    layout: &Layout,
    os_user: Option<&OsUser>,
) -> Result<(), Error> {
    let archiving = match &cfg.wal_archive_dir {
        None => String::from("# WAL archiving is off (database.embedded.wal_archive_dir)\n"),
        Some(dir) => {
            let dir = plain_dir(dir)?;
            if !dir.is_dir() {
                fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
                crate::layout::set_mode(&dir, 0o700)?;
            }
            if let Some(user) = os_user {
                chown_to(&dir, user)?;
            }
            let d = dir.display();
            format!(
                "# Written by the gateway at every start (database.embedded.wal_archive_dir).\n\
                 archive_mode = on\n\
                 archive_command = 'test ! -f {d}/%f && cp %p {d}/%f'\n\
                 archive_timeout = 60s\n"
            )
        }
    };
    let text = format!(
        "{archiving}# Server settings (database.embedded.settings over the defaults)\n{}",
        crate::settings::render(&cfg.settings)?
    );
    write_conf(layout, os_user, SETTINGS_FILE, &text)
}

/// What [`base_backup`] wrote.
#[derive(Debug, Clone)]
pub struct Backup {
    /// The data directory copy (`pg_basebackup` plain format).
    pub base: PathBuf,
    /// The superuser password of the backed-up cluster.
    pub password: PathBuf,
}

/// Take a base backup of the running cluster into `dest` (which must not exist or be empty).
pub fn base_backup(cfg: &Config, dest: &Path) -> Result<Backup, Error> {
    let layout = Layout::resolve(cfg)?;
    let password = layout.read_password()?;
    let bin = config::bin_dir(cfg, layout.pg_version().as_deref())?;
    if dest.exists()
        && fs::read_dir(dest)
            .map_err(|e| Error::io("read", dest, e))?
            .next()
            .is_some()
    {
        return Err(Error::BaseDirUnsuitable {
            path: dest.to_path_buf(),
            reason: "the backup destination must be empty".into(),
        });
    }
    fs::create_dir_all(dest).map_err(|e| Error::io("create directory", dest, e))?;
    crate::layout::set_mode(dest, 0o700)?;
    let base = dest.join("base");
    let mut cmd = client(&bin.join("pg_basebackup"), Some(&password));
    connection_args(&mut cmd, cfg);
    cmd.arg("-D")
        .arg(&base)
        .args(["-F", "p", "-X", "stream", "-c", "fast", "-l", "gateway"]);
    run_ok(&mut cmd, "pg_basebackup")?;
    let password_file = dest.join("password");
    fs::copy(&layout.password, &password_file)
        .map_err(|e| Error::io("copy", &layout.password, e))?;
    crate::layout::set_mode(&password_file, 0o600)?;
    Ok(Backup {
        base,
        password: password_file,
    })
}

/// Restore the backup in `from` (written by [`base_backup`]) into `cfg`'s base directory,
/// which must hold no cluster yet, replaying WAL from `archive` up to `target_time` (a
/// PostgreSQL timestamp with time zone; `None`: to the end of the archive), then promote and
/// start it. Returns when the cluster accepts writes.
pub fn restore(
    cfg: &Config,
    from: &Path,
    archive: &Path,
    target_time: Option<&str>,
) -> Result<Status, Error> {
    let runner = Runner::new(cfg)?;
    let os_user = runner.switch_to().map(OsUser::lookup).transpose()?;
    let layout = Layout::prepare(cfg, os_user.as_ref())?;
    if layout.initialized() {
        return Err(Error::BaseDirUnsuitable {
            path: layout.pgdata.clone(),
            reason: "it holds a cluster already; restore into a fresh base directory \
                     (or move this data directory aside first)"
                .into(),
        });
    }
    let base = from.join("base");
    if !base.join("PG_VERSION").is_file() {
        return Err(Error::BaseDirUnsuitable {
            path: from.to_path_buf(),
            reason: "not a backup written by `gateway db backup` (no base/PG_VERSION)".into(),
        });
    }
    let archive = plain_dir(archive)?;
    // Copy the data directory's contents (pgdata itself exists with its owner and mode).
    let mut cp = std::process::Command::new("cp");
    cp.arg("-a").arg(base.join(".")).arg(&layout.pgdata);
    run_ok(&mut cp, "copy the base backup")?;
    if let Some(user) = &os_user {
        let mut chown = std::process::Command::new("chown");
        chown
            .arg("-R")
            .arg(format!("{}:{}", user.uid, user.gid))
            .arg(&layout.pgdata);
        run_ok(&mut chown, "chown the restored data directory")?;
    }
    let password = fs::read_to_string(from.join("password"))
        .map_err(|e| Error::io("read", from.join("password"), e))?;
    layout.write_password(password.trim())?;

    let mut recovery = format!(
        "# Written by `gateway db restore`; removed once the cluster is promoted.\n\
         restore_command = 'cp {}/%f %p'\n\
         recovery_target_action = 'promote'\n",
        archive.display()
    );
    if let Some(t) = target_time {
        if t.contains(['\'', '\n', '\\']) {
            return Err(Error::BaseDirUnsuitable {
                path: from.to_path_buf(),
                reason: format!("{t:?} is not a timestamp"),
            });
        }
        recovery.push_str(&format!("recovery_target_time = '{t}'\n"));
    }
    write_conf(&layout, os_user.as_ref(), RECOVERY_FILE, &recovery)?;
    let signal = layout.pgdata.join("recovery.signal");
    fs::write(&signal, "").map_err(|e| Error::io("write", &signal, e))?;
    if let Some(user) = &os_user {
        chown_to(&signal, user)?;
    }

    crate::start(cfg)?;
    wait_promoted(cfg, &layout)?;
    let _ = fs::remove_file(layout.pgdata.join(RECOVERY_FILE));
    crate::status(cfg)
}

/// Wait until the restored server left recovery (reached its target and was promoted).
fn wait_promoted(cfg: &Config, layout: &Layout) -> Result<(), Error> {
    let password = layout.read_password()?;
    let bin = config::bin_dir(cfg, layout.pg_version().as_deref())?;
    let deadline = Instant::now() + Duration::from_secs(RECOVERY_SECONDS);
    loop {
        let mut q = client(&bin.join("psql"), Some(&password));
        connection_args(&mut q, cfg);
        q.args(["-X", "-A", "-t", "-q", "-d", "postgres", "-c"])
            .arg("SELECT pg_is_in_recovery()");
        let out = output(&mut q)?;
        if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "f" {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let extra = format!(
                "\n--- {} ---\n{}",
                layout.log.display(),
                layout.log_since(layout.log_len().saturating_sub(8192))
            );
            return Err(failure(&q, "wait for the end of recovery", &out, &extra));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
