//! What the caller configures ([`Config`]) and what we derive from it: where the server
//! binaries are ([`bin_dir`]) and who we are ([`current_euid`]).

use std::fs;
use std::path::{Path, PathBuf};

use crate::Error;

/// Database role created by `initdb`; the gateway connects as this role.
pub const DEFAULT_SUPERUSER: &str = "gateway";

/// OS user that runs PostgreSQL when the gateway runs as root (created by the Debian package).
pub const DEFAULT_OS_USER: &str = "postgres";

/// Where the Debian/Ubuntu packages install one directory per major version.
const DEBIAN_LIB_DIR: &str = "/usr/lib/postgresql";

/// How to find, run and reach the private PostgreSQL cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Holds everything: `pgdata/` (the cluster, owned by the OS user), `run/` (the Unix
    /// socket directory), `postgres.log` (server output) and `password` (the superuser
    /// password, readable only by the invoking user). Keep it out of checkouts and out of
    /// `/root`: the OS user must be able to traverse every parent directory.
    pub base_dir: PathBuf,
    /// TCP port; the server listens on 127.0.0.1 only.
    pub port: u16,
    /// Directory with `initdb`, `pg_ctl`, `psql`, …; `None` picks the newest
    /// `/usr/lib/postgresql/*/bin` (the version that created the data directory if it is
    /// still installed), else the directory of `initdb` on `PATH`.
    pub bin_dir: Option<PathBuf>,
    /// OS user that runs the server; `None` means `postgres` when we are root (PostgreSQL
    /// refuses to run as root) and the current user otherwise.
    pub os_user: Option<String>,
    /// Database superuser created by `initdb`, normally [`DEFAULT_SUPERUSER`].
    pub superuser: String,
    /// When set, the server archives every completed WAL segment into this directory
    /// (created for the OS user), for point-in-time restore ([`crate::restore`]).
    pub wal_archive_dir: Option<PathBuf>,
    /// Server settings (name, value) written into `pgdata/gateway.conf` at every start, the
    /// last of a name winning; [`Config::new`] starts from [`crate::default_settings`]. A running server keeps its own until restarted, and `ALTER SYSTEM` overrides
    /// them.
    pub settings: Vec<(String, String)>,
}

impl Config {
    /// A configuration with superuser `gateway` and everything else detected.
    pub fn new(base_dir: impl Into<PathBuf>, port: u16) -> Self {
        Config {
            base_dir: base_dir.into(),
            port,
            bin_dir: None,
            os_user: None,
            superuser: DEFAULT_SUPERUSER.to_owned(),
            wal_archive_dir: None,
            settings: crate::default_settings(),
        }
    }

    /// `/var/lib/exchange-gateway/pg` for root; `/var/tmp/exchange-gateway-<uid>/pg`
    /// otherwise (`/var/tmp` survives reboots, unlike `/tmp` on many systems).
    pub fn default_base_dir() -> PathBuf {
        match current_euid() {
            0 => PathBuf::from("/var/lib/exchange-gateway/pg"),
            uid => PathBuf::from(format!("/var/tmp/exchange-gateway-{uid}/pg")),
        }
    }
}

/// Effective uid of this process, from `/proc/self/status` (no libc dependency), falling
/// back to `id -u`. Unknown counts as non-root.
pub(crate) fn current_euid() -> u32 {
    let from_proc = fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            // "Uid:\t<real>\t<effective>\t<saved>\t<fs>"
            let line = status.lines().find(|l| l.starts_with("Uid:"))?;
            line.split_whitespace().nth(2)?.parse().ok()
        });
    if let Some(euid) = from_proc {
        return euid;
    }
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(u32::MAX)
}

/// The directory with the server binaries to use for `cfg`.
///
/// `data_version` is the content of `PG_VERSION` of an existing cluster: a cluster must be
/// run by the major version that created it, so that version wins over a newer one installed
/// alongside (after a distribution upgrade).
pub(crate) fn bin_dir(cfg: &Config, data_version: Option<&str>) -> Result<PathBuf, Error> {
    if let Some(dir) = &cfg.bin_dir {
        return if has_server_binaries(dir) {
            Ok(dir.clone())
        } else {
            Err(Error::NoBinaries {
                searched: dir.display().to_string(),
            })
        };
    }
    if let Some(version) = data_version {
        let dir = Path::new(DEBIAN_LIB_DIR).join(version).join("bin");
        if has_server_binaries(&dir) {
            return Ok(dir);
        }
    }
    if let Some(dir) = newest_debian_bin_dir() {
        return Ok(dir);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_server_binaries(&dir) {
                return Ok(dir);
            }
        }
    }
    Err(Error::NoBinaries {
        searched: format!("{DEBIAN_LIB_DIR}/*/bin and PATH"),
    })
}

fn has_server_binaries(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("pg_ctl").is_file()
}

/// `/usr/lib/postgresql/<major>/bin` with the highest version that has the server binaries.
fn newest_debian_bin_dir() -> Option<PathBuf> {
    let entries = fs::read_dir(DEBIAN_LIB_DIR).ok()?;
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = parse_version(e.file_name().to_str()?)?;
            let bin = e.path().join("bin");
            has_server_binaries(&bin).then_some((version, bin))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, bin)| bin)
}

/// "15" -> [15], "9.6" -> [9, 6]; anything else is not a version directory.
fn parse_version(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_numerically() {
        assert!(parse_version("10").unwrap() > parse_version("9.6").unwrap());
        assert!(parse_version("16").unwrap() > parse_version("15").unwrap());
        assert_eq!(parse_version("common"), None);
    }

    #[test]
    fn new_uses_defaults() {
        let cfg = Config::new("/x", 5432);
        assert_eq!(cfg.superuser, "gateway");
        assert_eq!(cfg.bin_dir, None);
        assert_eq!(cfg.os_user, None);
    }

    #[test]
    fn default_base_dir_depends_on_the_user() {
        let dir = Config::default_base_dir();
        if current_euid() == 0 {
            assert_eq!(dir, Path::new("/var/lib/exchange-gateway/pg"));
        } else {
            assert!(dir.starts_with("/var/tmp"), "{}", dir.display());
        }
    }
}
