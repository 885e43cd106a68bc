//! Draft → canonical record. An adapter turns one native record into a *draft*: the canonical
//! shape, minus what the gateway decides (source, `ingested_at`, the catalog's name, type and
//! legal time limit). [`normalize`] stamps those, maps the item through the catalog, validates
//! the result against the canonical schema, then checks what a schema cannot: check digits,
//! region membership and tier, code consistency, time order. All problems of a record are
//! reported together, each with its canonical path and a stable code.

use chrono::{Duration, NaiveDate};
use serde_json::{Map, Value, json};

use crate::catalog::{Catalog, ResolveError};
use crate::codes::cert_id::CertIdentifier;
use crate::codes::credit::CreditCode;
use crate::codes::identity::IdNumber;
use crate::codes::item::ImplCode;
use crate::codes::region::RegionCode;
use crate::field_error::FieldError;
use crate::record::{CaseRecord, SCHEMA_TAG, Timestamp};
use crate::regions::RegionTable;
use crate::schema::JsonSchema;

/// What the first gateway decides about a pushed record.
#[derive(Debug, Clone)]
pub struct Stamp {
    /// From the pushing principal, never from the payload.
    pub department: String,
    pub system: String,
    pub node_region: RegionCode,
    pub ingested_at: Timestamp,
}

/// Reference data a record is checked against.
pub struct Context<'a> {
    pub catalog: &'a Catalog,
    pub regions: &'a RegionTable,
    pub schema: &'a JsonSchema,
    /// Credit-code prefixes of genuine pilot-era codes that fail the check digit: warn only.
    pub legacy_credit_prefixes: &'a [String],
    /// How far in the future a source clock may be before a timestamp is refused.
    pub max_clock_skew: Duration,
}

/// A record that passed every check, ready to store.
#[derive(Debug, Clone)]
pub struct Normalized {
    pub record: CaseRecord,
    /// Accepted with a caveat (e.g. a legacy credit code whose check digit fails).
    pub warnings: Vec<FieldError>,
}

impl Normalized {
    /// The record as stored JSON (serialized from `record`, so it is exactly the typed
    /// model). The ingest path writes the stored bytes straight from `record` instead.
    pub fn body(&self) -> Value {
        serde_json::to_value(&self.record).expect("a typed record serializes")
    }
}

pub fn normalize(
    draft: Value,
    stamp: &Stamp,
    ctx: &Context,
) -> Result<Normalized, Vec<FieldError>> {
    let Value::Object(mut obj) = draft else {
        return Err(vec![FieldError::new(
            "",
            "record.not_object",
            "a record must be a JSON object",
        )]);
    };
    let mut errors = Vec::new();
    let mut warnings = Vec::new();

    obj.insert("schema".into(), json!(SCHEMA_TAG));
    obj.insert(
        "source".into(),
        json!({"department": stamp.department, "system": stamp.system, "node_region": stamp.node_region.as_str()}),
    );
    obj.insert(
        "ingested_at".into(),
        json!(crate::rfc3339::to_string(&stamp.ingested_at)),
    );
    apply_catalog(
        &mut obj,
        &stamp.department,
        ctx.catalog,
        &mut errors,
        &mut warnings,
    );
    let tier_filled = fill_tier(&mut obj, ctx.regions);

    let value = Value::Object(obj);
    // When the catalog could not place the item, the fields it fills are missing: saying so
    // again would only bury the real reason.
    let catalog_failed = !errors.is_empty();
    let filled_by_catalog = [
        "/service_item/basic_code",
        "/service_item/name",
        "/service_item/item_type",
        "/time_limits",
        "/time_limits/legal_days",
    ];
    errors.extend(
        ctx.schema
            .errors(&value)
            .into_iter()
            .filter(|e| !(catalog_failed && filled_by_catalog.contains(&e.path.as_str())))
            // Likewise an unfilled tier: the region check says why.
            .filter(|e| tier_filled || e.path != "/tier"),
    );
    if !errors.is_empty() {
        return Err(errors);
    }
    check_codes(&value, ctx, &mut errors, &mut warnings);
    if !errors.is_empty() {
        return Err(errors);
    }
    let record: CaseRecord = serde_json::from_value(value)
        .map_err(|e| vec![FieldError::new("", "record.shape", e.to_string())])?;
    check_semantics(&record, stamp, ctx, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Normalized { record, warnings })
}

