//! Federation (issue 6): province → city → county → township over mTLS. Records and
//! certificates accepted at the township reach every tier above with the ids, source and
//! `ingested_at` the township gave them; a parent outage loses and doubles nothing; arrival
//! order does not matter; nodes refuse peers that are not theirs.

use e2e::{Network, fixture};
use serde_json::{Value, json};

const PROVINCE: &str = "620000000000";
const CITY: &str = "621000000000";
const XIFENG: &str = "621002000000";
const TOWNSHIP: &str = "621002100000"; // 肖金镇
const HUAN: &str = "621022000000";

async fn network() -> Network {
    Network::start(&[
        (PROVINCE, "甘肃省节点", None),
        (CITY, "庆阳市节点", Some(PROVINCE)),
        (XIFENG, "西峰区节点", Some(CITY)),
        (TOWNSHIP, "肖金镇节点", Some(XIFENG)),
        (HUAN, "环县节点", Some(CITY)),
    ])
    .await
}

/// The market-regulation fixture's records, moved to `region` and renumbered with `tag`.
fn batch_for(region: &str, tag: &str) -> Vec<u8> {
    let mut batch: Value =
        serde_json::from_slice(&fixture("market-regulation/batch-valid.json")).unwrap();
    for r in batch["records"].as_array_mut().unwrap() {
        r["areaCode"] = json!(region);
        r["caseNo"] = json!(format!("{}-{tag}", r["caseNo"].as_str().unwrap()));
    }
    serde_json::to_vec(&batch).unwrap()
}

fn system(region: &str) -> String {
    format!("n{region}-market-regulation")
}

