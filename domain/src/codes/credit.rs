//! Unified social credit codes (统一社会信用代码, GB 32100-2015).
//!
//! Every legal person and organisation — and every government body that implements a service
//! item or issues a certificate — is identified by one. [`CreditCode`] guarantees the 18
//! characters are from the standard's alphabet, the region part is 6 digits and the check
//! character matches, so later code can rely on all three.
//!
//! Some genuine pilot-era codes fail the check. [`CreditCode::parse_lenient`] accepts those
//! for configured legacy prefixes and returns a warning instead of an error.

use super::CodeError;

/// The GB 32100 code alphabet: digits and uppercase letters without I, O, S, V, Z.
/// A character's value is its index (0-30).
const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// Weights of the first 17 characters (3^i mod 31).
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// An 18-character unified social credit code, e.g. `11100000000013338W`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct CreditCode(String);

impl CreditCode {
    /// Parses a code: 18 characters of the alphabet (uppercase only), digits in positions 3-8,
    /// and a matching check character.
    ///
    /// Errors: `credit_code.format`, `credit_code.check_digit`.
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        let expected = check_format(s)?;
        let found = s.as_bytes()[17] as char;
        if found != expected {
            return Err(CodeError::CreditCodeCheckDigit { found, expected });
        }
        Ok(CreditCode(s.to_owned()))
    }

    /// Like [`parse`](Self::parse), but a code whose only fault is its check character is
    /// accepted if it starts with one of `legacy_prefixes`; the second value is then a warning
    /// to log or show. Empty prefixes are ignored (they would accept every bad check digit).
    ///
    /// Note: a code accepted this way will fail [`parse`](Self::parse) (and so
    /// `Deserialize`) if it is read back.
    pub fn parse_lenient<S: AsRef<str>>(
        s: &str,
        legacy_prefixes: &[S],
    ) -> Result<(CreditCode, Option<String>), CodeError> {
        match CreditCode::parse(s) {
            Ok(code) => Ok((code, None)),
            Err(err @ CodeError::CreditCodeCheckDigit { .. }) => {
                let prefix = legacy_prefixes
                    .iter()
                    .map(AsRef::as_ref)
                    .find(|p| !p.is_empty() && s.starts_with(p));
                match prefix {
                    Some(prefix) => {
                        let warning = format!(
                            "{err}; accepted because it starts with legacy prefix {prefix:?}"
                        );
                        Ok((CreditCode(s.to_owned()), Some(warning)))
                    }
                    None => Err(err),
                }
            }
            Err(err) => Err(err),
        }
    }

    /// A code read back from a record this gateway (or a tier below it) already accepted: the
    /// format is checked, the check character is not, because it was enforced at ingest under
    /// that node's legacy-prefix policy (a legacy code must survive storage and forwarding).
    pub fn parse_ingested(s: &str) -> Result<Self, CodeError> {
        check_format(s)?;
        Ok(CreditCode(s.to_owned()))
    }

    /// The 18 characters.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The registering authority's 6-digit administrative division code (characters 3-8).
    pub fn region_part(&self) -> &str {
        &self.0[2..8]
    }
}

string_code_impls!(CreditCode);

/// `deserialize_with` for credit codes inside stored records (see [`CreditCode::parse_ingested`]).
pub fn deserialize_ingested<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<CreditCode, D::Error> {
    let s = <String as serde::Deserialize>::deserialize(d)?;
    CreditCode::parse_ingested(&s).map_err(serde::de::Error::custom)
}

/// Checks everything but the check character and returns the expected check character.
fn check_format(s: &str) -> Result<char, CodeError> {
    let format = |detail: String| CodeError::CreditCodeFormat { detail };
    let mut sum = 0;
    let mut count = 0;
    for (pos, c) in s.chars().enumerate() {
        let Some(value) = value_of(c) else {
            return Err(format(format!(
                "character {} is {c:?}, which is not one of 0-9 and uppercase A-Y without I, O, S, V, Z",
                pos + 1
            )));
        };
        if (2..8).contains(&pos) && !c.is_ascii_digit() {
            return Err(format(format!(
                "character {} is {c:?}, but characters 3-8 (the region code) must be digits",
                pos + 1
            )));
        }
        if pos < 17 {
            sum += value * WEIGHTS[pos];
        }
        count += 1;
    }
    if count != 18 {
        return Err(format(format!("must be 18 characters, got {count}")));
    }
    Ok(ALPHABET[((31 - sum % 31) % 31) as usize] as char)
}

