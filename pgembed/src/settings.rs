//! Server settings of the cluster, written at every start into `gateway.conf` (included at the
//! end of `postgresql.conf`, so they override it; `ALTER SYSTEM` still overrides them), and
//! their [`defaults`].

use crate::Error;

/// What [`crate::Config::new`] starts from:
/// - `max_connections=200`: the gateway's pools plus tools (default 100 is tight).
/// - `shared_buffers=256MB`: twice the default. More did not help: 2 GB and a quarter of the
///   machine's memory (6 GB) left sustained ingest where it was, and the latency phases'
///   p99 worse (bench/README.md); the file cache holds what the buffers do not.
/// - `max_wal_size=4GB`, `checkpoint_timeout=15min`: sustained ingest writes about 4 KB of WAL
///   per record, so the default 1 GB forced a checkpoint every few hundred thousand records;
///   each one makes the next change of every page log a full page image again and flushes in a
///   burst that stalls commits (bench/README.md). Crash recovery replays at most that much WAL.
/// - `backend_flush_after=256kB`: a backend writing many pages itself (autovacuum working
///   through a freshly loaded table, a bulk load evicting buffers) hands them to the disk as it
///   goes. By default they pile up in the page cache until the kernel writes them in a burst,
///   and a commit's WAL flush then waited 100–250 ms behind it, every backend with it
///   (bench/README.md). Checkpointer and background writer already do this by default.
pub fn defaults() -> Vec<(String, String)> {
    [
        ("max_connections", "200"),
        ("shared_buffers", "256MB"),
        ("max_wal_size", "4GB"),
        ("checkpoint_timeout", "15min"),
        ("backend_flush_after", "256kB"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect()
}

/// Set on the command line of every start (`server.rs`), where no configuration file can
/// change them.
const FIXED: &[&str] = &[
    "listen_addresses",
    "port",
    "unix_socket_directories",
    "unix_socket_permissions",
];

/// `settings` as lines of a configuration file, the last of a name winning. A name is a
/// PostgreSQL parameter name (letters, digits, `_` and `.` for an extension's); a value is
/// quoted, so it cannot end the line or start another setting.
pub(crate) fn render(settings: &[(String, String)]) -> Result<String, Error> {
    let mut text = String::new();
    for (name, value) in settings {
        let valid_name = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if !valid_name {
            return Err(Error::InvalidSetting {
                name: name.clone(),
                reason: "is not a PostgreSQL parameter name",
            });
        }
        if FIXED.contains(&name.as_str()) {
            return Err(Error::InvalidSetting {
                name: name.clone(),
                reason: "is the gateway's to set (the server listens on 127.0.0.1 only)",
            });
        }
        if value.chars().any(char::is_control) {
            return Err(Error::InvalidSetting {
                name: name.clone(),
                reason: "has a control character in its value",
            });
        }
        let quoted = value.replace('\\', "\\\\").replace('\'', "''");
        text.push_str(&format!("{name} = '{quoted}'\n"));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_quoted_and_names_checked() {
        let ok = render(&[
            ("shared_buffers".into(), "2GB".into()),
            ("pg_stat_statements.max".into(), "it's \\ 5".into()),
        ])
        .unwrap();
        assert_eq!(
            ok,
            "shared_buffers = '2GB'\npg_stat_statements.max = 'it''s \\\\ 5'\n"
        );
        for (name, value) in [
            ("shared_buffers = 1\nfsync", "off"),
            ("", "1"),
            ("1x", "1"),
            ("listen_addresses", "*"),
            ("work_mem", "1\nfsync = off"),
        ] {
            let e = render(&[(name.into(), value.into())]).unwrap_err();
            assert!(matches!(e, Error::InvalidSetting { .. }), "{name:?}: {e}");
        }
    }
}
