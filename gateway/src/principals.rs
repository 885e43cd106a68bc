//! Principals: the systems, staff and peer nodes a client certificate can stand for. A
//! certificate names only the id; role, department, region and status live here, so suspending
//! a principal takes effect on its next request without touching certificates. Every request
//! checks the current row: read, or copied in the row cache (`db/row_cache.rs`), which a
//! PostgreSQL notification sent at the change's commit makes every process forget.
//!
//! Changes also travel up the tree ([`report`], [`receive`]): each node sends its parent its
//! *directory* (its own principals and those its children reported) whenever it changed, and
//! the parent keeps each child's latest report in `remote_principals`. A node serving a routed
//! lookup then refuses a requester its own node suspended or retired (docs/sharing.md).

use deadpool_postgres::GenericClient;
use domain::codes::region::RegionCode;
use domain::regions::RegionTable;
use serde::Serialize;

pub const ROLES: &[&str] = &[
    "system",
    "approver",
    "operator",
    "supervisor",
    "peer",
    "public",
];
pub const STATUSES: &[&str] = &["active", "suspended", "retired"];

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Principal {
    pub id: String,
    pub role: String,
    pub department: Option<String>,
    pub region_code: String,
    pub status: String,
    pub display_name: String,
    /// When the client certificate it last presented expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_not_after: Option<chrono::DateTime<chrono::Utc>>,
}

impl Principal {
    fn from_row(row: &tokio_postgres::Row) -> Self {
        Principal {
            id: row.get("id"),
            role: row.get("role"),
            department: row.get("department"),
            region_code: row.get("region_code"),
            status: row.get("status"),
            display_name: row.get("display_name"),
            cert_not_after: row.get("cert_not_after"),
        }
    }
}

const COLUMNS: &str = "id, role, department, region_code, status, display_name, cert_not_after";

pub async fn get(
    db: &impl GenericClient,
    id: &str,
) -> Result<Option<Principal>, tokio_postgres::Error> {
    let stmt = db
        .prepare_cached(&format!("SELECT {COLUMNS} FROM principals WHERE id = $1"))
        .await?;
    Ok(db
        .query_opt(&stmt, &[&id])
        .await?
        .as_ref()
        .map(Principal::from_row))
}

pub async fn list(db: &impl GenericClient) -> Result<Vec<Principal>, tokio_postgres::Error> {
    let rows = db
        .query(
            &format!("SELECT {COLUMNS} FROM principals ORDER BY id"),
            &[],
        )
        .await?;
    Ok(rows.iter().map(Principal::from_row).collect())
}

/// Check a new principal's fields; the database constraints repeat the shape checks.
pub fn validate(p: &Principal, regions: &RegionTable) -> anyhow::Result<()> {
    anyhow::ensure!(
        ROLES.contains(&p.role.as_str()),
        "role must be one of {}",
        ROLES.join(", ")
    );
    let region = RegionCode::parse(&p.region_code)?;
    anyhow::ensure!(
        regions.get(&region).is_some(),
        "region {region} is not in the region table"
    );
    match (&p.department, p.role.as_str()) {
        (None, "system") => anyhow::bail!("a departmental system needs --department"),
        (Some(d), _) if !domain::department::is_valid_id(d) => {
            anyhow::bail!("department '{d}' is not a valid id (lowercase letters, digits, _)")
        }
        _ => Ok(()),
    }
}

/// Add a principal, or update it when `upsert` (used by `pki init` re-registration).
pub async fn add(db: &impl GenericClient, p: &Principal, upsert: bool) -> anyhow::Result<()> {
    let conflict = if upsert {
        "ON CONFLICT (id) DO UPDATE SET role = EXCLUDED.role, department = EXCLUDED.department,
         region_code = EXCLUDED.region_code, display_name = EXCLUDED.display_name, updated_at = now()"
    } else {
        ""
    };
    let sql = format!(
        "INSERT INTO principals (id, role, department, region_code, status, display_name)
         VALUES ($1, $2, $3, $4, $5, $6) {conflict}"
    );
    db.execute(
        &sql,
        &[
            &p.id,
            &p.role,
            &p.department,
            &p.region_code,
            &p.status,
            &p.display_name,
        ],
    )
    .await
    .map_err(|e| match e.code() {
        Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {
            anyhow::anyhow!("principal {} already exists", p.id)
        }
        _ => e.into(),
    })?;
    Ok(())
}

/// Set a principal's status; false when there is no such principal, or it is retired
/// (retirement is final: a retired principal's certificate never works again).
pub async fn set_status(db: &impl GenericClient, id: &str, status: &str) -> anyhow::Result<bool> {
    anyhow::ensure!(STATUSES.contains(&status), "unknown status {status}");
    let n = db
        .execute(
            "UPDATE principals SET status = $2, updated_at = now() WHERE id = $1 AND status <> 'retired'",
            &[&id, &status],
        )
        .await?;
    Ok(n == 1)
}

/// One principal in a directory sent up the tree.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Reported {
    /// The node where the principal is registered.
    pub node: String,
    pub id: String,
    pub role: String,
    #[serde(default)]
    pub department: Option<String>,
    pub region_code: String,
    pub status: String,
}

/// A node's directory: its principals and its subtree's, as of `taken_at` (the node database's
/// clock, so the parent can keep the latest of reports sent by several processes).
#[derive(Debug, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Directory {
    pub taken_at: chrono::DateTime<chrono::Utc>,
    pub principals: Vec<Reported>,
}

impl Directory {
    /// Hex SHA-256 of the entries' RFC 8785 form: what changed since the last report.
    pub fn digest(&self) -> String {
        let value = serde_json::to_value(&self.principals).expect("serializes");
        let bytes = vc::jcs::canonicalize(&value).expect("JCS-safe");
        hex::encode(ring::digest::digest(&ring::digest::SHA256, &bytes))
    }
}