/// Replace whatever the source called the item with the catalog's code, name, type and legal
/// time limit ("same item, same name, same code, same basis").
fn apply_catalog(
    obj: &mut Map<String, Value>,
    department: &str,
    catalog: &Catalog,
    errors: &mut Vec<FieldError>,
    warnings: &mut Vec<FieldError>,
) {
    let Some(Value::Object(item)) = obj.get_mut("service_item") else {
        return; // the schema reports the missing item
    };
    let text =
        |m: &Map<String, Value>, k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
    let local = item
        .get("local")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let (basic, lcode, lname) = (
        text(item, "basic_code"),
        text(&local, "code"),
        text(&local, "name"),
    );
    let resolved = match catalog.resolve(
        department,
        basic.as_deref(),
        lcode.as_deref(),
        lname.as_deref(),
    ) {
        Ok(found) => found,
        Err(e) => {
            let what = basic
                .or(lcode)
                .or(lname)
                .unwrap_or_else(|| "(none given)".into());
            let message = match &e {
                ResolveError::Unknown => {
                    format!("item '{what}' is not in catalog {}", catalog.version)
                }
                ResolveError::Suspended { basic_code, name } => {
                    format!("item {basic_code} {name} is suspended: no new cases are accepted")
                }
                ResolveError::OtherDepartment {
                    basic_code,
                    department: d,
                } => {
                    format!("item {basic_code} is handled by department '{d}', not '{department}'")
                }
            };
            errors.push(FieldError::new(
                "/service_item/basic_code",
                e.code(),
                message,
            ));
            return;
        }
    };
    item.insert("basic_code".into(), json!(resolved.basic_code.as_str()));
    item.insert("name".into(), json!(resolved.name));
    item.insert("item_type".into(), json!(resolved.item_type));

    let legal = resolved.legal_time_limit_days;
    let limits = obj.entry("time_limits").or_insert_with(|| json!({}));
    if let Value::Object(limits) = limits {
        if let Some(sent) = limits.get("legal_days").and_then(Value::as_u64)
            && sent != u64::from(legal)
        {
            warnings.push(FieldError::new(
                "/time_limits/legal_days",
                "time_limits.legal_days_from_catalog",
                format!(
                    "source said {sent} days; the catalog's legal limit of {legal} days is used"
                ),
            ));
        }
        limits.insert("legal_days".into(), json!(legal));
    }
}

/// Sources rarely send the tier; it follows from the region's level in the region table.
/// False when the tier is absent and the region (missing, malformed or unknown) cannot give it.
fn fill_tier(obj: &mut Map<String, Value>, regions: &RegionTable) -> bool {
    if obj.contains_key("tier") {
        return true;
    }
    let level = obj
        .get("region_code")
        .and_then(Value::as_str)
        .and_then(|s| RegionCode::parse(s).ok())
        .and_then(|r| regions.level(&r));
    match level {
        Some(level) => {
            obj.insert("tier".into(), json!(level.tier()));
            true
        }
        None => false,
    }
}

fn str_at<'v>(v: &'v Value, pointer: &str) -> Option<&'v str> {
    at(v, pointer).and_then(Value::as_str)
}

/// `Value::pointer` without its two `String`s per step (it unescapes every token): the checks
/// here look up a dozen fields of every record. Pointers with escapes (`~0`, `~1`) go the long way.
pub fn at<'v>(v: &'v Value, pointer: &str) -> Option<&'v Value> {
    if pointer.is_empty() || pointer.contains('~') {
        return v.pointer(pointer);
    }
    let rest = pointer.strip_prefix('/')?;
    rest.split('/').try_fold(v, |target, token| match target {
        Value::Object(map) => map.get(token),
        // RFC 6901 array indexes: no sign, no leading zero.
        Value::Array(list) if token == "0" || !token.starts_with(['0', '+']) => {
            list.get(token.parse::<usize>().ok()?)
        }
        _ => None,
    })
}

