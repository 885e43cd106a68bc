//! Certificates and keys about to expire, raised to operators ahead of time: the node's own
//! TLS certificate and its CA, this node's signing keys in the trust bundle in force, and the
//! client certificates principals presented (recorded when they connect), and the CA's CRLs in
//! force (their nextUpdate). `GET
//! /v1/ops/expiring` lists them; the /ops page shows them with the other alerts; gauges
//! `gateway_expiry_seconds{kind}` give the nearest expiry per kind.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use http::HeaderMap;
use serde::Serialize;
use serde_json::{Value, json};

use crate::api::App;
use crate::api::auth::{self, Listener, Policy};
use crate::api::problem::Problem;
use crate::tls::PeerIdentity;

pub const POLICY: Policy = Policy {
    exchange: &[],
    web: &["operator"],
};

#[derive(Debug, Serialize, PartialEq)]
pub struct Expiring {
    /// `node_certificate`, `ca_certificate`, `signing_key`, `client_certificate` or `crl` (a
    /// role CA's revocation list nearing its nextUpdate).
    pub kind: &'static str,
    pub subject: String,
    pub not_after: DateTime<Utc>,
    /// `warning` (within `ops.expiry_warning_days`), `alarm` (within `ops.expiry_alarm_days`) or
    /// `expired`.
    pub level: &'static str,
}

/// The level of something expiring at `not_after`, or `None` when it is far enough.
pub fn level(
    not_after: DateTime<Utc>,
    now: DateTime<Utc>,
    warn_days: i64,
    alarm_days: i64,
) -> Option<&'static str> {
    let left = not_after - now;
    if left <= chrono::Duration::zero() {
        Some("expired")
    } else if left <= chrono::Duration::days(alarm_days) {
        Some("alarm")
    } else if left <= chrono::Duration::days(warn_days) {
        Some("warning")
    } else {
        None
    }
}

/// `notAfter` of the first certificate of a PEM file.
fn pem_not_after(path: &std::path::Path) -> Option<DateTime<Utc>> {
    let pem = std::fs::read(path).ok()?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).ok()?;
    let cert = pem.parse_x509().ok()?;
    DateTime::from_timestamp(cert.validity().not_after.timestamp(), 0)
}

pub async fn expiring(app: &App) -> anyhow::Result<Vec<Expiring>> {
    let ops = &app.config.ops;
    let now = Utc::now();
    let mut found: Vec<(&'static str, String, DateTime<Utc>)> = Vec::new();
    let config = &app.config;
    if let Some(t) = pem_not_after(&config.server_cert()) {
        found.push((
            "node_certificate",
            config.server_cert().display().to_string(),
            t,
        ));
    }
    if let Some(t) = pem_not_after(&config.client_ca()) {
        found.push((
            "ca_certificate",
            config.client_ca().display().to_string(),
            t,
        ));
    }
    let reference = app.reference.get();
    if let Some(node) = reference.trust().node(&app.node_region) {
        for key in &node.keys {
            if let (Some(until), vc::trust::KeyStatus::Active) = (key.valid_until, key.status) {
                found.push(("signing_key", key.did.clone(), until));
            }
        }
    }
    // The CA's CRLs: re-issue them (`gateway pki crl`) before their nextUpdate.
    for crl in &reference.crls().crls {
        found.push(("crl", format!("{} CA", crl.role), crl.next_update));
    }
    let db = app.pool.get().await?;
    let horizon = now + chrono::Duration::days(ops.expiry_warning_days);
    for r in db
        .query(
            "SELECT id, cert_not_after FROM principals
             WHERE status = 'active' AND cert_not_after IS NOT NULL AND cert_not_after <= $1",
            &[&horizon],
        )
        .await?
    {
        found.push(("client_certificate", r.get(0), r.get(1)));
    }
    let mut out: Vec<Expiring> = found
        .into_iter()
        .filter_map(|(kind, subject, not_after)| {
            level(
                not_after,
                now,
                ops.expiry_warning_days,
                ops.expiry_alarm_days,
            )
            .map(|level| Expiring {
                kind,
                subject,
                not_after,
                level,
            })
        })
        .collect();
    out.sort_by_key(|e| e.not_after);
    Ok(out)
}

/// `GET /v1/ops/expiring`.
pub async fn list(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<PeerIdentity>,
    axum::Extension(listener): axum::Extension<Listener>,
    headers: HeaderMap,
) -> Result<Json<Value>, Problem> {
    {
        let db = app.pool.get().await?;
        let caller = auth::caller(&app, &db, &peer, &headers, listener).await?;
        POLICY.check(&caller, listener)?;
    }
    let items = expiring(&app).await.map_err(Problem::internal)?;
    for kind in [
        "node_certificate",
        "ca_certificate",
        "signing_key",
        "client_certificate",
        "crl",
    ] {
        if let Some(first) = items.iter().find(|e| e.kind == kind) {
            let secs = (first.not_after - Utc::now()).num_seconds() as f64;
            metrics::gauge!("gateway_expiry_seconds", "kind" => kind).set(secs);
        }
    }
    Ok(Json(json!({
        "warning_days": app.config.ops.expiry_warning_days,
        "alarm_days": app.config.ops.expiry_alarm_days,
        "expiring": items,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warning_alarm_and_expired_come_in_order() {
        let now = Utc::now();
        let day = chrono::Duration::days(1);
        assert_eq!(level(now + day * 40, now, 30, 7), None);
        assert_eq!(level(now + day * 20, now, 30, 7), Some("warning"));
        assert_eq!(level(now + day * 3, now, 30, 7), Some("alarm"));
        assert_eq!(level(now - day, now, 30, 7), Some("expired"));
    }
}
