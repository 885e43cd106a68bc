//! The one set of masking rules for personal data (个人信息去标识化), used wherever a case or
//! certificate is shown to someone who may not see it whole: the public disclosure of cases,
//! and the approver views that a sharing grant limits.
//!
//! What is personal: a natural person's name, identity number (and passport or other personal
//! document number), phone number and address. An organization's name, credit code and
//! registered address are public registration data and stay; its phone is masked (it is often
//! a person's mobile). Staff names in the process steps are masked too.
//!
//! How each kind is masked (the forms used in Chinese public notices, 公示):
//!
//! | kind | rule | example |
//! | --- | --- | --- |
//! | name | keep the first character (the family name) | 张伟 → 张* ; 欧阳娜娜 → 欧*** |
//! | identity number | keep the first 3 and last 4 characters | 620102199001011234 → 620***********1234 |
//! | phone | keep the first 3 and last 4 digits, separators kept | 13812345678 → 138****5678 |
//! | address | keep the administrative part up to the county (区/县/市/旗) or, failing that, the first 6 characters | 甘肃省庆阳市西峰区长庆大道16号 → 甘肃省庆阳市西峰区**** |
//!
//! [`public_view`] also drops free text (opinions, result text, hold reasons), which may name
//! anyone and cannot be masked reliably.

use serde_json::{Map, Value};

/// The kinds of personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Name,
    IdNumber,
    Phone,
    Address,
}

/// Mask one value of `kind`.
pub fn mask(kind: Kind, value: &str) -> String {
    match kind {
        Kind::Name => keep_ends(value, 1, 0),
        Kind::IdNumber => keep_ends(value, 3, 4),
        Kind::Phone => mask_phone(value),
        Kind::Address => mask_address(value),
    }
}

/// Keep `head` leading and `tail` trailing characters, one `*` for each other one (at least
/// one `*`, so a short value never shows whole).
fn keep_ends(value: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = value.trim().chars().collect();
    if chars.len() <= head + tail {
        let shown: String = chars
            .iter()
            .take(head.min(chars.len().saturating_sub(1)))
            .collect();
        return format!("{shown}*");
    }
    let hidden = chars.len() - head - tail;
    let mut out: String = chars[..head].iter().collect();
    out.push_str(&"*".repeat(hidden));
    out.extend(&chars[chars.len() - tail..]);
    out
}

/// Digits masked but the first 3 and the last 4; separators (`-`, spaces, `+`) stay.
fn mask_phone(value: &str) -> String {
    let digits = value.chars().filter(char::is_ascii_digit).count();
    if digits <= 7 {
        return value
            .chars()
            .map(|c| if c.is_ascii_digit() { '*' } else { c })
            .collect();
    }
    let mut seen = 0;
    value
        .chars()
        .map(|c| {
            if !c.is_ascii_digit() {
                return c;
            }
            seen += 1;
            if seen <= 3 || seen > digits - 4 {
                c
            } else {
                '*'
            }
        })
        .collect()
}

/// The administrative prefix up to the county level, then `****`.
fn mask_address(value: &str) -> String {
    let chars: Vec<char> = value.trim().chars().collect();
    // The last county-level marker within the first 16 characters ends the public part.
    let cut = chars
        .iter()
        .take(16)
        .enumerate()
        .filter(|(_, c)| matches!(c, '区' | '县' | '旗' | '市'))
        .map(|(i, _)| i + 1)
        .next_back()
        .unwrap_or(6.min(chars.len()));
    let mut out: String = chars[..cut].iter().collect();
    out.push_str("****");
    out
}

fn mask_field(obj: &mut Map<String, Value>, key: &str, kind: Kind) {
    if let Some(Value::String(s)) = obj.get_mut(key) {
        *s = mask(kind, s);
    }
}

/// Printed certificate fields (`surface`) whose keys say they are personal.
fn surface_kind(key: &str) -> Option<Kind> {
    const NAMES: &[&str] = &["法定代表人", "负责人", "经营者", "姓名", "持证人", "投资人"];
    const IDS: &[&str] = &["身份证号", "公民身份号码", "身份证件号码", "证件号码"];
    const PHONES: &[&str] = &["电话", "联系电话", "手机", "手机号码"];
    const ADDRESSES: &[&str] = &["住址", "家庭住址", "经营场所", "住所", "地址"];
    if NAMES.contains(&key) {
        Some(Kind::Name)
    } else if IDS.contains(&key) {
        Some(Kind::IdNumber)
    } else if PHONES.contains(&key) {
        Some(Kind::Phone)
    } else if ADDRESSES.contains(&key) {
        Some(Kind::Address)
    } else {
        None
    }
}

/// A person's holder code types (GB/T 36903): anything but a unified social credit code.
fn is_person_code(code_type: Option<&str>) -> bool {
    code_type != Some("001")
}

/// Mask the personal data of a canonical case record in place.
pub fn mask_record(record: &mut Value) {
    if let Some(applicant) = record.get_mut("applicant").and_then(Value::as_object_mut) {
        let person = applicant.get("kind").and_then(Value::as_str) != Some("organization");
        if person {
            mask_field(applicant, "name", Kind::Name);
            mask_field(applicant, "id_number", Kind::IdNumber);
            mask_field(applicant, "address", Kind::Address);
        }
        mask_field(applicant, "phone", Kind::Phone);
    }
    if let Some(steps) = record
        .get_mut("process_steps")
        .and_then(Value::as_array_mut)
    {
        for step in steps.iter_mut().filter_map(Value::as_object_mut) {
            mask_field(step, "actor", Kind::Name);
        }
    }
    let certificates = record
        .get_mut("result")
        .and_then(|r| r.get_mut("certificates"))
        .and_then(Value::as_array_mut);
    for certificate in certificates.into_iter().flatten() {
        mask_certificate(certificate);
    }
}

