//! Query routing between tiers. A lookup this node cannot answer goes to the node that covers
//! the region it is about: down to the child whose subtree holds the region, or up to the parent
//! (which, through forwarding, holds its whole subtree). A certificate identifier routes by the
//! region in its issuing authority's credit code (county level or above).
//!
//! The node where the query entered signs a statement of the original requester (identity,
//! role, purpose, time, nonce) with its signing key; intermediate nodes pass it on unchanged,
//! and the serving node checks it against the trust bundle and audits the lookup under the
//! original requester. `X-Gateway-Via` lists the nodes passed (loop protection) and bounds the
//! hops; a tier that does not answer in time is a 504.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::codes::region::RegionCode;
use serde::{Deserialize, Serialize};

use crate::api::App;
use crate::api::auth::Caller;
use crate::api::problem::Problem;
use crate::config::PeerNode;

pub const STATEMENT_HEADER: &str = "x-gateway-requester";
pub const SIGNATURE_HEADER: &str = "x-gateway-requester-signature";
pub const VIA_HEADER: &str = "x-gateway-via";
/// Most nodes a query may pass through (a five-tier tree needs at most eight).
pub const MAX_HOPS: usize = 8;
/// How long a statement is good for, and the tolerated clock difference between nodes.
const STATEMENT_MAX_AGE_SECS: i64 = 300;

/// Who asked, as the entry node vouches.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Statement {
    pub requester: String,
    pub kind: String,
    pub role: String,
    pub region: String,
    /// The requester's department, which sharing grants may name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    pub purpose: String,
    /// The node where the query entered (it signed this statement).
    pub entry_node: String,
    pub issued_at: DateTime<Utc>,
    pub nonce: String,
}

impl Statement {
    pub fn new(caller: &Caller, purpose: &str, entry_node: &RegionCode) -> Statement {
        let mut nonce = [0u8; 16];
        let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce);
        Statement {
            requester: caller.id.clone(),
            kind: caller.kind.as_str().to_owned(),
            role: caller.role.clone(),
            region: caller.region_code.clone(),
            department: caller.department.clone(),
            purpose: purpose.to_owned(),
            entry_node: entry_node.to_string(),
            issued_at: Utc::now(),
            nonce: hex::encode(nonce),
        }
    }

    /// The original requester, for the serving node's audit trail.
    pub fn requester_caller(&self) -> Caller {
        Caller {
            id: self.requester.clone(),
            kind: if self.kind == "account" {
                crate::api::auth::CallerKind::Account
            } else {
                crate::api::auth::CallerKind::Certificate
            },
            role: self.role.clone(),
            department: self.department.clone(),
            region_code: self.region.clone(),
        }
    }

    /// (statement header, signature header): hex of the RFC 8785 form, and of its Ed25519
    /// signature by the entry node's signing key.
    pub fn sign(&self, key: &vc::SigningKey) -> (String, String) {
        let bytes = vc::jcs::canonicalize(&serde_json::to_value(self).expect("serializes"))
            .expect("JCS-safe");
        (hex::encode(&bytes), hex::encode(key.sign(&bytes)))
    }

    /// Check a statement received from a peer: signed by a key the trust bundle lists for its
    /// entry node (trusted now), fresh, and not seen before.
    pub fn verify(
        app: &App,
        statement_hex: &str,
        signature_hex: &str,
    ) -> Result<Statement, Problem> {
        let bad = |why: &str| {
            Problem::new(
                "routing.bad_statement",
                format!("the requester statement {why}"),
            )
        };
        let bytes = hex::decode(statement_hex).map_err(|_| bad("is not hex"))?;
        let signature = hex::decode(signature_hex).map_err(|_| bad("signature is not hex"))?;
        let stmt: Statement =
            serde_json::from_slice(&bytes).map_err(|_| bad("is not a statement"))?;
        let entry = RegionCode::parse(&stmt.entry_node).map_err(|_| bad("names no node"))?;
        let reference = app.reference.get();
        let trust = reference.trust();
        let node = trust
            .node(&entry)
            .ok_or_else(|| bad("comes from a node the trust bundle does not list"))?;
        let now = Utc::now();
        let signed_by_node = node.keys.iter().any(|k| {
            matches!(
                trust.key_status_at(&k.did, now),
                vc::trust::KeyTrust::Trusted { .. }
            ) && vc::did_key::resolve_verification_method(&format!(
                "{}#{}",
                k.did,
                k.did.trim_start_matches("did:key:")
            ))
            .ok()
            .flatten()
            .is_some_and(|pk| {
                ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, pk)
                    .verify(&bytes, &signature)
                    .is_ok()
            })
        });
        if !signed_by_node {
            return Err(bad("is not signed by its entry node's key"));
        }
        if (now - stmt.issued_at).num_seconds().abs() > STATEMENT_MAX_AGE_SECS {
            return Err(bad("is too old"));
        }
        // A replayed statement (same nonce) is refused.
        static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
        let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
        let seen = seen.get_or_insert_with(HashSet::new);
        if seen.len() > 100_000 {
            seen.clear(); // older than the statement age by then
        }
        if !seen.insert(format!("{}:{}", stmt.entry_node, stmt.nonce)) {
            return Err(bad("was already used"));
        }
        Ok(stmt)
    }
}

