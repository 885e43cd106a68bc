//! Issue 10's verification page, end to end, in a real headless Chromium on the five-node
//! Gansu network: a service-hall clerk picks a certificate file issued at Xifeng district (all
//! five checks pass there: Xifeng holds its status, and its log's checkpoint is witnessed by
//! Qingyang city), a tampered copy (the signature fails), a revoked one, pasted (the revocation
//! shows); then, at Huan county, logs in with an approver account, opens the QR code's
//! `/verify?id=…` link (the lookup is routed up to Qingyang city, which holds Xifeng's
//! certificates and their status through forwarding and asks Xifeng for the log proof: all five
//! checks pass; audited under the clerk's name and purpose at both nodes), switches to English,
//! and looks the holder up. Screenshots: `tests/artifacts/verify-*.png`.

use std::time::{Duration, Instant};

use e2e::browser::{self, Browser, json_file};
use e2e::gansu::{CITY, HUAN, XIFENG, network};
use e2e::{Network, Node, fixture};
use serde_json::{Value, json};

const WHY: &str = "purpose=approval"; // 行政审批核验 (schemas/purposes/purposes.json)
const CLERK: (&str, &str) = ("clerk.wang", "correct horse battery staple");
const HOLDER: &str = "91621002MA7100001H";

/// The result panel as the page draws it: its state and verdict, each check's result, the
/// fields shown, the headline.
const READ_RESULT: &str = r#"
const box = document.getElementById("result");
if (box.dataset.state !== arguments[0]) return null;
// The QR image loads after the verdict is drawn: wait until it has loaded or failed.
const qr = document.getElementById("qr");
if (qr && !qr.complete) return null;
const checks = {};
for (const li of box.querySelectorAll("li.check")) checks[li.dataset.check] = {
  result: li.dataset.result,
  reason: li.querySelector(".reason").textContent,
};
const fields = {};
for (const dd of box.querySelectorAll("dd[data-field]")) fields[dd.dataset.field] = dd.textContent;
const headline = document.getElementById("headline");
return {
  valid: box.dataset.valid, identifier: box.dataset.identifier, served_by: box.dataset.servedBy,
  source: box.dataset.source, headline: headline ? headline.textContent : null, checks, fields,
  rows: [...box.querySelectorAll("tr[data-identifier]")].map((tr) => tr.dataset.identifier),
  qr: qr ? qr.naturalWidth : 0,
  text: box.innerText,
};
"#;

/// Clear the result panel (so the next wait sees the next answer).
const CLEAR: &str =
    r#"const box = document.getElementById("result"); box.dataset.state = "cleared";"#;

async fn result(browser: &Browser, state: &str, what: &str) -> Value {
    browser
        .wait_for(READ_RESULT, json!([state]), 30, what)
        .await
}

/// Pick `file` with the page's file input; the verdict the page then shows.
async fn pick(browser: &Browser, file: &std::path::Path, what: &str) -> Value {
    browser.execute(CLEAR, json!([])).await;
    browser
        .type_into("#file-input", file.to_str().unwrap())
        .await;
    result(browser, "verdict", what).await
}

const CHECKS: [&str; 5] = [
    "signature",
    "issuer_trusted",
    "in_validity_period",
    "not_revoked",
    "logged",
];

fn results(shown: &Value) -> Vec<(&str, &str)> {
    CHECKS
        .iter()
        .map(|c| (*c, shown["checks"][c]["result"].as_str().unwrap_or("none")))
        .collect()
}

