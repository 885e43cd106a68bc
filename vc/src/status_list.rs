//! W3C Bitstring Status List v1.0: revocation and suspension of electronic certificates.
//!
//! Every certificate credential carries two `credentialStatus` entries ([`crate::ecert`]): a
//! `revocation` and a `suspension` [`BitstringStatusListEntry`], each naming a bit
//! (`statusListIndex`) in a list published as a `BitstringStatusListCredential` at
//! `{base}/v1/status/{node region}/{purpose}`. The bit set means revoked (or suspended).
//!
//! Why a bitstring and not a revocation list or an online query: one list answers for
//! 131,072 certificates or more, so fetching it says nothing about *which* certificate a
//! verifier looks at (herd privacy); it is small once compressed (an all-zero 16 KB list is
//! 51 bytes of GZIP in the spec's example); and it is itself a signed credential, so a holder can staple it, any
//! node can serve any other node's lists, and the offline verifier can judge it without a
//! network.
//!
//! ```text
//! bitstring   = at least 16 KB; bit i is byte i / 8, mask 0x80 >> (i % 8)   (index 0 left-most)
//! encodedList = "u" + base64url-no-padding(GZIP(bitstring))                   (multibase)
//! {
//!   "@context": [CONTEXT_V2, CONTEXT_ECERT],
//!   "id": "{list URL}",
//!   "type": ["VerifiableCredential", "BitstringStatusListCredential"],
//!   "issuer": {"id": "did:key:z6Mk…", "name": "…", "node": "urn:gateway:node:{region}"},
//!   "validFrom": "…Z", "validUntil": "…Z"?,
//!   "credentialSubject": {"id": "{list URL}#list", "type": "BitstringStatusList",
//!                         "statusPurpose": "revocation" | "suspension", "encodedList": "u…"},
//!   "proof": { DataIntegrityProof, eddsa-jcs-2022, assertionMethod }
//! }
//! ```
//!
//! A list is believed only when ([`verify_list_credential`]): its proof verifies; its issuer
//! controls the signing key; the trust bundle lists that key for a node and trusted it at
//! `proof.created` (as for certificates, see [`crate::trust`]); that node is the node that
//! issued the certificate being checked and the one `issuer.node` names; and `now` is within
//! its validity period. A list signed by another node — even a trusted one — never answers
//! for this node's certificates: otherwise any node could revoke any certificate.
//! [`check_entry`] adds that the list is the one the entry names (URL and purpose) and returns
//! the bit; [`status_lookup`] turns verified lists into the [`StatusLookup`] that
//! [`crate::verify_credential`] asks.
//!
//! Decoding is bounded even for a list whose proof verifies: a GZIP bomb is refused as soon as
//! it expands past [`MAX_DECODED_BYTES`] (16 MiB, 134 million entries), never held whole.
//! Only `statusSize` 1 is supported, which is all revocation and suspension need.

use std::io::{Read, Write};

use chrono::{DateTime, SecondsFormat, Utc};
use domain::codes::RegionCode;
use flate2::Compression;
use flate2::bufread::MultiGzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use thiserror::Error;

use crate::did_key::did_from_ed25519;
use crate::ecert::{CONTEXT_ECERT, CONTEXT_V2, NODE_URN_PREFIX, STATUS_ENTRY_TYPE, node_urn, sign};
use crate::trust::{KeyTrust, TrustBundle};
use crate::verify::{StatusEntry, StatusLookup, issuer_id, parse_xml_datetime};
use crate::{SigningKey, StatusPurpose, VcError, verify_proof};

/// Minimum number of entries of a list (16 KB): the spec's `minimumNumberOfEntries`.
pub const MIN_BITS: usize = 131_072;
/// Largest bitstring [`StatusList::decode`] expands (16 MiB); more is refused as a bomb.
pub const MAX_DECODED_BYTES: usize = 16 * 1024 * 1024;
/// The credential type of a status list, beside `VerifiableCredential`.
pub const LIST_CREDENTIAL_TYPE: &str = "BitstringStatusListCredential";
/// The `credentialSubject.type` of a status list.
pub const LIST_SUBJECT_TYPE: &str = "BitstringStatusList";
/// Multibase prefix of base64url without padding.
const MULTIBASE_BASE64URL: char = 'u';