async fn push(net: &Network, region: &str, body: Vec<u8>) -> Value {
    let resp = net
        .node(region)
        .client(&system(region))
        .post("/v1/ingest/market-regulation", "application/json", body)
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

#[tokio::test]
async fn records_and_certificates_pushed_at_the_township_reach_the_province() {
    let net = network().await;
    let receipt = push(&net, TOWNSHIP, batch_for(TOWNSHIP, "T1")).await;
    assert_eq!(receipt["summary"]["accepted"], 3, "{receipt}");
    let ids: Vec<uuid::Uuid> = receipt["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["record_id"].as_str().unwrap().parse().unwrap())
        .collect();

    let province = net.node(PROVINCE);
    Network::eventually(60, "the township's records at the province", || async {
        province.count("SELECT count(*) FROM case_records").await == 3
            && province
                .count("SELECT count(*) FROM credential_versions")
                .await
                == 2
    })
    .await;
    // Same ids and the first node's stamp at every tier; the county and the city hold them too.
    let township_db = net.node(TOWNSHIP).db().await;
    for tier in [XIFENG, CITY, PROVINCE] {
        let db = net.node(tier).db().await;
        for id in &ids {
            let there: Value = db
                .query_one("SELECT body FROM case_records WHERE record_id = $1", &[id])
                .await
                .unwrap()
                .get(0);
            let here: Value = township_db
                .query_one("SELECT body FROM case_records WHERE record_id = $1", &[id])
                .await
                .unwrap()
                .get(0);
            assert_eq!(
                there, here,
                "record {id} at {tier} differs from the township's"
            );
            assert_eq!(there["source"]["node_region"], TOWNSHIP);
        }
    }
    // The sibling county holds none of it.
    assert_eq!(
        net.node(HUAN)
            .count("SELECT count(*) FROM case_records")
            .await,
        0
    );
    // The credential verifies at the province with the shared trust bundle.
    let cred: Value = province
        .db()
        .await
        .query_one("SELECT credential FROM credential_versions LIMIT 1", &[])
        .await
        .unwrap()
        .get(0);
    let r = province
        .anonymous_web()
        .post(
            "/v1/certificates/verify",
            "application/json",
            serde_json::to_vec(&cred).unwrap(),
        )
        .await
        .unwrap();
    let verdict = r.json().unwrap();
    assert_eq!(verdict["checks"]["signature"], "pass", "{verdict}");
    assert_eq!(verdict["checks"]["issuer_trusted"], "pass", "{verdict}");
    // Every outbox on the way is drained.
    for tier in [TOWNSHIP, XIFENG, CITY] {
        assert_eq!(
            net.node(tier)
                .count("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
                .await,
            0,
            "{tier}"
        );
    }
    assert_eq!(
        province.count("SELECT count(*) FROM outbox").await,
        0,
        "the root has nowhere to forward"
    );
}

#[tokio::test]
async fn a_parent_outage_loses_and_doubles_nothing() {
    let mut net = network().await;
    net.node_mut(CITY).stop();
    // The county keeps accepting while its parent is down.
    let mut accepted = 0;
    for i in 0..5 {
        let r = push(&net, XIFENG, batch_for(XIFENG, &format!("OUT{i}"))).await;
        accepted += r["summary"]["accepted"].as_u64().unwrap();
    }
    assert_eq!(accepted, 15);
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let county = net.node(XIFENG);
    assert_eq!(
        county
            .count("SELECT count(*) FROM outbox WHERE sent_at IS NULL AND kind = 'record'")
            .await,
        15
    );
    assert!(
        county.count("SELECT max(attempts)::int8 FROM outbox").await >= 1,
        "the county kept trying"
    );

    net.node_mut(CITY).spawn().await;
    let province = net.node(PROVINCE);
    Network::eventually(90, "the backlog drained to the province", || async {
        province.count("SELECT count(*) FROM case_records").await == 15
    })
    .await;
    // Exactly once at every tier, despite the retries.
    for tier in [CITY, PROVINCE] {
        let n = net.node(tier);
        assert_eq!(
            n.count("SELECT count(*) FROM case_records").await,
            15,
            "{tier}"
        );
        assert_eq!(
            n.count("SELECT count(DISTINCT record_id) FROM case_records")
                .await,
            15,
            "{tier}"
        );
    }
}

#[tokio::test]
async fn versions_arriving_out_of_order_leave_the_highest_current_everywhere() {
    let net = network().await;
    let mut batch: Value = serde_json::from_slice(&batch_for(TOWNSHIP, "V")).unwrap();
    let record = batch["records"][1].clone(); // version 2 in the fixture
    let with_version = |v: i64| {
        let mut r = record.clone();
        r["version"] = json!(v);
        serde_json::to_vec(&json!({"records": [r]})).unwrap()
    };
    push(&net, TOWNSHIP, with_version(3)).await;
    push(&net, TOWNSHIP, with_version(2)).await;
    push(&net, TOWNSHIP, with_version(4)).await;
    batch["records"] = json!([]);
    let province = net.node(PROVINCE);
    Network::eventually(60, "three versions at the province", || async {
        province.count("SELECT count(*) FROM case_records").await == 3
    })
    .await;
    let head: i64 = province
        .db()
        .await
        .query_one("SELECT version FROM case_heads", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(head, 4);
}

#[tokio::test]
async fn nodes_refuse_peers_that_are_not_theirs() {
    let net = network().await;
    let forward = serde_json::to_vec(&json!({"records": [], "credentials": []})).unwrap();
    let xifeng = net.node(XIFENG);
    // Huan county's node certificate is valid in the network, but Huan is not Xifeng's child.
    let huan = net.node(HUAN);
    let as_huan = gateway::client::ExchangeClient::new(
        &xifeng.base_url(),
        &huan.pki().join("ca.crt"),
        &huan.pki().join("node.crt"),
        &huan.pki().join("node.key"),
    )
    .unwrap();
    let r = as_huan
        .post(
            "/v1/federation/forward",
            "application/json",
            forward.clone(),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.status.as_u16(), r.json().unwrap()["code"].clone()),
        (403, json!("federation.unknown_node"))
    );
    // A departmental system is not a node at all.
    let r = xifeng
        .client(&system(XIFENG))
        .post(
            "/v1/federation/forward",
            "application/json",
            forward.clone(),
        )
        .await
        .unwrap();
    assert_eq!(r.json().unwrap()["code"], "federation.not_a_node");
    // The township, Xifeng's child, may.
    let township = net.node(TOWNSHIP);
    let as_township = gateway::client::ExchangeClient::new(
        &xifeng.base_url(),
        &township.pki().join("ca.crt"),
        &township.pki().join("node.crt"),
        &township.pki().join("node.key"),
    )
    .unwrap();
    assert_eq!(
        as_township
            .post("/v1/federation/forward", "application/json", forward)
            .await
            .unwrap()
            .status
            .as_u16(),
        200
    );
    // A child refuses a server that is not its configured parent.
    let wrong_parent = gateway::client::ExchangeClient::new(
        &net.node(HUAN).base_url(),
        &township.pki().join("ca.crt"),
        &township.pki().join("node.crt"),
        &township.pki().join("node.key"),
    )
    .unwrap()
    .expect_node(XIFENG);
    let err = wrong_parent.get("/healthz").await.unwrap_err();
    assert!(
        format!("{err:#}").contains("not the configured parent"),
        "{err:#}"
    );
}

#[tokio::test]
async fn a_certificate_issued_in_one_county_is_fetched_and_verified_from_the_other() {
    let mut net = network().await;
    let receipt = push(&net, XIFENG, batch_for(XIFENG, "R1")).await;
    let id = receipt["records"][0]["certificates"][0]["identifier"]
        .as_str()
        .unwrap()
        .to_owned();
    let city = net.node(CITY);
    Network::eventually(60, "the certificate at the city", || async {
        city.count("SELECT count(*) FROM credential_versions").await == 2
    })
    .await;

    // An approver at Huan county looks it up: Huan does not hold it, the query goes up to the
    // city, which holds its counties' data.
    let huan = net.node(HUAN);
    let approver = huan.web_client(&format!("n{HUAN}-approver"));
    let path = format!("/v1/certificates/{id}?purpose=%E5%AE%A1%E6%89%B9%E6%A0%B8%E9%AA%8C");
    let found = approver.get(&path).await.unwrap();
    let body = found.json().unwrap();
    assert_eq!(found.status.as_u16(), 200, "{body}");
    assert_eq!(body["served_by"], CITY);
    assert_eq!(body["identifier"], id.as_str());
    assert_eq!(body["checks"]["signature"], "pass");
    assert_eq!(body["checks"]["issuer_trusted"], "pass");
    assert_eq!(body["valid"], true, "{body}");
    // Audited at the entry node and, under the original requester, at the serving node.
    let who = format!("n{HUAN}-approver");
    let sql = "SELECT count(*) FROM audit_log WHERE principal_id = $1 AND target = $2 AND purpose = '审批核验'";
    let at_huan: i64 = huan
        .db()
        .await
        .query_one(sql, &[&who, &id])
        .await
        .unwrap()
        .get(0);
    let at_city: i64 = city
        .db()
        .await
        .query_one(sql, &[&who, &id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(at_huan, 1, "entry node");
    assert_eq!(at_city, 1, "serving node");

    // A peer request without a valid statement is refused.
    let as_huan = gateway::client::ExchangeClient::new(
        &city.base_url(),
        &huan.pki().join("ca.crt"),
        &huan.pki().join("node.crt"),
        &huan.pki().join("node.key"),
    )
    .unwrap();
    let r = as_huan
        .get(&format!("/v1/certificates/{id}"))
        .await
        .unwrap();
    assert_eq!(r.json().unwrap()["code"], "routing.bad_statement");

    // With the city down, the tier that would answer cannot be reached: a clear 502.
    net.node_mut(CITY).stop();
    let huan = net.node(HUAN);
    let r = huan
        .web_client(&format!("n{HUAN}-approver"))
        .get(&path)
        .await
        .unwrap();
    assert_eq!(
        (r.status.as_u16(), r.json().unwrap()["code"].clone()),
        (502, json!("routing.unreachable"))
    );
}

#[tokio::test]
async fn routed_queries_have_a_hop_limit_and_loop_protection() {
    let net = network().await;
    let city = net.node(CITY);
    let huan = net.node(HUAN);
    // A well-formed identifier of a Xifeng authority that no node holds: the city routes it down
    // towards Xifeng.
    let authority = domain::codes::credit::CreditCode::parse("116210020138700018").unwrap();
    let id = domain::codes::cert_id::CertIdentifier::mint(
        "11100000000018934N001",
        &authority,
        "NOWHERE1",
        1,
    )
    .unwrap();
    // Huan's node vouches for one of its approvers, signed with Huan's signing key.
    let key =
        vc::SigningKey::from_pkcs8(&std::fs::read(huan.pki().join("signing-key.pk8")).unwrap())
            .unwrap();
    let caller = gateway::api::auth::Caller {
        id: format!("n{HUAN}-approver"),
        kind: gateway::api::auth::CallerKind::Certificate,
        role: "approver".into(),
        department: None,
        region_code: HUAN.into(),
    };
    let as_huan = gateway::client::ExchangeClient::new(
        &city.base_url(),
        &huan.pki().join("ca.crt"),
        &huan.pki().join("node.crt"),
        &huan.pki().join("node.key"),
    )
    .unwrap();
    let ask = |via: String| {
        let region = domain::codes::region::RegionCode::parse(HUAN).unwrap();
        let (stmt, sig) =
            gateway::federation::route::Statement::new(&caller, "路由测试", &region).sign(&key);
        let path = format!("/v1/certificates/{id}");
        let as_huan = &as_huan;
        async move {
            let headers = [
                ("x-gateway-requester", stmt.as_str()),
                ("x-gateway-requester-signature", sig.as_str()),
                ("x-gateway-via", via.as_str()),
            ];
            as_huan
                .send(http::Method::GET, &path, &headers, Vec::new())
                .await
                .unwrap()
        }
    };
    // Passed eight nodes already: refused before going further.
    let eight = [HUAN; 8].join(",");
    let r = ask(eight).await;
    assert_eq!(
        (r.status.as_u16(), r.json().unwrap()["code"].clone()),
        (508, json!("routing.hop_limit"))
    );
    // Would go back to a node it passed (Xifeng): refused.
    let r = ask(format!("{HUAN},{XIFENG}")).await;
    assert_eq!(
        (r.status.as_u16(), r.json().unwrap()["code"].clone()),
        (508, json!("routing.loop"))
    );
    // Otherwise it goes down to Xifeng, which does not hold it either (and has no child that
    // could): a 404 from the network.
    let r = ask(HUAN.to_owned()).await;
    assert_eq!(
        (r.status.as_u16(), r.json().unwrap()["code"].clone()),
        (404, json!("certificate.not_found"))
    );
}
