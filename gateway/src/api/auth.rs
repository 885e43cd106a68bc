//! Who is calling, and may they use this route on this listener.
//!
//! A caller is either the principal named by a client certificate (its row read on every
//! request, or its copy kept current by the row cache, so a suspension takes effect on the next
//! request; its issuing intermediate CA must be its role's) or, on the web
//! listener only, a staff account with a live session cookie. Each route has a [`Policy`]: the
//! roles allowed on each listener.

use http::HeaderMap;

use crate::accounts;
use crate::api::App;
use crate::api::problem::Problem;
use crate::principals::{self, Principal};
use crate::tls::PeerIdentity;

/// Which listener a request came in on (set by the router as an extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// mTLS required: departmental systems and peer nodes.
    Exchange,
    /// Server TLS; certificates optional: staff (certificate or account) and the public.
    Web,
}

impl Listener {
    pub fn as_str(self) -> &'static str {
        match self {
            Listener::Exchange => "exchange",
            Listener::Web => "web",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerKind {
    Certificate,
    Account,
}

impl CallerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CallerKind::Certificate => "certificate",
            CallerKind::Account => "account",
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub id: String,
    pub kind: CallerKind,
    pub role: String,
    pub department: Option<String>,
    pub region_code: String,
}

impl Caller {
    /// An unauthenticated caller on the web listener (public routes only).
    pub fn public() -> Caller {
        Caller {
            id: "public".into(),
            kind: CallerKind::Account,
            role: "public".into(),
            department: None,
            region_code: String::new(),
        }
    }
}

/// Roles allowed on each listener for one route.
pub struct Policy {
    pub exchange: &'static [&'static str],
    pub web: &'static [&'static str],
}

impl Policy {
    pub fn check(&self, caller: &Caller, listener: Listener) -> Result<(), Problem> {
        let allowed = match listener {
            Listener::Exchange => self.exchange,
            Listener::Web => self.web,
        };
        if allowed.contains(&caller.role.as_str()) {
            return Ok(());
        }
        Err(Problem::new(
            "auth.role",
            format!(
                "'{}' (role {}) may not use this route on the {} listener{}",
                caller.id,
                caller.role,
                listener.as_str(),
                if allowed.is_empty() {
                    String::new()
                } else {
                    format!("; it is for {}", allowed.join(", "))
                }
            ),
        ))
    }
}

/// Authenticate: the certificate's principal, else (web listener) the session's account.
pub async fn caller(
    app: &App,
    db: &deadpool_postgres::Client,
    peer: &PeerIdentity,
    headers: &HeaderMap,
    listener: Listener,
) -> Result<Caller, Problem> {
    // A peer node: its node certificate (from the peer CA) names its region, not a principal.
    if let (Some(region), Some("peer"), None) = (
        &peer.node_region,
        peer.ca_role.as_deref(),
        &peer.principal_id,
    ) {
        if let Some(statement) = headers.get(crate::federation::route::STATEMENT_HEADER) {
            routed_requester_active(db, statement).await?;
        }
        return Ok(Caller {
            id: format!("node:{region}"),
            kind: CallerKind::Certificate,
            role: "peer".into(),
            department: None,
            region_code: region.clone(),
        });
    }
    if peer.has_certificate {
        let p = principal(app, db, peer).await?;
        return Ok(Caller {
            id: p.id,
            kind: CallerKind::Certificate,
            role: p.role,
            department: p.department,
            region_code: p.region_code,
        });
    }
    if listener == Listener::Web
        && let Some(token) = accounts::cookie_token(headers)
    {
        if let Some(a) = accounts::session(db, &token).await? {
            return Ok(Caller {
                id: a.username,
                kind: CallerKind::Account,
                role: a.role,
                department: a.department,
                region_code: a.region_code,
            });
        }
        return Err(Problem::new(
            "auth.required",
            "the session has expired or ended; log in again",
        ));
    }
    Err(Problem::new(
        "auth.required",
        "log in (POST /v1/session) or present a client certificate",
    ))
}

/// A routed lookup's original requester, as far as this node knows its status: principals'
/// changes travel up the tree (`principals::report`), so a node refuses a requester its own node
/// suspended or retired even if that node passed the lookup on (a lagging process, a node that
/// misbehaves). The statement's signature is checked later, by the lookup; this check can only
/// refuse, so reading it unverified here grants nothing. An unknown requester passes: below
/// this node, reports may lag a new principal; above it, its entry node vouches for it.
async fn routed_requester_active(
    db: &deadpool_postgres::Client,
    statement: &http::HeaderValue,
) -> Result<(), Problem> {
    #[derive(serde::Deserialize)]
    struct Requester {
        requester: String,
        kind: String,
        entry_node: String,
    }
    let Some(r) = statement
        .to_str()
        .ok()
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| serde_json::from_slice::<Requester>(&b).ok())
    else {
        return Ok(()); // malformed: the lookup refuses it as routing.bad_statement
    };
    if r.kind != CallerKind::Certificate.as_str() {
        return Ok(());
    }
    match principals::remote_status(db, &r.entry_node, &r.requester).await? {
        Some(status) if status != "active" => Err(Problem::new(
            "auth.principal_inactive",
            format!(
                "principal '{}' is {status} at its node {}; its lookups are refused on every tier",
                r.requester, r.entry_node
            ),
        )),
        _ => Ok(()),
    }
}

/// The active principal named by the client certificate, issued by its role's intermediate CA.
pub async fn principal(
    app: &App,
    db: &deadpool_postgres::Client,
    peer: &PeerIdentity,
) -> Result<Principal, Problem> {
    let Some(id) = &peer.principal_id else {
        return Err(Problem::new(
            "auth.no_principal",
            "the client certificate must carry exactly one SAN URI urn:gateway:principal:{id}",
        ));
    };
    let held = &app.rows.principals;
    let principal = match held.get(id) {
        Some(p) => Some(p),
        None => {
            let ticket = held.ticket();
            let p = principals::get(db, id).await?;
            if let Some(p) = &p {
                held.keep(ticket, id, p.clone());
            }
            p
        }
    };
    let principal = principal.ok_or_else(|| {
        Problem::new(
            "auth.unknown_principal",
            format!("principal '{id}' is not registered on this node"),
        )
    })?;
    if principal.status != "active" {
        return Err(Problem::new(
            "auth.principal_inactive",
            format!("principal '{id}' is {}", principal.status),
        ));
    }
    if peer.ca_role.as_deref() != Some(principal.role.as_str()) {
        return Err(Problem::new(
            "auth.wrong_ca",
            format!(
                "principal '{id}' has role {} but its certificate was issued by {}",
                principal.role,
                peer.ca_role
                    .as_deref()
                    .map_or("no role CA".to_owned(), |r| format!("the {r} CA"))
            ),
        ));
    }
    // Remember when its certificate expires, for the operators' expiry alerts (a write only
    // when it changed: the first request after a renewal).
    if peer.not_after.is_some() && peer.not_after != principal.cert_not_after {
        db.execute(
            "UPDATE principals SET cert_not_after = $2 WHERE id = $1",
            &[&principal.id, &peer.not_after],
        )
        .await?;
    }
    Ok(principal)
}

/// Refuse unless the principal has one of `roles`.
pub fn require_role(p: &Principal, roles: &[&str]) -> Result<(), Problem> {
    if roles.contains(&p.role.as_str()) {
        Ok(())
    } else {
        Err(Problem::new(
            "auth.role",
            format!(
                "principal '{}' has role '{}'; this route needs {}",
                p.id,
                p.role,
                roles.join(" or ")
            ),
        ))
    }
}
