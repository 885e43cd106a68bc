//! The one error shape for "this field of this record is wrong", shared by adapters, the
//! normalizer and the HTTP receipts, so a user always learns which field and why.

use serde::{Deserialize, Serialize};

/// A problem with one field of one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// JSON Pointer (RFC 6901) into the canonical record, e.g. `/applicant/id_number`.
    /// Empty for the record as a whole.
    pub path: String,
    /// Stable, documented code (docs/errors.md), e.g. `id_number.check_digit`.
    pub code: String,
    /// Human-readable reason.
    pub message: String,
}

impl FieldError {
    pub fn new(
        path: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            path: path.into(),
            code: code.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at '{}': {}", self.code, self.path, self.message)
    }
}

/// Escape one JSON Pointer reference token (RFC 6901 section 4).
pub fn pointer_token(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}
