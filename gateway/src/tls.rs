//! TLS on rustls with the ring provider. The exchange listener requires a client certificate
//! chaining to the configured CA; the certificate carries only a principal id, as the SAN URI
//! `urn:gateway:principal:{id}`, and everything else about the principal (role, department,
//! region, status) is looked up in the `principals` table on every request. Revoked
//! certificates (the CA's CRLs, [`crate::crl`]) fail the handshake itself.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

pub const PRINCIPAL_URI_PREFIX: &str = "urn:gateway:principal:";
pub const NODE_URI_PREFIX: &str = "urn:gateway:node:";
/// SAN URI of a role's intermediate CA (informational; the role is decided by verification).
pub const ROLE_CA_URI_PREFIX: &str = "urn:gateway:role-ca:";

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
    server_config_with_crls(cert, key, client_ca, &[], true)
}

/// Server side of the web listener: client certificates are verified when presented, but
/// optional (staff may log in with an account instead; public routes need neither).
pub fn server_config_optional_client(
    cert: &Path,
    key: &Path,
    client_ca: &Path,
) -> anyhow::Result<ServerConfig> {
    server_config_with_crls(cert, key, client_ca, &[], false)
}

/// A listener's config: client certificates verified under `client_ca` and not revoked by any
/// of `crls` (the role CAs' CRLs, [`crate::crl`]); `required` for the exchange and MLLP
/// listeners. Only the client's own certificate is checked against the CRLs (the network CA
/// revokes client and node certificates, not its intermediates), and a certificate whose CA
/// has published no CRL passes; a CRL past its nextUpdate still applies (an operator alert
/// says to re-issue it), since an outdated list of revoked certificates is better than none.
pub fn server_config_with_crls(
    cert: &Path,
    key: &Path,
    client_ca: &Path,
    crls: &[CertificateRevocationListDer<'static>],
    required: bool,
) -> anyhow::Result<ServerConfig> {
    let mut builder =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots(client_ca)?), provider())
            .with_crls(crls.iter().cloned())
            .only_check_end_entity_revocation()
            .allow_unknown_revocation_status();
    if !required {
        builder = builder.allow_unauthenticated();
    }
    let verifier = builder
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

/// The intermediate CA of each role. A client certificate's role is the role of the
/// intermediate it verifies under; the principal it names must have that role.
pub struct RoleCas {
    verifiers: Vec<(String, Arc<dyn rustls::server::danger::ClientCertVerifier>)>,
}

impl RoleCas {
    /// Load `{dir}/{role}.crt` for every role that has one.
    pub fn load(dir: &Path) -> anyhow::Result<RoleCas> {
        let mut verifiers = Vec::new();
        for role in crate::pki::CA_ROLES {
            let path = dir.join(format!("{role}.crt"));
            if !path.exists() {
                continue;
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots(&path)?), provider())
                    .build()
                    .with_context(|| format!("role CA {}", path.display()))?;
            verifiers.push(((*role).to_owned(), verifier));
        }
        anyhow::ensure!(
            !verifiers.is_empty(),
            "no role CA certificates in {}",
            dir.display()
        );
        Ok(RoleCas { verifiers })
    }

    /// The role whose intermediate issued `leaf` (verified, not read from the certificate).
    pub fn role_of(&self, leaf: &CertificateDer<'_>) -> Option<String> {
        let now = rustls::pki_types::UnixTime::now();
        self.verifiers
            .iter()
            .find(|(_, v)| v.verify_client_cert(leaf, &[], now).is_ok())
            .map(|(role, _)| role.clone())
    }
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
#[derive(Debug, Clone, Default)]
pub struct PeerIdentity {
    /// Whether the client presented a (verified) certificate at all.
    pub has_certificate: bool,
    /// The principal id from the client certificate, if it names exactly one.
    pub principal_id: Option<String>,
    /// The role of the intermediate CA that issued the certificate.
    pub ca_role: Option<String>,
    /// The node region a peer node's certificate names (`urn:gateway:node:{region}`).
    pub node_region: Option<String>,
    /// When the client certificate expires.
    pub not_after: Option<chrono::DateTime<chrono::Utc>>,
}

impl PeerIdentity {
    pub fn from_certs(certs: Option<&[CertificateDer<'_>]>, role_cas: &RoleCas) -> Self {
        let Some(leaf) = certs.and_then(|c| c.first()) else {
            return PeerIdentity::default();
        };
        let ids = san_uris_with_prefix(leaf, PRINCIPAL_URI_PREFIX);
        let nodes = san_uris_with_prefix(leaf, NODE_URI_PREFIX);
        PeerIdentity {
            has_certificate: true,
            principal_id: (ids.len() == 1).then(|| ids[0].clone()),
            ca_role: role_cas.role_of(leaf),
            node_region: (nodes.len() == 1).then(|| nodes[0].clone()),
            not_after: x509_parser::parse_x509_certificate(leaf)
                .ok()
                .and_then(|(_, c)| {
                    chrono::DateTime::from_timestamp(c.validity().not_after.timestamp(), 0)
                }),
        }
    }
}
