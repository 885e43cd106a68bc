//! A small HTTPS client with a client certificate, for talking to an exchange listener: used by
//! the end-to-end tests, and by commands and peers that push to a node.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

pub struct ExchangeClient {
    connector: TlsConnector,
    host: String,
    port: u16,
    /// When set, the server's certificate must name this node region (a parent node).
    expect_node: Option<String>,
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
        Self::with_config(base, crate::tls::client_config(ca, cert, key)?)
    }

    /// A client that presents no certificate.
    pub fn anonymous(base: &str, ca: &Path) -> anyhow::Result<Self> {
        Self::with_config(base, crate::tls::client_config_anonymous(ca)?)
    }

    fn with_config(base: &str, config: rustls::ClientConfig) -> anyhow::Result<Self> {
        let rest = base
            .strip_prefix("https://")
            .context("the base URL must start with https://")?;
        let (host, port) = rest
            .trim_end_matches('/')
            .rsplit_once(':')
            .context("the base URL needs a port")?;
        Ok(ExchangeClient {
            connector: TlsConnector::from(Arc::new(config)),
            host: host.trim_matches(['[', ']']).to_owned(),
            port: port.parse()?,
            expect_node: None,
        })
    }

    /// A client of this node's configured parent, presenting the node's own certificate, that
    /// refuses a server whose certificate does not name the parent's region.
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
        .expect_node(&parent.region))
    }

    /// Refuse a server whose certificate does not name node `region` (`urn:gateway:node:…`):
    /// a child talks only to its configured parent.
    pub fn expect_node(mut self, region: &str) -> Self {
        self.expect_node = Some(region.to_owned());
        self
    }

    /// One request on a fresh connection.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> anyhow::Result<Response> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port)).await?;
        let name = ServerName::try_from(self.host.clone())?;
        let tls = self
            .connector
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
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(conn);
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = sender
            .send_request(req.body(Full::new(Bytes::from(body)))?)
            .await?;
        let (parts, body) = resp.into_parts();
        Ok(Response {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await?.to_bytes(),
        })
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