/// Why a status list, entry or list credential was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StatusListError {
    /// `encodedList` does not start with the multibase base64url prefix `u`.
    #[error("encodedList must be multibase base64url (prefix 'u'): {0}")]
    NotMultibase(String),
    /// The text after `u` is not base64url without padding.
    #[error("encodedList is not base64url without padding: {0}")]
    Base64(String),
    /// The decoded bytes are not a valid GZIP stream.
    #[error("encodedList is not a valid GZIP stream: {0}")]
    Gzip(String),
    /// The bitstring expands past the limit (a decompression bomb, or simply too large).
    #[error("status list expands to more than {limit} bytes")]
    TooLarge { limit: usize },
    /// Fewer than [`MIN_BITS`] entries (spec: STATUS_LIST_LENGTH_ERROR).
    #[error("status list has {bits} entries, fewer than the minimum {MIN_BITS}")]
    TooShort { bits: usize },
    /// An index past the end of the list (spec: RANGE_ERROR).
    #[error("index {index} is outside the status list of {bits} entries")]
    OutOfRange { index: u64, bits: usize },
    /// A `credentialStatus` entry is not a well-formed `BitstringStatusListEntry`.
    #[error("malformed status entry: {0}")]
    EntryMalformed(String),
    /// A `statusSize` other than 1.
    #[error("statusSize {0} is not supported, only 1")]
    UnsupportedStatusSize(u64),
    /// The status list credential lacks a part or has one of the wrong shape.
    #[error("malformed status list credential: {0}")]
    CredentialMalformed(String),
    /// The list credential's proof failed (or signing failed).
    #[error("status list proof: {0}")]
    Proof(#[from] VcError),
    /// The list's `issuer` is not the controller of the key that signed it.
    #[error("status list issuer does not control the signing key: {0}")]
    IssuerMismatch(String),
    /// The trust bundle does not trust the signing key (unknown, revoked, out of validity).
    #[error("status list signing key is not trusted: {0}")]
    UntrustedKey(String),
    /// The list is signed for another node than the certificate's, or than its `issuer.node`.
    #[error("status list node mismatch: {0}")]
    NodeMismatch(String),
    /// The list is not the one the entry names.
    #[error("status list credential is {actual}, the entry names {expected}")]
    UrlMismatch { expected: String, actual: String },
    /// The list does not carry the entry's purpose.
    #[error("status list purposes are {list:?}, the entry's is {entry}")]
    PurposeMismatch { entry: String, list: Vec<String> },
    /// `now` is before the list's `validFrom` (or its proof's `created`).
    #[error("status list is not yet valid: {0}")]
    NotYetValid(String),
    /// `now` is after the list's `validUntil`.
    #[error("status list has expired: {0}")]
    Expired(String),
}

impl StatusListError {
    /// A stable code for logs, audit records and API error bodies.
    pub fn code(&self) -> &'static str {
        use StatusListError::*;
        match self {
            NotMultibase(_) | Base64(_) => "status_list.encoding",
            Gzip(_) => "status_list.compression",
            TooLarge { .. } => "status_list.too_large",
            TooShort { .. } => "status_list.length",
            OutOfRange { .. } => "status_list.range",
            EntryMalformed(_) => "status_list.entry_malformed",
            UnsupportedStatusSize(_) => "status_list.status_size",
            CredentialMalformed(_) => "status_list.credential_malformed",
            Proof(_) => "status_list.proof",
            IssuerMismatch(_) => "status_list.issuer_mismatch",
            UntrustedKey(_) => "status_list.untrusted_key",
            NodeMismatch(_) => "status_list.node_mismatch",
            UrlMismatch { .. } => "status_list.url_mismatch",
            PurposeMismatch { .. } => "status_list.purpose_mismatch",
            NotYetValid(_) => "status_list.not_yet_valid",
            Expired(_) => "status_list.expired",
        }
    }

    /// The error type the spec names for this failure (section 3.5 and VC Data Model 2.0).
    pub fn spec_error(&self) -> &'static str {
        use StatusListError::*;
        match self {
            TooShort { .. } => "STATUS_LIST_LENGTH_ERROR",
            OutOfRange { .. } => "RANGE_ERROR",
            NotMultibase(_)
            | Base64(_)
            | Gzip(_)
            | TooLarge { .. }
            | EntryMalformed(_)
            | UnsupportedStatusSize(_)
            | CredentialMalformed(_) => "MALFORMED_VALUE_ERROR",
            _ => "STATUS_VERIFICATION_ERROR",
        }
    }
}

