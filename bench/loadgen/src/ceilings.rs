//! This machine's ceilings for the work the gateway does, measured in the same run:
//!
//! - [`copy`]: PostgreSQL binary `COPY` of the gateway's own normalized rows into
//!   `case_records` of a database migrated by `gateway migrate` (so the same columns, keys and
//!   indexes), 500 rows per transaction, synchronous commit, two connections;
//! - [`ed25519`]: ring signing and verification of different signatures in turn, one thread
//!   (verification also of one signature over and over, and on every core at once, for
//!   comparison), and ed25519-dalek's batch verification of 50, what `/verify/batch` uses;
//! - [`schema`]: JSON parse + validation against the canonical schema, one thread;
//! - [`prepare`] (not a ceiling): the gateway's own preparation of records, one thread;
//! - [`plain_server`]: a hyper server with the gateway's TLS configuration and nothing behind
//!   it (run as its own process by `loadgen plain-server`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use chrono::{DateTime, FixedOffset};
use gateway::ingest::Valid;
use http_body_util::{BodyExt, Full};
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{Json, ToSql, Type};

use crate::load::Window;
use crate::procstat::Watch;

/// A normalized row as the gateway stores it in `case_records`.
pub struct Row {
    source_system: String,
    case_no: String,
    version: i64,
    department: String,
    region: String,
    item_code: String,
    status: String,
    occurred_at: DateTime<FixedOffset>,
    ingested_at: DateTime<FixedOffset>,
    content_hash: Vec<u8>,
    body: Box<RawValue>,
}

impl Row {
    pub fn from_valid(v: &Valid) -> anyhow::Result<Row> {
        Ok(Row {
            source_system: v.source_system.clone(),
            case_no: v.case_no.clone(),
            version: v.version,
            department: v.department.clone(),
            region: v.region.to_string(),
            item_code: v.item_code.clone(),
            status: v.status.clone(),
            occurred_at: v.occurred_at,
            ingested_at: v.ingested_at,
            content_hash: v.content_hash.clone(),
            body: serde_json::value::RawValue::from_string(String::from_utf8(
                v.body_json.to_vec(),
            )?)?,
        })
    }

    pub fn body(&self) -> &str {
        self.body.get()
    }
}

const COPY: &str = "COPY case_records (record_id, source_system, case_no, version, department, \
     region_code, item_code, status, occurred_at, ingested_at, batch_id, content_hash, body) \
     FROM STDIN BINARY";
const TYPES: [Type; 13] = [
    Type::UUID,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TIMESTAMPTZ,
    Type::TIMESTAMPTZ,
    Type::UUID,
    Type::BYTEA,
    Type::JSONB,
];

/// COPY `rows` (cycled, each pass under new case numbers) into `case_records` at `url` with
/// `connections` connections, `per_tx` rows per transaction; rows committed in the window, and
/// what `watch` saw while the connections were open (backends take their CPU time with them
/// when they exit).
pub async fn copy(
    url: &str,
    rows: Arc<Vec<Row>>,
    connections: usize,
    per_tx: usize,
    w: Window,
    watch: &Watch,
) -> anyhow::Result<Value> {
    let mut clients = Vec::new();
    for _ in 0..connections {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        clients.push(client);
    }
    let running = watch.start();
    let start = Instant::now();
    let (from, end) = (start + w.warmup, start + w.warmup + w.measure);
    let mut tasks = tokio::task::JoinSet::new();
    for (c, mut client) in clients.into_iter().enumerate() {
        let rows = rows.clone();
        tasks.spawn(async move {
            let (mut committed, mut next) = (0u64, c * per_tx);
            while Instant::now() < end {
                let tx = client.transaction().await?;
                let sink = tx.copy_in(COPY).await?;
                let writer = BinaryCopyInWriter::new(sink, &TYPES);
                let mut writer = std::pin::pin!(writer);
                let batch = uuid::Uuid::now_v7();
                for _ in 0..per_tx {
                    let row = &rows[next % rows.len()];
                    // Each pass over the rows (and each connection) under its own case numbers.
                    let case_no = format!("{}-c{}", row.case_no, next / rows.len());
                    next += 1;
                    let values: [&(dyn ToSql + Sync); 13] = [
                        &uuid::Uuid::now_v7(),
                        &row.source_system,
                        &case_no,
                        &row.version,
                        &row.department,
                        &row.region,
                        &row.item_code,
                        &row.status,
                        &row.occurred_at,
                        &row.ingested_at,
                        &batch,
                        &row.content_hash,
                        &Json(&*row.body),
                    ];
                    writer.as_mut().write(&values).await?;
                }
                writer.finish().await?;
                tx.commit().await?;
                let now = Instant::now();
                if now >= from && now <= end {
                    committed += per_tx as u64;
                }
                next += (connections - 1) * per_tx;
            }
            anyhow::Ok((committed, client))
        });
    }
    let (mut committed, mut open) = (0, Vec::new());
    while let Some(done) = tasks.join_next().await {
        let (n, client) = done??;
        committed += n;
        open.push(client);
    }
    let usage = running.stop();
    drop(open);
    let body_bytes = rows.iter().map(|r| r.body.get().len()).sum::<usize>() / rows.len().max(1);
    Ok(json!({
        "rows_per_sec": (committed as f64 / w.measure.as_secs_f64()).round(),
        "rows": committed,
        "window_secs": w.measure.as_secs_f64(),
        "connections": connections,
        "rows_per_transaction": per_tx,
        "distinct_rows": rows.len(),
        "mean_body_bytes": body_bytes,
        "usage": usage.to_json(),
    }))
}

