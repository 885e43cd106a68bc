//! Running the PostgreSQL programs: as which OS user (`runuser` when we are root), with which
//! environment, and turning failures into [`Error::Command`] with the useful part of the
//! output.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::Error;
use crate::config::{Config, DEFAULT_OS_USER, current_euid};

/// Lines of stderr/stdout/log kept in error messages.
pub(crate) const TAIL_LINES: usize = 20;

/// An OS user with the ids we need for `chown` and for permission checks.
#[derive(Debug, Clone)]
pub(crate) struct OsUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// Primary and supplementary groups.
    pub groups: Vec<u32>,
}

impl OsUser {
    /// Look the user up with `id` (works with /etc/passwd as well as LDAP/NSS).
    pub fn lookup(name: &str) -> Result<OsUser, Error> {
        let id = |flag: &str| -> Result<String, Error> {
            let mut cmd = Command::new("id");
            cmd.arg(flag).arg("--").arg(name);
            let out = output(&mut cmd)?;
            if out.status.success() {
                Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
            } else {
                Err(Error::UnknownUser {
                    user: name.to_owned(),
                    detail: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
                })
            }
        };
        let number = |text: String| -> Result<u32, Error> {
            text.parse().map_err(|_| Error::UnknownUser {
                user: name.to_owned(),
                detail: format!("`id` printed {text:?}"),
            })
        };
        let uid = number(id("-u")?)?;
        let gid = number(id("-g")?)?;
        let groups = id("-G")?
            .split_whitespace()
            .map(|g| number(g.to_owned()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(OsUser {
            name: name.to_owned(),
            uid,
            gid,
            groups,
        })
    }
}

/// Builds commands, switching to the OS user for the server programs when we are root.
#[derive(Debug, Clone)]
pub(crate) struct Runner {
    /// `Some(user)` when server programs run through `runuser -u <user> --`.
    switch_to: Option<String>,
}

impl Runner {
    /// Decide who runs the server programs for `cfg`.
    pub fn new(cfg: &Config) -> Result<Runner, Error> {
        if current_euid() == 0 {
            let user = cfg.os_user.as_deref().unwrap_or(DEFAULT_OS_USER).to_owned();
            return Ok(Runner {
                switch_to: Some(user),
            });
        }
        if let Some(user) = &cfg.os_user {
            // Naming ourselves is fine; anybody else would need root.
            if OsUser::lookup(user)?.uid != current_euid() {
                return Err(Error::CannotSwitchUser { user: user.clone() });
            }
        }
        Ok(Runner { switch_to: None })
    }

    /// The OS user we switch to, if any (only when we are root).
    pub fn switch_to(&self) -> Option<&str> {
        self.switch_to.as_deref()
    }

    /// A server program (`initdb`, `pg_ctl`): run as the OS user.
    pub fn server(&self, program: &Path) -> Command {
        let mut cmd = match &self.switch_to {
            Some(user) => {
                let mut cmd = Command::new(runuser());
                cmd.arg("-u").arg(user).arg("--").arg(program);
                cmd
            }
            None => Command::new(program),
        };
        sanitize(&mut cmd);
        cmd
    }
}

/// A client program (`psql`, `createdb`, `pg_isready`): run as ourselves (no need to switch
/// users); it connects over TCP to 127.0.0.1 with the password.
pub(crate) fn client(program: &Path, password: Option<&str>) -> Command {
    let mut cmd = Command::new(program);
    sanitize(&mut cmd);
    if let Some(password) = password {
        // In the environment, never on the command line (which `ps` shows to everyone).
        cmd.env("PGPASSWORD", password);
    }
    cmd.env("PGCONNECT_TIMEOUT", "10");
    cmd
}

/// `runuser` lives in /usr/sbin, which is not on every PATH (e.g. some service managers).
fn runuser() -> &'static str {
    ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .unwrap_or("runuser")
}

/// A predictable environment: no inherited `PG*` variables (PGHOST, PGPORT, PGSERVICE,
/// PGOPTIONS… would silently change what the programs do) and a working directory every
/// user can enter (the caller's may be under /root).
fn sanitize(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(|k| k.starts_with("PG")) {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir("/");
}

/// Run to completion with stdin closed and output captured.
///
/// Note on `pg_ctl start`: it redirects the server's stdout/stderr to the log file and its
/// stdin to /dev/null, so the daemonized server does not hold our pipes open.
pub(crate) fn output(cmd: &mut Command) -> Result<Output, Error> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|source| Error::Spawn {
            command: display(cmd),
            source,
        })
}

/// Run and require success.
pub(crate) fn run_ok(cmd: &mut Command, what: &'static str) -> Result<Output, Error> {
    let out = output(cmd)?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(failure(cmd, what, &out, ""))
    }
}

/// The [`Error::Command`] for a finished command, with the tails of its output and `extra`.
pub(crate) fn failure(cmd: &Command, what: &'static str, out: &Output, extra: &str) -> Error {
    let mut detail = String::new();
    for (name, bytes) in [("stderr", &out.stderr), ("stdout", &out.stdout)] {
        let text = tail(&String::from_utf8_lossy(bytes), TAIL_LINES);
        if !text.is_empty() {
            detail.push_str(&format!("\n--- {name} ---\n{text}"));
        }
    }
    detail.push_str(extra);
    Error::Command {
        what,
        command: display(cmd),
        status: out.status.to_string(),
        detail,
    }
}

/// The last `n` non-empty lines of `text`.
pub(crate) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The command line, shell-quoted, for messages. Environment variables (the password) are
/// deliberately left out.
pub(crate) fn display(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|arg| shell_quote(&arg.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Quote for a POSIX shell: as is when only safe characters, else in single quotes.
pub(crate) fn shell_quote(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// `OsStr` helper for building argument strings like `--pwfile=<path>`.
pub(crate) fn flag_with_path(flag: &str, path: &Path) -> std::ffi::OsString {
    let mut s = std::ffi::OsString::from(flag);
    s.push(OsStr::new("="));
    s.push(path.as_os_str());
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("/var/tmp/x"), "/var/tmp/x");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn tails_skip_blank_lines() {
        assert_eq!(tail("a\n\nb\nc\n\n", 2), "b\nc");
        assert_eq!(tail("", 2), "");
    }

    #[test]
    fn display_has_no_environment() {
        let mut cmd = Command::new("/bin/echo");
        cmd.arg("x y").env("PGPASSWORD", "secret");
        assert_eq!(display(&cmd), "/bin/echo 'x y'");
    }
}