/// A status bitstring with one bit per entry (`statusSize` 1), index 0 the left-most bit.
#[derive(Clone, PartialEq, Eq)]
pub struct StatusList {
    /// Bit `i` is `bytes[i / 8] & (0x80 >> (i % 8))`; the length is a whole number of bytes.
    bytes: Vec<u8>,
}

impl StatusList {
    /// An all-zero list of the minimum length ([`MIN_BITS`]).
    pub fn new() -> StatusList {
        StatusList {
            bytes: vec![0; MIN_BITS / 8],
        }
    }

    /// An all-zero list of at least `bits` entries, rounded up to whole bytes; from
    /// [`MIN_BITS`] to `8 * MAX_DECODED_BYTES` entries.
    pub fn with_len(bits: usize) -> Result<StatusList, StatusListError> {
        StatusList::from_bytes(vec![0; bits.div_ceil(8)])
    }

    /// A list over an uncompressed bitstring, checked against the length limits.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<StatusList, StatusListError> {
        if bytes.len() > MAX_DECODED_BYTES {
            return Err(StatusListError::TooLarge {
                limit: MAX_DECODED_BYTES,
            });
        }
        let bits = bytes.len() * 8;
        if bits < MIN_BITS {
            return Err(StatusListError::TooShort { bits });
        }
        Ok(StatusList { bytes })
    }

    /// The number of entries (bits).
    pub fn bit_len(&self) -> usize {
        self.bytes.len() * 8
    }

    /// The uncompressed bitstring.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Whether bit `index` is set.
    pub fn get(&self, index: u64) -> Result<bool, StatusListError> {
        let (byte, mask) = self.position(index)?;
        Ok(self.bytes[byte] & mask != 0)
    }

    /// Sets or clears bit `index`.
    pub fn set(&mut self, index: u64, value: bool) -> Result<(), StatusListError> {
        let (byte, mask) = self.position(index)?;
        if value {
            self.bytes[byte] |= mask;
        } else {
            self.bytes[byte] &= !mask;
        }
        Ok(())
    }

    /// The indexes of the set bits, in order.
    pub fn set_indexes(&self) -> impl Iterator<Item = u64> + '_ {
        let bits_of = |(i, byte): (usize, &u8)| {
            let byte = *byte;
            (0..8u64)
                .filter(move |bit| byte & (0x80 >> bit) != 0)
                .map(move |bit| i as u64 * 8 + bit)
        };
        self.bytes
            .iter()
            .enumerate()
            .filter(|(_, byte)| **byte != 0)
            .flat_map(bits_of)
    }

    /// `encodedList`: `u` + base64url without padding of the GZIP-compressed bitstring.
    pub fn encode(&self) -> String {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        let compressed = encoder
            .write_all(&self.bytes)
            .and_then(|()| encoder.finish())
            .expect("GZIP into memory cannot fail");
        format!("{MULTIBASE_BASE64URL}{}", base64url_encode(&compressed))
    }

    /// Decodes an `encodedList`, expanding at most [`MAX_DECODED_BYTES`].
    pub fn decode(encoded: &str) -> Result<StatusList, StatusListError> {
        StatusList::decode_with_limit(encoded, MAX_DECODED_BYTES)
    }

    /// Decodes an `encodedList`, refusing one that expands past `max_bytes` (capped at
    /// [`MAX_DECODED_BYTES`]).
    pub fn decode_with_limit(
        encoded: &str,
        max_bytes: usize,
    ) -> Result<StatusList, StatusListError> {
        let body = encoded.strip_prefix(MULTIBASE_BASE64URL).ok_or_else(|| {
            StatusListError::NotMultibase(format!("starts with {:?}", first_chars(encoded)))
        })?;
        let compressed = base64url_decode(body).map_err(StatusListError::Base64)?;
        let bytes = gunzip(&compressed, max_bytes.min(MAX_DECODED_BYTES))?;
        StatusList::from_bytes(bytes)
    }

    fn position(&self, index: u64) -> Result<(usize, u8), StatusListError> {
        let out_of_range = || StatusListError::OutOfRange {
            index,
            bits: self.bit_len(),
        };
        let byte = usize::try_from(index / 8).map_err(|_| out_of_range())?;
        if byte >= self.bytes.len() {
            return Err(out_of_range());
        }
        Ok((byte, 0x80 >> (index % 8)))
    }
}

