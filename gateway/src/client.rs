//! A small HTTPS client with a client certificate, for talking to an exchange listener: used by
//! the end-to-end tests, by commands that push to a node, and by nodes talking to their peers.
//!
//! By default every request opens a fresh connection (what tests and one-shot commands want:
//! each request is a full TLS handshake with the certificate as it is on disk). A node's
//! clients of its peers are [`ExchangeClient::keep_alive`]: HTTP/1.1 connections are kept
//! and reused, so a routed query costs one request on an open connection instead of a TCP and
//! mTLS handshake. Clients built from files re-read them when they change (checked at most
//! once a second), so a renewed certificate or a new CA is used from the next connection on,
//! and connections made with the old ones are not reused.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::federation::protocol::{self, Version};

/// How long a kept connection may sit idle before it is dropped: below the server's
/// header-read timeout (`server.handshake_timeout_secs`, 10 s by default), after which the
/// server closes it and a request sent at that moment would be lost.
const IDLE_LIMIT: Duration = Duration::from_secs(4);
/// How long a kept connection is used at all, so a connection never outlives the certificates
/// it was opened with by much.
const LIFETIME_LIMIT: Duration = Duration::from_secs(300);
/// At most this many idle connections are kept per client.
const MAX_IDLE: usize = 32;
/// How often the certificate files are checked for changes.
const RELOAD_CHECK: Duration = Duration::from_secs(1);

pub struct ExchangeClient {
    host: String,
    port: u16,
    /// When set, the server's certificate must name this node region (a parent node).
    expect_node: Option<String>,
    tls: Mutex<Tls>,
    /// Idle kept-alive connections; `None` when every request opens its own.
    pool: Option<Mutex<Vec<Idle>>>,
    /// A node's client: the exchange protocol version it announces on every request, and the
    /// one the peer announced on its last answer.
    protocol: Option<(Version, Mutex<Option<Version>>)>,
}

/// The TLS configuration in use and, when it came from files, what to reload it from.
struct Tls {
    connector: TlsConnector,
    /// Bumped on every reload: connections of an older generation are not reused.
    generation: u64,
    files: Files,
    checked_at: Instant,
}

#[derive(Clone)]
enum Files {
    Identity {
        ca: PathBuf,
        cert: PathBuf,
        key: PathBuf,
        stamp: Vec<Option<(SystemTime, u64)>>,
    },
    Anonymous {
        ca: PathBuf,
        stamp: Vec<Option<(SystemTime, u64)>>,
    },
}

impl Files {
    fn paths(&self) -> Vec<&Path> {
        match self {
            Files::Identity { ca, cert, key, .. } => vec![ca, cert, key],
            Files::Anonymous { ca, .. } => vec![ca],
        }
    }

    fn stamp(&self) -> &[Option<(SystemTime, u64)>] {
        match self {
            Files::Identity { stamp, .. } | Files::Anonymous { stamp, .. } => stamp,
        }
    }

    /// Modification time and length of each file (`None` when unreadable).
    fn current_stamp(&self) -> Vec<Option<(SystemTime, u64)>> {
        self.paths()
            .iter()
            .map(|p| {
                std::fs::metadata(p)
                    .ok()
                    .and_then(|m| Some((m.modified().ok()?, m.len())))
            })
            .collect()
    }

    fn with_stamp(&self, new: Vec<Option<(SystemTime, u64)>>) -> Files {
        let mut files = self.clone();
        match &mut files {
            Files::Identity { stamp, .. } | Files::Anonymous { stamp, .. } => *stamp = new,
        }
        files
    }

    fn config(&self) -> anyhow::Result<rustls::ClientConfig> {
        match self {
            Files::Identity { ca, cert, key, .. } => crate::tls::client_config(ca, cert, key),
            Files::Anonymous { ca, .. } => crate::tls::client_config_anonymous(ca),
        }
    }
}

/// A kept connection, ready for its next request.
struct Idle {
    sender: SendRequest<Full<Bytes>>,
    generation: u64,
    opened: Instant,
    idle_since: Instant,
}