/// This node's directory: its own principals (as `node`) and every one its children reported.
pub async fn directory(
    db: &impl GenericClient,
    node: &str,
) -> Result<Directory, tokio_postgres::Error> {
    let taken_at = db.query_one("SELECT now()", &[]).await?.get(0);
    let rows = db
        .query(
            "SELECT $1::text, id, role, department, region_code, status FROM principals
             UNION ALL
             SELECT node, id, role, department, region_code, status FROM remote_principals
             ORDER BY 1, 2",
            &[&node],
        )
        .await?;
    let principals = rows
        .iter()
        .map(|r| Reported {
            node: r.get(0),
            id: r.get(1),
            role: r.get(2),
            department: r.get(3),
            region_code: r.get(4),
            status: r.get(5),
        })
        .collect();
    Ok(Directory {
        taken_at,
        principals,
    })
}

/// The status of principal `id` of node `node` below this one, as that node last reported it.
pub async fn remote_status(
    db: &impl GenericClient,
    node: &str,
    id: &str,
) -> Result<Option<String>, tokio_postgres::Error> {
    let stmt = db
        .prepare_cached("SELECT status FROM remote_principals WHERE node = $1 AND id = $2")
        .await?;
    Ok(db.query_opt(&stmt, &[&node, &id]).await?.map(|r| r.get(0)))
}

/// Send this node's directory to the parent when it differs from the last one the parent
/// stored (`last`, per process: after a restart the first beat sends it again).
pub async fn report(
    app: &crate::api::App,
    client: &crate::client::ExchangeClient,
    last: &mut Option<String>,
) -> anyhow::Result<()> {
    // Both sides must speak 1.1 (the parent announced its version on the reference pull this
    // beat made first); a node pinned to 1.0, or its parent, goes without.
    use crate::federation::protocol::{self, Feature};
    let theirs = client.peer_protocol();
    if !protocol::announced(&app.config)?.has(Feature::PrincipalReports)
        || !theirs.is_some_and(|v| v.has(Feature::PrincipalReports))
    {
        return Ok(());
    }
    let db = app.pool.get().await?;
    let dir = directory(&db, app.node_region.as_str()).await?;
    drop(db);
    let digest = dir.digest();
    if last.as_deref() == Some(digest.as_str()) {
        return Ok(());
    }
    let resp = client
        .post(
            "/v1/federation/principals",
            "application/json",
            serde_json::to_vec(&dir)?,
        )
        .await?;
    anyhow::ensure!(
        resp.status.is_success(),
        "POST /v1/federation/principals answered {}: {}",
        resp.status,
        String::from_utf8_lossy(&resp.body)
    );
    // A report older than one another process of this node sent is not stored: send again on
    // the next beat, with a newer `taken_at`.
    if resp.json()?["stored"] == true {
        tracing::info!(
            principals = dir.principals.len(),
            "principal directory reported to the parent"
        );
        *last = Some(digest);
    }
    Ok(())
}

/// `POST /v1/federation/principals`: a child's directory, replacing its previous one unless an
/// older report arrives late. Every entry must belong to a node of the child's subtree.
pub async fn receive(
    axum::extract::State(app): axum::extract::State<std::sync::Arc<crate::api::App>>,
    axum::Extension(peer): axum::Extension<crate::tls::PeerIdentity>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<axum::Json<serde_json::Value>, crate::api::problem::Problem> {
    use crate::api::problem::Problem;
    let child = crate::federation::receive::child_of(&app, &peer)?;
    let dir: Directory = serde_json::from_slice(&body?).map_err(|e| {
        Problem::new(
            "request.bad_json",
            format!("not a principal directory: {e}"),
        )
    })?;
    let reference = app.reference.get();
    for p in &dir.principals {
        let inside =
            RegionCode::parse(&p.node).is_ok_and(|n| reference.regions().is_within(&child, &n));
        if !inside {
            return Err(Problem::new(
                "auth.region",
                format!(
                    "principal {} of node {} is outside node {child}'s region",
                    p.id, p.node
                ),
            ));
        }
        if !STATUSES.contains(&p.status.as_str()) || !ROLES.contains(&p.role.as_str()) {
            return Err(Problem::new(
                "request.bad_json",
                format!(
                    "principal {}: unknown role {} or status {}",
                    p.id, p.role, p.status
                ),
            ));
        }
    }
    let mut db = app.pool.get().await?;
    let tx = db.transaction().await?;
    let child = child.to_string();
    let newer = tx
        .execute(
            "INSERT INTO remote_principal_reports (via_child, taken_at) VALUES ($1, $2)
             ON CONFLICT (via_child) DO UPDATE SET taken_at = EXCLUDED.taken_at, received_at = now()
             WHERE remote_principal_reports.taken_at < EXCLUDED.taken_at",
            &[&child, &dir.taken_at],
        )
        .await?;
    if newer == 0 {
        tx.commit().await?;
        return Ok(axum::Json(serde_json::json!({"stored": false})));
    }
    tx.execute(
        "DELETE FROM remote_principals WHERE via_child = $1",
        &[&child],
    )
    .await?;
    let insert = tx
        .prepare(
            "INSERT INTO remote_principals (via_child, node, id, role, department, region_code, status)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .await?;
    for p in &dir.principals {
        tx.execute(
            &insert,
            &[
                &child,
                &p.node,
                &p.id,
                &p.role,
                &p.department,
                &p.region_code,
                &p.status,
            ],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(axum::Json(
        serde_json::json!({"stored": true, "principals": dir.principals.len()}),
    ))
}