impl Default for StatusList {
    fn default() -> Self {
        StatusList::new()
    }
}

impl std::fmt::Debug for StatusList {
    /// The length and the set bits (at most 16 listed), not 16 KB of bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set: Vec<u64> = self.set_indexes().take(16).collect();
        f.debug_struct("StatusList")
            .field("bits", &self.bit_len())
            .field("first_set", &set)
            .finish()
    }
}

/// Inflates one or more GZIP members (RFC 1952), reading at most `max` bytes of output.
fn gunzip(compressed: &[u8], max: usize) -> Result<Vec<u8>, StatusListError> {
    let mut out = Vec::new();
    MultiGzDecoder::new(compressed)
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| StatusListError::Gzip(e.to_string()))?;
    if out.len() > max {
        return Err(StatusListError::TooLarge { limit: max });
    }
    Ok(out)
}

/// The first few characters of `s`, for error messages about untrusted input.
fn first_chars(s: &str) -> String {
    s.chars().take(8).collect()
}

const BASE64URL_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// RFC 4648 section 5 base64url, without padding.
fn base64url_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let group = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            let sextet = (group >> (18 - 6 * i)) & 0x3f;
            out.push(char::from(BASE64URL_ALPHABET[sextet as usize]));
        }
    }
    out
}

/// Strict base64url without padding: no `=`, no other alphabet, no non-zero spare bits.
fn base64url_decode(s: &str) -> Result<Vec<u8>, String> {
    if s.len() % 4 == 1 {
        return Err(format!("{} characters cannot be base64", s.len()));
    }
    let mut out = Vec::with_capacity(s.len() / 4 * 3 + 2);
    for (n, chunk) in s.as_bytes().chunks(4).enumerate() {
        let mut group = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            let value = base64url_value(c)
                .ok_or_else(|| format!("{:?} at {} is not base64url", char::from(c), n * 4 + i))?;
            group |= value << (18 - 6 * i);
        }
        let bytes = group.to_be_bytes();
        let (used, spare) = bytes[1..].split_at(chunk.len() - 1);
        if spare.iter().any(|&b| b != 0) {
            return Err("non-zero bits after the last byte (not canonical base64)".into());
        }
        out.extend_from_slice(used);
    }
    Ok(out)
}

fn base64url_value(c: u8) -> Option<u32> {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' => 62,
        b'_' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// A `credentialStatus` entry of purpose revocation or suspension.
///
/// In JSON `statusListIndex` is a decimal string (`"94567"`); `statusSize`, when present,
/// must be 1. Other members (`statusMessage`, `statusReference`) are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawEntry", into = "RawEntry")]
pub struct BitstringStatusListEntry {
    /// `{statusListCredential}#{statusListIndex}` when built here; optional in the spec.
    pub id: Option<String>,
    pub purpose: StatusPurpose,
    /// `statusListIndex`: the bit in the list.
    pub index: u64,
    /// `statusListCredential`: the URL of the list credential.
    pub list_credential: String,
}

/// The JSON form of an entry, before its values are checked.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    status_purpose: String,
    status_list_index: String,
    status_list_credential: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status_size: Option<u64>,
}

impl BitstringStatusListEntry {
    /// The entry for bit `index` of the list at `list_url`, with id `{list_url}#{index}`.
    pub fn new(
        list_url: impl Into<String>,
        purpose: StatusPurpose,
        index: u64,
    ) -> BitstringStatusListEntry {
        let list_credential = list_url.into();
        BitstringStatusListEntry {
            id: Some(format!("{list_credential}#{index}")),
            purpose,
            index,
            list_credential,
        }
    }

