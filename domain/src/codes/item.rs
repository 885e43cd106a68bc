//! Government service item codes (政务服务事项编码, GB/T 39046-2020 Appendix A, as used by
//! implementing systems).
//!
//! - [`ItemType`]: the 2-digit item type (01 licensing ... 10 other power, 20 public service).
//! - [`BasicCode`] (基本编码): 12 digits = region 2 + item type 2 + main item 5 + sub-item 3.
//! - [`ImplCode`] (实施编码): implementing body's credit code 18 + tier 1 + basic code 12, and
//!   up to 5 more characters that real systems append (31-36 characters in all).
//! - [`CaseKind`]: the A.6 case kind (1 immediate, 2 promised, 9 other).
//!
//! Every case record names the item it was handled under; parsing the codes once here means
//! routing, statistics and catalog look-ups can trust their parts.

use serde::{Deserialize, Serialize};

use super::error::digits_problem;
use super::{CodeError, CreditCode};

/// The type of a service item (GB/T 39046-2020 A.3). `00` (the class of administrative powers)
/// and the reserved `11`+ / `21`+ codes are not item types.
///
/// Serialized as the snake-case English name (`"licensing"`, `"public_service"`, ...).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemType {
    /// 01 行政许可
    Licensing,
    /// 02 行政处罚
    Penalty,
    /// 03 行政强制
    Enforcement,
    /// 04 行政征收
    Levy,
    /// 05 行政给付
    Payment,
    /// 06 行政检查
    Inspection,
    /// 07 行政确认
    Confirmation,
    /// 08 行政奖励
    Reward,
    /// 09 行政裁决
    Adjudication,
    /// 10 其他行政权力
    OtherPower,
    /// 20 公共服务
    PublicService,
}

impl ItemType {
    /// Every item type, in code order.
    pub const ALL: [ItemType; 11] = [
        ItemType::Licensing,
        ItemType::Penalty,
        ItemType::Enforcement,
        ItemType::Levy,
        ItemType::Payment,
        ItemType::Inspection,
        ItemType::Confirmation,
        ItemType::Reward,
        ItemType::Adjudication,
        ItemType::OtherPower,
        ItemType::PublicService,
    ];

    /// The item type with this 2-digit code (`item_type.unknown` otherwise, including `00`).
    pub fn from_code(code: &str) -> Result<ItemType, CodeError> {
        ItemType::ALL
            .into_iter()
            .find(|t| t.code() == code)
            .ok_or_else(|| CodeError::ItemTypeUnknown {
                value: code.to_owned(),
            })
    }

    /// The item type with this snake-case English name (`item_type.unknown` otherwise).
    pub fn parse_name(name: &str) -> Result<ItemType, CodeError> {
        ItemType::ALL
            .into_iter()
            .find(|t| t.name_en() == name)
            .ok_or_else(|| CodeError::ItemTypeUnknown {
                value: name.to_owned(),
            })
    }

    /// The 2-digit code: `"01"` ... `"10"`, `"20"`.
    pub fn code(self) -> &'static str {
        match self {
            ItemType::Licensing => "01",
            ItemType::Penalty => "02",
            ItemType::Enforcement => "03",
            ItemType::Levy => "04",
            ItemType::Payment => "05",
            ItemType::Inspection => "06",
            ItemType::Confirmation => "07",
            ItemType::Reward => "08",
            ItemType::Adjudication => "09",
            ItemType::OtherPower => "10",
            ItemType::PublicService => "20",
        }
    }

    /// The Chinese name, e.g. `"行政许可"`.
    pub fn name_zh(self) -> &'static str {
        match self {
            ItemType::Licensing => "行政许可",
            ItemType::Penalty => "行政处罚",
            ItemType::Enforcement => "行政强制",
            ItemType::Levy => "行政征收",
            ItemType::Payment => "行政给付",
            ItemType::Inspection => "行政检查",
            ItemType::Confirmation => "行政确认",
            ItemType::Reward => "行政奖励",
            ItemType::Adjudication => "行政裁决",
            ItemType::OtherPower => "其他行政权力",
            ItemType::PublicService => "公共服务",
        }
    }

    /// The snake-case English name, as serialized: `"licensing"`, `"other_power"`, ...
    pub fn name_en(self) -> &'static str {
        match self {
            ItemType::Licensing => "licensing",
            ItemType::Penalty => "penalty",
            ItemType::Enforcement => "enforcement",
            ItemType::Levy => "levy",
            ItemType::Payment => "payment",
            ItemType::Inspection => "inspection",
            ItemType::Confirmation => "confirmation",
            ItemType::Reward => "reward",
            ItemType::Adjudication => "adjudication",
            ItemType::OtherPower => "other_power",
            ItemType::PublicService => "public_service",
        }
    }
}

