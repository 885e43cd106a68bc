//! Electronic certificate identifiers (电子证照标识, GB/T 36904-2018, as used by implementing
//! systems).
//!
//! ```text
//! 1.2.156.3005.2.{type code}.{issuing authority}.{serial}.{version}.{check}
//! 1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U
//! ```
//!
//! - `1.2.156.3005.2`: the electronic-certificate root.
//! - type code: the defining authority's credit code (18) + a 3-digit sequence.
//! - issuing authority: the issuer's credit code (18).
//! - serial: 1 to 32 digits and uppercase letters.
//! - version: 3 digits.
//! - check: ISO 7064 MOD 37,36 ([`mod37_36_check`]) over type code + authority + serial +
//!   version, concatenated without dots.
//!
//! Certificates are looked up, verified and shared by this identifier, so a
//! [`CertIdentifier`] guarantees every part (including both credit codes' own check
//! characters) before anything uses it.

use super::{CodeError, CreditCode};

/// The root arc of every electronic certificate identifier, with the dot that follows it.
const ROOT: &str = "1.2.156.3005.2.";

/// The ISO 7064 MOD 37,36 alphabet: `0`-`9` = 0-9, `A`-`Z` = 10-35.
const ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Byte offsets inside a parsed identifier (the root and the two codes have fixed lengths:
/// type code 15..36, issuing authority 37..55, serial from 56 to 6 before the end).
const TYPE_CODE: std::ops::Range<usize> = 15..36;
const SERIAL_START: usize = 56;

/// The ISO 7064 MOD 37,36 (hybrid system) check character of `s`, over the alphabet `0-9A-Z`.
///
/// Returns `None` if `s` contains any other character (lowercase included). The empty string
/// has a check character too (`'1'`), as the arithmetic defines one.
pub fn mod37_36_check(s: &str) -> Option<char> {
    mod37_36_of(s.chars())
}

/// [`mod37_36_check`] over characters given one by one.
fn mod37_36_of(chars: impl Iterator<Item = char>) -> Option<char> {
    let mut p: u32 = 36;
    for c in chars {
        let v = ALPHABET.iter().position(|&a| a as char == c)? as u32;
        p = (p + v) % 36;
        if p == 0 {
            p = 36;
        }
        p = (2 * p) % 37;
    }
    Some(ALPHABET[((37 - p) % 36) as usize] as char)
}

/// A GB/T 36904 electronic certificate identifier.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct CertIdentifier {
    /// The whole identifier, dots included.
    id: String,
    /// The first 18 characters of the type code.
    defining_authority: CreditCode,
    /// The issuing authority segment.
    authority: CreditCode,
}

impl CertIdentifier {
    /// Parses an identifier and checks every part.
    ///
    /// Errors, in this order: `cert_id.format` (a character other than digits, uppercase
    /// letters and dots, or not 10 dot-separated segments), `cert_id.root`,
    /// `cert_id.type_code`, `cert_id.authority`, `cert_id.format` (serial, version or check
    /// segment malformed), `cert_id.check_digit`.
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        let format = |detail: String| CodeError::CertIdFormat { detail };
        if let Some((pos, c)) = s
            .chars()
            .enumerate()
            .find(|(_, c)| !(c.is_ascii_digit() || c.is_ascii_uppercase() || *c == '.'))
        {
            return Err(format(format!(
                "character {} is {c:?}, but only digits, uppercase A-Z and dots are allowed",
                pos + 1
            )));
        }
        // Counted and split without collecting: identifiers are parsed on every verification.
        let count = s.split('.').count();
        if count != 10 {
            return Err(format(format!(
                "must have 10 dot-separated parts (root 1.2.156.3005.2, type code, issuing \
                 authority, serial, version, check), got {count}"
            )));
        }
        // With 10 parts, the first five are the root exactly when the identifier starts with it.
        let Some(rest) = s.strip_prefix(ROOT) else {
            let root: Vec<&str> = s.split('.').take(5).collect();
            return Err(CodeError::CertIdRoot {
                found: root.join("."),
            });
        };
        let mut parts = rest.split('.');
        let mut part = || parts.next().expect("10 parts counted, 5 in the root");
        let [type_code, authority, serial, version, check] =
            [part(), part(), part(), part(), part()];

