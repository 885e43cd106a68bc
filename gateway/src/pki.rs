//! Development PKI (`gateway pki init`): a CA, the node's server certificate and client
//! certificates for a few departmental systems and staff, in a folder git ignores. Keys are
//! generated here and never committed. Production nodes get their certificates from the
//! network's CA instead; the gateway only needs the three PEM files named in the config.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::Context;
use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::tls::{NODE_URI_PREFIX, PRINCIPAL_URI_PREFIX, ROLE_CA_URI_PREFIX};

/// Roles that hold client certificates, each with its own intermediate CA.
pub const CA_ROLES: &[&str] = &["system", "approver", "operator", "supervisor", "peer"];

/// A principal to issue a client certificate for and register.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DevPrincipal {
    pub id: String,
    pub role: String,
    pub department: Option<String>,
    pub region: String,
    pub name: String,
}

fn p(id: &str, role: &str, department: Option<&str>, region: &str, name: &str) -> DevPrincipal {
    DevPrincipal {
        id: id.into(),
        role: role.into(),
        department: department.map(Into::into),
        region: region.into(),
        name: name.into(),
    }
}

/// The dev network's principals under Qingyang city (621000000000): systems of two departments
/// in two counties and at the city, plus an approver and an operator.
pub fn default_principals() -> Vec<DevPrincipal> {
    vec![
        p(
            "xifeng-amr-system",
            "system",
            Some("market_regulation"),
            "621002000000",
            "西峰区市场监管业务系统",
        ),
        p(
            "huanxian-psb-system",
            "system",
            Some("public_security"),
            "621022000000",
            "环县公安人口管理系统",
        ),
        p(
            "qingyang-psb-system",
            "system",
            Some("public_security"),
            "621000000000",
            "庆阳市公安业务系统",
        ),
        // City-level systems of the other departmental networks (any county of the city).
        p(
            "qingyang-mz-system",
            "system",
            Some("civil_affairs"),
            "621000000000",
            "庆阳市民政婚姻登记系统",
        ),
        p(
            "qingyang-rs-system",
            "system",
            Some("human_resources"),
            "621000000000",
            "庆阳市人社业务系统",
        ),
        p(
            "qingyang-wj-system",
            "system",
            Some("health"),
            "621000000000",
            "庆阳市卫健出生医学证明系统",
        ),
        p(
            "qingyang-sw-system",
            "system",
            Some("tax"),
            "621000000000",
            "庆阳市税务征管系统",
        ),
        p(
            "qingyang-sthj-system",
            "system",
            Some("ecology_environment"),
            "621000000000",
            "庆阳市生态环境排污许可系统",
        ),
        p(
            "xifeng-approver",
            "approver",
            None,
            "621002000000",
            "西峰区政务服务中心审批员",
        ),
        p(
            "qingyang-operator",
            "operator",
            None,
            "621000000000",
            "庆阳市交换网络运维",
        ),
        p(
            "qingyang-supervisor",
            "supervisor",
            None,
            "621000000000",
            "庆阳市电子监察室",
        ),
    ]
}

fn dn(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "CN");
    dn.push(DnType::OrganizationName, "exchange-gateway dev network");
    dn.push(DnType::CommonName, common_name);
    dn
}

fn validity(params: &mut CertificateParams, days: i64) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(days);
}

