//! The canonical fields a mapping file may set, with the kind of value each takes. Everything
//! else in the canonical record is the gateway's (`/schema`, `/source`, `/ingested_at`, the
//! catalog's `/service_item/name` and `/service_item/item_type`) or a structure, not a leaf.
//! A unit test checks every path here against `schemas/case-record.v1.schema.json`.

/// What a canonical leaf holds, so a mapping can be checked before any record arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Integer,
    Bool,
    /// RFC 3339 with an offset.
    DateTime,
    /// `yyyy-MM-dd`.
    Date,
    /// One of these strings.
    Enum(&'static [&'static str]),
}

impl Kind {
    pub fn describe(self) -> String {
        match self {
            Kind::Text => "text".into(),
            Kind::Integer => "a whole number".into(),
            Kind::Bool => "true or false".into(),
            Kind::DateTime => "a date-time".into(),
            Kind::Date => "a date".into(),
            Kind::Enum(v) => format!("one of {}", v.join(", ")),
        }
    }

    /// Does this canonical value (a constant, a default, a code-table entry) fit?
    pub fn accepts(self, v: &serde_json::Value) -> bool {
        match self {
            Kind::Text => v.as_str().is_some_and(|s| !s.trim().is_empty()),
            Kind::Integer => v.as_i64().is_some(),
            Kind::Bool => v.is_boolean(),
            Kind::Enum(values) => v.as_str().is_some_and(|s| values.contains(&s)),
            // Times and dates come from the source, converted; never constants.
            Kind::DateTime | Kind::Date => false,
        }
    }
}

pub const ID_TYPES: &[&str] = &["111", "001", "414", "990"];
pub const STATUSES: &[&str] = &[
    "received",
    "accepted",
    "in_progress",
    "on_hold",
    "completed",
    "rejected",
    "withdrawn",
];
pub const DECISIONS: &[&str] = &["approved", "denied", "not_accepted", "withdrawn"];
pub const CASE_KINDS: &[&str] = &["immediate", "promised", "other"];
pub const APPLICANT_KINDS: &[&str] = &["person", "organization"];

/// Leaves of the record itself.
pub const RECORD: &[(&str, Kind)] = &[
    ("/case_no", Kind::Text),
    ("/version", Kind::Integer),
    ("/service_item/basic_code", Kind::Text),
    ("/service_item/impl_code", Kind::Text),
    ("/service_item/case_kind", Kind::Enum(CASE_KINDS)),
    ("/service_item/local/code", Kind::Text),
    ("/service_item/local/name", Kind::Text),
    ("/region_code", Kind::Text),
    ("/tier", Kind::Integer),
    ("/handling_org/name", Kind::Text),
    ("/handling_org/credit_code", Kind::Text),
    ("/applicant/kind", Kind::Enum(APPLICANT_KINDS)),
    ("/applicant/name", Kind::Text),
    ("/applicant/id_type", Kind::Enum(ID_TYPES)),
    ("/applicant/id_number", Kind::Text),
    ("/applicant/phone", Kind::Text),
    ("/applicant/address", Kind::Text),
    ("/timestamps/occurred", Kind::DateTime),
    ("/timestamps/received", Kind::DateTime),
    ("/timestamps/accepted", Kind::DateTime),
    ("/timestamps/decided", Kind::DateTime),
    ("/timestamps/completed", Kind::DateTime),
    ("/time_limits/promised_days", Kind::Integer),
    ("/time_limits/legal_days", Kind::Integer),
    ("/status", Kind::Enum(STATUSES)),
    ("/result/decision", Kind::Enum(DECISIONS)),
    ("/result/text", Kind::Text),
    ("/disclosure/public", Kind::Bool),
    ("/disclosure/reason_not_public", Kind::Text),
];

/// What every record needs; a mapping that never sets one of these could not produce a single
/// valid record. (The service item needs one of [`ITEM`].)
pub const RECORD_REQUIRED: &[&str] = &[
    "/case_no",
    "/version",
    "/region_code",
    "/handling_org/name",
    "/handling_org/credit_code",
    "/applicant/kind",
    "/applicant/name",
    "/applicant/id_type",
    "/applicant/id_number",
    "/timestamps/occurred",
    "/timestamps/received",
    "/status",
    "/disclosure/public",
];

/// The ways a record names its catalog item; at least one must be mapped, and a record where all
/// are blank gets `field.missing` at `/service_item/local`.
pub const ITEM: &[&str] = &[
    "/service_item/basic_code",
    "/service_item/local/code",
    "/service_item/local/name",
];

/// A list in the canonical record: its pointer, its elements' leaves (relative pointers) and the
/// leaves every element needs.
pub struct ListTarget {
    pub to: &'static str,
    pub leaves: &'static [(&'static str, Kind)],
    /// Relative pointers under this prefix may end in any one token (`/surface/出生地点`).
    pub open_prefix: Option<&'static str>,
    pub required: &'static [&'static str],
}