impl std::fmt::Display for ItemType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name_en())
    }
}

/// A 12-digit item basic code (基本编码), e.g. `620100101000`: region `62`, type `01`
/// (licensing), main item `00101`, sub-item `000` (none).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct BasicCode {
    code: String,
    item_type: ItemType,
}

impl BasicCode {
    /// Parses 12 ASCII digits whose characters 3-4 are a known item type.
    ///
    /// Errors: `basic_code.format`, `basic_code.item_type`.
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        if let Some(detail) = digits_problem(s, 12) {
            return Err(CodeError::BasicCodeFormat { detail });
        }
        let digits = &s[2..4];
        let item_type = ItemType::from_code(digits).map_err(|_| CodeError::BasicCodeItemType {
            digits: digits.to_owned(),
        })?;
        Ok(BasicCode {
            code: s.to_owned(),
            item_type,
        })
    }

    /// The 12 digits.
    pub fn as_str(&self) -> &str {
        &self.code
    }

    /// The 2-digit region part (characters 1-2).
    pub fn region_part(&self) -> &str {
        &self.code[..2]
    }

    /// The item type (characters 3-4).
    pub fn item_type(&self) -> ItemType {
        self.item_type
    }

    /// The 5-digit main item (characters 5-9; the first two name the central department).
    pub fn main_item(&self) -> &str {
        &self.code[4..9]
    }

    /// The 3-digit sub-item (characters 10-12; `000` if there is none).
    pub fn sub_item(&self) -> &str {
        &self.code[9..12]
    }
}

string_code_impls!(BasicCode);

/// An item implementation code (实施编码): the implementing body's credit code (18), its tier
/// (1 digit, GB/T 39046 A.2: 1 national ... 7 graded management), the basic code (12), and up
/// to 5 further characters — 31 to 36 in all.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ImplCode {
    code: String,
    credit_code: CreditCode,
    tier: u8,
    basic_code: BasicCode,
}

impl ImplCode {
    /// Parses an implementation code.
    ///
    /// Errors: `impl_code.format` (not 31-36 uppercase ASCII letters and digits),
    /// `impl_code.credit_code`, `impl_code.tier`, `impl_code.basic_code`.
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        let format = |detail: String| CodeError::ImplCodeFormat { detail };
        if let Some((pos, c)) = s
            .chars()
            .enumerate()
            .find(|(_, c)| !(c.is_ascii_digit() || c.is_ascii_uppercase()))
        {
            return Err(format(format!(
                "character {} is {c:?}, but only digits and uppercase A-Z are allowed",
                pos + 1
            )));
        }
        if !(31..=36).contains(&s.len()) {
            return Err(format(format!(
                "must be 31 to 36 characters, got {}",
                s.len()
            )));
        }

        let credit_code =
            CreditCode::parse(&s[..18]).map_err(|e| CodeError::ImplCodeCreditCode {
                source: Box::new(e),
            })?;
        let tier_char = s.as_bytes()[18] as char;
        let tier = match tier_char {
            '1'..='7' => tier_char as u8 - b'0',
            found => return Err(CodeError::ImplCodeTier { found }),
        };
        let basic_code =
            BasicCode::parse(&s[19..31]).map_err(|e| CodeError::ImplCodeBasicCode {
                source: Box::new(e),
            })?;
        Ok(ImplCode {
            code: s.to_owned(),
            credit_code,
            tier,
            basic_code,
        })
    }

    /// The 31 to 36 characters.
    pub fn as_str(&self) -> &str {
        &self.code
    }

    /// The implementing body (characters 1-18).
    pub fn credit_code(&self) -> &CreditCode {
        &self.credit_code
    }

    /// The tier the item is exercised at, 1-7 (character 19).
    pub fn tier(&self) -> u8 {
        self.tier
    }

    /// The item's basic code (characters 20-31).
    pub fn basic_code(&self) -> &BasicCode {
        &self.basic_code
    }

    /// The 0 to 5 characters after the basic code that some systems append (often empty).
    pub fn extension(&self) -> &str {
        &self.code[31..]
    }
}

string_code_impls!(ImplCode);

/// How a case is handled (GB/T 39046-2020 A.6). Serialized as `"immediate"`, `"promised"`,
/// `"other"`; the numeric codes are `1`, `2`, `9`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum CaseKind {
    /// 1 即办件: handled on the spot.
    Immediate = 1,
    /// 2 承诺件: handled within a promised time limit.
    Promised = 2,
    /// 9 其他
    Other = 9,
}

impl CaseKind {
    /// Every case kind, in code order.
    pub const ALL: [CaseKind; 3] = [CaseKind::Immediate, CaseKind::Promised, CaseKind::Other];

