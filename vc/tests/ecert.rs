//! The credential shape: building, signing, identifiers, the JSON-LD context and the schema.

mod common;

use std::collections::BTreeSet;

use chrono::NaiveDate;
use common::*;
use domain::codes::{CertIdentifier, RegionCode};
use serde_json::{Value, json};
use vc::ecert::{
    CONTEXT_ECERT, CONTEXT_ECERT_DOCUMENT, CONTEXT_V2, VOCAB, build_credential, bundled_context,
    identifier_matches, mint_identifier, mint_serial, status_list_url,
};
use vc::{StatusPurpose, sign};

#[test]
fn builds_the_fixed_shape() {
    let input = example_input(0);
    let cred = build_credential(&input);
    let id = input.identifier.as_str();
    assert_eq!(
        id,
        "1.2.156.3005.2.11100000000018934N001.116210020138700018.62100000000000000001.001."
            .to_owned()
            + &id[id.len() - 1..]
    );
    assert_eq!(
        cred,
        json!({
            "@context": [CONTEXT_V2, CONTEXT_ECERT],
            "id": format!("urn:ecert:{id}"),
            "type": ["VerifiableCredential", "ElectronicCertificate"],
            "issuer": {"name": "庆阳市政务数据交换节点", "node": "urn:gateway:node:621000000000"},
            "validFrom": "2026-11-19T00:00:00+08:00",
            "credentialSubject": {
                "certificateName": "营业执照",
                "certificateNumber": "91621002MA7100001H",
                "certificateTypeCode": "11100000000018934N001",
                "holder": {"name": "庆阳陇东云数据科技有限公司", "code": "91621002MA7100001H", "codeType": "001"},
                "issuingAuthority": {"name": "庆阳市西峰区市场监督管理局", "creditCode": "116210020138700018"},
                "issueDate": "2026-11-19",
                "jurisdiction": "621002000000",
                "relatedItemCode": "620130001000",
                "caseRecordId": RECORD_ID,
                "surface": {
                    "住所": "甘肃省庆阳市西峰区长庆大道16号",
                    "副本": "正本",
                    "法定代表人": "张伟",
                    "注册资本": "伍佰万元整",
                    "类型": "有限责任公司（自然人投资或控股）",
                    "经营范围": "软件开发；信息技术咨询服务"
                }
            },
            "credentialStatus": [
                {
                    "id": "https://ecert.exchange-gateway.example/v1/status/621000000000/revocation#14",
                    "type": "BitstringStatusListEntry",
                    "statusPurpose": "revocation",
                    "statusListIndex": "14",
                    "statusListCredential": "https://ecert.exchange-gateway.example/v1/status/621000000000/revocation"
                },
                {
                    "id": "https://ecert.exchange-gateway.example/v1/status/621000000000/suspension#12",
                    "type": "BitstringStatusListEntry",
                    "statusPurpose": "suspension",
                    "statusListIndex": "12",
                    "statusListCredential": "https://ecert.exchange-gateway.example/v1/status/621000000000/suspension"
                }
            ]
        })
    );
    assert!(CertIdentifier::parse(id).is_ok());
}

#[test]
fn valid_until_is_the_last_second_of_the_day() {
    let mut cert = example_certificate(0);
    cert.valid_until = Some(NaiveDate::from_ymd_opt(2031, 11, 18).unwrap());
    let cred = build_credential(&input_for(cert, 9));
    assert_eq!(cred["validFrom"], "2026-11-19T00:00:00+08:00");
    assert_eq!(cred["validUntil"], "2031-11-18T23:59:59+08:00");
    // validUntil follows validFrom, as in the VC data model's examples.
    let keys: Vec<&str> = cred
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let from = keys.iter().position(|k| *k == "validFrom").unwrap();
    assert_eq!(keys[from + 1], "validUntil");
}

#[test]
fn sign_sets_issuer_id_and_a_did_key_proof() {
    let key = node_key();
    let cred = example_credential();
    assert_eq!(cred["issuer"]["id"], key.did());
    let issuer_keys: Vec<&String> = cred["issuer"].as_object().unwrap().keys().collect();
    assert_eq!(issuer_keys, ["id", "name", "node"]);
    let proof = &cred["proof"];
    assert_eq!(proof["type"], "DataIntegrityProof");
    assert_eq!(proof["cryptosuite"], "eddsa-jcs-2022");
    assert_eq!(proof["created"], "2026-11-25T04:00:00Z");
    assert_eq!(proof["verificationMethod"], key.verification_method());
    assert_eq!(proof["proofPurpose"], "assertionMethod");
    assert_eq!(proof["@context"], json!([CONTEXT_V2, CONTEXT_ECERT]));
    // Ed25519 is deterministic: the same input signs to the same bytes.
    assert_eq!(example_credential(), cred);
    let verified = vc::verify_proof(&cred, |_| None).unwrap();
    assert_eq!(verified.public_key, key.public_key());
}

