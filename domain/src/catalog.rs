//! The catalog list (事项目录清单) published by the province: "same item, same name, same
//! code, same basis" at every tier. Departmental systems use local codes and names; the catalog's
//! aliases map them to the one basic code and name that is stored.

use std::collections::HashMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::codes::item::{BasicCode, ItemType};
use crate::codes::region::RegionCode;
use crate::schema::JsonSchema;
use crate::sharing::Sharing;

/// Bytes of the catalog shipped with the gateway (`schemas/catalog/catalog.json`).
pub const BUNDLED_JSON: &str = include_str!("../../schemas/catalog/catalog.json");
/// The JSON Schema every catalog file must satisfy.
pub const SCHEMA_JSON: &str = include_str!("../../schemas/catalog.v1.schema.json");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    Active,
    /// 暂停: no new cases are accepted for the item.
    Suspended,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Alias {
    pub department: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Item {
    pub basic_code: BasicCode,
    pub name: String,
    pub item_type: ItemType,
    /// The department that handles the item; only its systems may push cases for it.
    pub department: String,
    pub legal_time_limit_days: u32,
    pub legal_basis: String,
    pub status: ItemStatus,
    pub aliases: Vec<Alias>,
    /// How the item's case data is shared; unclassed items are conditional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sharing: Option<Sharing>,
}

/// A certificate type and how it is shared.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CertificateType {
    pub type_code: String,
    pub name: String,
    pub sharing: Sharing,
}

#[derive(Debug, Clone, Deserialize)]
struct CatalogFile {
    catalog_version: String,
    effective_from: NaiveDate,
    publisher_region: RegionCode,
    items: Vec<Item>,
    #[serde(default)]
    certificate_types: Vec<CertificateType>,
}

/// A loaded, indexed catalog version.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub version: String,
    pub effective_from: NaiveDate,
    pub publisher_region: RegionCode,
    items: Vec<Item>,
    certificate_types: Vec<CertificateType>,
    by_code: HashMap<String, usize>,
    by_alias_code: HashMap<(String, String), usize>,
    by_name: HashMap<(String, String), usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("catalog does not match catalog.v1.schema.json: {0}")]
    Schema(String),
    #[error("catalog item {code}: {why}")]
    Item { code: String, why: String },
}

/// Why a record's item could not be mapped to an active catalog item. `code()` is stable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    Unknown,
    Suspended {
        basic_code: String,
        name: String,
    },
    OtherDepartment {
        basic_code: String,
        department: String,
    },
}

impl ResolveError {
    pub fn code(&self) -> &'static str {
        match self {
            ResolveError::Unknown => "service_item.unknown",
            ResolveError::Suspended { .. } => "service_item.suspended",
            ResolveError::OtherDepartment { .. } => "service_item.department",
        }
    }
}

