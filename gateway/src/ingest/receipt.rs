//! The answer to a push: one entry per record, in batch order, saying what happened to it.
//! Stored with the batch, so asking again (same client batch id) gives the same answer.

use domain::FieldError;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Receipt {
    pub batch_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_batch_id: Option<String>,
    pub adapter: String,
    pub principal: String,
    pub received_at: String,
    /// `?dry_run=true`: everything was checked and computed as for a real push, then rolled
    /// back; nothing was stored, and identifiers shown may differ from a later real push.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    pub summary: Summary,
    pub records: Vec<RecordOutcome>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Summary {
    pub records: usize,
    pub accepted: usize,
    pub duplicate: usize,
    pub version_conflict: usize,
    pub rejected: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecordOutcome {
    pub position: usize,
    /// Where the record is in the source (`records[3]`, `BJXX #4 (line 17)`).
    pub location: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case_no: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Stored. `current` is false when a higher version of the case was already held, so this
    /// one went to history.
    Accepted {
        record_id: Uuid,
        current: bool,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        warnings: Vec<FieldError>,
        /// One entry per certificate in the record's result, in order.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        certificates: Vec<IssuedCertificate>,
    },
    /// The same source, case number, version and canonical content is already stored.
    Duplicate { record_id: Uuid },
    /// Same source, case number and version as a stored record, different content: refused and
    /// quarantined; the source must send a new version.
    VersionConflict {
        existing_record_id: Uuid,
        /// Absent in a dry run (nothing is quarantined).
        #[serde(skip_serializing_if = "Option::is_none")]
        quarantine_id: Option<Uuid>,
        errors: Vec<FieldError>,
    },
    /// Failed validation: quarantined with its raw bytes for replay.
    Rejected {
        /// Absent in a dry run (nothing is quarantined).
        #[serde(skip_serializing_if = "Option::is_none")]
        quarantine_id: Option<Uuid>,
        errors: Vec<FieldError>,
    },
}

/// What happened to one certificate of an accepted record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IssuedCertificate {
    /// Index in the record's `result.certificates`.
    pub position: usize,
    /// GB/T 36904 identifier (the credential's id is `urn:ecert:` + this).
    pub identifier: String,
    /// The certificate's current credential version after this batch.
    pub version: i32,
    /// Set when this batch signed a new credential version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<Uuid>,
    pub outcome: CertificateOutcome,
    /// The status (`suspended`, `revoked`, `valid`) the case update set on the certificate in
    /// this batch, for the metrics; not part of the receipt.
    #[serde(skip)]
    pub status_changed: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CertificateOutcome {
    /// A new credential (version) was signed and stored.
    Issued,
    /// The stored current version already has this content: nothing new was signed.
    Unchanged,
    /// The record went to history and a later case version holds a different version of the
    /// certificate: nothing was signed.
    Superseded,
}

impl Summary {
    pub fn count(records: &[RecordOutcome]) -> Summary {
        let mut s = Summary {
            records: records.len(),
            ..Summary::default()
        };
        for r in records {
            match r.outcome {
                Outcome::Accepted { .. } => s.accepted += 1,
                Outcome::Duplicate { .. } => s.duplicate += 1,
                Outcome::VersionConflict { .. } => s.version_conflict += 1,
                Outcome::Rejected { .. } => s.rejected += 1,
            }
        }
        s
    }
}