pub const LISTS: &[ListTarget] = &[
    ListTarget {
        to: "/result/certificates",
        leaves: &[
            ("/type_code", Kind::Text),
            ("/type_name", Kind::Text),
            ("/number", Kind::Text),
            ("/holder/name", Kind::Text),
            ("/holder/code", Kind::Text),
            ("/holder/code_type", Kind::Enum(ID_TYPES)),
            ("/issuing_authority/name", Kind::Text),
            ("/issuing_authority/credit_code", Kind::Text),
            ("/issue_date", Kind::Date),
            ("/valid_from", Kind::Date),
            ("/valid_until", Kind::Date),
            ("/identifier", Kind::Text),
        ],
        open_prefix: Some("/surface/"),
        required: &[
            "/type_code",
            "/type_name",
            "/number",
            "/holder/name",
            "/holder/code",
            "/holder/code_type",
            "/issuing_authority/name",
            "/issuing_authority/credit_code",
            "/issue_date",
            "/valid_from",
        ],
    },
    ListTarget {
        to: "/process_steps",
        leaves: &[
            ("/name", Kind::Text),
            ("/actor", Kind::Text),
            ("/action", Kind::Text),
            ("/opinion", Kind::Text),
            ("/time", Kind::DateTime),
        ],
        open_prefix: None,
        required: &["/name", "/time"],
    },
    ListTarget {
        to: "/holds",
        leaves: &[
            ("/reason", Kind::Text),
            ("/start", Kind::DateTime),
            ("/end", Kind::DateTime),
        ],
        open_prefix: None,
        required: &["/reason", "/start"],
    },
];

pub fn record_kind(to: &str) -> Option<Kind> {
    RECORD.iter().find(|(p, _)| *p == to).map(|(_, k)| *k)
}

pub fn list(to: &str) -> Option<&'static ListTarget> {
    LISTS.iter().find(|l| l.to == to)
}

impl ListTarget {
    pub fn kind(&self, to: &str) -> Option<Kind> {
        if let Some(k) = self.leaves.iter().find(|(p, _)| *p == to).map(|(_, k)| *k) {
            return Some(k);
        }
        let rest = to.strip_prefix(self.open_prefix?)?;
        (!rest.is_empty() && !rest.contains('/')).then_some(Kind::Text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// The schema node a JSON Pointer leads to, following `properties`, `items` and local
    /// `$ref`s.
    fn node<'a>(schema: &'a Value, root: &'a Value, pointer: &str) -> Option<&'a Value> {
        let mut cur = schema;
        for token in pointer.split('/').skip(1) {
            if let Some(r) = cur.get("$ref").and_then(Value::as_str) {
                cur = root.pointer(r.strip_prefix('#')?)?;
            }
            cur = match cur.get("properties").and_then(|p| p.get(token)) {
                Some(next) => next,
                None => cur.get("additionalProperties").filter(|a| a.is_object())?,
            };
        }
        if let Some(r) = cur.get("$ref").and_then(Value::as_str) {
            cur = root.pointer(r.strip_prefix('#')?)?;
        }
        Some(cur)
    }

    #[test]
    fn every_target_is_a_leaf_of_the_canonical_schema() {
        let root: Value = serde_json::from_str(domain::schema::CASE_RECORD_V1).unwrap();
        for (path, kind) in RECORD {
            let n = node(&root, &root, path).unwrap_or_else(|| panic!("{path} not in schema"));
            let ty = n.get("type").and_then(Value::as_str);
            match kind {
                Kind::Integer => assert_eq!(ty, Some("integer"), "{path}"),
                Kind::Bool => assert_eq!(ty, Some("boolean"), "{path}"),
                Kind::Text | Kind::DateTime | Kind::Date => {
                    assert_eq!(ty, Some("string"), "{path}")
                }
                Kind::Enum(values) => {
                    let e: Vec<&str> = n["enum"]
                        .as_array()
                        .unwrap_or_else(|| panic!("{path} has no enum"))
                        .iter()
                        .map(|v| v.as_str().unwrap())
                        .collect();
                    assert_eq!(&e, values, "{path}");
                }
            }
        }
        for l in LISTS {
            let arr = node(&root, &root, l.to).unwrap();
            assert_eq!(arr["type"], "array", "{}", l.to);
            let items = &arr["items"];
            for (leaf, _) in l.leaves {
                assert!(node(items, &root, leaf).is_some(), "{}{leaf}", l.to);
            }
            let items = node(items, &root, "").unwrap();
            for req in items["required"].as_array().unwrap() {
                let req = format!("/{}", req.as_str().unwrap());
                assert!(
                    l.required
                        .iter()
                        .any(|r| *r == req || r.starts_with(&format!("{req}/"))),
                    "{}: schema requires {req}",
                    l.to
                );
            }
        }
        assert!(node(&root, &root, "/result/certificates").is_some());
        assert_eq!(
            list("/result/certificates")
                .unwrap()
                .kind("/surface/出生地点"),
            Some(Kind::Text)
        );
        assert_eq!(
            list("/result/certificates").unwrap().kind("/surface/a/b"),
            None
        );
        assert_eq!(
            list("/result/certificates").unwrap().kind("/surface/"),
            None
        );
    }
}
