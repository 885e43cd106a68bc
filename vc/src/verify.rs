//! Verification of an electronic certificate, shared by the API and the offline verifier.
//!
//! The answer ([`Verdict`]) serializes to exactly what `POST /v1/certificates/verify` and
//! `gateway verify --json` print:
//!
//! ```json
//! {"valid": false,
//!  "checks": {"signature": "pass", "issuer_trusted": "skipped",
//!             "in_validity_period": "pass", "not_revoked": "skipped", "logged": "skipped"},
//!  "errors": [{"check": "issuer_trusted", "code": "trust.no_bundle", "message": "…"}]}
//! ```
//!
//! Five checks, each `pass`, `fail` or `skipped` (could not be made):
//!
//! - **signature** (required): the eddsa-jcs-2022 proof verifies ([`crate::verify_proof`]),
//!   for `assertionMethod`, and the issuer controls the key: `issuer.id` is the verification
//!   method without its fragment (for a did:key, the DID itself).
//! - **issuer_trusted** (required): the trust bundle lists the signing key for a node and the
//!   key was trusted at `proof.created` ([`TrustBundle::key_status_at`]), and `issuer.node`
//!   names that node. Skipped without a bundle.
//! - **in_validity_period** (required): `validFrom <= now <= validUntil`.
//! - **not_revoked**: no revocation or suspension entry is set, per the [`StatusLookup`].
//!   Skipped when no lookup is given or it cannot answer.
//! - **logged**: the issuing node's transparency log included the credential in a checkpoint
//!   a witness cosigned, while its key was trusted ([`crate::logged`]). Skipped without a
//!   proof.
//!
//! `valid` is true only when the three required checks pass and no check fails. A skipped
//! check does not by itself invalidate, except that a skipped *required* check is not a pass;
//! `strict` turns every skipped check into a failure. `errors` explains every failure and
//! every skipped required check; with `strict`, every skipped check.
//!
//! Keys come from the proof's verification method: a `did:key` per the did:key method, a URL
//! whose fragment is a Multikey decoded the same way, anything else looked up in the bundle
//! ([`TrustBundle::resolve_verification_method`]).
//!
//! Many credentials at once: [`prepare_signature`] each, check the signatures together with
//! [`crate::verify_prepared`] (one Ed25519 batch verification), then [`verify_credential_signed`]
//! each with its outcome; `POST /v1/certificates/verify/batch` does that on each core's share.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::did_key::{did_from_ed25519, resolve_verification_method};
use crate::ecert::{NODE_URN_PREFIX, STATUS_ENTRY_TYPE, StatusPurpose};
use crate::json::{JsonNode, View};
use crate::logged::{Evidence, LogError, LogProof};
use crate::trust::{KeyTrust, TrustBundle};
use crate::{PreparedProof, VcError, VerifiedProof, prepare_proof};

/// The result of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckResult {
    Pass,
    Fail,
    Skipped,
}

/// The four checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    Signature,
    IssuerTrusted,
    InValidityPeriod,
    NotRevoked,
    Logged,
}

/// Every check's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checks {
    pub signature: CheckResult,
    pub issuer_trusted: CheckResult,
    pub in_validity_period: CheckResult,
    pub not_revoked: CheckResult,
    pub logged: CheckResult,
}

/// Why a check failed (or was skipped, when that matters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyError {
    pub check: Check,
    /// Stable code, e.g. `proof.signature`, `trust.key_unknown`, `validity.expired`.
    pub code: String,
    pub message: String,
}

/// The answer of [`verify_credential`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub valid: bool,
    pub checks: Checks,
    pub errors: Vec<VerifyError>,
}

impl Verdict {
    /// The codes of all errors, in order (for logs and tests).
    pub fn error_codes(&self) -> Vec<&str> {
        self.errors.iter().map(|e| e.code.as_str()).collect()
    }
}

/// One status entry of the credential, as asked of a [`StatusLookup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusEntry<'a> {
    pub purpose: StatusPurpose,
    /// `statusListCredential`: the URL of the list.
    pub list_credential: &'a str,
    /// `statusListIndex`: the bit in the list.
    pub index: u64,
}

/// Answers whether a status entry's bit is set: `Some(true)` revoked/suspended,
/// `Some(false)` not, `None` unknown (list unavailable).
pub struct StatusLookup<'a> {
    lookup: Box<LookupFn<'a>>,
}

type LookupFn<'a> = dyn Fn(&StatusEntry<'_>) -> Option<bool> + 'a;

