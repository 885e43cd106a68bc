//! Staff accounts and login sessions for the web listener. Approvers, operators and supervisors
//! may log in with a username and password (argon2id) instead of presenting a client
//! certificate; a session is a random cookie whose SHA-256 is all the database keeps.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use deadpool_postgres::GenericClient;
use ring::rand::SecureRandom;
use serde::Serialize;

/// Roles an account may have (systems and peers always use certificates).
pub const ACCOUNT_ROLES: &[&str] = &["approver", "operator", "supervisor"];
/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "gw_session";
/// How long a session lasts.
pub const SESSION_HOURS: i64 = 8;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Account {
    pub username: String,
    pub role: String,
    pub department: Option<String>,
    pub region_code: String,
    pub status: String,
    pub display_name: String,
}

impl Account {
    fn from_row(r: &tokio_postgres::Row) -> Self {
        Account {
            username: r.get("username"),
            role: r.get("role"),
            department: r.get("department"),
            region_code: r.get("region_code"),
            status: r.get("status"),
            display_name: r.get("display_name"),
        }
    }
}

const COLUMNS: &str = "username, role, department, region_code, status, display_name";

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    anyhow::ensure!(
        password.chars().count() >= 10,
        "a password needs at least 10 characters"
    );
    let mut salt_bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut salt_bytes)
        .map_err(|_| anyhow::anyhow!("no randomness"))?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("cannot hash password: {e}"))?
        .to_string())
}

pub async fn add(db: &impl GenericClient, account: &Account, password: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        ACCOUNT_ROLES.contains(&account.role.as_str()),
        "an account's role is one of {}",
        ACCOUNT_ROLES.join(", ")
    );
    let hash = hash_password(password)?;
    db.execute(
        "INSERT INTO users (username, password_hash, role, department, region_code, status, display_name)
         VALUES ($1, $2, $3, $4, $5, 'active', $6)",
        &[&account.username, &hash, &account.role, &account.department, &account.region_code, &account.display_name],
    )
    .await
    .map_err(|e| match e.code() {
        Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => anyhow::anyhow!("user {} already exists", account.username),
        _ => e.into(),
    })?;
    Ok(())
}

pub async fn list(db: &impl GenericClient) -> Result<Vec<Account>, tokio_postgres::Error> {
    let rows = db
        .query(
            &format!("SELECT {COLUMNS} FROM users ORDER BY username"),
            &[],
        )
        .await?;
    Ok(rows.iter().map(Account::from_row).collect())
}

/// Set an account's status; suspending also ends its sessions.
pub async fn set_status(
    db: &impl GenericClient,
    username: &str,
    status: &str,
) -> anyhow::Result<bool> {
    let n = db
        .execute(
            "UPDATE users SET status = $2, updated_at = now() WHERE username = $1",
            &[&username, &status],
        )
        .await?;
    if status != "active" {
        db.execute("DELETE FROM sessions WHERE username = $1", &[&username])
            .await?;
    }
    Ok(n == 1)
}

fn token_hash(token: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
        .as_ref()
        .to_vec()
}

/// Check a username and password; on success create a session and return its cookie value.
/// Unknown users and wrong passwords are indistinguishable to the caller (and take as long).
pub async fn login(
    db: &impl GenericClient,
    username: &str,
    password: &str,
) -> anyhow::Result<Option<(String, Account)>> {
    let row = db
        .query_opt(
            &format!("SELECT {COLUMNS}, password_hash FROM users WHERE username = $1"),
            &[&username],
        )
        .await?;
    // Unknown users are checked against a throwaway hash, so timing does not reveal which
    // usernames exist.
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy = || {
        DUMMY
            .get_or_init(|| hash_password("not-a-password-anyone-has").expect("hashing works"))
            .clone()
    };
    let stored: String = row.as_ref().map_or_else(dummy, |r| r.get("password_hash"));
    let password = password.to_owned();
    let ok = tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored).is_ok_and(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
    })
    .await?;
    let Some(row) = row.filter(|_| ok) else {
        return Ok(None);
    };
    let account = Account::from_row(&row);
    if account.status != "active" {
        return Ok(None);
    }
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("no randomness"))?;
    let token = hex::encode(bytes);
    db.execute(
        "INSERT INTO sessions (token_hash, username, expires_at) VALUES ($1, $2, now() + make_interval(hours => $3))",
        &[&token_hash(&token), &account.username, &(SESSION_HOURS as i32)],
    )
    .await?;
    Ok(Some((token, account)))
}

/// The active account behind a session cookie value, if the session is live.
pub async fn session(
    db: &impl GenericClient,
    token: &str,
) -> Result<Option<Account>, tokio_postgres::Error> {
    let stmt = db
        .prepare_cached(&format!(
            "SELECT {} FROM sessions s JOIN users u ON u.username = s.username
             WHERE s.token_hash = $1 AND s.expires_at > now() AND u.status = 'active'",
            COLUMNS
                .split(", ")
                .map(|c| format!("u.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .await?;
    Ok(db
        .query_opt(&stmt, &[&token_hash(token)])
        .await?
        .as_ref()
        .map(Account::from_row))
}

pub async fn logout(db: &impl GenericClient, token: &str) -> Result<(), tokio_postgres::Error> {
    db.execute(
        "DELETE FROM sessions WHERE token_hash = $1",
        &[&token_hash(token)],
    )
    .await?;
    Ok(())
}

/// The session cookie's value from a `Cookie` header.
pub fn cookie_token(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
}