#[test]
fn sign_accepts_its_own_issuer_id_and_refuses_another() {
    let key = node_key();
    let mut cred = build_credential(&example_input(0));
    cred["issuer"]["id"] = key.did().into();
    assert_eq!(sign(&cred, &key, created()).unwrap(), example_credential());

    cred["issuer"]["id"] = old_node_key().did().into();
    let err = sign(&cred, &key, created()).unwrap_err();
    assert_eq!(err.code(), "credential.issuer_mismatch");

    cred["issuer"] = "did:example:123".into();
    assert_eq!(
        sign(&cred, &key, created()).unwrap_err().code(),
        "credential.malformed"
    );
    assert_eq!(
        sign(&json!([1]), &key, created()).unwrap_err().code(),
        "document.not_object"
    );
    // Already signed: proof sets are not supported.
    assert_eq!(
        sign(&example_credential(), &key, created())
            .unwrap_err()
            .code(),
        "proof.malformed"
    );
}

#[test]
fn signed_credentials_validate_against_the_schema() {
    let cred = example_credential();
    assert_eq!(
        schema_errors("certificate.v1.schema.json", &cred),
        Vec::<String>::new()
    );

    // The second certificate, with an end date and a person holder.
    let mut cert = example_certificate(1);
    cert.valid_until = Some(NaiveDate::from_ymd_opt(2031, 11, 18).unwrap());
    cert.holder.code = "11010519491231002X".into();
    cert.holder.code_type = "111".into();
    let cred = vc::issue(&input_for(cert, u64::MAX / 8), &node_key(), created()).unwrap();
    assert_eq!(
        schema_errors("certificate.v1.schema.json", &cred),
        Vec::<String>::new()
    );

    // The unsigned credential is not a certificate yet.
    let unsigned = build_credential(&example_input(0));
    let errors = schema_errors("certificate.v1.schema.json", &unsigned);
    assert!(errors.iter().any(|e| e.contains("proof")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("\"id\"")), "{errors:?}");
}

#[test]
fn the_schema_rejects_other_shapes() {
    let cred = example_credential();
    let cases: Vec<(&str, Value)> = vec![
        ("/id", "urn:ecert:1.2.156.3005.2.X".into()),
        (
            "/id",
            "urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33".into(),
        ),
        ("/type", json!(["VerifiableCredential"])),
        ("/@context", json!([CONTEXT_V2])),
        ("/issuer/id", "https://issuer.example".into()),
        ("/issuer/node", "urn:gateway:node:6210".into()),
        ("/validFrom", "2026-11-19".into()),
        ("/credentialSubject/holder/codeType", "112".into()),
        ("/credentialSubject/holder/code", "91621002MA7100001".into()),
        ("/credentialSubject/statusListIndex", "1".into()),
        ("/credentialStatus/0/statusPurpose", "suspension".into()),
        ("/credentialStatus/1/statusListIndex", json!(12)),
        ("/proof/cryptosuite", "ecdsa-jcs-2019".into()),
        ("/proof/proofPurpose", "authentication".into()),
        ("/surprise", json!(true)),
    ];
    for (pointer, value) in cases {
        let mut bad = cred.clone();
        let (parent, field) = pointer.rsplit_once('/').unwrap();
        let target = if parent.is_empty() {
            &mut bad
        } else {
            bad.pointer_mut(parent).unwrap()
        };
        match target {
            Value::Object(map) => {
                map.insert(field.to_owned(), value);
            }
            Value::Array(items) => items[field.parse::<usize>().unwrap()] = value,
            _ => unreachable!(),
        }
        assert!(
            !schema_errors("certificate.v1.schema.json", &bad).is_empty(),
            "{pointer}"
        );
    }
    let mut three = cred.clone();
    let extra = three["credentialStatus"][0].clone();
    three["credentialStatus"]
        .as_array_mut()
        .unwrap()
        .push(extra);
    assert!(!schema_errors("certificate.v1.schema.json", &three).is_empty());
}