#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn content_type(&self) -> &str {
        self.headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

impl ExchangeClient {
    /// `base` is `https://host:port`; the server must present a certificate for `host` from `ca`.
    pub fn new(base: &str, ca: &Path, cert: &Path, key: &Path) -> anyhow::Result<Self> {
        Self::from_files(
            base,
            Files::Identity {
                ca: ca.to_owned(),
                cert: cert.to_owned(),
                key: key.to_owned(),
                stamp: Vec::new(),
            },
        )
    }

    /// A client that presents no certificate.
    pub fn anonymous(base: &str, ca: &Path) -> anyhow::Result<Self> {
        Self::from_files(
            base,
            Files::Anonymous {
                ca: ca.to_owned(),
                stamp: Vec::new(),
            },
        )
    }

    fn from_files(base: &str, files: Files) -> anyhow::Result<Self> {
        // Stamped before reading, so a change made while reading is seen by the next check.
        let files = files.with_stamp(files.current_stamp());
        let config = files.config()?;
        let rest = base
            .strip_prefix("https://")
            .context("the base URL must start with https://")?;
        let (host, port) = rest
            .trim_end_matches('/')
            .rsplit_once(':')
            .context("the base URL needs a port")?;
        Ok(ExchangeClient {
            host: host.trim_matches(['[', ']']).to_owned(),
            port: port.parse()?,
            expect_node: None,
            tls: Mutex::new(Tls {
                connector: TlsConnector::from(Arc::new(config)),
                generation: 0,
                files,
                checked_at: Instant::now(),
            }),
            pool: None,
            protocol: None,
        })
    }

    /// A client of this node's configured parent, presenting the node's own certificate, that
    /// refuses a server whose certificate does not name the parent's region; its connections
    /// are kept alive.
    pub fn to_parent(
        config: &crate::config::Config,
        parent: &crate::config::PeerNode,
    ) -> anyhow::Result<Self> {
        Ok(Self::new(
            &parent.url,
            &config.client_ca(),
            &config.server_cert(),
            &config.server_key(),
        )?
        .expect_node(&parent.region)
        .speaking(protocol::announced(config)?)
        .keep_alive())
    }

    /// Refuse a server whose certificate does not name node `region` (`urn:gateway:node:…`):
    /// a child talks only to its configured parent.
    pub fn expect_node(mut self, region: &str) -> Self {
        self.expect_node = Some(region.to_owned());
        self
    }

    /// Announce exchange protocol `version` on every request (a node's clients of its peers).
    pub fn speaking(mut self, version: Version) -> Self {
        self.protocol = Some((version, Mutex::new(None)));
        self
    }

