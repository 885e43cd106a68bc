//! Who may see what (国发〔2016〕51号, 政务信息资源共享管理暂行办法): every shared resource —
//! each certificate type, and case data by item — is classed in the catalog as unconditional
//! (无条件共享: any government consumer), conditional (有条件共享: consumers granted it, for the
//! purposes the grant names, within its region scope and validity) or not shared (不予共享:
//! never disclosed, though still forwarded up the tree for supervision).
//!
//! [`decide`] is the one place that applies the rules; the API asks it for every resource an
//! answer would carry. Grants are published by the province as reference data (kind `grants`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::codes::region::RegionCode;
use crate::regions::RegionTable;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SharingClass {
    Unconditional,
    Conditional,
    NotShared,
}

/// A resource's class and the field groups a consumer may receive of it (absent: all).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sharing {
    pub class: SharingClass,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
}

impl Sharing {
    /// What the catalog does not class is conditional: nothing is shared by accident.
    pub fn unclassed() -> Sharing {
        Sharing {
            class: SharingClass::Conditional,
            fields: None,
        }
    }
}

/// Field groups of case data: `case` (number, item, region, handling org, status, times),
/// `applicant` (unmasked; without it the applicant is masked), `process` (steps, holds),
/// `result` (decision, text, certificates).
pub const CASE_FIELDS: &[&str] = &["case", "applicant", "process", "result"];
/// Field groups of a certificate: `subject` (type, number, authority, dates), `holder`
/// (unmasked), `surface` (printed fields), `credential` (the signed credential itself).
pub const CERTIFICATE_FIELDS: &[&str] = &["subject", "holder", "surface", "credential"];

/// What a resource is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "code", rename_all = "snake_case")]
pub enum ResourceRef {
    /// A certificate type code (GB/T 36902).
    CertificateType(String),
    /// A catalog basic code: the case data of that item.
    Item(String),
}

/// Who a grant is for: one principal or account, or every consumer of a department.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantConsumer {
    Principal(String),
    Department(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub id: String,
    pub consumer: GrantConsumer,
    pub resource: ResourceRef,
    /// Purpose codes the grant allows.
    pub purposes: Vec<String>,
    /// The region subtree whose resources it covers.
    pub scope: RegionCode,
    pub valid_from: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<DateTime<Utc>>,
    /// Field groups the consumer may receive (within the catalog's); absent: the catalog's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
}

/// The grants in force (reference data, kind `grants`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantList {
    pub grants: Vec<Grant>,
}

impl GrantList {
    pub fn from_json(bytes: &[u8]) -> Result<GrantList, String> {
        let list: GrantList = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let mut ids = std::collections::HashSet::new();
        for g in &list.grants {
            if !ids.insert(&g.id) {
                return Err(format!("grant {} is listed twice", g.id));
            }
            if g.purposes.is_empty() {
                return Err(format!("grant {} names no purpose", g.id));
            }
        }
        Ok(list)
    }
}

/// The consumer asking.
#[derive(Debug, Clone)]
pub struct Consumer<'a> {
    pub id: &'a str,
    pub department: Option<&'a str>,
}

/// Why a resource is withheld; `code()` is the problem code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotShared,
    NoGrant,
    PurposeNotGranted,
    OutsideScope,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Refusal::NotShared => "sharing.not_shared",
            Refusal::NoGrant => "sharing.no_grant",
            Refusal::PurposeNotGranted => "sharing.purpose_not_granted",
            Refusal::OutsideScope => "sharing.outside_scope",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Refusal::NotShared => "this resource is not shared (不予共享)",
            Refusal::NoGrant => {
                "this resource is shared only with consumers granted it (有条件共享), and no grant in force covers you"
            }
            Refusal::PurposeNotGranted => "your grant does not cover the purpose you stated",
            Refusal::OutsideScope => "your grant does not cover the region of this resource",
        }
    }
}

/// One resource asked for.
#[derive(Debug, Clone)]
pub struct Ask<'a> {
    pub consumer: &'a Consumer<'a>,
    pub resource: &'a ResourceRef,
    /// The region the resource belongs to (the certificate's or the case's).
    pub region: &'a RegionCode,
    /// The purpose code stated.
    pub purpose: &'a str,
    pub now: DateTime<Utc>,
}

