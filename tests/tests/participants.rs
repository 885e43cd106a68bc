//! Participants (issue 8): a principal's suspension or retirement is seen at once by every
//! process and listener of its node and reaches the tiers above; a certificate the CA revokes
//! fails the TLS handshake on every node once the CRL has come down the tree, without a restart.

use std::path::Path;

use e2e::gansu::{CITY, HUAN, PROVINCE, TOWNSHIP, XIFENG, network};
use e2e::{Network, Node};
use gateway::client::ExchangeClient;
use serde_json::{Value, json};

const APPROVER: &str = "xifeng-approver";
const SYSTEM: &str = "xifeng-amr-system";

fn client(base: &str, pki: &Path, principal: &str) -> ExchangeClient {
    let clients = pki.join("clients");
    ExchangeClient::new(
        base,
        &pki.join("ca.crt"),
        &clients.join(format!("{principal}.crt")),
        &clients.join(format!("{principal}.key")),
    )
    .unwrap()
}

/// (status, problem code or null) of `GET path`.
async fn ask(c: &ExchangeClient, path: &str) -> (u16, Value) {
    let r = c.get(path).await.unwrap();
    let code = r.json().map(|v| v["code"].clone()).unwrap_or(Value::Null);
    (r.status.as_u16(), code)
}

#[tokio::test]
async fn a_suspension_is_seen_at_once_by_every_process_and_listener() {
    let node = Node::start().await;
    let (mut second, ready) = node.serve_process("ready-2.json", "serve-2.log").await;
    let port = |listener: &str| {
        let addr: std::net::SocketAddr = ready[listener].as_str().unwrap().parse().unwrap();
        format!("https://localhost:{}", addr.port())
    };
    // Both listeners of both processes: a departmental system asks for a batch it never pushed
    // on the exchange listener, an approver looks a holder up on the web listener.
    let batch = "/v1/batches/never-pushed";
    let lookup =
        "/v1/certificates?holder_code=91621002MA7100009X&scope=621000000000&purpose=approval";
    let clients = [
        (node.client(SYSTEM), batch, "process 1, exchange"),
        (node.web_client(APPROVER), lookup, "process 1, web"),
        (
            client(&port("exchange"), &node.pki(), SYSTEM),
            batch,
            "process 2, exchange",
        ),
        (
            client(&port("web"), &node.pki(), APPROVER),
            lookup,
            "process 2, web",
        ),
    ];
    let active = |path: &str| {
        if path == batch {
            (404, json!("batch.not_found"))
        } else {
            (200, Value::Null)
        }
    };
    for (c, path, what) in &clients {
        assert_eq!(ask(c, path).await, active(path), "{what}, active");
    }
    // Suspended with the CLI (a third process): every listener of both processes refuses the
    // very next request, with no waiting.
    for p in [SYSTEM, APPROVER] {
        node.cli(&["principals", "suspend", p]);
    }
    for (c, path, what) in &clients {
        assert_eq!(
            ask(c, path).await,
            (403, json!("auth.principal_inactive")),
            "{what}, suspended"
        );
    }
    for p in [SYSTEM, APPROVER] {
        node.cli(&["principals", "resume", p]);
    }
    for (c, path, what) in &clients {
        assert_eq!(ask(c, path).await, active(path), "{what}, resumed");
    }
    // Retirement is final: refused everywhere, and it cannot be resumed.
    for p in [SYSTEM, APPROVER] {
        node.cli(&["principals", "retire", p]);
        assert!(
            !node
                .cli_output(&["principals", "resume", p])
                .status
                .success()
        );
    }
    for (c, path, what) in &clients {
        assert_eq!(
            ask(c, path).await,
            (403, json!("auth.principal_inactive")),
            "{what}, retired"
        );
    }
    let _ = second.kill();
    let _ = second.wait();
}

/// A lookup of a certificate no node holds, as the city node routes it to the province for
/// `requester` (the city's node certificate and a statement signed with the city's key).
async fn routed_from_city(net: &Network, requester: &str) -> (u16, Value) {
    let city = net.node(CITY);
    let key =
        vc::SigningKey::from_pkcs8(&std::fs::read(city.pki().join("signing-key.pk8")).unwrap())
            .unwrap();
    let caller = gateway::api::auth::Caller {
        id: requester.to_owned(),
        kind: gateway::api::auth::CallerKind::Certificate,
        role: "approver".into(),
        department: None,
        region_code: CITY.into(),
    };
    let region = domain::codes::region::RegionCode::parse(CITY).unwrap();
    let (stmt, sig) =
        gateway::federation::route::Statement::new(&caller, "approval", &region).sign(&key);
    let authority = domain::codes::credit::CreditCode::parse("116210020138700018").unwrap();
    let id = domain::codes::cert_id::CertIdentifier::mint(
        "11100000000018934N001",
        &authority,
        "NOWHERE2",
        1,
    )
    .unwrap();
    let as_city = ExchangeClient::new(
        &net.node(PROVINCE).base_url(),
        &city.pki().join("ca.crt"),
        &city.pki().join("node.crt"),
        &city.pki().join("node.key"),
    )
    .unwrap();
    // As if the city passed it on (without the via list, so the province may route it back
    // down through the city towards Xifeng).
    let headers = [
        ("x-gateway-requester", stmt.as_str()),
        ("x-gateway-requester-signature", sig.as_str()),
    ];
    let r = as_city
        .send(
            http::Method::GET,
            &format!("/v1/certificates/{id}"),
            &headers,
            Vec::new(),
        )
        .await
        .unwrap();
    (r.status.as_u16(), r.json().unwrap()["code"].clone())
}

