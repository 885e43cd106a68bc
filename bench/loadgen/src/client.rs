//! HTTPS with client certificates over kept-alive HTTP/1.1 connections, as a departmental
//! system with a connection pool would push. The TLS configuration is the gateway's own
//! ([`gateway::tls::client_config`]: rustls on ring, the dev CA, the principal's certificate).
//!
//! A [`Pool`] hands out an idle connection or opens a new one, up to [`MAX_CONNECTIONS`], and
//! takes it back after a complete exchange; a connection that failed is dropped. Closed-loop
//! load keeps as many connections as workers; open-loop load opens more when requests queue,
//! and beyond the limit requests wait for a connection, as behind a client's bounded pool.
//! A pool may spread its connections over several processes of one node
//! ([`Pool::spread`]), and a target may speak HTTP/2 ([`Target::http2`]: one connection, its
//! requests as streams).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A server and the identity to present to it.
#[derive(Clone)]
pub struct Target {
    addr: SocketAddr,
    connector: TlsConnector,
    http2: bool,
}

impl Target {
    /// `addr`, whose certificate must name `localhost` under `ca`; present `cert`/`key`.
    pub fn new(addr: SocketAddr, ca: &Path, cert: &Path, key: &Path) -> anyhow::Result<Target> {
        let config = gateway::tls::client_config(ca, cert, key)?;
        Ok(Target {
            addr,
            connector: TlsConnector::from(Arc::new(config)),
            http2: false,
        })
    }

    /// The same target spoken to in HTTP/2 (ALPN `h2`): every request of a pool shares one
    /// connection, as streams.
    pub fn http2(self) -> anyhow::Result<Target> {
        let mut config = ClientConfig::clone(self.connector.config());
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Target {
            connector: TlsConnector::from(Arc::new(config)),
            http2: true,
            ..self
        })
    }

    /// A principal of a PKI folder written by `gateway pki init` (`clients/{id}.crt`).
    pub fn principal(addr: SocketAddr, pki: &Path, id: &str) -> anyhow::Result<Target> {
        let clients = pki.join("clients");
        Target::new(
            addr,
            &pki.join("ca.crt"),
            &clients.join(format!("{id}.crt")),
            &clients.join(format!("{id}.key")),
        )
    }

    /// A new connection: TCP, the TLS handshake, HTTP/1.1 or HTTP/2.
    pub async fn connect(&self) -> anyhow::Result<Conn> {
        let tcp = TcpStream::connect(self.addr)
            .await
            .with_context(|| format!("connect {}", self.addr))?;
        tcp.set_nodelay(true)?;
        let tls = self
            .connector
            .connect(ServerName::try_from("localhost")?, tcp)
            .await
            .context("TLS handshake")?;
        if self.http2 {
            let (sender, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(tls)).await?;
            tokio::spawn(conn);
            return Ok(Conn::Http2(sender));
        }
        let (sender, conn) = http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(conn);
        Ok(Conn::Http1(sender))
    }
}

pub enum Conn {
    Http1(http1::SendRequest<Full<Bytes>>),
    /// Shared: a pool keeps one and lends clones of it.
    Http2(http2::SendRequest<Full<Bytes>>),
}

impl Conn {
    fn is_closed(&self) -> bool {
        match self {
            Conn::Http1(s) => s.is_closed(),
            Conn::Http2(s) => s.is_closed(),
        }
    }

    async fn send(
        &mut self,
        req: Request<Full<Bytes>>,
    ) -> anyhow::Result<http::Response<hyper::body::Incoming>> {
        Ok(match self {
            Conn::Http1(s) => {
                s.ready().await?;
                s.send_request(req).await?
            }
            Conn::Http2(s) => {
                s.ready().await?;
                s.send_request(req).await?
            }
        })
    }
}

/// A response, read whole.
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

/// Most connections a pool opens to its target.
pub const MAX_CONNECTIONS: usize = 64;

/// Kept-alive connections to one target, or spread over several.
pub struct Pool {
    targets: Vec<Target>,
    /// The target of the next connection opened (round robin).
    next: AtomicUsize,
    idle: Mutex<Vec<Conn>>,
    slots: tokio::sync::Semaphore,
}

impl Pool {
    pub fn new(target: Target) -> Arc<Pool> {
        Pool::spread(vec![target])
    }

    /// New connections opened to each of `targets` in turn, as a TCP load balancer in front of
    /// them spreads connections (several processes of one node).
    pub fn spread(targets: Vec<Target>) -> Arc<Pool> {
        assert!(!targets.is_empty(), "a pool needs a target");
        Arc::new(Pool {
            targets,
            next: AtomicUsize::new(0),
            idle: Mutex::new(Vec::new()),
            slots: tokio::sync::Semaphore::new(MAX_CONNECTIONS),
        })
    }

    async fn connect(&self) -> anyhow::Result<Conn> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.targets.len();
        self.targets[i].connect().await
    }

    fn take(&self) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        // Spread over several targets, the connection idle longest goes first, so requests
        // take turns over the targets' connections even when few are in flight at once (the
        // most recent one first would keep a lone worker on one process).
        let spread = self.targets.len() > 1;
        while let Some(c) = if spread && !idle.is_empty() {
            Some(idle.remove(0))
        } else {
            idle.pop()
        } {
            if c.is_closed() {
                continue;
            }
            if let Conn::Http2(s) = &c {
                // Streams of one connection: it stays in the pool for the others.
                let lent = Conn::Http2(s.clone());
                idle.push(c);
                return Some(lent);
            }
            return Some(c);
        }
        None
    }

    /// Open `n` connections ahead of the load, so handshakes are not measured.
    pub async fn warm(&self, n: usize) -> anyhow::Result<()> {
        let n = if self.targets[0].http2 { n.min(1) } else { n };
        let mut opened = Vec::new();
        for _ in 0..n {
            opened.push(self.connect().await?);
        }
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(opened);
        Ok(())
    }

    /// One request on an idle connection (or a new one); the connection goes back to the pool
    /// after a complete exchange.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> anyhow::Result<Answer> {
        let _slot = self.slots.acquire().await?;
        let mut conn = match self.take() {
            Some(c) => c,
            None => {
                let conn = self.connect().await?;
                if let Conn::Http2(s) = &conn {
                    let shared = Conn::Http2(s.clone());
                    self.idle
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(shared);
                }
                conn
            }
        };
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, "localhost");
        if let Some(ct) = content_type {
            req = req.header(http::header::CONTENT_TYPE, ct);
        }
        let resp = conn.send(req.body(Full::new(body))?).await?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await?.to_bytes();
        if let Conn::Http1(_) = conn {
            self.idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(conn);
        }
        Ok(Answer {
            status: parts.status,
            body,
        })
    }
}
