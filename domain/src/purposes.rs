//! Purpose codes (申请事由): every lookup of shared data states one from this list (and a free
//! text where the code requires it); sharing grants name the purposes they allow. Published by
//! the province as reference data; `schemas/purposes/purposes.json` is the bundled baseline.

use serde::{Deserialize, Serialize};

use crate::schema::JsonSchema;

pub const BUNDLED_JSON: &str = include_str!("../../schemas/purposes/purposes.json");
pub const SCHEMA_JSON: &str = include_str!("../../schemas/purposes.v1.schema.json");

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purpose {
    pub code: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_en: Option<String>,
    pub requires_text: bool,
    /// The departments whose staff normally look up for this purpose; empty: any. A lookup
    /// by another department's consumer is reported as unusual (it is not refused).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub departments: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurposeList {
    pub version: String,
    pub purposes: Vec<Purpose>,
}

#[derive(Debug, thiserror::Error)]
pub enum PurposeListError {
    #[error("not a purpose list: {0}")]
    Schema(String),
    #[error("purpose code {0} is listed twice")]
    Duplicate(String),
}

impl PurposeList {
    pub fn from_json(bytes: &[u8]) -> Result<PurposeList, PurposeListError> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| PurposeListError::Schema(e.to_string()))?;
        let schema = JsonSchema::compile(SCHEMA_JSON).expect("the bundled schema compiles");
        if let Some(e) = schema.errors(&value).first() {
            return Err(PurposeListError::Schema(e.to_string()));
        }
        let list: PurposeList =
            serde_json::from_value(value).map_err(|e| PurposeListError::Schema(e.to_string()))?;
        let mut seen = std::collections::HashSet::new();
        for p in &list.purposes {
            if !seen.insert(p.code.as_str()) {
                return Err(PurposeListError::Duplicate(p.code.clone()));
            }
        }
        Ok(list)
    }

    pub fn bundled() -> Result<PurposeList, PurposeListError> {
        PurposeList::from_json(BUNDLED_JSON.as_bytes())
    }

    pub fn get(&self, code: &str) -> Option<&Purpose> {
        self.purposes.iter().find(|p| p.code == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_list_loads_and_other_requires_a_text() {
        let list = PurposeList::bundled().unwrap();
        assert!(!list.get("approval").unwrap().requires_text);
        assert!(list.get("other").unwrap().requires_text);
        assert!(list.get("gossip").is_none());
        let twice = br#"{"version": "1", "purposes": [
            {"code": "a1", "name": "x", "requires_text": false},
            {"code": "a1", "name": "y", "requires_text": false}]}"#;
        assert!(matches!(
            PurposeList::from_json(twice),
            Err(PurposeListError::Duplicate(_))
        ));
        assert!(PurposeList::from_json(br#"{"version": "1", "purposes": []}"#).is_err());
    }
}
