//! The one error type of the crate. Every message says what was attempted and, for failed
//! commands, the command line and the tail of what it (and the server log) printed, so that
//! `gateway db start` can show it to an operator as is.

use std::io;
use std::path::PathBuf;

/// What can go wrong while managing the embedded PostgreSQL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No `initdb`/`pg_ctl` were found.
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl) not found in {searched}; \
         install them with `apt-get install postgresql` or configure the binary directory"
    )]
    NoBinaries {
        /// Where we looked, for the message.
        searched: String,
    },

    /// A file system operation failed.
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        /// What we tried, e.g. "create directory".
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A program could not be started at all.
    #[error("could not run `{command}`: {source}")]
    Spawn {
        command: String,
        #[source]
        source: io::Error,
    },

    /// A program ran and failed.
    #[error("{what} failed ({status}): `{command}`{detail}")]
    Command {
        /// Short name of the step, e.g. "initdb" or "pg_ctl start".
        what: &'static str,
        /// The command line, shell-quoted (never contains the password).
        command: String,
        /// Exit status as printed by std, e.g. "exit status: 1".
        status: String,
        /// Tail of stderr/stdout and, for server start-up, of postgres.log; starts with a
        /// newline when not empty.
        detail: String,
    },

    /// The OS user that should run PostgreSQL does not exist.
    #[error(
        "OS user `{user}` not found ({detail}); PostgreSQL refuses to run as root, so a root \
         gateway runs it as `{user}`: install the `postgresql` package (it creates that user) \
         or configure another OS user"
    )]
    UnknownUser { user: String, detail: String },

    /// Not root, but asked to run PostgreSQL as somebody else.
    #[error(
        "cannot run PostgreSQL as OS user `{user}`: switching users needs root; \
         leave the OS user unset to run it as the current user"
    )]
    CannotSwitchUser { user: String },

    /// A directory on the way to the base directory cannot be entered by the OS user.
    #[error(
        "directory {} is not traversable by OS user `{user}`, which runs PostgreSQL and needs \
         search (x) permission on every directory down to the base directory {}; choose a \
         base directory elsewhere (not under /root or a private home; the default is \
         /var/lib/exchange-gateway/pg) or run `chmod o+x {}`",
        dir.display(), base_dir.display(), dir.display()
    )]
    NotTraversable {
        dir: PathBuf,
        user: String,
        base_dir: PathBuf,
    },

    /// The base directory cannot be used (ownership, characters, length).
    #[error("unsuitable base directory {}: {reason}", path.display())]
    BaseDirUnsuitable { path: PathBuf, reason: String },

    /// Something else already listens on the port.
    #[error(
        "port {port} on 127.0.0.1 is already in use by another process (not this cluster); \
         stop that process or configure another port"
    )]
    PortInUse { port: u16 },

    /// Our cluster is running, but on another port than configured.
    #[error(
        "the cluster in {} is already running on port {running}, not on the configured port \
         {configured}; stop it first (`gateway db stop`) to change the port",
        data_dir.display()
    )]
    PortMismatch {
        data_dir: PathBuf,
        running: u16,
        configured: u16,
    },

    /// Database or role name outside `[a-z_][a-z0-9_]{0,62}`.
    #[error("invalid {kind} name {name:?}: {reason}")]
    InvalidName {
        /// "database" or "role".
        kind: &'static str,
        name: String,
        reason: &'static str,
    },

    /// A server setting ([`crate::Config::settings`]) that cannot be written safely.
    #[error("invalid PostgreSQL setting {name:?}: {reason}")]
    InvalidSetting { name: String, reason: &'static str },

    /// The password file is missing: the cluster was never initialized here.
    #[error(
        "the embedded PostgreSQL is not initialized (no password file {}); run `gateway db start` first",
        password_file.display()
    )]
    NotInitialized { password_file: PathBuf },

    /// The server runs but did not accept connections in time.
    #[error("PostgreSQL on 127.0.0.1:{port} did not accept connections within {seconds} s{detail}")]
    NotReady {
        port: u16,
        seconds: u64,
        detail: String,
    },
}

impl Error {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