/// Who a lookup is for and why, whether it entered here or was routed from a peer.
pub struct Lookup {
    /// Whom the audit trail names: the local caller, or the original requester of a routed
    /// query (from the entry node's statement).
    pub requester: Caller,
    pub purpose: String,
    /// The statement received with a routed query (hex, signature hex), passed on unchanged.
    received: Option<(String, String)>,
}

impl Lookup {
    /// A local caller states the purpose in the query; a peer node passes the entry node's
    /// signed statement, which must verify.
    pub fn begin(
        app: &App,
        caller: &Caller,
        headers: &http::HeaderMap,
        purpose: &crate::audit::Purpose,
    ) -> Result<Lookup, Problem> {
        if caller.role != "peer" {
            let purpose = purpose.check(app.reference.get().purposes())?;
            return Ok(Lookup {
                requester: caller.clone(),
                purpose,
                received: None,
            });
        }
        let text = |h: &str| {
            headers
                .get(h)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let (stmt_hex, sig_hex) = (text(STATEMENT_HEADER), text(SIGNATURE_HEADER));
        let stmt = Statement::verify(app, &stmt_hex, &sig_hex)?;
        Ok(Lookup {
            requester: stmt.requester_caller(),
            purpose: stmt.purpose,
            received: Some((stmt_hex, sig_hex)),
        })
    }

    /// Whether the query came from a peer node (the entry node audits its own user's lookup;
    /// the serving node audits it again under the original requester).
    pub fn is_routed(&self) -> bool {
        self.received.is_some()
    }

    /// Send the query on to `next` with the received statement, or one signed here when this
    /// is the entry node, and the via list extended by this node.
    pub async fn forward(
        &self,
        app: &App,
        next: &PeerNode,
        path_and_query: &str,
        headers: &http::HeaderMap,
    ) -> Result<(u16, serde_json::Value), Problem> {
        let signed = match &self.received {
            Some(received) => received.clone(),
            None => Statement::new(&self.requester, &self.purpose, &app.node_region)
                .sign(&*app.issuer.key().map_err(Problem::internal)?),
        };
        forward_query(
            app,
            next,
            path_and_query,
            (&signed.0, &signed.1),
            &via(headers),
        )
        .await
    }
}

/// A routed answer passed back as the next tier gave it: JSON, or its problem+json.
pub fn relay(status: u16, body: &serde_json::Value) -> axum::response::Response {
    use axum::response::IntoResponse;
    let status = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_GATEWAY);
    let content_type = if status.is_success() {
        "application/json"
    } else {
        "application/problem+json"
    };
    (
        status,
        [(http::header::CONTENT_TYPE, content_type)],
        body.to_string(),
    )
        .into_response()
}

/// The scope of a query that names no region: the province, whose node holds everything
/// through forwarding; for a node without a parent (the root, or a standalone node), its own
/// region, the most it can know of.
pub fn default_scope(app: &App) -> RegionCode {
    if app.config.federation.parent.is_none() {
        return app.node_region.clone();
    }
    let province = format!("{}0000000000", &app.node_region.as_str()[..2]);
    RegionCode::parse(&province).expect("12 digits")
}

/// A region parameter: 12 digits naming a region of the region table.
pub fn region_param(name: &str, value: &str, app: &App) -> Result<RegionCode, Problem> {
    let region = RegionCode::parse(value)
        .map_err(|e| Problem::new("request.bad_query", format!("{name}: {e}")))?;
    if app.reference.get().regions().level(&region).is_none() {
        return Err(Problem::new(
            "request.bad_query",
            format!("{name}: region {region} is not in the region table"),
        ));
    }
    Ok(region)
}

