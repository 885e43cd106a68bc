//! The base directory: its paths, creating it with the right owners and modes, and the
//! password files.
//!
//! ```text
//! <base_dir>/            invoking user, 0711 when root (the OS user must traverse it), else 0700
//!   password             invoking user, 0600: the superuser password (hex)
//!   pgdata/              OS user, 0700: the cluster
//!   run/                 OS user, 0700: Unix socket directory
//!   postgres.log         OS user, 0600: server output (appended to, never rotated)
//!   .initdb-pwfile       OS user, 0600: exists only while initdb runs
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt, lchown};
use std::path::{Path, PathBuf};

use crate::Error;
use crate::command::OsUser;
use crate::config::{Config, current_euid};

/// Longest Unix socket path (`sun_path` is 108 bytes including the terminating NUL).
const MAX_SOCKET_PATH: usize = 107;

/// Paths under the base directory.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub base: PathBuf,
    pub pgdata: PathBuf,
    pub run: PathBuf,
    pub log: PathBuf,
    pub password: PathBuf,
    pub initdb_pwfile: PathBuf,
}

impl Layout {
    /// Paths for `cfg` without touching the file system beyond resolving symlinks of an
    /// existing base directory (so every user of one cluster sees the same paths).
    pub fn resolve(cfg: &Config) -> Result<Layout, Error> {
        let absolute = std::path::absolute(&cfg.base_dir)
            .map_err(|e| Error::io("resolve", &cfg.base_dir, e))?;
        let base = fs::canonicalize(&absolute).unwrap_or(absolute);
        Ok(Layout::at(base))
    }

    fn at(base: PathBuf) -> Layout {
        Layout {
            pgdata: base.join("pgdata"),
            run: base.join("run"),
            log: base.join("postgres.log"),
            password: base.join("password"),
            initdb_pwfile: base.join(".initdb-pwfile"),
            base,
        }
    }

    /// `initdb` completed here (it writes `PG_VERSION`; on failure it removes what it wrote).
    pub fn initialized(&self) -> bool {
        self.pgdata.join("PG_VERSION").is_file()
    }

    /// Major version that created the cluster, e.g. "15".
    pub fn pg_version(&self) -> Option<String> {
        fs::read_to_string(self.pgdata.join("PG_VERSION"))
            .ok()
            .map(|v| v.trim().to_owned())
    }

    /// Create the base directory and its contents with the owners and modes of the module
    /// documentation. `os_user` is the user we switch to (only when we are root).
    ///
    /// Checks, each failing with a message naming the directory: every existing directory
    /// down to the base directory is traversable by `os_user`; the base directory belongs
    /// to us and is not writable by others (else somebody could swap `pgdata` for a symlink
    /// and have root `chown` something else — we also never follow symlinks when we chown);
    /// the socket path fits; the path has no characters that `pg_ctl`'s shell command would
    /// interpret.
    pub fn prepare(cfg: &Config, os_user: Option<&OsUser>) -> Result<Layout, Error> {
        let absolute = std::path::absolute(&cfg.base_dir)
            .map_err(|e| Error::io("resolve", &cfg.base_dir, e))?;
        check_characters(&absolute)?;

        // The longest existing ancestor; every directory down to it must be traversable.
        let mut missing = Vec::new();
        let mut existing = absolute.as_path();
        while fs::metadata(existing).is_err() && existing != Path::new("/") {
            missing.push(existing.to_path_buf());
            existing = existing.parent().unwrap_or(Path::new("/"));
        }
        let existing = fs::canonicalize(existing).map_err(|e| Error::io("resolve", existing, e))?;
        if let Some(user) = os_user {
            check_traversable(&existing, user, &absolute)?;
        }

        // Create what is missing, top down, with explicit modes (the umask may be 077).
        let dir_mode = if os_user.is_some() { 0o711 } else { 0o700 };
        for dir in missing.iter().rev() {
            match fs::create_dir(dir) {
                Ok(()) => set_mode(dir, dir_mode)?,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io("create directory", dir, e)),
            }
        }

        let base = fs::canonicalize(&absolute).map_err(|e| Error::io("resolve", &absolute, e))?;
        let layout = Layout::at(base);
        layout.check_base_ownership()?;
        layout.check_socket_path(cfg.port)?;

