//! The one error type for every national-code parser in [`crate::codes`].
//!
//! Each variant has a stable, dotted snake-case code ([`CodeError::code`]) that callers put in
//! API responses, logs and metrics, and a human message (`Display`) that says *why* the input
//! was rejected ("check digit is 'W' but 'X' was expected"). The codes are part of the
//! gateway's external contract: never rename one, only add new ones.
//!
//! Messages never echo a whole resident identity number (personal data); they name the
//! position and the offending character instead.

use thiserror::Error;

/// Why a national code failed to parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CodeError {
    /// `region_code.format`: not exactly 12 ASCII digits.
    #[error("region code {detail}")]
    RegionCodeFormat { detail: String },

    /// `credit_code.format`: wrong length, a character outside the GB 32100 alphabet
    /// (lowercase and I, O, S, V, Z included), or a non-digit in the region part.
    #[error("unified social credit code {detail}")]
    CreditCodeFormat { detail: String },

    /// `credit_code.check_digit`: well formed, but the 18th character does not match.
    #[error("unified social credit code check digit is '{found}' but '{expected}' was expected")]
    CreditCodeCheckDigit { found: char, expected: char },

    /// `id_number.format`: not 17 digits followed by a digit or uppercase `X`.
    #[error("resident identity number {detail}")]
    IdNumberFormat { detail: String },

    /// `id_number.birth_date`: characters 7-14 are not a calendar date in or after 1900.
    #[error("resident identity number birth date (characters 7-14) {detail}")]
    IdNumberBirthDate { detail: String },

    /// `id_number.check_digit`: well formed, but the 18th character does not match.
    #[error("resident identity number check digit is '{found}' but '{expected}' was expected")]
    IdNumberCheckDigit { found: char, expected: char },

    /// `item_type.unknown`: not one of the item type codes or names.
    #[error("unknown service item type {value:?} (expected 01-10 or 20, or its English name)")]
    ItemTypeUnknown { value: String },

    /// `basic_code.format`: not exactly 12 ASCII digits.
    #[error("item basic code {detail}")]
    BasicCodeFormat { detail: String },

    /// `basic_code.item_type`: characters 3-4 are not a known item type code.
    #[error("item basic code has item type digits {digits:?}, which is not a known item type")]
    BasicCodeItemType { digits: String },

    /// `impl_code.format`: not 31 to 36 uppercase ASCII letters and digits.
    #[error("item implementation code {detail}")]
    ImplCodeFormat { detail: String },

    /// `impl_code.credit_code`: characters 1-18 are not a valid unified social credit code.
    #[error("item implementation code: implementing body (characters 1-18) is invalid: {source}")]
    ImplCodeCreditCode { source: Box<CodeError> },

    /// `impl_code.tier`: character 19 is not a tier digit 1-7.
    #[error("item implementation code: tier (character 19) is '{found}' but must be 1-7")]
    ImplCodeTier { found: char },

    /// `impl_code.basic_code`: characters 20-31 are not a valid basic code.
    #[error("item implementation code: basic code (characters 20-31) is invalid: {source}")]
    ImplCodeBasicCode { source: Box<CodeError> },

    /// `case_kind.unknown`: not 1, 2 or 9, nor immediate, promised or other.
    #[error("unknown case kind {value:?} (expected 1, 2 or 9, or immediate, promised or other)")]
    CaseKindUnknown { value: String },

    /// `cert_id.format`: wrong characters, wrong number of dot-separated segments, or a bad
    /// serial, version or check segment.
    #[error("electronic certificate identifier {detail}")]
    CertIdFormat { detail: String },

    /// `cert_id.root`: does not start with the electronic-certificate root `1.2.156.3005.2`.
    #[error("electronic certificate identifier must start with 1.2.156.3005.2, not {found:?}")]
    CertIdRoot { found: String },

    /// `cert_id.type_code`: the type code segment is not a valid credit code + 3 digits.
    #[error("electronic certificate identifier type code {detail}")]
    CertIdTypeCode { detail: String },

    /// `cert_id.authority`: the issuing authority segment is not a valid credit code.
    #[error("electronic certificate identifier issuing authority code is invalid: {source}")]
    CertIdAuthority { source: Box<CodeError> },

    /// `cert_id.check_digit`: well formed, but the last segment does not match.
    #[error(
        "electronic certificate identifier check character is '{found}' but '{expected}' was expected"
    )]
    CertIdCheckDigit { found: char, expected: char },
}