        let defining_authority = check_type_code(type_code)?;
        let authority = CreditCode::parse(authority).map_err(|e| CodeError::CertIdAuthority {
            source: Box::new(e),
        })?;
        check_serial(serial)?;
        if version.len() != 3 || !version.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format(format!("version must be 3 digits, got {version:?}")));
        }
        let mut check_chars = check.chars();
        let (Some(found), None) = (check_chars.next(), check_chars.next()) else {
            return Err(format(format!("check must be 1 character, got {check:?}")));
        };

        let body = [type_code, authority.as_str(), serial, version];
        let expected = mod37_36_of(body.iter().flat_map(|part| part.chars()))
            .expect("characters checked above");
        if found != expected {
            return Err(CodeError::CertIdCheckDigit { found, expected });
        }
        Ok(CertIdentifier {
            id: s.to_owned(),
            defining_authority,
            authority,
        })
    }

    /// Builds an identifier from its parts and computes the check character.
    ///
    /// `type_code` is the 21-character type code (`cert_id.type_code`), `serial` 1 to 32
    /// digits and uppercase letters and `version` at most 999 (`cert_id.format`).
    pub fn mint(
        type_code: &str,
        authority: &CreditCode,
        serial: &str,
        version: u16,
    ) -> Result<Self, CodeError> {
        check_type_code(type_code)?;
        check_serial(serial)?;
        if version > 999 {
            return Err(CodeError::CertIdFormat {
                detail: format!("version must be 0 to 999, got {version}"),
            });
        }
        let version = format!("{version:03}");
        let body = format!("{type_code}{}{serial}{version}", authority.as_str());
        let check = mod37_36_check(&body).expect("characters checked above");
        Self::parse(&format!(
            "{ROOT}{type_code}.{authority}.{serial}.{version}.{check}"
        ))
    }

    /// The whole identifier.
    pub fn as_str(&self) -> &str {
        &self.id
    }

    /// The 21-character certificate type code (defining authority + 3-digit sequence).
    pub fn type_code(&self) -> &str {
        &self.id[TYPE_CODE]
    }

    /// The authority that defined the certificate type (first 18 characters of the type code).
    pub fn defining_authority(&self) -> &CreditCode {
        &self.defining_authority
    }

    /// The issuing authority.
    pub fn authority(&self) -> &CreditCode {
        &self.authority
    }

    /// The serial number (1 to 32 digits and uppercase letters).
    pub fn serial(&self) -> &str {
        &self.id[SERIAL_START..self.id.len() - 6]
    }

    /// The version, 0 to 999 (`001` is 1).
    pub fn version(&self) -> u16 {
        let digits = &self.id[self.id.len() - 5..self.id.len() - 2];
        digits.parse().expect("3 digits checked by parse")
    }

    /// The check character.
    pub fn check(&self) -> char {
        self.id.as_bytes()[self.id.len() - 1] as char
    }
}

string_code_impls!(CertIdentifier);

/// Checks a type code (credit code + 3 digits) and returns its defining authority.
fn check_type_code(type_code: &str) -> Result<CreditCode, CodeError> {
    let error = |detail: String| CodeError::CertIdTypeCode { detail };
    if type_code.len() != 21 || !type_code.is_char_boundary(18) {
        return Err(error(format!(
            "must be 21 characters (credit code + 3 digits), got {type_code:?}"
        )));
    }
    let (credit, sequence) = type_code.split_at(18);
    let credit = CreditCode::parse(credit)
        .map_err(|e| error(format!("has an invalid defining authority: {e}")))?;
    if !sequence.bytes().all(|b| b.is_ascii_digit()) {
        return Err(error(format!(
            "must end in 3 digits after the credit code, got {sequence:?}"
        )));
    }
    Ok(credit)
}