impl<'a> StatusLookup<'a> {
    /// A lookup backed by any function (a status list cache, a database query, …).
    pub fn new(lookup: impl Fn(&StatusEntry<'_>) -> Option<bool> + 'a) -> Self {
        StatusLookup {
            lookup: Box::new(lookup),
        }
    }

    /// A lookup that already knows the answer, e.g. from the issuing node's own records.
    pub fn known(revoked: bool, suspended: bool) -> StatusLookup<'static> {
        StatusLookup::new(move |entry| {
            Some(match entry.purpose {
                StatusPurpose::Revocation => revoked,
                StatusPurpose::Suspension => suspended,
            })
        })
    }

    fn get(&self, entry: &StatusEntry<'_>) -> Option<bool> {
        (self.lookup)(entry)
    }
}

impl std::fmt::Debug for StatusLookup<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StatusLookup")
    }
}

/// Verifies `cred` at time `now` (see the module docs for the rules), without log evidence
/// (`logged` is skipped).
pub fn verify_credential<N: JsonNode>(
    cred: &N,
    trust: Option<&TrustBundle>,
    now: DateTime<Utc>,
    status: Option<StatusLookup<'_>>,
    strict: bool,
) -> Verdict {
    verify_credential_logged(cred, trust, now, status, None, strict)
}

/// Verifies `cred` with, when given, a [`crate::logged::LogProof`] (JSON) of its inclusion in
/// the issuing node's transparency log.
pub fn verify_credential_logged<N: JsonNode>(
    cred: &N,
    trust: Option<&TrustBundle>,
    now: DateTime<Utc>,
    status: Option<StatusLookup<'_>>,
    log_proof: Option<&Value>,
    strict: bool,
) -> Verdict {
    let evidence = log_proof.map(LogProof::from_json);
    verify_credential_proven(cred, trust, now, status, evidence.as_ref(), strict)
}

/// [`verify_credential_logged`] with the proof already read (or why it could not be).
pub fn verify_credential_proven<N: JsonNode>(
    cred: &N,
    trust: Option<&TrustBundle>,
    now: DateTime<Utc>,
    status: Option<StatusLookup<'_>>,
    log_proof: Option<&Evidence>,
    strict: bool,
) -> Verdict {
    let signed = prepare_signature(cred, trust).and_then(PreparedProof::verify);
    verify_credential_signed(cred, signed, trust, now, status, log_proof, strict)
}

/// The credential's proof up to its signature, the key found through `trust` unless the
/// verification method carries it: checked alone by [`PreparedProof::verify`], or with other
/// credentials' by [`crate::verify_prepared`], then given to [`verify_credential_signed`].
pub fn prepare_signature<N: JsonNode>(
    cred: &N,
    trust: Option<&TrustBundle>,
) -> Result<PreparedProof, VcError> {
    prepare_proof(cred, |vm| trust?.resolve_verification_method(vm))
}

/// [`verify_credential_proven`] with the proof's signature already checked (`signed`: what
/// [`PreparedProof::verify`] or [`crate::verify_prepared`] answered for it).
pub fn verify_credential_signed<N: JsonNode>(
    cred: &N,
    signed: Result<VerifiedProof, VcError>,
    trust: Option<&TrustBundle>,
    now: DateTime<Utc>,
    status: Option<StatusLookup<'_>>,
    log_proof: Option<&Evidence>,
    strict: bool,
) -> Verdict {
    let mut errors = Vec::new();
    let mut settle = |check: Check, outcome: Outcome, required: bool| match outcome {
        Outcome::Pass => CheckResult::Pass,
        Outcome::Fail(problems) => {
            errors.extend(problems.into_iter().map(|p| p.into_error(check)));
            CheckResult::Fail
        }
        Outcome::Skipped(problem) if strict => {
            errors.push(problem.into_error(check));
            CheckResult::Fail
        }
        Outcome::Skipped(problem) => {
            if required {
                errors.push(problem.into_error(check));
            }
            CheckResult::Skipped
        }
    };
    let checks = Checks {
        signature: settle(Check::Signature, check_signature(cred, signed), true),
        issuer_trusted: settle(Check::IssuerTrusted, check_issuer(cred, trust), true),
        in_validity_period: settle(Check::InValidityPeriod, check_validity(cred, now), true),
        not_revoked: settle(
            Check::NotRevoked,
            check_status(cred, status.as_ref()),
            false,
        ),
        logged: settle(Check::Logged, check_logged(cred, trust, log_proof), false),
    };
    let valid = checks.signature == CheckResult::Pass
        && checks.issuer_trusted == CheckResult::Pass
        && checks.in_validity_period == CheckResult::Pass
        && checks.not_revoked != CheckResult::Fail
        && checks.logged != CheckResult::Fail;
    Verdict {
        valid,
        checks,
        errors,
    }
}

