//! Certificates approvers can trust over time (issue 7): suspension, reinstatement and
//! revocation seen online (the API's verdict), offline (`gateway verify --status`) and at the
//! tiers above; the transparency log's inclusion proofs, witnessed checkpoints, a witness
//! refusing a forked checkpoint, consistency proofs, and `gateway log audit` finding a changed
//! credential row. Real binaries, PostgreSQL and mTLS on a five-node network.

use std::process::Output;

use e2e::{Network, Node, fixture};
use serde_json::{Value, json};

use e2e::gansu::{CITY, HUAN, PROVINCE, XIFENG, network};
const WHY: &str = "purpose=approval"; // 行政审批核验 (schemas/purposes/purposes.json)

/// The market-regulation fixture at Xifeng, renumbered with `tag`; `licence_status` sets the
/// first licence's status as the department states it.
fn batch(tag: &str, version: u32, licence_status: Option<&str>) -> Vec<u8> {
    let mut batch: Value =
        serde_json::from_slice(&fixture("market-regulation/batch-valid.json")).unwrap();
    for r in batch["records"].as_array_mut().unwrap() {
        r["caseNo"] = json!(format!("{}-{tag}", r["caseNo"].as_str().unwrap()));
        r["version"] = json!(version);
        // Certificates of their own: another number per tag.
        let licences = r.get_mut("result").and_then(|res| res.get_mut("licences"));
        for licence in licences.and_then(Value::as_array_mut).into_iter().flatten() {
            licence["licenceNo"] =
                json!(format!("{}-{tag}", licence["licenceNo"].as_str().unwrap()));
        }
    }
    if let Some(status) = licence_status {
        let licence = &mut batch["records"][0]["result"]["licences"][0];
        licence["status"] = json!(status);
        licence["statusReason"] = json!("营业执照被依法吊销");
    }
    serde_json::to_vec(&batch).unwrap()
}

async fn push(node: &Node, body: Vec<u8>) -> Value {
    let r = node
        .client(&format!("n{XIFENG}-market-regulation"))
        .post("/v1/ingest/market-regulation", "application/json", body)
        .await
        .unwrap();
    let receipt = r.json().unwrap();
    assert_eq!(r.status.as_u16(), 200, "{receipt}");
    receipt
}

async fn set_status(node: &Node, system: &str, id: &str, status: &str) -> (u16, Value) {
    let body = json!({"status": status, "reason": "持证人申报遗失（挂失）"}).to_string();
    let r = node
        .client(system)
        .post(
            &format!("/v1/certificates/{id}/status"),
            "application/json",
            body.into_bytes(),
        )
        .await
        .unwrap();
    (r.status.as_u16(), r.json().unwrap())
}

/// `gateway verify` on files written to the network's folder.
fn verify(net: &Network, node: &Node, files: &[(&str, &Value)], extra: &[&str]) -> (Output, Value) {
    let mut args = vec!["verify".to_owned()];
    for (name, value) in files {
        let path = net.dir.path().join(name);
        std::fs::write(&path, serde_json::to_vec(value).unwrap()).unwrap();
        args.push(path.to_str().unwrap().to_owned());
    }
    args.extend([
        "--trust".into(),
        node.pki()
            .join("trust-bundle.json")
            .to_str()
            .unwrap()
            .into(),
    ]);
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args.push("--json".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = node.cli_output(&args);
    let verdict = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, verdict)
}

