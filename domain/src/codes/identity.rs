//! Resident identity numbers (公民身份号码, GB 11643-1999).
//!
//! 18 characters: 6-digit region, 8-digit birth date (YYYYMMDD), 3-digit sequence (odd for
//! men), and a check character (`0`-`9` or uppercase `X`). [`IdNumber`] guarantees all of
//! that, so holders of certificates and applicants of cases are identified by a number that
//! at least could exist. The old 15-digit form is not accepted.
//!
//! This is personal data: `Debug` prints the [masked](IdNumber::masked) form and error
//! messages never repeat the number. `Display` and `Serialize` give the full number, because
//! exchanging it is the point; log with `masked()`.

use chrono::NaiveDate;

use super::CodeError;

/// Weights of the first 17 digits (2^(17-i) mod 11).
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// Check character by weighted sum mod 11.
const CHECK_CHARS: &[u8; 11] = b"10X98765432";

/// An 18-character resident identity number, e.g. `11010519491231002X`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdNumber(String);

impl IdNumber {
    /// Parses an 18-character number and checks its birth date and check character.
    ///
    /// Errors, in this order: `id_number.format`, `id_number.birth_date` (not a calendar date,
    /// or before 1900; no clock is read, so future dates are not rejected here),
    /// `id_number.check_digit`.
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        let format = |detail: String| CodeError::IdNumberFormat { detail };
        let chars: Vec<char> = s.chars().collect();
        if chars.len() != 18 {
            return Err(format(format!(
                "must be 18 characters, got {}",
                chars.len()
            )));
        }
        for (pos, &c) in chars.iter().enumerate() {
            let ok = c.is_ascii_digit() || (pos == 17 && c == 'X');
            if !ok {
                let expected = if pos == 17 {
                    "a digit or uppercase X"
                } else {
                    "a digit"
                };
                return Err(format(format!(
                    "character {} is {c:?} but must be {expected}",
                    pos + 1
                )));
            }
        }

        birth_date_of(s)?;

        let sum: u32 = s
            .bytes()
            .zip(WEIGHTS)
            .map(|(b, w)| u32::from(b - b'0') * w)
            .sum();
        let expected = CHECK_CHARS[(sum % 11) as usize] as char;
        let found = chars[17];
        if found != expected {
            return Err(CodeError::IdNumberCheckDigit { found, expected });
        }
        Ok(IdNumber(s.to_owned()))
    }

    /// The 18 characters.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 6-digit region code of the place of first registration (characters 1-6).
    pub fn region_part(&self) -> &str {
        &self.0[..6]
    }

    /// The date of birth (characters 7-14).
    pub fn birth_date(&self) -> NaiveDate {
        birth_date_of(&self.0).expect("checked by IdNumber::parse")
    }

    /// The 3-digit sequence number (characters 15-17).
    pub fn sequence(&self) -> &str {
        &self.0[14..17]
    }

    /// True if the sequence number is odd (GB 11643: odd for men, even for women).
    pub fn is_male(&self) -> bool {
        let last = self.0.as_bytes()[16] - b'0';
        last % 2 == 1
    }

    /// The number with characters 7-14 replaced by `*`: `110105********002X`.
    /// Keeps the region and the last four characters, hides the birth date.
    pub fn masked(&self) -> String {
        format!("{}{}{}", &self.0[..6], "*".repeat(8), &self.0[14..])
    }
}

string_code_impls!(IdNumber);

/// Prints the masked number, so that `{:?}` in logs and panics does not leak it.
impl std::fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("IdNumber").field(&self.masked()).finish()
    }
}

