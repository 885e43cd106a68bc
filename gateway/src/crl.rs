//! The network CA's certificate revocation lists (docs/sharing.md, "Participants").
//!
//! Client and node certificates are issued by one intermediate CA per role, and a CRL covers
//! only what its own issuer issued (RFC 5280; webpki reads no indirect CRLs), so the CA keeps
//! one CRL per role CA. `gateway pki revoke` re-signs the whole set, numbered by the reference
//! version it is published as (kind `crl`, in an envelope signed by the trust root); it travels
//! down the tree like the catalog, and every node verifies client certificates against the set
//! in force at each TLS handshake ([`spawn_reload`] swaps the listeners' configs when it
//! changes). `GET /v1/pki/crl/{role}` serves each CRL as DER.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::{Path as UrlPath, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use rcgen::{
    CertificateRevocationListParams, Issuer, KeyIdMethod, KeyPair, RevocationReason,
    RevokedCertParams, SerialNumber,
};
use rustls::pki_types::CertificateRevocationListDer;
use rustls::pki_types::pem::PemObject;
use serde::{Deserialize, Serialize};

use crate::api::App;
use crate::api::problem::Problem;

/// How long a CRL is good for by default: `gateway pki crl` re-issues it before then (the
/// expiry alerts list it ahead of time). A node keeps applying an outdated CRL: an old list of
/// revoked certificates is safer than none.
pub const NEXT_UPDATE_DAYS: i64 = 90;

/// One revoked certificate.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Revoked {
    /// Lowercase hex, without leading zero bytes.
    pub serial: String,
    pub revoked_at: DateTime<Utc>,
    /// RFC 5280 reason code, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<u8>,
}

/// The CRL of one role CA.
#[derive(Debug, Clone)]
pub struct RoleCrl {
    pub role: String,
    pub der: CertificateRevocationListDer<'static>,
    pub this_update: DateTime<Utc>,
    pub next_update: DateTime<Utc>,
    pub revoked: Vec<Revoked>,
}

/// The CRLs in force: one per role CA that has published one.
#[derive(Debug, Clone, Default)]
pub struct CrlSet {
    pub crls: Vec<RoleCrl>,
}

/// The reference-data body of kind `crl`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    crls: Vec<BodyCrl>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BodyCrl {
    role: String,
    /// `-----BEGIN X509 CRL-----`.
    pem: String,
}

/// A serial number as lowercase hex without leading zero bytes (so `00ab` and `AB` match).
pub fn normalize_serial(bytes: &[u8]) -> String {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    hex::encode(&bytes[first..])
}

/// Parse a serial given by hand: hex, colons and spaces allowed (`openssl x509 -serial`).
pub fn parse_serial(text: &str) -> anyhow::Result<String> {
    let digits: String = text
        .trim()
        .trim_start_matches("serial=")
        .chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .collect();
    let digits = if digits.len() % 2 == 1 {
        format!("0{digits}")
    } else {
        digits
    };
    let bytes = hex::decode(&digits).with_context(|| format!("serial '{text}' is not hex"))?;
    let serial = normalize_serial(&bytes);
    anyhow::ensure!(!serial.is_empty(), "serial '{text}' is zero");
    Ok(serial)
}

fn time(t: x509_parser::time::ASN1Time) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or_default()
}

impl RoleCrl {
    fn from_pem(role: &str, pem: &str) -> Result<RoleCrl, String> {
        if !crate::pki::CA_ROLES.contains(&role) {
            return Err(format!("no role CA '{role}'"));
        }
        let der = CertificateRevocationListDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| format!("the {role} CRL is not PEM: {e}"))?;
        let (_, crl) = x509_parser::parse_x509_crl(der.as_ref())
            .map_err(|e| format!("the {role} CRL does not parse: {e}"))?;
        let next_update = crl
            .next_update()
            .ok_or_else(|| format!("the {role} CRL has no nextUpdate"))?;
        let revoked = crl
            .iter_revoked_certificates()
            .map(|r| Revoked {
                serial: normalize_serial(r.raw_serial()),
                revoked_at: time(r.revocation_date),
                reason: r.reason_code().map(|(_, code)| code.0),
            })
            .collect();
        Ok(RoleCrl {
            role: role.to_owned(),
            this_update: time(crl.last_update()),
            next_update: time(next_update),
            revoked,
            der,
        })
    }
}