    /// The entry as JSON, as it appears in a credential's `credentialStatus`.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("an entry always serializes")
    }

    /// Parses one `credentialStatus` entry.
    pub fn from_json(value: &Value) -> Result<BitstringStatusListEntry, StatusListError> {
        let raw = RawEntry::deserialize(value)
            .map_err(|e| StatusListError::EntryMalformed(format!("{e}: {value}")))?;
        BitstringStatusListEntry::try_from(raw)
    }

    /// The question [`StatusLookup`] is asked about this entry.
    pub fn as_status_entry(&self) -> StatusEntry<'_> {
        StatusEntry {
            purpose: self.purpose,
            list_credential: &self.list_credential,
            index: self.index,
        }
    }
}

impl TryFrom<RawEntry> for BitstringStatusListEntry {
    type Error = StatusListError;

    fn try_from(raw: RawEntry) -> Result<Self, StatusListError> {
        let malformed = |msg: String| Err(StatusListError::EntryMalformed(msg));
        if raw.kind != STATUS_ENTRY_TYPE {
            return malformed(format!(
                "type must be {STATUS_ENTRY_TYPE}, got {:?}",
                raw.kind
            ));
        }
        let Some(purpose) = StatusPurpose::parse(&raw.status_purpose) else {
            return malformed(format!(
                "statusPurpose must be revocation or suspension, got {:?}",
                raw.status_purpose
            ));
        };
        match raw.status_size {
            None | Some(1) => {}
            Some(size) => return Err(StatusListError::UnsupportedStatusSize(size)),
        }
        let Some(index) = parse_index(&raw.status_list_index) else {
            return malformed(format!(
                "statusListIndex must be a decimal string, got {:?}",
                raw.status_list_index
            ));
        };
        if raw.status_list_credential.is_empty() {
            return malformed("statusListCredential is empty".into());
        }
        Ok(BitstringStatusListEntry {
            id: raw.id,
            purpose,
            index,
            list_credential: raw.status_list_credential,
        })
    }
}

impl From<BitstringStatusListEntry> for RawEntry {
    fn from(entry: BitstringStatusListEntry) -> RawEntry {
        RawEntry {
            id: entry.id,
            kind: STATUS_ENTRY_TYPE.into(),
            status_purpose: entry.purpose.as_str().into(),
            status_list_index: entry.index.to_string(),
            status_list_credential: entry.list_credential,
            status_size: None,
        }
    }
}

/// A base-10 integer of ASCII digits only (no sign, no spaces) that fits a `u64`.
fn parse_index(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The revocation and suspension entries of a credential's `credentialStatus` (an object
/// or an array), in order. Entries of other purposes (`message`, `refresh`) are skipped; an
/// entry that is not a `BitstringStatusListEntry`, or is malformed, is an error. No
/// `credentialStatus` gives an empty list.
pub fn entries_of(credential: &Value) -> Result<Vec<BitstringStatusListEntry>, StatusListError> {
    let items: Vec<&Value> = match credential.get("credentialStatus") {
        None => Vec::new(),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(item) => vec![item],
    };
    let mut entries = Vec::new();
    for item in items {
        let purpose = item.get("statusPurpose").and_then(Value::as_str);
        let ours = purpose.is_some_and(|p| StatusPurpose::parse(p).is_some());
        let typed = item.get("type").and_then(Value::as_str) == Some(STATUS_ENTRY_TYPE);
        if typed && purpose.is_some() && !ours {
            continue; // another purpose: not ours to judge
        }
        entries.push(BitstringStatusListEntry::from_json(item)?);
    }
    Ok(entries)
}

/// The credential's entry of `purpose`, if it has one.
pub fn entry_of(
    credential: &Value,
    purpose: StatusPurpose,
) -> Result<Option<BitstringStatusListEntry>, StatusListError> {
    Ok(entries_of(credential)?
        .into_iter()
        .find(|e| e.purpose == purpose))
}

/// The node region named by a credential's `issuer.node` (`urn:gateway:node:{region}`).
///
/// Pass it to [`check_entry`] only after [`crate::verify_credential`] passed its
/// `issuer_trusted` check, which proves the credential's key belongs to that node.
pub fn credential_node<N: crate::json::JsonNode>(credential: &N) -> Option<RegionCode> {
    let node = credential.get("issuer")?.get("node")?.as_str()?;
    RegionCode::parse(node.strip_prefix(NODE_URN_PREFIX)?).ok()
}

/// What a node's status list credential says, apart from the bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCredentialInput {
    /// The list credential's `id`, the `statusListCredential` of its entries: normally
    /// [`crate::ecert::status_list_url`]`(base, node_region, purpose)`.
    pub url: String,
    pub purpose: StatusPurpose,
    /// The region of the node that publishes (and signs) the list.
    pub node_region: RegionCode,
    /// The node's name, as in its certificates' `issuer.name`.
    pub issuer_name: String,
    pub valid_from: DateTime<Utc>,
    /// When verifiers must stop trusting this copy; set it so stale lists expire.
    pub valid_until: Option<DateTime<Utc>>,
}