        layout.ensure_dir(&layout.pgdata)?;
        layout.ensure_dir(&layout.run)?;
        if fs::symlink_metadata(&layout.log).is_err() {
            OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o600)
                .open(&layout.log)
                .map_err(|e| Error::io("create", &layout.log, e))?;
        }
        if let Some(user) = os_user {
            for path in [&layout.pgdata, &layout.run, &layout.log] {
                chown_to(path, user)?;
            }
        }
        Ok(layout)
    }

    fn check_base_ownership(&self) -> Result<(), Error> {
        let meta = fs::metadata(&self.base).map_err(|e| Error::io("inspect", &self.base, e))?;
        let euid = current_euid();
        if !meta.is_dir() {
            return Err(unsuitable(&self.base, "not a directory".into()));
        }
        if meta.uid() != euid {
            return Err(unsuitable(
                &self.base,
                format!(
                    "owned by uid {}, not by the current user (uid {euid})",
                    meta.uid()
                ),
            ));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(unsuitable(
                &self.base,
                format!(
                    "writable by group or others (mode {:o}); run `chmod go-w {}`",
                    meta.mode() & 0o7777,
                    self.base.display()
                ),
            ));
        }
        Ok(())
    }

    fn check_socket_path(&self, port: u16) -> Result<(), Error> {
        let socket = self.run.join(format!(".s.PGSQL.{port}"));
        let len = socket.as_os_str().len();
        if len > MAX_SOCKET_PATH {
            return Err(unsuitable(
                &self.base,
                format!(
                    "the socket path {} is {len} bytes, longer than the {MAX_SOCKET_PATH} \
                     bytes Unix sockets allow; choose a shorter base directory",
                    socket.display()
                ),
            ));
        }
        Ok(())
    }

    /// A directory of ours, mode 0700; refuses symlinks.
    fn ensure_dir(&self, dir: &Path) -> Result<(), Error> {
        match fs::symlink_metadata(dir) {
            Ok(meta) if meta.is_dir() => Ok(()),
            Ok(_) => Err(unsuitable(
                &self.base,
                format!("{} is not a directory (or is a symlink)", dir.display()),
            )),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(dir).map_err(|e| Error::io("create directory", dir, e))?;
                set_mode(dir, 0o700)
            }
            Err(e) => Err(Error::io("inspect", dir, e)),
        }
    }

    /// The superuser password, as written at initialization.
    pub fn read_password(&self) -> Result<String, Error> {
        match fs::read_to_string(&self.password) {
            Ok(text) => Ok(text.trim().to_owned()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::NotInitialized {
                password_file: self.password.clone(),
            }),
            Err(e) => Err(Error::io("read", &self.password, e)),
        }
    }

    /// Store the password (mode 0600, owned by us), atomically replacing an old one.
    pub fn write_password(&self, password: &str) -> Result<(), Error> {
        let tmp = self.base.join(".password.tmp");
        write_private(&tmp, password)?;
        fs::rename(&tmp, &self.password).map_err(|e| Error::io("rename", &tmp, e))
    }

    /// The `--pwfile` for initdb, readable by `os_user`; removed when the guard drops.
    pub fn write_initdb_pwfile(
        &self,
        password: &str,
        os_user: Option<&OsUser>,
    ) -> Result<RemoveOnDrop, Error> {
        let path = &self.initdb_pwfile;
        write_private(path, password)?;
        let guard = RemoveOnDrop(path.clone());
        if let Some(user) = os_user {
            chown_to(path, user)?;
        }
        Ok(guard)
    }

    /// `postgres.log` from byte `offset` (what the last start attempt wrote), at most the
    /// last lines.
    pub fn log_since(&self, offset: u64) -> String {
        let bytes = fs::read(&self.log).unwrap_or_default();
        let start = usize::try_from(offset).unwrap_or(0).min(bytes.len());
        crate::command::tail(
            &String::from_utf8_lossy(&bytes[start..]),
            crate::command::TAIL_LINES,
        )
    }

    /// Current size of `postgres.log`.
    pub fn log_len(&self) -> u64 {
        fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0)
    }
}

