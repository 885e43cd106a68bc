//! `gateway serve`: load reference data, connect (starting the embedded database if needed),
//! migrate, bind the exchange listener and serve until SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use domain::codes::region::RegionCode;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use crate::api::{self, App};
use crate::config::Config;
use crate::reference::Reference;
use crate::server::{self, Listener};

/// The built-in adapters plus those described by the configured mapping files.
pub fn load_adapters(
    config: &Config,
) -> anyhow::Result<Vec<std::sync::Arc<dyn adapters::Adapter>>> {
    adapters::with_mappings(config.ingest.mappings.as_deref()).map_err(|e| anyhow::anyhow!(e))
}

/// Prometheus recorder for this process. Latencies are histograms with fixed buckets (not
/// summaries), so they can be aggregated across processes.
fn install_metrics() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Suffix("_seconds".into()),
            &[
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ],
        )?
        .install_recorder()?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

pub async fn run(config: Config, ready_file: Option<PathBuf>) -> anyhow::Result<()> {
    let reference = Reference::baseline(&config)?;
    let node_region = RegionCode::parse(&config.node.region).context("node.region")?;
    anyhow::ensure!(
        reference.regions().get(&node_region).is_some(),
        "node.region {node_region} is not in the region table"
    );
    crate::tls::server_config(
        &config.server_cert(),
        &config.server_key(),
        &config.client_ca(),
    )
    .context("exchange listener TLS (run `gateway pki init` for a development PKI)")?;
    let issuer = Arc::new(
        crate::certificates::Issuer::load(&config, &node_region)
            .context("certificate signing (run `gateway pki init` for a development PKI)")?,
    );
    let log = crate::transparency::Log::load(&config, &node_region, issuer.status_base_url())
        .context("transparency log (run `gateway pki init` for a development PKI)")?;
    let protocol = crate::federation::protocol::announced(&config)?;
    tracing::info!(%protocol, "exchange protocol");
    if config.federation.outbox_keep_hours.is_some() {
        tracing::warn!(
            "federation.outbox_keep_hours is ignored: sent outbox rows are deleted when the parent acknowledges them (docs/configuration.md)"
        );
    }
    let url = crate::db::resolve_url(&config).await?;
    let pool = crate::db::connect_to(&url, &config).await?;
    crate::db::close_idle(&pool, Duration::from_secs(config.database.pool_idle_secs));
    let metrics = install_metrics()?;
    let rows = Arc::new(crate::db::row_cache::Rows::default());
    if config.database.row_cache {
        crate::db::row_cache::spawn(rows.clone(), url)?;
    }
    crate::ingest::store::COPY_FROM_ROWS.store(
        config.ingest.copy_from_rows,
        std::sync::atomic::Ordering::Relaxed,
    );
    let config = Arc::new(config);
    let group = crate::ingest::group::GroupCommit::start(
        pool.clone(),
        issuer.clone(),
        config.ingest.group_commit_workers,
        config.ingest.group_commit_records,
    );
    let app = Arc::new(App {
        pool,
        group,
        reference: crate::reference::Shared::new(reference),
        adapters: load_adapters(&config)?,
        node_region,
        config: config.clone(),
        metrics: Some(metrics),
        issuer,
        log: Arc::new(log),
        rows,
        recent: Arc::new(crate::federation::recent::Recent::new(
            config.federation.recent_bodies_mb.saturating_mul(1 << 20),
        )),
    });
    let role_cas = Arc::new(crate::tls::RoleCas::load(&config.role_cas())?);
    // The CRLs held in the database apply from the first handshake; later ones are swapped in
    // by `crl::spawn_reload`.
    crate::reference::sync::refresh(&app).await?;
    let (listener_tls, tls, web_tls) =
        crate::crl::ListenerTls::new(&config, app.reference.get().crls())?;
    let bind = |addr: std::net::SocketAddr| async move {
        TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))
    };
    let listener = |tcp, tls, router| Listener {
        tcp,
        tls,
        router,
        role_cas: role_cas.clone(),
        handshake_timeout: Duration::from_secs(config.exchange.handshake_timeout_secs),
        shutdown_grace: Duration::from_secs(config.exchange.shutdown_grace_secs),
    };
    let mllp_tls = tls.clone();
    let exchange = listener(
        bind(config.exchange.listen).await?,
        tls,
        api::exchange_router(app.clone()),
    );
    let app_for_forwarding = app.clone();
    let web = listener(
        bind(config.web.listen).await?,
        web_tls,
        api::web_router(app.clone()),
    );
    // The MLLP listener (HL7) requires client certificates like the exchange listener.
    let mllp = match config.mllp.listen {
        Some(addr) => Some(crate::mllp::MllpListener {
            tcp: bind(addr).await?,
            tls: mllp_tls,
            role_cas: role_cas.clone(),
            app,
            handshake_timeout: Duration::from_secs(config.exchange.handshake_timeout_secs),
        }),
        None => None,
    };
    // Published reference versions held in the database take effect before the first request.
    crate::reference::sync::refresh(&app_for_forwarding).await?;
    app_for_forwarding
        .issuer
        .key()
        .context("certificate signing (run `gateway pki init` for a development PKI)")?;
    crate::reference::sync::spawn(app_for_forwarding.clone())?;
    crate::crl::spawn_reload(app_for_forwarding.clone(), listener_tls);
    crate::transparency::sequencer::spawn(app_for_forwarding.clone());
    crate::transparency::witness::spawn(app_for_forwarding.clone())?;
    // The audit chain: every process runs a chainer (one at a time links, by advisory lock) and,
    // below the root, sends the chain's head to the parent.
    crate::audit::chain::spawn(app_for_forwarding.clone());
    // Operator totals: each process flushes its per-minute counts, samples gauges, prunes.
    let app_for_ops = app_for_forwarding.clone();
    crate::ops::spawn(app_for_ops.clone());
    // Electronic supervision: levels move with time (one process at a time, by advisory lock).
    crate::supervision::spawn(app_for_forwarding.clone())?;
    // Archiving of finished cases, when configured (archive.dir, archive.interval_secs).
    tokio::spawn(crate::archive::background(app_for_forwarding.clone()));
    if let Some(parent) = config.federation.parent.clone() {
        crate::audit::heads::spawn(app_for_forwarding.clone(), parent)?;
    }
    if let Some(parent) = config.federation.parent.clone() {
        crate::federation::forward::spawn(app_for_forwarding, parent)?;
    }
    let (exchange_addr, web_addr) = (exchange.local_addr()?, web.local_addr()?);
    let mllp_addr = mllp.as_ref().map(|m| m.tcp.local_addr()).transpose()?;
    tracing::info!(exchange = %exchange_addr, web = %web_addr, mllp = ?mllp_addr, node = %config.node.region, "listening");
    if let Some(path) = ready_file {
        // Written after binding, so scripts and tests know the ports (listen may be port 0).
        let ready = serde_json::json!({
            "exchange": exchange_addr.to_string(),
            "web": web_addr.to_string(),
            "mllp": mllp_addr.map(|a| a.to_string()),
            "pid": std::process::id(),
        });
        std::fs::write(&path, ready.to_string())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    // One signal stops every listener.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    tokio::spawn(async move {
        server::shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let mllp_rx = stop_rx.clone();
    tokio::join!(
        exchange.serve(stopped(stop_rx.clone())),
        web.serve(stopped(stop_rx)),
        async move {
            if let Some(m) = mllp {
                m.serve(stopped(mllp_rx)).await;
            }
        }
    );
    crate::ops::shutdown(&app_for_ops).await;
    tracing::info!("stopped");
    Ok(())
}
