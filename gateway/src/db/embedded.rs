//! The embedded default: a private PostgreSQL from the system binaries, managed by `pgembed`.
//! It runs as its own process, so a crashed gateway leaves it usable and the next start reuses it.

use crate::config::EmbeddedConfig;

pub fn pg_config(cfg: &EmbeddedConfig) -> pgembed::Config {
    let base = cfg
        .base_dir
        .clone()
        .unwrap_or_else(pgembed::Config::default_base_dir);
    let mut pg = pgembed::Config::new(base, cfg.port);
    pg.bin_dir = cfg.bin_dir.clone();
    pg.os_user = cfg.os_user.clone();
    pg.wal_archive_dir = cfg.wal_archive_dir.clone();
    // Configured settings after the sized ones: the last of a name wins.
    pg.settings
        .extend(cfg.settings.iter().map(|(k, v)| (k.clone(), v.0.clone())));
    pg
}

/// Start the server if it is not running (initializing it on first use), make sure the
/// gateway's database exists, and return its URL.
pub fn start_and_url(cfg: &EmbeddedConfig) -> anyhow::Result<String> {
    let pg = pg_config(cfg);
    let status = pgembed::start(&pg)?;
    tracing::info!(data_dir = %status.data_dir.display(), port = status.port, pid = ?status.pid, "embedded PostgreSQL is running");
    pgembed::ensure_database(&pg, &cfg.database)?;
    Ok(pgembed::url(&pg, &cfg.database)?)
}
