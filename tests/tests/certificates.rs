//! Issue 3's acceptance: certificates in pushed records are issued as signed W3C credentials in
//! the batch transaction, keyed so nothing is minted twice, and verify online (API) and offline
//! (`gateway verify`) with the node's trust bundle; tampering, untrusted keys and dates outside
//! the validity period fail.

use std::process::Command;

use domain::codes::cert_id::CertIdentifier;
use domain::schema::JsonSchema;
use e2e::{Node, fixture, from_gbk, gbk, repo};
use serde_json::{Value, json};

const MR: &str = "/v1/ingest/market-regulation";
const PS: &str = "/v1/ingest/public-security";

async fn push(node: &Node, principal: &str, path: &str, body: Vec<u8>) -> Value {
    let resp = node
        .client(principal)
        .post(path, "application/octet-stream", body)
        .await
        .unwrap();
    assert_eq!(
        resp.status.as_u16(),
        200,
        "{}",
        String::from_utf8_lossy(&resp.body)
    );
    resp.json().unwrap()
}

fn certificate_schema() -> JsonSchema {
    JsonSchema::compile(
        &std::fs::read_to_string(repo().join("schemas/certificate.v1.schema.json")).unwrap(),
    )
    .unwrap()
}

/// The market-regulation fixture pushed by its system: two certificates issued.
async fn push_fixture(node: &Node) -> Value {
    push(
        node,
        "xifeng-amr-system",
        MR,
        fixture("market-regulation/batch-valid.json"),
    )
    .await
}

async fn credential(node: &Node, identifier: &str) -> Value {
    node.db()
        .await
        .query_one(
            "SELECT v.credential_text::jsonb FROM certificates c JOIN credential_versions v
               ON v.identifier = c.identifier AND v.version = c.current_version WHERE c.identifier = $1",
            &[&identifier],
        )
        .await
        .unwrap()
        .get(0)
}