/// `GET` as a principal of the node's web listener; (status, JSON).
async fn get(node: &Node, principal: &str, path: &str) -> (u16, Value) {
    let r = node.web_client(principal).get(path).await.unwrap();
    (r.status.as_u16(), r.json().unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_clerk_verifies_files_and_looks_certificates_up_in_chromium() {
    browser::binaries();
    let net = network().await;
    let (xifeng, huan) = (net.node(XIFENG), net.node(HUAN));

    // Xifeng's market regulation issues two licences of one company (正本 and 副本).
    let receipt = xifeng
        .client(&format!("n{XIFENG}-market-regulation"))
        .post(
            "/v1/ingest/market-regulation",
            "application/json",
            fixture("market-regulation/batch-valid.json"),
        )
        .await
        .unwrap()
        .json()
        .unwrap();
    let issued = &receipt["records"][0]["certificates"];
    let (id, other) = (
        issued[0]["identifier"].as_str().unwrap().to_owned(),
        issued[1]["identifier"].as_str().unwrap().to_owned(),
    );
    // Wait until both are logged and the city witnessed the checkpoint; take their files.
    let approver = format!("n{XIFENG}-approver");
    let mut files = Vec::new();
    for identifier in [&id, &other] {
        let path = format!("/v1/certificates/{identifier}?{WHY}");
        let deadline = Instant::now() + Duration::from_secs(60);
        let answer = loop {
            let (status, body) = get(xifeng, &approver, &path).await;
            if status == 200 && body["checks"]["logged"] == "pass" {
                break body;
            }
            assert!(
                Instant::now() < deadline,
                "never logged and witnessed: {status} {body:#}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        files.push(answer["credential"].clone());
    }
    let dir = tempfile::tempdir().unwrap();
    let valid_file = json_file(dir.path(), "营业执照.json", &files[0]);
    let mut tampered = files[0].clone();
    tampered["credentialSubject"]["holder"]["name"] = json!("冒名顶替商贸有限公司");
    let tampered_file = json_file(dir.path(), "tampered.json", &tampered);
    // The copy (副本) is revoked by the issuing department.
    let r = xifeng
        .client(&format!("n{XIFENG}-market-regulation"))
        .post(
            &format!("/v1/certificates/{other}/status"),
            "application/json",
            json!({"status": "revoked", "reason": "营业执照副本被依法吊销"})
                .to_string()
                .into_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(
        r.status.as_u16(),
        200,
        "{}",
        String::from_utf8_lossy(&r.body)
    );

    let browser = Browser::start(1360, 1280).await;

    // At Xifeng: a valid file, picked with the file input; no login.
    browser.goto(&format!("{}/verify", xifeng.web_url())).await;
    let shown = pick(&browser, &valid_file, "the valid file's verdict").await;
    assert_eq!(
        results(&shown),
        CHECKS.map(|c| (c, "pass")).to_vec(),
        "every check passes at the issuing node: {shown:#}"
    );
    assert_eq!(shown["valid"], "true");
    assert_eq!(shown["headline"], "证照有效");
    assert_eq!(shown["identifier"], id.as_str());
    assert_eq!(shown["source"], "file");
    assert!(
        shown["fields"]["holder"]
            .as_str()
            .unwrap()
            .contains("庆阳陇东云数据科技有限公司")
    );
    assert!(shown["fields"]["number"].as_str().unwrap().contains(HOLDER));
    assert!(
        shown["fields"]["authority"]
            .as_str()
            .unwrap()
            .contains("庆阳市西峰区市场监督管理局")
    );
    assert!(
        shown["fields"]["validity"]
            .as_str()
            .unwrap()
            .contains("长期")
    );
    assert!(shown["qr"].as_u64().unwrap() > 0, "the QR code is drawn");
    browser.screenshot("verify-valid.png").await;

    // A tampered copy: the signature fails, and the page says so.
    let shown = pick(&browser, &tampered_file, "the tampered file's verdict").await;
    assert_eq!(shown["valid"], "false", "{shown:#}");
    assert_eq!(shown["checks"]["signature"]["result"], "fail");
    assert!(
        shown["checks"]["signature"]["reason"]
            .as_str()
            .unwrap()
            .contains("改动"),
        "{shown:#}"
    );
    assert_eq!(shown["headline"], "证照内容被改动或签名无效");
    browser.screenshot("verify-tampered.png").await;

    // The revoked copy, pasted as JSON: the revocation shows.
    browser.execute(CLEAR, json!([])).await;
    browser.click("#paste summary").await;
    browser
        .execute(
            r#"document.getElementById("json-input").value = arguments[0];"#,
            json!([serde_json::to_string_pretty(&files[1]).unwrap()]),
        )
        .await;
    browser.click("#verify-json").await;
    let shown = result(&browser, "verdict", "the revoked file's verdict").await;
    assert_eq!(shown["valid"], "false", "{shown:#}");
    assert_eq!(shown["checks"]["signature"]["result"], "pass");
    assert_eq!(shown["checks"]["not_revoked"]["result"], "fail");
    assert!(
        shown["checks"]["not_revoked"]["reason"]
            .as_str()
            .unwrap()
            .contains("吊销"),
        "{shown:#}"
    );
    assert_eq!(shown["headline"], "证照已吊销");
    browser.screenshot("verify-revoked.png").await;

    // At Huan county: the QR code's link, a login, and the lookup routed to Xifeng.
    huan.add_user(CLERK.0, "approver", HUAN, CLERK.1);
    let qr = huan
        .anonymous_web()
        .get(&format!("/v1/certificates/{id}/qr.svg"))
        .await
        .unwrap();
    assert_eq!(qr.status.as_u16(), 200);
    assert_eq!(qr.content_type(), "image/svg+xml");
    let link = format!("{}/verify?id={id}", huan.web_url());
    assert!(
        String::from_utf8_lossy(&qr.body).contains(&format!("/verify?id={id}</title>")),
        "the QR code encodes the page's link for the certificate"
    );
    browser.goto(&link).await;
    browser
        .wait_for(
            r#"return document.body.dataset.ready === "true" || null;"#,
            json!([]),
            30,
            "the page loaded",
        )
        .await;
    browser.type_into("#login-username", CLERK.0).await;
    browser.type_into("#login-password", CLERK.1).await;
    browser.click("#login-submit").await;
    // Logged in, the page runs the lookup of ?id= with the default purpose (approval).
    let shown = result(&browser, "verdict", "the routed lookup's verdict").await;
    assert_eq!(
        results(&shown),
        CHECKS.map(|c| (c, "pass")).to_vec(),
        "looked up from Huan, the city answers with every check: {shown:#}"
    );
    assert_eq!(shown["source"], "lookup");
    assert_eq!(shown["served_by"], CITY);
    assert_eq!(shown["identifier"], id.as_str());
    assert!(shown["text"].as_str().unwrap().contains(CITY));
    browser.screenshot("verify-lookup.png").await;
    // The QR code beside it encodes the link the clerk followed (this node, as the browser
    // reaches it).
    let svg = browser
        .execute(
            r#"const x = new XMLHttpRequest(); x.open("GET", arguments[0], false); x.send();
               return x.responseText;"#,
            json!([format!("/v1/certificates/{id}/qr.svg")]),
        )
        .await;
    assert!(
        svg.as_str()
            .unwrap()
            .contains(&format!("<title>{link}</title>")),
        "{svg}"
    );
    // Audited under the clerk's account and purpose, at the entry node and the serving node.
    for node in [huan, net.node(CITY)] {
        let sql = format!(
            "SELECT count(*) FROM audit_log WHERE action = 'certificate.lookup' AND target = '{id}' \
             AND principal_id = '{}' AND purpose = 'approval'",
            CLERK.0
        );
        assert_eq!(node.count(&sql).await, 1, "{sql}");
    }

    // The valid file, dropped here at Huan, which never received Xifeng's certificates: the
    // signature, issuer and validity pass; status and log inclusion cannot be checked here
    // (skipped, still valid), and the page offers the lookup that can.
    let shown = pick(&browser, &valid_file, "the file verified at Huan").await;
    assert_eq!(
        results(&shown),
        [
            ("signature", "pass"),
            ("issuer_trusted", "pass"),
            ("in_validity_period", "pass"),
            ("not_revoked", "skipped"),
            ("logged", "skipped"),
        ],
        "{shown:#}"
    );
    assert_eq!(shown["valid"], "true");
    browser.screenshot("verify-file-elsewhere.png").await;
    browser.execute(CLEAR, json!([])).await;
    browser.click("#check-online").await;
    let shown = result(&browser, "verdict", "the online check of the file").await;
    assert_eq!(
        results(&shown),
        CHECKS.map(|c| (c, "pass")).to_vec(),
        "{shown:#}"
    );
    assert_eq!(shown["source"], "lookup");

    // In English.
    browser.click("#lang").await;
    let shown = result(&browser, "verdict", "the verdict in English").await;
    assert_eq!(shown["headline"], "Certificate valid");
    assert!(
        shown["checks"]["logged"]["reason"]
            .as_str()
            .unwrap()
            .contains("witnessed"),
        "{shown:#}"
    );
    browser.screenshot("verify-lookup-en.png").await;

    // By the holder's code: the province answers (it holds everything through forwarding).
    browser.click("#lang").await;
    browser.execute(CLEAR, json!([])).await;
    browser.type_into("#holder-input", HOLDER).await;
    browser.click("#holder-submit").await;
    let shown = result(&browser, "holder", "the holder's certificates").await;
    let rows: Vec<&str> = shown["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        rows.contains(&id.as_str()) && rows.contains(&other.as_str()),
        "{shown:#}"
    );
    browser.screenshot("verify-holder.png").await;
    // The revoked copy, opened from the list: the revocation reached the city, and shows.
    let sql = format!(
        "SELECT count(*) FROM certificates WHERE identifier = '{other}' AND status = 'revoked'"
    );
    Network::eventually(60, "the revocation at the city", || async {
        net.node(CITY).count(&sql).await == 1
    })
    .await;
    browser.execute(CLEAR, json!([])).await;
    browser
        .click(&format!(r#"tr[data-identifier="{other}"] button"#))
        .await;
    let shown = result(&browser, "verdict", "the revoked copy looked up").await;
    assert_eq!(
        shown["checks"]["not_revoked"]["result"], "fail",
        "{shown:#}"
    );
    assert_eq!(shown["served_by"], CITY);

    // A malformed identifier gets no QR code.
    let bad = huan
        .anonymous_web()
        .get("/v1/certificates/1.2.3/qr.svg")
        .await
        .unwrap();
    assert_eq!(bad.status.as_u16(), 400);
    assert_eq!(bad.json().unwrap()["code"], "certificate.bad_identifier");
}
