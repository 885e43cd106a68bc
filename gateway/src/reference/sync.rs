//! Reference data flowing down the tree. Every process of a node, on an interval:
//! 1. asks its parent (if any) which versions it holds, fetches the ones this node lacks and
//!    stores them after checking the trust root's signature (the parent is not trusted to
//!    alter them);
//!    (On the same beat, key rotation requests and the principal directory go up.)
//! 2. rebuilds its snapshot when the stored versions changed, so a version stored by another
//!    process or by `gateway reference publish|import` takes effect without a restart.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;

use super::envelope::Envelope;
use super::store::{self, Stored};
use crate::api::App;
use crate::client::ExchangeClient;
use crate::config::PeerNode;

/// Start the background task for the life of the process.
pub fn spawn(app: Arc<App>) -> anyhow::Result<()> {
    let parent = match &app.config.federation.parent {
        Some(parent) => Some((
            parent.clone(),
            ExchangeClient::to_parent(&app.config, parent)?,
        )),
        None => None,
    };
    let interval = Duration::from_millis(app.config.federation.reference_interval_ms.max(50));
    tokio::spawn(async move {
        // The principal directory this process last saw the parent store.
        let mut reported = None;
        loop {
            if let Some((parent, client)) = &parent
                && let Err(e) = pull(&app, parent, client).await
            {
                tracing::warn!(parent = %parent.region, error = format!("{e:#}"), "fetching reference data from the parent failed; will retry");
            }
            // Key rotation requests travel up on the same beat.
            if let Some((parent, client)) = &parent
                && let Err(e) = crate::keys::relay(&app, client).await
            {
                tracing::warn!(parent = %parent.region, error = format!("{e:#}"), "passing key requests to the parent failed; will retry");
            }
            // So do principal changes (suspension, retirement: docs/sharing.md).
            if let Some((parent, client)) = &parent
                && let Err(e) = crate::principals::report(&app, client, &mut reported).await
            {
                tracing::warn!(parent = %parent.region, error = format!("{e:#}"), "reporting principals to the parent failed; will retry");
            }
            if let Err(e) = refresh(&app).await {
                tracing::warn!(error = format!("{e:#}"), "reloading reference data failed");
            }
            tokio::time::sleep(interval).await;
        }
    });
    Ok(())
}

/// Rebuild this process's snapshot if the stored versions changed.
pub async fn refresh(app: &App) -> anyhow::Result<()> {
    let db = app.pool.get().await?;
    if app.reference.refresh(&app.config, &db).await? {
        let reference = app.reference.get();
        tracing::info!(in_force = %reference.in_force_now(), "reference data loaded");
    }
    // A new trust bundle may activate a rotated key or retire the current one.
    app.issuer.select(app.reference.get().trust());
    Ok(())
}

/// Fetch and store the versions the parent holds and this node does not.
pub async fn pull(app: &App, parent: &PeerNode, client: &ExchangeClient) -> anyhow::Result<usize> {
    let listed = client.get("/v1/reference").await?;
    anyhow::ensure!(
        listed.status.is_success(),
        "GET /v1/reference answered {}",
        listed.status
    );
    let listed: Value = listed.json()?;
    let db = app.pool.get().await?;
    let held: HashSet<(String, i64)> = store::envelopes(&db)
        .await?
        .into_iter()
        .map(|e| (e.kind, e.version))
        .collect();
    let mut stored = 0;
    let published = listed["held"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["source"] == "published");
    for meta in published {
        let (Some(kind), Some(version)) = (meta["kind"].as_str(), meta["version"].as_i64()) else {
            continue;
        };
        if held.contains(&(kind.to_owned(), version)) {
            continue;
        }
        let resp = client
            .get(&format!("/v1/reference/{kind}/{version}"))
            .await?;
        anyhow::ensure!(
            resp.status.is_success(),
            "GET /v1/reference/{kind}/{version} answered {}",
            resp.status
        );
        let json: Value = resp.json()?;
        let env = Envelope::verify(&json, &app.reference.get().root_did)
            .with_context(|| format!("{kind} version {version} from the parent"))?;
        match store::insert(&db, &env, Some(&parent.region)).await? {
            Ok(Stored::New) => {
                stored += 1;
                tracing::info!(kind, version, parent = %parent.region, "reference version received");
            }
            Ok(Stored::Duplicate) => {}
            Err(conflict) => {
                metrics::counter!("gateway_reference_conflicts_total", "kind" => kind.to_owned())
                    .increment(1);
                tracing::error!(error = %conflict, "the parent holds another version under the same number; kept ours");
            }
        }
    }
    Ok(stored)
}
