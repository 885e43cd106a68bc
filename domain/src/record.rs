//! The canonical case record as a Rust type. It mirrors `schemas/case-record.v1.schema.json`
//! field for field; national codes are newtypes, so a value of this type cannot hold an invalid
//! region, credit code or item code. It is built only by [`crate::normalize`].

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::codes::credit::CreditCode;
use crate::codes::item::{BasicCode, ImplCode, ItemType};
use crate::codes::region::RegionCode;

pub const SCHEMA_TAG: &str = "case-record/v1";

pub type Timestamp = DateTime<FixedOffset>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseRecord {
    pub schema: String,
    pub source: Source,
    pub case_no: String,
    pub version: i64,
    pub service_item: ServiceItem,
    pub region_code: RegionCode,
    pub tier: u8,
    pub handling_org: Org,
    pub applicant: Applicant,
    pub timestamps: Timestamps,
    #[serde(with = "crate::rfc3339")]
    pub ingested_at: Timestamp,
    pub time_limits: TimeLimits,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub process_steps: Vec<ProcessStep>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holds: Vec<Hold>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<CaseResult>,
    pub disclosure: Disclosure,
}

impl CaseRecord {
    /// Certificates issued by this version of the case (zero or more).
    pub fn certificates(&self) -> &[Certificate] {
        self.result
            .as_ref()
            .map(|r| r.certificates.as_slice())
            .unwrap_or(&[])
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub department: String,
    pub system: String,
    pub node_region: RegionCode,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceItem {
    pub basic_code: BasicCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impl_code: Option<ImplCode>,
    pub name: String,
    pub item_type: ItemType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Org {
    pub name: String,
    /// Check digit enforced by the normalizer (legacy prefixes only warn), so not re-checked.
    #[serde(deserialize_with = "crate::codes::credit::deserialize_ingested")]
    pub credit_code: CreditCode,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Applicant {
    pub kind: ApplicantKind,
    pub name: String,
    /// Holder code type (GB/T 36903): `111` identity number, `001` credit code, ...
    pub id_type: String,
    /// Checked against `id_type` by the normalizer (check digits for 111 and 001).
    pub id_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicantKind {
    Person,
    Organization,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timestamps {
    #[serde(with = "crate::rfc3339")]
    pub occurred: Timestamp,
    #[serde(with = "crate::rfc3339")]
    pub received: Timestamp,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::rfc3339::option"
    )]
    pub accepted: Option<Timestamp>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::rfc3339::option"
    )]
    pub decided: Option<Timestamp>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::rfc3339::option"
    )]
    pub completed: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeLimits {
    pub legal_days: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promised_days: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Received,
    Accepted,
    InProgress,
    OnHold,
    Completed,
    Rejected,
    Withdrawn,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Received => "received",
            Status::Accepted => "accepted",
            Status::InProgress => "in_progress",
            Status::OnHold => "on_hold",
            Status::Completed => "completed",
            Status::Rejected => "rejected",
            Status::Withdrawn => "withdrawn",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessStep {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opinion: Option<String>,
    #[serde(with = "crate::rfc3339")]
    pub time: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hold {
    pub reason: String,
    #[serde(with = "crate::rfc3339")]
    pub start: Timestamp,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::rfc3339::option"
    )]
    pub end: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    pub decision: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<Certificate>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Certificate {
    pub type_code: String,
    pub type_name: String,
    pub number: String,
    pub holder: Holder,
    pub issuing_authority: Org,
    pub issue_date: NaiveDate,
    pub valid_from: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub surface: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    /// The status the issuing department states in this case version (absent: unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<CertificateStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
}

/// A certificate's status: suspension (暂停, 挂失) is reversible, revocation (吊销) final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateStatus {
    Valid,
    Suspended,
    Revoked,
}

impl CertificateStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateStatus::Valid => "valid",
            CertificateStatus::Suspended => "suspended",
            CertificateStatus::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<CertificateStatus> {
        match s {
            "valid" => Some(CertificateStatus::Valid),
            "suspended" => Some(CertificateStatus::Suspended),
            "revoked" => Some(CertificateStatus::Revoked),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holder {
    pub name: String,
    pub code: String,
    pub code_type: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Disclosure {
    pub public: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_not_public: Option<String>,
}
