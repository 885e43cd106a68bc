//! One adapter per departmental private network. Each turns its network's native batch into
//! canonical *drafts* (see `domain::normalize`), one per record, keeping each record's own bytes
//! and its place in the source so a rejected record can be reported and replayed.
//!
//! # Layout
//! - [`Adapter`]: the one trait every network implements.
//! - [`common`]: local date/time formats, code clean-up, error helpers shared by adapters.
//! - [`xml`]: a small, safe XML tree reader (no DTDs, no entity expansion, any ASCII-compatible
//!   encoding such as GBK) for the XML-speaking networks.
//! - [`market_regulation`]: 市场监管, JSON.
//! - [`public_security`]: 公安, XML in GBK.
//! - [`civil_affairs`]: 民政, CSV in GB18030 with a Chinese header row.
//! - [`human_resources`]: 人社, camelCase JSON, `yyyyMMdd` dates, amounts in fen.
//! - [`ecology_environment`]: 生态环境, pinyin snake_case JSON, epoch-millisecond times.
//!
//! Each adapter's directory has a README with the native format, the field mapping, its code
//! tables and what becomes the record's version.

use std::sync::Arc;

use domain::FieldError;
use serde::Serialize;
use serde_json::Value;

pub mod civil_affairs;
pub mod common;
pub mod ecology_environment;
pub mod human_resources;
pub mod market_regulation;
pub mod public_security;
pub mod xml;

/// One record as found in a native batch.
#[derive(Debug, Clone)]
pub struct DecodedRecord {
    /// 0-based position in the batch.
    pub position: usize,
    /// Where the record is in the source, in the source's own terms (`records[3]`,
    /// `BJXX #4, line 17`).
    pub location: String,
    /// The record's own bytes, in the source encoding, kept for quarantine and replay.
    pub raw: Vec<u8>,
    /// The case number when it could be read, so receipts name the case even when rejected.
    pub case_no: Option<String>,
    /// The canonical draft, or why the record could not be mapped.
    pub draft: Result<Value, Vec<FieldError>>,
}

/// The payload as a whole could not be split into records (not JSON, not XML, wrong root...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct PayloadError {
    /// Stable code, e.g. `payload.malformed`.
    pub code: &'static str,
    pub message: String,
}

impl PayloadError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// A departmental network's native format.
pub trait Adapter: Send + Sync + 'static {
    /// URL segment and stable id, e.g. `market-regulation`.
    fn id(&self) -> &'static str;
    /// The department it serves (`domain::department`); a system may push only through its own.
    fn department(&self) -> &'static str;
    /// Human description of the native format.
    fn format(&self) -> &'static str;
    /// Split a native batch into records and map each to a draft.
    fn decode(&self, payload: &[u8]) -> Result<Vec<DecodedRecord>, PayloadError>;
}

/// Every adapter built into this gateway.
pub fn all() -> Vec<Arc<dyn Adapter>> {
    vec![
        Arc::new(market_regulation::MarketRegulation),
        Arc::new(public_security::PublicSecurity),
        Arc::new(civil_affairs::CivilAffairs),
        Arc::new(human_resources::HumanResources),
        Arc::new(ecology_environment::EcologyEnvironment),
    ]
}

/// The adapter with this id.
pub fn by_id(id: &str) -> Option<Arc<dyn Adapter>> {
    all().into_iter().find(|a| a.id() == id)
}