fn issued(receipt: &Value, record: usize) -> Vec<Value> {
    receipt["records"][record]["certificates"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn certificates_are_issued_with_correct_identifiers_and_validate_against_the_schema() {
    let node = Node::start().await;
    let receipt = push(
        &node,
        "xifeng-amr-system",
        MR,
        fixture("market-regulation/batch-valid.json"),
    )
    .await;
    // A licence has an original and a copy: both issue, each with its own identifier.
    let certs = issued(&receipt, 0);
    assert_eq!(certs.len(), 2, "{receipt}");
    assert!(
        certs
            .iter()
            .all(|c| c["outcome"] == "issued" && c["version"] == 1)
    );
    assert_ne!(certs[0]["identifier"], certs[1]["identifier"]);
    let schema = certificate_schema();
    for c in &certs {
        let id = CertIdentifier::parse(c["identifier"].as_str().unwrap())
            .expect("a valid GB/T 36904 identifier");
        assert_eq!(id.type_code(), "11100000000018934N001");
        assert_eq!(id.authority().as_str(), "116210020138700018");
        assert!(
            id.serial().starts_with("621000000000"),
            "minted serials start with the node's region: {id}"
        );
        let cred = credential(&node, id.as_ref()).await;
        let errors = schema.errors(&cred);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(cred["id"], format!("urn:ecert:{id}"));
        assert_eq!(cred["issuer"]["node"], "urn:gateway:node:621000000000");
        assert_eq!(
            cred["credentialSubject"]["caseRecordId"],
            receipt["records"][0]["record_id"]
        );
    }
    assert_eq!(
        node.count("SELECT count(*) FROM credential_versions").await,
        2
    );

    // GBK XML through the other adapter: the residence permit.
    let ps = push(
        &node,
        "huanxian-psb-system",
        PS,
        fixture("public-security/batch-valid.gbk.xml"),
    )
    .await;
    let permit = issued(&ps, 0);
    assert_eq!(permit.len(), 1);
    let cred = credential(&node, permit[0]["identifier"].as_str().unwrap()).await;
    assert_eq!(cred["credentialSubject"]["holder"]["name"], "李秀兰");
    assert_eq!(cred["validUntil"], "2027-11-19T23:59:59+08:00");
}

#[tokio::test]
async fn a_re_push_mints_nothing_and_a_changed_certificate_is_a_new_version_of_the_same_identifier()
{
    let node = Node::start().await;
    let batch = fixture("market-regulation/batch-valid.json");
    let first = push(&node, "xifeng-amr-system", MR, batch.clone()).await;
    let again = push(&node, "xifeng-amr-system", MR, batch).await;
    assert_eq!(again["records"][0]["outcome"], "duplicate");
    assert_eq!(node.count("SELECT count(*) FROM certificates").await, 2);
    assert_eq!(
        node.count("SELECT count(*) FROM credential_versions").await,
        2
    );

    // Version 2 of the case: same licence, one surface field changed; the copy unchanged.
    let mut record: Value = serde_json::from_slice::<Value>(&fixture(
        "market-regulation/batch-valid.json",
    ))
    .unwrap()["records"][0]
        .clone();
    record["version"] = json!(2);
    record["result"]["licences"][0]["surface"]["注册资本"] = json!("壹仟万元整");
    let v2 = push(
        &node,
        "xifeng-amr-system",
        MR,
        serde_json::to_vec(&json!({"records": [record]})).unwrap(),
    )
    .await;
    let certs = issued(&v2, 0);
    assert_eq!(certs[0]["identifier"], issued(&first, 0)[0]["identifier"]);
    assert_eq!(
        (certs[0]["outcome"].clone(), certs[0]["version"].clone()),
        (json!("issued"), json!(2))
    );
    assert_eq!(
        (certs[1]["outcome"].clone(), certs[1]["version"].clone()),
        (json!("unchanged"), json!(1))
    );
    assert_eq!(node.count("SELECT count(*) FROM certificates").await, 2);
    assert_eq!(
        node.count("SELECT count(*) FROM credential_versions").await,
        3,
        "the old version is kept"
    );
    let current = credential(&node, certs[0]["identifier"].as_str().unwrap()).await;
    assert_eq!(
        current["credentialSubject"]["surface"]["注册资本"],
        "壹仟万元整"
    );
}

/// A certificate first seen twice in one push (two versions of its case, the licence changed
/// between them): its row is created holding version 1 and moved to 2 in the same transaction;
/// the copy, unchanged, stays at the 1 it was created with.
#[tokio::test]
async fn a_certificate_issued_twice_in_its_first_push_names_its_second_version() {
    let node = Node::start().await;
    let v1: Value = serde_json::from_slice::<Value>(&fixture("market-regulation/batch-valid.json"))
        .unwrap()["records"][0]
        .clone();
    let mut v2 = v1.clone();
    v2["version"] = json!(2);
    v2["result"]["licences"][0]["surface"]["注册资本"] = json!("壹仟万元整");
    let receipt = push(
        &node,
        "xifeng-amr-system",
        MR,
        serde_json::to_vec(&json!({"records": [v1, v2]})).unwrap(),
    )
    .await;
    let (first, second) = (issued(&receipt, 0), issued(&receipt, 1));
    let outcome = |c: &Value| (c["outcome"].clone(), c["version"].clone());
    assert_eq!(
        [&first[0], &first[1], &second[0], &second[1]].map(outcome),
        [
            (json!("issued"), json!(1)),
            (json!("issued"), json!(1)),
            (json!("issued"), json!(2)),
            (json!("unchanged"), json!(1)),
        ],
        "{receipt}"
    );
    let db = node.db().await;
    let current = |identifier: Value| {
        let db = &db;
        async move {
            db.query_one(
                "SELECT current_version FROM certificates WHERE identifier = $1",
                &[&identifier.as_str().unwrap()],
            )
            .await
            .unwrap()
            .get::<_, i32>(0)
        }
    };
    assert_eq!(current(second[0]["identifier"].clone()).await, 2);
    assert_eq!(current(second[1]["identifier"].clone()).await, 1);
    let credential = credential(&node, second[0]["identifier"].as_str().unwrap()).await;
    assert_eq!(
        credential["credentialSubject"]["surface"]["注册资本"],
        "壹仟万元整"
    );
}

#[tokio::test]
async fn a_valid_source_identifier_is_kept() {
    let node = Node::start().await;
    let id = CertIdentifier::mint(
        "11100000000013338W011",
        &domain::codes::credit::CreditCode::parse("116210220139200114").unwrap(),
        "HX2026JZZ42",
        1,
    )
    .unwrap()
    .to_string();
    let text = from_gbk(&fixture("public-security/batch-valid.gbk.xml"));
    let with_id = text.replacen("</ZMXX>", &format!("</ZMXX><ZZBS>{id}</ZZBS>"), 1);
    let receipt = push(&node, "huanxian-psb-system", PS, gbk(&with_id)).await;
    assert_eq!(issued(&receipt, 0)[0]["identifier"], id.as_str());
    let minted: bool = node
        .db()
        .await
        .query_one("SELECT minted FROM certificates", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!minted);
}

#[tokio::test]
async fn credentials_verify_online_and_one_changed_byte_fails() {
    let node = Node::start().await;
    let receipt = push(
        &node,
        "xifeng-amr-system",
        MR,
        fixture("market-regulation/batch-valid.json"),
    )
    .await;
    let id = issued(&receipt, 0)[0]["identifier"]
        .as_str()
        .unwrap()
        .to_owned();
    let approver = node.web_client("xifeng-approver");
    const WHY: &str = "purpose=approval"; // 行政审批核验 (schemas/purposes/purposes.json)

    let looked_up = approver
        .get(&format!("/v1/certificates/urn:ecert:{id}?{WHY}"))
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(looked_up["valid"], true, "{looked_up}");
    assert_eq!(
        looked_up["checks"],
        // No witness answers a lone node: its log's checkpoints are never cosigned.
        json!({"signature": "pass", "issuer_trusted": "pass", "in_validity_period": "pass", "not_revoked": "pass", "logged": "skipped"})
    );
    assert_eq!(looked_up["identifier"], id.as_str());
    let cred = looked_up["credential"].clone();

    let verify = |body: Vec<u8>| {
        let approver = node.web_client("xifeng-approver");
        async move {
            approver
                .post("/v1/certificates/verify", "application/json", body)
                .await
                .unwrap()
                .json()
                .unwrap()
        }
    };
    let ok: Value = verify(serde_json::to_vec(&cred).unwrap()).await;
    assert_eq!(ok["valid"], true, "{ok}");

    let mut tampered = cred.clone();
    tampered["credentialSubject"]["certificateNumber"] = json!("91621002MA7100001J");
    let bad: Value = verify(serde_json::to_vec(&tampered).unwrap()).await;
    assert_eq!(
        (bad["valid"].clone(), bad["checks"]["signature"].clone()),
        (json!(false), json!("fail"))
    );

    // Malformed identifiers are refused with 400 wherever they are taken.
    let r = approver
        .get(&format!("/v1/certificates/1.2.156.3005.2.NOTANID?{WHY}"))
        .await
        .unwrap();
    assert_eq!(
        (r.status.as_u16(), r.json().unwrap()["code"].clone()),
        (400, json!("certificate.bad_identifier"))
    );
    let mut bad_id = cred.clone();
    bad_id["id"] = json!("urn:ecert:1.2.156.3005.2.X");
    let r = approver
        .post(
            "/v1/certificates/verify",
            "application/json",
            serde_json::to_vec(&bad_id).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status.as_u16(), 400);
    // An unknown but well-formed identifier is a 404.
    let unknown = CertIdentifier::mint(
        "11100000000018934N001",
        &domain::codes::credit::CreditCode::parse("116210020138700018").unwrap(),
        "NOSUCH1",
        1,
    )
    .unwrap();
    let r = approver
        .get(&format!("/v1/certificates/{unknown}?{WHY}"))
        .await
        .unwrap();
    assert_eq!(
        (r.status.as_u16(), r.json().unwrap()["code"].clone()),
        (404, json!("certificate.not_found"))
    );
    // Departmental systems do not look certificates up.
    let r = node
        .client("xifeng-amr-system")
        .get(&format!("/v1/certificates/{id}?{WHY}"))
        .await
        .unwrap();
    assert_eq!(r.status.as_u16(), 403);
}

/// `POST /v1/certificates/verify` of one credential.
async fn verify_alone(
    caller: &gateway::client::ExchangeClient,
    credential: &Value,
) -> gateway::client::Response {
    caller
        .post(
            "/v1/certificates/verify",
            "application/json",
            serde_json::to_vec(credential).unwrap(),
        )
        .await
        .unwrap()
}

/// `POST /v1/certificates/verify/batch` answers each credential as the single route would, in
/// the order sent, with a bad item answered alone and the others still checked; on both
/// listeners, and from 8 items on the signatures are checked on several threads.
#[tokio::test]
async fn many_credentials_verify_in_one_request_each_as_it_would_alone() {
    let node = Node::start().await;
    push(
        &node,
        "xifeng-amr-system",
        MR,
        fixture("market-regulation/batch-valid.json"),
    )
    .await;
    let creds: Vec<Value> = node
        .db()
        .await
        .query(
            "SELECT credential_text::jsonb FROM credential_versions ORDER BY identifier LIMIT 2",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(creds.len(), 2, "the fixture issues two certificates");
    let mut tampered = creds[1].clone();
    tampered["credentialSubject"]["certificateNumber"] = json!("91621002MA7100001J");
    let mut bad_id = creds[0].clone();
    bad_id["id"] = json!("urn:ecert:1.2.156.3005.2.X");
    let mut items = vec![
        creds[0].clone(),
        tampered,
        bad_id.clone(),
        json!([1, 2]),
        creds[1].clone(),
    ];
    items.extend(std::iter::repeat_n(creds[0].clone(), 6));
    let batch = serde_json::to_vec(&json!({"credentials": items})).unwrap();

    let system = node.client("xifeng-amr-system");
    let public = node.anonymous_web();
    for caller in [&system, &public] {
        let r = caller
            .post(
                "/v1/certificates/verify/batch",
                "application/json",
                batch.clone(),
            )
            .await
            .unwrap();
        assert_eq!(
            r.status.as_u16(),
            200,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        let answer = r.json().unwrap();
        let results = answer["results"].as_array().unwrap();
        assert_eq!(results.len(), items.len());
        assert_eq!(
            (answer["valid"].clone(), answer["invalid"].clone()),
            (json!(8), json!(3))
        );
        for (item, result) in items.iter().zip(results) {
            let alone = verify_alone(caller, item).await;
            let alone_body = alone.json().unwrap();
            if alone.status.as_u16() == 200 {
                assert_eq!(result, &alone_body, "{item}");
            } else {
                // Refused alone: the same problem, in its place.
                assert_eq!(item, &bad_id);
                assert_eq!(result, &json!({"valid": false, "problem": alone_body}));
            }
        }
        assert_eq!(results[1]["checks"]["signature"], "fail");
        assert_eq!(results[2]["problem"]["code"], "certificate.bad_identifier");
        assert_eq!(results[2]["problem"]["status"], 400);
    }
    // Counted per verdict, once a request: for both callers 8 valid, and 2 checked invalid (the
    // credential refused before any check is not a verdict).
    let counted = |valid: &str| {
        let name = format!(
            "gateway_certificates_verified_total{{route=\"verify_batch\",valid=\"{valid}\"}}"
        );
        let node = &node;
        async move { node.metric_as("qingyang-operator", &name).await }
    };
    assert_eq!(
        (counted("true").await, counted("false").await),
        (Some(16.0), Some(4.0))
    );
    // The altered credential's batch (its core's share of the request) did not hold, so each
    // of its signatures was checked alone; a batch of valid credentials holds in one check, and
    // its verdicts are those of the single route.
    let batches = |held: &str| {
        let name = format!("gateway_certificates_signature_batches_total{{held=\"{held}\"}}");
        let node = &node;
        async move { node.metric_as("qingyang-operator", &name).await }
    };
    let held_before = batches("true").await.unwrap_or(0.0);
    assert!(batches("false").await.is_some_and(|n| n >= 2.0));
    let valid: Vec<Value> = (0..12).map(|i| creds[i % 2].clone()).collect();
    let r = public
        .post(
            "/v1/certificates/verify/batch",
            "application/json",
            serde_json::to_vec(&json!({"credentials": valid})).unwrap(),
        )
        .await
        .unwrap();
    let answer = r.json().unwrap();
    assert_eq!(
        (answer["valid"].clone(), answer["invalid"].clone()),
        (json!(12), json!(0))
    );
    for (cred, result) in valid.iter().zip(answer["results"].as_array().unwrap()) {
        assert_eq!(result, &verify_alone(&public, cred).await.json().unwrap());
    }
    assert!(batches("true").await.is_some_and(|n| n > held_before));

    // More than 100 credentials, or not a batch: refused whole, with the problem saying why.
    let many = serde_json::to_vec(&json!({"credentials": vec![creds[0].clone(); 101]})).unwrap();
    let r = system
        .post("/v1/certificates/verify/batch", "application/json", many)
        .await
        .unwrap();
    let problem = r.json().unwrap();
    assert_eq!(
        (
            r.status.as_u16(),
            problem["code"].clone(),
            problem["limit"].clone()
        ),
        (413, json!("verify.too_many_credentials"), json!(100))
    );
    for body in [
        json!({"credential": []}),
        creds[0].clone(),
        json!([creds[0]]),
    ] {
        let r = public
            .post(
                "/v1/certificates/verify/batch",
                "application/json",
                serde_json::to_vec(&body).unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(
            (r.status.as_u16(), r.json().unwrap()["code"].clone()),
            (400, json!("request.bad_json"))
        );
    }
}

fn verify_offline(node: &Node, file: &std::path::Path, extra: &[&str]) -> (i32, Value) {
    let mut cmd = Command::new(e2e::gateway_bin());
    cmd.arg("verify")
        .arg(file)
        .arg("--json")
        .args(extra)
        .env_remove("GATEWAY_CONFIG")
        .current_dir(node.dir.path());
    let out = cmd.output().unwrap();
    let verdict = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap(), verdict)
}

#[tokio::test]
async fn credentials_verify_offline_with_the_trust_bundle() {
    let node = Node::start().await;
    let receipt = push(
        &node,
        "huanxian-psb-system",
        PS,
        fixture("public-security/batch-valid.gbk.xml"),
    )
    .await;
    let id = issued(&receipt, 0)[0]["identifier"]
        .as_str()
        .unwrap()
        .to_owned();
    let cred = credential(&node, &id).await;
    let dir = node.dir.path();
    let file = dir.join("permit.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&cred).unwrap()).unwrap();
    let pki = node.pki();
    let root = std::fs::read_to_string(pki.join("trust-root.did")).unwrap();
    let trust = [
        "--trust",
        pki.join("trust-bundle.json")
            .to_str()
            .unwrap()
            .to_owned()
            .leak(),
        "--root",
        root.trim().to_owned().leak(),
    ];

    let (code, v) = verify_offline(&node, &file, &trust);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        v["checks"],
        json!({"signature": "pass", "issuer_trusted": "pass", "in_validity_period": "pass", "not_revoked": "skipped", "logged": "skipped"})
    );
    // Strict: the status check that could not be made offline now fails.
    assert_eq!(
        verify_offline(&node, &file, &[&trust[..], &["--strict"]].concat()).0,
        1
    );
    // Without a bundle the issuer cannot be trusted: not valid, but the signature verdict is given.
    let (code, v) = verify_offline(&node, &file, &[]);
    assert_eq!(
        (
            code,
            v["checks"]["signature"].clone(),
            v["checks"]["issuer_trusted"].clone()
        ),
        (1, json!("pass"), json!("skipped"))
    );
    // Outside the validity period (the permit is valid until 2027-11-19).
    let (code, v) = verify_offline(
        &node,
        &file,
        &[&trust[..], &["--at", "2028-01-01T00:00:00Z"]].concat(),
    );
    assert_eq!(
        (code, v["checks"]["in_validity_period"].clone()),
        (1, json!("fail"))
    );
    // One changed byte.
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replacen("李秀兰", "李秀芝", 1);
    let tampered = dir.join("tampered.json");
    std::fs::write(&tampered, text).unwrap();
    let (code, v) = verify_offline(&node, &tampered, &trust);
    assert_eq!((code, v["checks"]["signature"].clone()), (1, json!("fail")));
    // A bundle from another network (another root, another node key) does not trust the issuer.
    let other = dir.join("other-pki");
    node.cli(&[
        "pki",
        "init",
        "--no-register",
        "--out",
        other.to_str().unwrap(),
    ]);
    let other_root = std::fs::read_to_string(other.join("trust-root.did")).unwrap();
    let (code, v) = verify_offline(
        &node,
        &file,
        &[
            "--trust",
            other.join("trust-bundle.json").to_str().unwrap(),
            "--root",
            other_root.trim(),
        ],
    );
    assert_eq!(
        (
            code,
            v["checks"]["signature"].clone(),
            v["checks"]["issuer_trusted"].clone()
        ),
        (1, json!("pass"), json!("fail"))
    );
    // A bundle checked against the wrong root is refused as a usage/I/O error.
    let (code, _) = verify_offline(
        &node,
        &file,
        &[
            "--trust",
            pki.join("trust-bundle.json").to_str().unwrap(),
            "--root",
            other_root.trim(),
        ],
    );
    assert_eq!(code, 2);
    // A file that is not JSON.
    std::fs::write(dir.join("junk.json"), b"junk").unwrap();
    assert_eq!(verify_offline(&node, &dir.join("junk.json"), &trust).0, 2);
}

/// A credential version is stored as text, exactly the RFC 8785 bytes signed and logged
/// (migration 0033); one stored before, as jsonb, is looked up, listed and verified the same.
#[tokio::test]
async fn a_credential_is_stored_as_signed_and_one_stored_as_jsonb_reads_the_same() {
    let node = Node::start().await;
    push_fixture(&node).await;
    let db = node.db().await;
    let rows = db
        .query(
            "SELECT v.identifier, v.credential_text, v.credential IS NULL, c.holder_code
             FROM credential_versions v JOIN certificates c ON c.identifier = v.identifier
             ORDER BY v.identifier",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "the fixture issues two certificates");
    for r in &rows {
        let text: &str = r.get(1);
        let parsed: Value = serde_json::from_str(text).unwrap();
        assert_eq!(text.as_bytes(), vc::jcs::canonicalize(&parsed).unwrap());
        assert!(r.get::<_, bool>(2), "nothing in the jsonb column");
    }
    let (first, second): (String, String) = (rows[0].get(0), rows[1].get(0));
    let holder: String = rows[0].get(3);
    let approver = node.web_client("xifeng-approver");
    let get = async |path: String| -> Value {
        let resp = approver.get(&path).await.unwrap();
        assert_eq!(resp.status.as_u16(), 200, "{path}");
        resp.json().unwrap()
    };
    let read = async || {
        (
            get(format!(
                "/v1/certificates/urn:ecert:{first}?purpose=approval"
            ))
            .await,
            get(format!(
                "/v1/certificates?holder_code={holder}&scope=621002000000&purpose=approval"
            ))
            .await,
        )
    };
    let before = read().await;
    assert_eq!(before.0["valid"], true, "{}", before.0);
    assert!(
        !before.1["certificates"].as_array().unwrap().is_empty(),
        "{}",
        before.1
    );

    // As written before migration 0033.
    let moved = db
        .execute(
            "UPDATE credential_versions SET credential = credential_text::jsonb, credential_text = NULL",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(moved, 2);
    assert_eq!(read().await, before);
    // A credential not presented before (nothing remembered of it) is found by its proof in
    // the jsonb row: held, so its status is checked.
    let presented: String = db
        .query_one(
            "SELECT credential::text FROM credential_versions WHERE identifier = $1",
            &[&second],
        )
        .await
        .unwrap()
        .get(0);
    let verdict: Value = approver
        .post(
            "/v1/certificates/verify",
            "application/json",
            presented.into_bytes(),
        )
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(verdict["valid"], true, "{verdict}");
    assert_eq!(verdict["checks"], before.0["checks"], "{verdict}");
}

/// A credential waits for the transparency log with its leaf hash (migration 0024): the RFC 6962
/// leaf hash of the stored credential's RFC 8785 form, which the sequencer then appends without
/// reading the credential back.
#[tokio::test]
async fn a_credential_is_queued_for_the_log_with_the_leaf_hash_of_what_is_stored() {
    // No sequencer round after start-up: the queue keeps what the push wrote.
    let node =
        Node::start_configured(&[("GATEWAY_TRANSPARENCY__SEQUENCE_INTERVAL_MS", "3600000")]).await;
    let receipt = push(
        &node,
        "xifeng-amr-system",
        MR,
        fixture("market-regulation/batch-valid.json"),
    )
    .await;
    let issued = issued(&receipt, 0).len();
    assert!(issued > 0, "{receipt}");
    let rows = node
        .db()
        .await
        .query(
            "SELECT p.leaf_hash, v.credential_text::jsonb FROM tlog_pending p
             JOIN credential_versions v ON v.credential_id = p.ref_id
             WHERE p.kind = 'credential'",
            &[],
        )
        .await
        .unwrap();
    assert!(rows.len() >= issued, "{} queued", rows.len());
    for r in &rows {
        let queued: Option<Vec<u8>> = r.get(0);
        let credential: Value = r.get(1);
        let expected = vc::logged::leaf_hash(&credential).unwrap();
        assert_eq!(queued.as_deref(), Some(expected.as_slice()), "{credential}");
    }
}

/// A queued credential without its leaf hash (as queued before migration 0024) is hashed by
/// the sequencer from the stored credential, kept as text or as jsonb (before migration 0033)
/// alike, and logged with the leaf hash the issuing transaction computed.
#[tokio::test]
async fn a_credential_queued_without_its_leaf_hash_is_logged_from_what_is_stored() {
    let mut node =
        Node::start_configured(&[("GATEWAY_TRANSPARENCY__SEQUENCE_INTERVAL_MS", "3600000")]).await;
    push_fixture(&node).await;
    let db = node.db().await;
    let queued: Vec<(uuid::Uuid, Vec<u8>)> = db
        .query(
            "SELECT ref_id, leaf_hash FROM tlog_pending WHERE kind = 'credential' ORDER BY ref_id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(queued.len(), 2, "the fixture issues two certificates");
    let moved = db
        .execute(
            "UPDATE credential_versions SET credential = credential_text::jsonb, credential_text = NULL
             WHERE credential_id = $1",
            &[&queued[0].0],
        )
        .await
        .unwrap();
    assert_eq!(moved, 1);
    db.execute("UPDATE tlog_pending SET leaf_hash = NULL", &[])
        .await
        .unwrap();
    node.stop();
    node.set_env("GATEWAY_TRANSPARENCY__SEQUENCE_INTERVAL_MS", "100");
    node.spawn().await;
    e2e::Network::eventually(30, "both credentials logged", || async {
        node.count("SELECT count(*) FROM tlog_leaves WHERE kind = 'credential'")
            .await
            == 2
    })
    .await;
    for (ref_id, leaf) in &queued {
        let logged: Vec<u8> = db
            .query_one(
                "SELECT leaf_hash FROM tlog_leaves WHERE ref_id = $1",
                &[ref_id],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(&logged, leaf, "{ref_id}");
    }
}

/// Certificates are append-only (migration 0025): credential versions name their certificate
/// and record without foreign keys, so the store refuses to delete either. The move of each
/// new certificate's current version stays on its page (fillfactor), and lands.
#[tokio::test]
async fn certificates_cannot_be_deleted_and_name_their_current_version() {
    let node = Node::start().await;
    let receipt = push(
        &node,
        "xifeng-amr-system",
        MR,
        fixture("market-regulation/batch-valid.json"),
    )
    .await;
    assert!(!issued(&receipt, 0).is_empty(), "{receipt}");
    let db = node.db().await;
    // Every certificate's current version is a stored version of it, and every version's
    // certificate and record are stored.
    let unmatched: i64 = db
        .query_one(
            "SELECT (SELECT count(*) FROM certificates c WHERE NOT EXISTS (
                       SELECT 1 FROM credential_versions v
                       WHERE v.identifier = c.identifier AND v.version = c.current_version))
                  + (SELECT count(*) FROM credential_versions v WHERE NOT EXISTS (
                       SELECT 1 FROM certificates c WHERE c.identifier = v.identifier))
                  + (SELECT count(*) FROM credential_versions v WHERE NOT EXISTS (
                       SELECT 1 FROM case_records r WHERE r.record_id = v.record_id))",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(unmatched, 0);
    for statement in ["DELETE FROM certificates", "TRUNCATE certificates CASCADE"] {
        let refused = db.batch_execute(statement).await.unwrap_err();
        assert_eq!(
            refused.code(),
            Some(&tokio_postgres::error::SqlState::RESTRICT_VIOLATION),
            "{statement}: {refused}"
        );
    }
    let options: Vec<String> = db
        .query_one(
            "SELECT reloptions FROM pg_class WHERE relname = 'certificates'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(options, ["fillfactor=80"]);
}