impl CodeError {
    /// The stable machine-readable code, e.g. `"credit_code.check_digit"`.
    pub fn code(&self) -> &'static str {
        match self {
            CodeError::RegionCodeFormat { .. } => "region_code.format",
            CodeError::CreditCodeFormat { .. } => "credit_code.format",
            CodeError::CreditCodeCheckDigit { .. } => "credit_code.check_digit",
            CodeError::IdNumberFormat { .. } => "id_number.format",
            CodeError::IdNumberBirthDate { .. } => "id_number.birth_date",
            CodeError::IdNumberCheckDigit { .. } => "id_number.check_digit",
            CodeError::ItemTypeUnknown { .. } => "item_type.unknown",
            CodeError::BasicCodeFormat { .. } => "basic_code.format",
            CodeError::BasicCodeItemType { .. } => "basic_code.item_type",
            CodeError::ImplCodeFormat { .. } => "impl_code.format",
            CodeError::ImplCodeCreditCode { .. } => "impl_code.credit_code",
            CodeError::ImplCodeTier { .. } => "impl_code.tier",
            CodeError::ImplCodeBasicCode { .. } => "impl_code.basic_code",
            CodeError::CaseKindUnknown { .. } => "case_kind.unknown",
            CodeError::CertIdFormat { .. } => "cert_id.format",
            CodeError::CertIdRoot { .. } => "cert_id.root",
            CodeError::CertIdTypeCode { .. } => "cert_id.type_code",
            CodeError::CertIdAuthority { .. } => "cert_id.authority",
            CodeError::CertIdCheckDigit { .. } => "cert_id.check_digit",
        }
    }
}

/// Describes why `s` is not exactly `len` ASCII digits, or `None` if it is.
///
/// Shared by the all-digit codes (region code, basic code) so their messages read alike.
pub(crate) fn digits_problem(s: &str, len: usize) -> Option<String> {
    if let Some((pos, c)) = s.chars().enumerate().find(|(_, c)| !c.is_ascii_digit()) {
        return Some(format!(
            "must be {len} ASCII digits, but character {} is {c:?}",
            pos + 1
        ));
    }
    if s.len() != len {
        return Some(format!("must be {len} ASCII digits, got {}", s.len()));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_dotted() {
        let samples = [
            (
                CodeError::RegionCodeFormat { detail: "x".into() },
                "region_code.format",
            ),
            (
                CodeError::CreditCodeCheckDigit {
                    found: 'W',
                    expected: 'X',
                },
                "credit_code.check_digit",
            ),
            (
                CodeError::ImplCodeCreditCode {
                    source: Box::new(CodeError::CreditCodeFormat { detail: "x".into() }),
                },
                "impl_code.credit_code",
            ),
            (
                CodeError::CertIdRoot {
                    found: "1.2".into(),
                },
                "cert_id.root",
            ),
        ];
        for (err, code) in samples {
            assert_eq!(err.code(), code);
        }
    }

    #[test]
    fn check_digit_message_says_why() {
        let err = CodeError::CreditCodeCheckDigit {
            found: 'W',
            expected: 'X',
        };
        assert_eq!(
            err.to_string(),
            "unified social credit code check digit is 'W' but 'X' was expected"
        );
    }

    #[test]
    fn nested_errors_keep_the_inner_message_and_source() {
        let inner = CodeError::CreditCodeCheckDigit {
            found: 'A',
            expected: 'W',
        };
        let err = CodeError::ImplCodeCreditCode {
            source: Box::new(inner.clone()),
        };
        assert!(err.to_string().contains("'A' but 'W' was expected"));
        let source = std::error::Error::source(&err).expect("has a source");
        assert_eq!(source.to_string(), inner.to_string());
    }

    #[test]
    fn digits_problem_reports_position_or_length() {
        assert_eq!(digits_problem("123", 3), None);
        assert_eq!(
            digits_problem("12a", 3).as_deref(),
            Some("must be 3 ASCII digits, but character 3 is 'a'")
        );
        assert_eq!(
            digits_problem("1234", 3).as_deref(),
            Some("must be 3 ASCII digits, got 4")
        );
        assert!(digits_problem("", 3).is_some());
        assert!(
            digits_problem("１２３", 3).is_some(),
            "full-width digits are not ASCII"
        );
    }
}