#[tokio::test]
async fn suspension_reinstatement_and_revocation_are_seen_online_offline_and_up_the_tree() {
    let net = network().await;
    let xifeng = net.node(XIFENG);
    let receipt = push(xifeng, batch("S1", 1, None)).await;
    let id = receipt["records"][0]["certificates"][0]["identifier"]
        .as_str()
        .unwrap()
        .to_owned();
    let system = format!("n{XIFENG}-market-regulation");
    let approver = xifeng.web_client(&format!("n{XIFENG}-approver"));
    let before: Value = lookup(&approver, &id).await;
    assert_eq!(before["checks"]["not_revoked"], "pass", "{before}");
    let credential = before["credential"].clone();

    // Reported lost (挂失): suspended by the issuing department's system.
    let (status, answer) = set_status(xifeng, &system, &id, "suspended").await;
    assert_eq!(
        (status, answer["changed"].clone()),
        (200, json!(true)),
        "{answer}"
    );
    let online: Value = lookup(&approver, &id).await;
    assert_eq!(online["checks"]["not_revoked"], "fail", "{online}");
    assert_eq!(online["valid"], false);
    // The status lists, fetched anonymously at another county (routed to Xifeng), make the
    // offline verifier see it too.
    let huan = net.node(HUAN);
    let list = |purpose: &'static str| async move {
        let r = huan
            .anonymous_web()
            .get(&format!("/v1/status/{XIFENG}/{purpose}"))
            .await
            .unwrap();
        assert_eq!(r.status.as_u16(), 200);
        r.json().unwrap()
    };
    let (revocation, suspension): (Value, Value) =
        (list("revocation").await, list("suspension").await);
    let status_args = |rev: &str, sus: &str| {
        vec![
            "--status".to_owned(),
            net.dir.path().join(rev).to_str().unwrap().to_owned(),
            "--status".to_owned(),
            net.dir.path().join(sus).to_str().unwrap().to_owned(),
        ]
    };
    std::fs::write(net.dir.path().join("rev.json"), revocation.to_string()).unwrap();
    std::fs::write(net.dir.path().join("sus.json"), suspension.to_string()).unwrap();
    let args = status_args("rev.json", "sus.json");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (out, verdict) = verify(&net, xifeng, &[("cred.json", &credential)], &args);
    assert_eq!(out.status.code(), Some(1), "{verdict}");
    assert_eq!(verdict["checks"]["not_revoked"], "fail");
    assert!(
        verdict["errors"].to_string().contains("status.suspended"),
        "{verdict}"
    );
    // The change reaches every tier above.
    for tier in [CITY, PROVINCE] {
        let node = net.node(tier);
        let sql = format!(
            "SELECT count(*) FROM certificates WHERE identifier = '{id}' AND status = 'suspended'"
        );
        Network::eventually(60, "the suspension up the tree", || async {
            node.count(&sql).await == 1
        })
        .await;
    }

    // Found again: the suspension is lifted; fresh lists say so.
    let (status, answer) = set_status(xifeng, &system, &id, "valid").await;
    assert_eq!(
        (status, answer["changed"].clone()),
        (200, json!(true)),
        "{answer}"
    );
    assert_eq!(
        lookup(&approver, &id).await["checks"]["not_revoked"],
        "pass"
    );
    std::fs::write(
        net.dir.path().join("sus2.json"),
        list("suspension").await.to_string(),
    )
    .unwrap();
    let args = status_args("rev.json", "sus2.json");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (out, verdict) = verify(&net, xifeng, &[("cred.json", &credential)], &args);
    assert_eq!(verdict["checks"]["not_revoked"], "pass", "{verdict}");
    assert_eq!(out.status.code(), Some(0), "{verdict}");

    // Only the issuing department of the issuing node changes it.
    let (status, answer) = set_status(
        net.node(CITY),
        &format!("n{CITY}-market-regulation"),
        &id,
        "revoked",
    )
    .await;
    assert_eq!(
        (status, answer["code"].clone()),
        (403, json!("certificate.not_issuer"))
    );
    let (status, answer) = set_status(
        xifeng,
        &format!("n{XIFENG}-public-security"),
        &id,
        "revoked",
    )
    .await;
    assert_eq!(
        (status, answer["code"].clone()),
        (403, json!("auth.department")),
        "{answer}"
    );

    // Revoked by a case update (吊销): final, even for the API.
    let receipt = push(xifeng, batch("S1", 2, Some("吊销"))).await;
    assert_eq!(receipt["summary"]["accepted"], 3, "{receipt}");
    let revoked: Value = lookup(&approver, &id).await;
    assert_eq!(revoked["checks"]["not_revoked"], "fail", "{revoked}");
    assert_eq!(
        revoked["version"], 1,
        "a status change never re-signs the credential"
    );
    let (status, answer) = set_status(xifeng, &system, &id, "valid").await;
    assert_eq!(
        (status, answer["code"].clone()),
        (409, json!("certificate.revoked"))
    );
    let changes: i64 = xifeng
        .count(&format!(
            "SELECT count(*) FROM certificate_status_changes WHERE identifier = '{id}'"
        ))
        .await;
    assert_eq!(changes, 3, "suspended, valid, revoked");
}

