//! Chain heads up the tree, so that truncating a node's audit chain is detectable.
//!
//! Every process of a node with a parent sends the chain's head (seq, hash) to the parent every
//! `audit.head_interval_ms` (`POST /v1/federation/audit-head`, exchange listener, configured
//! children only). The parent keeps every head that raised the child's seq (`audit_child_heads`)
//! and acknowledges: a lower seq than the held head is ignored (`stale`), the same seq with
//! another hash is refused as a fork (`409 audit.chain_fork`). `GET /v1/federation/audit-head`
//! answers what the parent holds: to the child itself (exchange listener, for `gateway audit
//! verify`), and to the parent's operators and supervisors (web listener, `?child=`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use domain::codes::region::RegionCode;
use http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::chain::{self, Head};
use crate::api::App;
use crate::api::auth::{self, Listener, Policy};
use crate::api::problem::Problem;
use crate::client::ExchangeClient;
use crate::config::PeerNode;
use crate::federation::receive::child_of;
use crate::tls::PeerIdentity;

pub const PATH: &str = "/v1/federation/audit-head";

/// `GET` on the web listener: the parent's operators and supervisors (within their region).
/// On the exchange listener only the child itself reads its head (checked by [`child_of`]).
pub const POLICY: Policy = Policy {
    exchange: &["peer"],
    web: &["operator", "supervisor"],
};

/// Advisory lock space (with the child's region hashed as the second key) serializing the heads
/// of one child across the parent's processes.
const LOCK_SPACE: i32 = 0x6175_6468; // "audh"

/// A head as sent by a child: `{"seq": 42, "hash": "<64 hex digits>"}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentHead {
    pub seq: i64,
    pub hash: String,
}

/// A head as the parent holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldHead {
    pub seq: i64,
    /// Hex SHA-256 (the child's `row_hash` at `seq`).
    pub hash: String,
    pub received_at: DateTime<Utc>,
}

/// What the parent did with a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// A higher seq than held: stored, now the held head.
    Stored,
    /// The held head again.
    Unchanged,
    /// Below the held head (an older head, or one from a chain cut short): ignored.
    Stale,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Stored => "stored",
            Outcome::Unchanged => "unchanged",
            Outcome::Stale => "stale",
        }
    }
}

/// The highest head the parent holds for `child`.
async fn held(
    db: &impl deadpool_postgres::GenericClient,
    child: &str,
) -> Result<Option<HeldHead>, tokio_postgres::Error> {
    let row = db
        .query_opt(
            "SELECT seq, hash, received_at FROM audit_child_heads WHERE child_region = $1
             ORDER BY seq DESC LIMIT 1",
            &[&child],
        )
        .await?;
    Ok(row.map(|r| HeldHead {
        seq: r.get(0),
        hash: hex::encode(r.get::<_, Vec<u8>>(1)),
        received_at: r.get(2),
    }))
}

/// Every head acknowledged for `child` below the held one, newest first (at most 1,000): a
/// chain rewritten and re-hashed after an earlier acknowledgement still differs from those.
async fn earlier(
    db: &impl deadpool_postgres::GenericClient,
    child: &str,
) -> Result<Vec<HeldHead>, tokio_postgres::Error> {
    let rows = db
        .query(
            "SELECT seq, hash, received_at FROM audit_child_heads WHERE child_region = $1
             ORDER BY seq DESC OFFSET 1 LIMIT 1000",
            &[&child],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| HeldHead {
            seq: r.get(0),
            hash: hex::encode(r.get::<_, Vec<u8>>(1)),
            received_at: r.get(2),
        })
        .collect())
}

