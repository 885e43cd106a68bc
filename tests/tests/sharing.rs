//! Who may see what (issue 8): sharing class × grant × purpose × region scope × role, across
//! tiers. The province classes the business licence and an item as conditional and another
//! item as not shared, and grants them to some consumers; every lookup is answered with only
//! what the grant allows, or refused with the reason.

use e2e::gansu::{CITY, HUAN, PROVINCE, XIFENG, network};
use e2e::{Network, Node, fixture};
use serde_json::{Value, json};

const LICENCE: &str = "11100000000018934N001";
const COMPANY: &str = "620130001000"; // 企业设立登记: conditional
const SOLE: &str = "620130002000"; // 个体工商户设立登记: not shared

fn catalog(dir: &std::path::Path) -> std::path::PathBuf {
    let mut catalog: Value = serde_json::from_slice(
        &std::fs::read(e2e::repo().join("schemas/catalog/catalog.json")).unwrap(),
    )
    .unwrap();
    for item in catalog["items"].as_array_mut().unwrap() {
        if item["basic_code"] == COMPANY {
            item["sharing"] = json!({"class": "conditional", "fields": ["case", "result"]});
        }
        if item["basic_code"] == SOLE {
            item["sharing"] = json!({"class": "not_shared"});
        }
    }
    for t in catalog["certificate_types"].as_array_mut().unwrap() {
        if t["type_code"] == LICENCE {
            t["sharing"] = json!({"class": "conditional"});
        }
    }
    let path = dir.join("catalog-sharing.json");
    std::fs::write(&path, serde_json::to_vec(&catalog).unwrap()).unwrap();
    path
}

async fn ask(node: &Node, who: &str, path: &str) -> (u16, Value) {
    let r = node.web_client(who).get(path).await.unwrap();
    (r.status.as_u16(), r.json().unwrap())
}

async fn in_force(node: &Node, region: &str, kind: &str) -> i64 {
    let r = node
        .web_client(&format!("n{region}-operator"))
        .get("/v1/reference")
        .await
        .unwrap();
    r.json().unwrap()["in_force"][kind].as_i64().unwrap()
}