    /// The case kind with this 1-digit code `"1"`, `"2"` or `"9"` (`case_kind.unknown` otherwise).
    pub fn from_code(code: &str) -> Result<CaseKind, CodeError> {
        CaseKind::ALL
            .into_iter()
            .find(|k| k.code() == code)
            .ok_or_else(|| CodeError::CaseKindUnknown {
                value: code.to_owned(),
            })
    }

    /// The case kind with this English name (`case_kind.unknown` otherwise).
    pub fn parse_name(name: &str) -> Result<CaseKind, CodeError> {
        CaseKind::ALL
            .into_iter()
            .find(|k| k.name_en() == name)
            .ok_or_else(|| CodeError::CaseKindUnknown {
                value: name.to_owned(),
            })
    }

    /// The 1-digit code: `"1"`, `"2"` or `"9"`.
    pub fn code(self) -> &'static str {
        match self {
            CaseKind::Immediate => "1",
            CaseKind::Promised => "2",
            CaseKind::Other => "9",
        }
    }

    /// The English name, as serialized: `"immediate"`, `"promised"`, `"other"`.
    pub fn name_en(self) -> &'static str {
        match self {
            CaseKind::Immediate => "immediate",
            CaseKind::Promised => "promised",
            CaseKind::Other => "other",
        }
    }

    /// The Chinese name: `"即办件"`, `"承诺件"`, `"其他"`.
    pub fn name_zh(self) -> &'static str {
        match self {
            CaseKind::Immediate => "即办件",
            CaseKind::Promised => "承诺件",
            CaseKind::Other => "其他",
        }
    }
}

