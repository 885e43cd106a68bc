//! Exchange protocol versions (issue 12, docs/federation.md): a child pinned to the older minor
//! interoperates with its parent and goes without the newer feature until unpinned; a request
//! announcing another major is refused with a clear problem and the parent stays healthy.

use e2e::gansu::{CITY, XIFENG};
use e2e::{Network, fixture};
use gateway::client::ExchangeClient;
use http::Method;
use serde_json::Value;

#[tokio::test]
async fn an_older_minor_interoperates_and_another_major_is_refused() {
    let mut net = Network::start(&[
        (CITY, "庆阳市节点", None),
        (XIFENG, "西峰区节点", Some(CITY)),
    ])
    .await;
    {
        let xifeng = net.node_mut(XIFENG);
        xifeng.stop();
        xifeng.set_env("GATEWAY_FEDERATION__PROTOCOL", "1.0");
        xifeng.spawn().await;
    }
    let (city, xifeng) = (net.node(CITY), net.node(XIFENG));
    // Started unpinned, the county may have reported before the restart: forget that report,
    // so what is counted below is what the pinned process sent.
    city.db()
        .await
        .batch_execute("DELETE FROM remote_principals")
        .await
        .unwrap();

    // Forwarding and a routed lookup work between 1.0 and 1.1.
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
    assert_eq!(receipt["summary"]["accepted"], 3, "{receipt}");
    Network::eventually(60, "the city holds the forwarded records", || async {
        city.count("SELECT count(*) FROM case_records").await == 3
    })
    .await;
    let routed = xifeng
        .web_client(&format!("n{XIFENG}-approver"))
        .get(&format!(
            "/v1/records?case_no=SCJG-XF-20261118-0001&region={CITY}&purpose=approval"
        ))
        .await
        .unwrap();
    let body: Value = routed.json().unwrap();
    assert_eq!(routed.status.as_u16(), 200, "{body}");
    assert_eq!(
        (
            body["served_by"].as_str(),
            body["records"].as_array().map(Vec::len)
        ),
        (Some(CITY), Some(1))
    );

    // The 1.1 feature is not used by the pinned child: no principal report reached the city
    // (several reference beats have passed: the forwarded records needed them too).
    let reported = "SELECT count(*) FROM remote_principals";
    assert_eq!(city.count(reported).await, 0);
    assert!(xifeng.log().contains("exchange protocol") && xifeng.log().contains("1.0"));

    // Unpinned, it speaks 1.1 and reports.
    {
        let xifeng = net.node_mut(XIFENG);
        xifeng.stop();
        xifeng.set_env("GATEWAY_FEDERATION__PROTOCOL", "1.1");
        xifeng.spawn().await;
    }
    let city = net.node(CITY);
    Network::eventually(60, "the unpinned child reports its principals", || async {
        city.count(reported).await > 0
    })
    .await;

    // Another major: refused before anything is done, both versions named; ours announced.
    let pki = net.node(XIFENG).pki();
    let peer = ExchangeClient::new(
        &city.base_url(),
        &pki.join("ca.crt"),
        &pki.join("node.crt"),
        &pki.join("node.key"),
    )
    .unwrap();
    let r = peer
        .send(
            Method::POST,
            "/v1/federation/forward",
            &[
                ("content-type", "application/json"),
                ("exchange-protocol", "2.0"),
            ],
            b"{}".to_vec(),
        )
        .await
        .unwrap();
    let problem: Value = r.json().unwrap();
    assert_eq!(r.status.as_u16(), 400, "{problem}");
    assert_eq!(problem["code"], "federation.protocol_incompatible");
    assert_eq!(
        (
            problem["protocol"].as_str(),
            problem["peer_protocol"].as_str()
        ),
        (Some("1.1"), Some("2.0"))
    );
    assert_eq!(r.headers["exchange-protocol"], "1.1");
    // A malformed version likewise; a request without one is 1.0 and gets through to the
    // handler (which refuses the empty forward on its own terms, not the protocol's).
    let r = peer
        .send(
            Method::POST,
            "/v1/federation/forward",
            &[("exchange-protocol", "one")],
            b"{}".to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(
        r.json().unwrap()["code"],
        "federation.protocol_incompatible"
    );
    let r = peer
        .send(
            Method::POST,
            "/v1/federation/forward",
            &[("content-type", "application/json")],
            b"{}".to_vec(),
        )
        .await
        .unwrap();
    assert_ne!(
        r.json().unwrap()["code"],
        "federation.protocol_incompatible"
    );
    let health = city.anonymous_web().get("/healthz").await.unwrap();
    assert_eq!(health.status.as_u16(), 200);

    // A pin this build cannot speak stops the node at start-up, saying why.
    let out = net
        .node(XIFENG)
        .command()
        .env("GATEWAY_FEDERATION__PROTOCOL", "2.0")
        .args(["serve"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("federation.protocol 2.0"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
