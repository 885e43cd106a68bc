//! Native protocols (issue 5): the tax network's SOAP clients get SOAP responses and SOAP
//! faults; the health network's HL7 systems push over MLLP with TLS and get one HL7 ACK per
//! message; a department is onboarded with nothing but a mapping file.

use std::sync::Arc;

use adapters::Adapter;
use e2e::{Node, fixture, repo};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn fault_code(body: &[u8]) -> (String, String) {
    let doc = adapters::xml::parse(body).expect("a SOAP envelope");
    let fault = doc
        .root
        .child("Body")
        .and_then(|b| b.child("Fault"))
        .expect("a Fault");
    let text = |el: Option<&adapters::xml::Element>| {
        el.map(|e| e.text(doc.encoding).unwrap().into_owned())
            .unwrap_or_default()
    };
    let code = text(
        fault
            .child("detail")
            .and_then(|d| d.child("error"))
            .and_then(|e| e.child("code")),
    );
    (text(fault.child("faultcode")), code)
}

#[tokio::test]
async fn tax_clients_get_soap_responses_and_soap_faults() {
    let node = Node::start().await;
    let tax = node.client("qingyang-sw-system");
    let ok = tax
        .post("/v1/ingest/tax", "text/xml", fixture("tax/batch-valid.xml"))
        .await
        .unwrap();
    assert_eq!(ok.status.as_u16(), 200);
    assert!(
        ok.content_type().starts_with("text/xml"),
        "{}",
        ok.content_type()
    );
    let doc = adapters::xml::parse(&ok.body).unwrap();
    assert!(
        doc.root
            .child("Body")
            .unwrap()
            .child("PushCaseRecordsResponse")
            .is_some()
    );

    let bad = tax
        .post("/v1/ingest/tax", "text/xml", b"<not-soap/>".to_vec())
        .await
        .unwrap();
    assert_eq!(
        bad.status.as_u16(),
        500,
        "SOAP 1.1 faults travel with HTTP 500"
    );
    assert_eq!(
        fault_code(&bad.body),
        ("soap:VersionMismatch".into(), "payload.soap_version".into())
    );
    let cut =
        br#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>"#
            .to_vec();
    let truncated = tax.post("/v1/ingest/tax", "text/xml", cut).await.unwrap();
    assert_eq!(
        fault_code(&truncated.body),
        ("soap:Client".into(), "payload.malformed".into())
    );
    let wrong = node
        .client("xifeng-amr-system")
        .post("/v1/ingest/tax", "text/xml", fixture("tax/batch-valid.xml"))
        .await
        .unwrap();
    assert_eq!(
        fault_code(&wrong.body),
        ("soap:Client".into(), "auth.department".into())
    );
    // The quarantined payload is kept as for any adapter.
    assert_eq!(
        node.count("SELECT count(*) FROM quarantine WHERE adapter = 'tax' AND reason = 'payload'")
            .await,
        2
    );
}

/// A TLS connection to the MLLP listener as `principal`.
async fn mllp(
    node: &Node,
    principal: &str,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let pki = node.pki();
    let config = gateway::tls::client_config(
        &pki.join("ca.crt"),
        &pki.join(format!("clients/{principal}.crt")),
        &pki.join(format!("clients/{principal}.key")),
    )
    .unwrap();
    let tcp = tokio::net::TcpStream::connect(node.mllp_addr.expect("MLLP listener"))
        .await
        .unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap()
}

/// Send one message framed, read one framed ACK.
async fn exchange(
    stream: &mut tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    message: &[u8],
) -> String {
    stream
        .write_all(&adapters::health::mllp::frame(message))
        .await
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.ends_with(&[0x1C, 0x0D]) {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the listener closed without an ACK");
        buf.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&buf[1..buf.len() - 2]).into_owned()
}

fn msa(ack: &str) -> &str {
    let seg = ack
        .split('\r')
        .find(|s| s.starts_with("MSA|"))
        .expect("an MSA segment");
    &seg[4..6]
}

#[tokio::test]
async fn hl7_messages_over_mllp_are_stored_and_acknowledged() {
    let node = Node::start().await;
    let health = adapters::health::Health;
    let valid = health.decode(&fixture("health/batch-valid.hl7")).unwrap();
    let mut stream = mllp(&node, "qingyang-wj-system").await;
    for m in &valid {
        let ack = exchange(&mut stream, &m.raw).await;
        assert_eq!(msa(&ack), "AA", "{ack}");
    }
    assert_eq!(
        node.count("SELECT count(*) FROM case_records").await as usize,
        valid.len()
    );
    // The same message again is acknowledged (already stored), not stored twice.
    assert_eq!(msa(&exchange(&mut stream, &valid[0].raw).await), "AA");
    assert_eq!(
        node.count("SELECT count(*) FROM case_records").await as usize,
        valid.len()
    );

    // A message with a bad record: AE with the reason in ERR, quarantined.
    let mixed = health.decode(&fixture("health/batch-mixed.hl7")).unwrap();
    let bad = mixed
        .iter()
        .find(|m| m.draft.is_err())
        .expect("a bad message in the mixed fixture");
    let ack = exchange(&mut stream, &bad.raw).await;
    assert_eq!(msa(&ack), "AE", "{ack}");
    assert!(ack.contains("\rERR|"), "{ack}");
    assert!(
        node.count("SELECT count(*) FROM quarantine WHERE adapter = 'health'")
            .await
            >= 1
    );

    // A system of another department: AR, nothing stored.
    let mut other = mllp(&node, "xifeng-amr-system").await;
    let ack = exchange(&mut other, &valid[0].raw).await;
    assert_eq!(msa(&ack), "AR", "{ack}");
    assert!(ack.contains("auth.department"), "{ack}");
}

#[tokio::test]
async fn a_department_is_onboarded_with_only_a_mapping_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo().join("adapters/mappings/health-county-birth-csv.json"),
        dir.path().join("health-county-birth-csv.json"),
    )
    .unwrap();
    // The setting goes to this node's process only: set in this test process's environment, it
    // reached the nodes the other tests of this binary started meanwhile, which then failed to
    // start once this test's folder was gone.
    let node =
        Node::start_configured(&[("GATEWAY_INGEST__MAPPINGS", dir.path().to_str().unwrap())]).await;
    let listed = String::from_utf8(
        node.command()
            .args(["adapters", "list", "--json"])
            .env("GATEWAY_INGEST__MAPPINGS", dir.path())
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(listed.contains("health-county-birth-csv"), "{listed}");

    let resp = node
        .client("qingyang-wj-system")
        .post(
            "/v1/ingest/health-county-birth-csv",
            "text/csv",
            fixture("mapping/batch-valid.gb18030.csv"),
        )
        .await
        .unwrap();
    let receipt = resp.json().unwrap();
    assert_eq!(receipt["summary"]["rejected"], 0, "{receipt}");
    let golden: Vec<Value> =
        serde_json::from_slice(&fixture("mapping/batch-valid.expected.json")).unwrap();
    let db = node.db().await;
    for (i, expected) in golden.iter().enumerate() {
        let id: uuid::Uuid = receipt["records"][i]["record_id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let mut body: Value = db
            .query_one("SELECT body FROM case_records WHERE record_id = $1", &[&id])
            .await
            .unwrap()
            .get(0);
        assert_eq!(body["source"]["department"], "health");
        body["source"] = expected["source"].clone();
        body["ingested_at"] = expected["ingested_at"].clone();
        assert_eq!(&body, expected);
    }
}
