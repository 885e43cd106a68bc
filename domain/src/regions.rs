//! The administrative division table: which 12-digit region codes exist, their names, levels
//! and parents (National Bureau of Statistics statistical division codes, GB/T 2260 based).
//!
//! The gateway needs it to answer "is region B inside region A?" for jurisdiction checks.
//! The answer depends on A's *level*, which only the table knows: `621000000000` is Qingyang
//! *city* and does not contain `621100000000` (Dingxi city), although stripping zeros would
//! say it does. [`RegionTable::is_within`] applies exactly the STANDARDS.md rule: B is within
//! A iff A == B, or A is in the table and B starts with A's first 2/4/6/9/12 digits
//! (province/city/county/township/village).
//!
//! The table is loaded from the JSON array format of `schemas/regions/regions.json`
//! (`[{"code", "name", "level", "parent"}, ...]`) and validated as a whole; a copy of that file
//! is compiled in ([`RegionTable::bundled`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::codes::{CodeError, Level, RegionCode};

/// The region table compiled into the binary (157 real divisions, NBS 2023 codes).
const BUNDLED_JSON: &[u8] = include_bytes!("../../schemas/regions/regions.json");

/// One administrative division.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    pub code: RegionCode,
    /// The name as published by the National Bureau of Statistics, e.g. `"安宁区"`.
    pub name: String,
    pub level: Level,
    /// The division directly above, `None` for provinces (and for the top rows of a partial
    /// table).
    pub parent: Option<RegionCode>,
}

/// A validated set of regions, keyed by code.
#[derive(Clone, Debug, Default)]
pub struct RegionTable {
    /// Every region, sorted by code.
    regions: BTreeMap<RegionCode, Region>,
    /// Child codes of each region that has any, sorted by code.
    children: BTreeMap<RegionCode, Vec<RegionCode>>,
}

/// Why a region table was rejected. `index` is the row's 0-based position in the JSON array.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RegionTableError {
    #[error("region table is not a JSON array of {{code, name, level, parent}} rows: {0}")]
    Json(#[from] serde_json::Error),

    #[error("region table row {index}: invalid {field}: {source}")]
    InvalidCode {
        index: usize,
        field: &'static str,
        source: CodeError,
    },

    #[error("region table row {index}: name of {code} is empty")]
    EmptyName { index: usize, code: RegionCode },

    #[error(
        "region table row {index}: {code} does not have the shape of a {level} code \
         (digits after the first {} must be zeros, and the {level}'s own digits must not all be zeros)",
        level.prefix_len()
    )]
    LevelShape {
        index: usize,
        code: RegionCode,
        level: Level,
    },

    #[error("region table row {index}: {code} appears more than once")]
    Duplicate { index: usize, code: RegionCode },

    #[error("region table row {index}: parent {parent} of {code} is not in the table")]
    MissingParent {
        index: usize,
        code: RegionCode,
        parent: RegionCode,
    },

    #[error(
        "region table row {index}: parent {parent} ({parent_level}) of {code} ({level}) is not of a higher level"
    )]
    ParentNotHigher {
        index: usize,
        code: RegionCode,
        level: Level,
        parent: RegionCode,
        parent_level: Level,
    },

    #[error(
        "region table row {index}: parent {parent} ({parent_level}) is not an ancestor of {code}: \
         the first {} digits differ",
        parent_level.prefix_len()
    )]
    ParentNotAncestor {
        index: usize,
        code: RegionCode,
        parent: RegionCode,
        parent_level: Level,
    },
}

/// A row as written in the file, before its codes are parsed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    code: String,
    name: String,
    level: Level,
    parent: Option<String>,
}