/// Names are compared without surrounding or inner white space (legacy systems pad them).
fn name_key(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

impl Catalog {
    /// Parse and check a catalog file: schema, code structure, type digits, unique codes/aliases.
    pub fn from_json(bytes: &[u8]) -> Result<Self, CatalogError> {
        let value: serde_json::Value = serde_json::from_slice(bytes)?;
        let schema = JsonSchema::compile(SCHEMA_JSON).expect("bundled catalog schema compiles");
        if let Some(e) = schema.errors(&value).into_iter().next() {
            return Err(CatalogError::Schema(e.to_string()));
        }
        let file: CatalogFile = serde_json::from_value(value)?;
        let mut cat = Catalog {
            version: file.catalog_version,
            effective_from: file.effective_from,
            publisher_region: file.publisher_region,
            items: Vec::with_capacity(file.items.len()),
            certificate_types: file.certificate_types,
            by_code: HashMap::new(),
            by_alias_code: HashMap::new(),
            by_name: HashMap::new(),
        };
        for item in file.items {
            let code = item.basic_code.as_str().to_owned();
            let bad = |why: String| CatalogError::Item {
                code: code.clone(),
                why,
            };
            if item.basic_code.item_type() != item.item_type {
                return Err(bad(format!(
                    "type digits say {:?} but item_type is {:?}",
                    item.basic_code.item_type(),
                    item.item_type
                )));
            }
            let idx = cat.items.len();
            if cat.by_code.insert(code.clone(), idx).is_some() {
                return Err(bad("basic code listed twice".into()));
            }
            let mut names = vec![(item.department.clone(), name_key(&item.name))];
            for alias in &item.aliases {
                if let Some(c) = &alias.code {
                    let key = (alias.department.clone(), c.trim().to_owned());
                    if cat.by_alias_code.insert(key, idx).is_some() {
                        return Err(bad(format!("alias code {c} is used twice")));
                    }
                }
                if let Some(n) = &alias.name {
                    names.push((alias.department.clone(), name_key(n)));
                }
            }
            for key in names {
                if let Some(other) = cat.by_name.insert(key.clone(), idx)
                    && other != idx
                {
                    return Err(bad(format!("name {} also names another item", key.1)));
                }
            }
            cat.items.push(item);
        }
        Ok(cat)
    }

    /// The catalog shipped in `schemas/catalog/catalog.json`.
    pub fn bundled() -> Result<Self, CatalogError> {
        Self::from_json(BUNDLED_JSON.as_bytes())
    }

    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// How an item's case data is shared (unclassed or unknown: conditional).
    pub fn item_sharing(&self, basic_code: &str) -> Sharing {
        self.get(basic_code)
            .and_then(|i| i.sharing.clone())
            .unwrap_or_else(Sharing::unclassed)
    }

    /// How a certificate type is shared (unclassed: conditional).
    pub fn certificate_sharing(&self, type_code: &str) -> Sharing {
        self.certificate_types
            .iter()
            .find(|t| t.type_code == type_code)
            .map(|t| t.sharing.clone())
            .unwrap_or_else(Sharing::unclassed)
    }

    pub fn get(&self, basic_code: &str) -> Option<&Item> {
        self.by_code.get(basic_code).map(|&i| &self.items[i])
    }

    /// Map what a department's system sent (a catalog code, or its local code or name) to the
    /// active catalog item. The catalog code wins, then the local code, then the name.
    pub fn resolve(
        &self,
        department: &str,
        basic_code: Option<&str>,
        local_code: Option<&str>,
        local_name: Option<&str>,
    ) -> Result<&Item, ResolveError> {
        let idx = basic_code
            .and_then(|c| self.by_code.get(c.trim()))
            .or_else(|| {
                local_code.and_then(|c| {
                    self.by_alias_code
                        .get(&(department.to_owned(), c.trim().to_owned()))
                })
            })
            .or_else(|| {
                local_name.and_then(|n| self.by_name.get(&(department.to_owned(), name_key(n))))
            })
            .ok_or(ResolveError::Unknown)?;
        let item = &self.items[*idx];
        if item.department != department {
            return Err(ResolveError::OtherDepartment {
                basic_code: item.basic_code.to_string(),
                department: item.department.clone(),
            });
        }
        if item.status == ItemStatus::Suspended {
            return Err(ResolveError::Suspended {
                basic_code: item.basic_code.to_string(),
                name: item.name.clone(),
            });
        }
        Ok(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_catalog_loads_and_resolves() {
        let cat = Catalog::bundled().unwrap();
        assert!(cat.items().len() >= 10);
        let by_alias = cat
            .resolve("market_regulation", None, Some(" SCJG-0101 "), None)
            .unwrap();
        assert_eq!(by_alias.basic_code.as_str(), "620130001000");
        let by_name = cat
            .resolve("market_regulation", None, None, Some("公司 设立登记"))
            .unwrap();
        assert_eq!(by_name.name, "企业设立登记");
        let by_code = cat
            .resolve(
                "market_regulation",
                Some("620130001000"),
                Some("nonsense"),
                None,
            )
            .unwrap();
        assert_eq!(by_code.basic_code.as_str(), "620130001000");
    }

    #[test]
    fn unknown_suspended_and_foreign_items_are_refused() {
        let cat = Catalog::bundled().unwrap();
        let e = cat.resolve("market_regulation", None, Some("NOPE"), None);
        assert_eq!(e.unwrap_err().code(), "service_item.unknown");
        let e = cat.resolve("market_regulation", None, Some("SCJG-0301"), None);
        assert_eq!(e.unwrap_err().code(), "service_item.suspended");
        let e = cat.resolve("public_security", Some("620130001000"), None, None);
        assert_eq!(e.unwrap_err().code(), "service_item.department");
        // An alias belongs to its department only.
        let e = cat.resolve("public_security", None, Some("SCJG-0101"), None);
        assert_eq!(e.unwrap_err().code(), "service_item.unknown");
    }

    #[test]
    fn catalog_with_wrong_type_digits_is_refused() {
        let bad = BUNDLED_JSON.replacen(
            "\"item_type\": \"licensing\"",
            "\"item_type\": \"penalty\"",
            1,
        );
        let err = Catalog::from_json(bad.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("type digits"), "{err}");
    }

    #[test]
    fn catalog_with_duplicate_code_is_refused() {
        let mut v: serde_json::Value = serde_json::from_str(BUNDLED_JSON).unwrap();
        let first = v["items"][0].clone();
        v["items"].as_array_mut().unwrap().push(first);
        let err = Catalog::from_json(v.to_string().as_bytes()).unwrap_err();
        assert!(err.to_string().contains("twice"), "{err}");
    }
}
