//! Administrative division codes (GB/T 2260, extended to the National Bureau of Statistics'
//! 12-digit statistical division codes) and their levels.
//!
//! A [`RegionCode`] is exactly 12 ASCII digits: province 2 + city 2 + county 2 + township 3 +
//! village 3. The code alone does **not** tell its level: `621000000000` (Qingyang city) and
//! `621100000000` (Dingxi city) are siblings even though stripping zeros would make one look
//! like the other's ancestor. The level always comes from the region table
//! ([`crate::regions::RegionTable`]); [`RegionCode::within_prefix`] takes it as an argument.

use serde::{Deserialize, Serialize};

use super::CodeError;
use super::error::digits_problem;

/// A 12-digit administrative division code, e.g. `620105000000` (Anning district, Lanzhou).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct RegionCode(String);

impl RegionCode {
    /// Parses exactly 12 ASCII digits (`region_code.format` otherwise).
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        match digits_problem(s, 12) {
            Some(detail) => Err(CodeError::RegionCodeFormat { detail }),
            None => Ok(RegionCode(s.to_owned())),
        }
    }

    /// The 12 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True if `other` starts with the first `level.prefix_len()` digits of `self`, i.e. `other`
    /// lies inside `self` *when `self` is a region of that level*. The caller supplies the
    /// level (from the region table); it is never guessed from trailing zeros.
    pub fn within_prefix(&self, other: &RegionCode, level: Level) -> bool {
        let len = level.prefix_len();
        other.0[..len] == self.0[..len]
    }
}

string_code_impls!(RegionCode);

/// The level of an administrative division, from province down to village.
///
/// Serialized in lowercase (`"province"`, `"city"`, ...), as in the region table files.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Province,
    City,
    County,
    Township,
    Village,
}

impl Level {
    /// All levels, from the highest (province) to the lowest (village).
    pub const ALL: [Level; 5] = [
        Level::Province,
        Level::City,
        Level::County,
        Level::Township,
        Level::Village,
    ];

    /// How many leading digits identify a region of this level: 2, 4, 6, 9 or 12.
    pub fn prefix_len(self) -> usize {
        match self {
            Level::Province => 2,
            Level::City => 4,
            Level::County => 6,
            Level::Township => 9,
            Level::Village => 12,
        }
    }

    /// The GB/T 39046-2020 A.2 "exercise level" tier of a body at this level:
    /// province 2, city 3, county 4, township 5, village 6 (1 is national, 7 graded management,
    /// neither of which is a region level).
    pub fn tier(self) -> u8 {
        match self {
            Level::Province => 2,
            Level::City => 3,
            Level::County => 4,
            Level::Township => 5,
            Level::Village => 6,
        }
    }

    /// The lowercase English name used in files and APIs: `"province"`, `"city"`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Province => "province",
            Level::City => "city",
            Level::County => "county",
            Level::Township => "township",
            Level::Village => "village",
        }
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rc(s: &str) -> RegionCode {
        RegionCode::parse(s).unwrap()
    }

    #[test]
    fn parses_twelve_digits() {
        for s in [
            "620000000000",
            "621124100005",
            "000000000000",
            "999999999999",
        ] {
            let code = rc(s);
            assert_eq!(code.as_str(), s);
            assert_eq!(code.to_string(), s);
            assert_eq!(s.parse::<RegionCode>().unwrap(), code);
        }
    }

    #[test]
    fn rejects_everything_else_as_format() {
        for s in [
            "",
            "62",
            "62000000000",   // 11 digits
            "6200000000000", // 13 digits
            " 620000000000",
            "620000000000 ",
            "62000000000a",
            "6200-0000000",
            "６２００００００００００", // full-width digits
            "62000000000\u{0}",
        ] {
            let err = RegionCode::parse(s).unwrap_err();
            assert_eq!(err.code(), "region_code.format", "{s:?}");
        }
    }

    #[test]
    fn format_message_names_the_problem() {
        let err = RegionCode::parse("62010500000x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "region code must be 12 ASCII digits, but character 12 is 'x'"
        );
        let err = RegionCode::parse("6201").unwrap_err();
        assert_eq!(
            err.to_string(),
            "region code must be 12 ASCII digits, got 4"
        );
    }

    #[test]
    fn orders_like_numbers() {
        assert!(rc("510000000000") < rc("610000000000"));
        assert!(rc("621000000000") < rc("621002000000"));
    }

    #[test]
    fn within_prefix_uses_the_given_level_only() {
        let qingyang = rc("621000000000");
        let dingxi = rc("621100000000");
        // As a city, Qingyang (6210) does not contain Dingxi (6211).
        assert!(!qingyang.within_prefix(&dingxi, Level::City));
        assert!(qingyang.within_prefix(&rc("621002000000"), Level::City));
        // Taken as a province (62) the same code would: the level matters.
        assert!(qingyang.within_prefix(&dingxi, Level::Province));

        let chengguan = rc("610927100000");
        let zengjia = rc("610927101000");
        assert!(!chengguan.within_prefix(&zengjia, Level::Township));
        assert!(chengguan.within_prefix(&rc("610927100201"), Level::Township));

        // A village only "contains" itself.
        let village = rc("621124100005");
        assert!(village.within_prefix(&village, Level::Village));
        assert!(!village.within_prefix(&rc("621124100006"), Level::Village));
    }

    #[test]
    fn level_facts() {
        let lens: Vec<usize> = Level::ALL.iter().map(|l| l.prefix_len()).collect();
        assert_eq!(lens, [2, 4, 6, 9, 12]);
        let tiers: Vec<u8> = Level::ALL.iter().map(|l| l.tier()).collect();
        assert_eq!(tiers, [2, 3, 4, 5, 6]);
        let names: Vec<&str> = Level::ALL.iter().map(|l| l.as_str()).collect();
        assert_eq!(names, ["province", "city", "county", "township", "village"]);
        assert!(Level::Province < Level::Village, "higher levels sort first");
    }

    #[test]
    fn level_serde_is_lowercase() {
        for level in Level::ALL {
            let json = serde_json::to_string(&level).unwrap();
            assert_eq!(json, format!("\"{}\"", level.as_str()));
            assert_eq!(serde_json::from_str::<Level>(&json).unwrap(), level);
        }
        assert!(serde_json::from_str::<Level>("\"Province\"").is_err());
    }

    #[test]
    fn serde_round_trip_and_rejection() {
        let code = rc("620105001000");
        let json = serde_json::to_string(&code).unwrap();
        assert_eq!(json, "\"620105001000\"");
        assert_eq!(serde_json::from_str::<RegionCode>(&json).unwrap(), code);

        let err = serde_json::from_str::<RegionCode>("\"62010500100\"").unwrap_err();
        assert!(
            err.to_string()
                .contains("region code must be 12 ASCII digits")
        );
        assert!(
            serde_json::from_str::<RegionCode>("620105001000").is_err(),
            "numbers are not codes"
        );
    }
}