#[tokio::test]
async fn every_lookup_is_answered_as_the_grant_allows_or_refused_with_the_reason() {
    let mut net = network().await;
    let (province, xifeng, huan) = (net.node(PROVINCE), net.node(XIFENG), net.node(HUAN));
    let root_key = net.dir.path().join("pki/root-key.pk8");
    let root_key = root_key.to_str().unwrap();
    let file = catalog(net.dir.path());
    province.cli(&[
        "reference",
        "publish",
        "catalog",
        file.to_str().unwrap(),
        "--root-key",
        root_key,
        "--retroactive",
        "--effective-from",
        "2026-01-01T00:00:00+08:00",
    ]);
    let huan_approver = format!("n{HUAN}-approver");
    let xifeng_approver = format!("n{XIFENG}-approver");
    let grant = |args: &[&str]| {
        let mut all = vec!["grants", "add", "--root-key", root_key];
        all.extend_from_slice(args);
        province.cli(&all);
    };
    // Huan's approver may see Xifeng's licences for approval; Xifeng's approver may see the
    // company cases of the city for service, their case part only; a licence grant whose
    // scope is Huan, for Xifeng's approver.
    grant(&[
        "--id",
        "G1",
        "--principal",
        &huan_approver,
        "--certificate-type",
        LICENCE,
        "--purpose",
        "approval",
        "--scope",
        XIFENG,
    ]);
    grant(&[
        "--id",
        "G2",
        "--principal",
        &xifeng_approver,
        "--item",
        COMPANY,
        "--purpose",
        "service",
        "--scope",
        CITY,
        "--fields",
        "case",
    ]);
    grant(&[
        "--id",
        "G3",
        "--principal",
        &xifeng_approver,
        "--certificate-type",
        LICENCE,
        "--purpose",
        "approval",
        "--scope",
        HUAN,
    ]);
    for (node, region) in [(xifeng, XIFENG), (huan, HUAN), (net.node(CITY), CITY)] {
        Network::eventually(60, "the catalog and grants at every tier", || async {
            in_force(node, region, "catalog").await == 1
                && in_force(node, region, "grants").await == 3
        })
        .await;
    }

    // Records and a licence at Xifeng, up at the city.
    let r = xifeng
        .client(&format!("n{XIFENG}-market-regulation"))
        .post(
            "/v1/ingest/market-regulation",
            "application/json",
            fixture("market-regulation/batch-valid.json"),
        )
        .await
        .unwrap();
    let receipt = r.json().unwrap();
    assert_eq!(receipt["summary"]["accepted"], 3, "{receipt}");
    let id = receipt["records"][0]["certificates"][0]["identifier"]
        .as_str()
        .unwrap()
        .to_owned();
    let city = net.node(CITY);
    Network::eventually(60, "Xifeng's data at the city", || async {
        city.count("SELECT count(*) FROM credential_versions").await == 2
    })
    .await;

    let cert = |purpose: &str| format!("/v1/certificates/{id}?purpose={purpose}");
    // Conditional licence, granted, right purpose, in scope: routed Huan → city, answered whole.
    let (status, body) = ask(huan, &huan_approver, &cert("approval")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["served_by"], CITY);
    assert!(body.get("credential").is_some());
    // Same grant, another purpose.
    let (status, body) = ask(huan, &huan_approver, &cert("service")).await;
    assert_eq!(
        (status, body["code"].clone()),
        (403, json!("sharing.purpose_not_granted"))
    );
    // A grant whose scope is Huan does not cover a Xifeng licence.
    let (status, body) = ask(xifeng, &xifeng_approver, &cert("approval")).await;
    assert_eq!(
        (status, body["code"].clone()),
        (403, json!("sharing.outside_scope")),
        "{body}"
    );
    // Another role without a grant.
    let (status, body) = ask(huan, &format!("n{HUAN}-supervisor"), &cert("approval")).await;
    assert_eq!(
        (status, body["code"].clone()),
        (403, json!("sharing.no_grant")),
        "{body}"
    );
    // Operators may not look up at all.
    let (status, body) = ask(huan, &format!("n{HUAN}-operator"), &cert("approval")).await;
    assert_eq!((status, body["code"].clone()), (403, json!("auth.role")));
    // By holder: the same rules per certificate; the refused ones are counted, not shown.
    let holder = |purpose: &str| {
        format!("/v1/certificates?holder_code=91621002MA7100001H&scope={XIFENG}&purpose={purpose}")
    };
    let (_, body) = ask(huan, &huan_approver, &holder("approval")).await;
    assert_eq!(
        (
            body["certificates"].as_array().unwrap().len(),
            body["withheld"].clone()
        ),
        (2, json!(0))
    );
    let (_, body) = ask(huan, &huan_approver, &holder("service")).await;
    assert_eq!(
        (
            body["certificates"].as_array().unwrap().len(),
            body["withheld"].clone()
        ),
        (0, json!(2))
    );

    // Case data: the company item for service, case part only (no result, applicant masked);
    // the not-shared item never appears, not even counted.
    let records = |purpose: &str| {
        format!("/v1/records?region={XIFENG}&from=2026-01-01T00:00:00Z&purpose={purpose}")
    };
    let (status, body) = ask(xifeng, &xifeng_approver, &records("service")).await;
    assert_eq!(status, 200, "{body}");
    let got = body["records"].as_array().unwrap();
    assert_eq!(got.len(), 2, "the two company cases: {body}");
    for r in got {
        assert_eq!(r["record"]["service_item"]["basic_code"], COMPANY);
        assert!(r["record"].get("result").is_none(), "{r}");
        assert!(r["record"].get("process_steps").is_none());
    }
    assert_eq!(body["withheld"], 0);
    // Without the granted purpose: withheld, with the count.
    let (_, body) = ask(xifeng, &xifeng_approver, &records("approval")).await;
    assert_eq!(
        (body["records"].clone(), body["withheld"].clone()),
        (json!([]), json!(2))
    );
    // Routed from Huan without any item grant.
    let (_, body) = ask(huan, &huan_approver, &records("service")).await;
    assert_eq!(
        (body["records"].clone(), body["withheld"].clone()),
        (json!([]), json!(2)),
        "{body}"
    );

    // Withdrawing a grant takes effect at every tier without a restart.
    province.cli(&["grants", "revoke", "G1", "--root-key", root_key]);
    Network::eventually(60, "the revocation at the city", || async {
        in_force(city, CITY, "grants").await == 4
    })
    .await;
    let (status, body) = ask(huan, &huan_approver, &cert("approval")).await;
    assert_eq!(
        (status, body["code"].clone()),
        (403, json!("sharing.no_grant"))
    );
    // Every refusal was audited at the serving node, with no results.
    let refused: i64 = city
        .db()
        .await
        .query_one(
            "SELECT count(*) FROM audit_log WHERE principal_id = $1 AND action = 'certificate.lookup' AND results = 0",
            &[&huan_approver],
        )
        .await
        .unwrap()
        .get(0);
    assert!(refused >= 2, "{refused}");

    // The admin API at the province (which holds the publisher key) changes grants too.
    let root_key = net.dir.path().join("pki/root-key.pk8");
    let province = net.node_mut(PROVINCE);
    province.stop();
    province.set_env(
        "GATEWAY_FEDERATION__PUBLISHER_KEY",
        root_key.to_str().unwrap(),
    );
    province.spawn().await;
    let (province, city, huan) = (net.node(PROVINCE), net.node(CITY), net.node(HUAN));
    let operator = province.web_client(&format!("n{PROVINCE}-operator"));
    let g4 = json!({
        "id": "G4", "consumer": {"principal": huan_approver},
        "resource": {"kind": "certificate_type", "code": LICENCE},
        "purposes": ["approval"], "scope": CITY, "valid_from": "2026-01-01T00:00:00Z",
    });
    let r = operator
        .post(
            "/v1/grants",
            "application/json",
            g4.to_string().into_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(
        r.status.as_u16(),
        200,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let listed = operator.get("/v1/grants").await.unwrap().json().unwrap();
    assert!(listed["grants"].to_string().contains("G4"), "{listed}");
    Network::eventually(60, "G4 at the city", || async {
        in_force(city, CITY, "grants").await == 5
    })
    .await;
    let (status, _) = ask(huan, &huan_approver, &cert("approval")).await;
    assert_eq!(status, 200);
    // Only the province publishes.
    let r = city
        .web_client(&format!("n{CITY}-operator"))
        .post(
            "/v1/grants",
            "application/json",
            g4.to_string().into_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(r.json().unwrap()["code"], "grants.not_publisher");
    let r = operator
        .send(http::Method::DELETE, "/v1/grants/G4", &[], vec![])
        .await
        .unwrap();
    assert_eq!(r.status.as_u16(), 200);
    let r = operator
        .send(http::Method::DELETE, "/v1/grants/G4", &[], vec![])
        .await
        .unwrap();
    assert_eq!(r.json().unwrap()["code"], "grants.not_found");
}