impl std::fmt::Display for CaseKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name_en())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_type_codes_and_names() {
        let table: Vec<(&str, &str, &str)> = ItemType::ALL
            .iter()
            .map(|t| (t.code(), t.name_en(), t.name_zh()))
            .collect();
        assert_eq!(
            table,
            [
                ("01", "licensing", "行政许可"),
                ("02", "penalty", "行政处罚"),
                ("03", "enforcement", "行政强制"),
                ("04", "levy", "行政征收"),
                ("05", "payment", "行政给付"),
                ("06", "inspection", "行政检查"),
                ("07", "confirmation", "行政确认"),
                ("08", "reward", "行政奖励"),
                ("09", "adjudication", "行政裁决"),
                ("10", "other_power", "其他行政权力"),
                ("20", "public_service", "公共服务"),
            ]
        );
        for t in ItemType::ALL {
            assert_eq!(ItemType::from_code(t.code()).unwrap(), t);
            assert_eq!(ItemType::parse_name(t.name_en()).unwrap(), t);
            assert_eq!(t.to_string(), t.name_en());
        }
    }

    #[test]
    fn item_type_serde_matches_name_en() {
        for t in ItemType::ALL {
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.name_en()));
            assert_eq!(serde_json::from_str::<ItemType>(&json).unwrap(), t);
        }
        assert!(serde_json::from_str::<ItemType>("\"01\"").is_err());
        assert!(serde_json::from_str::<ItemType>("\"OtherPower\"").is_err());
    }

    #[test]
    fn item_type_unknown() {
        for code in ["00", "11", "19", "21", "99", "1", "001", " 01", ""] {
            let err = ItemType::from_code(code).unwrap_err();
            assert_eq!(err.code(), "item_type.unknown", "{code:?}");
        }
        for name in ["Licensing", "other power", "otherPower", "行政许可", ""] {
            let err = ItemType::parse_name(name).unwrap_err();
            assert_eq!(err.code(), "item_type.unknown", "{name:?}");
        }
    }

    #[test]
    fn basic_code_parts() {
        let b = BasicCode::parse("620100101000").unwrap();
        assert_eq!(b.as_str(), "620100101000");
        assert_eq!(b.region_part(), "62");
        assert_eq!(b.item_type(), ItemType::Licensing);
        assert_eq!(b.main_item(), "00101");
        assert_eq!(b.sub_item(), "000");

        let b = BasicCode::parse("002012345007").unwrap();
        assert_eq!(b.item_type(), ItemType::PublicService);
        assert_eq!(b.main_item(), "12345");
        assert_eq!(b.sub_item(), "007");
        assert_eq!(b.to_string(), "002012345007");
    }

    #[test]
    fn basic_code_errors() {
        for s in [
            "",
            "62010010100",
            "6201001010000",
            "62010010100A",
            " 620100101000",
            "６２0100101000",
        ] {
            let err = BasicCode::parse(s).unwrap_err();
            assert_eq!(err.code(), "basic_code.format", "{s:?}");
        }
        for s in [
            "620000101000",
            "621100101000",
            "622100101000",
            "629900101000",
        ] {
            let err = BasicCode::parse(s).unwrap_err();
            assert_eq!(err.code(), "basic_code.item_type", "{s}");
        }
        let err = BasicCode::parse("620000101000").unwrap_err();
        assert_eq!(
            err.to_string(),
            "item basic code has item type digits \"00\", which is not a known item type"
        );
    }

    const IMPL_31: &str = "11430000006122244L4620100101000";

    #[test]
    fn impl_code_parts() {
        let c = ImplCode::parse(IMPL_31).unwrap();
        assert_eq!(c.as_str(), IMPL_31);
        assert_eq!(c.credit_code().as_str(), "11430000006122244L");
        assert_eq!(c.tier(), 4);
        assert_eq!(c.basic_code().as_str(), "620100101000");
        assert_eq!(c.basic_code().item_type(), ItemType::Licensing);
        assert_eq!(c.extension(), "");

        let long = format!("{IMPL_31}A0B1C");
        let c = ImplCode::parse(&long).unwrap();
        assert_eq!(c.as_str().len(), 36);
        assert_eq!(c.extension(), "A0B1C");
        assert_eq!(c.basic_code().as_str(), "620100101000");
        assert_eq!(long.parse::<ImplCode>().unwrap(), c);

        for tier in 1..=7 {
            let s = format!("11100000000013338W{tier}002012345007");
            assert_eq!(ImplCode::parse(&s).unwrap().tier(), tier);
        }
    }

    #[test]
    fn impl_code_errors() {
        let cases = [
            ("11430000006122244L462010010100", "impl_code.format"), // 30
            ("11430000006122244L4620100101000ABCDEF", "impl_code.format"), // 37
            ("11430000006122244l4620100101000", "impl_code.format"), // lowercase
            ("11430000006122244L 620100101000", "impl_code.format"),
            ("11430000006122244L4620100101000-", "impl_code.format"),
            ("11430000006122244X4620100101000", "impl_code.credit_code"),
            ("1143000000612224IL4620100101000", "impl_code.credit_code"),
            ("11430000006122244L0620100101000", "impl_code.tier"),
            ("11430000006122244L8620100101000", "impl_code.tier"),
            ("11430000006122244LA620100101000", "impl_code.tier"),
            ("11430000006122244L4620000101000", "impl_code.basic_code"), // type 00
            ("11430000006122244L462010010100A", "impl_code.basic_code"), // letter in basic code
        ];
        for (s, code) in cases {
            let err = ImplCode::parse(s).unwrap_err();
            assert_eq!(err.code(), code, "{s}: {err}");
        }
        let err = ImplCode::parse("11430000006122244X4620100101000").unwrap_err();
        assert!(
            err.to_string().contains("'X' but 'L' was expected"),
            "{err}"
        );
        let err = ImplCode::parse("11430000006122244L4620000101000").unwrap_err();
        match err {
            CodeError::ImplCodeBasicCode { source } => {
                assert_eq!(source.code(), "basic_code.item_type")
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn impl_code_serde() {
        let c = ImplCode::parse(IMPL_31).unwrap();
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, format!("\"{IMPL_31}\""));
        assert_eq!(serde_json::from_str::<ImplCode>(&json).unwrap(), c);
        let err =
            serde_json::from_str::<ImplCode>("\"11430000006122244L8620100101000\"").unwrap_err();
        assert!(err.to_string().contains("tier"), "{err}");

        let b = BasicCode::parse("620100101000").unwrap();
        assert_eq!(serde_json::to_string(&b).unwrap(), "\"620100101000\"");
        assert_eq!(
            serde_json::from_str::<BasicCode>("\"620100101000\"").unwrap(),
            b
        );
        assert!(serde_json::from_str::<BasicCode>("\"620000101000\"").is_err());
    }

    #[test]
    fn case_kind() {
        let table: Vec<(&str, &str, &str, u8)> = CaseKind::ALL
            .iter()
            .map(|&k| (k.code(), k.name_en(), k.name_zh(), k as u8))
            .collect();
        assert_eq!(
            table,
            [
                ("1", "immediate", "即办件", 1),
                ("2", "promised", "承诺件", 2),
                ("9", "other", "其他", 9),
            ]
        );
        for k in CaseKind::ALL {
            assert_eq!(CaseKind::from_code(k.code()).unwrap(), k);
            assert_eq!(CaseKind::parse_name(k.name_en()).unwrap(), k);
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.name_en()));
            assert_eq!(serde_json::from_str::<CaseKind>(&json).unwrap(), k);
        }
        for code in ["0", "3", "01", "", "immediate"] {
            assert_eq!(
                CaseKind::from_code(code).unwrap_err().code(),
                "case_kind.unknown"
            );
        }
        assert_eq!(
            CaseKind::parse_name("Immediate").unwrap_err().code(),
            "case_kind.unknown"
        );
        assert!(serde_json::from_str::<CaseKind>("\"1\"").is_err());
    }
}