/// Builds the unsigned status list credential. `issuer.id` is left out: [`issue_list_credential`]
/// sets it to the signing key's DID.
pub fn build_list_credential(input: &ListCredentialInput, list: &StatusList) -> Value {
    let mut credential = json!({
        "@context": [CONTEXT_V2, CONTEXT_ECERT],
        "id": input.url,
        "type": ["VerifiableCredential", LIST_CREDENTIAL_TYPE],
        "issuer": {"name": input.issuer_name, "node": node_urn(&input.node_region)},
        "validFrom": utc_seconds(input.valid_from),
    });
    if let Some(until) = input.valid_until {
        credential["validUntil"] = utc_seconds(until).into();
    }
    credential["credentialSubject"] = json!({
        "id": format!("{}#list", input.url),
        "type": LIST_SUBJECT_TYPE,
        "statusPurpose": input.purpose.as_str(),
        "encodedList": list.encode(),
    });
    credential
}

/// [`build_list_credential`], then signed like a certificate ([`crate::ecert::sign`]):
/// `issuer.id` is the key's `did:key` and the eddsa-jcs-2022 proof is created at `created`.
pub fn issue_list_credential(
    input: &ListCredentialInput,
    list: &StatusList,
    key: &SigningKey,
    created: DateTime<Utc>,
) -> Result<Value, StatusListError> {
    Ok(sign(&build_list_credential(input, list), key, created)?)
}

/// A status list credential that passed [`verify_list_credential`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedStatusList {
    /// The credential's `id`, which entries name as `statusListCredential`.
    pub url: String,
    /// The purposes the list declares that the gateway knows (`statusPurpose` may be an array).
    pub purposes: Vec<StatusPurpose>,
    /// The node whose trusted key signed it.
    pub node_region: RegionCode,
    /// `did:key` of the signing key.
    pub signed_by: String,
    pub valid_until: Option<DateTime<Utc>>,
    pub list: StatusList,
}

impl VerifiedStatusList {
    /// The bit of `entry`, or `None` when this list is not the entry's (other URL or
    /// purpose) or the index is outside it.
    pub fn status(&self, entry: &StatusEntry<'_>) -> Option<bool> {
        let ours = entry.list_credential == self.url && self.purposes.contains(&entry.purpose);
        ours.then(|| self.list.get(entry.index).ok()).flatten()
    }
}

/// Verifies a presented status list credential for a certificate issued by `issuer_node`, at
/// `now` (see the module docs for the rules), in the order of the spec's validate algorithm:
/// shape, proof and signer, then the bitstring, expanded with the bomb limit.
pub fn verify_list_credential(
    list_credential: &Value,
    trust: &TrustBundle,
    issuer_node: &RegionCode,
    now: DateTime<Utc>,
) -> Result<VerifiedStatusList, StatusListError> {
    let shape = ListShape::read(list_credential)?;
    let (signed_by, node_region) = verify_signer(list_credential, trust, now)?;
    check_node(&node_region, issuer_node, shape.issuer_node)?;
    let valid_until = check_period(list_credential, now)?;
    let list = StatusList::decode(shape.encoded_list)?;
    Ok(VerifiedStatusList {
        url: shape.url.to_string(),
        purposes: shape.purposes,
        node_region,
        signed_by,
        valid_until,
        list,
    })
}