/// Calls of `f` per second on this thread over `secs`.
fn rate(secs: f64, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < secs {
        for _ in 0..64 {
            f();
        }
        n += 64;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// How many different messages and signatures the Ed25519 rates go through in turn.
const SIGNATURES: usize = 4096;

/// Signatures a batch verification call checks: a `verify/batch` request of the bench's.
const BATCH: usize = 50;

/// ring Ed25519 over 64-byte messages (what eddsa-jcs-2022 signs: two SHA-256 hashes), each
/// call on the next of [`SIGNATURES`] different ones, as the gateway never verifies the same
/// signature twice in a row. Verifying one signature over and over is ~6 % faster (the
/// variable-time scalar multiplication's branches are then learnt by the CPU): measured too,
/// as `verify_same_us`, the ceiling runs before 2026-12-06 reported.
pub fn ed25519(secs: f64) -> anyhow::Result<Value> {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| anyhow::anyhow!("{e}"))?;
    let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let public = UnparsedPublicKey::new(&ED25519, key.public_key().as_ref().to_vec());
    let signed: Vec<([u8; 64], ring::signature::Signature)> = (0..SIGNATURES as u64)
        .map(|i| {
            let mut msg = [0u8; 64];
            let digest = ring::digest::digest(&ring::digest::SHA512, &i.to_be_bytes());
            msg.copy_from_slice(digest.as_ref());
            let sig = key.sign(&msg);
            (msg, sig)
        })
        .collect();
    let mut i = 0;
    let sign = rate(secs, || {
        i += 1;
        std::hint::black_box(key.sign(std::hint::black_box(&signed[i % SIGNATURES].0)));
    });
    let (signed, public) = (&signed, &public);
    let verify_from = |mut i: usize| {
        move || {
            i += 1;
            let (msg, sig) = &signed[i % SIGNATURES];
            assert!(public.verify(msg, sig.as_ref()).is_ok());
        }
    };
    let verify = rate(secs, verify_from(0));
    let same = rate(secs, || {
        assert!(public.verify(&signed[0].0, signed[0].1.as_ref()).is_ok());
    });
    // On every core at once: the conditions the gateway verifies a batch in, where the cores
    // share caches, memory bandwidth and clock. Not the target's ceiling (that stays one
    // thread, as the issue states it); shown beside it to tell that part of the gap apart.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let all: f64 = std::thread::scope(|s| {
        let threads: Vec<_> = (0..cores)
            .map(|c| {
                let verify = verify_from(c * SIGNATURES / cores);
                s.spawn(move || rate(secs, verify))
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("a rate thread"))
            .sum()
    });
    // What the batch route checks its credentials' signatures with: ed25519-dalek's batch
    // verification, 50 signatures a call (a request's worth), one thread.
    let dalek_key = ed25519_dalek::VerifyingKey::from_bytes(
        key.public_key().as_ref().try_into().expect("32 bytes"),
    )?;
    let (messages, dalek_sigs): (Vec<&[u8]>, Vec<ed25519_dalek::Signature>) = signed
        .iter()
        .map(|(msg, sig)| {
            let sig = ed25519_dalek::Signature::from_slice(sig.as_ref()).expect("64 bytes");
            (&msg[..], sig)
        })
        .unzip();
    // What one verification a request checks its signature with: ed25519-dalek against a key
    // decompressed once (`vc::data_integrity::signature`).
    let verify_dalek = {
        use ed25519_dalek::Verifier;
        let mut i = 0;
        rate(secs, || {
            i += 1;
            let at = i % SIGNATURES;
            assert!(dalek_key.verify(messages[at], &dalek_sigs[at]).is_ok());
        })
    };
    let keys = vec![dalek_key; BATCH];
    let mut b = 0;
    let batches = rate(secs, || {
        b = (b + BATCH) % (SIGNATURES - BATCH);
        let range = b..b + BATCH;
        assert!(
            ed25519_dalek::verify_batch(&messages[range.clone()], &dalek_sigs[range], &keys)
                .is_ok()
        );
    });
    let us = |per_sec: f64| (1e6 / per_sec * 100.0).round() / 100.0;
    Ok(json!({
        "batch_verify": {
            "signatures_per_batch": BATCH,
            "verify_per_sec": (batches * BATCH as f64).round(),
            "verify_us": us(batches * BATCH as f64),
        },
        "dalek_verify": {
            "verify_per_sec": verify_dalek.round(),
            "verify_us": us(verify_dalek),
        },
        "sign_per_sec": sign.round(),
        "verify_per_sec": verify.round(),
        "verify_us": us(verify),
        "sign_us": us(sign),
        "signatures": SIGNATURES,
        "verify_same_us": us(same),
        "threads": 1,
        "all_cores": {
            "threads": cores,
            "verify_per_sec": all.round(),
            "verify_us_per_core": us(all / cores as f64),
        },
    }))
}