/// Check digits and code structure. The schema has already checked the shapes.
fn check_codes(
    v: &Value,
    ctx: &Context,
    errors: &mut Vec<FieldError>,
    warnings: &mut Vec<FieldError>,
) {
    let mut credit = |path: &str, errors: &mut Vec<FieldError>| -> Option<CreditCode> {
        let s = str_at(v, path)?;
        match CreditCode::parse_lenient(s, ctx.legacy_credit_prefixes) {
            Ok((code, warning)) => {
                if let Some(w) = warning {
                    warnings.push(FieldError::new(path, "credit_code.legacy_check_digit", w));
                }
                Some(code)
            }
            Err(e) => {
                errors.push(FieldError::new(path, e.code(), e.to_string()));
                None
            }
        }
    };
    credit("/handling_org/credit_code", errors);
    check_holder_code(
        v,
        "/applicant/id_type",
        "/applicant/id_number",
        &mut credit,
        errors,
    );

    if let Some(s) = str_at(v, "/service_item/impl_code") {
        match ImplCode::parse(s) {
            Ok(ic) => {
                let basic = str_at(v, "/service_item/basic_code").unwrap_or_default();
                if ic.basic_code().as_str() != basic {
                    errors.push(FieldError::new(
                        "/service_item/impl_code",
                        "impl_code.basic_code_mismatch",
                        format!(
                            "implementation code embeds basic code {} but the item is {basic}",
                            ic.basic_code()
                        ),
                    ));
                }
            }
            Err(e) => errors.push(FieldError::new(
                "/service_item/impl_code",
                e.code(),
                e.to_string(),
            )),
        }
    }

    match RegionCode::parse(str_at(v, "/region_code").unwrap_or_default()) {
        Ok(region) => match ctx.regions.level(&region) {
            None => errors.push(FieldError::new(
                "/region_code",
                "region_code.unknown",
                format!("{region} is not in the region table"),
            )),
            Some(level) => {
                let tier = at(v, "/tier").and_then(Value::as_u64).unwrap_or_default();
                if tier != u64::from(level.tier()) {
                    errors.push(FieldError::new(
                        "/tier",
                        "tier.mismatch",
                        format!(
                            "region {region} is a {} (tier {}), not tier {tier}",
                            level.as_str(),
                            level.tier()
                        ),
                    ));
                }
            }
        },
        Err(e) => errors.push(FieldError::new("/region_code", e.code(), e.to_string())),
    }

    let certs = at(v, "/result/certificates")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    for i in 0..certs {
        let base = format!("/result/certificates/{i}");
        let authority = credit(&format!("{base}/issuing_authority/credit_code"), errors);
        check_holder_code(
            v,
            &format!("{base}/holder/code_type"),
            &format!("{base}/holder/code"),
            &mut credit,
            errors,
        );
        let type_code = str_at(v, &format!("{base}/type_code")).unwrap_or_default();
        if let Err(e) = CreditCode::parse(&type_code[..type_code.len().min(18)]) {
            errors.push(FieldError::new(
                format!("{base}/type_code"),
                "certificate.type_code",
                format!(
                    "the first 18 characters must be the defining authority's credit code: {e}"
                ),
            ));
        }
        if let Some(id) = str_at(v, &format!("{base}/identifier")) {
            match CertIdentifier::parse(id) {
                Ok(cid) => {
                    let same_authority = authority.as_ref().is_none_or(|a| a == cid.authority());
                    if cid.type_code() != type_code || !same_authority {
                        errors.push(FieldError::new(
                            format!("{base}/identifier"),
                            "cert_id.mismatch",
                            "identifier's type code or issuing authority differs from the certificate's",
                        ));
                    }
                }
                Err(e) => errors.push(FieldError::new(
                    format!("{base}/identifier"),
                    e.code(),
                    e.to_string(),
                )),
            }
        }
    }
}