/// Checks `entry` against a presented list credential: `Ok(true)` when its bit is set
/// (revoked or suspended), `Ok(false)` when not. The list must pass [`verify_list_credential`]
/// for `issuer_node` (the node that issued the credential holding the entry), be the list the
/// entry names, and carry the entry's purpose.
pub fn check_entry(
    entry: &BitstringStatusListEntry,
    list_credential: &Value,
    trust: &TrustBundle,
    issuer_node: &RegionCode,
    now: DateTime<Utc>,
) -> Result<bool, StatusListError> {
    let verified = verify_list_credential(list_credential, trust, issuer_node, now)?;
    if verified.url != entry.list_credential {
        return Err(StatusListError::UrlMismatch {
            expected: entry.list_credential.clone(),
            actual: verified.url,
        });
    }
    if !verified.purposes.contains(&entry.purpose) {
        return Err(StatusListError::PurposeMismatch {
            entry: entry.purpose.as_str().into(),
            list: verified
                .purposes
                .iter()
                .map(|p| p.as_str().into())
                .collect(),
        });
    }
    verified.list.get(entry.index)
}

/// A [`StatusLookup`] answering from verified lists: an entry gets the bit of the list with
/// its URL and purpose, and `None` (status unknown, the check is skipped) when no list given
/// is its own. Lists that failed [`verify_list_credential`] must not be given: they are
/// unknown status, never "not revoked".
pub fn status_lookup(lists: Vec<VerifiedStatusList>) -> StatusLookup<'static> {
    StatusLookup::new(move |entry| lists.iter().find_map(|list| list.status(entry)))
}

/// The parts of a list credential read before its proof is checked.
struct ListShape<'a> {
    url: &'a str,
    purposes: Vec<StatusPurpose>,
    encoded_list: &'a str,
    issuer_node: Option<&'a str>,
}

impl<'a> ListShape<'a> {
    fn read(credential: &'a Value) -> Result<ListShape<'a>, StatusListError> {
        let malformed = |msg: &str| StatusListError::CredentialMalformed(msg.into());
        if !credential.is_object() {
            return Err(malformed("not a JSON object"));
        }
        let first_context = match credential.get("@context") {
            Some(Value::Array(items)) => items.first(),
            other => other,
        };
        if first_context.and_then(Value::as_str) != Some(CONTEXT_V2) {
            return Err(malformed("@context must start with the VC 2.0 context"));
        }
        let types = string_or_list(credential.get("type"));
        if !types.contains(&"VerifiableCredential") || !types.contains(&LIST_CREDENTIAL_TYPE) {
            return Err(malformed(
                "type must include VerifiableCredential and BitstringStatusListCredential",
            ));
        }
        let url = credential
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed("id must be the list URL"))?;
        let subject = credential
            .get("credentialSubject")
            .filter(|s| s.is_object())
            .ok_or_else(|| malformed("credentialSubject must be one object"))?;
        if subject.get("type").and_then(Value::as_str) != Some(LIST_SUBJECT_TYPE) {
            return Err(malformed(
                "credentialSubject.type must be BitstringStatusList",
            ));
        }
        if let Some(size) = subject.get("statusSize") {
            match size.as_u64() {
                Some(1) => {}
                Some(n) => return Err(StatusListError::UnsupportedStatusSize(n)),
                None => return Err(malformed("credentialSubject.statusSize must be an integer")),
            }
        }
        let declared = string_or_list(subject.get("statusPurpose"));
        if declared.is_empty() {
            return Err(malformed("credentialSubject.statusPurpose is missing"));
        }
        let encoded_list = subject
            .get("encodedList")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed("credentialSubject.encodedList must be a string"))?;
        Ok(ListShape {
            url,
            purposes: declared
                .into_iter()
                .filter_map(StatusPurpose::parse)
                .collect(),
            encoded_list,
            issuer_node: credential
                .get("issuer")
                .and_then(|i| i.get("node"))
                .and_then(Value::as_str),
        })
    }
}

