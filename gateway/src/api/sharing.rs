//! Applying the sharing policy (`domain::sharing`) to answers: which certificates and case
//! records a consumer receives, and which of their fields. A single resource asked for by
//! identifier is refused with the reason (`403 sharing.*`); lists leave out what the consumer
//! may not see and count the conditional resources withheld (never the not-shared ones, whose
//! existence is not disclosed either).

use chrono::Utc;
use domain::codes::region::RegionCode;
use domain::sharing::{Ask, Consumer, Refusal, ResourceRef, Sharing, decide};
use serde_json::{Map, Value};

use crate::api::auth::Caller;
use crate::api::problem::Problem;
use crate::reference::Reference;

/// The purpose code of a stored purpose (`code` or `code: text`).
pub fn purpose_code(stored: &str) -> &str {
    stored.split(':').next().unwrap_or_default().trim()
}

/// May `caller` receive `resource` of `region` for `purpose` now? The field groups if yes.
pub fn check(
    reference: &Reference,
    caller: &Caller,
    purpose: &str,
    resource: ResourceRef,
    region: &RegionCode,
    sharing: &Sharing,
) -> Result<Option<Vec<String>>, Refusal> {
    let consumer = Consumer {
        id: &caller.id,
        department: caller.department.as_deref(),
    };
    let ask = Ask {
        consumer: &consumer,
        resource: &resource,
        region,
        purpose: purpose_code(purpose),
        now: Utc::now(),
    };
    decide(sharing, reference.grants(), &ask, reference.regions())
}

pub fn refused(r: Refusal) -> Problem {
    Problem::new(r.code(), r.message())
}

/// A case record reduced to the field groups allowed (`None`: all, as stored); without the
/// `applicant` group the applicant is masked by the shared rules.
pub fn project_record(record: &Value, fields: &Option<Vec<String>>) -> Value {
    let Some(fields) = fields else {
        return record.clone();
    };
    let has = |g: &str| fields.iter().any(|f| f == g);
    let Value::Object(all) = record else {
        return record.clone();
    };
    let group = |key: &str| match key {
        "applicant" => "applicant",
        "process_steps" | "holds" => "process",
        "result" => "result",
        _ => "case",
    };
    let mut out: Map<String, Value> = all
        .iter()
        .filter(|(k, _)| has(group(k)) || (k.as_str() == "applicant"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut view = Value::Object(std::mem::take(&mut out));
    if !has("applicant") {
        // The applicant is named, masked: a case without one would be meaningless.
        let mut masked = view.clone();
        domain::masking::mask_record(&mut masked);
        if let (Some(obj), Some(applicant)) = (view.as_object_mut(), masked.get("applicant")) {
            obj.insert("applicant".into(), applicant.clone());
        }
    }
    view
}
