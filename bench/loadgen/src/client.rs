//! HTTPS with client certificates over kept-alive HTTP/1.1 connections, as a departmental
//! system with a connection pool would push. The TLS configuration is the gateway's own
//! ([`gateway::tls::client_config`]: rustls on ring, the dev CA, the principal's certificate).
//!
//! A [`Pool`] hands out an idle connection or opens a new one, up to [`MAX_CONNECTIONS`], and
//! takes it back after a complete exchange; a connection that failed is dropped. Closed-loop
//! load keeps as many connections as workers; open-loop load opens more when requests queue,
//! and beyond the limit requests wait for a connection, as behind a client's bounded pool.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A server and the identity to present to it.
#[derive(Clone)]
pub struct Target {
    addr: SocketAddr,
    connector: TlsConnector,
}

impl Target {
    /// `addr`, whose certificate must name `localhost` under `ca`; present `cert`/`key`.
    pub fn new(addr: SocketAddr, ca: &Path, cert: &Path, key: &Path) -> anyhow::Result<Target> {
        let config = gateway::tls::client_config(ca, cert, key)?;
        Ok(Target {
            addr,
            connector: TlsConnector::from(Arc::new(config)),
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

    /// A new connection: TCP, the TLS handshake, HTTP/1.1.
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
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(conn);
        Ok(Conn { sender })
    }
}

pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
}

/// A response, read whole.
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

/// Most connections a pool opens to its target.
pub const MAX_CONNECTIONS: usize = 64;

/// Kept-alive connections to one target.
pub struct Pool {
    target: Target,
    idle: Mutex<Vec<Conn>>,
    slots: tokio::sync::Semaphore,
}

impl Pool {
    pub fn new(target: Target) -> Arc<Pool> {
        Arc::new(Pool {
            target,
            idle: Mutex::new(Vec::new()),
            slots: tokio::sync::Semaphore::new(MAX_CONNECTIONS),
        })
    }

    fn take(&self) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(c) = idle.pop() {
            if !c.sender.is_closed() {
                return Some(c);
            }
        }
        None
    }

    /// Open `n` connections ahead of the load, so handshakes are not measured.
    pub async fn warm(&self, n: usize) -> anyhow::Result<()> {
        let mut opened = Vec::new();
        for _ in 0..n {
            opened.push(self.target.connect().await?);
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
            None => self.target.connect().await?,
        };
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, "localhost");
        if let Some(ct) = content_type {
            req = req.header(http::header::CONTENT_TYPE, ct);
        }
        conn.sender.ready().await?;
        let resp = conn.sender.send_request(req.body(Full::new(body))?).await?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await?.to_bytes();
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(conn);
        Ok(Answer {
            status: parts.status,
            body,
        })
    }
}