/// Mask a canonical certificate (`result.certificates[i]`) in place: a person holder's name
/// and code, and the personal printed fields.
pub fn mask_certificate(certificate: &mut Value) {
    if let Some(holder) = certificate.get_mut("holder").and_then(Value::as_object_mut)
        && is_person_code(holder.get("code_type").and_then(Value::as_str))
    {
        mask_field(holder, "name", Kind::Name);
        mask_field(holder, "code", Kind::IdNumber);
    }
    if let Some(surface) = certificate
        .get_mut("surface")
        .and_then(Value::as_object_mut)
    {
        for (key, value) in surface.iter_mut() {
            if let (Some(kind), Value::String(s)) = (surface_kind(key), value) {
                *s = mask(kind, s);
            }
        }
    }
}

/// What the public may see of a public case: the record masked, without free text.
pub fn public_view(record: &Value) -> Value {
    let mut view = record.clone();
    mask_record(&mut view);
    if let Some(obj) = view.as_object_mut() {
        // Internal routing and stamps are not the public's business either.
        obj.remove("source");
        obj.remove("ingested_at");
        if let Some(steps) = obj.get_mut("process_steps").and_then(Value::as_array_mut) {
            for step in steps.iter_mut().filter_map(Value::as_object_mut) {
                step.remove("opinion");
            }
        }
        if let Some(holds) = obj.get_mut("holds").and_then(Value::as_array_mut) {
            for hold in holds.iter_mut().filter_map(Value::as_object_mut) {
                hold.remove("reason");
            }
        }
        if let Some(result) = obj.get_mut("result").and_then(Value::as_object_mut) {
            result.remove("text");
        }
    }
    view
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_kind_is_masked_the_public_notice_way() {
        assert_eq!(mask(Kind::Name, "张伟"), "张*");
        assert_eq!(mask(Kind::Name, "欧阳娜娜"), "欧***");
        assert_eq!(mask(Kind::Name, "王"), "*");
        assert_eq!(
            mask(Kind::IdNumber, "620102199001011234"),
            "620***********1234"
        );
        assert_eq!(mask(Kind::IdNumber, "E1234567"), "E12*4567");
        assert_eq!(mask(Kind::IdNumber, "1234"), "123*");
        assert_eq!(mask(Kind::Phone, "13812345678"), "138****5678");
        assert_eq!(mask(Kind::Phone, "0934-8612345"), "093*-***2345");
        assert_eq!(mask(Kind::Phone, "12345"), "*****");
        assert_eq!(
            mask(Kind::Address, "甘肃省庆阳市西峰区长庆大道16号"),
            "甘肃省庆阳市西峰区****"
        );
        assert_eq!(mask(Kind::Address, "长庆大道16号"), "长庆大道16****");
    }

    #[test]
    fn a_person_is_masked_an_organization_keeps_its_public_registration() {
        let mut record = json!({
            "applicant": {"kind": "person", "name": "李娜", "id_type": "111",
                          "id_number": "620102199001011234", "phone": "13812345678",
                          "address": "甘肃省庆阳市西峰区长庆大道16号"},
            "process_steps": [{"name": "受理", "actor": "王芳", "opinion": "材料齐全"}],
            "result": {"decision": "approved", "text": "准予", "certificates": [
                {"holder": {"name": "李娜", "code": "620102199001011234", "code_type": "111"},
                 "surface": {"住址": "甘肃省兰州市城关区某街1号", "类型": "个体工商户"}}]}
        });
        let view = public_view(&record);
        assert_eq!(view["applicant"]["name"], "李*");
        assert_eq!(view["applicant"]["id_number"], "620***********1234");
        assert_eq!(view["applicant"]["phone"], "138****5678");
        assert_eq!(view["applicant"]["address"], "甘肃省庆阳市西峰区****");
        assert_eq!(view["process_steps"][0]["actor"], "王*");
        assert!(view["process_steps"][0].get("opinion").is_none());
        assert!(view["result"].get("text").is_none());
        let c = &view["result"]["certificates"][0];
        assert_eq!(c["holder"]["name"], "李*");
        assert_eq!(c["holder"]["code"], "620***********1234");
        assert_eq!(c["surface"]["住址"], "甘肃省兰州市城关区****");
        assert_eq!(c["surface"]["类型"], "个体工商户");

        record["applicant"] = json!({"kind": "organization", "name": "庆阳陇东云数据科技有限公司",
            "id_type": "001", "id_number": "91621002MA7100001H", "phone": "0934-8612345",
            "address": "甘肃省庆阳市西峰区长庆大道16号"});
        mask_record(&mut record);
        assert_eq!(record["applicant"]["name"], "庆阳陇东云数据科技有限公司");
        assert_eq!(record["applicant"]["id_number"], "91621002MA7100001H");
        assert_eq!(
            record["applicant"]["address"],
            "甘肃省庆阳市西峰区长庆大道16号"
        );
        assert_eq!(record["applicant"]["phone"], "093*-***2345");
    }
}