#[test]
fn minted_serials_are_unique_per_node_and_fit() {
    let qingyang = RegionCode::parse(QINGYANG).unwrap();
    let gansu = RegionCode::parse(GANSU).unwrap();
    assert_eq!(mint_serial(&qingyang, 1), "62100000000000000001");
    assert_eq!(mint_serial(&qingyang, 123_456_789), "621000000000123456789");
    assert_eq!(
        mint_serial(&qingyang, u64::MAX),
        "62100000000018446744073709551615"
    );
    assert_eq!(mint_serial(&qingyang, u64::MAX).len(), 32);
    assert_ne!(mint_serial(&qingyang, 1), mint_serial(&gansu, 1));
    // Distinct sequences never collide, also across the padding width.
    let serials: BTreeSet<String> = [0, 1, 10, 99_999_999, 100_000_000, 1_000_000_000]
        .into_iter()
        .map(|s| mint_serial(&qingyang, s))
        .collect();
    assert_eq!(serials.len(), 6);

    let cert = example_certificate(0);
    for sequence in [0, 1, u64::MAX] {
        let id = mint_identifier(&cert, &qingyang, sequence).unwrap();
        assert_eq!(CertIdentifier::parse(id.as_str()).unwrap(), id);
        assert_eq!(id.serial(), mint_serial(&qingyang, sequence));
        assert_eq!(id.version(), 1);
        assert!(identifier_matches(&cert, &id));
    }
    let foreign = CertIdentifier::parse(
        "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U",
    )
    .unwrap();
    assert!(!identifier_matches(&cert, &foreign));
}

#[test]
fn status_list_urls() {
    let qingyang = RegionCode::parse(QINGYANG).unwrap();
    for base in ["https://ecert.example", "https://ecert.example/"] {
        assert_eq!(
            status_list_url(base, &qingyang, StatusPurpose::Suspension),
            "https://ecert.example/v1/status/621000000000/suspension"
        );
    }
    assert_eq!(
        StatusPurpose::parse("revocation"),
        Some(StatusPurpose::Revocation)
    );
    assert_eq!(StatusPurpose::parse("message"), None);
}

/// Terms the VC v2 context defines for a credential, its status entries and its proof.
const V2_TERMS: &[&str] = &[
    "@context",
    "id",
    "type",
    "name",
    "description",
    "issuer",
    "validFrom",
    "validUntil",
    "credentialSubject",
    "credentialStatus",
    "statusPurpose",
    "statusListIndex",
    "statusListCredential",
    "proof",
    "cryptosuite",
    "created",
    "verificationMethod",
    "proofPurpose",
    "proofValue",
];

fn used_terms(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, item) in map {
                out.insert(k.clone());
                // The surface's keys are data (an @json literal), not terms.
                if k != "surface" {
                    used_terms(item, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| used_terms(i, out)),
        _ => {}
    }
}

#[test]
fn the_context_defines_every_term_used() {
    assert_eq!(bundled_context(CONTEXT_ECERT), Some(CONTEXT_ECERT_DOCUMENT));
    assert_eq!(bundled_context(CONTEXT_V2), None);
    let doc: Value = serde_json::from_str(CONTEXT_ECERT_DOCUMENT).unwrap();
    let ctx = doc["@context"].as_object().unwrap();
    assert_eq!(ctx["@version"], json!(1.1));
    assert_eq!(ctx["@protected"], json!(true));

    let mut defined = BTreeSet::new();
    for (term, def) in ctx.iter().filter(|(k, _)| !k.starts_with('@')) {
        let iri = def.as_str().or_else(|| def["@id"].as_str()).unwrap();
        assert_eq!(iri, format!("{VOCAB}{term}"), "{term}");
        if let Some(t) = def.get("@type") {
            let t = t.as_str().unwrap();
            assert!(
                t.starts_with('@') || t.starts_with("http://www.w3.org/2001/XMLSchema#"),
                "{t}"
            );
        }
        for key in def.as_object().into_iter().flat_map(|d| d.keys()) {
            assert!(
                ["@id", "@type", "@protected"].contains(&key.as_str()),
                "{term}: {key}"
            );
        }
        defined.insert(term.clone());
    }
    assert_eq!(ctx["surface"]["@type"], "@json");

    let mut used = BTreeSet::new();
    let mut cert = example_certificate(0);
    cert.valid_until = Some(NaiveDate::from_ymd_opt(2031, 11, 18).unwrap());
    used_terms(
        &vc::issue(&input_for(cert, 1), &node_key(), created()).unwrap(),
        &mut used,
    );
    used.insert("ElectronicCertificate".into());
    let missing: Vec<&String> = used
        .iter()
        .filter(|t| !V2_TERMS.contains(&t.as_str()) && !defined.contains(*t))
        .collect();
    assert!(
        missing.is_empty(),
        "terms without a definition: {missing:?}"
    );
    let unused: Vec<&String> = defined.difference(&used).collect();
    assert!(unused.is_empty(), "defined but never used: {unused:?}");
}
