//! Federation across tiers (province → city → county → township).
//!
//! - [`outbox`]: every accepted record is queued for the parent in the transaction that stores
//!   it, in rows of up to 100 ids; the claim that shares them among drainers.
//! - [`forward`]: drainers send the queued items to the parent in batches, delete their rows
//!   only after the parent answered, and back off while the parent is down: nothing is lost,
//!   nothing blocks local ingest.
//! - [`recent`]: the bodies of records just queued, kept in memory for the drainers, which
//!   otherwise read each body back from the database.
//! - [`receive`]: `POST /v1/federation/forward` on the exchange listener, for listed children
//!   only (their node certificate names their region); stored idempotently in any arrival
//!   order, then queued for this node's own parent.
//! - [`route`]: lookups a node cannot answer go down or up the tree by region, with the entry
//!   node's signed statement of who asked and why.
//! - [`peers`]: one kept-alive mTLS client per peer node (reloading renewed certificates).
//! - [`protocol`]: the exchange protocol version nodes announce; another major is refused,
//!   newer minors' features are used only when both sides have them.

pub mod forward;
pub mod outbox;
pub mod peers;
pub mod protocol;
pub mod receive;
pub mod recent;
pub mod route;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One forwarding request: records first, then the credentials issued from them.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Forwarded {
    pub records: Vec<ForwardedRecord>,
    pub credentials: Vec<ForwardedCredential>,
    /// Certificate status changes, applied after the credentials.
    #[serde(default)]
    pub status_changes: Vec<crate::certificates::status::Change>,
}

/// A stored case record as the first node stored it: its id and body (with `source` and
/// `ingested_at` as stamped there). The body stays JSON text through the batch's parse and is
/// parsed on its own by the receiver's checks, which run in parallel.
#[derive(Debug, Serialize, Deserialize)]
pub struct ForwardedRecord {
    pub record_id: Uuid,
    pub body: Box<serde_json::value::RawValue>,
}

/// A credential version with its certificate's row, as the issuing node stored them.
#[derive(Debug, Serialize, Deserialize)]
pub struct ForwardedCredential {
    pub credential_id: Uuid,
    pub identifier: String,
    pub version: i32,
    pub record_id: Uuid,
    pub signing_key: String,
    pub issued_at: chrono::DateTime<chrono::Utc>,
    /// The signed credential as JSON text, passed through: the sender reads it as text and the
    /// receiver stores it as `jsonb`; neither builds a tree of it.
    pub credential: Box<serde_json::value::RawValue>,
    /// Hex SHA-256 of the certificate's content at the issuing node (what decides whether a
    /// later version changed it).
    pub content_hash: String,
    pub authority_code: String,
    pub type_code: String,
    pub number: String,
    pub holder_code: String,
    pub holder_name: String,
    pub region_code: String,
    pub minted: bool,
    pub status_index: i64,
    pub issuer_node: String,
}

/// What the parent did with a forwarding request.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ForwardReceipt {
    pub records_stored: usize,
    pub records_duplicate: usize,
    /// Same key, different content: quarantined at the parent.
    pub records_conflict: usize,
    pub credentials_stored: usize,
    pub credentials_duplicate: usize,
    #[serde(default)]
    pub status_changes_stored: usize,
    #[serde(default)]
    pub status_changes_duplicate: usize,
}