impl RegionTable {
    /// Loads and validates a JSON array of `{"code", "name", "level", "parent"}` rows.
    ///
    /// Checks: every code and parent is 12 digits; names are not empty; each code has the
    /// shape of its level (zeros after its prefix, not all zeros in its own segment); codes
    /// are unique; every parent is in the table, of a higher level, and an ancestor by that
    /// level's prefix. Unknown fields are rejected.
    pub fn from_json(json: &[u8]) -> Result<Self, RegionTableError> {
        let rows: Vec<Row> = serde_json::from_slice(json)?;

        let mut regions: BTreeMap<RegionCode, Region> = BTreeMap::new();
        let mut index_of: BTreeMap<RegionCode, usize> = BTreeMap::new();
        for (index, row) in rows.into_iter().enumerate() {
            let parse = |field: &'static str, text: &str| {
                RegionCode::parse(text).map_err(|source| RegionTableError::InvalidCode {
                    index,
                    field,
                    source,
                })
            };
            let code = parse("code", &row.code)?;
            let parent = row
                .parent
                .as_deref()
                .map(|p| parse("parent", p))
                .transpose()?;
            if row.name.is_empty() {
                return Err(RegionTableError::EmptyName { index, code });
            }
            if !has_level_shape(&code, row.level) {
                return Err(RegionTableError::LevelShape {
                    index,
                    code,
                    level: row.level,
                });
            }
            if regions.contains_key(&code) {
                return Err(RegionTableError::Duplicate { index, code });
            }
            index_of.insert(code.clone(), index);
            let region = Region {
                code: code.clone(),
                name: row.name,
                level: row.level,
                parent,
            };
            regions.insert(code, region);
        }

        let mut children: BTreeMap<RegionCode, Vec<RegionCode>> = BTreeMap::new();
        for region in regions.values() {
            let Some(parent) = &region.parent else {
                continue;
            };
            let index = index_of[&region.code];
            let Some(parent_region) = regions.get(parent) else {
                return Err(RegionTableError::MissingParent {
                    index,
                    code: region.code.clone(),
                    parent: parent.clone(),
                });
            };
            if parent_region.level >= region.level {
                return Err(RegionTableError::ParentNotHigher {
                    index,
                    code: region.code.clone(),
                    level: region.level,
                    parent: parent.clone(),
                    parent_level: parent_region.level,
                });
            }
            if !parent.within_prefix(&region.code, parent_region.level) {
                return Err(RegionTableError::ParentNotAncestor {
                    index,
                    code: region.code.clone(),
                    parent: parent.clone(),
                    parent_level: parent_region.level,
                });
            }
            // Regions are visited in code order, so each children list comes out sorted.
            children
                .entry(parent.clone())
                .or_default()
                .push(region.code.clone());
        }

        Ok(RegionTable { regions, children })
    }

    /// The table compiled in from `schemas/regions/regions.json`.
    ///
    /// Returns an error rather than panicking; a test makes sure the bundled file loads.
    pub fn bundled() -> Result<Self, RegionTableError> {
        RegionTable::from_json(BUNDLED_JSON)
    }

    /// The region with this code, if it is in the table.
    pub fn get(&self, code: &RegionCode) -> Option<&Region> {
        self.regions.get(code)
    }

    /// The level of a region in the table.
    pub fn level(&self, code: &RegionCode) -> Option<Level> {
        self.get(code).map(|r| r.level)
    }

    /// The name of a region in the table.
    pub fn name(&self, code: &RegionCode) -> Option<&str> {
        self.get(code).map(|r| r.name.as_str())
    }

    /// True if `descendant` is `ancestor` itself, or `ancestor` is in the table and
    /// `descendant` starts with its first 2/4/6/9/12 digits (by `ancestor`'s level).
    ///
    /// `descendant` need not be in the table. An `ancestor` that is not in the table contains
    /// nothing but itself: its level is unknown and is never guessed from trailing zeros.
    pub fn is_within(&self, ancestor: &RegionCode, descendant: &RegionCode) -> bool {
        if ancestor == descendant {
            return true;
        }
        match self.level(ancestor) {
            Some(level) => ancestor.within_prefix(descendant, level),
            None => false,
        }
    }

    /// The regions whose parent is `code`, sorted by code (empty if none or unknown).
    pub fn children(&self, code: &RegionCode) -> Vec<&Region> {
        match self.children.get(code) {
            Some(codes) => codes.iter().map(|c| &self.regions[c]).collect(),
            None => Vec::new(),
        }
    }

    /// Every region, sorted by code.
    pub fn iter(&self) -> impl Iterator<Item = &Region> {
        self.regions.values()
    }

    /// The number of regions.
    pub fn len(&self) -> usize {
        self.regions.len()
    }

    /// True if the table has no regions.
    pub fn is_empty(&self) -> bool {
        self.regions.is_empty()
    }
}