/// Store a child's head under the rules above; `Err(hash)` is a fork, with the hash this node
/// acknowledged at that seq.
async fn store(
    db: &mut deadpool_postgres::Client,
    child: &str,
    seq: i64,
    hash: &[u8],
) -> Result<Result<(Outcome, HeldHead), Vec<u8>>, tokio_postgres::Error> {
    let tx = db.transaction().await?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
        &[&LOCK_SPACE, &child],
    )
    .await?;
    let at_seq: Option<Vec<u8>> = tx
        .query_opt(
            "SELECT hash FROM audit_child_heads WHERE child_region = $1 AND seq = $2",
            &[&child, &seq],
        )
        .await?
        .map(|r| r.get(0));
    if let Some(stored) = at_seq
        && stored != hash
    {
        return Ok(Err(stored));
    }
    let before = held(&tx, child).await?;
    let outcome = match &before {
        Some(h) if h.seq > seq => Outcome::Stale,
        Some(h) if h.seq == seq => Outcome::Unchanged,
        _ => {
            tx.execute(
                "INSERT INTO audit_child_heads (child_region, seq, hash) VALUES ($1, $2, $3)",
                &[&child, &seq, &hash],
            )
            .await?;
            Outcome::Stored
        }
    };
    let now = held(&tx, child).await?.expect("a head is held");
    tx.commit().await?;
    Ok(Ok((outcome, now)))
}