impl CrlSet {
    /// Load a published body (checked on arrival and on every load, like any reference kind).
    pub fn from_json(bytes: &[u8]) -> Result<CrlSet, String> {
        let body: Body = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let mut crls: Vec<RoleCrl> = Vec::new();
        for c in &body.crls {
            if crls.iter().any(|r| r.role == c.role) {
                return Err(format!("two CRLs for the {} CA", c.role));
            }
            crls.push(RoleCrl::from_pem(&c.role, &c.pem)?);
        }
        Ok(CrlSet { crls })
    }

    pub fn get(&self, role: &str) -> Option<&RoleCrl> {
        self.crls.iter().find(|c| c.role == role)
    }

    /// Every CRL, for the TLS client-certificate verifier.
    pub fn ders(&self) -> Vec<CertificateRevocationListDer<'static>> {
        self.crls.iter().map(|c| c.der.clone()).collect()
    }

    /// The nearest nextUpdate, if any CRL is published.
    pub fn next_update(&self) -> Option<DateTime<Utc>> {
        self.crls.iter().map(|c| c.next_update).min()
    }

    /// (role, revoked certificate) for every entry.
    pub fn revoked(&self) -> impl Iterator<Item = (&str, &Revoked)> {
        self.crls
            .iter()
            .flat_map(|c| c.revoked.iter().map(move |r| (c.role.as_str(), r)))
    }
}

/// A revocation to add.
pub struct Revocation {
    pub role: String,
    pub serial: String,
    pub reason: Option<RevocationReason>,
}

/// The serial and issuing role of a certificate file (its first certificate), the role found by
/// verifying it under each role CA of `roles_dir`.
pub fn certificate_serial_and_role(cert: &Path, roles_dir: &Path) -> anyhow::Result<Revocation> {
    let certs = crate::tls::load_certs(cert)?;
    let (_, parsed) = x509_parser::parse_x509_certificate(certs[0].as_ref())
        .with_context(|| format!("{} is not an X.509 certificate", cert.display()))?;
    let serial = normalize_serial(parsed.raw_serial());
    let role = crate::tls::RoleCas::load(roles_dir)?
        .role_of(&certs[0])
        .with_context(|| {
            format!(
                "{} was not issued by a role CA of {}",
                cert.display(),
                roles_dir.display()
            )
        })?;
    Ok(Revocation {
        role,
        serial,
        reason: None,
    })
}

/// Sign a new CRL for every role CA in `ca_dir/roles/` (their keys live there), holding what
/// `current` revokes plus `add`. `number` is the CRL number (the reference version it will be
/// published as), `days` its validity. Returns the reference-data body.
pub fn issue(
    ca_dir: &Path,
    current: &CrlSet,
    add: Option<&Revocation>,
    number: i64,
    days: i64,
) -> anyhow::Result<serde_json::Value> {
    anyhow::ensure!(days > 0, "the CRL must be valid for at least a day");
    let now = time::OffsetDateTime::now_utc();
    let mut out = Vec::new();
    for role in crate::pki::CA_ROLES {
        let read = |name: String| {
            let path = ca_dir.join("roles").join(name);
            std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))
        };
        let (ca_pem, ca_key) = (read(format!("{role}.crt"))?, read(format!("{role}.key"))?);
        let issuer = Issuer::from_ca_cert_pem(&ca_pem, KeyPair::from_pem(&ca_key)?)?;
        let mut revoked: Vec<RevokedCertParams> = current
            .get(role)
            .into_iter()
            .flat_map(|c| c.revoked.iter())
            .map(|r| RevokedCertParams {
                serial_number: SerialNumber::from_slice(&hex::decode(&r.serial).expect("hex")),
                revocation_time: time::OffsetDateTime::from_unix_timestamp(
                    r.revoked_at.timestamp(),
                )
                .expect("in range"),
                reason_code: r.reason.and_then(reason_from_code),
                invalidity_date: None,
            })
            .collect();
        if let Some(add) = add.filter(|a| a.role == *role) {
            let already = current
                .get(role)
                .is_some_and(|c| c.revoked.iter().any(|r| r.serial == add.serial));
            anyhow::ensure!(
                !already,
                "certificate {} of the {role} CA is already revoked",
                add.serial
            );
            revoked.push(RevokedCertParams {
                serial_number: SerialNumber::from_slice(&hex::decode(&add.serial)?),
                revocation_time: now,
                reason_code: add.reason,
                invalidity_date: None,
            });
        }
        let params = CertificateRevocationListParams {
            this_update: now - time::Duration::minutes(5),
            next_update: now + time::Duration::days(days),
            crl_number: SerialNumber::from_slice(&number.to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs: revoked,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params
            .signed_by(&issuer)
            .with_context(|| format!("signing the {role} CRL"))?;
        out.push(BodyCrl {
            role: (*role).to_owned(),
            pem: crl.pem()?,
        });
    }
    Ok(serde_json::to_value(Body { crls: out })?)
}