/// Holder codes are checked by their declared type: 111 identity number, 001 credit code.
fn check_holder_code(
    v: &Value,
    type_path: &str,
    code_path: &str,
    credit: &mut impl FnMut(&str, &mut Vec<FieldError>) -> Option<CreditCode>,
    errors: &mut Vec<FieldError>,
) {
    match str_at(v, type_path) {
        Some("111") => {
            if let Err(e) = IdNumber::parse(str_at(v, code_path).unwrap_or_default()) {
                errors.push(FieldError::new(code_path, e.code(), e.to_string()));
            }
        }
        Some("001") => {
            credit(code_path, errors);
        }
        _ => {}
    }
}

/// Rules across fields: time order, limits, certificates only on approval.
fn check_semantics(r: &CaseRecord, stamp: &Stamp, ctx: &Context, errors: &mut Vec<FieldError>) {
    let latest = stamp.ingested_at + ctx.max_clock_skew;
    let t = &r.timestamps;
    let all = [
        ("occurred", Some(t.occurred)),
        ("received", Some(t.received)),
        ("accepted", t.accepted),
        ("decided", t.decided),
        ("completed", t.completed),
    ];
    for (name, ts) in all {
        if let Some(ts) = ts
            && ts > latest
        {
            errors.push(FieldError::new(
                format!("/timestamps/{name}"),
                "timestamps.future",
                format!(
                    "{ts} is later than the gateway's clock ({})",
                    stamp.ingested_at
                ),
            ));
        }
    }
    // Each stage cannot precede the one before it.
    let order = [
        ("occurred", Some(t.occurred)),
        ("received", Some(t.received)),
        ("accepted", t.accepted),
        ("completed", t.completed),
    ];
    let mut prev: Option<(&str, Timestamp)> = None;
    for (name, ts) in order {
        let Some(ts) = ts else { continue };
        if let Some((pname, pts)) = prev
            && ts < pts
        {
            errors.push(FieldError::new(
                format!("/timestamps/{name}"),
                "timestamps.order",
                format!("{name} ({ts}) is before {pname} ({pts})"),
            ));
        }
        prev = Some((name, ts));
    }
    if let Some(p) = r.time_limits.promised_days
        && p > r.time_limits.legal_days
    {
        errors.push(FieldError::new(
            "/time_limits/promised_days",
            "time_limits.promised_exceeds_legal",
            format!(
                "promised {p} working days exceeds the legal limit of {}",
                r.time_limits.legal_days
            ),
        ));
    }
    if let Some(res) = &r.result
        && !res.certificates.is_empty()
        && res.decision != "approved"
    {
        errors.push(FieldError::new(
            "/result/certificates",
            "certificate.without_approval",
            format!(
                "certificates can only be issued by an approved case, not '{}'",
                res.decision
            ),
        ));
    }
    for (i, c) in r.certificates().iter().enumerate() {
        let base = format!("/result/certificates/{i}");
        if let Some(until) = c.valid_until
            && until < c.valid_from
        {
            errors.push(FieldError::new(
                format!("{base}/valid_until"),
                "certificate.validity",
                format!("valid until {until} is before valid from {}", c.valid_from),
            ));
        }
        let today: NaiveDate = stamp.ingested_at.date_naive();
        if c.issue_date > today + Duration::days(1) {
            errors.push(FieldError::new(
                format!("{base}/issue_date"),
                "certificate.issue_date_future",
                format!("issue date {} is in the future", c.issue_date),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn at_finds_what_value_pointer_finds() {
        let v = json!({
            "a": {"b": [10, {"c": "x"}], "": 1, "a/b": 2, "m~n": 3},
            "0": "zero", "01": "one"
        });
        for p in [
            "",
            "/",
            "/a",
            "/a/b",
            "/a/b/0",
            "/a/b/1/c",
            "/a/b/2",
            "/a/b/01",
            "/a/b/+1",
            "/a/b/-",
            "/a/",
            "/a/a~1b",
            "/a/m~0n",
            "/0",
            "/01",
            "a",
            "/a/b/1/c/d",
        ] {
            assert_eq!(super::at(&v, p), v.pointer(p), "{p}");
        }
    }
}