async fn remote_status(node: &Node, of_node: &str, id: &str) -> Option<String> {
    node.db()
        .await
        .query_opt(
            "SELECT status FROM remote_principals WHERE node = $1 AND id = $2",
            &[&of_node, &id],
        )
        .await
        .unwrap()
        .map(|r| r.get(0))
}

#[tokio::test]
async fn changes_travel_up_and_the_crl_down_without_a_restart() {
    let mut net = network().await;
    let province = net.node(PROVINCE);

    // --- Principal changes travel up: a city approver suspended at the city is refused at the
    // province when a lookup is routed there.
    let city_approver = format!("n{CITY}-approver");
    Network::eventually(30, "the province knows the city's principals", || async {
        remote_status(province, CITY, &city_approver)
            .await
            .as_deref()
            == Some("active")
    })
    .await;
    // Allowed while active: the lookup goes through (no node holds that certificate).
    assert_eq!(
        routed_from_city(&net, &city_approver).await,
        (404, json!("certificate.not_found"))
    );
    net.node(CITY)
        .cli(&["principals", "suspend", &city_approver]);
    Network::eventually(30, "the suspension reaches the province", || async {
        remote_status(province, CITY, &city_approver)
            .await
            .as_deref()
            == Some("suspended")
    })
    .await;
    assert_eq!(
        routed_from_city(&net, &city_approver).await,
        (403, json!("auth.principal_inactive"))
    );
    // A township retirement passes three tiers up.
    let township_system = format!("n{TOWNSHIP}-market-regulation");
    net.node(TOWNSHIP)
        .cli(&["principals", "retire", &township_system]);
    for tier in [XIFENG, CITY, PROVINCE] {
        let node = net.node(tier);
        Network::eventually(30, "the retirement reaches every tier above", || async {
            remote_status(node, TOWNSHIP, &township_system)
                .await
                .as_deref()
                == Some("retired")
        })
        .await;
    }

    // --- The CRL comes down: a Huan approver's certificate revoked at the province fails the
    // handshake at Huan, on both listeners, without a restart.
    let huan = net.node(HUAN);
    let revoked = format!("n{HUAN}-approver");
    let other = format!("n{HUAN}-supervisor");
    let on_both = |principal: &str| [huan.client(principal), huan.web_client(principal)];
    for c in on_both(&revoked).iter().chain(on_both(&other).iter()) {
        assert_eq!(c.get("/healthz").await.unwrap().status.as_u16(), 200);
    }
    let anonymous = province.anonymous_web();
    assert_eq!(
        ask(&anonymous, "/v1/pki/crl/approver").await,
        (404, json!("pki.no_crl"))
    );
    let root_key = net.dir.path().join("pki/root-key.pk8");
    let cert = huan.pki().join(format!("clients/{revoked}.crt"));
    let out = province.cli(&[
        "pki",
        "revoke",
        "--cert",
        cert.to_str().unwrap(),
        "--reason",
        "key-compromise",
        "--root-key",
        root_key.to_str().unwrap(),
    ]);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(said.contains("of the approver CA"), "{said}");
    // The CRL is served as DER, the same at the province and, once pulled, at Huan.
    Network::eventually(30, "the province serves the CRL", || async {
        anonymous
            .get("/v1/pki/crl/approver")
            .await
            .unwrap()
            .status
            .as_u16()
            == 200
    })
    .await;
    let crl = anonymous.get("/v1/pki/crl/approver").await.unwrap();
    assert_eq!(crl.content_type(), "application/pkix-crl");
    assert_eq!(crl.body[0], 0x30, "a DER SEQUENCE");
    let huan_web = huan.anonymous_web();
    Network::eventually(30, "the CRL reaches Huan", || async {
        let r = huan_web.get("/v1/pki/crl/approver").await.unwrap();
        r.status.as_u16() == 200 && r.body == crl.body
    })
    .await;
    Network::eventually(
        30,
        "Huan refuses the revoked certificate at the handshake",
        || async {
            let [exchange, web] = on_both(&revoked);
            exchange.get("/healthz").await.is_err() && web.get("/healthz").await.is_err()
        },
    )
    .await;
    // Only that certificate: the county's other principals, and the web listener's anonymous
    // visitors, still connect.
    for c in on_both(&other) {
        assert_eq!(c.get("/healthz").await.unwrap().status.as_u16(), 200);
    }
    assert_eq!(huan_web.get("/healthz").await.unwrap().status.as_u16(), 200);
    // The province's own listeners refuse it too (the same CRL is in force there).
    let at_province = client(&province.base_url(), &huan.pki(), &revoked);
    assert!(at_province.get("/healthz").await.is_err());
    // Still the same process: nothing was restarted.
    assert!(!net.node_mut(HUAN).has_exited());
    // `gateway pki crl --show` at Huan lists the serial; a second revocation is refused.
    let shown = net.node(HUAN).cli(&["pki", "crl", "--show"]);
    let shown = String::from_utf8_lossy(&shown.stdout).to_string();
    assert!(
        shown.contains("approver") && shown.contains("1 revoked"),
        "{shown}"
    );
    let again = net.node(PROVINCE).cli_output(&[
        "pki",
        "revoke",
        "--cert",
        cert.to_str().unwrap(),
        "--root-key",
        root_key.to_str().unwrap(),
    ]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already revoked"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}
