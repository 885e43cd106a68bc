//! The electronic certificate (电子证照) as a W3C Verifiable Credential 2.0.
//!
//! This module fixes the credential's whole shape (`schemas/certificate.v1.schema.json`).
//! Later work (status lists, transparency log, QR codes, federation) fills in services
//! around it but never changes it, so a credential issued today verifies unchanged later.
//!
//! ```text
//! {
//!   "@context": [CONTEXT_V2, CONTEXT_ECERT],
//!   "id": "urn:ecert:{GB/T 36904 identifier}",
//!   "type": ["VerifiableCredential", "ElectronicCertificate"],
//!   "issuer": {"id": "did:key:z6Mk…", "name": "…", "node": "urn:gateway:node:{region}"},
//!   "validFrom": "YYYY-MM-DDT00:00:00+08:00", "validUntil": "YYYY-MM-DDT23:59:59+08:00",
//!   "credentialSubject": { GB/T 36903 metadata + surface },
//!   "credentialStatus": [revocation entry, suspension entry],   (Bitstring Status List v1.0)
//!   "proof": { DataIntegrityProof, eddsa-jcs-2022, assertionMethod, did:key:…#… }
//! }
//! ```
//!
//! - `issuer.id` is the `did:key` of the node key that signs: the issuer is the DID that
//!   controls the verification method, so a verifier needs no DID resolution at all. Whether
//!   that key speaks for a gateway node is the trust bundle's business ([`crate::trust`]).
//! - Certificate dates are calendar days in China Standard Time: `validFrom` is the first
//!   second of the first day, `validUntil` the last second of the last day, both `+08:00`.
//! - `credentialStatus` holds a revocation and a suspension `BitstringStatusListEntry`; the
//!   lists live under the network-wide base URL the trust bundle names, at
//!   `{base}/v1/status/{node region}/{purpose}`, so any node can answer for any other.
//! - Identifiers, codes and indexes are JSON strings: JCS hashes numbers as doubles.
//!
//! The project context [`CONTEXT_ECERT`] is a fixed URL that is never fetched: its document
//! ships in this crate ([`CONTEXT_ECERT_DOCUMENT`], `vc/contexts/ecert-v1.jsonld`). It
//! defines `ElectronicCertificate` and every subject term under [`VOCAB`]; `surface` is
//! `@json` because its keys are the certificate's own printed labels. The terms are
//! `@protected` except `holder`, which the VC v2 context redefines inside a
//! `VerifiablePresentation`, where a protected definition would make JSON-LD processing fail.

use chrono::{DateTime, NaiveDate, Utc};
use domain::codes::{BasicCode, CertIdentifier, CodeError, RegionCode};
use domain::record::Certificate;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::{ProofOptions, SigningKey, VcError, add_proof_to};

/// The W3C Verifiable Credentials 2.0 base context.
pub const CONTEXT_V2: &str = "https://www.w3.org/ns/credentials/v2";
/// The project's context for electronic certificates; its document is [`CONTEXT_ECERT_DOCUMENT`].
pub const CONTEXT_ECERT: &str = "https://schemas.exchange-gateway.example/contexts/ecert-v1.jsonld";
/// The JSON-LD document behind [`CONTEXT_ECERT`], shipped so that nothing is ever fetched.
pub const CONTEXT_ECERT_DOCUMENT: &str = include_str!("../contexts/ecert-v1.jsonld");
/// The vocabulary IRI under which [`CONTEXT_ECERT`] defines its terms.
pub const VOCAB: &str = "https://schemas.exchange-gateway.example/vocab#";
/// The credential type beside `VerifiableCredential`.
pub const CREDENTIAL_TYPE: &str = "ElectronicCertificate";
/// Prefix of a credential `id`; the GB/T 36904 identifier follows.
pub const ID_PREFIX: &str = "urn:ecert:";
/// Prefix of `issuer.node`; the node's 12-digit region follows.
pub const NODE_URN_PREFIX: &str = "urn:gateway:node:";
/// The `credentialStatus` entry type of W3C Bitstring Status List v1.0.
pub const STATUS_ENTRY_TYPE: &str = "BitstringStatusListEntry";
/// Minimum digits of the sequence part of a minted serial (see [`mint_serial`]).
pub const SERIAL_SEQUENCE_DIGITS: usize = 8;

/// The bundled document of a context URL this crate knows, for a JSON-LD document loader
/// that must never go to the network. Only [`CONTEXT_ECERT`] is bundled.
pub fn bundled_context(url: &str) -> Option<&'static str> {
    (url == CONTEXT_ECERT).then_some(CONTEXT_ECERT_DOCUMENT)
}