/// JSON parse + validation against `schemas/case-record.v1.schema.json` of normalized bodies.
pub fn schema(bodies: &[&str], secs: f64) -> Value {
    let schema = domain::schema::JsonSchema::case_record();
    let mut i = 0;
    let per_sec = rate(secs, || {
        let v: Value = serde_json::from_str(bodies[i % bodies.len()]).expect("stored JSON");
        assert!(schema.is_valid(&v));
        i += 1;
    });
    json!({"records_per_sec": per_sec.round(), "threads": 1})
}

/// Not a ceiling but the gateway's own part of a push, for comparison between runs: its
/// preparation of each record with no network or database (`gateway::ingest::prepare`: adapter
/// decode, normalization with catalog, schema and code checks, the canonical JSON and content
/// hash), one thread, over 50-record batches of every adapter in turn (larger batches are
/// spread over the cores).
pub fn prepare(
    loads: &[crate::batches::Load],
    pipeline: &crate::batches::Pipeline,
    secs: f64,
) -> anyhow::Result<Value> {
    prepare_batches(loads, pipeline, Until::Secs(secs), 50)
}

/// When [`prepare_batches`] stops.
#[derive(Debug, Clone, Copy)]
pub enum Until {
    /// After this many seconds: a rate.
    Secs(f64),
    /// After this many batches: a fixed amount of work, the same every run, whose instructions
    /// a tool like callgrind can count (the host's noise does not change them).
    Batches(u64),
}

impl Until {
    fn done(self, start: Instant, batches: u64) -> bool {
        match self {
            Until::Secs(secs) => start.elapsed().as_secs_f64() >= secs,
            Until::Batches(n) => batches >= n,
        }
    }
}

/// [`prepare`] over batches of `records` records: from `adapters::parallel::FROM` records a
/// batch is decoded and normalized on every core, and the figure is then wall-clock, per batch.
pub fn prepare_batches(
    loads: &[crate::batches::Load],
    pipeline: &crate::batches::Pipeline,
    until: Until,
    records: u64,
) -> anyhow::Result<Value> {
    let batches: Vec<(&crate::batches::Load, Bytes)> = loads
        .iter()
        .flat_map(|l| (0..4).map(move |_| (l, l.batch(records).body)))
        .collect();
    let start = Instant::now();
    let (mut done, mut i) = (0u64, 0);
    while !until.done(start, i as u64) {
        let (load, body) = &batches[i % batches.len()];
        let prepared = pipeline.prepare(load, body)?;
        anyhow::ensure!(prepared.invalid.is_empty(), "generated records are invalid");
        done += prepared.valid.len() as u64;
        i += 1;
    }
    let per_sec = done as f64 / start.elapsed().as_secs_f64();
    let threads = if records as usize >= adapters::parallel::FROM {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        1
    };
    Ok(json!({
        "records_per_sec": per_sec.round(),
        "us_per_record": (1e6 / per_sec * 100.0).round() / 100.0,
        "ms_per_batch": (records as f64 * 1e3 / per_sec * 100.0).round() / 100.0,
        "batch_records": records,
        "threads": threads,
    }))
}

/// `loadgen plain-server`: the gateway's exchange-listener TLS configuration
/// ([`gateway::tls::server_config`], client certificates required) and hyper's HTTP/1.1 + 2
/// server, answering every request with a small JSON body once the request body is read.
pub async fn plain_server(cert: &Path, key: &Path, ca: &Path, ready: &Path) -> anyhow::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    let tls = gateway::tls::server_config(cert, key, ca)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    std::fs::write(ready, listener.local_addr()?.to_string()).context("ready file")?;
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10))
        .keep_alive(true);
    let builder = Arc::new(builder);
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let (acceptor, builder) = (acceptor.clone(), builder.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper::service::service_fn(
                |req: http::Request<hyper::body::Incoming>| async move {
                    let _ = req.into_body().collect().await;
                    let body = Full::new(Bytes::from_static(b"{\"status\":\"ok\"}"));
                    let mut resp = http::Response::new(body);
                    resp.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("application/json"),
                    );
                    Ok::<_, Infallible>(resp)
                },
            );
            let _ = builder.serve_connection(TokioIo::new(tls), service).await;
        });
    }
}
