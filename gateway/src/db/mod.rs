//! PostgreSQL: where the database is (a configured URL, or the embedded private server), the
//! connection pool, and schema migrations.

pub mod copy;
pub mod embedded;
pub mod migrate;
pub mod row_cache;
pub mod tx;

use std::time::Duration;

use deadpool_postgres::{
    ManagerConfig, Pool, PoolConfig, QueueMode, RecyclingMethod, Runtime, Timeouts,
};
use tokio_postgres::NoTls;

use crate::config::Config;

/// The database URL: the configured one, or the embedded server's (started if it is not running).
pub async fn resolve_url(config: &Config) -> anyhow::Result<String> {
    if let Some(url) = &config.database.url {
        return Ok(url.clone());
    }
    let embedded = config.database.embedded.clone();
    tokio::task::spawn_blocking(move || embedded::start_and_url(&embedded)).await?
}

/// A pool with bounded waits, so an overloaded or absent database becomes a clear 503, not a hang.
pub fn pool(url: &str, config: &Config) -> anyhow::Result<Pool> {
    let mut pg: tokio_postgres::Config = url.parse()?;
    pg.connect_timeout(Duration::from_secs(5));
    pg.application_name("exchange-gateway");
    // No JIT: the node's statements are short lookups and writes, but a LIMIT over a large
    // index has a large estimated cost, and JIT then compiled for ~330 ms to save nothing (the
    // records listing of a county at 12 M stored records: 363 ms, 28 ms without).
    pg.options(format!(
        "-c statement_timeout={} -c jit=off",
        config.database.statement_timeout_ms
    ));
    let manager = deadpool_postgres::Manager::from_config(
        pg,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let wait = Duration::from_secs(config.database.pool_wait_secs);
    let pool = Pool::builder(manager)
        .config(PoolConfig {
            max_size: config.database.pool_size,
            timeouts: Timeouts {
                wait: Some(wait),
                create: Some(Duration::from_secs(5)),
                recycle: Some(Duration::from_secs(5)),
            },
            // The connection used last is warm (its backend's caches, the CPU's): at 1,000
            // single-record pushes/s, handing out the one idle longest spread every commit
            // over all of them and cost PostgreSQL ~0.66 ms of CPU a push.
            queue_mode: QueueMode::Lifo,
        })
        .runtime(Runtime::Tokio1)
        .build()?;
    Ok(pool)
}

/// Close pooled connections unused for `idle` (none when zero), checking every tenth of it.
/// The pool hands out the connection used last, so the others may sit idle for hours, where a
/// firewall or NAT between the node and PostgreSQL can drop them without either side knowing;
/// the next request handed one would fail.
pub fn close_idle(pool: &Pool, idle: Duration) {
    if idle.is_zero() {
        return;
    }
    let pool = pool.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(idle / 10);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let closed = pool.retain(|_, m| m.last_used() < idle).removed.len();
            if closed > 0 {
                tracing::debug!(closed, "closed idle database connections");
            }
        }
    });
}

/// Resolve, connect and migrate: what every command that touches the database starts with.
pub async fn connect(config: &Config) -> anyhow::Result<Pool> {
    connect_to(&resolve_url(config).await?, config).await
}

/// Connect to `url` and migrate.
pub async fn connect_to(url: &str, config: &Config) -> anyhow::Result<Pool> {
    let pool = pool(url, config)?;
    let mut client = pool
        .get()
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to PostgreSQL: {e}"))?;
    migrate::run(&mut client).await?;
    Ok(pool)
}