/// The region subtree a lookup covers (`asked`, from the query parameter `name`). Approvers
/// look across the whole province (cross-region services are the point of sharing; the
/// sharing policy narrows what they see); supervisors only within their own region.
pub fn lookup_scope(
    app: &App,
    requester: &Caller,
    name: &str,
    asked: Option<&str>,
) -> Result<RegionCode, Problem> {
    let own = RegionCode::parse(&requester.region_code).map_err(Problem::internal)?;
    let supervisor = requester.role == "supervisor";
    let scope = match asked {
        Some(r) => region_param(name, r, app)?,
        None if supervisor => own.clone(),
        None => default_scope(app),
    };
    if supervisor && !app.reference.get().regions().is_within(&own, &scope) {
        return Err(Problem::new(
            "auth.region",
            format!("{name} {scope} is outside your region {own}"),
        ));
    }
    Ok(scope)
}

/// Where a query over the subtree of `scope` is answered: here when this node's region covers
/// it (children forward everything up), otherwise further up.
pub fn scope_hop<'a>(app: &'a App, scope: &RegionCode) -> Result<Option<&'a PeerNode>, Problem> {
    if app
        .reference
        .get()
        .regions()
        .is_within(&app.node_region, scope)
    {
        return Ok(None);
    }
    match &app.config.federation.parent {
        Some(parent) => Ok(Some(parent)),
        None => Err(Problem::new(
            "routing.out_of_network",
            format!(
                "no node of this network covers region {scope} (this node covers {})",
                app.node_region
            ),
        )),
    }
}

/// Where a query about `region` goes from this node: `None` when this node is the place (or no
/// node is).
pub fn next_hop<'a>(app: &'a App, region: &RegionCode) -> Option<&'a PeerNode> {
    let reference = app.reference.get();
    let regions = reference.regions();
    let own = &app.node_region;
    if regions.is_within(own, region) {
        app.config
            .federation
            .children
            .iter()
            .find(|c| RegionCode::parse(&c.region).is_ok_and(|c| regions.is_within(&c, region)))
    } else {
        app.config.federation.parent.as_ref()
    }
}

/// The county-level (or higher) region a certificate identifier belongs to: its issuing
/// authority's credit code's region part.
pub fn region_of_authority(authority: &domain::codes::credit::CreditCode) -> Option<RegionCode> {
    RegionCode::parse(&format!("{}000000", authority.region_part())).ok()
}

/// Send `path_and_query` to `next` as this node, passing the statement and the via list on.
pub async fn forward_query(
    app: &App,
    next: &PeerNode,
    path_and_query: &str,
    statement: (&str, &str),
    via: &[String],
) -> Result<(u16, serde_json::Value), Problem> {
    if via.len() >= MAX_HOPS {
        return Err(Problem::new(
            "routing.hop_limit",
            format!(
                "the query passed {} nodes, the limit is {MAX_HOPS}",
                via.len()
            ),
        ));
    }
    if via.iter().any(|v| v == &next.region) {
        return Err(Problem::new(
            "routing.loop",
            format!("the query already passed node {}", next.region),
        ));
    }
    let config = &app.config;
    let client = super::peers::client(config, next).map_err(Problem::internal)?;
    let mut via = via.to_vec();
    via.push(app.node_region.to_string());
    let via = via.join(",");
    let headers = [
        (STATEMENT_HEADER, statement.0),
        (SIGNATURE_HEADER, statement.1),
        (VIA_HEADER, via.as_str()),
    ];
    let hop_timeout = Duration::from_millis(config.federation.query_timeout_ms);
    let sent = tokio::time::timeout(
        hop_timeout,
        client.send(http::Method::GET, path_and_query, &headers, Vec::new()),
    )
    .await;
    // Up to the parent or down to a child; `to` is a configured peer, so labels stay bounded.
    let direction = match &config.federation.parent {
        Some(parent) if parent.region == next.region => "up",
        _ => "down",
    };
    metrics::counter!("gateway_routed_queries_total", "direction" => direction, "to" => next.region.clone(), "outcome" => match &sent {
        Ok(Ok(_)) => "answered",
        Ok(Err(_)) => "unreachable",
        Err(_) => "timeout",
    })
    .increment(1);
    match sent {
        Ok(Ok(resp)) => Ok((
            resp.status.as_u16(),
            serde_json::from_slice(&resp.body).unwrap_or(serde_json::Value::Null),
        )),
        Ok(Err(e)) => Err(Problem::new(
            "routing.unreachable",
            format!("node {} could not be reached: {e:#}", next.region),
        )),
        Err(_) => Err(Problem::new(
            "routing.timeout",
            format!(
                "node {} did not answer within {} ms",
                next.region,
                hop_timeout.as_millis()
            ),
        )),
    }
}

/// The via list of a request (nodes it already passed).
pub fn via(headers: &http::HeaderMap) -> Vec<String> {
    headers
        .get(VIA_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}