/// `POST /v1/federation/audit-head`: a configured child sends its chain head.
pub async fn receive(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<PeerIdentity>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Problem> {
    let child = child_of(&app, &peer)?;
    let body = body?;
    let sent: SentHead = serde_json::from_slice(&body)
        .map_err(|e| Problem::new("request.bad_json", format!("not an audit chain head: {e}")))?;
    let hash = hex::decode(&sent.hash)
        .ok()
        .filter(|h| h.len() == 32 && sent.seq >= 1)
        .ok_or_else(|| {
            Problem::new(
                "request.bad_json",
                "an audit chain head is {\"seq\": n >= 1, \"hash\": 64 hex digits}",
            )
        })?;
    let mut db = app.pool.get().await?;
    let received = |outcome: &'static str| {
        metrics::counter!("gateway_audit_heads_received_total", "outcome" => outcome).increment(1)
    };
    match store(&mut db, child.as_str(), sent.seq, &hash).await? {
        Ok((outcome, held)) => {
            received(outcome.as_str());
            Ok(Json(json!({
                "child": child.as_str(),
                "outcome": outcome.as_str(),
                "held": held,
            })))
        }
        Err(stored) => {
            received("fork");
            tracing::error!(child = %child, seq = sent.seq, sent = %sent.hash, held = %hex::encode(&stored),
                "a child sent another hash for an acknowledged audit chain head");
            Err(Problem::new(
                "audit.chain_fork",
                format!(
                    "this node acknowledged seq {} of node {child}'s audit chain with another hash: the chain was rewritten",
                    sent.seq
                ),
            )
            .with("held", json!({"seq": sent.seq, "hash": hex::encode(stored)})))
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct HeldQuery {
    /// The child node (12-digit region); on the exchange listener, the calling node itself.
    pub child: Option<String>,
}

/// `GET /v1/federation/audit-head`: the head this node holds for a child.
pub async fn get(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<PeerIdentity>,
    axum::Extension(listener): axum::Extension<Listener>,
    query: Result<Query<HeldQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Json<Value>, Problem> {
    let Query(q) = query.map_err(|e| Problem::new("request.bad_query", e.body_text()))?;
    let db = app.pool.get().await?;
    let child = match listener {
        Listener::Exchange => {
            let child = child_of(&app, &peer)?;
            if q.child.as_ref().is_some_and(|c| c != child.as_str()) {
                return Err(Problem::new(
                    "request.bad_query",
                    "on the exchange listener a node reads its own head: leave out child= or name yourself",
                ));
            }
            child
        }
        Listener::Web => {
            let caller = auth::caller(&app, &db, &peer, &headers, listener).await?;
            POLICY.check(&caller, listener)?;
            let child = q
                .child
                .as_deref()
                .and_then(|c| RegionCode::parse(c).ok())
                .ok_or_else(|| {
                    Problem::new("request.bad_query", "child= must be a 12-digit region code")
                })?;
            let reference = app.reference.get();
            let within = RegionCode::parse(&caller.region_code)
                .is_ok_and(|r| reference.regions().is_within(&r, &child));
            if !within {
                return Err(Problem::new(
                    "auth.region",
                    format!(
                        "{child} is outside {}'s region {}",
                        caller.id, caller.region_code
                    ),
                ));
            }
            child
        }
    };
    let configured = app
        .config
        .federation
        .children
        .iter()
        .any(|c| c.region == child.as_str());
    let head = held(&db, child.as_str()).await?;
    let earlier = earlier(&db, child.as_str()).await?;
    Ok(Json(json!({
        "child": child.as_str(),
        "configured": configured,
        "head": head,
        "earlier": earlier,
    })))
}

/// Start sending this node's chain head to `parent` every `audit.head_interval_ms` (a
/// background task for the life of the process).
pub fn spawn(app: Arc<App>, parent: PeerNode) -> anyhow::Result<()> {
    let client = ExchangeClient::to_parent(&app.config, &parent)?;
    let interval = Duration::from_millis(app.config.audit.head_interval_ms.max(1));
    tokio::spawn(async move {
        let mut failures = 0u32;
        loop {
            match send_once(&app, &client).await {
                Ok(_) => failures = 0,
                Err(e) => {
                    failures += 1;
                    metrics::counter!("gateway_audit_heads_sent_total", "outcome" => "failed")
                        .increment(1);
                    tracing::warn!(parent = %parent.region, error = format!("{e:#}"), "sending the audit chain head to the parent failed; will retry");
                }
            }
            // After failures, wait longer (up to 16 intervals).
            tokio::time::sleep(interval * 2u32.pow(failures.min(4))).await;
        }
    });
    Ok(())
}

/// Send the current head once; returns the parent's outcome (`None`: nothing chained yet).
async fn send_once(app: &App, client: &ExchangeClient) -> anyhow::Result<Option<String>> {
    let Some(Head { seq, hash }) = chain::head(&app.pool.get().await?).await? else {
        return Ok(None);
    };
    let body = serde_json::to_vec(&SentHead {
        seq,
        hash: hex::encode(&hash),
    })?;
    let resp = client.post(PATH, "application/json", body).await?;
    if resp.status == http::StatusCode::CONFLICT {
        metrics::counter!("gateway_audit_heads_sent_total", "outcome" => "fork").increment(1);
        tracing::error!(seq, body = %String::from_utf8_lossy(&resp.body),
            "the parent refused this node's audit chain head as a fork: the chain differs from what it acknowledged");
        return Ok(Some("fork".into()));
    }
    let ack = parent_json(&resp)?;
    let outcome = ack["outcome"]
        .as_str()
        .context("the parent's acknowledgement has no outcome")?
        .to_owned();
    let label = match outcome.as_str() {
        "stored" => "stored",
        "unchanged" => "unchanged",
        "stale" => "stale",
        _ => "other",
    };
    metrics::counter!("gateway_audit_heads_sent_total", "outcome" => label).increment(1);
    if outcome == "stale" {
        tracing::warn!(seq, held = %ack["held"], "the parent holds a higher audit chain head than this node's chain");
    }
    Ok(Some(outcome))
}

/// What the parent holds for this node (`GET`, as the node itself): the held head (`None` when
/// it holds nothing) and the earlier heads it acknowledged.
pub async fn fetch_held(
    client: &ExchangeClient,
) -> anyhow::Result<(Option<HeldHead>, Vec<HeldHead>)> {
    let body = parent_json(&client.get(PATH).await?)?;
    let head = serde_json::from_value(body["head"].clone()).context("the parent's held head")?;
    let earlier = serde_json::from_value(body["earlier"].clone()).unwrap_or_default();
    Ok((head, earlier))
}

/// The JSON body of the parent's 2xx answer.
fn parent_json(resp: &crate::client::Response) -> anyhow::Result<Value> {
    anyhow::ensure!(
        resp.status.is_success(),
        "parent answered {}: {}",
        resp.status,
        String::from_utf8_lossy(&resp.body)
    );
    resp.json()
}
