//! JSON Schemas compiled once at start-up, and their failures turned into [`FieldError`]s with
//! stable codes (`schema.<keyword>`) and the path of the offending field.

use std::sync::Arc;

use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

use crate::field_error::{FieldError, pointer_token};

/// The canonical case-record schema, the single source of truth for the stored shape.
pub const CASE_RECORD_V1: &str = include_str!("../../schemas/case-record.v1.schema.json");

/// A compiled schema; cheap to clone and share between threads.
#[derive(Clone)]
pub struct JsonSchema {
    validator: Arc<jsonschema::Validator>,
}

impl JsonSchema {
    /// Compile a 2020-12 schema. No remote `$ref`s are fetched (the crate is built without them).
    pub fn compile(text: &str) -> Result<Self, String> {
        let schema: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let validator = jsonschema::draft202012::new(&schema).map_err(|e| e.to_string())?;
        Ok(Self {
            validator: Arc::new(validator),
        })
    }

    /// The canonical case-record schema.
    pub fn case_record() -> Self {
        Self::compile(CASE_RECORD_V1).expect("bundled case-record schema compiles")
    }

    pub fn is_valid(&self, instance: &Value) -> bool {
        self.validator.is_valid(instance)
    }

    /// Every failure, each at the path of the field concerned. A missing property is reported at
    /// the property's own path, so `/applicant/id_number` rather than `/applicant`.
    pub fn errors(&self, instance: &Value) -> Vec<FieldError> {
        if self.validator.is_valid(instance) {
            return Vec::new();
        }
        let mut out: Vec<FieldError> = self
            .validator
            .iter_errors(instance)
            .map(|e| {
                let keyword = e
                    .schema_path()
                    .as_str()
                    .rsplit('/')
                    .next()
                    .unwrap_or("schema")
                    .to_owned();
                let mut path = e.instance_path().as_str().to_owned();
                let message = match e.kind() {
                    ValidationErrorKind::Required { property } => {
                        let name = property.as_str().unwrap_or_default();
                        path.push('/');
                        path.push_str(&pointer_token(name));
                        format!("'{name}' is required")
                    }
                    ValidationErrorKind::AdditionalProperties { unexpected } => {
                        format!("unexpected field(s): {}", unexpected.join(", "))
                    }
                    _ => e.to_string(),
                };
                FieldError::new(path, format!("schema.{keyword}"), message)
            })
            .collect();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn required_is_reported_at_the_missing_field() {
        let s = JsonSchema::compile(
            r#"{"type":"object","required":["a"],"properties":{"b":{"type":"object","required":["c/d"]}}}"#,
        )
        .unwrap();
        let errs = s.errors(&json!({"b": {}}));
        let paths: Vec<_> = errs
            .iter()
            .map(|e| (e.path.as_str(), e.code.as_str()))
            .collect();
        assert!(paths.contains(&("/a", "schema.required")), "{paths:?}");
        assert!(paths.contains(&("/b/c~1d", "schema.required")), "{paths:?}");
    }

    #[test]
    fn canonical_schema_compiles() {
        let s = JsonSchema::case_record();
        let errs = s.errors(&json!({"schema": "case-record/v1"}));
        assert!(
            errs.iter()
                .any(|e| e.path == "/case_no" && e.code == "schema.required")
        );
    }
}
