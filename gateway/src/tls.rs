//! TLS on rustls with the ring provider. The exchange listener requires a client certificate
//! chaining to the configured CA; the certificate carries only a principal id, as the SAN URI
//! `urn:gateway:principal:{id}`, and everything else about the principal (role, department,
//! region, status) is looked up in the `principals` table on every request.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

pub const PRINCIPAL_URI_PREFIX: &str = "urn:gateway:principal:";
pub const NODE_URI_PREFIX: &str = "urn:gateway:node:";

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub fn load_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("cannot read certificates from {}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("bad PEM in {}", path.display()))?;
    anyhow::ensure!(!certs.is_empty(), "no certificate in {}", path.display());
    Ok(certs)
}

pub fn load_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path)
        .with_context(|| format!("cannot read private key from {}", path.display()))
}

fn roots(ca: &Path) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(ca)? {
        roots.add(cert).context("bad CA certificate")?;
    }
    Ok(roots)
}

/// Server side of the exchange listener: client certificates are required and verified.
pub fn server_config(cert: &Path, key: &Path, client_ca: &Path) -> anyhow::Result<ServerConfig> {
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots(client_ca)?), provider())
            .build()
            .context("cannot build the client-certificate verifier")?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(load_certs(cert)?, load_key(key)?)
        .context("server certificate and key do not match")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Client side: trust `ca`, present `cert`/`key`.
pub fn client_config(ca: &Path, cert: &Path, key: &Path) -> anyhow::Result<ClientConfig> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots(ca)?)
        .with_client_auth_cert(load_certs(cert)?, load_key(key)?)
        .context("client certificate and key do not match")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Client side without a client certificate (public routes; and tests that must be refused).
pub fn client_config_anonymous(ca: &Path) -> anyhow::Result<ClientConfig> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots(ca)?)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The SAN URIs of a DER certificate that start with `prefix`, prefix removed.
pub fn san_uris_with_prefix(der: &[u8], prefix: &str) -> Vec<String> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Vec::new();
    };
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|name| match name {
            x509_parser::extensions::GeneralName::URI(uri) => {
                uri.strip_prefix(prefix).map(str::to_owned)
            }
            _ => None,
        })
        .collect()
}

/// Who is on the other end of a connection, as far as TLS can tell.
#[derive(Debug, Clone)]
pub struct PeerIdentity {
    /// The principal id from the client certificate, if it names exactly one.
    pub principal_id: Option<String>,
}

impl PeerIdentity {
    pub fn from_certs(certs: Option<&[CertificateDer<'_>]>) -> Self {
        let ids = certs
            .and_then(|c| c.first())
            .map(|leaf| san_uris_with_prefix(leaf, PRINCIPAL_URI_PREFIX))
            .unwrap_or_default();
        PeerIdentity {
            principal_id: (ids.len() == 1).then(|| ids[0].clone()),
        }
    }
}