enum Outcome {
    Pass,
    Fail(Vec<Problem>),
    Skipped(Problem),
}

struct Problem {
    code: &'static str,
    message: String,
}

impl Problem {
    fn into_error(self, check: Check) -> VerifyError {
        VerifyError {
            check,
            code: self.code.into(),
            message: self.message,
        }
    }
}

fn fail(code: &'static str, message: impl Into<String>) -> Outcome {
    Outcome::Fail(vec![Problem {
        code,
        message: message.into(),
    }])
}

fn skipped(code: &'static str, message: impl Into<String>) -> Outcome {
    Outcome::Skipped(Problem {
        code,
        message: message.into(),
    })
}

fn check_signature<N: JsonNode>(cred: &N, signed: Result<VerifiedProof, VcError>) -> Outcome {
    let proof = match signed {
        Ok(proof) => proof,
        Err(e) => return fail(e.code(), e.to_string()),
    };
    if proof.proof_purpose != "assertionMethod" {
        return fail(
            "proof.purpose",
            format!(
                "proof purpose is {}, expected assertionMethod",
                proof.proof_purpose
            ),
        );
    }
    let controller = proof
        .verification_method
        .split_once('#')
        .map_or(proof.verification_method.as_str(), |(base, _)| base);
    match issuer_id(cred) {
        Some(issuer) if issuer == controller => Outcome::Pass,
        Some(issuer) => fail(
            "credential.issuer_mismatch",
            format!(
                "issuer {issuer} does not control verification method {}",
                proof.verification_method
            ),
        ),
        None => fail("credential.issuer_mismatch", "credential has no issuer id"),
    }
}

fn check_issuer<N: JsonNode>(cred: &N, trust: Option<&TrustBundle>) -> Outcome {
    let Some(trust) = trust else {
        return skipped(
            "trust.no_bundle",
            "no trust bundle given: the issuer cannot be checked",
        );
    };
    let proof = cred.get("proof");
    let Some(vm) = proof
        .and_then(|p| p.get("verificationMethod"))
        .and_then(N::as_str)
    else {
        return skipped(
            "trust.not_checked",
            "the proof names no verification method",
        );
    };
    let key = match resolve_verification_method(vm) {
        Ok(Some(key)) => key,
        Ok(None) => match trust.resolve_verification_method(vm) {
            Some(key) => key,
            None => {
                return fail(
                    "trust.key_unknown",
                    format!("{vm} is not in the trust bundle"),
                );
            }
        },
        Err(e) => return skipped("trust.not_checked", e.to_string()),
    };
    let Some(created) = proof
        .and_then(|p| p.get("created"))
        .and_then(N::as_str)
        .and_then(parse_xml_datetime)
    else {
        return fail(
            "trust.created_missing",
            "the proof has no valid created time to check the key's validity at",
        );
    };
    // A did:key method names its key's DID already (its key was decoded from it, and base58
    // has one spelling per key): no need to encode it again.
    let did = match vm.split('#').next() {
        Some(base) if base.starts_with(crate::did_key::DID_KEY_PREFIX) => {
            std::borrow::Cow::Borrowed(base)
        }
        _ => std::borrow::Cow::Owned(did_from_ed25519(&key)),
    };
    let node_region = match trust.key_status_at(&did, created) {
        KeyTrust::Trusted { node_region } => node_region,
        other => {
            let code = other.code().expect("untrusted answers have a code");
            let why = match other {
                KeyTrust::NotYetValid => "was not yet valid",
                KeyTrust::Expired => "had expired",
                KeyTrust::Revoked => "is revoked",
                _ => "is not listed for any node",
            };
            return fail(code, format!("signing key {did} {why} at {created}"));
        }
    };
    let node = cred
        .get("issuer")
        .and_then(|i| i.get("node"))
        .and_then(N::as_str);
    let expected = format!("{NODE_URN_PREFIX}{node_region}");
    if node == Some(expected.as_str()) {
        Outcome::Pass
    } else {
        fail(
            "trust.node_mismatch",
            format!(
                "signing key belongs to node {node_region}, but issuer.node is {}",
                node.unwrap_or("missing")
            ),
        )
    }
}

fn check_logged<N: JsonNode>(
    cred: &N,
    trust: Option<&TrustBundle>,
    proof: Option<&Evidence>,
) -> Outcome {
    let Some(proof) = proof else {
        return skipped(
            "log.no_proof",
            "no inclusion proof given: ask the issuing node (GET /v1/certificates/{id}/proof)",
        );
    };
    let Some(trust) = trust else {
        return skipped(
            "trust.no_bundle",
            "no trust bundle given: the log's keys cannot be checked",
        );
    };
    let checked = match proof {
        Ok(proof) => crate::logged::check_proof(cred, proof, trust),
        Err(unread) => Err(unread.clone()),
    };
    match checked {
        Ok(_) => Outcome::Pass,
        // Not yet witnessed, or a network without logs: nothing proven either way.
        Err(e @ (LogError::NotCosigned | LogError::NoLog(_))) => skipped(e.code(), e.to_string()),
        Err(e) => fail(e.code(), e.to_string()),
    }
}