/// Re-issue the CRLs with `add` (if any) and publish them at this (root) node as the next
/// version of kind `crl`; children pull it on their reference-data beat. Returns the version.
pub async fn publish(
    config: &crate::config::Config,
    db: &tokio_postgres::Client,
    ca_dir: &Path,
    root_key: &Path,
    add: Option<&Revocation>,
    days: i64,
) -> anyhow::Result<i64> {
    let root = crate::reference::cli::load_root_key(root_key)?;
    let reference = crate::reference::Reference::load(config, db).await?;
    let number = reference
        .crl_sets
        .metas()
        .map(|m| m.version)
        .max()
        .unwrap_or(0)
        + 1;
    let body = issue(ca_dir, reference.crls(), add, number, days)?;
    let publication = crate::reference::cli::Publication {
        kind: "crl",
        body,
        version: Some(number),
        effective_from: Utc::now().fixed_offset(),
        retroactive: false,
    };
    Ok(
        crate::reference::cli::publish(config, db, &root, publication)
            .await?
            .version,
    )
}

/// Why a certificate is revoked (RFC 5280 reason codes).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Reason {
    Unspecified,
    KeyCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    PrivilegeWithdrawn,
}

impl From<Reason> for RevocationReason {
    fn from(r: Reason) -> Self {
        match r {
            Reason::Unspecified => RevocationReason::Unspecified,
            Reason::KeyCompromise => RevocationReason::KeyCompromise,
            Reason::AffiliationChanged => RevocationReason::AffiliationChanged,
            Reason::Superseded => RevocationReason::Superseded,
            Reason::CessationOfOperation => RevocationReason::CessationOfOperation,
            Reason::PrivilegeWithdrawn => RevocationReason::PrivilegeWithdrawn,
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct RevokeArgs {
    /// The certificate's serial number (hex, as `openssl x509 -serial` prints it)…
    #[arg(
        long,
        requires = "role",
        conflicts_with = "cert",
        required_unless_present = "cert"
    )]
    pub serial: Option<String>,
    /// …and the role CA that issued it (system, approver, operator, supervisor, peer).
    #[arg(long)]
    pub role: Option<String>,
    /// Or the certificate file itself (PEM; its issuing role CA is found by verification).
    #[arg(long)]
    pub cert: Option<std::path::PathBuf>,
    #[arg(long, value_enum)]
    pub reason: Option<Reason>,
    #[command(flatten)]
    pub publish: PublishArgs,
}

#[derive(clap::Args, Debug)]
pub struct CrlArgs {
    /// Print the CRLs in force at this node instead of re-issuing them.
    #[arg(long)]
    pub show: bool,
    #[command(flatten)]
    pub publish: PublishArgs,
}

#[derive(clap::Args, Debug)]
pub struct PublishArgs {
    /// The folder holding the role CAs' `roles/{role}.crt|key` (default: the PKI folder, or its
    /// parent for a node of a `--topology` network).
    #[arg(long)]
    pub ca_dir: Option<std::path::PathBuf>,
    /// The trust root's PKCS#8 key, which signs the published version.
    #[arg(long)]
    pub root_key: Option<std::path::PathBuf>,
    /// Days until the CRLs' nextUpdate.
    #[arg(long, default_value_t = NEXT_UPDATE_DAYS)]
    pub days: i64,
}

impl PublishArgs {
    fn ca_dir(&self, config: &crate::config::Config) -> std::path::PathBuf {
        self.ca_dir.clone().unwrap_or_else(|| {
            if config
                .pki_dir
                .join("roles")
                .join("system")
                .with_extension("key")
                .exists()
            {
                config.pki_dir.clone()
            } else {
                config.pki_dir.join("..")
            }
        })
    }