/// A string as a one-item list, an array's strings, or nothing.
fn string_or_list(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Verifies the proof and the signer's standing: returns the signing key's DID and its node.
fn verify_signer(
    credential: &Value,
    trust: &TrustBundle,
    now: DateTime<Utc>,
) -> Result<(String, RegionCode), StatusListError> {
    let proof = verify_proof(credential, |vm| trust.resolve_verification_method(vm))?;
    if proof.proof_purpose != "assertionMethod" {
        return Err(VcError::ProofMalformed(format!(
            "proof purpose is {}, expected assertionMethod",
            proof.proof_purpose
        ))
        .into());
    }
    let controller = proof
        .verification_method
        .split_once('#')
        .map_or(proof.verification_method.as_str(), |(base, _)| base);
    let issuer = issuer_id(credential).unwrap_or("none");
    if issuer != controller {
        return Err(StatusListError::IssuerMismatch(format!(
            "issuer {issuer}, verification method {}",
            proof.verification_method
        )));
    }
    let created = proof
        .created
        .as_deref()
        .and_then(parse_xml_datetime)
        .ok_or_else(|| StatusListError::UntrustedKey("the proof has no valid created".into()))?;
    if created > now {
        return Err(StatusListError::NotYetValid(format!(
            "proof created {created}, now is {now}"
        )));
    }
    let did = did_from_ed25519(&proof.public_key);
    match trust.key_status_at(&did, created) {
        KeyTrust::Trusted { node_region } => Ok((did, node_region)),
        other => Err(StatusListError::UntrustedKey(format!(
            "{did} at {created}: {}",
            other.code().unwrap_or("trust.untrusted")
        ))),
    }
}

/// The signer's node must be the certificate's node and the one `issuer.node` names.
fn check_node(
    signer_node: &RegionCode,
    issuer_node: &RegionCode,
    declared: Option<&str>,
) -> Result<(), StatusListError> {
    if signer_node != issuer_node {
        return Err(StatusListError::NodeMismatch(format!(
            "signed by a key of node {signer_node}, the certificate's node is {issuer_node}"
        )));
    }
    let expected = node_urn(signer_node);
    if declared != Some(expected.as_str()) {
        return Err(StatusListError::NodeMismatch(format!(
            "issuer.node is {}, the signing key's node is {expected}",
            declared.unwrap_or("missing")
        )));
    }
    Ok(())
}

/// `validFrom <= now <= validUntil`; returns `validUntil`.
fn check_period(
    credential: &Value,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StatusListError> {
    let from = date_time_field(credential, "validFrom")?;
    let until = date_time_field(credential, "validUntil")?;
    if let Some(from) = from
        && now < from
    {
        return Err(StatusListError::NotYetValid(format!(
            "valid from {from}, now is {now}"
        )));
    }
    if let Some(until) = until
        && now > until
    {
        return Err(StatusListError::Expired(format!(
            "valid until {until}, now is {now}"
        )));
    }
    Ok(until)
}

fn date_time_field(
    credential: &Value,
    field: &str,
) -> Result<Option<DateTime<Utc>>, StatusListError> {
    let Some(value) = credential.get(field) else {
        return Ok(None);
    };
    value
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| Some(t.with_timezone(&Utc)))
        .ok_or_else(|| {
            StatusListError::CredentialMalformed(format!(
                "{field} is not a date-time with a time zone: {value}"
            ))
        })
}

/// `YYYY-MM-DDThh:mm:ssZ`.
fn utc_seconds(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4648 section 10 vectors (base64url and base64 agree on them), without padding.
    #[test]
    fn base64url_rfc4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64url_encode(plain.as_bytes()), encoded);
            assert_eq!(base64url_decode(encoded).unwrap(), plain.as_bytes());
        }
    }

    #[test]
    fn base64url_uses_the_url_alphabet() {
        assert_eq!(base64url_encode(&[0xfb, 0xff, 0xbf]), "-_-_");
        assert_eq!(base64url_decode("-_-_").unwrap(), [0xfb, 0xff, 0xbf]);
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(base64url_decode(&base64url_encode(&all)).unwrap(), all);
    }

    #[test]
    fn base64url_is_strict() {
        for bad in [
            "Zg==", "Zm9v+", "Zm9v/A", "Z", "Zm9vY", "Zh", "Zm9", "Zm 9v", "Zm9v\n",
        ] {
            assert!(base64url_decode(bad).is_err(), "{bad:?}");
        }
        // "Zm8" is canonical for "fo"; "Zm9" has a spare bit set.
        assert!(base64url_decode("Zm8").is_ok());
    }

    #[test]
    fn index_zero_is_the_most_significant_bit_of_byte_zero() {
        let mut list = StatusList::new();
        list.set(0, true).unwrap();
        list.set(15, true).unwrap();
        assert_eq!(list.as_bytes()[..2], [0x80, 0x01]);
    }
}
