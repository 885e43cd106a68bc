//! Principals: the systems, staff and peer nodes a client certificate can stand for. A
//! certificate names only the id; role, department, region and status live here, so suspending
//! a principal takes effect on its next request without touching certificates.

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