fn write_secret(path: &Path, contents: &str) -> anyhow::Result<()> {
    fs::write(path, contents).with_context(|| format!("cannot write {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    Ok(())
}

fn uri(s: String) -> anyhow::Result<SanType> {
    Ok(SanType::URI(Ia5String::try_from(s)?))
}

/// The node a dev PKI is for.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    pub region: String,
    pub name: String,
    /// GB/T 39046 tier of the node's region (2 province ... 5 township).
    pub tier: u8,
    /// Where the node's exchange listener is reached, e.g. `https://localhost:8443`.
    pub exchange_url: String,
}

/// Create `out/` with `ca.crt`/`ca.key`, `node.crt`/`node.key`, `clients/{id}.crt|key`,
/// `principals.json`, and the certificate-signing material: the node's Ed25519 signing key
/// (`signing-key.pk8`), a dev province root key (`root-key.pk8`, `trust-root.did`) and a trust
/// bundle listing the node's key signed by that root (`trust-bundle.json`). Refuses to
/// overwrite an existing CA unless `force`.
pub fn init(
    out: &Path,
    spec: &NodeSpec,
    principals: &[DevPrincipal],
    force: bool,
) -> anyhow::Result<()> {
    let node_region = spec.region.as_str();
    if out.join("ca.key").exists() && !force {
        anyhow::bail!(
            "{} already holds a CA; pass --force to replace it (existing certificates stop working)",
            out.display()
        );
    }
    fs::create_dir_all(out.join("clients"))?;

    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name = dn(&format!("exchange-gateway dev CA {node_region}"));
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut ca, 3 * 365);
    let ca_cert = ca.self_signed(&ca_key)?;
    fs::write(out.join("ca.crt"), ca_cert.pem())?;
    write_secret(&out.join("ca.key"), &ca_key.serialize_pem())?;
    let root = Issuer::from_params(&ca, &ca_key);

    // One intermediate CA per role: the CA that issued a client certificate says which role it
    // may be used for, and the gateway refuses a principal whose role differs.
    fs::create_dir_all(out.join("roles"))?;
    let mut intermediates = Vec::new();
    for role in CA_ROLES {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = dn(&format!("exchange-gateway dev {role} CA {node_region}"));
        params
            .subject_alt_names
            .push(uri(format!("{ROLE_CA_URI_PREFIX}{role}"))?);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut params, 2 * 365);
        let cert = params.signed_by(&key, &root)?;
        fs::write(out.join("roles").join(format!("{role}.crt")), cert.pem())?;
        write_secret(
            &out.join("roles").join(format!("{role}.key")),
            &key.serialize_pem(),
        )?;
        intermediates.push((*role, params, key, cert.pem()));
    }
    let issuer_for = |role: &str| {
        let (_, params, key, pem) = intermediates
            .iter()
            .find(|(r, ..)| *r == role)
            .expect("every role has a CA");
        (Issuer::from_params(params, key), pem.clone())
    };

    // The node's certificate serves the listeners and, as a client, talks to its parent: it is
    // a peer's. Leaf files hold the chain (leaf, then intermediate) so peers can build the path.
    let node_key = KeyPair::generate()?;
    let mut node = CertificateParams::new(vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ])?;
    node.subject_alt_names
        .push(uri(format!("{NODE_URI_PREFIX}{node_region}"))?);
    node.distinguished_name = dn(&format!("node {node_region}"));
    node.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    validity(&mut node, 365);
    let (peer_ca, peer_pem) = issuer_for("peer");
    fs::write(
        out.join("node.crt"),
        node.signed_by(&node_key, &peer_ca)?.pem() + &peer_pem,
    )?;
    write_secret(&out.join("node.key"), &node_key.serialize_pem())?;

    for principal in principals {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .subject_alt_names
            .push(uri(format!("{PRINCIPAL_URI_PREFIX}{}", principal.id))?);
        params.distinguished_name = dn(&principal.id);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        validity(&mut params, 365);
        let (role_ca, role_pem) = issuer_for(&principal.role);
        let dir = out.join("clients");
        fs::write(
            dir.join(format!("{}.crt", principal.id)),
            params.signed_by(&key, &role_ca)?.pem() + &role_pem,
        )?;
        write_secret(
            &dir.join(format!("{}.key", principal.id)),
            &key.serialize_pem(),
        )?;
    }
    fs::write(
        out.join("principals.json"),
        serde_json::to_string_pretty(principals)? + "\n",
    )?;
    signing_material(out, spec)
}

fn write_secret_bytes(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    Ok(())
}

/// The node's signing key, a dev province root, and a bundle trusting the former, signed by the
/// latter. In a real network the province issues the bundle (issue 6 propagates it).
fn signing_material(out: &Path, node: &NodeSpec) -> anyhow::Result<()> {
    let (signing, signing_pk8) = vc::SigningKey::generate()?;
    let (root, root_pk8) = vc::SigningKey::generate()?;
    write_secret_bytes(&out.join("signing-key.pk8"), &signing_pk8)?;
    write_secret_bytes(&out.join("root-key.pk8"), &root_pk8)?;
    fs::write(out.join("trust-root.did"), root.did() + "\n")?;

    let now = chrono::Utc::now();
    let mut bundle = vc::trust::TrustBundle::new(1, now, node.exchange_url.clone());
    bundle.nodes.push(vc::trust::TrustedNode {
        region: domain::codes::region::RegionCode::parse(&node.region)?,
        tier: node.tier,
        name: node.name.clone(),
        urls: vc::trust::NodeUrls {
            exchange: node.exchange_url.clone(),
            web: None,
        },
        keys: vec![vc::trust::NodeKey {
            did: signing.did(),
            verification_method: None,
            valid_from: now - chrono::Duration::hours(1),
            valid_until: None,
            status: vc::trust::KeyStatus::Active,
        }],
    });
    let signed = vc::trust::sign_bundle(&bundle, &root)?;
    fs::write(
        out.join("trust-bundle.json"),
        serde_json::to_string_pretty(&signed)? + "\n",
    )?;
    Ok(())
}