/// Checks a serial: 1 to 32 digits and uppercase letters.
fn check_serial(serial: &str) -> Result<(), CodeError> {
    let ok = (1..=32).contains(&serial.len())
        && serial
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase());
    if ok {
        Ok(())
    } else {
        Err(CodeError::CertIdFormat {
            detail: format!("serial must be 1 to 32 digits and uppercase letters, got {serial:?}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The STANDARDS.md example.
    const EXAMPLE: &str =
        "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U";

    /// Identifiers minted with python3 (same MOD 37,36 rule), covering a 2-character serial,
    /// the longest serial (32) and version 000 with a 1-character serial.
    const MORE: [&str; 3] = [
        "1.2.156.3005.2.12620000438000136R007.91620105MA74AB12C4.A1.012.0",
        "1.2.156.3005.2.11100000000013338W011.11430000006122244L.ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ.999.L",
        "1.2.156.3005.2.11100000000013338W011.11430000006122244L.0.000.I",
    ];

    fn credit(s: &str) -> CreditCode {
        CreditCode::parse(s).unwrap()
    }

    #[test]
    fn mod37_36_reference_vectors() {
        // From python-stdnum's mod_37_36 and the ISO 7064 example "A12425GABC1234002" -> M,
        // cross-checked with python3.
        let vectors = [
            ("A", 'H'),
            ("0", '2'),
            ("XYZ123", 'I'),
            ("A12425GABC1234002", 'M'),
            ("11100000000013338W01111430000006122244L20230000403001", 'U'),
            ("", '1'),
        ];
        for (input, check) in vectors {
            assert_eq!(mod37_36_check(input), Some(check), "{input:?}");
        }
        assert_eq!(mod37_36_check("a"), None);
        assert_eq!(mod37_36_check("1.2"), None);
        assert_eq!(mod37_36_check("Ä"), None);
    }

    #[test]
    fn parses_the_example() {
        let id = CertIdentifier::parse(EXAMPLE).unwrap();
        assert_eq!(id.as_str(), EXAMPLE);
        assert_eq!(id.to_string(), EXAMPLE);
        assert_eq!(id.type_code(), "11100000000013338W011");
        assert_eq!(id.defining_authority().as_str(), "11100000000013338W");
        assert_eq!(id.authority().as_str(), "11430000006122244L");
        assert_eq!(id.serial(), "20230000403");
        assert_eq!(id.version(), 1);
        assert_eq!(id.check(), 'U');
        assert_eq!(EXAMPLE.parse::<CertIdentifier>().unwrap(), id);
    }

    #[test]
    fn parses_more_vectors() {
        let id = CertIdentifier::parse(MORE[0]).unwrap();
        assert_eq!(id.defining_authority().as_str(), "12620000438000136R");
        assert_eq!(id.authority().as_str(), "91620105MA74AB12C4");
        assert_eq!(id.serial(), "A1");
        assert_eq!(id.version(), 12);
        assert_eq!(id.check(), '0');

        let id = CertIdentifier::parse(MORE[1]).unwrap();
        assert_eq!(id.serial().len(), 32);
        assert_eq!(id.version(), 999);

        let id = CertIdentifier::parse(MORE[2]).unwrap();
        assert_eq!(id.serial(), "0");
        assert_eq!(id.version(), 0);
        assert_eq!(id.check(), 'I');
    }

    #[test]
    fn mint_matches_the_vectors() {
        let id = CertIdentifier::mint(
            "11100000000013338W011",
            &credit("11430000006122244L"),
            "20230000403",
            1,
        )
        .unwrap();
        assert_eq!(id.as_str(), EXAMPLE);

        let id = CertIdentifier::mint(
            "12620000438000136R007",
            &credit("91620105MA74AB12C4"),
            "A1",
            12,
        )
        .unwrap();
        assert_eq!(id.as_str(), MORE[0]);
    }

    #[test]
    fn mint_rejects_bad_parts() {
        let authority = credit("11430000006122244L");
        let cases = [
            (
                "11100000000013338W01",
                "20230000403",
                1,
                "cert_id.type_code",
            ),
            (
                "11100000000013338X011",
                "20230000403",
                1,
                "cert_id.type_code",
            ),
            (
                "11100000000013338W0A1",
                "20230000403",
                1,
                "cert_id.type_code",
            ),
            ("11100000000013338W011", "", 1, "cert_id.format"),
            ("11100000000013338W011", "abc", 1, "cert_id.format"),
            ("11100000000013338W011", "2023.0403", 1, "cert_id.format"),
            (
                "11100000000013338W011",
                &"1".repeat(33),
                1,
                "cert_id.format",
            ),
            (
                "11100000000013338W011",
                "20230000403",
                1000,
                "cert_id.format",
            ),
        ];
        for (type_code, serial, version, code) in cases {
            let err = CertIdentifier::mint(type_code, &authority, serial, version).unwrap_err();
            assert_eq!(err.code(), code, "{type_code} {serial} {version}: {err}");
        }
    }

    #[test]
    fn every_single_substitution_is_rejected() {
        let replacements = b"0179AHLUXZ.a -";
        for valid in std::iter::once(EXAMPLE).chain(MORE) {
            for pos in 0..valid.len() {
                for &replacement in replacements {
                    let mut bytes = valid.as_bytes().to_vec();
                    if bytes[pos] == replacement {
                        continue;
                    }
                    bytes[pos] = replacement;
                    let changed = String::from_utf8(bytes).unwrap();
                    assert!(
                        CertIdentifier::parse(&changed).is_err(),
                        "{changed} (from {valid}) was accepted"
                    );
                }
            }
        }
    }

    /// A wrong root is reported as the five parts found, whatever follows them.
    #[test]
    fn a_wrong_root_is_named() {
        let err = CertIdentifier::parse(
            "1.2.156.3005.3.11100000000013338W011.11430000006122244L.20230000403.001.U",
        )
        .unwrap_err();
        assert_eq!(
            err,
            CodeError::CertIdRoot {
                found: "1.2.156.3005.3".into()
            }
        );
    }

    #[test]
    fn errors_have_the_right_codes() {
        let cases = [
            // Wrong check character.
            (
                "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.V",
                "cert_id.check_digit",
            ),
            // Another version, same check.
            (
                "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.002.U",
                "cert_id.check_digit",
            ),
            // Root.
            (
                "1.2.156.3005.3.11100000000013338W011.11430000006122244L.20230000403.001.U",
                "cert_id.root",
            ),
            (
                "1.2.156.3006.2.11100000000013338W011.11430000006122244L.20230000403.001.U",
                "cert_id.root",
            ),
            // Type code: credit code check digit, length, sequence.
            (
                "1.2.156.3005.2.11100000000013338X011.11430000006122244L.20230000403.001.U",
                "cert_id.type_code",
            ),
            (
                "1.2.156.3005.2.11100000000013338W01.11430000006122244L.20230000403.001.U",
                "cert_id.type_code",
            ),
            (
                "1.2.156.3005.2.11100000000013338W0A1.11430000006122244L.20230000403.001.U",
                "cert_id.type_code",
            ),
            // Authority.
            (
                "1.2.156.3005.2.11100000000013338W011.11430000006122244M.20230000403.001.U",
                "cert_id.authority",
            ),
            (
                "1.2.156.3005.2.11100000000013338W011.1143000000612224L.20230000403.001.U",
                "cert_id.authority",
            ),
            // Format: characters, segments, serial, version, check.
            (
                "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.u",
                "cert_id.format",
            ),
            (
                " 1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U",
                "cert_id.format",
            ),
            (
                "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001",
                "cert_id.format",
            ),
            (
                "1.2.156.3005.2.11100000000013338W011.11430000006122244L.2023.0000403.001.U",
                "cert_id.format",
            ),
            (
                "1.2.156.3005.2.11100000000013338W011.11430000006122244L..001.U",
                "cert_id.format",
            ),
            (
                "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.01.U",
                "cert_id.format",
            ),
            (
                "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.0001.U",
                "cert_id.format",
            ),
            (
                "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.00A.U",
                "cert_id.format",
            ),
            (
                "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.UU",
                "cert_id.format",
            ),
            (
                "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.",
                "cert_id.format",
            ),
            ("", "cert_id.format"),
        ];
        for (s, code) in cases {
            let err = CertIdentifier::parse(s).unwrap_err();
            assert_eq!(err.code(), code, "{s}: {err}");
        }
    }

    #[test]
    fn check_message_says_why() {
        let err = CertIdentifier::parse(
            "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.V",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "electronic certificate identifier check character is 'V' but 'U' was expected"
        );
    }

    #[test]
    fn serde_round_trip_and_rejection() {
        let id = CertIdentifier::parse(EXAMPLE).unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{EXAMPLE}\""));
        assert_eq!(serde_json::from_str::<CertIdentifier>(&json).unwrap(), id);
        let bad = EXAMPLE.replace(".U", ".V");
        let err = serde_json::from_str::<CertIdentifier>(&format!("\"{bad}\"")).unwrap_err();
        assert!(
            err.to_string().contains("'V' but 'U' was expected"),
            "{err}"
        );
    }
}
