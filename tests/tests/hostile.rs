//! Hostile input through the real HTTP API (docs/limits.md): oversized bodies (also chunked),
//! too many records, deep nesting and long strings, broken UTF-8/GBK, XML entity tricks, slow
//! clients, and per-client rate limits. Every case is a clear 4xx problem (or a per-record
//! refusal in a receipt), nothing is stored half, refused payloads are kept for replay, and the
//! node keeps serving everyone else.

use std::sync::Arc;
use std::time::{Duration, Instant};

use e2e::{Node, fixture};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

const MR: &str = "/v1/ingest/market-regulation";
const PS: &str = "/v1/ingest/public-security";
const JSON_CT: &str = "application/json";
const XML_CT: &str = "application/xml";

/// A raw TLS connection to the exchange listener (as `principal`) or the web listener
/// (anonymous), for requests the client library would not send: chunked, slow, unfinished.
async fn raw(node: &Node, principal: Option<&str>) -> TlsStream<TcpStream> {
    let pki = node.pki();
    let (config, addr) = match principal {
        Some(p) => (
            gateway::tls::client_config(
                &pki.join("ca.crt"),
                &pki.join(format!("clients/{p}.crt")),
                &pki.join(format!("clients/{p}.key")),
            )
            .unwrap(),
            node.addr,
        ),
        None => (
            gateway::tls::client_config_anonymous(&pki.join("ca.crt")).unwrap(),
            node.web_addr,
        ),
    };
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap()
}

/// One HTTP/1.1 answer: status, lower-cased head, body. `None`: the server closed the
/// connection without a complete answer.
async fn read_answer<R: AsyncReadExt + Unpin>(stream: &mut R) -> Option<(u16, String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    while buf.len() < head_end + len {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    Some((status, head, buf[head_end..head_end + len].to_vec()))
}

/// The code of a problem+json answer, checking the content type.
fn problem_code(head: &str, body: &[u8]) -> String {
    assert!(
        head.contains("content-type: application/problem+json"),
        "not a problem: {head}"
    );
    let v: Value = serde_json::from_slice(body).unwrap();
    v["code"].as_str().unwrap().to_owned()
}

/// Send `body` chunked in pieces of `piece` bytes; the server may answer (and close) before
/// the end, so write errors are expected and ignored.
async fn send_chunked(
    node: &Node,
    principal: Option<&str>,
    path: &str,
    body: &[u8],
) -> (u16, String) {
    let stream = raw(node, principal).await;
    let (mut rd, mut wr) = tokio::io::split(stream);
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\n\r\n"
    );
    let body = body.to_vec();
    let writer = tokio::spawn(async move {
        wr.write_all(head.as_bytes()).await?;
        for piece in body.chunks(8192) {
            wr.write_all(format!("{:x}\r\n", piece.len()).as_bytes())
                .await?;
            wr.write_all(piece).await?;
            wr.write_all(b"\r\n").await?;
        }
        wr.write_all(b"0\r\n\r\n").await?;
        wr.flush().await?;
        Ok::<_, std::io::Error>(wr)
    });
    let (status, head, body) = tokio::time::timeout(Duration::from_secs(60), read_answer(&mut rd))
        .await
        .expect("an answer in time")
        .expect("an answer, not a closed connection");
    let _ = writer.await;
    (status, problem_code(&head, &body))
}