/// Reads the birth date of a number already known to be 17 ASCII digits + check character.
fn birth_date_of(s: &str) -> Result<NaiveDate, CodeError> {
    let field = &s[6..14];
    let number =
        |range: std::ops::Range<usize>| -> u32 { field[range].parse().expect("ASCII digits") };
    let (year, month, day) = (number(0..4), number(4..6), number(6..8));
    if year < 1900 {
        return Err(CodeError::IdNumberBirthDate {
            detail: format!("has year {year}, before 1900"),
        });
    }
    NaiveDate::from_ymd_opt(year as i32, month, day).ok_or_else(|| CodeError::IdNumberBirthDate {
        detail: "is not a valid calendar date".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The STANDARDS.md example, then made-up numbers whose check characters were computed
    /// with python3 (weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2, "10X98765432"[sum mod 11]).
    const VALID: [&str; 6] = [
        "11010519491231002X",
        "620105200002290013", // 29 February 2000 (a leap year), male
        "621124198511070027", // female
        "610927190001011231", // 1 January 1900, the earliest accepted year
        "511702202312319983",
        "621002194910010003",
    ];

    fn id(s: &str) -> IdNumber {
        IdNumber::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn accepts_valid_numbers() {
        for s in VALID {
            let n = id(s);
            assert_eq!(n.as_str(), s);
            assert_eq!(n.to_string(), s);
            assert_eq!(s.parse::<IdNumber>().unwrap(), n);
        }
    }

    #[test]
    fn accessors() {
        let n = id("11010519491231002X");
        assert_eq!(n.region_part(), "110105");
        assert_eq!(
            n.birth_date(),
            NaiveDate::from_ymd_opt(1949, 12, 31).unwrap()
        );
        assert_eq!(n.sequence(), "002");
        assert!(!n.is_male());

        let n = id("620105200002290013");
        assert_eq!(
            n.birth_date(),
            NaiveDate::from_ymd_opt(2000, 2, 29).unwrap()
        );
        assert!(n.is_male());
        assert!(!id("621124198511070027").is_male());
        assert!(id("610927190001011231").is_male());
    }

    #[test]
    fn masked_keeps_first_six_and_last_four() {
        assert_eq!(id("11010519491231002X").masked(), "110105********002X");
        assert_eq!(id("620105200002290013").masked(), "620105********0013");
    }

    #[test]
    fn debug_is_masked() {
        let debug = format!("{:?}", id("11010519491231002X"));
        assert_eq!(debug, "IdNumber(\"110105********002X\")");
    }

    #[test]
    fn check_digit_error_names_both() {
        let err = IdNumber::parse("110105194912310021").unwrap_err();
        assert_eq!(err.code(), "id_number.check_digit");
        assert_eq!(
            err.to_string(),
            "resident identity number check digit is '1' but 'X' was expected"
        );
    }

    #[test]
    fn every_single_substitution_is_rejected() {
        let replacements = b"0123456789X";
        for valid in VALID {
            for pos in 0..18 {
                for &replacement in replacements {
                    let mut bytes = valid.as_bytes().to_vec();
                    if bytes[pos] == replacement {
                        continue;
                    }
                    bytes[pos] = replacement;
                    let changed = String::from_utf8(bytes).unwrap();
                    assert!(
                        IdNumber::parse(&changed).is_err(),
                        "{changed} (from {valid}) was accepted"
                    );
                }
            }
        }
    }

    #[test]
    fn format_errors() {
        for s in [
            "",
            "11010519491231002",   // 17
            "11010519491231002X0", // 19
            "11010519491231002x",  // lowercase x
            "1101051949123100X2",  // X not last
            "110105194912310 2X",
            " 11010519491231002X",
            "110105491231002",     // old 15-digit form
            "11010519491231002Ｘ", // full-width X
        ] {
            let err = IdNumber::parse(s).unwrap_err();
            assert_eq!(err.code(), "id_number.format", "{s:?}");
        }
    }

    #[test]
    fn format_errors_do_not_echo_the_number() {
        let err = IdNumber::parse("11010519491231002x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "resident identity number character 18 is 'x' but must be a digit or uppercase X"
        );
    }

    #[test]
    fn birth_date_errors() {
        // Bodies with impossible dates; the check character is irrelevant (date is checked first).
        for s in [
            "110105194902300000", // 30 February
            "110105190002290000", // 1900 was not a leap year
            "110105201913010000", // month 13
            "110105201900010000", // month 0
            "110105201901000000", // day 0
            "110105201904310000", // 31 April
            "110105189912310000", // before 1900
            "110105000001010000",
        ] {
            let err = IdNumber::parse(s).unwrap_err();
            assert_eq!(err.code(), "id_number.birth_date", "{s}");
        }
        let err = IdNumber::parse("110105189912310000").unwrap_err();
        assert_eq!(
            err.to_string(),
            "resident identity number birth date (characters 7-14) has year 1899, before 1900"
        );
    }

    #[test]
    fn serde_round_trip_and_rejection() {
        let n = id("11010519491231002X");
        let json = serde_json::to_string(&n).unwrap();
        assert_eq!(json, "\"11010519491231002X\"");
        assert_eq!(serde_json::from_str::<IdNumber>(&json).unwrap(), n);
        let err = serde_json::from_str::<IdNumber>("\"110105194912310021\"").unwrap_err();
        assert!(
            err.to_string().contains("'1' but 'X' was expected"),
            "{err}"
        );
    }
}