    fn root_key(&self) -> anyhow::Result<&Path> {
        self.root_key
            .as_deref()
            .context("--root-key: the trust root's key signs the published CRLs")
    }
}

pub async fn revoke_cmd(args: RevokeArgs, config: &crate::config::Config) -> anyhow::Result<()> {
    let ca_dir = args.publish.ca_dir(config);
    let mut revocation = match (&args.serial, &args.role, &args.cert) {
        (Some(serial), Some(role), _) => {
            anyhow::ensure!(
                crate::pki::CA_ROLES.contains(&role.as_str()),
                "--role must be one of {}",
                crate::pki::CA_ROLES.join(", ")
            );
            Revocation {
                role: role.clone(),
                serial: parse_serial(serial)?,
                reason: None,
            }
        }
        (_, _, Some(cert)) => certificate_serial_and_role(cert, &ca_dir.join("roles"))?,
        _ => anyhow::bail!("name the certificate: --cert FILE, or --serial HEX --role ROLE"),
    };
    revocation.reason = args.reason.map(Into::into);
    let pool = crate::db::connect(config).await?;
    let db = pool.get().await?;
    let version = publish(
        config,
        &db,
        &ca_dir,
        args.publish.root_key()?,
        Some(&revocation),
        args.publish.days,
    )
    .await?;
    println!(
        "revoked certificate {} of the {} CA; published CRL version {version}",
        revocation.serial, revocation.role
    );
    Ok(())
}

pub async fn crl_cmd(args: CrlArgs, config: &crate::config::Config) -> anyhow::Result<()> {
    let pool = crate::db::connect(config).await?;
    let db = pool.get().await?;
    if args.show {
        let reference = crate::reference::Reference::load(config, &db).await?;
        let crls = reference.crls();
        println!("CRL version {} in force", reference.crl_version());
        for c in &crls.crls {
            println!(
                "{:<10} next update {}  {} revoked",
                c.role,
                c.next_update.to_rfc3339(),
                c.revoked.len()
            );
        }
        for (role, r) in crls.revoked() {
            println!(
                "{role:<10} {} revoked {}",
                r.serial,
                r.revoked_at.to_rfc3339()
            );
        }
        return Ok(());
    }
    let ca_dir = args.publish.ca_dir(config);
    let version = publish(
        config,
        &db,
        &ca_dir,
        args.publish.root_key()?,
        None,
        args.publish.days,
    )
    .await?;
    println!("re-issued the CRLs as version {version}");
    Ok(())
}

fn reason_from_code(code: u8) -> Option<RevocationReason> {
    use RevocationReason::*;
    Some(match code {
        0 => Unspecified,
        1 => KeyCompromise,
        2 => CaCompromise,
        3 => AffiliationChanged,
        4 => Superseded,
        5 => CessationOfOperation,
        6 => CertificateHold,
        8 => RemoveFromCrl,
        9 => PrivilegeWithdrawn,
        10 => AaCompromise,
        _ => return None,
    })
}

/// `GET /v1/pki/crl/{role}`: the role CA's CRL in force at this node, DER. Public: a CRL is
/// signed by its CA and meant to be fetched by anyone who checks certificates.
pub async fn get(State(app): State<Arc<App>>, UrlPath(role): UrlPath<String>) -> Response {
    let reference = app.reference.get();
    match reference.crls().get(&role) {
        Some(crl) => (
            [(http::header::CONTENT_TYPE, "application/pkix-crl")],
            crl.der.as_ref().to_vec(),
        )
            .into_response(),
        None => Problem::new(
            "pki.no_crl",
            format!(
                "no CRL of a '{role}' CA is in force at this node (roles: {})",
                crate::pki::CA_ROLES.join(", ")
            ),
        )
        .into_response(),
    }
}

/// The listeners' TLS configs, rebuilt with the CRLs in force whenever they change; the accept
/// loops take the current config for each new connection ([`crate::server::Listener`]).
pub struct ListenerTls {
    exchange: tokio::sync::watch::Sender<Arc<rustls::ServerConfig>>,
    web: tokio::sync::watch::Sender<Arc<rustls::ServerConfig>>,
}

/// The current config of one listener, for its accept loop.
pub type TlsWatch = tokio::sync::watch::Receiver<Arc<rustls::ServerConfig>>;

impl ListenerTls {
    /// Build the exchange and web configs with `crls`.
    pub fn new(
        config: &crate::config::Config,
        crls: &CrlSet,
    ) -> anyhow::Result<(ListenerTls, TlsWatch, TlsWatch)> {
        let (exchange, web) = build(config, crls)?;
        let (exchange, exchange_rx) = tokio::sync::watch::channel(exchange);
        let (web, web_rx) = tokio::sync::watch::channel(web);
        Ok((ListenerTls { exchange, web }, exchange_rx, web_rx))
    }
}

fn build(
    config: &crate::config::Config,
    crls: &CrlSet,
) -> anyhow::Result<(Arc<rustls::ServerConfig>, Arc<rustls::ServerConfig>)> {
    let (cert, key, ca) = (
        config.server_cert(),
        config.server_key(),
        config.client_ca(),
    );
    let ders = crls.ders();
    Ok((
        Arc::new(crate::tls::server_config_with_crls(
            &cert, &key, &ca, &ders, true,
        )?),
        Arc::new(crate::tls::server_config_with_crls(
            &cert, &key, &ca, &ders, false,
        )?),
    ))
}

/// Swap the listeners' TLS configs when the CRLs in force change (a new version pulled from the
/// parent, published here, or stored by another process), checked on the reference-data beat.
/// A fresh config also starts a fresh session cache, so no connection resumes a session
/// authenticated under the old list.
pub fn spawn_reload(app: Arc<App>, tls: ListenerTls) {
    let interval =
        Duration::from_millis(app.config.federation.reference_interval_ms.clamp(50, 1000));
    tokio::spawn(async move {
        let mut applied = app.reference.get().crl_version();
        loop {
            tokio::time::sleep(interval).await;
            let reference = app.reference.get();
            let now = reference.crl_version();
            if now == applied {
                continue;
            }
            match build(&app.config, reference.crls()) {
                Ok((exchange, web)) => {
                    tls.exchange.send_replace(exchange);
                    tls.web.send_replace(web);
                    applied = now;
                    tracing::info!(
                        crl_version = now,
                        revoked = reference.crls().revoked().count(),
                        "listeners now verify client certificates against the new CRLs"
                    );
                }
                Err(e) => {
                    tracing::error!(
                        error = format!("{e:#}"),
                        "cannot build TLS configs with the new CRLs; keeping the previous ones"
                    )
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_compare_whatever_their_spelling() {
        assert_eq!(parse_serial("00:AB:cd").unwrap(), "abcd");
        assert_eq!(parse_serial("serial=0ABCD").unwrap(), "abcd");
        assert_eq!(normalize_serial(&[0, 0, 0x7f]), "7f");
        assert!(parse_serial("xyz").is_err());
        assert!(parse_serial("00").is_err());
    }
}