/// True if `code` looks like a code of `level`: only zeros after the level's prefix, and not
/// only zeros in the level's own segment (so a city code is never a province code re-labelled).
fn has_level_shape(code: &RegionCode, level: Level) -> bool {
    let digits = code.as_str();
    let end = level.prefix_len();
    let start = match level {
        Level::Province => 0,
        Level::City => 2,
        Level::County => 4,
        Level::Township => 6,
        Level::Village => 9,
    };
    let own = &digits[start..end];
    let rest = &digits[end..];
    rest.bytes().all(|b| b == b'0') && own.bytes().any(|b| b != b'0')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rc(s: &str) -> RegionCode {
        RegionCode::parse(s).unwrap()
    }

    fn table() -> RegionTable {
        RegionTable::bundled().expect("the bundled region table loads")
    }

    #[test]
    fn bundled_table_loads_with_expected_counts() {
        let t = table();
        assert_eq!(t.len(), 157);
        assert!(!t.is_empty());
        let count = |level| t.iter().filter(|r| r.level == level).count();
        assert_eq!(count(Level::Province), 3);
        assert_eq!(count(Level::City), 5);
        assert_eq!(count(Level::County), 6);
        assert_eq!(count(Level::Township), 83);
        assert_eq!(count(Level::Village), 60);
    }

    #[test]
    fn lookups() {
        let t = table();
        let anning = rc("620105000000");
        let region = t.get(&anning).unwrap();
        assert_eq!(region.name, "安宁区");
        assert_eq!(region.level, Level::County);
        assert_eq!(region.parent, Some(rc("620100000000")));
        assert_eq!(t.level(&anning), Some(Level::County));
        assert_eq!(t.name(&anning), Some("安宁区"));
        assert_eq!(t.name(&rc("620000000000")), Some("甘肃省"));
        assert_eq!(t.get(&rc("620000000000")).unwrap().parent, None);
        assert_eq!(t.level(&rc("621124100005")), Some(Level::Village));

        let absent = rc("110000000000");
        assert!(t.get(&absent).is_none());
        assert_eq!(t.level(&absent), None);
        assert_eq!(t.name(&absent), None);
    }

    #[test]
    fn iter_is_sorted_by_code() {
        let t = table();
        let codes: Vec<&RegionCode> = t.iter().map(|r| &r.code).collect();
        assert!(codes.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(codes[0].as_str(), "510000000000");
    }

    #[test]
    fn children() {
        let t = table();
        let names: Vec<&str> = t
            .children(&rc("620000000000"))
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(names, ["兰州市", "庆阳市", "定西市"]);

        let zhenping = t.children(&rc("610927000000"));
        assert_eq!(zhenping.len(), 7);
        assert!(zhenping.iter().all(|r| r.level == Level::Township));

        assert_eq!(t.children(&rc("621124100000")).len(), 42);
        assert_eq!(t.children(&rc("621124101000")).len(), 18);
        assert!(
            t.children(&rc("621124100005")).is_empty(),
            "a village has no children"
        );
        assert!(t.children(&rc("110000000000")).is_empty(), "unknown region");
    }

    // The pitfalls from STANDARDS.md: the level comes from the table, never from zeros.

    #[test]
    fn qingyang_city_does_not_contain_dingxi_city() {
        let t = table();
        let qingyang = rc("621000000000");
        let dingxi = rc("621100000000");
        assert_eq!(t.level(&qingyang), Some(Level::City));
        assert!(!t.is_within(&qingyang, &dingxi));
        assert!(
            !t.is_within(&qingyang, &rc("621124000000")),
            "Lintao county is in Dingxi"
        );
        assert!(!t.is_within(&dingxi, &qingyang));
        assert!(
            t.is_within(&qingyang, &rc("621002000000")),
            "Xifeng district is in Qingyang"
        );
        assert!(
            t.is_within(&qingyang, &rc("621022100000")),
            "a town of Huan county"
        );
    }

    #[test]
    fn township_does_not_contain_its_sibling_towns() {
        let t = table();
        let chengguan = rc("610927100000"); // 城关镇, 镇坪县
        let zengjia = rc("610927101000"); // 曾家镇, 镇坪县
        assert_eq!(t.level(&chengguan), Some(Level::Township));
        assert!(!t.is_within(&chengguan, &zengjia));
        assert!(!t.is_within(&zengjia, &chengguan));
        for sibling in [
            "610927102000",
            "610927103000",
            "610927105000",
            "610927108000",
        ] {
            assert!(!t.is_within(&chengguan, &rc(sibling)), "{sibling}");
        }

        let taoyang = rc("621124100000"); // 洮阳镇
        let balipu = rc("621124101000"); // 八里铺镇
        assert!(!t.is_within(&taoyang, &balipu));
        assert!(
            !t.is_within(&taoyang, &rc("621124101201")),
            "a village of 八里铺镇"
        );
        assert!(
            t.is_within(&taoyang, &rc("621124100201")),
            "a village of 洮阳镇"
        );
    }

    #[test]
    fn province_contains_a_county_of_its_city() {
        let t = table();
        assert!(t.is_within(&rc("620000000000"), &rc("621002000000")));
        assert!(!t.is_within(&rc("610000000000"), &rc("621002000000")));
    }

    #[test]
    fn county_contains_a_village_of_its_town() {
        let t = table();
        let lintao = rc("621124000000");
        let village = rc("621124100005"); // 城中社区, 洮阳镇
        assert_eq!(t.get(&village).unwrap().parent, Some(rc("621124100000")));
        assert!(t.is_within(&lintao, &village));
        assert!(t.is_within(&rc("621124100000"), &village));
        assert!(t.is_within(&rc("621100000000"), &village));
        assert!(t.is_within(&rc("620000000000"), &village));
        assert!(!t.is_within(&rc("621000000000"), &village));
    }

    #[test]
    fn every_parent_contains_its_children_and_itself() {
        let t = table();
        for region in t.iter() {
            assert!(t.is_within(&region.code, &region.code));
            if let Some(parent) = &region.parent {
                assert!(t.is_within(parent, &region.code), "{}", region.code);
                assert!(!t.is_within(&region.code, parent), "{}", region.code);
            }
        }
    }

    #[test]
    fn siblings_never_contain_each_other() {
        let t = table();
        for region in t.iter() {
            let siblings = match &region.parent {
                Some(parent) => t.children(parent),
                None => continue,
            };
            for sibling in siblings {
                if sibling.code != region.code {
                    assert!(
                        !t.is_within(&region.code, &sibling.code),
                        "{} contains {}",
                        region.code,
                        sibling.code
                    );
                }
            }
        }
    }

    #[test]
    fn descendant_need_not_be_in_the_table() {
        let t = table();
        let not_listed = rc("621124999999");
        assert!(t.get(&not_listed).is_none());
        assert!(t.is_within(&rc("621124000000"), &not_listed));
        assert!(!t.is_within(&rc("621124100000"), &not_listed));
    }

    #[test]
    fn unknown_ancestor_contains_only_itself() {
        let t = table();
        let beijing = rc("110000000000");
        assert!(t.is_within(&beijing, &beijing));
        assert!(!t.is_within(&beijing, &rc("110105000000")));
    }

    fn load(json: &str) -> Result<RegionTable, RegionTableError> {
        RegionTable::from_json(json.as_bytes())
    }

    #[test]
    fn small_valid_table() {
        let t = load(
            r#"[
                {"code": "620000000000", "name": "甘肃省", "level": "province", "parent": null},
                {"code": "620100000000", "name": "兰州市", "level": "city", "parent": "620000000000"},
                {"code": "620105000000", "name": "安宁区", "level": "county"}
            ]"#,
        )
        .unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t.get(&rc("620105000000")).unwrap().parent, None);
        assert!(load("[]").unwrap().is_empty());
    }

    #[test]
    fn rejects_invalid_tables() {
        /// One row as JSON; `parent` is `null` or a quoted code.
        fn row(code: &str, name: &str, level: &str, parent: Option<&str>) -> String {
            let parent = parent.map_or("null".to_owned(), |p| format!("{p:?}"));
            format!(
                r#"{{"code": "{code}", "name": "{name}", "level": "{level}", "parent": {parent}}}"#
            )
        }
        let table = |rows: &[String]| format!("[{}]", rows.join(", "));
        let province = row("620000000000", "甘肃省", "province", None);
        let city = row("620100000000", "兰州市", "city", Some("620000000000"));

        let cases: Vec<(String, &str)> = vec![
            ("{}".into(), "json"),
            ("not json".into(), "json"),
            (table(&[row("620000000000", "x", "nation", None)]), "json"),
            (
                r#"[{"code": "620000000000", "name": "x", "level": "province", "parent": null, "extra": 1}]"#
                    .into(),
                "json",
            ),
            (table(&[row("62", "甘肃省", "province", None)]), "invalid"),
            (
                table(&[province.clone(), row("620100000000", "x", "city", Some("6200"))]),
                "invalid",
            ),
            (table(&[row("620000000000", "", "province", None)]), "empty"),
            (table(&[row("620100000000", "x", "province", None)]), "shape"),
            (table(&[row("620000000000", "x", "city", None)]), "shape"),
            (table(&[row("621124100000", "x", "county", None)]), "shape"),
            (table(&[province.clone(), province.clone()]), "duplicate"),
            (format!("[{city}]"), "missing"),
            (
                table(&[city.clone(), row("620000000000", "x", "province", Some("620100000000"))]),
                "not_higher",
            ),
            (
                table(&[row("620000000000", "x", "province", Some("620000000000"))]),
                "not_higher",
            ),
            (
                table(&[province.clone(), row("610100000000", "x", "city", Some("620000000000"))]),
                "not_ancestor",
            ),
            (
                table(&[
                    province.clone(),
                    city.clone(),
                    row("621002000000", "x", "county", Some("620100000000")),
                ]),
                "not_ancestor",
            ),
        ];
        for (json, expected) in cases {
            let err = load(&json).unwrap_err();
            let kind = match err {
                RegionTableError::Json(_) => "json",
                RegionTableError::InvalidCode { .. } => "invalid",
                RegionTableError::EmptyName { .. } => "empty",
                RegionTableError::LevelShape { .. } => "shape",
                RegionTableError::Duplicate { .. } => "duplicate",
                RegionTableError::MissingParent { .. } => "missing",
                RegionTableError::ParentNotHigher { .. } => "not_higher",
                RegionTableError::ParentNotAncestor { .. } => "not_ancestor",
            };
            assert_eq!(kind, expected, "{json}: {err}");
        }
    }

    #[test]
    fn error_messages_name_the_row() {
        let json = r#"[
            {"code": "620000000000", "name": "甘肃省", "level": "province", "parent": null},
            {"code": "621100000000", "name": "定西市", "level": "city", "parent": "620000000000"},
            {"code": "621002000000", "name": "西峰区", "level": "county", "parent": "621100000000"}
        ]"#;
        let err = load(json).unwrap_err();
        assert_eq!(
            err.to_string(),
            "region table row 2: parent 621100000000 (city) is not an ancestor of 621002000000: \
             the first 4 digits differ"
        );
        let err =
            load(r#"[{"code": "62000000000x", "name": "x", "level": "province", "parent": null}]"#)
                .unwrap_err();
        assert_eq!(
            err.to_string(),
            "region table row 0: invalid code: region code must be 12 ASCII digits, but character 12 is 'x'"
        );
    }

    #[test]
    fn region_serde_round_trip() {
        let t = table();
        let region = t.get(&rc("621124100005")).unwrap();
        let json = serde_json::to_string(region).unwrap();
        assert_eq!(
            json,
            r#"{"code":"621124100005","name":"城中社区居民委员会","level":"village","parent":"621124100000"}"#
        );
        let back: Region = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, region);
    }
}