#[tokio::test]
async fn oversized_bodies_are_413_problems_on_both_listeners_even_chunked() {
    let node = Node::start_configured(&[
        ("GATEWAY_INGEST__MAX_BODY_BYTES", "65536"),
        ("GATEWAY_LIMITS__WEB_MAX_BODY_BYTES", "32768"),
    ])
    .await;
    let sys = node.client("xifeng-amr-system");
    // Announced by Content-Length.
    let r = sys.post(MR, JSON_CT, vec![b' '; 70_000]).await.unwrap();
    assert_eq!(r.status.as_u16(), 413);
    assert_eq!(r.json().unwrap()["code"], "request.body_too_large");
    assert_eq!(r.content_type(), "application/problem+json");
    // Chunked: no size is announced; the limit is counted while reading.
    let big = vec![b' '; 100_000];
    assert_eq!(
        send_chunked(&node, Some("xifeng-amr-system"), MR, &big).await,
        (413, "request.body_too_large".to_owned())
    );
    // The web listener has its own, smaller limit.
    let r = node
        .anonymous_web()
        .post("/v1/certificates/verify", JSON_CT, vec![b' '; 40_000])
        .await
        .unwrap();
    assert_eq!(r.status.as_u16(), 413);
    assert_eq!(r.json().unwrap()["code"], "request.body_too_large");
    assert_eq!(
        send_chunked(&node, None, "/v1/certificates/verify", &big[..40_000]).await,
        (413, "request.body_too_large".to_owned())
    );
    // Under the limit, chunked is fine.
    let batch = fixture("market-regulation/batch-valid.json");
    let stream = raw(&node, Some("xifeng-amr-system")).await;
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut req = format!(
        "POST {MR} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\n\r\n{:x}\r\n",
        batch.len()
    )
    .into_bytes();
    req.extend_from_slice(&batch);
    req.extend_from_slice(b"\r\n0\r\n\r\n");
    wr.write_all(&req).await.unwrap();
    let (status, _, body) = read_answer(&mut rd).await.unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    // Only that one batch was stored; the refused ones left nothing behind.
    assert_eq!(node.count("SELECT count(*) FROM ingest_batches").await, 1);
    assert_eq!(node.count("SELECT count(*) FROM case_records").await, 3);
    assert_eq!(
        node.anonymous_web()
            .get("/healthz")
            .await
            .unwrap()
            .status
            .as_u16(),
        200
    );
}

fn market_batch(records: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"sender": "test", "sentAt": "2026-11-24 17:00:00", "records": records}),
    )
    .unwrap()
}

fn valid_market_records() -> Vec<Value> {
    let v: Value = serde_json::from_slice(&fixture("market-regulation/batch-valid.json")).unwrap();
    v["records"].as_array().unwrap().clone()
}

#[tokio::test]
async fn record_count_depth_and_string_length_are_limited_and_named() {
    let node = Node::start_configured(&[
        ("GATEWAY_INGEST__MAX_RECORDS_PER_BATCH", "2"),
        ("GATEWAY_LIMITS__MAX_DEPTH", "8"),
        ("GATEWAY_LIMITS__MAX_STRING_BYTES", "1024"),
    ])
    .await;
    let sys = node.client("xifeng-amr-system");
    let recs = valid_market_records();

    // Too many records: the batch is refused whole and kept for replay.
    let r = sys
        .post(MR, JSON_CT, market_batch(recs.clone()))
        .await
        .unwrap();
    assert_eq!(r.status.as_u16(), 413);
    let p = r.json().unwrap();
    assert_eq!(p["code"], "payload.too_many_records");
    assert!(p["quarantine_id"].is_string(), "{p}");
    assert_eq!(node.count("SELECT count(*) FROM case_records").await, 0);

    // A record nesting too deep, and one with an over-long string: each refused alone, named,
    // kept with its raw bytes; the valid record of the batch is stored.
    let mut deep = recs[1].clone();
    let mut nest = json!(1);
    for _ in 0..20 {
        nest = json!([nest]);
    }
    deep["remark"] = nest;
    let r = sys
        .post(MR, JSON_CT, market_batch(vec![recs[0].clone(), deep]))
        .await
        .unwrap();
    assert_eq!(r.status.as_u16(), 200);
    let receipt = r.json().unwrap();
    assert_eq!(receipt["records"][0]["outcome"], "accepted", "{receipt}");
    let refused = &receipt["records"][1];
    assert_eq!(refused["outcome"], "rejected", "{receipt}");
    assert_eq!(refused["errors"][0]["code"], "record.too_deep");
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("remark"),
        "{refused}"
    );
    let mut long = recs[2].clone();
    long["applicant"]["name"] = json!("长".repeat(400));
    let r = sys
        .post(MR, JSON_CT, market_batch(vec![long]))
        .await
        .unwrap();
    let receipt = r.json().unwrap();
    let refused = &receipt["records"][0];
    assert_eq!(refused["outcome"], "rejected", "{receipt}");
    assert_eq!(refused["errors"][0]["code"], "record.string_too_long");
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("applicant.name"),
        "{refused}"
    );
    assert_eq!(node.count("SELECT count(*) FROM case_records").await, 1);
    assert_eq!(
        node.count(
            "SELECT count(*) FROM quarantine WHERE reason = 'rejected' \
             AND errors->0->>'code' IN ('record.too_deep', 'record.string_too_long') \
             AND length(raw) > 100"
        )
        .await,
        2
    );

    // XML: the reader refuses the whole payload, naming the line; kept for replay.
    let ps = node.client("huanxian-psb-system");
    let xml = e2e::from_gbk(&fixture("public-security/batch-valid.gbk.xml"));
    let nested = xml.replacen(
        "<JGSM>",
        &format!("{}{}<JGSM>", "<X>".repeat(10), "</X>".repeat(10)),
        1,
    );
    let long = xml.replacen("<JGSM>", &format!("<JGSM>{}", "长".repeat(600)), 1);
    for (body, code) in [
        (nested, "payload.too_deep"),
        (long, "payload.string_too_long"),
    ] {
        let r = ps.post(PS, XML_CT, e2e::gbk(&body)).await.unwrap();
        assert_eq!(r.status.as_u16(), 400);
        let p = r.json().unwrap();
        assert_eq!(p["code"], code, "{p}");
        assert!(p["detail"].as_str().unwrap().contains("line "), "{p}");
        assert!(p["quarantine_id"].is_string(), "{p}");
    }
    assert_eq!(
        node.count("SELECT count(*) FROM quarantine WHERE reason = 'payload'")
            .await,
        3
    );
    assert_eq!(node.count("SELECT count(*) FROM case_records").await, 1);
}