fn check_validity<N: JsonNode>(cred: &N, now: DateTime<Utc>) -> Outcome {
    let bound = |field: &str| -> Result<Option<DateTime<Utc>>, Outcome> {
        match cred.get(field) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| Some(t.with_timezone(&Utc)))
                .ok_or_else(|| {
                    fail(
                        "validity.malformed",
                        format!("{field} is not a date-time with a time zone: {v}"),
                    )
                }),
        }
    };
    let (from, until) = match (bound("validFrom"), bound("validUntil")) {
        (Ok(from), Ok(until)) => (from, until),
        (Err(outcome), _) | (_, Err(outcome)) => return outcome,
    };
    if let Some(from) = from
        && now < from
    {
        return fail(
            "validity.not_yet_valid",
            format!("valid from {from}, now is {now}"),
        );
    }
    if let Some(until) = until
        && now > until
    {
        return fail(
            "validity.expired",
            format!("valid until {until}, now is {now}"),
        );
    }
    Outcome::Pass
}

fn check_status<N: JsonNode>(cred: &N, status: Option<&StatusLookup<'_>>) -> Outcome {
    let Some(status) = status else {
        return skipped("status.not_checked", "no status information was supplied");
    };
    let entries = match cred.get("credentialStatus") {
        None => {
            return skipped(
                "status.no_entries",
                "the credential has no credentialStatus",
            );
        }
        Some(entries) => match entries.view() {
            View::Array(entries) => entries.iter().collect(),
            _ => vec![entries],
        },
    };
    let mut problems = Vec::new();
    let mut unknown = Vec::new();
    for entry in entries {
        let entry = match status_entry(entry) {
            Ok(Some(entry)) => entry,
            Ok(None) => continue, // another purpose (message, refresh): not ours to judge
            Err(message) => {
                problems.push(Problem {
                    code: "status.malformed",
                    message,
                });
                continue;
            }
        };
        match status.get(&entry) {
            Some(true) => problems.push(Problem {
                code: match entry.purpose {
                    StatusPurpose::Revocation => "status.revoked",
                    StatusPurpose::Suspension => "status.suspended",
                },
                message: format!(
                    "{} bit {} of {} is set",
                    entry.purpose.as_str(),
                    entry.index,
                    entry.list_credential
                ),
            }),
            Some(false) => {}
            None => unknown.push(entry.list_credential.to_string()),
        }
    }
    if !problems.is_empty() {
        Outcome::Fail(problems)
    } else if !unknown.is_empty() {
        skipped(
            "status.unavailable",
            format!("status unknown for {}", unknown.join(", ")),
        )
    } else {
        Outcome::Pass
    }
}

/// A `BitstringStatusListEntry` of a purpose the gateway uses, `Ok(None)` for other purposes.
fn status_entry<N: JsonNode>(entry: &N) -> Result<Option<StatusEntry<'_>>, String> {
    let field = |name: &str| entry.get(name).and_then(N::as_str);
    if field("type") != Some(STATUS_ENTRY_TYPE) {
        return Err(format!(
            "status entry type is not {STATUS_ENTRY_TYPE}: {entry}"
        ));
    }
    let Some(purpose) = field("statusPurpose") else {
        return Err(format!("status entry has no statusPurpose: {entry}"));
    };
    let Some(purpose) = StatusPurpose::parse(purpose) else {
        return Ok(None);
    };
    let index = field("statusListIndex")
        .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok());
    match (field("statusListCredential"), index) {
        (Some(list_credential), Some(index)) => Ok(Some(StatusEntry {
            purpose,
            list_credential,
            index,
        })),
        _ => Err(format!(
            "status entry needs statusListCredential and a decimal statusListIndex: {entry}"
        )),
    }
}

/// `issuer` as a string, or `issuer.id`.
pub(crate) fn issuer_id<N: JsonNode>(cred: &N) -> Option<&str> {
    let issuer = cred.get("issuer")?;
    issuer.as_str().or_else(|| issuer.get("id")?.as_str())
}

/// XML Schema dateTime; without a time zone it is taken as UTC.
pub(crate) fn parse_xml_datetime(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").map(|t| t.and_utc()))
        .ok()
}