    /// The protocol version the peer announced on its last answer (unknown before one).
    pub fn peer_protocol(&self) -> Option<Version> {
        let (_, theirs) = self.protocol.as_ref()?;
        *theirs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keep connections open and reuse them (a node's clients of its peers).
    pub fn keep_alive(mut self) -> Self {
        self.pool = Some(Mutex::new(Vec::new()));
        self
    }

    /// The connector to use now and its generation, after reloading the files if they
    /// changed. A reload that fails (a certificate renewed but its key not yet written) keeps
    /// the previous configuration and is tried again at the next check.
    fn connector(&self) -> (TlsConnector, u64) {
        let mut tls = self.tls.lock().unwrap_or_else(|e| e.into_inner());
        if tls.checked_at.elapsed() >= RELOAD_CHECK {
            tls.checked_at = Instant::now();
            let stamp = tls.files.current_stamp();
            if stamp != tls.files.stamp() {
                let files = tls.files.with_stamp(stamp);
                match files.config() {
                    Ok(config) => {
                        tls.connector = TlsConnector::from(Arc::new(config));
                        tls.generation += 1;
                        tls.files = files;
                        tracing::info!(host = %self.host, port = self.port, "client certificate files changed: reloaded");
                    }
                    Err(e) => {
                        tracing::warn!(host = %self.host, port = self.port, error = format!("{e:#}"), "client certificate files changed but do not load; keeping the previous ones");
                    }
                }
            }
        }
        (tls.connector.clone(), tls.generation)
    }

    /// A kept connection of the current generation, young enough, whose server has not
    /// closed it.
    fn take_idle(&self, generation: u64) -> Option<(SendRequest<Full<Bytes>>, Instant)> {
        let mut idle = self
            .pool
            .as_ref()?
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        while let Some(conn) = idle.pop() {
            if conn.generation == generation
                && conn.idle_since.elapsed() < IDLE_LIMIT
                && conn.opened.elapsed() < LIFETIME_LIMIT
                && !conn.sender.is_closed()
            {
                return Some((conn.sender, conn.opened));
            }
        }
        None
    }

    fn put_idle(&self, conn: Idle) {
        let Some(pool) = &self.pool else { return };
        let mut idle = pool.lock().unwrap_or_else(|e| e.into_inner());
        // The oldest idle ones go first when full; most recently used are reused first.
        if idle.len() >= MAX_IDLE {
            idle.remove(0);
        }
        idle.push(conn);
    }

    /// A new connection: TCP, TLS (checking the server's node name when required), HTTP/1.1.
    async fn connect(&self, connector: &TlsConnector) -> anyhow::Result<SendRequest<Full<Bytes>>> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port)).await?;
        let _ = tcp.set_nodelay(true);
        let name = ServerName::try_from(self.host.clone())?;
        let tls = connector
            .connect(name, tcp)
            .await
            .context("TLS handshake failed")?;
        if let Some(expected) = &self.expect_node {
            let leaf = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .context("no server certificate")?;
            let named = crate::tls::san_uris_with_prefix(leaf, crate::tls::NODE_URI_PREFIX);
            anyhow::ensure!(
                named == [expected.clone()],
                "the server is node {named:?}, not the configured parent {expected}"
            );
        }
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(conn);
        Ok(sender)
    }

    /// One request: on a kept connection when there is one, else on a new one.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> anyhow::Result<Response> {
        let body = Bytes::from(body);
        let (connector, generation) = self.connector();
        loop {
            let (mut sender, opened, reused) = match self.take_idle(generation) {
                Some((sender, opened)) => (sender, opened, true),
                None => (self.connect(&connector).await?, Instant::now(), false),
            };
            if sender.ready().await.is_err() {
                if reused {
                    continue; // closed meanwhile
                }
                anyhow::bail!("the connection closed before the request was sent");
            }
            let mut req = Request::builder()
                .method(method.clone())
                .uri(path)
                .header("host", &self.host);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            if let Some((ours, _)) = &self.protocol {
                req = req.header(protocol::HEADER, ours.to_string());
            }
            let resp = match sender
                .try_send_request(req.body(Full::new(body.clone()))?)
                .await
            {
                Ok(resp) => resp,
                // A kept connection closed before the request went out: nothing was sent, so
                // another connection may carry it (a routed query's statement is single-use,
                // so a request that may have arrived is never sent twice).
                Err(e) if reused && e.message().is_some() => continue,
                Err(e) => return Err(e.into_error().into()),
            };
            let (parts, incoming) = resp.into_parts();
            if let Some((_, theirs)) = &self.protocol
                && let Some(v) = protocol::of(&parts.headers)
            {
                *theirs.lock().unwrap_or_else(|e| e.into_inner()) = Some(v);
            }
            let body = incoming.collect().await?.to_bytes();
            if self.pool.is_some() && !sender.is_closed() {
                self.put_idle(Idle {
                    sender,
                    generation,
                    opened,
                    idle_since: Instant::now(),
                });
            }
            return Ok(Response {
                status: parts.status,
                headers: parts.headers,
                body,
            });
        }
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Response> {
        self.send(Method::GET, path, &[], Vec::new()).await
    }

    pub async fn post(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<Response> {
        self.send(Method::POST, path, &[("content-type", content_type)], body)
            .await
    }
}