/// Deletes a file when dropped (the temporary initdb password file).
pub(crate) struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Create `path` fresh with mode 0600 and write `content` to it.
fn write_private(path: &Path, content: &str) -> Result<(), Error> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("remove", path, e)),
    }
    let mut file: File = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io("create", path, e))?;
    file.write_all(content.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io("write", path, e))
}

pub(crate) fn set_mode(path: &Path, mode: u32) -> Result<(), Error> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io("set permissions of", path, e))
}

/// Give `path` to `user` without following symlinks; no-op when it is theirs already.
pub(crate) fn chown_to(path: &Path, user: &OsUser) -> Result<(), Error> {
    let meta = fs::symlink_metadata(path).map_err(|e| Error::io("inspect", path, e))?;
    if meta.uid() != user.uid || meta.gid() != user.gid {
        lchown(path, Some(user.uid), Some(user.gid)).map_err(|e| Error::io("chown", path, e))?;
    }
    Ok(())
}

/// Every directory from `/` down to `dir` (canonical, existing) must be searchable by `user`.
fn check_traversable(dir: &Path, user: &OsUser, base_dir: &Path) -> Result<(), Error> {
    let mut chain: Vec<&Path> = dir.ancestors().collect();
    chain.reverse();
    for d in chain {
        let meta = fs::metadata(d).map_err(|e| Error::io("inspect", d, e))?;
        if !can_traverse(meta.mode(), meta.uid(), meta.gid(), user) {
            return Err(Error::NotTraversable {
                dir: d.to_path_buf(),
                user: user.name.clone(),
                base_dir: base_dir.to_path_buf(),
            });
        }
    }
    Ok(())
}

/// The kernel's rule for the x bit: owner class if the owner, else group class if in the
/// group, else others. (ACLs are not considered; they are rare on these directories.)
fn can_traverse(mode: u32, owner: u32, group: u32, user: &OsUser) -> bool {
    if user.uid == 0 {
        true
    } else if owner == user.uid {
        mode & 0o100 != 0
    } else if group == user.gid || user.groups.contains(&group) {
        mode & 0o010 != 0
    } else {
        mode & 0o001 != 0
    }
}

/// `pg_ctl` runs the server through `/bin/sh` with `-D "<dir>"`: characters that the shell
/// interprets inside double quotes would break (or be executed).
fn check_characters(path: &Path) -> Result<(), Error> {
    let Some(text) = path.to_str() else {
        return Err(unsuitable(path, "the path is not valid UTF-8".into()));
    };
    if let Some(c) = text.chars().find(|c| "\"$`\\\n\r".contains(*c)) {
        return Err(unsuitable(
            path,
            format!("the path contains {c:?}, which pg_ctl cannot quote"),
        ));
    }
    Ok(())
}

fn unsuitable(path: &Path, reason: String) -> Error {
    Error::BaseDirUnsuitable {
        path: path.to_path_buf(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(uid: u32, gid: u32, groups: &[u32]) -> OsUser {
        OsUser {
            name: "pg".into(),
            uid,
            gid,
            groups: groups.to_vec(),
        }
    }

    #[test]
    fn traverse_rules_follow_the_owner_group_other_classes() {
        let pg = user(101, 104, &[104, 7]);
        // /root: 0700 root:root
        assert!(!can_traverse(0o700, 0, 0, &pg));
        // /var/lib: 0755
        assert!(can_traverse(0o755, 0, 0, &pg));
        // 0711 base dir of root
        assert!(can_traverse(0o711, 0, 0, &pg));
        // owner class wins even when others may: 0601 owned by pg is not traversable by pg
        assert!(!can_traverse(0o601, 101, 0, &pg));
        // supplementary group
        assert!(can_traverse(0o710, 0, 7, &pg));
        assert!(!can_traverse(0o701, 0, 7, &pg));
    }

    #[test]
    fn shell_sensitive_characters_are_refused() {
        assert!(check_characters(Path::new("/var/tmp/a b/pg")).is_ok());
        assert!(check_characters(Path::new("/var/tmp/$HOME/pg")).is_err());
        assert!(check_characters(Path::new("/var/tmp/a\"b")).is_err());
    }
}