/// The value (0-30) of a character of the alphabet.
fn value_of(c: char) -> Option<u32> {
    ALPHABET
        .iter()
        .position(|&a| a as char == c)
        .map(|i| i as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Valid codes: the STANDARDS.md example, the issuing authority of the certificate
    /// example, and made-up bodies whose check characters were computed with python3.
    const VALID: [&str; 7] = [
        "11100000000013338W",
        "11430000006122244L",
        "91620105MA74AB12C4",
        "12620000438000136R",
        "91510100MADKP3LX4N",
        "52621124MJY000123X",
        "Y1610927000000000W",
    ];

    #[test]
    fn accepts_valid_codes() {
        for s in VALID {
            let code = CreditCode::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(code.as_str(), s);
            assert_eq!(code.to_string(), s);
            assert_eq!(s.parse::<CreditCode>().unwrap(), code);
        }
    }

    #[test]
    fn region_part() {
        let code = CreditCode::parse("91620105MA74AB12C4").unwrap();
        assert_eq!(code.region_part(), "620105");
        let code = CreditCode::parse("11100000000013338W").unwrap();
        assert_eq!(code.region_part(), "100000");
    }

    #[test]
    fn flipped_check_character_names_both() {
        let err = CreditCode::parse("11100000000013338X").unwrap_err();
        assert_eq!(err.code(), "credit_code.check_digit");
        assert_eq!(
            err.to_string(),
            "unified social credit code check digit is 'X' but 'W' was expected"
        );
        let err = CreditCode::parse("11100000000013339W").unwrap_err();
        assert_eq!(err.code(), "credit_code.check_digit");
    }

    #[test]
    fn every_single_substitution_is_rejected() {
        for valid in VALID {
            for pos in 0..18 {
                for &replacement in ALPHABET.iter() {
                    let mut bytes = valid.as_bytes().to_vec();
                    if bytes[pos] == replacement {
                        continue;
                    }
                    bytes[pos] = replacement;
                    let changed = String::from_utf8(bytes).unwrap();
                    assert!(
                        CreditCode::parse(&changed).is_err(),
                        "{changed} (from {valid}) was accepted"
                    );
                }
            }
        }
    }

    #[test]
    fn forbidden_letters_are_format_errors() {
        for bad in ['I', 'O', 'S', 'V', 'Z'] {
            for pos in [0, 1, 8, 16, 17] {
                let mut s: Vec<char> = "11100000000013338W".chars().collect();
                s[pos] = bad;
                let s: String = s.into_iter().collect();
                let err = CreditCode::parse(&s).unwrap_err();
                assert_eq!(err.code(), "credit_code.format", "{s}");
            }
        }
    }

    #[test]
    fn other_format_errors() {
        for s in [
            "",
            "11100000000013338",   // 17
            "11100000000013338W0", // 19
            "11100000000013338w",  // lowercase
            "91620105ma74ab12c4",  // lowercase
            " 11100000000013338W",
            "11100000000013338W ",
            "111000000000-3338W",
            "111A0000000013338W",  // letter in the region part
            "1110000000001333８W", // full-width digit
        ] {
            let err = CreditCode::parse(s).unwrap_err();
            assert_eq!(err.code(), "credit_code.format", "{s:?}");
        }
        let err = CreditCode::parse("1110000000001333").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unified social credit code must be 18 characters, got 16"
        );
    }

    #[test]
    fn lenient_accepts_configured_legacy_prefix_with_warning() {
        let prefixes = vec!["1110".to_string()];
        let (code, warning) = CreditCode::parse_lenient("11100000000013338X", &prefixes).unwrap();
        assert_eq!(code.as_str(), "11100000000013338X");
        let warning = warning.expect("a warning");
        assert!(warning.contains("'X' but 'W' was expected"), "{warning}");
        assert!(warning.contains("\"1110\""), "{warning}");
    }

    #[test]
    fn lenient_passes_valid_codes_without_warning() {
        let prefixes = vec!["1110".to_string()];
        let (code, warning) = CreditCode::parse_lenient("11100000000013338W", &prefixes).unwrap();
        assert_eq!(code.as_str(), "11100000000013338W");
        assert_eq!(warning, None);
    }

    #[test]
    fn lenient_still_rejects_other_prefixes_and_format_errors() {
        let prefixes = vec!["1143".to_string(), String::new()];
        let err = CreditCode::parse_lenient("11100000000013338X", &prefixes).unwrap_err();
        assert_eq!(err.code(), "credit_code.check_digit");
        // A format error is never excused, even with a matching prefix.
        let err = CreditCode::parse_lenient("1110000000001333IW", &["1110"]).unwrap_err();
        assert_eq!(err.code(), "credit_code.format");
        let no_prefixes: &[String] = &[];
        assert!(CreditCode::parse_lenient("11100000000013338X", no_prefixes).is_err());
    }

    #[test]
    fn serde_round_trip_and_rejection() {
        let code = CreditCode::parse("11100000000013338W").unwrap();
        let json = serde_json::to_string(&code).unwrap();
        assert_eq!(json, "\"11100000000013338W\"");
        assert_eq!(serde_json::from_str::<CreditCode>(&json).unwrap(), code);
        let err = serde_json::from_str::<CreditCode>("\"11100000000013338X\"").unwrap_err();
        assert!(
            err.to_string()
                .contains("check digit is 'X' but 'W' was expected"),
            "{err}"
        );
    }
}