/// May the consumer receive the resource for the purpose now? On yes, the field groups it may
/// receive (`None`: all).
pub fn decide(
    sharing: &Sharing,
    grants: &GrantList,
    ask: &Ask,
    regions: &RegionTable,
) -> Result<Option<Vec<String>>, Refusal> {
    let Ask {
        consumer,
        resource,
        region,
        purpose,
        now,
    } = ask.clone();
    match sharing.class {
        SharingClass::NotShared => return Err(Refusal::NotShared),
        SharingClass::Unconditional => return Ok(sharing.fields.clone()),
        SharingClass::Conditional => {}
    }
    let mine: Vec<&Grant> = grants
        .grants
        .iter()
        .filter(|g| &g.resource == resource)
        .filter(|g| match &g.consumer {
            GrantConsumer::Principal(id) => id == consumer.id,
            GrantConsumer::Department(d) => Some(d.as_str()) == consumer.department,
        })
        .filter(|g| g.valid_from <= now && g.valid_until.is_none_or(|u| now < u))
        .collect();
    if mine.is_empty() {
        return Err(Refusal::NoGrant);
    }
    let for_purpose: Vec<&&Grant> = mine
        .iter()
        .filter(|g| g.purposes.iter().any(|p| p == purpose))
        .collect();
    if for_purpose.is_empty() {
        return Err(Refusal::PurposeNotGranted);
    }
    let grant = for_purpose
        .iter()
        .find(|g| regions.is_within(&g.scope, region))
        .ok_or(Refusal::OutsideScope)?;
    // The narrower of the catalog's fields and the grant's.
    Ok(match (&sharing.fields, &grant.fields) {
        (None, f) | (f, None) => f.clone(),
        (Some(a), Some(b)) => Some(a.iter().filter(|x| b.contains(x)).cloned().collect()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(s: &str) -> RegionCode {
        RegionCode::parse(s).unwrap()
    }

    fn grant(consumer: GrantConsumer, purposes: &[&str], scope: &str) -> Grant {
        Grant {
            id: "g1".into(),
            consumer,
            resource: ResourceRef::CertificateType("11100000000013127D001".into()),
            purposes: purposes.iter().map(|p| (*p).into()).collect(),
            scope: region(scope),
            valid_from: DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
                .unwrap()
                .into(),
            valid_until: Some(
                DateTime::parse_from_rfc3339("2027-01-01T00:00:00Z")
                    .unwrap()
                    .into(),
            ),
            fields: Some(vec!["subject".into(), "holder".into()]),
        }
    }

    #[test]
    fn each_class_grant_purpose_scope_and_validity_decides() {
        let regions = RegionTable::bundled().unwrap();
        let resource = ResourceRef::CertificateType("11100000000013127D001".into());
        let xifeng = region("621002000000");
        let now: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-11-25T00:00:00Z")
            .unwrap()
            .into();
        let me = Consumer {
            id: "xifeng-approver",
            department: Some("civil_affairs"),
        };
        let ask = |sharing: &Sharing, grants: &GrantList, purpose: &str, at: DateTime<Utc>| {
            let ask = Ask {
                consumer: &me,
                resource: &resource,
                region: &xifeng,
                purpose,
                now: at,
            };
            decide(sharing, grants, &ask, &regions)
        };
        let none = GrantList::default();
        let open = Sharing {
            class: SharingClass::Unconditional,
            fields: None,
        };
        let closed = Sharing {
            class: SharingClass::NotShared,
            fields: None,
        };
        let conditional = Sharing {
            class: SharingClass::Conditional,
            fields: Some(vec!["subject".into(), "surface".into(), "holder".into()]),
        };
        assert_eq!(ask(&open, &none, "approval", now), Ok(None));
        assert_eq!(
            ask(&closed, &none, "approval", now),
            Err(Refusal::NotShared)
        );
        assert_eq!(
            ask(&conditional, &none, "approval", now),
            Err(Refusal::NoGrant)
        );
        let by_principal = GrantList {
            grants: vec![grant(
                GrantConsumer::Principal("xifeng-approver".into()),
                &["approval"],
                "621000000000",
            )],
        };
        // Allowed: the narrower of the catalog's and the grant's fields.
        assert_eq!(
            ask(&conditional, &by_principal, "approval", now),
            Ok(Some(vec!["subject".into(), "holder".into()]))
        );
        assert_eq!(
            ask(&conditional, &by_principal, "statistics", now),
            Err(Refusal::PurposeNotGranted)
        );
        let expired: DateTime<Utc> = DateTime::parse_from_rfc3339("2027-02-01T00:00:00Z")
            .unwrap()
            .into();
        assert_eq!(
            ask(&conditional, &by_principal, "approval", expired),
            Err(Refusal::NoGrant)
        );
        let elsewhere = GrantList {
            grants: vec![grant(
                GrantConsumer::Department("civil_affairs".into()),
                &["approval"],
                "621022000000",
            )],
        };
        assert_eq!(
            ask(&conditional, &elsewhere, "approval", now),
            Err(Refusal::OutsideScope)
        );
        let other_dept = GrantList {
            grants: vec![grant(
                GrantConsumer::Department("tax".into()),
                &["approval"],
                "620000000000",
            )],
        };
        assert_eq!(
            ask(&conditional, &other_dept, "approval", now),
            Err(Refusal::NoGrant)
        );
        // Even a grant never opens what is not shared.
        assert_eq!(
            ask(&closed, &by_principal, "approval", now),
            Err(Refusal::NotShared)
        );
    }

    #[test]
    fn a_grant_list_names_each_grant_once_with_a_purpose() {
        let g = grant(
            GrantConsumer::Principal("p".into()),
            &["approval"],
            "620000000000",
        );
        let twice = GrantList {
            grants: vec![g.clone(), g.clone()],
        };
        assert!(GrantList::from_json(&serde_json::to_vec(&twice).unwrap()).is_err());
        let mut bare = g;
        bare.purposes.clear();
        let list = GrantList { grants: vec![bare] };
        assert!(GrantList::from_json(&serde_json::to_vec(&list).unwrap()).is_err());
    }
}