#[tokio::test]
async fn broken_utf8_refuses_the_payload_and_broken_gbk_only_its_record() {
    let node = Node::start().await;
    // JSON must be UTF-8: bytes that are not refuse the payload, which is kept.
    let mut batch = fixture("market-regulation/batch-valid.json");
    let at = batch
        .windows(6)
        .position(|w| w == "庆阳".as_bytes())
        .unwrap();
    batch[at] = 0xFF;
    let r = node
        .client("xifeng-amr-system")
        .post(MR, JSON_CT, batch)
        .await
        .unwrap();
    assert_eq!(r.status.as_u16(), 400);
    let p = r.json().unwrap();
    assert_eq!(p["code"], "payload.malformed", "{p}");
    assert!(p["quarantine_id"].is_string());

    // GBK: a field whose bytes are not GBK fails its own record only.
    let mut xml = fixture("public-security/batch-valid.gbk.xml");
    let at = xml.windows(4).rposition(|w| w == b"<XM>").unwrap() + 4;
    xml.splice(at..at, [0x81, 0x20]);
    let r = node
        .client("huanxian-psb-system")
        .post(PS, XML_CT, xml)
        .await
        .unwrap();
    assert_eq!(r.status.as_u16(), 200);
    let receipt = r.json().unwrap();
    let outcomes: Vec<&str> = receipt["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["accepted", "rejected"], "{receipt}");
    assert_eq!(
        receipt["records"][1]["errors"][0]["code"],
        "encoding.invalid"
    );
    assert_eq!(node.count("SELECT count(*) FROM case_records").await, 1);
    // The unreadable payload and the refused record are both kept.
    assert_eq!(
        node.count("SELECT count(*) FROM quarantine WHERE reason = 'rejected'")
            .await,
        1
    );
    assert!(
        node.count("SELECT count(*) FROM quarantine WHERE reason = 'payload'")
            .await
            >= 1
    );
}

#[tokio::test]
async fn xml_entity_expansion_and_external_entities_are_refused() {
    let node = Node::start().await;
    let attacks = [
        // Billion laughs.
        r#"<?xml version="1.0"?><!DOCTYPE GAJ_BJ_PACKAGE [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]><GAJ_BJ_PACKAGE><HEAD><FSXT>&d;</FSXT></HEAD></GAJ_BJ_PACKAGE>"#,
        // XXE: SYSTEM, PUBLIC, parameter entity.
        r#"<?xml version="1.0"?><!DOCTYPE GAJ_BJ_PACKAGE [<!ENTITY x SYSTEM "file:///etc/passwd">]><GAJ_BJ_PACKAGE><HEAD><FSXT>&x;</FSXT></HEAD></GAJ_BJ_PACKAGE>"#,
        r#"<?xml version="1.0"?><!DOCTYPE GAJ_BJ_PACKAGE PUBLIC "-//GA//BJ" "http://127.0.0.1:9/bj.dtd"><GAJ_BJ_PACKAGE/>"#,
        r#"<?xml version="1.0"?><!DOCTYPE GAJ_BJ_PACKAGE [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p.dtd"> %p;]><GAJ_BJ_PACKAGE/>"#,
    ];
    let ps = node.client("huanxian-psb-system");
    for attack in attacks {
        let r = ps
            .post(PS, XML_CT, attack.as_bytes().to_vec())
            .await
            .unwrap();
        assert_eq!(r.status.as_u16(), 400, "{attack}");
        assert_eq!(r.content_type(), "application/problem+json");
        let p = r.json().unwrap();
        assert_eq!(p["code"], "payload.dtd_forbidden", "{p}");
        assert!(p["quarantine_id"].is_string());
    }
    // The SOAP endpoint answers a SOAP fault with the same code, and reads no file.
    let envelope = String::from_utf8(fixture("tax/batch-valid.xml")).unwrap();
    let xxe = envelope.replacen(
        "<soapenv:Envelope",
        "<!DOCTYPE soapenv:Envelope [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><soapenv:Envelope",
        1,
    );
    let r = node
        .client("qingyang-sw-system")
        .post(
            "/v1/ingest/tax",
            "text/xml; charset=utf-8",
            xxe.into_bytes(),
        )
        .await
        .unwrap();
    let body = String::from_utf8_lossy(&r.body).into_owned();
    assert_eq!(
        r.status.as_u16(),
        500,
        "SOAP 1.1 faults travel as HTTP 500: {body}"
    );
    assert!(
        body.contains("Fault") && body.contains("payload.dtd_forbidden"),
        "{body}"
    );
    assert!(!body.contains("root:"), "{body}");
    assert_eq!(node.count("SELECT count(*) FROM case_records").await, 0);
    assert_eq!(
        node.count("SELECT count(*) FROM quarantine WHERE reason = 'payload'")
            .await,
        5
    );
    assert_eq!(
        node.anonymous_web()
            .get("/healthz")
            .await
            .unwrap()
            .status
            .as_u16(),
        200
    );
}

#[tokio::test]
async fn slow_headers_and_slow_bodies_are_cut_off_while_others_are_served() {
    let node = Node::start_configured(&[
        ("GATEWAY_EXCHANGE__HANDSHAKE_TIMEOUT_SECS", "3"),
        ("GATEWAY_LIMITS__BODY_TIMEOUT_SECS", "3"),
    ])
    .await;
    let started = Instant::now();

    // Slowloris: headers that never end. The server closes the connection.
    let loris = {
        let stream = raw(&node, Some("xifeng-amr-system")).await;
        tokio::spawn(async move {
            let (mut rd, mut wr) = tokio::io::split(stream);
            let _ = wr
                .write_all(b"GET /v1/batches/x HTTP/1.1\r\nhost: localhost\r\n")
                .await;
            let dribble = tokio::spawn(async move {
                for i in 0..120 {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    if wr
                        .write_all(format!("x-{i}: y\r\n").as_bytes())
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            });
            let mut sink = Vec::new();
            let closed = tokio::time::timeout(Duration::from_secs(60), rd.read_to_end(&mut sink))
                .await
                .is_ok();
            dribble.abort();
            (closed, String::from_utf8_lossy(&sink).into_owned())
        })
    };

    // A body sent one byte at a time: 408 once the body deadline passes.
    let slow_body = {
        let stream = raw(&node, Some("xifeng-amr-system")).await;
        tokio::spawn(async move {
            let (mut rd, mut wr) = tokio::io::split(stream);
            let _ = wr
                .write_all(
                    format!(
                        "POST {MR} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
                         content-length: 1000\r\n\r\n"
                    )
                    .as_bytes(),
                )
                .await;
            let dribble = tokio::spawn(async move {
                for _ in 0..1000 {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    if wr.write_all(b" ").await.is_err() {
                        break;
                    }
                }
            });
            let answer = tokio::time::timeout(Duration::from_secs(60), read_answer(&mut rd)).await;
            dribble.abort();
            answer
        })
    };

    // Meanwhile everyone else is served.
    let r = node
        .client("xifeng-amr-system")
        .post(MR, JSON_CT, fixture("market-regulation/batch-valid.json"))
        .await
        .unwrap();
    assert_eq!(r.status.as_u16(), 200);
    assert_eq!(
        node.anonymous_web()
            .get("/healthz")
            .await
            .unwrap()
            .status
            .as_u16(),
        200
    );

    let (closed, sent) = loris.await.unwrap();
    assert!(
        closed,
        "the slowloris connection must be closed by the server"
    );
    assert!(!sent.contains(" 200 "), "{sent}");
    let (status, head, body) = slow_body
        .await
        .unwrap()
        .expect("an answer within the test's patience")
        .expect("a 408 answer, not a closed connection");
    assert_eq!(status, 408);
    assert_eq!(problem_code(&head, &body), "request.timeout");
    // Generous: the cut-offs came from the server's deadlines, not the test's.
    assert!(started.elapsed() < Duration::from_secs(60));

    // Nothing of the slow body was stored; the process is healthy.
    assert_eq!(node.count("SELECT count(*) FROM ingest_batches").await, 1);
    assert_eq!(
        node.anonymous_web()
            .get("/healthz")
            .await
            .unwrap()
            .status
            .as_u16(),
        200
    );
    assert_eq!(
        node.anonymous_web()
            .get("/readyz")
            .await
            .unwrap()
            .status
            .as_u16(),
        200
    );
}

/// `n` requests in a row; the statuses and the first 429's Retry-After and problem.
async fn burst(
    client: &gateway::client::ExchangeClient,
    path: &str,
    n: usize,
) -> (Vec<u16>, Option<(u64, Value)>) {
    let mut answers = Vec::new();
    for _ in 0..n {
        answers.push(client.get(path).await.unwrap());
    }
    let statuses = answers.iter().map(|r| r.status.as_u16()).collect();
    let limited = answers.iter().find(|r| r.status.as_u16() == 429).map(|r| {
        let secs = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert_eq!(r.content_type(), "application/problem+json");
        (secs, r.json().unwrap())
    });
    (statuses, limited)
}

#[tokio::test]
async fn clients_over_their_rate_get_429_with_retry_after_each_in_its_own_bucket() {
    let node = Node::start_configured(&[
        ("GATEWAY_LIMITS__RATES__SYSTEM__PER_SECOND", "1"),
        ("GATEWAY_LIMITS__RATES__SYSTEM__BURST", "3"),
    ])
    .await;
    let amr = node.client("xifeng-amr-system");
    let started = Instant::now();
    let (statuses, limited) = burst(&amr, "/v1/batches/none", 12).await;
    // At most the burst plus what refilled meanwhile got through.
    let passed = statuses.iter().filter(|&&s| s == 404).count() as u64;
    assert!(
        passed <= 3 + started.elapsed().as_secs() + 1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|&s| s == 404 || s == 429),
        "{statuses:?}"
    );
    let (retry_after, problem) = limited.expect("a 429");
    assert!(retry_after >= 1, "{retry_after}");
    assert_eq!(problem["code"], "rate.limited");
    // Probes are never limited; another system has its own bucket.
    assert_eq!(amr.get("/healthz").await.unwrap().status.as_u16(), 200);
    let psb = node.client("huanxian-psb-system");
    assert_eq!(
        psb.get("/v1/batches/none").await.unwrap().status.as_u16(),
        404
    );
    // Counted for operators.
    let metrics = node
        .web_client("qingyang-operator")
        .get("/metrics")
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(
        text.lines()
            .any(|l| l.starts_with("gateway_rate_limited_total{")
                && l.contains("role=\"system\"")
                && l.contains("listener=\"exchange\"")),
        "{text}"
    );
}

#[tokio::test]
async fn callers_without_a_certificate_are_limited_per_address() {
    let node = Node::start_configured(&[
        ("GATEWAY_LIMITS__RATES__PUBLIC__PER_SECOND", "1"),
        ("GATEWAY_LIMITS__RATES__PUBLIC__BURST", "3"),
    ])
    .await;
    let public = node.anonymous_web();
    let (statuses, limited) = burst(&public, "/public/v1/cases?case_no=NONE", 12).await;
    assert!(statuses.iter().any(|&s| s != 429), "{statuses:?}");
    let (_, problem) = limited.unwrap_or_else(|| panic!("a 429 among {statuses:?}"));
    assert_eq!(problem["code"], "rate.limited");
    // A staff certificate is its own bucket, not the address's.
    let approver = node.web_client("xifeng-approver");
    assert_ne!(
        approver.get("/v1/purposes").await.unwrap().status.as_u16(),
        429
    );
}
