//! One adapter per departmental private network. Each turns its network's native batch into
//! canonical *drafts* (see `domain::normalize`), one per record, keeping each record's own bytes
//! and its place in the source so a rejected record can be reported and replayed.
//!
//! # Layout
//! - [`Adapter`]: the one trait every network implements.
//! - [`common`]: local date/time formats, code clean-up, error helpers shared by adapters.
//! - [`limits`]: nesting depth and string length of a payload, checked before JSON is parsed.
//! - [`xml`]: a small, safe XML tree reader (no DTDs, no entity expansion, any ASCII-compatible
//!   encoding such as GBK) for the XML-speaking networks.
//! - [`market_regulation`]: 市场监管, JSON.
//! - [`public_security`]: 公安, XML in GBK.
//! - [`civil_affairs`]: 民政, CSV in GB18030 with a Chinese header row.
//! - [`human_resources`]: 人社, camelCase JSON, `yyyyMMdd` dates, amounts in fen.
//! - [`ecology_environment`]: 生态环境, pinyin snake_case JSON, epoch-millisecond times.
//! - [`tax`]: 税务, SOAP 1.1 envelopes (errors answered as SOAP faults).
//! - [`health`]: 卫健, HL7 v2.5 messages (over HTTP, or MLLP with ACKs).
//! - [`mapping`]: declarative adapters described by a mapping file (onboarding without code).
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
pub mod health;
pub mod human_resources;
pub mod limits;
pub mod mapping;
pub mod market_regulation;
pub mod parallel;
pub mod public_security;
pub mod tax;
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

    /// Whether [`Adapter::native_receipt`] answers pushes in the network's own protocol: the
    /// JSON tree of a receipt is built for it only then.
    fn native_receipts(&self) -> bool {
        false
    }

    /// The answer to a push in the network's own protocol (e.g. a SOAP envelope), given the
    /// gateway's JSON receipt. `None`: the gateway answers the JSON receipt.
    fn native_receipt(&self, _receipt: &serde_json::Value) -> Option<NativeResponse> {
        None
    }

    /// A refused push in the network's own protocol (e.g. a SOAP fault), given the problem's
    /// HTTP status, stable code and message. `None`: RFC 9457 problem+json.
    fn native_error(&self, _status: u16, _code: &str, _message: &str) -> Option<NativeResponse> {
        None
    }
}

/// An HTTP answer in a network's native protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// Every adapter built into this gateway.
pub fn all() -> Vec<Arc<dyn Adapter>> {
    vec![
        Arc::new(market_regulation::MarketRegulation),
        Arc::new(public_security::PublicSecurity),
        Arc::new(civil_affairs::CivilAffairs),
        Arc::new(human_resources::HumanResources),
        Arc::new(ecology_environment::EcologyEnvironment),
        Arc::new(tax::Tax),
        Arc::new(health::Health),
    ]
}

/// The adapter with this id (built-in ones only; see [`with_mappings`]).
pub fn by_id(id: &str) -> Option<Arc<dyn Adapter>> {
    all().into_iter().find(|a| a.id() == id)
}

/// The built-in adapters plus one per mapping file (`*.json`) in `dir`. Ids must be unique.
pub fn with_mappings(dir: Option<&std::path::Path>) -> Result<Vec<Arc<dyn Adapter>>, String> {
    let mut list = all();
    let Some(dir) = dir else { return Ok(list) };
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read mapping folder {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    for path in files {
        let text = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        // Only mapping files: other JSON (catalog additions, notes) may sit beside them.
        let is_mapping = serde_json::from_slice::<serde_json::Value>(&text)
            .is_ok_and(|v| v["mapping"] == "mapping/v1");
        if !is_mapping {
            continue;
        }
        let adapter = mapping::MappingAdapter::from_json(&text)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if list.iter().any(|a| a.id() == adapter.id()) {
            return Err(format!(
                "{}: adapter id '{}' is already taken",
                path.display(),
                adapter.id()
            ));
        }
        list.push(Arc::new(adapter));
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    /// The gateway builds a receipt's JSON tree for `native_receipt` only when an adapter says
    /// it answers natively: the two must agree.
    #[test]
    fn native_receipts_says_whether_native_receipt_answers() {
        let receipt = serde_json::json!({"summary": {"records": 0}, "records": []});
        for a in super::all() {
            assert_eq!(
                a.native_receipts(),
                a.native_receipt(&receipt).is_some(),
                "{}",
                a.id()
            );
        }
    }
}