/// The `statusPurpose` of a `credentialStatus` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusPurpose {
    /// Permanent: a revoked certificate never becomes valid again.
    Revocation,
    /// Temporary: a suspended certificate may be reinstated.
    Suspension,
}

impl StatusPurpose {
    /// Both purposes, in the order of the credential's `credentialStatus` array.
    pub const ALL: [StatusPurpose; 2] = [StatusPurpose::Revocation, StatusPurpose::Suspension];

    /// `revocation` or `suspension`, as in the credential and the list URL.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusPurpose::Revocation => "revocation",
            StatusPurpose::Suspension => "suspension",
        }
    }

    /// The purpose named `s`, if it is one of the two the gateway uses.
    pub fn parse(s: &str) -> Option<StatusPurpose> {
        StatusPurpose::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// Everything needed to build the credential of one certificate of an accepted record.
#[derive(Debug, Clone, PartialEq)]
pub struct IssueInput {
    /// The certificate as it appears in the record's result.
    pub certificate: Certificate,
    /// Its GB/T 36904 identifier: the source's when it gave a valid one whose type code and
    /// issuing authority match the certificate ([`identifier_matches`]), else minted by the
    /// node ([`mint_identifier`]).
    pub identifier: CertIdentifier,
    /// The stored case record that issued it.
    pub record_id: Uuid,
    /// The service item's basic code (基本编码).
    pub related_item_code: BasicCode,
    /// The case's region (`region_code` of the record).
    pub jurisdiction: RegionCode,
    /// The region of the issuing gateway node.
    pub node_region: RegionCode,
    /// The issuing node's name, e.g. `庆阳市政务数据交换节点`.
    pub issuer_name: String,
    /// The network-wide base URL of status lists, from the trust bundle.
    pub status_base_url: String,
    /// Index allocated in the node's revocation list.
    pub revocation_index: u64,
    /// Index allocated in the node's suspension list.
    pub suspension_index: u64,
}

/// Builds the unsigned credential. `issuer.id` is left out: [`sign`] sets it to the signing
/// key's DID, so the two can never disagree.
pub fn build_credential(input: &IssueInput) -> Value {
    let cert = &input.certificate;
    let mut credential = Map::new();
    credential.insert("@context".into(), json!([CONTEXT_V2, CONTEXT_ECERT]));
    credential.insert("id".into(), credential_id(&input.identifier).into());
    credential.insert(
        "type".into(),
        json!(["VerifiableCredential", CREDENTIAL_TYPE]),
    );
    credential.insert(
        "issuer".into(),
        json!({"name": input.issuer_name, "node": node_urn(&input.node_region)}),
    );
    credential.insert("validFrom".into(), start_of_day(cert.valid_from).into());
    if let Some(until) = cert.valid_until {
        credential.insert("validUntil".into(), end_of_day(until).into());
    }
    credential.insert(
        "credentialSubject".into(),
        json!({
            "certificateName": cert.type_name,
            "certificateNumber": cert.number,
            "certificateTypeCode": cert.type_code,
            "holder": {
                "name": cert.holder.name,
                "code": cert.holder.code,
                "codeType": cert.holder.code_type,
            },
            "issuingAuthority": {
                "name": cert.issuing_authority.name,
                "creditCode": cert.issuing_authority.credit_code.as_str(),
            },
            "issueDate": cert.issue_date.format("%Y-%m-%d").to_string(),
            "jurisdiction": input.jurisdiction.as_str(),
            "relatedItemCode": input.related_item_code.as_str(),
            "caseRecordId": input.record_id.to_string(),
            "surface": cert.surface,
        }),
    );
    let status = [
        (StatusPurpose::Revocation, input.revocation_index),
        (StatusPurpose::Suspension, input.suspension_index),
    ]
    .map(|(purpose, index)| {
        let list = status_list_url(&input.status_base_url, &input.node_region, purpose);
        json!({
            "id": format!("{list}#{index}"),
            "type": STATUS_ENTRY_TYPE,
            "statusPurpose": purpose.as_str(),
            "statusListIndex": index.to_string(),
            "statusListCredential": list,
        })
    });
    credential.insert("credentialStatus".into(), json!(status));
    Value::Object(credential)
}

/// Signs a credential from [`build_credential`] with eddsa-jcs-2022: sets `issuer.id` to the
/// key's `did:key` (refusing a different one already there) and adds an `assertionMethod`
/// proof whose verification method is the key's `did:key:z6Mk…#z6Mk…`, created at `created`
/// (whole seconds, UTC).
pub fn sign(
    credential: &Value,
    key: &SigningKey,
    created: DateTime<Utc>,
) -> Result<Value, VcError> {
    sign_owned(credential.clone(), key, created)
}

/// [`sign`] on a credential the caller gives up (no copy of it is made).
fn sign_owned(
    credential: Value,
    key: &SigningKey,
    created: DateTime<Utc>,
) -> Result<Value, VcError> {
    let Value::Object(mut credential) = credential else {
        return Err(VcError::NotAnObject);
    };
    let Some(Value::Object(issuer)) = credential.get_mut("issuer") else {
        return Err(VcError::CredentialMalformed(
            "issuer must be an object".into(),
        ));
    };
    let did = key.did();
    match issuer.get("id") {
        None => {}
        Some(Value::String(id)) if *id == did => {}
        Some(other) => {
            return Err(VcError::IssuerMismatch(format!(
                "issuer.id is {other}, the signing key is {did}"
            )));
        }
    }
    // `id` first, then the rest in order: the same bytes as if build_credential had it.
    let mut with_id = Map::new();
    with_id.insert("id".into(), did.into());
    with_id.extend(
        std::mem::take(issuer)
            .into_iter()
            .filter(|(k, _)| k != "id"),
    );
    *issuer = with_id;

    let opts = ProofOptions::new(key.verification_method()).created_at(created);
    add_proof_to(Value::Object(credential), &opts, key)
}

/// [`build_credential`] then [`sign`].
pub fn issue(
    input: &IssueInput,
    key: &SigningKey,
    created: DateTime<Utc>,
) -> Result<Value, VcError> {
    sign_owned(build_credential(input), key, created)
}

/// `urn:ecert:{identifier}`, the credential `id`.
pub fn credential_id(identifier: &CertIdentifier) -> String {
    format!("{ID_PREFIX}{identifier}")
}

/// `urn:gateway:node:{region}`, the `issuer.node` of credentials a node issues.
pub fn node_urn(node_region: &RegionCode) -> String {
    format!("{NODE_URN_PREFIX}{node_region}")
}

/// `{base}/v1/status/{node region}/{purpose}`: the status list credential of a node.
pub fn status_list_url(base: &str, node_region: &RegionCode, purpose: StatusPurpose) -> String {
    format!(
        "{}/v1/status/{node_region}/{}",
        base.trim_end_matches('/'),
        purpose.as_str()
    )
}

/// The serial of an identifier minted by a node: its 12-digit region followed by its own
/// sequence number, zero-padded to at least [`SERIAL_SEQUENCE_DIGITS`] digits.
///
/// Two nodes never mint the same serial (their first 12 characters differ), and one node
/// never mints the same serial twice as long as its sequence only grows. The longest serial
/// (`u64::MAX`, 20 digits) is 32 characters, the GB/T 36904 maximum.
///
/// The gateway mints an identifier only when the source supplied none (or one that does not
/// belong to the certificate), and only for a certificate it has not seen: a certificate is
/// keyed by (issuing authority, type code, certificate number), so a re-push or a new case
/// version finds the stored identifier instead. It then calls
/// `CertIdentifier::mint(type_code, issuing_authority, &mint_serial(node, next_sequence), 1)`,
/// which is what [`mint_identifier`] does; a changed certificate is re-issued as a new
/// credential version under the same identifier, never with a new one.
pub fn mint_serial(node_region: &RegionCode, sequence: u64) -> String {
    format!(
        "{node_region}{sequence:0width$}",
        width = SERIAL_SEQUENCE_DIGITS
    )
}

/// Mints the identifier of `certificate` with serial [`mint_serial`]`(node_region, sequence)`
/// and version `001`. Fails only if the certificate's type code is malformed.
pub fn mint_identifier(
    certificate: &Certificate,
    node_region: &RegionCode,
    sequence: u64,
) -> Result<CertIdentifier, CodeError> {
    CertIdentifier::mint(
        &certificate.type_code,
        &certificate.issuing_authority.credit_code,
        &mint_serial(node_region, sequence),
        1,
    )
}

/// True if `identifier` names `certificate`'s type and issuing authority, so a
/// source-supplied identifier can be used for it.
pub fn identifier_matches(certificate: &Certificate, identifier: &CertIdentifier) -> bool {
    identifier.type_code() == certificate.type_code
        && identifier.authority() == &certificate.issuing_authority.credit_code
}

fn start_of_day(day: NaiveDate) -> String {
    format!("{}T00:00:00+08:00", day.format("%Y-%m-%d"))
}

fn end_of_day(day: NaiveDate) -> String {
    format!("{}T23:59:59+08:00", day.format("%Y-%m-%d"))
}