#[tokio::test]
async fn the_log_proves_inclusion_witnesses_refuse_forks_and_audit_finds_changed_rows() {
    let net = network().await;
    let xifeng = net.node(XIFENG);
    let receipt = push(xifeng, batch("L1", 1, None)).await;
    let id = receipt["records"][0]["certificates"][0]["identifier"]
        .as_str()
        .unwrap()
        .to_owned();
    let look_up = || async {
        let verdict: Value = xifeng
            .web_client(&format!("n{XIFENG}-approver"))
            .get(&format!("/v1/certificates/{id}?{WHY}"))
            .await
            .unwrap()
            .json()
            .unwrap();
        verdict
    };
    // Looked up at once, before a witness cosigned: nothing proven yet, and nothing failed;
    // what the node keeps of it must not stand in for the cosigned proof (it passes below).
    let early = look_up().await;
    assert_ne!(early["checks"]["logged"], "fail", "{early}");
    // Sequenced, and the checkpoint that holds both credentials cosigned by the city.
    Network::eventually(60, "a cosigned checkpoint of both credentials", || async {
        xifeng
            .count("SELECT count(*) FROM tlog_checkpoints WHERE tree_size >= 2 AND witnesses > 0")
            .await
            > 0
    })
    .await;
    // The province's own checkpoints are witnessed by its child city.
    let province = net.node(PROVINCE);
    Network::eventually(60, "the province's checkpoint cosigned", || async {
        province
            .count("SELECT count(*) FROM tlog_checkpoints WHERE witnesses > 0")
            .await
            > 0
    })
    .await;

    // The proof, asked at Huan, comes from Xifeng's log through the city.
    let huan = net.node(HUAN);
    let r = huan
        .anonymous_web()
        .get(&format!("/v1/certificates/{id}/proof"))
        .await
        .unwrap();
    let proof = r.json().unwrap();
    assert_eq!(r.status.as_u16(), 200, "{proof}");
    assert_eq!(proof["type"], "LogInclusionProof");
    assert!(
        proof["checkpoint"]
            .as_str()
            .unwrap()
            .contains(&format!("/witness/{CITY} "))
    );
    let online = look_up().await;
    assert_eq!(online["checks"]["logged"], "pass", "{online}");
    let credential = online["credential"].clone();

    // Presented, the stored version is the one with the credential's identifier and
    // signature: spelled differently (spaced out) it is still that version, proven logged;
    // changed, it is not what the log holds (and the signature fails), whether or not the
    // node has just remembered the genuine one.
    let present = |body: Vec<u8>| {
        let approver = xifeng.web_client(&format!("n{XIFENG}-approver"));
        async move {
            let verdict: Value = approver
                .post("/v1/certificates/verify", "application/json", body)
                .await
                .unwrap()
                .json()
                .unwrap();
            verdict
        }
    };
    let spaced = serde_json::to_vec_pretty(&credential).unwrap();
    let mut changed = credential.clone();
    changed["credentialSubject"]["holderName"] = json!("改过的名字");
    for _ in 0..2 {
        let verdict = present(spaced.clone()).await;
        assert_eq!(
            (&verdict["valid"], &verdict["checks"]["logged"]),
            (&json!(true), &json!("pass")),
            "{verdict}"
        );
        let verdict = present(serde_json::to_vec(&changed).unwrap()).await;
        assert_eq!(
            (
                &verdict["checks"]["signature"],
                &verdict["checks"]["logged"]
            ),
            (&json!("fail"), &json!("fail")),
            "{verdict}"
        );
    }
    let proof_file = net.dir.path().join("proof.json");
    std::fs::write(&proof_file, proof.to_string()).unwrap();
    let (out, verdict) = verify(
        &net,
        huan,
        &[("cred.json", &credential)],
        &["--proof", proof_file.to_str().unwrap(), "--strict"],
    );
    assert_eq!(verdict["checks"]["logged"], "pass", "{verdict}");
    assert_eq!(
        verdict["checks"]["not_revoked"], "fail",
        "strict: no status lists given"
    );
    assert_eq!(out.status.code(), Some(1));
    // A proof for another leaf does not prove this credential.
    let mut wrong = proof.clone();
    wrong["leaf_index"] = json!(1 - proof["leaf_index"].as_u64().unwrap());
    std::fs::write(&proof_file, wrong.to_string()).unwrap();
    let (out, verdict) = verify(
        &net,
        huan,
        &[("cred.json", &credential)],
        &["--proof", proof_file.to_str().unwrap()],
    );
    assert_eq!(verdict["checks"]["logged"], "fail", "{verdict}");
    assert!(
        verdict["errors"].to_string().contains("log.not_included"),
        "{verdict}"
    );
    assert_eq!(out.status.code(), Some(1));

    // Consistency between two checkpoints the log signed.
    let db = xifeng.db().await;
    let rows = db
        .query(
            "SELECT tree_size, root FROM tlog_checkpoints ORDER BY tree_size",
            &[],
        )
        .await
        .unwrap();
    let (first, last) = (&rows[0], &rows[rows.len() - 1]);
    let (from, to): (i64, i64) = (first.get(0), last.get(0));
    let r = huan
        .anonymous_web()
        .get(&format!("/v1/log/consistency?from={from}&to={to}"))
        .await
        .unwrap();
    let answer = r.json().unwrap();
    assert_eq!(
        answer["code"], "log.bad_range",
        "asked at Huan: Huan's own log, which is empty"
    );
    let r = xifeng
        .anonymous_web()
        .get(&format!("/v1/log/consistency?from={from}&to={to}"))
        .await
        .unwrap();
    let answer = r.json().unwrap();
    let hashes: Vec<tlog::Hash> = answer["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| b64(h.as_str().unwrap()))
        .collect();
    let root = |r: &tokio_postgres::Row| tlog::Hash::try_from(r.get::<_, &[u8]>(1)).unwrap();
    tlog::verify_consistency(from as u64, to as u64, &root(first), &root(last), &hashes).unwrap();

    // A forked checkpoint, signed with Xifeng's own checkpoint key, is refused by the city.
    let key = ring::signature::Ed25519KeyPair::from_pkcs8(
        &std::fs::read(xifeng.pki().join("checkpoint-key.pk8")).unwrap(),
    )
    .unwrap();
    let city_db = net.node(CITY).db().await;
    let held = city_db
        .query_one(
            "SELECT origin, tree_size FROM tlog_witnessed WHERE origin LIKE '%/log/' || $1",
            &[&XIFENG],
        )
        .await
        .unwrap();
    let (origin, held_size): (String, i64) = (held.get(0), held.get(1));
    let forged = tlog::Checkpoint::new(&origin, held_size as u64 + 1, [7u8; 32]);
    let note = tlog::sign_note(&forged.body(), &origin, &key).unwrap();
    let as_xifeng = gateway::client::ExchangeClient::new(
        &net.node(CITY).base_url(),
        &xifeng.pki().join("ca.crt"),
        &xifeng.pki().join("node.crt"),
        &xifeng.pki().join("node.key"),
    )
    .unwrap();
    let (status, answer) = submit(&as_xifeng, held_size, &note).await;
    assert_eq!(
        (status, answer["code"].clone()),
        (422, json!("log.inconsistent")),
        "{answer}"
    );
    let (status, answer) = submit(&as_xifeng, held_size + 5, &note).await;
    assert_eq!(
        (status, answer["code"].clone()),
        (409, json!("log.witness_conflict"))
    );
    assert_eq!(answer["tree_size"], held_size);

    // The audit recomputes the log from the rows: sound, then a changed credential row is found.
    xifeng.cli(&["log", "audit"]);
    db.execute(
        "UPDATE credential_versions
         SET credential_text = jsonb_set(credential_text::jsonb, '{credentialSubject,certificateName}', '\"伪造执照\"')::text
         WHERE identifier = $1",
        &[&id],
    )
    .await
    .unwrap();
    let out = xifeng.cli_output(&["log", "audit"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("changed") && stdout.contains(&id),
        "{stdout}"
    );
}

async fn lookup(approver: &gateway::client::ExchangeClient, id: &str) -> Value {
    approver
        .get(&format!("/v1/certificates/{id}?{WHY}"))
        .await
        .unwrap()
        .json()
        .unwrap()
}

/// POST an add-checkpoint request with no proof lines.
async fn submit(client: &gateway::client::ExchangeClient, old: i64, note: &str) -> (u16, Value) {
    let body = format!("old {old}\n\n{note}");
    let r = client
        .post(
            "/v1/log/witness",
            "text/x.tlog.add-checkpoint",
            body.into_bytes(),
        )
        .await
        .unwrap();
    (r.status.as_u16(), r.json().unwrap_or(Value::Null))
}

fn b64(s: &str) -> tlog::Hash {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(s).unwrap();
    tlog::Hash::try_from(bytes.as_slice()).unwrap()
}

/// The did:key that signed a credential.
fn signer(credential: &Value) -> String {
    let vm = credential["proof"]["verificationMethod"].as_str().unwrap();
    vm.split_once('#').unwrap().0.to_owned()
}

async fn trust_in_force(node: &Node, region: &str) -> i64 {
    let r = node
        .web_client(&format!("n{region}-operator"))
        .get("/v1/reference")
        .await
        .unwrap();
    r.json().unwrap()["in_force"]["trust_bundle"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn a_rotated_key_signs_once_the_provinces_bundle_arrives_and_old_certificates_still_verify() {
    let net = network().await;
    let xifeng = net.node(XIFENG);
    let approver = xifeng.web_client(&format!("n{XIFENG}-approver"));
    let first = |receipt: &Value| {
        receipt["records"][0]["certificates"][0]["identifier"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let old_id = first(&push(xifeng, batch("K1", 1, None)).await);
    let old = lookup(&approver, &old_id).await;
    let old_key = signer(&old["credential"]);

    // The new key's request travels Xifeng → city → province.
    let out = xifeng.cli(&["keys", "rotate"]);
    let new_key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(new_key.starts_with("did:key:z6Mk"), "{new_key}");
    let province = net.node(PROVINCE);
    let sql = format!("SELECT count(*) FROM key_requests WHERE new_key = '{new_key}'");
    Network::eventually(60, "the key request at the province", || async {
        province.count(&sql).await == 1
    })
    .await;
    assert_eq!(
        net.node(CITY).count(&sql).await,
        1,
        "passed through the city"
    );
    // One rotation at a time; until the new bundle arrives the old key signs.
    let out = xifeng.cli_output(&["keys", "rotate"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("pending"));
    let meantime = first(&push(xifeng, batch("K2", 1, None)).await);
    assert_eq!(
        signer(&lookup(&approver, &meantime).await["credential"]),
        old_key
    );

    // The province publishes the bundle; it flows down; Xifeng switches keys.
    let root_key = net.dir.path().join("pki/root-key.pk8");
    province.cli(&["keys", "publish", "--root-key", root_key.to_str().unwrap()]);
    assert!(province.cli(&["keys", "pending"]).stdout.is_empty());
    Network::eventually(60, "the new trust bundle at Xifeng", || async {
        trust_in_force(xifeng, XIFENG).await == 2
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let after = first(&push(xifeng, batch("K3", 1, None)).await);
    let signed = lookup(&approver, &after).await;
    assert_eq!(
        signer(&signed["credential"]),
        new_key,
        "{}",
        xifeng
            .log()
            .lines()
            .filter(|l| l.contains("key") || l.contains("bundle") || l.contains("ERROR"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(signed["valid"], true, "{signed}");

    // Certificates signed with the retired key still verify, online and offline with the new
    // bundle (the key was valid at their proof's created time).
    let old_again = lookup(&approver, &old_id).await;
    assert_eq!(old_again["checks"]["issuer_trusted"], "pass", "{old_again}");
    assert_eq!(old_again["valid"], true);
    let envelope: Value = province
        .web_client(&format!("n{PROVINCE}-operator"))
        .get("/v1/reference/trust_bundle/2")
        .await
        .unwrap()
        .json()
        .unwrap();
    let bundle_file = net.dir.path().join("bundle-v2.json");
    std::fs::write(&bundle_file, envelope["body"].to_string()).unwrap();
    let cred_file = net.dir.path().join("old.json");
    std::fs::write(&cred_file, old["credential"].to_string()).unwrap();
    let out = xifeng.cli_output(&[
        "verify",
        cred_file.to_str().unwrap(),
        "--trust",
        bundle_file.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let retired = envelope["body"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["region"] == XIFENG)
        .unwrap()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["did"] == old_key.as_str())
        .unwrap()
        .clone();
    assert_eq!(retired["status"], "retired", "{retired}");
    // The next rotation promotes the new key to current and starts over.
    let out = xifeng.cli(&["keys", "rotate"]);
    assert_ne!(String::from_utf8(out.stdout).unwrap().trim(), new_key);
}
